//! The Ruchy front end: source text → tokens → AST (with spans) → resolved names → `dyn`-level IR.
//!
//! Entry points: [`parse`] for the AST, [`compile`] for an IR [`ruchy_ir::Module`].

pub mod ast;
pub mod lexer;
pub mod parser;
pub mod source;

pub use parser::parse;
pub use source::{Diagnostic, SourceFile, Span};
pub mod lower;
pub mod resolve;

/// Parses, resolves and lowers a Ruchy file into a `dyn`-level IR module.
pub fn compile(file: &SourceFile) -> Result<ruchy_ir::Module, Vec<Diagnostic>> {
    let program = parse(file)?;
    let res = resolve::resolve(&program)?;
    lower::lower(file, &program, &res)
}

//! placeholder
use crate::{ast::Program, source::{Diagnostic, SourceFile}};
/// Parses a file.
pub fn parse(_file: &SourceFile) -> Result<Program, Vec<Diagnostic>> { Ok(Program { stmts: vec![] }) }

//! The Ruchy front end: source text → tokens → AST (with spans) → resolved names → `dyn`-level IR.
//!
//! Entry points: [`parse`] for the AST, [`compile`] for an IR [`ruchy_ir::Module`],
//! [`compile_repl`] for one input of the REPL.

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

/// What a REPL input is compiled against: the state that earlier inputs left.
#[derive(Clone, Debug, Default)]
pub struct ReplEnv {
    /// The top-level variables that earlier inputs defined. The input can read and assign them
    /// (they are mutable); each is a module global whose name is the variable's.
    pub globals: Vec<String>,
    /// Prefix of the IR names of the lambdas and block-nested functions of the input's top-level
    /// code (`PREFIX.lambda`, ...); empty means `__toplevel__`. A session gives each input its
    /// own, so that closures made by an input keep their function's name in later inputs.
    pub prefix: String,
    /// Top-level functions of the source that are archived inputs: a zero-parameter function
    /// whose body is an earlier input's top-level code, named by that input's `prefix`. It is
    /// never called; it is compiled (as top-level code) so that the closures that input made
    /// still have their functions, under the same names.
    pub scripts: Vec<String>,
}

/// Compiles one input of the REPL: like [`compile`], except that
/// - every top-level `let` binding is a module global named by the variable (its source name),
///   so that its value can outlive the input, and `env.globals` are pre-declared that way;
/// - the top-level function returns the value of the last statement that is not a definition
///   when it is an expression without a trailing `;`, else nil;
/// - a program made only of definitions does not call `main()`.
///
/// See [`resolve::resolve_repl`] for the details.
pub fn compile_repl(file: &SourceFile, env: &ReplEnv) -> Result<ruchy_ir::Module, Vec<Diagnostic>> {
    let program = parse(file)?;
    let res = resolve::resolve_repl(&program, env)?;
    lower::lower(file, &program, &res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repl(src: &str, globals: &[&str]) -> ruchy_ir::Module {
        let env = ReplEnv {
            globals: globals.iter().map(|s| s.to_string()).collect(),
            prefix: "__repl_in1__".into(),
            scripts: vec![],
        };
        match compile_repl(&SourceFile::new("<repl>", src), &env) {
            Ok(m) => m,
            Err(d) => panic!("{d:?}"),
        }
    }

    fn global_names(m: &ruchy_ir::Module) -> Vec<(String, String)> {
        m.globals
            .values()
            .map(|g| (g.name.clone(), g.source_name.clone()))
            .collect()
    }

    fn entry_text(m: &ruchy_ir::Module) -> String {
        let text = ruchy_ir::printer::print_module(m);
        let start = text.find("func @__toplevel__").expect("entry");
        text[start..].to_string()
    }

    #[test]
    fn toplevel_lets_are_globals_and_the_last_expression_is_returned() {
        let m = repl("let x = 40\nlet y = x + 2\ny", &[]);
        assert!(ruchy_ir::verify_module(&m).is_ok());
        assert_eq!(
            global_names(&m),
            vec![("x".into(), "x".into()), ("y".into(), "y".into())]
        );
        let entry = entry_text(&m);
        assert!(entry.contains("mem.global_store @y"), "{entry}");
        assert!(entry.contains("mem.global_load @y"), "{entry}");
        // The normal compile keeps them in SSA values.
        let normal = compile(&SourceFile::new("t", "let x = 40\nlet y = x + 2\ny")).unwrap();
        assert!(normal.globals.is_empty());
    }

    #[test]
    fn earlier_globals_are_mutable_and_a_new_let_reuses_the_name() {
        let m = repl("x = x + 1\nlet x = 5\nlet x = x * 2\nx;", &["x", "z"]);
        assert!(ruchy_ir::verify_module(&m).is_ok());
        assert_eq!(
            global_names(&m),
            vec![("x".into(), "x".into()), ("z".into(), "z".into())]
        );
        // `x;` has a semicolon: the input's value is nil.
        let entry = entry_text(&m);
        let nil = entry
            .lines()
            .find(|l| l.contains("arith.const nil"))
            .and_then(|l| l.split('=').next())
            .map(|v| v.trim().to_string())
            .expect("nil constant");
        assert!(entry.contains(&format!("cf.return {nil}")), "{entry}");
        assert!(!entry.contains("mem.global_load @z"), "{entry}");
    }

    #[test]
    fn definitions_only_do_not_call_main() {
        let m = repl("fun main() { println(1) }\nfun f(a) { a + x }", &["x"]);
        let entry = entry_text(&m);
        assert!(!entry.contains("call @main"), "{entry}");
        let normal = compile(&SourceFile::new("t", "fun main() { println(1) }")).unwrap();
        assert!(entry_text(&normal).contains("call @main"));
        // The function reads the session's variable through its global.
        let f = m.func_by_name("f").unwrap();
        let text = ruchy_ir::printer::print_module(&m);
        assert!(text.contains("mem.global_load @x"), "{text}");
        assert!(m.funcs[f].params.len() == 1);
    }

    #[test]
    fn value_of_the_last_statement_before_trailing_definitions() {
        let m = repl("1 + 2\nfun f() { 3 }", &[]);
        let entry = entry_text(&m);
        // The sum is returned, not nil.
        assert!(entry.contains("add"), "{entry}");
        assert!(!entry.contains("const nil"), "{entry}");
    }

    #[test]
    fn lambdas_are_named_by_the_prefix_and_block_locals_are_captured() {
        let m = repl("let fs = []\nfor i in 0..3 { fs.push(|x| x + i) }\nfs", &[]);
        assert!(ruchy_ir::verify_module(&m).is_ok());
        assert_eq!(global_names(&m), vec![("fs".into(), "fs".into())]);
        let lam = m.func_by_name("__repl_in1__.lambda").expect("lambda");
        // `i` is captured, not a global.
        assert_eq!(m.funcs[lam].attrs.captures, 1);
    }

    #[test]
    fn archived_inputs_compile_their_closures_under_the_same_names() {
        let input = "let k = 2\nlet g = { let j = 3; |x| x * k + j }\ng(1)";
        let live = repl(input, &[]);
        let archived = format!("g(2)\nfun __repl_in1__() {{\n{input}\n}}");
        let env = ReplEnv {
            globals: vec!["k".into(), "g".into()],
            prefix: "__repl_in2__".into(),
            scripts: vec!["__repl_in1__".into()],
        };
        let m = compile_repl(&SourceFile::new("<repl>", archived), &env).unwrap();
        assert!(ruchy_ir::verify_module(&m).is_ok());
        let a = live.func_by_name("__repl_in1__.lambda").unwrap();
        let b = m.func_by_name("__repl_in1__.lambda").unwrap();
        assert_eq!(live.funcs[a].params, m.funcs[b].params);
        assert_eq!(live.funcs[a].attrs.captures, m.funcs[b].attrs.captures);
        assert_eq!(
            global_names(&m),
            vec![("k".into(), "k".into()), ("g".into(), "g".into())]
        );
    }
}

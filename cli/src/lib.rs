//! Shared driver code of the `ruchy` and `ruchy-opt` binaries: reading files, compiling, and
//! reporting errors with the exit codes the tools promise (0 success, 1 runtime or verifier
//! error, 2 syntax or usage error).

pub mod repl;

use ruchy_frontend::{source::render_all, SourceFile};
use ruchy_ir::Module;
use ruchy_runtime::{Config, Interpreter, RuntimeError};
use std::io::Write;

pub const EXIT_OK: i32 = 0;
pub const EXIT_RUNTIME: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

/// Reads a source file, or standard input for `-`.
pub fn read_input(path: &str) -> Result<String, String> {
    if path == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        return Ok(s);
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    String::from_utf8(bytes).map_err(|_| format!("`{path}` is not valid UTF-8"))
}

/// Compiles Ruchy source to a `dyn`-level module, or renders the syntax errors.
pub fn compile_source(file: &SourceFile) -> Result<Module, String> {
    ruchy_frontend::compile(file).map_err(|diags| render_all(file, &diags))
}

/// Runs a module in the interpreter, writing program output to `out`.
pub fn run_module(
    module: &Module,
    config: Config,
    out: &mut dyn Write,
) -> Result<(), RuntimeError> {
    let mut interp = Interpreter::new(module, config, out);
    interp.run_main().map(|_| ())
}

/// Renders a runtime error against its source file.
pub fn render_runtime_error(file: &SourceFile, err: &RuntimeError) -> String {
    err.render(&file.name, &|line| Some(file.line_text(line).to_string()))
}

/// Runs `f` on a thread with a large stack, so that compiling a deeply nested or huge program
/// cannot overflow the native stack (the interpreter itself never recurses).
pub fn with_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let handle = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .expect("cannot start the main thread");
    match handle.join() {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e),
    }
}

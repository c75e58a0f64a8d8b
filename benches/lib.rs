//! Helpers shared by the criterion benchmarks of the Ruchy engine.
//!
//! The workloads are not part of this repository: they live in `../shared/bench` relative to the
//! repository root (`NAME.ruchy` with its expected output `NAME.out`, and peers in other languages
//! under `peers/`). This crate locates them through `CARGO_MANIFEST_DIR`, loads them, and compiles
//! and runs them with the same entry points the `ruchy` binary uses.

use ruchy_frontend::{source::render_all, SourceFile};
use ruchy_ir::Module;
use ruchy_runtime::{Config, Interpreter, RuntimeError};
use std::io::Write;
use std::path::PathBuf;

/// The program timed end to end by the hello-world benchmark.
pub const HELLO_WORLD: &str = "println(\"Hello, Ruchy!\")\n";

/// The output [`HELLO_WORLD`] must print.
pub const HELLO_WORLD_OUT: &str = "Hello, Ruchy!\n";

/// The root of the repository (the directory holding the workspace `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    // This crate is `<repo>/benches`.
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The shared workload directory, `<repo>/../shared/bench`.
pub fn bench_dir() -> PathBuf {
    repo_root().join("..").join("shared").join("bench")
}

/// A benchmark program loaded from [`bench_dir`].
#[derive(Clone, Debug)]
pub struct Workload {
    /// The file stem, e.g. `fib`.
    pub name: String,
    /// The Ruchy source, named by its path (so diagnostics point at the real file).
    pub source: SourceFile,
    /// The exact expected standard output (`NAME.out`), when present.
    pub expected: Option<String>,
}

/// The names of all workloads (`*.ruchy` in [`bench_dir`]), sorted.
///
/// Panics with a clear message when the directory is missing, since no benchmark can run then.
pub fn workload_names() -> Vec<String> {
    let dir = bench_dir();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "cannot read the workload directory {}: {e} (expected ../shared/bench next to the repository)",
            dir.display()
        )
    });
    let mut names: Vec<String> = entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            if path.extension()? != "ruchy" {
                return None;
            }
            Some(path.file_stem()?.to_str()?.to_string())
        })
        .collect();
    names.sort();
    names
}

/// Loads the workload `name` (`NAME.ruchy` and, if present, `NAME.out`).
pub fn load(name: &str) -> Workload {
    let dir = bench_dir();
    let path = dir.join(format!("{name}.ruchy"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read workload {}: {e}", path.display()));
    let expected = std::fs::read_to_string(dir.join(format!("{name}.out"))).ok();
    Workload {
        name: name.to_string(),
        source: SourceFile::new(path.display().to_string(), text),
        expected,
    }
}

/// Loads every workload, in name order.
pub fn load_all() -> Vec<Workload> {
    workload_names().iter().map(|n| load(n)).collect()
}

/// Parses, resolves and lowers a source file; panics with the rendered diagnostics on failure.
pub fn compile(source: &SourceFile) -> Module {
    ruchy_frontend::compile(source).unwrap_or_else(|diags| {
        panic!(
            "{} does not compile:\n{}",
            source.name,
            render_all(source, &diags)
        )
    })
}

/// Runs a compiled module in the tier-0 interpreter (no compilation; `benches/jit.rs` measures
/// tier 1), writing the program's output to `out`.
pub fn run(module: &Module, out: &mut dyn Write) -> Result<(), RuntimeError> {
    let mut interp = Interpreter::new(module, Config::tier0(), out);
    interp.run_main().map(|_| ())
}

/// Runs a compiled workload and returns its output; panics with the rendered error on failure.
pub fn run_to_string(source: &SourceFile, module: &Module) -> String {
    let mut out = Vec::new();
    if let Err(err) = run(module, &mut out) {
        panic!(
            "{} failed:\n{}",
            source.name,
            err.render(&source.name, &|line| Some(
                source.line_text(line).to_string()
            ))
        );
    }
    String::from_utf8(out).expect("program output is UTF-8")
}

/// Compiles and runs [`HELLO_WORLD`] from scratch, writing to `out`: what `ruchy run` does for a
/// trivial program, minus process start-up and file reading.
pub fn hello_world(out: &mut dyn Write) {
    let source = SourceFile::new("hello.ruchy", HELLO_WORLD);
    let module = compile(&source);
    run(&module, out).expect("hello world runs");
}

/// A synthetic Ruchy program of `functions` functions (about 60 IR instructions each) with
/// loops, branches, arithmetic on ints and floats, arrays and calls, plus a top level that calls
/// every function with integer arguments — so whole-program specialization reaches all of it.
/// Used to measure how the pass pipeline scales with program size.
pub fn synthetic_program(functions: usize) -> String {
    let mut s = String::new();
    for k in 0..functions {
        s.push_str(&format!(
            "fun f{k}(n, m) {{\n\
             \x20   let mut acc = 0\n\
             \x20   let mut x = 1.5\n\
             \x20   let xs = [1, 2, 3, {k}]\n\
             \x20   for i in 0..n {{\n\
             \x20       if i % 3 == 0 {{ acc = acc + i * 2 }} else {{ acc = acc - 1 }}\n\
             \x20       x = x * 1.0001 + 0.5\n\
             \x20       let j = i * 4 / 2\n\
             \x20       acc = acc + j % 7 + xs[i % 4]\n\
             \x20   }}\n\
             \x20   while m > acc {{ acc = acc + 1 + 0 }}\n\
             \x20   if x > 100.0 {{ acc + 1 }} else {{ acc * 1 }}\n\
             }}\n"
        ));
    }
    for k in 0..functions {
        s.push_str(&format!("println(f{k}(3, {k}))\n"));
    }
    s
}

/// One function of `statements` assignments in a single block, and a call of it: how passes
/// scale with a block's length (removing instructions one at a time was quadratic in it).
pub fn straight_line_program(statements: usize) -> String {
    let mut s = String::from("fun f(n) {\n    let mut s = n\n");
    for k in 0..statements {
        s.push_str(&format!("    s = (s * 31 + {k}) % 1000003\n"));
    }
    s.push_str("    s\n}\nprintln(f(1))\n");
    s
}

/// Compiles source text to a `dyn`-level module, panicking on diagnostics.
pub fn compile_text(name: &str, text: &str) -> Module {
    let file = SourceFile::new(name, text);
    match ruchy_frontend::compile(&file) {
        Ok(m) => m,
        Err(d) => panic!("{}", render_all(&file, &d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_are_found() {
        let names = workload_names();
        assert!(
            !names.is_empty(),
            "no workloads in {}",
            bench_dir().display()
        );
        for name in &names {
            assert!(load(name).expected.is_some(), "{name} has no .out file");
        }
    }

    #[test]
    fn workloads_compile() {
        for w in load_all() {
            compile(&w.source);
        }
    }

    #[test]
    fn hello_world_prints() {
        let mut out = Vec::new();
        hello_world(&mut out);
        assert_eq!(String::from_utf8(out).unwrap(), HELLO_WORLD_OUT);
    }

    /// Runs every workload and checks its output: seconds in release, much longer in debug, so it
    /// is opt-in: `cargo test -p ruchy-benches --release -- --ignored`.
    #[test]
    #[ignore]
    fn workloads_print_expected_output() {
        for w in load_all() {
            let module = compile(&w.source);
            let got = run_to_string(&w.source, &module);
            assert_eq!(Some(&got), w.expected.as_ref(), "output of {}", w.name);
        }
    }
}

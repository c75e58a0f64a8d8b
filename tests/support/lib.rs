//! Helpers shared by the workspace-level tests: locating `../shared`, compiling and running
//! programs in-process with captured output.

use ruchy_frontend::SourceFile;
use ruchy_ir::Module;
use ruchy_runtime::{Config, Interpreter};
use std::path::{Path, PathBuf};

/// The read-only data folder beside the repository (`../shared`).
pub fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// `.ruchy` files of a folder under `../shared`, sorted by name.
pub fn programs(sub: &str) -> Vec<PathBuf> {
    let dir = shared_dir().join(sub);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ruchy"))
        .collect();
    v.sort();
    v
}

/// Every conformance and benchmark program.
pub fn all_programs() -> Vec<PathBuf> {
    let mut v = programs("conformance");
    v.extend(programs("bench"));
    v
}

/// The file name of a path, used as the module's source name so output does not depend on where
/// the checkout lives.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Loads a program as a `SourceFile` named by its file name.
pub fn load(path: &Path) -> SourceFile {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    SourceFile::new(file_name(path), text)
}

/// Compiles a source file, panicking with the rendered diagnostics on failure.
pub fn compile(file: &SourceFile) -> Module {
    match ruchy_frontend::compile(file) {
        Ok(m) => m,
        Err(d) => panic!("{}", ruchy_frontend::source::render_all(file, &d)),
    }
}

/// What running a program produced, as the `ruchy` binary would report it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
}

/// Runs a module in the interpreter.
pub fn run_module(file: &SourceFile, module: &Module, config: Config) -> Outcome {
    let mut out: Vec<u8> = vec![];
    let result = {
        let mut interp = Interpreter::new(module, config, &mut out);
        interp.run_main()
    };
    let (stderr, exit_code) = match result {
        Ok(_) => (String::new(), 0),
        Err(e) => (
            e.render(&file.name, &|l| Some(file.line_text(l).to_string())),
            1,
        ),
    };
    Outcome {
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr,
        exit_code,
    }
}

/// Compiles and runs source text; syntax errors give exit code 2 like the binary.
pub fn run_source(name: &str, text: &str) -> Outcome {
    let file = SourceFile::new(name, text);
    match ruchy_frontend::compile(&file) {
        Ok(m) => run_module(&file, &m, Config::default()),
        Err(d) => Outcome {
            stdout: String::new(),
            stderr: ruchy_frontend::source::render_all(&file, &d),
            exit_code: 2,
        },
    }
}

/// The expectation of a conformance program: its `.out`, and for error programs the exit code
/// and a phrase from its `.err`.
#[derive(Debug)]
pub struct Expected {
    pub stdout: String,
    pub exit_code: i32,
    pub stderr_contains: Option<String>,
}

pub fn expected(path: &Path) -> Expected {
    let stdout = std::fs::read_to_string(path.with_extension("out")).unwrap_or_default();
    let mut exp = Expected {
        stdout,
        exit_code: 0,
        stderr_contains: None,
    };
    if let Ok(err) = std::fs::read_to_string(path.with_extension("err")) {
        for line in err.lines() {
            if let Some(c) = line.strip_prefix("exit_code:") {
                exp.exit_code = c.trim().parse().unwrap_or(1);
            } else if let Some(p) = line.strip_prefix("stderr_contains:") {
                exp.stderr_contains = Some(p.trim().to_string());
            }
        }
    }
    exp
}

/// Checks an outcome against an expectation; returns a description of every mismatch.
pub fn check(path: &Path, got: &Outcome, exp: &Expected) -> Result<(), String> {
    let name = file_name(path);
    let mut problems = vec![];
    if got.stdout != exp.stdout {
        problems.push(format!(
            "stdout differs:\n--- expected\n{}--- got\n{}",
            exp.stdout, got.stdout
        ));
    }
    if got.exit_code != exp.exit_code {
        problems.push(format!(
            "exit code {} (expected {})\nstderr: {}",
            got.exit_code, exp.exit_code, got.stderr
        ));
    }
    if let Some(p) = &exp.stderr_contains {
        if !got.stderr.to_lowercase().contains(&p.to_lowercase()) {
            problems.push(format!("stderr does not contain {p:?}: {}", got.stderr));
        }
        // The error must point at the failing position as FILE:LINE:COLUMN.
        let prefix = format!("{name}:");
        let has_pos = got.stderr.lines().any(|l| {
            l.strip_prefix(&prefix)
                .map(|rest| {
                    let mut parts = rest.splitn(3, ':');
                    let line = parts.next().and_then(|x| x.parse::<u32>().ok());
                    let col = parts.next().and_then(|x| x.parse::<u32>().ok());
                    line.is_some() && col.is_some()
                })
                .unwrap_or(false)
        });
        if !has_pos {
            problems.push(format!(
                "stderr has no {name}:LINE:COL position: {}",
                got.stderr
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{name}: {}", problems.join("\n")))
    }
}

/// The executors every program must agree on: the interpreter, tier 1 forced on every
/// function, and automatic tiering.
pub fn executors() -> Vec<(&'static str, Config)> {
    let mut forced = Config::default();
    forced.jit.tier1_threshold = 0;
    // Loops are not compiled on entry, and a loop running in the interpreter is entered in
    // compiled code after 3 back edges: on-stack replacement everywhere it can happen. And
    // compiled code is given up at its first deoptimization (interpreter fallbacks).
    let mut osr = Config::default();
    osr.jit.eager_loops = false;
    osr.jit.backedge_threshold = 3;
    osr.jit.max_deopts = 1;
    vec![
        ("tier0", Config::tier0()),
        ("tier1", forced),
        ("auto", Config::default()),
        ("osr", osr),
    ]
}

/// Runs `f` on a thread with a large stack (512 MiB, enough for
/// [`ruchy_runtime::BIG_NATIVE_STACK`]): compiled code recurses on the native stack.
pub fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(f)
        .expect("thread starts")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

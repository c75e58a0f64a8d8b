//! Every program in ../shared/conformance (and the benchmark programs, whose `.out` files give
//! their exact output) run on every executor must match its expected stdout, exit code and error
//! phrase. Executors join this list as tiers are added.

use ruchy_runtime::Config;
use ruchy_tests::*;

#[test]
fn conformance_on_tier0() {
    let mut failures = vec![];
    let progs = programs("conformance");
    assert!(
        progs.len() >= 27,
        "conformance corpus not found under {}",
        shared_dir().display()
    );
    for path in &progs {
        let file = load(path);
        let module = compile(&file);
        let got = run_module(&file, &module, Config::default());
        if let Err(e) = check(path, &got, &expected(path)) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} programs failed:\n{}",
        failures.len(),
        progs.len(),
        failures.join("\n\n")
    );
}

#[test]
fn bench_programs_on_tier0() {
    let mut failures = vec![];
    for path in programs("bench") {
        let file = load(&path);
        let module = compile(&file);
        let got = run_module(&file, &module, Config::default());
        if let Err(e) = check(&path, &got, &expected(&path)) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

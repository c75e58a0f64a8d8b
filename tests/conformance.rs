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
        let got = run_module(&file, &module, Config::tier0());
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

/// Every program on every executor: identical stdout, error message and exit code.
#[test]
fn conformance_and_bench_on_every_tier() {
    on_big_stack(|| {
        let mut failures = vec![];
        for path in all_programs() {
            let file = load(&path);
            let module = compile(&file);
            let exp = expected(&path);
            let reference = run_module(&file, &module, Config::tier0());
            for (name, config) in executors() {
                let got = run_module(&file, &module, config);
                if let Err(e) = check(&path, &got, &exp) {
                    failures.push(format!("[{name}] {e}"));
                }
                if got != reference {
                    failures.push(format!(
                        "[{name}] {}: differs from tier 0\n--- tier 0\n{}{}\n--- {name}\n{}{}",
                        file.name, reference.stdout, reference.stderr, got.stdout, got.stderr
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    });
}

#[test]
fn bench_programs_on_tier0() {
    let mut failures = vec![];
    for path in programs("bench") {
        let file = load(&path);
        let module = compile(&file);
        let got = run_module(&file, &module, Config::tier0());
        if let Err(e) = check(&path, &got, &expected(&path)) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

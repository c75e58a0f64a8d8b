//! Every pass preserves semantics: for every conformance and benchmark program, the interpreter's
//! stdout, error message and exit code after a pipeline equal those before it, and the verifier
//! accepts the IR after every pass. Each pass also runs alone, so a failure names the pass.

use ruchy_passes::{registry::REGISTRY, Instrumentation, PassManager, Pipeline};
use ruchy_runtime::Config;
use ruchy_tests::*;

fn check_pipeline(pipeline: &str) {
    let mut failures = vec![];
    for path in all_programs() {
        let file = load(&path);
        let module = compile(&file);
        let before = run_module(&file, &module, Config::default());
        let mut optimized = module.clone();
        let p =
            Pipeline::parse_or_named(pipeline).unwrap_or_else(|e| panic!("{}", e.render(pipeline)));
        let instr = Instrumentation {
            verify_each: true,
            ..Instrumentation::default()
        };
        let mut pm = PassManager::new(p, instr).expect("pipeline");
        if let Err(e) = pm.run(&mut optimized, &mut std::io::sink()) {
            failures.push(format!("{}: {e}", file.name));
            continue;
        }
        let after = run_module(&file, &optimized, Config::default());
        if before != after {
            failures.push(format!(
                "{}: output differs after `{pipeline}`\n--- before\n{}{}\n--- after\n{}{}",
                file.name, before.stdout, before.stderr, after.stdout, after.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn o2_preserves_every_program() {
    check_pipeline("-O2");
}

#[test]
fn o1_preserves_every_program() {
    check_pipeline("-O1");
}

#[test]
fn each_pass_alone_preserves_every_program() {
    for e in REGISTRY {
        check_pipeline(e.info.name);
    }
}

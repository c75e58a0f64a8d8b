//! Data-driven pass tests, in the style of rustc's mir-opt tests: each `tests/passes/<pass>/*.rir`
//! file starts with `// RUN: <pipeline>`; the test parses it, runs the pipeline (verifying after
//! every pass) and snapshots the stats and the before/after diff of the IR. Update the snapshots
//! with `cargo insta review` after an intended change and read the diff.

use ruchy_ir::{parse_module, print_module, verifier::render_errors, verify_module};
use ruchy_passes::{Instrumentation, PassManager, Pipeline};
use std::path::{Path, PathBuf};

fn cases() -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("passes");
    let mut out = vec![];
    for dir in std::fs::read_dir(&root)
        .expect("tests/passes exists")
        .flatten()
    {
        if !dir.path().is_dir() {
            continue;
        }
        let pass = dir.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(dir.path()).expect("readable").flatten() {
            if f.path().extension().is_some_and(|e| e == "rir") {
                out.push((pass.clone(), f.path()));
            }
        }
    }
    out.sort();
    out
}

/// Runs one case and renders what the snapshot records.
fn run_case(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("readable");
    let first = text.lines().next().unwrap_or_default();
    let pipeline = first
        .strip_prefix("// RUN:")
        .unwrap_or_else(|| {
            panic!(
                "{}: the first line must be `// RUN: <pipeline>`",
                path.display()
            )
        })
        .trim()
        .to_string();
    let (mut module, _) = parse_module(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if let Err(errs) = verify_module(&module) {
        panic!(
            "{}: input does not verify:\n{}",
            path.display(),
            render_errors(&module, &errs, None)
        );
    }
    let before = print_module(&module);
    let p = Pipeline::parse_or_named(&pipeline)
        .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.render(&pipeline)));
    let instr = Instrumentation {
        verify_each: true,
        ..Instrumentation::default()
    };
    let mut pm = PassManager::new(p, instr).expect("pipeline builds");
    let report = pm
        .run(&mut module, &mut std::io::sink())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let after = print_module(&module);
    let diff = similar::TextDiff::from_lines(&before, &after);
    let mut out = format!("// RUN: {pipeline}\n");
    let stats = report.stats_lines();
    if !stats.is_empty() {
        out.push_str("// stats:\n");
        for l in stats.lines() {
            out.push_str(&format!("//   {l}\n"));
        }
    }
    if before == after {
        out.push_str("// (no change)\n");
    } else {
        out.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header("before", "after")
                .to_string(),
        );
    }
    out
}

#[test]
fn pass_snapshots() {
    let cases = cases();
    for (pass, path) in &cases {
        let stem = path.file_stem().unwrap().to_string_lossy();
        let out = run_case(path);
        insta::assert_snapshot!(format!("{pass}__{stem}"), out);
    }
}

#[test]
fn every_registered_pass_has_at_least_five_cases() {
    let cases = cases();
    for e in ruchy_passes::registry::REGISTRY {
        let n = cases.iter().filter(|(p, _)| p == e.info.name).count();
        assert!(
            n >= 5,
            "pass `{}` has {n} snapshot cases in tests/passes/{}/ (want at least 5)",
            e.info.name,
            e.info.name
        );
    }
}

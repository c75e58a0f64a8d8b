//! Verifier error tests: each `tests/verifier/*.rir` file marks the lines where the verifier must
//! report an error with an inline `// error: <part of the message>` comment. Every annotation
//! must be matched by an error on its line, and every error must be on an annotated line.

use ruchy_ir::{parse_module, verifier::ErrorLocation, verify_module};
use std::path::Path;

#[test]
fn annotated_verifier_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("verifier");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/verifier exists")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "expected verifier cases in {}",
        dir.display()
    );
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rir"))
    {
        let text = std::fs::read_to_string(path).unwrap();
        let expected: Vec<(u32, String)> = text
            .lines()
            .enumerate()
            .filter_map(|(i, l)| {
                l.split_once("// error:")
                    .map(|(_, m)| (i as u32 + 1, m.trim().to_string()))
            })
            .collect();
        assert!(
            !expected.is_empty(),
            "{}: no `// error:` annotation",
            path.display()
        );
        let (module, map) =
            parse_module(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let errors = verify_module(&module).err().unwrap_or_default();
        let got: Vec<(u32, String)> = errors
            .iter()
            .map(|e| {
                let pos = match e.location {
                    Some(ErrorLocation::Inst(i)) => map.inst(e.func, i),
                    Some(ErrorLocation::Block(b)) => map.block(e.func, b),
                    None => map.func(e.func),
                };
                (pos.map(|p| p.0).unwrap_or(0), e.message.clone())
            })
            .collect();
        for (line, msg) in &expected {
            assert!(
                got.iter()
                    .any(|(l, m)| l == line && m.contains(msg.as_str())),
                "{}:{line}: expected an error containing {msg:?}; got {got:?}",
                path.display()
            );
        }
        // Follow-on errors may share a line with the annotated one; unannotated lines must
        // have none.
        for (line, msg) in &got {
            assert!(
                expected.iter().any(|(l, _)| l == line),
                "{}:{line}: unexpected error {msg:?}",
                path.display()
            );
        }
    }
}

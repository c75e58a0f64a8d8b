//! Snapshots of the `dyn`-level IR that the front end produces for each conformance program.
//! Update with `cargo insta review` (or `INSTA_UPDATE=always cargo test -p ruchy-tests`) after an
//! intended change to lowering, and read the diff.

use ruchy_tests::*;

#[test]
fn lowered_ir_of_conformance_programs() {
    for path in programs("conformance") {
        let file = load(&path);
        let module = compile(&file);
        let text = ruchy_ir::printer::print_module(&module);
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        insta::assert_snapshot!(format!("lower_{name}"), text);
    }
}

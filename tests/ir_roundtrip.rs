//! The IR text form round-trips: for every function lowered from every conformance and benchmark
//! program, print → parse → print is byte-identical, and the parsed module verifies.

use ruchy_tests::*;

#[test]
fn printed_ir_parses_back_identically() {
    for path in all_programs() {
        let file = load(&path);
        let module = compile(&file);
        if let Err(errs) = ruchy_ir::verifier::verify_module(&module) {
            panic!(
                "{}: lowered IR does not verify:\n{}",
                file.name,
                ruchy_ir::verifier::render_errors(&module, &errs, None)
            );
        }
        let text = ruchy_ir::printer::print_module(&module);
        let (parsed, _) = ruchy_ir::parser::parse_module(&text)
            .unwrap_or_else(|e| panic!("{}: printed IR does not parse: {e}\n{text}", file.name));
        let again = ruchy_ir::printer::print_module(&parsed);
        assert_eq!(text, again, "{}: print → parse → print differs", file.name);
        for (_, f) in module.funcs.iter() {
            let one = ruchy_ir::printer::print_function(&module, f);
            assert!(
                text.contains(&one),
                "{}: function @{} prints differently alone",
                file.name,
                f.name
            );
        }
    }
}

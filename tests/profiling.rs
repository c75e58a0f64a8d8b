//! The interpreter's built-in profile: calls per function, argument type signatures, back-edge
//! counts per loop header — what the tiering runtime will read to decide what to compile.

use ruchy_frontend::SourceFile;
use ruchy_runtime::{Config, Interpreter, Profile};

#[test]
fn counts_calls_signatures_and_back_edges() {
    let src = "fun add(a, b) { a + b }\n\
               fun spin(n) { let mut i = 0\n while i < n { i = i + 1 }\n i }\n\
               for k in 0..5 { add(k, 1) }\n\
               add(1.5, 2.5)\n\
               add(\"a\", \"b\")\n\
               spin(7)\n";
    let file = SourceFile::new("p.ruchy", src);
    let module = ruchy_frontend::compile(&file).expect("compiles");
    let add = module.func_by_name("add").unwrap();
    let spin = module.func_by_name("spin").unwrap();
    let mut out = vec![];
    let mut interp = Interpreter::new(&module, Config::tier0(), &mut out);
    interp.run_main().expect("runs");
    let p = &interp.profile;
    use ruchy_ir::EntityRef;
    assert_eq!(p.calls[add.index()], 7);
    assert_eq!(p.calls[spin.index()], 1);
    let sigs: Vec<(String, u64)> = p.sigs[add.index()]
        .iter()
        .map(|&(s, n)| (Profile::describe(s), n))
        .collect();
    assert!(
        sigs.contains(&("(integer, integer)".to_string(), 5)),
        "{sigs:?}"
    );
    assert!(
        sigs.contains(&("(float, float)".to_string(), 1)),
        "{sigs:?}"
    );
    assert!(
        sigs.contains(&("(string, string)".to_string(), 1)),
        "{sigs:?}"
    );
    let loops = interp.loop_counts(spin);
    assert_eq!(loops.len(), 1, "one loop header in spin");
    assert_eq!(loops[0].1, 7, "the while loop's back edge ran 7 times");
    let top = module.entry.unwrap();
    let top_loops = interp.loop_counts(top);
    assert_eq!(
        top_loops.iter().map(|l| l.1).sum::<u64>(),
        5,
        "the for loop ran 5 times"
    );
}

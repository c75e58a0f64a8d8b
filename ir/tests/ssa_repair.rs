//! `SsaRepair`: a value given a second definition gets block parameters where the two meet,
//! and every use sees the definition that reaches it.

use ruchy_ir::ssa_repair::SsaRepair;
use ruchy_ir::{parse_module, print_function, verify_module, Block, ControlFlowGraph, DomTree};
use ruchy_ir::{Module, Value};

fn parse(text: &str) -> Module {
    parse_module(text).unwrap_or_else(|e| panic!("{e}")).0
}

/// Gives `v` the extra definitions `extra` in the module's only function; returns how many
/// parameters were added and the printed function, after checking that it verifies.
fn repair(m: &mut Module, v: u32, extra: &[(u32, u32)]) -> (usize, String) {
    let id = m.funcs.keys().next().unwrap();
    let f = &mut m.funcs[id];
    let cfg = ControlFlowGraph::compute(f);
    let dt = DomTree::compute(&cfg);
    let extra: Vec<(Block, Value)> = extra
        .iter()
        .map(|&(b, w)| (Block::from_u32(b), Value::from_u32(w)))
        .collect();
    let added = SsaRepair::new(&cfg, &dt).add_definitions(f, Value::from_u32(v), &extra);
    if let Err(errs) = verify_module(m) {
        panic!("{errs:?}\n{}", print_function(m, &m.funcs[id]));
    }
    (added, print_function(m, &m.funcs[id]))
}

#[test]
fn definitions_meeting_at_a_join_get_a_parameter() {
    // On the way through ^bb1, %v0 now holds %v2; at ^bb3 the two meet.
    let mut m = parse(
        "func @f(i64, bool) -> i64 level(typed) {\n\
         ^bb0(%v0: i64, %v1: bool):\n  cf.cond_br %v1, ^bb1, ^bb2\n\
         ^bb1:\n  %v2 = arith.const 5 : i64\n  %v5 = arith.addi_wrap %v0, %v2 : i64\n  cf.br ^bb3\n\
         ^bb2:\n  cf.br ^bb3\n\
         ^bb3:\n  %v3 = arith.addi_wrap %v0, %v0 : i64\n  cf.return %v3\n}\n",
    );
    let (added, text) = repair(&mut m, 0, &[(1, 2)]);
    assert_eq!(added, 1, "{text}");
    // The use in ^bb1 itself comes before the new definition and keeps %v0.
    assert!(text.contains("%v5 = arith.addi_wrap %v0, %v2"), "{text}");
    assert!(text.contains("^bb1:\n  %v2 = arith.const 5 : i64\n  %v5 = arith.addi_wrap %v0, %v2 : i64\n  cf.br ^bb3(%v2)"), "{text}");
    assert!(text.contains("^bb2:\n  cf.br ^bb3(%v0)"), "{text}");
    assert!(
        text.contains("^bb3(%v6: i64):\n  %v3 = arith.addi_wrap %v6, %v6"),
        "{text}"
    );
}

#[test]
fn a_loop_carried_definition_flows_around_the_loop() {
    // %v1 is defined before the loop; the latch ^bb2 redefines it as %v4: the header gets a
    // parameter, and the exit sees whichever definition reached the header.
    let mut m = parse(
        "func @f(i64) -> i64 level(typed) {\n\
         ^bb0(%v0: i64):\n  %v1 = arith.const 0 : i64\n  cf.br ^bb1\n\
         ^bb1:\n  %v2 = arith.cmpi lt %v1, %v0 : bool\n  cf.cond_br %v2, ^bb2, ^bb3\n\
         ^bb2:\n  %v3 = arith.const 1 : i64\n  %v4 = arith.addi_wrap %v1, %v3 : i64\n  cf.br ^bb1\n\
         ^bb3:\n  cf.return %v1\n}\n",
    );
    let (added, text) = repair(&mut m, 1, &[(2, 4)]);
    assert_eq!(added, 1, "{text}");
    assert!(text.contains("cf.br ^bb1(%v1)"), "{text}");
    assert!(
        text.contains("^bb1(%v5: i64):\n  %v2 = arith.cmpi lt %v5, %v0"),
        "{text}"
    );
    assert!(text.contains("%v4 = arith.addi_wrap %v5, %v3"), "{text}");
    assert!(text.contains("cf.br ^bb1(%v4)"), "{text}");
    assert!(text.contains("cf.return %v5"), "{text}");
}

#[test]
fn no_parameter_where_the_value_is_dead() {
    // The only use is before the join: the join needs no parameter.
    let mut m = parse(
        "func @f(i64, bool) -> i64 level(typed) {\n\
         ^bb0(%v0: i64, %v1: bool):\n  cf.cond_br %v1, ^bb1, ^bb2\n\
         ^bb1:\n  %v2 = arith.const 5 : i64\n  cf.br ^bb3\n\
         ^bb2:\n  %v4 = arith.addi_wrap %v0, %v0 : i64\n  cf.br ^bb3\n\
         ^bb3:\n  %v3 = arith.const 7 : i64\n  cf.return %v3\n}\n",
    );
    let (added, text) = repair(&mut m, 0, &[(1, 2)]);
    assert_eq!(added, 0, "{text}");
    assert!(text.contains("%v4 = arith.addi_wrap %v0, %v0"), "{text}");
}

#[test]
fn an_unreachable_predecessor_still_passes_an_argument() {
    // ^bb9 branches to the join but nothing reaches it: its edge gets an argument too, so the
    // arity stays right.
    let mut m = parse(
        "func @f(i64, bool) -> i64 level(typed) {\n\
         ^bb0(%v0: i64, %v1: bool):\n  cf.cond_br %v1, ^bb1, ^bb2\n\
         ^bb1:\n  %v2 = arith.const 5 : i64\n  cf.br ^bb3\n\
         ^bb2:\n  cf.br ^bb3\n\
         ^bb3:\n  cf.return %v0\n\
         ^bb9:\n  cf.br ^bb3\n}\n",
    );
    let (added, text) = repair(&mut m, 0, &[(1, 2)]);
    assert_eq!(added, 1, "{text}");
    assert!(text.contains("^bb9:\n  cf.br ^bb3(%v0)"), "{text}");
}

#[test]
fn a_branch_argument_at_the_end_of_the_block_sees_the_extra_definition() {
    // ^bb1 redefines %v0 as %v2 at its end, and its branch passes %v0 on as an argument: the
    // argument is the new definition, like the argument added for the join's new parameter.
    let mut m = parse(
        "func @f(i64, bool) -> i64 level(typed) {\n\
         ^bb0(%v0: i64, %v1: bool):\n  cf.cond_br %v1, ^bb1, ^bb2(%v0)\n\
         ^bb1:\n  %v2 = arith.const 5 : i64\n  cf.br ^bb2(%v0)\n\
         ^bb2(%v3: i64):\n  %v4 = arith.addi_wrap %v0, %v3 : i64\n  cf.return %v4\n}\n",
    );
    let (added, text) = repair(&mut m, 0, &[(1, 2)]);
    assert_eq!(added, 1, "{text}");
    assert!(text.contains("cf.br ^bb2(%v2, %v2)"), "{text}");
    assert!(text.contains("^bb2(%v0, %v0)"), "{text}");
}

//! CFG, dominator tree and loop analyses, including unreachable blocks and irreducible flow.

use ruchy_ir::analysis::{ControlFlowGraph, DomTree, LoopForest};
use ruchy_ir::{parse_module, Block, Function};

fn b(n: u32) -> Block {
    Block::from_u32(n)
}

/// Parses a single function whose body is `body` (block labels and terminators only matter).
fn function(body: &str) -> Function {
    let text = format!("func @f(bool) -> any level(dyn) {{\n{body}}}\n");
    let (m, _) = parse_module(&text).unwrap_or_else(|e| panic!("{e}"));
    m.funcs.values().next().unwrap().clone()
}

fn analyse(f: &Function) -> (ControlFlowGraph, DomTree, LoopForest) {
    let cfg = ControlFlowGraph::compute(f);
    let dt = DomTree::compute(&cfg);
    let loops = LoopForest::compute(f, &cfg, &dt);
    (cfg, dt, loops)
}

/// ```text
///        bb0
///       /   \
///     bb1   bb2
///       \   /
///        bb3 <-- bb9 (unreachable)
/// ```
const DIAMOND: &str = "^bb0(%v0: bool):\n  cf.cond_br %v0, ^bb1, ^bb2\n^bb1:\n  cf.br ^bb3\n^bb2:\n  cf.br ^bb3\n^bb3:\n  cf.return %v0\n^bb9:\n  cf.br ^bb3\n";

#[test]
fn diamond_cfg_and_dominators() {
    let f = function(DIAMOND);
    let (cfg, dt, loops) = analyse(&f);
    assert_eq!(cfg.succs(b(0)), &[b(1), b(2)]);
    assert_eq!(cfg.preds(b(3)), &[b(1), b(2), b(9)]);
    assert_eq!(cfg.reverse_postorder().first(), Some(&b(0)));
    assert_eq!(cfg.reverse_postorder().len(), 4);
    assert_eq!(cfg.reverse_postorder().last(), Some(&b(3)));
    assert!(!cfg.is_reachable(b(9)));
    assert_eq!(cfg.rpo_index(b(9)), None);

    assert_eq!(dt.idom(b(0)), None);
    assert_eq!(dt.idom(b(1)), Some(b(0)));
    assert_eq!(dt.idom(b(3)), Some(b(0)));
    assert!(dt.dominates(b(0), b(3)));
    assert!(dt.dominates(b(3), b(3)));
    assert!(!dt.dominates(b(1), b(3)));
    assert!(!dt.dominates(b(3), b(1)));
    // Unreachable blocks: dominated by nothing but themselves.
    assert!(!dt.dominates(b(0), b(9)));
    assert!(dt.dominates(b(9), b(9)));
    assert!(!dt.dominates(b(9), b(3)));
    assert_eq!(dt.idom(b(9)), None);
    let mut kids = dt.children(b(0)).to_vec();
    kids.sort();
    assert_eq!(kids, vec![b(1), b(2), b(3)]);
    assert!(dt.children(b(3)).is_empty());

    assert!(loops.is_empty());
    assert_eq!(loops.loop_depth(b(3)), 0);
    assert!(loops.back_edges().is_empty());
}

#[test]
fn instruction_dominance() {
    let f = function("^bb0(%v0: bool):\n  %v1 = arith.const 1 : i64\n  %v2 = arith.const 2 : i64\n  cf.cond_br %v0, ^bb1, ^bb1\n^bb1:\n  cf.return %v0\n");
    let (_, dt, _) = analyse(&f);
    let i0 = f.layout.block_insts(b(0)).to_vec();
    let i1 = f.layout.block_insts(b(1)).to_vec();
    assert!(dt.inst_dominates(&f.layout, i0[0], i0[1]));
    assert!(dt.inst_dominates(&f.layout, i0[0], i0[0]));
    assert!(!dt.inst_dominates(&f.layout, i0[1], i0[0]));
    assert!(dt.inst_dominates(&f.layout, i0[2], i1[0]));
    assert!(!dt.inst_dominates(&f.layout, i1[0], i0[2]));
}

/// Two nested loops and a self-loop:
/// ```text
/// bb0 -> bb1 (outer header) -> bb2 (inner header) -> bb3 -> bb2 (back edge)
///                                                    bb3 -> bb4 -> bb1 (back edge)
/// bb1 -> bb5 (exit) ; bb5 -> bb6 ; bb6 -> bb6 (self loop) ; bb6 -> bb7
/// ```
const NESTED: &str = "^bb0(%v0: bool):\n  cf.br ^bb1\n^bb1:\n  cf.cond_br %v0, ^bb2, ^bb5\n^bb2:\n  cf.br ^bb3\n^bb3:\n  cf.cond_br %v0, ^bb2, ^bb4\n^bb4:\n  cf.br ^bb1\n^bb5:\n  cf.br ^bb6\n^bb6:\n  cf.cond_br %v0, ^bb6, ^bb7\n^bb7:\n  cf.return %v0\n";

#[test]
fn nested_loops() {
    let f = function(NESTED);
    let (cfg, dt, loops) = analyse(&f);
    assert_eq!(cfg.reverse_postorder().len(), 8);
    assert!(dt.dominates(b(1), b(4)));
    assert!(dt.dominates(b(2), b(3)));
    assert_eq!(loops.len(), 3);
    for h in [1, 2, 6] {
        assert!(loops.is_loop_header(b(h)), "^bb{h}");
    }
    for n in [0, 3, 4, 5, 7] {
        assert!(!loops.is_loop_header(b(n)), "^bb{n}");
    }
    let mut edges = loops.back_edges().to_vec();
    edges.sort();
    assert_eq!(edges, vec![(b(3), b(2)), (b(4), b(1)), (b(6), b(6))]);
    assert!(loops.is_back_edge(b(4), b(1)));
    assert!(!loops.is_back_edge(b(0), b(1)));
    assert_eq!(loops.loop_depth(b(0)), 0);
    assert_eq!(loops.loop_depth(b(1)), 1);
    assert_eq!(loops.loop_depth(b(4)), 1);
    assert_eq!(loops.loop_depth(b(2)), 2);
    assert_eq!(loops.loop_depth(b(3)), 2);
    assert_eq!(loops.loop_depth(b(5)), 0);
    assert_eq!(loops.loop_depth(b(6)), 1);
    let outer = loops.loop_of_header(b(1)).unwrap();
    let inner = loops.loop_of_header(b(2)).unwrap();
    assert_eq!(loops.get(inner).parent, Some(outer));
    assert!(loops.is_nested_in(inner, outer));
    assert!(!loops.is_nested_in(outer, inner));
    let mut body = loops.get(outer).blocks.clone();
    body.sort();
    assert_eq!(body, vec![b(1), b(2), b(3), b(4)]);
    assert_eq!(loops.get(outer).blocks[0], b(1));
    assert_eq!(loops.get(outer).latches, vec![b(4)]);
    assert_eq!(loops.innermost_loop(b(3)), Some(inner));
}

#[test]
fn irreducible_flow_has_no_natural_loop() {
    // bb1 and bb2 branch to each other, and both are entered from bb0: neither dominates the other.
    let f = function("^bb0(%v0: bool):\n  cf.cond_br %v0, ^bb1, ^bb2\n^bb1:\n  cf.cond_br %v0, ^bb2, ^bb3\n^bb2:\n  cf.cond_br %v0, ^bb1, ^bb3\n^bb3:\n  cf.return %v0\n");
    let (_, dt, loops) = analyse(&f);
    assert_eq!(dt.idom(b(1)), Some(b(0)));
    assert_eq!(dt.idom(b(2)), Some(b(0)));
    assert_eq!(dt.idom(b(3)), Some(b(0)));
    assert!(loops.is_empty());
}

#[test]
fn unreachable_loops_and_odd_shapes_do_not_crash() {
    // An unreachable cycle, a branch to the entry (malformed), and duplicate destinations.
    let f = function("^bb0(%v0: bool):\n  cf.cond_br %v0, ^bb1, ^bb1\n^bb1:\n  cf.br ^bb0(%v0)\n^bb2:\n  cf.br ^bb3\n^bb3:\n  cf.br ^bb2\n");
    let (cfg, dt, loops) = analyse(&f);
    assert_eq!(cfg.succs(b(0)), &[b(1)]);
    assert_eq!(cfg.preds(b(0)), &[b(1)]);
    assert!(loops.is_loop_header(b(0)));
    assert_eq!(loops.back_edges(), &[(b(1), b(0))]);
    assert!(!loops.is_loop_header(b(2)));
    assert!(!dt.is_reachable(b(3)));
    // A function without blocks.
    let (m, _) = parse_module("func @e() -> any level(dyn) {\n}\n").unwrap();
    let (cfg, dt, loops) = analyse(&m.funcs.values().next().unwrap().clone());
    assert!(cfg.reverse_postorder().is_empty());
    assert!(!dt.is_reachable(b(0)));
    assert!(loops.is_empty());
}

#[test]
fn long_chain_does_not_overflow_the_stack() {
    let mut body = String::from("^bb0(%v0: bool):\n  cf.br ^bb1\n");
    let n = 20_000;
    for k in 1..n {
        body.push_str(&format!("^bb{k}:\n  cf.br ^bb{}\n", k + 1));
    }
    body.push_str(&format!(
        "^bb{n}:\n  cf.cond_br %v0, ^bb1, ^bb{}\n^bb{}:\n  cf.return %v0\n",
        n + 1,
        n + 1
    ));
    let f = function(&body);
    let (cfg, dt, loops) = analyse(&f);
    assert_eq!(cfg.reverse_postorder().len(), n as usize + 2);
    assert!(dt.dominates(b(1), b(n)));
    assert_eq!(loops.len(), 1);
    assert_eq!(loops.loop_depth(b(n / 2)), 1);
}

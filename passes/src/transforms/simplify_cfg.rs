//! CFG simplification. Repeats these rewrites until none applies:
//!
//! 1. Remove blocks the entry cannot reach.
//! 2. Simplify branches: a `cf.cond_br` on an `arith.const` condition, or whose two destinations
//!    are the same block with the same arguments, and a `cf.switch` on an `arith.const` or whose
//!    destinations are all the same, become a `cf.br`.
//! 3. Thread jumps through forwarding blocks: an edge `P -> F(a..)` where `F` is a non-entry block
//!    made only of `cf.br ^T(x..)` is redirected to `T`, with `F`'s parameters replaced by the
//!    arguments `a..` of that edge.
//! 4. Merge a block `B` into its single predecessor `P` when `P` ends with `cf.br ^B(a..)` and no
//!    other edge reaches `B`: `B`'s parameters are replaced by `a..`, `B`'s instructions move to
//!    the end of `P`, and `B` disappears.
//! 5. Remove redundant block parameters: those that receive the same value on every edge (or
//!    only themselves).
//!
//! The entry block stays first and the other blocks keep their relative order.
//!
//! Soundness. None of these rewrites moves, duplicates or deletes an instruction that executes
//! (only `cf.br` terminators of merged blocks and forwarding blocks no edge reaches any more
//! disappear), so every effect and run-time error happens in the same order with the same
//! location. Branch conditions have type `bool`, so choosing a destination cannot raise.
//! Dominance is kept:
//! * Threading requires that `F`'s parameters have no use other than `F`'s own `cf.br`; every
//!   other value that branch passes is defined in a block strictly dominating `F`, hence
//!   dominating each predecessor of `F`. A forwarding block whose chain of forwarding blocks
//!   loops back on itself (an empty infinite loop, `loop {}`) is never threaded, so the pass
//!   terminates and the loop stays a loop.
//! * Merging: `P` dominates `B` (it is its only predecessor), so whatever dominated `B` still
//!   dominates the moved instructions, and the blocks `B` dominated are now dominated by `P`.
//! * Replacing a parameter by a value of another type (an `i64` for an `any` parameter) is
//!   skipped when the parameter is the operand of `guard.type`, which must be `any`.
//!
//! A function that a guard's deopt state points into is left untouched, since deopt states name
//! its blocks and instruction positions.

use crate::pass::{FunctionCx, Pass, PassInfo, PassOptions, Scope};
use crate::registry::PassEntry;
use crate::transforms::dce::is_deopt_target;
use ruchy_ir::{utils, Block, BlockCall, Const, Function, Imm, Inst, Opcode, Type, Value};
use smallvec::smallvec;
use std::collections::{HashMap, HashSet};

pub static INFO: PassInfo = PassInfo {
    name: "simplify-cfg",
    description: "Removes unreachable blocks, folds trivial branches, threads jumps through empty \
                  blocks, merges straight-line blocks and removes redundant block parameters.",
    scope: Scope::Function,
    options: &[],
};

pub const ENTRY: PassEntry = PassEntry {
    info: &INFO,
    create,
};

fn create(_options: &PassOptions) -> Result<Box<dyn Pass>, String> {
    Ok(Box::new(SimplifyCfg))
}

/// The pass (it has no options).
struct SimplifyCfg;

impl Pass for SimplifyCfg {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run_function(
        &mut self,
        func: &mut Function,
        cx: &mut FunctionCx<'_>,
    ) -> Result<bool, String> {
        if func.entry_block().is_none() || is_deopt_target(cx.module, cx.func_id, func) {
            return Ok(false);
        }
        let st = simplify(func);
        cx.stats.add("blocks merged", st.merged);
        cx.stats.add("blocks removed", st.removed);
        cx.stats.add("branches simplified", st.branches);
        cx.stats.add("jumps threaded", st.threaded);
        cx.stats.add("block parameters removed", st.params);
        Ok(st.merged + st.removed + st.branches + st.threaded + st.params > 0)
    }
}

/// What [`simplify`] did.
#[derive(Default, Debug)]
pub struct SimplifyStats {
    pub merged: u64,
    pub removed: u64,
    pub branches: u64,
    pub threaded: u64,
    pub params: u64,
}

/// Runs the rewrites of the module documentation to a fixpoint.
pub fn simplify(func: &mut Function) -> SimplifyStats {
    let mut st = SimplifyStats::default();
    loop {
        let before = func.layout.blocks().len();
        utils::remove_unreachable_blocks(func);
        st.removed += (before - func.layout.blocks().len()) as u64;
        let mut changed = false;
        let n = simplify_branches(func);
        st.branches += n;
        changed |= n > 0;
        let n = thread_jumps(func);
        st.threaded += n;
        changed |= n > 0;
        let n = merge_blocks(func);
        st.merged += n;
        changed |= n > 0;
        let n = remove_redundant_params(func);
        st.params += n;
        changed |= n > 0;
        if !changed {
            break;
        }
    }
    st
}

// ---------------------------------------------------------------------------------------------
// Branches.

/// Turns `cf.cond_br`/`cf.switch` into `cf.br` when the condition is a literal or every
/// destination is the same block with the same arguments. Returns how many changed.
fn simplify_branches(func: &mut Function) -> u64 {
    let mut n = 0;
    let blocks: Vec<Block> = func.layout.blocks().to_vec();
    for b in blocks {
        let Some(t) = func.layout.last_inst(b) else {
            continue;
        };
        let d = &func.dfg.insts[t];
        let cond = d.args.first().and_then(|&c| utils::const_value(func, c));
        let taken = match (d.opcode, cond, &d.imm) {
            (Opcode::CondBr | Opcode::Switch, _, _)
                if d.dests.len() > 1 && d.dests.iter().all(|x| *x == d.dests[0]) =>
            {
                Some(0)
            }
            (Opcode::CondBr, Some(Const::Bool(v)), _) if d.dests.len() == 2 => {
                Some(if *v { 0 } else { 1 })
            }
            (Opcode::Switch, Some(Const::Int(v)), Imm::Cases(cases))
                if d.dests.len() == cases.len() + 1 =>
            {
                Some(cases.iter().position(|c| c == v).unwrap_or(cases.len()))
            }
            _ => None,
        };
        let Some(k) = taken else { continue };
        let dest = d.dests[k].clone();
        let d = &mut func.dfg.insts[t];
        d.opcode = Opcode::Br;
        d.args.clear();
        d.imm = Imm::None;
        d.dests = smallvec![dest];
        n += 1;
    }
    n
}

// ---------------------------------------------------------------------------------------------
// Jump threading.

/// For a forwarding block (non-entry, only a `cf.br`, parameters used by nothing else): its
/// branch target and arguments.
fn forwarding_blocks(func: &Function) -> HashMap<Block, BlockCall> {
    let entry = func.entry_block();
    let counts = utils::use_counts(func);
    let mut out = HashMap::new();
    for &b in func.layout.blocks() {
        if Some(b) == entry {
            continue;
        }
        let [t] = func.layout.block_insts(b) else {
            continue;
        };
        let d = &func.dfg.insts[*t];
        if d.opcode != Opcode::Br || d.dests.len() != 1 || d.dests[0].block == b {
            continue;
        }
        let dest = &d.dests[0];
        let params_only_forwarded = func.dfg.block_params(b).iter().all(|p| {
            let in_br = dest.args.iter().filter(|&a| a == p).count() as u32;
            counts.get(*p) == in_br
        });
        if params_only_forwarded {
            out.insert(b, dest.clone());
        }
    }
    // A chain of forwarding blocks that loops (`^a: cf.br ^b`, `^b: cf.br ^a`) is an empty
    // infinite loop: threading it would never end, so none of its blocks forwards.
    let mut cyclic: HashSet<Block> = HashSet::new();
    for &start in out.keys() {
        let mut seen = vec![start];
        let mut cur = start;
        while let Some(next) = out.get(&cur).map(|bc| bc.block) {
            if cyclic.contains(&next) || seen.contains(&next) {
                cyclic.extend(seen.iter().copied());
                break;
            }
            seen.push(next);
            cur = next;
        }
    }
    out.retain(|b, _| !cyclic.contains(b));
    out
}

/// Redirects every edge into a forwarding block to that block's target. Returns how many edges
/// were redirected.
fn thread_jumps(func: &mut Function) -> u64 {
    let fwd = forwarding_blocks(func);
    if fwd.is_empty() {
        return 0;
    }
    let mut n = 0;
    let blocks: Vec<Block> = func.layout.blocks().to_vec();
    for b in blocks {
        let Some(t) = func.layout.last_inst(b) else {
            continue;
        };
        for k in 0..func.dfg.insts[t].dests.len() {
            let dest = func.dfg.insts[t].dests[k].clone();
            let Some(target) = fwd.get(&dest.block) else {
                continue;
            };
            let params = func.dfg.block_params(dest.block);
            let args = target
                .args
                .iter()
                .map(|&a| match params.iter().position(|&p| p == a) {
                    Some(idx) => dest.args.get(idx).copied().unwrap_or(a),
                    None => a,
                })
                .collect();
            func.dfg.insts[t].dests[k] = BlockCall {
                block: target.block,
                args,
            };
            n += 1;
        }
    }
    n
}

// ---------------------------------------------------------------------------------------------
// Merging.

/// The values used as the operand of a `guard.type`, which must keep type `any`.
fn guard_operands(func: &Function) -> HashSet<Value> {
    func.insts_in_order()
        .filter(|&(_, i)| func.dfg.insts[i].opcode == Opcode::GuardType)
        .flat_map(|(_, i)| func.dfg.insts[i].args.clone())
        .collect()
}

/// Whether every use of `p` may read `v` instead.
fn can_replace(func: &Function, guards: &HashSet<Value>, p: Value, v: Value) -> bool {
    let (pt, vt) = (func.dfg.value_type(p), func.dfg.value_type(v));
    pt == vt || (pt == Type::Any && !guards.contains(&p))
}

/// Merges blocks into their single predecessor when it jumps to them unconditionally. Returns
/// how many blocks were merged.
///
/// One walk over the layout: a block absorbs its successor as long as it ends with `cf.br` to a
/// block that no other edge reaches, so a chain collapses into its first block. Edge counts stay
/// valid throughout (the edges out of a merged block now leave from the block that absorbed it),
/// and parameter replacements are collected and applied once at the end.
fn merge_blocks(func: &mut Function) -> u64 {
    let entry = func.entry_block();
    let mut incoming: HashMap<Block, usize> = HashMap::new();
    for &b in func.layout.blocks() {
        if let Some(t) = func.layout.last_inst(b) {
            for dest in &func.dfg.insts[t].dests {
                *incoming.entry(dest.block).or_default() += 1;
            }
        }
    }
    let mut guards = guard_operands(func);
    let mut alias: HashMap<Value, Value> = HashMap::new();
    let mut merged: HashSet<Block> = HashSet::new();
    let blocks: Vec<Block> = func.layout.blocks().to_vec();
    for p in blocks {
        if merged.contains(&p) {
            continue;
        }
        while let Some(t) = func.layout.last_inst(p) {
            let d = &func.dfg.insts[t];
            if d.opcode != Opcode::Br || d.dests.len() != 1 {
                break;
            }
            let dest = &d.dests[0];
            let b = dest.block;
            let params = func.dfg.block_params(b);
            let args: Vec<Value> = dest
                .args
                .iter()
                .map(|&a| utils::resolve_alias(&alias, a))
                .collect();
            let ok = b != p
                && Some(b) != entry
                && incoming.get(&b) == Some(&1)
                && params.len() == args.len()
                && params
                    .iter()
                    .zip(&args)
                    .all(|(&q, &a)| can_replace(func, &guards, q, a));
            if !ok {
                break;
            }
            for (&q, &a) in params.iter().zip(&args) {
                if guards.contains(&q) {
                    guards.insert(a);
                }
                alias.insert(q, a);
            }
            let mut insts: Vec<Inst> = func.layout.block_insts(p).to_vec();
            insts.pop();
            insts.extend_from_slice(func.layout.block_insts(b));
            func.layout.remove_block(b);
            func.layout.set_block_insts(p, insts);
            for idx in (0..func.dfg.block_params(b).len()).rev() {
                func.dfg.remove_block_param(b, idx);
            }
            merged.insert(b);
        }
    }
    utils::replace_uses(func, &alias);
    merged.len() as u64
}

// ---------------------------------------------------------------------------------------------
// Redundant parameters.

/// Removes parameters of non-entry blocks that receive the same value on every edge (or only
/// themselves), to a fixpoint, like `utils::remove_redundant_block_params`, but never replaces a
/// `guard.type` operand by a value of another type. Returns how many were removed.
fn remove_redundant_params(func: &mut Function) -> u64 {
    let entry = func.entry_block();
    let mut guards = guard_operands(func);
    let mut alias: HashMap<Value, Value> = HashMap::new();
    let mut removed = 0;
    loop {
        let mut changed = false;
        let mut edges: HashMap<Block, Vec<(Inst, usize)>> = HashMap::new();
        for &b in func.layout.blocks() {
            if let Some(t) = func.layout.last_inst(b) {
                for (k, dest) in func.dfg.insts[t].dests.iter().enumerate() {
                    edges.entry(dest.block).or_default().push((t, k));
                }
            }
        }
        let blocks: Vec<Block> = func.layout.blocks().to_vec();
        for b in blocks {
            if Some(b) == entry {
                continue;
            }
            let incoming = edges.get(&b).cloned().unwrap_or_default();
            let params = func.dfg.block_params(b).to_vec();
            for (idx, &p) in params.iter().enumerate().rev() {
                let mut same: Option<Value> = None;
                let mut trivial = true;
                for &(t, k) in &incoming {
                    let Some(&a) = func.dfg.insts[t].dests[k].args.get(idx) else {
                        trivial = false;
                        break;
                    };
                    let a = utils::resolve_alias(&alias, a);
                    if a == p || Some(a) == same {
                        continue;
                    }
                    if same.is_some() {
                        trivial = false;
                        break;
                    }
                    same = Some(a);
                }
                let Some(v) = same.filter(|_| trivial) else {
                    continue;
                };
                if !can_replace(func, &guards, p, v) {
                    continue;
                }
                if guards.contains(&p) {
                    guards.insert(v);
                }
                alias.insert(p, v);
                func.dfg.remove_block_param(b, idx);
                for &(t, k) in &incoming {
                    func.dfg.insts[t].dests[k].args.remove(idx);
                }
                changed = true;
                removed += 1;
            }
        }
        if !changed {
            break;
        }
    }
    utils::replace_uses(func, &alias);
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruchy_ir::{parse_module, print_function, verify_module};

    fn run(text: &str) -> (String, SimplifyStats) {
        let (mut m, _) = parse_module(text).expect("parses");
        let id = m.funcs.keys().next().expect("a function");
        let st = simplify(&mut m.funcs[id]);
        if let Err(e) = verify_module(&m) {
            panic!("{}", ruchy_ir::verifier::render_errors(&m, &e, None));
        }
        (print_function(&m, &m.funcs[id]), st)
    }

    #[test]
    fn empty_infinite_loop_is_kept() {
        let (out, _) = run(
            "module \"t\"\nentry @f\nfunc @f() -> any level(dyn) {\n^bb0:\n  cf.br ^bb1\n\
             ^bb1:\n  cf.br ^bb2\n^bb2:\n  cf.br ^bb1\n}\n",
        );
        assert!(out.contains("cf.br"), "{out}");
        assert!(out.contains("^bb1"), "{out}");
    }
}

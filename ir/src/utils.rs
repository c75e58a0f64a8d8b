//! Small rewriting utilities shared by the front end's clean-up and the passes: use counts,
//! use replacement, unreachable-block and redundant-parameter removal, dead pure code removal.

use crate::entities::{Block, Inst, Value};
use crate::function::{Function, ValueDef};
use crate::instructions::{Const, Imm};
use crate::opcode::Opcode;
use cranelift_entity::{EntityRef, SecondaryMap};
use std::collections::HashMap;

/// How many times each value is used by placed instructions, by value index (passes ask this
/// of every value of a function, several times per pass).
#[derive(Clone, Debug, Default)]
pub struct UseCounts(Vec<u32>);

impl UseCounts {
    /// The number of uses of `v`.
    pub fn get(&self, v: Value) -> u32 {
        self.0.get(v.index()).copied().unwrap_or(0)
    }

    pub fn is_used(&self, v: Value) -> bool {
        self.get(v) > 0
    }
}

/// How many times each value is used by placed instructions.
pub fn use_counts(func: &Function) -> UseCounts {
    let mut counts = vec![0u32; func.dfg.values.len()];
    for (_, i) in func.insts_in_order() {
        for v in func.dfg.insts[i].all_uses() {
            if let Some(c) = counts.get_mut(v.index()) {
                *c += 1;
            }
        }
    }
    UseCounts(counts)
}

/// Follows an alias chain to its end.
pub fn resolve_alias(alias: &HashMap<Value, Value>, mut v: Value) -> Value {
    let mut steps = 0;
    while let Some(&w) = alias.get(&v) {
        v = w;
        steps += 1;
        if steps > alias.len() {
            break;
        }
    }
    v
}

/// Rewrites every use of a key of `alias` into its (transitively resolved) value.
pub fn replace_uses(func: &mut Function, alias: &HashMap<Value, Value>) {
    if alias.is_empty() {
        return;
    }
    let insts: Vec<Inst> = func.insts_in_order().map(|(_, i)| i).collect();
    for i in insts {
        func.dfg.insts[i].map_uses(|v| resolve_alias(alias, v));
    }
}

/// The constant an `arith.const`/`str.const` defines, if `v` is one.
pub fn const_value(func: &Function, v: Value) -> Option<&Const> {
    match func.dfg.values.get(v)?.def {
        ValueDef::Result(i) => {
            let d = &func.dfg.insts[i];
            match (&d.opcode, &d.imm) {
                (Opcode::Const | Opcode::StrConst, Imm::Const(c)) => Some(c),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The integer constant `v` holds, if any.
pub fn const_int(func: &Function, v: Value) -> Option<i64> {
    match const_value(func, v) {
        Some(Const::Int(n)) => Some(*n),
        _ => None,
    }
}

/// Removes blocks that the entry cannot reach. Returns whether any was removed.
pub fn remove_unreachable_blocks(func: &mut Function) -> bool {
    let Some(entry) = func.entry_block() else {
        return false;
    };
    let mut seen: SecondaryMap<Block, bool> = SecondaryMap::with_capacity(func.dfg.blocks.len());
    let mut reached = 0;
    let mut stack = vec![entry];
    while let Some(b) = stack.pop() {
        if !seen[b] {
            seen[b] = true;
            reached += 1;
            stack.extend(func.successors(b));
        }
    }
    let before = func.layout.blocks().len();
    if reached >= before {
        return false;
    }
    let order: Vec<Block> = func
        .layout
        .blocks()
        .iter()
        .copied()
        .filter(|&b| seen[b])
        .collect();
    func.layout.set_block_order(order);
    func.layout.blocks().len() != before
}

/// Removes block parameters that receive the same value on every edge (or only themselves),
/// repeating until nothing changes, then rewrites all uses. Returns how many were removed.
pub fn remove_redundant_block_params(func: &mut Function) -> usize {
    let mut alias: HashMap<Value, Value> = HashMap::new();
    let entry = func.entry_block();
    let mut removed = 0;
    loop {
        let mut changed = false;
        let mut edges: HashMap<Block, Vec<(Inst, usize)>> = HashMap::new();
        for &b in func.layout.blocks() {
            if let Some(i) = func.layout.last_inst(b) {
                for (d, dest) in func.dfg.insts[i].dests.iter().enumerate() {
                    edges.entry(dest.block).or_default().push((i, d));
                }
            }
        }
        for &b in func.layout.blocks() {
            if Some(b) == entry {
                continue;
            }
            let params = func.dfg.block_params(b).to_vec();
            let incoming = edges.get(&b).cloned().unwrap_or_default();
            for (idx, &p) in params.iter().enumerate().rev() {
                let mut same: Option<Value> = None;
                let mut trivial = true;
                for &(inst, d) in &incoming {
                    let a = resolve_alias(&alias, func.dfg.insts[inst].dests[d].args[idx]);
                    if a == p || Some(a) == same {
                        continue;
                    }
                    if same.is_some() {
                        trivial = false;
                        break;
                    }
                    same = Some(a);
                }
                if !trivial {
                    continue;
                }
                let Some(v) = same else { continue };
                // A parameter of a concrete type stays unless its only value has that type too.
                let (pt, vt) = (func.dfg.value_type(p), func.dfg.value_type(v));
                if pt != vt && pt != crate::Type::Any {
                    continue;
                }
                alias.insert(p, v);
                func.dfg.remove_block_param(b, idx);
                for &(inst, d) in &incoming {
                    func.dfg.insts[inst].dests[d].args.remove(idx);
                }
                changed = true;
                removed += 1;
            }
        }
        if !changed {
            break;
        }
    }
    replace_uses(func, &alias);
    removed
}

/// Deletes instructions without effects whose results are never used, to a fixpoint. Returns
/// how many were deleted.
pub fn remove_dead_pure_insts(func: &mut Function) -> usize {
    let mut removed = 0;
    loop {
        let used = use_counts(func);
        let dead: Vec<Inst> = func
            .insts_in_order()
            .map(|(_, i)| i)
            .filter(|&i| {
                let d = &func.dfg.insts[i];
                !d.opcode.has_effects()
                    && !d.opcode.is_terminator()
                    && d.result.is_some_and(|r| !used.is_used(r))
            })
            .collect();
        if dead.is_empty() {
            return removed;
        }
        removed += dead.len();
        func.layout.remove_insts(dead);
    }
}

//! Dead code elimination: deletes instructions without effects whose results are never needed,
//! and block parameters that are never needed (dead phis), with their branch arguments.
//!
//! It is a mark-and-sweep over values, so dead cycles go too (a loop counter that is only passed
//! around the loop, `%i2 = arith.addi_wrap %i, %one` feeding `^loop(%i2)`):
//!
//! * Mark: the roots are the instructions with effects (`Opcode::has_effects`: I/O, memory, calls,
//!   anything that may raise an error) and the terminators. A live instruction makes its operands
//!   and deopt values live; a live block parameter makes the matching argument of every branch to
//!   its block live. Branch arguments are *not* roots: they are live only through the parameter
//!   they feed. A terminator's own operands (the condition, the returned value) are.
//! * Sweep: unmarked instructions are deleted, and unmarked parameters of non-entry blocks are
//!   removed together with the argument every branch passes for them.
//!
//! Soundness: only instructions without effects are deleted, so nothing observable (output,
//! stores, calls, run-time errors such as `dyn.add` raising on `1 + nil`) disappears; a deleted
//! instruction or parameter has no live reader, so no remaining instruction depends on it. The
//! entry block's parameters are the function's signature and stay. A function that a guard's
//! deopt state points into is left untouched, since deopt states name its instruction positions
//! and values.

use crate::pass::{FunctionCx, Pass, PassInfo, PassOptions, Scope};
use crate::registry::PassEntry;
use ruchy_ir::{Block, EntityRef, FuncId, Function, Inst, Module, Value, ValueDef};
use std::collections::HashMap;

pub static INFO: PassInfo = PassInfo {
    name: "dce",
    description: "Deletes instructions without effects whose results are unused, and unused block \
                  parameters.",
    scope: Scope::Function,
    options: &[],
};

pub const ENTRY: PassEntry = PassEntry {
    info: &INFO,
    create,
};

fn create(_options: &PassOptions) -> Result<Box<dyn Pass>, String> {
    Ok(Box::new(Dce))
}

/// The pass (it has no options).
struct Dce;

impl Pass for Dce {
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
        let (insts, params) = eliminate_dead_code(func);
        cx.stats.add("instructions removed", insts as u64);
        cx.stats.add("block parameters removed", params as u64);
        Ok(insts + params > 0)
    }
}

/// Whether guards resume in this function by position. The verifier requires every deopt
/// target to be `frozen` (and the pass manager does not even hand frozen functions to function
/// passes), so this is one flag test, not a scan of the module.
pub(crate) fn is_deopt_target(_module: &Module, _id: FuncId, func: &Function) -> bool {
    func.attrs.frozen
}

/// Removes dead instructions and dead parameters of non-entry blocks. Returns how many of each.
pub fn eliminate_dead_code(func: &mut Function) -> (usize, usize) {
    let entry = func.entry_block();
    // Every edge into each block: (terminator, destination index).
    let mut edges: HashMap<Block, Vec<(Inst, usize)>> = HashMap::new();
    for &b in func.layout.blocks() {
        for &i in func.layout.block_insts(b) {
            for (k, dest) in func.dfg.insts[i].dests.iter().enumerate() {
                edges.entry(dest.block).or_default().push((i, k));
            }
        }
    }

    // Mark.
    let mut live = vec![false; func.dfg.values.len()];
    let mut work: Vec<Value> = Vec::new();
    let mark = |v: Value, live: &mut Vec<bool>, work: &mut Vec<Value>| {
        if let Some(l) = live.get_mut(v.index()) {
            if !*l {
                *l = true;
                work.push(v);
            }
        }
    };
    for (_, i) in func.insts_in_order() {
        let d = &func.dfg.insts[i];
        if d.opcode.has_effects() || d.opcode.is_terminator() {
            for &a in &d.args {
                mark(a, &mut live, &mut work);
            }
            if let Some(ds) = &d.deopt {
                for &(_, v) in &ds.values {
                    mark(v, &mut live, &mut work);
                }
            }
            if let Some(r) = d.result {
                mark(r, &mut live, &mut work);
            }
        }
    }
    while let Some(v) = work.pop() {
        match func.dfg.value_def(v) {
            ValueDef::Result(i) => {
                let d = &func.dfg.insts[i];
                for &a in &d.args {
                    mark(a, &mut live, &mut work);
                }
                if let Some(ds) = &d.deopt {
                    for &(_, w) in &ds.values {
                        mark(w, &mut live, &mut work);
                    }
                }
            }
            ValueDef::Param(b, k) => {
                for &(t, d) in edges.get(&b).map(Vec::as_slice).unwrap_or(&[]) {
                    if let Some(&a) = func.dfg.insts[t].dests[d].args.get(k as usize) {
                        mark(a, &mut live, &mut work);
                    }
                }
            }
            ValueDef::Unused => {}
        }
    }
    let is_live = |v: Value| live.get(v.index()).copied().unwrap_or(true);

    // Sweep instructions.
    let dead: Vec<Inst> = func
        .insts_in_order()
        .map(|(_, i)| i)
        .filter(|&i| {
            let d = &func.dfg.insts[i];
            !d.opcode.has_effects()
                && !d.opcode.is_terminator()
                && d.result.is_some_and(|r| !is_live(r))
        })
        .collect();
    func.layout.remove_insts(dead.iter().copied());

    // Sweep parameters, highest index first so the others keep their positions meanwhile.
    let mut removed_params = 0;
    let blocks: Vec<Block> = func.layout.blocks().to_vec();
    for b in blocks {
        if Some(b) == entry {
            continue;
        }
        let params = func.dfg.block_params(b).to_vec();
        for (idx, &p) in params.iter().enumerate().rev() {
            if is_live(p) {
                continue;
            }
            func.dfg.remove_block_param(b, idx);
            for &(t, d) in edges.get(&b).map(Vec::as_slice).unwrap_or(&[]) {
                let args = &mut func.dfg.insts[t].dests[d].args;
                if idx < args.len() {
                    args.remove(idx);
                }
            }
            removed_params += 1;
        }
    }
    (dead.len(), removed_params)
}

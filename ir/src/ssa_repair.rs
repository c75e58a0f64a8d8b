//! Restoring SSA form after a transformation gave a value more definitions: an OSR variant
//! entered in the middle of a loop, or a loop whose exit tests were copied to the end of its
//! body (loop rotation).
//!
//! The value `v` keeps its own definition, and each extra definition says that at the end of
//! some block the variable `v` stands for holds another value (the copy of `v`, the branch
//! argument a header received, an entry parameter). Every use of `v` is then rewritten to the
//! definition that reaches it, with new block parameters where different definitions meet: the
//! classic construction (Cytron et al.), block parameters placed on the iterated dominance
//! frontier of the defining blocks, only where the variable is live (pruned SSA), then renamed
//! along the dominator tree. Everything is iterative, so a long function cannot exhaust the
//! native stack.

use crate::analysis::{ControlFlowGraph, DomTree};
use crate::entities::{Block, Value};
use crate::function::{Function, ValueDef};
use cranelift_entity::SecondaryMap;

/// The dominance frontiers of a function's blocks, computed once for several values to repair
/// (adding block parameters does not change them).
pub struct SsaRepair<'a> {
    cfg: &'a ControlFlowGraph,
    dt: &'a DomTree,
    frontier: SecondaryMap<Block, Vec<Block>>,
}

impl<'a> SsaRepair<'a> {
    /// `cfg` and `dt` describe the function as it is (with every new edge in place).
    pub fn new(cfg: &'a ControlFlowGraph, dt: &'a DomTree) -> Self {
        // For each join, the blocks from each predecessor up to, not including, the join's
        // immediate dominator have the join in their frontier (Cooper, Harvey and Kennedy).
        let mut frontier: SecondaryMap<Block, Vec<Block>> = SecondaryMap::new();
        for &j in cfg.reverse_postorder() {
            let preds = cfg.preds(j);
            if preds.len() < 2 {
                continue;
            }
            let stop = dt.idom(j);
            for &p in preds {
                let mut runner = cfg.is_reachable(p).then_some(p);
                while let Some(r) = runner {
                    if Some(r) == stop {
                        break;
                    }
                    if !frontier[r].contains(&j) {
                        frontier[r].push(j);
                    }
                    runner = dt.idom(r);
                }
            }
        }
        SsaRepair { cfg, dt, frontier }
    }

    /// Rewrites the uses of `v` in `func` so that each sees the reaching definition among
    /// `v`'s own and `extra` (blocks at whose end `v` holds the paired value), adding block
    /// parameters where they meet. Returns how many block parameters were added.
    ///
    /// Uses of `v` that no definition reaches (in unreachable code) are left alone.
    pub fn add_definitions(
        &self,
        func: &mut Function,
        v: Value,
        extra: &[(Block, Value)],
    ) -> usize {
        let (cfg, dt) = (self.cfg, self.dt);
        let own_block = func.def_block(v);
        let own_is_param = matches!(func.dfg.value_def(v), ValueDef::Param(..));
        // Blocks holding a definition (own or extra).
        let mut defines: SecondaryMap<Block, bool> = SecondaryMap::new();
        if let Some(b) = own_block {
            defines[b] = true;
        }
        let mut at_end: SecondaryMap<Block, Option<Value>> = SecondaryMap::new();
        for &(b, w) in extra {
            defines[b] = true;
            at_end[b] = Some(w);
        }

        // Liveness of the variable: the blocks where it is live on entry, flooded backwards
        // from the uses that come before any definition in their block.
        let mut live_in: SecondaryMap<Block, bool> = SecondaryMap::new();
        let mut work = vec![];
        for &b in cfg.reverse_postorder() {
            if own_block == Some(b) && own_is_param {
                continue;
            }
            for &i in func.layout.block_insts(b) {
                let d = &func.dfg.insts[i];
                if d.all_uses().any(|u| u == v) {
                    live_in[b] = true;
                    work.push(b);
                    break;
                }
                if d.result == Some(v) {
                    break;
                }
            }
        }
        while let Some(b) = work.pop() {
            for &p in cfg.preds(b) {
                if cfg.is_reachable(p) && !live_in[p] && !defines[p] {
                    live_in[p] = true;
                    work.push(p);
                }
            }
        }

        // Join points: the iterated dominance frontier of the defining blocks, where live.
        let mut param: SecondaryMap<Block, Option<Value>> = SecondaryMap::new();
        let mut queued: SecondaryMap<Block, bool> = SecondaryMap::new();
        let mut work: Vec<Block> = cfg
            .reverse_postorder()
            .iter()
            .copied()
            .filter(|&b| defines[b])
            .collect();
        for &b in &work {
            queued[b] = true;
        }
        let ty = func.dfg.value_type(v);
        let mut added = vec![];
        while let Some(b) = work.pop() {
            for &j in &self.frontier[b] {
                if param[j].is_none() && live_in[j] {
                    param[j] = Some(func.dfg.append_block_param(j, ty));
                    added.push(j);
                    if !queued[j] {
                        queued[j] = true;
                        work.push(j);
                    }
                }
            }
        }

        // Renaming along the dominator tree: the value reaching each point is the innermost
        // definition met on the way down.
        if let Some(entry) = cfg.entry() {
            let mut current: Vec<Value> = vec![];
            // (block, next child to visit, length of `current` on entry; MAX: not entered yet)
            let mut stack: Vec<(Block, usize, usize)> = vec![(entry, 0, usize::MAX)];
            while let Some(top) = stack.last_mut() {
                let (b, next, mark) = *top;
                if mark == usize::MAX {
                    top.2 = current.len();
                    if let Some(p) = param[b] {
                        current.push(p);
                    }
                    if own_block == Some(b) && own_is_param {
                        current.push(v);
                    }
                    let insts: Vec<_> = func.layout.block_insts(b).to_vec();
                    let term = insts.last().copied();
                    let mut at_end_seen = false;
                    for i in insts {
                        // The extra definition holds at the end of the block: the terminator's
                        // own operands (its branch arguments) see it too.
                        if Some(i) == term {
                            if let Some(w) = at_end[b] {
                                current.push(w);
                                at_end_seen = true;
                            }
                        }
                        if let Some(&now) = current.last() {
                            if now != v {
                                func.dfg.insts[i].map_uses(|u| if u == v { now } else { u });
                            }
                        }
                        if func.dfg.insts[i].result == Some(v) {
                            current.push(v);
                        }
                    }
                    if let (Some(w), false) = (at_end[b], at_end_seen) {
                        current.push(w);
                    }
                    // Arguments for the new parameters of the successors.
                    if let (Some(term), Some(&now)) = (func.layout.last_inst(b), current.last()) {
                        for dest in func.dfg.insts[term].dests.iter_mut() {
                            if param[dest.block].is_some() {
                                dest.args.push(now);
                            }
                        }
                    }
                    continue;
                }
                if let Some(&c) = dt.children(b).get(next) {
                    top.1 += 1;
                    stack.push((c, 0, usize::MAX));
                } else {
                    current.truncate(mark);
                    stack.pop();
                }
            }
        }
        // Edges that renaming did not reach (from unreachable blocks) still need an argument.
        for &j in &added {
            let want = func.dfg.block_params(j).len();
            for &p in cfg.preds(j) {
                if let Some(term) = func.layout.last_inst(p) {
                    for dest in func.dfg.insts[term].dests.iter_mut() {
                        if dest.block == j && dest.args.len() < want {
                            dest.args.push(v);
                        }
                    }
                }
            }
        }
        added.len()
    }
}

//! Live values at block boundaries (backward dataflow to a fixpoint). Used to build deopt states
//! (which values the interpreter needs at a resume point) and by passes that move code.

use ruchy_ir::{Block, ControlFlowGraph, Function, Inst, Value};
use std::collections::{BTreeSet, HashMap};

pub struct Liveness {
    live_in: HashMap<Block, BTreeSet<Value>>,
    live_out: HashMap<Block, BTreeSet<Value>>,
}

impl Liveness {
    pub fn compute(f: &Function, cfg: &ControlFlowGraph) -> Self {
        let blocks = f.layout.blocks().to_vec();
        // Per block: values used before any definition in it, and values it defines.
        let mut uses: HashMap<Block, BTreeSet<Value>> = HashMap::new();
        let mut defs: HashMap<Block, BTreeSet<Value>> = HashMap::new();
        for &b in &blocks {
            let mut u = BTreeSet::new();
            let mut d: BTreeSet<Value> = f.dfg.block_params(b).iter().copied().collect();
            for &i in f.layout.block_insts(b) {
                let data = &f.dfg.insts[i];
                for v in data.all_uses() {
                    if !d.contains(&v) {
                        u.insert(v);
                    }
                }
                if let Some(r) = data.result {
                    d.insert(r);
                }
            }
            uses.insert(b, u);
            defs.insert(b, d);
        }
        let mut live_in: HashMap<Block, BTreeSet<Value>> = HashMap::new();
        let mut live_out: HashMap<Block, BTreeSet<Value>> = HashMap::new();
        let order: Vec<Block> = cfg.reverse_postorder().iter().rev().copied().collect();
        let mut changed = true;
        while changed {
            changed = false;
            for &b in &order {
                let mut out = BTreeSet::new();
                for &s in cfg.succs(b) {
                    if let Some(li) = live_in.get(&s) {
                        out.extend(li.iter().copied());
                    }
                }
                let mut inn: BTreeSet<Value> = uses[&b].clone();
                for v in &out {
                    if !defs[&b].contains(v) {
                        inn.insert(*v);
                    }
                }
                if live_in.get(&b) != Some(&inn) {
                    live_in.insert(b, inn);
                    changed = true;
                }
                live_out.insert(b, out);
            }
        }
        Liveness { live_in, live_out }
    }

    pub fn live_in(&self, b: Block) -> impl Iterator<Item = Value> + '_ {
        self.live_in.get(&b).into_iter().flatten().copied()
    }

    pub fn live_out(&self, b: Block) -> impl Iterator<Item = Value> + '_ {
        self.live_out.get(&b).into_iter().flatten().copied()
    }

    /// Values live just before instruction `at` (the `index`th of block `b`): live-out of the
    /// block, plus everything used from `at` on, minus what is defined from `at` on.
    pub fn live_before(&self, f: &Function, b: Block, index: usize) -> BTreeSet<Value> {
        let insts: &[Inst] = f.layout.block_insts(b);
        let mut live: BTreeSet<Value> = self.live_out(b).collect();
        for &i in insts[index.min(insts.len())..].iter().rev() {
            let d = &f.dfg.insts[i];
            if let Some(r) = d.result {
                live.remove(&r);
            }
            live.extend(d.all_uses());
        }
        live
    }
}

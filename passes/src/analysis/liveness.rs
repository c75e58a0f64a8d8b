//! Live values at block boundaries (backward dataflow to a fixpoint). Used to build deopt states
//! (which values the interpreter needs at a resume point) and by passes that move code.

use ruchy_ir::{Block, ControlFlowGraph, EntityRef, Function, Inst, Value};
use std::collections::BTreeSet;

/// A set of values as a bit per value index: the dataflow below unions and compares whole sets
/// many times, which sorted trees made the slowest part of decoding a function.
#[derive(Clone, PartialEq, Eq)]
struct ValueSet(Vec<u64>);

impl ValueSet {
    fn new(nvalues: usize) -> Self {
        ValueSet(vec![0; nvalues.div_ceil(64)])
    }

    fn insert(&mut self, v: Value) {
        let i = v.index();
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    fn contains(&self, v: Value) -> bool {
        let i = v.index();
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// In ascending order of value index, like the sorted sets this replaced.
    fn iter(&self) -> impl Iterator<Item = Value> + '_ {
        self.0.iter().enumerate().flat_map(|(k, &w)| {
            let mut bits = w;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let t = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some(Value::new(k * 64 + t))
            })
        })
    }
}

pub struct Liveness {
    live_in: Vec<ValueSet>,
    live_out: Vec<ValueSet>,
}

impl Liveness {
    pub fn compute(f: &Function, cfg: &ControlFlowGraph) -> Self {
        let nvalues = f.dfg.values.len();
        let nblocks = f.dfg.blocks.len();
        let empty = ValueSet::new(nvalues);
        // Per block: values used before any definition in it, and values it defines.
        let mut uses = vec![empty.clone(); nblocks];
        let mut defs = vec![empty.clone(); nblocks];
        for &b in f.layout.blocks() {
            let (u, d) = (&mut uses[b.index()], &mut defs[b.index()]);
            for &p in f.dfg.block_params(b) {
                d.insert(p);
            }
            for &i in f.layout.block_insts(b) {
                let data = &f.dfg.insts[i];
                for v in data.all_uses() {
                    if !d.contains(v) {
                        u.insert(v);
                    }
                }
                if let Some(r) = data.result {
                    d.insert(r);
                }
            }
        }
        let mut live_in = vec![empty.clone(); nblocks];
        let mut live_out = vec![empty; nblocks];
        let order: Vec<Block> = cfg.reverse_postorder().iter().rev().copied().collect();
        let mut changed = true;
        while changed {
            changed = false;
            for &b in &order {
                let bi = b.index();
                let mut out = std::mem::replace(&mut live_out[bi], ValueSet(vec![]));
                out.0.iter_mut().for_each(|w| *w = 0);
                for &s in cfg.succs(b) {
                    for (o, i) in out.0.iter_mut().zip(&live_in[s.index()].0) {
                        *o |= i;
                    }
                }
                let mut grew = false;
                let inn = &mut live_in[bi];
                for (k, w) in inn.0.iter_mut().enumerate() {
                    let new = uses[bi].0[k] | (out.0[k] & !defs[bi].0[k]);
                    // Live-in sets only grow during the iteration.
                    if new != *w {
                        *w = new;
                        grew = true;
                    }
                }
                changed |= grew;
                live_out[bi] = out;
            }
        }
        Liveness { live_in, live_out }
    }

    pub fn live_in(&self, b: Block) -> impl Iterator<Item = Value> + '_ {
        self.live_in
            .get(b.index())
            .into_iter()
            .flat_map(|s| s.iter())
    }

    pub fn live_out(&self, b: Block) -> impl Iterator<Item = Value> + '_ {
        self.live_out
            .get(b.index())
            .into_iter()
            .flat_map(|s| s.iter())
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

//! Live values at block boundaries (backward dataflow to a fixpoint). Used to build deopt states
//! (which values the interpreter needs at a resume point) and by passes that move code.

use ruchy_ir::{Block, ControlFlowGraph, EntityRef, Function, Inst, Value};
use std::collections::BTreeSet;

/// Sets of values, one per block, as a bit per value index, all in one allocation: the dataflow
/// below unions and compares whole sets many times (sorted trees made it the slowest part of
/// decoding a function, and a vector per block most of what remained).
#[derive(Clone, PartialEq, Eq)]
struct BlockSets {
    /// Words per set.
    stride: usize,
    words: Vec<u64>,
}

impl BlockSets {
    fn new(nblocks: usize, nvalues: usize) -> Self {
        let stride = nvalues.div_ceil(64);
        BlockSets {
            stride,
            words: vec![0; stride * nblocks],
        }
    }

    fn set(&self, b: usize) -> &[u64] {
        self.words
            .get(b * self.stride..(b + 1) * self.stride)
            .unwrap_or(&[])
    }

    fn set_mut(&mut self, b: usize) -> &mut [u64] {
        let stride = self.stride;
        self.words
            .get_mut(b * stride..(b + 1) * stride)
            .unwrap_or(&mut [])
    }

    fn insert(&mut self, b: usize, v: Value) {
        let i = v.index();
        if let Some(w) = self.set_mut(b).get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    fn contains(&self, b: usize, v: Value) -> bool {
        let i = v.index();
        self.set(b)
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// The values of block `b`'s set, in ascending order of value index.
    fn iter(&self, b: usize) -> impl Iterator<Item = Value> + '_ {
        self.set(b).iter().enumerate().flat_map(|(k, &w)| {
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
    live_in: BlockSets,
    live_out: BlockSets,
}

impl Liveness {
    pub fn compute(f: &Function, cfg: &ControlFlowGraph) -> Self {
        let nvalues = f.dfg.values.len();
        let nblocks = f.dfg.blocks.len();
        // Per block: values used before any definition in it, and values it defines.
        let mut uses = BlockSets::new(nblocks, nvalues);
        let mut defs = BlockSets::new(nblocks, nvalues);
        for &b in f.layout.blocks() {
            let bi = b.index();
            for &p in f.dfg.block_params(b) {
                defs.insert(bi, p);
            }
            for &i in f.layout.block_insts(b) {
                let data = &f.dfg.insts[i];
                for v in data.all_uses() {
                    if !defs.contains(bi, v) {
                        uses.insert(bi, v);
                    }
                }
                if let Some(r) = data.result {
                    defs.insert(bi, r);
                }
            }
        }
        let mut live_in = BlockSets::new(nblocks, nvalues);
        let mut live_out = BlockSets::new(nblocks, nvalues);
        let mut out = vec![0u64; live_out.stride];
        let order: Vec<Block> = cfg.reverse_postorder().iter().rev().copied().collect();
        let mut changed = true;
        while changed {
            changed = false;
            for &b in &order {
                let bi = b.index();
                out.iter_mut().for_each(|w| *w = 0);
                for &s in cfg.succs(b) {
                    for (o, i) in out.iter_mut().zip(live_in.set(s.index())) {
                        *o |= i;
                    }
                }
                let (u, d) = (uses.set(bi), defs.set(bi));
                let mut grew = false;
                for (k, w) in live_in.set_mut(bi).iter_mut().enumerate() {
                    let new = u[k] | (out[k] & !d[k]);
                    // Live-in sets only grow during the iteration.
                    if new != *w {
                        *w = new;
                        grew = true;
                    }
                }
                changed |= grew;
                live_out.set_mut(bi).copy_from_slice(&out);
            }
        }
        Liveness { live_in, live_out }
    }

    pub fn live_in(&self, b: Block) -> impl Iterator<Item = Value> + '_ {
        self.live_in.iter(b.index())
    }

    pub fn live_out(&self, b: Block) -> impl Iterator<Item = Value> + '_ {
        self.live_out.iter(b.index())
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

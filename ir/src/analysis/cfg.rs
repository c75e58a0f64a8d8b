//! The control-flow graph: predecessors and successors of every block, and a reverse postorder.
//!
//! Edges come from the branch destinations of the instructions placed in each block (normally
//! only the terminator has any). Destinations that are not in the layout are ignored, and each
//! edge is recorded once even when a terminator names the same block twice
//! (`cf.cond_br %c, ^bb1, ^bb1`).

use crate::entities::Block;
use crate::function::Function;
use cranelift_entity::SecondaryMap;
use smallvec::SmallVec;

/// Predecessor and successor lists of every block, plus a reverse postorder from the entry.
#[derive(Clone, Debug, Default)]
pub struct ControlFlowGraph {
    succs: SecondaryMap<Block, SmallVec<[Block; 2]>>,
    preds: SecondaryMap<Block, SmallVec<[Block; 4]>>,
    rpo: Vec<Block>,
    /// Position in `rpo` plus one; 0 for blocks unreachable from the entry.
    rpo_number: SecondaryMap<Block, u32>,
    entry: Option<Block>,
}

impl ControlFlowGraph {
    /// Computes the CFG of `f` from its layout.
    pub fn compute(f: &Function) -> Self {
        let mut cfg = ControlFlowGraph {
            entry: f.entry_block(),
            ..ControlFlowGraph::default()
        };
        // Sized once: growing them block by block was most of the cost on small functions.
        let n = f.dfg.blocks.len();
        cfg.succs.resize(n);
        cfg.preds.resize(n);
        cfg.rpo_number.resize(n);
        let mut in_layout: SecondaryMap<Block, bool> = SecondaryMap::with_capacity(n);
        in_layout.resize(n);
        for &b in f.layout.blocks() {
            in_layout[b] = true;
        }
        let mut done: SecondaryMap<Block, bool> = SecondaryMap::with_capacity(n);
        done.resize(n);
        for &b in f.layout.blocks() {
            if done[b] {
                continue; // a block listed twice (malformed layout): count its edges once
            }
            done[b] = true;
            for &i in f.layout.block_insts(b) {
                let Some(data) = f.dfg.insts.get(i) else {
                    continue;
                };
                for dest in &data.dests {
                    let t = dest.block;
                    if in_layout[t] && !cfg.succs[b].contains(&t) {
                        cfg.succs[b].push(t);
                        cfg.preds[t].push(b);
                    }
                }
            }
        }
        cfg.compute_rpo();
        cfg
    }

    /// Iterative depth-first search from the entry (no recursion: functions can be large).
    fn compute_rpo(&mut self) {
        let Some(entry) = self.entry else { return };
        let mut visited: SecondaryMap<Block, bool> = SecondaryMap::new();
        let mut postorder = Vec::new();
        let mut stack: Vec<(Block, usize)> = vec![(entry, 0)];
        visited[entry] = true;
        while let Some(top) = stack.last_mut() {
            let (b, next) = *top;
            if let Some(&s) = self.succs[b].get(next) {
                top.1 += 1;
                if !visited[s] {
                    visited[s] = true;
                    stack.push((s, 0));
                }
            } else {
                postorder.push(b);
                stack.pop();
            }
        }
        postorder.reverse();
        for (k, &b) in postorder.iter().enumerate() {
            self.rpo_number[b] = k as u32 + 1;
        }
        self.rpo = postorder;
    }

    /// The entry block, if the function has any block.
    pub fn entry(&self) -> Option<Block> {
        self.entry
    }

    /// Blocks that `b` branches to, in the order its terminator names them.
    pub fn succs(&self, b: Block) -> &[Block] {
        &self.succs[b]
    }

    /// Blocks that branch to `b` (reachable or not), in layout order.
    pub fn preds(&self, b: Block) -> &[Block] {
        &self.preds[b]
    }

    /// Blocks reachable from the entry in reverse postorder: every block comes before its
    /// successors except along back edges. Unreachable blocks are absent.
    pub fn reverse_postorder(&self) -> &[Block] {
        &self.rpo
    }

    /// The block's 0-based position in the reverse postorder, `None` when unreachable.
    pub fn rpo_index(&self, b: Block) -> Option<usize> {
        match self.rpo_number[b] {
            0 => None,
            n => Some(n as usize - 1),
        }
    }

    /// Whether `b` can be reached from the entry block.
    pub fn is_reachable(&self, b: Block) -> bool {
        self.rpo_number[b] != 0
    }
}

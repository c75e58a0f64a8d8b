//! The dominator tree, by the iterative algorithm of Cooper, Harvey and Kennedy ("A Simple, Fast
//! Dominance Algorithm", 2001) over the reverse postorder of the CFG.
//!
//! Only reachable blocks take part: an unreachable block is dominated by nothing but itself and
//! dominates nothing but itself.

use super::cfg::ControlFlowGraph;
use crate::entities::{Block, Inst};
use crate::function::Layout;
use cranelift_entity::{EntityRef, SecondaryMap};

/// Immediate dominators of the reachable blocks of a function.
#[derive(Clone, Debug, Default)]
pub struct DomTree {
    idom: SecondaryMap<Block, Option<Block>>,
    /// Reverse-postorder position plus one; 0 for unreachable blocks.
    rpo_number: SecondaryMap<Block, u32>,
    children: SecondaryMap<Block, Vec<Block>>,
    /// Pre- and post-order numbers of a DFS of the tree: `a` dominates `b` iff `b`'s interval
    /// nests in `a`'s, which makes `dominates` O(1).
    pre: SecondaryMap<Block, u32>,
    post: SecondaryMap<Block, u32>,
}

impl DomTree {
    /// Computes the dominator tree from a CFG (`ControlFlowGraph::compute` of the same function).
    pub fn compute(cfg: &ControlFlowGraph) -> Self {
        let rpo = cfg.reverse_postorder();
        let mut dt = DomTree::default();
        // Sized once (by the highest block number reached), not grown block by block.
        if let Some(n) = rpo.iter().map(|b| b.index() + 1).max() {
            dt.idom.resize(n);
            dt.rpo_number.resize(n);
            dt.children.resize(n);
            dt.pre.resize(n);
            dt.post.resize(n);
        }
        for (k, &b) in rpo.iter().enumerate() {
            dt.rpo_number[b] = k as u32 + 1;
        }
        let Some(&entry) = rpo.first() else { return dt };
        dt.idom[entry] = Some(entry);
        let mut changed = true;
        while changed {
            changed = false;
            for &b in &rpo[1..] {
                let mut new_idom: Option<Block> = None;
                for &p in cfg.preds(b) {
                    if dt.idom[p].is_none() {
                        continue; // unreachable, or not processed yet in this round
                    }
                    new_idom = Some(match new_idom {
                        None => p,
                        Some(cur) => dt.intersect(p, cur),
                    });
                }
                if new_idom.is_some() && dt.idom[b] != new_idom {
                    dt.idom[b] = new_idom;
                    changed = true;
                }
            }
        }
        dt.idom[entry] = None;
        for &b in &rpo[1..] {
            if let Some(p) = dt.idom[b] {
                dt.children[p].push(b);
            }
        }
        dt.number_tree(entry);
        dt
    }

    /// Iterative DFS over the tree assigning pre/post numbers (from 1).
    fn number_tree(&mut self, entry: Block) {
        let mut clock = 0u32;
        let mut stack: Vec<(Block, usize)> = vec![(entry, 0)];
        clock += 1;
        self.pre[entry] = clock;
        while let Some(top) = stack.last_mut() {
            let (b, next) = *top;
            if let Some(&c) = self.children[b].get(next) {
                top.1 += 1;
                clock += 1;
                self.pre[c] = clock;
                stack.push((c, 0));
            } else {
                clock += 1;
                self.post[b] = clock;
                stack.pop();
            }
        }
    }

    /// Walks two fingers up the (partial) tree until they meet; used while computing.
    fn intersect(&self, mut a: Block, mut b: Block) -> Block {
        while a != b {
            while self.rpo_number[a] > self.rpo_number[b] {
                match self.idom[a] {
                    Some(x) if x != a => a = x,
                    _ => return b,
                }
            }
            while self.rpo_number[b] > self.rpo_number[a] {
                match self.idom[b] {
                    Some(x) if x != b => b = x,
                    _ => return a,
                }
            }
        }
        a
    }

    /// The immediate dominator of `b`; `None` for the entry block and unreachable blocks.
    pub fn idom(&self, b: Block) -> Option<Block> {
        self.idom[b]
    }

    /// Whether `b` is reachable from the entry block.
    pub fn is_reachable(&self, b: Block) -> bool {
        self.rpo_number[b] != 0
    }

    /// Whether every path from the entry to `b` goes through `a`. Reflexive.
    pub fn dominates(&self, a: Block, b: Block) -> bool {
        if a == b {
            return true;
        }
        if !self.is_reachable(a) || !self.is_reachable(b) {
            return false;
        }
        self.pre[a] <= self.pre[b] && self.post[b] <= self.post[a]
    }

    /// The blocks whose immediate dominator is `b`, in reverse postorder.
    pub fn children(&self, b: Block) -> &[Block] {
        &self.children[b]
    }

    /// Whether instruction `a` dominates instruction `b` (reflexive): in the same block `a` must
    /// come first, otherwise `a`'s block must dominate `b`'s. Instructions that are not placed
    /// dominate nothing.
    pub fn inst_dominates(&self, layout: &Layout, a: Inst, b: Inst) -> bool {
        let (Some(ba), Some(bb)) = (layout.inst_block(a), layout.inst_block(b)) else {
            return false;
        };
        if ba != bb {
            return self.dominates(ba, bb);
        }
        if a == b {
            return true;
        }
        for &i in layout.block_insts(ba) {
            if i == a {
                return true;
            }
            if i == b {
                return false;
            }
        }
        false
    }
}

//! Natural loops. A block is a loop header when it is the target of a back edge, an edge from a
//! block it dominates; the loop is the header plus every block that reaches one of those latches
//! without going through the header. Loops with different headers are disjoint or nested, which
//! gives a forest and a loop depth per block. Unreachable blocks belong to no loop.

use super::cfg::ControlFlowGraph;
use super::domtree::DomTree;
use crate::entities::Block;
use crate::function::Function;
use cranelift_entity::{entity_impl, PrimaryMap, SecondaryMap};

/// A loop of a [`LoopForest`].
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Loop(u32);
entity_impl!(Loop, "loop");

/// One natural loop.
#[derive(Clone, Debug)]
pub struct LoopData {
    pub header: Block,
    /// Blocks that branch back to the header (sources of the loop's back edges).
    pub latches: Vec<Block>,
    /// All blocks of the loop, header first, then in reverse postorder.
    pub blocks: Vec<Block>,
    /// The innermost loop that contains this one.
    pub parent: Option<Loop>,
    /// 1 for an outermost loop.
    pub depth: u32,
}

/// All natural loops of a function, outer loops before the loops they contain.
#[derive(Clone, Debug, Default)]
pub struct LoopForest {
    loops: PrimaryMap<Loop, LoopData>,
    innermost: SecondaryMap<Block, Option<Loop>>,
    back_edges: Vec<(Block, Block)>,
}

impl LoopForest {
    /// Finds the loops of `f`, given its CFG and dominator tree.
    pub fn compute(_f: &Function, cfg: &ControlFlowGraph, dt: &DomTree) -> Self {
        let mut forest = LoopForest::default();
        let rpo = cfg.reverse_postorder();
        // Headers in reverse postorder: an enclosing header dominates, so precedes, inner ones.
        for &h in rpo {
            let latches: Vec<Block> = cfg
                .preds(h)
                .iter()
                .copied()
                .filter(|&p| cfg.is_reachable(p) && dt.dominates(h, p))
                .collect();
            if latches.is_empty() {
                continue;
            }
            forest.back_edges.extend(latches.iter().map(|&l| (l, h)));
            // Walk backwards from the latches, stopping at the header.
            let mut member: SecondaryMap<Block, bool> = SecondaryMap::new();
            member[h] = true;
            let mut work: Vec<Block> = Vec::new();
            for &l in &latches {
                if !member[l] {
                    member[l] = true;
                    work.push(l);
                }
            }
            while let Some(b) = work.pop() {
                for &p in cfg.preds(b) {
                    if cfg.is_reachable(p) && !member[p] {
                        member[p] = true;
                        work.push(p);
                    }
                }
            }
            let blocks: Vec<Block> = rpo.iter().copied().filter(|&b| member[b]).collect();
            let parent = forest.innermost[h];
            let depth = parent.map_or(1, |p| forest.loops[p].depth + 1);
            let id = forest.loops.push(LoopData {
                header: h,
                latches,
                blocks,
                parent,
                depth,
            });
            // Later (inner) loops overwrite this, so `innermost` ends up innermost.
            for &b in &forest.loops[id].blocks {
                forest.innermost[b] = Some(id);
            }
        }
        forest
    }

    /// Whether `b` is the target of a back edge.
    pub fn is_loop_header(&self, b: Block) -> bool {
        self.innermost[b].is_some_and(|l| self.loops[l].header == b)
    }

    /// Every back edge as `(latch, header)`, grouped by header in reverse postorder.
    pub fn back_edges(&self) -> &[(Block, Block)] {
        &self.back_edges
    }

    /// Whether `from -> to` is a back edge.
    pub fn is_back_edge(&self, from: Block, to: Block) -> bool {
        self.back_edges.contains(&(from, to))
    }

    /// Number of loops containing `b` (0 outside loops).
    pub fn loop_depth(&self, b: Block) -> u32 {
        self.innermost[b].map_or(0, |l| self.loops[l].depth)
    }

    /// The innermost loop containing `b`.
    pub fn innermost_loop(&self, b: Block) -> Option<Loop> {
        self.innermost[b]
    }

    /// The loop whose header is `b`.
    pub fn loop_of_header(&self, b: Block) -> Option<Loop> {
        self.innermost[b].filter(|&l| self.loops[l].header == b)
    }

    /// Data of one loop.
    pub fn get(&self, l: Loop) -> &LoopData {
        &self.loops[l]
    }

    /// All loops, outer loops first.
    pub fn loops(&self) -> impl Iterator<Item = (Loop, &LoopData)> {
        self.loops.iter()
    }

    /// Number of loops.
    pub fn len(&self) -> usize {
        self.loops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.loops.is_empty()
    }

    /// Whether loop `inner` is `outer` or nested inside it.
    pub fn is_nested_in(&self, inner: Loop, outer: Loop) -> bool {
        let mut cur = Some(inner);
        while let Some(l) = cur {
            if l == outer {
                return true;
            }
            cur = self.loops[l].parent;
        }
        false
    }
}

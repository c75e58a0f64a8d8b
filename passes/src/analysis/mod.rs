//! Analyses computed on demand and cached per function until a pass reports a change.
//! CFG, dominator tree and loop forest come from `ruchy_ir::analysis`; liveness and the call
//! graph live here.

pub mod callgraph;
pub mod liveness;
pub mod ranges;

pub use callgraph::CallGraph;
pub use liveness::Liveness;

use ruchy_ir::{ControlFlowGraph, DomTree, Function, LoopForest};

/// The cached analyses of one function. Each getter computes on first use.
#[derive(Default)]
pub struct FunctionAnalyses {
    cfg: Option<ControlFlowGraph>,
    domtree: Option<DomTree>,
    loops: Option<LoopForest>,
    liveness: Option<Liveness>,
}

impl FunctionAnalyses {
    pub fn cfg(&mut self, f: &Function) -> &ControlFlowGraph {
        self.cfg.get_or_insert_with(|| ControlFlowGraph::compute(f))
    }

    pub fn domtree(&mut self, f: &Function) -> &DomTree {
        if self.domtree.is_none() {
            let dt = DomTree::compute(self.cfg(f));
            self.domtree = Some(dt);
        }
        self.domtree.as_ref().expect("computed above")
    }

    pub fn loops(&mut self, f: &Function) -> &LoopForest {
        if self.loops.is_none() {
            self.domtree(f);
            let cfg = self.cfg.as_ref().expect("computed above");
            let dt = self.domtree.as_ref().expect("computed above");
            self.loops = Some(LoopForest::compute(f, cfg, dt));
        }
        self.loops.as_ref().expect("computed above")
    }

    pub fn liveness(&mut self, f: &Function) -> &Liveness {
        if self.liveness.is_none() {
            let l = Liveness::compute(f, self.cfg(f));
            self.liveness = Some(l);
        }
        self.liveness.as_ref().expect("computed above")
    }

    /// Forgets everything: call after changing the function.
    pub fn invalidate(&mut self) {
        *self = FunctionAnalyses::default();
    }
}

//! Analyses computed on demand and cached per function until a pass reports a change.
//! CFG, dominator tree and loop forest come from `ruchy_ir::analysis`; liveness and the call
//! graph live here.

pub mod callgraph;
pub mod liveness;
pub mod ranges;

pub use callgraph::CallGraph;
pub use liveness::Liveness;

use ruchy_ir::{ControlFlowGraph, DomTree, Function, LoopForest};
use std::rc::Rc;

/// The cached analyses of one function. Each getter computes on first use; the results are
/// shared (`Rc`), so a pass that needs one while it changes the function keeps a cheap handle
/// instead of a copy.
#[derive(Default)]
pub struct FunctionAnalyses {
    cfg: Option<Rc<ControlFlowGraph>>,
    domtree: Option<Rc<DomTree>>,
    loops: Option<Rc<LoopForest>>,
    liveness: Option<Rc<Liveness>>,
}

impl FunctionAnalyses {
    pub fn cfg(&mut self, f: &Function) -> &Rc<ControlFlowGraph> {
        self.cfg
            .get_or_insert_with(|| Rc::new(ControlFlowGraph::compute(f)))
    }

    pub fn domtree(&mut self, f: &Function) -> &Rc<DomTree> {
        if self.domtree.is_none() {
            let dt = DomTree::compute(self.cfg(f));
            self.domtree = Some(Rc::new(dt));
        }
        self.domtree.as_ref().expect("computed above")
    }

    pub fn loops(&mut self, f: &Function) -> &Rc<LoopForest> {
        if self.loops.is_none() {
            self.domtree(f);
            let cfg = self.cfg.as_ref().expect("computed above");
            let dt = self.domtree.as_ref().expect("computed above");
            self.loops = Some(Rc::new(LoopForest::compute(f, cfg, dt)));
        }
        self.loops.as_ref().expect("computed above")
    }

    pub fn liveness(&mut self, f: &Function) -> &Rc<Liveness> {
        if self.liveness.is_none() {
            let l = Liveness::compute(f, self.cfg(f));
            self.liveness = Some(Rc::new(l));
        }
        self.liveness.as_ref().expect("computed above")
    }

    /// Forgets everything: call after changing the function.
    pub fn invalidate(&mut self) {
        *self = FunctionAnalyses::default();
    }
}

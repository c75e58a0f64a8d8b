//! Analyses over a function's control-flow graph, shared by the verifier, the passes and the
//! runtime (which needs loop headers for back-edge profiling and, later, OSR entries).
//!
//! Every analysis tolerates unreachable blocks and malformed IR (branches to blocks that are not
//! in the layout are ignored), so the verifier can run them before it knows the IR is sound.

pub mod cfg;
pub mod domtree;
pub mod loops;

pub use cfg::ControlFlowGraph;
pub use domtree::DomTree;
pub use loops::{Loop, LoopData, LoopForest};

//! Passes over Ruchy IR and the machinery that runs them.
//!
//! A pass is one file under `transforms/` implementing [`Pass`]; [`registry::REGISTRY`] lists
//! them all. [`Pipeline`]s are text (`specialize,inline{threshold=40},dce`), and the
//! [`PassManager`] runs them with verification, dumps, timings, stats and bisection. Analyses
//! (CFG, dominators, loops, liveness, call graph) are computed on demand and cached until a pass
//! reports a change.

pub mod analysis;
pub mod manager;
pub mod pass;
pub mod pipeline;
pub mod registry;
pub mod stats;
pub mod transforms;

pub use manager::{run_pipeline, Instrumentation, PassManager, RunReport};
pub use pass::{FunctionCx, ModuleCx, OptionInfo, Pass, PassInfo, PassOptions, Scope};
pub use pipeline::{Pipeline, PipelineError};
pub use stats::PassStats;

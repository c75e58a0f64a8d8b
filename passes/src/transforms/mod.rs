//! One pass per file. Each file starts with a doc comment saying what the pass does and why it
//! is sound, and exports `ENTRY` for the registry.

pub mod dce;
pub mod escape_analysis;
pub mod gvn;
pub mod inline;
pub mod licm;
pub mod lower;
pub mod overflow_elim;
pub mod partial_inline;
pub mod peephole;
pub mod sccp;
pub mod simplify_cfg;
pub mod specialize;
pub mod strength_reduce;

//! Ruchy's mid-level IR.
//!
//! A [`Module`] holds [`Function`]s; a function holds blocks with parameters (no phi nodes) and
//! instructions, all `u32` entities in arenas. Ops are grouped in dialects (`dyn`, `arith`, `cf`,
//! `func`, `mem`, `array`, `str`, `rt`, `guard`) and each function records its [`Level`]:
//! `dyn` straight from the front end, `typed` once no `dyn` op remains, `lowered` once memory is
//! explicit. The [`verifier`] checks the invariants of each level; the [`printer`] and [`parser`]
//! give a text form that round-trips byte for byte.

pub mod analysis;
pub mod builder;
pub mod entities;
pub mod function;
pub mod instructions;
pub mod loc;
pub mod module;
pub mod opcode;
pub mod parser;
pub mod printer;
pub mod semantics;
pub mod ssa_repair;
pub mod types;
pub mod utils;
pub mod verifier;

pub use analysis::{ControlFlowGraph, DomTree, LoopForest};
pub use builder::FuncBuilder;
pub use cranelift_entity::{EntityRef, PrimaryMap, SecondaryMap};
pub use entities::{Block, FuncId, GlobalId, Inst, Value};
pub use function::{
    BlockData, DataFlowGraph, FuncAttrs, Function, Layout, Level, ValueData, ValueDef,
};
pub use instructions::{BlockCall, Const, DeoptState, Imm, InstData};
pub use loc::SrcLoc;
pub use module::{GlobalData, Module};
pub use opcode::{Builtin, CmpPred, Dialect, ImmKind, Opcode};
pub use parser::{parse_module, ParseError, SourceMap};
pub use printer::{print_function, print_inst, print_module};
pub use types::{ElemType, Type};
pub use verifier::{verify_function, verify_module, ErrorLocation, VerifierError};

//! Instruction data: an op, its operands, its immediate, its branch destinations and its result.

use crate::entities::{Block, FuncId, GlobalId, Value};
use crate::loc::SrcLoc;
use crate::opcode::{Builtin, CmpPred, Opcode};
use smallvec::SmallVec;

/// A literal constant of `arith.const` / `str.const`.
#[derive(Clone, Debug, PartialEq)]
pub enum Const {
    Int(i64),
    /// Compared by bits so that NaN constants round-trip and compare equal to themselves.
    Float(f64),
    Bool(bool),
    Nil,
    Str(String),
}

impl Const {
    /// Equality that treats floats by bit pattern (used by CSE and the text round trip).
    pub fn same(&self, other: &Const) -> bool {
        match (self, other) {
            (Const::Float(a), Const::Float(b)) => a.to_bits() == b.to_bits(),
            _ => self == other,
        }
    }
}

/// The immediate part of an instruction; which variant an op takes is fixed by
/// [`Opcode::imm_kind`](crate::Opcode::imm_kind).
#[derive(Clone, Debug, PartialEq)]
pub enum Imm {
    None,
    Const(Const),
    Cmp(CmpPred),
    Func(FuncId),
    Global(GlobalId),
    Builtin(Builtin),
    Method(String),
    Message(String),
    /// Case values of `cf.switch`; `dests` holds one block per case, then the default.
    Cases(Vec<i64>),
}

/// A branch destination: a block and the arguments passed to its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockCall {
    pub block: Block,
    pub args: SmallVec<[Value; 4]>,
}

impl BlockCall {
    pub fn new(block: Block, args: &[Value]) -> Self {
        BlockCall {
            block,
            args: args.into(),
        }
    }
}

/// Where execution resumes in the interpreter when a guard fails: the instruction at `index` of
/// `block` in `func` (a `dyn`-level function), with each value live there taken from a value of
/// the guarded function. This is the whole mapping from compiled state to interpreter state, kept
/// in the IR so that every backend and every pass treats it the same way (passes see the local
/// values as uses and rewrite them like any operand).
#[derive(Clone, Debug, PartialEq)]
pub struct DeoptState {
    pub func: FuncId,
    pub block: Block,
    pub index: u32,
    /// `(value of func, value here)` pairs.
    pub values: Vec<(Value, Value)>,
}

/// One instruction.
#[derive(Clone, Debug)]
pub struct InstData {
    pub opcode: Opcode,
    pub args: SmallVec<[Value; 3]>,
    pub imm: Imm,
    pub dests: SmallVec<[BlockCall; 2]>,
    pub result: Option<Value>,
    pub loc: SrcLoc,
    /// Only on `guard` ops: where to resume when the guard fails.
    pub deopt: Option<Box<DeoptState>>,
}

impl InstData {
    /// Every value the instruction reads: its operands, then its branch arguments.
    pub fn all_uses(&self) -> impl Iterator<Item = Value> + '_ {
        self.args
            .iter()
            .copied()
            .chain(self.dests.iter().flat_map(|d| d.args.iter().copied()))
            .chain(
                self.deopt
                    .iter()
                    .flat_map(|d| d.values.iter().map(|&(_, v)| v)),
            )
    }

    /// Calls `f` on every value the instruction reads, allowing it to be replaced.
    pub fn map_uses(&mut self, mut f: impl FnMut(Value) -> Value) {
        for a in self.args.iter_mut() {
            *a = f(*a);
        }
        for d in self.dests.iter_mut() {
            for a in d.args.iter_mut() {
                *a = f(*a);
            }
        }
        if let Some(d) = self.deopt.as_mut() {
            for (_, v) in d.values.iter_mut() {
                *v = f(*v);
            }
        }
    }
}

//! The interpreter's pre-decoded instruction form.
//!
//! Each IR function is flattened into a vector of [`Op`]s: registers are the function's SSA values
//! renumbered densely (parameters first), block arguments become register moves on the edges,
//! branch targets are instruction indices, and common pairs (a comparison feeding a branch) are
//! fused. Registers and targets are `u32`; an op is 16 bytes.

use ruchy_ir::{Builtin, CmpPred, FuncId};

/// A register index in the current frame.
pub type Reg = u32;
/// An index into the function's code.
pub type Pc = u32;

/// Binary operations on dynamic values that have no dedicated op.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DynBin {
    Pow,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
}

/// Unary operations on dynamic values.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DynUn {
    Neg,
    Not,
    BitNot,
    Truthy,
    Len,
    ToStr,
    CastInt,
    CastFloat,
    CellNew,
    CellLoad,
}

/// Typed integer operations (checked where the IR op is checked).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IntBin {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    AddWrap,
    SubWrap,
    MulWrap,
    And,
    Or,
    Xor,
    Shl,
    Shr,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FloatBin {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Op {
    LoadInt {
        dst: Reg,
        value: i64,
    },
    LoadFloat {
        dst: Reg,
        value: f64,
    },
    /// A constant from the function's pool (floats, strings, bools, nil, function refs).
    LoadConst {
        dst: Reg,
        index: u32,
    },
    Move {
        dst: Reg,
        src: Reg,
    },
    /// A move whose source dies: the value leaves the source register (which becomes nil).
    MoveTake {
        dst: Reg,
        src: Reg,
    },

    // Dynamic arithmetic with integer fast paths.
    Add {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Sub {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Mul {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Div {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Rem {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// `a + b` where `a` dies here: a uniquely held string is appended to in place.
    AddTake {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// `a + imm`, `a - imm`, `a * imm`, `a % imm` with a small integer constant operand.
    AddImm {
        dst: Reg,
        a: Reg,
        imm: i32,
    },
    SubImm {
        dst: Reg,
        a: Reg,
        imm: i32,
    },
    MulImm {
        dst: Reg,
        a: Reg,
        imm: i32,
    },
    RemImm {
        dst: Reg,
        a: Reg,
        imm: i32,
    },
    /// Comparison with a small integer constant.
    CmpImm {
        pred: CmpPred,
        dst: Reg,
        a: Reg,
        imm: i32,
    },
    DynBin {
        op: DynBin,
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    DynUn {
        op: DynUn,
        dst: Reg,
        src: Reg,
    },
    Cmp {
        pred: CmpPred,
        dst: Reg,
        a: Reg,
        b: Reg,
    },

    // Typed arithmetic.
    Int {
        op: IntBin,
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    NegI {
        dst: Reg,
        src: Reg,
    },
    NotI {
        dst: Reg,
        src: Reg,
    },
    Float {
        op: FloatBin,
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    NegF {
        dst: Reg,
        src: Reg,
    },
    CmpI {
        pred: CmpPred,
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    CmpF {
        pred: CmpPred,
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    NotB {
        dst: Reg,
        src: Reg,
    },
    IToF {
        dst: Reg,
        src: Reg,
    },
    FToI {
        dst: Reg,
        src: Reg,
    },

    // Control flow.
    Jump {
        target: Pc,
    },
    /// A jump to a loop header from inside the loop: counts the back edge for the profiler.
    JumpBack {
        target: Pc,
        counter: u32,
    },
    /// Branch on a bool register.
    BrIf {
        cond: Reg,
        then: Pc,
        els: Pc,
    },
    /// Fused dynamic comparison and branch.
    BrCmp {
        pred: CmpPred,
        a: Reg,
        b: Reg,
        then: Pc,
        els: Pc,
    },
    /// Fused integer comparison and branch.
    BrCmpI {
        pred: CmpPred,
        a: Reg,
        b: Reg,
        then: Pc,
        els: Pc,
    },
    /// Fused comparison with a small integer constant and branch.
    BrCmpImm {
        pred: CmpPred,
        a: Reg,
        imm: i32,
        then: Pc,
        els: Pc,
    },
    Switch {
        src: Reg,
        table: u32,
    },
    Return {
        src: Reg,
    },
    Trap {
        message: u32,
    },

    // Calls: arguments are `count` registers starting at `args` in the argument pool.
    Call {
        dst: Reg,
        func: FuncId,
        args: u32,
        count: u32,
    },
    CallDyn {
        dst: Reg,
        args: u32,
        count: u32,
    },
    Closure {
        dst: Reg,
        func: FuncId,
        args: u32,
        count: u32,
    },
    Builtin {
        dst: Reg,
        builtin: Builtin,
        args: u32,
        count: u32,
    },
    Method {
        dst: Reg,
        name: u32,
        args: u32,
        count: u32,
    },
    Print {
        dst: Reg,
        args: u32,
        count: u32,
        newline: bool,
    },

    // Memory.
    GlobalLoad {
        dst: Reg,
        global: u32,
    },
    GlobalStore {
        global: u32,
        src: Reg,
    },
    CellStore {
        cell: Reg,
        src: Reg,
    },
    Index {
        dst: Reg,
        base: Reg,
        index: Reg,
    },
    SetIndex {
        base: Reg,
        index: Reg,
        src: Reg,
    },
    ArrayNew {
        dst: Reg,
        args: u32,
        count: u32,
    },
    TupleNew {
        dst: Reg,
        args: u32,
        count: u32,
    },
    ArrayPush {
        array: Reg,
        src: Reg,
    },
    /// `recv.push(v)` on a receiver of unknown type: arrays take the fast path.
    MethodPush {
        dst: Reg,
        recv: Reg,
        src: Reg,
        name: u32,
    },
    ArrayConcat {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    StrConcat {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// Checks that a register holds a value of the given run-time type tag.
    /// Checks that a register holds a value of the given run-time type tag; when it does not,
    /// the frame continues in the interpreter's code of the deopt site's function.
    Guard {
        dst: Reg,
        src: Reg,
        tag: u8,
        deopt: u32,
    },
}

#[cfg(test)]
mod tests {
    #[test]
    fn op_stays_small() {
        assert!(std::mem::size_of::<super::Op>() <= 24);
    }
}

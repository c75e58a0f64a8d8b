//! Sparse conditional constant propagation (Wegman and Zadeck, "Constant Propagation with
//! Conditional Branches", 1991), over SSA with block parameters.
//!
//! Every value gets a lattice cell, *unknown* (no execution seen yet), *constant c* or
//! *overdefined*. Starting from the entry block (whose parameters are overdefined), the solver
//! marks blocks and CFG edges executable only when a branch can take them: a `cf.cond_br` or
//! `cf.switch` whose operand is a known constant only makes the matching edge executable. A block
//! parameter is the meet of the arguments on its executable incoming edges, so a value that is
//! only constant on the paths that can run is still found constant. Instructions are evaluated
//! with the exact run-time semantics of `runtime/src/ops.rs` and the interpreter: checked integer
//! ops, shifts, `dyn.*` operators on numbers, bools, `nil` and strings, comparisons (including the
//! exact int/float comparison), `str.*` ops, and the concatenation text form of values (a whole
//! float prints as `2`, not `2.0`).
//!
//! Then the function is rewritten: each value found constant is replaced by a new `arith.const`
//! or `str.const` carrying the location of what it replaces; a constant branch becomes `cf.br`;
//! blocks that became unreachable are removed, and so are constants nobody uses any more.
//!
//! Soundness:
//! * An operation is folded only when its evaluation certainly succeeds and has no effect other
//!   than its result. Whatever would raise an error at run time (integer overflow, division by
//!   zero, a shift out of range, a type error such as `1 + nil`) is left overdefined and in
//!   place, so the program still fails with the same message at the same position. Deleting a
//!   folded `EFFECT` op is therefore safe: on every execution its operands have the constant
//!   values the solver found, and with those values it cannot fail.
//! * The solver is optimistic but only ever lowers lattice cells, so it reaches a fixpoint where
//!   every executable instruction's cell describes every value it can produce.
//! * A constant replacing an `any` value has a concrete type, which fits wherever `any` is
//!   expected, except as the operand of `guard.type` (which must be `any`); those uses keep the
//!   original value, and the original instruction then stays.
//! * Strings built by folding are capped at [`MAX_FOLDED_STR`] bytes, so folding never makes
//!   the IR (or compile time) blow up; longer results are computed at run time as before.
//! * A function that a guard's deopt state points into is left untouched, since deopt states
//!   name its blocks, instruction positions and values.

use crate::pass::{FunctionCx, Pass, PassInfo, PassOptions, Scope};
use crate::registry::PassEntry;
use crate::transforms::dce::is_deopt_target;
use ruchy_ir::semantics::{cmp_int_float, pow_int, Number};
use ruchy_ir::{
    utils, Block, BlockCall, CmpPred, Const, EntityRef, Function, Imm, Inst, Opcode, Type, Value,
};
use smallvec::{smallvec, SmallVec};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

pub static INFO: PassInfo = PassInfo {
    name: "sccp",
    description: "Sparse conditional constant propagation: folds constants, constant branches and \
                  the blocks they make unreachable.",
    scope: Scope::Function,
    options: &[],
};

pub const ENTRY: PassEntry = PassEntry {
    info: &INFO,
    create,
};

fn create(_options: &PassOptions) -> Result<Box<dyn Pass>, String> {
    Ok(Box::new(Sccp))
}

/// The longest string (in bytes) that folding may create.
pub const MAX_FOLDED_STR: usize = 1024;

/// The pass (it has no options).
struct Sccp;

impl Pass for Sccp {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run_function(
        &mut self,
        func: &mut Function,
        cx: &mut FunctionCx<'_>,
    ) -> Result<bool, String> {
        if func.entry_block().is_none() || is_deopt_target(cx.module, cx.func_id, func) {
            return Ok(false);
        }
        let solution = Solver::solve(func);
        let stats = rewrite(func, &solution);
        cx.stats.add("constants folded", stats.folded);
        cx.stats.add("branches folded", stats.branches);
        cx.stats.add("blocks removed", stats.blocks);
        Ok(stats.changed)
    }
}

// ---------------------------------------------------------------------------------------------
// The lattice.

/// What the solver knows about one value.
#[derive(Clone, Debug)]
enum Lat {
    /// No execution that defines the value has been found yet (top).
    Unknown,
    /// Always this constant.
    Const(Const),
    /// May take several values, or a value that is not a literal (bottom).
    Over,
}

impl Lat {
    /// Lattice equality, with floats compared by bits (so NaN equals itself).
    fn same(&self, other: &Lat) -> bool {
        match (self, other) {
            (Lat::Unknown, Lat::Unknown) | (Lat::Over, Lat::Over) => true,
            (Lat::Const(a), Lat::Const(b)) => a.same(b),
            _ => false,
        }
    }

    /// The greatest lower bound.
    fn meet(&self, other: &Lat) -> Lat {
        match (self, other) {
            (Lat::Unknown, x) | (x, Lat::Unknown) => x.clone(),
            (Lat::Const(a), Lat::Const(b)) if a.same(b) => self.clone(),
            _ => Lat::Over,
        }
    }
}

/// The IR type of a literal.
fn const_type(c: &Const) -> Type {
    match c {
        Const::Int(_) => Type::I64,
        Const::Float(_) => Type::F64,
        Const::Bool(_) => Type::Bool,
        Const::Nil => Type::Unit,
        Const::Str(_) => Type::Str,
    }
}

// ---------------------------------------------------------------------------------------------
// The solver.

/// The fixpoint: a lattice cell per value and the executable blocks.
struct Solution {
    lat: Vec<Lat>,
    exec: Vec<bool>,
}

impl Solution {
    fn lat(&self, v: Value) -> &Lat {
        self.lat.get(v.index()).unwrap_or(&Lat::Over)
    }

    fn is_exec(&self, b: Block) -> bool {
        self.exec.get(b.index()).copied().unwrap_or(false)
    }
}

struct Solver<'f> {
    func: &'f Function,
    lat: Vec<Lat>,
    /// The placed instructions that read each value (operands, branch arguments, deopt values).
    users: Vec<Vec<Inst>>,
    exec: Vec<bool>,
    edges: HashSet<(Inst, usize)>,
    block_work: Vec<Block>,
    value_work: Vec<Value>,
}

impl<'f> Solver<'f> {
    fn solve(func: &'f Function) -> Solution {
        let nvalues = func.dfg.values.len();
        let mut users: Vec<Vec<Inst>> = vec![Vec::new(); nvalues];
        for (_, i) in func.insts_in_order() {
            for v in func.dfg.insts[i].all_uses() {
                if let Some(u) = users.get_mut(v.index()) {
                    u.push(i);
                }
            }
        }
        let mut s = Solver {
            func,
            lat: vec![Lat::Unknown; nvalues],
            users,
            exec: vec![false; func.dfg.blocks.len()],
            edges: HashSet::new(),
            block_work: Vec::new(),
            value_work: Vec::new(),
        };
        if let Some(entry) = func.entry_block() {
            for &p in func.dfg.block_params(entry) {
                s.update(p, &Lat::Over);
            }
            s.mark_block(entry);
        }
        loop {
            if let Some(b) = s.block_work.pop() {
                for &i in func.layout.block_insts(b) {
                    s.visit(i);
                }
            } else if let Some(v) = s.value_work.pop() {
                let users = std::mem::take(&mut s.users[v.index()]);
                for &i in &users {
                    let placed = func.layout.inst_block(i);
                    if placed.is_some_and(|b| s.exec[b.index()]) {
                        s.visit(i);
                    }
                }
                s.users[v.index()] = users;
            } else {
                break;
            }
        }
        Solution {
            lat: s.lat,
            exec: s.exec,
        }
    }

    fn lat(&self, v: Value) -> &Lat {
        self.lat.get(v.index()).unwrap_or(&Lat::Over)
    }

    /// Lowers `v`'s cell to its meet with `new`, queueing its users when it changed.
    fn update(&mut self, v: Value, new: &Lat) {
        let Some(old) = self.lat.get(v.index()) else {
            return;
        };
        let m = old.meet(new);
        if !m.same(old) {
            self.lat[v.index()] = m;
            self.value_work.push(v);
        }
    }

    fn mark_block(&mut self, b: Block) {
        if let Some(e) = self.exec.get_mut(b.index()) {
            if !*e {
                *e = true;
                self.block_work.push(b);
            }
        }
    }

    fn visit(&mut self, i: Inst) {
        let d = &self.func.dfg.insts[i];
        if d.opcode.is_terminator() {
            self.visit_terminator(i);
        } else if let Some(r) = d.result {
            let l = self.eval(i);
            self.update(r, &l);
        }
    }

    /// Marks the edges the terminator can take executable and feeds their arguments to the
    /// target's parameters.
    fn visit_terminator(&mut self, i: Inst) {
        let func = self.func;
        let d = &func.dfg.insts[i];
        let all: SmallVec<[usize; 4]> = (0..d.dests.len()).collect();
        let feasible: SmallVec<[usize; 4]> = match d.opcode {
            Opcode::Br => smallvec![0],
            Opcode::CondBr => match d.args.first().map(|&c| self.lat(c)) {
                Some(Lat::Unknown) => smallvec![],
                Some(Lat::Const(Const::Bool(b))) => smallvec![if *b { 0 } else { 1 }],
                _ => all,
            },
            Opcode::Switch => match (d.args.first().map(|&c| self.lat(c)), &d.imm) {
                (Some(Lat::Unknown), _) => smallvec![],
                (Some(Lat::Const(Const::Int(n))), Imm::Cases(cases)) => {
                    smallvec![cases.iter().position(|c| c == n).unwrap_or(cases.len())]
                }
                _ => all,
            },
            _ => smallvec![],
        };
        for k in feasible {
            let Some(dest) = d.dests.get(k) else { continue };
            if self.edges.insert((i, k)) {
                self.mark_block(dest.block);
            }
            let params = func.dfg.block_params(dest.block);
            for (&p, &a) in params.iter().zip(dest.args.iter()) {
                let l = self.lat(a).clone();
                self.update(p, &l);
            }
        }
    }

    /// The cell of an instruction's result given the cells of its operands.
    fn eval(&self, i: Inst) -> Lat {
        let d = &self.func.dfg.insts[i];
        match (d.opcode, &d.imm) {
            (Opcode::Const | Opcode::StrConst, Imm::Const(c)) => return Lat::Const(c.clone()),
            (op, _) if !foldable(op) => return Lat::Over,
            _ => {}
        }
        let mut consts: SmallVec<[&Const; 3]> = SmallVec::new();
        let mut unknown = false;
        for &a in &d.args {
            match self.lat(a) {
                Lat::Over => return Lat::Over,
                Lat::Unknown => unknown = true,
                Lat::Const(c) => consts.push(c),
            }
        }
        if unknown {
            return Lat::Unknown;
        }
        let ty = d.result.map_or(Type::Any, |r| self.func.dfg.value_type(r));
        match fold(d.opcode, &d.imm, &consts, ty) {
            Some(c) if const_type(&c).fits(ty) => Lat::Const(c),
            _ => Lat::Over,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Folding: the run-time semantics of each op on literal operands.

/// Whether [`fold`] knows the op.
fn foldable(op: Opcode) -> bool {
    use Opcode::*;
    matches!(
        op,
        AddI | SubI
            | MulI
            | DivI
            | RemI
            | NegI
            | AddIWrap
            | SubIWrap
            | MulIWrap
            | AndI
            | OrI
            | XorI
            | NotI
            | ShlI
            | ShrI
            | AddF
            | SubF
            | MulF
            | DivF
            | RemF
            | NegF
            | CmpI
            | CmpF
            | CmpB
            | Not
            | IToF
            | FToI
            | StrConcat
            | StrLen
            | StrFrom
            | StrCmp
            | DynAdd
            | DynSub
            | DynMul
            | DynDiv
            | DynRem
            | DynPow
            | RtBuiltin
            | DynNeg
            | DynNot
            | DynBitAnd
            | DynBitOr
            | DynBitXor
            | DynShl
            | DynShr
            | DynBitNot
            | DynCmp
            | DynTruthy
            | DynLen
            | DynCast
    )
}

/// The result of `op` on literal operands, or `None` when it would raise an error (or produce a
/// string longer than [`MAX_FOLDED_STR`], or the operands do not fit the op). `ty` is the result
/// type, which selects the target of `dyn.cast`.
fn fold(op: Opcode, imm: &Imm, args: &[&Const], ty: Type) -> Option<Const> {
    use ruchy_ir::Const::{Bool, Float, Int, Str};
    use Opcode::*;
    let pred = match imm {
        Imm::Cmp(p) => Some(*p),
        _ => None,
    };
    // `rt.builtin pow(a, b)` is `a ** b` (what `specialize` makes of `dyn.pow`); no other
    // builtin is folded.
    let op = match (op, imm) {
        (RtBuiltin, Imm::Builtin(ruchy_ir::Builtin::Pow)) => DynPow,
        (RtBuiltin, _) => return None,
        _ => op,
    };
    let r = match (op, args) {
        // Typed integer arithmetic: checked forms fail exactly when the interpreter raises.
        (AddI, [Int(x), Int(y)]) => Int(x.checked_add(*y)?),
        (SubI, [Int(x), Int(y)]) => Int(x.checked_sub(*y)?),
        (MulI, [Int(x), Int(y)]) => Int(x.checked_mul(*y)?),
        (DivI, [Int(x), Int(y)]) => Int(x.checked_div(*y)?),
        (RemI, [Int(x), Int(y)]) if *y != 0 => Int(x.wrapping_rem(*y)),
        (NegI, [Int(x)]) => Int(x.checked_neg()?),
        (AddIWrap, [Int(x), Int(y)]) => Int(x.wrapping_add(*y)),
        (SubIWrap, [Int(x), Int(y)]) => Int(x.wrapping_sub(*y)),
        (MulIWrap, [Int(x), Int(y)]) => Int(x.wrapping_mul(*y)),
        (AndI, [Int(x), Int(y)]) => Int(x & y),
        (OrI, [Int(x), Int(y)]) => Int(x | y),
        (XorI, [Int(x), Int(y)]) => Int(x ^ y),
        (NotI, [Int(x)]) => Int(!x),
        (ShlI, [Int(x), Int(n)]) => Int(x << shift_amount(*n)?),
        (ShrI, [Int(x), Int(n)]) => Int(x >> shift_amount(*n)?),
        (AddF, [Float(x), Float(y)]) => Float(x + y),
        (SubF, [Float(x), Float(y)]) => Float(x - y),
        (MulF, [Float(x), Float(y)]) => Float(x * y),
        (DivF, [Float(x), Float(y)]) => Float(x / y),
        (RemF, [Float(x), Float(y)]) => Float(x % y),
        (NegF, [Float(x)]) => Float(-x),
        (CmpI, [Int(x), Int(y)]) => Bool(pred?.holds(x.cmp(y))),
        (CmpF, [Float(x), Float(y)]) => Bool(pred?.holds_f64(*x, *y)),
        (CmpB, [Bool(x), Bool(y)]) => match pred? {
            CmpPred::Eq => Bool(x == y),
            CmpPred::Ne => Bool(x != y),
            _ => return None,
        },
        (Not, [Bool(b)]) => Bool(!b),
        (IToF, [Int(x)]) => Float(*x as f64),
        // `as` saturates and maps NaN to 0, like the interpreter.
        (FToI, [Float(x)]) => Int(*x as i64),
        // Strings.
        (StrConcat, [Str(a), Str(b)]) => Str(concat(a, b)?),
        (StrLen, [Str(s)]) => Int(i64::try_from(s.len()).ok()?),
        (StrFrom, [c]) => Str(capped(to_text(c))?),
        (StrCmp, [Str(a), Str(b)]) => Bool(pred?.holds(a.as_bytes().cmp(b.as_bytes()))),
        // Dynamic operators on literal operands (ops.rs).
        (DynAdd, [a, b]) => dyn_add(a, b)?,
        (DynSub, [Int(x), Int(y)]) => Int(x.checked_sub(*y)?),
        (DynSub, [a, b]) => Float(pair(a, b).map(|(x, y)| x - y)?),
        (DynMul, [Int(x), Int(y)]) => Int(x.checked_mul(*y)?),
        (DynMul, [Str(s), Int(n)] | [Int(n), Str(s)]) => Str(repeat(s, *n)?),
        (DynMul, [a, b]) => Float(pair(a, b).map(|(x, y)| x * y)?),
        (DynDiv, [Int(x), Int(y)]) => Int(x.checked_div(*y)?),
        (DynDiv, [a, b]) => Float(pair(a, b).map(|(x, y)| x / y)?),
        (DynRem, [Int(x), Int(y)]) if *y != 0 => Int(x.wrapping_rem(*y)),
        (DynRem, [Int(_), Int(_)]) => return None,
        (DynRem, [a, b]) => Float(pair(a, b).map(|(x, y)| x % y)?),
        (DynPow, [Int(x), Int(y)]) => match pow_int(*x, *y) {
            Number::Int(i) => Int(i),
            Number::Float(f) => Float(f),
        },
        (DynPow, [a, b]) => Float(pair(a, b).map(|(x, y)| x.powf(y))?),
        (DynNeg, [Int(x)]) => Int(x.checked_neg()?),
        (DynNeg, [Float(x)]) => Float(-x),
        (DynNot, [Bool(b)]) => Bool(!b),
        (DynBitAnd, [Int(x), Int(y)]) => Int(x & y),
        (DynBitOr, [Int(x), Int(y)]) => Int(x | y),
        (DynBitXor, [Int(x), Int(y)]) => Int(x ^ y),
        (DynShl, [Int(x), Int(n)]) => Int(x << shift_amount(*n)?),
        (DynShr, [Int(x), Int(n)]) => Int(x >> shift_amount(*n)?),
        (DynBitNot, [Int(x)]) => Int(!x),
        (DynCmp, [a, b]) => Bool(compare(pred?, a, b)?),
        (DynTruthy, [Bool(b)]) => Bool(*b),
        (DynLen, [Str(s)]) => Int(i64::try_from(s.len()).ok()?),
        (DynCast, [c]) => {
            if ty == Type::F64 {
                match c {
                    Int(i) => Float(*i as f64),
                    Float(f) => Float(*f),
                    Bool(b) => Float(if *b { 1.0 } else { 0.0 }),
                    _ => return None,
                }
            } else {
                match c {
                    Int(i) => Int(*i),
                    Float(f) => Int(*f as i64),
                    Bool(b) => Int(i64::from(*b)),
                    _ => return None,
                }
            }
        }
        _ => return None,
    };
    Some(r)
}

/// A shift amount the interpreter accepts (0..64).
fn shift_amount(n: i64) -> Option<u32> {
    u32::try_from(n).ok().filter(|&k| k < 64)
}

/// Both operands as floats when at least one is a float and the other a number (`float_pair`
/// in ops.rs); two ints are handled by the callers.
fn pair(a: &Const, b: &Const) -> Option<(f64, f64)> {
    match (a, b) {
        (Const::Float(x), Const::Float(y)) => Some((*x, *y)),
        (Const::Int(x), Const::Float(y)) => Some((*x as f64, *y)),
        (Const::Float(x), Const::Int(y)) => Some((*x, *y as f64)),
        _ => None,
    }
}

/// A string result, if it is short enough to fold.
fn capped(s: String) -> Option<String> {
    (s.len() <= MAX_FOLDED_STR).then_some(s)
}

fn concat(a: &str, b: &str) -> Option<String> {
    if a.len() + b.len() > MAX_FOLDED_STR {
        return None;
    }
    Some(format!("{a}{b}"))
}

/// The concatenation text form of a literal (`format::to_text`): a float in Rust's shortest
/// round-trip `{}` form (`2.0` gives `2`), `nil`, `true`/`false`, a string as is.
fn to_text(c: &Const) -> String {
    match c {
        Const::Int(i) => i.to_string(),
        Const::Float(f) => format!("{f}"),
        Const::Bool(b) => b.to_string(),
        Const::Nil => "nil".to_string(),
        Const::Str(s) => s.clone(),
    }
}

/// `a + b` on literals (`ops::add`): checked ints, floats (promoting a mixed pair), and string
/// concatenation when either side is a string.
fn dyn_add(a: &Const, b: &Const) -> Option<Const> {
    match (a, b) {
        (Const::Int(x), Const::Int(y)) => Some(Const::Int(x.checked_add(*y)?)),
        _ => {
            if let Some((x, y)) = pair(a, b) {
                return Some(Const::Float(x + y));
            }
            match (a, b) {
                (Const::Str(x), _) => Some(Const::Str(concat(x, &to_text(b))?)),
                (_, Const::Str(y)) => Some(Const::Str(concat(&to_text(a), y)?)),
                _ => None,
            }
        }
    }
}

/// String repetition (`ops::repeat`): a count <= 0 gives `""`.
fn repeat(s: &str, n: i64) -> Option<String> {
    if n <= 0 || s.is_empty() {
        return Some(String::new());
    }
    let total = usize::try_from(n).ok()?.checked_mul(s.len())?;
    if total > MAX_FOLDED_STR {
        return None;
    }
    Some(s.repeat(total / s.len()))
}

/// `a <pred> b` on literals (`ops::compare`); `None` where the interpreter raises ("Cannot
/// compare ...", for orderings of values that have none).
fn compare(pred: CmpPred, a: &Const, b: &Const) -> Option<bool> {
    match (a, b) {
        (Const::Int(x), Const::Int(y)) => Some(pred.holds(x.cmp(y))),
        (Const::Float(x), Const::Float(y)) => Some(pred.holds_f64(*x, *y)),
        _ => match pred {
            CmpPred::Eq => Some(equals(a, b)),
            CmpPred::Ne => Some(!equals(a, b)),
            _ => match order(a, b)? {
                Some(ord) => Some(pred.holds(ord)),
                None => Some(false),
            },
        },
    }
}

/// `==` on literals: numbers compare exactly across int and float; different kinds are unequal.
fn equals(a: &Const, b: &Const) -> bool {
    match (a, b) {
        (Const::Int(x), Const::Int(y)) => x == y,
        (Const::Float(x), Const::Float(y)) => x == y,
        (Const::Int(x), Const::Float(y)) | (Const::Float(y), Const::Int(x)) => {
            cmp_int_float(*x, *y) == Some(Ordering::Equal)
        }
        (Const::Str(x), Const::Str(y)) => x == y,
        (Const::Bool(x), Const::Bool(y)) => x == y,
        (Const::Nil, Const::Nil) => true,
        _ => false,
    }
}

/// The ordering of two literals: `Some(None)` when unordered (NaN), `None` when the interpreter
/// raises "Cannot compare".
fn order(a: &Const, b: &Const) -> Option<Option<Ordering>> {
    match (a, b) {
        (Const::Int(x), Const::Int(y)) => Some(Some(x.cmp(y))),
        (Const::Float(x), Const::Float(y)) => Some(x.partial_cmp(y)),
        (Const::Int(x), Const::Float(y)) => Some(cmp_int_float(*x, *y)),
        (Const::Float(x), Const::Int(y)) => Some(cmp_int_float(*y, *x).map(Ordering::reverse)),
        (Const::Str(x), Const::Str(y)) => Some(Some(x.as_bytes().cmp(y.as_bytes()))),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Rewriting.

#[derive(Default)]
struct RewriteStats {
    folded: u64,
    branches: u64,
    blocks: u64,
    changed: bool,
}

/// Applies the solution: constants for constant values, `cf.br` for constant branches, then
/// removes unreachable blocks, the parameters and instructions that folding left unused.
fn rewrite(func: &mut Function, sol: &Solution) -> RewriteStats {
    let mut st = RewriteStats::default();
    let Some(entry) = func.entry_block() else {
        return st;
    };

    // 1. A new constant for every value found constant (placed before its definition, or at the
    //    top of the block for a parameter).
    let mut repl: HashMap<Value, Value> = HashMap::new();
    let mut folded_insts: HashSet<Inst> = HashSet::new();
    let mut folded_params: HashSet<Value> = HashSet::new();
    let blocks: Vec<Block> = func.layout.blocks().to_vec();
    for &b in &blocks {
        if !sol.is_exec(b) {
            continue;
        }
        let old: Vec<Inst> = func.layout.block_insts(b).to_vec();
        let mut new: Vec<Inst> = Vec::with_capacity(old.len());
        if b != entry {
            let loc = old
                .first()
                .map(|&i| func.dfg.insts[i].loc)
                .unwrap_or_default();
            for p in func.dfg.block_params(b).to_vec() {
                if let Some(c) = replacement(func, sol, p) {
                    let (i, v) = make_const(func, c, loc);
                    new.push(i);
                    repl.insert(p, v);
                    folded_params.insert(p);
                }
            }
        }
        for i in old {
            let d = &func.dfg.insts[i];
            if let (Some(r), false) = (
                d.result,
                matches!(d.opcode, Opcode::Const | Opcode::StrConst),
            ) {
                if let Some(c) = replacement(func, sol, r) {
                    let loc = d.loc;
                    let (ci, v) = make_const(func, c, loc);
                    new.push(ci);
                    repl.insert(r, v);
                    folded_insts.insert(i);
                }
            }
            new.push(i);
        }
        func.layout.set_block_insts(b, new);
    }
    st.folded = (folded_insts.len() + folded_params.len()) as u64;

    // 2. Constant branches become unconditional (before their conditions are replaced, since
    //    the solution describes the original values).
    for &b in &blocks {
        if !sol.is_exec(b) {
            continue;
        }
        let Some(t) = func.layout.last_inst(b) else {
            continue;
        };
        let d = &func.dfg.insts[t];
        let taken = match (d.opcode, d.args.first().map(|&c| sol.lat(c)), &d.imm) {
            (Opcode::CondBr, Some(Lat::Const(Const::Bool(v))), _) => Some(if *v { 0 } else { 1 }),
            (Opcode::Switch, Some(Lat::Const(Const::Int(n))), Imm::Cases(cases)) => {
                Some(cases.iter().position(|c| c == n).unwrap_or(cases.len()))
            }
            _ => None,
        };
        let Some(k) = taken else { continue };
        let Some(dest) = d.dests.get(k).cloned() else {
            continue;
        };
        let d = &mut func.dfg.insts[t];
        d.opcode = Opcode::Br;
        d.args.clear();
        d.imm = Imm::None;
        d.dests = smallvec![dest];
        st.branches += 1;
    }

    // 3. Uses read the constants instead, except a `guard.type` operand, which must stay `any`.
    if !repl.is_empty() {
        let insts: Vec<Inst> = func.insts_in_order().map(|(_, i)| i).collect();
        for i in insts {
            let is_guard = func.dfg.insts[i].opcode == Opcode::GuardType;
            let types = &func.dfg.values;
            let pick = |v: Value, strict: bool| match repl.get(&v) {
                Some(&n) if !strict || types[n].ty == types[v].ty => n,
                _ => v,
            };
            let d = &func.dfg.insts[i];
            let args: SmallVec<[Value; 3]> = d.args.iter().map(|&a| pick(a, is_guard)).collect();
            let dests: SmallVec<[BlockCall; 2]> = d
                .dests
                .iter()
                .map(|bc| BlockCall {
                    block: bc.block,
                    args: bc.args.iter().map(|&a| pick(a, false)).collect(),
                })
                .collect();
            let deopt_values: Option<Vec<(Value, Value)>> = d.deopt.as_ref().map(|ds| {
                ds.values
                    .iter()
                    .map(|&(t, v)| (t, pick(v, false)))
                    .collect()
            });
            let d = &mut func.dfg.insts[i];
            d.args = args;
            d.dests = dests;
            if let (Some(ds), Some(vals)) = (d.deopt.as_mut(), deopt_values) {
                ds.values = vals;
            }
        }
    }

    // 4. Blocks no executable edge reaches are unreachable now.
    let before = func.layout.blocks().len();
    utils::remove_unreachable_blocks(func);
    st.blocks = (before - func.layout.blocks().len()) as u64;

    // 5. Parameters replaced by constants are unused: drop them and their arguments.
    let counts = utils::use_counts(func);
    remove_params(func, |v| folded_params.contains(&v) && !counts.is_used(v));

    // 6. Folded instructions and constants that nothing reads any more.
    let mut removed = 0usize;
    loop {
        let counts = utils::use_counts(func);
        let dead: Vec<Inst> = func
            .insts_in_order()
            .map(|(_, i)| i)
            .filter(|&i| {
                let d = &func.dfg.insts[i];
                let removable = folded_insts.contains(&i)
                    || matches!(d.opcode, Opcode::Const | Opcode::StrConst);
                removable && d.result.is_some_and(|r| !counts.is_used(r))
            })
            .collect();
        if dead.is_empty() {
            break;
        }
        removed += dead.len();
        func.layout.remove_insts(dead);
    }

    st.changed = st.folded > 0 || st.branches > 0 || st.blocks > 0 || removed > 0;
    st
}

/// The literal that replaces `v`, when the solver found it constant and the literal's type fits
/// `v`'s type.
fn replacement(func: &Function, sol: &Solution, v: Value) -> Option<Const> {
    match sol.lat(v) {
        Lat::Const(c) if const_type(c).fits(func.dfg.value_type(v)) => Some(c.clone()),
        _ => None,
    }
}

/// Creates (without placing it) the instruction defining literal `c`.
fn make_const(func: &mut Function, c: Const, loc: ruchy_ir::SrcLoc) -> (Inst, Value) {
    let op = match c {
        Const::Str(_) => Opcode::StrConst,
        _ => Opcode::Const,
    };
    let ty = const_type(&c);
    let i = func
        .dfg
        .make_inst(op, &[], Imm::Const(c), SmallVec::new(), ty, loc);
    (i, func.dfg.inst_result(i))
}

/// Removes the parameters of non-entry blocks for which `dead` holds, with the matching
/// arguments of every branch to them.
fn remove_params(func: &mut Function, dead: impl Fn(Value) -> bool) {
    let entry = func.entry_block();
    let mut edges: HashMap<Block, Vec<(Inst, usize)>> = HashMap::new();
    for &b in func.layout.blocks() {
        if let Some(t) = func.layout.last_inst(b) {
            for (k, dest) in func.dfg.insts[t].dests.iter().enumerate() {
                edges.entry(dest.block).or_default().push((t, k));
            }
        }
    }
    let blocks: Vec<Block> = func.layout.blocks().to_vec();
    for b in blocks {
        if Some(b) == entry {
            continue;
        }
        let params = func.dfg.block_params(b).to_vec();
        for (idx, &p) in params.iter().enumerate().rev() {
            if !dead(p) {
                continue;
            }
            func.dfg.remove_block_param(b, idx);
            for &(t, k) in edges.get(&b).map(Vec::as_slice).unwrap_or(&[]) {
                let args = &mut func.dfg.insts[t].dests[k].args;
                if idx < args.len() {
                    args.remove(idx);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(op: Opcode, args: &[Const]) -> Option<Const> {
        let refs: Vec<&Const> = args.iter().collect();
        fold(op, &Imm::None, &refs, Type::Any)
    }

    #[test]
    fn checked_ops_that_would_raise_are_not_folded() {
        assert_eq!(
            c(Opcode::AddI, &[Const::Int(i64::MAX), Const::Int(1)]),
            None
        );
        assert_eq!(c(Opcode::DivI, &[Const::Int(1), Const::Int(0)]), None);
        assert_eq!(
            c(Opcode::DivI, &[Const::Int(i64::MIN), Const::Int(-1)]),
            None
        );
        assert_eq!(c(Opcode::RemI, &[Const::Int(1), Const::Int(0)]), None);
        assert_eq!(
            c(Opcode::RemI, &[Const::Int(i64::MIN), Const::Int(-1)]),
            Some(Const::Int(0))
        );
        assert_eq!(c(Opcode::NegI, &[Const::Int(i64::MIN)]), None);
        assert_eq!(c(Opcode::ShlI, &[Const::Int(1), Const::Int(64)]), None);
        assert_eq!(c(Opcode::DynAdd, &[Const::Nil, Const::Int(1)]), None);
        assert_eq!(c(Opcode::DynTruthy, &[Const::Int(1)]), None);
    }

    #[test]
    fn concatenation_uses_the_text_form() {
        assert_eq!(
            c(Opcode::DynAdd, &[Const::Str("x".into()), Const::Float(2.0)]),
            Some(Const::Str("x2".into()))
        );
        assert_eq!(
            c(Opcode::StrFrom, &[Const::Float(-0.0)]),
            Some(Const::Str("-0".into()))
        );
        assert_eq!(
            c(Opcode::StrFrom, &[Const::Float(0.1)]),
            Some(Const::Str("0.1".into()))
        );
        assert_eq!(
            c(Opcode::DynAdd, &[Const::Nil, Const::Str("!".into())]),
            Some(Const::Str("nil!".into()))
        );
        assert_eq!(
            c(
                Opcode::DynMul,
                &[Const::Str("ab".into()), Const::Int(1 << 40)]
            ),
            None
        );
    }

    #[test]
    fn comparisons_follow_the_runtime() {
        let cmp = |p, a: Const, b: Const| fold(Opcode::DynCmp, &Imm::Cmp(p), &[&a, &b], Type::Bool);
        assert_eq!(
            cmp(CmpPred::Eq, Const::Int(1), Const::Float(1.0)),
            Some(Const::Bool(true))
        );
        assert_eq!(
            cmp(
                CmpPred::Lt,
                Const::Int(i64::MAX),
                Const::Float(9.223_372_036_854_776e18)
            ),
            Some(Const::Bool(true))
        );
        assert_eq!(
            cmp(CmpPred::Eq, Const::Nil, Const::Int(0)),
            Some(Const::Bool(false))
        );
        assert_eq!(cmp(CmpPred::Lt, Const::Nil, Const::Int(0)), None);
        assert_eq!(
            cmp(CmpPred::Lt, Const::Float(f64::NAN), Const::Int(0)),
            Some(Const::Bool(false))
        );
        assert_eq!(
            cmp(CmpPred::Lt, Const::Str("a".into()), Const::Str("b".into())),
            Some(Const::Bool(true))
        );
    }

    #[test]
    fn pow_matches_the_runtime() {
        assert_eq!(
            c(Opcode::DynPow, &[Const::Int(2), Const::Int(10)]),
            Some(Const::Int(1024))
        );
        assert_eq!(
            c(Opcode::DynPow, &[Const::Int(2), Const::Int(-1)]),
            Some(Const::Float(0.5))
        );
        assert_eq!(
            c(Opcode::DynPow, &[Const::Int(-1), Const::Int(1 << 40)]),
            Some(Const::Int(1))
        );
    }
}

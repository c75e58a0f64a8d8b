//! The verifier: checks the structural, SSA and type invariants of every function and the rules
//! of its [`Level`]. Passes run it between stages in debug builds and tests run it on everything
//! they build, so that a broken invariant is reported where it is introduced rather than as a
//! wrong result much later.
//!
//! All problems are reported, not only the first. Errors name the function and, when they can,
//! the block or instruction; with the [`SourceMap`] of a parsed text they render as
//! `line:col: error in @f: message`.
//!
//! # Rules
//!
//! * Structure: every block in the layout ends with exactly one terminator and has none
//!   elsewhere; the entry block exists, its parameter types equal `f.params`, and no branch
//!   targets it; only terminators have destinations, and every destination is in the layout.
//! * SSA: every used value is defined (not `Unused`) and its definition dominates the use (block
//!   parameters dominate their block; a result dominates the later instructions of its block and
//!   the blocks its block dominates). Dominance is not checked for uses in unreachable blocks.
//! * Branches: argument count equals the target's parameter count, and each argument's type
//!   fits ([`Type::fits`]) the parameter's type.
//! * Levels: `dyn` allows every op except lowered-only ones; `typed` forbids `dyn` ops and
//!   lowered-only ops; `lowered` forbids `dyn` ops. At `typed` and `lowered`, results must have
//!   concrete types, with these exceptions, which are the polymorphic sources of `any` values:
//!   results of `func.call` to a function returning `any`, of `func.call_indirect`, `rt.method`,
//!   `rt.builtin`, of `array.get` on an `array<any>`, of `mem.global_load` and of
//!   `mem.cell_load`. Parameters (of the function and of blocks) may be `any`: they pass such
//!   values on, and only ops that accept `any` operands can use them.
//! * Ops: the immediate matches [`Opcode::imm_kind`]; a result exists iff
//!   [`Opcode::has_result`]; operand counts and types follow each op's contract (see
//!   `check_op`). `dyn` ops take operands of any type and produce `any`, except `dyn.cmp`,
//!   `dyn.truthy` and `dyn.not` (`bool` or `any`), `dyn.len` (`i64` or `any`) and `dyn.cast`
//!   (`i64` or `f64`).

use crate::analysis::{ControlFlowGraph, DomTree};
use crate::entities::{Block, FuncId, Inst, Value};
use crate::function::{Function, Level, ValueDef};
use crate::instructions::{Imm, InstData};
use crate::module::Module;
use crate::opcode::{CmpPred, Dialect, ImmKind, Opcode};
use crate::parser::SourceMap;
use crate::printer::{print_inst, Symbol};
use crate::types::Type;
use cranelift_entity::SecondaryMap;
use std::collections::HashSet;
use std::fmt;

/// What part of a function a [`VerifierError`] is about.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ErrorLocation {
    Block(Block),
    Inst(Inst),
}

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierError {
    pub func: FuncId,
    /// `None` for errors about the function as a whole (signature, attributes).
    pub location: Option<ErrorLocation>,
    pub message: String,
}

impl VerifierError {
    /// Renders the error for a person. With a source map and a known position:
    /// `line:col: error in @f: message`. Otherwise `@f: message`, `@f ^bb2: message` or
    /// `@f inst: <the printed instruction>: message`.
    pub fn render(&self, m: &Module, map: Option<&SourceMap>) -> String {
        let fname = match m.funcs.get(self.func) {
            Some(f) => Symbol(&f.name).to_string(),
            None => format!("@\"<invalid {}>\"", self.func),
        };
        if let Some(map) = map {
            let pos = match self.location {
                Some(ErrorLocation::Inst(i)) => map.inst(self.func, i),
                Some(ErrorLocation::Block(b)) => map.block(self.func, b),
                None => None,
            }
            .or_else(|| map.func(self.func));
            if let Some((line, col)) = pos {
                return format!("{line}:{col}: error in {fname}: {}", self.message);
            }
        }
        match (self.location, m.funcs.get(self.func)) {
            (Some(ErrorLocation::Block(b)), _) => format!("{fname} {b}: {}", self.message),
            (Some(ErrorLocation::Inst(i)), Some(f)) => {
                format!("{fname} inst: {}: {}", print_inst(m, f, i), self.message)
            }
            (Some(ErrorLocation::Inst(i)), None) => format!("{fname} {i}: {}", self.message),
            (None, _) => format!("{fname}: {}", self.message),
        }
    }
}

/// Debug-style rendering without a module: `fn3 inst7: message`.
impl fmt::Display for VerifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(ErrorLocation::Block(b)) => write!(f, "{} {b}: {}", self.func, self.message),
            Some(ErrorLocation::Inst(i)) => write!(f, "{} {i}: {}", self.func, self.message),
            None => write!(f, "{}: {}", self.func, self.message),
        }
    }
}

/// Renders a list of errors, one per line.
pub fn render_errors(m: &Module, errors: &[VerifierError], map: Option<&SourceMap>) -> String {
    let lines: Vec<String> = errors.iter().map(|e| e.render(m, map)).collect();
    lines.join("\n")
}

/// Verifies every function of the module, and the module's entry and function names.
pub fn verify_module(m: &Module) -> Result<(), Vec<VerifierError>> {
    let mut errors = Vec::new();
    if let Some(e) = m.entry {
        if m.funcs.get(e).is_none() {
            errors.push(VerifierError {
                func: e,
                location: None,
                message: "the module's entry function does not exist".to_string(),
            });
        }
    }
    for id in m.funcs.keys() {
        verify_into(m, id, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Verifies one function of the module.
pub fn verify_function(m: &Module, id: FuncId) -> Result<(), Vec<VerifierError>> {
    let mut errors = Vec::new();
    if m.funcs.get(id).is_none() {
        errors.push(VerifierError {
            func: id,
            location: None,
            message: "no such function".to_string(),
        });
    } else {
        verify_into(m, id, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn verify_into(m: &Module, id: FuncId, errors: &mut Vec<VerifierError>) {
    let f = &m.funcs[id];
    let mut v = FuncVerifier {
        m,
        id,
        f,
        errors,
        pos: SecondaryMap::new(),
        in_layout: SecondaryMap::new(),
        cfg: ControlFlowGraph::default(),
        dt: DomTree::default(),
    };
    v.run();
}

struct FuncVerifier<'a> {
    m: &'a Module,
    id: FuncId,
    f: &'a Function,
    errors: &'a mut Vec<VerifierError>,
    /// Position of each placed instruction within its block.
    pos: SecondaryMap<Inst, u32>,
    in_layout: SecondaryMap<Block, bool>,
    cfg: ControlFlowGraph,
    dt: DomTree,
}

fn imm_kind_of(imm: &Imm) -> ImmKind {
    match imm {
        Imm::None => ImmKind::None,
        Imm::Const(_) => ImmKind::Const,
        Imm::Cmp(_) => ImmKind::Cmp,
        Imm::Func(_) => ImmKind::Func,
        Imm::Global(_) => ImmKind::Global,
        Imm::Builtin(_) => ImmKind::Builtin,
        Imm::Method(_) => ImmKind::Method,
        Imm::Message(_) => ImmKind::Message,
        Imm::Cases(_) => ImmKind::Cases,
    }
}

impl<'a> FuncVerifier<'a> {
    fn err(&mut self, location: Option<ErrorLocation>, message: impl Into<String>) {
        self.errors.push(VerifierError {
            func: self.id,
            location,
            message: message.into(),
        });
    }

    fn err_inst(&mut self, i: Inst, message: impl Into<String>) {
        self.err(Some(ErrorLocation::Inst(i)), message);
    }

    fn err_block(&mut self, b: Block, message: impl Into<String>) {
        self.err(Some(ErrorLocation::Block(b)), message);
    }

    fn run(&mut self) {
        self.check_signature();
        if !self.check_layout() {
            return; // dangling entities: the remaining checks would only repeat the damage
        }
        let Some(entry) = self.f.entry_block() else {
            self.err(None, "function has no blocks");
            return;
        };
        self.check_entry(entry);
        self.cfg = ControlFlowGraph::compute(self.f);
        self.dt = DomTree::compute(&self.cfg);
        for &b in self.f.layout.blocks() {
            self.check_block(b, entry);
        }
    }

    fn check_signature(&mut self) {
        let f = self.f;
        if self.m.func_by_name(&f.name) != Some(self.id) {
            self.err(
                None,
                format!(
                    "the module's name index does not map {} to this function",
                    Symbol(&f.name)
                ),
            );
        }
        if let Some(h) = &f.attrs.hints {
            if h.len() != f.params.len() {
                self.err(
                    None,
                    format!(
                        "{} parameter hints for {} parameters",
                        h.len(),
                        f.params.len()
                    ),
                );
            }
        }
        if f.attrs.captures as usize > f.params.len() {
            self.err(
                None,
                format!(
                    "captures({}) exceeds the {} parameters",
                    f.attrs.captures,
                    f.params.len()
                ),
            );
        }
        for &d in &f.attrs.defaults {
            if self.m.funcs.get(d).is_none() {
                self.err(None, format!("default-argument adapter {d} does not exist"));
            }
        }
    }

    /// Checks that the layout only names existing entities, once each. Returns whether it does.
    fn check_layout(&mut self) -> bool {
        let f = self.f;
        let mut ok = true;
        let mut seen_inst: SecondaryMap<Inst, bool> = SecondaryMap::new();
        for &b in f.layout.blocks() {
            if f.dfg.blocks.get(b).is_none() {
                self.err_block(
                    b,
                    "block in the layout does not exist in the data-flow graph",
                );
                ok = false;
                continue;
            }
            if self.in_layout[b] {
                self.err_block(b, "block appears twice in the layout");
                ok = false;
                continue;
            }
            self.in_layout[b] = true;
            for (k, &i) in f.layout.block_insts(b).iter().enumerate() {
                if f.dfg.insts.get(i).is_none() {
                    self.err_block(b, format!("placed instruction {i} does not exist"));
                    ok = false;
                } else if seen_inst[i] {
                    self.err_inst(i, "instruction is placed twice");
                    ok = false;
                } else {
                    seen_inst[i] = true;
                    self.pos[i] = k as u32;
                    if f.layout.inst_block(i) != Some(b) {
                        self.err_inst(
                            i,
                            format!("layout maps the instruction to another block than {b}"),
                        );
                    }
                }
            }
        }
        ok
    }

    fn check_entry(&mut self, entry: Block) {
        let f = self.f;
        let params = f.dfg.block_params(entry);
        if params.len() != f.params.len() {
            self.err_block(
                entry,
                format!(
                    "the entry block has {} parameters but the function takes {}",
                    params.len(),
                    f.params.len()
                ),
            );
            return;
        }
        for (k, (&v, &want)) in params.iter().zip(&f.params).enumerate() {
            if let Some(ty) = self.value_ty(v) {
                if ty != want {
                    self.err_block(
                        entry,
                        format!(
                            "entry parameter {k} ({v}) has type {ty} but the signature says {want}"
                        ),
                    );
                }
            }
        }
    }

    fn value_ty(&self, v: Value) -> Option<Type> {
        self.f.dfg.values.get(v).map(|d| d.ty)
    }

    fn check_block(&mut self, b: Block, entry: Block) {
        let f = self.f;
        for (k, &v) in f.dfg.block_params(b).iter().enumerate() {
            match f.dfg.values.get(v) {
                None => self.err_block(b, format!("parameter {v} does not exist")),
                Some(d) if d.def != ValueDef::Param(b, k as u32) => self.err_block(
                    b,
                    format!(
                        "parameter {v} is recorded as {:?}, not parameter {k} of {b}",
                        d.def
                    ),
                ),
                // Block parameters may be `any` at every level: they carry the `any` values of
                // the polymorphic sources around loops and joins (only ops that accept `any`
                // can use them at the typed levels, which the op checks enforce).
                Some(_) => {}
            }
        }
        let insts = f.layout.block_insts(b);
        match insts.split_last() {
            None => self.err_block(b, "block is empty; it must end with a terminator"),
            Some((&last, rest)) => {
                if !f.dfg.insts[last].opcode.is_terminator() {
                    self.err_block(b, "block does not end with a terminator");
                }
                for &i in rest {
                    if f.dfg.insts[i].opcode.is_terminator() {
                        self.err_inst(i, format!("terminator in the middle of {b}"));
                    }
                }
            }
        }
        let reachable = self.dt.is_reachable(b);
        for &i in insts {
            self.check_inst(b, i, entry, reachable);
        }
    }

    fn check_inst(&mut self, b: Block, i: Inst, entry: Block, reachable: bool) {
        let f = self.f;
        let d = &f.dfg.insts[i];
        let op = d.opcode;
        match (op.has_result(), d.result) {
            (true, None) => self.err_inst(i, format!("`{op}` must define a result")),
            (false, Some(r)) => self.err_inst(i, format!("`{op}` has no result but defines {r}")),
            _ => {}
        }
        if let Some(r) = d.result {
            match f.dfg.values.get(r) {
                None => self.err_inst(i, format!("result {r} does not exist")),
                Some(vd) if vd.def != ValueDef::Result(i) => {
                    self.err_inst(i, format!("result {r} is recorded as {:?}", vd.def))
                }
                Some(_) => {}
            }
        }
        let kind = op.imm_kind();
        if imm_kind_of(&d.imm) != kind {
            self.err_inst(
                i,
                format!("`{op}` takes a {kind:?} immediate, found {:?}", d.imm),
            );
        }
        let mut reported: HashSet<Value> = HashSet::new();
        for v in d.all_uses() {
            if reported.insert(v) {
                self.check_use(b, i, v, reachable);
            }
        }
        if !op.is_terminator() && !d.dests.is_empty() {
            self.err_inst(
                i,
                format!("`{op}` is not a terminator but has branch destinations"),
            );
        }
        for dest in &d.dests {
            let t = dest.block;
            if !self.in_layout[t] {
                self.err_inst(i, format!("branch to {t}, which is not in the layout"));
                continue;
            }
            if t == entry {
                self.err_inst(i, format!("branch to the entry block {t}"));
            }
            let params = f.dfg.block_params(t);
            if params.len() != dest.args.len() {
                self.err_inst(
                    i,
                    format!(
                        "{t} takes {} arguments, {} given",
                        params.len(),
                        dest.args.len()
                    ),
                );
                continue;
            }
            for (k, (&a, &p)) in dest.args.iter().zip(params).enumerate() {
                if let (Some(at), Some(pt)) = (self.value_ty(a), self.value_ty(p)) {
                    if !at.fits(pt) {
                        self.err_inst(i, format!("argument {k} of {t}: {a} has type {at}, which does not fit parameter {p}: {pt}"));
                    }
                }
            }
        }
        self.check_level(i, d);
        self.check_op(i, d);
    }

    fn check_use(&mut self, b: Block, i: Inst, v: Value, reachable: bool) {
        let f = self.f;
        let Some(vd) = f.dfg.values.get(v) else {
            self.err_inst(i, format!("use of {v}, which does not exist"));
            return;
        };
        match vd.def {
            ValueDef::Unused => self.err_inst(i, format!("use of undefined value {v}")),
            ValueDef::Param(pb, k) => {
                let consistent = f
                    .dfg
                    .blocks
                    .get(pb)
                    .and_then(|bd| bd.params.get(k as usize))
                    == Some(&v);
                if !consistent {
                    self.err_inst(
                        i,
                        format!("{v} claims to be parameter {k} of {pb}, which it is not"),
                    );
                } else if !self.in_layout[pb] {
                    self.err_inst(
                        i,
                        format!("{v} is a parameter of {pb}, which is not in the layout"),
                    );
                } else if reachable && !self.dt.dominates(pb, b) {
                    self.err_inst(
                        i,
                        format!("{v} (parameter of {pb}) does not dominate this use"),
                    );
                }
            }
            ValueDef::Result(di) => match f.layout.inst_block(di) {
                _ if f.dfg.insts.get(di).map(|x| x.result) != Some(Some(v)) => self.err_inst(
                    i,
                    format!("{v} claims to be the result of {di}, which it is not"),
                ),
                None => self.err_inst(
                    i,
                    format!("{v} is defined by an instruction that is not placed"),
                ),
                Some(db) if db == b => {
                    if self.pos[di] >= self.pos[i] {
                        self.err_inst(i, format!("{v} is used before its definition"));
                    }
                }
                Some(db) => {
                    if reachable && !self.dt.dominates(db, b) {
                        self.err_inst(
                            i,
                            format!("the definition of {v} in {db} does not dominate this use"),
                        );
                    }
                }
            },
        }
    }

    fn check_level(&mut self, i: Inst, d: &InstData) {
        let f = self.f;
        let op = d.opcode;
        if op.dialect() == Dialect::Dyn && f.level >= Level::Typed {
            self.err_inst(
                i,
                format!("`{op}` (dialect dyn) is not allowed at level {}", f.level),
            );
        }
        if op.lowered_only() && f.level != Level::Lowered {
            self.err_inst(
                i,
                format!("`{op}` is only allowed at level lowered, not {}", f.level),
            );
        }
        if f.level >= Level::Typed {
            if let Some(r) = d.result {
                if self.value_ty(r) == Some(Type::Any) && !self.may_produce_any(d) {
                    self.err_inst(
                        i,
                        format!("result {r} has type any at level {}; only calls to functions returning any, func.call_indirect, the rt ops, array.get on array<any>, mem.global_load and mem.cell_load may produce any", f.level),
                    );
                }
            }
        }
    }

    /// The ops whose results are `any` by nature, allowed at the typed levels.
    fn may_produce_any(&self, d: &InstData) -> bool {
        match d.opcode {
            Opcode::Call => match d.imm {
                Imm::Func(c) => self.m.funcs.get(c).is_some_and(|c| c.ret == Type::Any),
                _ => false,
            },
            Opcode::ArrayGet => self.arg_ty(d, 0) == Some(Type::Array(crate::types::ElemType::Any)),
            op => op.yields_any_by_nature(),
        }
    }

    fn arg_ty(&self, d: &InstData, k: usize) -> Option<Type> {
        d.args.get(k).and_then(|&v| self.value_ty(v))
    }

    fn result_ty(&self, d: &InstData) -> Option<Type> {
        d.result.and_then(|r| self.value_ty(r))
    }

    /// Checks the operand count; returns whether it is right.
    fn argc(&mut self, i: Inst, d: &InstData, n: usize) -> bool {
        if d.args.len() != n {
            self.err_inst(
                i,
                format!("`{}` takes {n} operands, {} given", d.opcode, d.args.len()),
            );
            return false;
        }
        true
    }

    fn argc_min(&mut self, i: Inst, d: &InstData, n: usize) -> bool {
        if d.args.len() < n {
            self.err_inst(
                i,
                format!(
                    "`{}` takes at least {n} operands, {} given",
                    d.opcode,
                    d.args.len()
                ),
            );
            return false;
        }
        true
    }

    /// Operand `k` must satisfy `ok`, described as `want`.
    fn arg_is(&mut self, i: Inst, d: &InstData, k: usize, want: &str, ok: impl Fn(Type) -> bool) {
        if let Some(t) = self.arg_ty(d, k) {
            if !ok(t) {
                let v = d.args[k];
                self.err_inst(
                    i,
                    format!(
                        "operand {k} ({v}) of `{}` has type {t}, expected {want}",
                        d.opcode
                    ),
                );
            }
        }
    }

    fn arg_eq(&mut self, i: Inst, d: &InstData, k: usize, ty: Type) {
        self.arg_is(i, d, k, &ty.to_string(), |t| t == ty);
    }

    fn args_eq(&mut self, i: Inst, d: &InstData, n: usize, ty: Type) {
        if self.argc(i, d, n) {
            for k in 0..n {
                self.arg_eq(i, d, k, ty);
            }
        }
    }

    /// The result type must satisfy `ok`, described as `want`.
    fn res_is(&mut self, i: Inst, d: &InstData, want: &str, ok: impl Fn(Type) -> bool) {
        if let Some(t) = self.result_ty(d) {
            if !ok(t) {
                self.err_inst(
                    i,
                    format!("result of `{}` has type {t}, expected {want}", d.opcode),
                );
            }
        }
    }

    fn res_eq(&mut self, i: Inst, d: &InstData, ty: Type) {
        self.res_is(i, d, &ty.to_string(), |t| t == ty);
    }

    fn dests(&mut self, i: Inst, d: &InstData, n: usize) {
        if d.dests.len() != n {
            self.err_inst(
                i,
                format!(
                    "`{}` takes {n} destinations, {} given",
                    d.opcode,
                    d.dests.len()
                ),
            );
        }
    }

    /// Operand counts, operand types and result types of each op.
    fn check_op(&mut self, i: Inst, d: &InstData) {
        use Opcode::*;
        let is_array = |t: Type| matches!(t, Type::Array(_));
        let op = d.opcode;
        if op.is_terminator() && !matches!(op, Br | CondBr | Switch) {
            self.dests(i, d, 0);
        }
        match op {
            DynAdd | DynSub | DynMul | DynDiv | DynRem | DynPow | DynBitAnd | DynBitOr
            | DynBitXor | DynShl | DynShr | DynIndex | RtAdd | RtSub | RtMul | RtDiv | RtRem => {
                self.argc(i, d, 2);
                self.res_eq(i, d, Type::Any);
            }
            DynNeg | DynBitNot => {
                self.argc(i, d, 1);
                self.res_eq(i, d, Type::Any);
            }
            DynNot | DynTruthy => {
                self.argc(i, d, 1);
                self.res_is(i, d, "bool or any", |t| matches!(t, Type::Bool | Type::Any));
            }
            DynCmp => {
                self.argc(i, d, 2);
                self.res_is(i, d, "bool or any", |t| matches!(t, Type::Bool | Type::Any));
            }
            DynLen => {
                self.argc(i, d, 1);
                self.res_is(i, d, "i64 or any", |t| matches!(t, Type::I64 | Type::Any));
            }
            RtLen => {
                self.argc(i, d, 1);
                self.res_eq(i, d, Type::I64);
            }
            RtCmp => {
                self.argc(i, d, 2);
                self.res_eq(i, d, Type::Bool);
            }
            DynCast => {
                self.argc(i, d, 1);
                self.res_is(i, d, "i64 or f64", |t| matches!(t, Type::I64 | Type::F64));
            }
            DynSetIndex => {
                self.argc(i, d, 3);
            }
            DynCall | DynMethod | RtMethod => {
                self.argc_min(i, d, 1);
                self.res_eq(i, d, Type::Any);
            }
            DynBuiltin | RtBuiltin => {
                if let Imm::Builtin(b) = d.imm {
                    self.argc(i, d, b.arity());
                }
                self.res_eq(i, d, Type::Any);
            }
            Const => {
                self.argc(i, d, 0);
                if let Imm::Const(c) = &d.imm {
                    let want = match c {
                        crate::instructions::Const::Int(_) => Type::I64,
                        crate::instructions::Const::Float(_) => Type::F64,
                        crate::instructions::Const::Bool(_) => Type::Bool,
                        crate::instructions::Const::Nil => Type::Unit,
                        crate::instructions::Const::Str(_) => {
                            self.err_inst(i, "string literals need `str.const`, not `arith.const`");
                            return;
                        }
                    };
                    self.res_eq(i, d, want);
                }
            }
            AddI | SubI | MulI | DivI | RemI | AddIWrap | SubIWrap | MulIWrap | AndI | OrI
            | XorI | ShlI | ShrI => {
                self.args_eq(i, d, 2, Type::I64);
                self.res_eq(i, d, Type::I64);
            }
            NegI | NotI => {
                self.args_eq(i, d, 1, Type::I64);
                self.res_eq(i, d, Type::I64);
            }
            AddF | SubF | MulF | DivF | RemF => {
                self.args_eq(i, d, 2, Type::F64);
                self.res_eq(i, d, Type::F64);
            }
            NegF => {
                self.args_eq(i, d, 1, Type::F64);
                self.res_eq(i, d, Type::F64);
            }
            CmpI => {
                self.args_eq(i, d, 2, Type::I64);
                self.res_eq(i, d, Type::Bool);
            }
            CmpF => {
                self.args_eq(i, d, 2, Type::F64);
                self.res_eq(i, d, Type::Bool);
            }
            CmpB => {
                self.args_eq(i, d, 2, Type::Bool);
                self.res_eq(i, d, Type::Bool);
                if let Imm::Cmp(p) = d.imm {
                    if !matches!(p, CmpPred::Eq | CmpPred::Ne) {
                        self.err_inst(
                            i,
                            format!("`arith.cmpb` only compares with eq or ne, not {}", p.name()),
                        );
                    }
                }
            }
            Not => {
                self.args_eq(i, d, 1, Type::Bool);
                self.res_eq(i, d, Type::Bool);
            }
            IToF => {
                self.args_eq(i, d, 1, Type::I64);
                self.res_eq(i, d, Type::F64);
            }
            FToI => {
                self.args_eq(i, d, 1, Type::F64);
                self.res_eq(i, d, Type::I64);
            }
            Br => {
                self.argc(i, d, 0);
                self.dests(i, d, 1);
            }
            CondBr => {
                self.args_eq(i, d, 1, Type::Bool);
                self.dests(i, d, 2);
            }
            Switch => {
                self.args_eq(i, d, 1, Type::I64);
                if let Imm::Cases(cases) = &d.imm {
                    self.dests(i, d, cases.len() + 1);
                    let mut seen = HashSet::new();
                    for c in cases {
                        if !seen.insert(*c) {
                            self.err_inst(i, format!("case value {c} appears twice"));
                        }
                    }
                }
            }
            Return => {
                if self.argc(i, d, 1) {
                    let ret = self.f.ret;
                    self.arg_is(
                        i,
                        d,
                        0,
                        &format!("the return type {ret} (or a type that fits it)"),
                        |t| t.fits(ret),
                    );
                }
            }
            Trap => {
                self.argc(i, d, 0);
            }
            Call => self.check_call(i, d),
            CallIndirect => {
                if self.argc_min(i, d, 1) {
                    // `any`: whether the value can be called is checked at run time.
                    self.arg_is(i, d, 0, "func, closure or any", |t| {
                        matches!(t, Type::Func | Type::Closure | Type::Any)
                    });
                }
            }
            FuncRef => {
                self.argc(i, d, 0);
                if let Some(c) = self.callee(d) {
                    if c.attrs.captures != 0 {
                        self.err_inst(
                            i,
                            format!(
                                "`func.ref` of {}, which captures {} values (use `func.closure`)",
                                Symbol(&c.name),
                                c.attrs.captures
                            ),
                        );
                    }
                }
                self.res_eq(i, d, Type::Func);
            }
            MakeClosure => {
                if let Some(c) = self.callee(d) {
                    if c.attrs.captures as usize != d.args.len() {
                        self.err_inst(
                            i,
                            format!(
                                "{} captures {} values, {} given",
                                Symbol(&c.name),
                                c.attrs.captures,
                                d.args.len()
                            ),
                        );
                    } else {
                        let params = c.params.clone();
                        for (k, &p) in params.iter().enumerate().take(d.args.len()) {
                            self.arg_is(i, d, k, &format!("a type fitting {p}"), |t| t.fits(p));
                        }
                    }
                }
                self.res_eq(i, d, Type::Closure);
            }
            GlobalLoad => {
                self.argc(i, d, 0);
                self.check_global(i, d);
                self.res_eq(i, d, Type::Any);
            }
            GlobalStore => {
                self.argc(i, d, 1);
                self.check_global(i, d);
            }
            CellNew => {
                if d.args.len() > 1 {
                    self.err_inst(
                        i,
                        format!(
                            "`mem.cell_new` takes at most 1 operand, {} given",
                            d.args.len()
                        ),
                    );
                }
                self.res_eq(i, d, Type::Cell);
            }
            CellLoad => {
                self.args_eq(i, d, 1, Type::Cell);
                self.res_eq(i, d, Type::Any);
            }
            CellStore => {
                if self.argc(i, d, 2) {
                    self.arg_eq(i, d, 0, Type::Cell);
                }
            }
            StackAlloc => {
                self.res_is(i, d, "an array type", is_array);
            }
            ArrayNew => {
                self.res_is(i, d, "an array type", is_array);
                if let Some(Type::Array(e)) = self.result_ty(d) {
                    let e = e.to_type();
                    for k in 0..d.args.len() {
                        self.arg_is(i, d, k, &format!("a type fitting {e}"), |t| t.fits(e));
                    }
                }
            }
            ArrayGet => {
                if self.argc(i, d, 2) {
                    self.arg_is(i, d, 0, "an array type", is_array);
                    self.arg_eq(i, d, 1, Type::I64);
                    if let Some(Type::Array(e)) = self.arg_ty(d, 0) {
                        let e = e.to_type();
                        self.res_is(i, d, &format!("{e} (the element type) or any"), |t| {
                            e.fits(t)
                        });
                    }
                }
            }
            ArraySet => {
                if self.argc(i, d, 3) {
                    self.arg_is(i, d, 0, "an array type", is_array);
                    self.arg_eq(i, d, 1, Type::I64);
                    if let Some(Type::Array(e)) = self.arg_ty(d, 0) {
                        let e = e.to_type();
                        self.arg_is(i, d, 2, &format!("a type fitting {e}"), |t| t.fits(e));
                    }
                }
            }
            ArrayLen => {
                if self.argc(i, d, 1) {
                    self.arg_is(i, d, 0, "an array type", is_array);
                }
                self.res_eq(i, d, Type::I64);
            }
            ArrayPush => {
                if self.argc(i, d, 2) {
                    self.arg_is(i, d, 0, "an array type", is_array);
                    if let Some(Type::Array(e)) = self.arg_ty(d, 0) {
                        let e = e.to_type();
                        self.arg_is(i, d, 1, &format!("a type fitting {e}"), |t| t.fits(e));
                    }
                }
            }
            ArrayConcat => {
                if self.argc(i, d, 2) {
                    self.arg_is(i, d, 0, "an array type", is_array);
                    self.arg_is(i, d, 1, "an array type", is_array);
                }
                self.res_is(i, d, "an array type", is_array);
            }
            TupleNew => self.res_eq(i, d, Type::Tuple),
            StrConst => {
                self.argc(i, d, 0);
                if let Imm::Const(c) = &d.imm {
                    if !matches!(c, crate::instructions::Const::Str(_)) {
                        self.err_inst(i, "`str.const` needs a string literal");
                    }
                }
                self.res_eq(i, d, Type::Str);
            }
            StrConcat => {
                self.args_eq(i, d, 2, Type::Str);
                self.res_eq(i, d, Type::Str);
            }
            StrLen => {
                self.args_eq(i, d, 1, Type::Str);
                self.res_eq(i, d, Type::I64);
            }
            StrFrom => {
                self.argc(i, d, 1);
                self.res_eq(i, d, Type::Str);
            }
            StrIndex => {
                if self.argc(i, d, 2) {
                    self.arg_eq(i, d, 0, Type::Str);
                    self.arg_eq(i, d, 1, Type::I64);
                }
                self.res_eq(i, d, Type::Str);
            }
            StrCmp => {
                self.args_eq(i, d, 2, Type::Str);
                self.res_eq(i, d, Type::Bool);
            }
            Print | Println => {
                self.res_is(i, d, "unit or any", |t| matches!(t, Type::Unit | Type::Any))
            }
            GuardType => {
                if self.argc(i, d, 1) {
                    self.arg_eq(i, d, 0, Type::Any);
                }
                self.res_is(i, d, "a concrete type", Type::is_concrete);
                if self.f.level != Level::Dyn && d.deopt.is_none() {
                    self.err(
                        Some(ErrorLocation::Inst(i)),
                        "a guard above the dyn level needs a deopt state",
                    );
                }
            }
        }
        if let Some(ds) = &d.deopt {
            self.check_deopt(i, d.opcode, ds);
        }
    }

    /// A deopt state names a `dyn`-level function, a position inside one of its blocks, and
    /// only values that the target defines.
    fn check_deopt(&mut self, i: Inst, opcode: Opcode, ds: &crate::DeoptState) {
        let at = Some(ErrorLocation::Inst(i));
        if opcode != Opcode::GuardType {
            self.err(at, "only guards carry a deopt state");
        }
        let Some(target) = self.m.funcs.get(ds.func) else {
            self.err(at, format!("deopt target {} does not exist", ds.func));
            return;
        };
        if target.level != Level::Dyn {
            self.err(
                at,
                format!("deopt target @{} is not at the dyn level", target.name),
            );
        }
        if !target.attrs.frozen {
            // Guards resume in it by position: passes must not change it.
            self.err(at, format!("deopt target @{} is not frozen", target.name));
        }
        if !target.layout.is_block_inserted(ds.block) {
            self.err(
                at,
                format!("deopt block {} is not in @{}", ds.block, target.name),
            );
            return;
        }
        if ds.index as usize >= target.layout.block_insts(ds.block).len() {
            self.err(
                at,
                format!("deopt index {} is past the end of {}", ds.index, ds.block),
            );
        }
        for &(tv, _) in &ds.values {
            let defined = target
                .dfg
                .values
                .get(tv)
                .is_some_and(|v| !matches!(v.def, ValueDef::Unused));
            if !defined {
                self.err(
                    at,
                    format!("deopt value {tv} is not defined in @{}", target.name),
                );
            }
        }
    }

    /// The callee of a `func.*` op, reporting a dangling id.
    fn callee(&mut self, d: &InstData) -> Option<&'a Function> {
        let m = self.m;
        match d.imm {
            Imm::Func(c) => match m.funcs.get(c) {
                Some(f) => Some(f),
                None => {
                    self.errors.push(VerifierError {
                        func: self.id,
                        location: None,
                        message: format!("`{}` refers to {c}, which does not exist", d.opcode),
                    });
                    None
                }
            },
            _ => None,
        }
    }

    fn check_call(&mut self, i: Inst, d: &InstData) {
        let Some(c) = self.callee(d) else { return };
        if d.args.len() != c.params.len() {
            self.err_inst(
                i,
                format!(
                    "{} takes {} arguments, {} given",
                    Symbol(&c.name),
                    c.params.len(),
                    d.args.len()
                ),
            );
        } else {
            for (k, &p) in c.params.iter().enumerate() {
                self.arg_is(i, d, k, &format!("a type fitting {p}"), |t| t.fits(p));
            }
        }
        let ret = c.ret;
        self.res_is(
            i,
            d,
            &format!("{ret} (the return type of {})", Symbol(&c.name)),
            |t| ret.fits(t),
        );
    }

    fn check_global(&mut self, i: Inst, d: &InstData) {
        if let Imm::Global(g) = d.imm {
            if self.m.globals.get(g).is_none() {
                self.err_inst(i, format!("global {g} does not exist"));
            }
        }
    }
}

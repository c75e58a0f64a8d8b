//! `specialize`: type specialization.
//!
//! Given a `dyn`-level function and an argument type signature, infers a type for every value
//! (a forward dataflow over the lattice ⊥ < concrete type < `any`, iterated to a fixpoint) and
//! produces a copy of the function keyed by the signature (`@fib$i64`) in which `dyn` ops whose
//! operand types are known become typed ops (`dyn.add` on two `i64` → checked `arith.addi`,
//! `dyn.index` on `array<any>` and `i64` → `array.get`, ...). Calls whose argument types are
//! known call specializations of their callees in turn, so the inference is interprocedural:
//! specializations and their return types are solved together to a global fixpoint, which also
//! covers recursion (a recursive call first contributes ⊥, then the return type found so far).
//!
//! Where an `any` operand meets a known numeric operand (`acc + xs[i]` with `acc: i64`), the
//! pass speculates that both have the same type (and an `any` indexed by an int, that it is an
//! array), and inserts a `guard.type` whose deopt state
//! resumes the original function at the guarded instruction, with every value live there (a
//! function that may deoptimize can only promise to return `any`, since the rest of the call
//! runs in the original). If no
//! `dyn` op remains and every value is concrete (except the polymorphic sources the verifier
//! allows), the copy is at level `typed`; otherwise it stays `dyn` and the reason is reported.
//!
//! Soundness: every rewrite applies a typed op exactly where the run-time types are the ones the
//! typed op assumes, and typed ops have the dyn op's semantics on those types (checked integer
//! arithmetic raises the same overflow and division errors, mixed int/float arithmetic converts
//! the int first, exactly as the dynamic ops do). Types are proven by the dataflow except for
//! speculated operands, which are checked by guards; a failing guard hands its live values to the
//! unspecialized original, which then computes exactly what it would have computed had it run
//! from the start. The original functions are kept.
//!
//! Modes: with `sig=(i64,f64)` every `dyn` function with that many parameters (or only the one
//! named by `func=NAME`) gets a specialization; without options the whole program is specialized
//! from its entry function down through every call with known argument types (the entry and the
//! call sites are redirected to the specializations), and every function whose parameters all
//! carry annotations (`x: i64`) is specialized for them. The runtime specializes one function for
//! the signature the profiler observed (`specialize_function_limited`).

use crate::analysis::Liveness;
use crate::pass::{ModuleCx, OptionInfo, Pass, PassInfo, PassOptions, Scope};
use crate::registry::PassEntry;
use ruchy_ir::{
    utils, Block, Builtin, CmpPred, ControlFlowGraph, DeoptState, ElemType, FuncId, Function, Imm,
    Inst, InstData, Level, Module, Opcode, SrcLoc, Type, Value, ValueDef,
};
use smallvec::SmallVec;
use std::collections::{BTreeMap, HashMap};

pub static INFO: PassInfo = PassInfo {
    name: "specialize",
    description: "Infers types and makes typed copies of functions for argument type signatures.",
    scope: Scope::Module,
    options: &[
        OptionInfo {
            name: "sig",
            description: "argument types to specialize for, e.g. (i64,f64)",
            default: "",
        },
        OptionInfo {
            name: "func",
            description: "only this function (with sig)",
            default: "",
        },
    ],
};

pub const ENTRY: PassEntry = PassEntry {
    info: &INFO,
    create,
};

/// The most specializations one function may have; calls with further signatures use the
/// generic function.
pub const MAX_SPECIALIZATIONS_PER_FUNCTION: usize = 8;
/// A bound on the whole module, against code explosion.
const MAX_SPECIALIZATIONS: usize = 512;

fn create(options: &PassOptions) -> Result<Box<dyn Pass>, String> {
    let sig = match options.get("sig") {
        Some(s) => Some(parse_sig(s)?),
        None => None,
    };
    let func = options.get("func").map(str::to_string);
    if func.is_some() && sig.is_none() {
        return Err("option `func` needs `sig`".into());
    }
    Ok(Box::new(Specialize { sig, func }))
}

/// Parses `(i64,f64)`.
pub fn parse_sig(s: &str) -> Result<Vec<Type>, String> {
    let inner = s
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("`sig` must look like (i64,f64), not `{s}`"))?;
    if inner.trim().is_empty() {
        return Ok(vec![]);
    }
    inner
        .split(',')
        .map(|t| {
            Type::parse(t.trim()).ok_or_else(|| format!("unknown type `{}` in `sig`", t.trim()))
        })
        .collect()
}

struct Specialize {
    sig: Option<Vec<Type>>,
    func: Option<String>,
}

impl Pass for Specialize {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run_module(&mut self, module: &mut Module, cx: &mut ModuleCx<'_>) -> Result<bool, String> {
        let mut sp = Specializer::new(module);
        match &self.sig {
            Some(sig) => {
                let targets: Vec<FuncId> = module
                    .funcs
                    .iter()
                    .filter(|(_, f)| f.level == Level::Dyn && f.params.len() == sig.len())
                    .filter(|(_, f)| self.func.as_deref().is_none_or(|n| n == f.name))
                    .map(|(id, _)| id)
                    .collect();
                if let Some(name) = &self.func {
                    if targets.is_empty() {
                        return Err(format!(
                            "no dyn-level function @{name} with {} parameters",
                            sig.len()
                        ));
                    }
                }
                for f in targets {
                    sp.request(module, f, sig.clone());
                }
            }
            None => {
                if let Some(entry) = module.entry {
                    if module.funcs[entry].level == Level::Dyn
                        && module.funcs[entry].params.is_empty()
                    {
                        sp.request(module, entry, vec![]);
                    }
                }
                // Annotations are hints: a function whose parameters are all annotated gets a
                // specialization for them too (callers with other types keep the generic one).
                let hinted: Vec<(FuncId, Vec<Type>)> = module
                    .funcs
                    .iter()
                    .filter(|(_, f)| f.level == Level::Dyn && !f.name.contains('$'))
                    .filter_map(|(id, f)| {
                        let hints = f.attrs.hints.as_ref()?;
                        let sig: Option<Vec<Type>> = hints.iter().copied().collect();
                        sig.filter(|s| s.len() == f.params.len() && !s.is_empty())
                            .map(|s| (id, s))
                    })
                    .collect();
                for (f, sig) in hinted {
                    sp.request(module, f, sig);
                }
            }
        }
        let result = sp.finish(module);
        if self.sig.is_none() {
            if let Some(entry) = module.entry {
                if let Some(&(_, id)) = result
                    .created
                    .iter()
                    .find(|(k, _)| k.0 == entry && k.1.is_empty())
                {
                    module.entry = Some(id);
                }
            }
        }
        cx.stats
            .add("functions specialized", result.created.len() as u64);
        cx.stats
            .add("typed functions produced", result.typed as u64);
        cx.stats.add("dyn ops made typed", result.rewritten as u64);
        cx.stats.add("guards inserted", result.guards as u64);
        for r in result.remarks {
            cx.stats.remark(r);
        }
        Ok(!result.created.is_empty())
    }
}

/// What specializing produced.
#[derive(Debug, Default)]
pub struct SpecializeResult {
    /// `((original, signature), specialization)` for each new function.
    pub created: Vec<((FuncId, Vec<Type>), FuncId)>,
    pub typed: usize,
    pub rewritten: usize,
    pub guards: usize,
    /// Why specializations stayed at the dyn level.
    pub remarks: Vec<String>,
}

/// Specializes one function for one signature (and, transitively, its callees). Returns the id
/// of the specialization, which is at level `typed` when everything could be typed.
pub fn specialize_function(
    module: &mut Module,
    func: FuncId,
    sig: &[Type],
) -> (Option<FuncId>, SpecializeResult) {
    specialize_function_limited(module, func, sig, MAX_SPECIALIZATIONS_PER_FUNCTION)
}

/// [`specialize_function`] allowing at most `max_per_function` specializations of any callee
/// in the module (counting those made earlier); calls that would need more keep calling the
/// generic function. `func` itself is specialized whatever it has already: how many signatures
/// it may have is its caller's policy (the runtime's megamorphism limit counts the signatures
/// it was called with, not the specializations other functions' runs made of it, which may
/// never run).
pub fn specialize_function_limited(
    module: &mut Module,
    func: FuncId,
    sig: &[Type],
    max_per_function: usize,
) -> (Option<FuncId>, SpecializeResult) {
    let mut sp = Specializer::new(module);
    sp.max_per_function = usize::MAX;
    let k = sp.request(module, func, sig.to_vec());
    sp.max_per_function = max_per_function;
    let existing = k.and_then(|k| sp.specs[k].existing);
    let r = sp.finish(module);
    let id = existing.or_else(|| {
        k.and_then(|_| {
            r.created
                .iter()
                .find(|(key, _)| key.0 == func && key.1 == sig)
                .map(|(_, id)| *id)
        })
    });
    (id, r)
}

/// The abstract type of a value: `None` is ⊥ (no value seen yet).
type Abs = Option<Type>;

fn join(a: Abs, b: Abs) -> Abs {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(x), Some(y)) if x == y => Some(x),
        (Some(Type::Array(_)), Some(Type::Array(_))) => Some(Type::Array(ElemType::Any)),
        _ => Some(Type::Any),
    }
}

/// One specialization being solved.
struct Spec {
    orig: FuncId,
    sig: Vec<Type>,
    types: HashMap<Value, Type>,
    /// Operands speculated to have a type: (instruction, operand index) → type.
    speculate: BTreeMap<(Inst, usize), Type>,
    /// Calls redirected to specializations: call instruction → spec index.
    calls: HashMap<Inst, usize>,
    ret: Abs,
    /// A typed specialization for `(orig, sig)` already in the module (made by an earlier run,
    /// such as the runtime's): calls go to it, and nothing is inferred or written for it.
    existing: Option<FuncId>,
    /// Whether `infer` has run on it (or it is `existing`).
    inferred: bool,
}

struct Specializer {
    specs: Vec<Spec>,
    index: HashMap<(FuncId, Vec<Type>), usize>,
    /// Specializations per function, including those already in the module.
    per_func: HashMap<FuncId, usize>,
    max_per_function: usize,
}

impl Specializer {
    fn new(module: &Module) -> Self {
        let mut per_func: HashMap<FuncId, usize> = HashMap::new();
        for (_, f) in module.funcs.iter() {
            if let Some((base, _)) = f.name.split_once('$') {
                if let Some(orig) = module.func_by_name(base) {
                    *per_func.entry(orig).or_default() += 1;
                }
            }
        }
        Specializer {
            specs: vec![],
            index: HashMap::new(),
            per_func,
            max_per_function: MAX_SPECIALIZATIONS_PER_FUNCTION,
        }
    }

    /// The spec for `(f, sig)`, created if allowed.
    fn request(&mut self, module: &Module, f: FuncId, sig: Vec<Type>) -> Option<usize> {
        if let Some(&k) = self.index.get(&(f, sig.clone())) {
            return Some(k);
        }
        let func = &module.funcs[f];
        if func.level != Level::Dyn
            || func.params.len() != sig.len()
            || func.layout.blocks().is_empty()
        {
            return None;
        }
        // Reuse a typed specialization an earlier run made (the runtime specializes one
        // function at a time: a callee compiled on its own before its caller).
        if let Some(id) = module.func_by_name(&spec_name(&func.name, &sig)) {
            let g = &module.funcs[id];
            if g.level != Level::Dyn && g.params == sig {
                let ret = g.ret;
                return Some(self.add_spec(f, sig, Some((id, ret))));
            }
        }
        let n = self.per_func.entry(f).or_default();
        if *n >= self.max_per_function || self.specs.len() >= MAX_SPECIALIZATIONS {
            return None;
        }
        *n += 1;
        Some(self.add_spec(f, sig, None))
    }

    /// A new spec of `f` for `sig`; `existing` is a typed specialization already in the
    /// module (and its return type) that the spec stands for.
    fn add_spec(&mut self, f: FuncId, sig: Vec<Type>, existing: Option<(FuncId, Type)>) -> usize {
        let k = self.specs.len();
        self.specs.push(Spec {
            orig: f,
            sig: sig.clone(),
            types: HashMap::new(),
            speculate: BTreeMap::new(),
            calls: HashMap::new(),
            ret: existing.map(|(_, ret)| ret),
            existing: existing.map(|(id, _)| id),
            inferred: existing.is_some(),
        });
        self.index.insert((f, sig), k);
        k
    }

    /// Solves all specs to a global fixpoint, then writes the specialized functions.
    fn finish(mut self, module: &mut Module) -> SpecializeResult {
        self.solve(module);
        // A specialization that never returns (every path recurses or raises) is given return
        // type `any`, and everything is solved again: afterwards no reachable value is ⊥.
        while self.specs.iter().any(|s| s.ret.is_none()) {
            for s in self.specs.iter_mut() {
                if s.ret.is_none() {
                    s.ret = Some(Type::Any);
                }
            }
            self.solve(module);
        }
        self.write(module)
    }

    /// Infers all specs until no return type changes.
    ///
    /// Each round goes through the specs from the last made to the first: a callee is made
    /// after its first caller, so a return type reaches a chain of callers in one round rather
    /// than one caller per round. Stopping before the fixed point would leave a caller
    /// believing a return type its callee no longer has (ill-typed IR), so there is no round
    /// limit: return types only grow (⊥ → type → any), and each round but the last changes one.
    fn solve(&mut self, module: &Module) {
        loop {
            let mut changed = false;
            let mut k = self.specs.len();
            while k > 0 {
                k -= 1;
                if self.specs[k].existing.is_some() {
                    continue;
                }
                let old = self.specs[k].ret;
                self.infer(module, k);
                if self.specs[k].ret != old {
                    changed = true;
                }
            }
            // Specs made during the round (appended, so not visited yet) have a ⊥ return type
            // and must be inferred too.
            if !changed && self.specs.iter().all(|s| s.inferred) {
                break;
            }
        }
    }

    /// Writes the specialized functions into the module.
    fn write(self, module: &mut Module) -> SpecializeResult {
        let mut result = SpecializeResult::default();
        // Declare every specialization first so calls between them can refer to ids.
        let mut ids = vec![];
        for s in &self.specs {
            if let Some(id) = s.existing {
                ids.push(id);
                continue;
            }
            let orig = &module.funcs[s.orig];
            let name = unique_name(module, &spec_name(&orig.name, &s.sig));
            let mut f = Function::new(name, s.sig.clone(), orig.ret, Level::Dyn);
            f.attrs = orig.attrs.clone();
            f.attrs.frozen = false;
            f.attrs.defaults = vec![];
            f.attrs.hints = None;
            f.loc = orig.loc;
            ids.push(module.add_function(f));
        }
        for (k, s) in self.specs.iter().enumerate() {
            if s.existing.is_some() {
                continue;
            }
            let (func, stats) = rewrite(module, k, &self.specs, &ids);
            result.rewritten += stats.rewritten;
            result.guards += stats.guards;
            if func.level == Level::Typed {
                result.typed += 1;
            } else if let Some(reason) = stats.reasons.first() {
                let more = if stats.reasons.len() > 1 {
                    format!(" (and {} more)", stats.reasons.len() - 1)
                } else {
                    String::new()
                };
                result
                    .remarks
                    .push(format!("@{} stays dyn: {reason}{more}", func.name));
            }
            if stats.guards > 0 {
                // Guards resume in the original by position: no pass may change it now.
                module.funcs[s.orig].attrs.frozen = true;
            }
            module.funcs[ids[k]] = func;
            result.created.push(((s.orig, s.sig.clone()), ids[k]));
        }
        result
    }

    /// Infers the types of spec `k` given the current return types of the others.
    fn infer(&mut self, module: &Module, k: usize) {
        self.specs[k].inferred = true;
        let f = &module.funcs[self.specs[k].orig];
        let mut types: HashMap<Value, Type> = HashMap::new();
        let mut speculate = BTreeMap::new();
        let mut calls = HashMap::new();
        let Some(entry) = f.entry_block() else { return };
        for (&p, &t) in f.dfg.block_params(entry).iter().zip(&self.specs[k].sig) {
            types.insert(p, t);
        }
        // Incoming edges per block: (branch inst, destination index).
        let mut edges: HashMap<Block, Vec<(Inst, usize)>> = HashMap::new();
        for &b in f.layout.blocks() {
            if let Some(t) = f.layout.last_inst(b) {
                for (d, dest) in f.dfg.insts[t].dests.iter().enumerate() {
                    edges.entry(dest.block).or_default().push((t, d));
                }
            }
        }
        let mut ret: Abs = None;
        let mut iterations = 0;
        loop {
            iterations += 1;
            let mut changed = false;
            for &b in f.layout.blocks() {
                if b != entry {
                    for (idx, &p) in f.dfg.block_params(b).iter().enumerate() {
                        let declared = f.dfg.value_type(p);
                        let mut t: Abs = if declared.is_concrete() {
                            Some(declared)
                        } else {
                            None
                        };
                        if !declared.is_concrete() {
                            for &(inst, d) in edges.get(&b).map(|v| v.as_slice()).unwrap_or(&[]) {
                                let a = f.dfg.insts[inst].dests[d].args[idx];
                                t = join(t, types.get(&a).copied());
                            }
                        }
                        if let Some(t) = t {
                            if types.get(&p) != Some(&t) {
                                types.insert(p, t);
                                changed = true;
                            }
                        }
                    }
                }
                for &i in f.layout.block_insts(b) {
                    let d = &f.dfg.insts[i];
                    if d.opcode == Opcode::Return {
                        ret = join(ret, types.get(&d.args[0]).copied());
                        continue;
                    }
                    // `x[i] = v` with `x` of unknown type and an int `i`: speculate an array, as
                    // for reads (it has no result, so `transfer` does not see it).
                    if d.opcode == Opcode::DynSetIndex {
                        let t = |k: usize| d.args.get(k).and_then(|v| types.get(v)).copied();
                        if t(0) == Some(Type::Any) && t(1) == Some(Type::I64) {
                            speculate.insert((i, 0), Type::Array(ElemType::Any));
                        }
                    }
                    let Some(r) = d.result else { continue };
                    let t = self.transfer(module, f, d, i, &types, &mut speculate, &mut calls);
                    if let Some(t) = t {
                        let joined = join(types.get(&r).copied(), Some(t)).unwrap_or(t);
                        if types.get(&r) != Some(&joined) {
                            types.insert(r, joined);
                            changed = true;
                        }
                    }
                }
            }
            // Types only grow (⊥ → type → any, an array's element type too), so this ends
            // within a few sweeps per value; the bound only guards against a bug here.
            if !changed || iterations > 4 * f.dfg.values.len() + 4 {
                break;
            }
        }
        let s = &mut self.specs[k];
        // A specialization that may deoptimize returns whatever the original returns from the
        // resume point, so it can only promise `any`.
        if !speculate.is_empty() {
            ret = Some(Type::Any);
        }
        s.types = types;
        s.speculate = speculate;
        s.calls = calls;
        s.ret = join(s.ret, ret);
    }

    /// The type of an instruction's result given its operands' types; records speculations and
    /// call redirections.
    #[allow(clippy::too_many_arguments)]
    fn transfer(
        &mut self,
        module: &Module,
        f: &Function,
        d: &InstData,
        i: Inst,
        types: &HashMap<Value, Type>,
        speculate: &mut BTreeMap<(Inst, usize), Type>,
        calls: &mut HashMap<Inst, usize>,
    ) -> Abs {
        let declared = d.result.map(|r| f.dfg.value_type(r)).unwrap_or(Type::Unit);
        let ty = |v: Value| -> Abs { types.get(&v).copied() };
        let arg = |n: usize| -> Abs { d.args.get(n).and_then(|&v| ty(v)) };
        use Opcode::*;
        match d.opcode {
            DynAdd | DynSub | DynMul | DynDiv | DynRem => {
                let (a, b) = (arg(0)?, arg(1)?);
                let num = |t: Type| matches!(t, Type::I64 | Type::F64);
                match (a, b) {
                    (Type::I64, Type::I64) => Some(Type::I64),
                    (x, y) if num(x) && num(y) => Some(Type::F64),
                    // A string plus anything is the string with the other's text (`str.from`),
                    // whatever that is: `any` included.
                    (Type::Str, _) | (_, Type::Str) if d.opcode == DynAdd => Some(Type::Str),
                    (Type::Array(_), Type::Array(_)) if d.opcode == DynAdd => {
                        Some(Type::Array(ElemType::Any))
                    }
                    // An unknown value added to an array is speculated to be an array too.
                    (Type::Any, Type::Array(_)) if d.opcode == DynAdd => {
                        speculate.insert((i, 0), Type::Array(ElemType::Any));
                        Some(Type::Array(ElemType::Any))
                    }
                    (Type::Array(_), Type::Any) if d.opcode == DynAdd => {
                        speculate.insert((i, 1), Type::Array(ElemType::Any));
                        Some(Type::Array(ElemType::Any))
                    }
                    (Type::Any, x) if num(x) => {
                        speculate.insert((i, 0), x);
                        Some(x)
                    }
                    (x, Type::Any) if num(x) => {
                        speculate.insert((i, 1), x);
                        Some(x)
                    }
                    _ => Some(Type::Any),
                }
            }
            // `**` has no typed form (an int result may become a float).
            DynPow => Some(Type::Any),
            DynNeg => match arg(0)? {
                t @ (Type::I64 | Type::F64) => Some(t),
                _ => Some(Type::Any),
            },
            DynBitAnd | DynBitOr | DynBitXor | DynShl | DynShr => match (arg(0)?, arg(1)?) {
                (Type::I64, Type::I64) => Some(Type::I64),
                _ => Some(Type::Any),
            },
            DynBitNot => match arg(0)? {
                Type::I64 => Some(Type::I64),
                _ => Some(Type::Any),
            },
            DynCmp => {
                let (a, b) = (arg(0), arg(1));
                let num = |t: Type| matches!(t, Type::I64 | Type::F64);
                match (a, b) {
                    (Some(Type::Any), Some(x)) if num(x) => {
                        speculate.insert((i, 0), x);
                    }
                    (Some(x), Some(Type::Any)) if num(x) => {
                        speculate.insert((i, 1), x);
                    }
                    _ => {}
                }
                Some(Type::Bool)
            }
            DynTruthy | DynNot => {
                if arg(0) == Some(Type::Any) {
                    speculate.insert((i, 0), Type::Bool);
                }
                Some(Type::Bool)
            }
            DynIndex => match (arg(0)?, arg(1)?) {
                (Type::Array(e), Type::I64) => Some(e.to_type()),
                (Type::Str, Type::I64) => Some(Type::Str),
                // A value of unknown type indexed by an int is most likely an array
                // (`grid[i][j]`): speculate so, behind a guard. A string there deoptimizes, and
                // code that keeps deoptimizing is given up by the runtime (`max_deopts`).
                (Type::Any, Type::I64) => {
                    speculate.insert((i, 0), Type::Array(ElemType::Any));
                    Some(Type::Any)
                }
                _ => Some(Type::Any),
            },
            DynMethod => {
                let name = match &d.imm {
                    Imm::Method(m) => m.as_str(),
                    _ => "",
                };
                match (arg(0)?, name, d.args.len()) {
                    (Type::Array(_) | Type::Str, "len", 1) => Some(Type::I64),
                    (t, "to_string", 1) if t.is_concrete() => Some(Type::Str),
                    _ => Some(Type::Any),
                }
            }
            DynBuiltin => {
                let Imm::Builtin(b) = d.imm else {
                    return Some(Type::Any);
                };
                let a = arg(0)?;
                // Only the builtins that have a typed form get a precise type.
                Some(match (b, a) {
                    (Builtin::Int, Type::I64 | Type::F64) => Type::I64,
                    (Builtin::Float, Type::I64 | Type::F64) => Type::F64,
                    (Builtin::Str, t) if t.is_concrete() => Type::Str,
                    _ => Type::Any,
                })
            }
            Call => {
                let Imm::Func(callee) = d.imm else {
                    return Some(declared);
                };
                // Decided again on every round: a redirection made while an argument's type
                // was still narrower must not outlive it (the call would pass an `any` to a
                // typed parameter).
                calls.remove(&i);
                let mut sig = vec![];
                for &a in &d.args {
                    sig.push(ty(a)?);
                }
                if is_prelude_iter(module, callee) && matches!(sig[..], [Type::Array(_)]) {
                    // `for x in xs` over an array: `iter` returns the array itself.
                    return Some(sig[0]);
                }
                let useful = sig.is_empty() || sig.iter().any(|t| t.is_concrete());
                let target = &module.funcs[callee];
                if !useful || target.level != Level::Dyn {
                    return Some(declared);
                }
                match self.request(module, callee, sig) {
                    Some(k) => {
                        calls.insert(i, k);
                        // ⊥ until the callee's returns are known (recursion).
                        self.specs[k].ret
                    }
                    None => Some(declared),
                }
            }
            GuardType => Some(declared),
            _ => Some(declared),
        }
    }
}

fn type_spelling(t: Type) -> String {
    match t {
        Type::Array(e) => format!("arr_{e}"),
        t => t.to_string(),
    }
}

fn spec_name(base: &str, sig: &[Type]) -> String {
    let mut s = format!("{base}$");
    s.push_str(
        &sig.iter()
            .map(|&t| type_spelling(t))
            .collect::<Vec<_>>()
            .join("$"),
    );
    s
}

fn unique_name(module: &Module, name: &str) -> String {
    if module.func_by_name(name).is_none() {
        return name.to_string();
    }
    let mut n = 2;
    loop {
        let candidate = format!("{name}.{n}");
        if module.func_by_name(&candidate).is_none() {
            return candidate;
        }
        n += 1;
    }
}

#[derive(Default)]
struct RewriteStats {
    rewritten: usize,
    guards: usize,
    reasons: Vec<String>,
}

/// Builds the specialized copy of `s`'s function. Values and blocks keep their numbers, so a
/// deopt state maps each value live in the original to the value of the same number here.
fn rewrite(module: &Module, k: usize, specs: &[Spec], ids: &[FuncId]) -> (Function, RewriteStats) {
    let s = &specs[k];
    let orig = &module.funcs[s.orig];
    let iter_fn = module
        .func_by_name("prelude.iter")
        .filter(|&g| is_prelude_iter(module, g));
    let mut f = orig.clone();
    f.name = module.funcs[ids[k]].name.clone();
    f.attrs.frozen = false;
    f.attrs.defaults = vec![];
    f.attrs.hints = None;
    f.params = s.sig.clone();
    f.ret = match s.ret {
        Some(t) => t,
        None => orig.ret,
    };
    let mut stats = RewriteStats::default();
    // Value types.
    let values: Vec<Value> = f.dfg.values.keys().collect();
    for v in values {
        if matches!(f.dfg.values[v].def, ValueDef::Unused) {
            continue;
        }
        if let Some(&t) = s.types.get(&v) {
            f.dfg.values[v].ty = t;
        }
    }
    let cfg = ControlFlowGraph::compute(orig);
    let liveness = Liveness::compute(orig, &cfg);
    let mut alias: HashMap<Value, Value> = HashMap::new();
    let blocks: Vec<Block> = f.layout.blocks().to_vec();
    for b in blocks {
        let insts: Vec<Inst> = f.layout.block_insts(b).to_vec();
        let mut out: Vec<Inst> = Vec::with_capacity(insts.len());
        for (index, &i) in insts.iter().enumerate() {
            let loc = f.dfg.insts[i].loc;
            // Guards for speculated operands, resuming the original before this instruction.
            let specs_here: Vec<(usize, Type)> = s
                .speculate
                .range((i, 0)..=(i, usize::MAX))
                .map(|(&(_, n), &t)| (n, t))
                .collect();
            for (n, t) in specs_here {
                let operand = f.dfg.insts[i].args[n];
                if f.dfg.value_type(operand) != Type::Any {
                    continue;
                }
                let live = liveness.live_before(orig, b, index);
                let state = DeoptState {
                    func: s.orig,
                    block: b,
                    index: index as u32,
                    values: live
                        .into_iter()
                        .map(|v| (v, utils::resolve_alias(&alias, v)))
                        .collect(),
                };
                let g = f.dfg.make_inst(
                    Opcode::GuardType,
                    &[operand],
                    Imm::None,
                    SmallVec::new(),
                    t,
                    loc,
                );
                f.dfg.insts[g].deopt = Some(Box::new(state));
                let gv = f.dfg.inst_result(g);
                f.dfg.insts[i].args[n] = gv;
                out.push(g);
                stats.guards += 1;
            }
            // Resolve operands through earlier rewrites.
            let d = &mut f.dfg.insts[i];
            for a in d.args.iter_mut() {
                *a = utils::resolve_alias(&alias, *a);
            }
            for dest in d.dests.iter_mut() {
                for a in dest.args.iter_mut() {
                    *a = utils::resolve_alias(&alias, *a);
                }
            }
            match rewrite_inst(&mut f, i, s, specs, ids, iter_fn, &mut out) {
                Rewritten::Same => out.push(i),
                Rewritten::Replaced => stats.rewritten += 1,
                Rewritten::Alias(v) => {
                    if let Some(r) = f.dfg.insts[i].result {
                        alias.insert(r, v);
                    }
                    stats.rewritten += 1;
                }
            }
        }
        f.layout.set_block_insts(b, out);
    }
    utils::replace_uses(&mut f, &alias);
    // Deopt states name values of the original; only their local sides were rewritten above.
    utils::remove_dead_pure_insts(&mut f);
    // The level: typed when no dyn op remains and only allowed values are `any`.
    let mut reasons = vec![];
    for (b, i) in f.insts_in_order() {
        let d = &f.dfg.insts[i];
        if d.opcode.dialect() == ruchy_ir::Dialect::Dyn {
            let operand_types: Vec<String> = d
                .args
                .iter()
                .map(|&a| f.dfg.value_type(a).to_string())
                .collect();
            reasons.push(format!(
                "`{}` on ({}) at {}",
                d.opcode,
                operand_types.join(", "),
                loc_text(d.loc, b)
            ));
        }
    }
    if reasons.is_empty() {
        // Block parameters may stay `any` (values of unknown type carried around a loop); the
        // ops that use them decide.
        for (b, i) in f.insts_in_order() {
            let d = &f.dfg.insts[i];
            let Some(r) = d.result else { continue };
            if f.dfg.value_type(r).is_concrete() {
                continue;
            }
            let allowed = match d.opcode {
                Opcode::Call => {
                    matches!(d.imm, Imm::Func(c) if module_ret(module, specs, ids, c) == Type::Any)
                }
                Opcode::ArrayGet => d
                    .args
                    .first()
                    .is_some_and(|&a| f.dfg.value_type(a) == Type::Array(ElemType::Any)),
                op => op.yields_any_by_nature(),
            };
            if !allowed {
                reasons.push(format!(
                    "`{}` produces any at {}",
                    d.opcode,
                    loc_text(d.loc, b)
                ));
            }
        }
    }
    if reasons.is_empty() {
        f.level = Level::Typed;
    }
    stats.reasons = reasons;
    (f, stats)
}

/// The return type of a callee: a specialization's solved type, or the function's own.
fn module_ret(module: &Module, specs: &[Spec], ids: &[FuncId], f: FuncId) -> Type {
    match ids.iter().position(|&id| id == f) {
        Some(k) => specs[k].ret.unwrap_or(Type::Any),
        None => module.funcs[f].ret,
    }
}

/// The prelude's `iter(xs)`, which `for x in xs` calls: it returns `xs` itself unless `xs` is a
/// string (then its characters). `specialize` knows that meaning, so a loop over an array keeps
/// the array's type (the prelude is part of the front end, and `for` over arrays is tested on
/// every tier).
fn is_prelude_iter(module: &Module, f: FuncId) -> bool {
    module
        .funcs
        .get(f)
        .is_some_and(|g| g.attrs.hidden && g.name == "prelude.iter" && g.params.len() == 1)
}

fn loc_text(loc: SrcLoc, b: Block) -> String {
    if loc.is_known() {
        loc.to_string()
    } else {
        b.to_string()
    }
}

enum Rewritten {
    /// Keep the instruction (possibly with updated types or callee).
    Same,
    /// New instructions were pushed in its place.
    Replaced,
    /// The instruction disappears; its result is this value.
    Alias(Value),
}

/// Rewrites one instruction for the known operand types, pushing replacements to `out`.
#[allow(clippy::too_many_arguments)]
fn rewrite_inst(
    f: &mut Function,
    i: Inst,
    s: &Spec,
    specs: &[Spec],
    ids: &[FuncId],
    iter_fn: Option<FuncId>,
    out: &mut Vec<Inst>,
) -> Rewritten {
    let d = f.dfg.insts[i].clone();
    let ty = |f: &Function, v: Value| f.dfg.value_type(v);
    let loc = d.loc;
    let result = d.result;
    let a0 = d.args.first().copied();
    let a1 = d.args.get(1).copied();
    // Build new instructions with the location of the one they replace.
    macro_rules! emit {
        ($f:expr, $op:expr, $args:expr, $imm:expr, $t:expr) => {{
            let n = $f.dfg.make_inst($op, $args, $imm, SmallVec::new(), $t, loc);
            out.push(n);
            $f.dfg.inst_result(n)
        }};
    }
    macro_rules! effect {
        ($f:expr, $op:expr, $args:expr) => {{
            let n = $f
                .dfg
                .make_inst($op, $args, Imm::None, SmallVec::new(), Type::Unit, loc);
            out.push(n);
        }};
    }
    use Opcode::*;
    match d.opcode {
        DynAdd | DynSub | DynMul | DynDiv | DynRem => {
            let (Some(a), Some(b)) = (a0, a1) else {
                return Rewritten::Same;
            };
            let (ta, tb) = (ty(f, a), ty(f, b));
            let num = |t: Type| matches!(t, Type::I64 | Type::F64);
            if ta == Type::I64 && tb == Type::I64 {
                let op = match d.opcode {
                    DynAdd => AddI,
                    DynSub => SubI,
                    DynMul => MulI,
                    DynDiv => DivI,
                    _ => RemI,
                };
                return Rewritten::Alias(emit!(f, op, &[a, b], Imm::None, Type::I64));
            }
            if num(ta) && num(tb) {
                let fa = if ta == Type::I64 {
                    emit!(f, IToF, &[a], Imm::None, Type::F64)
                } else {
                    a
                };
                let fb = if tb == Type::I64 {
                    emit!(f, IToF, &[b], Imm::None, Type::F64)
                } else {
                    b
                };
                let op = match d.opcode {
                    DynAdd => AddF,
                    DynSub => SubF,
                    DynMul => MulF,
                    DynDiv => DivF,
                    _ => RemF,
                };
                return Rewritten::Alias(emit!(f, op, &[fa, fb], Imm::None, Type::F64));
            }
            if d.opcode == DynAdd && (ta == Type::Str || tb == Type::Str) {
                let sa = if ta == Type::Str {
                    a
                } else {
                    emit!(f, StrFrom, &[a], Imm::None, Type::Str)
                };
                let sb = if tb == Type::Str {
                    b
                } else {
                    emit!(f, StrFrom, &[b], Imm::None, Type::Str)
                };
                return Rewritten::Alias(emit!(f, StrConcat, &[sa, sb], Imm::None, Type::Str));
            }
            if d.opcode == DynAdd && matches!(ta, Type::Array(_)) && matches!(tb, Type::Array(_)) {
                return Rewritten::Alias(emit!(
                    f,
                    ArrayConcat,
                    &[a, b],
                    Imm::None,
                    Type::Array(ElemType::Any)
                ));
            }
            // Types unknown (or a mix with no typed form): the runtime's generic arithmetic,
            // so that the rest of the function is still typed.
            let op = match d.opcode {
                DynAdd => RtAdd,
                DynSub => RtSub,
                DynMul => RtMul,
                DynDiv => RtDiv,
                _ => RtRem,
            };
            Rewritten::Alias(emit!(f, op, &[a, b], Imm::None, Type::Any))
        }
        DynNeg => match a0.map(|a| ty(f, a)) {
            Some(Type::I64) => Rewritten::Alias(emit!(
                f,
                NegI,
                &[a0.unwrap_or(d.args[0])],
                Imm::None,
                Type::I64
            )),
            Some(Type::F64) => Rewritten::Alias(emit!(f, NegF, &[d.args[0]], Imm::None, Type::F64)),
            _ => Rewritten::Same,
        },
        DynNot if a0.map(|a| ty(f, a)) == Some(Type::Bool) => {
            Rewritten::Alias(emit!(f, Not, &[d.args[0]], Imm::None, Type::Bool))
        }
        DynTruthy if a0.map(|a| ty(f, a)) == Some(Type::Bool) => Rewritten::Alias(d.args[0]),
        DynBitAnd | DynBitOr | DynBitXor | DynShl | DynShr => {
            let (Some(a), Some(b)) = (a0, a1) else {
                return Rewritten::Same;
            };
            if ty(f, a) != Type::I64 || ty(f, b) != Type::I64 {
                return Rewritten::Same;
            }
            let op = match d.opcode {
                DynBitAnd => AndI,
                DynBitOr => OrI,
                DynBitXor => XorI,
                DynShl => ShlI,
                _ => ShrI,
            };
            Rewritten::Alias(emit!(f, op, &[a, b], Imm::None, Type::I64))
        }
        DynBitNot if a0.map(|a| ty(f, a)) == Some(Type::I64) => {
            Rewritten::Alias(emit!(f, NotI, &[d.args[0]], Imm::None, Type::I64))
        }
        DynCmp => {
            let (Some(a), Some(b)) = (a0, a1) else {
                return Rewritten::Same;
            };
            let Imm::Cmp(pred) = d.imm else {
                return Rewritten::Same;
            };
            let (ta, tb) = (ty(f, a), ty(f, b));
            let num = |t: Type| matches!(t, Type::I64 | Type::F64);
            if ta == Type::I64 && tb == Type::I64 {
                return Rewritten::Alias(emit!(f, CmpI, &[a, b], Imm::Cmp(pred), Type::Bool));
            }
            // An int compared with a float is compared exactly (`i64::MAX < 2^63` holds), so it
            // may only be converted to a float when that conversion is exact: a constant within
            // ±2^53. Otherwise the runtime compares them (exactly).
            let exact = |f: &Function, v: Value, t: Type| {
                t == Type::F64
                    || utils::const_int(f, v).is_some_and(|c| c.unsigned_abs() <= 1u64 << 53)
            };
            if num(ta) && num(tb) && !(exact(f, a, ta) && exact(f, b, tb)) {
                return Rewritten::Alias(emit!(f, RtCmp, &[a, b], Imm::Cmp(pred), Type::Bool));
            }
            if num(ta) && num(tb) {
                let fa = if ta == Type::I64 {
                    emit!(f, IToF, &[a], Imm::None, Type::F64)
                } else {
                    a
                };
                let fb = if tb == Type::I64 {
                    emit!(f, IToF, &[b], Imm::None, Type::F64)
                } else {
                    b
                };
                return Rewritten::Alias(emit!(f, CmpF, &[fa, fb], Imm::Cmp(pred), Type::Bool));
            }
            if ta == Type::Str && tb == Type::Str {
                return Rewritten::Alias(emit!(f, StrCmp, &[a, b], Imm::Cmp(pred), Type::Bool));
            }
            if ta == Type::Bool && tb == Type::Bool && matches!(pred, CmpPred::Eq | CmpPred::Ne) {
                return Rewritten::Alias(emit!(f, CmpB, &[a, b], Imm::Cmp(pred), Type::Bool));
            }
            // Otherwise the runtime compares, as the interpreter does.
            Rewritten::Alias(emit!(f, RtCmp, &[a, b], Imm::Cmp(pred), Type::Bool))
        }
        DynIndex => {
            let (Some(a), Some(b)) = (a0, a1) else {
                return Rewritten::Same;
            };
            match (ty(f, a), ty(f, b)) {
                (Type::Array(e), Type::I64) => {
                    Rewritten::Alias(emit!(f, ArrayGet, &[a, b], Imm::None, e.to_type()))
                }
                (Type::Str, Type::I64) => {
                    Rewritten::Alias(emit!(f, StrIndex, &[a, b], Imm::None, Type::Str))
                }
                _ => Rewritten::Same,
            }
        }
        DynSetIndex => {
            let (Some(a), Some(b)) = (a0, a1) else {
                return Rewritten::Same;
            };
            if matches!(ty(f, a), Type::Array(ElemType::Any)) && ty(f, b) == Type::I64 {
                effect!(f, ArraySet, &d.args);
                return Rewritten::Replaced;
            }
            Rewritten::Same
        }
        DynLen => match a0.map(|a| ty(f, a)) {
            Some(Type::Array(_)) => {
                Rewritten::Alias(emit!(f, ArrayLen, &[d.args[0]], Imm::None, Type::I64))
            }
            Some(Type::Str) => {
                Rewritten::Alias(emit!(f, StrLen, &[d.args[0]], Imm::None, Type::I64))
            }
            // Any other operand: the runtime's `len`, which also raises its error.
            Some(_) if result.map(|r| ty(f, r)) == Some(Type::I64) => {
                Rewritten::Alias(emit!(f, RtLen, &[d.args[0]], Imm::None, Type::I64))
            }
            _ => Rewritten::Same,
        },
        DynMethod => {
            let name = match &d.imm {
                Imm::Method(m) => m.clone(),
                _ => return Rewritten::Same,
            };
            let recv = match a0 {
                Some(r) => ty(f, r),
                None => return Rewritten::Same,
            };
            match (recv, name.as_str(), d.args.len()) {
                (Type::Array(_), "push", 2) => {
                    effect!(f, ArrayPush, &d.args);
                    let nil = emit!(f, Const, &[], Imm::Const(ruchy_ir::Const::Nil), Type::Unit);
                    Rewritten::Alias(nil)
                }
                (Type::Array(_), "len", 1) => {
                    Rewritten::Alias(emit!(f, ArrayLen, &[d.args[0]], Imm::None, Type::I64))
                }
                (Type::Str, "len", 1) => {
                    Rewritten::Alias(emit!(f, StrLen, &[d.args[0]], Imm::None, Type::I64))
                }
                (t, "to_string", 1) if t.is_concrete() => {
                    Rewritten::Alias(emit!(f, StrFrom, &[d.args[0]], Imm::None, Type::Str))
                }
                // No typed form: the runtime's method dispatch, with an `any` result.
                _ => Rewritten::Alias(emit!(f, RtMethod, &d.args, d.imm.clone(), Type::Any)),
            }
        }
        DynPow => Rewritten::Alias(emit!(
            f,
            RtBuiltin,
            &d.args,
            Imm::Builtin(Builtin::Pow),
            Type::Any
        )),
        DynBuiltin => {
            let Imm::Builtin(b) = d.imm else {
                return Rewritten::Same;
            };
            let t0 = a0.map(|a| ty(f, a));
            match (b, t0) {
                (Builtin::Str, Some(t)) if t.is_concrete() => {
                    Rewritten::Alias(emit!(f, StrFrom, &[d.args[0]], Imm::None, Type::Str))
                }
                (Builtin::Float, Some(Type::I64)) => {
                    Rewritten::Alias(emit!(f, IToF, &[d.args[0]], Imm::None, Type::F64))
                }
                (Builtin::Float, Some(Type::F64)) | (Builtin::Int, Some(Type::I64)) => {
                    Rewritten::Alias(d.args[0])
                }
                (Builtin::Int, Some(Type::F64)) => {
                    Rewritten::Alias(emit!(f, FToI, &[d.args[0]], Imm::None, Type::I64))
                }
                // No typed form: computed by the runtime, with an `any` result.
                _ => Rewritten::Alias(emit!(f, RtBuiltin, &d.args, d.imm.clone(), Type::Any)),
            }
        }
        DynCast => {
            let target = result.map(|r| ty(f, r)).unwrap_or(Type::Any);
            match (a0.map(|a| ty(f, a)), target) {
                (Some(Type::I64), Type::I64) | (Some(Type::F64), Type::F64) => {
                    Rewritten::Alias(d.args[0])
                }
                (Some(Type::I64), Type::F64) => {
                    Rewritten::Alias(emit!(f, IToF, &[d.args[0]], Imm::None, Type::F64))
                }
                (Some(Type::F64), Type::I64) => {
                    Rewritten::Alias(emit!(f, FToI, &[d.args[0]], Imm::None, Type::I64))
                }
                _ => Rewritten::Same,
            }
        }
        // Calling a function value: the typed op does the same run-time dispatch (closures,
        // arity, "Cannot call a value of type ...") through the runtime, and returns `any`.
        DynCall
            if matches!(
                a0.map(|a| ty(f, a)),
                Some(Type::Func | Type::Closure | Type::Any)
            ) =>
        {
            Rewritten::Alias(emit!(f, CallIndirect, &d.args, Imm::None, Type::Any))
        }
        Call if matches!(d.imm, Imm::Func(c) if Some(c) == iter_fn)
            && matches!(a0.map(|a| ty(f, a)), Some(Type::Array(_))) =>
        {
            Rewritten::Alias(d.args[0])
        }
        Call => {
            if let Some(&k) = s.calls.get(&i) {
                let callee = ids[k];
                let ret = specs[k].ret.unwrap_or(Type::Any);
                f.dfg.insts[i].imm = Imm::Func(callee);
                if let Some(r) = result {
                    f.dfg.values[r].ty = ret;
                }
            }
            Rewritten::Same
        }
        _ => Rewritten::Same,
    }
}

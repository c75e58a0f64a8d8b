//! `escape-analysis`: finds arrays, tuples and strings that never leave the function that
//! allocates them, and replaces the simplest of those arrays by scalars.
//!
//! An allocation (`array.new`, `array.concat`, `array.tuple`, `str.concat`: each makes a fresh
//! object) *escapes* when its value can be reached after the function returns or from code that
//! the function does not see: when it is returned, passed to any call or closure, stored into an
//! array, a cell or a global, passed along a CFG edge, named by a deopt state, or used by any op
//! not listed below. The listed uses only read the object or mutate it in place, and none of their
//! results is the object itself: element reads and writes with the object as the container
//! (`array.get/set`, `dyn.index/set_index`), lengths, `push` of another value, the read-only array
//! methods (`len push pop contains sum join reverse`), printing, comparisons, `dyn.truthy`,
//! concatenation (which copies), `str.len/index`, and `str.from`/`type_of`/`str` of arrays and
//! tuples. A non-escaping object dies with its frame, so the lowering to the `lowered` level may
//! allocate it on the stack: [`non_escaping_allocations`] is that analysis, for the backends. The
//! pass reports each such allocation as a `--stats` remark and leaves it unchanged (it changes no
//! level and adds no op).
//!
//! Scalar replacement: a non-escaping `array.new` of N elements whose every use is an element read
//! or write at a constant index in `-N..N` (`array.get/set`, `dyn.index/set_index`) or a length
//! (`array.len`, `dyn.len`) is deleted. Each read takes the value last written to that element,
//! each write is deleted, and each length becomes the constant N. Without writes the elements are
//! the allocation's operands wherever the reads are; with writes, all uses must be in the
//! allocation's block, which is walked in order (straight-line code, so "last written" is
//! exact). Sound because none of the deleted ops can fail or be observed: the container is known
//! to be this array, the indices are integer constants in bounds (negative ones count from the
//! end, as at run time), no `push` or other op can change its length, nothing else can see the
//! array, and allocating an array has no other effect. A read whose replacement has a more
//! precise type than the read's `any` result is only rewritten when no `guard.type` reads it.
//! Arrays with an out-of-bounds constant index, a variable index or a `push` keep their
//! allocation, so the run-time error or the growth happens as before.

use crate::pass::{FunctionCx, Pass, PassInfo, PassOptions, Scope};
use crate::registry::PassEntry;
use ruchy_ir::{
    utils, Block, Builtin, Const, Function, Imm, Inst, Opcode, SrcLoc, Type, Value, ValueDef,
};
use smallvec::SmallVec;
use std::collections::{HashMap, HashSet};

pub static INFO: PassInfo = PassInfo {
    name: "escape-analysis",
    description: "Finds arrays and strings that do not escape their function; replaces small fixed arrays by scalars.",
    scope: Scope::Function,
    options: &[],
};

pub const ENTRY: PassEntry = PassEntry {
    info: &INFO,
    create,
};

fn create(_options: &PassOptions) -> Result<Box<dyn Pass>, String> {
    Ok(Box::new(EscapeAnalysis))
}

/// The pass (no options).
pub struct EscapeAnalysis;

/// What an allocation makes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Kind {
    Array,
    Tuple,
    Str,
}

impl Kind {
    fn of(op: Opcode) -> Option<Kind> {
        match op {
            Opcode::ArrayNew | Opcode::ArrayConcat => Some(Kind::Array),
            Opcode::TupleNew => Some(Kind::Tuple),
            Opcode::StrConcat => Some(Kind::Str),
            _ => None,
        }
    }

    fn counter(self) -> &'static str {
        match self {
            Kind::Array => "arrays that do not escape",
            Kind::Tuple => "tuples that do not escape",
            Kind::Str => "strings that do not escape",
        }
    }
}

/// How an instruction uses a value.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Role {
    /// Operand `k`.
    Operand(usize),
    /// A branch argument.
    Edge,
    /// A value of a deopt state.
    Deopt,
}

/// Every use of every value by placed instructions, in layout order.
fn use_map(func: &Function) -> HashMap<Value, Vec<(Inst, Role)>> {
    let mut uses: HashMap<Value, Vec<(Inst, Role)>> = HashMap::new();
    for (_, i) in func.insts_in_order() {
        let d = &func.dfg.insts[i];
        for (k, &v) in d.args.iter().enumerate() {
            uses.entry(v).or_default().push((i, Role::Operand(k)));
        }
        for dest in &d.dests {
            for &v in &dest.args {
                uses.entry(v).or_default().push((i, Role::Edge));
            }
        }
        if let Some(ds) = &d.deopt {
            for &(_, v) in &ds.values {
                uses.entry(v).or_default().push((i, Role::Deopt));
            }
        }
    }
    uses
}

/// Array methods that neither keep nor return their receiver.
const ARRAY_METHODS: &[&str] = &["len", "push", "pop", "contains", "sum", "join", "reverse"];
/// String methods that neither keep nor return their receiver.
const STR_METHODS: &[&str] = &["len", "contains", "starts_with", "ends_with"];

/// Whether the use of an allocation of kind `kind` as operand `k` of `inst` lets it escape.
fn operand_escapes(func: &Function, inst: Inst, k: usize, kind: Kind) -> bool {
    use Opcode::*;
    let d = &func.dfg.insts[inst];
    match d.opcode {
        ArrayGet | ArrayLen | DynLen | RtLen | DynIndex | StrIndex => k != 0,
        ArraySet | ArrayPush | DynSetIndex => k != 0,
        DynMethod | RtMethod => {
            let known = match (&d.imm, kind) {
                (Imm::Method(m), Kind::Array) => ARRAY_METHODS.contains(&m.as_str()),
                (Imm::Method(m), Kind::Str) => STR_METHODS.contains(&m.as_str()),
                _ => false,
            };
            k != 0 || !known
        }
        ArrayConcat | StrConcat | StrLen | StrCmp | DynCmp | DynTruthy | Print | Println => false,
        // `str.from` and `str(...)` of a string may return that same string.
        StrFrom => kind == Kind::Str,
        DynBuiltin | RtBuiltin => match d.imm {
            Imm::Builtin(Builtin::TypeOf) => false,
            Imm::Builtin(Builtin::Str) => kind == Kind::Str,
            _ => true,
        },
        _ => true,
    }
}

/// Whether the allocation defining `v` (of kind `kind`) escapes, given its uses.
fn escapes(func: &Function, uses: &[(Inst, Role)], kind: Kind) -> bool {
    uses.iter().any(|&(i, role)| match role {
        Role::Operand(k) => operand_escapes(func, i, k, kind),
        Role::Edge | Role::Deopt => true,
    })
}

/// The placed allocations of `func` (`array.new`, `array.concat`, `array.tuple`, `str.concat`)
/// whose object never leaves the function, in layout order: not returned, not passed to a call or
/// along a branch, not stored anywhere, not captured, not named by a deopt state, only read or
/// mutated in place. The lowering to the `lowered` level may put them on the stack (an array may
/// still grow through `push`).
pub fn non_escaping_allocations(func: &Function) -> Vec<Inst> {
    let uses = use_map(func);
    allocations(func, &uses)
        .into_iter()
        .map(|(i, _)| i)
        .collect()
}

/// The non-escaping allocations with their kinds.
fn allocations(func: &Function, uses: &HashMap<Value, Vec<(Inst, Role)>>) -> Vec<(Inst, Kind)> {
    let mut out = vec![];
    for (_, i) in func.insts_in_order() {
        let d = &func.dfg.insts[i];
        let (Some(kind), Some(r)) = (Kind::of(d.opcode), d.result) else {
            continue;
        };
        let empty = vec![];
        if !escapes(func, uses.get(&r).unwrap_or(&empty), kind) {
            out.push((i, kind));
        }
    }
    out
}

/// `i` as an index into `len` elements, counting negative indices from the end as the runtime
/// does; `None` when out of bounds.
fn resolve_index(i: i64, len: usize) -> Option<usize> {
    let j = if i < 0 {
        i.checked_add(i64::try_from(len).ok()?)?
    } else {
        i
    };
    usize::try_from(j).ok().filter(|&j| j < len)
}

/// What scalar replacement does with one use of the array.
enum Step {
    /// An element read: its result becomes element `k` (as known at that point).
    Read { k: usize },
    /// An element write of `value` to element `k`.
    Write { k: usize, value: Value },
    /// A length: its result becomes the constant.
    Len,
}

/// The rewrite that replaces one array by scalars: results to alias, instructions to delete,
/// constants to create before length instructions.
struct Replacement {
    alias: HashMap<Value, Value>,
    removed: Vec<Inst>,
    lens: Vec<Inst>,
}

/// Plans the scalar replacement of the non-escaping `array.new` `alloc`, or `None` when some use
/// is not a constant in-bounds access or a length, or a replacement would not type-check.
fn plan(
    func: &Function,
    alloc: Inst,
    uses: &HashMap<Value, Vec<(Inst, Role)>>,
) -> Option<Replacement> {
    let d = &func.dfg.insts[alloc];
    if d.opcode != Opcode::ArrayNew {
        return None;
    }
    let arr = d.result?;
    let n = d.args.len();
    let home = func.layout.inst_block(alloc)?;
    let mut steps: HashMap<Inst, Step> = HashMap::new();
    let mut has_writes = false;
    let empty = vec![];
    for &(i, role) in uses.get(&arr).unwrap_or(&empty) {
        let ud = &func.dfg.insts[i];
        if role != Role::Operand(0) {
            return None;
        }
        let index = || {
            let c = utils::const_int(func, *ud.args.get(1)?)?;
            resolve_index(c, n)
        };
        let step = match ud.opcode {
            Opcode::ArrayGet | Opcode::DynIndex if ud.args.len() == 2 => Step::Read { k: index()? },
            Opcode::ArraySet | Opcode::DynSetIndex if ud.args.len() == 3 => {
                has_writes = true;
                Step::Write {
                    k: index()?,
                    value: ud.args[2],
                }
            }
            Opcode::ArrayLen | Opcode::DynLen if ud.args.len() == 1 => Step::Len,
            _ => return None,
        };
        // The same instruction may use the array twice (`xs[xs...]` is not an access we keep).
        if steps.insert(i, step).is_some() {
            return None;
        }
    }
    if has_writes
        && steps
            .keys()
            .any(|&i| func.layout.inst_block(i) != Some(home))
    {
        return None;
    }
    let guarded = guarded_values(func);
    // Can `result` be replaced by a value of type `ty`?
    let fits = |result: Value, ty: Type| {
        let rt = func.dfg.value_type(result);
        ty == rt || (rt == Type::Any && !guarded.contains(&result))
    };
    let mut elems: Vec<Value> = d.args.to_vec();
    let mut rep = Replacement {
        alias: HashMap::new(),
        removed: vec![],
        lens: vec![],
    };
    // Visit the uses in layout order: from the allocation on in its block when there are writes
    // (they all are there), and in any order otherwise (the elements never change).
    let order: Vec<Inst> = func.insts_in_order().map(|(_, i)| i).collect();
    for i in order {
        let Some(step) = steps.get(&i) else { continue };
        match *step {
            Step::Read { k } => {
                let result = func.dfg.insts[i].result?;
                let v = utils::resolve_alias(&rep.alias, elems[k]);
                if !fits(result, func.dfg.value_type(v)) {
                    return None;
                }
                rep.alias.insert(result, v);
            }
            Step::Write { k, value } => {
                elems[k] = utils::resolve_alias(&rep.alias, value);
            }
            Step::Len => {
                let result = func.dfg.insts[i].result?;
                if !fits(result, Type::I64) {
                    return None;
                }
                rep.lens.push(i);
            }
        }
        rep.removed.push(i);
    }
    rep.removed.push(alloc);
    Some(rep)
}

/// Values read by a `guard.type`, which needs an operand of type exactly `any`.
fn guarded_values(func: &Function) -> HashSet<Value> {
    func.insts_in_order()
        .filter(|&(_, i)| func.dfg.insts[i].opcode == Opcode::GuardType)
        .filter_map(|(_, i)| func.dfg.insts[i].args.first().copied())
        .collect()
}

/// Applies a planned replacement of an array of `n` elements. Returns how many accesses it
/// removed.
fn apply(func: &mut Function, rep: Replacement, n: usize) -> usize {
    let mut alias = rep.alias;
    for inst in rep.lens {
        let (Some(b), Some(result)) = (func.layout.inst_block(inst), func.dfg.insts[inst].result)
        else {
            continue;
        };
        let loc: SrcLoc = func.dfg.insts[inst].loc;
        let c = func.dfg.make_inst(
            Opcode::Const,
            &[],
            Imm::Const(Const::Int(n as i64)),
            SmallVec::new(),
            Type::I64,
            loc,
        );
        let pos = position(func, b, inst);
        func.layout.insert_inst(b, pos, c);
        alias.insert(result, func.dfg.inst_result(c));
    }
    let removed = rep.removed.len() - 1;
    func.layout.remove_insts(rep.removed.iter().copied());
    for &i in &rep.removed {
        if let Some(r) = func.dfg.insts[i].result.take() {
            func.dfg.values[r].def = ValueDef::Unused;
        }
    }
    utils::replace_uses(func, &alias);
    removed
}

/// The position of `inst` in block `b`.
fn position(func: &Function, b: Block, inst: Inst) -> usize {
    func.layout
        .block_insts(b)
        .iter()
        .position(|&i| i == inst)
        .unwrap_or(0)
}

impl Pass for EscapeAnalysis {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run_function(
        &mut self,
        func: &mut Function,
        cx: &mut FunctionCx<'_>,
    ) -> Result<bool, String> {
        if allocations(func, &use_map(func)).is_empty() {
            return Ok(false);
        }
        let describe = |func: &Function, i: Inst| {
            let d = &func.dfg.insts[i];
            let v = d.result.map_or(String::new(), |r| format!(" {r}"));
            format!("@{}: {}{v} at {}", func.name, d.opcode, d.loc)
        };
        // Replace one array at a time, so that each plan sees the values the previous ones
        // substituted (an array read out of a replaced array may stop escaping).
        let mut replaced: Vec<Inst> = vec![];
        let mut accesses = 0u64;
        loop {
            let uses = use_map(func);
            let candidate = allocations(func, &uses)
                .into_iter()
                .filter(|&(_, k)| k == Kind::Array)
                .find_map(|(i, _)| plan(func, i, &uses).map(|p| (i, p)));
            let Some((alloc, rep)) = candidate else { break };
            let n = func.dfg.insts[alloc].args.len();
            cx.stats
                .remark(format!("{} replaced by scalars", describe(func, alloc)));
            accesses += apply(func, rep, n) as u64;
            replaced.push(alloc);
        }
        cx.stats.add(Kind::Array.counter(), replaced.len() as u64);
        for (i, kind) in allocations(func, &use_map(func)) {
            cx.stats.add(kind.counter(), 1);
            cx.stats
                .remark(format!("{} does not escape", describe(func, i)));
        }
        let arrays = replaced.len() as u64;
        cx.stats.add("arrays replaced by scalars", arrays);
        cx.stats.add("array accesses removed", accesses);
        Ok(arrays > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruchy_ir::parse_module;

    fn func_of(text: &str) -> Function {
        let (m, _) = parse_module(text).expect("parses");
        m.funcs.values().next().expect("one function").clone()
    }

    #[test]
    fn negative_indices_count_from_the_end() {
        assert_eq!(resolve_index(-1, 3), Some(2));
        assert_eq!(resolve_index(-3, 3), Some(0));
        assert_eq!(resolve_index(-4, 3), None);
        assert_eq!(resolve_index(3, 3), None);
        assert_eq!(resolve_index(i64::MIN, 3), None);
        assert_eq!(resolve_index(0, 0), None);
    }

    #[test]
    fn returned_and_stored_arrays_escape_printed_ones_do_not() {
        let f = func_of(
            r#"module "t"
func @f(any) -> any level(dyn) {
^bb0(%v0: any):
  %v1 = array.new %v0 : array<any>
  %v2 = array.new %v0 : array<any>
  %v3 = array.new %v1 : array<any>
  %v4 = array.new : array<any>
  %v5 = rt.println %v4 : unit
  %v6 = array.tuple %v0, %v0 : tuple
  %v7 = dyn.len %v6 : any
  cf.return %v2
}
"#,
        );
        let found = non_escaping_allocations(&f);
        let results: Vec<Value> = found
            .iter()
            .filter_map(|&i| f.dfg.insts[i].result)
            .collect();
        // %v1 is stored into %v3, %v2 is returned; %v3, %v4 and the tuple do not escape.
        assert_eq!(results.len(), 3);
        assert!(results
            .iter()
            .all(|v| !matches!(v.to_string().as_str(), "%v1" | "%v2")));
    }
}

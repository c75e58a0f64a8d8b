//! Global value numbering: removes an instruction when an identical one dominates it, and uses
//! the dominating instruction's result instead.
//!
//! The pass walks the dominator tree in preorder with a scoped hash table. An instruction's key is
//! its opcode, its immediate (constants compared by bits, as [`Const::same`] does), its result
//! type and its operands after substitution of the values already replaced, so a chain of
//! redundant computations collapses in one walk. Commutative ops (`addi`, `muli`, their `_wrap`
//! forms, `andi`, `ori`, `xori`, `addf`, `mulf`) sort their operands, and comparisons put the
//! lower-numbered operand first, swapping the predicate (`a < b` is `b > a`), so `a + b` and
//! `b + a` get the same key. Entries leave the table when the walk leaves the block that
//! inserted them, so only dominating instructions are ever reused.
//!
//! # Soundness
//!
//! An instruction is reused only if evaluating it again at the dominated point would give an
//! equal value and no other observable behaviour:
//!
//! * Ops without the `EFFECT` flag that compute immutable values from their operands alone:
//!   constants, typed arithmetic, comparisons, conversions, `func.ref`, and the string ops
//!   (strings are immutable values, never compared by identity). `str.from` qualifies only when
//!   its operand has a scalar, string or function type: the text of an array (or of an `any`,
//!   tuple or closure that may hold one) changes when the array is mutated.
//! * Checked integer ops (`arith.addi`, `subi`, `muli`, `divi`, `remi`, `negi`, `shli`, `shri`)
//!   and `str.index`: they may raise an error, but deterministically. The dominated copy is only
//!   reached after the dominating one succeeded with the same operands, so it would have
//!   succeeded too with the same result; removing it removes no error.
//!
//! Never reused: ops that create fresh mutable or identity-carrying objects (`array.new`,
//! `array.tuple`, `func.closure`, `mem.cell_new`), loads (memory may change between them),
//! calls, `dyn` ops, guards and printing. Instructions in unreachable blocks are neither keys nor
//! candidates (their uses are still rewritten, which the verifier allows).

use crate::pass::{FunctionCx, Pass, PassInfo, PassOptions, Scope};
use crate::registry::PassEntry;
use ruchy_ir::utils::{replace_uses, resolve_alias};
use ruchy_ir::{Block, CmpPred, Const, DomTree, FuncId, Function, Imm, Inst, Opcode, Type, Value};
use smallvec::SmallVec;
use std::collections::HashMap;

pub static INFO: PassInfo = PassInfo {
    name: "gvn",
    description:
        "Global value numbering: reuse a dominating identical pure or deterministic computation.",
    scope: Scope::Function,
    options: &[],
};

pub const ENTRY: PassEntry = PassEntry {
    info: &INFO,
    create,
};

fn create(_options: &PassOptions) -> Result<Box<dyn Pass>, String> {
    Ok(Box::new(Gvn))
}

/// The pass; it has no options or state.
struct Gvn;

impl Pass for Gvn {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run_function(
        &mut self,
        func: &mut Function,
        cx: &mut FunctionCx<'_>,
    ) -> Result<bool, String> {
        let removed = run(func, cx.analyses.domtree(func));
        cx.stats
            .add("redundant instructions removed", removed as u64);
        Ok(removed > 0)
    }
}

/// The immediate part of a key: [`Imm`] with floats as bits, so that keys can be hashed and a
/// NaN constant equals itself while `0.0` and `-0.0` stay distinct.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum ImmKey {
    None,
    Int(i64),
    FloatBits(u64),
    Bool(bool),
    Nil,
    Str(String),
    Cmp(CmpPred),
    Func(FuncId),
}

/// What makes two instructions compute the same value.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Key {
    opcode: Opcode,
    imm: ImmKey,
    args: SmallVec<[Value; 3]>,
    ty: Type,
}

/// Runs value numbering on `func` with its (current) dominator tree. Returns how many
/// instructions were removed.
fn run(func: &mut Function, dt: &DomTree) -> usize {
    let Some(entry) = func.entry_block() else {
        return 0;
    };
    let mut table: HashMap<Key, Value> = HashMap::new();
    // Keys inserted so far, in order; each scope remembers where it started.
    let mut log: Vec<Key> = Vec::new();
    let mut alias: HashMap<Value, Value> = HashMap::new();
    let mut dead: Vec<Inst> = Vec::new();

    enum Step {
        Enter(Block),
        Leave(usize),
    }
    let mut stack = vec![Step::Enter(entry)];
    while let Some(step) = stack.pop() {
        let b = match step {
            Step::Enter(b) => b,
            Step::Leave(mark) => {
                // Keys are only inserted when absent, so undoing a scope is removing its keys.
                for k in log.drain(mark..) {
                    table.remove(&k);
                }
                continue;
            }
        };
        stack.push(Step::Leave(log.len()));
        for &i in func.layout.block_insts(b) {
            let Some(key) = key_of(func, i, &alias) else {
                continue;
            };
            let Some(result) = func.dfg.insts[i].result else {
                continue;
            };
            match table.get(&key) {
                Some(&earlier) => {
                    alias.insert(result, earlier);
                    dead.push(i);
                }
                None => {
                    table.insert(key.clone(), result);
                    log.push(key);
                }
            }
        }
        for &c in dt.children(b).iter().rev() {
            stack.push(Step::Enter(c));
        }
    }

    func.layout.remove_insts(dead.iter().copied());
    replace_uses(func, &alias);
    dead.len()
}

/// Whether `ty` is a value type whose text (`str.from`) cannot change after it is made.
fn immutable_text(ty: Type) -> bool {
    matches!(
        ty,
        Type::I64 | Type::F64 | Type::Bool | Type::Unit | Type::Str | Type::Func
    )
}

/// Whether `op` may take part in value numbering (before looking at its operands).
fn eligible(op: Opcode) -> bool {
    use Opcode::*;
    matches!(
        op,
        // Pure and immutable.
        Const
            | StrConst
            | AddIWrap
            | SubIWrap
            | MulIWrap
            | AndI
            | OrI
            | XorI
            | NotI
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
            | FuncRef
            | StrConcat
            | StrLen
            | StrFrom
            | StrCmp
            // May trap, but deterministically.
            | AddI
            | SubI
            | MulI
            | DivI
            | RemI
            | NegI
            | ShlI
            | ShrI
            | StrIndex
    )
}

/// Ops whose two operands can be swapped without changing the result (or the error raised).
fn commutative(op: Opcode) -> bool {
    use Opcode::*;
    matches!(
        op,
        AddI | MulI | AddIWrap | MulIWrap | AndI | OrI | XorI | AddF | MulF
    )
}

/// The value-numbering key of instruction `i`, or `None` when it must not be merged.
fn key_of(func: &Function, i: Inst, alias: &HashMap<Value, Value>) -> Option<Key> {
    let d = &func.dfg.insts[i];
    let op = d.opcode;
    if !eligible(op) || !d.dests.is_empty() || d.deopt.is_some() {
        return None;
    }
    let ty = func.dfg.value_type(d.result?);
    let mut args: SmallVec<[Value; 3]> = d.args.iter().map(|&a| resolve_alias(alias, a)).collect();
    if op == Opcode::StrFrom && !args.iter().all(|&a| immutable_text(func.dfg.value_type(a))) {
        return None;
    }
    let mut imm = match &d.imm {
        Imm::None => ImmKey::None,
        Imm::Const(Const::Int(n)) => ImmKey::Int(*n),
        Imm::Const(Const::Float(f)) => ImmKey::FloatBits(f.to_bits()),
        Imm::Const(Const::Bool(b)) => ImmKey::Bool(*b),
        Imm::Const(Const::Nil) => ImmKey::Nil,
        Imm::Const(Const::Str(s)) => ImmKey::Str(s.clone()),
        Imm::Cmp(p) => ImmKey::Cmp(*p),
        Imm::Func(f) => ImmKey::Func(*f),
        _ => return None,
    };
    if args.len() == 2 && args[1] < args[0] {
        if commutative(op) {
            args.swap(0, 1);
        } else if let ImmKey::Cmp(p) = imm {
            // `a < b` iff `b > a`, also for floats with NaN (both false) and for strings.
            args.swap(0, 1);
            imm = ImmKey::Cmp(p.swapped());
        }
    }
    Some(Key {
        opcode: op,
        imm,
        args,
        ty,
    })
}

#[cfg(test)]
mod tests {
    use ruchy_ir::{parse_module, print_module};

    fn gvn(text: &str) -> (String, u64) {
        let (mut m, _) = parse_module(text).expect("parses");
        let report = crate::run_pipeline(&mut m, "gvn").expect("runs and verifies");
        (
            print_module(&m),
            report.stats_of("gvn").get("redundant instructions removed"),
        )
    }

    #[test]
    fn swapped_comparison_is_the_same_value() {
        let (out, n) = gvn(r#"module "t"
func @f(i64, i64) -> bool level(dyn) {
^bb0(%v0: i64, %v1: i64):
  %v2 = arith.cmpi lt %v0, %v1 : bool
  %v3 = arith.cmpi gt %v1, %v0 : bool
  %v4 = arith.cmpb eq %v2, %v3 : bool
  cf.return %v4
}
"#);
        assert_eq!(n, 1, "{out}");
        assert!(out.contains("arith.cmpb eq %v2, %v2"), "{out}");
    }

    #[test]
    fn float_constants_compare_by_bits() {
        let (out, n) = gvn(r#"module "t"
func @f() -> f64 level(dyn) {
^bb0:
  %v0 = arith.const 0.0 : f64
  %v1 = arith.const -0.0 : f64
  %v2 = arith.const 0.0 : f64
  %v3 = arith.addf %v0, %v1 : f64
  %v4 = arith.addf %v3, %v2 : f64
  cf.return %v4
}
"#);
        assert_eq!(n, 1, "{out}");
        assert!(out.contains("-0.0"), "{out}");
        assert!(out.contains("arith.addf %v3, %v0"), "{out}");
    }

    #[test]
    fn str_from_of_an_array_is_not_merged() {
        let (out, n) = gvn(r#"module "t"
func @f(array<i64>) -> bool level(dyn) {
^bb0(%v0: array<i64>):
  %v1 = str.from %v0 : str
  %v2 = arith.const 1 : i64
  array.push %v0, %v2
  %v3 = str.from %v0 : str
  %v4 = str.cmp eq %v1, %v3 : bool
  cf.return %v4
}
"#);
        assert_eq!(n, 0, "{out}");
    }
}

//! Strength reduction: cheaper operations for multiplications, divisions and remainders by
//! powers of two, and for products of a loop's induction variable that are recomputed on every
//! iteration.
//!
//! # Part 1: powers of two
//!
//! Only the typed ops `arith.muli`, `arith.muli_wrap`, `arith.divi` and `arith.remi` whose
//! constant operand is an `arith.const` are rewritten; `dyn.*` ops are never touched (their
//! operand types are unknown), and neither is a division or remainder by zero (it must still
//! raise "Division by zero"), by a negative constant or by anything that is not a power of two.
//!
//! * `x * 1` and `x / 1` become `x`, `x % 1` becomes `0`: none of them can trap.
//! * `arith.muli_wrap x, 2^k` becomes `arith.shli x, k` (for `k` in 1..=63, `2^63` being the
//!   bit pattern of `i64::MIN`): a wrapping multiplication by `2^k` and a left shift by `k` are the
//!   same function on 64-bit two's complement integers.
//! * The checked `arith.muli x, 2^k` raises "Integer overflow in multiplication" when the product
//!   does not fit, while `arith.shli` wraps silently, so it is only rewritten when a range
//!   analysis proves that `x * 2^k` fits for every value `x` can have there. Otherwise it stays.
//! * `arith.divi x, 2^k` (`1 <= k <= 62`) truncates toward zero. When `x` is proven non-negative
//!   it is `arith.shri x, k`. Otherwise the arithmetic shift must be biased for negative `x`:
//!   `s = x >> 63` (all ones or zero), `b = s & (2^k - 1)`, `t = x +wrap b`, `q = t >> k`. For
//!   `x >= 0`, `b = 0` and `q = floor(x / 2^k)`, which is the truncated quotient. For `x < 0`,
//!   `t = x + 2^k - 1` cannot overflow (a negative plus a small positive) and
//!   `floor((x + 2^k - 1) / 2^k) = ceil(x / 2^k)`, which is the truncated quotient of a negative
//!   number; this includes `i64::MIN`, giving `-2^(63-k)`. The division by a positive constant
//!   never traps, so nothing is lost.
//! * `arith.remi x, 2^k` is `x & (2^k - 1)` when `x` is proven non-negative, and also when every
//!   use of the remainder only compares it for (in)equality with zero (`x % 2^k == 0` iff the low
//!   `k` bits of `x` are zero, whatever the sign). Otherwise it is `x - (x / 2^k) * 2^k` with
//!   wrapping ops, computed as `x -wrap (t & -2^k)` where `t` is the biased value above (the
//!   quotient shifted back is `t` with its low `k` bits cleared). The remainder has the sign of
//!   the dividend, as in Rust; `i64::MIN % 2^k` is 0.
//!
//! The range analysis is [`crate::analysis::ranges`].
//!
//! # Part 2: induction variables
//!
//! For a loop header parameter `i` whose argument on every back edge is `i + c` (`arith.addi`,
//! `arith.addi_wrap`, or the `subi` forms, for one constant `c != 0`), a product computed in the
//! loop is replaced by a new header parameter updated with additions:
//!
//! * `i * i` becomes `sq`, with a second parameter `d`: on entry edges `sq = init * init` and
//!   `d = 2c * init + c^2`; on back edges `sq' = sq + d` and `d' = d + 2c^2`. Since
//!   `(i + c)^2 = i^2 + (2c * i + c^2)` and `2c * (i + c) + c^2 = (2c * i + c^2) + 2c^2`, the
//!   invariants `sq = i^2` and `d = 2c * i + c^2` hold modulo `2^64` at every entry of the header.
//! * `i * k`, for `k` a constant or a value defined before the loop, becomes `p` with `p = init * k`
//!   on entry edges and `p' = p + c * k` on back edges (`c * k` is computed once, after `k`), so
//!   `p = i * k` modulo `2^64`.
//!
//! All the new arithmetic wraps, so it never raises an error on its own, and a congruence modulo
//! `2^64` is what makes it valid even when the step add wraps (`arith.addi_wrap`) or the
//! parameter takes values whose products do not fit. At a product site, a wrapping product
//! (`arith.muli_wrap`) is exactly the new parameter. A checked product is the new parameter
//! whenever the true product fits in `i64` (a value of `i64` congruent to it is then equal to
//! it), and must raise "Integer overflow in multiplication" exactly when it does not fit, at the
//! same point. So for each checked site:
//!
//! * when the range analysis proves the product fits there, no check is needed;
//! * for `i * i` only, when `i` is known to lie on one side of the bounds (`i >= -3037000499`
//!   or `i <= 3037000499`, the usual case for counting loops), the block is split before the
//!   product and a single comparison of `i` against `3037000499 = floor(sqrt(i64::MAX))` branches
//!   to a new block with `cf.trap "Integer overflow in multiplication"` at the product's location.
//!   The trap fires on the same iteration, after the same effects, with the same message and
//!   position as the multiplication would have. This is what makes `while i * i <= n` (trial
//!   division, where `n` may be anything) reducible: the overflow there is real for `n` near
//!   `i64::MAX`, so it cannot be proven away, but it can be kept exactly;
//! * otherwise the site is left alone. A product by a loop-invariant `k` is only reduced with a
//!   proof: a check would cost as much as the multiplication it replaces.
//!
//! Computing the next square with checked ops on the back edge instead would be wrong: it could
//! raise the error one iteration early, before the loop test or the effects that precede the
//! product, or in a last iteration that never computes the product.
//!
//! Products of two different induction variables of the same loop are not touched (neither is
//! loop-invariant), nor are products by a power of two (part 1 handles them with a shift) or by
//! -1, 0 and 1. New constants go at the start of the entry block; every new instruction takes the
//! location of the instruction it replaces or serves.
//!
//! Counters: "multiplies/divides/remainders reduced" (part 1), "induction variables reduced"
//! (derived variables created by part 2) and "overflow checks inserted".

use crate::analysis::ranges::{Range, Ranges, CONTEXT_BUDGET, SQRT_MAX};
use crate::pass::{FunctionCx, Pass, PassInfo, PassOptions, Scope};
use crate::registry::PassEntry;
use indexmap::IndexMap;
use ruchy_ir::utils::{const_int, replace_uses, use_counts};
use ruchy_ir::{
    Block, BlockCall, CmpPred, Const, ControlFlowGraph, DomTree, Function, Imm, Inst, LoopForest,
    Opcode, SrcLoc, Type, Value, ValueDef,
};
use smallvec::{smallvec, SmallVec};
use std::collections::{HashMap, HashSet};

pub static INFO: PassInfo = PassInfo {
    name: "strength-reduce",
    description:
        "Turns multiplications, divisions and remainders by powers of two into shifts and \
                  masks, and loop products of induction variables into additions.",
    scope: Scope::Function,
    options: &[],
};

pub const ENTRY: PassEntry = PassEntry {
    info: &INFO,
    create,
};

fn create(_options: &PassOptions) -> Result<Box<dyn Pass>, String> {
    Ok(Box::new(StrengthReduce))
}

/// The pass; it has no options.
struct StrengthReduce;

const OVERFLOW_MESSAGE: &str = "Integer overflow in multiplication";

impl Pass for StrengthReduce {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run_function(
        &mut self,
        func: &mut Function,
        cx: &mut FunctionCx<'_>,
    ) -> Result<bool, String> {
        let Some(entry) = func.entry_block() else {
            return Ok(false);
        };
        let mut consts = ConstPool::new(entry);

        // Part 2 first: its new wrapping ops may themselves be reducible by part 1.
        let cfg = cx.analyses.cfg(func).clone();
        let dt = cx.analyses.domtree(func).clone();
        let loops = cx.analyses.loops(func).clone();
        let plan = plan_induction(func, &cfg, &dt, &loops);
        let iv = apply_induction(func, &mut consts, &plan);
        if iv.reduced > 0 {
            cx.analyses.invalidate();
        }

        let cfg = cx.analyses.cfg(func).clone();
        let dt = cx.analyses.domtree(func).clone();
        let plan = plan_arith(func, &cfg, &dt);
        let arith = apply_arith(func, &mut consts, &plan);

        cx.stats
            .add("multiplies/divides/remainders reduced", arith as u64);
        cx.stats
            .add("induction variables reduced", iv.reduced as u64);
        cx.stats.add("overflow checks inserted", iv.checks as u64);
        Ok(arith > 0 || iv.reduced > 0)
    }
}

// ---------------------------------------------------------------------------------------------
// Building blocks for rewriting.

/// Integer constants created by the pass, at the start of the entry block (so they dominate
/// every use), one per value.
struct ConstPool {
    entry: Block,
    cache: HashMap<i64, Value>,
}

impl ConstPool {
    fn new(entry: Block) -> Self {
        ConstPool {
            entry,
            cache: HashMap::new(),
        }
    }

    fn get(&mut self, func: &mut Function, c: i64, loc: SrcLoc) -> Value {
        if let Some(&v) = self.cache.get(&c) {
            return v;
        }
        let inst = func.dfg.make_inst(
            Opcode::Const,
            &[],
            Imm::Const(Const::Int(c)),
            SmallVec::new(),
            Type::I64,
            loc,
        );
        // The pool's constants are always the first instructions of the entry block (no loop
        // contains the entry block, so it is never split), in creation order.
        func.layout.insert_inst(self.entry, self.cache.len(), inst);
        let v = func.dfg.inst_result(inst);
        self.cache.insert(c, v);
        v
    }
}

/// Inserts a new `i64`/`bool` op immediately before `at` (which must be placed), with `at`'s
/// location, and returns its result.
fn insert_before(
    func: &mut Function,
    at: Inst,
    opcode: Opcode,
    args: &[Value],
    imm: Imm,
    ty: Type,
) -> Option<Value> {
    let b = func.layout.inst_block(at)?;
    let pos = func.layout.block_insts(b).iter().position(|&i| i == at)?;
    let loc = func.dfg.insts[at].loc;
    let inst = func
        .dfg
        .make_inst(opcode, args, imm, SmallVec::new(), ty, loc);
    func.layout.insert_inst(b, pos, inst);
    func.dfg.insts[inst].result
}

/// Inserts `x *wrap c` before `at`, as a left shift when `c` is a power of two (what part 1
/// would make of it).
fn insert_mul_wrap(
    func: &mut Function,
    consts: &mut ConstPool,
    at: Inst,
    x: Value,
    c: i64,
) -> Option<Value> {
    let loc = func.dfg.insts[at].loc;
    let (op, k) = match log2(c) {
        Some(k) => (Opcode::ShlI, consts.get(func, k as i64, loc)),
        None => (Opcode::MulIWrap, consts.get(func, c, loc)),
    };
    insert_before(func, at, op, &[x, k], Imm::None, Type::I64)
}

/// Turns `inst` (keeping its result value and location) into `opcode args`.
fn rewrite_in_place(func: &mut Function, inst: Inst, opcode: Opcode, args: &[Value], imm: Imm) {
    let d = &mut func.dfg.insts[inst];
    d.opcode = opcode;
    d.args = args.into();
    d.imm = imm;
}

/// `Some(k)` when `c` is `2^k` as a 64-bit pattern (`i64::MIN` is `2^63`).
fn log2(c: i64) -> Option<u32> {
    let u = c as u64;
    u.is_power_of_two().then(|| u.trailing_zeros())
}

// ---------------------------------------------------------------------------------------------
// Part 1: multiplications, divisions and remainders by powers of two.

/// What one instruction becomes.
#[derive(Debug)]
enum Rewrite {
    /// The result is this existing value.
    Alias(Value),
    /// The result is 0.
    Zero,
    /// `x << k`.
    Shl(Value, u32),
    /// `x >> k`, for non-negative `x`.
    Shr(Value, u32),
    /// `x & m`.
    Mask(Value, i64),
    /// Truncating `x / 2^k` with the sign bias.
    DivBias(Value, u32),
    /// Truncating `x % 2^k` with the sign bias.
    RemBias(Value, u32),
}

/// Decides the rewrite of every candidate instruction, on the unmodified function.
fn plan_arith(func: &Function, cfg: &ControlFlowGraph, dt: &DomTree) -> Vec<(Inst, Rewrite)> {
    let mut ranges = Ranges::new(func, cfg, dt);
    let uses = use_counts(func);
    let zero_tests = zero_test_counts(func);
    let mut plan = Vec::new();
    for (b, i) in func.insts_in_order() {
        let d = &func.dfg.insts[i];
        let (Some(r), [x, y]) = (d.result, d.args.as_slice()) else {
            continue;
        };
        let (x, y) = (*x, *y);
        let at = |ranges: &mut Ranges, v: Value| ranges.range_at(v, (b, None), CONTEXT_BUDGET);
        let rewrite = match d.opcode {
            Opcode::MulI | Opcode::MulIWrap => {
                let (x, c) = match (const_int(func, y), const_int(func, x)) {
                    (Some(c), _) => (x, c),
                    (None, Some(c)) => (y, c),
                    (None, None) => continue,
                };
                match (c, log2(c)) {
                    (1, _) => Rewrite::Alias(x),
                    (_, Some(k)) if d.opcode == Opcode::MulIWrap => Rewrite::Shl(x, k),
                    (_, Some(k)) if at(&mut ranges, x).product_fits(Range::point(c)) => {
                        Rewrite::Shl(x, k)
                    }
                    _ => continue,
                }
            }
            Opcode::DivI => match const_int(func, y) {
                Some(1) => Rewrite::Alias(x),
                Some(c) if c > 1 => match log2(c) {
                    Some(k) if at(&mut ranges, x).lo >= 0 => Rewrite::Shr(x, k),
                    Some(k) => Rewrite::DivBias(x, k),
                    None => continue,
                },
                _ => continue,
            },
            Opcode::RemI => match const_int(func, y) {
                Some(1) => Rewrite::Zero,
                Some(c) if c > 1 => match log2(c) {
                    Some(_) if at(&mut ranges, x).lo >= 0 => Rewrite::Mask(x, c - 1),
                    Some(_) if uses.get(r) == zero_tests.get(&r).copied().unwrap_or(0) => {
                        Rewrite::Mask(x, c - 1)
                    }
                    Some(k) => Rewrite::RemBias(x, k),
                    None => continue,
                },
                _ => continue,
            },
            _ => continue,
        };
        plan.push((i, rewrite));
    }
    plan
}

/// For each value, how many of its uses are `arith.cmpi eq|ne` against the constant 0.
fn zero_test_counts(func: &Function) -> HashMap<Value, u32> {
    let mut counts = HashMap::new();
    for (_, i) in func.insts_in_order() {
        let d = &func.dfg.insts[i];
        if d.opcode != Opcode::CmpI || !matches!(d.imm, Imm::Cmp(CmpPred::Eq | CmpPred::Ne)) {
            continue;
        }
        if let [a, b] = d.args.as_slice() {
            if const_int(func, *b) == Some(0) && a != b {
                *counts.entry(*a).or_insert(0) += 1;
            } else if const_int(func, *a) == Some(0) && a != b {
                *counts.entry(*b).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// Applies the plan; returns how many instructions were rewritten.
fn apply_arith(func: &mut Function, consts: &mut ConstPool, plan: &[(Inst, Rewrite)]) -> usize {
    let mut alias: HashMap<Value, Value> = HashMap::new();
    let mut done = 0;
    for (inst, rw) in plan {
        let inst = *inst;
        let loc = func.dfg.insts[inst].loc;
        let ok = match *rw {
            Rewrite::Alias(x) => match func.dfg.insts[inst].result {
                Some(r) => {
                    alias.insert(r, x);
                    func.layout.remove_inst(inst);
                    Some(())
                }
                None => None,
            },
            Rewrite::Zero => {
                rewrite_in_place(func, inst, Opcode::Const, &[], Imm::Const(Const::Int(0)));
                Some(())
            }
            Rewrite::Shl(x, k) => {
                let kc = consts.get(func, k as i64, loc);
                rewrite_in_place(func, inst, Opcode::ShlI, &[x, kc], Imm::None);
                Some(())
            }
            Rewrite::Shr(x, k) => {
                let kc = consts.get(func, k as i64, loc);
                rewrite_in_place(func, inst, Opcode::ShrI, &[x, kc], Imm::None);
                Some(())
            }
            Rewrite::Mask(x, m) => {
                let mc = consts.get(func, m, loc);
                rewrite_in_place(func, inst, Opcode::AndI, &[x, mc], Imm::None);
                Some(())
            }
            Rewrite::DivBias(x, k) => (|| {
                let t = biased(func, consts, inst, x, k)?;
                let kc = consts.get(func, k as i64, loc);
                rewrite_in_place(func, inst, Opcode::ShrI, &[t, kc], Imm::None);
                Some(())
            })(),
            Rewrite::RemBias(x, k) => (|| {
                let t = biased(func, consts, inst, x, k)?;
                let high = consts.get(func, i64::MIN >> (63 - k), loc); // -2^k
                let q = insert_before(func, inst, Opcode::AndI, &[t, high], Imm::None, Type::I64)?;
                rewrite_in_place(func, inst, Opcode::SubIWrap, &[x, q], Imm::None);
                Some(())
            })(),
        };
        if ok.is_some() {
            done += 1;
        }
    }
    replace_uses(func, &alias);
    done
}

/// Inserts `t = x +wrap ((x >> 63) & (2^k - 1))` before `inst`: `x` biased so that an arithmetic
/// shift right by `k` truncates toward zero.
fn biased(
    func: &mut Function,
    consts: &mut ConstPool,
    inst: Inst,
    x: Value,
    k: u32,
) -> Option<Value> {
    let loc = func.dfg.insts[inst].loc;
    let c63 = consts.get(func, 63, loc);
    let mask = consts.get(func, (1i64 << k) - 1, loc);
    let sign = insert_before(func, inst, Opcode::ShrI, &[x, c63], Imm::None, Type::I64)?;
    let bias = insert_before(
        func,
        inst,
        Opcode::AndI,
        &[sign, mask],
        Imm::None,
        Type::I64,
    )?;
    insert_before(
        func,
        inst,
        Opcode::AddIWrap,
        &[x, bias],
        Imm::None,
        Type::I64,
    )
}

// ---------------------------------------------------------------------------------------------
// Part 2: induction variables.

/// A header parameter that steps by a constant on every back edge.
struct InductionVar {
    header: Block,
    index: usize,
    value: Value,
    step: i64,
    /// Branch destinations into the header that are not back edges: `(terminator, dest index)`.
    entries: Vec<(Inst, usize)>,
    /// Back-edge destinations.
    latches: Vec<(Inst, usize)>,
}

/// What the induction variable is multiplied by.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
enum Factor {
    Square,
    Const(i64),
    /// A value defined in a block that strictly dominates the header.
    Invariant(Value),
}

/// A single comparison that the induction variable must pass before a checked square.
#[derive(Copy, Clone, Debug)]
enum Check {
    AtMost(i64),
    AtLeast(i64),
}

struct Site {
    inst: Inst,
    /// Whether the product is the checked `arith.muli`.
    checked: bool,
    check: Option<Check>,
}

/// One new derived induction variable and the products it replaces.
struct Reduction {
    iv: usize,
    factor: Factor,
    sites: Vec<Site>,
}

struct InductionPlan {
    ivs: Vec<InductionVar>,
    reductions: Vec<Reduction>,
}

/// The constant step of `arg` relative to `iv` (`iv + c`, `iv - c`, checked or wrapping).
fn step_of(func: &Function, arg: Value, iv: Value) -> Option<i64> {
    let ValueDef::Result(i) = func.dfg.values.get(arg)?.def else {
        return None;
    };
    let d = &func.dfg.insts[i];
    let [a, b] = d.args.as_slice() else {
        return None;
    };
    match d.opcode {
        Opcode::AddI | Opcode::AddIWrap if *a == iv => const_int(func, *b),
        Opcode::AddI | Opcode::AddIWrap if *b == iv => const_int(func, *a),
        Opcode::SubI | Opcode::SubIWrap if *a == iv => const_int(func, *b)?.checked_neg(),
        _ => None,
    }
}

/// Finds the induction variables and the products to reduce, on the unmodified function.
fn plan_induction(
    func: &Function,
    cfg: &ControlFlowGraph,
    dt: &DomTree,
    loops: &LoopForest,
) -> InductionPlan {
    let mut ranges = Ranges::new(func, cfg, dt);
    let mut ivs: Vec<InductionVar> = Vec::new();
    let mut groups: IndexMap<(usize, Factor), Vec<Site>> = IndexMap::new();
    let mut claimed: HashSet<Inst> = HashSet::new();
    for (_, lp) in loops.loops() {
        let h = lp.header;
        let (mut entries, mut latches) = (Vec::new(), Vec::new());
        for &b in func.layout.blocks() {
            let Some(t) = func.layout.last_inst(b) else {
                continue;
            };
            for (k, dest) in func.dfg.insts[t].dests.iter().enumerate() {
                if dest.block == h {
                    if loops.is_back_edge(b, h) {
                        latches.push((t, k));
                    } else {
                        entries.push((t, k));
                    }
                }
            }
        }
        if latches.is_empty() {
            continue;
        }
        let first_iv = ivs.len();
        for (index, &p) in func.dfg.block_params(h).iter().enumerate() {
            if func.dfg.value_type(p) != Type::I64 {
                continue;
            }
            let mut step = None;
            let mut uniform = true;
            for &(t, k) in &latches {
                let s = func.dfg.insts[t].dests[k]
                    .args
                    .get(index)
                    .and_then(|&a| step_of(func, a, p));
                match (s, step) {
                    (Some(s), None) => step = Some(s),
                    (Some(s), Some(prev)) if s == prev => {}
                    _ => uniform = false,
                }
            }
            match step {
                Some(c) if uniform && c != 0 => ivs.push(InductionVar {
                    header: h,
                    index,
                    value: p,
                    step: c,
                    entries: entries.clone(),
                    latches: latches.clone(),
                }),
                _ => {}
            }
        }
        if ivs.len() == first_iv {
            continue;
        }
        // Loop-invariant: defined in a block that strictly dominates the header.
        let invariant = |v: Value| {
            func.def_block(v)
                .is_some_and(|d| d != h && dt.dominates(d, h))
        };
        for &b in &lp.blocks {
            for &i in func.layout.block_insts(b) {
                let d = &func.dfg.insts[i];
                let wrap = match d.opcode {
                    Opcode::MulI => false,
                    Opcode::MulIWrap => true,
                    _ => continue,
                };
                let [x, y] = d.args.as_slice() else {
                    continue;
                };
                if claimed.contains(&i) {
                    continue;
                }
                let found = (first_iv..ivs.len()).find_map(|n| {
                    let p = ivs[n].value;
                    let other = if *x == p {
                        *y
                    } else if *y == p {
                        *x
                    } else {
                        return None;
                    };
                    let factor = if other == p {
                        Factor::Square
                    } else if let Some(k) = const_int(func, other) {
                        // Powers of two are part 1's; -1, 0, 1 are not worth a variable.
                        if matches!(k, -1..=1) || log2(k).is_some() {
                            return None;
                        }
                        Factor::Const(k)
                    } else if invariant(other) {
                        Factor::Invariant(other)
                    } else {
                        return None;
                    };
                    Some((n, factor))
                });
                let Some((n, factor)) = found else {
                    continue;
                };
                let group = groups.entry((n, factor)).or_default();
                // An earlier checked site of the same product in this block dominates this one:
                // it already trapped unless the product fits.
                let earlier_here = group
                    .iter()
                    .any(|s| s.checked && func.layout.inst_block(s.inst) == Some(b));
                let check = if wrap || earlier_here {
                    None
                } else {
                    let p = ivs[n].value;
                    let r = ranges.range_at(p, (b, None), CONTEXT_BUDGET);
                    match factor {
                        Factor::Square if r.within(-SQRT_MAX, SQRT_MAX) => None,
                        Factor::Square if r.lo >= -SQRT_MAX => Some(Check::AtMost(SQRT_MAX)),
                        Factor::Square if r.hi <= SQRT_MAX => Some(Check::AtLeast(-SQRT_MAX)),
                        Factor::Square => continue,
                        Factor::Const(k) if r.product_fits(Range::point(k)) => None,
                        Factor::Invariant(k)
                            if r.product_fits(ranges.range_at(k, (b, None), CONTEXT_BUDGET)) =>
                        {
                            None
                        }
                        _ => continue,
                    }
                };
                claimed.insert(i);
                group.push(Site {
                    inst: i,
                    checked: !wrap,
                    check,
                });
            }
        }
    }
    let reductions = groups
        .into_iter()
        .filter(|(_, sites)| !sites.is_empty())
        .map(|((iv, factor), sites)| Reduction { iv, factor, sites })
        .collect();
    InductionPlan { ivs, reductions }
}

/// What part 2 did.
struct InductionStats {
    reduced: usize,
    checks: usize,
}

fn apply_induction(
    func: &mut Function,
    consts: &mut ConstPool,
    plan: &InductionPlan,
) -> InductionStats {
    let mut stats = InductionStats {
        reduced: 0,
        checks: 0,
    };
    let mut alias: HashMap<Value, Value> = HashMap::new();
    for red in &plan.reductions {
        let iv = &plan.ivs[red.iv];
        if apply_reduction(func, consts, iv, red, &mut alias, &mut stats).is_some() {
            stats.reduced += 1;
        }
    }
    replace_uses(func, &alias);
    stats
}

/// Adds the derived induction variable(s) for one reduction, updates every edge into the header
/// and replaces the product sites.
fn apply_reduction(
    func: &mut Function,
    consts: &mut ConstPool,
    iv: &InductionVar,
    red: &Reduction,
    alias: &mut HashMap<Value, Value>,
    stats: &mut InductionStats,
) -> Option<()> {
    let c = iv.step;
    let loc = func.dfg.insts[red.sites.first()?.inst].loc;
    let h = iv.header;
    let wrap = |op: Opcode| (op, Imm::None, Type::I64);

    // For `i * k` with an invariant `k`: `c * k`, computed once right after `k` is available.
    let step_k = match red.factor {
        Factor::Invariant(k) if c == 1 => Some(k),
        Factor::Invariant(k) => {
            let d = func.def_block(k)?;
            let t = func.layout.last_inst(d)?;
            Some(insert_mul_wrap(func, consts, t, k, c)?)
        }
        _ => None,
    };

    let product = func.dfg.append_block_param(h, Type::I64);
    let diff = match red.factor {
        Factor::Square => Some(func.dfg.append_block_param(h, Type::I64)),
        _ => None,
    };

    for &(t, k) in &iv.entries {
        let init = *func.dfg.insts[t].dests.get(k)?.args.get(iv.index)?;
        let known = const_int(func, init);
        let mut new_args: SmallVec<[Value; 2]> = SmallVec::new();
        match (red.factor, known) {
            (Factor::Square, Some(i0)) => {
                new_args.push(consts.get(func, i0.wrapping_mul(i0), loc));
                let d0 = (2 * c).wrapping_mul(i0).wrapping_add(c.wrapping_mul(c));
                new_args.push(consts.get(func, d0, loc));
            }
            (Factor::Square, None) => {
                let (op, imm, ty) = wrap(Opcode::MulIWrap);
                new_args.push(insert_before(func, t, op, &[init, init], imm, ty)?);
                let csq = consts.get(func, c.wrapping_mul(c), loc);
                let scaled = insert_mul_wrap(func, consts, t, init, c.wrapping_mul(2))?;
                let (op, imm, ty) = wrap(Opcode::AddIWrap);
                new_args.push(insert_before(func, t, op, &[scaled, csq], imm, ty)?);
            }
            (Factor::Const(m), Some(i0)) => {
                new_args.push(consts.get(func, i0.wrapping_mul(m), loc))
            }
            (Factor::Const(m), None) => {
                new_args.push(insert_mul_wrap(func, consts, t, init, m)?);
            }
            (Factor::Invariant(m), _) => {
                let (op, imm, ty) = wrap(Opcode::MulIWrap);
                new_args.push(insert_before(func, t, op, &[init, m], imm, ty)?);
            }
        }
        func.dfg.insts[t].dests[k].args.extend(new_args);
    }

    for &(t, k) in &iv.latches {
        let mut new_args: SmallVec<[Value; 2]> = SmallVec::new();
        let (op, imm, ty) = wrap(Opcode::AddIWrap);
        match red.factor {
            Factor::Square => {
                let d = diff?;
                new_args.push(insert_before(func, t, op, &[product, d], imm.clone(), ty)?);
                let dd = consts.get(func, c.wrapping_mul(c).wrapping_mul(2), loc);
                new_args.push(insert_before(func, t, op, &[d, dd], imm, ty)?);
            }
            Factor::Const(m) => {
                let cm = consts.get(func, c.wrapping_mul(m), loc);
                new_args.push(insert_before(func, t, op, &[product, cm], imm, ty)?);
            }
            Factor::Invariant(_) => {
                new_args.push(insert_before(func, t, op, &[product, step_k?], imm, ty)?);
            }
        }
        func.dfg.insts[t].dests.get_mut(k)?.args.extend(new_args);
    }

    for site in &red.sites {
        if let Some(check) = site.check {
            insert_check(func, consts, site.inst, iv.value, check)?;
            stats.checks += 1;
        }
        let r = func.dfg.insts[site.inst].result?;
        alias.insert(r, product);
        func.layout.remove_inst(site.inst);
    }
    Some(())
}

/// Splits the block of `site` before it and branches to a new trap block unless `iv` passes
/// `check`: the trap raises the multiplication's overflow error at the multiplication's location.
fn insert_check(
    func: &mut Function,
    consts: &mut ConstPool,
    site: Inst,
    iv: Value,
    check: Check,
) -> Option<()> {
    let loc = func.dfg.insts[site].loc;
    let (pred, limit) = match check {
        Check::AtMost(c) => (CmpPred::Le, c),
        Check::AtLeast(c) => (CmpPred::Ge, c),
    };
    // Before taking the block's instruction list: the pool may insert into the entry block.
    let limit = consts.get(func, limit, loc);
    let b = func.layout.inst_block(site)?;
    let insts = func.layout.block_insts(b).to_vec();
    let pos = insts.iter().position(|&i| i == site)?;
    let cont = func.dfg.make_block();
    let trap = func.dfg.make_block();
    func.layout.insert_blocks_after(b, [cont]);
    func.layout.append_block(trap);
    func.layout.set_block_insts(b, insts[..pos].to_vec());
    func.layout.set_block_insts(cont, insts[pos..].to_vec());

    let ok = func.dfg.make_inst(
        Opcode::CmpI,
        &[iv, limit],
        Imm::Cmp(pred),
        SmallVec::new(),
        Type::Bool,
        loc,
    );
    func.layout.append_inst(b, ok);
    let ok = func.dfg.inst_result(ok);
    let br = func.dfg.make_inst(
        Opcode::CondBr,
        &[ok],
        Imm::None,
        smallvec![BlockCall::new(cont, &[]), BlockCall::new(trap, &[])],
        Type::Unit,
        loc,
    );
    func.layout.append_inst(b, br);
    let raise = func.dfg.make_inst(
        Opcode::Trap,
        &[],
        Imm::Message(OVERFLOW_MESSAGE.to_string()),
        SmallVec::new(),
        Type::Unit,
        loc,
    );
    func.layout.append_inst(trap, raise);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruchy_ir::{parse_module, FuncBuilder, Level, Module};
    use ruchy_runtime::{Config, Interpreter, Value as RtValue};

    /// What running a function produced: its printed output, and its value or its error message
    /// and location.
    type Outcome = (String, Result<String, (String, SrcLoc)>);

    fn run(m: &Module, name: &str, args: &[i64]) -> Outcome {
        let mut out = Vec::new();
        let result = {
            let mut it = Interpreter::new(m, Config::default(), &mut out);
            let id = m.func_by_name(name).expect("function exists");
            let args: Vec<RtValue> = args.iter().map(|&a| RtValue::Int(a)).collect();
            let r = it.call(id, &args);
            it.flush();
            r.map(|v| format!("{v:?}")).map_err(|e| (e.message, e.loc))
        };
        (String::from_utf8_lossy(&out).into_owned(), result)
    }

    fn reduce(m: &Module) -> (Module, crate::RunReport) {
        let mut out = m.clone();
        let report = crate::run_pipeline(&mut out, "strength-reduce").expect("pass runs");
        ruchy_ir::verify_module(&out).expect("verifies");
        (out, report)
    }

    fn count_ops(m: &Module, op: Opcode) -> usize {
        m.funcs
            .values()
            .map(|f| {
                f.insts_in_order()
                    .filter(|&(_, i)| f.dfg.insts[i].opcode == op)
                    .count()
            })
            .sum()
    }

    /// `@f(x) = (x [& mask]) op c` at level typed, built with the builder.
    fn unary(op: Opcode, c: i64, mask: Option<i64>) -> Module {
        let mut m = Module::new("unit");
        let mut f = Function::new("f", vec![Type::I64], Type::I64, Level::Typed);
        {
            let mut b = FuncBuilder::new(&mut f);
            b.loc = SrcLoc::new(1, 5);
            let bb = b.create_block();
            let x = b.append_block_param(bb, Type::I64);
            b.switch_to_block(bb);
            let x = match mask {
                Some(mk) => {
                    let k = b.iconst(mk);
                    b.value(Opcode::AndI, &[x, k], Imm::None, Type::I64)
                }
                None => x,
            };
            let k = b.iconst(c);
            let r = b.value(op, &[x, k], Imm::None, Type::I64);
            b.ret(r);
        }
        m.add_function(f);
        m
    }

    const SAMPLES: [i64; 11] = [i64::MIN, -9, -8, -7, -1, 0, 1, 7, 8, 9, i64::MAX];

    #[test]
    fn division_and_remainder_by_powers_of_two_match_rust() {
        for k in [1u32, 2, 3, 62] {
            let d = 1i64 << k;
            for mask in [None, Some(i64::MAX), Some(0xffff)] {
                for op in [Opcode::DivI, Opcode::RemI] {
                    let m = unary(op, d, mask);
                    let (reduced, report) = reduce(&m);
                    assert_eq!(count_ops(&reduced, op), 0, "{op} by 2^{k} not rewritten");
                    let stats = report.stats_of("strength-reduce");
                    assert_eq!(stats.get("multiplies/divides/remainders reduced"), 1);
                    for x in SAMPLES {
                        let xm = mask.map_or(x, |mk| x & mk);
                        let want = if op == Opcode::DivI { xm / d } else { xm % d };
                        let got = run(&reduced, "f", &[x]);
                        assert_eq!(
                            got,
                            (String::new(), Ok(format!("{:?}", RtValue::Int(want)))),
                            "{op} of {xm} by 2^{k}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn multiplication_by_powers_of_two_matches_rust() {
        for k in [1u32, 2, 3, 62, 63] {
            let c = (1u64 << k) as i64;
            let m = unary(Opcode::MulIWrap, c, None);
            let (reduced, _) = reduce(&m);
            assert_eq!(count_ops(&reduced, Opcode::MulIWrap), 0);
            for x in SAMPLES {
                let got = run(&reduced, "f", &[x]);
                let want = format!("{:?}", RtValue::Int(x.wrapping_mul(c)));
                assert_eq!(got, (String::new(), Ok(want)), "{x} * 2^{k}");
            }
            // The checked form of an unknown operand keeps its overflow error.
            let m = unary(Opcode::MulI, c, None);
            let (reduced, _) = reduce(&m);
            assert_eq!(count_ops(&reduced, Opcode::MulI), 1);
            // With a mask small enough for the product to fit, it is a shift; one bit more and
            // the product may overflow, so it stays.
            let fits = if k == 63 { 1 } else { (1i64 << (63 - k)) - 1 };
            for (mask, rewritten) in [(fits, true), (fits * 2 + 1, false)] {
                let m = unary(Opcode::MulI, c, Some(mask));
                let (reduced, _) = reduce(&m);
                assert_eq!(
                    count_ops(&reduced, Opcode::MulI),
                    usize::from(!rewritten),
                    "(x & {mask}) * 2^{k}"
                );
                for x in SAMPLES {
                    assert_eq!(run(&m, "f", &[x]), run(&reduced, "f", &[x]));
                }
            }
        }
    }

    #[test]
    fn trivial_divisors_and_refusals() {
        for (op, c, rewritten) in [
            (Opcode::DivI, 1, true),
            (Opcode::RemI, 1, true),
            (Opcode::MulI, 1, true),
            (Opcode::DivI, 0, false),
            (Opcode::RemI, 0, false),
            (Opcode::DivI, -4, false),
            (Opcode::RemI, -8, false),
            (Opcode::DivI, 12, false),
            (Opcode::DivI, i64::MIN, false),
        ] {
            let m = unary(op, c, None);
            let (reduced, _) = reduce(&m);
            assert_eq!(
                count_ops(&reduced, op),
                usize::from(!rewritten),
                "{op} by {c}"
            );
            for x in SAMPLES {
                assert_eq!(
                    run(&m, "f", &[x]),
                    run(&reduced, "f", &[x]),
                    "{op} {x}, {c}"
                );
            }
        }
    }

    const LOOPS: &str = r#"
module "loops"

func @is_prime(i64) -> bool level(typed) loc(2:1) {
^bb0(%v0: i64):
  %v1 = arith.const 2 : i64 loc(3:12)
  %v2 = arith.cmpi lt %v0, %v1 : bool loc(3:8)
  cf.cond_br %v2, ^bb1, ^bb2 loc(3:5)
^bb1:
  %v3 = arith.const false : bool loc(3:23)
  cf.return %v3 loc(3:16)
^bb2:
  %v7 = arith.cmpi eq %v0, %v1 : bool loc(4:8)
  cf.cond_br %v7, ^bb4, ^bb5 loc(4:5)
^bb4:
  %v8 = arith.const true : bool loc(4:24)
  cf.return %v8 loc(4:17)
^bb5:
  %v11 = arith.remi %v0, %v1 : i64 loc(5:8)
  %v12 = arith.const 0 : i64 loc(5:17)
  %v13 = arith.cmpi eq %v11, %v12 : bool loc(5:8)
  cf.cond_br %v13, ^bb7, ^bb8 loc(5:5)
^bb7:
  %v14 = arith.const false : bool loc(5:28)
  cf.return %v14 loc(5:21)
^bb8:
  %v15 = arith.const 3 : i64 loc(6:17)
  cf.br ^bb10(%v15) loc(7:5)
^bb10(%v16: i64):
  %v17 = arith.muli %v16, %v16 : i64 loc(7:11)
  %v19 = arith.cmpi le %v17, %v0 : bool loc(7:11)
  cf.cond_br %v19, ^bb11, ^bb12 loc(7:11)
^bb11:
  %v20 = arith.remi %v0, %v16 : i64 loc(8:12)
  %v22 = arith.cmpi eq %v20, %v12 : bool loc(8:12)
  cf.cond_br %v22, ^bb13, ^bb14 loc(8:9)
^bb12:
  %v29 = arith.const true : bool loc(11:5)
  cf.return %v29 loc(12:1)
^bb13:
  %v23 = arith.const false : bool loc(8:32)
  cf.return %v23 loc(8:25)
^bb14:
  %v26 = arith.addi %v16, %v1 : i64 loc(9:13)
  cf.br ^bb10(%v26) loc(7:11)
}

func @squares_from(i64, i64) -> i64 level(typed) loc(20:1) {
^bb0(%v0: i64, %v1: i64):
  %v2 = arith.const 0 : i64 loc(21:12)
  %v3 = arith.cmpi lt %v0, %v2 : bool loc(21:8)
  cf.cond_br %v3, ^bb4, ^bb1(%v0, %v2) loc(21:5)
^bb1(%v4: i64, %v5: i64):
  %v6 = arith.muli %v4, %v4 : i64 loc(22:11)
  %v7 = arith.cmpi le %v6, %v1 : bool loc(22:11)
  cf.cond_br %v7, ^bb2, ^bb3 loc(22:11)
^bb2:
  %v8 = arith.const 1 : i64 loc(23:21)
  %v9 = arith.addi %v5, %v8 : i64 loc(23:17)
  %v10 = arith.const 2 : i64 loc(24:17)
  %v11 = arith.addi %v4, %v10 : i64 loc(24:13)
  cf.br ^bb1(%v11, %v9) loc(22:11)
^bb3:
  cf.return %v5 loc(25:5)
^bb4:
  %v12 = arith.const -1 : i64 loc(26:12)
  cf.return %v12 loc(26:5)
}

func @print_squares(i64, i64) -> i64 level(typed) loc(30:1) {
^bb0(%v0: i64, %v1: i64):
  %v2 = arith.const 0 : i64 loc(31:12)
  %v3 = arith.cmpi lt %v0, %v2 : bool loc(31:8)
  cf.cond_br %v3, ^bb4, ^bb1(%v0, %v2) loc(31:5)
^bb1(%v4: i64, %v5: i64):
  %v6 = arith.cmpi lt %v4, %v1 : bool loc(32:11)
  cf.cond_br %v6, ^bb2, ^bb3 loc(32:11)
^bb2:
  %v13 = rt.println %v4 : unit loc(33:9)
  %v7 = arith.muli %v4, %v4 : i64 loc(34:21)
  %v14 = arith.const 100000 : i64 loc(34:29)
  %v15 = arith.remi %v7, %v14 : i64 loc(34:21)
  %v8 = arith.addi %v5, %v15 : i64 loc(34:17)
  %v9 = arith.const 1 : i64 loc(35:17)
  %v10 = arith.addi_wrap %v4, %v9 : i64 loc(35:13)
  cf.br ^bb1(%v10, %v8) loc(32:11)
^bb3:
  cf.return %v5 loc(36:5)
^bb4:
  cf.return %v2 loc(37:5)
}

func @negative(i64) -> i64 level(typed) {
^bb0(%v0: i64):
  %v1 = arith.const 0 : i64 loc(1:13)
  cf.br ^bb1(%v0, %v1) loc(2:5)
^bb1(%v2: i64, %v3: i64):
  %v4 = arith.cmpi lt %v2, %v1 : bool loc(2:11)
  cf.cond_br %v4, ^bb2, ^bb3 loc(2:11)
^bb2:
  %v5 = arith.muli_wrap %v2, %v2 : i64 loc(3:9)
  %v6 = arith.muli %v2, %v2 : i64 loc(3:17)
  %v7 = arith.remi %v6, %v0 : i64 loc(3:21)
  %v8 = arith.addi_wrap %v3, %v7 : i64 loc(3:25)
  %v9 = arith.addi_wrap %v8, %v5 : i64 loc(3:29)
  %v10 = arith.const 1 : i64 loc(4:17)
  %v11 = arith.addi %v2, %v10 : i64 loc(4:13)
  cf.br ^bb1(%v11, %v9) loc(2:11)
^bb3:
  cf.return %v3 loc(5:5)
}

func @linear(i64, i64) -> i64 level(typed) {
^bb0(%v0: i64, %v1: i64):
  %v2 = arith.const 255 : i64 loc(1:17)
  %v3 = arith.andi %v0, %v2 : i64 loc(1:13)
  %v4 = arith.const 0 : i64 loc(2:25)
  %v19 = arith.const 1000000 : i64 loc(2:35)
  %v20 = arith.cmpi gt %v1, %v19 : bool loc(2:30)
  cf.cond_br %v20, ^bb4, ^bb1(%v1, %v4) loc(3:5)
^bb1(%v5: i64, %v6: i64):
  %v7 = arith.cmpi gt %v5, %v4 : bool loc(3:11)
  cf.cond_br %v7, ^bb2, ^bb3 loc(3:11)
^bb2:
  %v8 = arith.const 12 : i64 loc(4:21)
  %v9 = arith.muli %v5, %v8 : i64 loc(4:17)
  %v10 = arith.muli %v3, %v5 : i64 loc(4:27)
  %v11 = arith.muli_wrap %v5, %v0 : i64 loc(4:37)
  %v12 = arith.addi_wrap %v6, %v9 : i64 loc(4:13)
  %v13 = arith.addi_wrap %v12, %v10 : i64 loc(4:23)
  %v14 = arith.addi_wrap %v13, %v11 : i64 loc(4:33)
  %v15 = arith.const 3 : i64 loc(5:17)
  %v16 = arith.subi %v5, %v15 : i64 loc(5:13)
  %v17 = arith.const 1000000 : i64 loc(6:17)
  %v18 = arith.cmpi lt %v5, %v17 : bool loc(6:13)
  cf.cond_br %v18, ^bb1(%v16, %v14), ^bb3 loc(6:13)
^bb3:
  cf.return %v6 loc(7:5)
^bb4:
  cf.return %v4 loc(8:5)
}
"#;

    #[test]
    fn loop_products_behave_the_same_including_overflow_errors() {
        let (m, _) = parse_module(LOOPS).expect("parses");
        ruchy_ir::verify_module(&m).expect("verifies");
        let (reduced, report) = reduce(&m);
        let stats = report.stats_of("strength-reduce");
        assert_eq!(stats.get("induction variables reduced"), 7);
        assert_eq!(count_ops(&reduced, Opcode::MulI), 0);

        let cases: &[(&str, &[&[i64]])] = &[
            (
                "is_prime",
                &[
                    &[-5],
                    &[0],
                    &[1],
                    &[2],
                    &[3],
                    &[4],
                    &[9],
                    &[25],
                    &[97],
                    &[7919],
                    &[1_000_003],
                    &[2_147_483_647],
                    &[i64::MAX],
                    &[i64::MIN],
                ],
            ),
            (
                "squares_from",
                &[
                    &[0, 100],
                    &[3, 1_000_000],
                    &[-3, 5],
                    &[3_037_000_000, i64::MAX],
                    &[3_037_000_001, i64::MAX],
                    &[3_037_000_499, i64::MAX],
                    &[3_037_000_500, i64::MAX],
                    &[i64::MAX - 1, i64::MAX],
                    &[5, -1],
                ],
            ),
            (
                "print_squares",
                &[
                    &[0, 10],
                    &[3_037_000_490, 3_037_000_510],
                    &[i64::MAX - 3, i64::MAX],
                    &[-1, 5],
                ],
            ),
            (
                "negative",
                &[
                    &[-10],
                    &[0],
                    &[5],
                    &[-3_037_000_500],
                    &[i64::MIN],
                    &[i64::MIN + 1],
                ],
            ),
            (
                "linear",
                &[
                    &[7, 300],
                    &[-1, 1000],
                    &[i64::MAX, 999_999],
                    &[i64::MIN, 5],
                    &[3, 0],
                    &[3, -7],
                    &[200, 1_000_000],
                    &[200, 1_000_001],
                ],
            ),
        ];
        let mut traps = 0;
        for (name, inputs) in cases {
            for args in inputs.iter() {
                let before = run(&m, name, args);
                let after = run(&reduced, name, args);
                assert_eq!(before, after, "@{name}{args:?}");
                traps += usize::from(matches!(&before.1, Err((msg, _)) if msg == OVERFLOW_MESSAGE));
            }
        }
        assert!(
            traps >= 5,
            "the cases exercise the overflow error ({traps} traps)"
        );
    }

    #[test]
    fn ranges_of_induction_variables() {
        let (m, _) = parse_module(LOOPS).expect("parses");
        let id = m.func_by_name("is_prime").expect("exists");
        let f = &m.funcs[id];
        let cfg = ControlFlowGraph::compute(f);
        let dt = DomTree::compute(&cfg);
        let mut r = Ranges::new(f, &cfg, &dt);
        let i = Value::from_u32(16);
        assert_eq!(
            r.range(i),
            Range {
                lo: 3,
                hi: SQRT_MAX + 2
            }
        );
        let body = Block::from_u32(14);
        assert_eq!(
            r.range_at(i, (body, None), CONTEXT_BUDGET),
            Range {
                lo: 3,
                hi: SQRT_MAX
            }
        );
    }
}

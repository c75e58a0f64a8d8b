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
//! The range analysis ([`Ranges`]) gives each `i64` value an interval. It knows constants, the
//! integer ops (checked ops are exact when they do not trap, so their intervals are clamped to
//! `i64`; wrapping ops are used only when no bound wraps), lengths (non-negative), and block
//! parameters: the hull of the incoming arguments, where an argument `p + c` of parameter `p`
//! itself keeps the bound on the side it moves away from, by induction over the entries into the
//! block (`p` starts `>= lo` and only grows), provided the add cannot wrap: it is checked, or the
//! facts on its edge bound `p` (`p < n` before `p +wrap 1`). It also uses the conditions of
//! dominating branches: a block whose only predecessor ends in `cf.cond_br` on an `arith.cmpi`
//! knows the outcome of that comparison, about the compared value, about `v` when `v + c` was
//! compared, and about `v` when `v * v` was compared (`v * v <= h` gives `|v| <= isqrt(h)`).
//! In strict SSA such a fact holds wherever the branch dominates, because a value compared by a
//! dominating branch cannot be redefined on the way without passing the branch again.
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

/// `floor(sqrt(i64::MAX))`: `i * i` fits in `i64` iff `|i| <= SQRT_MAX`.
const SQRT_MAX: i64 = 3_037_000_499;

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
// Integer ranges.

/// A non-empty interval of `i64` values.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Range {
    lo: i64,
    hi: i64,
}

impl Range {
    const FULL: Range = Range {
        lo: i64::MIN,
        hi: i64::MAX,
    };
    const NON_NEGATIVE: Range = Range {
        lo: 0,
        hi: i64::MAX,
    };

    fn point(c: i64) -> Range {
        Range { lo: c, hi: c }
    }

    /// The result range of a checked op whose exact result lies in `[lo, hi]`: results outside
    /// `i64` raise an error instead of being produced. When no result fits, the op always traps
    /// and its result is never seen, so any range is sound.
    fn clamped(lo: i128, hi: i128) -> Range {
        let lo = lo.max(i64::MIN as i128);
        let hi = hi.min(i64::MAX as i128);
        if lo > hi {
            Range::FULL
        } else {
            Range {
                lo: lo as i64,
                hi: hi as i64,
            }
        }
    }

    /// The result range of a wrapping op whose exact result lies in `[lo, hi]`: exact when no
    /// bound wraps, else unknown.
    fn exact(lo: i128, hi: i128) -> Range {
        if lo <= hi && lo >= i64::MIN as i128 && hi <= i64::MAX as i128 {
            Range {
                lo: lo as i64,
                hi: hi as i64,
            }
        } else {
            Range::FULL
        }
    }

    /// The intersection of two facts about the same value. An empty intersection means the code
    /// is unreachable; either fact is then sound, and `self` is kept.
    fn meet(self, o: Range) -> Range {
        let lo = self.lo.max(o.lo);
        let hi = self.hi.min(o.hi);
        if lo > hi {
            self
        } else {
            Range { lo, hi }
        }
    }

    /// The smallest interval containing both.
    fn join(self, o: Range) -> Range {
        Range {
            lo: self.lo.min(o.lo),
            hi: self.hi.max(o.hi),
        }
    }

    fn within(self, lo: i64, hi: i64) -> bool {
        self.lo >= lo && self.hi <= hi
    }

    /// The hull of the products of the corners (the exact range of `a * b` over the box).
    fn product_hull(self, o: Range) -> (i128, i128) {
        let c = [
            self.lo as i128 * o.lo as i128,
            self.lo as i128 * o.hi as i128,
            self.hi as i128 * o.lo as i128,
            self.hi as i128 * o.hi as i128,
        ];
        let lo = c.iter().copied().min().unwrap_or(i128::MIN);
        let hi = c.iter().copied().max().unwrap_or(i128::MAX);
        (lo, hi)
    }

    /// Whether `a * b` fits in `i64` for every `a` in `self` and `b` in `o`.
    fn product_fits(self, o: Range) -> bool {
        let (lo, hi) = self.product_hull(o);
        lo >= i64::MIN as i128 && hi <= i64::MAX as i128
    }
}

/// `floor(sqrt(h))` for `h >= 0`.
fn isqrt(h: i64) -> i64 {
    if h <= 0 {
        return 0;
    }
    let h = h as i128;
    let mut s = (h as f64).sqrt() as i128;
    while s > 0 && s * s > h {
        s -= 1;
    }
    while (s + 1) * (s + 1) <= h {
        s += 1;
    }
    s as i64
}

/// The predicate that holds when `p` does not.
fn negate(p: CmpPred) -> CmpPred {
    match p {
        CmpPred::Eq => CmpPred::Ne,
        CmpPred::Ne => CmpPred::Eq,
        CmpPred::Lt => CmpPred::Ge,
        CmpPred::Ge => CmpPred::Lt,
        CmpPred::Le => CmpPred::Gt,
        CmpPred::Gt => CmpPred::Le,
    }
}

/// The values `v` can have when `v pred y` holds for some `y` in `other`.
fn bound(pred: CmpPred, other: Range) -> Range {
    let (min, max) = (i64::MIN as i128, i64::MAX as i128);
    match pred {
        CmpPred::Lt => Range::clamped(min, other.hi as i128 - 1),
        CmpPred::Le => Range::clamped(min, other.hi as i128),
        CmpPred::Gt => Range::clamped(other.lo as i128 + 1, max),
        CmpPred::Ge => Range::clamped(other.lo as i128, max),
        CmpPred::Eq => other,
        CmpPred::Ne => Range::FULL,
    }
}

/// Where a range is asked for: inside a block (facts of the dominating branches), optionally on
/// the edge from that block to a successor (plus the outcome of its own branch).
type Ctx = (Block, Option<Block>);

/// Recursion limit of the range queries (deeper values are unknown), so that long def chains
/// cannot exhaust the stack.
const MAX_DEPTH: u32 = 48;
/// How many levels of operands are evaluated with the facts of the query's block.
const CONTEXT_BUDGET: u32 = 3;
/// How many dominators a query looks at for branch facts.
const DOM_WALK: usize = 32;

/// Interval analysis of `i64` values, on demand and memoized. See the module documentation.
struct Ranges<'a> {
    f: &'a Function,
    cfg: &'a ControlFlowGraph,
    dt: &'a DomTree,
    memo: HashMap<Value, Range>,
    /// Block parameters being computed, with the invariant assumed meanwhile (a proven one).
    assumed: HashMap<Value, Range>,
    depth: u32,
}

impl<'a> Ranges<'a> {
    fn new(f: &'a Function, cfg: &'a ControlFlowGraph, dt: &'a DomTree) -> Self {
        Ranges {
            f,
            cfg,
            dt,
            memo: HashMap::new(),
            assumed: HashMap::new(),
            depth: 0,
        }
    }

    fn is_int(&self, v: Value) -> bool {
        self.f.dfg.values.get(v).is_some_and(|d| d.ty == Type::I64)
    }

    /// The range of `v` everywhere it is defined.
    fn range(&mut self, v: Value) -> Range {
        if !self.is_int(v) {
            return Range::FULL;
        }
        if let Some(&r) = self.memo.get(&v) {
            return r;
        }
        if let Some(&r) = self.assumed.get(&v) {
            return r;
        }
        if self.depth >= MAX_DEPTH {
            return Range::FULL;
        }
        self.depth += 1;
        let r = match self.f.dfg.value_def(v) {
            ValueDef::Result(i) => self.eval(i, None),
            ValueDef::Param(b, idx) => self.param_range(v, b, idx as usize),
            ValueDef::Unused => Range::FULL,
        };
        self.depth -= 1;
        self.memo.insert(v, r);
        r
    }

    /// The range of `v` at `ctx`, using the branch conditions known there. `budget` levels of
    /// operands are evaluated in the same context.
    fn range_at(&mut self, v: Value, ctx: Ctx, budget: u32) -> Range {
        if !self.is_int(v) {
            return Range::FULL;
        }
        let mut r = self.range(v);
        if budget > 0 && self.depth < MAX_DEPTH {
            if let ValueDef::Result(i) = self.f.dfg.value_def(v) {
                self.depth += 1;
                let e = self.eval(i, Some((ctx, budget - 1)));
                self.depth -= 1;
                r = r.meet(e);
            }
        }
        r.meet(self.facts(v, ctx))
    }

    fn operand(&mut self, x: Value, ctx: Option<(Ctx, u32)>) -> Range {
        match ctx {
            Some((c, budget)) => self.range_at(x, c, budget),
            None => self.range(x),
        }
    }

    /// The range of an instruction's result from its operands' ranges.
    fn eval(&mut self, i: Inst, ctx: Option<(Ctx, u32)>) -> Range {
        let f = self.f;
        let d = &f.dfg.insts[i];
        let arg = |k: usize| d.args.get(k).copied();
        let konst = |k: usize| arg(k).and_then(|v| const_int(f, v));
        let two = |this: &mut Self| -> Option<(Range, Range)> {
            let (a, b) = (arg(0)?, arg(1)?);
            Some((this.operand(a, ctx), this.operand(b, ctx)))
        };
        let wide = |r: Range| (r.lo as i128, r.hi as i128);
        match d.opcode {
            Opcode::Const => match &d.imm {
                Imm::Const(Const::Int(c)) => Range::point(*c),
                _ => Range::FULL,
            },
            Opcode::AddI | Opcode::AddIWrap | Opcode::SubI | Opcode::SubIWrap => {
                let Some((a, b)) = two(self) else {
                    return Range::FULL;
                };
                let ((al, ah), (bl, bh)) = (wide(a), wide(b));
                let (lo, hi) = match d.opcode {
                    Opcode::AddI | Opcode::AddIWrap => (al + bl, ah + bh),
                    _ => (al - bh, ah - bl),
                };
                if matches!(d.opcode, Opcode::AddI | Opcode::SubI) {
                    Range::clamped(lo, hi)
                } else {
                    Range::exact(lo, hi)
                }
            }
            Opcode::MulI | Opcode::MulIWrap => {
                let Some((a, b)) = two(self) else {
                    return Range::FULL;
                };
                let (lo, hi) = a.product_hull(b);
                if d.opcode == Opcode::MulI {
                    Range::clamped(lo, hi)
                } else {
                    Range::exact(lo, hi)
                }
            }
            Opcode::DivI => {
                let Some((a, b)) = two(self) else {
                    return Range::FULL;
                };
                let (al, ah) = wide(a);
                match konst(1) {
                    // Truncating division by a constant is monotone in the dividend.
                    Some(c) if c > 0 => Range::clamped(al / c as i128, ah / c as i128),
                    Some(c) if c < 0 => Range::clamped(ah / c as i128, al / c as i128),
                    _ if b.lo >= 1 => {
                        // x / y with y >= 1 lies between 0 and x.
                        Range::clamped(al.min(0), ah.max(0))
                    }
                    _ => Range::FULL,
                }
            }
            Opcode::RemI => {
                let Some((a, b)) = two(self) else {
                    return Range::FULL;
                };
                // |x % y| < |y| and |x % y| <= |x|, with the sign of x. A zero divisor traps.
                let m = (b.lo as i128).abs().max((b.hi as i128).abs()) - 1;
                if m < 0 {
                    return Range::FULL;
                }
                let (al, ah) = wide(a);
                let lo = if al >= 0 { 0 } else { al.max(-m) };
                let hi = if ah <= 0 { 0 } else { ah.min(m) };
                Range::clamped(lo, hi)
            }
            Opcode::NegI => {
                let Some(a) = arg(0) else {
                    return Range::FULL;
                };
                let (al, ah) = wide(self.operand(a, ctx));
                Range::clamped(-ah, -al)
            }
            Opcode::NotI => {
                let Some(a) = arg(0) else {
                    return Range::FULL;
                };
                let a = self.operand(a, ctx);
                Range {
                    lo: !a.hi,
                    hi: !a.lo,
                }
            }
            Opcode::AndI => {
                let Some((a, b)) = two(self) else {
                    return Range::FULL;
                };
                // x & y with y >= 0 lies in [0, y].
                match (a.lo >= 0, b.lo >= 0) {
                    (true, true) => Range {
                        lo: 0,
                        hi: a.hi.min(b.hi),
                    },
                    (true, false) => Range { lo: 0, hi: a.hi },
                    (false, true) => Range { lo: 0, hi: b.hi },
                    (false, false) => Range::FULL,
                }
            }
            Opcode::OrI | Opcode::XorI => {
                let Some((a, b)) = two(self) else {
                    return Range::FULL;
                };
                if a.lo >= 0 && b.lo >= 0 {
                    let top = a.hi.max(b.hi) as u64;
                    let bits = 64 - top.leading_zeros();
                    Range::exact(0, (1i128 << bits) - 1)
                } else {
                    Range::FULL
                }
            }
            Opcode::ShrI => match (arg(0), konst(1)) {
                (Some(a), Some(k)) if (0..64).contains(&k) => {
                    let a = self.operand(a, ctx);
                    Range {
                        lo: a.lo >> k,
                        hi: a.hi >> k,
                    }
                }
                _ => Range::FULL,
            },
            Opcode::ShlI => match (arg(0), konst(1)) {
                (Some(a), Some(k)) if (0..64).contains(&k) => {
                    let (al, ah) = wide(self.operand(a, ctx));
                    Range::exact(al << k, ah << k)
                }
                _ => Range::FULL,
            },
            Opcode::ArrayLen | Opcode::StrLen | Opcode::DynLen => Range::NON_NEGATIVE,
            _ => Range::FULL,
        }
    }

    /// The range of parameter `idx` of block `b`, from the arguments of its incoming edges, in two
    /// steps. First an invariant that tolerates self-increments: an argument `p + c` (checked,
    /// constant `c >= 0`) keeps every lower bound of `p`, by induction over the entries into `b`
    /// (and symmetrically for `c <= 0`). Then, assuming that invariant for `p`, the hull of all
    /// incoming arguments with the facts of their edges.
    fn param_range(&mut self, p: Value, b: Block, idx: usize) -> Range {
        let f = self.f;
        let mut edges: Vec<(Block, Value)> = Vec::new();
        for &pred in self.cfg.preds(b) {
            if !self.cfg.is_reachable(pred) {
                continue; // never taken
            }
            let Some(t) = f.layout.last_inst(pred) else {
                continue;
            };
            for dest in &f.dfg.insts[t].dests {
                if dest.block == b {
                    if let Some(&a) = dest.args.get(idx) {
                        edges.push((pred, a));
                    }
                }
            }
        }
        if edges.is_empty() {
            return Range::FULL; // entry block (function parameters) or unreachable
        }

        self.assumed.insert(p, Range::FULL);
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        let mut other_edges = false;
        for &(pred, a) in &edges {
            if a == p {
                continue;
            }
            match self.self_step(a, p, (pred, Some(b))) {
                // A step only loses the bound on the side it moves toward.
                Some(c) => {
                    if c <= 0 {
                        lo = i64::MIN;
                    }
                    if c >= 0 {
                        hi = i64::MAX;
                    }
                }
                None => {
                    let r = self.range_at(a, (pred, Some(b)), CONTEXT_BUDGET - 1);
                    lo = lo.min(r.lo);
                    hi = hi.max(r.hi);
                    other_edges = true;
                }
            }
        }
        let invariant = if other_edges && lo <= hi {
            Range { lo, hi }
        } else {
            Range::FULL
        };

        self.assumed.insert(p, invariant);
        let mut hull: Option<Range> = None;
        for &(pred, a) in &edges {
            let r = if a == p {
                invariant
            } else {
                self.range_at(a, (pred, Some(b)), CONTEXT_BUDGET - 1)
            };
            hull = Some(hull.map_or(r, |h| h.join(r)));
        }
        self.assumed.remove(&p);
        hull.map_or(invariant, |h| h.meet(invariant))
    }

    /// `Some(c)` when `a`, passed on the edge `ctx`, is exactly `p + c` for a constant `c`: a
    /// checked `p + c` or `p - (-c)` (which traps instead of wrapping), or a wrapping one that the
    /// facts on the edge prove cannot wrap (`p < n` before `p +wrap 1`). `p` is assumed unknown
    /// while this is asked, so only the facts bound it.
    fn self_step(&mut self, a: Value, p: Value, ctx: Ctx) -> Option<i64> {
        let f = self.f;
        let ValueDef::Result(i) = f.dfg.values.get(a)?.def else {
            return None;
        };
        let d = &f.dfg.insts[i];
        let [x, y] = d.args.as_slice() else {
            return None;
        };
        let c = match d.opcode {
            Opcode::AddI | Opcode::AddIWrap if *x == p => const_int(f, *y)?,
            Opcode::AddI | Opcode::AddIWrap if *y == p => const_int(f, *x)?,
            Opcode::SubI | Opcode::SubIWrap if *x == p => const_int(f, *y)?.checked_neg()?,
            _ => return None,
        };
        if matches!(d.opcode, Opcode::AddIWrap | Opcode::SubIWrap) {
            let r = self.range_at(p, ctx, 0);
            let (lo, hi) = (r.lo as i128 + c as i128, r.hi as i128 + c as i128);
            if lo < i64::MIN as i128 || hi > i64::MAX as i128 {
                return None;
            }
        }
        Some(c)
    }

    /// What the branches on the way to `ctx` say about `v`.
    fn facts(&mut self, v: Value, ctx: Ctx) -> Range {
        let (b, edge) = ctx;
        let mut r = Range::FULL;
        if let Some(succ) = edge {
            if let Some((cond, outcome)) = self.branch_outcome(b, succ) {
                r = r.meet(self.cond_fact(v, cond, outcome, 2));
            }
        }
        let (cfg, dt) = (self.cfg, self.dt);
        let mut d = b;
        for _ in 0..DOM_WALK {
            let mut preds = cfg
                .preds(d)
                .iter()
                .copied()
                .filter(|&p| cfg.is_reachable(p));
            if let (Some(p), None) = (preds.next(), preds.next()) {
                if let Some((cond, outcome)) = self.branch_outcome(p, d) {
                    r = r.meet(self.cond_fact(v, cond, outcome, 2));
                }
            }
            match dt.idom(d) {
                Some(up) if up != d => d = up,
                _ => break,
            }
        }
        r
    }

    /// When `from` ends in a two-way branch whose destinations differ, the branch condition and
    /// whether going to `to` means it held.
    fn branch_outcome(&self, from: Block, to: Block) -> Option<(Value, bool)> {
        let f = self.f;
        let t = f.layout.last_inst(from)?;
        let d = &f.dfg.insts[t];
        if d.opcode != Opcode::CondBr || d.dests.len() != 2 {
            return None;
        }
        let (yes, no) = (d.dests[0].block, d.dests[1].block);
        if yes == no {
            return None;
        }
        let cond = *d.args.first()?;
        if to == yes {
            Some((cond, true))
        } else if to == no {
            Some((cond, false))
        } else {
            None
        }
    }

    /// What `cond == outcome` says about `v`.
    fn cond_fact(&mut self, v: Value, cond: Value, outcome: bool, nots: u32) -> Range {
        let f = self.f;
        let Some(ValueDef::Result(i)) = f.dfg.values.get(cond).map(|d| d.def) else {
            return Range::FULL;
        };
        let d = &f.dfg.insts[i];
        match (d.opcode, &d.imm) {
            (Opcode::Not, _) if nots > 0 => match d.args.first() {
                Some(&c) => self.cond_fact(v, c, !outcome, nots - 1),
                None => Range::FULL,
            },
            (Opcode::CmpI, Imm::Cmp(pred)) if d.args.len() == 2 => {
                let pred = if outcome { *pred } else { negate(*pred) };
                let (a, b) = (d.args[0], d.args[1]);
                let left = self.side_fact(v, a, pred, b);
                let right = self.side_fact(v, b, pred.swapped(), a);
                left.meet(right)
            }
            _ => Range::FULL,
        }
    }

    /// What `a pred other` says about `v`, when `a` is `v`, `v + c`, `v - c` or `v * v`.
    fn side_fact(&mut self, v: Value, a: Value, pred: CmpPred, other: Value) -> Range {
        if !self.is_int(v) || !self.is_int(a) {
            return Range::FULL;
        }
        if a == v {
            let o = self.range(other);
            return bound(pred, o);
        }
        let f = self.f;
        let ValueDef::Result(i) = f.dfg.value_def(a) else {
            return Range::FULL;
        };
        let d = &f.dfg.insts[i];
        if d.args.len() != 2 || !d.args.contains(&v) {
            return Range::FULL;
        }
        // `a = v + shift` exactly (checked ops that did not trap).
        let shift = match d.opcode {
            Opcode::AddI if d.args[0] == v => const_int(f, d.args[1]),
            Opcode::AddI => const_int(f, d.args[0]),
            Opcode::SubI if d.args[0] == v => const_int(f, d.args[1]).and_then(i64::checked_neg),
            Opcode::MulI if d.args[0] == v && d.args[1] == v => {
                let o = self.range(other);
                let h = match pred {
                    CmpPred::Lt => o.hi as i128 - 1,
                    CmpPred::Le | CmpPred::Eq => o.hi as i128,
                    _ => return Range::FULL,
                };
                if h < 0 {
                    return Range::FULL; // a square is never negative: unreachable
                }
                let s = isqrt(h.min(i64::MAX as i128) as i64);
                return Range { lo: -s, hi: s };
            }
            _ => None,
        };
        let Some(c) = shift else {
            return Range::FULL;
        };
        let o = self.range(other);
        let ra = bound(pred, o);
        Range::clamped(ra.lo as i128 - c as i128, ra.hi as i128 - c as i128)
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
                    Some(_)
                        if uses.get(&r).copied().unwrap_or(0)
                            == zero_tests.get(&r).copied().unwrap_or(0) =>
                    {
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

/// The block that defines `v`.
fn def_block(func: &Function, v: Value) -> Option<Block> {
    match func.dfg.values.get(v)?.def {
        ValueDef::Result(i) => func.layout.inst_block(i),
        ValueDef::Param(b, _) => Some(b),
        ValueDef::Unused => None,
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
        let invariant = |v: Value| def_block(func, v).is_some_and(|d| d != h && dt.dominates(d, h));
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
            let d = def_block(func, k)?;
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
    let mut order = func.layout.blocks().to_vec();
    let at = order.iter().position(|&x| x == b)?;

    let cont = func.dfg.make_block();
    let trap = func.dfg.make_block();
    order.insert(at + 1, cont);
    order.push(trap);
    func.layout.set_block_order(order);
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

    #[test]
    fn isqrt_is_exact() {
        for h in [
            0,
            1,
            2,
            3,
            4,
            15,
            16,
            17,
            1 << 40,
            i64::MAX,
            SQRT_MAX * SQRT_MAX,
        ] {
            let s = isqrt(h) as i128;
            assert!(s * s <= h as i128 && (s + 1) * (s + 1) > h as i128, "{h}");
        }
        assert_eq!(isqrt(i64::MAX), SQRT_MAX);
    }
}

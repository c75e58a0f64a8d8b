//! Interval analysis of `i64` values, shared by `strength-reduce` and `overflow-elim`.
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

use ruchy_ir::utils::const_int;
use ruchy_ir::{
    Block, CmpPred, Const, ControlFlowGraph, DomTree, Function, Imm, Inst, Opcode, Type, Value,
    ValueDef,
};
use std::collections::HashMap;

/// `floor(sqrt(i64::MAX))`: `i * i` fits in `i64` iff `|i| <= SQRT_MAX`.
pub(crate) const SQRT_MAX: i64 = 3_037_000_499;

/// A non-empty interval of `i64` values.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Range {
    pub(crate) lo: i64,
    pub(crate) hi: i64,
}

impl Range {
    pub(crate) const FULL: Range = Range {
        lo: i64::MIN,
        hi: i64::MAX,
    };
    pub(crate) const NON_NEGATIVE: Range = Range {
        lo: 0,
        hi: i64::MAX,
    };

    pub(crate) fn point(c: i64) -> Range {
        Range { lo: c, hi: c }
    }

    /// The result range of a checked op whose exact result lies in `[lo, hi]`: results outside
    /// `i64` raise an error instead of being produced. When no result fits, the op always traps
    /// and its result is never seen, so any range is sound.
    pub(crate) fn clamped(lo: i128, hi: i128) -> Range {
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
    pub(crate) fn exact(lo: i128, hi: i128) -> Range {
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
    pub(crate) fn meet(self, o: Range) -> Range {
        let lo = self.lo.max(o.lo);
        let hi = self.hi.min(o.hi);
        if lo > hi {
            self
        } else {
            Range { lo, hi }
        }
    }

    /// The smallest interval containing both.
    pub(crate) fn join(self, o: Range) -> Range {
        Range {
            lo: self.lo.min(o.lo),
            hi: self.hi.max(o.hi),
        }
    }

    pub(crate) fn within(self, lo: i64, hi: i64) -> bool {
        self.lo >= lo && self.hi <= hi
    }

    /// The hull of the products of the corners (the exact range of `a * b` over the box).
    pub(crate) fn product_hull(self, o: Range) -> (i128, i128) {
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
    pub(crate) fn product_fits(self, o: Range) -> bool {
        let (lo, hi) = self.product_hull(o);
        lo >= i64::MIN as i128 && hi <= i64::MAX as i128
    }
}

/// `floor(sqrt(h))` for `h >= 0`.
pub(crate) fn isqrt(h: i64) -> i64 {
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
pub(crate) type Ctx = (Block, Option<Block>);

/// Recursion limit of the range queries (deeper values are unknown), so that long def chains
/// cannot exhaust the stack.
const MAX_DEPTH: u32 = 48;
/// How many levels of operands are evaluated with the facts of the query's block.
pub(crate) const CONTEXT_BUDGET: u32 = 3;
/// How many dominators a query looks at for branch facts.
const DOM_WALK: usize = 32;

/// Interval analysis of `i64` values, on demand and memoized. See the module documentation.
pub(crate) struct Ranges<'a> {
    f: &'a Function,
    cfg: &'a ControlFlowGraph,
    dt: &'a DomTree,
    memo: HashMap<Value, Range>,
    /// Block parameters being computed, with the invariant assumed meanwhile (a proven one).
    assumed: HashMap<Value, Range>,
    depth: u32,
}

impl<'a> Ranges<'a> {
    pub(crate) fn new(f: &'a Function, cfg: &'a ControlFlowGraph, dt: &'a DomTree) -> Self {
        Ranges {
            f,
            cfg,
            dt,
            memo: HashMap::new(),
            assumed: HashMap::new(),
            depth: 0,
        }
    }

    pub(crate) fn is_int(&self, v: Value) -> bool {
        self.f.dfg.values.get(v).is_some_and(|d| d.ty == Type::I64)
    }

    /// The range of `v` everywhere it is defined.
    pub(crate) fn range(&mut self, v: Value) -> Range {
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
    pub(crate) fn range_at(&mut self, v: Value, ctx: Ctx, budget: u32) -> Range {
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

#[cfg(test)]
mod tests {
    use super::*;

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

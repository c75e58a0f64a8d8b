//! Integer division and remainder by a constant, without a divide instruction.
//!
//! `i % 7` in a loop is common (sum_loop, poly, strings), and even the floating-point division
//! the general path uses costs a dozen cycles of latency plus the code of three ways to divide.
//! With the divisor known, a quotient is a multiplication by a "magic" reciprocal and a few
//! shifts (Granlund and Montgomery, "Division by invariant integers using multiplication",
//! 1994; the algorithm below is Hacker's Delight's, section 10-4), and a power of two needs
//! only shifts. This is what LLVM and Cranelift's optimizer do; tier 1 runs without the latter
//! (see `host_isa`), so the lowering does it. Positive powers of two and 1 are normally gone
//! before this: the `strength-reduce` pass rewrites them in the IR (using value ranges too).
//! What reaches the backend is every other constant (the multiply needs a high-half product
//! the IR has no op for), and the powers of two of IR that did not go through that pass
//! (negative divisors, `ruchy-opt` pipelines without it), which it must still compile right.
//! The results are Ruchy's: quotients truncate toward zero, a remainder has the sign of the
//! dividend, `i64::MIN / -1` raises the overflow error and `i64::MIN % -1` is 0.

use super::*;

/// The multiplier and shift that divide a signed 64-bit integer by `d` (`|d| >= 2`, not a
/// power of two): `q = (mulhi(x, m) [+ x if d > 0 and m < 0] [- x if d < 0 and m > 0]) >> s`,
/// plus one when that is negative.
pub(super) fn magic_s64(d: i64) -> (i64, u32) {
    debug_assert!(d.unsigned_abs() >= 2 && !d.unsigned_abs().is_power_of_two());
    const TWO63: u64 = 1 << 63;
    let ad = d.unsigned_abs();
    let t = TWO63 + ((d as u64) >> 63);
    // |nc|: the largest dividend with remainder ad - 1.
    let anc = t - 1 - t % ad;
    let mut p: u32 = 63;
    let (mut q1, mut r1) = (TWO63 / anc, TWO63 % anc);
    let (mut q2, mut r2) = (TWO63 / ad, TWO63 % ad);
    loop {
        p += 1;
        q1 = q1.wrapping_mul(2);
        r1 = r1.wrapping_mul(2);
        if r1 >= anc {
            q1 = q1.wrapping_add(1);
            r1 = r1.wrapping_sub(anc);
        }
        q2 = q2.wrapping_mul(2);
        r2 = r2.wrapping_mul(2);
        if r2 >= ad {
            q2 = q2.wrapping_add(1);
            r2 = r2.wrapping_sub(ad);
        }
        let delta = ad - r2;
        if !(q1 < delta || (q1 == delta && r1 == 0)) {
            break;
        }
    }
    let m = q2.wrapping_add(1) as i64;
    (if d < 0 { m.wrapping_neg() } else { m }, p - 64)
}

/// What the emitted code computes, quotient and remainder, in Rust: the model the unit tests
/// check against `/` and `%` (the code generator's own output is checked against the
/// interpreter by the tiering tests).
#[cfg(test)]
fn model(x: i64, d: i64) -> (i64, i64) {
    let ad = d.unsigned_abs();
    if ad.is_power_of_two() {
        let k = ad.trailing_zeros();
        let t = x.wrapping_add(((x >> 63) as u64 >> (64 - k)) as i64);
        let q = t >> k;
        let r = x.wrapping_sub(t & (ad as i64).wrapping_neg());
        return (if d < 0 { q.wrapping_neg() } else { q }, r);
    }
    let (m, s) = magic_s64(d);
    let mut q = ((x as i128 * m as i128) >> 64) as i64;
    if d > 0 && m < 0 {
        q = q.wrapping_add(x);
    } else if d < 0 && m > 0 {
        q = q.wrapping_sub(x);
    }
    q >>= s;
    let q = q.wrapping_add((q as u64 >> 63) as i64);
    (q, x.wrapping_sub(q.wrapping_mul(d)))
}

impl<'a, 'b> Lower<'a, 'b> {
    /// The integer constant `v` is defined as, if any: a divisor this module handles.
    pub(super) fn constant_divisor(&self, v: Value) -> Option<i64> {
        let ruchy_ir::ValueDef::Result(i) = self.f.dfg.value_def(v) else {
            return None;
        };
        let d = &self.f.dfg.insts[i];
        match (d.opcode, &d.imm) {
            (Opcode::Const, Imm::Const(ruchy_ir::Const::Int(c))) if *c != 0 => Some(*c),
            _ => None,
        }
    }

    /// `x / d` (`quotient`) or `x % d` for a constant `d != 0`.
    pub(super) fn divide_by_constant(
        &mut self,
        x: ClValue,
        d: i64,
        quotient: bool,
        loc: SrcLoc,
    ) -> ClValue {
        let ad = d.unsigned_abs();
        if ad == 1 {
            if !quotient {
                return self.iconst(types::I64, 0);
            }
            if d == 1 {
                return x;
            }
            let is_min = self.b.ins().icmp_imm_s(IntCC::Equal, x, i64::MIN);
            self.raise_if(is_min, errors::DIV_OVERFLOW, None, loc);
            return self.b.ins().ineg(x);
        }
        if ad.is_power_of_two() {
            let k = ad.trailing_zeros();
            // A negative dividend is biased by 2^k - 1 so that the shift truncates toward zero.
            let sign = self.b.ins().sshr_imm_u(x, 63);
            let bias = self.b.ins().ushr_imm_u(sign, i64::from(64 - k));
            let t = self.b.ins().iadd(x, bias);
            if quotient {
                let q = self.b.ins().sshr_imm_u(t, i64::from(k));
                return if d < 0 { self.b.ins().ineg(q) } else { q };
            }
            // x - q * 2^k, the sign of the divisor does not matter.
            let multiple = self.b.ins().band_imm_s(t, (ad as i64).wrapping_neg());
            return self.b.ins().isub(x, multiple);
        }
        let (m, s) = magic_s64(d);
        let m_value = self.b.ins().iconst(types::I64, m);
        let mut q = self.b.ins().smulhi(x, m_value);
        if d > 0 && m < 0 {
            q = self.b.ins().iadd(q, x);
        } else if d < 0 && m > 0 {
            q = self.b.ins().isub(q, x);
        }
        if s > 0 {
            q = self.b.ins().sshr_imm_u(q, i64::from(s));
        }
        let negative = self.b.ins().ushr_imm_u(q, 63);
        let q = self.b.ins().iadd(q, negative);
        if quotient {
            return q;
        }
        let multiple = self.b.ins().imul_imm_s(q, d);
        self.b.ins().isub(x, multiple)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dividends() -> Vec<i64> {
        let mut xs = vec![i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1, 0, 1, -1];
        // Around multiples of small and large divisors, and a pseudo-random spread.
        for k in 0..64 {
            let p = 1i64.wrapping_shl(k);
            xs.extend([
                p,
                p.wrapping_sub(1),
                p.wrapping_add(1),
                p.wrapping_neg(),
                !p,
            ]);
        }
        let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            xs.push(s as i64);
            xs.push((s >> (s % 60)) as i64);
        }
        xs
    }

    fn divisors() -> Vec<i64> {
        let mut ds = vec![i64::MIN, i64::MAX, i64::MIN + 1, 3037000499, -3037000499];
        for d in 2..=300 {
            ds.extend([d, -d]);
        }
        for k in 2..63 {
            let p = 1i64 << k;
            ds.extend([p, -p, p + 1, p - 1, -(p + 1), -(p - 1)]);
        }
        ds.extend([
            1000,
            1_000_000_007,
            10i64.pow(18),
            7 * 7 * 7 * 7 * 7 * 7 * 7,
        ]);
        ds
    }

    #[test]
    fn quotients_and_remainders_equal_rusts() {
        let xs = dividends();
        for d in divisors() {
            for &x in &xs {
                let want = (x.wrapping_div(d), x.wrapping_rem(d));
                assert_eq!(model(x, d), want, "{x} / {d}");
            }
        }
    }

    #[test]
    fn known_magic_numbers() {
        // Hacker's Delight, table 10-2 (64-bit).
        assert_eq!(magic_s64(3), (0x5555_5555_5555_5556, 0));
        assert_eq!(magic_s64(5), (0x6666_6666_6666_6667, 1));
        assert_eq!(magic_s64(7), (0x4924_9249_2492_4925, 1));
        assert_eq!(magic_s64(-5), (0x9999_9999_9999_9999u64 as i64, 1));
    }
}

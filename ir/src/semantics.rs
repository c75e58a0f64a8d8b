//! Scalar semantics that more than one layer must agree on.
//!
//! The interpreter (`runtime::ops`) executes these rules and the constant folder (`passes`
//! sccp) evaluates them at compile time; both call the one definition here, so a folded
//! program can never print something different from the interpreted one.

use std::cmp::Ordering;

/// A number that is an int or a float, for operations whose result kind depends on the values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

/// Compares an integer with a float exactly (no rounding of the integer, so `2^53 + 1` is
/// greater than `2^53` as a float); `None` when the float is NaN.
pub fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() {
        return None;
    }
    if f >= TWO_63 {
        return Some(Ordering::Less);
    }
    if f < -TWO_63 {
        return Some(Ordering::Greater);
    }
    let t = f.trunc();
    // In range, so the conversion is exact.
    let ti = t as i64;
    Some(match i.cmp(&ti) {
        Ordering::Equal => {
            if f > t {
                Ordering::Less
            } else if f < t {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        other => other,
    })
}

/// `base ** exp` on ints: an int when the exponent is >= 0 and the result fits, otherwise a
/// float.
pub fn pow_int(base: i64, exp: i64) -> Number {
    if exp >= 0 {
        match u32::try_from(exp) {
            Ok(e) => {
                if let Some(r) = base.checked_pow(e) {
                    return Number::Int(r);
                }
            }
            // Exponents beyond u32: only 0, 1 and -1 stay in range.
            Err(_) => match base {
                0 | 1 => return Number::Int(base),
                -1 => return Number::Int(if exp % 2 == 0 { 1 } else { -1 }),
                _ => {}
            },
        }
    }
    Number::Float((base as f64).powf(exp as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_float_comparison_is_exact_beyond_2_pow_53() {
        let big = 1i64 << 53;
        assert_eq!(cmp_int_float(big + 1, big as f64), Some(Ordering::Greater));
        assert_eq!(cmp_int_float(big, big as f64), Some(Ordering::Equal));
        assert_eq!(cmp_int_float(3, 2.5), Some(Ordering::Greater));
        assert_eq!(cmp_int_float(-3, -2.5), Some(Ordering::Less));
        assert_eq!(cmp_int_float(i64::MAX, 9.3e18), Some(Ordering::Less));
        assert_eq!(cmp_int_float(0, f64::NAN), None);
    }

    #[test]
    fn int_power_overflows_to_float() {
        assert_eq!(pow_int(2, 10), Number::Int(1024));
        assert_eq!(pow_int(-1, 1 << 40), Number::Int(1));
        assert_eq!(pow_int(2, 64), Number::Float(2f64.powf(64.0)));
        assert_eq!(pow_int(2, -1), Number::Float(0.5));
    }
}

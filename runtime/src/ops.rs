//! The semantics of Ruchy operators, builtins and simple methods on dynamic values.
//!
//! Every function returns `Err(message)` with the exact user-facing text and no location; the
//! caller prefixes `file:line:col`. Nothing here panics, whatever the input.
//!
//! These functions sit on the interpreter's hot path: each public operator matches the
//! int/int and float/float cases first, inline and without allocation, and leaves every other
//! case to an out-of-line slow path. Error messages are only built on the error path.

use crate::array::{ArrayObj, ValuesRef};
use crate::format::{self, MAX_NESTING};
use crate::value::Value;
use ruchy_ir::semantics::{cmp_int_float, pow_int, Number};
use ruchy_ir::{Builtin, CmpPred};
use std::cmp::Ordering;
use std::rc::Rc;

/// Upper bound on the byte length of a string built by repetition or `replace`, so that a
/// program cannot abort the process by exhausting memory with one expression.
pub const MAX_STRING_BYTES: usize = 1 << 30;

/// What every value-producing operation returns: the value, or the error message (no location).
pub type OpResult = Result<Value, String>;

// ---------------------------------------------------------------------------------------------
// Error helpers (cold: they allocate, and only run when the program is about to fail).

#[cold]
#[inline(never)]
fn err<T>(msg: impl Into<String>) -> Result<T, String> {
    Err(msg.into())
}

#[cold]
#[inline(never)]
fn overflow<T>(what: &str) -> Result<T, String> {
    Err(format!("Integer overflow in {what}"))
}

#[cold]
#[inline(never)]
fn division_by_zero<T>() -> Result<T, String> {
    Err("Division by zero".to_string())
}

#[cold]
#[inline(never)]
fn arity_error<T>(name: &str, want: usize, got: usize) -> Result<T, String> {
    let plural = if want == 1 { "" } else { "s" };
    let verb = if got == 1 { "was" } else { "were" };
    Err(format!(
        "{name}() takes {want} argument{plural} but {got} {verb} given"
    ))
}

#[cold]
#[inline(never)]
fn cannot_apply<T>(name: &str, v: &Value) -> Result<T, String> {
    Err(format!("Cannot apply {name}() to {}", v.type_name()))
}

#[cold]
#[inline(never)]
fn index_out_of_bounds<T>(idx: i64, kind: &str, len: usize) -> Result<T, String> {
    Err(format!(
        "Index {idx} out of bounds for {kind} of length {len}"
    ))
}

/// Borrows an array's elements, or reports the (only theoretically possible) conflict with an
/// ongoing mutation instead of panicking.
#[inline]
fn borrow(items: &ArrayObj) -> Result<ValuesRef<'_>, String> {
    match items.try_borrow() {
        Ok(r) => Ok(r),
        Err(_) => err("Array is being modified"),
    }
}

#[inline]
fn check_arity(name: &str, args: &[Value], want: usize) -> Result<(), String> {
    if args.len() == want {
        Ok(())
    } else {
        arity_error(name, want, args.len())
    }
}

/// Both operands as floats when at least one is a float and the other a number.
#[inline]
fn float_pair(a: &Value, b: &Value) -> Option<(f64, f64)> {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => Some((*x, *y)),
        (Value::Int(x), Value::Float(y)) => Some((*x as f64, *y)),
        (Value::Float(x), Value::Int(y)) => Some((*x, *y as f64)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Arithmetic.

/// `a + b`: checked integer addition, float addition (promoting a mixed int/float pair),
/// string concatenation when either side is a string (the other side converted with
/// [`format::to_text`]), and array concatenation into a new array.
#[inline]
pub fn add(a: &Value, b: &Value) -> OpResult {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => match x.checked_add(*y) {
            Some(r) => Ok(Value::Int(r)),
            None => overflow("addition"),
        },
        (Value::Float(x), Value::Float(y)) => Ok(Value::Float(x + y)),
        _ => add_slow(a, b),
    }
}

#[inline(never)]
fn add_slow(a: &Value, b: &Value) -> OpResult {
    if let Some((x, y)) = float_pair(a, b) {
        return Ok(Value::Float(x + y));
    }
    match (a, b) {
        (Value::Str(x), _) => {
            let mut s = String::with_capacity(x.len() + text_len_hint(b));
            s.push_str(x);
            format::to_text(b, &mut s);
            Ok(Value::str(s))
        }
        (_, Value::Str(y)) => {
            let mut s = String::with_capacity(y.len() + 16);
            format::to_text(a, &mut s);
            s.push_str(y);
            Ok(Value::str(s))
        }
        (Value::Array(x), Value::Array(y)) => {
            let (x, y) = (borrow(x)?, borrow(y)?);
            let mut items = Vec::with_capacity(x.len() + y.len());
            items.extend_from_slice(&x);
            items.extend_from_slice(&y);
            Ok(Value::array(items))
        }
        _ => err(format!("Cannot add {} to {}", b.type_name(), a.type_name())),
    }
}

/// A guess of the text length of a value, to size concatenation buffers.
#[inline]
fn text_len_hint(v: &Value) -> usize {
    match v {
        Value::Str(s) => s.len(),
        _ => 16,
    }
}

/// `a + b` taking the left operand by value: when it is a string whose `Rc` has no other owner,
/// the right operand's text is appended in place, without copying, so that `s = s + x` in a
/// loop is linear. Arrays are shared by reference, so `xs + ys` still builds a new array.
#[inline]
pub fn add_owned(a: Value, b: &Value) -> OpResult {
    match a {
        Value::Str(mut rc) => {
            if let Some(s) = Rc::get_mut(&mut rc) {
                format::to_text(b, s);
                Ok(Value::Str(rc))
            } else {
                add_slow(&Value::Str(rc), b)
            }
        }
        _ => add(&a, b),
    }
}

/// `a - b`: checked integer subtraction or float subtraction.
#[inline]
pub fn sub(a: &Value, b: &Value) -> OpResult {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => match x.checked_sub(*y) {
            Some(r) => Ok(Value::Int(r)),
            None => overflow("subtraction"),
        },
        (Value::Float(x), Value::Float(y)) => Ok(Value::Float(x - y)),
        _ => sub_slow(a, b),
    }
}

#[inline(never)]
fn sub_slow(a: &Value, b: &Value) -> OpResult {
    match float_pair(a, b) {
        Some((x, y)) => Ok(Value::Float(x - y)),
        None => err(format!(
            "Cannot subtract {} from {}",
            b.type_name(),
            a.type_name()
        )),
    }
}

/// `a * b`: checked integer multiplication, float multiplication, and string repetition
/// (`"ab" * 3`, `3 * "ab"`; a count <= 0 gives `""`; results above [`MAX_STRING_BYTES`] are the
/// error "String repetition too large").
#[inline]
pub fn mul(a: &Value, b: &Value) -> OpResult {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => match x.checked_mul(*y) {
            Some(r) => Ok(Value::Int(r)),
            None => overflow("multiplication"),
        },
        (Value::Float(x), Value::Float(y)) => Ok(Value::Float(x * y)),
        _ => mul_slow(a, b),
    }
}

#[inline(never)]
fn mul_slow(a: &Value, b: &Value) -> OpResult {
    if let Some((x, y)) = float_pair(a, b) {
        return Ok(Value::Float(x * y));
    }
    match (a, b) {
        (Value::Str(s), Value::Int(n)) | (Value::Int(n), Value::Str(s)) => repeat(s, *n),
        _ => err(format!(
            "Cannot multiply {} by {}",
            a.type_name(),
            b.type_name()
        )),
    }
}

fn repeat(s: &str, n: i64) -> OpResult {
    if n <= 0 || s.is_empty() {
        return Ok(Value::str(String::new()));
    }
    let total = usize::try_from(n).ok().and_then(|n| s.len().checked_mul(n));
    match total {
        Some(total) if total <= MAX_STRING_BYTES => Ok(Value::str(s.repeat(total / s.len()))),
        _ => err("String repetition too large"),
    }
}

/// `a / b`: integer division truncating toward zero (`-17 / 5 == -3`; by zero is an error;
/// `i64::MIN / -1` overflows), float division (by zero gives inf or NaN).
#[inline]
pub fn div(a: &Value, b: &Value) -> OpResult {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => match x.checked_div(*y) {
            Some(r) => Ok(Value::Int(r)),
            None => int_div_error(*y, "division"),
        },
        (Value::Float(x), Value::Float(y)) => Ok(Value::Float(x / y)),
        _ => div_slow(a, b),
    }
}

/// The reason `checked_div`/`checked_rem` failed: a zero divisor, else `i64::MIN / -1`.
#[cold]
#[inline(never)]
fn int_div_error(divisor: i64, what: &str) -> OpResult {
    if divisor == 0 {
        division_by_zero()
    } else {
        overflow(what)
    }
}

#[inline(never)]
fn div_slow(a: &Value, b: &Value) -> OpResult {
    match float_pair(a, b) {
        Some((x, y)) => Ok(Value::Float(x / y)),
        None => err(format!(
            "Cannot divide {} by {}",
            a.type_name(),
            b.type_name()
        )),
    }
}

/// `a % b`: integer remainder with the sign of the dividend (`-17 % 5 == -2`, `17 % -5 == 2`;
/// by zero is an error; `i64::MIN % -1 == 0`), float remainder as Rust's `%` (`7.5 % 2.0 == 1.5`).
#[inline]
pub fn rem(a: &Value, b: &Value) -> OpResult {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => {
            if *y == 0 {
                division_by_zero()
            } else {
                // Only i64::MIN % -1 wraps, and its true result is 0.
                Ok(Value::Int(x.wrapping_rem(*y)))
            }
        }
        (Value::Float(x), Value::Float(y)) => Ok(Value::Float(x % y)),
        _ => rem_slow(a, b),
    }
}

#[inline(never)]
fn rem_slow(a: &Value, b: &Value) -> OpResult {
    match float_pair(a, b) {
        Some((x, y)) => Ok(Value::Float(x % y)),
        None => err(format!(
            "Cannot compute remainder of {} by {}",
            a.type_name(),
            b.type_name()
        )),
    }
}

/// `a ** b`: an integer when both are integers, the exponent is >= 0 and the result fits in
/// i64; otherwise a float (`a.powf(b)`).
#[inline]
pub fn pow(a: &Value, b: &Value) -> OpResult {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(match pow_int(*x, *y) {
            Number::Int(i) => Value::Int(i),
            Number::Float(f) => Value::Float(f),
        }),
        _ => match float_pair(a, b) {
            Some((x, y)) => Ok(Value::Float(x.powf(y))),
            None => err(format!(
                "Cannot raise {} to the power of {}",
                a.type_name(),
                b.type_name()
            )),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Unary operators.

/// `-a`: checked integer negation or float negation.
#[inline]
pub fn neg(a: &Value) -> OpResult {
    match a {
        Value::Int(x) => match x.checked_neg() {
            Some(r) => Ok(Value::Int(r)),
            None => overflow("negation"),
        },
        Value::Float(x) => Ok(Value::Float(-x)),
        _ => err(format!("Cannot negate {}", a.type_name())),
    }
}

/// `!a` on a boolean (Ruchy has no truthiness).
#[inline]
pub fn not(a: &Value) -> OpResult {
    match a {
        Value::Bool(b) => Ok(Value::Bool(!b)),
        _ => err(format!("Cannot apply `!` to {}", a.type_name())),
    }
}

/// `~a`: bitwise complement of an integer.
#[inline]
pub fn bitnot(a: &Value) -> OpResult {
    match a {
        Value::Int(x) => Ok(Value::Int(!x)),
        _ => err(format!("Cannot apply `~` to {}", a.type_name())),
    }
}

// ---------------------------------------------------------------------------------------------
// Bitwise operators and shifts (integers only).

#[cold]
#[inline(never)]
fn bit_type_error(op: &str, a: &Value, b: &Value) -> OpResult {
    err(format!(
        "Cannot apply `{op}` to {} and {}",
        a.type_name(),
        b.type_name()
    ))
}

/// `a & b` on integers.
#[inline]
pub fn bitand(a: &Value, b: &Value) -> OpResult {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(Value::Int(x & y)),
        _ => bit_type_error("&", a, b),
    }
}

/// `a | b` on integers.
#[inline]
pub fn bitor(a: &Value, b: &Value) -> OpResult {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(Value::Int(x | y)),
        _ => bit_type_error("|", a, b),
    }
}

/// `a ^ b` on integers.
#[inline]
pub fn bitxor(a: &Value, b: &Value) -> OpResult {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(Value::Int(x ^ y)),
        _ => bit_type_error("^", a, b),
    }
}

#[cold]
#[inline(never)]
fn shift_range_error(n: i64) -> OpResult {
    err(format!("Shift amount {n} out of range"))
}

/// `a << n` on integers; bits shifted out are lost; `n` must be in 0..=63.
#[inline]
pub fn shl(a: &Value, b: &Value) -> OpResult {
    match (a, b) {
        (Value::Int(x), Value::Int(n)) => match u32::try_from(*n) {
            Ok(k) if k < 64 => Ok(Value::Int(x << k)),
            _ => shift_range_error(*n),
        },
        _ => bit_type_error("<<", a, b),
    }
}

/// `a >> n` on integers, arithmetic (sign-extending); `n` must be in 0..=63.
#[inline]
pub fn shr(a: &Value, b: &Value) -> OpResult {
    match (a, b) {
        (Value::Int(x), Value::Int(n)) => match u32::try_from(*n) {
            Ok(k) if k < 64 => Ok(Value::Int(x >> k)),
            _ => shift_range_error(*n),
        },
        _ => bit_type_error(">>", a, b),
    }
}

// ---------------------------------------------------------------------------------------------
// Comparison.

/// `a <pred> b`.
///
/// `==`/`!=` accept any two values: numbers compare numerically across int and float (exactly,
/// even beyond 2^53), strings by content, arrays and tuples element by element, functions by
/// identity; values of different kinds are unequal. The orderings accept numbers, strings (by
/// bytes) and arrays/tuples (lexicographically); a NaN makes every ordering false. The only
/// errors are "Cannot compare {a} with {b}" for orderings and, for values nested more than
/// [`MAX_NESTING`] deep (e.g. two distinct arrays that contain themselves), "Comparison nested
/// too deeply".
#[inline]
pub fn compare(pred: CmpPred, a: &Value, b: &Value) -> Result<bool, String> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(pred.holds_i64(*x, *y)),
        (Value::Float(x), Value::Float(y)) => Ok(pred.holds_f64(*x, *y)),
        _ => compare_slow(pred, a, b),
    }
}

#[inline(never)]
fn compare_slow(pred: CmpPred, a: &Value, b: &Value) -> Result<bool, String> {
    match pred {
        CmpPred::Eq => equals(a, b),
        CmpPred::Ne => equals(a, b).map(|e| !e),
        _ => match order(a, b, 0, false)? {
            Some(ord) => Ok(pred.holds(ord)),
            None => Ok(false),
        },
    }
}

/// `a == b` (see [`compare`]).
pub fn equals(a: &Value, b: &Value) -> Result<bool, String> {
    eq_at(a, b, 0)
}

#[cold]
#[inline(never)]
fn too_deep<T>() -> Result<T, String> {
    err("Comparison nested too deeply")
}

fn eq_at(a: &Value, b: &Value, depth: usize) -> Result<bool, String> {
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Int(x), Value::Float(y)) => cmp_int_float(*x, *y) == Some(Ordering::Equal),
        (Value::Float(x), Value::Int(y)) => cmp_int_float(*y, *x) == Some(Ordering::Equal),
        (Value::Str(x), Value::Str(y)) => Rc::ptr_eq(x, y) || x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Nil | Value::Undef, Value::Nil | Value::Undef) => true,
        (Value::Array(x), Value::Array(y)) => {
            if Rc::ptr_eq(x, y) {
                return Ok(true);
            }
            if depth >= MAX_NESTING {
                return too_deep();
            }
            let (x, y) = (borrow(x)?, borrow(y)?);
            slices_eq(&x, &y, depth)?
        }
        (Value::Tuple(x), Value::Tuple(y)) => {
            if Rc::ptr_eq(x, y) {
                return Ok(true);
            }
            if depth >= MAX_NESTING {
                return too_deep();
            }
            slices_eq(x, y, depth)?
        }
        (Value::Func(x), Value::Func(y)) => x == y,
        (Value::Closure(x), Value::Closure(y)) => Rc::ptr_eq(x, y),
        (Value::Cell(x), Value::Cell(y)) => Rc::ptr_eq(x, y),
        _ => false,
    })
}

fn slices_eq(x: &[Value], y: &[Value], depth: usize) -> Result<bool, String> {
    if x.len() != y.len() {
        return Ok(false);
    }
    for (p, q) in x.iter().zip(y) {
        if !eq_at(p, q, depth + 1)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The ordering of two values, `None` when unordered (NaN). `nested` is true for elements of
/// arrays/tuples, where equal values of unordered kinds (`[nil] <= [nil]`) count as equal.
fn order(a: &Value, b: &Value, depth: usize, nested: bool) -> Result<Option<Ordering>, String> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(Some(x.cmp(y))),
        (Value::Float(x), Value::Float(y)) => Ok(x.partial_cmp(y)),
        (Value::Int(x), Value::Float(y)) => Ok(cmp_int_float(*x, *y)),
        (Value::Float(x), Value::Int(y)) => Ok(cmp_int_float(*y, *x).map(Ordering::reverse)),
        (Value::Str(x), Value::Str(y)) => Ok(Some(x.as_bytes().cmp(y.as_bytes()))),
        (Value::Array(x), Value::Array(y)) => {
            if Rc::ptr_eq(x, y) {
                return Ok(Some(Ordering::Equal));
            }
            if depth >= MAX_NESTING {
                return too_deep();
            }
            let (x, y) = (borrow(x)?, borrow(y)?);
            order_slices(&x, &y, depth)
        }
        (Value::Tuple(x), Value::Tuple(y)) => {
            if depth >= MAX_NESTING {
                return too_deep();
            }
            order_slices(x, y, depth)
        }
        _ if nested && eq_at(a, b, depth)? => Ok(Some(Ordering::Equal)),
        _ => err(format!(
            "Cannot compare {} with {}",
            a.type_name(),
            b.type_name()
        )),
    }
}

fn order_slices(x: &[Value], y: &[Value], depth: usize) -> Result<Option<Ordering>, String> {
    for (p, q) in x.iter().zip(y) {
        match order(p, q, depth + 1, true)? {
            Some(Ordering::Equal) => {}
            other => return Ok(other),
        }
    }
    Ok(Some(x.len().cmp(&y.len())))
}

/// The condition of `if`/`while`: must be a boolean (Ruchy has no truthiness).
#[inline]
pub fn truthy(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => err(format!(
            "Expected a boolean condition, found {}",
            v.type_name()
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Indexing and length.

/// Resolves a possibly negative index against a length.
#[inline]
fn resolve_index(i: i64, len: usize) -> Option<usize> {
    let j = if i < 0 {
        i.checked_add(i64::try_from(len).ok()?)?
    } else {
        i
    };
    usize::try_from(j).ok().filter(|&j| j < len)
}

thread_local! {
    /// Shared one-character strings for ASCII, so `s[i]` on ASCII text does not allocate.
    static ASCII_CHARS: Vec<Rc<String>> =
        (0u8..128).map(|b| Rc::new(char::from(b).to_string())).collect();
}

/// A one-character string value.
fn char_value(c: char) -> Value {
    if c.is_ascii() {
        let shared = ASCII_CHARS.with(|t| t.get(c as usize).cloned());
        if let Some(rc) = shared {
            return Value::Str(rc);
        }
    }
    Value::str(c.to_string())
}

/// `base[idx]`: arrays and tuples by integer index (negative counts from the end), strings by
/// character giving a one-character string.
#[inline]
pub fn index(base: &Value, idx: &Value) -> OpResult {
    match (base, idx) {
        (Value::Array(items), Value::Int(i)) => {
            let got = match resolve_index(*i, items.len()) {
                Some(j) => items
                    .get(j)
                    .map_err(|_| "Array is being modified".to_string())?,
                None => None,
            };
            match got {
                Some(v) => Ok(v),
                None => index_out_of_bounds(*i, "array", items.len()),
            }
        }
        _ => index_slow(base, idx),
    }
}

#[inline(never)]
fn index_slow(base: &Value, idx: &Value) -> OpResult {
    match (base, idx) {
        (Value::Tuple(items), Value::Int(i)) => match resolve_index(*i, items.len()) {
            Some(j) => Ok(items[j].clone()),
            None => index_out_of_bounds(*i, "tuple", items.len()),
        },
        (Value::Str(s), Value::Int(i)) => string_index(s, *i),
        (Value::Array(_) | Value::Tuple(_) | Value::Str(_), _) => err(format!(
            "Cannot index {} with {}",
            base.type_name(),
            idx.type_name()
        )),
        _ => err(format!("Cannot index into {}", base.type_name())),
    }
}

fn string_index(s: &str, i: i64) -> OpResult {
    // ASCII prefix up to the index: the byte is the character.
    if let Ok(j) = usize::try_from(i) {
        if let Some(prefix) = s.as_bytes().get(..=j) {
            if prefix.is_ascii() {
                return Ok(char_value(char::from(prefix[j])));
            }
        }
        if let Some(c) = s.chars().nth(j) {
            return Ok(char_value(c));
        }
    }
    let count = s.chars().count();
    match resolve_index(i, count).and_then(|j| s.chars().nth(j)) {
        Some(c) => Ok(char_value(c)),
        None => index_out_of_bounds(i, "string", count),
    }
}

/// `base[idx] = v` on arrays (strings and tuples are immutable).
#[inline]
pub fn set_index(base: &Value, idx: &Value, v: Value) -> Result<(), String> {
    match (base, idx) {
        (Value::Array(items), Value::Int(i)) => match resolve_index(*i, items.len()) {
            Some(j) => match items.set(j, v) {
                Ok(true) => Ok(()),
                Ok(false) => index_out_of_bounds(*i, "array", items.len()),
                Err(_) => err("Array is being modified"),
            },
            None => index_out_of_bounds(*i, "array", items.len()),
        },
        (Value::Array(_), _) => err(format!("Cannot index array with {}", idx.type_name())),
        (Value::Str(_) | Value::Tuple(_), _) => err(format!(
            "Cannot assign to an element of {}",
            base.type_name()
        )),
        _ => err(format!("Cannot index into {}", base.type_name())),
    }
}

/// `len(v)`: bytes of a string, elements of an array or tuple.
#[inline]
pub fn len(v: &Value) -> Result<i64, String> {
    let n = match v {
        Value::Str(s) => s.len(),
        Value::Array(items) => items.len(),
        Value::Tuple(items) => items.len(),
        _ => return err(format!("Cannot take the length of {}", v.type_name())),
    };
    // Lengths of in-memory objects always fit in i64.
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

// ---------------------------------------------------------------------------------------------
// Builtins and casts.

/// A builtin function of `dyn.builtin`. Arity is checked here too, with the message
/// "{name}() takes {n} argument(s) but {m} were given" (singular/plural spelled out).
pub fn builtin(b: Builtin, args: &[Value]) -> OpResult {
    let name = b.name();
    check_arity(name, args, b.arity())?;
    let x = &args[0];
    match b {
        Builtin::Sqrt => match x {
            Value::Int(i) => Ok(Value::Float((*i as f64).sqrt())),
            Value::Float(f) => Ok(Value::Float(f.sqrt())),
            _ => cannot_apply(name, x),
        },
        Builtin::Pow => pow(x, &args[1]),
        Builtin::Abs => match x {
            Value::Int(i) => match i.checked_abs() {
                Some(r) => Ok(Value::Int(r)),
                None => overflow("abs"),
            },
            Value::Float(f) => Ok(Value::Float(f.abs())),
            _ => cannot_apply(name, x),
        },
        Builtin::Min => min_max(name, x, &args[1], Ordering::Less),
        Builtin::Max => min_max(name, x, &args[1], Ordering::Greater),
        Builtin::Floor => round_with(name, x, f64::floor),
        Builtin::Ceil => round_with(name, x, f64::ceil),
        Builtin::Round => round_with(name, x, f64::round),
        Builtin::Int => match x {
            Value::Str(s) => match s.trim().parse::<i64>() {
                Ok(i) => Ok(Value::Int(i)),
                Err(_) => err(format!("Cannot convert string \"{s}\" to integer")),
            },
            _ => cast_num(name, x, cast_to_int),
        },
        Builtin::Float => match x {
            Value::Str(s) => match s.trim().parse::<f64>() {
                Ok(f) => Ok(Value::Float(f)),
                Err(_) => err(format!("Cannot convert string \"{s}\" to float")),
            },
            _ => cast_num(name, x, cast_to_float),
        },
        Builtin::Str => Ok(to_string_value(x)),
        Builtin::TypeOf => Ok(Value::str(x.type_name())),
    }
}

/// Applies a cast, reporting a type error in the builtin's words.
fn cast_num(name: &str, x: &Value, cast: fn(&Value) -> OpResult) -> OpResult {
    match x {
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => cast(x),
        _ => cannot_apply(name, x),
    }
}

/// `min`/`max` of two numbers (mixed int/float compared numerically) or two strings; returns
/// the original value, and the first one on a tie or when unordered (NaN).
fn min_max(name: &str, a: &Value, b: &Value, pick_b_when: Ordering) -> OpResult {
    let ordered = matches!(
        (a, b),
        (
            Value::Int(_) | Value::Float(_),
            Value::Int(_) | Value::Float(_)
        ) | (Value::Str(_), Value::Str(_))
    );
    if !ordered {
        return err(format!(
            "Cannot apply {name}() to {} and {}",
            a.type_name(),
            b.type_name()
        ));
    }
    // `b` replaces `a` only when strictly better, like Python's min/max.
    match order(b, a, 0, false)? {
        Some(ord) if ord == pick_b_when => Ok(b.clone()),
        _ => Ok(a.clone()),
    }
}

/// `floor`/`ceil`/`round` (half away from zero): an integer result.
fn round_with(name: &str, x: &Value, f: fn(f64) -> f64) -> OpResult {
    match x {
        Value::Int(i) => Ok(Value::Int(*i)),
        Value::Float(v) => float_to_int_checked(f(*v), *v).map(Value::Int),
        _ => cannot_apply(name, x),
    }
}

/// Converts an already whole float to i64, or reports `orig` as out of range (NaN and inf too).
fn float_to_int_checked(whole: f64, orig: f64) -> Result<i64, String> {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if (-TWO_63..TWO_63).contains(&whole) {
        Ok(whole as i64)
    } else {
        err(format!(
            "Float {} out of range for integer",
            format::float_to_string(orig)
        ))
    }
}

/// `x as i64` (and `int(x)` on numbers): floats truncate toward zero and saturate, NaN gives 0;
/// booleans give 0/1.
#[inline]
pub fn cast_to_int(v: &Value) -> OpResult {
    match v {
        Value::Int(i) => Ok(Value::Int(*i)),
        Value::Float(f) => Ok(Value::Int(*f as i64)),
        Value::Bool(b) => Ok(Value::Int(i64::from(*b))),
        _ => err(format!("Cannot cast {} to i64", v.type_name())),
    }
}

/// `x as f64` (and `float(x)` on numbers): booleans give 0.0/1.0.
#[inline]
pub fn cast_to_float(v: &Value) -> OpResult {
    match v {
        Value::Int(i) => Ok(Value::Float(*i as f64)),
        Value::Float(f) => Ok(Value::Float(*f)),
        Value::Bool(b) => Ok(Value::Float(if *b { 1.0 } else { 0.0 })),
        _ => err(format!("Cannot cast {} to f64", v.type_name())),
    }
}

/// `str(x)` / `x.to_string()`: the [`format::to_text`] form; a string is returned as is.
pub fn to_string_value(v: &Value) -> Value {
    match v {
        Value::Str(_) => v.clone(),
        _ => Value::str(format::text_string(v)),
    }
}

// ---------------------------------------------------------------------------------------------
// Methods.

/// `recv.name(args)` for every method that does not call back into Ruchy code: string methods,
/// array methods, and `to_string()` on any value. `None` when there is no such method (the
/// caller handles `map`/`filter`/`reduce` and reports unknown methods).
pub fn method(recv: &Value, name: &str, args: &[Value]) -> Option<OpResult> {
    match recv {
        Value::Str(s) => {
            if name == "to_string" && args.is_empty() {
                return Some(Ok(recv.clone()));
            }
            string_method(s, name, args)
        }
        Value::Array(items) => array_method(items, name, args),
        _ if name == "to_string" => {
            Some(check_arity(name, args, 0).map(|()| to_string_value(recv)))
        }
        _ => None,
    }
}

/// The text argument of a string method.
fn str_arg<'a>(name: &str, v: &'a Value) -> Result<&'a str, String> {
    match v {
        Value::Str(s) => Ok(s),
        _ => cannot_apply(name, v),
    }
}

/// The integer argument of a method.
fn int_arg(name: &str, v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        _ => cannot_apply(name, v),
    }
}

/// Methods of strings: `len to_uppercase to_lowercase trim replace contains starts_with
/// ends_with substring to_string split chars`. `None` when there is no such method.
///
/// `substring(start, end)` takes character indices clamped to the string (start > end gives
/// `""`); `split("")` splits into characters.
pub fn string_method(s: &str, name: &str, args: &[Value]) -> Option<OpResult> {
    let arity = match name {
        "len" | "to_uppercase" | "to_lowercase" | "trim" | "to_string" | "chars" => 0,
        "contains" | "starts_with" | "ends_with" | "split" => 1,
        "replace" | "substring" => 2,
        _ => return None,
    };
    Some(check_arity(name, args, arity).and_then(|()| string_method_checked(s, name, args)))
}

fn string_method_checked(s: &str, name: &str, args: &[Value]) -> OpResult {
    Ok(match name {
        "len" => Value::Int(i64::try_from(s.len()).unwrap_or(i64::MAX)),
        "to_uppercase" => Value::str(s.to_uppercase()),
        "to_lowercase" => Value::str(s.to_lowercase()),
        "trim" => Value::str(s.trim()),
        "to_string" => Value::str(s),
        "chars" => Value::array(s.chars().map(char_value).collect()),
        "contains" => Value::Bool(s.contains(str_arg(name, &args[0])?)),
        "starts_with" => Value::Bool(s.starts_with(str_arg(name, &args[0])?)),
        "ends_with" => Value::Bool(s.ends_with(str_arg(name, &args[0])?)),
        "split" => {
            let sep = str_arg(name, &args[0])?;
            if sep.is_empty() {
                Value::array(s.chars().map(char_value).collect())
            } else {
                Value::array(s.split(sep).map(Value::str).collect())
            }
        }
        "replace" => {
            let from = str_arg(name, &args[0])?;
            let to = str_arg(name, &args[1])?;
            if to.len() > from.len() {
                let count = if from.is_empty() {
                    s.chars().count() + 1
                } else {
                    s.matches(from).count()
                };
                let grow = count.checked_mul(to.len() - from.len());
                if grow
                    .and_then(|g| g.checked_add(s.len()))
                    .is_none_or(|t| t > MAX_STRING_BYTES)
                {
                    return err("String too large");
                }
            }
            Value::str(s.replace(from, to))
        }
        "substring" => {
            let start = int_arg(name, &args[0])?;
            let end = int_arg(name, &args[1])?;
            Value::str(substring(s, start, end))
        }
        _ => return err(format!("no method {name} on string")),
    })
}

/// Characters `start..end` of `s`, both clamped to `0..=char count`.
fn substring(s: &str, start: i64, end: i64) -> &str {
    if end <= start || end <= 0 {
        return "";
    }
    // Byte offset of character `n`, or the end of the string.
    let offset = |n: i64| -> usize {
        match usize::try_from(n) {
            Ok(n) => s.char_indices().nth(n).map_or(s.len(), |(b, _)| b),
            Err(_) => 0,
        }
    };
    let (a, b) = (offset(start.max(0)), offset(end));
    s.get(a..b).unwrap_or("")
}

/// Methods of arrays that do not call back into Ruchy code: `len push pop contains sum reverse
/// join to_string`. `None` when there is no such method.
///
/// `push` returns nil; `pop` on an empty array is the error "pop from empty array"; `sum` adds
/// integers with overflow checks and switches to floats at the first float (empty gives 0);
/// `reverse` returns a new array; `join(sep)` joins the elements' [`format::to_text`] forms.
pub fn array_method(arr: &Rc<ArrayObj>, name: &str, args: &[Value]) -> Option<OpResult> {
    let arity = match name {
        "len" | "pop" | "sum" | "reverse" | "to_string" => 0,
        "push" | "contains" | "join" => 1,
        _ => return None,
    };
    Some(check_arity(name, args, arity).and_then(|()| array_method_checked(arr, name, args)))
}

fn array_method_checked(arr: &Rc<ArrayObj>, name: &str, args: &[Value]) -> OpResult {
    match name {
        "push" => match arr.push(args[0].clone()) {
            Ok(()) => Ok(Value::Nil),
            Err(_) => err("Array is being modified"),
        },
        "pop" => match arr.pop() {
            Ok(Some(v)) => Ok(v),
            Ok(None) => err("pop from empty array"),
            Err(_) => err("Array is being modified"),
        },
        _ => {
            let items = borrow(arr)?;
            match name {
                "len" => Ok(Value::Int(i64::try_from(items.len()).unwrap_or(i64::MAX))),
                "contains" => {
                    for item in items.iter() {
                        if equals(item, &args[0])? {
                            return Ok(Value::Bool(true));
                        }
                    }
                    Ok(Value::Bool(false))
                }
                "sum" => sum(&items),
                "reverse" => Ok(Value::array(items.iter().rev().cloned().collect())),
                "join" => {
                    let sep = str_arg(name, &args[0])?;
                    let mut out = String::new();
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push_str(sep);
                        }
                        format::to_text(item, &mut out);
                    }
                    Ok(Value::str(out))
                }
                "to_string" => {
                    drop(items);
                    Ok(to_string_value(&Value::Array(arr.clone())))
                }
                _ => err(format!("no method {name} on array")),
            }
        }
    }
}

/// `xs.sum()`: checked integer sum, promoted to float from the first float on.
fn sum(items: &[Value]) -> OpResult {
    let mut acc: i64 = 0;
    let mut iter = items.iter();
    for item in iter.by_ref() {
        match item {
            Value::Int(x) => match acc.checked_add(*x) {
                Some(r) => acc = r,
                None => return overflow("addition"),
            },
            Value::Float(x) => return sum_floats(acc as f64 + x, iter.as_slice()),
            _ => return err(format!("Cannot add {} to integer", item.type_name())),
        }
    }
    Ok(Value::Int(acc))
}

fn sum_floats(mut acc: f64, rest: &[Value]) -> OpResult {
    for item in rest {
        match item {
            Value::Int(x) => acc += *x as f64,
            Value::Float(x) => acc += x,
            _ => return err(format!("Cannot add {} to float", item.type_name())),
        }
    }
    Ok(Value::Float(acc))
}

#[cfg(test)]
// The tests print literals such as 3.14159 on purpose (they are Ruchy programs' numbers).
#[allow(clippy::approx_constant)]
mod tests {
    use super::*;
    use crate::value::Closure;
    use ruchy_ir::FuncId;
    use std::cell::RefCell;

    fn i(x: i64) -> Value {
        Value::Int(x)
    }
    fn f(x: f64) -> Value {
        Value::Float(x)
    }
    fn s(x: &str) -> Value {
        Value::str(x)
    }
    fn b(x: bool) -> Value {
        Value::Bool(x)
    }
    fn arr(items: Vec<Value>) -> Value {
        Value::array(items)
    }
    fn tup(items: Vec<Value>) -> Value {
        Value::Tuple(Rc::new(items))
    }
    fn d(v: &Value) -> String {
        format::display_string(v)
    }
    /// Display form of a successful result.
    fn ok(r: OpResult) -> String {
        match r {
            Ok(v) => d(&v),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    fn er<T: std::fmt::Debug>(r: Result<T, String>) -> String {
        r.expect_err("expected an error")
    }
    fn is_int(r: OpResult, want: i64) {
        match r {
            Ok(Value::Int(x)) => assert_eq!(x, want),
            other => panic!("expected int {want}, got {other:?}"),
        }
    }
    fn is_float(r: OpResult, want: f64) {
        match r {
            Ok(Value::Float(x)) => {
                assert!(x == want || (x.is_nan() && want.is_nan()), "{x} != {want}")
            }
            other => panic!("expected float {want}, got {other:?}"),
        }
    }
    fn cmp(p: CmpPred, a: &Value, b: &Value) -> bool {
        compare(p, a, b).expect("comparison failed")
    }
    fn bi(bt: Builtin, args: &[Value]) -> OpResult {
        builtin(bt, args)
    }
    fn all_values() -> Vec<Value> {
        vec![
            Value::Nil,
            Value::Undef,
            b(true),
            i(0),
            i(-1),
            i(1),
            i(63),
            i(64),
            i(i64::MIN),
            i(i64::MAX),
            f(0.0),
            f(-0.0),
            f(2.5),
            f(f64::NAN),
            f(f64::INFINITY),
            f(f64::NEG_INFINITY),
            f(1e300),
            s(""),
            s("ab"),
            s("héllo"),
            arr(vec![]),
            arr(vec![i(1), s("x")]),
            tup(vec![]),
            tup(vec![i(1)]),
            Value::Func(FuncId::from_u32(0)),
            Value::Closure(Rc::new(Closure {
                func: FuncId::from_u32(1),
                captures: vec![],
            })),
            Value::Cell(Rc::new(RefCell::new(i(1)))),
        ]
    }

    #[test]
    fn int_arithmetic_c03() {
        is_int(add(&i(1), &mul(&i(2), &i(3)).unwrap()), 7);
        is_int(div(&i(17), &i(5)), 3);
        is_int(div(&i(-17), &i(5)), -3);
        is_int(div(&i(17), &i(-5)), -3);
        is_int(rem(&i(17), &i(5)), 2);
        is_int(rem(&i(-17), &i(5)), -2);
        is_int(rem(&i(17), &i(-5)), 2);
        is_int(pow(&i(2), &i(10)), 1024);
        is_int(pow(&pow(&i(2), &i(3)).unwrap(), &i(2)), 64);
        is_int(sub(&i(7), &i(-3)), 10);
        is_int(shl(&i(1), &i(4)), 16);
        is_int(bitand(&i(255), &i(15)), 15);
        is_int(bitor(&i(8), &i(3)), 11);
        is_int(bitxor(&i(6), &i(3)), 5);
        is_int(neg(&i(5)), -5);
        is_int(bitnot(&i(0)), -1);
        is_int(shr(&i(-16), &i(2)), -4);
        is_int(shr(&i(-1), &i(63)), -1);
        is_int(shl(&i(1), &i(63)), i64::MIN);
    }

    #[test]
    fn int_overflow_and_division_errors() {
        assert_eq!(er(add(&i(i64::MAX), &i(1))), "Integer overflow in addition");
        assert_eq!(
            er(add(&i(i64::MIN), &i(-1))),
            "Integer overflow in addition"
        );
        assert_eq!(
            er(sub(&i(i64::MIN), &i(1))),
            "Integer overflow in subtraction"
        );
        assert_eq!(
            er(mul(&i(i64::MAX), &i(2))),
            "Integer overflow in multiplication"
        );
        assert_eq!(
            er(mul(&i(i64::MIN), &i(-1))),
            "Integer overflow in multiplication"
        );
        assert_eq!(er(neg(&i(i64::MIN))), "Integer overflow in negation");
        assert_eq!(er(div(&i(10), &i(0))), "Division by zero");
        assert_eq!(er(rem(&i(10), &i(0))), "Division by zero");
        assert_eq!(er(div(&i(i64::MIN), &i(0))), "Division by zero");
        assert_eq!(
            er(div(&i(i64::MIN), &i(-1))),
            "Integer overflow in division"
        );
        is_int(rem(&i(i64::MIN), &i(-1)), 0);
        is_int(add(&i(i64::MAX - 1), &i(1)), i64::MAX);
        is_int(div(&i(i64::MIN), &i(1)), i64::MIN);
        is_int(mul(&i(5000), &i(1_000_000_000)), 5_000_000_000_000);
        // 20! fits (c07).
        let mut acc = i(1);
        for k in 2..=20 {
            acc = mul(&acc, &i(k)).unwrap();
        }
        assert_eq!(d(&acc), "2432902008176640000");
        assert!(mul(&acc, &i(21)).is_err());
    }

    #[test]
    fn float_arithmetic_c04() {
        is_float(add(&f(1.5), &f(2.25)), 3.75);
        assert_eq!(ok(add(&f(0.1), &f(0.2))), "0.30000000000000004");
        assert_eq!(ok(mul(&f(2.0), &f(3.0))), "6.0");
        assert_eq!(ok(rem(&f(7.5), &f(2.0))), "1.5");
        assert_eq!(ok(pow(&f(2.0), &f(0.5))), "1.4142135623730951");
        assert_eq!(ok(div(&f(1.0), &f(0.0))), "inf");
        assert_eq!(ok(div(&f(-1.0), &f(0.0))), "-inf");
        assert_eq!(ok(div(&f(0.0), &f(0.0))), "NaN");
        assert_eq!(ok(rem(&f(1.0), &f(0.0))), "NaN");
        assert_eq!(ok(rem(&f(-7.5), &f(2.0))), "-1.5");
        assert_eq!(ok(neg(&f(0.5))), "-0.5");
        // Mixed promotion (c18, c11, c21, c33).
        is_float(add(&i(1), &f(2.5)), 3.5);
        is_float(add(&f(1.5), &i(1)), 2.5);
        is_float(sub(&f(5.5), &i(3)), 2.5);
        is_float(mul(&i(2), &f(2.5)), 5.0);
        is_float(div(&i(1), &f(4.0)), 0.25);
        is_float(div(&f(1.0), &i(0)), f64::INFINITY);
        is_float(rem(&i(7), &f(2.5)), 2.0);
        is_float(add(&f(0.25), &f(0.25)), 0.5);
        assert_eq!(ok(add(&i(1), &f(0.5))), "1.5");
    }

    #[test]
    fn power_rules() {
        is_int(pow(&i(2), &i(62)), 1 << 62);
        is_float(pow(&i(2), &i(63)), 9.223_372_036_854_776e18);
        is_float(pow(&i(2), &i(-1)), 0.5);
        is_int(pow(&i(0), &i(0)), 1);
        is_int(pow(&i(-2), &i(3)), -8);
        is_float(pow(&i(2), &f(0.5)), std::f64::consts::SQRT_2);
        is_float(pow(&f(2.0), &i(3)), 8.0);
        // Exponents beyond u32 do not wrap.
        is_int(pow(&i(1), &i(1 << 40)), 1);
        is_int(pow(&i(-1), &i((1 << 40) + 1)), -1);
        is_int(pow(&i(0), &i(i64::MAX)), 0);
        is_float(pow(&i(2), &i(1 << 40)), f64::INFINITY);
        is_float(pow(&i(2), &i(i64::MIN)), 0.0);
        is_int(pow(&i(10), &i(18)), 1_000_000_000_000_000_000);
        is_float(pow(&i(10), &i(19)), 1e19);
        assert_eq!(
            er(pow(&s("a"), &i(2))),
            "Cannot raise string to the power of integer"
        );
    }

    #[test]
    fn string_concatenation_c13() {
        assert_eq!(ok(add(&s("count: "), &i(5))), "count: 5");
        assert_eq!(ok(add(&i(5), &s(" apples"))), "5 apples");
        assert_eq!(ok(add(&s("pi ~ "), &f(3.14))), "pi ~ 3.14");
        assert_eq!(ok(add(&s("two: "), &f(2.0))), "two: 2");
        assert_eq!(ok(add(&s("flag: "), &b(true))), "flag: true");
        assert_eq!(ok(add(&f(2.0), &s("x"))), "2x");
        assert_eq!(ok(add(&s("a"), &arr(vec![f(1.0)]))), "a[1.0]");
        assert_eq!(ok(add(&s("n="), &Value::Nil)), "n=nil");
        assert_eq!(ok(add(&s("a"), &s("b"))), "ab");
        let hw = add(
            &add(&add(&s("Hello"), &s(", ")).unwrap(), &s("World")).unwrap(),
            &s("!"),
        )
        .unwrap();
        assert_eq!(d(&hw), "Hello, World!");
        assert_eq!(len(&hw).unwrap(), 13);
        // c08: line = line + (i * j) + " "
        let mut line = s("");
        for j in 1..=5 {
            line = add_owned(line, &i(2 * j)).unwrap();
            line = add_owned(line, &s(" ")).unwrap();
        }
        assert_eq!(d(&line), "2 4 6 8 10 ");
        // c13: s = s + i
        let mut acc = s("");
        for k in 0..5 {
            acc = add_owned(acc, &i(k)).unwrap();
        }
        assert_eq!(d(&acc), "01234");
    }

    #[test]
    fn add_owned_appends_in_place() {
        let mut v = Value::Str(Rc::new(String::with_capacity(64)));
        let ptr = match &v {
            Value::Str(rc) => Rc::as_ptr(rc),
            _ => unreachable!(),
        };
        for k in 0..10 {
            v = add_owned(v, &i(k)).unwrap();
        }
        match &v {
            Value::Str(rc) => {
                assert_eq!(Rc::as_ptr(rc), ptr, "the same allocation was reused");
                assert_eq!(rc.as_str(), "0123456789");
                assert!(rc.capacity() >= 64);
            }
            _ => panic!("not a string"),
        }
        // A shared string is not modified.
        let shared = s("ab");
        let other = shared.clone();
        let r = add_owned(shared, &s("cd")).unwrap();
        assert_eq!(d(&r), "abcd");
        assert_eq!(d(&other), "ab");
        // s + s where both are the same Rc.
        let one = s("xy");
        let r = add_owned(one.clone(), &one).unwrap();
        assert_eq!(d(&r), "xyxy");
        assert_eq!(d(&one), "xy");
        // Non-strings behave like `add`.
        is_int(add_owned(i(2), &i(3)), 5);
        assert_eq!(
            er(add_owned(i(i64::MAX), &i(1))),
            "Integer overflow in addition"
        );
        assert_eq!(ok(add_owned(i(5), &s("!"))), "5!");
        // Arrays are never appended in place.
        let xs = arr(vec![i(1)]);
        let alias = xs.clone();
        let ys = add_owned(xs, &arr(vec![i(2)])).unwrap();
        assert_eq!(d(&ys), "[1, 2]");
        assert_eq!(d(&alias), "[1]");
        // Appending an array that contains the string itself is not in place either.
        let st = s("q");
        let holder = arr(vec![st.clone()]);
        let r = add_owned(st, &holder).unwrap();
        assert_eq!(d(&r), "q[\"q\"]");
    }

    /// `s = s + x` in a loop must be linear: 200,000 appends would copy ~20 GB if each one
    /// copied the string.
    #[test]
    fn add_owned_loop_is_linear() {
        let mut v = s("");
        let dot = s(".");
        for _ in 0..200_000 {
            v = add_owned(v, &dot).unwrap();
        }
        assert_eq!(len(&v), Ok(200_000));
    }

    #[test]
    fn repetition_and_array_concat() {
        assert_eq!(ok(mul(&s("ab"), &i(3))), "ababab");
        assert_eq!(ok(mul(&i(2), &s("ab"))), "abab");
        assert_eq!(ok(mul(&s("ab"), &i(0))), "");
        assert_eq!(ok(mul(&s("ab"), &i(-5))), "");
        assert_eq!(ok(mul(&s(""), &i(i64::MAX))), "");
        assert_eq!(
            er(mul(&s("ab"), &i(i64::MAX))),
            "String repetition too large"
        );
        assert_eq!(
            er(mul(&s("x"), &i((1 << 30) + 1))),
            "String repetition too large"
        );
        assert_eq!(
            er(mul(&s("ab"), &f(2.0))),
            "Cannot multiply string by float"
        );
        let xs = arr(vec![i(1)]);
        let ys = arr(vec![i(2), i(3)]);
        let zs = add(&xs, &ys).unwrap();
        assert_eq!(d(&zs), "[1, 2, 3]");
        if let Value::Array(rc) = &zs {
            rc.borrow_mut().push(i(4));
        }
        assert_eq!(d(&xs), "[1]");
        assert_eq!(d(&add(&xs, &xs).unwrap()), "[1, 1]");
    }

    #[test]
    fn type_errors() {
        assert_eq!(
            er(sub(&s("five"), &i(3))),
            "Cannot subtract integer from string"
        );
        assert_eq!(er(add(&i(1), &Value::Nil)), "Cannot add nil to integer");
        assert_eq!(er(add(&arr(vec![]), &i(1))), "Cannot add integer to array");
        assert_eq!(
            er(mul(&b(true), &i(1))),
            "Cannot multiply boolean by integer"
        );
        assert_eq!(er(div(&s("a"), &i(1))), "Cannot divide string by integer");
        assert_eq!(
            er(rem(&tup(vec![]), &i(1))),
            "Cannot compute remainder of tuple by integer"
        );
        assert_eq!(er(neg(&s("a"))), "Cannot negate string");
        assert_eq!(er(not(&i(1))), "Cannot apply `!` to integer");
        assert_eq!(er(bitnot(&f(1.0))), "Cannot apply `~` to float");
        assert_eq!(
            er(bitand(&f(1.0), &i(1))),
            "Cannot apply `&` to float and integer"
        );
        assert_eq!(
            er(bitor(&b(true), &b(false))),
            "Cannot apply `|` to boolean and boolean"
        );
        assert_eq!(
            er(bitxor(&i(1), &s("a"))),
            "Cannot apply `^` to integer and string"
        );
        assert_eq!(
            er(shl(&i(1), &f(1.0))),
            "Cannot apply `<<` to integer and float"
        );
        assert_eq!(
            er(shr(&Value::Nil, &i(1))),
            "Cannot apply `>>` to nil and integer"
        );
        assert_eq!(ok(not(&b(true))), "false");
        assert_eq!(ok(not(&b(false))), "true");
    }

    #[test]
    fn shifts_out_of_range() {
        assert_eq!(er(shl(&i(1), &i(64))), "Shift amount 64 out of range");
        assert_eq!(er(shl(&i(1), &i(-1))), "Shift amount -1 out of range");
        assert_eq!(
            er(shr(&i(1), &i(i64::MAX))),
            format!("Shift amount {} out of range", i64::MAX)
        );
        assert_eq!(
            er(shr(&i(1), &i(i64::MIN))),
            format!("Shift amount {} out of range", i64::MIN)
        );
        is_int(shl(&i(3), &i(0)), 3);
    }

    #[test]
    fn comparisons() {
        use CmpPred::*;
        assert!(cmp(Eq, &i(5), &f(5.0)));
        assert!(cmp(Eq, &f(5.0), &i(5)));
        assert!(!cmp(Ne, &i(5), &f(5.0)));
        assert!(cmp(Lt, &i(1), &f(1.5)));
        assert!(cmp(Gt, &f(2.5), &i(1)));
        assert!(cmp(Ge, &i(5), &i(5)) && !cmp(Le, &i(5), &i(4)) && !cmp(Ne, &i(5), &i(5)));
        // Exact int/float comparison beyond 2^53.
        let big = (1i64 << 53) + 1;
        assert!(!cmp(Eq, &i(big), &f((1i64 << 53) as f64)));
        assert!(cmp(Gt, &i(big), &f((1i64 << 53) as f64)));
        assert!(cmp(Lt, &i(i64::MAX), &f(9.223_372_036_854_776e18)));
        assert!(cmp(Gt, &i(i64::MIN), &f(-1e19)));
        assert!(cmp(Eq, &i(i64::MIN), &f(-9.223_372_036_854_776e18)));
        assert!(cmp(Lt, &i(-3), &f(-2.5)) && cmp(Gt, &i(-2), &f(-2.5)));
        // NaN: every ordering false, != true.
        let nan = f(f64::NAN);
        for p in [Lt, Le, Gt, Ge, Eq] {
            assert!(!cmp(p, &nan, &nan));
            assert!(!cmp(p, &nan, &i(1)));
            assert!(!cmp(p, &i(1), &nan));
        }
        assert!(cmp(Ne, &nan, &nan) && cmp(Ne, &i(0), &nan));
        // Strings.
        assert!(cmp(Lt, &s("abc"), &s("abd")));
        assert!(cmp(Lt, &s("ab"), &s("abc")));
        assert!(cmp(Lt, &s("Z"), &s("a")));
        assert!(cmp(Eq, &s("Hello"), &s("Hello")) && cmp(Ne, &s("Hello"), &s("World")));
        // Bools, nil, kinds.
        assert!(cmp(Eq, &b(true), &b(true)) && cmp(Ne, &b(true), &b(false)));
        assert!(cmp(Eq, &Value::Nil, &Value::Nil));
        assert!(cmp(Ne, &Value::Nil, &b(false)));
        assert!(cmp(Ne, &i(1), &s("1")));
        assert!(cmp(Ne, &i(1), &b(true)));
        assert!(!cmp(Eq, &arr(vec![i(1)]), &tup(vec![i(1)])));
        // Deep equality and ordering of arrays and tuples.
        let a = arr(vec![i(1), arr(vec![s("x"), f(2.0)])]);
        let c = arr(vec![f(1.0), arr(vec![s("x"), i(2)])]);
        assert!(cmp(Eq, &a, &c));
        assert!(cmp(Ne, &a, &arr(vec![i(1)])));
        assert!(cmp(Lt, &arr(vec![i(1), i(2)]), &arr(vec![i(1), i(3)])));
        assert!(cmp(Lt, &arr(vec![i(1)]), &arr(vec![i(1), i(0)])));
        assert!(cmp(Ge, &arr(vec![]), &arr(vec![])));
        assert!(cmp(Gt, &tup(vec![i(2)]), &tup(vec![i(1), i(9)])));
        assert!(cmp(
            Le,
            &arr(vec![Value::Nil, i(1)]),
            &arr(vec![Value::Nil, i(2)])
        ));
        assert_eq!(
            er(compare(Lt, &arr(vec![i(1)]), &arr(vec![s("a")]))),
            "Cannot compare integer with string"
        );
        assert!(cmp(
            Eq,
            &tup(vec![i(1), s("two")]),
            &tup(vec![i(1), s("two")])
        ));
        // Functions by identity.
        let f0 = Value::Func(FuncId::from_u32(0));
        assert!(cmp(Eq, &f0, &Value::Func(FuncId::from_u32(0))));
        assert!(cmp(Ne, &f0, &Value::Func(FuncId::from_u32(1))));
        let cl = Value::Closure(Rc::new(Closure {
            func: FuncId::from_u32(0),
            captures: vec![],
        }));
        let cl2 = Value::Closure(Rc::new(Closure {
            func: FuncId::from_u32(0),
            captures: vec![],
        }));
        assert!(cmp(Eq, &cl, &cl.clone()) && cmp(Ne, &cl, &cl2) && cmp(Ne, &cl, &f0));
        // Ordering errors.
        assert_eq!(
            er(compare(Lt, &s("a"), &i(1))),
            "Cannot compare string with integer"
        );
        assert_eq!(
            er(compare(Ge, &Value::Nil, &Value::Nil)),
            "Cannot compare nil with nil"
        );
        assert_eq!(
            er(compare(Gt, &b(true), &b(false))),
            "Cannot compare boolean with boolean"
        );
        assert_eq!(
            er(compare(Lt, &arr(vec![]), &tup(vec![]))),
            "Cannot compare array with tuple"
        );
    }

    #[test]
    fn cyclic_comparisons_do_not_hang() {
        use CmpPred::*;
        let a = arr(vec![]);
        let c = arr(vec![]);
        for (x, y) in [(&a, &a), (&c, &c)] {
            if let Value::Array(rc) = x {
                rc.borrow_mut().push(y.clone());
            }
        }
        assert!(cmp(Eq, &a, &a));
        assert!(cmp(Le, &a, &a));
        assert_eq!(er(compare(Eq, &a, &c)), "Comparison nested too deeply");
        assert_eq!(er(compare(Lt, &a, &c)), "Comparison nested too deeply");
        for x in [&a, &c] {
            if let Value::Array(rc) = x {
                rc.borrow_mut().clear();
            }
        }
    }

    #[test]
    fn truthiness() {
        assert_eq!(truthy(&b(true)), Ok(true));
        assert_eq!(truthy(&b(false)), Ok(false));
        assert_eq!(
            er(truthy(&i(1))),
            "Expected a boolean condition, found integer"
        );
        assert_eq!(
            er(truthy(&Value::Nil)),
            "Expected a boolean condition, found nil"
        );
        assert_eq!(
            er(truthy(&arr(vec![]))),
            "Expected a boolean condition, found array"
        );
    }

    #[test]
    fn indexing_c16_c26_c40() {
        let xs = arr(vec![i(1), i(2), i(3)]);
        assert_eq!(ok(index(&xs, &i(2))), "3");
        assert_eq!(ok(index(&xs, &i(-1))), "3");
        assert_eq!(ok(index(&xs, &i(-3))), "1");
        assert_eq!(
            er(index(&xs, &i(3))),
            "Index 3 out of bounds for array of length 3"
        );
        assert_eq!(
            er(index(&xs, &i(-4))),
            "Index -4 out of bounds for array of length 3"
        );
        assert_eq!(
            er(index(&xs, &i(i64::MIN))),
            format!("Index {} out of bounds for array of length 3", i64::MIN)
        );
        assert_eq!(
            er(index(&xs, &i(i64::MAX))),
            format!("Index {} out of bounds for array of length 3", i64::MAX)
        );
        assert_eq!(er(index(&xs, &f(1.0))), "Cannot index array with float");
        assert_eq!(er(index(&xs, &s("a"))), "Cannot index array with string");
        assert_eq!(er(index(&i(5), &i(0))), "Cannot index into integer");
        assert_eq!(er(index(&Value::Nil, &i(0))), "Cannot index into nil");
        let grid = arr(vec![
            arr(vec![i(1), i(2), i(3)]),
            arr(vec![i(4), i(5), i(6)]),
        ]);
        assert_eq!(ok(index(&index(&grid, &i(1)).unwrap(), &i(2))), "6");
        // Tuples.
        let t = tup(vec![i(1), s("two")]);
        assert_eq!(ok(index(&t, &i(1))), "two");
        assert_eq!(ok(index(&t, &i(-2))), "1");
        assert_eq!(
            er(index(&t, &i(2))),
            "Index 2 out of bounds for tuple of length 2"
        );
        assert_eq!(er(index(&t, &b(true))), "Cannot index tuple with boolean");
        // Strings, by character.
        let h = s("hello");
        assert_eq!(ok(index(&h, &i(0))), "h");
        assert_eq!(ok(index(&h, &i(4))), "o");
        assert_eq!(ok(index(&h, &i(-1))), "o");
        assert_eq!(
            er(index(&h, &i(5))),
            "Index 5 out of bounds for string of length 5"
        );
        assert_eq!(
            er(index(&h, &i(-6))),
            "Index -6 out of bounds for string of length 5"
        );
        let u = s("héllo");
        assert_eq!(ok(index(&u, &i(1))), "é");
        assert_eq!(ok(index(&u, &i(2))), "l");
        assert_eq!(ok(index(&u, &i(-4))), "é");
        assert_eq!(
            er(index(&u, &i(5))),
            "Index 5 out of bounds for string of length 5"
        );
        assert_eq!(er(index(&h, &Value::Nil)), "Cannot index string with nil");
        assert_eq!(
            er(index(&s(""), &i(0))),
            "Index 0 out of bounds for string of length 0"
        );
    }

    #[test]
    fn set_index_c21() {
        let xs = arr(vec![i(1), i(2), i(3)]);
        let v = add(&index(&xs, &i(1)).unwrap(), &i(10)).unwrap();
        set_index(&xs, &i(1), v).unwrap();
        assert_eq!(d(&xs), "[1, 12, 3]");
        set_index(&xs, &i(-1), s("z")).unwrap();
        assert_eq!(d(&xs), "[1, 12, \"z\"]");
        assert_eq!(
            er(set_index(&xs, &i(3), i(0))),
            "Index 3 out of bounds for array of length 3"
        );
        assert_eq!(
            er(set_index(&xs, &f(0.0), i(0))),
            "Cannot index array with float"
        );
        assert_eq!(
            er(set_index(&s("ab"), &i(0), s("x"))),
            "Cannot assign to an element of string"
        );
        assert_eq!(
            er(set_index(&tup(vec![i(1)]), &i(0), i(2))),
            "Cannot assign to an element of tuple"
        );
        assert_eq!(
            er(set_index(&i(1), &i(0), i(2))),
            "Cannot index into integer"
        );
        // Storing an array into itself is allowed and prints with the cycle elided.
        set_index(&xs, &i(0), xs.clone()).unwrap();
        assert_eq!(d(&xs), "[[...], 12, \"z\"]");
        if let Value::Array(rc) = &xs {
            rc.borrow_mut().clear();
        }
    }

    #[test]
    fn lengths() {
        assert_eq!(len(&s("Hello, World!")), Ok(13));
        assert_eq!(len(&s("é")), Ok(2));
        assert_eq!(len(&arr(vec![i(1), i(2)])), Ok(2));
        assert_eq!(len(&tup(vec![i(1)])), Ok(1));
        assert_eq!(er(len(&i(1))), "Cannot take the length of integer");
        assert_eq!(er(len(&Value::Nil)), "Cannot take the length of nil");
    }

    #[test]
    fn builtins_c40() {
        use Builtin::*;
        // println(abs(-4), abs(-2.5), min(3, 9), max(3, 9.5), pow(2, 8), floor(2.7), ceil(2.1), round(2.5))
        let results = [
            bi(Abs, &[i(-4)]),
            bi(Abs, &[f(-2.5)]),
            bi(Min, &[i(3), i(9)]),
            bi(Max, &[i(3), f(9.5)]),
            bi(Pow, &[i(2), i(8)]),
            bi(Floor, &[f(2.7)]),
            bi(Ceil, &[f(2.1)]),
            bi(Round, &[f(2.5)]),
        ];
        let args: Vec<Value> = results.into_iter().map(|r| r.unwrap()).collect();
        let mut line = String::new();
        format::format_println_args(&args, &mut line);
        assert_eq!(line, "4 2.5 3 9.5 256 2 3 3");
        // println(float(3), int(3.9), int(-3.9)) and println(3 as f64, 3.7 as i64)
        let args = [
            bi(Float, &[i(3)]).unwrap(),
            bi(Int, &[f(3.9)]).unwrap(),
            bi(Int, &[f(-3.9)]).unwrap(),
        ];
        let mut line = String::new();
        format::format_println_args(&args, &mut line);
        assert_eq!(line, "3.0 3 -3");
        assert_eq!(ok(cast_to_float(&i(3))), "3.0");
        assert_eq!(ok(cast_to_int(&f(3.7))), "3");
        // str(42) + "!", (7).to_string() + "?"
        assert_eq!(ok(add(&bi(Str, &[i(42)]).unwrap(), &s("!"))), "42!");
        assert_eq!(
            ok(add(
                &method(&i(7), "to_string", &[]).unwrap().unwrap(),
                &s("?")
            )),
            "7?"
        );
        // type_of line.
        let names: Vec<String> = [i(1), f(1.0), s("s"), b(true), arr(vec![i(1)]), Value::Nil]
            .iter()
            .map(|v| ok(bi(TypeOf, std::slice::from_ref(v))))
            .collect();
        assert_eq!(names.join(" "), "integer float string boolean array nil");
        assert_eq!(ok(bi(TypeOf, &[tup(vec![])])), "tuple");
        assert_eq!(
            ok(bi(TypeOf, &[Value::Func(FuncId::from_u32(0))])),
            "function"
        );
    }

    #[test]
    fn builtin_details() {
        use Builtin::*;
        is_float(bi(Sqrt, &[i(16)]), 4.0);
        is_float(bi(Sqrt, &[f(2.25)]), 1.5);
        is_float(bi(Sqrt, &[i(-1)]), f64::NAN);
        assert_eq!(er(bi(Sqrt, &[s("4")])), "Cannot apply sqrt() to string");
        assert_eq!(er(bi(Abs, &[i(i64::MIN)])), "Integer overflow in abs");
        is_int(bi(Abs, &[i(i64::MAX)]), i64::MAX);
        is_float(bi(Abs, &[f(-0.0)]), 0.0);
        assert_eq!(er(bi(Abs, &[b(true)])), "Cannot apply abs() to boolean");
        // min/max return the original value.
        is_float(bi(Min, &[f(2.5), i(3)]), 2.5);
        is_int(bi(Max, &[i(3), f(3.0)]), 3);
        is_int(bi(Min, &[i(3), f(3.0)]), 3);
        is_float(bi(Max, &[f(1.0), i(0)]), 1.0);
        is_int(bi(Min, &[i(i64::MIN), i(i64::MAX)]), i64::MIN);
        assert_eq!(ok(bi(Min, &[s("b"), s("a")])), "a");
        assert_eq!(ok(bi(Max, &[s("b"), s("a")])), "b");
        assert_eq!(
            er(bi(Min, &[s("b"), i(1)])),
            "Cannot apply min() to string and integer"
        );
        assert_eq!(
            er(bi(Max, &[Value::Nil, i(1)])),
            "Cannot apply max() to nil and integer"
        );
        is_float(bi(Min, &[f(f64::NAN), i(1)]), f64::NAN);
        // floor/ceil/round give integers.
        is_int(bi(Floor, &[f(-2.5)]), -3);
        is_int(bi(Ceil, &[f(-2.5)]), -2);
        is_int(bi(Round, &[f(-2.5)]), -3);
        is_int(bi(Round, &[f(2.4)]), 2);
        is_int(bi(Round, &[f(0.5)]), 1);
        is_int(bi(Floor, &[i(7)]), 7);
        is_int(bi(Floor, &[f(-9.223_372_036_854_776e18)]), i64::MIN);
        assert_eq!(
            er(bi(Floor, &[f(9.223_372_036_854_776e18)])),
            "Float 9223372036854775808.0 out of range for integer"
        );
        assert_eq!(
            er(bi(Round, &[f(f64::NAN)])),
            "Float NaN out of range for integer"
        );
        assert_eq!(
            er(bi(Ceil, &[f(f64::NEG_INFINITY)])),
            "Float -inf out of range for integer"
        );
        assert_eq!(er(bi(Floor, &[s("1")])), "Cannot apply floor() to string");
        // int()
        is_int(bi(Int, &[f(1e300)]), i64::MAX);
        is_int(bi(Int, &[f(-1e300)]), i64::MIN);
        is_int(bi(Int, &[f(f64::NAN)]), 0);
        is_int(bi(Int, &[b(true)]), 1);
        is_int(bi(Int, &[b(false)]), 0);
        is_int(bi(Int, &[s(" 42 ")]), 42);
        is_int(bi(Int, &[s("-9223372036854775808")]), i64::MIN);
        assert_eq!(
            er(bi(Int, &[s("x")])),
            "Cannot convert string \"x\" to integer"
        );
        assert_eq!(
            er(bi(Int, &[s("3.5")])),
            "Cannot convert string \"3.5\" to integer"
        );
        assert_eq!(
            er(bi(Int, &[s("9223372036854775808")])),
            "Cannot convert string \"9223372036854775808\" to integer"
        );
        assert_eq!(er(bi(Int, &[Value::Nil])), "Cannot apply int() to nil");
        // float()
        is_float(bi(Float, &[s(" 2.5")]), 2.5);
        is_float(bi(Float, &[s("7")]), 7.0);
        is_float(bi(Float, &[b(true)]), 1.0);
        is_float(bi(Float, &[f(0.5)]), 0.5);
        assert_eq!(
            er(bi(Float, &[s("abc")])),
            "Cannot convert string \"abc\" to float"
        );
        assert_eq!(
            er(bi(Float, &[arr(vec![])])),
            "Cannot apply float() to array"
        );
        // str()
        assert_eq!(ok(bi(Str, &[f(2.0)])), "2");
        assert_eq!(ok(bi(Str, &[arr(vec![f(2.0), s("a")])])), "[2.0, \"a\"]");
        assert_eq!(ok(bi(Str, &[s("same")])), "same");
        // Arity.
        assert_eq!(
            er(bi(Sqrt, &[])),
            "sqrt() takes 1 argument but 0 were given"
        );
        assert_eq!(
            er(bi(Abs, &[i(1), i(2)])),
            "abs() takes 1 argument but 2 were given"
        );
        assert_eq!(
            er(bi(Pow, &[i(1)])),
            "pow() takes 2 arguments but 1 was given"
        );
        assert_eq!(
            er(bi(TypeOf, &[])),
            "type_of() takes 1 argument but 0 were given"
        );
    }

    #[test]
    fn casts() {
        is_int(cast_to_int(&f(-3.7)), -3);
        is_int(cast_to_int(&f(f64::INFINITY)), i64::MAX);
        is_int(cast_to_int(&f(f64::NAN)), 0);
        is_int(cast_to_int(&i(9)), 9);
        is_int(cast_to_int(&b(true)), 1);
        is_float(cast_to_float(&i(i64::MAX)), 9.223_372_036_854_776e18);
        is_float(cast_to_float(&b(false)), 0.0);
        assert_eq!(er(cast_to_int(&s("3"))), "Cannot cast string to i64");
        assert_eq!(er(cast_to_float(&Value::Nil)), "Cannot cast nil to f64");
    }

    fn sm(recv: &str, name: &str, args: &[Value]) -> OpResult {
        string_method(recv, name, args).expect("method exists")
    }

    #[test]
    fn string_methods() {
        is_int(sm("hello", "len", &[]), 5);
        is_int(sm("é", "len", &[]), 2);
        assert_eq!(ok(sm("Hello", "to_uppercase", &[])), "HELLO");
        assert_eq!(ok(sm("Hello", "to_lowercase", &[])), "hello");
        assert_eq!(ok(sm("  hi \n", "trim", &[])), "hi");
        assert_eq!(ok(sm("a-b-c", "replace", &[s("-"), s("+")])), "a+b+c");
        assert_eq!(ok(sm("ab", "replace", &[s(""), s(".")])), ".a.b.");
        assert_eq!(ok(sm("hello", "contains", &[s("ell")])), "true");
        assert_eq!(ok(sm("hello", "contains", &[s("xyz")])), "false");
        assert_eq!(ok(sm("hello", "starts_with", &[s("he")])), "true");
        assert_eq!(ok(sm("hello", "ends_with", &[s("lo")])), "true");
        assert_eq!(ok(sm("hello", "ends_with", &[s("he")])), "false");
        assert_eq!(ok(sm("hello", "substring", &[i(1), i(3)])), "el");
        assert_eq!(ok(sm("hello", "substring", &[i(-5), i(2)])), "he");
        assert_eq!(ok(sm("hello", "substring", &[i(3), i(100)])), "lo");
        assert_eq!(ok(sm("hello", "substring", &[i(3), i(1)])), "");
        assert_eq!(ok(sm("hello", "substring", &[i(10), i(20)])), "");
        assert_eq!(ok(sm("héllo", "substring", &[i(1), i(2)])), "é");
        assert_eq!(
            ok(sm("hello", "substring", &[i(i64::MIN), i(i64::MAX)])),
            "hello"
        );
        assert_eq!(ok(sm("x", "to_string", &[])), "x");
        assert_eq!(
            ok(sm("a,b,,c", "split", &[s(",")])),
            "[\"a\", \"b\", \"\", \"c\"]"
        );
        assert_eq!(ok(sm("abc", "split", &[s("")])), "[\"a\", \"b\", \"c\"]");
        assert_eq!(ok(sm("hé", "chars", &[])), "[\"h\", \"é\"]");
        assert_eq!(ok(sm("", "chars", &[])), "[]");
        assert!(string_method("x", "nope", &[]).is_none());
        assert_eq!(
            er(sm("x", "contains", &[i(1)])),
            "Cannot apply contains() to integer"
        );
        assert_eq!(
            er(sm("x", "replace", &[s("a")])),
            "replace() takes 2 arguments but 1 was given"
        );
        assert_eq!(
            er(sm("x", "substring", &[s("a"), i(1)])),
            "Cannot apply substring() to string"
        );
        assert_eq!(
            er(sm("x", "trim", &[i(1)])),
            "trim() takes 0 arguments but 1 was given"
        );
        // Huge replacements are refused instead of exhausting memory.
        let big = "a".repeat(1 << 16);
        assert_eq!(
            er(sm(
                &big,
                "replace",
                &[s("a"), Value::str("b".repeat(1 << 15))]
            )),
            "String too large"
        );
    }

    #[test]
    fn generic_methods() {
        let recv = s("abc");
        assert_eq!(ok(method(&recv, "len", &[]).unwrap()), "3");
        assert_eq!(ok(method(&recv, "to_string", &[]).unwrap()), "abc");
        assert_eq!(ok(method(&f(2.0), "to_string", &[]).unwrap()), "2");
        assert_eq!(
            ok(method(&arr(vec![f(1.0)]), "to_string", &[]).unwrap()),
            "[1.0]"
        );
        assert_eq!(ok(method(&Value::Nil, "to_string", &[]).unwrap()), "nil");
        assert_eq!(
            er(method(&i(1), "to_string", &[i(1)]).unwrap()),
            "to_string() takes 0 arguments but 1 was given"
        );
        assert!(method(&i(1), "len", &[]).is_none());
        assert!(method(&arr(vec![]), "map", &[]).is_none());
    }

    fn am(recv: &Value, name: &str, args: &[Value]) -> OpResult {
        match recv {
            Value::Array(rc) => array_method(rc, name, args).expect("method exists"),
            _ => panic!("not an array"),
        }
    }

    #[test]
    fn array_methods_c16_c19() {
        let ys = arr(vec![]);
        for k in 0..5 {
            assert!(matches!(am(&ys, "push", &[i(k * k)]), Ok(Value::Nil)));
        }
        assert_eq!(d(&ys), "[0, 1, 4, 9, 16]");
        is_int(am(&ys, "len", &[]), 5);
        is_int(am(&arr(vec![i(1), i(2), i(3), i(4), i(5)]), "sum", &[]), 15);
        is_int(am(&arr(vec![]), "sum", &[]), 0);
        is_float(am(&arr(vec![i(1), f(0.5), i(2)]), "sum", &[]), 3.5);
        assert_eq!(
            er(am(&arr(vec![i(i64::MAX), i(1)]), "sum", &[])),
            "Integer overflow in addition"
        );
        assert_eq!(
            er(am(&arr(vec![i(1), s("a")]), "sum", &[])),
            "Cannot add string to integer"
        );
        assert_eq!(
            er(am(&arr(vec![f(1.0), Value::Nil]), "sum", &[])),
            "Cannot add nil to float"
        );
        is_int(am(&ys, "pop", &[]), 16);
        assert_eq!(d(&ys), "[0, 1, 4, 9]");
        assert_eq!(er(am(&arr(vec![]), "pop", &[])), "pop from empty array");
        assert_eq!(ok(am(&ys, "contains", &[f(4.0)])), "true");
        assert_eq!(ok(am(&ys, "contains", &[s("4")])), "false");
        assert_eq!(
            ok(am(
                &arr(vec![arr(vec![i(1)])]),
                "contains",
                &[arr(vec![i(1)])]
            )),
            "true"
        );
        let rev = am(&ys, "reverse", &[]).unwrap();
        assert_eq!(d(&rev), "[9, 4, 1, 0]");
        assert_eq!(d(&ys), "[0, 1, 4, 9]");
        assert_eq!(
            ok(am(&arr(vec![i(1), f(2.0), s("x")]), "join", &[s(", ")])),
            "1, 2, x"
        );
        assert_eq!(ok(am(&arr(vec![]), "join", &[s("-")])), "");
        assert_eq!(
            er(am(&ys, "join", &[i(1)])),
            "Cannot apply join() to integer"
        );
        assert_eq!(
            ok(am(&arr(vec![s("a"), f(1.0)]), "to_string", &[])),
            "[\"a\", 1.0]"
        );
        assert_eq!(
            er(am(&ys, "push", &[])),
            "push() takes 1 argument but 0 were given"
        );
        assert!(matches!(&ys, Value::Array(rc) if array_method(rc, "map", &[]).is_none()));
        // Pushing an array into itself works and prints with the cycle elided.
        am(&ys, "push", std::slice::from_ref(&ys)).unwrap();
        assert_eq!(d(&ys), "[0, 1, 4, 9, [...]]");
        assert_eq!(ok(am(&ys, "contains", std::slice::from_ref(&ys))), "true");
        if let Value::Array(rc) = &ys {
            rc.borrow_mut().clear();
        }
    }

    /// Every operation on every pair of odd values returns instead of panicking.
    #[test]
    fn no_panics_on_odd_inputs() {
        let vals = all_values();
        let binops: [fn(&Value, &Value) -> OpResult; 11] = [
            add, sub, mul, div, rem, pow, bitand, bitor, bitxor, shl, shr,
        ];
        for a in &vals {
            let _ = neg(a);
            let _ = not(a);
            let _ = bitnot(a);
            let _ = truthy(a);
            let _ = len(a);
            let _ = cast_to_int(a);
            let _ = cast_to_float(a);
            let _ = format::display_string(a);
            let _ = format::text_string(a);
            for bt in Builtin::ALL {
                let _ = builtin(bt, std::slice::from_ref(a));
            }
            for name in [
                "len",
                "pop",
                "sum",
                "reverse",
                "to_string",
                "chars",
                "trim",
                "to_uppercase",
            ] {
                let _ = method(a, name, &[]);
            }
            for x in &vals {
                for op in binops {
                    let _ = op(a, x);
                }
                let _ = add_owned(a.clone(), x);
                for p in CmpPred::ALL {
                    let _ = compare(p, a, x);
                }
                let _ = index(a, x);
                let _ = set_index(&arr(vec![i(0)]), x, a.clone());
                for bt in Builtin::ALL {
                    let _ = builtin(bt, &[a.clone(), x.clone()]);
                }
                for name in [
                    "push",
                    "contains",
                    "join",
                    "split",
                    "replace",
                    "starts_with",
                    "ends_with",
                ] {
                    let _ = method(a, name, std::slice::from_ref(x));
                }
                let _ = method(a, "substring", &[x.clone(), x.clone()]);
                let _ = method(a, "replace", &[x.clone(), x.clone()]);
                let mut line = String::new();
                format::format_println_args(&[a.clone(), x.clone()], &mut line);
            }
        }
    }
}

//! How Ruchy values are turned into text.
//!
//! There are three forms, and the conformance files depend on each of them byte for byte:
//!
//! - [`display`]: what `println`/`print` show for a top-level argument. Strings are raw, a whole
//!   float keeps a `.0` (`2.0`), containers show their elements in the `repr` form.
//! - [`repr`]: the form of an element inside an array or tuple: like `display`, except that
//!   strings are quoted (`["a", "b"]`).
//! - [`to_text`]: the text that string concatenation, `str(x)`, `x.to_string()` and f-strings
//!   use: like `display`, except that a whole float has no `.0` (`"s" + 2.0` is `"s2"`).
//!   Containers still show their elements in the `repr` form (`"a" + [1.0]` is `a[1.0]`).
//!
//! Formatting never fails and never panics: an array that contains itself prints `[...]` where
//! it is revisited, and nesting deeper than [`MAX_NESTING`] is cut off the same way so that a
//! pathological value cannot overflow the native stack.

use crate::value::Value;
use std::fmt::Write as _;
use std::rc::Rc;

/// How deeply containers may nest before formatting (and deep comparison, in `ops`) stops
/// recursing. Deeper levels print as `[...]` / `(...)`; deep comparison reports an error.
pub const MAX_NESTING: usize = 1000;

/// Appends the `println` form of `v` to `out` (strings raw, whole floats with `.0`).
#[inline]
pub fn display(v: &Value, out: &mut String) {
    match v {
        Value::Str(s) => out.push_str(s),
        Value::Int(i) => write_int(*i, out),
        Value::Float(f) => write_float(*f, out),
        _ => Writer::new(out).value(v, Form::Display),
    }
}

/// Appends the element form of `v` to `out`: like [`display`] but strings are quoted.
///
/// Quoting adds `"` around the text and escapes nothing, exactly like the reference
/// interpreter (`["a", "b"]`).
#[inline]
pub fn repr(v: &Value, out: &mut String) {
    Writer::new(out).value(v, Form::Repr)
}

/// Appends the text of `v` used by string concatenation, `str`, `to_string` and f-strings:
/// like [`display`] but a whole float has no `.0` (`2.0` gives `2`).
#[inline]
pub fn to_text(v: &Value, out: &mut String) {
    match v {
        Value::Str(s) => out.push_str(s),
        Value::Int(i) => write_int(*i, out),
        Value::Float(f) => write_float_text(*f, out),
        _ => Writer::new(out).value(v, Form::Text),
    }
}

/// The [`display`] form as a new string (convenience for tests and error messages).
pub fn display_string(v: &Value) -> String {
    let mut out = String::new();
    display(v, &mut out);
    out
}

/// The [`to_text`] form as a new string.
pub fn text_string(v: &Value) -> String {
    let mut out = String::new();
    to_text(v, &mut out);
    out
}

/// Builds the whole `println`/`print` line (without the newline).
///
/// When the first argument is a string containing `{}`, each placeholder takes the next
/// argument (shown with [`display`], so `4.0` stays `4.0`); arguments left over are appended,
/// each after one space; placeholders left over stay `{}`. Otherwise all arguments are shown
/// with [`display`], separated by one space. No arguments give an empty line.
pub fn format_println_args(args: &[Value], out: &mut String) {
    if let Some((Value::Str(fmt), rest)) = args.split_first() {
        if fmt.contains("{}") {
            let mut values = rest.iter();
            let mut pieces = fmt.split("{}");
            if let Some(first) = pieces.next() {
                out.push_str(first);
            }
            for piece in pieces {
                match values.next() {
                    Some(v) => display(v, out),
                    None => out.push_str("{}"),
                }
                out.push_str(piece);
            }
            for v in values {
                out.push(' ');
                display(v, out);
            }
            return;
        }
    }
    for (i, v) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        display(v, out);
    }
}

/// The display form of a float: whole finite floats end in `.0`, others use the shortest text
/// that reads back exactly, never exponent notation; `NaN`, `inf`, `-inf`.
pub fn float_to_string(f: f64) -> String {
    let mut out = String::new();
    write_float(f, &mut out);
    out
}

/// Appends the display form of a float (see [`float_to_string`]).
///
/// A whole float is printed with one decimal (`{:.1}`), which is what the reference interpreter
/// does: it agrees with "shortest digits + `.0`" for every whole float below 2^53 and prints the
/// exact value above (`1e23` prints `99999999999999991611392.0`).
#[inline]
pub fn write_float(f: f64, out: &mut String) {
    // Writing to a String cannot fail.
    if f.is_finite() && f.fract() == 0.0 {
        let _ = write!(out, "{f:.1}");
    } else {
        let _ = write!(out, "{f}");
    }
}

/// Appends the concatenation form of a float: Rust's shortest round-trip `{}` form, so a whole
/// float has no `.0` (`2`, `-0`) and other floats look as in [`write_float`].
#[inline]
pub fn write_float_text(f: f64, out: &mut String) {
    let _ = write!(out, "{f}");
}

/// Appends an integer in decimal.
#[inline]
pub fn write_int(i: i64, out: &mut String) {
    let _ = write!(out, "{i}");
}

/// Which of the three forms a value is written in.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Form {
    Display,
    Repr,
    Text,
}

/// Recursive writer for containers; remembers the mutable containers being written to detect
/// cycles.
struct Writer<'a> {
    out: &'a mut String,
    /// Addresses of the arrays and cells currently being written (the path from the root).
    open: Vec<*const ()>,
    depth: usize,
}

impl<'a> Writer<'a> {
    fn new(out: &'a mut String) -> Self {
        Writer {
            out,
            open: Vec::new(),
            depth: 0,
        }
    }

    fn value(&mut self, v: &Value, form: Form) {
        match v {
            Value::Nil | Value::Undef => self.out.push_str("nil"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => write_int(*i, self.out),
            Value::Float(f) => {
                if form == Form::Text {
                    write_float_text(*f, self.out)
                } else {
                    write_float(*f, self.out)
                }
            }
            Value::Str(s) => {
                if form == Form::Repr {
                    self.out.reserve(s.len() + 2);
                    self.out.push('"');
                    self.out.push_str(s);
                    self.out.push('"');
                } else {
                    self.out.push_str(s)
                }
            }
            Value::Array(items) => {
                let key = Rc::as_ptr(items) as *const ();
                let Ok(items) = items.try_borrow() else {
                    // Only possible while the array is being mutated; print it as elided.
                    self.out.push_str("[...]");
                    return;
                };
                if self.depth >= MAX_NESTING || self.open.contains(&key) {
                    self.out.push_str("[...]");
                    return;
                }
                self.open.push(key);
                self.depth += 1;
                self.out.push('[');
                self.elements(&items);
                self.out.push(']');
                self.depth -= 1;
                self.open.pop();
            }
            Value::Tuple(items) => {
                if self.depth >= MAX_NESTING {
                    self.out.push_str("(...)");
                    return;
                }
                self.depth += 1;
                self.out.push('(');
                self.elements(items);
                if items.len() == 1 {
                    self.out.push(',');
                }
                self.out.push(')');
                self.depth -= 1;
            }
            Value::Func(_) | Value::Closure(_) => self.out.push_str("<function>"),
            Value::Cell(cell) => {
                // Cells are normally looked through by the interpreter; show the content.
                let key = Rc::as_ptr(cell) as *const ();
                let Ok(inner) = cell.try_borrow() else {
                    self.out.push_str("...");
                    return;
                };
                if self.depth >= MAX_NESTING || self.open.contains(&key) {
                    self.out.push_str("...");
                    return;
                }
                self.open.push(key);
                self.depth += 1;
                self.value(&inner, form);
                self.depth -= 1;
                self.open.pop();
            }
        }
    }

    fn elements(&mut self, items: &[Value]) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.value(item, Form::Repr);
        }
    }
}

#[cfg(test)]
// The tests print literals such as 3.14159 on purpose (they are Ruchy programs' numbers).
#[allow(clippy::approx_constant)]
mod tests {
    use super::*;
    use crate::value::Closure;
    use ruchy_ir::FuncId;
    use std::cell::RefCell;

    fn func(n: u32) -> FuncId {
        FuncId::from_u32(n)
    }

    fn d(v: &Value) -> String {
        display_string(v)
    }
    fn r(v: &Value) -> String {
        let mut s = String::new();
        repr(v, &mut s);
        s
    }
    fn t(v: &Value) -> String {
        text_string(v)
    }
    fn line(args: &[Value]) -> String {
        let mut s = String::new();
        format_println_args(args, &mut s);
        s
    }
    fn arr(items: Vec<Value>) -> Value {
        Value::array(items)
    }
    fn tup(items: Vec<Value>) -> Value {
        Value::Tuple(Rc::new(items))
    }
    fn s(x: &str) -> Value {
        Value::str(x)
    }

    #[test]
    fn scalars_display() {
        assert_eq!(d(&Value::Int(42)), "42");
        assert_eq!(d(&Value::Int(-7)), "-7");
        assert_eq!(d(&Value::Int(i64::MIN)), "-9223372036854775808");
        assert_eq!(d(&Value::Bool(true)), "true");
        assert_eq!(d(&Value::Bool(false)), "false");
        assert_eq!(d(&Value::Nil), "nil");
        assert_eq!(d(&Value::Undef), "nil");
        assert_eq!(d(&s("Hello, Ruchy!")), "Hello, Ruchy!");
        assert_eq!(d(&s("quote\"inside\"")), "quote\"inside\"");
    }

    #[test]
    fn floats_display_c04() {
        // The exact lines of c04_float_arith.out and c01.
        let cases: &[(f64, &str)] = &[
            (1.5 + 2.25, "3.75"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.0 / 3.0, "0.3333333333333333"),
            (10.0 / 4.0, "2.5"),
            (2.0 * 3.0, "6.0"),
            (1.0, "1.0"),
            (100.0, "100.0"),
            (-0.5, "-0.5"),
            (1e10, "10000000000.0"),
            (1.5e-7, "0.00000015"),
            (123456789.0 * 1000.0, "123456789000.0"),
            (3.14159 * 2.0, "6.28318"),
            (7.5 % 2.0, "1.5"),
            (2.0f64.powf(0.5), "1.4142135623730951"),
            (3.14159 * 5.0 * 5.0, "78.53975"),
            (3.5, "3.5"),
            (2.0, "2.0"),
            (-0.0, "-0.0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for &(f, want) in cases {
            assert_eq!(d(&Value::Float(f)), want, "display of {f:?}");
            assert_eq!(float_to_string(f), want);
        }
        // Never exponent notation, even far from 1.
        let big = float_to_string(1e300);
        assert!(
            big.ends_with(".0") && !big.contains('e') && big.len() == 303,
            "{big}"
        );
        let tiny = float_to_string(1e-300);
        assert!(tiny.starts_with("0.000") && !tiny.contains('e'), "{tiny}");
        assert!(!float_to_string(f64::MIN_POSITIVE * 0.5).contains('e'));
    }

    #[test]
    fn text_form_c13() {
        assert_eq!(t(&Value::Float(2.0)), "2");
        assert_eq!(t(&Value::Float(3.14)), "3.14");
        assert_eq!(t(&Value::Float(-0.0)), "-0");
        assert_eq!(t(&Value::Float(1e10)), "10000000000");
        assert_eq!(t(&Value::Float(f64::NAN)), "NaN");
        assert_eq!(t(&Value::Float(f64::NEG_INFINITY)), "-inf");
        assert_eq!(t(&Value::Int(5)), "5");
        assert_eq!(t(&Value::Bool(true)), "true");
        assert_eq!(t(&Value::Nil), "nil");
        assert_eq!(t(&s("raw")), "raw");
        // Containers keep the display/repr rules for their elements.
        assert_eq!(t(&arr(vec![Value::Float(1.0)])), "[1.0]");
        assert_eq!(t(&arr(vec![s("a"), Value::Int(1)])), "[\"a\", 1]");
        assert_eq!(t(&tup(vec![Value::Float(2.0)])), "(2.0,)");
    }

    #[test]
    fn containers_c15() {
        assert_eq!(
            d(&arr(vec![
                Value::Float(1.5),
                Value::Float(2.0),
                Value::Int(3)
            ])),
            "[1.5, 2.0, 3]"
        );
        assert_eq!(d(&arr(vec![s("a"), s("b")])), "[\"a\", \"b\"]");
        assert_eq!(d(&arr(vec![])), "[]");
        let grid = arr(vec![
            arr(vec![Value::Int(1), Value::Int(2)]),
            arr(vec![Value::Int(3), Value::Int(4)]),
        ]);
        assert_eq!(d(&grid), "[[1, 2], [3, 4]]");
        assert_eq!(
            d(&tup(vec![Value::Int(1), s("two"), Value::Float(3.0)])),
            "(1, \"two\", 3.0)"
        );
        assert_eq!(d(&tup(vec![Value::Int(1)])), "(1,)");
        assert_eq!(d(&tup(vec![])), "()");
        assert_eq!(
            d(&arr(vec![Value::Nil, Value::Bool(false)])),
            "[nil, false]"
        );
        assert_eq!(d(&arr(vec![tup(vec![s("x")])])), "[(\"x\",)]");
        assert_eq!(r(&s("a")), "\"a\"");
        assert_eq!(r(&Value::Float(4.0)), "4.0");
        assert_eq!(r(&Value::Int(4)), "4");
    }

    #[test]
    fn functions_and_cells() {
        let f = Value::Func(func(3));
        assert_eq!(d(&f), "<function>");
        let c = Value::Closure(Rc::new(Closure {
            func: func(1),
            captures: vec![Value::Int(1)],
        }));
        assert_eq!(d(&c), "<function>");
        assert_eq!(d(&arr(vec![f])), "[<function>]");
        let cell = Value::Cell(Rc::new(RefCell::new(s("in"))));
        assert_eq!(d(&cell), "in");
        assert_eq!(r(&cell), "\"in\"");
    }

    #[test]
    fn cycles_and_depth_do_not_hang() {
        let a = arr(vec![Value::Int(1)]);
        if let Value::Array(rc) = &a {
            rc.borrow_mut().push(a.clone());
        }
        assert_eq!(d(&a), "[1, [...]]");
        // A shared (non-cyclic) array printed twice is not elided.
        let inner = arr(vec![Value::Int(7)]);
        assert_eq!(d(&arr(vec![inner.clone(), inner.clone()])), "[[7], [7]]");
        // Self-referencing cell.
        let cell = Rc::new(RefCell::new(Value::Nil));
        *cell.borrow_mut() = Value::Cell(cell.clone());
        assert_eq!(d(&Value::Cell(cell.clone())), "...");
        *cell.borrow_mut() = Value::Nil; // break the cycle so the test does not leak
                                         // Very deep nesting is cut off instead of overflowing the stack.
        let mut v = Value::Int(0);
        for _ in 0..(MAX_NESTING + 50) {
            v = tup(vec![arr(vec![v])]);
        }
        let text = d(&v);
        assert!(text.contains("...") && text.len() < 10 * MAX_NESTING);
        // Break the cycle of `a` to avoid leaking in tests.
        if let Value::Array(rc) = &a {
            rc.borrow_mut().clear();
        }
    }

    #[test]
    fn println_lines_c15() {
        let l = |args: Vec<Value>| line(&args);
        assert_eq!(
            l(vec![
                s("{} + {} = {}"),
                Value::Int(1),
                Value::Int(2),
                Value::Int(3)
            ]),
            "1 + 2 = 3"
        );
        assert_eq!(l(vec![s("value: {}"), Value::Float(2.5)]), "value: 2.5");
        assert_eq!(
            l(vec![s("float whole: {}"), Value::Float(4.0)]),
            "float whole: 4.0"
        );
        assert_eq!(l(vec![s("string arg: {}"), s("text")]), "string arg: text");
        assert_eq!(
            l(vec![
                s("array: {}"),
                arr(vec![Value::Int(1), Value::Int(2), Value::Int(3)])
            ]),
            "array: [1, 2, 3]"
        );
        assert_eq!(
            l(vec![
                s("multiple"),
                s("args"),
                Value::Int(1),
                Value::Float(2.0),
                Value::Bool(true)
            ]),
            "multiple args 1 2.0 true"
        );
        assert_eq!(
            l(vec![s("no placeholder"), Value::Int(42)]),
            "no placeholder 42"
        );
        assert_eq!(l(vec![]), "");
        assert_eq!(l(vec![Value::Int(3)]), "3");
        assert_eq!(
            l(vec![Value::Float(3.0), Value::Int(3), Value::Int(-3)]),
            "3.0 3 -3"
        );
        // Extra arguments are appended; missing ones leave the placeholder.
        assert_eq!(
            l(vec![s("a {} b"), Value::Int(1), Value::Int(2), s("x")]),
            "a 1 b 2 x"
        );
        assert_eq!(l(vec![s("{} and {}"), Value::Int(1)]), "1 and {}");
        assert_eq!(l(vec![s("{}")]), "{}");
        assert_eq!(l(vec![s("{}{}"), s("a"), s("b")]), "ab");
        // A placeholder in a later argument is not a format.
        assert_eq!(l(vec![Value::Int(1), s("{}"), Value::Int(2)]), "1 {} 2");
        // `{name}` is not a placeholder.
        assert_eq!(l(vec![s("{x}"), Value::Int(2)]), "{x} 2");
    }
}

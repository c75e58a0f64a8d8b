//! Malformed text: every case gives an error at the right `line:col`, and no input panics.

use proptest::prelude::*;
use ruchy_ir::parse_module;

const HEADER: &str = "func @f(any) -> any level(dyn) {\n^bb0(%v0: any):\n";

/// Parses `text`, expecting an error at `line:col` whose message contains `needle`.
#[track_caller]
fn fails(text: &str, line: u32, col: u32, needle: &str) {
    match parse_module(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => {
            assert_eq!(
                (e.line, e.col),
                (line, col),
                "wrong position for `{e}` in:\n{text}"
            );
            assert!(
                e.message.contains(needle),
                "`{e}` does not mention `{needle}`"
            );
            assert!(e.to_string().starts_with(&format!("{line}:{col}: ")));
        }
    }
}

/// An instruction on line 3 of a one-block function.
#[track_caller]
fn inst_fails(inst: &str, col: u32, needle: &str) {
    fails(
        &format!("{HEADER}  {inst}\n  cf.return %v0\n}}\n"),
        3,
        col,
        needle,
    );
}

#[test]
fn unknown_op_with_suggestion() {
    inst_fails("%v1 = arith.bogus %v0 : i64", 9, "unknown op `arith.bogus`");
    inst_fails("%v1 = dyn.ad %v0, %v0 : any", 9, "did you mean `dyn.add`");
    inst_fails("%v1 = const 1 : i64", 9, "did you mean `arith.const`");
}

#[test]
fn truncated_files() {
    fails(
        "func @f(any) -> any level(dyn) {\n^bb0(%v0: any):\n  cf.return %v0\n",
        4,
        1,
        "missing `}`",
    );
    fails(
        "func @f(any) -> any level(dyn) {\n^bb0(%v0: any):\n  cf.return",
        3,
        12,
        "missing `}`",
    );
    fails(
        "func @f(any) -> any level(dyn) {\n^bb0(%v0: any):\n  %v1 = arith.const 1 :",
        3,
        24,
        "expected a type",
    );
    fails("func @f(any) -> any lev", 1, 21, "expected `level`");
    fails("func @f(", 1, 9, "expected a type");
    fails("func", 1, 5, "expected a name");
    fails("module", 1, 7, "expected a string");
    fails(
        "func @f(any) -> any level(dyn) {\n^bb0(%v0: any):\n  cf.return %v0\nfunc @g() -> any level(dyn) {\n}\n",
        4,
        1,
        "missing `}` at the end of @f",
    );
}

#[test]
fn garbage_bytes() {
    fails("\u{0}\u{1}\u{7f}", 1, 1, "unexpected character");
    fails(
        "func @f() -> any level(dyn) {\n^bb0:\n  \u{fffd}\u{200b}",
        3,
        3,
        "unexpected character",
    );
    fails("module \"x\"\n#!", 2, 1, "unexpected character `#`");
    fails(
        "func @f() -> any level(dyn) {\n^bb0:\n  %q",
        3,
        3,
        "expected a value like `%v0`",
    );
    fails(
        "func @f() -> any level(dyn) {\n^x",
        2,
        1,
        "expected a block like `^bb0`",
    );
    fails("func @1", 1, 6, "expected a name after `@`");
    fails("}}}", 1, 1, "expected `func`, `global` or `entry`");
}

#[test]
fn bad_types() {
    fails(
        "func @f(i65) -> any level(dyn) {\n}",
        1,
        9,
        "unknown type `i65`",
    );
    fails(
        "func @f(array<i8>) -> any level(dyn) {\n}",
        1,
        15,
        "unknown array element type `i8`",
    );
    fails("func @f() -> array level(dyn) {\n}", 1, 20, "expected `<`");
    inst_fails(
        "%v1 = dyn.add %v0, %v0 : integer",
        28,
        "unknown type `integer`",
    );
    fails(
        "func @f() -> any level(fast) {\n}",
        1,
        24,
        "unknown level `fast`",
    );
}

#[test]
fn bad_immediates() {
    inst_fails(
        "%v1 = dyn.cmp less %v0, %v0 : bool",
        17,
        "unknown predicate `less`",
    );
    inst_fails(
        "%v1 = dyn.builtin nope(%v0) : any",
        21,
        "unknown builtin `nope`",
    );
    inst_fails("%v1 = arith.const @f : i64", 21, "expected a literal");
    inst_fails(
        "%v1 = arith.const 9223372036854775808 : i64",
        21,
        "integer `9223372036854775808` out of range",
    );
    inst_fails(
        "%v1 = arith.const -9223372036854775809 : i64",
        21,
        "out of range",
    );
    inst_fails(
        "%v1 = arith.const 1.2.3 : f64",
        21,
        "invalid number `1.2.3`",
    );
    inst_fails("%v1 = arith.const NaN(0x10) : f64", 25, "bits of a NaN");
    inst_fails("cf.trap %v0", 11, "expected a string");
    inst_fails("%v1 = func.call %v0 : any", 19, "expected a name");
    inst_fails("cf.switch %v0 [x: ^bb0], ^bb0", 18, "expected an integer");
    inst_fails(
        "cf.switch %v0 [99999999999999999999: ^bb0], ^bb0",
        18,
        "out of range",
    );
    inst_fails("%v1 = dyn.method (%v0) : any", 20, "expected a method name");
}

#[test]
fn strings() {
    inst_fails("%v1 = str.const \"abc : str", 19, "unterminated string");
    inst_fails(
        "%v1 = str.const \"a\\qb\" : str",
        21,
        "invalid escape `\\q`",
    );
    inst_fails(
        "%v1 = str.const \"\\u{110000}\" : str",
        20,
        "invalid unicode escape",
    );
    inst_fails(
        "%v1 = str.const \"\\u{zz}\" : str",
        20,
        "invalid `\\u{...}` escape",
    );
    fails("module \"abc", 1, 8, "unterminated string");
    fails("module \"abc\\", 1, 8, "unterminated string");
}

#[test]
fn names_and_numbers() {
    inst_fails("%v1 = dyn.add %v0, %v9 : any", 22, "undefined value %v9");
    inst_fails(
        "%v0 = dyn.add %v0, %v0 : any",
        3,
        "value %v0 is defined twice",
    );
    inst_fails("cf.br ^bb7", 9, "undefined block ^bb7");
    inst_fails(
        "%v1 = func.call @nope(%v0) : any",
        19,
        "undefined function @nope",
    );
    inst_fails("%v1 = mem.global_load @g : any", 25, "undefined global @g");
    inst_fails("%v99999999999 = dyn.neg %v0 : any", 3, "out of range");
    inst_fails("%v4000000000 = dyn.neg %v0 : any", 3, "too large");
    fails(
        "func @f() -> any level(dyn) {\n^bb0:\n^bb0:\n}",
        3,
        1,
        "block ^bb0 is defined twice",
    );
    fails(
        "func @f() -> any level(dyn) {\n}\nfunc @f() -> any level(dyn) {\n}",
        3,
        6,
        "function @f is defined twice",
    );
    fails(
        "global @g \"g\"\nglobal @g \"g\"\n",
        2,
        8,
        "global @g is defined twice",
    );
    fails("entry @main\n", 1, 7, "undefined function @main");
    fails(
        "func @f() -> any level(dyn) defaults(@g) {\n}",
        1,
        38,
        "undefined function @g",
    );
}

#[test]
fn structure() {
    fails(
        "func @f() -> any level(dyn) {\n  cf.trap \"x\"\n}",
        2,
        3,
        "expected a block label",
    );
    inst_fails("cf.br ^bb0 : unit", 14, "without a result has no type");
    // A missing type is reported at the token that stands where it should be.
    fails(
        &format!("{HEADER}  %v1 = dyn.neg %v0\n  cf.return %v0\n}}"),
        4,
        3,
        "expected `:`, found `cf.return`",
    );
    inst_fails(
        "%v1 = dyn.neg %v0 : any loc(0:4)",
        31,
        "line numbers start at 1",
    );
    inst_fails("%v1 = dyn.neg %v0 : any loc(1 2)", 33, "expected `:`");
    inst_fails(
        "cf.br ^bb0, %v0",
        15,
        "operands must come before branch destinations",
    );
    inst_fails("%v1 = dyn.add %v0, : any", 22, "expected an operand");
    fails(
        "func @f() -> any level(dyn) hidden hidden {\n}",
        1,
        36,
        "duplicate attribute `hidden`",
    );
    fails(
        "func @f() -> any level(dyn) fast {\n}",
        1,
        29,
        "unknown function attribute `fast`",
    );
    fails("module \"a\"\nmodule \"b\"\n", 2, 1, "must come first");
    fails(
        "entry @f\nentry @f\nfunc @f() -> any level(dyn) {\n}",
        2,
        1,
        "duplicate `entry`",
    );
}

/// A valid module used as the seed of the no-panic checks.
const VALID: &str = r#"module "m.ruchy"
entry @main
global @g "g"

func @main() -> any level(dyn) hints(_) captures(0) loc(1:1) {
^bb0:
  %v0 = arith.const -1.5e-7 : f64 loc(2:3)
  %v1 = str.const "a\"\u{1b}\n" : str
  %v2 = func.call @h(%v0) : any
  %v3 = dyn.builtin pow(%v2, %v2) : any
  %v4 = dyn.method "m m"(%v3) : any
  mem.global_store @g, %v4
  %v5 = arith.const 3 : i64
  cf.switch %v5 [1: ^bb1, 2: ^bb2(%v5)], ^bb1
^bb1:
  cf.return %v4
^bb2(%v6: i64):
  cf.trap "boom" loc(9:9)
}

func @h(f64) -> any level(typed) {
^bb0(%v0: f64):
  %v1 = func.ref @main : func
  %v2 = func.call_indirect %v1() : any
  %v3 = arith.const NaN(0x7ff0000000000001) : f64
  cf.return %v2
}
"#;

#[test]
fn every_prefix_parses_or_errors() {
    assert!(parse_module(VALID).is_ok());
    let chars: Vec<char> = VALID.chars().collect();
    for n in 0..chars.len() {
        let prefix: String = chars[..n].iter().collect();
        if let Err(e) = parse_module(&prefix) {
            assert!(e.line >= 1 && e.col >= 1, "{e}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Random edits of a valid text never panic, and errors have positions inside the text.
    #[test]
    fn mutations_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<char>()), 1..4)) {
        let mut chars: Vec<char> = VALID.chars().collect();
        for (at, kind, c) in edits {
            let i = at.index(chars.len() + 1);
            match kind {
                0 => chars.insert(i, c),
                1 if i < chars.len() => { chars.remove(i); }
                _ if i < chars.len() => chars[i] = c,
                _ => {}
            }
        }
        let text: String = chars.iter().collect();
        if let Err(e) = parse_module(&text) {
            let lines = text.split('\n').count() as u32;
            prop_assert!(e.line >= 1 && e.line <= lines, "{} for {:?}", e, text);
            prop_assert!(e.col >= 1);
        }
    }

    /// Arbitrary strings never panic.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,80}|[%^@\"(){}\\[\\],:=<>a-z0-9 .\\n-]{0,80}") {
        let _ = parse_module(&text);
    }
}

//! Language semantics beyond the shared conformance corpus: each case is a small program and the
//! exact output (or error) a user expects from it.

use ruchy_tests::run_source;

/// Runs `src` and checks stdout and exit code 0.
fn ok(src: &str, expected: &str) {
    let got = run_source("case.ruchy", src);
    assert_eq!(
        got.exit_code, 0,
        "program failed:\n{src}\nstderr:\n{}",
        got.stderr
    );
    assert_eq!(got.stdout, expected, "program:\n{src}");
}

/// Runs `src` and checks it fails with `code` and a message containing `phrase`.
fn fails(src: &str, code: i32, phrase: &str) -> String {
    let got = run_source("case.ruchy", src);
    assert_eq!(
        got.exit_code, code,
        "program:\n{src}\nstdout:\n{}\nstderr:\n{}",
        got.stdout, got.stderr
    );
    assert!(
        got.stderr.contains(phrase),
        "stderr lacks {phrase:?}:\n{}",
        got.stderr
    );
    got.stderr
}

#[test]
fn closures_capture_by_reference() {
    ok(
        "fun make() {\n let mut n = 0\n let inc = || { n += 1\n n }\n inc\n}\nlet c = make()\nc()\nc()\nprintln(c())\n",
        "3\n",
    );
    // The owner sees the closure's writes and the closure sees the owner's.
    ok(
        "fun f() {\n let mut x = 1\n let get = || x\n let set = |v| { x = v }\n set(5)\n println(x, get())\n x = 7\n println(get())\n}\nf()\n",
        "5 5\n7\n",
    );
    // Each call of the maker gets its own variable.
    ok(
        "fun mk(s) { let mut t = s;\n || { t = t * 2\n t } }\nlet a = mk(1)\nlet b = mk(10)\na()\nprintln(a(), b())\n",
        "4 20\n",
    );
}

#[test]
fn nested_closures_capture_through_levels() {
    ok(
        "fun outer(a) {\n let f = |b| { let g = |c| a + b + c\n g(100) }\n f(10)\n}\nprintln(outer(1))\n",
        "111\n",
    );
}

#[test]
fn nested_functions_recursion_and_captures() {
    ok(
        "fun main() {\n fun fact(n) { if n <= 1 { 1 } else { n * fact(n - 1) } }\n println(fact(10))\n}\n",
        "3628800\n",
    );
    ok(
        "fun scale(k) {\n fun times(x) { x * k }\n fun twice(x) { times(times(x)) }\n twice(3)\n}\nprintln(scale(2))\n",
        "12\n",
    );
    ok(
        "fun count(limit) {\n fun go(i) { if i >= limit { i } else { go(i + 1) } }\n go(0)\n}\nprintln(count(5))\n",
        "5\n",
    );
}

#[test]
fn default_parameters_direct_and_dynamic() {
    ok(
        "fun g(a, b = 10, c = a + b) { [a, b, c] }\nprintln(g(1))\nprintln(g(1, 2))\nprintln(g(1, 2, 3))\nlet h = g\nprintln(h(5))\n",
        "[1, 10, 11]\n[1, 2, 3]\n[1, 2, 3]\n[5, 10, 15]\n",
    );
    fails(
        "fun g(a, b = 1) { a }\ng()\n",
        1,
        "takes 2 arguments but 0 were given",
    );
    fails(
        "let f = |x| x\nf(1, 2)\n",
        1,
        "takes 1 argument but 2 were given",
    );
}

#[test]
fn match_patterns() {
    ok(
        "fun d(n) {\n match n {\n 0 => \"zero\",\n 1 | 2 => \"small\",\n 3..=9 => \"digit\",\n x if x < 0 => \"negative\",\n _ => \"big\"\n }\n}\nprintln(d(0), d(2), d(7), d(-4), d(99))\n",
        "zero small digit negative big\n",
    );
    ok(
        "let s = \"b\"\nprintln(match s { \"a\" => 1, \"b\" => 2, _ => 3 })\n",
        "2\n",
    );
    ok("let v = match 5 { 1 => \"one\" }\nprintln(v)\n", "nil\n");
    ok("let r = match 4 { n => n * n }\nprintln(r)\n", "16\n");
}

#[test]
fn loops_break_values_and_iteration() {
    ok(
        "let mut i = 0\nlet v = loop { i += 1\n if i == 4 { break i * 10 } }\nprintln(v)\n",
        "40\n",
    );
    ok(
        "let mut s = 0\nfor x in [1, 2, 3] { s += x }\nprintln(s)\n",
        "6\n",
    );
    ok(
        "let mut out = \"\"\nfor c in \"abc\" { out = c + out }\nprintln(out)\n",
        "cba\n",
    );
    ok(
        "let mut n = 0\nfor i in 0..10 { if i % 3 == 0 { continue }\n n += i }\nprintln(n)\n",
        "27\n",
    );
    // Pushing inside a for-in loop extends the iteration, like Python lists.
    ok(
        "let xs = [1]\nfor x in xs { if x < 4 { xs.push(x + 1) } }\nprintln(xs)\n",
        "[1, 2, 3, 4]\n",
    );
    ok(
        "for i in 3..=1 { println(i) }\nprintln(\"done\")\n",
        "done\n",
    );
}

#[test]
fn strings_and_fstrings() {
    ok(
        "let x = 3\nprintln(f\"x={x} sq={x * x} {{literal}}\")\n",
        "x=3 sq=9 {literal}\n",
    );
    ok("println(\"ab\" * 3, \"x\".to_uppercase(), \"  t \".trim(), \"hello\".replace(\"l\", \"L\"))\n", "ababab X t heLLo\n");
    ok(
        "println(\"hello\".contains(\"ell\"), \"hello\".substring(1, 3), len(\"héllo\"))\n",
        "true el 6\n",
    );
    ok(
        "let s = \"n=\" + 1.5 + \" \" + [1, 2.0] + \" \" + nil\nprintln(s)\n",
        "n=1.5 [1, 2.0] nil\n",
    );
}

#[test]
fn arithmetic_edges() {
    ok(
        "println(-7 / 2, -7 % 2, 7 / -2, 2 ** -1, 2 ** 62, 2 ** 64)\n",
        "-3 -1 -3 0.5 4611686018427387904 18446744073709551616.0\n",
    );
    ok(
        "println(1.0 / 0.0, -1.0 / 0.0, 0.1 * 3, 1e21)\n",
        "inf -inf 0.30000000000000004 1000000000000000000000.0\n",
    );
    ok(
        "println(5 == 5.0, 1 < 1.5, \"a\" < \"b\", [1, 2] == [1, 2])\n",
        "true true true true\n",
    );
    fails(
        "println(-9223372036854775807 - 2)\n",
        1,
        "Integer overflow in subtraction",
    );
    fails(
        "let x = 9223372036854775807\nprintln(x * 2)\n",
        1,
        "Integer overflow in multiplication",
    );
    fails("println(5 % 0)\n", 1, "Division by zero");
    fails("println(1 << 64)\n", 1, "Shift amount 64 out of range");
}

#[test]
fn tuples_and_arrays() {
    ok("let t = (1, \"a\")\nprintln(t.0, t.1, len(t))\n", "1 a 2\n");
    ok(
        "let a = [1, 2]\nlet b = a\nb.push(3)\nprintln(a, a[-1])\n",
        "[1, 2, 3] 3\n",
    );
    ok(
        "let g = [[0, 0], [0, 0]]\ng[1][0] = 5\ng[0][1] += 2\nprintln(g)\n",
        "[[0, 2], [5, 0]]\n",
    );
    ok(
        "println([3, 1, 2].sum(), [1.5, 1].sum(), [].sum())\n",
        "6 2.5 0\n",
    );
    fails(
        "let xs = [1]\nprintln(xs[5])\n",
        1,
        "Index 5 out of bounds for array of length 1",
    );
}

#[test]
fn runtime_type_errors_have_positions() {
    let err = fails(
        "fun f(x) {\n  if x { 1 } else { 2 }\n}\nf(3)\n",
        1,
        "Expected a boolean condition, found integer",
    );
    assert!(err.contains("case.ruchy:2:"), "{err}");
    fails(
        "let f = 5\nf(1)\n",
        1,
        "Cannot call a value of type integer",
    );
    fails("println(-\"s\")\n", 1, "Cannot negate string");
    fails("println([1].nope())\n", 1, "no method `nope` on array");
}

#[test]
fn globals_and_undefined_names() {
    ok(
        "let mut total = 0\nfun add(n) { total += n }\nadd(2)\nadd(3)\nprintln(total)\n",
        "5\n",
    );
    // A function may use a top-level variable declared after it, once that has run.
    ok(
        "fun show() { println(later) }\nlet later = 42\nshow()\n",
        "42\n",
    );
    fails(
        "fun show() { println(later) }\nshow()\nlet later = 1\n",
        1,
        "undefined variable later",
    );
    // A function sees the top-level variables declared before it, not a later shadowing one.
    ok(
        "let x = 1\nfun f() { x }\nlet x = 2\nfun g() { x }\nprintln(f(), g(), x)\n",
        "1 2 2\n",
    );
    fails("println(nosuch)\n", 1, "undefined variable nosuch");
    fails("undefined_fn(1)\n", 1, "undefined function undefined_fn");
}

#[test]
fn compile_errors_exit_2() {
    fails(
        "let x = 1\nx = 2\n",
        2,
        "cannot assign twice to immutable variable `x`",
    );
    fails("fun f() {}\nfun f() {}\n", 2, "defined more than once");
    fails("break\n", 2, "`break` outside of a loop");
    fails("while true { break 5 }\n", 2, "only allowed in `loop`");
    fails("let r = 0..5\n", 2, "only be used in a `for` loop");
}

#[test]
fn main_is_called_only_for_definition_only_files() {
    ok(
        "fun helper() { 1 }\nfun main() { println(\"main\", helper()) }\n",
        "main 1\n",
    );
    ok(
        "fun main() { println(\"main\") }\nprintln(\"top\")\n",
        "top\n",
    );
}

#[test]
fn printing_rules() {
    ok("print(\"a\", 1)\nprint(\"b\")\nprintln()\n", "a 1b\n");
    ok(
        "println(\"{} and {}\", [\"x\"], 2.0, \"extra\")\n",
        "[\"x\"] and 2.0 extra\n",
    );
    ok(
        "println(type_of(|x| x), type_of((1, 2)), type_of(nil))\n",
        "function tuple nil\n",
    );
}

#[test]
fn for_in_iterates_strings_by_character() {
    ok(
        "let mut out = []\nfor c in \"héllo\" { out.push(c) }\nprintln(out, len(\"héllo\"))\n",
        "[\"h\", \"é\", \"l\", \"l\", \"o\"] 6\n",
    );
    ok("fun each(s) { let mut n = 0\n for c in s { n += 1 }\n n }\nprintln(each(\"añb\"), each([1, 2]), each((1, 2, 3)))\n", "3 2 3\n");
    fails(
        "for x in 5 { println(x) }\n",
        1,
        "Cannot take the length of integer",
    );
}

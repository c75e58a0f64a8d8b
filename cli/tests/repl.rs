//! End-to-end tests of the REPL: the real `ruchy` binary with inputs piped to its standard input.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn ruchy(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ruchy"))
        .args(args)
        .env_remove("RUCHY_JIT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin.as_bytes())
            .expect("stdin takes the input");
    }
    child.wait_with_output().expect("binary finishes")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a session; returns (stdout, stderr) after checking that it exited with code 0.
fn session(args: &[&str], input: &str) -> (String, String) {
    let out = ruchy(args, input);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

#[test]
fn definitions_and_variables_persist_between_inputs() {
    let input = "\
let x = 40
fun add(a, b) { a + b }
add(x, 2)
x = x + 1
x
";
    for args in [&[][..], &["repl"][..]] {
        let (out, err) = session(args, input);
        assert_eq!(out, "42\n41\n", "args {args:?}; stderr:\n{err}");
        assert_eq!(err, "");
    }
}

#[test]
fn piped_input_prints_no_prompts_or_banner() {
    let (out, _) = session(&[], "1 + 2\n");
    assert_eq!(out, "3\n");
    assert!(!out.contains("ruchy>"));
}

#[test]
fn multi_line_inputs_continue_while_brackets_are_open() {
    let input = "\
fun fib(n) {
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}
fib(20)
let total = 1 +
    2 +
    3
total
let s = \"a { ( [\"
s
let xs = [
  1,
  2,
]
xs
";
    let (out, err) = session(&[], input);
    assert_eq!(out, "6765\n6\na { ( [\n[1, 2]\n", "stderr:\n{err}");
}

#[test]
fn a_runtime_error_is_reported_and_the_session_goes_on() {
    let input = "\
let x = 5
fun f(n) { 10 / n }
1 / 0
x
let y = 7
y = y + f(0)
y
println(\"still here\")
";
    let (out, err) = session(&[], input);
    assert!(err.contains("Division by zero"), "{err}");
    assert!(err.contains("<repl>:1:1: error: Division by zero"), "{err}");
    // The call stack names the function.
    assert!(err.contains("at f (<repl>"), "{err}");
    assert_eq!(out, "5\n7\nstill here\n");
}

#[test]
fn a_runtime_error_keeps_the_inputs_definitions_and_variables_so_far() {
    let input = "\
fun g() { 3 }
let a = 1
let b = 2 / 0
a
g()
b
";
    let (out, err) = session(&[], input);
    assert_eq!(out, "1\n3\n", "stderr:\n{err}");
    // `b` was never assigned: it is not a variable of the session.
    assert!(err.contains("undefined variable b"), "{err}");
}

#[test]
fn a_syntax_error_is_reported_and_the_session_goes_on() {
    let input = "\
let x = 1
let = 5
x + )
fun broken() { let }
x
";
    let (out, err) = session(&[], input);
    assert_eq!(out, "1\n", "stderr:\n{err}");
    assert!(err.contains("<repl>:1:5: error:"), "{err}");
    assert!(err.contains('^'), "{err}");
}

#[test]
fn a_failed_input_does_not_change_the_session() {
    let input = "\
fun f() { 1 }
let v = 10
fun f() { 2 }; let v = )
f()
v
x = 1
fun h() { undefined_thing = 3 }
h
";
    let (out, err) = session(&[], input);
    // The input with a syntax error defined nothing; the two that fail to compile neither.
    assert_eq!(out, "1\n10\n", "stderr:\n{err}");
    assert!(err.contains("undeclared variable `x`"), "{err}");
    assert!(err.contains("undefined variable h"), "{err}");
}

#[test]
fn functions_can_be_redefined() {
    let input = "\
fun add(a, b) { a + b }
fun twice(a) { add(a, a) }
twice(5)
fun add(a, b) { a * b }
twice(5)
add(3, 4)
";
    let (out, err) = session(&[], input);
    assert_eq!(out, "10\n25\n12\n", "stderr:\n{err}");
}

#[test]
fn hot_functions_tier_up_and_compute_the_right_result() {
    let input = "\
fun step(acc, i) { acc + i * 2 }
let mut total = 0
for i in 0..200000 { total = step(total, i) }
:stats
total
";
    let (out, err) = session(&[], input);
    assert!(out.ends_with("\n39999800000\n"), "{out}\nstderr:\n{err}");
    // The stats table of the loop's input: `step` ran in tier 1.
    let step = out
        .lines()
        .find(|l| l.starts_with("step "))
        .unwrap_or_else(|| panic!("no stats line for step:\n{out}"));
    let cols: Vec<&str> = step.split_whitespace().collect();
    assert_eq!(cols.get(2), Some(&"1"), "{out}");
    // And the same in a later input, after the interpreter is rebuilt.
    let (out, _) = session(
        &[],
        &format!("{input}let mut t2 = 0\nfor i in 0..100000 {{ t2 = step(t2, 1) }}\nt2\n"),
    );
    assert!(out.ends_with("\n200000\n"), "{out}");
}

#[test]
fn values_print_like_println_and_nil_is_not_printed() {
    let input = "\
\"text\"
2.0
[1, \"a\", nil]
nil
println(\"x\")
let z = 3;
z;
(1, 2)
";
    let (out, err) = session(&[], input);
    assert_eq!(
        out, "text\n2.0\n[1, \"a\", nil]\nx\n(1, 2)\n",
        "stderr:\n{err}"
    );
}

#[test]
fn closures_and_function_values_survive_between_inputs() {
    let input = "\
let k = 10
let add_k = |x| x + k
add_k(1)
k = 20
add_k(1)
let fs = []
for i in 0..3 { fs.push(|x| x * i) }
fs[2](5)
fun make_counter() { let mut n = 0; || { n += 1; n } }
let c = make_counter()
c()
c()
c()
let f = make_counter
f()()
fun make_counter() { || 99 }
c()
make_counter()()
";
    let (out, err) = session(&[], input);
    assert_eq!(out, "11\n21\n10\n1\n2\n3\n1\n4\n99\n", "stderr:\n{err}");
}

#[test]
fn names_are_functions_or_variables_not_both() {
    let input = "\
let v = 1
fun v() { 2 }
fun w() { 3 }
let w = 4
v
w()
";
    let (out, err) = session(&[], input);
    assert_eq!(out, "1\n3\n", "stderr:\n{err}");
    assert!(err.contains("`v` is a variable of this session"), "{err}");
    assert!(err.contains("`w` is a function of this session"), "{err}");
}

#[test]
fn main_is_not_called_automatically() {
    let (out, err) = session(&[], "fun main() { println(\"main ran\") }\nmain()\n");
    assert_eq!(out, "main ran\n", "stderr:\n{err}");
}

#[test]
fn quit_commands_and_help() {
    let (out, _) = session(&[], ":help\n1\n:quit\n2\n");
    assert!(out.contains(":quit"), "{out}");
    assert!(out.ends_with("1\n"), "{out}");
    let (out, _) = session(&["repl"], "3\n:q\n4\n");
    assert_eq!(out, "3\n");
    let (out, err) = session(&[], ":nonsense\n5\n");
    assert_eq!(out, "5\n");
    assert!(err.contains("unknown command"), "{err}");
}

#[test]
fn unfinished_input_at_end_of_file_is_an_error_not_a_hang() {
    let (out, err) = session(&[], "1\nfun f() {\n");
    assert_eq!(out, "1\n");
    assert!(err.contains("error:"), "{err}");
}

#[test]
fn run_still_works_and_usage_errors_exit_2() {
    let out = ruchy(&["run", "-"], "println(1 + 2)\n");
    assert_eq!(text(&out.stdout), "3\n");
    assert_eq!(out.status.code(), Some(0));
    let out = ruchy(&["bogus"], "");
    assert_eq!(out.status.code(), Some(2));
    let out = ruchy(&["run"], "");
    assert_eq!(out.status.code(), Some(2));
    let out = ruchy(&["run", "/nonexistent/file.ruchy"], "");
    assert_eq!(out.status.code(), Some(2));
}

//! End-to-end tests of the binaries: exit codes, error rendering, deep recursion, `--emit=ir`,
//! `ruchy-opt` round trips.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn ruchy(args: &[&str], stdin: Option<&str>) -> Output {
    run(env!("CARGO_BIN_EXE_ruchy"), args, stdin)
}

fn ruchy_opt(args: &[&str], stdin: Option<&str>) -> Output {
    run(env!("CARGO_BIN_EXE_ruchy-opt"), args, stdin)
}

fn run(bin: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    if let Some(s) = stdin {
        // A tool that rejects its arguments exits without reading its input: the pipe may be
        // closed already, which is not the test's concern.
        let _ = child.stdin.take().unwrap().write_all(s.as_bytes());
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("binary finishes")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write_temp(name: &str, contents: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ruchy-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p
}

#[test]
fn runs_a_program_from_stdin() {
    let out = ruchy(&["run", "-"], Some("println(1 + 2)\n"));
    assert_eq!(text(&out.stdout), "3\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn syntax_errors_exit_2_with_position_caret_and_several_errors() {
    let p = write_temp(
        "syntax.ruchy",
        "let = 5\nprintln(1)\nlet y = 3 3\nlet z = )\n",
    );
    let out = ruchy(&["run", p.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("syntax.ruchy:"), "{err}");
    assert!(err.contains(": error: "), "{err}");
    assert!(err.contains('^'), "caret line missing: {err}");
    assert!(
        err.matches(": error: ").count() >= 2,
        "expected several errors: {err}"
    );
}

#[test]
fn runtime_error_exit_1_with_position_and_call_stack() {
    let p = write_temp(
        "rt.ruchy",
        "fun inner(x) {\n    x / 0\n}\nfun outer(y) { inner(y) }\nprintln(\"before\")\nouter(5)\n",
    );
    let out = ruchy(&["run", p.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "before\n");
    let err = text(&out.stderr);
    assert!(
        err.contains("rt.ruchy:2:5: error: Division by zero"),
        "{err}"
    );
    assert!(
        err.contains("at inner (") && err.contains("at outer (") && err.contains("at <toplevel> ("),
        "{err}"
    );
}

#[test]
fn deep_recursion_of_100000_frames_works() {
    let src =
        "fun depth(n) { if n == 0 { 0 } else { 1 + depth(n - 1) } }\nprintln(depth(100000))\n";
    let out = ruchy(&["run", "-"], Some(src));
    assert_eq!(text(&out.stdout), "100000\n", "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn runaway_recursion_is_a_clean_stack_overflow() {
    let src = "fun forever(n) { forever(n + 1) + 1 }\nforever(0)\n";
    let out = ruchy(&["run", "--max-depth=5000", "-"], Some(src));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("stack overflow"), "{err}");
    assert!(err.contains("at forever ("), "{err}");
    assert!(
        err.contains("more frames"),
        "a deep stack is abbreviated: {err}"
    );
}

#[test]
fn undefined_function_is_a_runtime_error() {
    let out = ruchy(&["run", "-"], Some("println(1)\nnope(2)\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("undefined function nope"));
    assert_eq!(text(&out.stdout), "1\n");
}

#[test]
fn emit_ir_prints_the_module() {
    let out = ruchy(
        &["run", "--emit=ir", "-"],
        Some("fun sq(x) { x * x }\nprintln(sq(3))\n"),
    );
    assert_eq!(out.status.code(), Some(0));
    let ir = text(&out.stdout);
    assert!(ir.contains("func @sq(any) -> any level(dyn)"), "{ir}");
    assert!(ir.contains("dyn.mul"), "{ir}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(ruchy(&["run"], None).status.code(), Some(2));
    assert_eq!(
        ruchy(&["run", "--tier=9", "x.ruchy"], None).status.code(),
        Some(2)
    );
    assert_eq!(
        ruchy(&["run", "/nonexistent/file.ruchy"], None)
            .status
            .code(),
        Some(2)
    );
    let v = ruchy(&["--version"], None);
    assert_eq!(v.status.code(), Some(0));
    assert!(text(&v.stdout).starts_with("ruchy "));
}

#[test]
fn ruchy_opt_round_trips_ir_text() {
    let ir = ruchy(
        &["run", "--emit=ir", "-"],
        Some("fun f(a, b) { if a < b { a } else { b } }\nprintln(f(1, 2))\n"),
    );
    let ir = text(&ir.stdout);
    let out = ruchy_opt(&["-"], Some(&ir));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), ir);
}

#[test]
fn ruchy_opt_reports_malformed_ir_with_position() {
    let out = ruchy_opt(
        &["-"],
        Some("func @f() -> any level(dyn) {\n^bb0:\n  %v0 = arith.bogus 1 : i64\n}\n"),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("<stdin>:3:"), "{err}");
}

#[test]
fn ruchy_opt_reports_verifier_errors_with_position() {
    let src = "func @f() -> any level(dyn) {\n^bb0:\n  %v0 = arith.const 1 : i64\n}\n";
    let out = ruchy_opt(&["-"], Some(src));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("<stdin>:"), "{err}");
}

const SMALL_IR: &str = "func @f(i64) -> i64 level(typed) {\n^bb0(%v0: i64):\n  %v1 = arith.const 0 : i64\n  %v2 = arith.addi %v0, %v1 : i64\n  cf.return %v2\n}\n";

#[test]
fn ruchy_opt_runs_a_pipeline_and_reports_stats_and_timings() {
    let out = ruchy_opt(
        &["--passes=peephole,dce", "--stats", "--time-passes", "-"],
        Some(SMALL_IR),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ir = text(&out.stdout);
    assert!(!ir.contains("arith.addi"), "{ir}");
    assert!(ir.contains("cf.return %v0"), "{ir}");
    let err = text(&out.stderr);
    assert!(err.contains("peephole: 1 identities applied"), "{err}");
    assert!(err.contains("dce: "), "{err}");
    assert!(
        err.contains("Pass execution timing report") && err.contains("peephole"),
        "{err}"
    );
}

#[test]
fn ruchy_opt_pipeline_errors_point_at_the_column() {
    let out = ruchy_opt(&["--passes=dce,inlin", "-"], Some(SMALL_IR));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("unknown pass `inlin`, did you mean `inline`?"),
        "{err}"
    );
    assert!(err.contains("\n      ^"), "caret under column 5: {err}");
    let out = ruchy_opt(&["--passes=inline{threshold=x}", "-"], Some(SMALL_IR));
    assert_eq!(out.status.code(), Some(2));
    let out = ruchy_opt(&["--passes=dce{", "-"], Some(SMALL_IR));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("invalid pass pipeline"));
}

#[test]
fn ruchy_opt_prints_ir_after_change_only() {
    let out = ruchy_opt(
        &["--passes=dce,peephole,dce", "--print-ir-after-change", "-"],
        Some(SMALL_IR),
    );
    let err = text(&out.stderr);
    assert_eq!(err.matches("IR Dump After").count(), 2, "{err}");
    assert!(err.contains("IR Dump After peephole"), "{err}");
    let out = ruchy_opt(
        &["--passes=dce,peephole", "--print-ir-after=dce", "-"],
        Some(SMALL_IR),
    );
    assert_eq!(text(&out.stderr).matches("IR Dump After dce").count(), 1);
}

#[test]
fn ruchy_opt_dumps_each_pass_to_a_directory() {
    let dir = std::env::temp_dir().join(format!("ruchy-dumps-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = ruchy_opt(
        &[
            "--passes=peephole,dce",
            &format!("--ir-dump-dir={}", dir.display()),
            "-",
        ],
        Some(SMALL_IR),
    );
    assert_eq!(out.status.code(), Some(0));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["00-input.rir", "01-peephole.rir", "02-dce.rir"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ruchy_opt_bisect_skips_passes_after_the_limit() {
    let out = ruchy_opt(
        &["--passes=peephole,dce", "--opt-bisect-limit=1", "-"],
        Some(SMALL_IR),
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("BISECT: running pass (1) peephole on @f"),
        "{err}"
    );
    assert!(
        err.contains("BISECT: NOT running pass (2) dce on @f"),
        "{err}"
    );
    // dce did not run, so the dead constant is still there.
    assert!(text(&out.stdout).contains("arith.const 0"));
    assert!(!text(&out.stdout).contains("arith.addi"));
}

#[test]
fn ruchy_opt_lists_passes_and_reads_ruchy_source() {
    let out = ruchy_opt(&["--list-passes"], None);
    let list = text(&out.stdout);
    for name in [
        "specialize",
        "inline",
        "sccp",
        "dce",
        "simplify-cfg",
        "gvn",
        "licm",
        "strength-reduce",
        "escape-analysis",
    ] {
        assert!(list.contains(name), "{list}");
    }
    assert!(list.contains("threshold"), "options are listed: {list}");
    let p = write_temp("sq.ruchy", "fun sq(x) { x * x }\nprintln(sq(4))\n");
    let out = ruchy_opt(&["-O2", p.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("func @sq$i64(i64) -> i64 level(lowered)"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn ruchy_run_with_passes_gives_the_same_output() {
    let src = "fun f(n) { let mut s = 0\n for i in 0..n { s = s + i * 2 }\n s }\nprintln(f(10), f(2.5))\n";
    let plain = ruchy(&["run", "-"], Some(src));
    let o2 = ruchy(&["run", "-O2", "-"], Some(src));
    let passes = ruchy(&["run", "--passes=specialize,sccp,dce", "-"], Some(src));
    assert_eq!(text(&plain.stdout), "90 6\n");
    assert_eq!(text(&plain.stdout), text(&o2.stdout));
    assert_eq!(text(&plain.stdout), text(&passes.stdout));
}

#[test]
fn stats_show_tiers_compile_times_and_reasons() {
    let src = "fun sq(x) { x * x }\nfun p(x) { let mut y = 0\n if x > 100 { y = \"big\" }\n -y }\n\
               let mut s = 0\nfor i in 0..50 { s = s + sq(i) + len(str(p(2))) }\nprintln(s)\n";
    let out = ruchy(&["run", "--tier=1", "--stats", "-"], Some(src));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("method cache:"), "{err}");
    assert!(
        err.contains("time: ") && err.contains("tier 1 (compiled code)"),
        "{err}"
    );
    assert!(
        err.contains("not compiled:"),
        "p negates a value of unknown type (`y` may be an int or a string), so p stays dynamic: {err}"
    );
    let t0 = ruchy(&["run", "--tier=0", "--stats", "-"], Some(src));
    assert_eq!(text(&t0.stdout), text(&out.stdout));
    assert!(text(&t0.stderr).contains("compilation disabled"));
}

#[test]
fn hot_loop_enters_compiled_code_with_backedge_threshold() {
    let src =
        "let mut s = 0\nlet mut i = 0\nwhile i < 1000 { s = s + i\n i = i + 1 }\nprintln(s)\n";
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ruchy"));
    cmd.args(["run", "--backedge-threshold=50", "--stats", "-"])
        .env("RUCHY_JIT", "eager_loops=0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let _ = child.stdin.take().unwrap().write_all(src.as_bytes());
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout), "499500\n");
    let err = text(&out.stderr);
    assert!(
        err.contains("; 1 loops entered by on-stack replacement"),
        "{err}"
    );
}

#[test]
fn emit_clif_and_perf_map() {
    let src = "fun sq(x) { x * x }\nprintln(sq(7))\n";
    let out = ruchy(
        &["run", "--tier=1", "--emit=clif", "--perf-map", "-"],
        Some(src),
    );
    assert_eq!(text(&out.stdout), "49\n");
    let err = text(&out.stderr);
    assert!(
        err.contains("; @sq$i64") && err.contains("function u0:0"),
        "{err}"
    );
    let map = std::fs::read_dir("/tmp")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("perf-"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .any(|t| t.contains("ruchy:sq$i64"));
    assert!(map, "a /tmp/perf-PID.map names the compiled function");
    // The machine code: the square is an `imul` (checked: followed by an overflow test).
    let asm = ruchy(&["run", "--tier=1", "--emit=asm", "-"], Some(src));
    assert_eq!(text(&asm.stdout), "49\n");
    let err = text(&asm.stderr);
    assert!(err.contains("; @sq$i64") && err.contains("imul"), "{err}");
    let opt = run(
        env!("CARGO_BIN_EXE_ruchy-opt"),
        &["-O2", "--emit=asm", "-"],
        Some("func @f(i64) -> i64 level(typed) {\n^bb0(%v0: i64):\n  %v1 = arith.addi_wrap %v0, %v0 : i64\n  cf.return %v1\n}\n"),
    );
    let listing = text(&opt.stdout);
    assert!(
        listing.contains("; @f") && listing.contains("ret"),
        "{listing}{}",
        text(&opt.stderr)
    );
}

#[test]
fn divisibility_test_branches_on_the_float_quotient() {
    // `n % d == 0` deciding a branch: each way of dividing (single and double precision for
    // small operands, integer division otherwise) branches on its own test, and the small
    // ones test whether the rounded quotient is an integer instead of computing the remainder.
    let src = "fun f(n, d) { if n % d == 0 { return 1 }\n 2 }\nprintln(f(91, 7), f(92, 7))\n";
    let out = ruchy(&["run", "--tier=1", "--emit=clif", "-"], Some(src));
    assert_eq!(text(&out.stdout), "1 2\n");
    let clif = text(&out.stderr);
    assert_eq!(clif.matches("= trunc ").count(), 2, "{clif}");
    // The divisor is at least 1 on these paths, so the quotient is never NaN: "equal or
    // unordered" is a one-flag test.
    assert_eq!(clif.matches("= fcmp ueq ").count(), 2, "{clif}");
    assert!(clif.contains("= srem"), "{clif}");
    assert!(
        !clif.contains("imul"),
        "the remainder itself is not computed:\n{clif}"
    );
}

#[test]
fn division_by_a_constant_multiplies_instead() {
    // `i % 7` and `i / 10`: a multiplication by the divisor's reciprocal (`smulhi`) and
    // shifts, no divide instruction of any width; a power of two is shifts alone.
    let src =
        "fun f(n) { (n % 7) + (n / 10) + (n % 8) + (n / -4) }\nprintln(f(12345), f(-12345))\n";
    let out = ruchy(&["run", "--tier=1", "--emit=clif", "-"], Some(src));
    assert_eq!(text(&out.stdout), "-1847 1847\n", "{}", text(&out.stderr));
    let clif = text(&out.stderr);
    let f = &clif[clif.find("; @f").expect("f was compiled")..];
    assert_eq!(f.matches("= smulhi").count(), 2, "{f}");
    for divide in ["fdiv", "sdiv", "srem", "udiv"] {
        assert!(!f.contains(divide), "{divide} in:\n{f}");
    }
}

#[test]
fn wide_constants_are_compared_in_a_register() {
    // A compare against a RIP-relative memory operand does not fuse with its branch: a
    // constant too wide for an immediate is kept in a register instead.
    let src = "fun f(n) { let mut i = 0\n let mut s = 0\n while i < n { if i > 5000000000 { s = s + 1 }\n i = i + 1 }\n s }\nprintln(f(10))\n";
    let out = ruchy(&["run", "--tier=1", "--emit=asm", "-"], Some(src));
    assert_eq!(text(&out.stdout), "0\n");
    let asm = text(&out.stderr);
    assert!(asm.contains("; @f$i64"), "{asm}");
    let compares: Vec<&str> = asm.lines().filter(|l| l.contains("cmpq")).collect();
    assert!(!compares.is_empty(), "{asm}");
    assert!(
        compares.iter().all(|l| !l.contains("(%rip)")),
        "a compare reads a constant from memory:\n{asm}"
    );
}

#[test]
fn jit_settings_from_the_environment_and_flags() {
    let src = "fun f(x) { x + 1 }\nlet mut s = 0\nfor i in 0..5 { s = s + f(i) }\nprintln(s)\n";
    let bad = run(env!("CARGO_BIN_EXE_ruchy"), &["run", "-"], Some(src));
    assert_eq!(text(&bad.stdout), "15\n");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ruchy"));
    cmd.args(["run", "-"])
        .env("RUCHY_JIT", "bogus=1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown JIT setting"));
    let out = ruchy(
        &[
            "run",
            "--tier1-threshold=2",
            "--max-cached-methods=1",
            "--stats",
            "-",
        ],
        Some(src),
    );
    assert_eq!(text(&out.stdout), "15\n");
}

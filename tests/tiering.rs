//! Tier 1 and the tiering runtime: deoptimization, the method cache, megamorphic functions,
//! and errors raised in compiled code — each compared with the interpreter.

use ruchy_frontend::SourceFile;
use ruchy_runtime::{Config, Interpreter};
use ruchy_tests::*;

fn forced() -> Config {
    let mut c = Config {
        native_stack_bytes: ruchy_runtime::BIG_NATIVE_STACK,
        ..Config::default()
    };
    c.jit.tier1_threshold = 0;
    c
}

/// Runs `src` on tier 0 and with `config`; asserts identical outcomes and returns the
/// interpreter's statistics line and deopt count of the compiled run.
fn same_as_tier0(src: &str, config: Config) -> (Outcome, String, u64) {
    let src = src.to_string();
    on_big_stack(move || {
        let file = SourceFile::new("t.ruchy", src);
        let module = compile(&file);
        let reference = run_module(&file, &module, Config::tier0());
        let mut out = vec![];
        let (result, stats, deopts) = {
            let mut interp = Interpreter::new(&module, config, &mut out);
            let r = interp.run_main();
            interp.flush();
            (r, interp.stats_report(), interp.profile.deopts)
        };
        let got = Outcome {
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: match &result {
                Ok(_) => String::new(),
                Err(e) => e.render(&file.name, &|l| Some(file.line_text(l).to_string())),
            },
            exit_code: if result.is_ok() { 0 } else { 1 },
        };
        assert_eq!(got, reference, "compiled run differs from tier 0");
        (got, stats, deopts)
    })
}

#[test]
fn function_specialized_for_ints_later_called_with_floats_and_strings() {
    let src = "fun add(a, b) { a + b }\n\
               let mut s = 0\n\
               for i in 0..50 { s = s + add(i, 1) }\n\
               println(s, add(1.5, 2.25), add(\"a\", \"b\"), add(\"n=\", 4), add([1], [2]))\n";
    let (out, stats, _) = same_as_tier0(src, forced());
    assert_eq!(out.stdout, "1275 3.75 ab n=4 [1, 2]\n");
    assert!(stats.contains("add"), "{stats}");
}

#[test]
fn mixed_array_elements_deoptimize_and_agree() {
    let src = "fun total(xs) { let mut t = 0\n for x in xs { t = t + x }\n t }\n\
               println(total([1, 2, 3]))\n\
               println(total([1, 2.5, 3]))\n\
               println(total([1, 2, \"x\"]))\n";
    let (out, _, deopts) = same_as_tier0(src, forced());
    assert_eq!(out.stdout, "6\n6.5\n3x\n");
    assert!(
        deopts >= 2,
        "guards failed in compiled code and the interpreter finished: {deopts}"
    );
}

#[test]
fn typed_array_storage_agrees_in_compiled_code() {
    // Arrays of one scalar type are stored unboxed and read, written and appended inline by
    // compiled code; any other element makes them generic. Every step must match tier 0.
    let src = "fun fill(n, x) { let mut a = []\n let mut i = 0\n while i < n { a.push(x)\n i = i + 1 }\n a }\n\
               fun put(a, i, v) { a[i] = v\n a[i] }\n\
               fun count(a) { let mut c = 0\n let mut i = 0\n while i < a.len() { if a[i] == true { c = c + 1 }\n i = i + 1 }\n c }\n\
               let b = fill(20, true)\n\
               println(b.len(), b[19], b[-1], count(b))\n\
               println(put(b, 3, false), b[3], b[2], count(b))\n\
               println(put(b, 4, \"s\"), b)\n\
               b.push(nil)\n\
               println(b.len(), count(b))\n\
               let f = fill(10, 1.5)\n\
               println(put(f, 0, 2.5), f[0] + f[9], put(f, 1, 3))\n\
               let n = fill(9, 7)\n\
               n.push(8)\n\
               println(n.pop(), n.len(), put(n, -1, 70), n)\n\
               println(put(n, 100, 1))\n";
    let (out, _, _) = same_as_tier0(src, forced());
    assert_eq!(
        out.stdout,
        "20 true true 20\nfalse false true 19\ns [true, true, true, false, \"s\", true, true, true, \
         true, true, true, true, true, true, true, true, true, true, true, true]\n\
         21 18\n2.5 4.0 3\n8 9 70 [7, 7, 7, 7, 7, 7, 7, 7, 70]\n"
    );
    assert!(out.stderr.contains("out of bounds"), "{}", out.stderr);
}

#[test]
fn array_headers_kept_through_loops_follow_every_change() {
    // Loops keep the headers of the arrays they access in registers (`header_cache`); every
    // way a header can change inside such a loop must be seen: pushes through another name
    // for the same array, stores that make the storage generic (through either name),
    // negative indices and out-of-bounds reads on the slow paths, an inner loop reading what
    // its outer loop pushes, and a guard on a read failing after the storage changed.
    let src = r#"// One array under two names: pushes through one are seen through the other.
fun twin(a, b, n) {
    let mut i = 0
    let mut s = 0
    while i < n {
        b.push(i)
        s = s + a[a.len() - 1] + a.len()
        i = i + 1
    }
    s
}
// A store of another type makes the storage generic in the middle of the loop.
fun retype(a, n) {
    let mut i = 0
    let mut c = 0
    while i < n {
        if a[i] == true { c = c + 1 }
        if i == 3 { a[i + 1] = 7 }
        i = i + 1
    }
    c
}
// Stores through an alias that change the storage kind, read through the other name.
fun alias_store(a, b, n) {
    let mut i = 0
    let mut t = 0.0
    while i < n {
        t = t + a[i]
        if i == 2 { b[5] = "x" }
        i = i + 1
    }
    t
}
// Negative indices and a read past the end, from the slow paths of a kept loop.
fun ends(a, n) {
    let mut i = 0
    let mut s = 0
    while i < n {
        a[-1] = i
        s = s + a[-1] + a[i]
        i = i + 1
    }
    s
}
// Nested loops: the outer one pushes, the inner one reads.
fun nested(a, n) {
    let mut i = 0
    let mut s = 0
    while i < n {
        a.push(i * 2)
        let mut j = 0
        while j < a.len() {
            s = s + a[j]
            j = j + 1
        }
        i = i + 1
    }
    s
}
fun fill(n, x) { let mut a = []
 let mut i = 0
 while i < n { a.push(x)
 i = i + 1 }
 a }
let p = fill(3, 1)
println(twin(p, p, 50), p.len())
let q = fill(10, true)
println(retype(q, 10), q)
let r = fill(8, 0.5)
println(alias_store(r, r, 8), r)
let e = fill(6, 1)
println(ends(e, 6), e)
println(nested(fill(2, 1), 30))
println(ends(fill(3, 1), 5))
"#;
    let (out, _, deopts) = same_as_tier0(src, forced());
    assert_eq!(
        out.stdout,
        "2650 53\n9 [true, true, true, true, 7, true, true, true, true, true]\n\
         2.5x0.50.5 [0.5, 0.5, 0.5, 0.5, 0.5, \"x\", 0.5, 0.5]\n25 [1, 1, 1, 1, 1, 5]\n9050\n"
    );
    assert!(
        out.stderr.contains("Index 3 out of bounds"),
        "{}",
        out.stderr
    );
    assert!(
        deopts >= 1,
        "the float guard on the retyped array failed: {deopts}"
    );
    same_as_tier0(src, Config::default());
}

#[test]
fn division_fast_paths_agree_with_the_interpreter() {
    // Compiled division has a fast path when both operands are in [0, 2^32), 64-bit otherwise;
    // every sign and size combination, the i64::MIN / -1 overflow and division by zero must
    // match the interpreter.
    let src = "fun q(a, b) { a / b }\nfun r(a, b) { a % b }\n\
               let min = -9223372036854775807 - 1\n\
               let xs = [0, 1, 3, 7, -1, -7, 2147483648, 4294967295, 4294967296, -4294967296, \
                         9223372036854775807, min]\n\
               let mut n = 0\n\
               for a in xs { for b in xs { if b != 0 {\n\
                 println(a, b, r(a, b))\n\
                 if a != min || b != -1 { println(q(a, b)) }\n\
                 n = n + 1 } } }\n\
               println(n)\n\
               println(q(min, -1))\n";
    let (out, _, _) = same_as_tier0(src, forced());
    assert!(
        out.stdout.contains("4294967295 7 3\n613566756\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("-7 3 -1\n-2\n"), "{}", out.stdout);
    assert!(out.stdout.ends_with("132\n"), "{}", out.stdout);
    assert!(
        out.stderr.contains("Integer overflow in division"),
        "{}",
        out.stderr
    );
}

#[test]
fn narrow_division_is_exact_next_to_every_multiple() {
    // Operands in [0, 2^24) are divided in single precision and those in [0, 2^32) in double
    // precision; quotients just below, at and just above an integer are where a rounding
    // error would show. A remainder only compared with zero is computed as "is the rounded
    // quotient an integer", both when the comparison decides a branch (`z`) and when it is a
    // value (`nz`, `!=`).
    let src = "fun q(a, b) { a / b }\nfun r(a, b) { a % b }\n\
               fun z(a, b) { if a % b == 0 { return 1 }\n 0 }\n\
               fun nz(a, b) { a % b != 0 }\n\
               let ys = [1, 2, 3, 7, 4093, 4097, 65535, 65536, 65537, 16777213, 16777215, 16777216, 16777217, 2147483647, 2147483648, 4294967291, 4294967295]\n\
               let ks = [0, 1, 2, 3, 4095, 4097, 65535, 65537, 2147483647]\n\
               let mut sum = 0\n\
               let mut n = 0\n\
               let mut divisible = 0\n\
               for y in ys { for k in ks { for d in [-1, 0, 1] {\n\
                 let a = k * y + d\n\
                 if a >= 0 && a < 4294967296 {\n\
                   sum = sum + q(a, y) * 3 + r(a, y)\n\
                   divisible = divisible + z(a, y)\n\
                   if nz(a, y) == (z(a, y) == 1) { println(\"disagree\", a, y) }\n\
                   n = n + 1 } } } }\n\
               println(n, sum, divisible, q(4294967295, 65537), r(4294967294, 4294967295))\n\
               println(z(-9223372036854775807 - 1, -1), z(-12, 4), z(-13, 4), nz(9223372036854775807, 7))\n\
               println(q(16777215, 16777216), r(16777215, 16777216), z(16777215, 16777216), z(0, 16777216), r(16777215, 16777217), q(16777216, 16777216))\n";
    let (out, _, _) = same_as_tier0(src, forced());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines.len() == 3
            && lines[0].ends_with(" 65535 4294967294")
            && lines[1] == "1 1 0 false"
            && lines[2] == "0 16777215 0 1 16777215 1",
        "{}",
        out.stdout
    );
}

#[test]
fn division_by_constants_matches_the_interpreter() {
    // A constant divisor is compiled to a multiplication by its reciprocal and shifts (a
    // power of two to shifts alone): quotients truncate toward zero and remainders take the
    // dividend's sign, for dividends next to multiples, negative ones and the extremes;
    // `i64::MIN / -1` is the overflow error, `i64::MIN % -1` is 0.
    let divisors = [
        "1",
        "-1",
        "2",
        "-2",
        "3",
        "-3",
        "7",
        "-7",
        "8",
        "10",
        "-16",
        "641",
        "1000",
        "1000000007",
        "3037000499",
        "-4611686018427387904",
        "4611686018427387904",
        "9223372036854775807",
        "(-9223372036854775807 - 1)",
    ];
    let mut src = String::new();
    for (k, d) in divisors.iter().enumerate() {
        src += &format!(
            "fun q{k}(a) {{ a / {d} }}\nfun r{k}(a) {{ a % {d} }}\nfun z{k}(a) {{ if a % {d} == 0 {{ return 1 }}\n 0 }}\n"
        );
    }
    src += "let xs = [0, 1, -1, 2, -2, 6, 7, 8, -7, -8, -9, 999, 1000, 1001, -1001, 1000000006, \
            1000000007, -1000000008, 3037000498, 3037000499, 9223372036854775807, \
            9223372036854775806, -9223372036854775807, (-9223372036854775807 - 1), \
            4611686018427387904, -4611686018427387904, 4611686018427387903]\n\
            let mut sum = 0\n\
            for x in xs {\n";
    for (k, d) in divisors.iter().enumerate() {
        // `i64::MIN / -1` raises: checked once at the end.
        let q = if *d == "-1" {
            format!("(if x == (-9223372036854775807 - 1) {{ 0 }} else {{ q{k}(x) }})")
        } else {
            format!("q{k}(x)")
        };
        src += &format!(
            "  sum = sum + {q} % 1000003 + r{k}(x) % 999983 + z{k}(x)\n  println({q}, r{k}(x), z{k}(x))\n"
        );
    }
    src += "}\nprintln(sum)\nprintln(r1(-9223372036854775807 - 1))\nprintln(q1(-9223372036854775807 - 1))\n";
    let (out, _, _) = same_as_tier0(&src, forced());
    assert!(
        out.stderr.contains("Integer overflow in division"),
        "{}",
        out.stderr
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    // 27 dividends x 19 divisors, the sum, then `i64::MIN % -1`.
    assert_eq!(lines.len(), 27 * 19 + 2, "{}", out.stdout);
    assert_eq!(lines[27 * 19 + 1], "0");
    // -9 / 7 and -9 % 7, -9 / -2 and -9 % -2.
    assert!(out.stdout.contains("\n-1 -2 0\n"), "{}", out.stdout);
    assert!(out.stdout.contains("\n4 -1 0\n"), "{}", out.stdout);
}

#[test]
fn zero_divisor_raises_from_every_way_of_dividing() {
    // The fast path's range test also sends a zero divisor to the cold path, which raises the
    // error: a quotient, a remainder, and a remainder compared with zero, as a value and as
    // the condition of a branch, each after the same code has divided by small numbers.
    for (k, call) in ["q(a, b)", "r(a, b)", "z(a, b)", "nz(a, b)"]
        .iter()
        .enumerate()
    {
        let src = format!(
            "fun q(a, b) {{ a / b }}\nfun r(a, b) {{ a % b }}\n\
             fun z(a, b) {{ if a % b == 0 {{ return 1 }}\n 0 }}\n\
             fun nz(a, b) {{ a % b != 0 }}\n\
             fun run(a, b) {{ {call} }}\n\
             for b in [3, 2, 1, 0] {{ println(run(12, b)) }}\n"
        );
        let (out, _, _) = same_as_tier0(&src, forced());
        let line = [1, 2, 3, 5][k];
        assert!(
            out.stderr.contains(&format!("t.ruchy:{line}:"))
                && out.stderr.contains("Division by zero"),
            "{call}: {}",
            out.stderr
        );
        assert_eq!(out.stdout.lines().count(), 3, "{call}: {}", out.stdout);
    }
}

/// The `calls` column of `name`'s row in a `--stats` report (calls the runtime dispatched).
fn runtime_calls(stats: &str, name: &str) -> u64 {
    stats_cell(stats, name, 1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no row for {name} in {stats}"))
}

/// Column `k` of `name`'s row in a `--stats` report (1: calls, 2: the tier reached).
fn stats_cell<'a>(stats: &'a str, name: &str, k: usize) -> Option<&'a str> {
    stats
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(k))
}

#[test]
fn call_site_caches_follow_the_callee_and_the_argument_types() {
    // One call site through a function value sees different functions, argument types that
    // change (ints, floats, strings: other specializations, or none), a callee that raises an
    // error after its code was cached, and one whose guards fail (an `any` array element).
    // Everything agrees with tier 0; with the caches, the runtime dispatches only the calls
    // that missed.
    let src = "fun apply(f, x) { f(x) }\n\
               fun inc(x) { x + 1 }\n\
               fun dbl(x) { x * 2 }\n\
               fun inv(x) { 100 / x }\n\
               fun first(xs) { xs[0] + 1 }\n\
               let fs = [inc, dbl]\n\
               let mut s = 0\n\
               for i in 0..1000 { s = apply(fs[i / 500], s) % 1000003 }\n\
               println(s, apply(inc, 1.5), apply(inc, \"a\"), apply(dbl, 2.5))\n\
               for i in 0..300 { s = s + apply(first, [i]) }\n\
               println(s, apply(first, [2.5]), apply(first, [\"x\"]))\n\
               let mut t = 0\n\
               for i in 0..200 { t = t + apply(inv, 100 - i) }\n\
               println(t)\n";
    let (out, stats, _) = same_as_tier0(src, forced());
    assert!(
        out.stderr.contains("Division by zero")
            && out.stderr.contains("at inv (t.ruchy:4:14)\n  at apply"),
        "{}",
        out.stderr
    );
    assert!(runtime_calls(&stats, "inc") < 20, "{stats}");
    let mut off = forced();
    off.jit.call_site_caches = false;
    let (_, stats_off, _) = same_as_tier0(src, off);
    assert!(runtime_calls(&stats_off, "inc") >= 500, "{stats_off}");
}

#[test]
fn call_site_caches_survive_eviction() {
    // `once`'s call site caches `a`; then other functions compiled through `many` push `a`
    // out of a small method cache (calls through a cache never touch its entry), while `once`
    // itself stays in. Code a call-site cache points at is pinned like code called directly:
    // the cached call still runs, and everything agrees with tier 0.
    let src = "fun once(f, x) { f(x) }\n\
               fun many(f, x) { f(x) }\n\
               fun a(x) { x + 1 }\n\
               fun b(x) { x * 3 }\n\
               fun c(x) { x - 2 }\n\
               fun d(x) { x + 5 }\n\
               let mut s = 0\n\
               for i in 0..50 { s = once(a, s) }\n\
               for g in [b, c, d, b, c, d] { for i in 0..50 { s = (many(g, s) + once(a, i)) % 1000003 } }\n\
               for i in 0..50 { s = once(a, s) }\n\
               println(s)\n";
    let mut cfg = forced();
    cfg.jit.max_cached_methods = 3;
    let (out, stats, _) = same_as_tier0(src, cfg);
    assert!(!out.stdout.is_empty(), "{stats}");
    assert!(!stats.contains(" 0 evictions"), "{stats}");
}

#[test]
fn call_site_caches_call_closures_with_their_own_captures() {
    // Closures reach the call site in `run_all`'s loop: the same object 500 times, a new object
    // for every 10 calls (a miss, then hits with the new captures), one that updates a
    // captured variable, one with as many captures as a cache holds and one with more. Each
    // call must see its own closure's captures. In `churn` each closure is freed right after
    // its calls and the next one is likely allocated at the same address: only because the
    // cache keeps the closure it points at alive is the address not reused.
    let src = "fun run_all(f, n) { let mut s = 0\n for i in 0..n { s = f(s) }\n s }\n\
               fun adder(n) { |x| x + n }\n\
               fun wide4(a, b, c, d) { |x| (x + a + b * 10 + c * 100 + d * 1000) % 1000003 }\n\
               fun wide5(a, b, c, d, e) { |x| (x + a + b * 10 + c * 100 + d * 1000 + e * 10000) % 1000003 }\n\
               let add3 = adder(3)\n\
               let mut t = run_all(add3, 500)\n\
               for i in 0..50 { t = t + run_all(adder(i % 7), 10) }\n\
               let mut count = 0\n\
               let bump = |x| { count = count + 1\n x + count }\n\
               t = t + run_all(bump, 300)\n\
               t = t + run_all(wide4(1, 2, 3, 4), 300) + run_all(wide5(1, 2, 3, 4, 5), 300)\n\
               println(t, count, run_all(adder(0.5), 2), run_all(adder(\"a\"), 0))\n\
               fun churn(k) { let mut t = 0\n for i in 0..k { t = t + run_all(adder(i % 7), 3) }\n t }\n\
               println(churn(100))\n";
    let lambda_calls = |stats: &str| -> u64 {
        stats
            .lines()
            .filter(|l| l.starts_with("<lambda>"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum()
    };
    let (out, stats, _) = same_as_tier0(src, forced());
    assert_eq!(out.stdout, "640669 300 1.0 0\n885\n");
    // 2,202 calls through closures; the runtime dispatches the misses (a new object, or five
    // captures), the cache the rest.
    assert!(lambda_calls(&stats) < 700, "{stats}");
    let mut off = forced();
    off.jit.call_site_caches = false;
    let (_, stats_off, _) = same_as_tier0(src, off);
    assert!(lambda_calls(&stats_off) > 2100, "{stats_off}");
}

#[test]
fn specializations_made_for_a_caller_that_stays_interpreted_do_not_use_up_the_limit() {
    // The top level cannot be typed (`s + apply(...)` adds two unknowns), but specializing it
    // made specializations of `apply` for the signatures it saw statically. They never run;
    // they must not count against `apply`'s limit of 3 when the interpreter calls it with its
    // real signatures, so `apply` is compiled for them (not "megamorphic").
    let src = "fun apply(f, x) { f(x) }\n\
               fun adder(n) { |x| x + n }\n\
               let add3 = adder(3)\n\
               let mut s = 0\n\
               let mut count = 0\n\
               let bump = |x| { count = count + x\n count }\n\
               for i in 0..300 { s = s + apply(bump, i % 3) + apply(add3, i) }\n\
               println(s, count, apply(add3, 0.5), apply(adder(\"a\"), \"b\"))\n";
    let (out, stats, _) = same_as_tier0(src, forced());
    assert!(out.stdout.ends_with(" 3.5 ba\n"), "{}", out.stdout);
    assert!(!stats.contains("megamorphic"), "{stats}");
    assert_eq!(stats_cell(&stats, "apply", 2), Some("1"), "{stats}");
}

#[test]
fn operations_on_two_unknowns_run_in_the_runtime_from_compiled_code() {
    // `y * y`, `a + b`, `a < b` on values whose types are not known statically used to keep
    // their whole function interpreted; now the function is compiled and those operations go
    // through the runtime (`rt.mul`, `rt.add`, `rt.cmp`): same results, same errors.
    let src = "fun p(x) { let mut y = 2\n if x > 100 { y = \"big\" }\n if x > 200 { y = 1.5 }\n y * y }\n\
               fun f(a, b) { if a < b { a + b } else { a - b } }\n\
               fun h(a, b) { if a == b { a } else { a + b } }\n\
               let xs = [1, 2.5, 3]\n\
               let ys = [\"a\", \"b\"]\n\
               let mut out = []\n\
               for i in 0..3 { for j in 0..3 { out.push(f(xs[i], xs[j])) } }\n\
               for i in 0..2 { for j in 0..2 { out.push(h(ys[i], ys[j])) } }\n\
               println(out, p(1), p(300))\n\
               println(p(150))\n";
    let (out, stats, _) = same_as_tier0(src, forced());
    assert!(out.stderr.contains("at p (t.ruchy:4:2)"), "{}", out.stderr);
    assert!(!stats.contains("stays dyn"), "{stats}");
    assert_eq!(stats_cell(&stats, "p", 2), Some("1"), "{stats}");
}

#[test]
fn call_site_caches_check_the_argument_types() {
    // Elements of a mixed array reach one call site (one specialization of `map_all`) with
    // different types: a cache filled for ints must not send a float or a string there.
    let src = "fun map_all(f, xs) { let mut out = []\n for x in xs { out.push(f(x)) }\n out }\n\
               fun twice(x) { x + x }\n\
               let xs = [1, 2, 2.5, \"s\", 3, [4], 5.5, 6]\n\
               let mut all = []\n\
               for i in 0..40 { all = map_all(twice, xs) }\n\
               println(all)\n";
    let (out, _, _) = same_as_tier0(src, forced());
    assert_eq!(out.stdout, "[2, 4, 5.0, \"ss\", 6, [4, 4], 11.0, 12]\n");
}

#[test]
fn returned_values_keep_their_owners() {
    // A compiled function hands a value it built to its caller by moving it (no copy); one
    // it only received (a parameter) is copied. Either way the caller owns what it gets: it
    // can grow it in place, and the values it came from are unchanged (or shared) exactly
    // as in the interpreter.
    let src = "fun build(n) { let mut a = []\n for i in 0..n { a.push(i) }\n a }\n\
               fun text(n) { let mut t = \"\"\n for i in 0..n { t = t + \"x\" }\n t }\n\
               fun pick(a, b, c) { if c { a } else { b } }\n\
               fun adder(n) { closure(n * 2) }\n\
               fun closure(k) { |x| x + k }\n\
               let mut total = 0\n\
               let keep = [7]\n\
               for r in 0..200 {\n\
                 let mut a = build(r % 5)\n\
                 a.push(r)\n\
                 let mut t = text(r % 4)\n\
                 t = t + \"!\"\n\
                 let p = pick(keep, a, r % 2 == 0)\n\
                 total = total + len(a) + len(t) + len(p) + adder(r)(1)\n\
               }\n\
               let q = pick(keep, [0], true)\n\
               q.push(8)\n\
               println(total, keep, q, build(3), text(2))\n";
    let (out, _, _) = same_as_tier0(src, forced());
    assert!(out.stdout.ends_with(" [0, 1, 2] xx\n"), "{}", out.stdout);
}

#[test]
fn calls_of_function_values_compile_and_agree() {
    // Higher-order functions and the lambdas they call are compiled (calls through values go
    // through the runtime, which tiers the callees up too); results, and the errors for calling
    // a non-function or with the wrong number of arguments, match tier 0.
    let src = "fun apply_twice(f, x) { f(f(x)) }\n\
               fun make_adder(n) { |x| x + n }\n\
               let add3 = make_adder(3)\n\
               let mut s = 0\n\
               for i in 0..40 { s = s + apply_twice(add3, i) + apply_twice(|y| y * 2, i) }\n\
               println(s, [1, 2, 3].map(|x| x * 10), [1, 2, 3, 4].filter(|x| x % 2 == 0))\n\
               println([1, 2, 3].reduce(0, |a, b| a + b), apply_twice(|t| t + \"!\", \"hi\"))\n\
               fun call_bad(f) { f(1, 2) }\n\
               println(call_bad(|a, b| a - b))\n\
               println(apply_twice(5, 1))\n";
    let (out, stats, _) = same_as_tier0(src, forced());
    assert_eq!(out.stdout, "4140 [10, 20, 30] [2, 4]\n6 hi!!\n-1\n");
    assert!(
        out.stderr.contains("Cannot call a value of type integer"),
        "{}",
        out.stderr
    );
    assert!(
        stats_cell(&stats, "apply_twice", 2) == Some("1"),
        "apply_twice reaches tier 1: {stats}"
    );
    assert!(!stats.contains("only called from code"), "{stats}");
}

#[test]
fn runtime_calls_in_compiled_code_agree() {
    // Methods and builtins with no typed form (`rt.method`, `rt.builtin`, `**`) run through the
    // runtime from compiled code: same results and the same errors as tier 0, and the string
    // built by `s = s + ...` in a compiled loop is the same.
    let src = "fun f(s, x) { [s.substring(0, 2), abs(x), x ** 2, 2 ** -1, s.to_uppercase(), min(x, 3)] }\n\
               for i in 0..15 { println(f(\"hello\", i - 7)) }\n\
               println(f(\"hey\", 2.5))\n\
               fun build(n) { let mut s = \"\"\n let mut i = 0\n while i < n { s = s + (i % 10)\n \
                 if i % 7 == 6 { s = s + \"|\" }\n i = i + 1 }\n s }\n\
               println(build(40), len(build(1000)))\n\
               fun g(s) { s.nosuch(1) }\n\
               println(g(\"a\"))\n";
    let (out, stats, _) = same_as_tier0(src, forced());
    assert!(
        out.stdout
            .starts_with("[\"he\", 7, 49, 0.5, \"HELLO\", -7]\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("0123456|7890123|4567890|1234567|8901234|56789 1142\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("no method `nosuch` on string"),
        "{}",
        out.stderr
    );
    assert!(
        stats_cell(&stats, "f", 2) == Some("1"),
        "f reaches tier 1: {stats}"
    );
}

/// The default tiering, with the stack forced tier 1 uses.
fn auto() -> Config {
    Config {
        native_stack_bytes: ruchy_runtime::BIG_NATIVE_STACK,
        ..Config::default()
    }
}

/// Loops are not compiled on entry: a loop that gets hot in the interpreter continues in
/// compiled code after 5 back edges (on-stack replacement).
fn osr() -> Config {
    let mut c = Config {
        native_stack_bytes: ruchy_runtime::BIG_NATIVE_STACK,
        ..Config::default()
    };
    c.jit.eager_loops = false;
    c.jit.backedge_threshold = 5;
    c
}

/// Runs `src` with [`osr`] and returns the number of loops entered by OSR.
fn osr_entries(src: &str) -> u64 {
    let src = src.to_string();
    on_big_stack(move || {
        let file = SourceFile::new("t.ruchy", src);
        let module = compile(&file);
        let mut out = vec![];
        let mut interp = Interpreter::new(&module, osr(), &mut out);
        let _ = interp.run_main();
        interp.flush();
        interp.tiering.osr_entries
    })
}

#[test]
fn hot_loops_continue_in_compiled_code() {
    // A top-level loop (state: a counter, a string, an array, values defined before it) and a
    // loop nested in two others (its header's live values include the enclosing loops'
    // variables, which those loops redefine): both continue compiled, with the interpreter's
    // output.
    let src = "fun grid(n) { let mut total = 0\n let mut y = 0\n while y < n { let mut x = 0\n \
                 while x < n { let mut j = 0\n while j < 3 { total = total + x * y + j\n j = j + 1 }\n x = x + 1 }\n \
                 y = y + 1 }\n total }\n\
               println(grid(30), grid(5))\n\
               let k = 7\nlet label = \"n=\"\nlet mut s = \"\"\nlet mut xs = []\nlet mut i = 0\n\
               while i < 200 { xs.push(i * k)\n if i % 50 == 0 { s = s + label + i + \";\" }\n i = i + 1 }\n\
               println(s, len(xs), xs[199])\n";
    let (out, _, _) = same_as_tier0(src, osr());
    assert_eq!(out.stdout, "570375 375\nn=0;n=50;n=100;n=150; 200 1393\n");
    assert!(osr_entries(src) >= 2, "loops were entered by OSR");
}

#[test]
fn large_functions_wait_for_a_hot_loop_before_compiling() {
    // A function with loops is compiled on its first call only up to `eager_max_ops`: 80
    // short loops stay interpreted (and `--stats` says why), while the same function with one
    // long loop at its end continues compiled once that loop is hot (on-stack replacement).
    let mut body = String::from("fun big(n, last) {\n let mut xs = [1, 2, 3]\n let mut s = 0\n");
    for k in 0..80 {
        body += &format!(" for i in 0..n {{ s = s + xs[i % 3] * {k}\n xs[i % 3] = s % 11 }}\n");
    }
    body += " for i in 0..last { s = (s + i) % 1000003 }\n s\n}\n";
    let (out, stats, _) = same_as_tier0(&format!("{body}println(big(3, 10))\n"), auto());
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    assert_eq!(stats_cell(&stats, "big", 2), Some("0"), "{stats}");
    assert!(
        stats.contains("interpreter ops, above eager_max_ops=1000"),
        "{stats}"
    );
    let src = format!("{body}println(big(3, 50000))\n");
    let (_, stats, _) = same_as_tier0(&src, auto());
    assert_eq!(stats_cell(&stats, "big", 2), Some("1"), "{stats}");
    assert!(
        stats.contains("1 loops entered by on-stack replacement"),
        "{stats}"
    );
    // Compiled after all: the report no longer says it waits.
    assert!(!stats.contains("above eager_max_ops"), "{stats}");
    // A small function with loops is still compiled on its first call.
    let (_, stats, _) = same_as_tier0(
        "fun small(n) { let mut s = 0\n for i in 0..n { s = s + i }\n s }\nprintln(small(3))\n",
        auto(),
    );
    assert_eq!(stats_cell(&stats, "small", 2), Some("1"), "{stats}");
}

#[test]
fn return_types_reach_the_top_of_long_call_chains() {
    // 250 functions each returning what the next returns; the last returns an int or a
    // string. Specialization infers the chain's return types callee to caller: stopping
    // before they all became `any` left the first functions typed as returning ints while
    // calling functions returning `any` (ill-typed IR that code generation refused).
    let n = 250;
    let mut src = String::new();
    for k in 0..n - 1 {
        src += &format!(
            "fun g{k}(x) {{ if x > 1000000 {{ return x }}\n g{}(x + 1) }}\n",
            k + 1
        );
    }
    src += &format!(
        "fun g{}(x) {{ if x % 2 == 0 {{ return x }}\n \"odd\" }}\n",
        n - 1
    );
    src += "println(g0(1), g0(2))\n";
    let (out, stats, _) = same_as_tier0(&src, forced());
    assert_eq!(out.stdout, "250 odd\n");
    assert!(!stats.contains("not compiled"), "{stats}");
    assert_eq!(stats_cell(&stats, "g0", 2), Some("1"), "{stats}");
}

#[test]
fn errors_and_deoptimization_after_osr_match_the_interpreter() {
    // After OSR: a guard fails on a string element (the rest runs interpreted, from the OSR
    // variant), then an overflow error inside a loop entered by OSR, reported with the caller
    // that is still interpreted.
    let src = "fun total(xs) { let mut t = 0\n let mut i = 0\n while i < len(xs) { t = t + xs[i]\n i = i + 1 }\n t }\n\
               let mut ys = []\nfor i in 0..40 { ys.push(i) }\n\
               println(total(ys))\n\
               ys.push(\"!\")\nys.push(1)\n\
               println(total(ys))\n\
               fun grow(n) { let mut v = 1\n let mut i = 0\n while i < n { v = v * 3\n i = i + 1 }\n v }\n\
               fun outer() { grow(100) }\n\
               println(outer())\n";
    let (out, _, _) = same_as_tier0(src, osr());
    assert!(out.stdout.starts_with("780\n"), "{}", out.stdout);
    assert!(
        out.stderr.contains("Cannot add") || out.stderr.contains("Integer overflow"),
        "{}",
        out.stderr
    );
    assert!(osr_entries(src) >= 1);
}

#[test]
fn code_that_keeps_deoptimizing_is_given_up() {
    // `total` is compiled for arrays of ints (its elements guarded as ints), then called over
    // and over with an array holding a string from interpreted code (`u * u` on a value of
    // unknown type keeps the top level interpreted): after `max_deopts` failed guards the
    // interpreter stops calling that code, instead of deoptimizing on every call.
    let src = "fun total(xs) { let mut t = 0\n for x in xs { t = t + x }\n t }\n\
               for i in 0..20 { total([i, 1]) }\n\
               let mut s = \"\"\n\
               let mut u = 0\n\
               for i in 0..300 { s = total([i, \"x\"])\n if i > 1000 { u = \"never\" }\n u = u * u }\n\
               println(s)\n";
    let mut config = Config {
        native_stack_bytes: ruchy_runtime::BIG_NATIVE_STACK,
        ..Config::default()
    };
    config.jit.max_deopts = 10;
    let (out, stats, deopts) = same_as_tier0(src, config);
    assert_eq!(out.stdout, "299x\n");
    assert!(
        (10..20).contains(&deopts),
        "deoptimized {deopts} times for 300 unstable calls"
    );
    assert!(
        stats.contains("deoptimized 10 times: stays interpreted"),
        "{stats}"
    );
    // The same from compiled code (the top level is compiled this time and calls `total`
    // through its cell): the cell is pointed at a stand-in that runs `total` interpreted.
    let src = "fun total(xs) { let mut t = 0\n for x in xs { t = t + x }\n t }\n\
               for i in 0..20 { total([i, 1]) }\n\
               let mut s = \"\"\n\
               for i in 0..300 { s = total([i, \"x\"]) }\n\
               println(s)\n";
    let mut config = forced();
    config.jit.max_deopts = 10;
    let (out, stats, deopts) = same_as_tier0(src, config);
    assert_eq!(out.stdout, "299x\n");
    assert!(
        (10..20).contains(&deopts),
        "deoptimized {deopts} times for 300 unstable calls from compiled code: {stats}"
    );
}

#[test]
fn int_float_comparisons_stay_exact_in_compiled_code() {
    // i64::MAX < i64::MAX + 0.0 holds (2^63 - 1 < 2^63): converting the int to a float first
    // would make them equal. Found by the differential test.
    let src = "fun f(a, b) { if b < (b + a) { a } else { b } }\n\
               for i in 0..3 { println(f(i * 1.5, 9223372036854775807), f(i * 1.5, 10)) }\n\
               fun g(x) { x < 10 }\n\
               println(g(9.5), g(10.5))\n";
    let (out, _, _) = same_as_tier0(src, forced());
    assert_eq!(out.stdout, "0.0 10\n1.5 1.5\n3.0 3.0\ntrue false\n");
}

#[test]
fn nested_arrays_compile_with_speculation() {
    // `g[i][j]` reads and writes: the row (a value of unknown type) is speculated to be an
    // array; a string in its place deoptimizes, and the results match tier 0 either way.
    let src = "fun sum2(g, n) { let mut t = 0\n let mut i = 0\n while i < n { let mut j = 0\n \
                 while j < n { t = t + g[i][j]\n g[i][j] = 0\n j = j + 1 }\n i = i + 1 }\n t }\n\
               let grid = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]\n\
               println(sum2(grid, 3), sum2(grid, 3), grid)\n\
               fun firsts(ws) { let mut s = []\n for w in ws { s.push(w[0]) }\n s }\n\
               println(firsts([[1, 2], \"ab\", [3]]))\n\
               println(sum2([[1, 2], \"ab\"], 2))\n";
    let (out, stats, _) = same_as_tier0(src, forced());
    assert_eq!(
        out.stdout,
        "45 0 [[0, 0, 0], [0, 0, 0], [0, 0, 0]]\n[1, \"a\", 3]\n"
    );
    assert!(
        out.stderr.contains("Cannot assign to an element of string"),
        "{}",
        out.stderr
    );
    assert!(
        stats_cell(&stats, "sum2", 2) == Some("1"),
        "sum2 reaches tier 1: {stats}"
    );
}

#[test]
fn errors_in_compiled_code_match_the_interpreter() {
    // Overflow, division by zero, bounds and type errors raised in compiled frames, with the
    // same message, position and call stack.
    for src in [
        "fun f(n) { n * 4611686018427387904 }\nfun g(n) { f(n) + 1 }\nprintln(g(1))\nprintln(g(3))\n",
        "fun d(a, b) { a / b }\nprintln(d(7, 2))\nprintln(d(7, 0))\n",
        "fun at(xs, i) { xs[i] }\nprintln(at([1, 2], 1))\nprintln(at([1, 2], 5))\n",
        "fun neg(x) { -x }\nprintln(neg(-9223372036854775807 - 1))\n",
        "fun sh(x) { 1 << x }\nprintln(sh(3))\nprintln(sh(70))\n",
    ] {
        let (out, _, _) = same_as_tier0(src, forced());
        assert_eq!(out.exit_code, 1, "{src}");
    }
}

#[test]
fn adding_a_constant_overflows_exactly_at_the_limits() {
    // Compiled `x + c` and `x - c` with a constant raise overflow exactly where the
    // interpreter does: each form a few steps from the limit up to it, both signs of the
    // constant, the constant on either side, and `x - MIN` (whose negation does not exist).
    let max = "9223372036854775807";
    let min = "(-9223372036854775807 - 1)";
    let forms = [
        ("x + 1", max),
        ("1 + x", max),
        ("x + 5", max),
        ("x - 1", min),
        ("x + (-7)", min),
        ("x - (-3)", max),
        ("x - (-9223372036854775807 - 1)", "-1"),
    ];
    for (form, limit) in forms {
        // `step` walks up to the limit from a few values away, so the last call overflows.
        let src = format!(
            "fun f(x) {{ {form} }}\n\
             let lim = {limit}\n\
             let dir = if lim > 0 {{ -1 }} else {{ 1 }}\n\
             for k in 0..12 {{ println(f(lim + dir * (11 - k) - dir * 0)) }}\n"
        );
        let (out, _, _) = same_as_tier0(&src, forced());
        assert_eq!(out.exit_code, 1, "{form}: {}", out.stdout);
        assert!(
            out.stderr.contains("Integer overflow"),
            "{form}: {}",
            out.stderr
        );
    }
}

#[test]
fn runaway_recursion_in_compiled_code_is_a_clean_stack_overflow() {
    let mut c = forced();
    c.max_native_depth = 2_000;
    c.max_depth = 2_000;
    let src = "fun down(n) { down(n + 1) + 1 }\ndown(0)\n";
    let src2 = src.to_string();
    let out = on_big_stack(move || {
        let file = SourceFile::new("t.ruchy", src2);
        let module = compile(&file);
        run_module(&file, &module, c)
    });
    assert_eq!(out.exit_code, 1);
    assert!(out.stderr.contains("stack overflow"), "{}", out.stderr);
    assert!(out.stderr.contains("at down ("), "{}", out.stderr);
}

#[test]
fn deep_recursion_works_compiled() {
    let src =
        "fun depth(n) { if n == 0 { 0 } else { 1 + depth(n - 1) } }\nprintln(depth(100000))\n";
    let (out, _, _) = same_as_tier0(src, forced());
    assert_eq!(out.stdout, "100000\n");
}

#[test]
fn megamorphic_functions_stay_interpreted_for_rare_signatures() {
    let src = "fun id(x) { x }\n\
               println(id(1), id(1.5), id(\"s\"), id(true), id([1]), id(nil))\n";
    let mut c = forced();
    c.jit.max_specializations_per_function = 2;
    let (_, stats, _) = same_as_tier0(src, c);
    assert!(stats.contains("megamorphic"), "{stats}");
}

#[test]
fn lru_eviction_frees_code_and_a_later_call_recompiles() {
    // At the top level, `tag` may hold an int or a string and `-tag` has no typed form (nor a
    // runtime op yet), so the top level stays interpreted and calls each function through the
    // method cache.
    let src = "fun a(x) { x + 1 }\nfun b(x) { x + 2 }\nfun c(x) { x + 3 }\n\
               let mut s = 0\n\
               let mut tag = 0\n\
               for i in 0..5 { s = s + a(i) + b(i) + c(i)\n if i > 100 { tag = \"never\" }\n tag = -tag }\n\
               println(s, tag)\n";
    let mut cfg = forced();
    cfg.jit.max_cached_methods = 1;
    let src2 = src.to_string();
    let (stdout, evictions, misses, code_bytes) = on_big_stack(move || {
        let file = SourceFile::new("t.ruchy", src2);
        let module = compile(&file);
        let mut out = vec![];
        let mut interp = Interpreter::new(&module, cfg, &mut out);
        interp.run_main().expect("runs");
        interp.flush();
        let t = &interp.tiering;
        assert!(t.freed_bytes > 0, "evicted code was freed");
        let r = (t.evictions, t.misses, t.code_bytes());
        drop(interp);
        (String::from_utf8_lossy(&out).into_owned(), r.0, r.1, r.2)
    });
    assert_eq!(stdout, "60 0\n");
    assert!(evictions > 0, "a cache of one method evicts");
    assert!(
        misses > 3,
        "evicted methods were compiled again: {misses} misses"
    );
    // With one method cached (the top level plus one small function), little code is alive.
    assert!(
        code_bytes < 4096,
        "evicted code was freed: {code_bytes} bytes alive"
    );
}

#[test]
fn call_site_caches_are_freed_with_their_code() {
    // `apply` is compiled again and again under a one-method cache (the top level stays
    // interpreted: `-tag` on an int-or-string has no typed form); each compilation makes a
    // call-site cache, which goes when that code is freed.
    let src = "fun apply(f, x) { f(x) }\nfun a(x) { x + 1 }\nfun b(x) { x * 2 }\n\
               let mut s = 0\n\
               let mut tag = 0\n\
               for i in 0..200 { s = (apply(a, s) + apply(b, i) + apply(a, 0.5)) % 1000003\n if i > 1000 { tag = \"x\" }\n tag = -tag }\n\
               println(s, tag)\n";
    let mut cfg = forced();
    cfg.jit.max_cached_methods = 1;
    let src2 = src.to_string();
    let (stdout, misses, live) = on_big_stack(move || {
        let file = SourceFile::new("t.ruchy", src2);
        let module = compile(&file);
        let mut out = vec![];
        let mut interp = Interpreter::new(&module, cfg, &mut out);
        interp.run_main().expect("runs");
        interp.flush();
        let t = &interp.tiering;
        let r = (t.misses, t.live_call_site_caches());
        drop(interp);
        (String::from_utf8_lossy(&out).into_owned(), r.0, r.1)
    });
    assert!(stdout.ends_with(" 0\n"), "{stdout}");
    assert!(
        misses > 100,
        "apply was compiled again and again: {misses} misses"
    );
    assert!(
        live < 10,
        "{live} call-site caches alive after {misses} compilations"
    );
}

#[test]
fn a_tier_up_batch_compiles_the_same_on_one_core_or_two() {
    // The top level's tier-up compiles five functions together (each with a call through a
    // function value, whose cache belongs to its own code); code generation shared with the
    // helper thread or done one function after the other gives tier 0's results.
    let src = "fun twice(f, x) { f(f(x)) }\nfun inc(x) { x + 1 }\n\
               fun a(n) { let mut s = 0\n for i in 0..n { s = s + twice(inc, i) }\n s }\n\
               fun b(n) { let mut s = 1\n for i in 1..n { s = (s * twice(inc, i)) % 1000003 }\n s }\n\
               fun c(n) { a(n) + b(n) + twice(inc, n) }\n\
               println(c(300), a(10), b(10))\n";
    for setting in ["parallel_codegen=1", "parallel_codegen=0"] {
        let mut cfg = forced();
        cfg.jit.apply(setting).unwrap();
        let (out, stats, _) = same_as_tier0(src, cfg);
        assert_eq!(out.stdout, "93848 65 958343\n", "{setting}");
        for f in ["a", "b", "c", "twice"] {
            assert_eq!(
                stats_cell(&stats, f, 2),
                Some("1"),
                "{setting}: {f} in\n{stats}"
            );
        }
    }
}

#[test]
fn functions_of_one_shape_share_their_boxed_entry_trampoline() {
    use ruchy_runtime::jit::{Decision, FuncShape, JitConfig, Tiering};
    use ruchy_runtime::profile::Profile;
    use ruchy_runtime::value::Value;
    let file = SourceFile::new(
        "t.ruchy",
        "fun inc(x) { x + 1 }\nfun twice(y) { y * 2 }\nfun half(z) { z / 2.0 }\n".to_string(),
    );
    let mut module = compile(&file);
    let mut tiering = Tiering::new(JitConfig::default());
    let mut entry = |name: &str, arg: Value| {
        let f = module.func_by_name(name).expect("function");
        let sig = Profile::signature(&[arg]);
        assert!(matches!(
            tiering.decide(
                f,
                sig,
                100,
                FuncShape {
                    has_loops: false,
                    ops: 10
                }
            ),
            Decision::Compile
        ));
        tiering
            .compile(&mut module, f, sig, false)
            .expect("compiles")
    };
    let (inc, twice) = (entry("inc", Value::Int(1)), entry("twice", Value::Int(1)));
    let half = entry("half", Value::Float(1.0));
    assert_ne!(inc.target, twice.target, "each function has its own code");
    assert_eq!(
        inc.trampoline, twice.trampoline,
        "(i64) -> i64 shares one trampoline"
    );
    assert_ne!(inc.trampoline, half.trampoline, "(f64) -> f64 has another");
}

#[test]
fn ill_typed_ir_stays_interpreted_and_says_why() {
    // Backends trust IR types: a typed callee that does not verify (as a pass bug would make
    // it) keeps its caller interpreted, with the verifier's message in the report.
    use ruchy_runtime::jit::{JitConfig, Tiering};
    use ruchy_runtime::profile::Profile;
    use ruchy_runtime::Value;
    let text = "module \"t\"\nentry @f\n\n\
                func @f(any) -> any level(dyn) {\n^bb0(%v0: any):\n  \
                %v1 = func.call @g(%v0) : i64\n  cf.return %v1\n}\n\
                func @g(any) -> i64 level(typed) {\n^bb0(%v0: any):\n  \
                %v1 = arith.const true : bool\n  cf.return %v1\n}\n";
    let (mut module, _) = ruchy_ir::parse_module(text).expect("parses");
    let f = module.func_by_name("f").expect("f");
    let mut tiering = Tiering::new(JitConfig::default());
    let sig = Profile::signature(&[Value::Int(1)]);
    assert!(tiering.compile(&mut module, f, sig, false).is_none());
    let reasons = &tiering.reports[&f].reasons;
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("has type bool, expected the return type i64")),
        "{reasons:?}"
    );
}

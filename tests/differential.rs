//! Differential testing: generated Ruchy programs (arithmetic near the i64 limits, floats,
//! strings, arrays, loops, recursion, calls whose argument types change) must give identical
//! stdout, error message and exit code on the interpreter, on tier 1 forced, and with automatic
//! tiering.

use proptest::prelude::*;
use ruchy_frontend::SourceFile;
use ruchy_runtime::Config;
use ruchy_tests::*;

fn int_lit() -> impl Strategy<Value = String> {
    prop_oneof![
        (-20i64..20).prop_map(|n| n.to_string()),
        Just("9223372036854775807".to_string()),
        Just("(-9223372036854775807 - 1)".to_string()),
        Just("4611686018427387904".to_string()),
        Just("3037000499".to_string()),
        (0i64..1_000_000).prop_map(|n| n.to_string()),
        // Around the limits of dividing in single and double precision (2^24, 2^32).
        (16_777_200i64..16_777_233).prop_map(|n| n.to_string()),
        (4_294_967_280i64..4_294_967_313).prop_map(|n| n.to_string()),
    ]
}

fn float_lit() -> impl Strategy<Value = String> {
    prop_oneof![
        (-100.0f64..100.0).prop_map(|x| format!("{x:?}")),
        Just("0.5".to_string()),
        Just("1e300".to_string()),
        Just("(0.0 - 0.0)".to_string()),
    ]
}

/// An expression over the parameters `a` and `b`.
fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        4 => Just("a".to_string()),
        4 => Just("b".to_string()),
        3 => int_lit(),
        1 => float_lit(),
        1 => Just("\"s\"".to_string()),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            4 => (inner.clone(), prop::sample::select(vec!["+", "-", "*", "/", "%"]), inner.clone())
                .prop_map(|(x, op, y)| format!("({x} {op} {y})")),
            2 => (inner.clone(), prop::sample::select(vec!["<", "<=", "==", "!=", ">"]), inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(x, c, y, t, e)| format!("(if {x} {c} {y} {{ {t} }} else {{ {e} }})")),
            // Divisibility tests (compiled as a test of the quotient).
            1 => (inner.clone(), inner.clone(), prop::sample::select(vec!["==", "!="]), inner.clone(), inner.clone())
                .prop_map(|(x, y, c, t, e)| format!("(if {x} % {y} {c} 0 {{ {t} }} else {{ {e} }})")),
            1 => inner.clone().prop_map(|x| format!("(-{x})")),
            1 => (inner.clone(), inner.clone()).prop_map(|(x, y)| format!("len([{x}, {y}])")),
            1 => inner.clone().prop_map(|x| format!("(\"v\" + {x})")),
        ]
    })
}

/// Argument values whose types change between calls.
fn arg() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("i".to_string()),
        2 => int_lit(),
        1 => float_lit(),
        1 => Just("(i * 1.5)".to_string()),
        1 => Just("\"x\"".to_string()),
    ]
}

fn program() -> impl Strategy<Value = String> {
    (expr(), expr(), arg(), arg(), arg(), 0i64..40, 1i64..6).prop_map(|(body, rec, a1, b1, a2, n, step)| {
        format!(
            "fun f(a, b) {{ {body} }}\n\
             fun g(n, a, b) {{ if n <= 0 {{ 0 }} else {{ ({rec}) * 0 + n + g(n - {step}, a, b) }} }}\n\
             fun loop_sum(k) {{ let mut t = 0\n let mut j = 0\n while j < k {{ t = t + j * j\n j = j + 1 }}\n t }}\n\
             let mut out = []\n\
             for i in 0..12 {{\n    out.push(f({a1}, {b1}))\n}}\n\
             println(out)\n\
             println(f({a2}, 2), loop_sum({n}))\n\
             println(g({n}, 1, 2))\n"
        )
    })
}

/// An array element: mostly one scalar type per program (so arrays start with typed storage),
/// sometimes another type (which makes them generic).
fn element() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => int_lit(),
        2 => Just("true".to_string()),
        2 => Just("false".to_string()),
        2 => float_lit(),
        1 => Just("\"e\"".to_string()),
        1 => Just("[1]".to_string()),
        1 => Just("nil".to_string()),
    ]
}

/// Programs over arrays: typed and generic storage, reads, writes (also of other types), pushes,
/// pops, negative and out-of-bounds indices, iteration and calls through function values.
fn array_program() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(element(), 0..4),
        element(),
        element(),
        prop::sample::select(vec!["0", "1", "2", "-1", "-3", "7", "100"]),
        element(),
        0i64..30,
        prop::sample::select(vec!["|x| x", "|x| [x]", "|x| x == x", "|x| \"<\" + x"]),
    )
        .prop_map(|(init, fill, other, idx, val, n, lambda)| {
            format!(
                "fun put(xs, k, v) {{ xs[k] = v\n xs[k] }}\n\
                 fun grow(xs, n, v) {{ let mut i = 0\n while i < n {{ xs.push(v)\n i = i + 1 }}\n xs.len() }}\n\
                 fun count(xs) {{ let mut c = 0\n for x in xs {{ if x == x {{ c = c + 1 }} }}\n c }}\n\
                 fun apply(f, x) {{ f(x) }}\n\
                 let ys = [{init}]\n\
                 println(grow(ys, {n}, {fill}), count(ys))\n\
                 println(put(ys, 0, {fill}), ys.len())\n\
                 println(ys.map({lambda}), apply({lambda}, {other}))\n\
                 println(put(ys, {idx}, {val}), ys)\n\
                 ys.push({other})\n\
                 println(ys.pop(), ys.pop(), count(ys), ys)\n",
                init = init.join(", ")
            )
        })
}

/// A statement of a loop over arrays `a` and `b` (sometimes the same array), counter `i` and
/// values `v`, `w`: reads, writes and pushes that keep or change the storage kind, lengths,
/// negative and out-of-bounds indices.
fn loop_statement() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "a.push(v)",
        "b.push(w)",
        "a[i % a.len()] = w",
        "b[i % b.len()] = v",
        "a[0 - 1] = v",
        "b[i] = w",
        "if a[i % a.len()] == v { s = s + 1 }",
        "if b[(i * 7) % b.len()] != w { s = s + 2 }",
        "s = s + a.len() * 3 + b.len()",
        "if a[i] == a[i] { s = s + 1 }",
        "if i == 3 { b[0] = \"t\" }",
    ])
    .prop_map(String::from)
}

/// Programs whose loops access arrays: the array headers such loops keep in registers must
/// follow every change, through either name.
fn loop_array_program() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(element(), 1..5),
        prop::collection::vec(loop_statement(), 1..5),
        element(),
        element(),
        0i64..25,
        any::<bool>(),
    )
        .prop_map(|(init, body, v, w, n, same)| {
            format!(
                "fun mix(a, b, n, v, w) {{\n\
                 let mut i = 0\n\
                 let mut s = 0\n\
                 while i < n {{\n{}\ni = i + 1\n}}\n\
                 s\n}}\n\
                 let xs = [{init}]\n\
                 let ys = {other}\n\
                 println(mix(xs, ys, {n}, {v}, {w}), xs, ys)\n\
                 println(mix(xs, xs, {n}, {w}, {v}), xs)\n",
                body.join("\n"),
                init = init.join(", "),
                other = if same {
                    "xs".to_string()
                } else {
                    format!("[{}]", init.join(", "))
                },
            )
        })
}

fn outcomes(src: &str) -> Vec<(&'static str, Outcome)> {
    let src = src.to_string();
    on_big_stack(move || {
        let file = SourceFile::new("gen.ruchy", src);
        let module = compile(&file);
        executors()
            .into_iter()
            .map(|(name, config)| (name, run_module(&file, &module, config)))
            .collect()
    })
}

proptest! {
    // 256 cases each by default; `PROPTEST_CASES=N` runs more (deeper local fuzzing).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn tiers_agree_on_generated_programs(src in program()) {
        let results = outcomes(&src);
        let (_, reference) = &results[0];
        for (name, got) in &results[1..] {
            prop_assert_eq!(got, reference, "{} differs from tier 0 on:\n{}", name, src);
        }
    }

    #[test]
    fn tiers_agree_on_generated_array_programs(src in array_program()) {
        let results = outcomes(&src);
        let (_, reference) = &results[0];
        for (name, got) in &results[1..] {
            prop_assert_eq!(got, reference, "{} differs from tier 0 on:\n{}", name, src);
        }
    }

    #[test]
    fn tiers_agree_on_generated_loops_over_arrays(src in loop_array_program()) {
        let results = outcomes(&src);
        let (_, reference) = &results[0];
        for (name, got) in &results[1..] {
            prop_assert_eq!(got, reference, "{} differs from tier 0 on:\n{}", name, src);
        }
    }
}

#[test]
fn config_for_tier0_disables_compilation() {
    assert!(!Config::tier0().jit.enabled);
}

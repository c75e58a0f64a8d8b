//! Forced tier 1 against tier 0, in-process, the two interleaved: `cargo bench -p
//! ruchy-benches --bench tier_ratio [-- RUNS [WORKLOAD...]]`.
//!
//! criterion measures each executor in its own stretch of time, so on a shared machine a
//! neighbour's burst of work can land on one side of a ratio and not the other. Here each
//! round runs tier 0 once, then forced tier 1 as many times as fit in the same time, so both
//! see the same conditions; the ratio reported is of the medians over the rounds (and of the
//! fastest runs, the least disturbed). Each run is what `tiers/*` in `jit.rs` times: a fresh
//! interpreter running the whole program, compilation included, output discarded.

use ruchy_benches::{bench_dir, compile_text};
use ruchy_ir::Module;
use ruchy_runtime::{Config, Interpreter};
use std::time::Instant;

fn run_once(module: &Module, config: &Config) -> f64 {
    let mut sink = std::io::sink();
    let start = Instant::now();
    let mut interp = Interpreter::new(module, config.clone(), &mut sink);
    interp.run_main().expect("the workload runs");
    drop(interp);
    start.elapsed().as_secs_f64() * 1e3
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; the other arguments are ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let rounds: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(15);
    let mut names: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    if names.is_empty() {
        names = vec!["fib", "primes", "mandel", "sieve"];
    }
    let tier0 = Config::tier0();
    let mut tier1 = Config::default();
    tier1.jit.tier1_threshold = 0;
    println!(
        "{:8} {:>10} {:>10} {:>8} {:>10}",
        "workload", "tier 0 ms", "tier 1 ms", "ratio", "best ratio"
    );
    for name in names {
        let text = std::fs::read_to_string(bench_dir().join(format!("{name}.ruchy")))
            .unwrap_or_else(|e| panic!("workload {name}: {e}"));
        let module = compile_text(&format!("{name}.ruchy"), &text);
        // Warm up both (caches, the code generator's helper thread).
        run_once(&module, &tier0);
        run_once(&module, &tier1);
        let (mut t0, mut t1) = (vec![], vec![]);
        for _ in 0..rounds {
            let a = run_once(&module, &tier0);
            t0.push(a);
            let mut spent = 0.0;
            while spent < a {
                let b = run_once(&module, &tier1);
                t1.push(b);
                spent += b;
            }
        }
        let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let (b0, b1) = (best(&t0), best(&t1));
        let (m0, m1) = (median(&mut t0), median(&mut t1));
        println!(
            "{name:8} {m0:>10.3} {m1:>10.3} {:>7.1}x {:>9.1}x",
            m0 / m1,
            b0 / b1
        );
    }
}

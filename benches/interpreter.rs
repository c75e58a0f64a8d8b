//! Criterion benchmarks of the tier-0 interpreter on the shared workloads (`../shared/bench`).
//!
//! Groups:
//! - `run/NAME`: runs the compiled workload in the interpreter (decoding included, compiling not),
//!   output to `std::io::sink()`. Before the first timed sample the output is checked against
//!   `NAME.out`, so a wrong program is never timed.
//! - `compile/NAME`: parse + resolve + lower of the workload source.
//! - `hello_world/end_to_end`: compile and run `println("Hello, Ruchy!")`.
//!
//! Run with `cargo bench -p ruchy-benches` (all) or e.g. `cargo bench -p ruchy-benches -- run/fib`.
//! Sample sizes are kept small (10 samples, 0.5 s warm-up, 1-5 s of measurement per benchmark) so
//! the whole suite takes about a minute; `cargo bench -p ruchy-benches -- --test` runs each
//! benchmark once as a smoke test.

use criterion::{black_box, criterion_group, criterion_main, Criterion, SamplingMode};
use ruchy_benches::{compile, hello_world, load_all, run, run_to_string};
use std::time::Duration;

/// A criterion configuration for a shared, noisy machine: few samples, short phases.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .noise_threshold(0.05)
}

/// `run/NAME`: one benchmark per workload, executing the already compiled module.
fn bench_run(c: &mut Criterion) {
    let mut group = c.benchmark_group("run");
    // Workloads take tens to hundreds of milliseconds per iteration: flat sampling runs the same
    // number of iterations per sample instead of a linearly growing count.
    group.sampling_mode(SamplingMode::Flat);
    // Enough for 10 iterations of the slowest workloads (~0.5 s each).
    group.measurement_time(Duration::from_secs(5));
    for w in load_all() {
        let module = compile(&w.source);
        let mut checked = false;
        group.bench_function(w.name.as_str(), |b| {
            // Only for benchmarks selected by the command-line filter, and only once.
            if !checked {
                let got = run_to_string(&w.source, &module);
                if let Some(expected) = &w.expected {
                    assert_eq!(&got, expected, "{} printed the wrong output", w.name);
                }
                checked = true;
            }
            b.iter(|| {
                let mut sink = std::io::sink();
                run(black_box(&module), &mut sink).expect("workload runs");
            })
        });
    }
    group.finish();
}

/// `compile/NAME`: the front end (parse, resolve, lower to IR) of each workload.
fn bench_compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    // Microseconds per iteration: a second gives tens of thousands of iterations.
    group.measurement_time(Duration::from_secs(1));
    for w in load_all() {
        group.bench_function(w.name.as_str(), |b| {
            b.iter(|| compile(black_box(&w.source)))
        });
    }
    group.finish();
}

/// `hello_world/end_to_end`: compile and run a one-line program, as `ruchy run` would in-process.
fn bench_hello(c: &mut Criterion) {
    let mut group = c.benchmark_group("hello_world");
    group.measurement_time(Duration::from_secs(1));
    group.bench_function("end_to_end", |b| {
        b.iter(|| hello_world(&mut std::io::sink()))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_run, bench_compile, bench_hello
}
criterion_main!(benches);

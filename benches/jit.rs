//! Tier 1 costs: how long Cranelift takes to compile the typed `is_prime` (target: at most
//! 0.3 ms median), and forced tier 1 against the interpreter on the call- and loop-heavy
//! workloads (run in-process, output discarded).

use criterion::{criterion_group, criterion_main, Criterion};
use ruchy_benches::{bench_dir, compile_text};
use ruchy_runtime::jit::Tiering;
use ruchy_runtime::{Config, Interpreter, JitConfig};

fn is_prime_compile_time(c: &mut Criterion) {
    let text = std::fs::read_to_string(bench_dir().join("primes.ruchy")).expect("primes.ruchy");
    let mut module = compile_text("primes.ruchy", &text);
    let f = module.func_by_name("is_prime").expect("is_prime");
    let (spec, _) = ruchy_passes::transforms::specialize::specialize_function(
        &mut module,
        f,
        &[ruchy_ir::Type::I64],
    );
    let spec = spec.expect("is_prime specializes");
    ruchy_passes::run_pipeline(&mut module, ruchy_runtime::jit::TIER1_PIPELINE).expect("pipeline");
    assert_eq!(module.funcs[spec].level, ruchy_ir::Level::Typed);
    let mut tiering = Tiering::new(JitConfig::default());
    c.bench_function("cranelift/compile/is_prime", |b| {
        b.iter(|| tiering.compile_and_free(&module, spec).expect("compiles"))
    });
}

fn tiers(c: &mut Criterion) {
    let mut group = c.benchmark_group("tiers");
    group.sample_size(10);
    // Long enough that tier 0 gets a few dozen runs too: on a shared 2-core machine a short
    // measurement is at the mercy of a neighbour's burst, and the ratio of the two tiers is
    // the figure that matters.
    group.measurement_time(std::time::Duration::from_secs(12));
    for name in ["fib", "primes", "mandel", "sieve"] {
        let text =
            std::fs::read_to_string(bench_dir().join(format!("{name}.ruchy"))).expect("workload");
        let module = compile_text(&format!("{name}.ruchy"), &text);
        for (tier, config) in [
            ("tier0", Config::tier0()),
            ("tier1", {
                let mut c = Config::default();
                c.jit.tier1_threshold = 0;
                c
            }),
        ] {
            group.bench_function(format!("{name}/{tier}"), |b| {
                b.iter(|| {
                    let mut sink = std::io::sink();
                    let mut interp = Interpreter::new(&module, config.clone(), &mut sink);
                    interp.run_main().expect("runs");
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, is_prime_compile_time, tiers);
criterion_main!(benches);

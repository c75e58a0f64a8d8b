//! How the pass pipeline scales: `-O2` on synthetic programs of about 1k, 10k and 100k IR
//! instructions and on one block of 1k and 10k statements (time should grow close to
//! linearly), and `-O2` on the largest conformance program.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ruchy_benches::{compile_text, repo_root, straight_line_program, synthetic_program};
use ruchy_passes::{Instrumentation, PassManager, Pipeline};

fn o2(module: &mut ruchy_ir::Module) {
    let p = Pipeline::parse_or_named("-O2").expect("O2 parses");
    let instr = Instrumentation {
        verify_each: false,
        ..Instrumentation::default()
    };
    let mut pm = PassManager::new(p, instr).expect("pipeline builds");
    pm.run(module, &mut std::io::sink()).expect("O2 runs");
}

fn pipeline_scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("O2");
    group.sample_size(10);
    for functions in [16usize, 160, 1600] {
        let module = compile_text("synthetic.ruchy", &synthetic_program(functions));
        let insts = module.inst_count();
        group.throughput(Throughput::Elements(insts as u64));
        group.bench_with_input(BenchmarkId::new("instructions", insts), &module, |b, m| {
            b.iter_batched(
                || m.clone(),
                |mut m| o2(&mut m),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    for statements in [1_000usize, 10_000] {
        let module = compile_text("straight.ruchy", &straight_line_program(statements));
        group.throughput(Throughput::Elements(module.inst_count() as u64));
        group.bench_with_input(
            BenchmarkId::new("one_block_statements", statements),
            &module,
            |b, m| {
                b.iter_batched(
                    || m.clone(),
                    |mut m| o2(&mut m),
                    criterion::BatchSize::LargeInput,
                )
            },
        );
    }
    group.finish();
}

fn largest_conformance_program(c: &mut Criterion) {
    let dir = repo_root().join("../shared/conformance");
    let mut largest = (0usize, String::new(), String::new());
    for e in std::fs::read_dir(&dir)
        .expect("conformance corpus")
        .flatten()
    {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "ruchy") {
            let text = std::fs::read_to_string(&p).expect("readable");
            let m = compile_text("x.ruchy", &text);
            if m.inst_count() > largest.0 {
                largest = (
                    m.inst_count(),
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    text,
                );
            }
        }
    }
    let module = compile_text(&largest.1, &largest.2);
    c.bench_function(&format!("O2/largest_conformance/{}", largest.1), |b| {
        b.iter_batched(
            || module.clone(),
            |mut m| o2(&mut m),
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, pipeline_scaling, largest_conformance_program);
criterion_main!(benches);

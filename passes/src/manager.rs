//! Runs a pipeline over a module, with the instrumentation compiler engineers debug with:
//! verification after each pass, IR dumps, timings, stats and bisection.

use crate::analysis::FunctionAnalyses;
use crate::pass::{FunctionCx, ModuleCx, Pass, Scope};
use crate::pipeline::Pipeline;
use crate::registry;
use crate::stats::PassStats;
use crate::PassOptions;
use ruchy_ir::{
    printer::print_module, verifier::render_errors, verify_module, FuncId, Function, Module,
};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What to report while running a pipeline.
#[derive(Clone, Debug)]
pub struct Instrumentation {
    /// Verify the module after every pass (on by default in debug builds and tests).
    pub verify_each: bool,
    pub print_ir_after_all: bool,
    /// Print the IR after passes with these names.
    pub print_ir_after: Vec<String>,
    /// Print the IR after a pass only when it changed something.
    pub print_ir_after_change: bool,
    /// Write the input and the IR after each pass to numbered files in this directory.
    pub ir_dump_dir: Option<PathBuf>,
    pub time_passes: bool,
    pub stats: bool,
    /// Run only the first N pass executions (one per module pass, one per function for function
    /// passes) and skip the rest, printing `BISECT:` lines, to find a miscompiling pass.
    pub opt_bisect_limit: Option<usize>,
}

impl Default for Instrumentation {
    fn default() -> Self {
        Instrumentation {
            verify_each: cfg!(debug_assertions),
            print_ir_after_all: false,
            print_ir_after: vec![],
            print_ir_after_change: false,
            ir_dump_dir: None,
            time_passes: false,
            stats: false,
            opt_bisect_limit: None,
        }
    }
}

/// What one run produced besides the transformed module.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Per pipeline entry: its text, time spent and counters.
    pub passes: Vec<PassRun>,
}

#[derive(Debug)]
pub struct PassRun {
    pub label: String,
    pub name: &'static str,
    pub time: Duration,
    pub changed: bool,
    pub stats: PassStats,
}

impl RunReport {
    /// The counters of every run of the pass named `name`, merged.
    pub fn stats_of(&self, name: &str) -> PassStats {
        let mut s = PassStats::default();
        for r in self.passes.iter().filter(|r| r.name == name) {
            s.merge(r.stats.clone());
        }
        s
    }

    /// The `--time-passes` table.
    pub fn timing_table(&self) -> String {
        let total: Duration = self.passes.iter().map(|p| p.time).sum();
        let total_ms = total.as_secs_f64() * 1e3;
        let mut out = String::new();
        out.push_str(
            "===-------------------------------------------------------------------------===\n",
        );
        out.push_str("                         Pass execution timing report\n");
        out.push_str(
            "===-------------------------------------------------------------------------===\n",
        );
        out.push_str(&format!("  Total execution time: {total_ms:.3} ms\n\n"));
        out.push_str("   Time (ms)    %   Pass\n");
        for p in &self.passes {
            let ms = p.time.as_secs_f64() * 1e3;
            let pct = if total_ms > 0.0 {
                100.0 * ms / total_ms
            } else {
                0.0
            };
            out.push_str(&format!("  {ms:10.3} {pct:5.1}%  {}\n", p.label));
        }
        out.push_str(&format!("  {total_ms:10.3} 100.0%  Total\n"));
        out
    }

    /// The `--stats` lines: `inline: 12 call sites inlined`.
    pub fn stats_lines(&self) -> String {
        let mut merged: Vec<(&'static str, PassStats)> = vec![];
        for p in &self.passes {
            match merged.iter_mut().find(|(n, _)| *n == p.name) {
                Some((_, s)) => s.merge(p.stats.clone()),
                None => merged.push((p.name, p.stats.clone())),
            }
        }
        let mut out = String::new();
        for (name, s) in merged {
            for (what, n) in &s.counters {
                out.push_str(&format!("{name}: {n} {what}\n"));
            }
            for r in &s.remarks {
                out.push_str(&format!("{name}: {r}\n"));
            }
        }
        out
    }
}

/// A pipeline ready to run.
pub struct PassManager {
    pipeline: Pipeline,
    passes: Vec<Box<dyn Pass>>,
    pub instrumentation: Instrumentation,
}

impl PassManager {
    pub fn new(pipeline: Pipeline, instrumentation: Instrumentation) -> Result<Self, String> {
        let mut passes = vec![];
        for e in &pipeline.entries {
            passes.push(registry::create(
                &e.name,
                &PassOptions::new(e.options.clone()),
            )?);
        }
        Ok(PassManager {
            pipeline,
            passes,
            instrumentation,
        })
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Runs every pass in order. Instrumentation output (dumps, bisect lines, timings, stats)
    /// goes to `log`. Fails when a pass fails or, with `verify_each`, when a pass leaves IR that
    /// does not verify.
    pub fn run(&mut self, module: &mut Module, log: &mut dyn Write) -> Result<RunReport, String> {
        let instr = self.instrumentation.clone();
        let mut report = RunReport::default();
        let mut analyses: HashMap<FuncId, FunctionAnalyses> = HashMap::new();
        let mut executions = 0usize;
        if let Some(dir) = &instr.ir_dump_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            write_file(dir.join("00-input.rir"), &print_module(module))?;
        }
        for (k, pass) in self.passes.iter_mut().enumerate() {
            let info = pass.info();
            let label = self.pipeline.entries[k].to_string();
            let mut stats = PassStats::default();
            let mut changed = false;
            let start = Instant::now();
            let mut bisect = |unit: &str, log: &mut dyn Write| -> bool {
                let Some(limit) = instr.opt_bisect_limit else {
                    return true;
                };
                executions += 1;
                let run = executions <= limit;
                let _ = writeln!(
                    log,
                    "BISECT: {} pass ({executions}) {} on {unit}",
                    if run { "running" } else { "NOT running" },
                    info.name
                );
                run
            };
            match info.scope {
                Scope::Module => {
                    if bisect("module", log) {
                        let mut cx = ModuleCx { stats: &mut stats };
                        changed = pass
                            .run_module(module, &mut cx)
                            .map_err(|e| format!("pass `{}` failed: {e}", info.name))?;
                        if changed {
                            analyses.clear();
                        }
                    }
                }
                Scope::Function => {
                    // Deopt targets are frozen: guards resume in them by position.
                    let ids: Vec<FuncId> = module
                        .funcs
                        .iter()
                        .filter(|(_, f)| !f.attrs.frozen)
                        .map(|(id, _)| id)
                        .collect();
                    for id in ids {
                        if !bisect(&format!("@{}", module.funcs[id].name), log) {
                            continue;
                        }
                        let stub = signature_stub(&module.funcs[id]);
                        let mut func = std::mem::replace(&mut module.funcs[id], stub);
                        let an = analyses.entry(id).or_default();
                        let mut cx = FunctionCx {
                            module,
                            func_id: id,
                            analyses: an,
                            stats: &mut stats,
                        };
                        let result = pass.run_function(&mut func, &mut cx);
                        module.funcs[id] = func;
                        let ch = result.map_err(|e| {
                            format!(
                                "pass `{}` failed on @{}: {e}",
                                info.name, module.funcs[id].name
                            )
                        })?;
                        if ch {
                            changed = true;
                            analyses.entry(id).or_default().invalidate();
                        }
                    }
                }
            }
            let time = start.elapsed();
            if instr.verify_each {
                if let Err(errs) = verify_module(module) {
                    return Err(format!(
                        "the IR does not verify after pass `{label}`:\n{}",
                        render_errors(module, &errs, None)
                    ));
                }
            }
            let wants_dump = instr.print_ir_after_all
                || instr.print_ir_after.iter().any(|n| n == info.name)
                || (instr.print_ir_after_change && changed);
            if wants_dump {
                let _ = writeln!(
                    log,
                    "// -----// IR Dump After {label}{} //----- //",
                    if changed { "" } else { " (no change)" }
                );
                let _ = write!(log, "{}", print_module(module));
            }
            if let Some(dir) = &instr.ir_dump_dir {
                write_file(
                    dir.join(format!("{:02}-{}.rir", k + 1, info.name)),
                    &print_module(module),
                )?;
            }
            report.passes.push(PassRun {
                label,
                name: info.name,
                time,
                changed,
                stats,
            });
        }
        if instr.time_passes {
            let _ = write!(log, "{}", report.timing_table());
        }
        if instr.stats {
            let _ = write!(log, "{}", report.stats_lines());
        }
        Ok(report)
    }
}

/// A body-less copy of a function's signature and attributes, left in the module while a
/// function pass works on the function itself.
fn signature_stub(f: &Function) -> Function {
    let mut stub = Function::new(f.name.clone(), f.params.clone(), f.ret, f.level);
    stub.attrs = f.attrs.clone();
    stub.loc = f.loc;
    stub
}

fn write_file(path: PathBuf, text: &str) -> Result<(), String> {
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Parses and runs a pipeline with default instrumentation (verification on in debug builds).
pub fn run_pipeline(module: &mut Module, pipeline: &str) -> Result<RunReport, String> {
    let p = Pipeline::parse_or_named(pipeline).map_err(|e| e.render(pipeline))?;
    let mut pm = PassManager::new(p, Instrumentation::default())?;
    pm.run(module, &mut std::io::sink())
}

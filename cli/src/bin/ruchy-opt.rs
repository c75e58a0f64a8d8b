//! `ruchy-opt`: the pass-pipeline tool. Reads IR text (`.rir`, or `-` for standard input) or
//! Ruchy source (`.ruchy`, lowered first), verifies it, runs a pipeline and prints the result.
//! With no passes it is a round-trip check of the text form.

use clap::{Parser, ValueEnum};
use ruchy::{compile_source, read_input, with_big_stack, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE};
use ruchy_frontend::SourceFile;
use ruchy_ir::parser::SourceMap;
use ruchy_ir::verifier::{verify_module, ErrorLocation, VerifierError};
use ruchy_ir::Module;
use ruchy_passes::{registry, Instrumentation, PassManager, Pipeline};
use std::io::Write;
use std::path::PathBuf;

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum Emit {
    /// IR text.
    Ir,
    /// The Cranelift IR of every typed function (dyn-level functions are never compiled).
    Clif,
    /// The machine code Cranelift generates for every typed function.
    Asm,
}

#[derive(Parser)]
#[command(
    name = "ruchy-opt",
    version,
    about = "Runs pass pipelines over Ruchy IR and prints the result"
)]
struct Cli {
    /// Input: `.rir` IR text or `.ruchy` source; `-` reads IR text from standard input.
    #[arg(required_unless_present = "list_passes")]
    input: Option<String>,
    /// The pipeline to run, e.g. `specialize,inline{threshold=40},sccp,dce`.
    #[arg(long, conflicts_with = "opt_level")]
    passes: Option<String>,
    /// A named pipeline: -O0, -O1 or -O2.
    #[arg(short = 'O', value_name = "LEVEL", value_parser = ["0", "1", "2"])]
    opt_level: Option<String>,
    /// Write the output here instead of standard output.
    #[arg(short = 'o', long = "output")]
    output: Option<String>,
    /// What to print.
    #[arg(long, value_enum, default_value = "ir")]
    emit: Emit,
    /// List the registered passes with their options and exit.
    #[arg(long)]
    list_passes: bool,
    /// Verify the IR after every pass (the default in debug builds).
    #[arg(long, overrides_with = "no_verify_each")]
    verify_each: bool,
    /// Do not verify after every pass.
    #[arg(long)]
    no_verify_each: bool,
    /// Print the IR after every pass (to standard error).
    #[arg(long)]
    print_ir_after_all: bool,
    /// Print the IR after each run of the named pass.
    #[arg(long, value_name = "PASS")]
    print_ir_after: Vec<String>,
    /// Print the IR after a pass only when the pass changed it.
    #[arg(long)]
    print_ir_after_change: bool,
    /// Write the input and the IR after each pass to numbered files in DIR.
    #[arg(long, value_name = "DIR")]
    ir_dump_dir: Option<PathBuf>,
    /// Print a table of the time spent in each pass.
    #[arg(long)]
    time_passes: bool,
    /// Print the passes' counters.
    #[arg(long)]
    stats: bool,
    /// Run only the first N pass executions, printing BISECT: lines.
    #[arg(long, value_name = "N")]
    opt_bisect_limit: Option<usize>,
}

fn main() {
    let cli = Cli::parse();
    let code = with_big_stack(move || run(cli));
    std::process::exit(code);
}

fn run(cli: Cli) -> i32 {
    if cli.list_passes {
        print!("{}", registry::describe_all());
        return EXIT_OK;
    }
    let input = cli.input.clone().unwrap_or_default();
    let pipeline_text = match (&cli.passes, &cli.opt_level) {
        (Some(p), _) => p.clone(),
        (None, Some(level)) => ruchy_passes::pipeline::named(&format!("O{level}"))
            .unwrap_or("")
            .to_string(),
        (None, None) => String::new(),
    };
    let pipeline = match Pipeline::parse_or_named(&pipeline_text) {
        Ok(p) => p,
        Err(e) => {
            eprint!("{}", e.render(&pipeline_text));
            return EXIT_USAGE;
        }
    };
    for name in &cli.print_ir_after {
        if let Err(e) = registry::lookup(name) {
            eprintln!("error: --print-ir-after: {e}");
            return EXIT_USAGE;
        }
    }
    let text = match read_input(&input) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let name = if input == "-" {
        "<stdin>".to_string()
    } else {
        input.clone()
    };
    let file = SourceFile::new(name, text);
    let (mut module, map) = if input.ends_with(".ruchy") {
        match compile_source(&file) {
            Ok(m) => (m, None),
            Err(rendered) => {
                eprint!("{rendered}");
                return EXIT_USAGE;
            }
        }
    } else {
        match ruchy_ir::parser::parse_module(&file.text) {
            Ok((m, map)) => (m, Some(map)),
            Err(e) => {
                eprint!("{}", file.render_at(e.line, e.col, 1, "error", &e.message));
                return EXIT_USAGE;
            }
        }
    };
    if let Err(errors) = verify_module(&module) {
        report_verifier_errors(&file, &module, map.as_ref(), &errors);
        return EXIT_RUNTIME;
    }
    let instrumentation = Instrumentation {
        verify_each: if cli.no_verify_each {
            false
        } else {
            cli.verify_each || Instrumentation::default().verify_each
        },
        print_ir_after_all: cli.print_ir_after_all,
        print_ir_after: cli.print_ir_after.clone(),
        print_ir_after_change: cli.print_ir_after_change,
        ir_dump_dir: cli.ir_dump_dir.clone(),
        time_passes: cli.time_passes,
        stats: cli.stats,
        opt_bisect_limit: cli.opt_bisect_limit,
    };
    let mut pm = match PassManager::new(pipeline, instrumentation) {
        Ok(pm) => pm,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let stderr = std::io::stderr();
    let mut log = stderr.lock();
    if let Err(e) = pm.run(&mut module, &mut log) {
        let _ = writeln!(log, "error: {e}");
        return EXIT_RUNTIME;
    }
    let printed = match cli.emit {
        Emit::Ir => ruchy_ir::printer::print_module(&module),
        Emit::Clif | Emit::Asm => {
            let form = if cli.emit == Emit::Asm {
                ruchy_runtime::jit::TextForm::Asm
            } else {
                ruchy_runtime::jit::TextForm::BackendIr
            };
            let mut tiering = ruchy_runtime::jit::Tiering::new(ruchy_runtime::JitConfig::default());
            let mut text = String::new();
            for (id, f) in module.funcs.iter() {
                if f.level == ruchy_ir::Level::Dyn {
                    continue;
                }
                text.push_str(&format!("; @{}\n", f.name));
                match tiering.emit_text(&module, id, form) {
                    Ok(t) => text.push_str(&t),
                    Err(e) => text.push_str(&format!("; not compiled: {e}\n")),
                }
                text.push('\n');
            }
            if text.is_empty() {
                text.push_str("; no typed functions (run `specialize` first, e.g. -O2)\n");
            }
            text
        }
    };
    match cli.output {
        Some(path) => {
            if let Err(e) = std::fs::write(&path, printed) {
                eprintln!("error: cannot write `{path}`: {e}");
                return EXIT_USAGE;
            }
        }
        None => print!("{printed}"),
    }
    EXIT_OK
}

fn report_verifier_errors(
    file: &SourceFile,
    module: &Module,
    map: Option<&SourceMap>,
    errors: &[VerifierError],
) {
    for e in errors {
        let pos = map.and_then(|map| match e.location {
            Some(ErrorLocation::Inst(i)) => map.inst(e.func, i),
            Some(ErrorLocation::Block(b)) => map.block(e.func, b),
            None => map.func(e.func),
        });
        let fname = module
            .funcs
            .get(e.func)
            .map(|f| f.name.as_str())
            .unwrap_or("?");
        let msg = format!("in @{fname}: {}", e.message);
        match pos {
            Some((line, col)) => eprint!("{}", file.render_at(line, col, 1, "error", &msg)),
            None => eprintln!("{}: error: {}", file.name, e.render(module, None)),
        }
    }
}

//! `ruchy`: runs Ruchy programs; with no command (or `ruchy repl`), an interactive REPL.

use clap::{Parser, Subcommand, ValueEnum};
use ruchy::{
    compile_source, read_input, render_runtime_error, with_big_stack, EXIT_OK, EXIT_RUNTIME,
    EXIT_USAGE,
};
use ruchy_frontend::SourceFile;
use ruchy_runtime::Config;
use std::io::Write;

#[derive(Parser)]
#[command(
    name = "ruchy",
    version,
    about = "Runs Ruchy programs through a tiered engine"
)]
struct Cli {
    /// With no command, `ruchy` starts the REPL.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a Ruchy program.
    Run(RunArgs),
    /// Start the interactive REPL (the default when no command is given).
    Repl,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum Tier {
    /// Interpret cold code, compile hot functions (the default).
    Auto,
    /// The interpreter only.
    #[value(name = "0")]
    Zero,
    /// Compile every function that can be compiled on its first call (Cranelift).
    #[value(name = "1")]
    One,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum Jit {
    /// The Cranelift quick JIT (tier 1).
    Cranelift,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum Emit {
    /// Print the module's IR text instead of running it.
    Ir,
    /// Print the Cranelift IR of every function tier 1 compiles while running.
    Clif,
    /// Print the machine code of every function tier 1 compiles while running.
    Asm,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The program (`-` for standard input).
    file: String,
    /// Which execution tier to use.
    #[arg(long, value_enum, default_value = "auto")]
    tier: Tier,
    /// Print an intermediate form instead of running.
    #[arg(long, value_enum)]
    emit: Option<Emit>,
    /// Run this pass pipeline on the IR before executing it (e.g. `sccp,dce`).
    #[arg(long, conflicts_with = "opt_level")]
    passes: Option<String>,
    /// Run a named pipeline (-O0, -O1, -O2) before executing.
    #[arg(short = 'O', value_name = "LEVEL", value_parser = ["0", "1", "2"])]
    opt_level: Option<String>,
    /// Deepest call nesting before a "stack overflow" error.
    #[arg(long, default_value_t = Config::default().max_depth)]
    max_depth: usize,
    /// The compiler behind tier 1.
    #[arg(long, value_enum, default_value = "cranelift")]
    jit: Jit,
    /// Calls of a function (with one argument type signature) before tier 1 compiles it.
    #[arg(long)]
    tier1_threshold: Option<u64>,
    /// Calls before the optimizing tier would take over (recorded; tier 2 is not built yet).
    #[arg(long)]
    tier2_threshold: Option<u64>,
    /// Compiled methods kept before the least recently used is evicted.
    #[arg(long)]
    max_cached_methods: Option<usize>,
    /// Argument type signatures compiled per function before it counts as megamorphic.
    #[arg(long)]
    max_specializations_per_function: Option<usize>,
    /// Back edges of a loop running in the interpreter before the rest of that call continues
    /// in compiled code (on-stack replacement); 0 never does it.
    #[arg(long)]
    backedge_threshold: Option<u64>,
    /// Write /tmp/perf-PID.map so `perf report` names compiled Ruchy functions.
    #[arg(long)]
    perf_map: bool,
    /// Print a table per function: calls, signatures, tier reached, compile time, cache hits,
    /// and why a hot function was not compiled.
    #[arg(long)]
    stats: bool,
}

fn main() {
    let cli = Cli::parse();
    let code = with_big_stack(move || match cli.command {
        Some(Command::Run(args)) => run(args),
        Some(Command::Repl) | None => repl(),
    });
    std::process::exit(code);
}

fn repl() -> i32 {
    // The REPL runs on the big-stack thread too.
    let mut config = Config {
        native_stack_bytes: ruchy_runtime::BIG_NATIVE_STACK,
        ..Config::default()
    };
    if let Ok(spec) = std::env::var("RUCHY_JIT") {
        if let Err(e) = config.jit.apply(&spec) {
            eprintln!("error: RUCHY_JIT: {e}");
            return EXIT_USAGE;
        }
    }
    ruchy::repl::run(config)
}

fn run(args: RunArgs) -> i32 {
    let text = match read_input(&args.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let name = if args.file == "-" {
        "<stdin>".to_string()
    } else {
        args.file.clone()
    };
    let file = SourceFile::new(name, text);
    let module = match compile_source(&file) {
        Ok(m) => m,
        Err(rendered) => {
            eprint!("{rendered}");
            return EXIT_USAGE;
        }
    };
    let mut module = module;
    let pipeline = match (&args.passes, &args.opt_level) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(level)) => {
            ruchy_passes::pipeline::named(&format!("O{level}")).map(str::to_string)
        }
        (None, None) => None,
    };
    if let Some(text) = pipeline {
        let pipeline = match ruchy_passes::Pipeline::parse_or_named(&text) {
            Ok(p) => p,
            Err(e) => {
                eprint!("{}", e.render(&text));
                return EXIT_USAGE;
            }
        };
        let result =
            ruchy_passes::PassManager::new(pipeline, ruchy_passes::Instrumentation::default())
                .and_then(|mut pm| pm.run(&mut module, &mut std::io::stderr()));
        if let Err(e) = result {
            eprintln!("error: {e}");
            return EXIT_RUNTIME;
        }
    }
    if args.emit == Some(Emit::Ir) {
        print!("{}", ruchy_ir::printer::print_module(&module));
        return EXIT_OK;
    }
    // `with_big_stack` gives this thread 256 MiB.
    let mut config = Config {
        max_depth: args.max_depth,
        native_stack_bytes: ruchy_runtime::BIG_NATIVE_STACK,
        ..Config::default()
    };
    if let Ok(spec) = std::env::var("RUCHY_JIT") {
        if let Err(e) = config.jit.apply(&spec) {
            eprintln!("error: RUCHY_JIT: {e}");
            return EXIT_USAGE;
        }
    }
    match args.tier {
        Tier::Zero => config.jit.enabled = false,
        Tier::One => config.jit.tier1_threshold = 0,
        Tier::Auto => {}
    }
    let Jit::Cranelift = args.jit;
    if let Some(n) = args.tier1_threshold {
        config.jit.tier1_threshold = n;
    }
    if let Some(n) = args.tier2_threshold {
        config.jit.tier2_threshold = n;
    }
    if let Some(n) = args.max_cached_methods {
        config.jit.max_cached_methods = n.max(1);
    }
    if let Some(n) = args.max_specializations_per_function {
        config.jit.max_specializations_per_function = n;
    }
    if let Some(n) = args.backedge_threshold {
        config.jit.backedge_threshold = n;
    }
    config.jit.perf_map = args.perf_map;
    config.measure_tiers = args.stats;
    let emit_code = match args.emit {
        Some(Emit::Clif) => Some(ruchy_runtime::jit::TextForm::BackendIr),
        Some(Emit::Asm) => Some(ruchy_runtime::jit::TextForm::Asm),
        _ => None,
    };
    let stats = args.stats;
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    let mut interp = ruchy_runtime::Interpreter::new(&module, config, &mut lock);
    let result = interp.run_main();
    interp.flush();
    if let Some(form) = emit_code {
        eprint!("{}", interp.compiled_text(form));
    }
    if stats {
        eprint!("{}", interp.stats_report());
    }
    drop(interp);
    match result {
        Ok(_) => EXIT_OK,
        Err(err) => {
            let _ = lock.flush();
            eprint!("{}", render_runtime_error(&file, &err));
            EXIT_RUNTIME
        }
    }
}

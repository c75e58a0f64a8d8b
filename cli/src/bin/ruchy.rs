//! `ruchy`: runs Ruchy programs.

use clap::{Parser, Subcommand, ValueEnum};
use ruchy::{
    compile_source, read_input, render_runtime_error, run_module, with_big_stack, EXIT_OK,
    EXIT_RUNTIME, EXIT_USAGE,
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a Ruchy program.
    Run(RunArgs),
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum Tier {
    /// Let the engine decide (currently: the interpreter).
    Auto,
    /// The interpreter only.
    #[value(name = "0")]
    Zero,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum Emit {
    /// Print the module's IR text instead of running it.
    Ir,
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
}

fn main() {
    let cli = Cli::parse();
    let code = with_big_stack(move || match cli.command {
        Command::Run(args) => run(args),
    });
    std::process::exit(code);
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
    let _ = args.tier;
    let config = Config {
        max_depth: args.max_depth,
    };
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    match run_module(&module, config, &mut lock) {
        Ok(()) => EXIT_OK,
        Err(err) => {
            let _ = lock.flush();
            eprint!("{}", render_runtime_error(&file, &err));
            EXIT_RUNTIME
        }
    }
}

//! `ruchy-opt`: reads IR text (`.rir`) or Ruchy source (`.ruchy`, lowered first), verifies it and
//! prints it back. With no passes this is a round-trip check of the text form.

use clap::Parser;
use ruchy::{compile_source, read_input, with_big_stack, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE};
use ruchy_frontend::SourceFile;
use ruchy_ir::verifier::{verify_module, ErrorLocation};

#[derive(Parser)]
#[command(
    name = "ruchy-opt",
    version,
    about = "Parses, verifies and prints Ruchy IR"
)]
struct Cli {
    /// Input: `.rir` IR text or `.ruchy` source; `-` reads IR text from standard input.
    input: String,
    /// Write the output here instead of standard output.
    #[arg(short = 'o', long = "output")]
    output: Option<String>,
}

fn main() {
    let cli = Cli::parse();
    let code = with_big_stack(move || run(cli));
    std::process::exit(code);
}

fn run(cli: Cli) -> i32 {
    let text = match read_input(&cli.input) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let name = if cli.input == "-" {
        "<stdin>".to_string()
    } else {
        cli.input.clone()
    };
    let file = SourceFile::new(name, text);
    let (module, map) = if cli.input.ends_with(".ruchy") {
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
        for e in &errors {
            let pos = map.as_ref().and_then(|map| match e.location {
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
                None => eprintln!("{}: error: {}", file.name, e.render(&module, None)),
            }
        }
        return EXIT_RUNTIME;
    }
    let printed = ruchy_ir::printer::print_module(&module);
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

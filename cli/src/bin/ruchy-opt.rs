fn main() { eprintln!("ruchy-opt: not built yet"); std::process::exit(2) }

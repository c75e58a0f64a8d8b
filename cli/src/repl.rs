//! The interactive REPL of `ruchy` (`ruchy` with no file, or `ruchy repl`).
//!
//! Each complete input is compiled as a module of its own: the input's text, then every function
//! definition seen so far, then the archived inputs still needed (see below), compiled with
//! [`ruchy_frontend::compile_repl`]. The module runs in a fresh interpreter with the default
//! tiering configuration, so hot functions are compiled while an input runs. State survives
//! from one input to the next in two ways:
//!
//! - definitions: the source text of each `fun`/`fn` by name (a redefinition replaces it);
//! - top-level variables: module globals named by the variables. Before an input runs, every
//!   variable of the session is set by name; afterwards the globals are read back.
//!
//! Function values (`let f = add`, closures) name a function by its id in the module that made
//! them. Before they enter a new module they are translated by function name. Names are stable:
//! top-level functions are named by their Ruchy name, and the lambdas and block-nested functions
//! of input `K` by the prefix `__repl_inK__` ([`ruchy_frontend::ReplEnv::prefix`]). While a
//! session variable still holds a closure of input `K`, the input's top-level code is compiled
//! into every later module as the never-called function `__repl_inK__` (an archived input), so
//! that its lambdas exist there with the same names and captures. Likewise, when a function is
//! redefined while a value still refers to it (or to one of its lambdas), the old definition is
//! kept, renamed `__repl_oldK_NAME`. Archives are dropped once no value refers to them.

use crate::render_runtime_error;
use ruchy_frontend::ast::StmtKind;
use ruchy_frontend::source::render_all;
use ruchy_frontend::{Diagnostic, ReplEnv, SourceFile};
use ruchy_ir::{EntityRef, FuncId, Module};
use ruchy_runtime::{format, Closure, Config, Interpreter, Value};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, IsTerminal, Write};
use std::rc::Rc;

/// The file name in error messages.
pub const REPL_NAME: &str = "<repl>";
pub const PROMPT: &str = "ruchy> ";
pub const CONTINUATION_PROMPT: &str = "....> ";
/// Names the session keeps for itself.
const RESERVED: &str = "__repl_";
/// Deepest nesting of values that function values are translated through.
const MAX_REMAP_DEPTH: usize = 100_000;

pub const HELP: &str = "\
Enter Ruchy statements, expressions and definitions. The value of an expression is printed.
Functions (`fun`/`fn`) and top-level `let` variables persist between inputs; defining a
function again replaces it. An input continues on the next line while a bracket is open or
the line ends with an operator.

Commands:
  :help       show this help
  :stats      per-function calls and tiers of the last input's run
  :quit, :q   leave the REPL (end of input, Ctrl-D, does too)
";

/// How an input went.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A syntax or compile error: nothing ran and the session is unchanged.
    CompileError,
    /// A runtime error: definitions were kept, variables are as the error left them.
    RuntimeError,
}

/// A function definition of the session.
struct Def {
    name: String,
    /// The source text from `fun` to the closing `}`.
    text: String,
    /// Byte range of the name in `text`.
    name_at: (usize, usize),
}

/// Source compiled into every module while some value refers to its functions.
struct Archive {
    /// The function's name: `__repl_inK__` (an input) or `__repl_oldK_NAME` (a definition).
    key: String,
    text: String,
    /// An archived input (compiled as top-level code), as opposed to a definition.
    script: bool,
}

/// The state of a REPL session.
pub struct Session {
    config: Config,
    defs: Vec<Def>,
    /// Top-level variables, in order of first definition.
    globals: Vec<(String, Value)>,
    archives: Vec<Archive>,
    /// Names of the functions of the module whose ids the function values in `globals` use.
    func_names: Vec<String>,
    inputs: u64,
    /// The tiering report of the last input that ran.
    last_stats: String,
}

impl Session {
    pub fn new(config: Config) -> Self {
        Session {
            config,
            defs: vec![],
            globals: vec![],
            archives: vec![],
            func_names: vec![],
            inputs: 0,
            last_stats: String::new(),
        }
    }

    /// Per-function calls, tiers and compile times of the last input that ran.
    pub fn stats(&self) -> &str {
        &self.last_stats
    }

    /// The session's variables and their values.
    pub fn globals(&self) -> &[(String, Value)] {
        &self.globals
    }

    /// Compiles and runs one complete input. Program output and the input's value go to `out`,
    /// errors to `err`.
    pub fn eval(&mut self, input: &str, out: &mut dyn Write, err: &mut dyn Write) -> Outcome {
        self.inputs += 1;
        let prefix = format!("{RESERVED}in{}__", self.inputs);
        let file = SourceFile::new(REPL_NAME, input);
        let program = match ruchy_frontend::parse(&file) {
            Ok(p) => p,
            Err(diags) => {
                let _ = write!(err, "{}", render_all(&file, &diags));
                return Outcome::CompileError;
            }
        };

        // The input's definitions and top-level variables.
        let mut new_defs: Vec<Def> = vec![];
        let mut fun_spans = vec![];
        let mut lets = vec![];
        for stmt in &program.stmts {
            match &stmt.kind {
                StmtKind::Fun(decl) => {
                    let (start, end) = (decl.span.start as usize, decl.span.end as usize);
                    let (ns, ne) = (decl.name.span.start as usize, decl.name.span.end as usize);
                    if let Some(text) = input.get(start..end) {
                        if start <= ns && ne <= end {
                            new_defs.push(Def {
                                name: decl.name.name.clone(),
                                text: text.to_string(),
                                name_at: (ns - start, ne - start),
                            });
                        }
                    }
                    fun_spans.push((stmt.span.start as usize, stmt.span.end as usize));
                    lets.push((decl.name.clone(), true));
                }
                StmtKind::Let { name, .. } => lets.push((name.clone(), false)),
                StmtKind::Expr { .. } => {}
            }
        }
        let diags = self.check_names(&lets);
        if !diags.is_empty() {
            let _ = write!(err, "{}", render_all(&file, &diags));
            return Outcome::CompileError;
        }

        // The module's source: the input first (so its line numbers are the user's), then the
        // definitions and archives.
        let redefined: HashSet<&str> = new_defs.iter().map(|d| d.name.as_str()).collect();
        let referenced = referenced_functions(&self.globals, &self.func_names);
        let mut renames: Vec<(String, String)> = vec![];
        let mut new_archives: Vec<Archive> = vec![];
        let mut src = String::with_capacity(input.len() + 1);
        src.push_str(input);
        src.push('\n');
        for def in &self.defs {
            if redefined.contains(def.name.as_str()) {
                if is_referenced(&referenced, &def.name) {
                    let key = format!("{RESERVED}old{}_{}", self.inputs, def.name);
                    let (a, b) = def.name_at;
                    let text = match (def.text.get(..a), def.text.get(b..)) {
                        (Some(head), Some(tail)) => format!("{head}{key}{tail}"),
                        _ => continue,
                    };
                    renames.push((def.name.clone(), key.clone()));
                    new_archives.push(Archive {
                        key,
                        text,
                        script: false,
                    });
                }
                continue;
            }
            src.push_str(&def.text);
            src.push('\n');
        }
        // Archives only ever compile as they did before; should one fail all the same (the
        // errors are all past the input), the input is compiled without them, and the values
        // that needed them become nil, rather than the session failing from then on.
        let mut keep_archives = true;
        let (combined, module) = loop {
            let mut text = src.clone();
            let old = self.archives.iter().filter(|_| keep_archives);
            for a in old.chain(&new_archives) {
                text.push_str(&a.text);
                text.push('\n');
            }
            let env = ReplEnv {
                globals: self.globals.iter().map(|(n, _)| n.clone()).collect(),
                prefix: prefix.clone(),
                scripts: self
                    .archives
                    .iter()
                    .filter(|a| a.script && keep_archives)
                    .map(|a| a.key.clone())
                    .collect(),
            };
            let combined = SourceFile::new(REPL_NAME, text);
            match ruchy_frontend::compile_repl(&combined, &env) {
                Ok(m) => break (combined, m),
                Err(diags) => {
                    let past_input = diags.iter().all(|d| d.span.start as usize > input.len());
                    if past_input && keep_archives && !self.archives.is_empty() {
                        keep_archives = false;
                        continue;
                    }
                    let _ = write!(err, "{}", render_all(&combined, &diags));
                    return Outcome::CompileError;
                }
            }
        };

        // Bring the variables into the new module's function ids, run, read them back.
        let values = if referenced.is_empty() {
            self.globals.clone()
        } else {
            let mut remap = Remap::new(&self.func_names, &renames, &module);
            self.globals
                .iter()
                .map(|(n, v)| (n.clone(), remap.value(v, 0)))
                .collect()
        };
        let mut interp = Interpreter::new(&module, self.config.clone(), out);
        for (name, v) in &values {
            interp.set_global_by_name(name, v.clone());
        }
        let result = interp.run_main();
        interp.flush();
        let snapshot = interp.globals_snapshot();
        self.last_stats = interp.stats_report();
        let func_names: Vec<String> = interp
            .module
            .funcs
            .values()
            .map(|f| f.name.clone())
            .collect();
        drop(interp);

        // Commit: variables, definitions, archives.
        let mut globals: Vec<(String, Value)> = Vec::with_capacity(snapshot.len());
        let mut seen: HashSet<String> = HashSet::new();
        let after: HashMap<&str, &Value> = snapshot.iter().map(|(n, v)| (n.as_str(), v)).collect();
        for (name, v) in values {
            let v = after.get(name.as_str()).map(|&v| v.clone()).unwrap_or(v);
            seen.insert(name.clone());
            globals.push((name, v));
        }
        for (name, v) in snapshot {
            if seen.insert(name.clone()) {
                globals.push((name, v));
            }
        }
        self.globals = globals;
        self.func_names = func_names;
        for def in new_defs {
            match self.defs.iter_mut().find(|d| d.name == def.name) {
                Some(old) => *old = def,
                None => self.defs.push(def),
            }
        }
        self.archives.extend(new_archives);
        let referenced = referenced_functions(&self.globals, &self.func_names);
        if is_referenced(&referenced, &prefix) {
            self.archives.push(Archive {
                text: archived_input(&prefix, input, &fun_spans),
                key: prefix,
                script: true,
            });
        }
        self.archives.retain(|a| is_referenced(&referenced, &a.key));

        match result {
            Ok(v) => {
                if !matches!(v, Value::Nil | Value::Undef) {
                    let mut text = String::new();
                    format::display(&v, &mut text);
                    text.push('\n');
                    let _ = out.write_all(text.as_bytes());
                }
                let _ = out.flush();
                Outcome::Ok
            }
            Err(e) => {
                let _ = out.flush();
                let _ = write!(err, "{}", render_runtime_error(&combined, &e));
                Outcome::RuntimeError
            }
        }
    }

    /// A name is a function or a variable of the session, never both; and names starting with
    /// `__repl_` belong to the session.
    fn check_names(&self, names: &[(ruchy_frontend::ast::Ident, bool)]) -> Vec<Diagnostic> {
        let mut diags = vec![];
        for (ident, is_fun) in names {
            let name = ident.name.as_str();
            let msg = if name.starts_with(RESERVED) {
                format!("names starting with `{RESERVED}` are reserved in the REPL")
            } else if *is_fun
                && (self.globals.iter().any(|(n, _)| n == name)
                    || names.iter().any(|(i, f)| !f && i.name == name))
            {
                format!("`{name}` is a variable of this session; a function cannot have its name")
            } else if !is_fun
                && (self.defs.iter().any(|d| d.name == name)
                    || names.iter().any(|(i, f)| *f && i.name == name))
            {
                format!("`{name}` is a function of this session; a variable cannot have its name")
            } else {
                continue;
            };
            diags.push(Diagnostic::new(msg, ident.span));
        }
        diags
    }
}

/// The text of an archived input: its top-level code (definitions blanked out, positions
/// kept) as the body of the function `name`.
fn archived_input(name: &str, input: &str, fun_spans: &[(usize, usize)]) -> String {
    let mut bytes = input.as_bytes().to_vec();
    for &(start, end) in fun_spans {
        for b in bytes.iter_mut().take(end).skip(start) {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    }
    let body = String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    format!("fun {name}() {{\n{body}\n}}")
}

/// The IR name of a function without the tiering runtime's specialization suffix (`f$i64`).
fn base_name(name: &str) -> &str {
    name.split('$').next().unwrap_or(name)
}

/// Whether `names` has `key` or a function nested in it (`key.lambda`, `key.argc1`, ...).
fn is_referenced(names: &HashSet<String>, key: &str) -> bool {
    names.contains(key)
        || names
            .iter()
            .any(|n| n.len() > key.len() && n.starts_with(key) && n[key.len()..].starts_with('.'))
}

/// The names of the functions that function values among `globals` refer to.
fn referenced_functions(globals: &[(String, Value)], func_names: &[String]) -> HashSet<String> {
    let mut names = HashSet::new();
    let mut seen: HashSet<usize> = HashSet::new();
    let mut stack: Vec<Value> = globals.iter().map(|(_, v)| v.clone()).collect();
    let name_of = |f: FuncId, names: &mut HashSet<String>| {
        if let Some(n) = func_names.get(f.index()) {
            names.insert(base_name(n).to_string());
        }
    };
    let heap = |v: &&Value| {
        matches!(
            v,
            Value::Func(_) | Value::Closure(_) | Value::Array(_) | Value::Tuple(_) | Value::Cell(_)
        )
    };
    while let Some(v) = stack.pop() {
        match &v {
            Value::Func(f) => name_of(*f, &mut names),
            Value::Closure(c) if seen.insert(Rc::as_ptr(c) as *const () as usize) => {
                name_of(c.func, &mut names);
                stack.extend(c.captures.iter().filter(heap).cloned());
            }
            Value::Array(a) if seen.insert(Rc::as_ptr(a) as *const () as usize) => {
                if let Ok(items) = a.try_borrow() {
                    stack.extend(items.iter().filter(heap).cloned());
                }
            }
            Value::Tuple(t) if seen.insert(Rc::as_ptr(t) as *const () as usize) => {
                stack.extend(t.iter().filter(heap).cloned());
            }
            Value::Cell(c) if seen.insert(Rc::as_ptr(c) as *const () as usize) => {
                if let Ok(x) = c.try_borrow() {
                    if heap(&&*x) {
                        stack.push(x.clone());
                    }
                }
            }
            _ => {}
        }
    }
    names
}

/// Translates the function values inside values from one module's ids to another's, by name.
/// Arrays and cells are updated in place (they may be shared); closures and tuples are rebuilt.
/// A function that the new module lacks becomes nil.
struct Remap<'a> {
    old_names: &'a [String],
    renames: &'a [(String, String)],
    module: &'a Module,
    ids: HashMap<FuncId, Option<FuncId>>,
    /// Arrays and cells already updated.
    seen: HashSet<usize>,
    /// Closures and tuples already rebuilt.
    rebuilt: HashMap<usize, Value>,
}

impl<'a> Remap<'a> {
    fn new(old_names: &'a [String], renames: &'a [(String, String)], module: &'a Module) -> Self {
        Remap {
            old_names,
            renames,
            module,
            ids: HashMap::new(),
            seen: HashSet::new(),
            rebuilt: HashMap::new(),
        }
    }

    /// The new id of old function `f`, if the new module has it with `ncap` captures.
    fn func(&mut self, f: FuncId, ncap: usize) -> Option<FuncId> {
        let id = match self.ids.get(&f) {
            Some(&id) => id,
            None => {
                let id = self.old_names.get(f.index()).and_then(|n| {
                    let n = base_name(n);
                    let renamed = self.renames.iter().find_map(|(from, to)| {
                        if n == from {
                            Some(to.clone())
                        } else {
                            n.strip_prefix(from.as_str())
                                .filter(|rest| rest.starts_with('.'))
                                .map(|rest| format!("{to}{rest}"))
                        }
                    });
                    self.module.func_by_name(renamed.as_deref().unwrap_or(n))
                });
                self.ids.insert(f, id);
                id
            }
        };
        id.filter(|&g| self.module.funcs[g].attrs.captures as usize == ncap)
    }

    fn value(&mut self, v: &Value, depth: usize) -> Value {
        if depth > MAX_REMAP_DEPTH {
            return Value::Nil;
        }
        match v {
            Value::Func(f) => match self.func(*f, 0) {
                Some(g) => Value::Func(g),
                None => Value::Nil,
            },
            Value::Closure(c) => {
                let key = Rc::as_ptr(c) as *const () as usize;
                if let Some(done) = self.rebuilt.get(&key) {
                    return done.clone();
                }
                let captures: Vec<Value> = c
                    .captures
                    .iter()
                    .map(|x| self.value(x, depth + 1))
                    .collect();
                let new = match self.func(c.func, c.captures.len()) {
                    Some(func) => Value::Closure(Rc::new(Closure { func, captures })),
                    None => Value::Nil,
                };
                self.rebuilt.insert(key, new.clone());
                new
            }
            Value::Tuple(t) => {
                let key = Rc::as_ptr(t) as *const () as usize;
                if let Some(done) = self.rebuilt.get(&key) {
                    return done.clone();
                }
                let items: Vec<Value> = t.iter().map(|x| self.value(x, depth + 1)).collect();
                let new = Value::Tuple(Rc::new(items));
                self.rebuilt.insert(key, new.clone());
                new
            }
            Value::Array(a) => {
                if self.seen.insert(Rc::as_ptr(a) as *const () as usize) {
                    let items: Vec<Value> = match a.try_borrow() {
                        Ok(items) => items.clone(),
                        Err(_) => return v.clone(),
                    };
                    let items: Vec<Value> =
                        items.iter().map(|x| self.value(x, depth + 1)).collect();
                    if let Ok(mut slot) = a.try_borrow_mut() {
                        *slot = items;
                    }
                }
                v.clone()
            }
            Value::Cell(c) => {
                if self.seen.insert(Rc::as_ptr(c) as *const () as usize) {
                    let x = match c.try_borrow() {
                        Ok(x) => x.clone(),
                        Err(_) => return v.clone(),
                    };
                    let x = self.value(&x, depth + 1);
                    if let Ok(mut slot) = c.try_borrow_mut() {
                        *slot = x;
                    }
                }
                v.clone()
            }
            _ => v.clone(),
        }
    }
}

/// Whether `text` is an unfinished input: a bracket, string or block comment is still open, or
/// the last line ends with a binary operator (or `,`, `.`, `else`, ...).
pub fn needs_more(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut depth: i64 = 0;
    let mut i = 0;
    // Code outside strings and comments, with each string as `""`.
    let mut code: Vec<u8> = Vec::with_capacity(bytes.len());
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' => {
                i += 1;
                let mut closed = false;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            closed = true;
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
                if !closed {
                    return true;
                }
                code.extend_from_slice(b"\"\"");
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut nest = 1;
                i += 2;
                while i < bytes.len() && nest > 0 {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        nest += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        nest -= 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
                if nest > 0 {
                    return true;
                }
                code.push(b' ');
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            _ => {}
        }
        code.push(b);
        i += 1;
    }
    if depth > 0 {
        return true;
    }
    let code = String::from_utf8_lossy(&code);
    let last = code.trim_end();
    if last.ends_with(|c: char| "+-*/%=<>|&^,.!".contains(c)) {
        return true;
    }
    let word = last
        .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .unwrap_or("");
    matches!(word, "else" | "as" | "in")
}

/// Where the REPL's lines come from.
enum Lines {
    /// A terminal: line editing and history.
    Editor(Box<rustyline::DefaultEditor>),
    /// A pipe or file (no prompts), or a terminal rustyline cannot drive (`prompts`).
    Plain {
        stdin: std::io::StdinLock<'static>,
        prompts: bool,
    },
}

enum Line {
    Text(String),
    /// Ctrl-C: drop the pending input.
    Interrupted,
    Eof,
}

impl Lines {
    fn open() -> Lines {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            if let Ok(mut ed) = rustyline::DefaultEditor::new() {
                if let Some(path) = history_path() {
                    let _ = ed.load_history(&path);
                }
                return Lines::Editor(Box::new(ed));
            }
            return Lines::Plain {
                stdin: stdin.lock(),
                prompts: true,
            };
        }
        Lines::Plain {
            stdin: stdin.lock(),
            prompts: false,
        }
    }

    fn read(&mut self, prompt: &str) -> Line {
        match self {
            Lines::Editor(ed) => match ed.readline(prompt) {
                Ok(line) => Line::Text(line),
                Err(rustyline::error::ReadlineError::Interrupted) => Line::Interrupted,
                Err(_) => Line::Eof,
            },
            Lines::Plain { stdin, prompts } => {
                if *prompts {
                    let mut out = std::io::stdout();
                    let _ = out.write_all(prompt.as_bytes());
                    let _ = out.flush();
                }
                let mut buf = vec![];
                match stdin.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => Line::Eof,
                    Ok(_) => {
                        if buf.last() == Some(&b'\n') {
                            buf.pop();
                            if buf.last() == Some(&b'\r') {
                                buf.pop();
                            }
                        }
                        Line::Text(String::from_utf8_lossy(&buf).into_owned())
                    }
                }
            }
        }
    }

    fn add_history(&mut self, entry: &str) {
        if let Lines::Editor(ed) = self {
            let _ = ed.add_history_entry(entry);
        }
    }

    fn save_history(&mut self) {
        if let Lines::Editor(ed) = self {
            if let Some(path) = history_path() {
                let _ = ed.save_history(&path);
            }
        }
    }

    fn interactive(&self) -> bool {
        !matches!(self, Lines::Plain { prompts: false, .. })
    }
}

/// `$HOME/.ruchy_history`, when `HOME` is set.
fn history_path() -> Option<std::path::PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(std::path::Path::new(&home).join(".ruchy_history"))
}

/// Runs the REPL on standard input until `:quit` or the end of input. Returns the exit code.
pub fn run(config: Config) -> i32 {
    let mut lines = Lines::open();
    let mut session = Session::new(config);
    if lines.interactive() {
        println!(
            "Ruchy {} REPL. Type :help for help, :quit to leave.",
            env!("CARGO_PKG_VERSION")
        );
    }
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() {
            PROMPT
        } else {
            CONTINUATION_PROMPT
        };
        let line = match lines.read(prompt) {
            Line::Text(line) => line,
            Line::Interrupted => {
                pending.clear();
                continue;
            }
            Line::Eof => {
                if !pending.trim().is_empty() {
                    let input = std::mem::take(&mut pending);
                    eval_to_std(&mut session, &input);
                }
                break;
            }
        };
        if pending.is_empty() {
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            if trimmed.starts_with(':') {
                lines.add_history(trimmed);
                match trimmed {
                    ":quit" | ":q" | ":exit" => break,
                    ":help" | ":h" | ":?" => print!("{HELP}"),
                    ":stats" => print!("{}", session.stats()),
                    other => eprintln!("unknown command `{other}` (try :help)"),
                }
                let _ = std::io::stdout().flush();
                continue;
            }
        }
        pending.push_str(&line);
        pending.push('\n');
        if needs_more(&pending) {
            continue;
        }
        let input = std::mem::take(&mut pending);
        lines.add_history(input.trim_end());
        eval_to_std(&mut session, &input);
    }
    lines.save_history();
    crate::EXIT_OK
}

fn eval_to_std(session: &mut Session, input: &str) -> Outcome {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut err = std::io::stderr();
    session.eval(input, &mut out, &mut err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation() {
        assert!(!needs_more("1 + 2\n"));
        assert!(needs_more("fun f(a) {\n"));
        assert!(!needs_more("fun f(a) {\n a }\n"));
        assert!(needs_more("let x = 1 +\n"));
        assert!(needs_more("foo(1,\n"));
        assert!(!needs_more("\"{\" + \"(\"\n"));
        assert!(needs_more("\"abc\n"));
        assert!(!needs_more("x // {\n"));
        assert!(!needs_more("x # (\n"));
        assert!(needs_more("/* {\n"));
        assert!(!needs_more("/* { */ 1\n"));
        assert!(needs_more("if x { 1 } else\n"));
        assert!(!needs_more("let inside = 1\n"));
        assert!(!needs_more("}\n"));
    }

    fn eval(s: &mut Session, input: &str) -> (Outcome, String, String) {
        let (mut out, mut err) = (vec![], vec![]);
        let o = s.eval(input, &mut out, &mut err);
        (
            o,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    #[test]
    fn closures_survive_inputs_and_redefinitions() {
        let mut s = Session::new(Config::default());
        assert_eq!(eval(&mut s, "let k = 10\n").0, Outcome::Ok);
        eval(
            &mut s,
            "let fs = []\nfor i in 0..3 { fs.push(|x| x + i + k) }\n",
        );
        eval(
            &mut s,
            "fun make(n) { |x| x * n }\nlet m = make(3)\nlet sq = |x| x * x\n",
        );
        eval(&mut s, "fun make(n) { |x| x - n }\n");
        let (o, out, err) = eval(&mut s, "[fs[0](1), fs[2](1), m(5), sq(4), make(1)(5)]\n");
        assert_eq!(o, Outcome::Ok, "{err}");
        assert_eq!(out, "[11, 13, 15, 16, 4]\n");
        // Archives go away when nothing refers to them.
        eval(&mut s, "fs = nil\nm = nil\nsq = nil\n");
        eval(&mut s, "1\n");
        assert!(s.archives.is_empty(), "{:?}", s.archives.len());
    }
}

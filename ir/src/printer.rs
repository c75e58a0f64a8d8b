//! The text form of the IR. [`crate::parser`] reads back exactly what this writes, so
//! `print(parse(text)) == text` for every printed text, and snapshot tests can compare text.
//!
//! ```text
//! module "fib.ruchy"
//! entry @__toplevel__
//! global @counter "counter"
//!
//! func @fib(any) -> any level(dyn) loc(2:1) {
//! ^bb0(%v0: any):
//!   %v1 = arith.const 2 : i64 loc(3:12)
//!   %v2 = dyn.cmp lt %v0, %v1 : bool loc(3:8)
//!   cf.cond_br %v2, ^bb1, ^bb2(%v0, %v1) loc(3:5)
//! ...
//! }
//! ```
//!
//! The printer never panics, even on IR the verifier would reject (dangling entities print as
//! `@"<invalid fn3>"`, `?`), so it can be used to show the offending instruction in diagnostics.

use crate::entities::{FuncId, GlobalId, Inst, Value};
use crate::function::Function;
use crate::instructions::{BlockCall, Const, Imm};
use crate::module::Module;
use std::fmt::{self, Write};

/// The whole module as text, ending with a single newline.
pub fn print_module(m: &Module) -> String {
    DisplayModule(m).to_string()
}

/// One function as text (`func ... {` to `}` and a newline). `m` gives the names of callees and
/// globals; `f` need not belong to `m`.
pub fn print_function(m: &Module, f: &Function) -> String {
    DisplayFunction { module: m, func: f }.to_string()
}

/// One instruction as it appears in a function body, without indentation or newline.
pub fn print_inst(m: &Module, f: &Function, inst: Inst) -> String {
    DisplayInst {
        module: m,
        func: f,
        inst,
    }
    .to_string()
}

/// `Display` adapter for a module.
pub struct DisplayModule<'a>(pub &'a Module);

/// `Display` adapter for a function of (or calling into) a module.
pub struct DisplayFunction<'a> {
    pub module: &'a Module,
    pub func: &'a Function,
}

/// `Display` adapter for one instruction.
pub struct DisplayInst<'a> {
    pub module: &'a Module,
    pub func: &'a Function,
    pub inst: Inst,
}

impl fmt::Display for DisplayModule<'_> {
    fn fmt(&self, w: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_module(w, self.0)
    }
}

impl fmt::Display for DisplayFunction<'_> {
    fn fmt(&self, w: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_function(w, self.module, self.func)
    }
}

impl fmt::Display for DisplayInst<'_> {
    fn fmt(&self, w: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_inst(w, self.module, self.func, self.inst)
    }
}

/// Writes a module: header lines, then a blank line before each function.
pub fn write_module(w: &mut dyn Write, m: &Module) -> fmt::Result {
    writeln!(w, "module {}", Quoted(&m.source))?;
    if let Some(e) = m.entry {
        writeln!(w, "entry {}", FuncName(m, e))?;
    }
    for g in m.globals.values() {
        writeln!(w, "global {} {}", Symbol(&g.name), Quoted(&g.source_name))?;
    }
    for f in m.funcs.values() {
        writeln!(w)?;
        write_function(w, m, f)?;
    }
    Ok(())
}

/// Writes a function: header with attributes, then its blocks in layout order.
pub fn write_function(w: &mut dyn Write, m: &Module, f: &Function) -> fmt::Result {
    write!(w, "func {}(", Symbol(&f.name))?;
    for (k, t) in f.params.iter().enumerate() {
        if k > 0 {
            w.write_str(", ")?;
        }
        write!(w, "{t}")?;
    }
    write!(w, ") -> {} level({})", f.ret, f.level)?;
    if let Some(hints) = &f.attrs.hints {
        w.write_str(" hints(")?;
        for (k, h) in hints.iter().enumerate() {
            if k > 0 {
                w.write_str(", ")?;
            }
            match h {
                Some(t) => write!(w, "{t}")?,
                None => w.write_str("_")?,
            }
        }
        w.write_str(")")?;
    }
    if f.attrs.captures > 0 {
        write!(w, " captures({})", f.attrs.captures)?;
    }
    if !f.attrs.defaults.is_empty() {
        w.write_str(" defaults(")?;
        for (k, &d) in f.attrs.defaults.iter().enumerate() {
            if k > 0 {
                w.write_str(", ")?;
            }
            write!(w, "{}", FuncName(m, d))?;
        }
        w.write_str(")")?;
    }
    if f.attrs.hidden {
        w.write_str(" hidden")?;
    }
    if f.attrs.frozen {
        w.write_str(" frozen")?;
    }
    if f.loc.is_known() {
        write!(w, " loc({})", f.loc)?;
    }
    w.write_str(" {\n")?;
    for &b in f.layout.blocks() {
        write!(w, "{b}")?;
        let params = f.dfg.blocks.get(b).map_or(&[][..], |d| &d.params[..]);
        if !params.is_empty() {
            w.write_str("(")?;
            for (k, &v) in params.iter().enumerate() {
                if k > 0 {
                    w.write_str(", ")?;
                }
                write!(w, "{v}: {}", ValueType(f, v))?;
            }
            w.write_str(")")?;
        }
        w.write_str(":\n")?;
        for &i in f.layout.block_insts(b) {
            w.write_str("  ")?;
            write_inst(w, m, f, i)?;
            w.write_str("\n")?;
        }
    }
    w.write_str("}\n")
}

/// Writes one instruction: `[%res = ]op[ imm][ operands][ dests][ : type][ loc(L:C)]`.
pub fn write_inst(w: &mut dyn Write, m: &Module, f: &Function, inst: Inst) -> fmt::Result {
    let Some(d) = f.dfg.insts.get(inst) else {
        return write!(w, "<invalid {inst}>");
    };
    if let Some(r) = d.result {
        write!(w, "{r} = ")?;
    }
    w.write_str(d.opcode.name())?;
    match &d.imm {
        Imm::None => {}
        Imm::Const(c) => write!(w, " {}", ConstLit(c))?,
        Imm::Cmp(p) => write!(w, " {}", p.name())?,
        Imm::Func(id) => write!(w, " {}", FuncName(m, *id))?,
        Imm::Global(g) => write!(w, " {}", GlobalName(m, *g))?,
        Imm::Builtin(b) => write!(w, " {}", b.name())?,
        Imm::Method(s) if is_bare_name(s) => write!(w, " {s}")?,
        Imm::Method(s) => write!(w, " {}", Quoted(s))?,
        Imm::Message(s) => write!(w, " {}", Quoted(s))?,
        Imm::Cases(cases) => {
            // `cf.switch %v [0: ^bb1, 7: ^bb2], ^bb3`
            for (k, a) in d.args.iter().enumerate() {
                write!(w, "{}{a}", if k == 0 { " " } else { ", " })?;
            }
            w.write_str(" [")?;
            for (k, c) in cases.iter().enumerate() {
                if k > 0 {
                    w.write_str(", ")?;
                }
                match d.dests.get(k) {
                    Some(dest) => write!(w, "{c}: {}", Dest(dest))?,
                    None => write!(w, "{c}: ^?")?,
                }
            }
            w.write_str("]")?;
            for dest in d.dests.iter().skip(cases.len()) {
                write!(w, ", {}", Dest(dest))?;
            }
            return write_tail(w, m, f, d);
        }
    }
    if d.opcode.call_like() {
        if matches!(d.imm, Imm::None) {
            // `dyn.call %callee(%a, %b)`: the first operand is the callee.
            w.write_str(" ")?;
            if let Some((callee, rest)) = d.args.split_first() {
                write!(w, "{callee}")?;
                write_paren_values(w, rest)?;
            } else {
                w.write_str("()")?;
            }
        } else {
            write_paren_values(w, &d.args)?;
        }
        for dest in &d.dests {
            write!(w, ", {}", Dest(dest))?;
        }
    } else {
        // Operands follow the op name or a keyword-like immediate after a space, and a
        // value-like immediate (`@g`, a literal, a message) after a comma.
        let first_sep = if matches!(d.imm, Imm::None | Imm::Cmp(_)) {
            " "
        } else {
            ", "
        };
        let mut first = true;
        let mut sep = || {
            if std::mem::take(&mut first) {
                first_sep
            } else {
                ", "
            }
        };
        for a in &d.args {
            write!(w, "{}{a}", sep())?;
        }
        for dest in &d.dests {
            write!(w, "{}{}", sep(), Dest(dest))?;
        }
    }
    write_tail(w, m, f, d)
}

/// `[ : type][ deopt(@f ^bbN I [%target = %local, ...])][ loc(L:C)]`
fn write_tail(w: &mut dyn Write, m: &Module, f: &Function, d: &crate::InstData) -> fmt::Result {
    if let Some(r) = d.result {
        write!(w, " : {}", ValueType(f, r))?;
    }
    if let Some(ds) = &d.deopt {
        write!(
            w,
            " deopt({} {} {} [",
            FuncName(m, ds.func),
            ds.block,
            ds.index
        )?;
        for (k, (target, local)) in ds.values.iter().enumerate() {
            if k > 0 {
                w.write_str(", ")?;
            }
            write!(w, "{target} = {local}")?;
        }
        w.write_str("])")?;
    }
    let loc = d.loc;
    if loc.is_known() {
        write!(w, " loc({loc})")?;
    }
    Ok(())
}

fn write_paren_values(w: &mut dyn Write, vals: &[Value]) -> fmt::Result {
    w.write_str("(")?;
    for (k, v) in vals.iter().enumerate() {
        if k > 0 {
            w.write_str(", ")?;
        }
        write!(w, "{v}")?;
    }
    w.write_str(")")
}

/// Whether a name can be printed without quotes: `[A-Za-z_][A-Za-z0-9_.$]*`.
pub fn is_bare_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$'))
}

/// Displays a function or global name with its sigil: `@fib`, or `@"odd name"` when the name is
/// not a bare identifier.
pub struct Symbol<'a>(pub &'a str);

impl fmt::Display for Symbol<'_> {
    fn fmt(&self, w: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_bare_name(self.0) {
            write!(w, "@{}", self.0)
        } else {
            write!(w, "@{}", Quoted(self.0))
        }
    }
}

/// Displays a string literal in quotes with the escapes the parser reads: `\\ \" \n \t \r` and
/// `\u{..}` for other control characters.
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, w: &mut fmt::Formatter<'_>) -> fmt::Result {
        w.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '\\' => w.write_str("\\\\")?,
                '"' => w.write_str("\\\"")?,
                '\n' => w.write_str("\\n")?,
                '\t' => w.write_str("\\t")?,
                '\r' => w.write_str("\\r")?,
                c if c.is_control() => write!(w, "\\u{{{:x}}}", c as u32)?,
                c => w.write_char(c)?,
            }
        }
        w.write_char('"')
    }
}

/// Displays a literal so that it parses back to the same constant; floats keep their exact bits.
pub struct ConstLit<'a>(pub &'a Const);

impl fmt::Display for ConstLit<'_> {
    fn fmt(&self, w: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Const::Int(i) => write!(w, "{i}"),
            Const::Float(x) => write!(w, "{}", FloatLit(*x)),
            Const::Bool(b) => write!(w, "{b}"),
            Const::Nil => w.write_str("nil"),
            Const::Str(s) => write!(w, "{}", Quoted(s)),
        }
    }
}

/// Displays an `f64` literal: Rust's shortest round-trip form, which always contains `.` or `e`
/// or is `inf`/`-inf`/`NaN`. A NaN other than the canonical one prints its bits, `NaN(0x...)`.
pub struct FloatLit(pub f64);

impl fmt::Display for FloatLit {
    fn fmt(&self, w: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = self.0;
        if x.is_nan() && x.to_bits() != f64::NAN.to_bits() {
            write!(w, "NaN(0x{:016x})", x.to_bits())
        } else {
            write!(w, "{x:?}")
        }
    }
}

/// A function's `@name` in module `m`, or `@"<invalid fnN>"` for a dangling id.
pub struct FuncName<'a>(pub &'a Module, pub FuncId);

impl fmt::Display for FuncName<'_> {
    fn fmt(&self, w: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.funcs.get(self.1) {
            Some(f) => write!(w, "{}", Symbol(&f.name)),
            None => write!(w, "@\"<invalid {}>\"", self.1),
        }
    }
}

/// A global's `@name` in module `m`, or `@"<invalid gN>"` for a dangling id.
pub struct GlobalName<'a>(pub &'a Module, pub GlobalId);

impl fmt::Display for GlobalName<'_> {
    fn fmt(&self, w: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.globals.get(self.1) {
            Some(g) => write!(w, "{}", Symbol(&g.name)),
            None => write!(w, "@\"<invalid {}>\"", self.1),
        }
    }
}

/// A branch destination: `^bb2` or `^bb2(%v1, %v3)`.
struct Dest<'a>(&'a BlockCall);

impl fmt::Display for Dest<'_> {
    fn fmt(&self, w: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(w, "{}", self.0.block)?;
        if !self.0.args.is_empty() {
            write_paren_values(w, &self.0.args)?;
        }
        Ok(())
    }
}

/// The type of a value, or `?` for a value that does not exist.
struct ValueType<'a>(&'a Function, Value);

impl fmt::Display for ValueType<'_> {
    fn fmt(&self, w: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.dfg.values.get(self.1) {
            Some(d) => write!(w, "{}", d.ty),
            None => w.write_str("?"),
        }
    }
}

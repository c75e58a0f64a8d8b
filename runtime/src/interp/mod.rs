//! Tier 0: an interpreter of the IR.
//!
//! Functions are decoded once into [`op::Op`]s (see [`decode`]). Each call gets a frame whose
//! registers live in one heap-allocated value stack (`Vec<Value>`), and calls and returns are
//! iterations of one loop, not Rust recursion: recursion depth is bounded by
//! [`Config::max_depth`], never by the native stack. Profiling (calls, argument type signatures,
//! back-edge counts) is always on and costs a counter increment per event.

pub mod decode;
pub mod op;

use crate::error::{RuntimeError, StackFrame};
use crate::format;
use crate::ops;
use crate::profile::Profile;
use crate::value::{Closure, Value};
use decode::FuncCode;
use op::*;
use ruchy_ir::{CmpPred, EntityRef, FuncId, Module, SrcLoc};
use smallvec::SmallVec;
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

/// Interpreter limits.
#[derive(Clone, Debug)]
pub struct Config {
    /// Deepest call nesting before the "stack overflow" error.
    pub max_depth: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_depth: 1_000_000,
        }
    }
}

/// A caller's frame, saved while its callee runs.
#[derive(Copy, Clone, Debug)]
struct Frame {
    func: FuncId,
    /// The op after the call.
    pc: u32,
    base: u32,
    /// The caller's register that receives the result.
    ret: Reg,
}

/// Output is buffered and written in large chunks (and before any error is reported).
const OUT_CHUNK: usize = 1 << 16;

/// The interpreter of one module.
pub struct Interpreter<'o> {
    funcs: Vec<FuncCode>,
    globals: Vec<Value>,
    global_names: Vec<String>,
    /// Registers of all frames. Its length is a high-water mark: frames above `top` hold only
    /// scalars (registers are cleared of heap values when their frame returns).
    stack: Vec<Value>,
    /// First free register.
    top: usize,
    frames: Vec<Frame>,
    out: &'o mut dyn Write,
    buf: String,
    config: Config,
    entry: Option<FuncId>,
    pub profile: Profile,
}

impl<'o> Interpreter<'o> {
    /// Decodes every function of `module`.
    pub fn new(module: &Module, config: Config, out: &'o mut dyn Write) -> Self {
        let mut next_counter = 0;
        let funcs: Vec<FuncCode> = module
            .funcs
            .values()
            .map(|f| decode::decode_function(module, f, &mut next_counter))
            .collect();
        let profile = Profile::new(funcs.len(), next_counter as usize);
        Interpreter {
            globals: vec![Value::Undef; module.globals.len()],
            global_names: module
                .globals
                .values()
                .map(|g| g.source_name.clone())
                .collect(),
            funcs,
            stack: Vec::with_capacity(1024),
            top: 0,
            frames: Vec::with_capacity(64),
            out,
            buf: String::with_capacity(OUT_CHUNK),
            config,
            entry: module.entry,
            profile,
        }
    }

    /// Runs the module's entry function.
    pub fn run_main(&mut self) -> Result<Value, RuntimeError> {
        let Some(entry) = self.entry else {
            return Ok(Value::Nil);
        };
        let r = self.call(entry, &[]);
        self.flush();
        r
    }

    /// Calls a function with arguments and runs it to completion.
    pub fn call(&mut self, func: FuncId, args: &[Value]) -> Result<Value, RuntimeError> {
        let depth = self.frames.len();
        let top = self.top;
        let r = self.execute(func, args);
        if r.is_err() {
            // Unwind: release what the abandoned frames held.
            self.frames.truncate(depth);
            let end = self.stack.len();
            clear_heap_values(&mut self.stack[top.min(end)..]);
        }
        self.top = top;
        r
    }

    /// Writes buffered output.
    pub fn flush(&mut self) {
        if !self.buf.is_empty() {
            let _ = self.out.write_all(self.buf.as_bytes());
            self.buf.clear();
        }
        let _ = self.out.flush();
    }

    /// The decoded function names, by id (for reports).
    pub fn function_name(&self, f: FuncId) -> &str {
        &self.funcs[f.index()].name
    }

    /// Back-edge counts of each loop header of `f`, in the order the headers were first reached
    /// by a back edge in the code.
    pub fn loop_counts(&self, f: FuncId) -> Vec<(ruchy_ir::Block, u64)> {
        self.funcs[f.index()]
            .loop_headers
            .iter()
            .map(|&(b, c)| (b, self.profile.backedges[c as usize]))
            .collect()
    }

    fn execute(&mut self, entry: FuncId, args: &[Value]) -> Result<Value, RuntimeError> {
        let Interpreter {
            funcs,
            globals,
            global_names,
            stack,
            top,
            frames,
            out,
            buf,
            config,
            profile,
            ..
        } = self;
        let funcs: &[FuncCode] = funcs;
        let base_depth = frames.len();
        let mut f = entry;
        let mut fc: &FuncCode = &funcs[f.index()];
        let mut base = *top;
        if stack.len() < base + fc.nregs as usize {
            stack.resize(base + fc.nregs as usize, Value::Nil);
        }
        for (i, a) in args.iter().enumerate().take(fc.nparams as usize) {
            stack[base + i] = a.clone();
        }
        profile.record_call(f, args);
        let mut pc: usize = 0;

        macro_rules! reg {
            ($r:expr) => {
                stack[base + $r as usize]
            };
        }
        macro_rules! fail {
            ($msg:expr) => {{
                let msg: String = $msg;
                return Err(make_error(funcs, frames, base_depth, f, pc - 1, msg));
            }};
        }
        macro_rules! check {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(m) => fail!(m),
                }
            };
        }
        macro_rules! int_of {
            ($r:expr) => {
                match reg!($r) {
                    Value::Int(x) => x,
                    ref other => fail!(format!(
                        "internal error: expected an integer, found {}",
                        other.type_name()
                    )),
                }
            };
        }
        macro_rules! float_of {
            ($r:expr) => {
                match reg!($r) {
                    Value::Float(x) => x,
                    Value::Int(x) => x as f64,
                    ref other => fail!(format!(
                        "internal error: expected a float, found {}",
                        other.type_name()
                    )),
                }
            };
        }
        macro_rules! collect_args {
            ($args:expr, $count:expr) => {{
                let mut v: SmallVec<[Value; 4]> = SmallVec::new();
                for i in 0..$count as usize {
                    v.push(reg!(fc.arg_regs[$args as usize + i]).clone());
                }
                v
            }};
        }
        // Enters `callee` with `argv` (already including captures); the result goes to `dst`.
        macro_rules! enter {
            ($callee:expr, $dst:expr, $fill:expr) => {{
                let callee: FuncId = $callee;
                if frames.len() - base_depth >= config.max_depth {
                    fail!("stack overflow".to_string());
                }
                let cc = &funcs[callee.index()];
                let new_base = base + fc.nregs as usize;
                if stack.len() < new_base + cc.nregs as usize {
                    stack.resize(new_base + cc.nregs as usize, Value::Nil);
                }
                $fill(&mut *stack, new_base, cc.nparams as usize);
                profile.record_call(callee, &stack[new_base..new_base + cc.nparams as usize]);
                frames.push(Frame {
                    func: f,
                    pc: pc as u32,
                    base: base as u32,
                    ret: $dst,
                });
                f = callee;
                fc = cc;
                base = new_base;
                pc = 0;
            }};
        }

        loop {
            let op = fc.code[pc];
            pc += 1;
            match op {
                Op::LoadInt { dst, value } => reg!(dst) = Value::Int(value),
                Op::LoadFloat { dst, value } => reg!(dst) = Value::Float(value),
                Op::LoadConst { dst, index } => reg!(dst) = fc.consts[index as usize].clone(),
                Op::Move { dst, src } => reg!(dst) = reg!(src).clone(),
                Op::Add { dst, a, b } => {
                    let v = match (&reg!(a), &reg!(b)) {
                        (Value::Int(x), Value::Int(y)) => match x.checked_add(*y) {
                            Some(z) => Value::Int(z),
                            None => fail!("Integer overflow in addition".into()),
                        },
                        (Value::Float(x), Value::Float(y)) => Value::Float(x + y),
                        (x, y) => check!(ops::add(x, y)),
                    };
                    reg!(dst) = v;
                }
                Op::AddTake { dst, a, b } => {
                    let left = std::mem::take(&mut reg!(a));
                    let v = check!(ops::add_owned(left, &reg!(b)));
                    reg!(dst) = v;
                }
                Op::Sub { dst, a, b } => {
                    let v = match (&reg!(a), &reg!(b)) {
                        (Value::Int(x), Value::Int(y)) => match x.checked_sub(*y) {
                            Some(z) => Value::Int(z),
                            None => fail!("Integer overflow in subtraction".into()),
                        },
                        (Value::Float(x), Value::Float(y)) => Value::Float(x - y),
                        (x, y) => check!(ops::sub(x, y)),
                    };
                    reg!(dst) = v;
                }
                Op::Mul { dst, a, b } => {
                    let v = match (&reg!(a), &reg!(b)) {
                        (Value::Int(x), Value::Int(y)) => match x.checked_mul(*y) {
                            Some(z) => Value::Int(z),
                            None => fail!("Integer overflow in multiplication".into()),
                        },
                        (Value::Float(x), Value::Float(y)) => Value::Float(x * y),
                        (x, y) => check!(ops::mul(x, y)),
                    };
                    reg!(dst) = v;
                }
                Op::Div { dst, a, b } => {
                    let v = match (&reg!(a), &reg!(b)) {
                        (Value::Float(x), Value::Float(y)) => Value::Float(x / y),
                        (x, y) => check!(ops::div(x, y)),
                    };
                    reg!(dst) = v;
                }
                Op::Rem { dst, a, b } => {
                    let v = match (&reg!(a), &reg!(b)) {
                        (Value::Int(x), Value::Int(y)) if *y > 0 => Value::Int(x % y),
                        (x, y) => check!(ops::rem(x, y)),
                    };
                    reg!(dst) = v;
                }
                Op::AddImm { dst, a, imm } => {
                    let v = match &reg!(a) {
                        Value::Int(x) => match x.checked_add(imm as i64) {
                            Some(z) => Value::Int(z),
                            None => fail!("Integer overflow in addition".into()),
                        },
                        x => check!(ops::add(x, &Value::Int(imm as i64))),
                    };
                    reg!(dst) = v;
                }
                Op::SubImm { dst, a, imm } => {
                    let v = match &reg!(a) {
                        Value::Int(x) => match x.checked_sub(imm as i64) {
                            Some(z) => Value::Int(z),
                            None => fail!("Integer overflow in subtraction".into()),
                        },
                        x => check!(ops::sub(x, &Value::Int(imm as i64))),
                    };
                    reg!(dst) = v;
                }
                Op::MulImm { dst, a, imm } => {
                    let v = match &reg!(a) {
                        Value::Int(x) => match x.checked_mul(imm as i64) {
                            Some(z) => Value::Int(z),
                            None => fail!("Integer overflow in multiplication".into()),
                        },
                        x => check!(ops::mul(x, &Value::Int(imm as i64))),
                    };
                    reg!(dst) = v;
                }
                Op::RemImm { dst, a, imm } => {
                    let v = match &reg!(a) {
                        Value::Int(x) if imm > 0 => Value::Int(x % imm as i64),
                        x => check!(ops::rem(x, &Value::Int(imm as i64))),
                    };
                    reg!(dst) = v;
                }
                Op::CmpImm { pred, dst, a, imm } => {
                    let r = match &reg!(a) {
                        Value::Int(x) => cmp_i(pred, *x, imm as i64),
                        x => check!(ops::compare(pred, x, &Value::Int(imm as i64))),
                    };
                    reg!(dst) = Value::Bool(r);
                }
                Op::DynBin { op, dst, a, b } => {
                    let (x, y) = (&reg!(a), &reg!(b));
                    let v = check!(match op {
                        DynBin::Pow => ops::pow(x, y),
                        DynBin::BitAnd => ops::bitand(x, y),
                        DynBin::BitOr => ops::bitor(x, y),
                        DynBin::BitXor => ops::bitxor(x, y),
                        DynBin::Shl => ops::shl(x, y),
                        DynBin::Shr => ops::shr(x, y),
                    });
                    reg!(dst) = v;
                }
                Op::DynUn { op, dst, src } => {
                    let x = &reg!(src);
                    let v = match op {
                        DynUn::Neg => check!(ops::neg(x)),
                        DynUn::Not => check!(ops::not(x)),
                        DynUn::BitNot => check!(ops::bitnot(x)),
                        DynUn::Truthy => Value::Bool(check!(ops::truthy(x))),
                        DynUn::Len => Value::Int(check!(ops::len(x))),
                        DynUn::ToStr => ops::to_string_value(x),
                        DynUn::CastInt => check!(ops::cast_to_int(x)),
                        DynUn::CastFloat => check!(ops::cast_to_float(x)),
                        DynUn::CellNew => Value::Cell(Rc::new(RefCell::new(x.clone()))),
                        DynUn::CellLoad => match x {
                            Value::Cell(c) => c.borrow().clone(),
                            other => fail!(format!(
                                "internal error: expected a cell, found {}",
                                other.type_name()
                            )),
                        },
                    };
                    reg!(dst) = v;
                }
                Op::Cmp { pred, dst, a, b } => {
                    let r = match (&reg!(a), &reg!(b)) {
                        (Value::Int(x), Value::Int(y)) => cmp_i(pred, *x, *y),
                        (Value::Float(x), Value::Float(y)) => cmp_f(pred, *x, *y),
                        (x, y) => check!(ops::compare(pred, x, y)),
                    };
                    reg!(dst) = Value::Bool(r);
                }
                Op::Int { op, dst, a, b } => {
                    let (x, y) = (int_of!(a), int_of!(b));
                    let v = match op {
                        IntBin::Add => match x.checked_add(y) {
                            Some(z) => z,
                            None => fail!("Integer overflow in addition".into()),
                        },
                        IntBin::Sub => match x.checked_sub(y) {
                            Some(z) => z,
                            None => fail!("Integer overflow in subtraction".into()),
                        },
                        IntBin::Mul => match x.checked_mul(y) {
                            Some(z) => z,
                            None => fail!("Integer overflow in multiplication".into()),
                        },
                        IntBin::Div => {
                            if y == 0 {
                                fail!("Division by zero".into());
                            }
                            match x.checked_div(y) {
                                Some(z) => z,
                                None => fail!("Integer overflow in division".into()),
                            }
                        }
                        IntBin::Rem => {
                            if y == 0 {
                                fail!("Division by zero".into());
                            }
                            x.wrapping_rem(y)
                        }
                        IntBin::AddWrap => x.wrapping_add(y),
                        IntBin::SubWrap => x.wrapping_sub(y),
                        IntBin::MulWrap => x.wrapping_mul(y),
                        IntBin::And => x & y,
                        IntBin::Or => x | y,
                        IntBin::Xor => x ^ y,
                        IntBin::Shl | IntBin::Shr => {
                            if !(0..64).contains(&y) {
                                fail!(format!("Shift amount {y} out of range"));
                            }
                            if op == IntBin::Shl {
                                x << y
                            } else {
                                x >> y
                            }
                        }
                    };
                    reg!(dst) = Value::Int(v);
                }
                Op::NegI { dst, src } => {
                    let x = int_of!(src);
                    match x.checked_neg() {
                        Some(z) => reg!(dst) = Value::Int(z),
                        None => fail!("Integer overflow in negation".into()),
                    }
                }
                Op::NotI { dst, src } => {
                    let x = int_of!(src);
                    reg!(dst) = Value::Int(!x);
                }
                Op::Float { op, dst, a, b } => {
                    let (x, y) = (float_of!(a), float_of!(b));
                    reg!(dst) = Value::Float(match op {
                        FloatBin::Add => x + y,
                        FloatBin::Sub => x - y,
                        FloatBin::Mul => x * y,
                        FloatBin::Div => x / y,
                        FloatBin::Rem => x % y,
                    });
                }
                Op::NegF { dst, src } => {
                    let x = float_of!(src);
                    reg!(dst) = Value::Float(-x);
                }
                Op::CmpI { pred, dst, a, b } => {
                    let (x, y) = (int_of!(a), int_of!(b));
                    reg!(dst) = Value::Bool(cmp_i(pred, x, y));
                }
                Op::CmpF { pred, dst, a, b } => {
                    let (x, y) = (float_of!(a), float_of!(b));
                    reg!(dst) = Value::Bool(cmp_f(pred, x, y));
                }
                Op::NotB { dst, src } => {
                    let v = check!(ops::not(&reg!(src)));
                    reg!(dst) = v;
                }
                Op::IToF { dst, src } => {
                    let x = int_of!(src);
                    reg!(dst) = Value::Float(x as f64);
                }
                Op::FToI { dst, src } => {
                    let x = float_of!(src);
                    reg!(dst) = Value::Int(x as i64);
                }
                Op::Jump { target } => pc = target as usize,
                Op::JumpBack { target, counter } => {
                    profile.backedges[counter as usize] += 1;
                    pc = target as usize;
                }
                Op::BrIf { cond, then, els } => {
                    pc = match reg!(cond) {
                        Value::Bool(true) => then as usize,
                        Value::Bool(false) => els as usize,
                        ref other => fail!(format!(
                            "Expected a boolean condition, found {}",
                            other.type_name()
                        )),
                    };
                }
                Op::BrCmp {
                    pred,
                    a,
                    b,
                    then,
                    els,
                } => {
                    let r = match (&reg!(a), &reg!(b)) {
                        (Value::Int(x), Value::Int(y)) => cmp_i(pred, *x, *y),
                        (Value::Float(x), Value::Float(y)) => cmp_f(pred, *x, *y),
                        (x, y) => check!(ops::compare(pred, x, y)),
                    };
                    pc = if r { then as usize } else { els as usize };
                }
                Op::BrCmpI {
                    pred,
                    a,
                    b,
                    then,
                    els,
                } => {
                    let (x, y) = (int_of!(a), int_of!(b));
                    pc = if cmp_i(pred, x, y) {
                        then as usize
                    } else {
                        els as usize
                    };
                }
                Op::BrCmpImm {
                    pred,
                    a,
                    imm,
                    then,
                    els,
                } => {
                    let r = match &reg!(a) {
                        Value::Int(x) => cmp_i(pred, *x, imm as i64),
                        x => check!(ops::compare(pred, x, &Value::Int(imm as i64))),
                    };
                    pc = if r { then as usize } else { els as usize };
                }
                Op::Switch { src, table } => {
                    let t = &fc.tables[table as usize];
                    let x = int_of!(src);
                    pc = t
                        .cases
                        .iter()
                        .find(|c| c.0 == x)
                        .map(|c| c.1)
                        .unwrap_or(t.default) as usize;
                }
                Op::Return { src } => {
                    let v = std::mem::take(&mut reg!(src));
                    clear_heap_values(&mut stack[base..base + fc.nregs as usize]);
                    if frames.len() == base_depth {
                        return Ok(v);
                    }
                    let Some(fr) = frames.pop() else { return Ok(v) };
                    f = fr.func;
                    fc = &funcs[f.index()];
                    pc = fr.pc as usize;
                    base = fr.base as usize;
                    reg!(fr.ret) = v;
                }
                Op::Trap { message } => fail!(fc.strings[message as usize].clone()),
                Op::Call {
                    dst,
                    func,
                    args,
                    count,
                } => {
                    let caller_base = base;
                    let arg_regs = &fc.arg_regs[args as usize..(args + count) as usize];
                    enter!(func, dst, |st: &mut Vec<Value>, nb: usize, np: usize| {
                        for (i, &r) in arg_regs.iter().enumerate().take(np) {
                            st[nb + i] = st[caller_base + r as usize].clone();
                        }
                    });
                }
                Op::CallDyn { dst, args, count } => {
                    let argv = collect_args!(args, count);
                    let (callee, captures): (FuncId, Option<Rc<Closure>>) = match &argv[0] {
                        Value::Func(id) => (*id, None),
                        Value::Closure(c) => (c.func, Some(c.clone())),
                        other => {
                            fail!(format!("Cannot call a value of type {}", other.type_name()))
                        }
                    };
                    let ncap = captures.as_ref().map_or(0, |c| c.captures.len());
                    let given = argv.len() - 1;
                    let target = check!(resolve_arity(funcs, callee, ncap, given));
                    enter!(target, dst, |st: &mut Vec<Value>, nb: usize, np: usize| {
                        let mut i = 0;
                        if let Some(c) = &captures {
                            for v in &c.captures {
                                if i < np {
                                    st[nb + i] = v.clone();
                                }
                                i += 1;
                            }
                        }
                        for v in argv.into_iter().skip(1) {
                            if i < np {
                                st[nb + i] = v;
                            }
                            i += 1;
                        }
                    });
                }
                Op::Closure {
                    dst,
                    func,
                    args,
                    count,
                } => {
                    let captures: Vec<Value> = collect_args!(args, count).into_vec();
                    reg!(dst) = Value::Closure(Rc::new(Closure { func, captures }));
                }
                Op::Builtin {
                    dst,
                    builtin,
                    args,
                    count,
                } => {
                    let argv = collect_args!(args, count);
                    let v = check!(ops::builtin(builtin, &argv));
                    reg!(dst) = v;
                }
                Op::Method {
                    dst,
                    name,
                    args,
                    count,
                } => {
                    let name = &fc.strings[name as usize];
                    let recv_reg = fc.arg_regs[args as usize];
                    if name == "push" && count == 2 {
                        if let Value::Array(arr) = &reg!(recv_reg) {
                            let v = reg!(fc.arg_regs[args as usize + 1]).clone();
                            let arr = arr.clone();
                            match arr.try_borrow_mut() {
                                Ok(mut a) => a.push(v),
                                Err(_) => fail!("Array is being modified".into()),
                            }
                            reg!(dst) = Value::Nil;
                            continue;
                        }
                    }
                    let argv = collect_args!(args, count);
                    let v = match ops::method(&argv[0], name, &argv[1..]) {
                        Some(r) => check!(r),
                        None => fail!(format!("no method `{}` on {}", name, argv[0].type_name())),
                    };
                    reg!(dst) = v;
                }
                Op::Print {
                    dst,
                    args,
                    count,
                    newline,
                } => {
                    let argv = collect_args!(args, count);
                    if newline {
                        format::format_println_args(&argv, buf);
                        buf.push('\n');
                    } else {
                        for (i, a) in argv.iter().enumerate() {
                            if i > 0 {
                                buf.push(' ');
                            }
                            format::display(a, buf);
                        }
                    }
                    if buf.len() >= OUT_CHUNK {
                        let _ = out.write_all(buf.as_bytes());
                        buf.clear();
                    }
                    reg!(dst) = Value::Nil;
                }
                Op::GlobalLoad { dst, global } => {
                    let v = &globals[global as usize];
                    if let Value::Undef = v {
                        fail!(format!(
                            "undefined variable {}",
                            global_names[global as usize]
                        ));
                    }
                    reg!(dst) = v.clone();
                }
                Op::GlobalStore { global, src } => globals[global as usize] = reg!(src).clone(),
                Op::CellStore { cell, src } => {
                    let v = reg!(src).clone();
                    match &reg!(cell) {
                        Value::Cell(c) => *c.borrow_mut() = v,
                        other => fail!(format!(
                            "internal error: expected a cell, found {}",
                            other.type_name()
                        )),
                    }
                }
                Op::Index {
                    dst,
                    base: b,
                    index,
                } => {
                    let v = match (&reg!(b), &reg!(index)) {
                        (Value::Array(arr), Value::Int(i)) => {
                            let arr = arr.borrow();
                            match usize::try_from(*i).ok().and_then(|i| arr.get(i)) {
                                Some(v) => v.clone(),
                                None => {
                                    drop(arr);
                                    check!(ops::index(&reg!(b), &reg!(index)))
                                }
                            }
                        }
                        (x, y) => check!(ops::index(x, y)),
                    };
                    reg!(dst) = v;
                }
                Op::SetIndex {
                    base: b,
                    index,
                    src,
                } => {
                    let v = reg!(src).clone();
                    if let (Value::Array(arr), Value::Int(i)) = (&reg!(b), &reg!(index)) {
                        if let Ok(mut a) = arr.try_borrow_mut() {
                            if let Some(slot) = usize::try_from(*i).ok().and_then(|i| a.get_mut(i))
                            {
                                *slot = v;
                                continue;
                            }
                        }
                    }
                    check!(ops::set_index(&reg!(b), &reg!(index), v));
                }
                Op::ArrayNew { dst, args, count } => {
                    let items = collect_args!(args, count).into_vec();
                    reg!(dst) = Value::array(items);
                }
                Op::TupleNew { dst, args, count } => {
                    let items = collect_args!(args, count).into_vec();
                    reg!(dst) = Value::Tuple(Rc::new(items));
                }
                Op::ArrayPush { array, src } => {
                    let v = reg!(src).clone();
                    match &reg!(array) {
                        Value::Array(arr) => match arr.try_borrow_mut() {
                            Ok(mut a) => a.push(v),
                            Err(_) => fail!("Array is being modified".into()),
                        },
                        other => fail!(format!(
                            "internal error: expected an array, found {}",
                            other.type_name()
                        )),
                    }
                }
                Op::MethodPush {
                    dst,
                    recv,
                    src,
                    name,
                } => {
                    let v = reg!(src).clone();
                    match &reg!(recv) {
                        Value::Array(arr) => match arr.try_borrow_mut() {
                            Ok(mut a) => a.push(v),
                            Err(_) => fail!("Array is being modified".into()),
                        },
                        other => {
                            let other = other.clone();
                            let r = ops::method(&other, &fc.strings[name as usize], &[v]);
                            let v = match r {
                                Some(r) => check!(r),
                                None => fail!(format!("no method `push` on {}", other.type_name())),
                            };
                            reg!(dst) = v;
                            continue;
                        }
                    }
                    reg!(dst) = Value::Nil;
                }
                Op::ArrayConcat { dst, a, b } => {
                    let v = check!(ops::add(&reg!(a), &reg!(b)));
                    reg!(dst) = v;
                }
                Op::StrConcat { dst, a, b } => {
                    let v = check!(ops::add(&reg!(a), &reg!(b)));
                    reg!(dst) = v;
                }
                Op::Guard {
                    dst,
                    src,
                    tag,
                    deopt,
                } => {
                    let v = &reg!(src);
                    if v.type_tag() == tag {
                        reg!(dst) = v.clone();
                        continue;
                    }
                    // Deoptimize: the frame continues in the function the guard names, at the
                    // guarded instruction, with the values live there.
                    let Some(site) = fc.deopts.get(deopt as usize) else {
                        fail!(format!(
                            "internal error: guard failed on a value of type {}",
                            v.type_name()
                        ));
                    };
                    let target = &funcs[site.func.index()];
                    let Some(&resume) = target.inst_pcs.get(&(site.block, site.index)) else {
                        fail!("internal error: deopt target has no resume point".to_string());
                    };
                    let moved: Vec<(Reg, Value)> = site
                        .values
                        .iter()
                        .filter_map(|&(tv, local)| {
                            target
                                .value_regs
                                .get(&tv)
                                .map(|&tr| (tr, reg!(local).clone()))
                        })
                        .collect();
                    clear_heap_values(&mut stack[base..base + fc.nregs as usize]);
                    if stack.len() < base + target.nregs as usize {
                        stack.resize(base + target.nregs as usize, Value::Nil);
                    }
                    for (r, v) in moved {
                        reg!(r) = v;
                    }
                    profile.deopts += 1;
                    f = site.func;
                    fc = target;
                    pc = resume as usize;
                }
            }
        }
    }
}

/// Drops the heap values of dead registers (so refcounts and memory are exact) and leaves
/// scalars, which need no dropping, where they are.
#[inline(always)]
fn clear_heap_values(regs: &mut [Value]) {
    for r in regs {
        if !matches!(
            r,
            Value::Nil
                | Value::Bool(_)
                | Value::Int(_)
                | Value::Float(_)
                | Value::Func(_)
                | Value::Undef
        ) {
            *r = Value::Nil;
        }
    }
}

#[inline(always)]
fn cmp_i(pred: CmpPred, x: i64, y: i64) -> bool {
    match pred {
        CmpPred::Eq => x == y,
        CmpPred::Ne => x != y,
        CmpPred::Lt => x < y,
        CmpPred::Le => x <= y,
        CmpPred::Gt => x > y,
        CmpPred::Ge => x >= y,
    }
}

#[inline(always)]
fn cmp_f(pred: CmpPred, x: f64, y: f64) -> bool {
    match pred {
        CmpPred::Eq => x == y,
        CmpPred::Ne => x != y,
        CmpPred::Lt => x < y,
        CmpPred::Le => x <= y,
        CmpPred::Gt => x > y,
        CmpPred::Ge => x >= y,
    }
}

/// Picks the function to enter for a dynamic call of `callee` with `ncap` captures and `given`
/// arguments: the function itself, or one of its default-parameter adapters.
fn resolve_arity(
    funcs: &[FuncCode],
    callee: FuncId,
    ncap: usize,
    given: usize,
) -> Result<FuncId, String> {
    let fc = &funcs[callee.index()];
    let total = ncap + given;
    if total == fc.nparams as usize {
        return Ok(callee);
    }
    let nparams = fc.nparams as usize;
    let first = nparams - fc.defaults.len();
    if total >= first && total < nparams {
        return Ok(fc.defaults[total - first]);
    }
    let expected = nparams - ncap;
    let plural = if expected == 1 { "" } else { "s" };
    let name = display_name(&fc.name);
    Err(format!(
        "function {name} takes {expected} argument{plural} but {given} were given"
    ))
}

/// How a function is named in call stacks: its Ruchy name, without the IR's qualifications
/// (`outer.helper` → `helper`, `fib$i64` → `fib`).
fn display_name(name: &str) -> String {
    let base = name.split('$').next().unwrap_or(name);
    if base == "__toplevel__" {
        "<toplevel>".to_string()
    } else if base.contains(".lambda") || base.starts_with("lambda") {
        "<lambda>".to_string()
    } else {
        base.rsplit('.').next().unwrap_or(base).to_string()
    }
}

/// Builds a runtime error at op `pc` of function `f`, with the call stack from the saved frames.
fn make_error(
    funcs: &[FuncCode],
    frames: &[Frame],
    base_depth: usize,
    f: FuncId,
    pc: usize,
    message: String,
) -> RuntimeError {
    let mut stack = vec![];
    let fc = &funcs[f.index()];
    let push = |stack: &mut Vec<StackFrame>, fc: &FuncCode, pc: usize| {
        if !fc.hidden {
            stack.push(StackFrame {
                function: display_name(&fc.name),
                loc: fc.locs.get(pc).copied().unwrap_or(SrcLoc::UNKNOWN),
            });
        }
    };
    push(&mut stack, fc, pc);
    for fr in frames[..].iter().rev() {
        let fc = &funcs[fr.func.index()];
        push(&mut stack, fc, (fr.pc as usize).saturating_sub(1));
    }
    let _ = base_depth;
    let loc = stack.first().map(|s| s.loc).unwrap_or(SrcLoc::UNKNOWN);
    RuntimeError {
        message,
        loc,
        stack,
    }
}

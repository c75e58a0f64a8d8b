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
use crate::jit::{Decision, FuncShape, JitConfig, JitContext, Tiering};
use crate::ops;
use crate::profile::Profile;
use crate::value::{Closure, Value};
use decode::FuncCode;
use op::*;
use ruchy_backends::BoxedEntry;
use ruchy_ir::{EntityRef, FuncId, Module, SrcLoc};
use smallvec::SmallVec;
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

/// Interpreter limits.
#[derive(Clone, Debug)]
pub struct Config {
    /// Deepest call nesting before the "stack overflow" error.
    pub max_depth: usize,
    /// Deepest nesting of compiled calls.
    pub max_native_depth: usize,
    /// Native stack compiled code may use below the point where it is first entered; the
    /// thread running the interpreter must have at least this much. Past it, compiled code
    /// raises "stack overflow". The default suits any thread; `ruchy` runs on a 256 MiB thread
    /// and allows [`BIG_NATIVE_STACK`].
    pub native_stack_bytes: usize,
    /// When and what to compile; `jit.enabled = false` is `--tier=0`.
    pub jit: JitConfig,
    /// Measure the time spent per tier (for `--stats`).
    pub measure_tiers: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_depth: 1_000_000,
            max_native_depth: 1_000_000,
            native_stack_bytes: 1 << 20,
            jit: JitConfig::default(),
            measure_tiers: false,
        }
    }
}

/// The compiled-code stack budget for threads with a 256 MiB stack (the `ruchy` binary's).
pub const BIG_NATIVE_STACK: usize = 192 << 20;

impl Config {
    /// The interpreter only.
    pub fn tier0() -> Self {
        Config {
            jit: JitConfig {
                enabled: false,
                ..JitConfig::default()
            },
            ..Config::default()
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
    /// The IR, grown with the specializations the tiering runtime makes.
    pub module: Module,
    pub tiering: Tiering,
    jit_ctx: Box<JitContext>,
    /// An error raised in compiled code: message and frames so far (innermost first).
    pending: Option<(String, Vec<StackFrame>)>,
    next_counter: u32,
}

/// Where a segment of interpretation is: the current function, instruction and frame base,
/// and the frame depth the segment started at.
#[derive(Copy, Clone, Debug)]
struct ExecState {
    f: FuncId,
    pc: usize,
    base: usize,
    base_depth: usize,
}

/// Why a segment of interpretation stopped.
enum Yield {
    Return(Value),
    /// A call that compiled code runs (or that must be compiled first): the interpreter's
    /// borrows are released while it runs.
    Call {
        callee: FuncId,
        dst: Reg,
        args: SmallVec<[Value; 4]>,
        sig: crate::profile::TypeSig,
        native: Option<BoxedEntry>,
    },
    /// The loop at `header` of the current frame got hot: the frame may continue in compiled
    /// code (on-stack replacement). The state is at the header, ready to resume interpreted.
    Osr {
        header: ruchy_ir::Block,
    },
}

impl<'o> Interpreter<'o> {
    /// Decodes every function of `module`.
    pub fn new(module: &Module, config: Config, out: &'o mut dyn Write) -> Self {
        let mut next_counter = 0;
        let funcs: Vec<FuncCode> = module
            .funcs
            .values()
            .map(|f| decode::decode_function(f, &mut next_counter))
            .collect();
        let profile = Profile::new(funcs.len(), next_counter as usize);
        let tiering = Tiering::new(config.jit.clone());
        let jit_ctx = Box::new(JitContext {
            depth: 0,
            max_depth: config.max_native_depth as u64,
            error: 0,
            interp: std::ptr::null_mut(),
            stack_limit: 0,
        });
        Interpreter {
            module: module.clone(),
            tiering,
            jit_ctx,
            pending: None,
            next_counter,
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
        let start = std::time::Instant::now();
        let r = self.call(entry, &[]);
        self.profile.run_time += start.elapsed();
        self.flush();
        r
    }

    /// Calls a function with arguments and runs it to completion.
    pub fn call(&mut self, func: FuncId, args: &[Value]) -> Result<Value, RuntimeError> {
        if self.tiering.enabled() {
            let sig = Profile::signature(args);
            let calls = self.profile.calls.get(func.index()).copied().unwrap_or(0) + 1;
            let shape = self.funcs[func.index()].shape();
            let native = self.native_entry(func, sig, calls, shape);
            if let Some(entry) = native {
                self.profile.record_call(func, args);
                let top = self.top;
                let r = self.run_native(entry, args).map_err(|(m, frames)| {
                    let loc = frames.first().map(|f| f.loc).unwrap_or(SrcLoc::UNKNOWN);
                    RuntimeError {
                        message: m,
                        loc,
                        stack: frames,
                    }
                });
                self.top = top;
                return r;
            }
        }
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
        let base = self.top;
        let fc = &self.funcs[entry.index()];
        let n = fc.nregs as usize;
        let np = fc.nparams as usize;
        if self.stack.len() < base + n {
            self.stack.resize(base + n, Value::Nil);
        }
        for (i, a) in args.iter().enumerate().take(np) {
            self.stack[base + i] = a.clone();
        }
        self.profile.record_call(entry, args);
        let st = ExecState {
            f: entry,
            pc: 0,
            base,
            base_depth: self.frames.len(),
        };
        self.run_state(st)
    }

    /// Interprets from `st` until the frame it starts in returns, handing calls to compiled
    /// code in between.
    fn run_state(&mut self, mut st: ExecState) -> Result<Value, RuntimeError> {
        loop {
            match self.segment(&mut st)? {
                Yield::Return(v) => return Ok(v),
                Yield::Osr { header } => {
                    if let Some(r) = self.enter_osr(&mut st, header) {
                        // The frame is done: return its result as `cf.return` would.
                        let v = r?;
                        let n = self.funcs[st.f.index()].nregs as usize;
                        let end = (st.base + n).min(self.stack.len());
                        clear_heap_values(&mut self.stack[st.base.min(end)..end]);
                        if self.frames.len() == st.base_depth {
                            return Ok(v);
                        }
                        let Some(fr) = self.frames.pop() else {
                            return Ok(v);
                        };
                        st = ExecState {
                            f: fr.func,
                            pc: fr.pc as usize,
                            base: fr.base as usize,
                            base_depth: st.base_depth,
                        };
                        self.stack[st.base + fr.ret as usize] = v;
                    }
                }
                Yield::Call {
                    callee,
                    dst,
                    args,
                    sig,
                    native,
                } => {
                    let native = match native {
                        Some(e) => Some(e),
                        None => self.tier_up(callee, sig),
                    };
                    let caller_regs = self.funcs[st.f.index()].nregs as usize;
                    match native {
                        Some(entry) => {
                            self.profile.record_call(callee, &args);
                            let saved_top = self.top;
                            self.top = st.base + caller_regs;
                            let r = self.run_native(entry, &args);
                            self.top = saved_top;
                            match r {
                                Ok(v) => self.stack[st.base + dst as usize] = v,
                                Err((message, mut frames)) => {
                                    let own = make_error(
                                        &self.funcs,
                                        &self.frames,
                                        st.base_depth,
                                        st.f,
                                        st.pc - 1,
                                        String::new(),
                                    );
                                    frames.extend(own.stack);
                                    let loc =
                                        frames.first().map(|f| f.loc).unwrap_or(SrcLoc::UNKNOWN);
                                    return Err(RuntimeError {
                                        message,
                                        loc,
                                        stack: frames,
                                    });
                                }
                            }
                        }
                        None => {
                            // Stay interpreted: enter the callee as the segment would have.
                            if self.frames.len() - st.base_depth >= self.config.max_depth {
                                return Err(make_error(
                                    &self.funcs,
                                    &self.frames,
                                    st.base_depth,
                                    st.f,
                                    st.pc - 1,
                                    "stack overflow".into(),
                                ));
                            }
                            let new_base = st.base + caller_regs;
                            let cc = &self.funcs[callee.index()];
                            let (n, np) = (cc.nregs as usize, cc.nparams as usize);
                            if self.stack.len() < new_base + n {
                                self.stack.resize(new_base + n, Value::Nil);
                            }
                            for (i, a) in args.iter().enumerate().take(np) {
                                self.stack[new_base + i] = a.clone();
                            }
                            self.profile.record_call(callee, &args);
                            self.frames.push(Frame {
                                func: st.f,
                                pc: st.pc as u32,
                                base: st.base as u32,
                                ret: dst,
                            });
                            st = ExecState {
                                f: callee,
                                pc: 0,
                                base: new_base,
                                base_depth: st.base_depth,
                            };
                        }
                    }
                }
            }
        }
    }

    /// On-stack replacement of the frame at `st`, whose loop at `header` is hot: runs the rest
    /// of the call in the compiled OSR variant of its function. `None` when that cannot be done
    /// (the frame then goes on interpreted); otherwise the frame's result.
    fn enter_osr(
        &mut self,
        st: &mut ExecState,
        header: ruchy_ir::Block,
    ) -> Option<Result<Value, RuntimeError>> {
        let variant = self.tiering.osr_variant(&mut self.module, st.f, header)?;
        self.decode_new_functions();
        let fc = &self.funcs[st.f.index()];
        let mut values = Vec::with_capacity(variant.inputs.len());
        for v in &variant.inputs {
            let r = *fc.value_regs.get(v)?;
            values.push(self.stack.get(st.base + r as usize)?.clone());
        }
        let caller_regs = fc.nregs as usize;
        let sig = Profile::signature(&values);
        // A loop got hot: compile whatever the variant's size. With its call count past every
        // threshold the dispatch does not look at the shape (the variant may not even be
        // decoded yet).
        let shape = FuncShape {
            has_loops: true,
            ops: 0,
        };
        let entry = self.native_entry(variant.func, sig, u64::MAX, shape)?;
        self.tiering.osr_entries += 1;
        self.profile.record_call(variant.func, &values);
        let saved_top = self.top;
        self.top = st.base + caller_regs;
        let r = self.run_native(entry, &values);
        self.top = saved_top;
        Some(r.map_err(|(message, mut frames)| {
            // The variant's own frames stand for this frame; the interpreted callers follow.
            let callers = make_error(
                &self.funcs,
                &self.frames,
                st.base_depth,
                st.f,
                st.pc,
                String::new(),
            );
            let own = usize::from(!self.funcs[st.f.index()].hidden);
            frames.extend(callers.stack.into_iter().skip(own));
            let loc = frames.first().map(|f| f.loc).unwrap_or(SrcLoc::UNKNOWN);
            RuntimeError {
                message,
                loc,
                stack: frames,
            }
        }))
    }

    /// Runs compiled code through its boxed entry. On an error, returns the message and the
    /// frames recorded so far.
    fn run_native(
        &mut self,
        entry: BoxedEntry,
        args: &[Value],
    ) -> Result<Value, (String, Vec<StackFrame>)> {
        let out_marker = 0u8;
        self.jit_ctx.interp = self as *mut Interpreter<'o> as *mut ();
        if self.jit_ctx.depth == 0 {
            // The outermost entry into compiled code fixes how deep its stack may grow.
            let here = &out_marker as *const u8 as u64;
            self.jit_ctx.stack_limit = here.saturating_sub(self.config.native_stack_bytes as u64);
        }
        let timed = self.config.measure_tiers && self.jit_ctx.depth == 0;
        let start = timed.then(std::time::Instant::now);
        self.jit_ctx.depth += 1;
        let ctx: *mut JitContext = &mut *self.jit_ctx;
        let mut out = Value::Nil;
        // SAFETY: `entry` is the boxed entry of code the Cranelift backend compiled for this
        // interpreter: a trampoline `extern "C" fn(ctx, args, out, target) -> i8` of the shape of
        // `target`'s typed entry; `args` holds as many values as the function has parameters
        // (the method cache is keyed by the argument signature, arity included), and `ctx`
        // stays valid during the call. Nothing else uses `self` until the call returns, except
        // the helpers through `ctx.interp`.
        let status = unsafe {
            let f: extern "C" fn(*mut JitContext, *const Value, *mut Value, *const u8) -> i8 =
                std::mem::transmute(entry.trampoline);
            f(ctx, args.as_ptr(), &mut out, entry.target)
        };
        self.jit_ctx.depth -= 1;
        if let Some(start) = start {
            self.profile.native_time += start.elapsed();
        }
        if status != 0 || self.jit_ctx.error != 0 {
            self.jit_ctx.error = 0;
            let (m, frames) = self
                .pending
                .take()
                .unwrap_or_else(|| ("internal error in compiled code".into(), vec![]));
            return Err((m, frames));
        }
        Ok(out)
    }

    /// The compiled code a call of `f` with signature `sig` (its `calls`th) should run,
    /// compiling it first when tiering says so; `None`: interpret the call.
    fn native_entry(
        &mut self,
        f: FuncId,
        sig: crate::profile::TypeSig,
        calls: u64,
        shape: FuncShape,
    ) -> Option<BoxedEntry> {
        match self.tiering.decide(f, sig, calls, shape) {
            Decision::Native(e) => Some(e),
            Decision::Compile => self.tier_up(f, sig),
            Decision::Interpret => None,
        }
    }

    /// Specializes and compiles `f` for `sig`; decodes the functions that adds.
    fn tier_up(&mut self, f: FuncId, sig: crate::profile::TypeSig) -> Option<BoxedEntry> {
        let active = self.jit_ctx.depth > 0;
        let start = std::time::Instant::now();
        let r = self.tiering.compile(&mut self.module, f, sig, active);
        let spent = start.elapsed();
        self.profile.compile_time += spent;
        if active {
            // Compiling from inside compiled code (through `rt_call`) is not native run time.
            self.profile.native_time = self.profile.native_time.saturating_sub(spent);
        }
        self.decode_new_functions();
        r
    }

    fn decode_new_functions(&mut self) {
        while self.funcs.len() < self.module.funcs.len() {
            let id = FuncId::new(self.funcs.len());
            let code = decode::decode_function(&self.module.funcs[id], &mut self.next_counter);
            self.funcs.push(code);
            self.profile.calls.push(0);
            self.profile.sigs.push(SmallVec::new());
        }
        self.profile.backedges.resize(self.next_counter as usize, 0);
    }

    /// The Cranelift IR (`--emit=clif`) or machine code (`--emit=asm`) of every function
    /// compiled so far.
    pub fn compiled_text(&mut self, form: ruchy_backends::TextForm) -> String {
        let mut specs: Vec<FuncId> = self.tiering.compiled_functions();
        specs.sort();
        let mut out = String::new();
        for g in specs {
            out.push_str(&format!("; @{}\n", self.module.funcs[g].name));
            match self.tiering.emit_text(&self.module, g, form) {
                Ok(t) => out.push_str(&t),
                Err(e) => out.push_str(&format!("; cannot show: {e}\n")),
            }
            out.push('\n');
        }
        out
    }

    /// The `--stats` table: per function that ran, its calls, argument type signatures, the
    /// tier it reached, compile time, cache hits, and why a hot function was not compiled.
    pub fn stats_report(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "{:<24} {:>10} {:>6} {:>12} {:>10} {:>8}  {}\n",
            "function", "calls", "tier", "compile ms", "code B", "hits", "signatures"
        ));
        // Calls of a function's specializations (`f$...`) run in the interpreter count as its
        // own: summed by base name in one pass (per function it was quadratic, and the REPL
        // makes this report after every input).
        let mut calls_by_name: std::collections::HashMap<&str, u64> =
            std::collections::HashMap::new();
        for (g, h) in self.module.funcs.iter() {
            let base = h.name.split('$').next().unwrap_or(&h.name);
            *calls_by_name.entry(base).or_default() +=
                self.profile.calls.get(g.index()).copied().unwrap_or(0);
        }
        for (id, f) in self.module.funcs.iter() {
            let calls = calls_by_name.get(f.name.as_str()).copied().unwrap_or(0);
            let compiled = self.tiering.reports.contains_key(&id);
            if (calls == 0 && !compiled) || f.name.contains('$') || f.attrs.hidden {
                continue;
            }
            let report = self.tiering.reports.get(&id).cloned().unwrap_or_default();
            let hits = self.tiering.hits_of(id);
            let sigs: Vec<String> = self.profile.sigs[id.index()]
                .iter()
                .map(|&(s, n)| format!("{} x{n}", Profile::describe(s)))
                .collect();
            out.push_str(&format!(
                "{:<24} {:>10} {:>6} {:>12.3} {:>10} {:>8}  {}\n",
                display_name(&f.name),
                calls,
                report.tier,
                report.compile_time.as_secs_f64() * 1e3,
                report.code_size,
                hits,
                sigs.join(", ")
            ));
            let hot = calls > self.tiering.config.tier1_threshold;
            if report.tier == 0
                && hot
                && self.tiering.enabled()
                && report.reasons.is_empty()
                && report.waiting.is_none()
            {
                out.push_str("    not compiled: only called from code that is not compiled tier-by-tier yet\n");
            }
            let waiting = report.waiting.iter().filter(|_| report.tier == 0);
            for r in report.reasons.iter().chain(waiting) {
                out.push_str(&format!("    not compiled: {r}\n"));
            }
        }
        out.push_str(&format!(
            "method cache: {} entries, {} hits, {} misses, {} evictions ({} bytes freed), {} bytes of code; {} deoptimizations; {} loops entered by on-stack replacement\n",
            self.tiering.cache.len(),
            self.tiering.hits,
            self.tiering.misses,
            self.tiering.evictions,
            self.tiering.freed_bytes,
            self.tiering.code_bytes(),
            self.profile.deopts,
            self.tiering.osr_entries
        ));
        if self.config.measure_tiers {
            let total = self.profile.run_time.as_secs_f64() * 1e3;
            let native = self.profile.native_time.as_secs_f64() * 1e3;
            let compile = self.profile.compile_time.as_secs_f64() * 1e3;
            out.push_str(&format!(
                "time: {total:.3} ms in all; tier 0 (interpreter) {:.3} ms, tier 1 (compiled code) {native:.3} ms, compiling {compile:.3} ms\n",
                (total - native - compile).max(0.0)
            ));
        }
        if let Some(e) = &self.tiering.backend_error {
            out.push_str(&format!("tier 1 unavailable: {e}\n"));
        }
        if !self.tiering.enabled() {
            out.push_str("compilation disabled (--tier=0)\n");
        }
        out
    }

    // ---- services for compiled code (see `jit::helpers`)

    pub(crate) fn pending_error(&mut self, message: String, frames: Vec<StackFrame>) {
        self.pending = Some((message, frames));
    }

    pub(crate) fn pending_frame(&mut self, f: FuncId, loc: SrcLoc) {
        let Some(fc) = self.funcs.get(f.index()) else {
            return;
        };
        if fc.hidden {
            return;
        }
        let frame = StackFrame {
            function: display_name(&fc.name),
            loc,
        };
        match &mut self.pending {
            Some((_, frames)) => frames.push(frame),
            None => self.pending = Some(("internal error in compiled code".into(), vec![frame])),
        }
    }

    pub(crate) fn print_values(&mut self, args: &[Value], newline: bool) {
        if newline {
            format::format_println_args(args, &mut self.buf);
            self.buf.push('\n');
        } else {
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    self.buf.push(' ');
                }
                format::display(a, &mut self.buf);
            }
        }
        if self.buf.len() >= OUT_CHUNK {
            let _ = self.out.write_all(self.buf.as_bytes());
            self.buf.clear();
        }
    }

    pub(crate) fn global(&self, g: usize) -> Result<Value, String> {
        match self.globals.get(g) {
            Some(Value::Undef) | None => Err(format!(
                "undefined variable {}",
                self.global_names.get(g).map(String::as_str).unwrap_or("?")
            )),
            Some(v) => Ok(v.clone()),
        }
    }

    pub(crate) fn set_global(&mut self, g: usize, v: Value) {
        if let Some(slot) = self.globals.get_mut(g) {
            *slot = v;
        }
    }

    pub(crate) fn call_from_native(
        &mut self,
        f: FuncId,
        args: &[Value],
    ) -> Result<Value, RuntimeError> {
        self.call(f, args)
    }

    /// Calls a function or closure value, as `dyn.call` does.
    pub(crate) fn call_value(
        &mut self,
        callee: &Value,
        args: &[Value],
    ) -> Result<Value, RuntimeError> {
        let (f, captures): (FuncId, &[Value]) = match callee {
            Value::Func(id) => (*id, &[]),
            Value::Closure(c) => (c.func, &c.captures),
            other => {
                return Err(RuntimeError {
                    message: format!("Cannot call a value of type {}", other.type_name()),
                    loc: SrcLoc::UNKNOWN,
                    stack: vec![],
                })
            }
        };
        let target = resolve_arity(&self.funcs, f, captures.len(), args.len()).map_err(|m| {
            RuntimeError {
                message: m,
                loc: SrcLoc::UNKNOWN,
                stack: vec![],
            }
        })?;
        if captures.is_empty() {
            return self.call(target, args);
        }
        // Captures first, then the arguments; on the stack for the usual few (allocating here
        // was half the time of a closure call from compiled code).
        let n = captures.len() + args.len();
        if n <= 8 {
            let mut all: [Value; 8] = Default::default();
            for (slot, v) in all.iter_mut().zip(captures.iter().chain(args)) {
                *slot = v.clone();
            }
            return self.call(target, &all[..n]);
        }
        let all: Vec<Value> = captures.iter().chain(args).cloned().collect();
        self.call(target, &all)
    }

    /// Points `cache` at the compiled code a call of `callee` (a function or a closure) with
    /// `args` runs, when there is such code and it can be called directly (see
    /// `Tiering::direct_entry`); a cached closure is kept alive by the runtime.
    pub(crate) fn fill_call_site_cache(
        &mut self,
        cache: &mut ruchy_backends::CallSiteCache,
        callee: &Value,
        args: &[Value],
    ) {
        use ruchy_backends::CallSiteCache;
        let (f, captures): (FuncId, &[Value]) = match callee {
            Value::Func(id) => (*id, &[]),
            Value::Closure(c) => (c.func, &c.captures),
            _ => return,
        };
        let ncap = captures.len();
        if ncap > CallSiteCache::MAX_CAPTURES || ncap + args.len() > CallSiteCache::MAX_ARGS {
            return;
        }
        let Ok(target) = resolve_arity(&self.funcs, f, ncap, args.len()) else {
            return;
        };
        let sig = Profile::signature_of(captures.iter().chain(args));
        let Some((trampoline, cell)) = self.tiering.direct_entry(target, sig) else {
            return;
        };
        let mut filled = CallSiteCache::empty();
        filled.tags = CallSiteCache::tags_of(args.iter().map(Value::layout_tag));
        filled.trampoline = trampoline;
        filled.cell = cell;
        if let Value::Func(id) = callee {
            filled.func = id.index() as u64;
        } else {
            filled.closure = callee.layout_words()[1] as usize;
            filled.ncap = ncap as u64;
            let first = CallSiteCache::MAX_CAPTURES - ncap;
            for (k, c) in captures.iter().enumerate() {
                filled.captures[first + k] = c.layout_words();
            }
        }
        let held = matches!(callee, Value::Closure(_)).then(|| callee.clone());
        self.tiering
            .hold_for_cache(cache as *const CallSiteCache as usize, held);
        *cache = filled;
    }

    pub(crate) fn deopt_value_count(&self, f: FuncId, inst: usize) -> usize {
        self.module
            .funcs
            .get(f)
            .and_then(|func| func.dfg.insts.get(ruchy_ir::Inst::new(inst)))
            .and_then(|d| d.deopt.as_ref())
            .map(|ds| ds.values.len())
            .unwrap_or(0)
    }

    /// Finishes a frame of compiled function `f` in the interpreter after its guard `inst`
    /// failed, from the guard's deopt state and the live values compiled code passed.
    pub(crate) fn deopt(
        &mut self,
        f: FuncId,
        inst: usize,
        live: &[Value],
    ) -> Result<Value, RuntimeError> {
        let internal = |m: &str| RuntimeError {
            message: format!("internal error: {m}"),
            loc: SrcLoc::UNKNOWN,
            stack: vec![],
        };
        let ds = self
            .module
            .funcs
            .get(f)
            .and_then(|func| func.dfg.insts.get(ruchy_ir::Inst::new(inst)))
            .and_then(|d| d.deopt.clone())
            .ok_or_else(|| internal("deopt without a deopt state"))?;
        self.profile.deopts += 1;
        self.tiering.note_deopt(&self.module, f);
        let target = &self.funcs[ds.func.index()];
        let pc = *target
            .inst_pcs
            .get(&(ds.block, ds.index))
            .ok_or_else(|| internal("deopt target has no resume point"))?;
        let base = self.top;
        let n = target.nregs as usize;
        let regs: Vec<(Reg, Value)> = ds
            .values
            .iter()
            .zip(live)
            .filter_map(|(&(tv, _), v)| target.value_regs.get(&tv).map(|&r| (r, v.clone())))
            .collect();
        if self.stack.len() < base + n {
            self.stack.resize(base + n, Value::Nil);
        }
        for (r, v) in regs {
            self.stack[base + r as usize] = v;
        }
        let st = ExecState {
            f: ds.func,
            pc: pc as usize,
            base,
            base_depth: self.frames.len(),
        };
        let depth = self.frames.len();
        let r = self.run_state(st);
        if r.is_err() {
            self.frames.truncate(depth);
            let end = self.stack.len();
            clear_heap_values(&mut self.stack[base.min(end)..]);
        } else {
            clear_heap_values(&mut self.stack[base..base + n]);
        }
        self.top = base;
        r
    }

    /// One stretch of interpretation: runs until the starting frame returns or a call goes to
    /// compiled code.
    fn segment(&mut self, st: &mut ExecState) -> Result<Yield, RuntimeError> {
        let Interpreter {
            funcs,
            globals,
            global_names,
            stack,
            frames,
            out,
            buf,
            config,
            profile,
            tiering,
            ..
        } = self;
        let funcs: &[FuncCode] = funcs;
        let base_depth = st.base_depth;
        let mut f = st.f;
        let mut fc: &FuncCode = &funcs[f.index()];
        let mut base = st.base;
        let mut pc: usize = st.pc;
        let jit_on = tiering.enabled();
        // Back edges after which a loop tries to continue compiled (0: never).
        let osr_at = if jit_on {
            tiering.config.backedge_threshold
        } else {
            0
        };

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
        // A call that tiering sends to compiled code (or to the compiler first) leaves the
        // segment: `run_state` makes it without the segment's borrows. `$args` (the callee's
        // arguments as values) is only built then.
        macro_rules! leave_for_compiled {
            ($callee:expr, $dst:expr, $sig:expr, $args:expr) => {{
                let callee: FuncId = $callee;
                let sig = $sig;
                let calls = profile.calls[callee.index()] + 1;
                let shape = funcs[callee.index()].shape();
                let native = match tiering.decide(callee, sig, calls, shape) {
                    Decision::Native(e) => Some(Some(e)),
                    Decision::Compile => Some(None),
                    Decision::Interpret => None,
                };
                if let Some(native) = native {
                    *st = ExecState {
                        f,
                        pc,
                        base,
                        base_depth,
                    };
                    return Ok(Yield::Call {
                        callee,
                        dst: $dst,
                        args: $args,
                        sig,
                        native,
                    });
                }
            }};
        }
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
                Op::MoveTake { dst, src } => {
                    let v = std::mem::take(&mut reg!(src));
                    reg!(dst) = v;
                }
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
                        Value::Int(x) => pred.holds_i64(*x, imm as i64),
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
                        (Value::Int(x), Value::Int(y)) => pred.holds_i64(*x, *y),
                        (Value::Float(x), Value::Float(y)) => pred.holds_f64(*x, *y),
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
                    reg!(dst) = Value::Bool(pred.holds_i64(x, y));
                }
                Op::CmpF { pred, dst, a, b } => {
                    let (x, y) = (float_of!(a), float_of!(b));
                    reg!(dst) = Value::Bool(pred.holds_f64(x, y));
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
                    let n = profile.backedges[counter as usize] + 1;
                    profile.backedges[counter as usize] = n;
                    pc = target as usize;
                    if n == osr_at {
                        let header = fc.loop_headers.iter().find(|&&(_, c)| c == counter);
                        if let Some(&(header, _)) = header {
                            *st = ExecState {
                                f,
                                pc,
                                base,
                                base_depth,
                            };
                            return Ok(Yield::Osr { header });
                        }
                    }
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
                        (Value::Int(x), Value::Int(y)) => pred.holds_i64(*x, *y),
                        (Value::Float(x), Value::Float(y)) => pred.holds_f64(*x, *y),
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
                    pc = if pred.holds_i64(x, y) {
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
                        Value::Int(x) => pred.holds_i64(*x, imm as i64),
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
                        return Ok(Yield::Return(v));
                    }
                    let Some(fr) = frames.pop() else {
                        return Ok(Yield::Return(v));
                    };
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
                    if jit_on {
                        let sig = Profile::signature_of(
                            arg_regs.iter().map(|&r| &stack[base + r as usize]),
                        );
                        leave_for_compiled!(
                            func,
                            dst,
                            sig,
                            arg_regs
                                .iter()
                                .map(|&r| stack[base + r as usize].clone())
                                .collect()
                        );
                    }
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
                    if jit_on {
                        // The callee's parameters: the captures, then the arguments.
                        let caps = captures.iter().flat_map(|c| c.captures.iter());
                        let sig = Profile::signature_of(caps.clone().chain(&argv[1..]));
                        leave_for_compiled!(
                            target,
                            dst,
                            sig,
                            caps.chain(&argv[1..]).cloned().collect()
                        );
                    }
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
                            if arr.push(v).is_err() {
                                fail!("Array is being modified".into());
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
                            match usize::try_from(*i).ok().map(|i| arr.get(i)) {
                                Some(Ok(Some(v))) => v,
                                _ => check!(ops::index(&reg!(b), &reg!(index))),
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
                        if let Ok(k) = usize::try_from(*i) {
                            if k < arr.len() {
                                if arr.set(k, v).is_err() {
                                    fail!("Array is being modified".into());
                                }
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
                        Value::Array(arr) => {
                            if arr.push(v).is_err() {
                                fail!("Array is being modified".into());
                            }
                        }
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
                        Value::Array(arr) => {
                            if arr.push(v).is_err() {
                                fail!("Array is being modified".into());
                            }
                        }
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

    /// Sets the global whose Ruchy name is `name` (the first one, if several have it). Returns
    /// whether the module has such a global.
    pub fn set_global_by_name(&mut self, name: &str, v: Value) -> bool {
        match self.global_names.iter().position(|n| n == name) {
            Some(g) => {
                self.set_global(g, v);
                true
            }
            None => false,
        }
    }

    /// The globals that hold a value, by Ruchy name, in module order.
    pub fn globals_snapshot(&self) -> Vec<(String, Value)> {
        self.global_names
            .iter()
            .zip(&self.globals)
            .filter(|(_, v)| !matches!(v, Value::Undef))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect()
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
pub(crate) fn display_name(name: &str) -> String {
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
    for fr in frames[base_depth.min(frames.len())..].iter().rev() {
        let fc = &funcs[fr.func.index()];
        push(&mut stack, fc, (fr.pc as usize).saturating_sub(1));
    }
    let loc = stack.first().map(|s| s.loc).unwrap_or(SrcLoc::UNKNOWN);
    RuntimeError {
        message,
        loc,
        stack,
    }
}

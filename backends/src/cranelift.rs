//! Tier 1: a quick JIT with Cranelift.
//!
//! Each compiled function gets its own `JITModule`, so that freeing one function really frees
//! its memory (cranelift-jit can only free whole modules). Calls to other compiled functions go
//! through the runtime's indirection cells, so recompiling a callee never requires recompiling
//! its callers.

mod arrays;
mod const_division;

use crate::array_layout as al;
use crate::header_cache::HeaderCache;
use crate::helper_thread::Batch;
use crate::last_use::LastUses;
use crate::{
    ctx, errors, pack_loc, repr_of, returns_in_memory, tags, Arg, Backend, BoxedEntry,
    CallSiteCache, CodeHandle, CompileError, CompiledFunction, Helper, Repr, RuntimeAbi, TextForm,
    HELPERS,
};
use arrays::HeaderVars;
use cranelift_codegen::ir::condcodes::{CondCode, FloatCC, IntCC};
use cranelift_codegen::ir::{
    types, AbiParam, BlockArg, FuncRef, InstBuilder, MemFlagsData, Signature, StackSlotData,
    StackSlotKind, UserFuncName, Value as ClValue,
};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{
    default_libcall_names, FuncId as ClFuncId, Linkage, Module as _, ModuleReloc,
};
use ruchy_ir::{
    Block, CmpPred, EntityRef, FuncId, Function, Imm, Inst, Module, Opcode, SrcLoc, Type, Value,
};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// The Cranelift backend.
pub struct CraneliftBackend {
    isa: OwnedTargetIsa,
    /// Cranelift's per-function states, cleared and reused between compilations so that their
    /// allocations are made once (one per function of the largest batch so far).
    contexts: Vec<Box<cranelift_codegen::Context>>,
    fbc: FunctionBuilderContext,
    /// The runtime's helper addresses by name, looked up when a function first imports one:
    /// registering all of them in every new module cost more than a tenth of compiling a small
    /// function.
    helpers: Option<std::sync::Arc<[(&'static str, usize)]>>,
    /// Whether the target truncates floats in one instruction.
    truncates_natively: bool,
}

impl CraneliftBackend {
    /// The backend for the host. The target description is built once per process (probing
    /// the CPU and building the ISA costs more than compiling a small function).
    pub fn new() -> Result<Self, CompileError> {
        static ISA: std::sync::OnceLock<Result<OwnedTargetIsa, CompileError>> =
            std::sync::OnceLock::new();
        let isa = ISA.get_or_init(host_isa).clone()?;
        Ok(CraneliftBackend {
            truncates_natively: truncates_natively(&*isa),
            isa,
            contexts: vec![],
            fbc: FunctionBuilderContext::new(),
            helpers: None,
        })
    }

    fn new_module(&mut self, abi: &dyn RuntimeAbi) -> Result<JITModule, CompileError> {
        let helpers = match &self.helpers {
            Some(h) => h.clone(),
            None => {
                let table = HELPERS
                    .iter()
                    .map(|h| {
                        abi.helper(h.name)
                            .map(|a| (h.name, a as usize))
                            .ok_or_else(|| {
                                CompileError(format!("the runtime does not provide `{}`", h.name))
                            })
                    })
                    .collect::<Result<std::sync::Arc<[_]>, _>>()?;
                self.helpers = Some(table.clone());
                table
            }
        };
        let mut builder = JITBuilder::with_isa(self.isa.clone(), default_libcall_names());
        builder.symbol_lookup_fn(Box::new(move |name| {
            helpers
                .iter()
                .find(|&&(n, _)| n == name)
                .map(|&(_, a)| a as *const u8)
        }));
        Ok(JITModule::new(builder))
    }

    /// The boxed-entry trampoline for functions shaped like `f`: unboxes the arguments from an
    /// array of values, calls the typed entry passed as the last argument and boxes its
    /// result. Built once per shape and process (a program has a handful of shapes) and never
    /// freed, like the target description.
    fn trampoline(&self, f: &Function) -> Result<*const u8, CompileError> {
        type Shape = (Vec<Repr>, Repr);
        static TRAMPOLINES: std::sync::Mutex<Option<HashMap<Shape, usize>>> =
            std::sync::Mutex::new(None);
        let shape: Shape = (
            f.params.iter().map(|&t| repr_of(t)).collect(),
            repr_of(f.ret),
        );
        let mut table = TRAMPOLINES.lock().unwrap_or_else(|e| e.into_inner());
        let table = table.get_or_insert_with(HashMap::new);
        if let Some(&addr) = table.get(&shape) {
            return Ok(addr as *const u8);
        }
        let mut jit = JITModule::new(JITBuilder::with_isa(
            self.isa.clone(),
            default_libcall_names(),
        ));
        let ptr = jit.target_config().pointer_type();
        let typed_sig = native_signature(&jit, f);
        let mut sig = jit.make_signature();
        for _ in 0..4 {
            sig.params.push(AbiParam::new(ptr));
        }
        sig.returns.push(AbiParam::new(types::I8));
        let (addr, _) = define_stub(&mut jit, "boxed_entry", sig, |b, _, p| {
            let (cx, args, out, target) = (p[0], p[1], p[2], p[3]);
            let mut call_args = vec![cx];
            for (i, &t) in f.params.iter().enumerate() {
                let off = 16 * i as i32;
                // A register-typed argument is the payload of its value.
                let v = match repr_of(t) {
                    Repr::Memory => b.ins().iadd_imm_s(args, off as i64),
                    r => b
                        .ins()
                        .load(cl_type(r, ptr), MemFlagsData::trusted(), args, off + 8),
                };
                call_args.push(v);
            }
            if returns_in_memory(f) {
                call_args.push(out);
            }
            let sig_ref = b.import_signature(typed_sig);
            let call = b.ins().call_indirect(sig_ref, target, &call_args);
            let results = b.inst_results(call).to_vec();
            let (status, value) = results.split_last().expect("a status result");
            if let Some(&r) = value.first() {
                store_boxed_raw(b, out, r, f.ret);
            }
            vec![*status]
        })?;
        // Dropping a JITModule leaves its code mapped: the trampoline stays valid.
        drop(jit);
        table.insert(shape, addr as usize);
        Ok(addr)
    }

    /// Lowers `func` to Cranelift IR in `ctx`, declaring it in `jit`; returns the id of its
    /// typed entry and its trap sites.
    fn lower(
        &mut self,
        jit: &mut JITModule,
        module: &Module,
        func: FuncId,
        abi: &mut dyn RuntimeAbi,
        ctx: &mut cranelift_codegen::Context,
    ) -> Result<(ClFuncId, Vec<SrcLoc>), CompileError> {
        let f = &module.funcs[func];
        if f.level == ruchy_ir::Level::Dyn {
            return Err(CompileError(format!("@{} is at the dyn level", f.name)));
        }
        let ptr = jit.target_config().pointer_type();
        let typed_sig = native_signature(jit, f);
        let name = format!("{}#{}", f.name, func.index());
        let typed_id = jit
            .declare_function(&name, Linkage::Local, &typed_sig)
            .map_err(|e| CompileError(e.to_string()))?;
        ctx.clear();
        ctx.func.signature = typed_sig.clone();
        ctx.func.name = UserFuncName::user(0, typed_id.as_u32());
        let target_config = jit.target_config();
        let lowered = {
            let b = FunctionBuilder::new(&mut ctx.func, &mut self.fbc);
            let mut lw = Lower::new(b, module, func, f, jit, abi, ptr);
            lw.self_id = Some(typed_id);
            lw.truncates_natively = self.truncates_natively;
            lw.run().map(|()| {
                let sites = std::mem::take(&mut lw.trap_sites);
                lw.b.seal_all_blocks();
                lw.b.finalize(target_config);
                sites
            })
        };
        match lowered {
            Ok(sites) => Ok((typed_id, sites)),
            Err(e) => {
                // Only `finalize` clears the builder's context: start the next function afresh.
                self.fbc = FunctionBuilderContext::new();
                Err(e)
            }
        }
    }

    /// A cleared Cranelift context from the pool.
    fn context(&mut self) -> Box<cranelift_codegen::Context> {
        self.contexts
            .pop()
            .unwrap_or_else(|| Box::new(cranelift_codegen::Context::new()))
    }

    /// Gives `ctx` back to the pool.
    fn recycle(&mut self, mut ctx: Box<cranelift_codegen::Context>) {
        ctx.clear();
        self.contexts.push(ctx);
    }

    /// Compiles every function of `funcs`, generating machine code on the helper thread too
    /// when there are several (see [`crate::helper_thread`]).
    fn compile_all(
        &mut self,
        module: &Module,
        funcs: &[FuncId],
        abi: &mut dyn RuntimeAbi,
    ) -> Vec<Result<CompiledFunction, CompileError>> {
        // Lowered functions and their code generation jobs, in the order of `funcs`.
        let mut lowered: Vec<Result<LoweredFunction, CompileError>> = vec![];
        let batch = (funcs.len() > 1).then(|| Batch::start(generate));
        let mut jobs = vec![];
        for (k, &func) in funcs.iter().enumerate() {
            let start = Instant::now();
            let mut ctx = self.context();
            let made = self.new_module(abi).and_then(|mut jit| {
                let (id, sites) = self.lower(&mut jit, module, func, abi, &mut ctx)?;
                Ok((jit, id, sites))
            });
            match made {
                Ok((jit, id, sites)) => {
                    lowered.push(Ok((jit, id, sites, start.elapsed())));
                    let job = CodegenJob {
                        isa: self.isa.clone(),
                        ctx,
                        result: None,
                    };
                    match &batch {
                        Some(b) => b.add(k, job),
                        None => jobs.push(job),
                    }
                }
                Err(e) => {
                    self.recycle(ctx);
                    lowered.push(Err(e));
                }
            }
        }
        match &batch {
            Some(b) => jobs = b.finish(),
            None => jobs.iter_mut().for_each(generate),
        }
        let mut jobs = jobs.into_iter();
        let mut out = vec![];
        for (&func, l) in funcs.iter().zip(lowered) {
            let Ok((jit, id, sites, lowering)) = l else {
                out.push(Err(l.err().expect("an error")));
                continue;
            };
            let job = jobs.next().expect("one job per lowered function");
            let linked = self.link(module, func, jit, id, sites, &job);
            self.recycle(job.ctx);
            out.push(linked.map(|mut code| {
                code.compile_time += lowering;
                code
            }));
        }
        out
    }

    /// Places the machine code `job` generated for `func` (typed entry `id` in `jit`) in memory
    /// and makes it runnable.
    fn link(
        &mut self,
        module: &Module,
        func: FuncId,
        mut jit: JITModule,
        id: ClFuncId,
        trap_sites: Vec<SrcLoc>,
        job: &CodegenJob,
    ) -> Result<CompiledFunction, CompileError> {
        let start = Instant::now();
        let name = &module.funcs[func].name;
        let generating = match &job.result {
            Some(Ok(t)) => *t,
            Some(Err(e)) => return Err(CompileError(format!("cranelift rejected @{name}: {e}"))),
            None => {
                return Err(CompileError(format!(
                    "the code generator failed on @{name}"
                )))
            }
        };
        let code_size = define_generated(&mut jit, id, &job.ctx)?;
        jit.finalize_definitions()
            .map_err(|e| CompileError(e.to_string()))?;
        let typed_entry = jit.get_finalized_function(id);
        let boxed_entry = BoxedEntry {
            trampoline: self.trampoline(&module.funcs[func])?,
            target: typed_entry,
        };
        Ok(CompiledFunction {
            func,
            typed_entry,
            boxed_entry,
            code_size,
            compile_time: generating + start.elapsed(),
            trap_sites,
            handle: CodeHandle(Box::new(jit)),
        })
    }
}

/// A function lowered to Cranelift IR: its module, its id there, its trap sites, and how long
/// lowering took.
type LoweredFunction = (JITModule, ClFuncId, Vec<SrcLoc>, Duration);

/// Generating the machine code of one lowered function: the part of compiling that needs
/// neither the IR module nor the runtime, so any thread can do it.
struct CodegenJob {
    isa: OwnedTargetIsa,
    ctx: Box<cranelift_codegen::Context>,
    /// How long it took, or why Cranelift refused the function; `None` until it ran (or if
    /// it panicked on the helper thread).
    result: Option<Result<Duration, String>>,
}

fn generate(job: &mut CodegenJob) {
    let start = Instant::now();
    let r = job
        .ctx
        .compile(&*job.isa, &mut Default::default())
        .map(|_| ())
        .map_err(|e| format!("{:?}", e.inner));
    job.result = Some(r.map(|()| start.elapsed()));
}

/// Defines the code `ctx` holds (generated already) as function `id` of `jit`; returns its
/// size.
fn define_generated(
    jit: &mut JITModule,
    id: ClFuncId,
    ctx: &cranelift_codegen::Context,
) -> Result<usize, CompileError> {
    let code = ctx
        .compiled_code()
        .ok_or_else(|| CompileError("no code was generated".into()))?;
    let relocs: Vec<ModuleReloc> = code
        .buffer
        .relocs()
        .iter()
        .map(|r| ModuleReloc::from_mach_reloc(r, &ctx.func, id))
        .collect();
    jit.define_function_bytes(
        id,
        code.buffer.alignment as u64,
        code.code_buffer(),
        &relocs,
    )
    .map_err(|e| CompileError(e.to_string()))?;
    Ok(code.code_info().total_size as usize)
}

impl Backend for CraneliftBackend {
    fn name(&self) -> &'static str {
        "cranelift"
    }

    fn compile(
        &mut self,
        module: &Module,
        func: FuncId,
        abi: &mut dyn RuntimeAbi,
    ) -> Result<CompiledFunction, CompileError> {
        self.compile_all(module, &[func], abi)
            .pop()
            .unwrap_or_else(|| Err(CompileError("nothing was compiled".into())))
    }

    fn compile_batch(
        &mut self,
        module: &Module,
        funcs: &[FuncId],
        abi: &mut dyn RuntimeAbi,
    ) -> Vec<Result<CompiledFunction, CompileError>> {
        self.compile_all(module, funcs, abi)
    }

    fn compile_fallback(
        &mut self,
        module: &Module,
        spec: FuncId,
        target: FuncId,
        abi: &mut dyn RuntimeAbi,
    ) -> Result<CompiledFunction, CompileError> {
        let start = Instant::now();
        let f = &module.funcs[spec];
        if !returns_in_memory(f) {
            return Err(CompileError(format!(
                "@{} returns in a register: no interpreter fallback",
                f.name
            )));
        }
        let mut jit = self.new_module(abi)?;
        let ptr = jit.target_config().pointer_type();
        let sig = native_signature(&jit, f);
        let name = format!("{}#{}.fallback", f.name, spec.index());
        let call_sig = {
            let h = HELPERS
                .iter()
                .find(|h| h.name == "rt_call")
                .ok_or_else(|| CompileError("no rt_call helper".into()))?;
            helper_signature(&jit, h, ptr)
        };
        let rt_call = jit
            .declare_function("rt_call", Linkage::Import, &call_sig)
            .map_err(|e| CompileError(e.to_string()))?;
        let (typed_entry, code_size) = define_stub(&mut jit, &name, sig, |b, jit, p| {
            let (cx, out) = (p[0], p[p.len() - 1]);
            let n = f.params.len();
            let ss = b.create_sized_stack_slot(StackSlotData::new(
                StackSlotKind::ExplicitSlot,
                16 * n.max(1) as u32,
                4,
            ));
            let args = b.ins().stack_addr(ptr, ss, 0);
            for (k, &t) in f.params.iter().enumerate() {
                let off = 16 * k as i32;
                let v = p[k + 1];
                if repr_of(t) == Repr::Memory {
                    // A bitwise copy of the caller's value: borrowed, never dropped.
                    copy_value_bits(b, v, args, off);
                } else {
                    let slot = b.ins().iadd_imm_s(args, off as i64);
                    store_boxed_raw(b, slot, v, t);
                }
            }
            let callee = jit.declare_func_in_func(rt_call, b.func);
            let tid = b.ins().iconst(types::I32, target.index() as i64);
            let count = b.ins().iconst(types::I64, n as i64);
            let fid = b.ins().iconst(types::I32, spec.index() as i64);
            let loc = b.ins().iconst(types::I64, pack_loc(f.loc));
            let call = b.ins().call(callee, &[cx, out, tid, args, count, fid, loc]);
            vec![b.inst_results(call)[0]]
        })?;
        Ok(CompiledFunction {
            func: spec,
            typed_entry,
            boxed_entry: BoxedEntry::NONE,
            code_size,
            compile_time: start.elapsed(),
            trap_sites: vec![],
            handle: CodeHandle(Box::new(jit)),
        })
    }

    fn free(&mut self, code: CompiledFunction) {
        if let Ok(jit) = code.handle.0.downcast::<JITModule>() {
            // SAFETY: the runtime calls `free` only once nothing can run this code anymore: its
            // method-cache entry and indirection cell no longer point into it.
            unsafe { jit.free_memory() };
        }
    }

    fn emit_text(
        &mut self,
        module: &Module,
        func: FuncId,
        abi: &mut dyn RuntimeAbi,
        form: TextForm,
    ) -> Result<String, CompileError> {
        let mut jit = self.new_module(abi)?;
        let mut ctx = self.context();
        let text = self
            .lower(&mut jit, module, func, abi, &mut ctx)
            .and_then(|_| {
                Ok(match form {
                    TextForm::BackendIr => ctx.func.display().to_string(),
                    TextForm::Asm => {
                        ctx.set_disasm(true);
                        let f = &module.funcs[func];
                        ctx.compile(&*self.isa, &mut Default::default())
                            .map_err(|e| {
                                CompileError(format!(
                                    "cranelift rejected @{}: {:?}",
                                    f.name, e.inner
                                ))
                            })?
                            .vcode
                            .clone()
                            .unwrap_or_default()
                    }
                })
            });
        self.recycle(ctx);
        text
    }
}

/// The host's target description, with Cranelift's optimizer off (`opt_level=none`).
///
/// Tier 1 runs with the optimizer off. Tier 1 is the quick tier, and our pipeline has
/// done on the IR most of what that optimizer (e-graph GVN, LICM, rewrites, redundant-load
/// removal) finds: skipping it cuts the compile time of a small function by 40%. What it
/// found that our IR does not show, the lowering emits itself: a division's loop-invariant
/// operand converted where it is defined (`single_operands`), wide constants in registers,
/// array headers kept in variables through loops (`header_cache`). With those, the optimizer
/// made sieve's compiled code slower, not faster (11.0 → 13.2 ms).
fn host_isa() -> Result<OwnedTargetIsa, CompileError> {
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| {
        f.set(k, v)
            .map_err(|e| CompileError(format!("cranelift setting {k}: {e}")))
    };
    set(&mut flags, "use_colocated_libcalls", "false")?;
    set(&mut flags, "is_pic", "false")?;
    set(&mut flags, "opt_level", "none")?;
    // Cranelift's own IR verifier runs before every compilation unless turned off; our IR is
    // verified already (the runtime verifies what it compiles), and it costs a tenth of the
    // compile time. Debug builds keep it.
    set(
        &mut flags,
        "enable_verifier",
        if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        },
    )?;
    let isa_builder = cranelift_native::builder()
        .map_err(|e| CompileError(format!("host not supported: {e}")))?;
    isa_builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| CompileError(format!("cannot build the target ISA: {e}")))
}

/// Whether `isa` has an instruction for float truncation (`trunc` is otherwise a call into
/// libm, slower than the integer division it would replace).
fn truncates_natively(isa: &dyn cranelift_codegen::isa::TargetIsa) -> bool {
    match isa.triple().architecture {
        target_lexicon::Architecture::X86_64 => isa
            .isa_flags()
            .iter()
            .any(|f| f.name == "has_sse41" && f.as_bool() == Some(true)),
        target_lexicon::Architecture::Aarch64(_) => true,
        _ => false,
    }
}

fn arg_type(a: Arg, ptr: types::Type) -> types::Type {
    match a {
        Arg::Ptr => ptr,
        Arg::I32 => types::I32,
        Arg::I64 => types::I64,
        Arg::F64 => types::F64,
        Arg::I8 => types::I8,
    }
}

fn cl_type(r: Repr, ptr: types::Type) -> types::Type {
    match r {
        Repr::I64 | Repr::Unit => types::I64,
        Repr::F64 => types::F64,
        Repr::Bool => types::I8,
        Repr::Memory => ptr,
    }
}

/// Defines `name`, a one-block function of signature `sig` whose `body` gets the builder, the
/// module and the parameters and gives the values to return; finalizes `jit`. Returns the
/// function's address and code size.
fn define_stub(
    jit: &mut JITModule,
    name: &str,
    sig: Signature,
    body: impl FnOnce(&mut FunctionBuilder, &mut JITModule, &[ClValue]) -> Vec<ClValue>,
) -> Result<(*const u8, usize), CompileError> {
    let id = jit
        .declare_function(name, Linkage::Local, &sig)
        .map_err(|e| CompileError(e.to_string()))?;
    let mut ctx = jit.make_context();
    ctx.func.signature = sig;
    ctx.func.name = UserFuncName::user(0, id.as_u32());
    let mut fbc = FunctionBuilderContext::new();
    let config = jit.target_config();
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fbc);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let p = b.block_params(entry).to_vec();
        let rets = body(&mut b, jit, &p);
        b.ins().return_(&rets);
        b.seal_all_blocks();
        b.finalize(config);
    }
    jit.define_function(id, &mut ctx)
        .map_err(|e| CompileError(format!("cranelift rejected {name}: {e:?}")))?;
    let size = ctx
        .compiled_code()
        .map(|c| c.code_info().total_size as usize)
        .unwrap_or(0);
    jit.finalize_definitions()
        .map_err(|e| CompileError(e.to_string()))?;
    Ok((jit.get_finalized_function(id), size))
}

/// The typed entry's signature: `(ctx, params..., [out]) -> ([ret], status)`.
pub fn native_signature(jit: &JITModule, f: &Function) -> Signature {
    let ptr = jit.target_config().pointer_type();
    let mut sig = jit.make_signature();
    sig.params.push(AbiParam::new(ptr));
    for &t in &f.params {
        sig.params.push(AbiParam::new(cl_type(repr_of(t), ptr)));
    }
    if returns_in_memory(f) {
        sig.params.push(AbiParam::new(ptr));
    } else {
        sig.returns
            .push(AbiParam::new(cl_type(repr_of(f.ret), ptr)));
    }
    // The status: non-zero when an error is pending.
    sig.returns.push(AbiParam::new(types::I8));
    sig
}

fn tag_of(t: Type) -> Option<u64> {
    Some(match t {
        Type::Unit => tags::NIL,
        Type::Bool => tags::BOOL,
        Type::I64 => tags::INT,
        Type::F64 => tags::FLOAT,
        Type::Str => tags::STR,
        Type::Array(_) => tags::ARRAY,
        Type::Tuple => tags::TUPLE,
        Type::Cell => tags::CELL,
        Type::Func | Type::Closure | Type::Any => return None,
    })
}

/// The typed array kind that stores values of type `t` unboxed.
fn typed_kind(t: Type) -> Option<u64> {
    match t {
        Type::Bool => Some(al::KIND_BOOL),
        Type::I64 => Some(al::KIND_INT),
        Type::F64 => Some(al::KIND_FLOAT),
        _ => None,
    }
}

/// The native signature of runtime helper `h`.
fn helper_signature(jit: &JITModule, h: &Helper, ptr: types::Type) -> Signature {
    let mut sig = jit.make_signature();
    for &a in h.params {
        sig.params.push(AbiParam::new(arg_type(a, ptr)));
    }
    if let Some(r) = h.ret {
        sig.returns.push(AbiParam::new(arg_type(r, ptr)));
    }
    sig
}

/// Copies the 16 bytes of the `Value` at `src` to `dst + off`, with no reference counting: the
/// caller decides which of the two owns the value.
fn copy_value_bits(b: &mut FunctionBuilder, src: ClValue, dst: ClValue, off: i32) {
    let flags = MemFlagsData::trusted();
    let tag = b.ins().load(types::I64, flags, src, 0);
    let payload = b.ins().load(types::I64, flags, src, 8);
    store_value_words(b, tag, payload, dst, off);
}

/// Writes a whole 16-byte `Value` as one store, and compiled code reads values a word at a
/// time. A load is forwarded from the store buffer only from one earlier store that covers it:
/// the runtime moves values as 16 bytes (stalling after two 8-byte stores: a fifth of the time
/// of a call through a function value), but may also have written one as two words.
fn store_value_words(
    b: &mut FunctionBuilder,
    tag: ClValue,
    payload: ClValue,
    dst: ClValue,
    off: i32,
) {
    if is_constant(b, tag) && is_constant(b, payload) {
        // A vector built from constants would be hoisted out of loops by Cranelift and kept
        // in a vector register, which every call clobbers: a spill and reload per iteration
        // (sieve took twice as long).
        let flags = MemFlagsData::trusted();
        b.ins().store(flags, tag, dst, off);
        b.ins().store(flags, payload, dst, off + 8);
        return;
    }
    let both = b.ins().scalar_to_vector(types::I64X2, tag);
    let both = b.ins().insertlane(both, payload, 1);
    // Values are only 8-byte aligned.
    b.ins()
        .store(MemFlagsData::new().with_notrap(), both, dst, off);
}

/// The value of `v` when it is an integer constant.
fn int_constant(b: &FunctionBuilder, v: ClValue) -> Option<i64> {
    use cranelift_codegen::ir::InstructionData as D;
    let cranelift_codegen::ir::ValueDef::Result(inst, _) = b.func.dfg.value_def(v) else {
        return None;
    };
    match b.func.dfg.insts[inst] {
        D::UnaryImm { imm, .. } => Some(imm.bits()),
        _ => None,
    }
}

/// Whether `v` is a constant, looking through extensions and bit casts.
fn is_constant(b: &FunctionBuilder, v: ClValue) -> bool {
    use cranelift_codegen::ir::{InstructionData as D, Opcode as O};
    let dfg = &b.func.dfg;
    let mut v = v;
    loop {
        let cranelift_codegen::ir::ValueDef::Result(inst, _) = dfg.value_def(v) else {
            return false;
        };
        match dfg.insts[inst] {
            D::UnaryImm { .. } | D::UnaryIeee64 { .. } => return true,
            D::Unary {
                opcode: O::Uextend | O::Sextend,
                arg,
            } => v = arg,
            D::LoadNoOffset {
                opcode: O::Bitcast,
                arg,
                ..
            } => v = arg,
            _ => return false,
        }
    }
}

/// Stores a register value into a `Value` slot as tag and payload, without dropping what the
/// slot held (the slot must hold no heap value).
fn store_boxed_raw(b: &mut FunctionBuilder, slot: ClValue, v: ClValue, t: Type) {
    let (tag, payload) = match repr_of(t) {
        Repr::I64 => (tags::INT, v),
        Repr::F64 => (
            tags::FLOAT,
            b.ins().bitcast(types::I64, MemFlagsData::new(), v),
        ),
        Repr::Bool => (tags::BOOL, b.ins().uextend(types::I64, v)),
        Repr::Unit | Repr::Memory => (tags::NIL, b.ins().iconst(types::I64, 0)),
    };
    let tagv = b.ins().iconst(types::I64, tag as i64);
    store_value_words(b, tagv, payload, slot, 0);
}

/// How an IR value is held while compiling.
#[derive(Copy, Clone, Debug)]
enum Val {
    /// In a register.
    Reg(ClValue),
    /// A pointer to a `Value` in memory.
    Mem(ClValue),
}

/// What a division computes (see `DivI | RemI`).
#[derive(Copy, Clone, PartialEq, Eq)]
enum NarrowOp {
    Quotient,
    Remainder,
    /// Whether the remainder is zero, for a remainder only compared with zero.
    RemainderIsZero,
}

/// A remainder tested against zero at the branch that follows it.
struct PendingZeroTest {
    /// The comparison with zero.
    cmp: Inst,
    x: ClValue,
    y: ClValue,
    loc: SrcLoc,
}

struct Lower<'a, 'b> {
    b: FunctionBuilder<'b>,
    module: &'a Module,
    func_id: FuncId,
    /// This function's own id in the JIT module, for direct recursive calls.
    self_id: Option<ClFuncId>,
    f: &'a Function,
    jit: &'a mut JITModule,
    /// The helpers declared in the JIT module so far (on first use: most functions need few).
    helper_ids: HashMap<&'static str, ClFuncId>,
    helper_refs: HashMap<&'static str, FuncRef>,
    abi: &'a mut dyn RuntimeAbi,
    ptr: types::Type,
    ctx: ClValue,
    /// The caller's slot for a memory-typed result.
    out: Option<ClValue>,
    vals: HashMap<Value, Val>,
    /// Tag and payload of `any` values whose parts compiled code already has in registers (an
    /// inline array read), so a guard on them needs no memory access.
    known: HashMap<Value, (ClValue, ClValue)>,
    /// The type an `any` value is guarded to, when a `guard.type` is its only use (an array
    /// read then checks the storage kind for that type and reads with a fixed width).
    guarded_as: HashMap<Value, Type>,
    /// The `guard.type` on a value, when it is the instruction right after the value's
    /// definition in the same block (see `guard_right_after`).
    guard_next: HashMap<Value, Inst>,
    blocks: HashMap<Block, cranelift_codegen::ir::Block>,
    /// This function's own `Value` slots (one per memory-typed SSA value defined here), which
    /// are dropped on every exit.
    slots_base: Option<ClValue>,
    slot_index: HashMap<Value, u32>,
    nslots: u32,
    /// Where values in this frame's slots are used for the last time.
    last_uses: LastUses,
    /// The shared exit for errors (frame recorded already): drops the slots and returns a
    /// non-zero status. One cold block, so error paths hold no values across calls.
    error_exit: Option<cranelift_codegen::ir::Block>,
    /// The shared calls of `rt_error` and `rt_frame` on error paths, once made.
    error_call: Option<cranelift_codegen::ir::Block>,
    frame_call: Option<cranelift_codegen::ir::Block>,
    /// Remainders whose only use is a comparison with zero (`n % d == 0`), with that
    /// comparison: they are lowered to the test itself (see `DivI | RemI`).
    zero_tests: HashMap<Inst, Inst>,
    /// The result of such a test, for its comparison.
    zero_test_results: HashMap<Inst, ClValue>,
    /// The remainders among `zero_tests` whose comparison is the condition of the branch
    /// that ends their block, right after them: they divide at the branch.
    branch_zero_tests: HashSet<Inst>,
    /// Such a remainder between its own lowering and its block's branch.
    pending_zero_test: Option<PendingZeroTest>,
    /// Whether the target truncates a float in one instruction (SSE4.1's `round`, AArch64's
    /// `frintz`) rather than through a library call.
    truncates_natively: bool,
    /// Operands of integer divisions defined in another block than the division (a dividend
    /// that a loop does not change, say): converted to single precision once, where they are
    /// defined, instead of at every division. Cranelift's optimizer would hoist the conversion
    /// out of the loop, but tier 1 does without it (see `host_isa`).
    single_operands: HashSet<Value>,
    /// Those conversions, by the converted value.
    single_of: HashMap<ClValue, ClValue>,
    /// Arrays whose header loops keep in variables (see [`crate::header_cache`]).
    headers: HeaderCache,
    /// Those variables, by array.
    header_vars: HashMap<Value, HeaderVars>,
    /// The IR block being lowered.
    cur_block: Option<Block>,
    /// Guards whose check an array read before them made on its slow path.
    prechecked_guards: HashSet<Inst>,
    /// For each array whose header a loop keeps, the storage kinds its accesses check for
    /// (bit `k` for kind `k`, bit 0 for "any typed kind"): the lengths by kind kept for it.
    kinds_checked: HashMap<Value, u8>,
    pub trap_sites: Vec<SrcLoc>,
}

impl<'a, 'b> Lower<'a, 'b> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        b: FunctionBuilder<'b>,
        module: &'a Module,
        func_id: FuncId,
        f: &'a Function,
        jit: &'a mut JITModule,
        abi: &'a mut dyn RuntimeAbi,
        ptr: types::Type,
    ) -> Self {
        Lower {
            b,
            module,
            func_id,
            self_id: None,
            f,
            jit,
            helper_ids: HashMap::new(),
            helper_refs: HashMap::new(),
            abi,
            ptr,
            ctx: ClValue::from_u32(0),
            out: None,
            vals: HashMap::new(),
            known: HashMap::new(),
            guarded_as: HashMap::new(),
            guard_next: HashMap::new(),
            blocks: HashMap::new(),
            slots_base: None,
            slot_index: HashMap::new(),
            nslots: 0,
            last_uses: LastUses::default(),
            error_exit: None,
            error_call: None,
            frame_call: None,
            zero_tests: HashMap::new(),
            zero_test_results: HashMap::new(),
            branch_zero_tests: HashSet::new(),
            pending_zero_test: None,
            truncates_natively: false,
            single_operands: HashSet::new(),
            single_of: HashMap::new(),
            headers: HeaderCache::default(),
            header_vars: HashMap::new(),
            cur_block: None,
            prechecked_guards: HashSet::new(),
            kinds_checked: HashMap::new(),
            trap_sites: vec![],
        }
    }

    /// A call through the function value `arr[0]` with the `nargs` arguments after it, through
    /// the inline cache at `cache`: when it holds this callee and these argument tags, the
    /// compiled callee is called through its boxed-entry trampoline right here; otherwise the
    /// runtime makes the call and refills the cache. Returns the call's status.
    #[allow(clippy::too_many_arguments)]
    fn cached_call_value(
        &mut self,
        arr: ClValue,
        n: ClValue,
        out: ClValue,
        nargs: usize,
        cache: *mut CallSiteCache,
        fid: ClValue,
        l: ClValue,
    ) -> ClValue {
        let flags = MemFlagsData::trusted();
        let cachev = self.iconst(self.ptr, cache as i64);
        let check_func = self.b.create_block();
        let check_tags = self.b.create_block();
        let hit = self.b.create_block();
        // Closures go to the runtime, which calls a cached one without its dispatch (see
        // `rt_call_value_cached`): putting captures in front of the arguments here made every
        // call site a third larger to compile.
        let miss = self.b.create_block();
        self.b.set_cold_block(miss);
        let done = self.b.create_block();
        let status = self.b.append_block_param(done, types::I8);
        let tag = self.b.ins().load(types::I64, flags, arr, 0);
        let is_func = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, tag, tags::FUNC as i64);
        self.b.ins().brif(is_func, check_func, &[], miss, &[]);
        self.b.switch_to_block(check_func);
        // A function id is a `u32` payload: the upper half of the word is padding.
        let callee = self.b.ins().uload32(flags, arr, 8);
        let cached = self
            .b
            .ins()
            .load(types::I64, flags, cachev, CallSiteCache::FUNC_OFFSET);
        let same = self.b.ins().icmp(IntCC::Equal, callee, cached);
        self.b.ins().brif(same, check_tags, &[], miss, &[]);
        self.b.switch_to_block(check_tags);
        let mut word = self.iconst(types::I64, (nargs as i64) << 60);
        for k in 0..nargs {
            let t = self
                .b
                .ins()
                .load(types::I64, flags, arr, 16 * (k as i32 + 1));
            let t = self.b.ins().band_imm_u(t, 0xF);
            let t = self.b.ins().ishl_imm_s(t, 4 * k as i64);
            word = self.b.ins().bor(word, t);
        }
        let expected = self
            .b
            .ins()
            .load(types::I64, flags, cachev, CallSiteCache::TAGS_OFFSET);
        let same = self.b.ins().icmp(IntCC::Equal, word, expected);
        self.b.ins().brif(same, hit, &[], miss, &[]);
        self.b.switch_to_block(hit);
        // The trampoline stores the result without dropping what the slot held.
        self.drop_slot(out);
        let trampoline =
            self.b
                .ins()
                .load(self.ptr, flags, cachev, CallSiteCache::TRAMPOLINE_OFFSET);
        let cell = self
            .b
            .ins()
            .load(self.ptr, flags, cachev, CallSiteCache::CELL_OFFSET);
        let target = self.b.ins().load(self.ptr, flags, cell, 0);
        let args = self.b.ins().iadd_imm_s(arr, 16);
        let mut sig = self.jit.make_signature();
        for _ in 0..4 {
            sig.params.push(AbiParam::new(self.ptr));
        }
        sig.returns.push(AbiParam::new(types::I8));
        let sigref = self.b.import_signature(sig);
        let c = self.ctx;
        let call = self
            .b
            .ins()
            .call_indirect(sigref, trampoline, &[c, args, out, target]);
        let st = self.b.inst_results(call)[0];
        self.b.ins().jump(done, &[BlockArg::Value(st)]);
        self.b.switch_to_block(miss);
        let st = self
            .call_helper("rt_call_value_cached", &[c, out, arr, n, fid, l, cachev])
            .unwrap_or_else(|| self.iconst(types::I8, 1));
        self.b.ins().jump(done, &[BlockArg::Value(st)]);
        self.b.switch_to_block(done);
        status
    }

    /// A temporary `Value` holding nil, for a helper to write a register-typed result into.
    fn nil_temp(&mut self) -> ClValue {
        let ss =
            self.b
                .create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 16, 4));
        let out = self.b.ins().stack_addr(self.ptr, ss, 0);
        let z = self.iconst(types::I64, 0);
        self.b.ins().store(MemFlagsData::trusted(), z, out, 0);
        out
    }

    /// `x / y`, `x % y` or `x % y == 0` (`op`), raising "Division by zero" when `y` is 0: ends
    /// each way of dividing with `finish` on its result.
    ///
    /// Integer division is the slowest arithmetic instruction, and most operands are small and
    /// non-negative: those divide in floating point, which pipelines better and has a shorter
    /// latency (primes: 1.94 ms against 2.39 ms with a 32-bit `div` on an AMD EPYC, in double
    /// precision; single precision is faster still). It is exact. With p the precision's
    /// significand bits (24 or 53), for 0 <= x < 2^p and 1 <= y <= 2^p both convert exactly,
    /// and x / y = q + r/y where the quotient's distance to the integers is at least 1/y unless
    /// r = 0, while rounding moves it by at most (x/y)·2^-p < 1/y. So truncating the rounded
    /// quotient gives q, and the rounded quotient is an integer exactly when r = 0.
    ///
    /// One test picks the single-precision way: `(y - 1) | x` is below 2^24 exactly when
    /// 0 <= x < 2^24 and 1 <= y <= 2^24, which also rules out a zero divisor, so the hot path
    /// has one branch before it divides; the check for zero is made on the cold path. Branches
    /// are what a division loop runs out of first (on Intel cores only two ports take them):
    /// each one taken out of primes' loop saves about a twelfth of its time.
    fn divide(
        &mut self,
        x: ClValue,
        y: ClValue,
        op: NarrowOp,
        loc: SrcLoc,
        mut finish: impl FnMut(&mut Self, ClValue),
    ) {
        // A zero divisor wraps to u64::MAX, a negative one stays above every bound.
        let y_less_one = self.b.ins().iadd_imm_s(y, -1);
        // `y - 1` dies here: as the first operand it can be the destination of x86's `or`.
        let both_bits = self.b.ins().bor(y_less_one, x);
        let above_single =
            self.b
                .ins()
                .icmp_imm_u(IntCC::UnsignedGreaterThan, both_bits, (1 << 24) - 1);
        let single = self.b.create_block();
        let not_single = self.b.create_block();
        let double = self.b.create_block();
        let wide = self.b.create_block();
        // Out of line, so the single-precision path falls through to the use of its result:
        // small operands are the most common.
        for b in [not_single, double, wide] {
            self.b.set_cold_block(b);
        }
        // Cranelift lays the second target out next: make it the likely one.
        self.b
            .ins()
            .brif(above_single, not_single, &[], single, &[]);
        self.b.switch_to_block(single);
        let r = self.float_divide(types::F32, x, y, op);
        finish(self, r);
        self.b.switch_to_block(not_single);
        let is_zero = self.b.ins().icmp_imm_s(IntCC::Equal, y, 0);
        // `not_single` is cold, so the continuation is too (see `continuation`).
        self.raise_if(is_zero, errors::DIV_BY_ZERO, None, loc);
        // Not from `both_bits`, so that it dies at the hot path's test: with `y` non-zero,
        // `x | y` is below 2^32 exactly when 0 <= x < 2^32 and 1 <= y < 2^32.
        let both_bits = self.b.ins().bor(x, y);
        let above_double = self.b.ins().ushr_imm_u(both_bits, 32);
        self.b.ins().brif(above_double, wide, &[], double, &[]);
        self.b.switch_to_block(double);
        let r = self.float_divide(types::F64, x, y, op);
        finish(self, r);
        self.b.switch_to_block(wide);
        // i64::MIN / -1 overflows (Cranelift's `sdiv` would trap); Cranelift's `srem` gives
        // i64::MIN % -1 = 0, as Ruchy does.
        let r = if op == NarrowOp::Quotient {
            let minus_one = self.b.ins().icmp_imm_s(IntCC::Equal, y, -1);
            let is_min = self.b.ins().icmp_imm_s(IntCC::Equal, x, i64::MIN);
            let both = self.b.ins().band(minus_one, is_min);
            self.raise_if(both, errors::DIV_OVERFLOW, None, loc);
            self.b.ins().sdiv(x, y)
        } else {
            let r = self.b.ins().srem(x, y);
            if op == NarrowOp::RemainderIsZero {
                self.b.ins().icmp_imm_s(IntCC::Equal, r, 0)
            } else {
                r
            }
        };
        finish(self, r);
    }

    /// `x / y`, `x % y` or `x % y == 0` for operands small enough to divide exactly in the
    /// float type `fty` (see `DivI | RemI`).
    fn float_divide(&mut self, fty: types::Type, x: ClValue, y: ClValue, op: NarrowOp) -> ClValue {
        let xf = self.float_operand(fty, x);
        let yf = self.float_operand(fty, y);
        let qf = self.b.ins().fdiv(xf, yf);
        if op == NarrowOp::RemainderIsZero {
            let whole = self.b.ins().trunc(qf);
            // `y >= 1`: the quotient is never NaN, so "equal or unordered" is "equal", and it
            // and its complement test one flag (one branch on x86, not two).
            return self.b.ins().fcmp(FloatCC::UnorderedOrEqual, qf, whole);
        }
        let q = self.b.ins().fcvt_to_sint_sat(types::I64, qf);
        if op == NarrowOp::Quotient {
            return q;
        }
        let qy = self.b.ins().imul(q, y);
        self.b.ins().isub(x, qy)
    }

    /// `v` converted to the float type `fty`: a constant directly, an operand converted where
    /// it was defined (see `single_operands`) from there, anything else here.
    fn float_operand(&mut self, fty: types::Type, v: ClValue) -> ClValue {
        if fty == types::F32 {
            if let Some(&f) = self.single_of.get(&v) {
                return f;
            }
        }
        if let Some(c) = int_constant(&self.b, v) {
            // Rust's conversion rounds to nearest, ties to even, as the instruction does.
            return if fty == types::F32 {
                self.b.ins().f32const(c as f32)
            } else {
                self.b.ins().f64const(c as f64)
            };
        }
        self.b.ins().fcvt_from_sint(fty, v)
    }

    /// Converts `v` to single precision right after its definition when it is an operand of
    /// a division in another block (see `single_operands`).
    fn convert_at_definition(&mut self, v: Value) -> Result<(), CompileError> {
        if self.single_operands.contains(&v) {
            let r = self.reg(v)?;
            if int_constant(&self.b, r).is_none() {
                let f = self.b.ins().fcvt_from_sint(types::F32, r);
                self.single_of.insert(r, f);
            }
        }
        Ok(())
    }

    /// Fills `zero_tests`: a `rem` whose only user (`users`, by value) is an `==` or `!=` with
    /// the constant 0 in the same block; and `branch_zero_tests`.
    fn find_zero_tests(&mut self, users: &HashMap<Value, HashSet<Inst>>) {
        let f = self.f;
        let result_of = |v: Value| match f.dfg.value_def(v) {
            ruchy_ir::ValueDef::Result(i) => Some(i),
            _ => None,
        };
        let is_zero = |v: Value| {
            result_of(v).is_some_and(|c| {
                let d = &f.dfg.insts[c];
                d.opcode == Opcode::Const && matches!(d.imm, Imm::Const(ruchy_ir::Const::Int(0)))
            })
        };
        for (bb, i) in f.insts_in_order() {
            let d = &f.dfg.insts[i];
            if d.opcode != Opcode::CmpI
                || !matches!(d.imm, Imm::Cmp(CmpPred::Eq | CmpPred::Ne))
                || d.args.len() != 2
            {
                continue;
            }
            let tested = match (d.args[0], d.args[1]) {
                (r, z) | (z, r) if is_zero(z) => r,
                _ => continue,
            };
            if let Some(r) = result_of(tested) {
                if f.dfg.insts[r].opcode == Opcode::RemI
                    && self.constant_divisor(f.dfg.insts[r].args[1]).is_none()
                    && f.layout.inst_block(r) == Some(bb)
                    && users.get(&tested).is_some_and(|u| u.len() == 1)
                {
                    self.zero_tests.insert(r, i);
                    // `rem`, `cmp`, `br cmp` ending the block, the comparison used only there.
                    let insts = f.layout.block_insts(bb);
                    let n = insts.len();
                    let cmp_result = d.result;
                    if n >= 3
                        && insts[n - 3..n - 1] == [r, i]
                        && f.dfg.insts[insts[n - 1]].opcode == Opcode::CondBr
                        && cmp_result.is_some_and(|c| {
                            let br = &f.dfg.insts[insts[n - 1]];
                            br.args.first() == Some(&c)
                                && br.all_uses().filter(|&u| u == c).count() == 1
                        })
                    {
                        self.branch_zero_tests.insert(r);
                    }
                }
            }
        }
    }

    fn err(&self, what: impl Into<String>) -> CompileError {
        CompileError(format!("@{}: {}", self.f.name, what.into()))
    }

    fn helper(&mut self, name: &'static str) -> FuncRef {
        if let Some(&r) = self.helper_refs.get(name) {
            return r;
        }
        let id = match self.helper_ids.get(name) {
            Some(&id) => id,
            None => {
                // Helper names are literals of this file, all listed in HELPERS with one
                // signature each, so the lookup and the import cannot fail.
                let h = HELPERS
                    .iter()
                    .find(|h| h.name == name)
                    .expect("every helper compiled code calls is in HELPERS");
                let sig = helper_signature(self.jit, h, self.ptr);
                let id = self
                    .jit
                    .declare_function(h.name, Linkage::Import, &sig)
                    .expect("a helper is imported with its one signature");
                self.helper_ids.insert(name, id);
                id
            }
        };
        let r = self.jit.declare_func_in_func(id, self.b.func);
        self.helper_refs.insert(name, r);
        r
    }

    fn call_helper(&mut self, name: &'static str, args: &[ClValue]) -> Option<ClValue> {
        let r = self.helper(name);
        let call = self.b.ins().call(r, args);
        self.b.inst_results(call).first().copied()
    }

    fn iconst(&mut self, t: types::Type, v: i64) -> ClValue {
        self.b.ins().iconst(t, v)
    }

    fn ty(&self, v: Value) -> Type {
        self.f.dfg.value_type(v)
    }

    /// The slot of a memory-typed value defined in this function.
    fn slot_ptr(&mut self, v: Value) -> ClValue {
        let k = self.slot_index[&v];
        let base = self.slots_base.expect("slots allocated");
        self.b.ins().iadd_imm_s(base, 16 * k as i64)
    }

    fn site(&mut self, loc: SrcLoc) -> (ClValue, ClValue) {
        self.trap_sites.push(loc);
        let fid = self.iconst(types::I32, self.func_id.index() as i64);
        let l = self.iconst(types::I64, pack_loc(loc));
        (fid, l)
    }

    fn run(&mut self) -> Result<(), CompileError> {
        let f = self.f;
        let entry_ir = f.entry_block().ok_or_else(|| self.err("no body"))?;
        // Memory-typed values defined here get slots: block parameters (except the entry's,
        // which the caller owns) and instruction results.
        for &bb in f.layout.blocks() {
            if bb != entry_ir {
                for &p in f.dfg.block_params(bb) {
                    if repr_of(self.ty(p)) == Repr::Memory {
                        self.slot_index.insert(p, self.nslots);
                        self.nslots += 1;
                    }
                }
            }
            for &i in f.layout.block_insts(bb) {
                if let Some(r) = f.dfg.insts[i].result {
                    if repr_of(self.ty(r)) == Repr::Memory {
                        self.slot_index.insert(r, self.nslots);
                        self.nslots += 1;
                    }
                }
            }
        }
        // Values whose every user is one `guard.type` (as its operand, and in its own deopt
        // state, which lists the value among the live ones).
        let mut users: HashMap<Value, HashSet<Inst>> = HashMap::new();
        for (_, i) in f.insts_in_order() {
            let d = &f.dfg.insts[i];
            let deopt = d
                .deopt
                .iter()
                .flat_map(|ds| ds.values.iter().map(|&(_, v)| v));
            let edges = d.dests.iter().flat_map(|c| c.args.iter().copied());
            for v in d.args.iter().copied().chain(deopt).chain(edges) {
                users.entry(v).or_default().insert(i);
            }
        }
        let mut previous: Option<(Block, Inst)> = None;
        for (bb, i) in f.insts_in_order() {
            let d = &f.dfg.insts[i];
            if let (Opcode::GuardType, Some(r), Some(&src)) = (d.opcode, d.result, d.args.first()) {
                if users.get(&src).is_some_and(|u| u.len() == 1) {
                    self.guarded_as.insert(src, self.ty(r));
                }
                if let Some((pb, p)) = previous {
                    if pb == bb && f.dfg.insts[p].result == Some(src) {
                        self.guard_next.insert(src, i);
                    }
                }
            }
            previous = Some((bb, i));
        }
        if self.truncates_natively {
            self.find_zero_tests(&users);
        }
        for (bb, i) in f.insts_in_order() {
            let d = &f.dfg.insts[i];
            if matches!(d.opcode, Opcode::DivI | Opcode::RemI)
                && self.constant_divisor(d.args[1]).is_none()
            {
                for &v in &d.args {
                    if f.def_block(v).is_some_and(|b| b != bb) {
                        self.single_operands.insert(v);
                    }
                }
            }
        }
        let slots = &self.slot_index;
        self.last_uses = LastUses::compute(f, |v| slots.contains_key(&v));
        self.headers = HeaderCache::compute(f, |v| self.inline_arrays(v));
        self.plan_lengths_by_kind();
        let entry = self.b.create_block();
        self.b.append_block_params_for_function_params(entry);
        self.b.switch_to_block(entry);
        let params = self.b.block_params(entry).to_vec();
        self.ctx = params[0];
        for (k, &p) in f.dfg.block_params(entry_ir).iter().enumerate() {
            let cv = params[k + 1];
            let v = if repr_of(self.ty(p)) == Repr::Memory {
                Val::Mem(cv)
            } else {
                Val::Reg(cv)
            };
            self.vals.insert(p, v);
        }
        if returns_in_memory(f) {
            self.out = params.last().copied();
        }
        // Zeroed slots hold nil.
        if self.nslots > 0 {
            let ss = self.b.create_sized_stack_slot(StackSlotData::new(
                StackSlotKind::ExplicitSlot,
                16 * self.nslots,
                4,
            ));
            let base = self.b.ins().stack_addr(self.ptr, ss, 0);
            let zero = self.iconst(types::I64, 0);
            for k in 0..self.nslots {
                self.b
                    .ins()
                    .store(MemFlagsData::trusted(), zero, base, 16 * k as i32);
            }
            self.slots_base = Some(base);
        }
        // Stack check: compiled recursion ends in the same clean "stack overflow" as interpreted
        // code, before it could run off the native stack.
        let sp = self.b.ins().get_stack_pointer(self.ptr);
        let limit = self.b.ins().load(
            self.ptr,
            MemFlagsData::trusted(),
            self.ctx,
            ctx::STACK_LIMIT,
        );
        let over = self.b.ins().icmp(IntCC::UnsignedLessThan, sp, limit);
        let overflow = self.b.create_block();
        self.b.set_cold_block(overflow);
        let body = self.b.create_block();
        self.b.ins().brif(over, overflow, &[], body, &[]);
        self.b.switch_to_block(overflow);
        let kind = self.iconst(types::I32, errors::STACK_OVERFLOW as i64);
        let zero = self.iconst(types::I64, 0);
        let (fid, l) = self.site(f.loc);
        let ctxv = self.ctx;
        self.call_helper("rt_error", &[ctxv, kind, zero, fid, l]);
        self.exit_with_error_no_frame();
        self.b.switch_to_block(body);
        // IR blocks.
        for &bb in f.layout.blocks() {
            let cb = self.b.create_block();
            self.blocks.insert(bb, cb);
            // A block that ends in a trap (a failed check a pass hoisted) runs at most once:
            // lay it out after the hot code.
            if f.layout
                .last_inst(bb)
                .is_some_and(|t| f.dfg.insts[t].opcode == Opcode::Trap)
            {
                self.b.set_cold_block(cb);
            }
            if bb != entry_ir {
                for &p in f.dfg.block_params(bb) {
                    match repr_of(self.ty(p)) {
                        Repr::Memory => {}
                        r => {
                            let v = self.b.append_block_param(cb, cl_type(r, self.ptr));
                            self.vals.insert(p, Val::Reg(v));
                        }
                    }
                }
            }
        }
        for &bb in f.layout.blocks() {
            if bb != entry_ir {
                for &p in f.dfg.block_params(bb) {
                    if repr_of(self.ty(p)) == Repr::Memory {
                        let ptr = self.slot_ptr_at_entry(p);
                        self.vals.insert(p, Val::Mem(ptr));
                    }
                }
            }
        }
        let first = self.blocks[&entry_ir];
        self.b.ins().jump(first, &[]);
        for &bb in f.layout.blocks() {
            let cb = self.blocks[&bb];
            self.b.switch_to_block(cb);
            self.cur_block = Some(bb);
            for &p in f.dfg.block_params(bb) {
                self.convert_at_definition(p)?;
            }
            for &i in f.layout.block_insts(bb) {
                if f.dfg.insts[i].opcode.is_terminator() {
                    for k in 0..self.headers.read_before_branch(bb).len() {
                        let arr = self.headers.read_before_branch(bb)[k];
                        self.read_header_into_vars(arr)?;
                    }
                }
                self.inst(i)?;
                if let Some(r) = f.dfg.insts[i].result {
                    self.convert_at_definition(r)?;
                }
            }
        }
        self.finish_shared_error_calls();
        if let Some(exit) = self.error_exit {
            self.b.switch_to_block(exit);
            self.release();
            let mut rets: Vec<ClValue> = match self.f.ret {
                _ if returns_in_memory(self.f) => vec![],
                t => {
                    let ty = cl_type(repr_of(t), self.ptr);
                    vec![if ty == types::F64 {
                        self.b.ins().f64const(0.0)
                    } else {
                        self.b.ins().iconst(ty, 0)
                    }]
                }
            };
            rets.push(self.b.ins().iconst(types::I8, 1));
            self.b.ins().return_(&rets);
        }
        Ok(())
    }

    /// The address of a block parameter's slot, computed once in the entry block (it dominates
    /// every use).
    fn slot_ptr_at_entry(&mut self, v: Value) -> ClValue {
        self.slot_ptr(v)
    }

    /// The value of an operand, in the representation `want`.
    fn get(&mut self, v: Value) -> Result<Val, CompileError> {
        self.vals
            .get(&v)
            .copied()
            .ok_or_else(|| self.err(format!("{v} used before its definition")))
    }

    fn reg(&mut self, v: Value) -> Result<ClValue, CompileError> {
        match self.get(v)? {
            Val::Reg(r) => Ok(r),
            Val::Mem(_) => Err(self.err(format!("{v} is not in a register"))),
        }
    }

    /// A pointer to a `Value` holding `v`: its slot, or a temporary boxed copy of a register.
    fn mem(&mut self, v: Value) -> Result<ClValue, CompileError> {
        match self.get(v)? {
            Val::Mem(p) => Ok(p),
            Val::Reg(r) => {
                let ss = self.b.create_sized_stack_slot(StackSlotData::new(
                    StackSlotKind::ExplicitSlot,
                    16,
                    4,
                ));
                let p = self.b.ins().stack_addr(self.ptr, ss, 0);
                let ty = self.ty(v);
                store_boxed_raw(&mut self.b, p, r, ty);
                Ok(p)
            }
        }
    }

    /// A temporary array of values (borrowed bitwise copies, never dropped) for helpers that
    /// take several.
    fn value_array(&mut self, vs: &[Value]) -> Result<(ClValue, ClValue), CompileError> {
        let n = vs.len().max(1) as u32;
        let ss = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            16 * n,
            4,
        ));
        let base = self.b.ins().stack_addr(self.ptr, ss, 0);
        for (k, &v) in vs.iter().enumerate() {
            let off = 16 * k as i32;
            match self.get(v)? {
                Val::Mem(p) => copy_value_bits(&mut self.b, p, base, off),
                Val::Reg(r) => {
                    let p = self.b.ins().iadd_imm_s(base, off as i64);
                    let ty = self.ty(v);
                    store_boxed_raw(&mut self.b, p, r, ty);
                }
            }
        }
        let count = self.iconst(types::I64, vs.len() as i64);
        Ok((base, count))
    }

    /// Writes `v` into the memory slot `dst` (dropping what it held).
    fn store_into(&mut self, dst: ClValue, v: Value) -> Result<(), CompileError> {
        match self.get(v)? {
            Val::Mem(p) => {
                self.call_helper("rt_copy", &[dst, p]);
            }
            Val::Reg(r) => {
                let one = self.iconst(types::I64, 1);
                self.call_helper("rt_drop", &[dst, one]);
                let ty = self.ty(v);
                store_boxed_raw(&mut self.b, dst, r, ty);
            }
        }
        Ok(())
    }

    /// Leaves the function after an error was recorded and this frame added: jumps to the
    /// shared error exit (which drops the slots and returns a non-zero status).
    fn exit_with_error_no_frame(&mut self) {
        let exit = match self.error_exit {
            Some(b) => b,
            None => {
                let b = self.b.create_block();
                self.b.set_cold_block(b);
                self.error_exit = Some(b);
                b
            }
        };
        self.b.ins().jump(exit, &[]);
    }

    /// Drops this frame's slots.
    fn release(&mut self) {
        if let Some(base) = self.slots_base {
            let n = self.iconst(types::I64, self.nslots as i64);
            self.call_helper("rt_drop", &[base, n]);
        }
    }

    /// `release` on a return: a few slots are checked inline (they mostly hold numbers, nil
    /// or a value moved out), the runtime called only for those that own heap data.
    fn release_on_return(&mut self) {
        match self.slots_base {
            Some(base) if self.nslots <= 4 => {
                for k in 0..self.nslots {
                    let p = self.b.ins().iadd_imm_s(base, 16 * k as i64);
                    self.drop_slot(p);
                }
            }
            _ => self.release(),
        }
    }

    /// Branches to an error exit (recording this frame at `loc`) when `failed` is non-zero.
    fn check(&mut self, failed: ClValue, loc: SrcLoc) {
        let err = self.b.create_block();
        self.b.set_cold_block(err);
        let ok = self.continuation();
        self.b.ins().brif(failed, err, &[], ok, &[]);
        self.b.switch_to_block(err);
        self.trap_sites.push(loc);
        let l = self.iconst(types::I64, pack_loc(loc));
        let frame = self.shared_frame_call();
        self.b.ins().jump(frame, &[BlockArg::Value(l)]);
        self.b.switch_to_block(ok);
    }

    /// A block for the code after a check in the current block: cold when the current block
    /// is (the rest of a slow path), so that Cranelift does not lay it out between a fast
    /// path's branch and its target.
    fn continuation(&mut self) -> cranelift_codegen::ir::Block {
        let next = self.b.create_block();
        if self
            .b
            .current_block()
            .is_some_and(|c| self.b.func.layout.is_cold(c))
        {
            self.b.set_cold_block(next);
        }
        next
    }

    /// The function's one call of `rt_frame` (records this frame at the location it is given,
    /// then leaves by the error exit): error paths jump there with their location instead of
    /// each making the call, which left Cranelift a call site to allocate registers around per
    /// check. Filled at the end of `run`.
    fn shared_frame_call(&mut self) -> cranelift_codegen::ir::Block {
        if let Some(b) = self.frame_call {
            return b;
        }
        let b = self.b.create_block();
        self.b.set_cold_block(b);
        self.b.append_block_param(b, types::I64);
        self.frame_call = Some(b);
        b
    }

    /// The function's one call of `rt_error` (see `shared_frame_call`), with the error's kind,
    /// operand and location as parameters.
    fn shared_error_call(&mut self) -> cranelift_codegen::ir::Block {
        if let Some(b) = self.error_call {
            return b;
        }
        let b = self.b.create_block();
        self.b.set_cold_block(b);
        self.b.append_block_param(b, types::I32);
        self.b.append_block_param(b, types::I64);
        self.b.append_block_param(b, types::I64);
        self.error_call = Some(b);
        b
    }

    /// Fills the shared error calls that error paths jumped to.
    fn finish_shared_error_calls(&mut self) {
        let fid = self.func_id.index() as i64;
        let c = self.ctx;
        if let Some(b) = self.error_call {
            self.b.switch_to_block(b);
            let p = self.b.block_params(b).to_vec();
            let f = self.iconst(types::I32, fid);
            self.call_helper("rt_error", &[c, p[0], p[1], f, p[2]]);
            self.exit_with_error_no_frame();
        }
        if let Some(b) = self.frame_call {
            self.b.switch_to_block(b);
            let p = self.b.block_params(b).to_vec();
            let f = self.iconst(types::I32, fid);
            self.call_helper("rt_frame", &[c, f, p[0]]);
            self.exit_with_error_no_frame();
        }
    }

    /// Branches to `then` when `c` is non-zero, else to `els`, laying out `then` next if
    /// `then_next` (`els` otherwise).
    fn branch(
        &mut self,
        c: ClValue,
        then: cranelift_codegen::ir::Block,
        els: cranelift_codegen::ir::Block,
        then_next: bool,
    ) {
        if then_next {
            let not_c = self.negate(c);
            self.b.ins().brif(not_c, els, &[], then, &[]);
        } else {
            self.b.ins().brif(c, then, &[], els, &[]);
        }
    }

    /// `!c` for a branch condition: a comparison is re-emitted with the opposite condition so
    /// that it still fuses with the branch.
    fn negate(&mut self, c: ClValue) -> ClValue {
        use cranelift_codegen::ir::InstructionData as D;
        if let cranelift_codegen::ir::ValueDef::Result(inst, 0) = self.b.func.dfg.value_def(c) {
            match self.b.func.dfg.insts[inst] {
                D::IntCompare { cond, args, .. } => {
                    return self.b.ins().icmp(cond.complement(), args[0], args[1]);
                }
                D::FloatCompare { cond, args, .. } => {
                    return self.b.ins().fcmp(cond.complement(), args[0], args[1]);
                }
                _ => {}
            }
        }
        self.b.ins().icmp_imm_s(IntCC::Equal, c, 0)
    }

    /// Raises error `kind` when `cond` is non-zero; `extra` is the error's operand (0 if none,
    /// made on the error path so that the hot path does not hold it).
    fn raise_if(&mut self, cond: ClValue, kind: i32, extra: Option<ClValue>, loc: SrcLoc) {
        let err = self.b.create_block();
        self.b.set_cold_block(err);
        let ok = self.continuation();
        self.b.ins().brif(cond, err, &[], ok, &[]);
        self.b.switch_to_block(err);
        let k = self.iconst(types::I32, kind as i64);
        let extra = extra.unwrap_or_else(|| self.iconst(types::I64, 0));
        self.trap_sites.push(loc);
        let l = self.iconst(types::I64, pack_loc(loc));
        let raise = self.shared_error_call();
        self.b.ins().jump(
            raise,
            &[
                BlockArg::Value(k),
                BlockArg::Value(extra),
                BlockArg::Value(l),
            ],
        );
        self.b.switch_to_block(ok);
    }

    fn status_check(&mut self, status: Option<ClValue>, loc: SrcLoc) {
        if let Some(s) = status {
            self.check(s, loc);
        }
    }

    /// The destination slot of a memory-typed result.
    fn result_slot(&mut self, i: Inst) -> Result<(Value, ClValue), CompileError> {
        let r = self.f.dfg.insts[i]
            .result
            .ok_or_else(|| self.err("missing result"))?;
        let p = self.slot_ptr(r);
        self.vals.insert(r, Val::Mem(p));
        Ok((r, p))
    }

    fn set(&mut self, i: Inst, v: ClValue) {
        if let Some(r) = self.f.dfg.insts[i].result {
            self.vals.insert(r, Val::Reg(v));
        }
    }

    /// Whether `v` lives in one of this frame's own slots (so the frame may give its reference
    /// away) and is not used after `i`.
    fn owned_and_dying(&self, i: Inst, v: Value) -> bool {
        self.slot_index.contains_key(&v) && self.last_uses.dies_at(i, v)
    }

    /// The arguments of a branch to `dest`.
    fn edge(
        &mut self,
        dest: &ruchy_ir::BlockCall,
    ) -> Result<(cranelift_codegen::ir::Block, Vec<BlockArg>), CompileError> {
        let params = self.f.dfg.block_params(dest.block).to_vec();
        let mut args = vec![];
        // Memory parameters receive their values through temporaries first, so that passing a
        // block's own parameters to it in another order works. A value this frame owns and
        // never uses again is moved (its slot becomes nil) rather than copied, so that the
        // parameter holds the only reference: `s = s + x` around a loop stays in place.
        let mut temps = vec![];
        for (&p, &a) in params.iter().zip(&dest.args) {
            if repr_of(self.ty(p)) == Repr::Memory {
                let ss = self.b.create_sized_stack_slot(StackSlotData::new(
                    StackSlotKind::ExplicitSlot,
                    16,
                    4,
                ));
                let t = self.b.ins().stack_addr(self.ptr, ss, 0);
                // Dead on this path: nothing in the destination or after it needs `a` itself
                // (another successor of a conditional branch may, on its own path).
                let once = dest.args.iter().filter(|&&x| x == a).count() == 1;
                let dead_after = !self.last_uses.live_into(dest.block, a);
                let moved = once && dead_after && self.slot_index.contains_key(&a);
                if moved {
                    let src = self.mem(a)?;
                    self.move_value(src, t);
                } else {
                    let z = self.iconst(types::I64, 0);
                    self.b.ins().store(MemFlagsData::trusted(), z, t, 0);
                    self.store_into(t, a)?;
                }
                temps.push((p, t, moved));
            } else {
                let v = self.reg(a)?;
                args.push(BlockArg::Value(v));
            }
        }
        for (p, t, moved) in temps {
            let dst = match self.vals[&p] {
                Val::Mem(d) => d,
                Val::Reg(_) => return Err(self.err("memory parameter in a register")),
            };
            if moved {
                // The parameter's old value is dropped; the temporary's bits become its own.
                self.drop_slot(dst);
                copy_value_bits(&mut self.b, t, dst, 0);
            } else {
                let one = self.iconst(types::I64, 1);
                self.call_helper("rt_copy", &[dst, t]);
                self.call_helper("rt_drop", &[t, one]);
            }
        }
        Ok((self.blocks[&dest.block], args))
    }

    /// After instruction `i`: drops the operands in this frame's slots that it used for the
    /// last time (except `kept`, already taken by the instruction), so that the values they
    /// refer to may have a single owner again.
    fn release_dying(&mut self, i: Inst, kept: Option<Value>) {
        let d = &self.f.dfg.insts[i];
        // A type guard that let execution go on has proven its operand a scalar, which owns
        // nothing: no drop (which would load the slot's tag and test it, in every iteration
        // of a loop over a typed array).
        let proven_scalar = (d.opcode == Opcode::GuardType)
            .then(|| d.args.first().copied())
            .flatten()
            .filter(|_| {
                d.result
                    .is_some_and(|r| repr_of(self.f.dfg.value_type(r)) != Repr::Memory)
            });
        let mut seen: Vec<Value> = vec![];
        let vals: Vec<Value> = d.all_uses().collect();
        for v in vals {
            if seen.contains(&v)
                || Some(v) == kept
                || Some(v) == proven_scalar
                || !self.owned_and_dying(i, v)
            {
                continue;
            }
            seen.push(v);
            if let Some(&Val::Mem(p)) = self.vals.get(&v) {
                self.drop_slot(p);
            }
        }
    }

    /// Moves the value at `src` (one of this frame's slots) to `dst`, which must hold nothing to
    /// drop: `dst` takes over the reference and `src` becomes nil.
    fn move_value(&mut self, src: ClValue, dst: ClValue) {
        copy_value_bits(&mut self.b, src, dst, 0);
        let nil = self.iconst(types::I64, tags::NIL as i64);
        self.b.ins().store(MemFlagsData::trusted(), nil, src, 0);
    }

    /// Drops the value in slot `p` (leaving nil), calling the runtime only when it may own
    /// heap data (tags from `str` on).
    fn drop_slot(&mut self, p: ClValue) {
        let tag = self.b.ins().load(types::I64, MemFlagsData::trusted(), p, 0);
        let heap =
            self.b
                .ins()
                .icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, tag, tags::STR as i64);
        let drop = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(heap, drop, &[], done, &[]);
        self.b.switch_to_block(drop);
        let one = self.iconst(types::I64, 1);
        self.call_helper("rt_drop", &[p, one]);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
    }

    fn inst(&mut self, i: Inst) -> Result<(), CompileError> {
        let d = self.f.dfg.insts[i].clone();
        let loc = d.loc;
        let a = |k: usize| d.args[k];
        // An operand the instruction took over (nothing left to drop after it).
        let mut taken = None;
        use Opcode::*;
        match d.opcode {
            Const => {
                let v = match &d.imm {
                    // x86 has no 64-bit immediates outside `mov`: Cranelift makes a wider
                    // constant a memory operand of its user, and a compare with a RIP-relative
                    // operand does not fuse with its branch (primes' overflow bound costed
                    // its loop 9%). Hidden behind an `or 0`, which Cranelift does not fold at
                    // `opt_level=none`, the constant is made once, where the IR defines it
                    // (before the loop), and kept in a register.
                    Imm::Const(ruchy_ir::Const::Int(n)) if i32::try_from(*n).is_err() => {
                        let c = self.iconst(types::I64, *n);
                        self.b.ins().bor_imm_s(c, 0)
                    }
                    Imm::Const(ruchy_ir::Const::Int(n)) => self.iconst(types::I64, *n),
                    Imm::Const(ruchy_ir::Const::Float(x)) => self.b.ins().f64const(*x),
                    Imm::Const(ruchy_ir::Const::Bool(x)) => self.iconst(types::I8, *x as i64),
                    Imm::Const(ruchy_ir::Const::Nil) => self.iconst(types::I64, 0),
                    _ => return Err(self.err("bad constant")),
                };
                self.set(i, v);
            }
            StrConst => {
                let Imm::Const(ruchy_ir::Const::Str(s)) = &d.imm else {
                    return Err(self.err("bad string"));
                };
                let src = self.abi.string_constant(s) as i64;
                let (_, dst) = self.result_slot(i)?;
                let srcv = self.iconst(self.ptr, src);
                self.call_helper("rt_copy", &[dst, srcv]);
            }
            AddI | SubI | MulI => {
                let (x, y) = (self.reg(a(0))?, self.reg(a(1))?);
                let (r, of, kind) = match d.opcode {
                    AddI => {
                        let (r, of) = self.b.ins().sadd_overflow(x, y);
                        (r, of, errors::ADD_OVERFLOW)
                    }
                    SubI => {
                        let (r, of) = self.b.ins().ssub_overflow(x, y);
                        (r, of, errors::SUB_OVERFLOW)
                    }
                    _ => {
                        let (r, of) = self.b.ins().smul_overflow(x, y);
                        (r, of, errors::MUL_OVERFLOW)
                    }
                };
                self.raise_if(of, kind, None, loc);
                self.set(i, r);
            }
            AddIWrap | SubIWrap | MulIWrap | AndI | OrI | XorI => {
                let (x, y) = (self.reg(a(0))?, self.reg(a(1))?);
                let r = match d.opcode {
                    AddIWrap => self.b.ins().iadd(x, y),
                    SubIWrap => self.b.ins().isub(x, y),
                    MulIWrap => self.b.ins().imul(x, y),
                    AndI => self.b.ins().band(x, y),
                    OrI => self.b.ins().bor(x, y),
                    _ => self.b.ins().bxor(x, y),
                };
                self.set(i, r);
            }
            DivI | RemI if self.constant_divisor(a(1)).is_some() => {
                let x = self.reg(a(0))?;
                let divisor = self.constant_divisor(a(1)).unwrap_or(1);
                let r = self.divide_by_constant(x, divisor, d.opcode == DivI, loc);
                self.set(i, r);
            }
            DivI | RemI => {
                let (x, y) = (self.reg(a(0))?, self.reg(a(1))?);
                match self.zero_tests.get(&i).copied() {
                    None => {
                        let op = if d.opcode == DivI {
                            NarrowOp::Quotient
                        } else {
                            NarrowOp::Remainder
                        };
                        let done = self.b.create_block();
                        let result = self.b.append_block_param(done, types::I64);
                        self.divide(x, y, op, loc, |l, r| {
                            l.b.ins().jump(done, &[BlockArg::Value(r)]);
                        });
                        self.b.switch_to_block(done);
                        self.set(i, result);
                    }
                    // The test decides the block's branch: divide there, so that each way of
                    // dividing branches on its own test.
                    Some(cmp) if self.branch_zero_tests.contains(&i) => {
                        self.pending_zero_test = Some(PendingZeroTest { cmp, x, y, loc });
                    }
                    Some(cmp) => {
                        let done = self.b.create_block();
                        let result = self.b.append_block_param(done, types::I8);
                        self.divide(x, y, NarrowOp::RemainderIsZero, loc, |l, r| {
                            l.b.ins().jump(done, &[BlockArg::Value(r)]);
                        });
                        self.b.switch_to_block(done);
                        self.zero_test_results.insert(cmp, result);
                    }
                }
            }
            NegI => {
                let x = self.reg(a(0))?;
                let is_min = self.b.ins().icmp_imm_s(IntCC::Equal, x, i64::MIN);
                self.raise_if(is_min, errors::NEG_OVERFLOW, None, loc);
                let r = self.b.ins().ineg(x);
                self.set(i, r);
            }
            NotI => {
                let x = self.reg(a(0))?;
                let r = self.b.ins().bnot(x);
                self.set(i, r);
            }
            ShlI | ShrI => {
                let (x, y) = (self.reg(a(0))?, self.reg(a(1))?);
                let out = self
                    .b
                    .ins()
                    .icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, y, 64);
                self.raise_if(out, errors::SHIFT_RANGE, Some(y), loc);
                let r = if d.opcode == ShlI {
                    self.b.ins().ishl(x, y)
                } else {
                    self.b.ins().sshr(x, y)
                };
                self.set(i, r);
            }
            AddF | SubF | MulF | DivF => {
                let (x, y) = (self.reg(a(0))?, self.reg(a(1))?);
                let r = match d.opcode {
                    AddF => self.b.ins().fadd(x, y),
                    SubF => self.b.ins().fsub(x, y),
                    MulF => self.b.ins().fmul(x, y),
                    _ => self.b.ins().fdiv(x, y),
                };
                self.set(i, r);
            }
            RemF => {
                let (x, y) = (self.reg(a(0))?, self.reg(a(1))?);
                let r = self
                    .call_helper("rt_fmod", &[x, y])
                    .ok_or_else(|| self.err("fmod"))?;
                self.set(i, r);
            }
            NegF => {
                let x = self.reg(a(0))?;
                let r = self.b.ins().fneg(x);
                self.set(i, r);
            }
            CmpI | CmpB => {
                let Imm::Cmp(p) = d.imm else {
                    return Err(self.err("bad predicate"));
                };
                if self.pending_zero_test.as_ref().is_some_and(|z| z.cmp == i) {
                    // Tested by the branch that follows.
                } else {
                    let r = if let Some(rem_is_zero) = self.zero_test_results.remove(&i) {
                        // `rem == 0` computed by the remainder (its only use).
                        match p {
                            CmpPred::Eq => rem_is_zero,
                            _ => self.b.ins().icmp_imm_s(IntCC::Equal, rem_is_zero, 0),
                        }
                    } else {
                        let (x, y) = (self.reg(a(0))?, self.reg(a(1))?);
                        let cc = match p {
                            CmpPred::Eq => IntCC::Equal,
                            CmpPred::Ne => IntCC::NotEqual,
                            CmpPred::Lt => IntCC::SignedLessThan,
                            CmpPred::Le => IntCC::SignedLessThanOrEqual,
                            CmpPred::Gt => IntCC::SignedGreaterThan,
                            CmpPred::Ge => IntCC::SignedGreaterThanOrEqual,
                        };
                        self.b.ins().icmp(cc, x, y)
                    };
                    self.set(i, r);
                }
            }
            CmpF => {
                let Imm::Cmp(p) = d.imm else {
                    return Err(self.err("bad predicate"));
                };
                let (x, y) = (self.reg(a(0))?, self.reg(a(1))?);
                let cc = match p {
                    CmpPred::Eq => FloatCC::Equal,
                    CmpPred::Ne => FloatCC::NotEqual,
                    CmpPred::Lt => FloatCC::LessThan,
                    CmpPred::Le => FloatCC::LessThanOrEqual,
                    CmpPred::Gt => FloatCC::GreaterThan,
                    CmpPred::Ge => FloatCC::GreaterThanOrEqual,
                };
                let r = self.b.ins().fcmp(cc, x, y);
                self.set(i, r);
            }
            Not => {
                let x = self.reg(a(0))?;
                let r = self.b.ins().bxor_imm_s(x, 1);
                self.set(i, r);
            }
            IToF => {
                let x = self.reg(a(0))?;
                let r = self.b.ins().fcvt_from_sint(types::F64, x);
                self.set(i, r);
            }
            FToI => {
                let x = self.reg(a(0))?;
                let r = self.b.ins().fcvt_to_sint_sat(types::I64, x);
                self.set(i, r);
            }
            Br => {
                let (blk, args) = self.edge(&d.dests[0])?;
                self.b.ins().jump(blk, &args);
            }
            CondBr => {
                let zero_test = self.pending_zero_test.take();
                // Arguments are evaluated on each edge; an edge without arguments branches
                // straight to its block (fewer blocks compile faster).
                let mut targets = vec![];
                let mut pending = vec![];
                for dest in &d.dests[..2] {
                    if dest.args.is_empty() {
                        targets.push(self.blocks[&dest.block]);
                    } else {
                        let edge = self.b.create_block();
                        targets.push(edge);
                        pending.push((edge, dest));
                    }
                }
                // Cranelift lays the second target of a `brif` out right after the branch: the
                // `else` block, unless only it leaves the function (the exit of a loop whose
                // body is the `then` block, say) — then the `then` block goes there.
                let exits = |b: Block| {
                    self.f
                        .layout
                        .last_inst(b)
                        .is_some_and(|t| matches!(self.f.dfg.insts[t].opcode, Return | Trap))
                };
                let then_next = exits(d.dests[1].block) && !exits(d.dests[0].block);
                match zero_test {
                    None => {
                        let c = self.reg(a(0))?;
                        self.branch(c, targets[0], targets[1], then_next);
                    }
                    Some(z) => {
                        let eq = matches!(self.f.dfg.insts[z.cmp].imm, Imm::Cmp(CmpPred::Eq));
                        let (if_zero, if_not) = if eq {
                            (targets[0], targets[1])
                        } else {
                            (targets[1], targets[0])
                        };
                        let zero_next = eq == then_next;
                        self.divide(z.x, z.y, NarrowOp::RemainderIsZero, z.loc, |l, is_zero| {
                            l.branch(is_zero, if_zero, if_not, zero_next)
                        });
                    }
                }
                for (edge, dest) in pending {
                    self.b.switch_to_block(edge);
                    let (blk, args) = self.edge(dest)?;
                    self.b.ins().jump(blk, &args);
                }
            }
            Switch => {
                let Imm::Cases(cases) = &d.imm else {
                    return Err(self.err("bad switch"));
                };
                let x = self.reg(a(0))?;
                for (k, &c) in cases.iter().enumerate() {
                    let hit = self.b.ins().icmp_imm_s(IntCC::Equal, x, c);
                    let yes = self.b.create_block();
                    let no = self.b.create_block();
                    self.b.ins().brif(hit, yes, &[], no, &[]);
                    self.b.switch_to_block(yes);
                    let (blk, args) = self.edge(&d.dests[k])?;
                    self.b.ins().jump(blk, &args);
                    self.b.switch_to_block(no);
                }
                let (blk, args) = self.edge(&d.dests[cases.len()])?;
                self.b.ins().jump(blk, &args);
            }
            Return => {
                let v = a(0);
                if let Some(out) = self.out {
                    match self.get(v)? {
                        // This frame's own value, dying here: moved to the caller, not copied.
                        Val::Mem(p) if self.slot_index.contains_key(&v) => {
                            self.drop_slot(out);
                            self.move_value(p, out);
                        }
                        _ => self.store_into(out, v)?,
                    }
                    self.release_on_return();
                    let ok = self.b.ins().iconst(types::I8, 0);
                    self.b.ins().return_(&[ok]);
                } else {
                    let r = match self.get(v)? {
                        Val::Reg(r) => r,
                        Val::Mem(_) => return Err(self.err("memory value returned in a register")),
                    };
                    self.release_on_return();
                    let ok = self.b.ins().iconst(types::I8, 0);
                    self.b.ins().return_(&[r, ok]);
                }
            }
            Trap => {
                let Imm::Message(m) = &d.imm else {
                    return Err(self.err("bad trap"));
                };
                let msg = self.abi.string_constant(m) as i64;
                let msgv = self.iconst(self.ptr, msg);
                let (fid, l) = self.site(loc);
                let c = self.ctx;
                self.call_helper("rt_trap", &[c, msgv, fid, l]);
                self.exit_with_error_no_frame();
            }
            Call => {
                let Imm::Func(callee) = d.imm else {
                    return Err(self.err("bad call"));
                };
                self.call(i, callee, &d.args, loc)?;
            }
            CallIndirect => {
                let (arr, n) = self.value_array(&d.args)?;
                let (_, out) = self.result_slot(i)?;
                let (fid, l) = self.site(loc);
                let c = self.ctx;
                let nargs = d.args.len().saturating_sub(1);
                let cache = if nargs <= CallSiteCache::MAX_ARGS {
                    self.abi.call_site_cache(self.func_id)
                } else {
                    None
                };
                let st = match cache {
                    Some(cache) => Some(self.cached_call_value(arr, n, out, nargs, cache, fid, l)),
                    None => self.call_helper("rt_call_value", &[c, out, arr, n, fid, l]),
                };
                self.status_check(st, loc);
                self.unbox_result(i)?;
            }
            FuncRef => {
                let Imm::Func(g) = d.imm else {
                    return Err(self.err("bad func.ref"));
                };
                let (_, out) = self.result_slot(i)?;
                let gv = self.iconst(types::I32, g.index() as i64);
                let c = self.ctx;
                let st = self.call_helper("rt_func_ref", &[c, out, gv]);
                self.status_check(st, loc);
            }
            MakeClosure => {
                let Imm::Func(g) = d.imm else {
                    return Err(self.err("bad func.closure"));
                };
                let (arr, n) = self.value_array(&d.args)?;
                let (_, out) = self.result_slot(i)?;
                let gv = self.iconst(types::I32, g.index() as i64);
                let c = self.ctx;
                let st = self.call_helper("rt_closure_new", &[c, out, gv, arr, n]);
                self.status_check(st, loc);
            }
            GlobalLoad => {
                let Imm::Global(g) = d.imm else {
                    return Err(self.err("bad global"));
                };
                let (_, out) = self.result_slot(i)?;
                let gv = self.iconst(types::I32, g.index() as i64);
                let (fid, l) = self.site(loc);
                let c = self.ctx;
                let st = self.call_helper("rt_global_load", &[c, out, gv, fid, l]);
                self.status_check(st, loc);
            }
            GlobalStore => {
                let Imm::Global(g) = d.imm else {
                    return Err(self.err("bad global"));
                };
                let v = self.mem(a(0))?;
                let gv = self.iconst(types::I32, g.index() as i64);
                let c = self.ctx;
                let st = self.call_helper("rt_global_store", &[c, gv, v]);
                self.status_check(st, loc);
            }
            CellNew | CellLoad => {
                let v = if d.args.is_empty() {
                    let z = self.iconst(types::I64, 0);
                    let ss = self.b.create_sized_stack_slot(StackSlotData::new(
                        StackSlotKind::ExplicitSlot,
                        16,
                        4,
                    ));
                    let p = self.b.ins().stack_addr(self.ptr, ss, 0);
                    self.b.ins().store(MemFlagsData::trusted(), z, p, 0);
                    p
                } else {
                    self.mem(a(0))?
                };
                let (_, out) = self.result_slot(i)?;
                let name = if d.opcode == CellNew {
                    "rt_cell_new"
                } else {
                    "rt_cell_load"
                };
                let c = self.ctx;
                let st = self.call_helper(name, &[c, out, v]);
                self.status_check(st, loc);
            }
            CellStore => {
                let (cell, v) = (self.mem(a(0))?, self.mem(a(1))?);
                let c = self.ctx;
                let st = self.call_helper("rt_cell_store", &[c, cell, v]);
                self.status_check(st, loc);
            }
            // Frame-local arrays are allocated like any other for now; the decision is in the IR
            // for a backend that lays arrays out itself.
            ArrayNew | StackAlloc | TupleNew => {
                let (arr, n) = self.value_array(&d.args)?;
                let (_, out) = self.result_slot(i)?;
                let name = if d.opcode == TupleNew {
                    "rt_tuple_new"
                } else {
                    "rt_array_new"
                };
                let c = self.ctx;
                let st = self.call_helper(name, &[c, out, arr, n]);
                self.status_check(st, loc);
            }
            ArrayGet if self.inline_arrays(a(0)) && self.result_is_memory(i) => {
                self.array_get_inline(i, a(0), a(1), loc)?;
            }
            ArraySet if self.inline_arrays(a(0)) => self.array_set_inline(a(0), a(1), a(2), loc)?,
            ArrayPush if self.inline_arrays(a(0)) => self.array_push_inline(a(0), a(1), loc)?,
            ArrayLen if self.inline_arrays(a(0)) => {
                let len = self.array_len_inline(a(0))?;
                self.set(i, len);
            }
            ArrayGet | StrIndex => {
                let base = self.mem(a(0))?;
                let idx = self.reg(a(1))?;
                let (_, out) = self.result_slot(i)?;
                let (fid, l) = self.site(loc);
                let name = if d.opcode == ArrayGet {
                    "rt_array_get"
                } else {
                    "rt_str_index"
                };
                let c = self.ctx;
                let st = self.call_helper(name, &[c, out, base, idx, fid, l]);
                self.status_check(st, loc);
                self.unbox_result(i)?;
            }
            ArraySet => {
                let base = self.mem(a(0))?;
                let idx = self.reg(a(1))?;
                let v = self.mem(a(2))?;
                let (fid, l) = self.site(loc);
                let c = self.ctx;
                let st = self.call_helper("rt_array_set", &[c, base, idx, v, fid, l]);
                self.status_check(st, loc);
            }
            ArrayPush => {
                let base = self.mem(a(0))?;
                let v = self.mem(a(1))?;
                let (fid, l) = self.site(loc);
                let c = self.ctx;
                let st = self.call_helper("rt_array_push", &[c, base, v, fid, l]);
                self.status_check(st, loc);
            }
            ArrayLen | StrLen => {
                let base = self.mem(a(0))?;
                let r = self
                    .call_helper("rt_len", &[base])
                    .ok_or_else(|| self.err("len"))?;
                self.set(i, r);
            }
            ArrayConcat | StrConcat => {
                let (x, y) = (self.mem(a(0))?, self.mem(a(1))?);
                let (_, out) = self.result_slot(i)?;
                // A left string used for the last time is taken, so that it is appended to in
                // place when nothing else refers to it.
                let take = d.opcode == StrConcat && a(0) != a(1) && self.owned_and_dying(i, a(0));
                let name = match d.opcode {
                    ArrayConcat => "rt_array_concat",
                    _ if take => {
                        taken = Some(a(0));
                        "rt_str_concat_take"
                    }
                    _ => "rt_str_concat",
                };
                let c = self.ctx;
                let st = self.call_helper(name, &[c, out, x, y]);
                self.status_check(st, loc);
            }
            StrFrom => {
                let v = self.mem(a(0))?;
                let (_, out) = self.result_slot(i)?;
                let c = self.ctx;
                let st = self.call_helper("rt_str_from", &[c, out, v]);
                self.status_check(st, loc);
            }
            StrCmp => {
                let Imm::Cmp(p) = d.imm else {
                    return Err(self.err("bad predicate"));
                };
                let (x, y) = (self.mem(a(0))?, self.mem(a(1))?);
                let pv = self.iconst(types::I32, p as i64);
                let r = self
                    .call_helper("rt_str_cmp", &[x, y, pv])
                    .ok_or_else(|| self.err("str.cmp"))?;
                self.set(i, r);
            }
            Print | Println => {
                let (arr, n) = self.value_array(&d.args)?;
                let nl = self.iconst(types::I8, (d.opcode == Println) as i64);
                let c = self.ctx;
                let st = self.call_helper("rt_print", &[c, arr, n, nl]);
                self.status_check(st, loc);
                if let Some(r) = d.result {
                    if repr_of(self.ty(r)) == Repr::Memory {
                        let (_, out) = self.result_slot(i)?;
                        let one = self.iconst(types::I64, 1);
                        self.call_helper("rt_drop", &[out, one]);
                    } else {
                        let z = self.iconst(types::I64, 0);
                        self.set(i, z);
                    }
                }
            }
            RtLen => {
                let v = self.mem(a(0))?;
                let out = self.nil_temp();
                let c = self.ctx;
                let st = self.call_helper("rt_len_any", &[c, out, v]);
                self.status_check(st, loc);
                let n = self
                    .b
                    .ins()
                    .load(types::I64, MemFlagsData::trusted(), out, 8);
                self.set(i, n);
            }
            RtAdd | RtSub | RtMul | RtDiv | RtRem | RtCmp => {
                let pred = match d.imm {
                    Imm::Cmp(p) => Some(p),
                    _ => None,
                };
                let code = crate::dyn_op_code(d.opcode, pred)
                    .ok_or_else(|| self.err("bad runtime operation"))?;
                let (x, y) = (self.mem(a(0))?, self.mem(a(1))?);
                let code = self.iconst(types::I32, code as i64);
                let c = self.ctx;
                if d.opcode == RtCmp {
                    // A bool result: the helper writes it into a temporary value.
                    let out = self.nil_temp();
                    let st = self.call_helper("rt_dyn_binary", &[c, out, x, y, code]);
                    self.status_check(st, loc);
                    let r = self
                        .b
                        .ins()
                        .load(types::I8, MemFlagsData::trusted(), out, 8);
                    self.set(i, r);
                } else {
                    let (_, out) = self.result_slot(i)?;
                    let st = self.call_helper("rt_dyn_binary", &[c, out, x, y, code]);
                    self.status_check(st, loc);
                }
            }
            RtMethod | RtBuiltin => {
                let (arr, n) = self.value_array(&d.args)?;
                let (_, out) = self.result_slot(i)?;
                let what = match &d.imm {
                    Imm::Method(m) => {
                        let s = self.abi.string_constant(m) as i64;
                        self.iconst(self.ptr, s)
                    }
                    Imm::Builtin(b) => {
                        let k = ruchy_ir::Builtin::ALL.iter().position(|x| x == b);
                        let k = k.ok_or_else(|| self.err("unknown builtin"))?;
                        self.iconst(types::I32, k as i64)
                    }
                    _ => return Err(self.err("bad runtime call")),
                };
                let (fid, l) = self.site(loc);
                let c = self.ctx;
                let name = if d.opcode == RtMethod {
                    "rt_method"
                } else {
                    "rt_builtin"
                };
                let st = self.call_helper(name, &[c, out, arr, n, what, fid, l]);
                self.status_check(st, loc);
                self.unbox_result(i)?;
            }
            GuardType => self.guard(i, &d)?,
            op => {
                return Err(self.err(format!(
                    "`{op}` cannot be compiled (dyn ops never reach a backend)"
                )))
            }
        }
        if !d.opcode.is_terminator() {
            self.release_dying(i, taken);
        }
        Ok(())
    }

    /// After a helper wrote a result into its memory slot: a register-typed result is read back.
    fn unbox_result(&mut self, i: Inst) -> Result<(), CompileError> {
        let Some(r) = self.f.dfg.insts[i].result else {
            return Ok(());
        };
        let t = self.ty(r);
        let Val::Mem(p) = self.get(r)? else {
            return Ok(());
        };
        let ty = match repr_of(t) {
            Repr::I64 | Repr::Unit => types::I64,
            Repr::F64 => types::F64,
            Repr::Bool => types::I8,
            Repr::Memory => return Ok(()),
        };
        let v = self.b.ins().load(ty, MemFlagsData::trusted(), p, 8);
        self.vals.insert(r, Val::Reg(v));
        Ok(())
    }

    fn call(
        &mut self,
        i: Inst,
        callee: FuncId,
        args: &[Value],
        loc: SrcLoc,
    ) -> Result<(), CompileError> {
        let g = &self.module.funcs[callee];
        let slot = if g.level != ruchy_ir::Level::Dyn {
            self.abi.call_slot(callee)
        } else {
            None
        };
        let result = self.f.dfg.insts[i].result;
        match slot {
            Some(cell) => {
                let sig = native_signature(self.jit, g);
                let sigref = self.b.import_signature(sig);
                let mut cargs = vec![self.ctx];
                for (&v, &pt) in args.iter().zip(&g.params) {
                    let cv = match repr_of(pt) {
                        Repr::Memory => self.mem(v)?,
                        _ => self.reg(v)?,
                    };
                    cargs.push(cv);
                }
                let mem_ret = returns_in_memory(g);
                let out = if mem_ret {
                    match result {
                        Some(r) if repr_of(self.ty(r)) == Repr::Memory => {
                            Some(self.result_slot(i)?.1)
                        }
                        _ => {
                            return Err(
                                self.err("call result representation differs from the callee's")
                            )
                        }
                    }
                } else {
                    None
                };
                if let Some(o) = out {
                    cargs.push(o);
                }
                let call = match self.self_id {
                    // A recursive call goes straight to this function's own code.
                    Some(own) if callee == self.func_id => {
                        let r = self.jit.declare_func_in_func(own, self.b.func);
                        self.b.ins().call(r, &cargs)
                    }
                    _ => {
                        let cellv = self.iconst(self.ptr, cell as i64);
                        let target = self
                            .b
                            .ins()
                            .load(self.ptr, MemFlagsData::trusted(), cellv, 0);
                        self.b.ins().call_indirect(sigref, target, &cargs)
                    }
                };
                let all = self.b.inst_results(call).to_vec();
                let (status, rets) = all
                    .split_last()
                    .ok_or_else(|| self.err("call without a status"))?;
                self.check(*status, loc);
                if let (Some(&rv), Some(r)) = (rets.first(), result) {
                    if repr_of(self.ty(r)) == Repr::Memory {
                        // A register result where the IR expects a memory value (`any`).
                        let (_, out) = self.result_slot(i)?;
                        let one = self.iconst(types::I64, 1);
                        self.call_helper("rt_drop", &[out, one]);
                        store_boxed_raw(&mut self.b, out, rv, g.ret);
                    } else {
                        self.vals.insert(r, Val::Reg(rv));
                    }
                }
            }
            None => {
                let (arr, n) = self.value_array(args)?;
                let out = match result {
                    Some(r) if repr_of(self.ty(r)) == Repr::Memory => self.result_slot(i)?.1,
                    _ => {
                        let ss = self.b.create_sized_stack_slot(StackSlotData::new(
                            StackSlotKind::ExplicitSlot,
                            16,
                            4,
                        ));
                        let p = self.b.ins().stack_addr(self.ptr, ss, 0);
                        let z = self.iconst(types::I64, 0);
                        self.b.ins().store(MemFlagsData::trusted(), z, p, 0);
                        if let Some(r) = result {
                            self.vals.insert(r, Val::Mem(p));
                        }
                        p
                    }
                };
                let gv = self.iconst(types::I32, callee.index() as i64);
                let (fid, l) = self.site(loc);
                let c = self.ctx;
                let st = self.call_helper("rt_call", &[c, out, gv, arr, n, fid, l]);
                self.status_check(st, loc);
                self.unbox_result(i)?;
            }
        }
        Ok(())
    }

    /// `guard.type`: an inline tag check; on failure the live values go to the runtime, which
    /// finishes the frame in the interpreter (see the deopt state) and writes its result.
    /// Leaves for the interpreter at guard `i` (from a block of its failed check).
    fn deopt_exit(&mut self, i: Inst, d: &ruchy_ir::InstData) -> Result<(), CompileError> {
        let Some(out) = self.out else {
            return Err(
                self.err("a guard in a function that returns in a register cannot deoptimize")
            );
        };
        let locals: Vec<Value> = d
            .deopt
            .as_ref()
            .map(|ds| ds.values.iter().map(|&(_, l)| l).collect())
            .unwrap_or_default();
        let (arr, _) = self.value_array(&locals)?;
        let fid = self.iconst(types::I32, self.func_id.index() as i64);
        let inst = self.iconst(types::I32, i.index() as i64);
        let c = self.ctx;
        let st = self
            .call_helper("rt_deopt", &[c, out, fid, inst, arr])
            .ok_or_else(|| self.err("deopt"))?;
        // The interpreter ran this frame to its end (and recorded its own frame on an error):
        // leave with its result and its status.
        self.release();
        self.b.ins().return_(&[st]);
        Ok(())
    }

    fn guard(&mut self, i: Inst, d: &ruchy_ir::InstData) -> Result<(), CompileError> {
        let r = d.result.ok_or_else(|| self.err("guard without result"))?;
        let t = self.ty(r);
        let tag = tag_of(t).ok_or_else(|| self.err(format!("cannot guard for type {t}")))?;
        let src = self.mem(d.args[0])?;
        let known = self.known.get(&d.args[0]).copied();
        if !self.prechecked_guards.contains(&i) {
            let actual = match known {
                Some((tag, _)) => tag,
                None => self
                    .b
                    .ins()
                    .load(types::I64, MemFlagsData::trusted(), src, 0),
            };
            let ok = self.b.ins().icmp_imm_s(IntCC::Equal, actual, tag as i64);
            let pass = self.b.create_block();
            let fail = self.b.create_block();
            self.b.set_cold_block(fail);
            self.b.ins().brif(ok, pass, &[], fail, &[]);
            self.b.switch_to_block(fail);
            self.deopt_exit(i, d)?;
            self.b.switch_to_block(pass);
        }
        let v = match (repr_of(t), known) {
            (Repr::I64 | Repr::Unit, Some((_, p))) => Val::Reg(p),
            (Repr::F64, Some((_, p))) => {
                Val::Reg(self.b.ins().bitcast(types::F64, MemFlagsData::new(), p))
            }
            (Repr::Bool, Some((_, p))) => Val::Reg(self.b.ins().ireduce(types::I8, p)),
            // A value in one of this frame's slots that the guard uses for the last time moves
            // into the result's slot (no reference count traffic).
            (Repr::Memory, _) if self.owned_and_dying(i, d.args[0]) => {
                let (_, slot) = self.result_slot(i)?;
                self.drop_slot(slot);
                self.move_value(src, slot);
                Val::Mem(slot)
            }
            (r, _) => self.unboxed(r, src, i)?,
        };
        self.vals.insert(r, v);
        Ok(())
    }

    /// The value in the `Value` at `src` as representation `r` (after its tag was checked).
    fn unboxed(&mut self, r: Repr, src: ClValue, i: Inst) -> Result<Val, CompileError> {
        Ok(match r {
            Repr::I64 | Repr::Unit => Val::Reg(self.b.ins().load(
                types::I64,
                MemFlagsData::trusted(),
                src,
                8,
            )),
            Repr::F64 => Val::Reg(
                self.b
                    .ins()
                    .load(types::F64, MemFlagsData::trusted(), src, 8),
            ),
            Repr::Bool => Val::Reg(
                self.b
                    .ins()
                    .load(types::I8, MemFlagsData::trusted(), src, 8),
            ),
            Repr::Memory => {
                let (_, slot) = self.result_slot(i)?;
                self.call_helper("rt_copy", &[slot, src]);
                Val::Mem(slot)
            }
        })
    }
}

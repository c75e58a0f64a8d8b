//! Code generation backends for Ruchy IR.
//!
//! A [`Backend`] takes one `typed` (or `lowered`) function and the runtime's ABI and returns
//! native code plus what the runtime needs to run it: entry points, code size, compile time and
//! the trap sites that map back to source locations. Backends never see `dyn` ops: dynamic
//! semantics stay in the runtime, which compiled code reaches through `extern "C"` helpers whose
//! addresses the runtime provides ([`RuntimeAbi`]).
//!
//! # The native calling convention
//!
//! Typed values live in machine registers: `i64` as I64, `f64` as F64, `bool` as I8, `unit` as
//! I64 zero. Every other type (strings, arrays, tuples, closures, cells, `any`) lives in a
//! 16-byte runtime `Value` in memory and is passed as a pointer to it: the caller owns the value,
//! the callee only reads it. The *typed entry* of a function takes `(ctx, params...)` and, when
//! its return type is a memory type, a pointer to the caller's slot for the result; it returns a
//! register-typed result directly, then an `i8` status (non-zero: an error is pending). The
//! *boxed entry* is how the interpreter calls compiled code: a trampoline
//! `(ctx, args: *const Value, out: *mut Value, target) -> status` that unboxes the arguments,
//! calls the typed entry `target` and boxes its result. Trampolines depend only on the shape of
//! the typed signature, so every function of one shape shares one ([`BoxedEntry`]).
//!
//! `ctx` points to the runtime's `JitContext`: at offset 16 the pending-error flag the helpers
//! set, at 32 the lowest native stack address compiled code may use (checked on every entry).
//! Errors are recorded by helpers (message and position) and reported by a non-zero `i8` status;
//! compiled code then records its own frame (`rt_frame`) and returns a non-zero status, and
//! every caller checks the status after each call.

pub mod cranelift;
pub mod header_cache;
pub mod helper_thread;
pub mod last_use;

use ruchy_ir::{FuncId, Function, Module, SrcLoc, Type};
use std::time::Duration;

/// What compiled code needs from the runtime.
pub trait RuntimeAbi {
    /// The address of the `extern "C"` helper named `name` (see [`HELPERS`]).
    fn helper(&self, name: &str) -> Option<*const u8>;
    /// The address of a runtime `Value` holding the string `s`, alive as long as the runtime.
    fn string_constant(&mut self, s: &str) -> *const u8;
    /// The address of the indirection cell holding the typed entry of compiled `callee` (so a
    /// later recompilation is seen by every caller), or `None` when calls to it must go through
    /// the runtime (`rt_call`).
    fn call_slot(&mut self, callee: FuncId) -> Option<*const u8>;
    /// A fresh [`CallSiteCache`] for one call through a function value in the code of
    /// `func`, or `None` to call through the runtime (`rt_call_value`) every time. It lives
    /// as long as that code.
    fn call_site_cache(&mut self, func: FuncId) -> Option<*mut CallSiteCache> {
        let _ = func;
        None
    }
    /// How far the array body ([`array_layout`]) lies from the pointer in an array `Value`'s
    /// payload. The payload is an `Rc`'s pointer, whose header layout Rust does not promise, so
    /// the runtime measures it rather than the backend assuming it.
    fn array_body_offset(&self) -> i32;
}

/// The inline cache of one call through a function value in compiled code: when the callee is
/// the plain function `func` (or the closure object `closure`) and the arguments' layout tags
/// are `tags`, compiled code calls `trampoline(ctx, args, out, *cell)` itself instead of asking
/// the runtime (`rt_call_value_cached` fills it on a miss). `cell` is the indirection cell of
/// the compiled specialization, so a recompilation is seen here too.
#[repr(C)]
#[derive(Debug)]
pub struct CallSiteCache {
    /// The callee's function id, or [`CallSiteCache::EMPTY`].
    pub func: u64,
    /// The arguments' layout tags, 4 bits each from the low end, and their count in the top 4
    /// bits ([`CallSiteCache::tags_of`]).
    pub tags: u64,
    pub trampoline: usize,
    pub cell: usize,
    /// The closure object (the payload of its `Value`) when the callee is a closure, else 0.
    /// The runtime holds a reference to it while it is cached, so the address cannot be reused
    /// by another object and `captures` stay valid.
    pub closure: usize,
    /// How many captures the cached closure has (at most [`CallSiteCache::MAX_CAPTURES`]).
    pub ncap: u64,
    /// Bitwise copies of the closure's captures, right-aligned: its leading parameters.
    pub captures: [[u64; 2]; CallSiteCache::MAX_CAPTURES],
}

impl CallSiteCache {
    /// Matches no function.
    pub const EMPTY: u64 = u64::MAX;
    /// Calls with more arguments always go through the runtime.
    pub const MAX_ARGS: usize = 15;
    /// Closures with more captures are not cached.
    pub const MAX_CAPTURES: usize = 4;
    pub const FUNC_OFFSET: i32 = 0;
    pub const TAGS_OFFSET: i32 = 8;
    pub const TRAMPOLINE_OFFSET: i32 = 16;
    pub const CELL_OFFSET: i32 = 24;
    pub const CLOSURE_OFFSET: i32 = 32;
    pub const NCAP_OFFSET: i32 = 40;
    pub const CAPTURES_OFFSET: i32 = 48;

    pub fn empty() -> Self {
        CallSiteCache {
            func: Self::EMPTY,
            tags: 0,
            trampoline: 0,
            cell: 0,
            closure: 0,
            ncap: 0,
            captures: [[0; 2]; Self::MAX_CAPTURES],
        }
    }

    /// The `tags` word for arguments whose layout tags (each below 16) are `tags`.
    pub fn tags_of(tags: impl IntoIterator<Item = u64>) -> u64 {
        let mut word = 0;
        let mut n = 0u64;
        for t in tags.into_iter().take(Self::MAX_ARGS) {
            word |= (t & 0xF) << (4 * n);
            n += 1;
        }
        word | (n << 60)
    }
}

// Compiled code addresses the fields by these offsets.
const _: () = {
    use std::mem::offset_of;
    assert!(offset_of!(CallSiteCache, func) == CallSiteCache::FUNC_OFFSET as usize);
    assert!(offset_of!(CallSiteCache, tags) == CallSiteCache::TAGS_OFFSET as usize);
    assert!(offset_of!(CallSiteCache, trampoline) == CallSiteCache::TRAMPOLINE_OFFSET as usize);
    assert!(offset_of!(CallSiteCache, cell) == CallSiteCache::CELL_OFFSET as usize);
    assert!(offset_of!(CallSiteCache, closure) == CallSiteCache::CLOSURE_OFFSET as usize);
    assert!(offset_of!(CallSiteCache, ncap) == CallSiteCache::NCAP_OFFSET as usize);
    assert!(offset_of!(CallSiteCache, captures) == CallSiteCache::CAPTURES_OFFSET as usize);
};

/// The number `rt_dyn_binary` knows the operation of `rt.add` … `rt.rem` and `rt.cmp` by.
pub fn dyn_op_code(op: ruchy_ir::Opcode, pred: Option<ruchy_ir::CmpPred>) -> Option<i32> {
    use ruchy_ir::Opcode as O;
    Some(match (op, pred) {
        (O::RtAdd, _) => 0,
        (O::RtSub, _) => 1,
        (O::RtMul, _) => 2,
        (O::RtDiv, _) => 3,
        (O::RtRem, _) => 4,
        (O::RtCmp, Some(p)) => 10 + ruchy_ir::CmpPred::ALL.iter().position(|&q| q == p)? as i32,
        _ => return None,
    })
}

/// One compiled function.
pub struct CompiledFunction {
    pub func: FuncId,
    /// `extern "C" fn(ctx, params..., [out]) -> [ret]`, see the crate docs.
    pub typed_entry: *const u8,
    /// How the interpreter calls `typed_entry` with boxed arguments.
    pub boxed_entry: BoxedEntry,
    pub code_size: usize,
    pub compile_time: Duration,
    /// Source locations of the instructions that may raise an error, in the order the code
    /// passes them to the runtime.
    pub trap_sites: Vec<SrcLoc>,
    /// The backend's handle on the memory holding the code; give it back to `free`.
    pub handle: CodeHandle,
}

/// A typed entry and the trampoline that calls it with boxed arguments:
/// `trampoline(ctx, args: *const Value, out: *mut Value, target) -> i8`. One trampoline serves
/// every function with the same typed-signature shape and lives as long as the process, so
/// compiling a function costs one Cranelift function, not two.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BoxedEntry {
    pub trampoline: *const u8,
    pub target: *const u8,
}

impl BoxedEntry {
    /// No boxed entry (code only compiled code calls).
    pub const NONE: BoxedEntry = BoxedEntry {
        trampoline: std::ptr::null(),
        target: std::ptr::null(),
    };

    pub fn is_none(&self) -> bool {
        self.trampoline.is_null()
    }
}

/// Owns compiled code until the backend frees it.
pub struct CodeHandle(pub Box<dyn std::any::Any>);

/// Why a function could not be compiled; the runtime keeps interpreting it and reports this.
#[derive(Clone, Debug, PartialEq)]
pub struct CompileError(pub String);

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A code generator.
pub trait Backend {
    fn name(&self) -> &'static str;
    /// Compiles `func` of `module`, which must be at level `typed` or `lowered`.
    fn compile(
        &mut self,
        module: &Module,
        func: FuncId,
        abi: &mut dyn RuntimeAbi,
    ) -> Result<CompiledFunction, CompileError>;
    /// Compiles several functions (a tier-up's batch: a function and the typed callees it
    /// calls directly), each as [`Backend::compile`] would; the results come in the order of
    /// `funcs`. A backend may generate their code on several cores.
    fn compile_batch(
        &mut self,
        module: &Module,
        funcs: &[FuncId],
        abi: &mut dyn RuntimeAbi,
    ) -> Vec<Result<CompiledFunction, CompileError>> {
        funcs
            .iter()
            .map(|&f| self.compile(module, f, abi))
            .collect()
    }
    /// Frees the memory of compiled code. The caller guarantees that nothing runs it anymore
    /// and no indirection cell points into it.
    fn free(&mut self, code: CompiledFunction);
    /// A stand-in for compiled `spec` (which must return in memory): code with the same typed
    /// entry that has the runtime run `target` (its original) in the interpreter. The runtime
    /// puts it in `spec`'s indirection cell when it gives up on `spec`'s code, so compiled
    /// callers stop entering it. Its boxed entry is [`BoxedEntry::NONE`]: the interpreter never
    /// calls it.
    fn compile_fallback(
        &mut self,
        module: &Module,
        spec: FuncId,
        target: FuncId,
        abi: &mut dyn RuntimeAbi,
    ) -> Result<CompiledFunction, CompileError>;
    /// A text form of the code for a function: the backend's own IR (`--emit=clif`) or the
    /// machine code it generates (`--emit=asm`).
    fn emit_text(
        &mut self,
        module: &Module,
        func: FuncId,
        abi: &mut dyn RuntimeAbi,
        form: TextForm,
    ) -> Result<String, CompileError>;
}

/// Which text [`Backend::emit_text`] produces.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TextForm {
    /// The backend's IR as handed to its code generator (Cranelift IR for Cranelift).
    BackendIr,
    /// The final machine instructions, after register allocation, one per line.
    Asm,
}

/// How a value of IR type `t` is held by compiled code.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Repr {
    I64,
    F64,
    /// A bool as an 8-bit integer (0 or 1).
    Bool,
    /// `unit`: an I64 zero.
    Unit,
    /// A pointer to a 16-byte `Value`.
    Memory,
}

pub fn repr_of(t: Type) -> Repr {
    match t {
        Type::I64 => Repr::I64,
        Type::F64 => Repr::F64,
        Type::Bool => Repr::Bool,
        Type::Unit => Repr::Unit,
        _ => Repr::Memory,
    }
}

/// Whether a function's result comes back through an out-pointer (memory types).
pub fn returns_in_memory(f: &Function) -> bool {
    repr_of(f.ret) == Repr::Memory
}

/// Runtime value tags (the runtime's `Value` is `repr(C, u64)`: tag, then payload).
pub mod tags {
    pub const NIL: u64 = 0;
    pub const BOOL: u64 = 1;
    pub const INT: u64 = 2;
    pub const FLOAT: u64 = 3;
    pub const STR: u64 = 4;
    pub const ARRAY: u64 = 5;
    pub const TUPLE: u64 = 6;
    pub const FUNC: u64 = 7;
    pub const CLOSURE: u64 = 8;
    pub const CELL: u64 = 9;
}

/// Error kinds compiled code raises itself (the runtime turns them into the interpreter's
/// messages).
pub mod errors {
    pub const ADD_OVERFLOW: i32 = 1;
    pub const SUB_OVERFLOW: i32 = 2;
    pub const MUL_OVERFLOW: i32 = 3;
    pub const DIV_OVERFLOW: i32 = 4;
    pub const NEG_OVERFLOW: i32 = 5;
    pub const DIV_BY_ZERO: i32 = 6;
    pub const SHIFT_RANGE: i32 = 7;
    pub const STACK_OVERFLOW: i32 = 8;
    pub const TRAP: i32 = 9;
}

/// The kind of a helper argument or result.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// A pointer (the context, a `Value`, an array of `Value`s).
    Ptr,
    I32,
    I64,
    F64,
    /// An 8-bit integer: a bool, or a status (0 success, 1 an error is pending).
    I8,
}

/// An `extern "C"` runtime helper compiled code calls.
pub struct Helper {
    pub name: &'static str,
    pub params: &'static [Arg],
    pub ret: Option<Arg>,
}

use Arg::*;

/// Every helper compiled code may call. The runtime provides each (a test checks). Arguments
/// named `func`/`loc` are the IR function id and a packed source location ([`pack_loc`]) for
/// error positions; helpers that may fail return an `I8` status.
pub const HELPERS: &[Helper] = &[
    // (ctx, error kind, shift amount or 0, func, loc): records an error raised by compiled code
    // and the frame of func at loc.
    Helper {
        name: "rt_error",
        params: &[Ptr, I32, I64, I32, I64],
        ret: None,
    },
    // (ctx, func, loc): adds a frame to the pending error while unwinding.
    Helper {
        name: "rt_frame",
        params: &[Ptr, I32, I64],
        ret: None,
    },
    // (ctx, message string value, func, loc): `cf.trap`.
    Helper {
        name: "rt_trap",
        params: &[Ptr, Ptr, I32, I64],
        ret: None,
    },
    // (slots, count): drops heap values, leaving nil.
    Helper {
        name: "rt_drop",
        params: &[Ptr, I64],
        ret: None,
    },
    // (dst, src): dst = src.clone().
    Helper {
        name: "rt_copy",
        params: &[Ptr, Ptr],
        ret: None,
    },
    Helper {
        name: "rt_fmod",
        params: &[F64, F64],
        ret: Some(F64),
    },
    // (ctx, values, count, newline).
    Helper {
        name: "rt_print",
        params: &[Ptr, Ptr, I64, I8],
        ret: Some(I8),
    },
    // (ctx, out, a, b)
    Helper {
        name: "rt_str_concat",
        params: &[Ptr, Ptr, Ptr, Ptr],
        ret: Some(I8),
    },
    // (ctx, out, a, b): `str.concat` taking `a` out of its slot (which becomes nil), appending
    // in place when it has no other owner.
    Helper {
        name: "rt_str_concat_take",
        params: &[Ptr, Ptr, Ptr, Ptr],
        ret: Some(I8),
    },
    // (ctx, out, value)
    Helper {
        name: "rt_str_from",
        params: &[Ptr, Ptr, Ptr],
        ret: Some(I8),
    },
    Helper {
        name: "rt_len",
        params: &[Ptr],
        ret: Some(I64),
    },
    // (ctx, out, value): `rt.len`, `len` of a value of any type; the int goes to out.
    Helper {
        name: "rt_len_any",
        params: &[Ptr, Ptr, Ptr],
        ret: Some(I8),
    },
    // (ctx, out, string, index, func, loc)
    Helper {
        name: "rt_str_index",
        params: &[Ptr, Ptr, Ptr, I64, I32, I64],
        ret: Some(I8),
    },
    // (a, b, predicate) -> bool
    Helper {
        name: "rt_str_cmp",
        params: &[Ptr, Ptr, I32],
        ret: Some(I8),
    },
    // (ctx, out, elements, count)
    Helper {
        name: "rt_array_new",
        params: &[Ptr, Ptr, Ptr, I64],
        ret: Some(I8),
    },
    Helper {
        name: "rt_tuple_new",
        params: &[Ptr, Ptr, Ptr, I64],
        ret: Some(I8),
    },
    // (ctx, out, array, index, func, loc)
    Helper {
        name: "rt_array_get",
        params: &[Ptr, Ptr, Ptr, I64, I32, I64],
        ret: Some(I8),
    },
    // (ctx, array, index, value, func, loc)
    Helper {
        name: "rt_array_set",
        params: &[Ptr, Ptr, I64, Ptr, I32, I64],
        ret: Some(I8),
    },
    // (ctx, array, value, func, loc)
    Helper {
        name: "rt_array_push",
        params: &[Ptr, Ptr, Ptr, I32, I64],
        ret: Some(I8),
    },
    // (ctx, out, a, b)
    Helper {
        name: "rt_array_concat",
        params: &[Ptr, Ptr, Ptr, Ptr],
        ret: Some(I8),
    },
    // (ctx, out, global, func, loc)
    Helper {
        name: "rt_global_load",
        params: &[Ptr, Ptr, I32, I32, I64],
        ret: Some(I8),
    },
    // (ctx, global, value)
    Helper {
        name: "rt_global_store",
        params: &[Ptr, I32, Ptr],
        ret: Some(I8),
    },
    // (ctx, out, value)
    Helper {
        name: "rt_cell_new",
        params: &[Ptr, Ptr, Ptr],
        ret: Some(I8),
    },
    // (ctx, out, cell)
    Helper {
        name: "rt_cell_load",
        params: &[Ptr, Ptr, Ptr],
        ret: Some(I8),
    },
    // (ctx, cell, value)
    Helper {
        name: "rt_cell_store",
        params: &[Ptr, Ptr, Ptr],
        ret: Some(I8),
    },
    // (ctx, out, func)
    Helper {
        name: "rt_func_ref",
        params: &[Ptr, Ptr, I32],
        ret: Some(I8),
    },
    // (ctx, out, func, captures, count)
    Helper {
        name: "rt_closure_new",
        params: &[Ptr, Ptr, I32, Ptr, I64],
        ret: Some(I8),
    },
    // (ctx, out, callee func, args, count, caller func, loc): a call the runtime performs.
    Helper {
        name: "rt_call",
        params: &[Ptr, Ptr, I32, Ptr, I64, I32, I64],
        ret: Some(I8),
    },
    // (ctx, out, args (the callee value first), count, caller func, loc)
    Helper {
        name: "rt_call_value",
        params: &[Ptr, Ptr, Ptr, I64, I32, I64],
        ret: Some(I8),
    },
    // (ctx, out, args (the callee value first), count, caller func, loc, call-site cache):
    // `rt_call_value`, then fills the cache when the callee runs compiled code.
    Helper {
        name: "rt_call_value_cached",
        params: &[Ptr, Ptr, Ptr, I64, I32, I64, Ptr],
        ret: Some(I8),
    },
    // (ctx, out, a, b, op): `rt.add` … `rt.rem` (op 0 to 4) and `rt.cmp` (op 10 + the predicate's
    // index in `CmpPred::ALL`, see `dyn_op_code`): the runtime's generic arithmetic on two values in memory.
    Helper {
        name: "rt_dyn_binary",
        params: &[Ptr, Ptr, Ptr, Ptr, I32],
        ret: Some(I8),
    },
    // (ctx, out, args, count, method name string value, func, loc): `rt.method`, the runtime's
    // method dispatch on args[0] with the rest as arguments.
    Helper {
        name: "rt_method",
        params: &[Ptr, Ptr, Ptr, I64, Ptr, I32, I64],
        ret: Some(I8),
    },
    // (ctx, out, args, count, builtin number in `Builtin::ALL`, func, loc): `rt.builtin`.
    Helper {
        name: "rt_builtin",
        params: &[Ptr, Ptr, Ptr, I64, I32, I32, I64],
        ret: Some(I8),
    },
    // (ctx, out, func, guard instruction, live values): a failed guard; the runtime finishes
    // the frame in the interpreter and writes its result to out.
    Helper {
        name: "rt_deopt",
        params: &[Ptr, Ptr, I32, I32, Ptr],
        ret: Some(I8),
    },
];

/// Offsets of the fields of the runtime's `JitContext` that compiled code reads and writes.
pub mod ctx {
    /// `u64`: how many times the runtime entered compiled code and has not returned yet
    /// (maintained by the runtime, not by compiled code).
    pub const ENTRIES: i32 = 0;
    /// `u64`: non-zero while an error is pending.
    pub const ERROR: i32 = 16;
    /// `u64`: the lowest native stack address compiled code may use; below it a call raises
    /// "stack overflow" instead of running off the end of the stack.
    pub const STACK_LIMIT: i32 = 32;
}

/// The fixed layout of the runtime's array body (`ArrayObj`, `repr(C)`), which compiled code
/// reads and, for typed kinds, writes: elements, `len` (never beyond `cap`).
pub mod array_layout {
    /// Elements are `Value`s; compiled code goes through the runtime.
    pub const KIND_ANY: u64 = 0;
    /// Booleans, one byte each (0 or 1).
    pub const KIND_BOOL: u64 = 1;
    /// Integers, eight bytes each.
    pub const KIND_INT: u64 = 2;
    /// Floats, eight bytes each.
    pub const KIND_FLOAT: u64 = 3;
    /// `u64`: the kind, equal to the value tag of the element type for typed kinds.
    pub const KIND: i32 = 0;
    /// `*mut u8`: the element storage of a typed kind.
    pub const DATA: i32 = 8;
    /// `u64`: the number of elements (every kind).
    pub const LEN: i32 = 16;
    /// `u64`: how many elements of the current typed kind fit in the storage.
    pub const CAP: i32 = 24;
}

/// Packs a source location for a helper argument.
pub fn pack_loc(loc: SrcLoc) -> i64 {
    ((loc.line as i64) << 32) | loc.col as i64
}

/// The inverse of [`pack_loc`].
pub fn unpack_loc(v: i64) -> SrcLoc {
    SrcLoc::new((v >> 32) as u32, (v & 0xffff_ffff) as u32)
}

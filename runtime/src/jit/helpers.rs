//! The `extern "C"` helpers compiled code calls (the list and signatures are
//! `ruchy_backends::HELPERS`). Values are passed as pointers to 16-byte `Value`s that the caller
//! owns; results are written to an `out` slot, dropping what it held. Helpers that can fail
//! record the error in the interpreter and return 1; compiled code then adds its frame with
//! `rt_frame` and returns, and so does every compiled caller. `rt_error` and `rt_trap`, which
//! compiled code calls for errors it detects itself, record its frame too.
//!
//! Every helper dereferences pointers produced by compiled code. The code generator only ever
//! passes pointers to live, initialized `Value` slots (its own zero-initialized frame slots, the
//! caller's argument values, or temporary arrays it filled), and the `JitContext` whose
//! `interp` field the interpreter set right before entering compiled code.

use super::JitContext;
use crate::interp::Interpreter;
use crate::ops;
use crate::value::{Closure, Value};
use ruchy_backends::{errors, unpack_loc};
use ruchy_ir::{Builtin, CmpPred, EntityRef, FuncId};
use std::rc::Rc;

/// The interpreter that entered compiled code.
///
/// # Safety
/// `ctx` must be the context the interpreter passed to compiled code, during that call.
unsafe fn interp<'a>(ctx: *mut JitContext) -> &'a mut Interpreter<'static> {
    // SAFETY: the interpreter stores a pointer to itself in the context before it calls
    // compiled code and does not touch itself until the call returns; helpers run within it.
    unsafe { &mut *((*ctx).interp as *mut Interpreter<'static>) }
}

/// # Safety
/// `p` must point to a live `Value`.
unsafe fn val<'a>(p: *const Value) -> &'a Value {
    // SAFETY: see the module docs: compiled code passes pointers to initialized values.
    unsafe { &*p }
}

/// # Safety
/// `p` must point to `n` live `Value`s.
unsafe fn vals<'a>(p: *const Value, n: i64) -> &'a [Value] {
    if n <= 0 {
        return &[];
    }
    // SAFETY: compiled code builds these arrays itself, `n` entries long (bitwise copies that
    // nobody drops, so borrowing them is sound).
    unsafe { std::slice::from_raw_parts(p, n as usize) }
}

/// # Safety
/// `out` must point to a live `Value` slot owned by compiled code.
unsafe fn put(out: *mut Value, v: Value) {
    // SAFETY: the slot holds a valid value, which this drops and replaces.
    let slot = unsafe { &mut *out };
    store(slot, v);
}

/// Replaces a value; a scalar needs no drop, so the common case skips the drop glue.
#[inline(always)]
fn store(slot: &mut Value, v: Value) {
    if slot.is_scalar() {
        std::mem::forget(std::mem::replace(slot, v));
    } else {
        *slot = v;
    }
}

/// Records an error (the frame comes with the following `rt_frame`).
unsafe fn fail(ctx: *mut JitContext, message: String) -> i8 {
    // SAFETY: forwarded from the helper's own contract.
    unsafe {
        (*ctx).error = 1;
        interp(ctx).pending_error(message, vec![]);
    }
    1
}

unsafe fn done(ctx: *mut JitContext, r: Result<(), String>) -> i8 {
    match r {
        Ok(()) => 0,
        // SAFETY: forwarded.
        Err(m) => unsafe { fail(ctx, m) },
    }
}

/// Writes the result of a call the runtime made on behalf of compiled code, or records its
/// error (with the frames it already has) and reports failure.
unsafe fn call_result(
    ctx: *mut JitContext,
    out: *mut Value,
    r: Result<Value, crate::RuntimeError>,
) -> i8 {
    // SAFETY: forwarded from the helper's own contract.
    unsafe {
        match r {
            Ok(v) => {
                put(out, v);
                0
            }
            Err(e) => {
                (*ctx).error = 1;
                interp(ctx).pending_error(e.message, e.stack);
                1
            }
        }
    }
}

/// Errors compiled code detects itself, with the frame of compiled function `func` at `loc`
/// (one call, so that the cold path that raises them stays small).
/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_error(
    ctx: *mut JitContext,
    kind: i32,
    extra: i64,
    func: i32,
    loc: i64,
) {
    let msg = match kind {
        errors::ADD_OVERFLOW => "Integer overflow in addition".to_string(),
        errors::SUB_OVERFLOW => "Integer overflow in subtraction".to_string(),
        errors::MUL_OVERFLOW => "Integer overflow in multiplication".to_string(),
        errors::DIV_OVERFLOW => "Integer overflow in division".to_string(),
        errors::NEG_OVERFLOW => "Integer overflow in negation".to_string(),
        errors::DIV_BY_ZERO => "Division by zero".to_string(),
        errors::SHIFT_RANGE => format!("Shift amount {extra} out of range"),
        errors::STACK_OVERFLOW => "stack overflow".to_string(),
        _ => "internal error in compiled code".to_string(),
    };
    // SAFETY: called by compiled code with its context.
    unsafe {
        fail(ctx, msg);
        rt_frame(ctx, func, loc);
    }
}

/// Adds the frame of compiled function `func` at `loc` to the pending error.
/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_frame(ctx: *mut JitContext, func: i32, loc: i64) {
    // SAFETY: called by compiled code with its context.
    let it = unsafe { interp(ctx) };
    it.pending_frame(FuncId::new(func as usize), unpack_loc(loc));
}

/// `cf.trap`: raises `message` with the frame of `func` at `loc`.
/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_trap(ctx: *mut JitContext, message: *const Value, func: i32, loc: i64) {
    // SAFETY: `message` is an interned string constant.
    let text = match unsafe { val(message) } {
        Value::Str(s) => s.to_string(),
        _ => "trap".to_string(),
    };
    // SAFETY: called by compiled code with its context.
    unsafe {
        fail(ctx, text);
        rt_frame(ctx, func, loc);
    }
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_drop(slots: *mut Value, n: i64) {
    for k in 0..n.max(0) as usize {
        // SAFETY: compiled code passes its own slot array of `n` values.
        let slot = unsafe { &mut *slots.add(k) };
        if !matches!(
            slot,
            Value::Nil | Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Func(_)
        ) {
            *slot = Value::Nil;
        }
    }
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_copy(dst: *mut Value, src: *const Value) {
    // SAFETY: both point to live values (possibly the same one).
    unsafe {
        let v = val(src).clone();
        put(dst, v);
    }
}

pub extern "C" fn rt_fmod(a: f64, b: f64) -> f64 {
    a % b
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_print(
    ctx: *mut JitContext,
    args: *const Value,
    n: i64,
    newline: i8,
) -> i8 {
    // SAFETY: compiled code passes `n` values.
    let (it, args) = unsafe { (interp(ctx), vals(args, n)) };
    it.print_values(args, newline != 0);
    0
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_str_concat(
    ctx: *mut JitContext,
    out: *mut Value,
    a: *const Value,
    b: *const Value,
) -> i8 {
    // SAFETY: pointers from compiled code.
    unsafe {
        match ops::add(val(a), val(b)) {
            Ok(v) => {
                put(out, v);
                0
            }
            Err(m) => fail(ctx, m),
        }
    }
}

/// `str.concat` whose left operand is used for the last time: takes it out of its slot (leaving
/// nil) and appends in place when nothing else refers to it (`ops::add_owned`).
/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe; `a` is one of the
/// caller's own slots and differs from `out`.
pub unsafe extern "C" fn rt_str_concat_take(
    ctx: *mut JitContext,
    out: *mut Value,
    a: *mut Value,
    b: *const Value,
) -> i8 {
    // SAFETY: pointers from compiled code; `a` is a slot the caller owns.
    unsafe {
        let left = std::mem::take(&mut *a);
        match ops::add_owned(left, val(b)) {
            Ok(v) => {
                put(out, v);
                0
            }
            Err(m) => fail(ctx, m),
        }
    }
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_str_from(
    _ctx: *mut JitContext,
    out: *mut Value,
    v: *const Value,
) -> i8 {
    // SAFETY: pointers from compiled code.
    unsafe { put(out, ops::to_string_value(val(v))) };
    0
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_len(v: *const Value) -> i64 {
    // SAFETY: a pointer from compiled code; typed IR only asks the length of arrays and strings.
    ops::len(unsafe { val(v) }).unwrap_or(0)
}

/// `rt.len`: `len` of a value of any type, written to `out` as an int (or the runtime's error).
/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_len_any(ctx: *mut JitContext, out: *mut Value, v: *const Value) -> i8 {
    // SAFETY: pointers from compiled code.
    unsafe {
        match ops::len(val(v)) {
            Ok(n) => {
                put(out, Value::Int(n));
                0
            }
            Err(m) => fail(ctx, m),
        }
    }
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_str_index(
    ctx: *mut JitContext,
    out: *mut Value,
    s: *const Value,
    i: i64,
    _f: i32,
    _l: i64,
) -> i8 {
    // SAFETY: pointers from compiled code.
    unsafe {
        match ops::index(val(s), &Value::Int(i)) {
            Ok(v) => {
                put(out, v);
                0
            }
            Err(m) => fail(ctx, m),
        }
    }
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_str_cmp(a: *const Value, b: *const Value, pred: i32) -> i8 {
    let pred = match pred {
        0 => CmpPred::Eq,
        1 => CmpPred::Ne,
        2 => CmpPred::Lt,
        3 => CmpPred::Le,
        4 => CmpPred::Gt,
        _ => CmpPred::Ge,
    };
    // SAFETY: pointers from compiled code.
    ops::compare(pred, unsafe { val(a) }, unsafe { val(b) }).unwrap_or(false) as i8
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_array_new(
    _ctx: *mut JitContext,
    out: *mut Value,
    elems: *const Value,
    n: i64,
) -> i8 {
    // SAFETY: compiled code passes `n` values and a slot.
    unsafe { put(out, Value::array(vals(elems, n).to_vec())) };
    0
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_tuple_new(
    _ctx: *mut JitContext,
    out: *mut Value,
    elems: *const Value,
    n: i64,
) -> i8 {
    // SAFETY: compiled code passes `n` values and a slot.
    unsafe { put(out, Value::Tuple(Rc::new(vals(elems, n).to_vec()))) };
    0
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_array_get(
    ctx: *mut JitContext,
    out: *mut Value,
    arr: *const Value,
    i: i64,
    _f: i32,
    _l: i64,
) -> i8 {
    // SAFETY: pointers from compiled code.
    unsafe {
        if let (Value::Array(a), Ok(k)) = (val(arr), usize::try_from(i)) {
            if let Ok(Some(v)) = a.get(k) {
                put(out, v);
                return 0;
            }
        }
        match ops::index(val(arr), &Value::Int(i)) {
            Ok(v) => {
                put(out, v);
                0
            }
            Err(m) => fail(ctx, m),
        }
    }
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_array_set(
    ctx: *mut JitContext,
    arr: *const Value,
    i: i64,
    v: *const Value,
    _f: i32,
    _l: i64,
) -> i8 {
    // SAFETY: pointers from compiled code.
    unsafe {
        // The common case first: an in-bounds, non-negative index of an array nobody borrows.
        if let (Value::Array(a), Ok(k)) = (val(arr), usize::try_from(i)) {
            if let Ok(true) = a.set(k, val(v).clone()) {
                return 0;
            }
        }
        let r = ops::set_index(val(arr), &Value::Int(i), val(v).clone());
        done(ctx, r)
    }
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_array_push(
    ctx: *mut JitContext,
    arr: *const Value,
    v: *const Value,
    _f: i32,
    _l: i64,
) -> i8 {
    // SAFETY: pointers from compiled code.
    unsafe {
        match val(arr) {
            Value::Array(a) => match a.push(val(v).clone()) {
                Ok(()) => 0,
                Err(_) => fail(ctx, "Array is being modified".into()),
            },
            other => fail(ctx, format!("no method `push` on {}", other.type_name())),
        }
    }
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_array_concat(
    ctx: *mut JitContext,
    out: *mut Value,
    a: *const Value,
    b: *const Value,
) -> i8 {
    // SAFETY: same contract as `rt_str_concat`.
    unsafe { rt_str_concat(ctx, out, a, b) }
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_global_load(
    ctx: *mut JitContext,
    out: *mut Value,
    g: i32,
    _f: i32,
    _l: i64,
) -> i8 {
    // SAFETY: called by compiled code with its context and a slot.
    unsafe {
        match interp(ctx).global(g as usize) {
            Ok(v) => {
                put(out, v);
                0
            }
            Err(m) => fail(ctx, m),
        }
    }
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_global_store(ctx: *mut JitContext, g: i32, v: *const Value) -> i8 {
    // SAFETY: called by compiled code with its context and a value.
    unsafe { interp(ctx).set_global(g as usize, val(v).clone()) };
    0
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_cell_new(
    _ctx: *mut JitContext,
    out: *mut Value,
    v: *const Value,
) -> i8 {
    // SAFETY: pointers from compiled code.
    unsafe {
        put(
            out,
            Value::Cell(Rc::new(std::cell::RefCell::new(val(v).clone()))),
        )
    };
    0
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_cell_load(
    ctx: *mut JitContext,
    out: *mut Value,
    cell: *const Value,
) -> i8 {
    // SAFETY: pointers from compiled code.
    unsafe {
        match val(cell) {
            Value::Cell(c) => {
                let v = c.borrow().clone();
                put(out, v);
                0
            }
            other => fail(
                ctx,
                format!(
                    "internal error: expected a cell, found {}",
                    other.type_name()
                ),
            ),
        }
    }
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_cell_store(
    ctx: *mut JitContext,
    cell: *const Value,
    v: *const Value,
) -> i8 {
    // SAFETY: pointers from compiled code.
    unsafe {
        match val(cell) {
            Value::Cell(c) => {
                *c.borrow_mut() = val(v).clone();
                0
            }
            other => fail(
                ctx,
                format!(
                    "internal error: expected a cell, found {}",
                    other.type_name()
                ),
            ),
        }
    }
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_func_ref(_ctx: *mut JitContext, out: *mut Value, f: i32) -> i8 {
    // SAFETY: a slot from compiled code.
    unsafe { put(out, Value::Func(FuncId::new(f as usize))) };
    0
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_closure_new(
    _ctx: *mut JitContext,
    out: *mut Value,
    f: i32,
    caps: *const Value,
    n: i64,
) -> i8 {
    // SAFETY: compiled code passes `n` captured values and a slot.
    unsafe {
        let captures = vals(caps, n).to_vec();
        put(
            out,
            Value::Closure(Rc::new(Closure {
                func: FuncId::new(f as usize),
                captures,
            })),
        );
    }
    0
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_call(
    ctx: *mut JitContext,
    out: *mut Value,
    f: i32,
    args: *const Value,
    n: i64,
    _caller: i32,
    _l: i64,
) -> i8 {
    // SAFETY: called by compiled code with its context, `n` arguments and a slot.
    unsafe {
        let args = vals(args, n).to_vec();
        let r = interp(ctx).call_from_native(FuncId::new(f as usize), &args);
        call_result(ctx, out, r)
    }
}

/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_call_value(
    ctx: *mut JitContext,
    out: *mut Value,
    args: *const Value,
    n: i64,
    _caller: i32,
    _l: i64,
) -> i8 {
    // SAFETY: called by compiled code with its context, the callee and its arguments.
    unsafe {
        // The values live in the calling frame's temporary array for the whole call.
        let all = vals(args, n);
        let it = interp(ctx);
        let Some((callee, rest)) = all.split_first() else {
            return fail(ctx, "internal error: call without a callee".into());
        };
        let r = it.call_value(callee, rest);
        call_result(ctx, out, r)
    }
}

/// `rt_call_value`, then, when the callee (a function or a closure) has compiled code that can
/// be called directly for these argument types, fills the call site's inline cache so that the
/// next such call skips the runtime.
/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe and the cache the
/// runtime gave the call site.
pub unsafe extern "C" fn rt_call_value_cached(
    ctx: *mut JitContext,
    out: *mut Value,
    args: *const Value,
    n: i64,
    caller: i32,
    l: i64,
    cache: *mut ruchy_backends::CallSiteCache,
) -> i8 {
    // SAFETY: as for `rt_call_value`; `cache` is a live cache owned by the runtime, which
    // compiled code reads only between calls.
    unsafe {
        if let Some(status) = call_cached_closure(ctx, out, args, n, &*cache) {
            return status;
        }
        let status = rt_call_value(ctx, out, args, n, caller, l);
        if status == 0 {
            if let Some((callee, rest)) = vals(args, n).split_first() {
                interp(ctx).fill_call_site_cache(&mut *cache, callee, rest);
            }
        }
        status
    }
}

/// A call of the closure `cache` holds, with arguments of the tags it saw: the compiled
/// specialization is called through its trampoline with the cached captures in front of the
/// arguments, skipping the runtime's dispatch. `None` when the cache does not match.
/// # Safety
/// `args` holds `n` live values (the callee first) and `out` is a live value, as compiled code
/// passes them; `cache` was filled by `fill_call_site_cache`.
unsafe fn call_cached_closure(
    ctx: *mut JitContext,
    out: *mut Value,
    args: *const Value,
    n: i64,
    cache: &ruchy_backends::CallSiteCache,
) -> Option<i8> {
    use ruchy_backends::CallSiteCache;
    // SAFETY: the caller's contract; the captures in the cache are bitwise copies of values the
    // cached closure (kept alive by the runtime) owns, and the trampoline only borrows them.
    unsafe {
        let (callee, rest) = vals(args, n).split_first()?;
        if cache.closure == 0
            || !matches!(callee, Value::Closure(_))
            || callee.layout_words()[1] as usize != cache.closure
            || CallSiteCache::tags_of(rest.iter().map(Value::layout_tag)) != cache.tags
        {
            return None;
        }
        let ncap = cache.ncap as usize;
        let mut all = [[0u64; 2]; CallSiteCache::MAX_ARGS];
        let first = CallSiteCache::MAX_CAPTURES - ncap;
        all[..ncap].copy_from_slice(&cache.captures[first..]);
        for (slot, v) in all[ncap..].iter_mut().zip(rest) {
            *slot = v.layout_words();
        }
        // The trampoline writes the result without dropping what `out` held.
        put(out, Value::Nil);
        let target = *(cache.cell as *const usize) as *const u8;
        let trampoline: extern "C" fn(*mut JitContext, *const Value, *mut Value, *const u8) -> i8 =
            std::mem::transmute(cache.trampoline);
        Some(trampoline(ctx, all.as_ptr() as *const Value, out, target))
    }
}

/// `rt.add` … `rt.rem` and `rt.cmp`: the generic arithmetic the interpreter does for `dyn.add`
/// and friends, on two values of any type (`op` from `ruchy_backends::dyn_op_code`).
/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_dyn_binary(
    ctx: *mut JitContext,
    out: *mut Value,
    a: *const Value,
    b: *const Value,
    op: i32,
) -> i8 {
    // SAFETY: called by compiled code with its context, its result slot and two live values.
    unsafe {
        let (a, b) = (val(a), val(b));
        let r = match op {
            0 => ops::add(a, b),
            1 => ops::sub(a, b),
            2 => ops::mul(a, b),
            3 => ops::div(a, b),
            4 => ops::rem(a, b),
            _ => match usize::try_from(op - 10)
                .ok()
                .and_then(|k| CmpPred::ALL.get(k))
            {
                Some(&pred) => ops::compare(pred, a, b).map(Value::Bool),
                None => Err("internal error: unknown runtime operation".into()),
            },
        };
        match r {
            Ok(v) => {
                put(out, v);
                0
            }
            Err(m) => fail(ctx, m),
        }
    }
}

/// `rt.method`: `args[0].name(args[1..])` by the runtime's method dispatch, as the interpreter
/// does it (the same errors).
/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_method(
    ctx: *mut JitContext,
    out: *mut Value,
    args: *const Value,
    n: i64,
    name: *const Value,
    _f: i32,
    _l: i64,
) -> i8 {
    // SAFETY: called by compiled code with its context, its result slot, `n` argument values
    // and an interned string constant.
    unsafe {
        let argv = vals(args, n);
        let Value::Str(name) = val(name) else {
            return fail(ctx, "internal error: method name is not a string".into());
        };
        let Some((recv, rest)) = argv.split_first() else {
            return fail(ctx, "internal error: method call without a receiver".into());
        };
        match ops::method(recv, name, rest) {
            Some(Ok(v)) => {
                put(out, v);
                0
            }
            Some(Err(m)) => fail(ctx, m),
            None => fail(ctx, format!("no method `{}` on {}", name, recv.type_name())),
        }
    }
}

/// `rt.builtin`: builtin number `k` of `Builtin::ALL` applied to the arguments.
/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_builtin(
    ctx: *mut JitContext,
    out: *mut Value,
    args: *const Value,
    n: i64,
    k: i32,
    _f: i32,
    _l: i64,
) -> i8 {
    // SAFETY: called by compiled code with its context, its result slot and `n` argument values.
    unsafe {
        let argv = vals(args, n);
        let Some(&b) = usize::try_from(k).ok().and_then(|k| Builtin::ALL.get(k)) else {
            return fail(ctx, "internal error: unknown builtin".into());
        };
        match ops::builtin(b, argv) {
            Ok(v) => {
                put(out, v);
                0
            }
            Err(m) => fail(ctx, m),
        }
    }
}

/// A failed guard: finishes the frame in the interpreter from the guard's deopt state.
/// # Safety
/// Only compiled code calls this, with the pointers the module docs describe.
pub unsafe extern "C" fn rt_deopt(
    ctx: *mut JitContext,
    out: *mut Value,
    f: i32,
    inst: i32,
    values: *const Value,
) -> i8 {
    // SAFETY: called by compiled code with its context, its return slot and the live values of
    // the guard's deopt state, in order.
    unsafe {
        let it = interp(ctx);
        let n = it.deopt_value_count(FuncId::new(f as usize), inst as usize);
        let live = vals(values, n as i64).to_vec();
        let r = it.deopt(FuncId::new(f as usize), inst as usize, &live);
        call_result(ctx, out, r)
    }
}

/// The address of helper `name`.
pub fn address(name: &str) -> Option<*const u8> {
    Some(match name {
        "rt_error" => rt_error as *const u8,
        "rt_frame" => rt_frame as *const u8,
        "rt_trap" => rt_trap as *const u8,
        "rt_drop" => rt_drop as *const u8,
        "rt_copy" => rt_copy as *const u8,
        "rt_fmod" => rt_fmod as *const u8,
        "rt_print" => rt_print as *const u8,
        "rt_str_concat" => rt_str_concat as *const u8,
        "rt_str_from" => rt_str_from as *const u8,
        "rt_len" => rt_len as *const u8,
        "rt_str_index" => rt_str_index as *const u8,
        "rt_str_cmp" => rt_str_cmp as *const u8,
        "rt_array_new" => rt_array_new as *const u8,
        "rt_tuple_new" => rt_tuple_new as *const u8,
        "rt_array_get" => rt_array_get as *const u8,
        "rt_array_set" => rt_array_set as *const u8,
        "rt_array_push" => rt_array_push as *const u8,
        "rt_array_concat" => rt_array_concat as *const u8,
        "rt_global_load" => rt_global_load as *const u8,
        "rt_global_store" => rt_global_store as *const u8,
        "rt_cell_new" => rt_cell_new as *const u8,
        "rt_cell_load" => rt_cell_load as *const u8,
        "rt_cell_store" => rt_cell_store as *const u8,
        "rt_func_ref" => rt_func_ref as *const u8,
        "rt_closure_new" => rt_closure_new as *const u8,
        "rt_call" => rt_call as *const u8,
        "rt_call_value" => rt_call_value as *const u8,
        "rt_call_value_cached" => rt_call_value_cached as *const u8,
        "rt_method" => rt_method as *const u8,
        "rt_dyn_binary" => rt_dyn_binary as *const u8,
        "rt_len_any" => rt_len_any as *const u8,
        "rt_str_concat_take" => rt_str_concat_take as *const u8,
        "rt_builtin" => rt_builtin as *const u8,
        "rt_deopt" => rt_deopt as *const u8,
        _ => return None,
    })
}

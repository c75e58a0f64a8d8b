//! `partial-inline`: copies the early exits of a callee to its call sites, so that a call that
//! would return at once is not made.
//!
//! Recursive functions start by testing their arguments and returning at once for the base
//! cases: `fib`'s `if n < 2 { return n }`. Most calls of a recursive function are such leaf
//! calls (more than half of `fib`'s), and a compiled call costs a frame, a stack check, saved
//! registers and a status test. The full `inline` pass never inlines recursion; this pass
//! copies just the *exit prefix* of a function that calls itself, at every call of it, so the
//! call is made only when none of the exits is taken (LLVM's PartialInlining does the same,
//! with a cost model; ours is the recursion).
//!
//! The exit prefix of a callee is a chain of blocks from its entry: each computes a test with
//! pure instructions and ends in a `cf.cond_br` whose one destination is an *exit*, a block of
//! pure instructions ending in `cf.return`, and whose other destination continues the chain
//! (a block whose only predecessor is this one, without parameters) or is where the prefix
//! ends. At a call whose callee has one (at most [`MAX_COPIED`] instructions in all), the call's
//! block is split: the tests are copied in place of the call with the arguments for the
//! parameters, each exit goes straight to the continuation with its returned value, and the
//! call itself is made only when every test fell through. The callee is unchanged and repeats
//! the tests when it is called.
//!
//! # Soundness
//!
//! The copied instructions are pure: they cannot raise an error or have any effect, so running
//! them in the caller is unobservable, and when an exit is taken its value is exactly what the
//! call would have returned (the same pure instructions on the same values). What the skipped
//! call would have added is a frame: frames only show in the call stacks of errors, and the
//! exit path raises none; the call depth at which "stack overflow" is raised can only grow.
//! Only calls whose result has a concrete type are rewritten (the continuation's parameter
//! takes the returned values), at the `typed` and `lowered` levels, where the purity of the
//! tests is known (`dyn` comparisons may raise).
//!
//! Counter: "calls with early exits copied".

use crate::pass::{FunctionCx, Pass, PassInfo, PassOptions, Scope};
use crate::registry::PassEntry;
use ruchy_ir::{
    Block, BlockCall, ControlFlowGraph, FuncId, Function, Imm, Inst, InstData, Level, Opcode, Type,
    Value, ValueData, ValueDef,
};
use smallvec::SmallVec;
use std::collections::HashMap;

/// The most instructions (terminators and constants excluded) an exit prefix may have to be
/// copied.
pub const MAX_COPIED: usize = 12;

pub static INFO: PassInfo = PassInfo {
    name: "partial-inline",
    description: "Copies a callee's early exits (pure tests that return at once) to its call \
                  sites, so the call is made only when no exit is taken.",
    scope: Scope::Function,
    options: &[],
};

pub const ENTRY: PassEntry = PassEntry {
    info: &INFO,
    create,
};

fn create(_options: &PassOptions) -> Result<Box<dyn Pass>, String> {
    Ok(Box::new(PartialInline))
}

/// The pass; it has no options.
struct PartialInline;

impl Pass for PartialInline {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run_function(
        &mut self,
        func: &mut Function,
        cx: &mut FunctionCx<'_>,
    ) -> Result<bool, String> {
        if func.level == Level::Dyn {
            return Ok(false);
        }
        // The prefixes are read before anything changes (the function may call itself).
        let mut prefixes: HashMap<FuncId, Option<ExitPrefix>> = HashMap::new();
        let mut sites = vec![];
        for (_, i) in func.insts_in_order() {
            let d = &func.dfg.insts[i];
            let (Opcode::Call, Imm::Func(g), Some(r)) = (d.opcode, &d.imm, d.result) else {
                continue;
            };
            let result_ty = func.dfg.value_type(r);
            if result_ty == Type::Any {
                continue;
            }
            let prefix = prefixes.entry(*g).or_insert_with(|| {
                let callee = if *g == cx.func_id {
                    &*func
                } else {
                    cx.module.funcs.get(*g)?
                };
                calls_itself(callee, *g)
                    .then(|| ExitPrefix::of(callee))
                    .flatten()
            });
            let fits = prefix.as_ref().is_some_and(|p| {
                p.params.len() == d.args.len() && p.returns.iter().all(|t| t.fits(result_ty))
            });
            if fits {
                sites.push((i, *g));
            }
        }
        for &(call, g) in &sites {
            if let Some(Some(prefix)) = prefixes.get(&g) {
                copy_prefix(func, call, prefix);
            }
        }
        cx.stats
            .add("calls with early exits copied", sites.len() as u64);
        Ok(!sites.is_empty())
    }
}

/// Whether `f` (numbered `id`) calls itself directly: most of the calls of a recursive
/// function reach its base case, which is what its exits are. (A call of a function that does
/// not recurse usually runs its body; copying the tests there cost primes' compile time
/// more than the calls it saved.)
fn calls_itself(f: &Function, id: FuncId) -> bool {
    f.insts_in_order().any(|(_, i)| {
        let d = &f.dfg.insts[i];
        d.opcode == Opcode::Call && matches!(d.imm, Imm::Func(g) if g == id)
    })
}

/// A callee's exit prefix, copied out of it.
struct ExitPrefix {
    params: Vec<Value>,
    tests: Vec<Test>,
    /// The types of the values the prefix defines, by the callee's values.
    types: HashMap<Value, Type>,
    /// The types of the values its exits return.
    returns: Vec<Type>,
}

/// One block of the prefix: pure instructions, then a branch on `cond` to its exit (when
/// `cond` is `exit_when`) or on along the prefix.
struct Test {
    insts: Vec<InstData>,
    cond: Value,
    exit_when: bool,
    exit_insts: Vec<InstData>,
    returned: Value,
}

impl ExitPrefix {
    /// `f`'s exit prefix, if it has a non-empty one that is small enough.
    fn of(f: &Function) -> Option<ExitPrefix> {
        if f.level == Level::Dyn {
            return None;
        }
        let entry = f.entry_block()?;
        let cfg = ControlFlowGraph::compute(f);
        let pure = |b: Block| {
            f.layout
                .block_insts(b)
                .split_last()
                .is_some_and(|(_, rest)| {
                    rest.iter().all(|&i| {
                        let d = &f.dfg.insts[i];
                        !d.opcode.has_effects() && d.deopt.is_none() && d.dests.is_empty()
                    })
                })
        };
        let mut tests = vec![];
        let mut types = HashMap::new();
        let mut returns = vec![];
        let mut copied = 0;
        let mut b = entry;
        while let Some((&term, rest)) = f.layout.block_insts(b).split_last() {
            let t = &f.dfg.insts[term];
            if t.opcode != Opcode::CondBr || t.dests.len() != 2 || !pure(b) {
                break;
            }
            if t.dests.iter().any(|d| !d.args.is_empty()) {
                break;
            }
            // An exit: no parameters, pure, returns.
            let exit_of = |d: &BlockCall| -> Option<(Vec<Inst>, Value)> {
                let x = d.block;
                let (&ret, body) = f.layout.block_insts(x).split_last()?;
                let rd = &f.dfg.insts[ret];
                let ok = rd.opcode == Opcode::Return
                    && rd.args.len() == 1
                    && f.dfg.block_params(x).is_empty()
                    && pure(x);
                ok.then(|| (body.to_vec(), rd.args[0]))
            };
            let (exit_when, (exit_body, returned), next) =
                match (exit_of(&t.dests[0]), exit_of(&t.dests[1])) {
                    (Some(e), _) => (true, e, t.dests[1].block),
                    (None, Some(e)) => (false, e, t.dests[0].block),
                    (None, None) => break,
                };
            // Constants are free: folding removes the copies nothing uses.
            copied += rest
                .iter()
                .chain(&exit_body)
                .filter(|&&i| f.dfg.insts[i].opcode != Opcode::Const)
                .count();
            if copied > MAX_COPIED {
                break;
            }
            for &i in rest.iter().chain(&exit_body) {
                if let Some(r) = f.dfg.insts[i].result {
                    types.insert(r, f.dfg.value_type(r));
                }
            }
            returns.push(f.dfg.value_type(returned));
            tests.push(Test {
                insts: rest.iter().map(|&i| f.dfg.insts[i].clone()).collect(),
                cond: t.args[0],
                exit_when,
                exit_insts: exit_body.iter().map(|&i| f.dfg.insts[i].clone()).collect(),
                returned,
            });
            // Go on along the chain while the next block is this one's alone.
            let continues =
                next != entry && cfg.preds(next) == [b] && f.dfg.block_params(next).is_empty();
            if !continues {
                break;
            }
            b = next;
        }
        (!tests.is_empty()).then(|| ExitPrefix {
            params: f.param_values().to_vec(),
            tests,
            types,
            returns,
        })
    }
}

/// Replaces `call` by the tests of `prefix` and, when every test falls through, the call.
fn copy_prefix(func: &mut Function, call: Inst, prefix: &ExitPrefix) {
    let Some(b) = func.layout.inst_block(call) else {
        return;
    };
    let Some(result) = func.dfg.insts[call].result else {
        return;
    };
    let insts = func.layout.block_insts(b).to_vec();
    let Some(pos) = insts.iter().position(|&i| i == call) else {
        return;
    };
    let loc = func.dfg.insts[call].loc;
    let result_ty = func.dfg.value_type(result);
    // The rest of the block continues in `cont`, whose parameter *is* the call's result.
    let cont = func.dfg.make_block();
    func.layout.set_block_insts(b, insts[..pos].to_vec());
    for &i in &insts[pos + 1..] {
        func.layout.append_inst(cont, i);
    }
    func.dfg.values[result].def = ValueDef::Param(cont, 0);
    func.dfg.blocks[cont].params.push(result);
    // The call, in a block of its own, with a fresh result.
    let call_block = func.dfg.make_block();
    let fresh = func.dfg.values.push(ValueData {
        ty: result_ty,
        def: ValueDef::Result(call),
    });
    func.dfg.insts[call].result = Some(fresh);
    func.layout.append_inst(call_block, call);
    let to_cont = |func: &mut Function, from: Block, v: Value| {
        let br = func.dfg.make_inst(
            Opcode::Br,
            &[],
            Imm::None,
            SmallVec::from_iter([BlockCall::new(cont, &[v])]),
            Type::Unit,
            loc,
        );
        func.layout.append_inst(from, br);
    };
    to_cont(func, call_block, fresh);

    let args = func.dfg.insts[call].args.clone();
    let mut vmap: HashMap<Value, Value> = prefix.params.iter().copied().zip(args).collect();
    let copy = |func: &mut Function, vmap: &mut HashMap<Value, Value>, to: Block, d: &InstData| {
        let args: Vec<Value> = d
            .args
            .iter()
            .map(|a| vmap.get(a).copied().unwrap_or(*a))
            .collect();
        let ty = d
            .result
            .and_then(|r| prefix.types.get(&r).copied())
            .unwrap_or(Type::Unit);
        let ni = func
            .dfg
            .make_inst(d.opcode, &args, d.imm.clone(), SmallVec::new(), ty, d.loc);
        if let (Some(r), Some(nr)) = (d.result, func.dfg.insts[ni].result) {
            vmap.insert(r, nr);
        }
        func.layout.append_inst(to, ni);
    };
    let mut new_blocks = vec![];
    let mut at = b;
    for (k, t) in prefix.tests.iter().enumerate() {
        for d in &t.insts {
            copy(func, &mut vmap, at, d);
        }
        let exit = func.dfg.make_block();
        for d in &t.exit_insts {
            copy(func, &mut vmap, exit, d);
        }
        let returned = vmap.get(&t.returned).copied().unwrap_or(t.returned);
        to_cont(func, exit, returned);
        let next = if k + 1 < prefix.tests.len() {
            func.dfg.make_block()
        } else {
            call_block
        };
        let (yes, no) = if t.exit_when {
            (exit, next)
        } else {
            (next, exit)
        };
        let cond = vmap.get(&t.cond).copied().unwrap_or(t.cond);
        let br = func.dfg.make_inst(
            Opcode::CondBr,
            &[cond],
            Imm::None,
            SmallVec::from_iter([BlockCall::new(yes, &[]), BlockCall::new(no, &[])]),
            Type::Unit,
            loc,
        );
        func.layout.append_inst(at, br);
        new_blocks.push(exit);
        if next != call_block {
            new_blocks.push(next);
        }
        at = next;
    }
    new_blocks.push(call_block);
    new_blocks.push(cont);
    // The new blocks go right after `b`, in order.
    func.layout.insert_blocks_after(b, new_blocks);
}

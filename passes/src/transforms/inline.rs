//! `inline`: replaces direct calls `func.call @g(args)` by a copy of `@g`'s body.
//!
//! Functions are visited bottom-up over the call graph, so a caller sees its callees after their
//! own small callees were inlined into them. A call site is inlined when the callee's cost (its
//! number of instructions, less one per use of a parameter that receives a constant argument,
//! which later folding will likely remove) is at most `threshold`. Only the call sites present
//! when a function is visited are considered, not calls copied in by inlining, so the work and the
//! code growth are bounded. Inlining is never unbounded on recursion: a call to a function of the
//! caller's own strongly connected component (recursion, mutual recursion) is never inlined.
//!
//! Mechanics: the caller's block is split at the call. The callee's entry block is copied in
//! place of the call (its parameters become the arguments); its other blocks are copied as new
//! blocks with fresh values; each `cf.return v` becomes `cf.br ^cont(v)` to a continuation block
//! that holds the rest of the caller's block and whose one parameter *is* the call's result value
//! (same number, same type), so no use has to be rewritten. A callee of a single block with its
//! return value of exactly the call's type is spliced in place without a continuation.
//!
//! Soundness. The copy computes what the call computed: the same instructions run on the same
//! values in the same order, and the callee's parameters are bound to the arguments exactly as a
//! call binds them (closure captures are leading parameters, passed explicitly by `func.call`).
//! Every returned value fits the call's result type (it fits the callee's return type, which fits
//! the result type), so the continuation parameter accepts it. What a call adds beyond its body is
//! a frame, and frames are observable in runtime errors, so the pass preserves them:
//!
//! * A `hidden` callee (prelude function, default-argument adapter) never shows in a call stack:
//!   an error inside it is reported at the call's position in the caller. The copied
//!   instructions therefore get the call's location, which gives the same message, position and
//!   stack. The prelude's own locations refer to the prelude's text, not to the user's file.
//! * A visible callee keeps its instruction locations, so an error in the copy would have the
//!   same message and position but would lose the callee's line in the call stack. With
//!   `frames=keep` (the default), a visible callee is only inlined when none of its instructions
//!   can raise an error (pure ops, returns, printing, stores to globals and cells, array
//!   allocation and length; no calls, no checked arithmetic, no `dyn` op). With `frames=drop`,
//!   any callee is inlined and inlined frames vanish from error call stacks.
//! * A visible callee that can raise is never inlined into a hidden caller, whose frame would
//!   hide the error's position.
//!
//! Other call sites are kept: callees containing `guard.type` (a deopt state resumes in the
//! callee's own frame), callees at a level whose ops the caller's level forbids, and, at the
//! `typed` and `lowered` levels, calls whose `any` result would need an `any` block parameter.
//! Callers that are `frozen` or the deopt target of some guard are not touched at all (a deopt
//! state names a block and an instruction index of its target, which splitting would move). All
//! functions are kept, even when no call to them remains: the runtime may call any of them. The
//! only other observable difference is the call depth at which "stack overflow" is raised, which
//! inlining lowers.

use crate::analysis::CallGraph;
use crate::pass::{ModuleCx, OptionInfo, Pass, PassInfo, PassOptions, Scope};
use crate::registry::PassEntry;
use ruchy_ir::{
    utils, Block, BlockCall, FuncId, Function, Imm, Inst, Level, Module, Opcode, SrcLoc, Type,
    Value, ValueDef,
};
use smallvec::SmallVec;
use std::collections::{HashMap, HashSet};

pub static INFO: PassInfo = PassInfo {
    name: "inline",
    description: "Inlines small direct calls, bottom-up over the call graph, never within a recursive cycle.",
    scope: Scope::Module,
    options: &[
        OptionInfo {
            name: "threshold",
            description: "largest callee cost to inline (instructions, less the uses of parameters given constants)",
            default: "40",
        },
        OptionInfo {
            name: "frames",
            description: "`keep`: inline visible callees only when they cannot raise, so error call stacks are unchanged; `drop`: inline them anyway",
            default: "keep",
        },
    ],
};

pub const ENTRY: PassEntry = PassEntry {
    info: &INFO,
    create,
};

/// The default of the `threshold` option.
pub const DEFAULT_THRESHOLD: usize = 40;

fn create(options: &PassOptions) -> Result<Box<dyn Pass>, String> {
    let threshold = options.usize_or("threshold", DEFAULT_THRESHOLD)?;
    let keep_frames = match options.get("frames") {
        None | Some("keep") => true,
        Some("drop") => false,
        Some(other) => {
            return Err(format!(
                "option `frames` takes `keep` or `drop`, not `{other}`"
            ))
        }
    };
    Ok(Box::new(Inline {
        threshold,
        keep_frames,
    }))
}

/// The inliner with its options.
pub struct Inline {
    /// Largest callee cost that is inlined.
    pub threshold: usize,
    /// Whether call stacks of runtime errors must stay exactly as they were.
    pub keep_frames: bool,
}

/// Why a call site was not inlined; each reason is a `--stats` counter.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Keep {
    Recursive,
    TooBig,
    Guarded,
    MayRaise,
    Level,
    AnyResult,
    Malformed,
}

impl Keep {
    fn counter(self) -> &'static str {
        match self {
            Keep::Recursive => "recursive call sites kept",
            Keep::TooBig => "call sites kept above the threshold",
            Keep::Guarded => "call sites kept because the callee has guards",
            Keep::MayRaise => "call sites kept to preserve error call stacks",
            Keep::Level => "call sites kept because of the callee's level",
            Keep::AnyResult => "call sites kept because their any result needs a typed join",
            Keep::Malformed => "call sites kept because the callee has no body",
        }
    }
}

impl Pass for Inline {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run_module(&mut self, module: &mut Module, cx: &mut ModuleCx<'_>) -> Result<bool, String> {
        let deopt_targets = deopt_targets(module);
        let mut cg = CallGraph::compute(module);
        let mut changed = false;
        for fid in cg.bottom_up() {
            // Deopt targets are frozen: guards resume in them by position.
            if module.funcs[fid].attrs.frozen || deopt_targets.contains(&fid) {
                continue;
            }
            let sites = call_sites(&module.funcs[fid]);
            if sites.is_empty() {
                continue;
            }
            // Take the caller out of the module so that callees can be read while it is edited.
            // A callee is never the caller itself: that call is recursive and is kept.
            let placeholder = Function::new(String::new(), vec![], Type::Any, Level::Dyn);
            let mut caller = std::mem::replace(&mut module.funcs[fid], placeholder);
            let mut inlined = 0u64;
            for call in sites {
                let decision = self.decide(module, &cg, fid, &caller, call);
                match decision {
                    Ok(callee) => {
                        if inline_call(&mut caller, call, &module.funcs[callee]) {
                            inlined += 1;
                        } else {
                            cx.stats.add(Keep::Malformed.counter(), 1);
                        }
                    }
                    Err(why) => cx.stats.add(why.counter(), 1),
                }
            }
            module.funcs[fid] = caller;
            if inlined > 0 {
                cx.stats.add("call sites inlined", inlined);
                changed = true;
                // Inlining only adds edges between functions that already reached each other,
                // so the components can only split; recomputing keeps the graph exact.
                cg = CallGraph::compute(module);
            }
        }
        Ok(changed)
    }
}

impl Inline {
    /// Decides whether the call `call` of `caller` (function `fid`) is inlined, and returns its
    /// callee if so.
    fn decide(
        &self,
        module: &Module,
        cg: &CallGraph,
        fid: FuncId,
        caller: &Function,
        call: Inst,
    ) -> Result<FuncId, Keep> {
        let d = &caller.dfg.insts[call];
        let Imm::Func(callee_id) = d.imm else {
            return Err(Keep::Malformed);
        };
        if callee_id == fid || cg.same_scc(fid, callee_id) {
            return Err(Keep::Recursive);
        }
        let Some(callee) = module.funcs.get(callee_id) else {
            return Err(Keep::Malformed);
        };
        if callee.entry_block().is_none() || d.args.len() != callee.params.len() {
            return Err(Keep::Malformed);
        }
        if !level_allows(caller.level, callee.level) {
            return Err(Keep::Level);
        }
        let mut may_raise = false;
        for (_, i) in callee.insts_in_order() {
            let op = callee.dfg.insts[i].opcode;
            if op == Opcode::GuardType || callee.dfg.insts[i].deopt.is_some() {
                return Err(Keep::Guarded);
            }
            may_raise |= can_raise(op);
        }
        if may_raise && !callee.attrs.hidden && (self.keep_frames || caller.attrs.hidden) {
            return Err(Keep::MayRaise);
        }
        if cost(caller, callee, &d.args) > self.threshold {
            return Err(Keep::TooBig);
        }
        let result_ty = d.result.map(|r| caller.dfg.value_type(r));
        if caller.level >= Level::Typed
            && result_ty == Some(Type::Any)
            && splice_return(caller, callee, &d.args, Type::Any).is_none()
        {
            return Err(Keep::AnyResult);
        }
        if !well_formed(callee) {
            return Err(Keep::Malformed);
        }
        Ok(callee_id)
    }
}

/// Functions that some guard's deopt state resumes in (normally also marked `frozen`).
fn deopt_targets(module: &Module) -> HashSet<FuncId> {
    let mut out = HashSet::new();
    for f in module.funcs.values() {
        for (_, i) in f.insts_in_order() {
            if let Some(ds) = &f.dfg.insts[i].deopt {
                out.insert(ds.func);
            }
        }
    }
    out
}

/// The placed direct calls of a function, in layout order.
fn call_sites(f: &Function) -> Vec<Inst> {
    f.insts_in_order()
        .map(|(_, i)| i)
        .filter(|&i| f.dfg.insts[i].opcode == Opcode::Call)
        .collect()
}

/// Whether every op legal in a callee at level `callee` is legal in a caller at level `caller`.
fn level_allows(caller: Level, callee: Level) -> bool {
    caller == callee || (caller == Level::Dyn && callee == Level::Typed)
}

/// Whether an op can raise a runtime error (or enter another frame that can). Ops without the
/// effect flag cannot; of the effectful ones, these only write output or memory that the IR's
/// types guarantee is valid.
fn can_raise(op: Opcode) -> bool {
    use Opcode::*;
    op.has_effects()
        && !matches!(
            op,
            Return
                | Print
                | Println
                | GlobalStore
                | CellNew
                | CellLoad
                | CellStore
                | ArrayNew
                | ArrayLen
        )
}

/// The cost of inlining `callee` with these arguments: its instructions, less one per use of a
/// parameter whose argument is a constant.
fn cost(caller: &Function, callee: &Function, args: &[Value]) -> usize {
    let mut n = callee.inst_count();
    let uses = utils::use_counts(callee);
    for (&p, &a) in callee.param_values().iter().zip(args) {
        if utils::const_value(caller, a).is_some() {
            n = n.saturating_sub(uses.get(p) as usize);
        }
    }
    n
}

/// For a callee of one block ending in `cf.return v`: the callee value `v`, when its type after
/// binding the parameters to `args` is exactly `want` (then the call's result can simply be
/// replaced by the copy of `v`).
fn splice_return(
    caller: &Function,
    callee: &Function,
    args: &[Value],
    want: Type,
) -> Option<Value> {
    let [entry] = callee.layout.blocks() else {
        return None;
    };
    let last = callee.layout.last_inst(*entry)?;
    let d = &callee.dfg.insts[last];
    if d.opcode != Opcode::Return {
        return None;
    }
    let v = *d.args.first()?;
    let ty = match callee.param_values().iter().position(|&p| p == v) {
        Some(k) => caller.dfg.value_type(*args.get(k)?),
        None => callee.dfg.value_type(v),
    };
    (ty == want).then_some(v)
}

/// Checks what copying relies on: every used value is a parameter of a placed block or the
/// result of a placed instruction, every destination is placed, and every block is terminated.
/// (The verifier guarantees all of it; this keeps the pass from panicking on anything else.)
fn well_formed(f: &Function) -> bool {
    let placed: HashSet<Block> = f.layout.blocks().iter().copied().collect();
    let mut defined: HashSet<Value> = HashSet::new();
    for &b in f.layout.blocks() {
        if f.dfg.blocks.get(b).is_none() {
            return false;
        }
        defined.extend(f.dfg.block_params(b).iter().copied());
        match f.layout.last_inst(b) {
            Some(i) if f.dfg.insts[i].opcode.is_terminator() => {}
            _ => return false,
        }
        for &i in f.layout.block_insts(b) {
            defined.extend(f.dfg.insts[i].result);
        }
    }
    f.insts_in_order().all(|(_, i)| {
        let d = &f.dfg.insts[i];
        d.all_uses().all(|v| defined.contains(&v))
            && d.dests.iter().all(|dest| placed.contains(&dest.block))
            && (d.opcode != Opcode::Return || d.args.len() == 1)
    })
}

/// Inlines `callee` at the call `call` of `caller`. Returns false (and changes nothing) if the
/// call is not placed or has no result.
fn inline_call(caller: &mut Function, call: Inst, callee: &Function) -> bool {
    let Some(b) = caller.layout.inst_block(call) else {
        return false;
    };
    let block_insts = caller.layout.block_insts(b).to_vec();
    let Some(pos) = block_insts.iter().position(|&i| i == call) else {
        return false;
    };
    let call_data = caller.dfg.insts[call].clone();
    let Some(result) = call_data.result else {
        return false;
    };
    let Some(centry) = callee.entry_block() else {
        return false;
    };
    let result_ty = caller.dfg.value_type(result);
    // Errors in a hidden callee are reported at the call: its copy takes the call's location.
    let loc_of = |loc: SrcLoc| {
        if callee.attrs.hidden {
            call_data.loc
        } else {
            loc
        }
    };
    let spliced = splice_return(caller, callee, &call_data.args, result_ty);

    // Values and blocks of the callee → their copies in the caller.
    let mut vmap: HashMap<Value, Value> = HashMap::new();
    for (&p, &a) in callee.param_values().iter().zip(&call_data.args) {
        vmap.insert(p, a);
    }
    let mut bmap: HashMap<Block, Block> = HashMap::new();
    bmap.insert(centry, b);
    let mut new_blocks = vec![];
    for &cb in &callee.layout.blocks()[1..] {
        let nb = caller.dfg.make_block();
        for &p in callee.dfg.block_params(cb) {
            let np = caller.dfg.append_block_param(nb, callee.dfg.value_type(p));
            vmap.insert(p, np);
        }
        bmap.insert(cb, nb);
        new_blocks.push(nb);
    }
    let cont = if spliced.is_none() {
        Some(caller.dfg.make_block())
    } else {
        None
    };

    // Copy the instructions with callee operands first; operands are mapped once every
    // definition has its copy (a use may come before its definition in layout order).
    let mut copied: Vec<Inst> = vec![];
    let mut per_block: Vec<(Block, Vec<Inst>)> = vec![];
    for &cb in callee.layout.blocks() {
        let mut list = vec![];
        for &ci in callee.layout.block_insts(cb) {
            let cd = &callee.dfg.insts[ci];
            let loc = loc_of(cd.loc);
            let ni = if cd.opcode == Opcode::Return {
                match cont {
                    Some(cont) => caller.dfg.make_inst(
                        Opcode::Br,
                        &[],
                        Imm::None,
                        SmallVec::from_iter([BlockCall::new(cont, &cd.args)]),
                        Type::Unit,
                        loc,
                    ),
                    None => continue, // the spliced single return: the result is aliased below
                }
            } else {
                let dests = cd
                    .dests
                    .iter()
                    .map(|dest| BlockCall {
                        block: bmap.get(&dest.block).copied().unwrap_or(dest.block),
                        args: dest.args.clone(),
                    })
                    .collect();
                let ty = cd.result.map_or(Type::Unit, |r| callee.dfg.value_type(r));
                let ni = caller
                    .dfg
                    .make_inst(cd.opcode, &cd.args, cd.imm.clone(), dests, ty, loc);
                if let (Some(r), Some(nr)) = (cd.result, caller.dfg.insts[ni].result) {
                    vmap.insert(r, nr);
                }
                ni
            };
            copied.push(ni);
            list.push(ni);
        }
        per_block.push((bmap[&cb], list));
    }
    for &ni in &copied {
        caller.dfg.insts[ni].map_uses(|v| vmap.get(&v).copied().unwrap_or(v));
    }

    // Place everything: the head of `b` then the callee's entry, the callee's other blocks, and
    // the continuation with the rest of `b`.
    let mut head: Vec<Inst> = block_insts[..pos].to_vec();
    let rest: Vec<Inst> = block_insts[pos + 1..].to_vec();
    for (nb, list) in per_block {
        if nb == b {
            head.extend(list);
        } else {
            for i in list {
                caller.layout.append_inst(nb, i);
            }
        }
    }
    caller.dfg.insts[call].result = None;
    match cont {
        Some(cont) => {
            caller.layout.set_block_insts(b, head);
            for i in rest {
                caller.layout.append_inst(cont, i);
            }
            // The call's result value becomes the continuation's parameter.
            caller.dfg.values[result].def = ValueDef::Param(cont, 0);
            caller.dfg.blocks[cont].params.push(result);
            new_blocks.push(cont);
        }
        None => {
            head.extend(rest);
            caller.layout.set_block_insts(b, head);
            let ret = spliced
                .and_then(|v| vmap.get(&v).copied())
                .unwrap_or(result);
            caller.dfg.values[result].def = ValueDef::Unused;
            utils::replace_uses(caller, &HashMap::from([(result, ret)]));
        }
    }
    caller.layout.insert_blocks_after(b, new_blocks);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruchy_ir::{parse_module, print_module, verify_module};

    fn run(text: &str, pipeline: &str) -> (Module, crate::RunReport) {
        let (mut m, _) = parse_module(text).expect("parses");
        let report = crate::run_pipeline(&mut m, pipeline).expect("runs");
        verify_module(&m).expect("verifies");
        (m, report)
    }

    #[test]
    fn bad_options_are_errors() {
        let mut o = std::collections::BTreeMap::new();
        o.insert("frames".to_string(), "maybe".to_string());
        assert!(create(&PassOptions::new(o)).is_err());
        let mut o = std::collections::BTreeMap::new();
        o.insert("threshold".to_string(), "-1".to_string());
        assert!(create(&PassOptions::new(o)).is_err());
    }

    #[test]
    fn self_recursion_is_kept_and_leaves_inline() {
        let text = r#"module "t"
entry @main

func @main() -> any level(dyn) {
^bb0:
  %v0 = arith.const 3 : i64
  %v1 = func.call @r(%v0) : any
  %v2 = func.call @leaf(%v0) : any
  cf.return %v2
}

func @r(any) -> any level(dyn) {
^bb0(%v0: any):
  %v1 = func.call @r(%v0) : any
  cf.return %v1
}

func @leaf(any) -> any level(dyn) {
^bb0(%v0: any):
  %v1 = func.ref @r : func
  cf.return %v1
}
"#;
        let (m, report) = run(text, "inline{frames=drop}");
        let s = report.stats_of("inline");
        assert_eq!(s.get("call sites inlined"), 2);
        assert_eq!(s.get("recursive call sites kept"), 1);
        let printed = print_module(&m);
        assert!(printed.contains("func.call @r(%v0)"));
        assert!(!printed.contains("func.call @leaf"));
    }
}

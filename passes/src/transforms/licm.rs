//! Loop-invariant code motion: moves computations whose operands do not change inside a loop to
//! the loop's preheader, so they run once instead of once per iteration.
//!
//! Loops are the natural loops of [`LoopForest`], processed innermost first, so that a value
//! hoisted out of an inner loop can then leave the enclosing loop too. An instruction of a loop
//! is invariant when every value it reads is defined outside the loop or by an instruction
//! already found invariant; blocks are scanned in reverse postorder, so definitions are seen
//! before their uses. Constants have no operands and are always invariant.
//!
//! The preheader is the header's only predecessor outside the loop when that block ends in an
//! unconditional `cf.br` to the header. Otherwise (several entering edges, or an entering
//! `cf.cond_br`/`cf.switch`) a new block is created, only for loops with something to hoist: it
//! takes the header's parameter types, every entering edge is redirected to it with its
//! arguments, and it branches to the header forwarding its parameters.
//!
//! # Soundness
//!
//! Only instructions that can neither fail nor have effects move (no `EFFECT` flag): an
//! instruction moved to the preheader runs even when the loop body would not have (a loop that
//! runs zero times, or a branch of the body that is never taken), so a possibly-trapping op
//! such as the checked `arith.divi`, a `dyn` op, a load or a call must stay where it is. Of the
//! pure ops, those that create objects with an identity (`func.closure`, `array.tuple`) stay,
//! since each iteration must get a fresh one, and `str.from` moves only when its operand's text
//! cannot change (a scalar, string or function value; the text of an array changes when the
//! array is mutated in the loop). Values depending on a header parameter (loop-carried) are
//! defined inside the loop, so they are never invariant.
//!
//! The moved instruction's operands are defined outside the loop, in blocks that dominate the
//! header and hence the end of the preheader, so SSA dominance still holds; its uses are in the
//! loop, which the preheader dominates. Locations move with the instructions.

use crate::pass::{FunctionCx, Pass, PassInfo, PassOptions, Scope};
use crate::registry::PassEntry;
use ruchy_ir::{
    Block, BlockCall, ControlFlowGraph, DomTree, Function, Imm, Inst, InstData, LoopForest, Opcode,
    Type, Value, ValueDef,
};
use smallvec::smallvec;
use std::collections::HashSet;

pub static INFO: PassInfo = PassInfo {
    name: "licm",
    description: "Loop-invariant code motion: hoist pure, non-trapping invariant computations into loop preheaders.",
    scope: Scope::Function,
    options: &[],
};

pub const ENTRY: PassEntry = PassEntry {
    info: &INFO,
    create,
};

fn create(_options: &PassOptions) -> Result<Box<dyn Pass>, String> {
    Ok(Box::new(Licm))
}

/// The pass; it has no options or state.
struct Licm;

impl Pass for Licm {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run_function(
        &mut self,
        func: &mut Function,
        cx: &mut FunctionCx<'_>,
    ) -> Result<bool, String> {
        let counts = run(func);
        cx.stats.add("instructions hoisted", counts.hoisted as u64);
        cx.stats.add("preheaders created", counts.preheaders as u64);
        Ok(counts.hoisted > 0 || counts.preheaders > 0)
    }
}

/// What one run did.
#[derive(Default, Debug, PartialEq)]
struct Counts {
    /// Distinct instructions moved (one that leaves two nested loops counts once).
    hoisted: usize,
    preheaders: usize,
}

/// The CFG and loops of a function, recomputed after the pass adds a block.
struct Analyses {
    cfg: ControlFlowGraph,
    loops: LoopForest,
}

impl Analyses {
    fn compute(func: &Function) -> Self {
        let cfg = ControlFlowGraph::compute(func);
        let dt = DomTree::compute(&cfg);
        let loops = LoopForest::compute(func, &cfg, &dt);
        Analyses { cfg, loops }
    }
}

/// Hoists the invariant code of every loop of `func`, innermost loops first.
fn run(func: &mut Function) -> Counts {
    let mut counts = Counts::default();
    if func.entry_block().is_none() {
        return counts;
    }
    let mut an = Analyses::compute(func);
    let mut moved: HashSet<Inst> = HashSet::new();
    // The forest lists outer loops before the loops they contain; headers identify loops across
    // recomputations (adding a preheader keeps every header a header).
    let headers: Vec<Block> = an.loops.loops().map(|(_, l)| l.header).collect();
    for &header in headers.iter().rev() {
        let Some(l) = an.loops.loop_of_header(header) else {
            continue;
        };
        let body: HashSet<Block> = an.loops.get(l).blocks.iter().copied().collect();
        let invariant = find_invariants(func, &an.loops.get(l).blocks, &body);
        if invariant.is_empty() {
            continue;
        }
        let entering: Vec<Block> = an
            .cfg
            .preds(header)
            .iter()
            .copied()
            .filter(|&p| an.cfg.is_reachable(p) && !body.contains(&p))
            .collect();
        if entering.is_empty() {
            continue; // cannot happen for a reachable header; nothing sound to do
        }
        let preheader = match existing_preheader(func, header, &entering) {
            Some(p) => p,
            None => {
                let p = create_preheader(func, header, &entering);
                counts.preheaders += 1;
                an = Analyses::compute(func);
                p
            }
        };
        for i in invariant {
            let Some(term) = func.layout.last_inst(preheader) else {
                break; // a verified block always ends with its terminator
            };
            func.layout.remove_inst(i);
            let pos = func
                .layout
                .block_insts(preheader)
                .iter()
                .position(|&x| x == term)
                .unwrap_or(0);
            func.layout.insert_inst(preheader, pos, i);
            moved.insert(i);
        }
    }
    counts.hoisted = moved.len();
    counts
}

/// Whether `ty` is a value type whose text (`str.from`) cannot change after it is made.
fn immutable_text(ty: Type) -> bool {
    matches!(
        ty,
        Type::I64 | Type::F64 | Type::Bool | Type::Unit | Type::Str | Type::Func
    )
}

/// Whether the instruction may run where it was not going to: no effect, no possible error, no
/// fresh object identity.
fn hoistable(func: &Function, d: &InstData) -> bool {
    let op = d.opcode;
    if op.has_effects() || op.is_terminator() || d.result.is_none() || d.deopt.is_some() {
        return false;
    }
    match op {
        Opcode::MakeClosure | Opcode::TupleNew => false,
        Opcode::StrFrom => d
            .args
            .iter()
            .all(|&a| immutable_text(func.dfg.value_type(a))),
        _ => true,
    }
}

/// The hoistable instructions of a loop whose operands are all defined outside it (directly or
/// through other such instructions), in an order where definitions precede uses.
fn find_invariants(func: &Function, blocks: &[Block], body: &HashSet<Block>) -> Vec<Inst> {
    let mut hoisted_values: HashSet<Value> = HashSet::new();
    let mut out = Vec::new();
    let outside = |v: Value, hoisted: &HashSet<Value>| -> bool {
        if hoisted.contains(&v) {
            return true;
        }
        match func.dfg.values.get(v).map(|d| d.def) {
            Some(ValueDef::Param(b, _)) => !body.contains(&b),
            Some(ValueDef::Result(i)) => func
                .layout
                .inst_block(i)
                .is_some_and(|b| !body.contains(&b)),
            _ => false,
        }
    };
    // `blocks` is in reverse postorder, so a dominating definition is scanned before its uses.
    for &b in blocks {
        for &i in func.layout.block_insts(b) {
            let d = &func.dfg.insts[i];
            if !hoistable(func, d) || !d.all_uses().all(|v| outside(v, &hoisted_values)) {
                continue;
            }
            if let Some(r) = d.result {
                hoisted_values.insert(r);
            }
            out.push(i);
        }
    }
    out
}

/// The single entering block, when it ends in an unconditional branch to the header.
fn existing_preheader(func: &Function, header: Block, entering: &[Block]) -> Option<Block> {
    let &[p] = entering else {
        return None;
    };
    let term = func.layout.last_inst(p)?;
    let d = &func.dfg.insts[term];
    (d.opcode == Opcode::Br && d.dests.len() == 1 && d.dests[0].block == header).then_some(p)
}

/// Creates a block that takes over every entering edge of the loop and branches to the header,
/// placed just before the header in the layout.
fn create_preheader(func: &mut Function, header: Block, entering: &[Block]) -> Block {
    let pre = func.dfg.make_block();
    let tys: Vec<Type> = func
        .dfg
        .block_params(header)
        .iter()
        .map(|&v| func.dfg.value_type(v))
        .collect();
    let params: Vec<Value> = tys
        .into_iter()
        .map(|ty| func.dfg.append_block_param(pre, ty))
        .collect();
    let mut loc = None;
    for &p in entering {
        let Some(term) = func.layout.last_inst(p) else {
            continue;
        };
        let d = &mut func.dfg.insts[term];
        loc.get_or_insert(d.loc);
        for dest in d.dests.iter_mut().filter(|dest| dest.block == header) {
            dest.block = pre;
        }
    }
    let br = func.dfg.make_inst(
        Opcode::Br,
        &[],
        Imm::None,
        smallvec![BlockCall::new(header, &params)],
        Type::Unit,
        loc.unwrap_or_default(),
    );
    func.layout.insert_block_before(header, pre);
    func.layout.append_inst(pre, br);
    pre
}

#[cfg(test)]
mod tests {
    use ruchy_ir::{parse_module, print_module};

    fn licm(text: &str) -> (String, u64) {
        let (mut m, _) = parse_module(text).expect("parses");
        let report = crate::run_pipeline(&mut m, "licm").expect("runs and verifies");
        (
            print_module(&m),
            report.stats_of("licm").get("instructions hoisted"),
        )
    }

    #[test]
    fn nested_loops_hoist_to_the_outermost_preheader() {
        let (out, n) = licm(
            r#"module "t"
func @f(i64, f64) -> f64 level(dyn) {
^bb0(%v0: i64, %v1: f64):
  %v2 = arith.const 0 : i64
  cf.br ^bb1(%v2) 
^bb1(%v3: i64):
  %v4 = arith.cmpi lt %v3, %v0 : bool
  cf.cond_br %v4, ^bb2(%v2), ^bb5
^bb2(%v5: i64):
  %v6 = arith.mulf %v1, %v1 : f64
  %v7 = arith.const 1 : i64
  %v8 = arith.addi_wrap %v5, %v7 : i64
  %v9 = arith.cmpi lt %v8, %v0 : bool
  cf.cond_br %v9, ^bb2(%v8), ^bb3
^bb3:
  %v10 = arith.addi_wrap %v3, %v7 : i64
  cf.br ^bb1(%v10)
^bb5:
  cf.return %v1
}
"#,
        );
        // Inner loop: mulf and the constant 1 go to a new preheader (entered by a cond_br),
        // then on to the entry block; each counts once.
        assert_eq!(n, 2, "{out}");
        let entry = out.split("^bb1").next().unwrap_or_default().to_string();
        assert!(entry.contains("arith.mulf %v1, %v1"), "{out}");
        assert!(entry.contains("arith.const 1 : i64"), "{out}");
    }

    #[test]
    fn loop_without_invariants_is_left_alone() {
        let text = r#"module "t"

func @f(i64) -> i64 level(dyn) {
^bb0(%v0: i64):
  cf.br ^bb1(%v0)
^bb1(%v1: i64):
  %v2 = arith.subi_wrap %v1, %v0 : i64
  %v3 = arith.cmpi lt %v2, %v1 : bool
  cf.cond_br %v3, ^bb1(%v2), ^bb2
^bb2:
  cf.return %v2
}
"#;
        let (out, n) = licm(text);
        assert_eq!(n, 0, "{out}");
        assert_eq!(out, text);
    }
}

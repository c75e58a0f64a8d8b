//! `peephole`: algebraic identities on typed ops.
//!
//! Rewrites `x + 0`, `x - 0`, `x * 1` (integer and wrapping forms) to `x`, `x * 0` on integers
//! to `0`, `!!b` to `b` and `-(-f)` to `f` for floats. Uses of the instruction's result are
//! replaced and the instruction is deleted (it cannot trap, so `dce` could not know it is
//! removable); operands left unused are for `dce`.
//!
//! Sound because each identity holds for every operand value, and none of the rewritten
//! checked ops can trap for these constants: adding or subtracting zero and multiplying by zero
//! or one never overflow. Integer negation is not folded (`-(-x)` raises the overflow error for
//! `i64::MIN`), nor are float identities other than double negation (`x + 0.0` is not `x` for
//! `x = -0.0`).
//!
//! This pass is the worked example of docs/WRITING_A_PASS.md.

use crate::pass::{FunctionCx, Pass, PassInfo, PassOptions, Scope};
use crate::registry::PassEntry;
use ruchy_ir::{utils, Function, Opcode, Value};
use std::collections::HashMap;

pub static INFO: PassInfo = PassInfo {
    name: "peephole",
    description: "Applies algebraic identities (x + 0, x * 1, !!b, -(-f)) to typed ops.",
    scope: Scope::Function,
    options: &[],
};

pub const ENTRY: PassEntry = PassEntry {
    info: &INFO,
    create,
};

fn create(_options: &PassOptions) -> Result<Box<dyn Pass>, String> {
    Ok(Box::new(Peephole))
}

struct Peephole;

impl Pass for Peephole {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run_function(
        &mut self,
        func: &mut Function,
        cx: &mut FunctionCx<'_>,
    ) -> Result<bool, String> {
        let mut replace: HashMap<Value, Value> = HashMap::new();
        let mut dead = vec![];
        for (_, inst) in func.insts_in_order() {
            let d = &func.dfg.insts[inst];
            let Some(result) = d.result else { continue };
            let int = |v: Value| utils::const_int(func, v);
            // The operand of a unary op when it is itself the same unary op.
            let inner = |v: Value, op: Opcode| match func.dfg.value_def(v) {
                ruchy_ir::ValueDef::Result(i) if func.dfg.insts[i].opcode == op => {
                    Some(func.dfg.insts[i].args[0])
                }
                _ => None,
            };
            let with = match d.opcode {
                Opcode::AddI | Opcode::AddIWrap => match (int(d.args[0]), int(d.args[1])) {
                    (_, Some(0)) => Some(d.args[0]),
                    (Some(0), _) => Some(d.args[1]),
                    _ => None,
                },
                Opcode::SubI | Opcode::SubIWrap if int(d.args[1]) == Some(0) => Some(d.args[0]),
                Opcode::MulI | Opcode::MulIWrap => match (int(d.args[0]), int(d.args[1])) {
                    (_, Some(1)) => Some(d.args[0]),
                    (Some(1), _) => Some(d.args[1]),
                    (_, Some(0)) => Some(d.args[1]),
                    (Some(0), _) => Some(d.args[0]),
                    _ => None,
                },
                Opcode::Not => inner(d.args[0], Opcode::Not),
                Opcode::NegF => inner(d.args[0], Opcode::NegF),
                _ => None,
            };
            if let Some(v) = with {
                replace.insert(result, v);
                dead.push(inst);
            }
        }
        cx.stats.add("identities applied", replace.len() as u64);
        utils::replace_uses(func, &replace);
        func.layout.remove_insts(dead);
        Ok(!replace.is_empty())
    }
}

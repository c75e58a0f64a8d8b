//! `overflow-elim`: checked integer additions, subtractions and multiplications that cannot
//! overflow become wrapping ones.
//!
//! A checked op (`arith.addi`, `arith.subi`, `arith.muli`) raises "Integer overflow in ..." when
//! its exact result does not fit in `i64`; compiled code pays a flag test and a branch for it.
//! When the range analysis ([`crate::analysis::ranges`]) proves, at the op's block (with the
//! facts of the branches that dominate it), that the exact result fits for every possible
//! operand value, the op is replaced by its wrapping form (`arith.addi_wrap`, ...).
//!
//! Sound because the two forms compute the same value whenever the exact result fits, and the
//! checked form raises an error only when it does not fit, which the proof excludes: the error
//! could never have been raised. Typical wins: `n - 1` and `n - 2` after `if n < 2 { return }`,
//! and counters bounded by a loop condition against a constant (`i + 2` under
//! `i <= 3037000499`). Operands the analysis cannot bound (parameters, call results, loads)
//! leave the op checked.
//!
//! Counter: "overflow checks removed".

use crate::analysis::ranges::{Ranges, CONTEXT_BUDGET};
use crate::pass::{FunctionCx, Pass, PassInfo, PassOptions, Scope};
use crate::registry::PassEntry;
use ruchy_ir::{Function, Opcode};

pub static INFO: PassInfo = PassInfo {
    name: "overflow-elim",
    description: "Turns checked integer +, -, * that a range analysis proves cannot overflow \
                  into wrapping ops.",
    scope: Scope::Function,
    options: &[],
};

pub const ENTRY: PassEntry = PassEntry {
    info: &INFO,
    create,
};

fn create(_options: &PassOptions) -> Result<Box<dyn Pass>, String> {
    Ok(Box::new(OverflowElim))
}

/// The pass; it has no options.
struct OverflowElim;

impl Pass for OverflowElim {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run_function(
        &mut self,
        func: &mut Function,
        cx: &mut FunctionCx<'_>,
    ) -> Result<bool, String> {
        let cfg = cx.analyses.cfg(func).clone();
        let dt = cx.analyses.domtree(func).clone();
        let mut proven = vec![];
        {
            let mut ranges = Ranges::new(func, &cfg, &dt);
            for (block, inst) in func.insts_in_order() {
                let d = &func.dfg.insts[inst];
                let wrapping = match d.opcode {
                    Opcode::AddI => Opcode::AddIWrap,
                    Opcode::SubI => Opcode::SubIWrap,
                    Opcode::MulI => Opcode::MulIWrap,
                    _ => continue,
                };
                let [x, y] = d.args[..] else { continue };
                let at = (block, None);
                let rx = ranges.range_at(x, at, CONTEXT_BUDGET);
                let ry = ranges.range_at(y, at, CONTEXT_BUDGET);
                let (lo, hi) = match d.opcode {
                    Opcode::AddI => (rx.lo as i128 + ry.lo as i128, rx.hi as i128 + ry.hi as i128),
                    Opcode::SubI => (rx.lo as i128 - ry.hi as i128, rx.hi as i128 - ry.lo as i128),
                    _ => rx.product_hull(ry),
                };
                if lo >= i64::MIN as i128 && hi <= i64::MAX as i128 {
                    proven.push((inst, wrapping));
                }
            }
        }
        // Changing an op to its wrapping form keeps every range the analysis computed: both
        // forms have the same exact result when it fits.
        for &(inst, op) in &proven {
            func.dfg.insts[inst].opcode = op;
        }
        cx.stats.add("overflow checks removed", proven.len() as u64);
        Ok(!proven.is_empty())
    }
}

//! `lower`: typed → lowered. Makes memory explicit: every array allocation that escape analysis
//! proves does not outlive its function becomes `mem.stack_alloc` (frame storage), the others
//! stay heap `array.new`; then the function is at level `lowered`.
//!
//! Sound because `mem.stack_alloc` means exactly what `array.new` means while the array is alive,
//! and escape analysis guarantees nothing can reach it after the function returns: it is never
//! returned, stored, captured, passed to a call, or carried out through a block argument or a
//! deopt state (see `escape_analysis::non_escaping_allocations`). Functions still at the `dyn`
//! level are left alone (lowering needs types).

use crate::pass::{FunctionCx, Pass, PassInfo, PassOptions, Scope};
use crate::registry::PassEntry;
use crate::transforms::escape_analysis::non_escaping_allocations;
use ruchy_ir::{Function, Level, Opcode};

pub static INFO: PassInfo = PassInfo {
    name: "lower",
    description:
        "Lowers typed functions to the lowered level: non-escaping arrays move to frame storage.",
    scope: Scope::Function,
    options: &[],
};

pub const ENTRY: PassEntry = PassEntry {
    info: &INFO,
    create,
};

fn create(_options: &PassOptions) -> Result<Box<dyn Pass>, String> {
    Ok(Box::new(Lower))
}

struct Lower;

impl Pass for Lower {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run_function(
        &mut self,
        func: &mut Function,
        cx: &mut FunctionCx<'_>,
    ) -> Result<bool, String> {
        if func.level != Level::Typed || func.entry_block().is_none() {
            return Ok(false);
        }
        let mut moved = 0;
        for inst in non_escaping_allocations(func) {
            if func.dfg.insts[inst].opcode == Opcode::ArrayNew {
                func.dfg.insts[inst].opcode = Opcode::StackAlloc;
                moved += 1;
            }
        }
        func.level = Level::Lowered;
        cx.stats.add("functions lowered", 1);
        cx.stats.add("arrays moved to frame storage", moved);
        Ok(true)
    }
}

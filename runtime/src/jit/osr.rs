//! On-stack replacement: entering compiled code in the middle of a loop that is running in the
//! interpreter.
//!
//! When the back edges of a loop in an interpreted frame reach `JitConfig::backedge_threshold`,
//! the runtime makes an *OSR variant* of the frame's function: a copy whose entry block takes the
//! values live at the loop header (the header's parameters, then the values defined before the
//! loop that it or the code after it still uses) and jumps to the header. Everything before the
//! loop becomes unreachable and is removed, so the variant is an ordinary `dyn` function, and the
//! usual path applies to it: `specialize` for the run-time types of those values, the tier-1
//! pipeline, Cranelift, the method cache. The interpreter then calls the compiled variant with
//! the values from the frame's registers, and returns its result from the frame as if the loop
//! and the rest of the function had run interpreted.
//!
//! This is sound because the variant computes, from the header on, exactly what the original
//! computes from the same values at the header (the body is an unchanged copy), and a guard
//! that fails in its specialization resumes the variant itself in the interpreter. The variant
//! is named `NAME$osrN` (N: the header's block number), so call stacks show it as `NAME`.

use ruchy_ir::ssa_repair::SsaRepair;
use ruchy_ir::{
    utils, Block, BlockCall, ControlFlowGraph, DomTree, EntityRef, FuncId, Imm, Module, Opcode,
    SrcLoc, Value,
};
use ruchy_passes::analysis::Liveness;
use smallvec::smallvec;
use std::collections::{HashMap, HashSet};

/// An OSR variant: the function entered at a loop header, and which values of the original
/// function its parameters receive, in order.
#[derive(Clone, Debug)]
pub struct OsrVariant {
    pub func: FuncId,
    pub inputs: Vec<Value>,
}

/// Makes the OSR variant of `f` entered at `header`, appends it to `module` and returns it.
pub fn make_variant(module: &mut Module, f: FuncId, header: Block) -> Result<OsrVariant, String> {
    let orig = module
        .funcs
        .get(f)
        .ok_or_else(|| "no such function".to_string())?;
    if orig.level != ruchy_ir::Level::Dyn {
        return Err("only interpreted (dyn-level) functions are entered by OSR".into());
    }
    if !orig.layout.is_block_inserted(header) || orig.layout.entry_block() == Some(header) {
        return Err(format!("{header} is not a loop header of @{}", orig.name));
    }
    let mut g = orig.clone();
    let cfg = ControlFlowGraph::compute(&g);
    let liveness = Liveness::compute(&g, &cfg);
    let params: Vec<Value> = g.dfg.block_params(header).to_vec();
    let param_set: HashSet<Value> = params.iter().copied().collect();
    let mut outer: Vec<Value> = liveness
        .live_in(header)
        .filter(|v| !param_set.contains(v))
        .collect();
    outer.sort();
    // Constants are made again in the new entry block rather than passed in: the interpreter
    // may never have put a constant in a register (it folds small ones into instructions), and
    // `specialize` does better with a known constant than with a parameter.
    let constant = |g: &ruchy_ir::Function, v: Value| match g.dfg.value_def(v) {
        ruchy_ir::ValueDef::Result(i) => {
            let d = &g.dfg.insts[i];
            d.args.is_empty()
                && matches!(d.opcode, Opcode::Const | Opcode::StrConst | Opcode::FuncRef)
        }
        _ => false,
    };
    let constants: Vec<Value> = outer.iter().copied().filter(|&v| constant(&g, v)).collect();
    outer.retain(|&v| !constant(&g, v));
    let inputs: Vec<Value> = params.iter().chain(outer.iter()).copied().collect();

    // The blocks the variant keeps: those reachable from the header.
    let mut reachable = HashSet::new();
    let mut work = vec![header];
    while let Some(b) = work.pop() {
        if reachable.insert(b) {
            work.extend(g.successors(b));
        }
    }

    // The new entry block: one parameter per input, then a jump to the header.
    let entry = g.dfg.make_block();
    let mut entry_params = vec![];
    for &v in &inputs {
        let ty = g.dfg.value_type(v);
        entry_params.push(g.dfg.append_block_param(entry, ty));
    }
    let mut remade = HashMap::new();
    for &c in &constants {
        if let ruchy_ir::ValueDef::Result(i) = g.dfg.value_def(c) {
            let d = g.dfg.insts[i].clone();
            let copy = g.dfg.make_inst(
                d.opcode,
                &[],
                d.imm,
                smallvec![],
                g.dfg.value_type(c),
                d.loc,
            );
            g.layout.append_inst(entry, copy);
            remade.insert(c, g.dfg.inst_result(copy));
        }
    }
    // A constant has the same value wherever it is computed: the copy replaces it everywhere.
    utils::replace_uses(&mut g, &remade);
    let loc = g
        .layout
        .block_insts(header)
        .first()
        .map(|&i| g.dfg.insts[i].loc)
        .unwrap_or(SrcLoc::UNKNOWN);
    let jump = g.dfg.make_inst(
        Opcode::Br,
        &[],
        Imm::None,
        smallvec![BlockCall {
            block: header,
            args: entry_params[..params.len()].iter().copied().collect(),
        }],
        ruchy_ir::Type::Unit,
        loc,
    );
    g.layout.append_inst(entry, jump);
    // Keep the new entry and the blocks reachable from it, in their order.
    let order: Vec<Block> = std::iter::once(entry)
        .chain(
            g.layout
                .blocks()
                .iter()
                .copied()
                .filter(|b| reachable.contains(b)),
        )
        .collect();
    g.layout.set_block_order(order);

    // A value defined before the loop now comes from an entry parameter. If its definition is
    // gone from the variant (it was before every loop), that parameter replaces it everywhere.
    // Inside an enclosing loop, the definition runs again when that loop comes back around, so
    // each use must see whichever of the two reaches it: the SSA form is repaired with block
    // parameters where both meet (`ruchy_ir::ssa_repair`).
    let mut simple = HashMap::new();
    let mut repaired = vec![];
    for (k, &v) in inputs.iter().enumerate().skip(params.len()) {
        match g.def_block(v) {
            Some(d) if reachable.contains(&d) => repaired.push((v, entry_params[k])),
            _ => {
                simple.insert(v, entry_params[k]);
            }
        }
    }
    utils::replace_uses(&mut g, &simple);
    if !repaired.is_empty() {
        let cfg = ControlFlowGraph::compute(&g);
        let dt = DomTree::compute(&cfg);
        let ssa = SsaRepair::new(&cfg, &dt);
        for (v, p) in repaired {
            ssa.add_definitions(&mut g, v, &[(entry, p)]);
        }
    }

    g.params = inputs.iter().map(|&v| g.dfg.value_type(v)).collect();
    g.name = format!("{}$osr{}", orig.name, header.index());
    g.attrs.captures = 0;
    g.attrs.defaults.clear();
    g.attrs.frozen = false;
    g.attrs.hints = None;
    let id = module.add_function(g);
    if let Err(errs) = ruchy_ir::verify_function(module, id) {
        let text = ruchy_ir::verifier::render_errors(module, &errs, None);
        // Functions cannot be removed from a module: leave a valid stub that returns nil.
        stub_out(&mut module.funcs[id]);
        return Err(format!("the OSR variant does not verify: {text}"));
    }
    Ok(OsrVariant { func: id, inputs })
}

/// Replaces a function's body with one block that returns nil.
fn stub_out(g: &mut ruchy_ir::Function) {
    let b = g.dfg.make_block();
    for &t in &g.params.clone() {
        g.dfg.append_block_param(b, t);
    }
    let nil = g.dfg.make_inst(
        Opcode::Const,
        &[],
        Imm::Const(ruchy_ir::Const::Nil),
        smallvec![],
        ruchy_ir::Type::Unit,
        SrcLoc::UNKNOWN,
    );
    let v = g.dfg.inst_result(nil);
    let ret = g.dfg.make_inst(
        Opcode::Return,
        &[v],
        Imm::None,
        smallvec![],
        ruchy_ir::Type::Unit,
        SrcLoc::UNKNOWN,
    );
    g.layout.set_block_order(vec![b]);
    g.layout.append_inst(b, nil);
    g.layout.append_inst(b, ret);
    g.ret = ruchy_ir::Type::Any;
}

//! IR → pre-decoded [`Op`]s. Works on functions of every level: `dyn` ops keep their dynamic
//! semantics, typed ops get the fast typed paths.

use super::op::*;
use crate::value::Value;
use ruchy_ir::{Block, Const, Function, Imm, Inst, Opcode, SrcLoc, Type, Value as IrValue};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// The decoded form of one function.
#[derive(Debug)]
pub struct FuncCode {
    pub name: String,
    /// Left out of Ruchy call stacks (prelude, adapters).
    pub hidden: bool,
    /// Registers needed by a frame (parameters first).
    pub nregs: u32,
    pub nparams: u32,
    pub captures: u32,
    /// Adapters for calls with fewer arguments (see `FuncAttrs::defaults`).
    pub defaults: Vec<ruchy_ir::FuncId>,
    pub code: Vec<Op>,
    /// Source location of each op, for errors.
    pub locs: Vec<SrcLoc>,
    pub consts: Vec<Value>,
    pub arg_regs: Vec<Reg>,
    pub strings: Vec<String>,
    pub tables: Vec<SwitchTable>,
    /// Global index of the first back-edge counter of this function, and how many it has.
    pub loop_counters: (u32, u32),
    /// Each loop header of the function with its back-edge counter (a global index).
    pub loop_headers: Vec<(Block, u32)>,
    /// Where each instruction (by block and index) starts in `code`: the resume points of
    /// guards that deoptimize into this function.
    pub inst_pcs: HashMap<(Block, u32), Pc>,
    /// The register of each IR value.
    pub value_regs: HashMap<IrValue, Reg>,
    /// The deopt states of this function's guards.
    pub deopts: Vec<DeoptSite>,
}

impl FuncCode {
    /// What tiering decisions look at.
    #[inline]
    pub fn shape(&self) -> crate::jit::FuncShape {
        crate::jit::FuncShape {
            has_loops: self.loop_counters.1 > 0,
            ops: self.code.len(),
        }
    }
}

/// A guard's deopt state, decoded: resume `func` at its instruction (`block`, `index`), with
/// each listed value of `func` taken from a register of the guarded frame.
#[derive(Debug)]
pub struct DeoptSite {
    pub func: ruchy_ir::FuncId,
    pub block: Block,
    pub index: u32,
    pub values: Vec<(IrValue, Reg)>,
}

#[derive(Debug)]
pub struct SwitchTable {
    pub cases: Vec<(i64, Pc)>,
    pub default: Pc,
}

/// Decodes one function. `next_counter` numbers back-edge counters across the program.
pub fn decode_function(func: &Function, next_counter: &mut u32) -> FuncCode {
    let mut d = Decoder {
        func,
        regs: HashMap::default(),
        nregs: 0,
        code: vec![],
        locs: vec![],
        consts: vec![],
        arg_regs: vec![],
        strings: vec![],
        tables: vec![],
        block_pc: HashMap::default(),
        fixups: vec![],
        stubs: vec![],
        uses: HashMap::default(),
        layout_index: HashMap::default(),
        header_counters: HashMap::default(),
        first_counter: *next_counter,
        small_ints: HashMap::default(),
        folded_only: Default::default(),
        coalesce: HashMap::default(),
        left_dies: Default::default(),
        live_in: HashMap::default(),
        inst_pcs: HashMap::default(),
        deopts: vec![],
    };
    d.run();
    if d.code.is_empty() {
        // Only unverified IR has a function without blocks; running it is an error, not a crash.
        let message = d.string(&format!("function @{} has no body", func.name));
        d.emit(Op::Trap { message }, func.loc);
    }
    d.nregs = d.nregs.max(func.params.len() as u32);
    let ncounters = d.header_counters.len() as u32;
    let mut value_regs = d.regs.clone();
    for (&v, &p) in &d.coalesce {
        if let Some(&r) = d.regs.get(&p) {
            value_regs.insert(v, r);
        }
    }
    let mut loop_headers: Vec<(Block, u32)> = d
        .header_counters
        .iter()
        .map(|(&b, &c)| (b, c + d.first_counter))
        .collect();
    loop_headers.sort_by_key(|&(_, c)| c);
    *next_counter += ncounters;
    FuncCode {
        name: func.name.clone(),
        hidden: func.attrs.hidden,
        nregs: d.nregs,
        nparams: func.params.len() as u32,
        captures: func.attrs.captures,
        defaults: func.attrs.defaults.clone(),
        code: d.code,
        locs: d.locs,
        consts: d.consts,
        arg_regs: d.arg_regs,
        strings: d.strings,
        tables: d.tables,
        loop_counters: (d.first_counter, ncounters),
        loop_headers,
        inst_pcs: d.inst_pcs,
        value_regs,
        deopts: d.deopts,
    }
}

/// Which field of an already emitted op must receive a block's start address.
#[derive(Copy, Clone)]
enum Slot {
    Target,
    Then,
    Else,
    Case(u32, usize),
    Default(u32),
}

struct Decoder<'m> {
    func: &'m Function,
    regs: HashMap<IrValue, Reg>,
    nregs: u32,
    code: Vec<Op>,
    locs: Vec<SrcLoc>,
    consts: Vec<Value>,
    arg_regs: Vec<Reg>,
    strings: Vec<String>,
    tables: Vec<SwitchTable>,
    block_pc: HashMap<Block, Pc>,
    fixups: Vec<(usize, Slot, Block)>,
    /// Edges that carry arguments: (branch op index, slot, target block, args, loc).
    stubs: Vec<(usize, Slot, Block, Vec<IrValue>, SrcLoc)>,
    uses: HashMap<IrValue, u32>,
    layout_index: HashMap<Block, usize>,
    header_counters: HashMap<Block, u32>,
    first_counter: u32,
    /// Integer constants that fit an immediate, by value.
    small_ints: HashMap<IrValue, i32>,
    /// Constants whose every use was folded into an immediate: never materialized.
    folded_only: HashSet<IrValue>,
    /// Values that share the register of the block parameter they are passed to.
    coalesce: HashMap<IrValue, IrValue>,
    /// `dyn.add`/`str.concat` instructions whose left operand is not used afterwards: they may
    /// take it out of its register, so a string held only there is appended to in place.
    left_dies: HashSet<Inst>,
    /// Values live on entry to each block: an edge argument that is not may be moved out of
    /// its register instead of copied.
    live_in: HashMap<Block, HashSet<IrValue>>,
    inst_pcs: HashMap<(Block, u32), Pc>,
    deopts: Vec<DeoptSite>,
}

impl<'m> Decoder<'m> {
    fn reg(&mut self, v: IrValue) -> Reg {
        if let Some(&p) = self.coalesce.get(&v) {
            return self.reg(p);
        }
        if let Some(&r) = self.regs.get(&v) {
            return r;
        }
        let r = self.nregs;
        self.nregs += 1;
        self.regs.insert(v, r);
        r
    }

    fn emit(&mut self, op: Op, loc: SrcLoc) -> usize {
        self.code.push(op);
        self.locs.push(loc);
        self.code.len() - 1
    }

    fn args(&mut self, vals: &[IrValue]) -> (u32, u32) {
        let start = self.arg_regs.len() as u32;
        for &v in vals {
            let r = self.reg(v);
            self.arg_regs.push(r);
        }
        (start, vals.len() as u32)
    }

    fn string(&mut self, s: &str) -> u32 {
        if let Some(i) = self.strings.iter().position(|x| x == s) {
            return i as u32;
        }
        self.strings.push(s.to_string());
        self.strings.len() as u32 - 1
    }

    fn konst(&mut self, v: Value) -> u32 {
        self.consts.push(v);
        self.consts.len() as u32 - 1
    }

    fn run(&mut self) {
        let func = self.func;
        // Parameters take the first registers, so calls copy arguments to 0..n.
        for &p in func.param_values() {
            self.reg(p);
        }
        for (i, &b) in func.layout.blocks().iter().enumerate() {
            self.layout_index.insert(b, i);
        }
        for (_, inst) in func.insts_in_order() {
            for v in func.dfg.insts[inst].all_uses() {
                *self.uses.entry(v).or_default() += 1;
            }
        }
        self.find_immediates();
        self.find_last_uses();
        self.find_coalescing();
        for &b in func.layout.blocks() {
            let pc = self.code.len() as Pc;
            self.block_pc.insert(b, pc);
            let insts = func.layout.block_insts(b);
            let mut skip_next_cmp = None;
            for (k, &inst) in insts.iter().enumerate() {
                let here = self.code.len() as Pc;
                self.inst_pcs.entry((b, k as u32)).or_insert(here);
                if Some(inst) == skip_next_cmp {
                    continue;
                }
                // A comparison used only by the branch right after it is fused into the branch.
                if let Some(&next) = insts.get(k + 1) {
                    if self.try_fuse(b, inst, next) {
                        // Resuming at the branch re-runs the (pure) comparison fused into it.
                        self.inst_pcs.insert((b, k as u32 + 1), here);
                        skip_next_cmp = Some(next);
                        continue;
                    }
                }
                self.inst(b, inst);
            }
        }
        // Edges with arguments: moves into the target's parameters, then a jump.
        for (at, slot, target, args, loc) in std::mem::take(&mut self.stubs) {
            let pc = self.code.len() as Pc;
            self.patch(at, slot, pc);
            self.edge_moves(target, &args, loc);
            self.emit_jump(None, target, loc);
        }
        for (at, slot, block) in std::mem::take(&mut self.fixups) {
            let pc = self.block_pc.get(&block).copied().unwrap_or(0);
            self.patch(at, slot, pc);
        }
    }

    /// The small integer constant an operand holds, if any.
    fn imm(&self, v: IrValue) -> Option<i32> {
        self.small_ints.get(&v).copied()
    }

    /// Whether operand `index` of an instruction with this opcode can be an immediate.
    fn foldable_position(op: Opcode, index: usize) -> bool {
        index == 1
            && matches!(
                op,
                Opcode::DynAdd
                    | Opcode::DynSub
                    | Opcode::DynMul
                    | Opcode::DynRem
                    | Opcode::AddI
                    | Opcode::SubI
                    | Opcode::MulI
                    | Opcode::RemI
                    | Opcode::DynCmp
                    | Opcode::CmpI
            )
    }

    /// Finds integer constants small enough for immediates, and those that need no register
    /// because every use takes them as an immediate.
    fn find_immediates(&mut self) {
        let f = self.func;
        let mut folded: HashMap<IrValue, u32> = HashMap::default();
        for (_, inst) in f.insts_in_order() {
            let d = &f.dfg.insts[inst];
            if let (Opcode::Const, Imm::Const(Const::Int(v)), Some(r)) =
                (d.opcode, &d.imm, d.result)
            {
                if let Ok(small) = i32::try_from(*v) {
                    self.small_ints.insert(r, small);
                }
            }
        }
        for (_, inst) in f.insts_in_order() {
            let d = &f.dfg.insts[inst];
            for (i, &a) in d.args.iter().enumerate() {
                if self.small_ints.contains_key(&a) && Self::foldable_position(d.opcode, i) {
                    *folded.entry(a).or_default() += 1;
                }
            }
        }
        for (v, n) in folded {
            if self.uses.get(&v).copied() == Some(n) {
                self.folded_only.insert(v);
            }
        }
    }

    /// Lets a value passed to a block parameter live in the parameter's register when nothing
    /// reads the parameter after the value is defined: the edge then needs no move. This is what
    /// turns `i = i + 1` at the end of a loop into one op.
    fn find_last_uses(&mut self) {
        let f = self.func;
        let cfg = ruchy_ir::ControlFlowGraph::compute(f);
        let liveness = ruchy_passes::analysis::Liveness::compute(f, &cfg);
        for &b in f.layout.blocks() {
            self.live_in.insert(b, liveness.live_in(b).collect());
        }
        for &b in f.layout.blocks() {
            let mut live: HashSet<IrValue> = liveness.live_out(b).collect();
            for &i in f.layout.block_insts(b).iter().rev() {
                let d = &f.dfg.insts[i];
                if matches!(d.opcode, Opcode::DynAdd | Opcode::StrConcat)
                    && d.args.len() == 2
                    && d.args[0] != d.args[1]
                    && !live.contains(&d.args[0])
                {
                    self.left_dies.insert(i);
                }
                if let Some(r) = d.result {
                    live.remove(&r);
                }
                live.extend(d.all_uses());
            }
        }
    }

    fn find_coalescing(&mut self) {
        let f = self.func;
        for &b in f.layout.blocks() {
            let insts = f.layout.block_insts(b);
            let Some(&term) = insts.last() else { continue };
            let t = &f.dfg.insts[term];
            if t.opcode != Opcode::Br {
                continue;
            }
            let dest = &t.dests[0];
            let params = f.dfg.block_params(dest.block);
            for (k, (&a, &p)) in dest.args.iter().zip(params).enumerate() {
                let ruchy_ir::ValueDef::Result(def) = f.dfg.value_def(a) else {
                    continue;
                };
                let Some(pos) = insts.iter().position(|&i| i == def) else {
                    continue;
                };
                if self.uses.get(&a).copied() != Some(1) || self.coalesce.contains_key(&p) {
                    continue;
                }
                if self.small_ints.contains_key(&a) && f.dfg.insts[def].opcode == Opcode::Const {
                    continue;
                }
                let read_later = insts[pos + 1..insts.len() - 1]
                    .iter()
                    .any(|&i| f.dfg.insts[i].all_uses().any(|u| u == p))
                    || dest.args.iter().enumerate().any(|(j, &x)| j != k && x == p);
                if !read_later {
                    self.coalesce.insert(a, p);
                }
            }
        }
    }

    fn patch(&mut self, at: usize, slot: Slot, pc: Pc) {
        match (&mut self.code[at], slot) {
            (Op::Jump { target }, Slot::Target) | (Op::JumpBack { target, .. }, Slot::Target) => {
                *target = pc
            }
            (Op::BrIf { then, .. }, Slot::Then)
            | (Op::BrCmp { then, .. }, Slot::Then)
            | (Op::BrCmpI { then, .. }, Slot::Then)
            | (Op::BrCmpImm { then, .. }, Slot::Then) => *then = pc,
            (Op::BrIf { els, .. }, Slot::Else)
            | (Op::BrCmp { els, .. }, Slot::Else)
            | (Op::BrCmpI { els, .. }, Slot::Else)
            | (Op::BrCmpImm { els, .. }, Slot::Else) => *els = pc,
            (Op::Switch { .. }, Slot::Case(t, i)) => self.tables[t as usize].cases[i].1 = pc,
            (Op::Switch { .. }, Slot::Default(t)) => self.tables[t as usize].default = pc,
            _ => {}
        }
    }

    /// Whether `from → to` goes back to a loop header (a retreating edge in layout order, which
    /// for the structured code the front end emits is exactly a back edge).
    fn is_back_edge(&self, from: Option<Block>, to: Block) -> bool {
        match from {
            Some(f) => self.layout_index.get(&to) <= self.layout_index.get(&f),
            None => false,
        }
    }

    fn emit_jump(&mut self, from: Option<Block>, target: Block, loc: SrcLoc) {
        let at = if self.is_back_edge(from, target) {
            let n = self.header_counters.len() as u32;
            let counter = *self.header_counters.entry(target).or_insert(n) + self.first_counter;
            self.emit(Op::JumpBack { target: 0, counter }, loc)
        } else {
            self.emit(Op::Jump { target: 0 }, loc)
        };
        self.fixups.push((at, Slot::Target, target));
    }

    /// Parallel moves of `args` into the parameters of `target`, sequentialized with a scratch
    /// register when they form a cycle.
    fn edge_moves(&mut self, target: Block, args: &[IrValue], loc: SrcLoc) {
        let params = self.func.dfg.block_params(target).to_vec();
        let mut moves: Vec<(Reg, Reg)> = vec![];
        // Sources whose value dies on this edge (not live in the target, passed once) are
        // moved out of their registers rather than copied, so a string held only there stays
        // uniquely owned and can be appended to in place.
        let mut dying: Vec<Reg> = vec![];
        for (p, a) in params.iter().zip(args) {
            let (dst, src) = (self.reg(*p), self.reg(*a));
            let passed_once = args.iter().filter(|&&x| x == *a).count() == 1;
            let live_after = self.live_in.get(&target).is_some_and(|l| l.contains(a));
            if passed_once && !live_after {
                dying.push(src);
            }
            if dst != src {
                moves.push((dst, src));
            }
        }
        let mut scratch = None;
        while !moves.is_empty() {
            if let Some(i) =
                (0..moves.len()).find(|&i| !moves.iter().any(|&(_, s)| s == moves[i].0))
            {
                let (dst, src) = moves.remove(i);
                let take = dying.contains(&src) && !moves.iter().any(|&(_, s)| s == src);
                let op = if take {
                    Op::MoveTake { dst, src }
                } else {
                    Op::Move { dst, src }
                };
                self.emit(op, loc);
            } else {
                let tmp = *scratch.get_or_insert_with(|| {
                    self.nregs += 1;
                    self.nregs - 1
                });
                let (dst, _) = moves[0];
                self.emit(Op::Move { dst: tmp, src: dst }, loc);
                for m in moves.iter_mut() {
                    if m.1 == dst {
                        m.1 = tmp;
                    }
                }
            }
        }
    }

    fn try_fuse(&mut self, b: Block, cmp: Inst, br: Inst) -> bool {
        let f = self.func;
        let c = &f.dfg.insts[cmp];
        let t = &f.dfg.insts[br];
        if t.opcode != Opcode::CondBr {
            return false;
        }
        let Some(res) = c.result else { return false };
        if t.args[0] != res || self.uses.get(&res).copied() != Some(1) {
            return false;
        }
        let op = match (c.opcode, &c.imm) {
            // `dyn.truthy` feeding a branch: the branch itself checks for a bool, with the same
            // error.
            (Opcode::DynTruthy, _) => Op::BrIf {
                cond: self.reg(c.args[0]),
                then: 0,
                els: 0,
            },
            (Opcode::DynCmp | Opcode::CmpI, &Imm::Cmp(pred)) => {
                let a = self.reg(c.args[0]);
                if let Some(imm) = self.imm(c.args[1]) {
                    Op::BrCmpImm {
                        pred,
                        a,
                        imm,
                        then: 0,
                        els: 0,
                    }
                } else {
                    let bb = self.reg(c.args[1]);
                    if c.opcode == Opcode::CmpI {
                        Op::BrCmpI {
                            pred,
                            a,
                            b: bb,
                            then: 0,
                            els: 0,
                        }
                    } else {
                        Op::BrCmp {
                            pred,
                            a,
                            b: bb,
                            then: 0,
                            els: 0,
                        }
                    }
                }
            }
            _ => return false,
        };
        let at = self.emit(op, c.loc);
        self.branch_dests(b, at, br);
        true
    }

    /// Records where the two destinations of a conditional branch at `at` go.
    fn branch_dests(&mut self, b: Block, at: usize, br: Inst) {
        let f = self.func;
        let dests = f.dfg.insts[br].dests.clone();
        let loc = f.dfg.insts[br].loc;
        for (dest, slot) in dests.iter().zip([Slot::Then, Slot::Else]) {
            if dest.args.is_empty() && !self.is_back_edge(Some(b), dest.block) {
                self.fixups.push((at, slot, dest.block));
            } else {
                self.stubs
                    .push((at, slot, dest.block, dest.args.to_vec(), loc));
            }
        }
    }

    fn inst(&mut self, b: Block, inst: Inst) {
        let f = self.func;
        let d = &f.dfg.insts[inst];
        let loc = d.loc;
        let a: Vec<IrValue> = d.args.to_vec();
        let dst = d.result.map(|r| self.reg(r)).unwrap_or(0);
        let r = |s: &mut Self, i: usize| s.reg(a[i]);
        if d.result.is_some_and(|r| self.folded_only.contains(&r)) {
            return;
        }
        if let Some(op) = self.with_immediate(inst, dst) {
            self.emit(op, loc);
            return;
        }
        let op = match d.opcode {
            Opcode::Const | Opcode::StrConst => match &d.imm {
                Imm::Const(Const::Int(v)) => Op::LoadInt { dst, value: *v },
                Imm::Const(Const::Float(v)) => Op::LoadFloat { dst, value: *v },
                Imm::Const(c) => {
                    let v = match c {
                        Const::Float(x) => Value::Float(*x),
                        Const::Bool(x) => Value::Bool(*x),
                        Const::Nil => Value::Nil,
                        Const::Str(s) => Value::str(s.clone()),
                        Const::Int(v) => Value::Int(*v),
                    };
                    let index = self.konst(v);
                    Op::LoadConst { dst, index }
                }
                _ => self.bad(inst),
            },
            Opcode::DynAdd | Opcode::StrConcat if self.left_dies.contains(&inst) => Op::AddTake {
                dst,
                a: r(self, 0),
                b: r(self, 1),
            },
            Opcode::DynAdd | Opcode::RtAdd => Op::Add {
                dst,
                a: r(self, 0),
                b: r(self, 1),
            },
            Opcode::DynSub | Opcode::RtSub => Op::Sub {
                dst,
                a: r(self, 0),
                b: r(self, 1),
            },
            Opcode::DynMul | Opcode::RtMul => Op::Mul {
                dst,
                a: r(self, 0),
                b: r(self, 1),
            },
            Opcode::DynDiv | Opcode::RtDiv => Op::Div {
                dst,
                a: r(self, 0),
                b: r(self, 1),
            },
            Opcode::DynRem | Opcode::RtRem => Op::Rem {
                dst,
                a: r(self, 0),
                b: r(self, 1),
            },
            Opcode::DynPow => self.dyn_bin(DynBin::Pow, dst, &a),
            Opcode::DynBitAnd => self.dyn_bin(DynBin::BitAnd, dst, &a),
            Opcode::DynBitOr => self.dyn_bin(DynBin::BitOr, dst, &a),
            Opcode::DynBitXor => self.dyn_bin(DynBin::BitXor, dst, &a),
            Opcode::DynShl => self.dyn_bin(DynBin::Shl, dst, &a),
            Opcode::DynShr => self.dyn_bin(DynBin::Shr, dst, &a),
            Opcode::DynNeg => Op::DynUn {
                op: DynUn::Neg,
                dst,
                src: r(self, 0),
            },
            Opcode::DynNot => Op::DynUn {
                op: DynUn::Not,
                dst,
                src: r(self, 0),
            },
            Opcode::DynBitNot => Op::DynUn {
                op: DynUn::BitNot,
                dst,
                src: r(self, 0),
            },
            Opcode::DynTruthy => Op::DynUn {
                op: DynUn::Truthy,
                dst,
                src: r(self, 0),
            },
            Opcode::DynLen | Opcode::ArrayLen | Opcode::StrLen | Opcode::RtLen => Op::DynUn {
                op: DynUn::Len,
                dst,
                src: r(self, 0),
            },
            Opcode::StrFrom => Op::DynUn {
                op: DynUn::ToStr,
                dst,
                src: r(self, 0),
            },
            Opcode::DynCast => {
                let op = if f.dfg.value_type(d.result.unwrap_or(a[0])) == Type::F64 {
                    DynUn::CastFloat
                } else {
                    DynUn::CastInt
                };
                Op::DynUn {
                    op,
                    dst,
                    src: r(self, 0),
                }
            }
            Opcode::CellNew => Op::DynUn {
                op: DynUn::CellNew,
                dst,
                src: r(self, 0),
            },
            Opcode::CellLoad => Op::DynUn {
                op: DynUn::CellLoad,
                dst,
                src: r(self, 0),
            },
            Opcode::CellStore => Op::CellStore {
                cell: r(self, 0),
                src: r(self, 1),
            },
            Opcode::DynCmp | Opcode::RtCmp | Opcode::StrCmp | Opcode::CmpB => match d.imm {
                Imm::Cmp(pred) => Op::Cmp {
                    pred,
                    dst,
                    a: r(self, 0),
                    b: r(self, 1),
                },
                _ => self.bad(inst),
            },
            Opcode::CmpI => match d.imm {
                Imm::Cmp(pred) => Op::CmpI {
                    pred,
                    dst,
                    a: r(self, 0),
                    b: r(self, 1),
                },
                _ => self.bad(inst),
            },
            Opcode::CmpF => match d.imm {
                Imm::Cmp(pred) => Op::CmpF {
                    pred,
                    dst,
                    a: r(self, 0),
                    b: r(self, 1),
                },
                _ => self.bad(inst),
            },
            Opcode::DynIndex | Opcode::ArrayGet | Opcode::StrIndex => Op::Index {
                dst,
                base: r(self, 0),
                index: r(self, 1),
            },
            Opcode::DynSetIndex | Opcode::ArraySet => Op::SetIndex {
                base: r(self, 0),
                index: r(self, 1),
                src: r(self, 2),
            },
            Opcode::DynCall | Opcode::CallIndirect => {
                let (args, count) = self.args(&a);
                Op::CallDyn { dst, args, count }
            }
            Opcode::DynMethod | Opcode::RtMethod => {
                let name = match &d.imm {
                    Imm::Method(m) => m.clone(),
                    _ => String::new(),
                };
                let name = self.string(&name);
                let (args, count) = self.args(&a);
                Op::Method {
                    dst,
                    name,
                    args,
                    count,
                }
            }
            Opcode::DynBuiltin | Opcode::RtBuiltin => match d.imm {
                Imm::Builtin(builtin) => {
                    let (args, count) = self.args(&a);
                    Op::Builtin {
                        dst,
                        builtin,
                        args,
                        count,
                    }
                }
                _ => self.bad(inst),
            },
            Opcode::AddI => self.int(IntBin::Add, dst, &a),
            Opcode::SubI => self.int(IntBin::Sub, dst, &a),
            Opcode::MulI => self.int(IntBin::Mul, dst, &a),
            Opcode::DivI => self.int(IntBin::Div, dst, &a),
            Opcode::RemI => self.int(IntBin::Rem, dst, &a),
            Opcode::AddIWrap => self.int(IntBin::AddWrap, dst, &a),
            Opcode::SubIWrap => self.int(IntBin::SubWrap, dst, &a),
            Opcode::MulIWrap => self.int(IntBin::MulWrap, dst, &a),
            Opcode::AndI => self.int(IntBin::And, dst, &a),
            Opcode::OrI => self.int(IntBin::Or, dst, &a),
            Opcode::XorI => self.int(IntBin::Xor, dst, &a),
            Opcode::ShlI => self.int(IntBin::Shl, dst, &a),
            Opcode::ShrI => self.int(IntBin::Shr, dst, &a),
            Opcode::NegI => Op::NegI {
                dst,
                src: r(self, 0),
            },
            Opcode::NotI => Op::NotI {
                dst,
                src: r(self, 0),
            },
            Opcode::AddF => self.float(FloatBin::Add, dst, &a),
            Opcode::SubF => self.float(FloatBin::Sub, dst, &a),
            Opcode::MulF => self.float(FloatBin::Mul, dst, &a),
            Opcode::DivF => self.float(FloatBin::Div, dst, &a),
            Opcode::RemF => self.float(FloatBin::Rem, dst, &a),
            Opcode::NegF => Op::NegF {
                dst,
                src: r(self, 0),
            },
            Opcode::Not => Op::NotB {
                dst,
                src: r(self, 0),
            },
            Opcode::IToF => Op::IToF {
                dst,
                src: r(self, 0),
            },
            Opcode::FToI => Op::FToI {
                dst,
                src: r(self, 0),
            },
            Opcode::Br => {
                let dest = d.dests[0].clone();
                self.edge_moves(dest.block, &dest.args, loc);
                self.emit_jump(Some(b), dest.block, loc);
                return;
            }
            Opcode::CondBr => {
                let cond = r(self, 0);
                let at = self.emit(
                    Op::BrIf {
                        cond,
                        then: 0,
                        els: 0,
                    },
                    loc,
                );
                self.branch_dests(b, at, inst);
                return;
            }
            Opcode::Switch => {
                let src = r(self, 0);
                let Imm::Cases(cases) = &d.imm else {
                    let op = self.bad(inst);
                    self.emit(op, loc);
                    return;
                };
                let table = self.tables.len() as u32;
                self.tables.push(SwitchTable {
                    cases: cases.iter().map(|&c| (c, 0)).collect(),
                    default: 0,
                });
                let at = self.emit(Op::Switch { src, table }, loc);
                let dests = d.dests.clone();
                for (i, dest) in dests.iter().enumerate() {
                    let slot = if i < cases.len() {
                        Slot::Case(table, i)
                    } else {
                        Slot::Default(table)
                    };
                    if dest.args.is_empty() && !self.is_back_edge(Some(b), dest.block) {
                        self.fixups.push((at, slot, dest.block));
                    } else {
                        self.stubs
                            .push((at, slot, dest.block, dest.args.to_vec(), loc));
                    }
                }
                return;
            }
            Opcode::Return => Op::Return { src: r(self, 0) },
            Opcode::Trap => {
                let msg = match &d.imm {
                    Imm::Message(m) => m.clone(),
                    _ => "trap".to_string(),
                };
                let message = self.string(&msg);
                Op::Trap { message }
            }
            Opcode::Call => match d.imm {
                Imm::Func(func) => {
                    let (args, count) = self.args(&a);
                    Op::Call {
                        dst,
                        func,
                        args,
                        count,
                    }
                }
                _ => self.bad(inst),
            },
            Opcode::FuncRef => match d.imm {
                Imm::Func(func) => {
                    let index = self.konst(Value::Func(func));
                    Op::LoadConst { dst, index }
                }
                _ => self.bad(inst),
            },
            Opcode::MakeClosure => match d.imm {
                Imm::Func(func) => {
                    let (args, count) = self.args(&a);
                    Op::Closure {
                        dst,
                        func,
                        args,
                        count,
                    }
                }
                _ => self.bad(inst),
            },
            Opcode::GlobalLoad => match d.imm {
                Imm::Global(g) => Op::GlobalLoad {
                    dst,
                    global: g.as_u32(),
                },
                _ => self.bad(inst),
            },
            Opcode::GlobalStore => match d.imm {
                Imm::Global(g) => Op::GlobalStore {
                    global: g.as_u32(),
                    src: r(self, 0),
                },
                _ => self.bad(inst),
            },
            // The interpreter has no frame storage for arrays: a frame-local array is an array.
            Opcode::StackAlloc | Opcode::ArrayNew => {
                let (args, count) = self.args(&a);
                Op::ArrayNew { dst, args, count }
            }
            Opcode::TupleNew => {
                let (args, count) = self.args(&a);
                Op::TupleNew { dst, args, count }
            }
            Opcode::ArrayPush => Op::ArrayPush {
                array: r(self, 0),
                src: r(self, 1),
            },
            Opcode::ArrayConcat => Op::ArrayConcat {
                dst,
                a: r(self, 0),
                b: r(self, 1),
            },
            Opcode::StrConcat => Op::StrConcat {
                dst,
                a: r(self, 0),
                b: r(self, 1),
            },
            Opcode::Print | Opcode::Println => {
                let (args, count) = self.args(&a);
                Op::Print {
                    dst,
                    args,
                    count,
                    newline: d.opcode == Opcode::Println,
                }
            }
            Opcode::GuardType => {
                let ty = f.dfg.value_type(d.result.unwrap_or(a[0]));
                let src = r(self, 0);
                let deopt = match &d.deopt {
                    Some(ds) => {
                        let values = ds
                            .values
                            .iter()
                            .map(|&(tv, lv)| (tv, self.reg(lv)))
                            .collect();
                        self.deopts.push(DeoptSite {
                            func: ds.func,
                            block: ds.block,
                            index: ds.index,
                            values,
                        });
                        self.deopts.len() as u32 - 1
                    }
                    None => u32::MAX,
                };
                Op::Guard {
                    dst,
                    src,
                    tag: Value::type_tag_of(ty).unwrap_or(u8::MAX),
                    deopt,
                }
            }
        };
        self.emit(op, loc);
    }

    /// The immediate form of an arithmetic or comparison op whose right operand is a small
    /// integer constant, and of `push` calls.
    fn with_immediate(&mut self, inst: Inst, dst: Reg) -> Option<Op> {
        let d = &self.func.dfg.insts[inst];
        if matches!(d.opcode, Opcode::DynMethod | Opcode::RtMethod)
            && d.args.len() == 2
            && matches!(&d.imm, Imm::Method(m) if m == "push")
        {
            let (recv, src) = (d.args[0], d.args[1]);
            let name = self.string("push");
            return Some(Op::MethodPush {
                dst,
                recv: self.reg(recv),
                src: self.reg(src),
                name,
            });
        }
        if d.args.len() != 2 {
            return None;
        }
        let imm = self.imm(d.args[1])?;
        let a0 = d.args[0];
        let pred = match d.imm {
            Imm::Cmp(p) => Some(p),
            _ => None,
        };
        let opcode = d.opcode;
        let a = self.reg(a0);
        Some(match opcode {
            Opcode::DynAdd | Opcode::AddI => Op::AddImm { dst, a, imm },
            Opcode::DynSub | Opcode::SubI => Op::SubImm { dst, a, imm },
            Opcode::DynMul | Opcode::MulI => Op::MulImm { dst, a, imm },
            Opcode::DynRem | Opcode::RemI => Op::RemImm { dst, a, imm },
            Opcode::DynCmp | Opcode::CmpI => Op::CmpImm {
                pred: pred?,
                dst,
                a,
                imm,
            },
            _ => return None,
        })
    }

    fn dyn_bin(&mut self, op: DynBin, dst: Reg, a: &[IrValue]) -> Op {
        Op::DynBin {
            op,
            dst,
            a: self.reg(a[0]),
            b: self.reg(a[1]),
        }
    }

    fn int(&mut self, op: IntBin, dst: Reg, a: &[IrValue]) -> Op {
        Op::Int {
            op,
            dst,
            a: self.reg(a[0]),
            b: self.reg(a[1]),
        }
    }

    fn float(&mut self, op: FloatBin, dst: Reg, a: &[IrValue]) -> Op {
        Op::Float {
            op,
            dst,
            a: self.reg(a[0]),
            b: self.reg(a[1]),
        }
    }

    /// An instruction whose immediate does not fit its op (only possible for unverified IR).
    fn bad(&mut self, inst: Inst) -> Op {
        let msg = format!("malformed instruction {}", self.func.dfg.insts[inst].opcode);
        let message = self.string(&msg);
        Op::Trap { message }
    }
}

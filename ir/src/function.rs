//! A function: its signature and attributes, its data-flow graph (instructions, values, blocks)
//! and its layout (the order of blocks and of the instructions inside them).
//!
//! As in Cranelift, the data-flow graph and the layout are separate: an instruction exists in the
//! DFG whether or not it is placed, so passes can build and move instructions freely.

use crate::entities::{Block, FuncId, Inst, Value};
use crate::instructions::{BlockCall, Imm, InstData};
use crate::loc::SrcLoc;
use crate::opcode::Opcode;
use crate::types::Type;
use cranelift_entity::{PrimaryMap, SecondaryMap};
use smallvec::SmallVec;
use std::fmt;

/// How far a function has been lowered. Each level forbids more than the one before it.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Level {
    /// Straight from the front end: `dyn` ops on `any` values are allowed.
    Dyn,
    /// No `dyn` op remains; `any` values only come from polymorphic sources and reach concrete
    /// types through guards.
    Typed,
    /// Memory explicit: allocation sites are decided (heap or stack).
    Lowered,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Dyn => "dyn",
            Level::Typed => "typed",
            Level::Lowered => "lowered",
        }
    }

    pub fn from_name(s: &str) -> Option<Level> {
        match s {
            "dyn" => Some(Level::Dyn),
            "typed" => Some(Level::Typed),
            "lowered" => Some(Level::Lowered),
            _ => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a value comes from.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum ValueDef {
    /// The result of an instruction.
    Result(Inst),
    /// The `index`th parameter of a block.
    Param(Block, u32),
    /// A number reserved but not defined (gaps left by parsing or by deleted values).
    Unused,
}

#[derive(Clone, Debug)]
pub struct ValueData {
    pub ty: Type,
    pub def: ValueDef,
}

#[derive(Clone, Debug, Default)]
pub struct BlockData {
    pub params: Vec<Value>,
}

/// Instructions, values and blocks of one function, and how they refer to each other.
#[derive(Clone, Debug, Default)]
pub struct DataFlowGraph {
    pub insts: PrimaryMap<Inst, InstData>,
    pub values: PrimaryMap<Value, ValueData>,
    pub blocks: PrimaryMap<Block, BlockData>,
}

impl DataFlowGraph {
    pub fn value_type(&self, v: Value) -> Type {
        self.values[v].ty
    }

    pub fn value_def(&self, v: Value) -> ValueDef {
        self.values[v].def
    }

    pub fn block_params(&self, b: Block) -> &[Value] {
        &self.blocks[b].params
    }

    pub fn make_block(&mut self) -> Block {
        self.blocks.push(BlockData::default())
    }

    /// Appends a parameter of type `ty` to block `b`.
    pub fn append_block_param(&mut self, b: Block, ty: Type) -> Value {
        let idx = self.blocks[b].params.len() as u32;
        let v = self.values.push(ValueData {
            ty,
            def: ValueDef::Param(b, idx),
        });
        self.blocks[b].params.push(v);
        v
    }

    /// Removes parameter `idx` of block `b` (callers fix the branch arguments).
    pub fn remove_block_param(&mut self, b: Block, idx: usize) {
        let v = self.blocks[b].params.remove(idx);
        self.values[v].def = ValueDef::Unused;
        for (i, p) in self.blocks[b].params.clone().into_iter().enumerate() {
            self.values[p].def = ValueDef::Param(b, i as u32);
        }
    }

    /// Creates an instruction (not yet placed in the layout). A result of type `ty` is created
    /// when the op has one.
    pub fn make_inst(
        &mut self,
        opcode: Opcode,
        args: &[Value],
        imm: Imm,
        dests: SmallVec<[BlockCall; 2]>,
        ty: Type,
        loc: SrcLoc,
    ) -> Inst {
        let inst = self.insts.push(InstData {
            opcode,
            args: args.into(),
            imm,
            dests,
            result: None,
            loc,
            deopt: None,
        });
        if opcode.has_result() {
            let v = self.values.push(ValueData {
                ty,
                def: ValueDef::Result(inst),
            });
            self.insts[inst].result = Some(v);
        }
        inst
    }

    /// The result of an instruction; panics for ops without one (a caller bug, not bad input).
    pub fn inst_result(&self, inst: Inst) -> Value {
        self.insts[inst].result.expect("instruction has no result")
    }
}

/// The order of blocks, and of instructions within each block.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    blocks: Vec<Block>,
    insts: SecondaryMap<Block, Vec<Inst>>,
    inst_block: SecondaryMap<Inst, Option<Block>>,
}

impl Layout {
    /// Blocks in layout order; the first is the entry block.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    pub fn entry_block(&self) -> Option<Block> {
        self.blocks.first().copied()
    }

    pub fn is_block_inserted(&self, b: Block) -> bool {
        self.blocks.contains(&b)
    }

    pub fn append_block(&mut self, b: Block) {
        debug_assert!(!self.blocks.contains(&b));
        self.blocks.push(b);
    }

    /// Removes a block and its instructions from the layout.
    pub fn remove_block(&mut self, b: Block) {
        self.blocks.retain(|&x| x != b);
        for i in std::mem::take(&mut self.insts[b]) {
            self.inst_block[i] = None;
        }
    }

    /// Inserts new blocks, in order, right after `after` (at the end if `after` is not in the
    /// layout): where a transformation that splits `after` wants its pieces.
    pub fn insert_blocks_after(&mut self, after: Block, new: impl IntoIterator<Item = Block>) {
        let at = self
            .blocks
            .iter()
            .position(|&b| b == after)
            .map_or(self.blocks.len(), |p| p + 1);
        self.blocks.splice(at..at, new);
    }

    /// Inserts a new block right before `before` (at the end if `before` is not in the
    /// layout), such as a loop preheader.
    pub fn insert_block_before(&mut self, before: Block, new: Block) {
        let at = self
            .blocks
            .iter()
            .position(|&b| b == before)
            .unwrap_or(self.blocks.len());
        self.blocks.insert(at, new);
    }

    /// Replaces the block order (a permutation of, or subset of, the current blocks).
    pub fn set_block_order(&mut self, order: Vec<Block>) {
        let mut kept: SecondaryMap<Block, bool> = SecondaryMap::new();
        for &b in &order {
            kept[b] = true;
        }
        for &b in &self.blocks {
            if !kept[b] {
                for i in std::mem::take(&mut self.insts[b]) {
                    self.inst_block[i] = None;
                }
            }
        }
        self.blocks = order;
    }

    pub fn block_insts(&self, b: Block) -> &[Inst] {
        &self.insts[b]
    }

    pub fn append_inst(&mut self, b: Block, i: Inst) {
        self.insts[b].push(i);
        self.inst_block[i] = Some(b);
    }

    /// Inserts `i` at position `pos` of block `b`.
    pub fn insert_inst(&mut self, b: Block, pos: usize, i: Inst) {
        self.insts[b].insert(pos, i);
        self.inst_block[i] = Some(b);
    }

    /// Removes one instruction: linear in its block's length, so a pass removing many calls
    /// [`Layout::remove_insts`] instead.
    pub fn remove_inst(&mut self, i: Inst) {
        if let Some(b) = self.inst_block[i].take() {
            self.insts[b].retain(|&x| x != i);
        }
    }

    /// Removes several instructions, rewriting each block's list once: removing them one at a
    /// time is quadratic in a block's length (a 20,000-statement function spent two thirds of
    /// its compile time there).
    pub fn remove_insts(&mut self, removed: impl IntoIterator<Item = Inst>) {
        let mut touched: Vec<Block> = removed
            .into_iter()
            .filter_map(|i| self.inst_block[i].take())
            .collect();
        touched.sort_unstable();
        touched.dedup();
        let Layout {
            insts, inst_block, ..
        } = self;
        for b in touched {
            insts[b].retain(|&x| inst_block[x] == Some(b));
        }
    }

    /// Replaces the instruction list of block `b`.
    pub fn set_block_insts(&mut self, b: Block, insts: Vec<Inst>) {
        for &i in &self.insts[b] {
            self.inst_block[i] = None;
        }
        for &i in &insts {
            self.inst_block[i] = Some(b);
        }
        self.insts[b] = insts;
    }

    pub fn inst_block(&self, i: Inst) -> Option<Block> {
        self.inst_block[i]
    }

    /// The last instruction of a block, which is its terminator in well-formed IR.
    pub fn last_inst(&self, b: Block) -> Option<Inst> {
        self.insts[b].last().copied()
    }
}

/// Function-level facts that the front end records for later stages.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FuncAttrs {
    /// Parameter types from source annotations: hints for specialization, never a change of
    /// meaning. `None` for an unannotated parameter.
    pub hints: Option<Vec<Option<Type>>>,
    /// How many leading parameters receive captured values (closures).
    pub captures: u32,
    /// For a function with default parameters: adapters taking fewer arguments, by argument count
    /// (`defaults[k]` takes `params.len() - defaults.len() + k` arguments).
    pub defaults: Vec<FuncId>,
    /// Internal helper (prelude, adapter): left out of Ruchy call stacks.
    pub hidden: bool,
    /// The target of deopt states: guards resume in it by block and instruction index, so no
    /// pass may change it (the pass manager skips it).
    pub frozen: bool,
}

/// One function.
#[derive(Clone, Debug)]
pub struct Function {
    /// The name without `@`; unique in its module.
    pub name: String,
    pub params: Vec<Type>,
    pub ret: Type,
    pub level: Level,
    pub attrs: FuncAttrs,
    /// Where the function is defined.
    pub loc: SrcLoc,
    pub dfg: DataFlowGraph,
    pub layout: Layout,
}

impl Function {
    /// The block that defines `v` (its instruction's block, or the block it is a parameter
    /// of); `None` for an unused value or an instruction not in the layout.
    pub fn def_block(&self, v: Value) -> Option<Block> {
        match self.dfg.values.get(v)?.def {
            ValueDef::Result(i) => self.layout.inst_block(i),
            ValueDef::Param(b, _) => Some(b),
            ValueDef::Unused => None,
        }
    }

    pub fn new(name: impl Into<String>, params: Vec<Type>, ret: Type, level: Level) -> Self {
        Function {
            name: name.into(),
            params,
            ret,
            level,
            attrs: FuncAttrs::default(),
            loc: SrcLoc::UNKNOWN,
            dfg: DataFlowGraph::default(),
            layout: Layout::default(),
        }
    }

    pub fn entry_block(&self) -> Option<Block> {
        self.layout.entry_block()
    }

    /// The parameters of the entry block, which are the function's parameters.
    pub fn param_values(&self) -> &[Value] {
        match self.entry_block() {
            Some(b) => self.dfg.block_params(b),
            None => &[],
        }
    }

    /// Instructions in layout order, with their blocks.
    pub fn insts_in_order(&self) -> impl Iterator<Item = (Block, Inst)> + '_ {
        self.layout
            .blocks()
            .iter()
            .flat_map(move |&b| self.layout.block_insts(b).iter().map(move |&i| (b, i)))
    }

    /// The successor blocks of `b`, from its terminator.
    pub fn successors(&self, b: Block) -> SmallVec<[Block; 2]> {
        match self.layout.last_inst(b) {
            Some(i) if self.dfg.insts[i].opcode.is_terminator() => {
                self.dfg.insts[i].dests.iter().map(|d| d.block).collect()
            }
            _ => SmallVec::new(),
        }
    }

    /// Number of placed instructions.
    pub fn inst_count(&self) -> usize {
        self.layout
            .blocks()
            .iter()
            .map(|&b| self.layout.block_insts(b).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_inserted_after_and_before_a_block() {
        let mut layout = Layout::default();
        let b = Block::from_u32;
        layout.append_block(b(0));
        layout.append_block(b(1));
        layout.insert_blocks_after(b(0), [b(2), b(3)]);
        layout.insert_block_before(b(1), b(4));
        layout.insert_blocks_after(b(1), [b(5)]);
        assert_eq!(layout.blocks(), &[b(0), b(2), b(3), b(4), b(1), b(5)]);
    }

    #[test]
    fn removing_several_instructions_keeps_the_others_in_order() {
        let mut layout = Layout::default();
        let (b0, b1) = (Block::from_u32(0), Block::from_u32(1));
        layout.append_block(b0);
        layout.append_block(b1);
        let i = Inst::from_u32;
        for k in 0..6 {
            layout.append_inst(if k < 4 { b0 } else { b1 }, i(k));
        }
        // Across blocks, out of order, with a duplicate and an instruction removed before.
        layout.remove_inst(i(1));
        layout.remove_insts([i(5), i(2), i(1), i(2)]);
        assert_eq!(layout.block_insts(b0), &[i(0), i(3)]);
        assert_eq!(layout.block_insts(b1), &[i(4)]);
        assert_eq!(layout.inst_block(i(2)), None);
        assert_eq!(layout.inst_block(i(3)), Some(b0));
    }
}

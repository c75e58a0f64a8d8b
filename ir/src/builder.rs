//! A cursor for building instructions at the end of a block: the one way the front end and the
//! passes append code, so every instruction gets a location and a typed result.

use crate::entities::{Block, FuncId, GlobalId, Inst, Value};
use crate::function::Function;
use crate::instructions::{BlockCall, Const, Imm};
use crate::loc::SrcLoc;
use crate::opcode::{CmpPred, Opcode};
use crate::types::Type;
use smallvec::{smallvec, SmallVec};

pub struct FuncBuilder<'f> {
    pub func: &'f mut Function,
    current: Option<Block>,
    /// Location given to the instructions built next.
    pub loc: SrcLoc,
}

impl<'f> FuncBuilder<'f> {
    pub fn new(func: &'f mut Function) -> Self {
        FuncBuilder {
            func,
            current: None,
            loc: SrcLoc::UNKNOWN,
        }
    }

    /// Creates a block and appends it to the layout.
    pub fn create_block(&mut self) -> Block {
        let b = self.func.dfg.make_block();
        self.func.layout.append_block(b);
        b
    }

    pub fn append_block_param(&mut self, b: Block, ty: Type) -> Value {
        self.func.dfg.append_block_param(b, ty)
    }

    pub fn switch_to_block(&mut self, b: Block) {
        self.current = Some(b);
    }

    pub fn current_block(&self) -> Option<Block> {
        self.current
    }

    /// Whether the current block already ends in a terminator.
    pub fn is_terminated(&self) -> bool {
        match self.current.and_then(|b| self.func.layout.last_inst(b)) {
            Some(i) => self.func.dfg.insts[i].opcode.is_terminator(),
            None => false,
        }
    }

    /// Appends an instruction to the current block.
    pub fn build(
        &mut self,
        opcode: Opcode,
        args: &[Value],
        imm: Imm,
        dests: SmallVec<[BlockCall; 2]>,
        ty: Type,
    ) -> Inst {
        let b = self.current.expect("builder has no current block");
        let inst = self
            .func
            .dfg
            .make_inst(opcode, args, imm, dests, ty, self.loc);
        self.func.layout.append_inst(b, inst);
        inst
    }

    /// Appends an op with a result and returns the result.
    pub fn value(&mut self, opcode: Opcode, args: &[Value], imm: Imm, ty: Type) -> Value {
        let inst = self.build(opcode, args, imm, SmallVec::new(), ty);
        self.func.dfg.inst_result(inst)
    }

    /// Appends an op without a result.
    pub fn effect(&mut self, opcode: Opcode, args: &[Value], imm: Imm) -> Inst {
        self.build(opcode, args, imm, SmallVec::new(), Type::Unit)
    }

    pub fn iconst(&mut self, v: i64) -> Value {
        self.value(Opcode::Const, &[], Imm::Const(Const::Int(v)), Type::I64)
    }

    pub fn fconst(&mut self, v: f64) -> Value {
        self.value(Opcode::Const, &[], Imm::Const(Const::Float(v)), Type::F64)
    }

    pub fn bconst(&mut self, v: bool) -> Value {
        self.value(Opcode::Const, &[], Imm::Const(Const::Bool(v)), Type::Bool)
    }

    pub fn nil(&mut self) -> Value {
        self.value(Opcode::Const, &[], Imm::Const(Const::Nil), Type::Unit)
    }

    pub fn str_const(&mut self, s: &str) -> Value {
        self.value(
            Opcode::StrConst,
            &[],
            Imm::Const(Const::Str(s.to_string())),
            Type::Str,
        )
    }

    pub fn cmp(&mut self, opcode: Opcode, pred: CmpPred, a: Value, b: Value) -> Value {
        self.value(opcode, &[a, b], Imm::Cmp(pred), Type::Bool)
    }

    pub fn call(&mut self, f: FuncId, args: &[Value], ret: Type) -> Value {
        self.value(Opcode::Call, args, Imm::Func(f), ret)
    }

    pub fn global_load(&mut self, g: GlobalId) -> Value {
        self.value(Opcode::GlobalLoad, &[], Imm::Global(g), Type::Any)
    }

    pub fn global_store(&mut self, g: GlobalId, v: Value) {
        self.effect(Opcode::GlobalStore, &[v], Imm::Global(g));
    }

    pub fn br(&mut self, dest: Block, args: &[Value]) -> Inst {
        self.build(
            Opcode::Br,
            &[],
            Imm::None,
            smallvec![BlockCall::new(dest, args)],
            Type::Unit,
        )
    }

    pub fn cond_br(
        &mut self,
        cond: Value,
        then: Block,
        then_args: &[Value],
        els: Block,
        else_args: &[Value],
    ) -> Inst {
        self.build(
            Opcode::CondBr,
            &[cond],
            Imm::None,
            smallvec![
                BlockCall::new(then, then_args),
                BlockCall::new(els, else_args)
            ],
            Type::Unit,
        )
    }

    pub fn ret(&mut self, v: Value) -> Inst {
        self.build(Opcode::Return, &[v], Imm::None, SmallVec::new(), Type::Unit)
    }

    pub fn trap(&mut self, message: impl Into<String>) -> Inst {
        self.build(
            Opcode::Trap,
            &[],
            Imm::Message(message.into()),
            SmallVec::new(),
            Type::Unit,
        )
    }
}

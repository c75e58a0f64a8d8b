//! Lowering: resolved AST → `dyn`-level SSA IR.
//!
//! SSA is built directly while walking the AST with the algorithm of Braun et al. ("Simple and
//! Efficient Construction of Static Single Assignment Form", CC 2013): variables are read and
//! written per block, blocks whose predecessors are not all known yet get provisional block
//! parameters, and redundant parameters are removed at the end. Values whose type is fixed by a
//! literal or by the operation (comparisons, string concatenation, counters of `for` loops over
//! ranges) get concrete types and typed ops; everything else is `any` and uses `dyn` ops.

use crate::ast::{Block as AstBlock, *};
use crate::resolve::{BindingId, FnId, FnKind, ReplVar, Res, Resolution, Storage, TOPLEVEL};
use crate::source::{Diagnostic, SourceFile, Span};
use ruchy_ir::{
    utils, Block, Builtin, CmpPred, Const, FuncBuilder, FuncId, Function, GlobalId, Imm, Inst,
    Level, Module, Opcode, SrcLoc, Type, Value,
};
use smallvec::SmallVec;
use std::collections::{HashMap, HashSet};

/// Ruchy source of the array methods that call back into Ruchy functions. They are compiled into
/// the module on first use, as hidden functions, so every tier runs them like user code.
const PRELUDE: &str = r#"
fun map(xs, f) {
    let mut out = []
    for x in xs { out.push(f(x)) }
    out
}
fun filter(xs, f) {
    let mut out = []
    for x in xs { if f(x) { out.push(x) } }
    out
}
fun reduce(xs, init, f) {
    let mut acc = init
    for x in xs { acc = f(acc, x) }
    acc
}
fun iter(xs) {
    if type_of(xs) == "string" { xs.chars() } else { xs }
}
"#;

/// The AST node of a function scope.
#[derive(Copy, Clone)]
enum FnAst<'a> {
    Script(&'a Program),
    Fun(&'a FunDecl),
    Lambda(&'a [Param], &'a Expr),
}

/// One compiled source (the user's file or the prelude).
struct Unit<'a> {
    file: &'a SourceFile,
    res: &'a Resolution,
    asts: HashMap<FnId, FnAst<'a>>,
    fn_ids: HashMap<FnId, FuncId>,
    globals: HashMap<BindingId, GlobalId>,
}

struct Ctx {
    module: Module,
    diags: Vec<Diagnostic>,
    /// Prelude functions requested so far, by name.
    prelude: HashMap<&'static str, FuncId>,
}

/// Lowers a parsed and resolved program into a module of `dyn`-level functions.
pub fn lower(
    file: &SourceFile,
    program: &Program,
    res: &Resolution,
) -> Result<Module, Vec<Diagnostic>> {
    let mut cx = Ctx {
        module: Module::new(file.name.clone()),
        diags: vec![],
        prelude: HashMap::new(),
    };
    let mut unit = Unit::new(file, res);
    unit.collect(program);
    let all: Vec<FnId> = (0..res.fns.len()).collect();
    unit.declare(&mut cx, &all, "");
    unit.declare_globals(&mut cx);
    for f in all {
        unit.lower_fn(&mut cx, f);
    }
    cx.module.entry = unit.fn_ids.get(&TOPLEVEL).copied();
    if !cx.prelude.is_empty() {
        lower_prelude(&mut cx);
    }
    if cx.diags.is_empty() {
        Ok(cx.module)
    } else {
        Err(cx.diags)
    }
}

fn lower_prelude(cx: &mut Ctx) {
    let file = SourceFile::new("<prelude>", PRELUDE);
    let program = match crate::parser::parse(&file) {
        Ok(p) => p,
        Err(d) => {
            cx.diags.extend(d);
            return;
        }
    };
    let res = match crate::resolve::resolve(&program) {
        Ok(r) => r,
        Err(d) => {
            cx.diags.extend(d);
            return;
        }
    };
    let mut unit = Unit::new(&file, &res);
    unit.collect(&program);
    // Prelude functions may request others (`map` iterates with `iter`): lower until none is
    // left.
    let mut done: Vec<FnId> = vec![];
    loop {
        let wanted: Vec<FnId> = res
            .fns
            .iter()
            .enumerate()
            .filter(|(i, f)| !done.contains(i) && cx.prelude.keys().any(|n| *n == f.name))
            .map(|(i, _)| i)
            .collect();
        if wanted.is_empty() {
            break;
        }
        for &f in &wanted {
            if let Some((_, &id)) = cx.prelude.iter().find(|(n, _)| **n == res.fns[f].name) {
                unit.fn_ids.insert(f, id);
            }
        }
        for f in wanted {
            unit.lower_fn(cx, f);
            done.push(f);
        }
    }
}

impl<'a> Unit<'a> {
    fn new(file: &'a SourceFile, res: &'a Resolution) -> Self {
        Unit {
            file,
            res,
            asts: HashMap::new(),
            fn_ids: HashMap::new(),
            globals: HashMap::new(),
        }
    }

    fn loc(&self, span: Span) -> SrcLoc {
        let (line, col) = self.file.line_col(span.start);
        SrcLoc::new(line, col)
    }

    /// Finds the AST node of every function scope.
    fn collect(&mut self, program: &'a Program) {
        self.asts.insert(TOPLEVEL, FnAst::Script(program));
        for s in &program.stmts {
            self.collect_stmt(s);
        }
    }

    fn collect_stmt(&mut self, s: &'a Stmt) {
        match &s.kind {
            StmtKind::Let { init, .. } => self.collect_expr(init),
            StmtKind::Fun(decl) => {
                if let Some(&id) = self.res.fn_at.get(&decl.span.start) {
                    self.asts.insert(id, FnAst::Fun(decl));
                }
                for p in &decl.params {
                    if let Some(d) = &p.default {
                        self.collect_expr(d);
                    }
                }
                self.collect_block(&decl.body);
            }
            StmtKind::Expr { expr, .. } => self.collect_expr(expr),
        }
    }

    fn collect_block(&mut self, b: &'a AstBlock) {
        for s in &b.stmts {
            self.collect_stmt(s);
        }
    }

    fn collect_expr(&mut self, e: &'a Expr) {
        match &e.kind {
            ExprKind::Lambda { params, body } => {
                if let Some(&id) = self.res.fn_at.get(&e.span.start) {
                    self.asts.insert(id, FnAst::Lambda(params, body));
                }
                for p in params.iter() {
                    if let Some(d) = &p.default {
                        self.collect_expr(d);
                    }
                }
                self.collect_expr(body);
            }
            ExprKind::FString(parts) => {
                for p in parts {
                    if let FStringPart::Expr(x) = p {
                        self.collect_expr(x);
                    }
                }
            }
            ExprKind::Array(xs) | ExprKind::Tuple(xs) => {
                xs.iter().for_each(|x| self.collect_expr(x))
            }
            ExprKind::Unary(_, x)
            | ExprKind::TupleField { base: x, .. }
            | ExprKind::Cast { expr: x, .. } => self.collect_expr(x),
            ExprKind::Break(x) | ExprKind::Return(x) => {
                if let Some(x) = x {
                    self.collect_expr(x)
                }
            }
            ExprKind::Binary(_, a, b)
            | ExprKind::Index { base: a, index: b }
            | ExprKind::Range {
                start: a, end: b, ..
            } => {
                self.collect_expr(a);
                self.collect_expr(b);
            }
            ExprKind::Assign { target, value, .. } => {
                self.collect_expr(target);
                self.collect_expr(value);
            }
            ExprKind::Call { callee, args } => {
                self.collect_expr(callee);
                args.iter().for_each(|x| self.collect_expr(x));
            }
            ExprKind::MethodCall { receiver, args, .. } => {
                self.collect_expr(receiver);
                args.iter().for_each(|x| self.collect_expr(x));
            }
            ExprKind::If { cond, then, else_ } => {
                self.collect_expr(cond);
                self.collect_block(then);
                if let Some(x) = else_ {
                    self.collect_expr(x);
                }
            }
            ExprKind::While { cond, body } => {
                self.collect_expr(cond);
                self.collect_block(body);
            }
            ExprKind::For { iter, body, .. } => {
                self.collect_expr(iter);
                self.collect_block(body);
            }
            ExprKind::Loop { body } | ExprKind::Block(body) => self.collect_block(body),
            ExprKind::Match { scrutinee, arms } => {
                self.collect_expr(scrutinee);
                for arm in arms {
                    if let Some(g) = &arm.guard {
                        self.collect_expr(g);
                    }
                    self.collect_expr(&arm.body);
                }
            }
            _ => {}
        }
    }

    fn params_of(&self, f: FnId) -> &'a [Param] {
        match self.asts.get(&f) {
            Some(FnAst::Fun(d)) => &d.params,
            Some(FnAst::Lambda(p, _)) => p,
            _ => &[],
        }
    }

    /// Number of leading parameters without defaults.
    fn min_args(&self, f: FnId) -> usize {
        let ps = self.params_of(f);
        ps.iter()
            .position(|p| p.default.is_some())
            .unwrap_or(ps.len())
    }

    fn capture_type(&self, b: BindingId) -> Type {
        if self.res.bindings[b].storage() == Storage::Cell {
            Type::Cell
        } else {
            Type::Any
        }
    }

    /// Creates the IR functions (signatures only) so that calls can refer to them.
    fn declare(&mut self, cx: &mut Ctx, fns: &[FnId], prefix: &str) {
        for &f in fns {
            let info = &self.res.fns[f];
            let ncap = info.captures.len();
            let params = self.params_of(f);
            let mut tys: Vec<Type> = info
                .captures
                .iter()
                .map(|&b| self.capture_type(b))
                .collect();
            tys.extend(params.iter().map(|_| Type::Any));
            let mut func =
                Function::new(format!("{prefix}{}", info.name), tys, Type::Any, Level::Dyn);
            func.attrs.captures = ncap as u32;
            if info.kind != FnKind::Script {
                func.loc = self.loc(info.span);
            }
            if params.iter().any(|p| p.ty.is_some()) {
                let mut hints: Vec<Option<Type>> = vec![None; ncap];
                hints.extend(
                    params
                        .iter()
                        .map(|p| p.ty.as_ref().and_then(|t| hint_type(&t.text))),
                );
                func.attrs.hints = Some(hints);
            }
            let nparams = params.len();
            let min = self.min_args(f);
            let name = func.name.clone();
            let loc = func.loc;
            let base_params = func.params.clone();
            let id = cx.module.add_function(func);
            self.fn_ids.insert(f, id);
            // Adapters for calls that leave out defaulted parameters; bodies come with the
            // function's.
            let mut adapters = vec![];
            for argc in min..nparams {
                let mut adapter = Function::new(
                    format!("{name}.argc{argc}"),
                    base_params[..ncap + argc].to_vec(),
                    Type::Any,
                    Level::Dyn,
                );
                adapter.attrs.captures = ncap as u32;
                adapter.attrs.hidden = true;
                adapter.loc = loc;
                adapters.push(cx.module.add_function(adapter));
            }
            cx.module.funcs[id].attrs.defaults = adapters;
        }
    }

    fn declare_globals(&mut self, cx: &mut Ctx) {
        let mut used: HashSet<String> = HashSet::new();
        // REPL mode: the one global of each persistent variable name.
        let mut persistent: HashMap<&str, GlobalId> = HashMap::new();
        for (b, binding) in self.res.bindings.iter().enumerate() {
            if binding.storage() == Storage::Global {
                let shared = binding.repl == Some(ReplVar::Persistent);
                if shared {
                    if let Some(&g) = persistent.get(binding.name.as_str()) {
                        self.globals.insert(b, g);
                        continue;
                    }
                }
                let mut name = binding.name.clone();
                let mut n = 1;
                while !used.insert(name.clone()) || cx.module.func_by_name(&name).is_some() {
                    n += 1;
                    name = format!("{}.{n}", binding.name);
                }
                let g = cx.module.add_global(name, binding.name.clone());
                self.globals.insert(b, g);
                if shared {
                    persistent.insert(&binding.name, g);
                }
            }
        }
    }

    fn lower_fn(&self, cx: &mut Ctx, f: FnId) {
        let Some(&id) = self.fn_ids.get(&f) else {
            return;
        };
        let Some(&ast) = self.asts.get(&f) else {
            return;
        };
        let mut func = cx.module.funcs[id].clone();
        {
            let mut fl = FnLower::new(self, cx, f, &mut func);
            fl.lower_body(ast);
            fl.finish();
        }
        let params = self.params_of(f);
        let min = self.min_args(f);
        if let Some(bad) = params[min..].iter().find(|p| p.default.is_none()) {
            cx.diags.push(Diagnostic::new(
                "a parameter without a default cannot follow parameters with defaults",
                bad.span,
            ));
        }
        let adapters = func.attrs.defaults.clone();
        cx.module.funcs[id] = func;
        for (k, adapter) in adapters.into_iter().enumerate() {
            self.lower_adapter(cx, f, adapter, min + k);
        }
    }

    /// `@f.argcN`: takes the captures and the first `argc` parameters, evaluates the remaining
    /// defaults (which may refer to the earlier parameters) and calls `@f`.
    fn lower_adapter(&self, cx: &mut Ctx, f: FnId, adapter: FuncId, argc: usize) {
        let callee = self.fn_ids[&f];
        let mut func = cx.module.funcs[adapter].clone();
        {
            let mut fl = FnLower::new(self, cx, f, &mut func);
            fl.lower_adapter_body(callee, argc);
            fl.finish();
        }
        cx.module.funcs[adapter] = func;
    }
}

/// Maps a source annotation to the type it hints at.
fn hint_type(text: &str) -> Option<Type> {
    match text.trim().trim_start_matches('&') {
        "i64" | "i32" | "i16" | "i8" | "u64" | "u32" | "u16" | "u8" | "isize" | "usize" | "int" => {
            Some(Type::I64)
        }
        "f64" | "f32" | "float" => Some(Type::F64),
        "bool" => Some(Type::Bool),
        "String" | "str" => Some(Type::Str),
        _ => None,
    }
}

/// An SSA variable: a resolved binding.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
enum Var {
    B(BindingId),
}

/// A branch edge into a block: the branch instruction and which of its destinations.
#[derive(Copy, Clone)]
struct Edge {
    from: Block,
    inst: Inst,
    dest: usize,
}

struct LoopCtx {
    /// Where `continue` goes.
    continue_to: Block,
    /// Where `break` goes.
    exit: Block,
    /// `loop` (break may carry a value) as opposed to `while`/`for`.
    is_loop: bool,
    /// Breaks with their values, for the exit block's parameter.
    breaks: Vec<(Inst, Value)>,
}

struct FnLower<'u, 'a, 'c, 'f> {
    unit: &'u Unit<'a>,
    cx: &'c mut Ctx,
    fid: FnId,
    b: FuncBuilder<'f>,
    defs: HashMap<(Block, Var), Value>,
    sealed: HashSet<Block>,
    incomplete: HashMap<Block, Vec<(Var, Value)>>,
    preds: HashMap<Block, Vec<Edge>>,
    loops: Vec<LoopCtx>,
    entry: Option<Block>,
    nil: Option<Value>,
}

impl<'u, 'a, 'c, 'f> FnLower<'u, 'a, 'c, 'f> {
    fn new(unit: &'u Unit<'a>, cx: &'c mut Ctx, fid: FnId, func: &'f mut Function) -> Self {
        FnLower {
            unit,
            cx,
            fid,
            b: FuncBuilder::new(func),
            defs: HashMap::new(),
            sealed: HashSet::new(),
            incomplete: HashMap::new(),
            preds: HashMap::new(),
            loops: vec![],
            entry: None,
            nil: None,
        }
    }

    fn res(&self) -> &'a Resolution {
        self.unit.res
    }

    fn set_loc(&mut self, span: Span) {
        self.b.loc = self.unit.loc(span);
    }

    fn ty(&self, v: Value) -> Type {
        self.b.func.dfg.value_type(v)
    }

    fn error(&mut self, msg: impl Into<String>, span: Span) {
        self.cx.diags.push(Diagnostic::new(msg, span));
    }

    // ---------------------------------------------------------------- SSA construction

    fn cur(&self) -> Block {
        self.b.current_block().expect("no current block")
    }

    fn new_block(&mut self) -> Block {
        self.b.create_block()
    }

    fn seal(&mut self, block: Block) {
        if let Some(list) = self.incomplete.remove(&block) {
            for (var, param) in list {
                self.add_operands(block, var, param);
            }
        }
        self.sealed.insert(block);
    }

    fn write_var(&mut self, var: Var, v: Value) {
        let cur = self.cur();
        self.defs.insert((cur, var), v);
    }

    fn read_var(&mut self, var: Var) -> Value {
        let cur = self.cur();
        self.read_var_in(var, cur)
    }

    fn read_var_in(&mut self, var: Var, block: Block) -> Value {
        if let Some(&v) = self.defs.get(&(block, var)) {
            return v;
        }
        let v = if !self.sealed.contains(&block) {
            let p = self.b.func.dfg.append_block_param(block, Type::Any);
            self.incomplete.entry(block).or_default().push((var, p));
            p
        } else {
            let preds = self.preds.get(&block).cloned().unwrap_or_default();
            match preds.len() {
                0 => self.undefined(),
                1 => self.read_var_in(var, preds[0].from),
                _ => {
                    let p = self.b.func.dfg.append_block_param(block, Type::Any);
                    self.defs.insert((block, var), p);
                    self.add_operands(block, var, p);
                    p
                }
            }
        };
        self.defs.insert((block, var), v);
        v
    }

    fn add_operands(&mut self, block: Block, var: Var, _param: Value) {
        let preds = self.preds.get(&block).cloned().unwrap_or_default();
        for e in preds {
            let v = self.read_var_in(var, e.from);
            self.b.func.dfg.insts[e.inst].dests[e.dest].args.push(v);
        }
    }

    /// The value of a variable read where it has no definition (only in unreachable code, or
    /// a nested function used before its definition).
    fn undefined(&mut self) -> Value {
        self.nil_value()
    }

    /// A single `nil` constant at the top of the entry block.
    fn nil_value(&mut self) -> Value {
        if let Some(v) = self.nil {
            return v;
        }
        let entry = self.entry.expect("entry block");
        let inst = self.b.func.dfg.make_inst(
            Opcode::Const,
            &[],
            Imm::Const(Const::Nil),
            SmallVec::new(),
            Type::Unit,
            SrcLoc::UNKNOWN,
        );
        self.b.func.layout.insert_inst(entry, 0, inst);
        let v = self.b.func.dfg.inst_result(inst);
        self.nil = Some(v);
        v
    }

    fn jump(&mut self, target: Block, args: &[Value]) -> Inst {
        let from = self.cur();
        let inst = self.b.br(target, args);
        self.preds.entry(target).or_default().push(Edge {
            from,
            inst,
            dest: 0,
        });
        inst
    }

    fn branch(&mut self, cond: Value, then: Block, els: Block) {
        let from = self.cur();
        let inst = self.b.cond_br(cond, then, &[], els, &[]);
        self.preds.entry(then).or_default().push(Edge {
            from,
            inst,
            dest: 0,
        });
        self.preds.entry(els).or_default().push(Edge {
            from,
            inst,
            dest: 1,
        });
    }

    /// After a diverging statement: continue in a fresh block that nothing reaches, removed at the
    /// end.
    fn start_dead_block(&mut self) {
        let b = self.new_block();
        self.sealed.insert(b);
        self.b.switch_to_block(b);
    }

    // ---------------------------------------------------------------- variables

    fn binding_storage(&self, b: BindingId) -> Storage {
        self.res().bindings[b].storage()
    }

    /// Defines a variable at its declaration.
    fn declare_var(&mut self, b: BindingId, v: Value) {
        match self.binding_storage(b) {
            Storage::Global => {
                let g = self.unit.globals[&b];
                self.b.global_store(g, v);
            }
            Storage::Cell => {
                let cell = self.b.value(Opcode::CellNew, &[v], Imm::None, Type::Cell);
                self.write_var(Var::B(b), cell);
            }
            Storage::Ssa => self.write_var(Var::B(b), v),
        }
    }

    fn assign_var(&mut self, b: BindingId, v: Value) {
        match self.binding_storage(b) {
            Storage::Global => {
                let g = self.unit.globals[&b];
                self.b.global_store(g, v);
            }
            Storage::Cell => {
                let cell = self.read_var(Var::B(b));
                self.b.effect(Opcode::CellStore, &[cell, v], Imm::None);
            }
            Storage::Ssa => self.write_var(Var::B(b), v),
        }
    }

    fn load_var(&mut self, b: BindingId) -> Value {
        if let Some(f) = self.res().bindings[b].fun {
            if self.res().fns[f].captures.is_empty() {
                return self.func_value(f);
            }
        }
        match self.binding_storage(b) {
            Storage::Global => {
                let g = self.unit.globals[&b];
                self.b.global_load(g)
            }
            Storage::Cell => {
                let cell = self.read_var(Var::B(b));
                self.b
                    .value(Opcode::CellLoad, &[cell], Imm::None, Type::Any)
            }
            Storage::Ssa => self.read_var(Var::B(b)),
        }
    }

    /// The value of a capture as passed to a closure: the cell itself for by-reference captures.
    fn capture_value(&mut self, b: BindingId) -> Value {
        if self.binding_storage(b) == Storage::Cell {
            self.read_var(Var::B(b))
        } else {
            self.load_var(b)
        }
    }

    /// A function as a value: `func.ref` or a closure over its captures.
    fn func_value(&mut self, f: FnId) -> Value {
        let id = self.unit.fn_ids[&f];
        let caps = self.res().fns[f].captures.clone();
        if caps.is_empty() {
            self.b
                .value(Opcode::FuncRef, &[], Imm::Func(id), Type::Func)
        } else {
            let vals: Vec<Value> = caps.iter().map(|&c| self.capture_value(c)).collect();
            self.b
                .value(Opcode::MakeClosure, &vals, Imm::Func(id), Type::Closure)
        }
    }

    // ---------------------------------------------------------------- function bodies

    fn lower_body(&mut self, ast: FnAst<'a>) {
        let entry = self.new_block();
        self.entry = Some(entry);
        self.seal(entry);
        self.b.switch_to_block(entry);
        let params = self.b.func.params.clone();
        let vals: Vec<Value> = params
            .iter()
            .map(|&t| self.b.func.dfg.append_block_param(entry, t))
            .collect();
        let caps = self.res().fns[self.fid].captures.clone();
        for (i, &c) in caps.iter().enumerate() {
            // Captured cells arrive as cells; captured values as values.
            self.write_var(Var::B(c), vals[i]);
        }
        let user = &vals[caps.len()..];
        match ast {
            FnAst::Script(program) if self.res().repl => {
                // REPL mode: the value of the last statement that is not a definition, and no
                // implicit `main()`.
                self.b.loc = SrcLoc::new(1, 1);
                let stmts = &program.stmts;
                let split = stmts
                    .iter()
                    .rposition(|s| !matches!(s.kind, StmtKind::Fun(_)))
                    .map_or(0, |i| i + 1);
                let v = self.lower_stmts(&stmts[..split], true);
                self.lower_stmts(&stmts[split..], false);
                if !self.b.is_terminated() {
                    self.b.ret(v);
                }
            }
            FnAst::Script(program) => {
                self.b.loc = SrcLoc::new(1, 1);
                self.lower_stmts(&program.stmts, false);
                if !self.b.is_terminated() {
                    if !self.res().has_toplevel_code {
                        if let Some(main) = self.res().main {
                            let id = self.unit.fn_ids[&main];
                            if self.unit.min_args(main) == 0 {
                                self.b.call(id, &[], Type::Any);
                            }
                        }
                    }
                    let nil = self.nil_value();
                    self.b.ret(nil);
                }
            }
            FnAst::Fun(decl) => {
                self.bind_params(&decl.params, user);
                self.set_loc(decl.body.span);
                let v = self.lower_block(&decl.body, true);
                if !self.b.is_terminated() {
                    self.set_loc(Span::new(
                        decl.body.span.end as usize - 1,
                        decl.body.span.end as usize,
                    ));
                    self.b.ret(v);
                }
            }
            FnAst::Lambda(params, body) => {
                self.bind_params(params, user);
                let v = self.expr(body);
                if !self.b.is_terminated() {
                    self.set_loc(body.span);
                    self.b.ret(v);
                }
            }
        }
    }

    fn bind_params(&mut self, params: &[Param], vals: &[Value]) {
        for (p, &v) in params.iter().zip(vals) {
            if let Some(&b) = self.res().decls.get(&p.name.span.start) {
                self.declare_var(b, v);
            }
        }
    }

    fn lower_adapter_body(&mut self, callee: FuncId, argc: usize) {
        let entry = self.new_block();
        self.entry = Some(entry);
        self.seal(entry);
        self.b.switch_to_block(entry);
        self.b.loc = self.b.func.loc;
        let params = self.b.func.params.clone();
        let vals: Vec<Value> = params
            .iter()
            .map(|&t| self.b.func.dfg.append_block_param(entry, t))
            .collect();
        let caps = self.res().fns[self.fid].captures.clone();
        for (i, &c) in caps.iter().enumerate() {
            self.write_var(Var::B(c), vals[i]);
        }
        let ps = self.unit.params_of(self.fid);
        let mut args: Vec<Value> = vals.clone();
        self.bind_params(&ps[..argc], &vals[caps.len()..]);
        for p in &ps[argc..] {
            let v = match &p.default {
                Some(d) => self.expr(d),
                None => self.nil_value(),
            };
            if let Some(&b) = self.res().decls.get(&p.name.span.start) {
                self.declare_var(b, v);
            }
            args.push(v);
        }
        let r = self.b.call(callee, &args, Type::Any);
        self.b.ret(r);
    }

    /// Cleans up after construction: drops unreachable blocks, redundant block parameters and
    /// unused pure instructions.
    fn finish(&mut self) {
        let func = &mut *self.b.func;
        utils::remove_unreachable_blocks(func);
        utils::remove_redundant_block_params(func);
        utils::remove_dead_pure_insts(func);
    }

    // ---------------------------------------------------------------- statements

    fn lower_block(&mut self, block: &AstBlock, want_value: bool) -> Value {
        self.lower_stmts(&block.stmts, want_value)
    }

    fn lower_stmts(&mut self, stmts: &[Stmt], want_value: bool) -> Value {
        let mut last = None;
        for (i, s) in stmts.iter().enumerate() {
            let is_last = i + 1 == stmts.len();
            last = None;
            match &s.kind {
                StmtKind::Let { name, init, .. } => {
                    let v = self.expr(init);
                    if let Some(&b) = self.res().decls.get(&name.span.start) {
                        self.declare_var(b, v);
                    }
                }
                StmtKind::Fun(decl) => {
                    if let Some(&f) = self.res().fn_at.get(&decl.span.start) {
                        if let Some(b) = self.res().fns[f].binding {
                            if !self.res().fns[f].captures.is_empty() {
                                self.set_loc(decl.span);
                                let v = self.func_value(f);
                                self.declare_var(b, v);
                            }
                        }
                    }
                }
                StmtKind::Expr { expr, semi } => {
                    let v = if is_last && want_value && !semi {
                        self.expr(expr)
                    } else {
                        self.expr_discard(expr);
                        continue;
                    };
                    last = Some(v);
                }
            }
        }
        match last {
            Some(v) => v,
            None => self.nil_value(),
        }
    }

    // ---------------------------------------------------------------- expressions

    /// Lowers an expression whose value is not used.
    fn expr_discard(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::If { cond, then, else_ } => self
                .lower_if(e, cond, then, else_.as_deref(), false)
                .map(|_| ())
                .unwrap_or(()),
            ExprKind::Match { scrutinee, arms } => {
                self.lower_match(scrutinee, arms, false);
            }
            ExprKind::Block(b) => {
                self.lower_block(b, false);
            }
            _ => {
                self.expr(e);
            }
        }
    }

    fn expr(&mut self, e: &Expr) -> Value {
        self.set_loc(e.span);
        match &e.kind {
            ExprKind::Int(n) => self.b.iconst(*n),
            ExprKind::Float(x) => self.b.fconst(*x),
            ExprKind::Bool(x) => self.b.bconst(*x),
            ExprKind::Str(s) => self.b.str_const(s),
            ExprKind::Nil => self.nil_value(),
            ExprKind::FString(parts) => {
                let mut acc: Option<Value> = None;
                for p in parts {
                    let piece = match p {
                        FStringPart::Lit(s) => {
                            self.set_loc(e.span);
                            self.b.str_const(s)
                        }
                        FStringPart::Expr(x) => {
                            let v = self.expr(x);
                            self.stringify(v)
                        }
                    };
                    acc = Some(match acc {
                        None => piece,
                        Some(a) => {
                            self.set_loc(e.span);
                            self.b
                                .value(Opcode::StrConcat, &[a, piece], Imm::None, Type::Str)
                        }
                    });
                }
                match acc {
                    Some(v) => v,
                    None => self.b.str_const(""),
                }
            }
            ExprKind::Ident(name) => {
                let res = self
                    .res()
                    .uses
                    .get(&e.span.start)
                    .copied()
                    .unwrap_or(Res::Undefined);
                match res {
                    Res::Local(b) => self.load_var(b),
                    Res::Function(f) => self.func_value(f),
                    Res::SelfRef(f) => self.self_value(f),
                    Res::Builtin(_) | Res::Undefined => {
                        let what = if matches!(res, Res::Builtin(_)) {
                            format!("builtin `{name}` can only be called")
                        } else {
                            format!("undefined variable {name}")
                        };
                        self.trap_value(what)
                    }
                }
            }
            ExprKind::Array(items) => {
                let vals: Vec<Value> = items.iter().map(|x| self.expr(x)).collect();
                self.set_loc(e.span);
                self.b.value(
                    Opcode::ArrayNew,
                    &vals,
                    Imm::None,
                    Type::Array(ruchy_ir::ElemType::Any),
                )
            }
            ExprKind::Tuple(items) => {
                if items.is_empty() {
                    return self.nil_value();
                }
                let vals: Vec<Value> = items.iter().map(|x| self.expr(x)).collect();
                self.set_loc(e.span);
                self.b
                    .value(Opcode::TupleNew, &vals, Imm::None, Type::Tuple)
            }
            ExprKind::Unary(op, x) => {
                if let (UnOp::Neg, ExprKind::Int(n)) = (op, &x.kind) {
                    if let Some(m) = n.checked_neg() {
                        return self.b.iconst(m);
                    }
                }
                if let (UnOp::Neg, ExprKind::Float(f)) = (op, &x.kind) {
                    return self.b.fconst(-*f);
                }
                let v = self.expr(x);
                self.set_loc(e.span);
                self.unop(*op, v)
            }
            ExprKind::Binary(BinOp::And, a, b) => self.logical(true, a, b, e.span),
            ExprKind::Binary(BinOp::Or, a, b) => self.logical(false, a, b, e.span),
            ExprKind::Binary(op, a, b) => {
                let va = self.expr(a);
                let vb = self.expr(b);
                self.set_loc(e.span);
                self.binop(*op, va, vb)
            }
            ExprKind::Assign { target, op, value } => {
                self.lower_assign(target, *op, value, e.span);
                self.nil_value()
            }
            ExprKind::Call { callee, args } => self.lower_call(e, callee, args),
            ExprKind::MethodCall {
                receiver,
                method,
                args,
            } => self.lower_method(e, receiver, method, args),
            ExprKind::Index { base, index } => {
                let vb = self.expr(base);
                let vi = self.expr(index);
                self.set_loc(e.span);
                self.index(vb, vi)
            }
            ExprKind::TupleField { base, index } => {
                let vb = self.expr(base);
                self.set_loc(e.span);
                let vi = self.b.iconst(*index as i64);
                self.b
                    .value(Opcode::DynIndex, &[vb, vi], Imm::None, Type::Any)
            }
            ExprKind::Cast { expr, ty } => {
                let v = self.expr(expr);
                self.set_loc(e.span);
                self.cast(v, ty)
            }
            ExprKind::If { cond, then, else_ } => self
                .lower_if(e, cond, then, else_.as_deref(), true)
                .unwrap_or_else(|| self.nil_value()),
            ExprKind::While { cond, body } => {
                self.lower_while(cond, body);
                self.nil_value()
            }
            ExprKind::For { var, iter, body } => {
                self.lower_for(e, var, iter, body);
                self.nil_value()
            }
            ExprKind::Loop { body } => self.lower_loop(body),
            ExprKind::Break(x) => {
                self.lower_break(x.as_deref(), e.span);
                self.nil_value()
            }
            ExprKind::Continue => {
                match self.loops.last().map(|l| l.continue_to) {
                    Some(target) => {
                        self.jump(target, &[]);
                        self.start_dead_block();
                    }
                    None => self.error("`continue` outside of a loop", e.span),
                }
                self.nil_value()
            }
            ExprKind::Return(x) => {
                let v = match x {
                    Some(x) => self.expr(x),
                    None => self.nil_value(),
                };
                if self.fid == TOPLEVEL && self.res().fns[self.fid].kind == FnKind::Script {
                    self.error("`return` outside of a function", e.span);
                }
                self.set_loc(e.span);
                self.b.ret(v);
                self.start_dead_block();
                self.nil_value()
            }
            ExprKind::Match { scrutinee, arms } => self.lower_match(scrutinee, arms, true),
            ExprKind::Block(b) => self.lower_block(b, true),
            ExprKind::Lambda { .. } => match self.res().fn_at.get(&e.span.start) {
                Some(&f) => self.func_value(f),
                None => self.nil_value(),
            },
            ExprKind::Range { .. } => {
                self.error("a range can only be used in a `for` loop", e.span);
                self.nil_value()
            }
        }
    }

    /// A function's value seen from inside itself: rebuilt from its own capture parameters.
    fn self_value(&mut self, f: FnId) -> Value {
        self.func_value(f)
    }

    /// Raises a runtime error here, and goes on in unreachable code.
    fn trap_value(&mut self, message: String) -> Value {
        self.b.trap(message);
        self.start_dead_block();
        self.nil_value()
    }

    fn stringify(&mut self, v: Value) -> Value {
        if self.ty(v) == Type::Str {
            return v;
        }
        self.b.value(Opcode::StrFrom, &[v], Imm::None, Type::Str)
    }

    fn int_to_float(&mut self, v: Value) -> Value {
        if self.ty(v) == Type::I64 {
            self.b.value(Opcode::IToF, &[v], Imm::None, Type::F64)
        } else {
            v
        }
    }

    fn binop(&mut self, op: BinOp, a: Value, b: Value) -> Value {
        let (ta, tb) = (self.ty(a), self.ty(b));
        let numeric = |t: Type| t == Type::I64 || t == Type::F64;
        let both_int = ta == Type::I64 && tb == Type::I64;
        let both_num = numeric(ta) && numeric(tb);
        use BinOp::*;
        let arith = |op: BinOp, int: bool| -> Option<Opcode> {
            Some(match (op, int) {
                (Add, true) => Opcode::AddI,
                (Sub, true) => Opcode::SubI,
                (Mul, true) => Opcode::MulI,
                (Div, true) => Opcode::DivI,
                (Rem, true) => Opcode::RemI,
                (Add, false) => Opcode::AddF,
                (Sub, false) => Opcode::SubF,
                (Mul, false) => Opcode::MulF,
                (Div, false) => Opcode::DivF,
                (Rem, false) => Opcode::RemF,
                _ => return None,
            })
        };
        match op {
            Add | Sub | Mul | Div | Rem => {
                if both_int {
                    let opc = arith(op, true).unwrap_or(Opcode::DynAdd);
                    return self.b.value(opc, &[a, b], Imm::None, Type::I64);
                }
                if both_num {
                    let (fa, fb) = (self.int_to_float(a), self.int_to_float(b));
                    let opc = arith(op, false).unwrap_or(Opcode::DynAdd);
                    return self.b.value(opc, &[fa, fb], Imm::None, Type::F64);
                }
                if op == Add && (ta == Type::Str || tb == Type::Str) {
                    let (sa, sb) = (self.stringify(a), self.stringify(b));
                    return self
                        .b
                        .value(Opcode::StrConcat, &[sa, sb], Imm::None, Type::Str);
                }
                let opc = match op {
                    Add => Opcode::DynAdd,
                    Sub => Opcode::DynSub,
                    Mul => Opcode::DynMul,
                    Div => Opcode::DynDiv,
                    _ => Opcode::DynRem,
                };
                self.b.value(opc, &[a, b], Imm::None, Type::Any)
            }
            Pow => self.b.value(Opcode::DynPow, &[a, b], Imm::None, Type::Any),
            Eq | Ne | Lt | Le | Gt | Ge => {
                let pred = match op {
                    Eq => CmpPred::Eq,
                    Ne => CmpPred::Ne,
                    Lt => CmpPred::Lt,
                    Le => CmpPred::Le,
                    Gt => CmpPred::Gt,
                    _ => CmpPred::Ge,
                };
                if both_int {
                    return self.b.cmp(Opcode::CmpI, pred, a, b);
                }
                if both_num {
                    let (fa, fb) = (self.int_to_float(a), self.int_to_float(b));
                    return self.b.cmp(Opcode::CmpF, pred, fa, fb);
                }
                if ta == Type::Str && tb == Type::Str {
                    return self.b.cmp(Opcode::StrCmp, pred, a, b);
                }
                if ta == Type::Bool && tb == Type::Bool && matches!(pred, CmpPred::Eq | CmpPred::Ne)
                {
                    return self.b.cmp(Opcode::CmpB, pred, a, b);
                }
                self.b.cmp(Opcode::DynCmp, pred, a, b)
            }
            BitAnd | BitOr | BitXor | Shl | Shr => {
                let (iop, dop) = match op {
                    BitAnd => (Opcode::AndI, Opcode::DynBitAnd),
                    BitOr => (Opcode::OrI, Opcode::DynBitOr),
                    BitXor => (Opcode::XorI, Opcode::DynBitXor),
                    Shl => (Opcode::ShlI, Opcode::DynShl),
                    _ => (Opcode::ShrI, Opcode::DynShr),
                };
                if both_int {
                    self.b.value(iop, &[a, b], Imm::None, Type::I64)
                } else {
                    self.b.value(dop, &[a, b], Imm::None, Type::Any)
                }
            }
            And | Or => unreachable!("short-circuit operators are lowered as control flow"),
        }
    }

    fn unop(&mut self, op: UnOp, v: Value) -> Value {
        let t = self.ty(v);
        match (op, t) {
            (UnOp::Neg, Type::I64) => self.b.value(Opcode::NegI, &[v], Imm::None, Type::I64),
            (UnOp::Neg, Type::F64) => self.b.value(Opcode::NegF, &[v], Imm::None, Type::F64),
            (UnOp::Neg, _) => self.b.value(Opcode::DynNeg, &[v], Imm::None, Type::Any),
            (UnOp::Not, Type::Bool) => self.b.value(Opcode::Not, &[v], Imm::None, Type::Bool),
            (UnOp::Not, _) => self.b.value(Opcode::DynNot, &[v], Imm::None, Type::Bool),
            (UnOp::BitNot, Type::I64) => self.b.value(Opcode::NotI, &[v], Imm::None, Type::I64),
            (UnOp::BitNot, _) => self.b.value(Opcode::DynBitNot, &[v], Imm::None, Type::Any),
        }
    }

    /// A condition as a `bool`.
    fn cond(&mut self, e: &Expr) -> Value {
        let v = self.expr(e);
        if self.ty(v) == Type::Bool {
            v
        } else {
            self.set_loc(e.span);
            self.b.value(Opcode::DynTruthy, &[v], Imm::None, Type::Bool)
        }
    }

    /// `a && b` / `a || b`: short-circuit, the result is a `bool`.
    fn logical(&mut self, is_and: bool, a: &Expr, b: &Expr, span: Span) -> Value {
        let va = self.cond(a);
        let rhs = self.new_block();
        let join = self.new_block();
        let param = self.b.func.dfg.append_block_param(join, Type::Bool);
        self.set_loc(span);
        let from = self.cur();
        let (t, f) = if is_and { (rhs, join) } else { (join, rhs) };
        let inst = self.b.cond_br(va, t, &[], f, &[]);
        // The short-circuit edge passes `a`'s value (false for &&, true for ||).
        let short = if is_and { 1 } else { 0 };
        self.b.func.dfg.insts[inst].dests[short].args.push(va);
        self.preds.entry(t).or_default().push(Edge {
            from,
            inst,
            dest: 0,
        });
        self.preds.entry(f).or_default().push(Edge {
            from,
            inst,
            dest: 1,
        });
        self.seal(rhs);
        self.b.switch_to_block(rhs);
        let vb = self.cond(b);
        self.set_loc(span);
        self.jump(join, &[vb]);
        self.seal(join);
        self.b.switch_to_block(join);
        param
    }

    fn index(&mut self, base: Value, idx: Value) -> Value {
        let (tb, ti) = (self.ty(base), self.ty(idx));
        match (tb, ti) {
            (Type::Array(e), Type::I64) => {
                self.b
                    .value(Opcode::ArrayGet, &[base, idx], Imm::None, e.to_type())
            }
            (Type::Str, Type::I64) => {
                self.b
                    .value(Opcode::StrIndex, &[base, idx], Imm::None, Type::Str)
            }
            _ => self
                .b
                .value(Opcode::DynIndex, &[base, idx], Imm::None, Type::Any),
        }
    }

    fn cast(&mut self, v: Value, ty: &TypeAnn) -> Value {
        match hint_type(&ty.text) {
            Some(Type::I64) => match self.ty(v) {
                Type::I64 => v,
                Type::F64 => self.b.value(Opcode::FToI, &[v], Imm::None, Type::I64),
                _ => self.b.value(Opcode::DynCast, &[v], Imm::None, Type::I64),
            },
            Some(Type::F64) => match self.ty(v) {
                Type::F64 => v,
                Type::I64 => self.b.value(Opcode::IToF, &[v], Imm::None, Type::F64),
                _ => self.b.value(Opcode::DynCast, &[v], Imm::None, Type::F64),
            },
            Some(Type::Str) => self.stringify(v),
            _ => {
                self.error(format!("unsupported cast to `{}`", ty.text), ty.span);
                v
            }
        }
    }

    fn lower_assign(&mut self, target: &Expr, op: Option<BinOp>, value: &Expr, span: Span) {
        match &target.kind {
            ExprKind::Ident(_) => {
                let res = self.res().uses.get(&target.span.start).copied();
                let Some(Res::Local(b)) = res else {
                    // The resolver already reported it.
                    return;
                };
                let v = match op {
                    None => self.expr(value),
                    Some(op) => {
                        let old = self.load_var(b);
                        let rhs = self.expr(value);
                        self.set_loc(span);
                        self.binop(op, old, rhs)
                    }
                };
                self.set_loc(span);
                self.assign_var(b, v);
            }
            ExprKind::Index { base, index } => {
                let vb = self.expr(base);
                let vi = self.expr(index);
                let v = match op {
                    None => self.expr(value),
                    Some(op) => {
                        self.set_loc(span);
                        let old = self.index(vb, vi);
                        let rhs = self.expr(value);
                        self.set_loc(span);
                        self.binop(op, old, rhs)
                    }
                };
                self.set_loc(span);
                if matches!(self.ty(vb), Type::Array(ruchy_ir::ElemType::Any))
                    && self.ty(vi) == Type::I64
                {
                    self.b.effect(Opcode::ArraySet, &[vb, vi, v], Imm::None);
                } else {
                    self.b.effect(Opcode::DynSetIndex, &[vb, vi, v], Imm::None);
                }
            }
            _ => self.error("invalid assignment target", target.span),
        }
    }

    fn lower_call(&mut self, e: &Expr, callee: &Expr, args: &[Expr]) -> Value {
        if let ExprKind::Ident(name) = &callee.kind {
            let res = self
                .res()
                .uses
                .get(&callee.span.start)
                .copied()
                .unwrap_or(Res::Undefined);
            match res {
                Res::Function(f) | Res::SelfRef(f) => {
                    let vals: Vec<Value> = args.iter().map(|a| self.expr(a)).collect();
                    self.set_loc(e.span);
                    return self.direct_call(f, name, vals);
                }
                Res::Builtin(b) => {
                    let vals: Vec<Value> = args.iter().map(|a| self.expr(a)).collect();
                    self.set_loc(e.span);
                    return self.builtin_call(b, vals);
                }
                Res::Undefined => {
                    for a in args {
                        self.expr(a);
                    }
                    self.set_loc(e.span);
                    return self.trap_value(format!("undefined function {name}"));
                }
                Res::Local(_) => {}
            }
        }
        let f = self.expr(callee);
        let mut vals: Vec<Value> = vec![f];
        vals.extend(args.iter().map(|a| self.expr(a)));
        self.set_loc(e.span);
        self.b.value(Opcode::DynCall, &vals, Imm::None, Type::Any)
    }

    fn direct_call(&mut self, f: FnId, name: &str, args: Vec<Value>) -> Value {
        let nparams = self.unit.params_of(f).len();
        let min = self.unit.min_args(f);
        let id = self.unit.fn_ids[&f];
        let caps = self.res().fns[f].captures.clone();
        let loc = self.b.loc;
        let mut vals: Vec<Value> = caps.iter().map(|&c| self.capture_value(c)).collect();
        self.b.loc = loc;
        let target = if args.len() == nparams {
            id
        } else if args.len() >= min && args.len() < nparams {
            self.cx.module.funcs[id].attrs.defaults[args.len() - min]
        } else {
            let plural = if nparams == 1 { "" } else { "s" };
            return self.trap_value(format!(
                "function {name} takes {nparams} argument{plural} but {} were given",
                args.len()
            ));
        };
        vals.extend(args);
        self.b.call(target, &vals, Type::Any)
    }

    fn builtin_call(&mut self, name: &str, args: Vec<Value>) -> Value {
        match name {
            "println" => self.b.value(Opcode::Println, &args, Imm::None, Type::Unit),
            "print" => self.b.value(Opcode::Print, &args, Imm::None, Type::Unit),
            "len" if args.len() == 1 => match self.ty(args[0]) {
                Type::Str => self.b.value(Opcode::StrLen, &args, Imm::None, Type::I64),
                Type::Array(_) => self.b.value(Opcode::ArrayLen, &args, Imm::None, Type::I64),
                _ => self.b.value(Opcode::DynLen, &args, Imm::None, Type::I64),
            },
            "len" => self.trap_value(format!(
                "len() takes 1 argument but {} were given",
                args.len()
            )),
            _ => {
                let Some(b) = Builtin::from_name(name) else {
                    return self.trap_value(format!("undefined function {name}"));
                };
                if args.len() == 1 {
                    match (b, self.ty(args[0])) {
                        (Builtin::Str, _) => return self.stringify(args[0]),
                        (Builtin::Float, Type::I64) => return self.int_to_float(args[0]),
                        (Builtin::Float | Builtin::Sqrt, Type::F64) if b == Builtin::Float => {
                            return args[0]
                        }
                        (Builtin::Int, Type::I64) => return args[0],
                        (Builtin::Int, Type::F64) => {
                            return self.b.value(Opcode::FToI, &args, Imm::None, Type::I64)
                        }
                        _ => {}
                    }
                }
                self.b
                    .value(Opcode::DynBuiltin, &args, Imm::Builtin(b), Type::Any)
            }
        }
    }

    fn lower_method(&mut self, e: &Expr, receiver: &Expr, method: &Ident, args: &[Expr]) -> Value {
        let recv = self.expr(receiver);
        let vals: Vec<Value> = args.iter().map(|a| self.expr(a)).collect();
        self.set_loc(e.span);
        let name = method.name.as_str();
        let prelude: Option<(&'static str, usize)> = match name {
            "map" => Some(("map", 1)),
            "filter" => Some(("filter", 1)),
            "reduce" => Some(("reduce", 2)),
            _ => None,
        };
        if let Some((pname, arity)) = prelude {
            if vals.len() == arity {
                let id = self.prelude_fn(pname, arity + 1);
                let mut all = vec![recv];
                all.extend(vals);
                return self.b.call(id, &all, Type::Any);
            }
        }
        match (self.ty(recv), name, vals.len()) {
            (Type::Array(_), "push", 1) => {
                self.b
                    .effect(Opcode::ArrayPush, &[recv, vals[0]], Imm::None);
                self.nil_value()
            }
            (Type::Array(_), "len", 0) => {
                self.b
                    .value(Opcode::ArrayLen, &[recv], Imm::None, Type::I64)
            }
            (Type::Str, "len", 0) => self.b.value(Opcode::StrLen, &[recv], Imm::None, Type::I64),
            (_, "to_string", 0) => self.stringify(recv),
            _ => {
                let mut all = vec![recv];
                all.extend(vals);
                self.b.value(
                    Opcode::DynMethod,
                    &all,
                    Imm::Method(name.to_string()),
                    Type::Any,
                )
            }
        }
    }

    /// Declares a prelude function on first use; its body is lowered after the user's code.
    fn prelude_fn(&mut self, name: &'static str, nparams: usize) -> FuncId {
        if let Some(&id) = self.cx.prelude.get(name) {
            return id;
        }
        let mut f = Function::new(
            format!("prelude.{name}"),
            vec![Type::Any; nparams],
            Type::Any,
            Level::Dyn,
        );
        f.attrs.hidden = true;
        let id = self.cx.module.add_function(f);
        self.cx.prelude.insert(name, id);
        id
    }

    // ---------------------------------------------------------------- control flow

    fn join_type(tys: &[Type]) -> Type {
        match tys.first() {
            Some(&t) if tys.iter().all(|&u| u == t) => t,
            _ => Type::Any,
        }
    }

    /// Adds a value parameter to `join` and passes each branch's value to it.
    fn add_join_param(&mut self, join: Block, incoming: &[(Inst, Value)]) -> Value {
        let tys: Vec<Type> = incoming.iter().map(|&(_, v)| self.ty(v)).collect();
        let ty = Self::join_type(&tys);
        let p = self.b.func.dfg.append_block_param(join, ty);
        for &(inst, v) in incoming {
            // Each recorded branch is a `cf.br` to `join` (destination 0).
            self.b.func.dfg.insts[inst].dests[0].args.insert(0, v);
        }
        p
    }

    fn lower_if(
        &mut self,
        e: &Expr,
        cond: &Expr,
        then: &AstBlock,
        else_: Option<&Expr>,
        want: bool,
    ) -> Option<Value> {
        let c = self.cond(cond);
        let then_b = self.new_block();
        let join = self.new_block();
        let else_b = if else_.is_some() {
            self.new_block()
        } else {
            join
        };
        self.set_loc(e.span);
        self.branch(c, then_b, else_b);
        let want = want && else_.is_some();
        let mut incoming = vec![];
        self.seal(then_b);
        self.b.switch_to_block(then_b);
        let tv = self.lower_block(then, want);
        if !self.b.is_terminated() {
            self.set_loc(then.span);
            let inst = self.jump(join, &[]);
            incoming.push((inst, tv));
        }
        if let Some(els) = else_ {
            self.seal(else_b);
            self.b.switch_to_block(else_b);
            let ev = if want {
                self.expr(els)
            } else {
                self.expr_discard(els);
                self.nil_value()
            };
            if !self.b.is_terminated() {
                self.set_loc(els.span);
                let inst = self.jump(join, &[]);
                incoming.push((inst, ev));
            }
        }
        let result = if want && !incoming.is_empty() {
            Some(self.add_join_param(join, &incoming))
        } else {
            None
        };
        self.seal(join);
        self.b.switch_to_block(join);
        result
    }

    fn lower_while(&mut self, cond: &Expr, body: &AstBlock) {
        let header = self.new_block();
        let body_b = self.new_block();
        let exit = self.new_block();
        self.jump(header, &[]);
        self.b.switch_to_block(header);
        let c = self.cond(cond);
        self.branch(c, body_b, exit);
        self.seal(body_b);
        self.b.switch_to_block(body_b);
        self.loops.push(LoopCtx {
            continue_to: header,
            exit,
            is_loop: false,
            breaks: vec![],
        });
        self.lower_block(body, false);
        if !self.b.is_terminated() {
            self.set_loc(cond.span);
            self.jump(header, &[]);
        }
        self.loops.pop();
        self.seal(header);
        self.seal(exit);
        self.b.switch_to_block(exit);
    }

    fn lower_loop(&mut self, body: &AstBlock) -> Value {
        let header = self.new_block();
        let exit = self.new_block();
        self.jump(header, &[]);
        self.b.switch_to_block(header);
        self.loops.push(LoopCtx {
            continue_to: header,
            exit,
            is_loop: true,
            breaks: vec![],
        });
        self.lower_block(body, false);
        if !self.b.is_terminated() {
            self.set_loc(body.span);
            self.jump(header, &[]);
        }
        let ctx = self.loops.pop().expect("loop context");
        self.seal(header);
        let result = if ctx.breaks.is_empty() {
            None
        } else {
            Some(self.add_join_param(exit, &ctx.breaks))
        };
        self.seal(exit);
        self.b.switch_to_block(exit);
        result.unwrap_or_else(|| self.nil_value())
    }

    fn lower_break(&mut self, value: Option<&Expr>, span: Span) {
        let Some(top) = self.loops.last() else {
            self.error("`break` outside of a loop", span);
            return;
        };
        let (exit, is_loop) = (top.exit, top.is_loop);
        if value.is_some() && !is_loop {
            self.error("`break` with a value is only allowed in `loop`", span);
            return;
        }
        let v = match value {
            Some(x) => self.expr(x),
            None => self.nil_value(),
        };
        self.set_loc(span);
        let inst = self.jump(exit, &[]);
        if is_loop {
            if let Some(l) = self.loops.last_mut() {
                l.breaks.push((inst, v));
            }
        }
        self.start_dead_block();
    }

    fn lower_for(&mut self, e: &Expr, var: &Ident, iter: &Expr, body: &AstBlock) {
        let binding = self.res().decls.get(&var.span.start).copied();
        if let ExprKind::Range {
            start,
            end,
            inclusive,
        } = &iter.kind
        {
            // for i in a..b: the counter is typed when the start is an int.
            let vs = self.expr(start);
            let ve = self.expr(end);
            let cty = if self.ty(vs) == Type::I64 {
                Type::I64
            } else {
                Type::Any
            };
            let pred = if *inclusive { CmpPred::Le } else { CmpPred::Lt };
            self.counted_loop(
                vs,
                cty,
                iter.span,
                body,
                binding,
                &mut |this, counter| {
                    if cty == Type::I64 && this.ty(ve) == Type::I64 {
                        this.b.cmp(Opcode::CmpI, pred, counter, ve)
                    } else {
                        this.b.cmp(Opcode::DynCmp, pred, counter, ve)
                    }
                },
                &mut |_, counter| counter,
            );
            return;
        }
        // for x in xs: an index loop; the length is re-read each time so pushes inside are
        // seen. Strings are iterated by character (their length counts bytes), through
        // `chars()`.
        let coll = self.expr(iter);
        self.set_loc(iter.span);
        let coll = match self.ty(coll) {
            Type::Array(_) => coll,
            Type::Str => self.b.value(
                Opcode::DynMethod,
                &[coll],
                Imm::Method("chars".into()),
                Type::Any,
            ),
            _ => {
                let id = self.prelude_fn("iter", 1);
                self.b.call(id, &[coll], Type::Any)
            }
        };
        self.set_loc(iter.span);
        let zero = self.b.iconst(0);
        self.counted_loop(
            zero,
            Type::I64,
            iter.span,
            body,
            binding,
            &mut |this, counter| {
                let n = match this.ty(coll) {
                    Type::Array(_) => this
                        .b
                        .value(Opcode::ArrayLen, &[coll], Imm::None, Type::I64),
                    Type::Str => this.b.value(Opcode::StrLen, &[coll], Imm::None, Type::I64),
                    _ => this.b.value(Opcode::DynLen, &[coll], Imm::None, Type::I64),
                };
                this.b.cmp(Opcode::CmpI, CmpPred::Lt, counter, n)
            },
            &mut |this, counter| {
                this.set_loc(e.span);
                this.index(coll, counter)
            },
        );
    }

    /// A loop over a counter held in a header parameter that starts at `start`: `cond` tests
    /// it in the header, `item` gives the loop variable's value at the top of the body, and the
    /// latch (where `continue` goes) adds one, checked when the counter is an `i64`.
    #[allow(clippy::too_many_arguments)]
    fn counted_loop(
        &mut self,
        start: Value,
        cty: Type,
        span: Span,
        body: &AstBlock,
        binding: Option<BindingId>,
        cond: &mut dyn FnMut(&mut Self, Value) -> Value,
        item: &mut dyn FnMut(&mut Self, Value) -> Value,
    ) {
        let header = self.new_block();
        let body_b = self.new_block();
        let latch = self.new_block();
        let exit = self.new_block();
        let counter = self.b.func.dfg.append_block_param(header, cty);
        self.set_loc(span);
        self.jump(header, &[start]);
        self.b.switch_to_block(header);
        self.set_loc(span);
        let c = cond(self, counter);
        self.branch(c, body_b, exit);
        self.seal(body_b);
        self.b.switch_to_block(body_b);
        let v = item(self, counter);
        if let Some(b) = binding {
            self.declare_var(b, v);
        }
        self.loops.push(LoopCtx {
            continue_to: latch,
            exit,
            is_loop: false,
            breaks: vec![],
        });
        self.lower_block(body, false);
        if !self.b.is_terminated() {
            self.jump(latch, &[]);
        }
        self.loops.pop();
        self.seal(latch);
        self.b.switch_to_block(latch);
        self.set_loc(span);
        let one = self.b.iconst(1);
        let (add, ty) = if cty == Type::I64 {
            (Opcode::AddI, Type::I64)
        } else {
            (Opcode::DynAdd, Type::Any)
        };
        let next = self.b.value(add, &[counter, one], Imm::None, ty);
        self.jump(header, &[next]);
        self.seal(header);
        self.seal(exit);
        self.b.switch_to_block(exit);
    }

    fn lower_match(&mut self, scrutinee: &Expr, arms: &[MatchArm], want: bool) -> Value {
        let s = self.expr(scrutinee);
        let join = self.new_block();
        let mut incoming = vec![];
        for arm in arms {
            let body_b = self.new_block();
            let next = self.new_block();
            self.set_loc(arm.pattern.span);
            self.pattern_branch(&arm.pattern, s, body_b, next);
            self.seal(body_b);
            self.b.switch_to_block(body_b);
            self.bind_pattern(&arm.pattern, s);
            if let Some(g) = &arm.guard {
                let c = self.cond(g);
                let guarded = self.new_block();
                self.branch(c, guarded, next);
                self.seal(guarded);
                self.b.switch_to_block(guarded);
            }
            let v = if want {
                self.expr(&arm.body)
            } else {
                self.expr_discard(&arm.body);
                self.nil_value()
            };
            if !self.b.is_terminated() {
                self.set_loc(arm.body.span);
                let inst = self.jump(join, &[]);
                incoming.push((inst, v));
            }
            self.seal(next);
            self.b.switch_to_block(next);
        }
        // No arm matched: the value is nil.
        let nil = self.nil_value();
        let inst = self.jump(join, &[]);
        incoming.push((inst, nil));
        let result = if want {
            Some(self.add_join_param(join, &incoming))
        } else {
            None
        };
        self.seal(join);
        self.b.switch_to_block(join);
        result.unwrap_or_else(|| self.nil_value())
    }

    fn pat_const(&mut self, lit: &PatLit) -> Value {
        match lit {
            PatLit::Int(n) => self.b.iconst(*n),
            PatLit::Float(x) => self.b.fconst(*x),
            PatLit::Str(s) => self.b.str_const(s),
            PatLit::Bool(x) => self.b.bconst(*x),
            PatLit::Nil => self.nil_value(),
        }
    }

    /// Branches to `yes` when `s` matches the pattern, else to `no`.
    fn pattern_branch(&mut self, p: &Pattern, s: Value, yes: Block, no: Block) {
        match &p.kind {
            PatternKind::Wildcard | PatternKind::Binding(_) => {
                self.jump(yes, &[]);
            }
            PatternKind::Lit(lit) => {
                let c = self.pat_const(lit);
                let t = self.binop(BinOp::Eq, s, c);
                self.branch(t, yes, no);
            }
            PatternKind::Range { lo, hi, inclusive } => {
                let l = self.pat_const(lo);
                let ge = self.binop(BinOp::Ge, s, l);
                let second = self.new_block();
                self.branch(ge, second, no);
                self.seal(second);
                self.b.switch_to_block(second);
                let h = self.pat_const(hi);
                let op = if *inclusive { BinOp::Le } else { BinOp::Lt };
                let le = self.binop(op, s, h);
                self.branch(le, yes, no);
            }
            PatternKind::Or(alts) => {
                for (i, alt) in alts.iter().enumerate() {
                    if i + 1 == alts.len() {
                        self.pattern_branch(alt, s, yes, no);
                    } else {
                        let next = self.new_block();
                        self.pattern_branch(alt, s, yes, next);
                        self.seal(next);
                        self.b.switch_to_block(next);
                    }
                }
            }
        }
    }

    fn bind_pattern(&mut self, p: &Pattern, s: Value) {
        match &p.kind {
            PatternKind::Binding(ident) => {
                if let Some(&b) = self.res().decls.get(&ident.span.start) {
                    self.declare_var(b, s);
                }
            }
            PatternKind::Or(alts) => {
                for a in alts {
                    self.bind_pattern(a, s);
                }
            }
            _ => {}
        }
    }
}

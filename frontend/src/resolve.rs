//! Name resolution: every identifier is bound to a declaration before anything runs, so the IR
//! refers to SSA values, cells, globals and functions, never to names.
//!
//! The resolver also decides where each variable lives:
//! - a top-level variable that some function or lambda refers to becomes a module global;
//! - a function-local variable that a closure captures *and* that is assigned after its
//!   declaration lives in a heap cell shared by the closure and its owner (capture by reference);
//! - every other variable is an SSA value (captured by copy, which is indistinguishable from
//!   capture by reference when nobody assigns it).

use crate::ast::*;
use crate::source::{Diagnostic, Span};
use crate::ReplEnv;
use std::collections::{HashMap, HashSet};

/// Index of a variable declaration.
pub type BindingId = usize;
/// Index of a function scope: 0 is the top-level script, then every `fun` and lambda.
pub type FnId = usize;

pub const TOPLEVEL: FnId = 0;

/// Where a variable lives at run time.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    Ssa,
    Cell,
    Global,
}

#[derive(Clone, Debug)]
pub struct Binding {
    pub name: String,
    pub span: Span,
    pub owner: FnId,
    pub mutable: bool,
    /// Assigned somewhere after its declaration.
    pub assigned: bool,
    /// Referred to from a function scope other than its owner.
    pub captured: bool,
    /// Set when the owner is a nested `fun` statement: the binding holds that function's closure.
    pub fun: Option<FnId>,
    /// REPL mode only: what a variable of the top-level code is (`None` outside REPL mode and
    /// for variables of functions).
    pub repl: Option<ReplVar>,
}

/// The two kinds of top-level variables in REPL mode.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReplVar {
    /// Declared by a top-level `let` (of this input or an earlier one): a module global, shared
    /// by every binding of the same name, so that its value outlives the input.
    Persistent,
    /// Declared in a nested block, a `for` or a pattern of the top-level code: stored like a
    /// function's local (closures capture it), so it never leaks into the session.
    Local,
}

impl Binding {
    pub fn storage(&self) -> Storage {
        match self.repl {
            Some(ReplVar::Persistent) => return Storage::Global,
            Some(ReplVar::Local) if self.captured && self.assigned => return Storage::Cell,
            Some(ReplVar::Local) => return Storage::Ssa,
            None => {}
        }
        if self.captured && self.owner == TOPLEVEL {
            Storage::Global
        } else if self.captured && self.assigned {
            Storage::Cell
        } else {
            Storage::Ssa
        }
    }
}

/// What an identifier refers to.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Res {
    Local(BindingId),
    /// A top-level `fun`, or a nested one: calls are direct when it captures nothing.
    Function(FnId),
    /// A function's reference to itself from inside its own body.
    SelfRef(FnId),
    Builtin(&'static str),
    Undefined,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FnKind {
    Script,
    Fun,
    Lambda,
}

#[derive(Clone, Debug)]
pub struct FnInfo {
    /// The IR name, unique in the module.
    pub name: String,
    /// The Ruchy name (`<lambda>` for lambdas, `<toplevel>` for the script).
    pub display: String,
    pub kind: FnKind,
    pub parent: Option<FnId>,
    /// Variables of enclosing functions that this one refers to, in first-use order.
    pub captures: Vec<BindingId>,
    /// For nested `fun` statements: the local that holds the function value.
    pub binding: Option<BindingId>,
    /// Span of the `FunDecl` or lambda expression.
    pub span: Span,
}

/// The result of resolving a program.
#[derive(Debug, Default)]
pub struct Resolution {
    pub bindings: Vec<Binding>,
    /// Keyed by the start offset of an identifier expression (or assignment target).
    pub uses: HashMap<u32, Res>,
    /// Keyed by the start offset of a declaring identifier (`let`, parameter, `for`, pattern).
    pub decls: HashMap<u32, BindingId>,
    pub fns: Vec<FnInfo>,
    /// Keyed by the start offset of a `FunDecl` or lambda expression.
    pub fn_at: HashMap<u32, FnId>,
    /// The top-level `main`, if any.
    pub main: Option<FnId>,
    /// Whether the top level has statements besides definitions.
    pub has_toplevel_code: bool,
    /// Compiled for the REPL ([`resolve_repl`]): the top-level code returns the value of its last
    /// expression statement and never calls `main`.
    pub repl: bool,
}

const BUILTINS: &[&str] = &[
    "println", "print", "len", "sqrt", "pow", "abs", "min", "max", "floor", "ceil", "round", "int",
    "float", "str", "type_of",
];

struct Scope {
    names: HashMap<String, Res>,
}

struct Resolver {
    r: Resolution,
    scopes: Vec<Scope>,
    fn_stack: Vec<FnId>,
    diags: Vec<Diagnostic>,
    /// All top-level variables by name, first declaration first, for function bodies that refer
    /// to a top-level variable declared after the function.
    toplevel_vars: HashMap<String, BindingId>,
    /// REPL mode (see [`resolve_repl`]).
    repl: bool,
    /// REPL mode: the prefix of the IR names of the functions nested in the top-level code being
    /// resolved (the input's, or an archived input's).
    script_prefix: String,
    /// REPL mode: the scope depth at which a `let` is top-level code (1 for the input, deeper
    /// inside an archived input's function).
    script_depth: usize,
    /// While the top-level statements are resolved: each name they declare at the top level, in
    /// order. A function body sees the top level as it was at the function's position: that
    /// state is replayed from this log rather than copied for every function (a copy per
    /// function was quadratic: 3,000 functions took 2 s and 900 MB).
    toplevel_log: Option<Vec<(String, Res)>>,
    /// REPL mode: top-level functions that hold archived inputs.
    scripts: HashSet<String>,
    /// The IR names given to functions so far (`r.fns`' names), to keep them unique.
    fn_names: HashSet<String>,
}

/// Resolves all names in a program.
pub fn resolve(program: &Program) -> Result<Resolution, Vec<Diagnostic>> {
    resolve_with(program, None)
}

/// Resolves an input of the REPL ([`crate::compile_repl`]).
///
/// In REPL mode:
/// - every top-level `let` declares a persistent variable, a module global named by the
///   variable (all top-level `let`s of one name share it), and `env.globals` are pre-declared
///   as mutable persistent variables;
/// - other variables of the top-level code (nested blocks, loops, patterns) behave like the
///   locals of a function: closures capture them instead of turning them into globals;
/// - functions nested in the top-level code are named `{env.prefix}.NAME` (`lambda`, ...) so
///   that their names do not depend on the rest of the session;
/// - the top-level functions named in `env.scripts` are archived inputs: their bodies are
///   resolved as top-level code (with their own name as the prefix), so that their nested
///   functions and lambdas get the same names and captures as when the input ran;
/// - the top-level code returns its value and never calls `main`.
pub fn resolve_repl(program: &Program, env: &ReplEnv) -> Result<Resolution, Vec<Diagnostic>> {
    resolve_with(program, Some(env))
}

fn resolve_with(program: &Program, env: Option<&ReplEnv>) -> Result<Resolution, Vec<Diagnostic>> {
    let mut rs = Resolver {
        r: Resolution::default(),
        scopes: vec![],
        fn_stack: vec![],
        diags: vec![],
        toplevel_vars: HashMap::new(),
        repl: env.is_some(),
        script_prefix: match env {
            Some(e) if !e.prefix.is_empty() => e.prefix.clone(),
            _ => "__toplevel__".into(),
        },
        script_depth: 1,
        scripts: env
            .map(|e| e.scripts.iter().cloned().collect())
            .unwrap_or_default(),
        toplevel_log: None,
        fn_names: HashSet::from(["__toplevel__".to_string()]),
    };
    rs.r.repl = rs.repl;
    rs.r.fns.push(FnInfo {
        name: "__toplevel__".into(),
        display: "<toplevel>".into(),
        kind: FnKind::Script,
        parent: None,
        captures: vec![],
        binding: None,
        span: Span::default(),
    });
    rs.fn_stack.push(TOPLEVEL);
    rs.push_scope();
    if let Some(env) = env {
        // Variables of earlier inputs: visible everywhere, like top-level functions. A function
        // of the same name takes precedence (it is declared below).
        for name in &env.globals {
            if rs.scopes[0].names.contains_key(name) || name == "__toplevel__" {
                continue;
            }
            let id = rs.r.bindings.len();
            rs.r.bindings.push(Binding {
                name: name.clone(),
                span: Span::default(),
                owner: TOPLEVEL,
                mutable: true,
                assigned: false,
                captured: false,
                fun: None,
                repl: Some(ReplVar::Persistent),
            });
            rs.toplevel_vars.insert(name.clone(), id);
            rs.scopes[0].names.insert(name.clone(), Res::Local(id));
        }
    }

    // Top-level functions are visible everywhere (mutual recursion, calls before definition).
    let mut deferred = vec![];
    for stmt in &program.stmts {
        if let StmtKind::Fun(decl) = &stmt.kind {
            if decl.name.name == "__toplevel__" {
                rs.diags.push(Diagnostic::new(
                    "the name `__toplevel__` is reserved",
                    decl.name.span,
                ));
                continue;
            }
            if let Some(Res::Function(_)) = rs.scopes[0].names.get(&decl.name.name) {
                rs.diags.push(Diagnostic::new(
                    format!("function `{}` is defined more than once", decl.name.name),
                    decl.name.span,
                ));
                continue;
            }
            let id = rs.new_fn(
                decl.name.name.clone(),
                decl.name.name.clone(),
                FnKind::Fun,
                decl.span,
            );
            rs.scopes[0]
                .names
                .insert(decl.name.name.clone(), Res::Function(id));
            if decl.name.name == "main" {
                rs.r.main = Some(id);
            }
        } else {
            rs.r.has_toplevel_code = true;
        }
    }
    let functions_only = rs.scopes[0].names.clone();
    rs.toplevel_log = Some(vec![]);
    for stmt in &program.stmts {
        match &stmt.kind {
            StmtKind::Fun(decl) => {
                // Bodies are resolved after the whole top level, seeing the top-level variables
                // declared before the function (and, failing that, any declared later).
                if let Some(&id) = rs.r.fn_at.get(&decl.span.start) {
                    let declared_before = rs.toplevel_log.as_ref().map_or(0, Vec::len);
                    deferred.push((decl.as_ref(), id, declared_before));
                }
            }
            _ => rs.stmt(stmt),
        }
    }
    let log = rs.toplevel_log.take().unwrap_or_default();
    let toplevel_names = std::mem::replace(&mut rs.scopes[0].names, functions_only);
    let mut replayed = 0;
    for (decl, id, declared_before) in deferred {
        for (name, res) in &log[replayed..declared_before] {
            rs.scopes[0].names.insert(name.clone(), *res);
        }
        replayed = declared_before;
        if rs.repl && rs.scripts.contains(&decl.name.name) {
            rs.script_body(decl);
        } else {
            rs.fun_body(decl, id);
        }
    }
    rs.scopes[0].names = toplevel_names;
    if rs.diags.is_empty() {
        Ok(rs.r)
    } else {
        Err(rs.diags)
    }
}

impl Resolver {
    fn current_fn(&self) -> FnId {
        *self.fn_stack.last().unwrap_or(&TOPLEVEL)
    }

    fn push_scope(&mut self) {
        self.scopes.push(Scope {
            names: HashMap::new(),
        });
    }

    fn pop_scope(&mut self) {
        self.scopes.pop();
    }

    fn new_fn(&mut self, name: String, display: String, kind: FnKind, span: Span) -> FnId {
        let parent = self.fn_stack.last().copied();
        let id = self.r.fns.len();
        // Nested names are prefixed by their parent so that they are unique in the module.
        let name = match parent {
            Some(p) if p != TOPLEVEL => format!("{}.{}", self.r.fns[p].name, name),
            // REPL mode: lambdas and block-nested functions of the top-level code.
            Some(_) if self.repl && (kind == FnKind::Lambda || self.scopes.len() > 1) => {
                format!("{}.{name}", self.script_prefix)
            }
            Some(_) if kind == FnKind::Lambda => format!("__toplevel__.{name}"),
            _ => name,
        };
        let mut unique = name.clone();
        let mut n = 1;
        while self.fn_names.contains(&unique) {
            n += 1;
            unique = format!("{name}{n}");
        }
        self.fn_names.insert(unique.clone());
        self.r.fns.push(FnInfo {
            name: unique,
            display,
            kind,
            parent,
            captures: vec![],
            binding: None,
            span,
        });
        self.r.fn_at.insert(span.start, id);
        id
    }

    fn declare(&mut self, ident: &Ident, mutable: bool) -> BindingId {
        let owner = self.current_fn();
        let id = self.r.bindings.len();
        self.r.bindings.push(Binding {
            name: ident.name.clone(),
            span: ident.span,
            owner,
            mutable,
            assigned: false,
            captured: false,
            fun: None,
            repl: (self.repl && owner == TOPLEVEL).then_some(ReplVar::Local),
        });
        self.r.decls.insert(ident.span.start, id);
        if owner == TOPLEVEL && self.scopes.len() == 1 {
            self.toplevel_vars.entry(ident.name.clone()).or_insert(id);
        }
        if self.scopes.len() == 1 {
            if let Some(log) = &mut self.toplevel_log {
                log.push((ident.name.clone(), Res::Local(id)));
            }
        }
        if let Some(scope) = self.scopes.last_mut() {
            scope.names.insert(ident.name.clone(), Res::Local(id));
        }
        id
    }

    fn lookup(&mut self, name: &str) -> Res {
        let here = self.current_fn();
        let mut found = None;
        for scope in self.scopes.iter().rev() {
            if let Some(&res) = scope.names.get(name) {
                found = Some(res);
                break;
            }
        }
        if found.is_none() && here != TOPLEVEL {
            if let Some(&b) = self.toplevel_vars.get(name) {
                found = Some(Res::Local(b));
            }
        }
        match found {
            Some(Res::Local(b)) => self.capture_binding(b),
            Some(Res::Function(f)) if self.is_nested_fn(f) => {
                // A nested function: from its own body it is a self-reference; from its parent a
                // direct reference; from anywhere else its binding is captured like a variable.
                let parent = self.r.fns[f].parent;
                if f == here {
                    Res::SelfRef(f)
                } else if parent == Some(here) {
                    Res::Function(f)
                } else {
                    match self.r.fns[f].binding {
                        Some(b) => self.capture_binding(b),
                        None => Res::Function(f),
                    }
                }
            }
            Some(res) => res,
            None => match BUILTINS.iter().find(|&&b| b == name) {
                Some(b) => Res::Builtin(b),
                None => Res::Undefined,
            },
        }
    }

    /// A `fun` declared inside a block: a local binding holds it (a closure when it captures).
    /// Outside REPL mode those nested directly in top-level code are treated like top-level
    /// functions (what they use of the top level are globals).
    fn is_nested_fn(&self, f: FnId) -> bool {
        let info = &self.r.fns[f];
        info.parent.is_some_and(|p| p != TOPLEVEL) || (self.repl && info.binding.is_some())
    }

    fn capture_binding(&mut self, b: BindingId) -> Res {
        let here = self.current_fn();
        let owner = self.r.bindings[b].owner;
        if owner != here {
            self.r.bindings[b].captured = true;
            if owner == TOPLEVEL && self.r.bindings[b].repl != Some(ReplVar::Local) {
                // Top-level variables used by functions become globals, not captures.
                return Res::Local(b);
            }
            for &f in self.fn_stack.iter().rev() {
                if f == owner {
                    break;
                }
                if !self.r.fns[f].captures.contains(&b) {
                    self.r.fns[f].captures.push(b);
                }
            }
        }
        Res::Local(b)
    }

    fn block(&mut self, block: &Block) {
        self.push_scope();
        // Nested functions are visible in their whole block (mutual recursion).
        for stmt in &block.stmts {
            if let StmtKind::Fun(decl) = &stmt.kind {
                let id = self.new_fn(
                    decl.name.name.clone(),
                    decl.name.name.clone(),
                    FnKind::Fun,
                    decl.span,
                );
                let b = self.declare(&decl.name, false);
                self.r.bindings[b].fun = Some(id);
                self.r.fns[id].binding = Some(b);
                if let Some(scope) = self.scopes.last_mut() {
                    scope
                        .names
                        .insert(decl.name.name.clone(), Res::Function(id));
                }
            }
        }
        for stmt in &block.stmts {
            self.stmt(stmt);
        }
        self.pop_scope();
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match &stmt.kind {
            StmtKind::Let {
                name,
                mutable,
                init,
                ..
            } => {
                self.expr(init);
                let b = self.declare(name, *mutable);
                if self.repl
                    && self.current_fn() == TOPLEVEL
                    && self.scopes.len() == self.script_depth
                {
                    self.r.bindings[b].repl = Some(ReplVar::Persistent);
                }
            }
            StmtKind::Fun(decl) => {
                if let Some(&id) = self.r.fn_at.get(&decl.span.start) {
                    self.fun_body(decl, id);
                }
            }
            StmtKind::Expr { expr, .. } => self.expr(expr),
        }
    }

    fn fun_body(&mut self, decl: &FunDecl, id: FnId) {
        self.fn_stack.push(id);
        self.push_scope();
        self.params(&decl.params);
        self.block(&decl.body);
        self.pop_scope();
        self.fn_stack.pop();
    }

    /// REPL mode: the body of an archived input, resolved as top-level code (its variables
    /// belong to the top level, its nested functions are named after it).
    fn script_body(&mut self, decl: &FunDecl) {
        let prefix = std::mem::replace(&mut self.script_prefix, decl.name.name.clone());
        let depth = self.script_depth;
        self.fn_stack.push(TOPLEVEL);
        self.push_scope();
        // The scope that `block` opens for the body.
        self.script_depth = self.scopes.len() + 1;
        self.block(&decl.body);
        self.pop_scope();
        self.fn_stack.pop();
        self.script_depth = depth;
        self.script_prefix = prefix;
    }

    fn params(&mut self, params: &[Param]) {
        let mut seen: Vec<&str> = vec![];
        for p in params {
            if seen.contains(&p.name.name.as_str()) && p.name.name != "_" {
                self.diags.push(Diagnostic::new(
                    format!("parameter `{}` is declared more than once", p.name.name),
                    p.name.span,
                ));
            }
            seen.push(&p.name.name);
            // A default may refer to the parameters before it.
            if let Some(d) = &p.default {
                self.expr(d);
            }
            self.declare(&p.name, true);
        }
    }

    fn assign_target(&mut self, target: &Expr) {
        match &target.kind {
            ExprKind::Ident(name) => {
                let res = self.lookup(name);
                self.r.uses.insert(target.span.start, res);
                match res {
                    Res::Local(b) => {
                        let binding = &self.r.bindings[b];
                        if !binding.mutable && binding.fun.is_none() {
                            self.diags.push(Diagnostic::new(
                                format!("cannot assign twice to immutable variable `{name}` (declare it with `let mut`)"),
                                target.span,
                            ));
                        } else if binding.fun.is_some() {
                            self.diags.push(Diagnostic::new(
                                format!("cannot assign to function `{name}`"),
                                target.span,
                            ));
                        }
                        self.r.bindings[b].assigned = true;
                    }
                    Res::Undefined => self.diags.push(Diagnostic::new(
                        format!(
                            "cannot assign to undeclared variable `{name}` (declare it with `let`)"
                        ),
                        target.span,
                    )),
                    _ => self.diags.push(Diagnostic::new(
                        format!("cannot assign to `{name}`"),
                        target.span,
                    )),
                }
            }
            ExprKind::Index { base, index } => {
                self.expr(base);
                self.expr(index);
            }
            _ => self
                .diags
                .push(Diagnostic::new("invalid assignment target", target.span)),
        }
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::Bool(_)
            | ExprKind::Nil
            | ExprKind::Continue => {}
            ExprKind::FString(parts) => {
                for p in parts {
                    if let FStringPart::Expr(x) = p {
                        self.expr(x);
                    }
                }
            }
            ExprKind::Ident(name) => {
                let res = self.lookup(name);
                self.r.uses.insert(e.span.start, res);
            }
            ExprKind::Array(items) | ExprKind::Tuple(items) => {
                for x in items {
                    self.expr(x);
                }
            }
            ExprKind::Unary(_, x) => self.expr(x),
            ExprKind::Binary(_, a, b) => {
                self.expr(a);
                self.expr(b);
            }
            ExprKind::Assign { target, value, .. } => {
                self.expr(value);
                self.assign_target(target);
            }
            ExprKind::Call { callee, args } => {
                self.expr(callee);
                for a in args {
                    self.expr(a);
                }
            }
            ExprKind::MethodCall { receiver, args, .. } => {
                self.expr(receiver);
                for a in args {
                    self.expr(a);
                }
            }
            ExprKind::Index { base, index } => {
                self.expr(base);
                self.expr(index);
            }
            ExprKind::TupleField { base, .. } => self.expr(base),
            ExprKind::Cast { expr, .. } => self.expr(expr),
            ExprKind::If { cond, then, else_ } => {
                self.expr(cond);
                self.block(then);
                if let Some(x) = else_ {
                    self.expr(x);
                }
            }
            ExprKind::While { cond, body } => {
                self.expr(cond);
                self.block(body);
            }
            ExprKind::For { var, iter, body } => {
                self.expr(iter);
                self.push_scope();
                self.declare(var, false);
                self.block(body);
                self.pop_scope();
            }
            ExprKind::Loop { body } => self.block(body),
            ExprKind::Break(x) | ExprKind::Return(x) => {
                if let Some(x) = x {
                    self.expr(x);
                }
            }
            ExprKind::Match { scrutinee, arms } => {
                self.expr(scrutinee);
                for arm in arms {
                    self.push_scope();
                    self.pattern(&arm.pattern);
                    if let Some(g) = &arm.guard {
                        self.expr(g);
                    }
                    self.expr(&arm.body);
                    self.pop_scope();
                }
            }
            ExprKind::Block(b) => self.block(b),
            ExprKind::Lambda { params, body } => {
                let id = self.new_fn("lambda".into(), "<lambda>".into(), FnKind::Lambda, e.span);
                self.fn_stack.push(id);
                self.push_scope();
                self.params(params);
                self.expr(body);
                self.pop_scope();
                self.fn_stack.pop();
            }
            ExprKind::Range { start, end, .. } => {
                self.expr(start);
                self.expr(end);
            }
        }
    }

    fn pattern(&mut self, p: &Pattern) {
        match &p.kind {
            PatternKind::Binding(ident) => {
                self.declare(ident, false);
            }
            PatternKind::Or(ps) => {
                for q in ps {
                    self.pattern(q);
                }
            }
            _ => {}
        }
    }
}

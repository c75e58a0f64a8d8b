//! The abstract syntax tree. Every node carries a [`Span`] (byte offsets into the source) so that
//! diagnostics and the IR's locations point at the exact source text.

use crate::source::Span;

/// A whole file: top-level statements and function definitions, in source order.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub stmts: Vec<Stmt>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A type annotation as written (`i64`, `String`, `f64`, `()`, `Vec<i64>`). Annotations are hints
/// for specialization, never a change of meaning.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeAnn {
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: Option<TypeAnn>,
    pub default: Option<Expr>,
    pub span: Span,
}

/// `fun name(params) -> ret { body }` (also spelled `fn`).
#[derive(Clone, Debug, PartialEq)]
pub struct FunDecl {
    pub name: Ident,
    pub params: Vec<Param>,
    pub ret: Option<TypeAnn>,
    pub body: Block,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `let [mut] name [: T] = init`
    Let {
        name: Ident,
        mutable: bool,
        ty: Option<TypeAnn>,
        init: Expr,
    },
    Fun(Box<FunDecl>),
    /// An expression statement. `semi` records a trailing `;`: the last statement of a block is the
    /// block's value only when it is an expression without one.
    Expr {
        expr: Expr,
        semi: bool,
    },
}

/// `{ stmts }`
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
    /// Short-circuit `&&`.
    And,
    /// Short-circuit `||`.
    Or,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
    BitNot,
}

/// A piece of an f-string.
#[derive(Clone, Debug, PartialEq)]
pub enum FStringPart {
    Lit(String),
    Expr(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Nil,
    /// `f"x={x}"`
    FString(Vec<FStringPart>),
    Ident(String),
    /// `[a, b]`
    Array(Vec<Expr>),
    /// `(a, b)`, `(a,)`; `()` is the empty tuple, which is the unit value `nil`.
    Tuple(Vec<Expr>),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `target = value` or `target op= value` (`op` is `Some` for compound forms). The target is
    /// an `Ident` or an `Index` expression.
    Assign {
        target: Box<Expr>,
        op: Option<BinOp>,
        value: Box<Expr>,
    },
    Call {
        callee: Box<Expr>,
        args: Vec<Expr>,
    },
    MethodCall {
        receiver: Box<Expr>,
        method: Ident,
        args: Vec<Expr>,
    },
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    /// `t.0`
    TupleField {
        base: Box<Expr>,
        index: u32,
    },
    /// `e as T`
    Cast {
        expr: Box<Expr>,
        ty: TypeAnn,
    },
    /// `if cond { } else ...`; `else_` is a `Block` or another `If` expression.
    If {
        cond: Box<Expr>,
        then: Block,
        else_: Option<Box<Expr>>,
    },
    While {
        cond: Box<Expr>,
        body: Block,
    },
    /// `for var in iter { }`; `iter` is a `Range` or any expression yielding an array/string.
    For {
        var: Ident,
        iter: Box<Expr>,
        body: Block,
    },
    Loop {
        body: Block,
    },
    Break(Option<Box<Expr>>),
    Continue,
    Return(Option<Box<Expr>>),
    Match {
        scrutinee: Box<Expr>,
        arms: Vec<MatchArm>,
    },
    Block(Block),
    /// `|a, b| body`
    Lambda {
        params: Vec<Param>,
        body: Box<Expr>,
    },
    /// `a..b` / `a..=b`
    Range {
        start: Box<Expr>,
        end: Box<Expr>,
        inclusive: bool,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct MatchArm {
    pub pattern: Pattern,
    pub guard: Option<Expr>,
    pub body: Expr,
    pub span: Span,
}

/// Literal values usable in patterns.
#[derive(Clone, Debug, PartialEq)]
pub enum PatLit {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Nil,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    pub kind: PatternKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PatternKind {
    /// `_`
    Wildcard,
    /// A name that binds the scrutinee.
    Binding(Ident),
    Lit(PatLit),
    /// `lo..hi` / `lo..=hi` over integer or float literals.
    Range {
        lo: PatLit,
        hi: PatLit,
        inclusive: bool,
    },
    /// `p1 | p2`
    Or(Vec<Pattern>),
}

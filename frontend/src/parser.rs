//! The parser: tokens → [`Program`].
//!
//! Recursive descent for statements and primaries, precedence climbing for binary operators.
//! Statements end at a newline or `;` (see [`Token::nl_before`]), so the newline rules live here:
//! `(` and `[` continue an expression only on the same line, binary operators and `.method()`
//! continue across lines, and a block-like expression (`if`, `match`, `while`, `for`, `loop`,
//! `{}`) that starts a statement ends it unless an operator follows on the same line.
//!
//! Errors never abort the parse: each is recorded as a [`Diagnostic`], the parser skips to the
//! next statement boundary and goes on, up to [`MAX_DIAGS`] diagnostics. Recursion is bounded by
//! [`MAX_DEPTH`] so hostile input gets "expression nested too deeply" instead of a stack
//! overflow, and the height of the tree (including long left-associative chains) by
//! [`MAX_HEIGHT`] so later recursive passes are safe too.

use crate::ast::*;
use crate::lexer::{lex, lex_range, FStrPiece, Token, TokenKind as T};
use crate::source::{Diagnostic, SourceFile, Span};

/// Most diagnostics reported for one file.
pub const MAX_DIAGS: usize = 50;
/// Deepest nesting of the parser's recursion (parentheses, blocks, unary operators, right
/// operands...). At this limit the worst nesting uses about 0.5 MB of stack in the workspace's
/// dev profile and 1.5 MB unoptimized, so parsing fits a 2 MB test thread.
pub const MAX_DEPTH: u32 = 200;
/// Tallest syntax tree, counting the links of left-associative chains (`a + b + c`, `f()()`,
/// `x.a().b()`, `else if`) that the parser builds in a loop. Keeps recursive passes over the AST,
/// and its destructor, within ordinary stacks.
pub const MAX_HEIGHT: u32 = 2048;

/// The magnitude of `i64::MIN`, a literal legal only directly under unary minus.
const I64_MIN_MAGNITUDE: u64 = 1 << 63;

/// Parses a file into its AST, or returns every diagnostic found (lexical and syntactic, sorted by
/// position, at most [`MAX_DIAGS`]).
pub fn parse(file: &SourceFile) -> Result<Program, Vec<Diagnostic>> {
    let (toks, lex_diags) = lex(&file.text);
    let mut parser = Parser::new(&file.text, toks, lex_diags, "end of file");
    let stmts = parser.stmts(false);
    let mut diags = parser.diags;
    if diags.is_empty() {
        Ok(Program { stmts })
    } else {
        diags.sort_by_key(|d| d.span.start);
        diags.truncate(MAX_DIAGS);
        Err(diags)
    }
}

/// A parse failure whose diagnostic has already been recorded (or deliberately suppressed).
#[derive(Debug)]
struct Fail;

type PResult<T> = Result<T, Fail>;

/// An infix operator: a [`BinOp`] or a range.
#[derive(Copy, Clone, PartialEq)]
enum Infix {
    Bin(BinOp),
    Range { inclusive: bool },
}

const PREC_POW: u8 = 12;

/// Binding power of infix operators, lowest first: `||` `&&` `|` `^` `&` `== !=` `< <= > >=`
/// `<< >>` `.. ..=` `+ -` `* / %` `**`.
fn infix(kind: &T) -> Option<(Infix, u8)> {
    use BinOp::*;
    let (op, prec) = match kind {
        T::PipePipe => (Infix::Bin(Or), 1),
        T::AmpAmp => (Infix::Bin(And), 2),
        T::Pipe => (Infix::Bin(BitOr), 3),
        T::Caret => (Infix::Bin(BitXor), 4),
        T::Amp => (Infix::Bin(BitAnd), 5),
        T::EqEq => (Infix::Bin(Eq), 6),
        T::Ne => (Infix::Bin(Ne), 6),
        T::Lt => (Infix::Bin(Lt), 7),
        T::Le => (Infix::Bin(Le), 7),
        T::Gt => (Infix::Bin(Gt), 7),
        T::Ge => (Infix::Bin(Ge), 7),
        T::Shl => (Infix::Bin(Shl), 8),
        T::Shr => (Infix::Bin(Shr), 8),
        T::DotDot => (Infix::Range { inclusive: false }, 9),
        T::DotDotEq => (Infix::Range { inclusive: true }, 9),
        T::Plus => (Infix::Bin(Add), 10),
        T::Minus => (Infix::Bin(Sub), 10),
        T::Star => (Infix::Bin(Mul), 11),
        T::Slash => (Infix::Bin(Div), 11),
        T::Percent => (Infix::Bin(Rem), 11),
        T::StarStar => (Infix::Bin(Pow), PREC_POW),
        _ => return None,
    };
    Some((op, prec))
}

/// `Some(op)` for an assignment operator: `None` for plain `=`, `Some(bin)` for `bin=`.
fn assign_op(kind: &T) -> Option<Option<BinOp>> {
    use BinOp::*;
    Some(match kind {
        T::Eq => None,
        T::PlusEq => Some(Add),
        T::MinusEq => Some(Sub),
        T::StarEq => Some(Mul),
        T::SlashEq => Some(Div),
        T::PercentEq => Some(Rem),
        T::AmpEq => Some(BitAnd),
        T::PipeEq => Some(BitOr),
        T::CaretEq => Some(BitXor),
        T::ShlEq => Some(Shl),
        T::ShrEq => Some(Shr),
        _ => return None,
    })
}

/// Tokens that start a block-like expression, which ends a statement at the end of its block.
fn starts_block_like(kind: &T) -> bool {
    matches!(
        kind,
        T::If | T::Match | T::While | T::For | T::Loop | T::LBrace
    )
}

/// Tokens that can start an expression (decides whether `break` / `return` take a value).
fn starts_expr(kind: &T) -> bool {
    matches!(
        kind,
        T::Int(_)
            | T::Float(_)
            | T::Str(_)
            | T::FStr(_)
            | T::Ident(_)
            | T::True
            | T::False
            | T::Nil
            | T::LParen
            | T::LBracket
            | T::LBrace
            | T::Minus
            | T::Bang
            | T::Tilde
            | T::Pipe
            | T::PipePipe
            | T::If
            | T::Match
            | T::While
            | T::For
            | T::Loop
            | T::Break
            | T::Continue
            | T::Return
    )
}

/// `lhs op rhs` or `lhs..rhs`. Node constructors live out of line so that the recursive parsing
/// functions keep small stack frames.
fn infix_node(op: Infix, lhs: Expr, rhs: Expr) -> Expr {
    let span = lhs.span.to(rhs.span);
    let kind = match op {
        Infix::Bin(op) => ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
        Infix::Range { inclusive } => ExprKind::Range {
            start: Box::new(lhs),
            end: Box::new(rhs),
            inclusive,
        },
    };
    Expr { kind, span }
}

fn assign_node(target: Expr, op: Option<BinOp>, value: Expr) -> Expr {
    Expr {
        span: target.span.to(value.span),
        kind: ExprKind::Assign {
            target: Box::new(target),
            op,
            value: Box::new(value),
        },
    }
}

fn unary_node(op: UnOp, op_span: Span, operand: Expr) -> Expr {
    Expr {
        span: op_span.to(operand.span),
        kind: ExprKind::Unary(op, Box::new(operand)),
    }
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    /// End offset of the last consumed token.
    prev_end: u32,
    diags: Vec<Diagnostic>,
    /// Current recursion depth (see [`MAX_DEPTH`]).
    depth: u32,
    /// Current tree height (see [`MAX_HEIGHT`]).
    height: u32,
    /// The diagnostic limit was reached: wind down.
    stop: bool,
    /// An "expected ..., found end of file" was reported; every enclosing construct would repeat
    /// it, so later ones are suppressed.
    eof_reported: bool,
    /// How to name the end of the token stream in messages ("end of file", or "`}`" inside an
    /// f-string expression).
    eof_desc: &'static str,
}

impl<'a> Parser<'a> {
    fn new(
        src: &'a str,
        mut toks: Vec<Token>,
        diags: Vec<Diagnostic>,
        eof_desc: &'static str,
    ) -> Self {
        if toks.last().map(|t| &t.kind) != Some(&T::Eof) {
            let end = src.len();
            toks.push(Token {
                kind: T::Eof,
                span: Span::new(end, end),
                nl_before: true,
            });
        }
        let stop = diags.len() >= MAX_DIAGS;
        Parser {
            src,
            toks,
            pos: 0,
            prev_end: 0,
            diags,
            depth: 0,
            height: 0,
            stop,
            eof_reported: false,
            eof_desc,
        }
    }

    // ----- tokens -------------------------------------------------------------------------

    fn tok(&self) -> &Token {
        self.nth(0)
    }

    /// The token `n` ahead; past the end, the final `Eof`.
    fn nth(&self, n: usize) -> &Token {
        let last = self.toks.len().saturating_sub(1);
        &self.toks[self.pos.saturating_add(n).min(last)]
    }

    fn kind(&self) -> &T {
        &self.tok().kind
    }

    fn at(&self, kind: &T) -> bool {
        self.kind() == kind
    }

    fn span(&self) -> Span {
        self.tok().span
    }

    /// Consumes the current token (never the final `Eof`) and returns its span.
    fn bump(&mut self) -> Span {
        let span = self.span();
        if !self.at(&T::Eof) {
            self.pos += 1;
            self.prev_end = span.end;
        }
        span
    }

    fn eat(&mut self, kind: &T) -> Option<Span> {
        if self.at(kind) {
            Some(self.bump())
        } else {
            None
        }
    }

    fn expect(&mut self, kind: &T, expected: &str) -> PResult<Span> {
        match self.eat(kind) {
            Some(span) => Ok(span),
            None => Err(self.unexpected(expected)),
        }
    }

    fn text(&self, span: Span) -> &'a str {
        self.src
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    /// How a token is named in "found ..." messages.
    fn describe(&self, tok: &Token) -> String {
        match &tok.kind {
            T::Eof => self.eof_desc.to_string(),
            T::Str(_) => "string literal".to_string(),
            T::FStr(_) => "f-string".to_string(),
            kind => {
                let text = self.text(tok.span);
                let short: String = text.chars().take(24).collect();
                let ellipsis = if short.len() < text.len() { "..." } else { "" };
                let keyword = if kind.is_keyword() { "keyword " } else { "" };
                format!("{keyword}`{short}{ellipsis}`")
            }
        }
    }

    // ----- diagnostics --------------------------------------------------------------------

    fn diag(&mut self, message: impl Into<String>, span: Span) {
        if self.diags.len() < MAX_DIAGS {
            self.diags.push(Diagnostic::new(message, span));
        }
        if self.diags.len() >= MAX_DIAGS {
            self.stop = true;
        }
    }

    /// Records "expected X, found Y" at the current token. Lexer error tokens were already
    /// reported, and a second complaint about the end of the file says nothing new, so both stay
    /// silent.
    fn unexpected(&mut self, expected: &str) -> Fail {
        let tok = self.tok();
        match tok.kind {
            T::Error => return Fail,
            T::Eof if self.eof_reported => return Fail,
            T::Eof => self.eof_reported = true,
            _ => {}
        }
        let tok = self.tok();
        let message = format!("expected {expected}, found {}", self.describe(tok));
        let span = tok.span;
        self.diag(message, span);
        Fail
    }

    /// Enters one level of recursion.
    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        self.height += 1;
        if self.depth > MAX_DEPTH || self.height > MAX_HEIGHT {
            return Err(self.too_deep());
        }
        Ok(())
    }

    /// Leaves a level entered with [`Self::enter`]. Only called on success: after a failure the
    /// statement loop restores both counters.
    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.height = self.height.saturating_sub(1);
    }

    /// Adds one link to a chain built in a loop (the caller restores `height` after the loop).
    fn grow(&mut self) -> PResult<()> {
        self.height += 1;
        if self.height > MAX_HEIGHT {
            return Err(self.too_deep());
        }
        Ok(())
    }

    fn too_deep(&mut self) -> Fail {
        let span = self.span();
        self.diag("expression nested too deeply", span);
        Fail
    }

    /// After a failed statement that started at token `stmt_start`: skips to the next statement
    /// boundary — a newline at the statement's own nesting level, a `;` (consumed), or a `}` that
    /// closes the enclosing block — always making progress.
    fn recover(&mut self, stmt_start: usize) {
        // Delimiters opened by the failed statement and still open: skip past their closers.
        let mut depth = 0usize;
        let upto = self.pos.min(self.toks.len());
        for tok in self.toks.get(stmt_start..upto).unwrap_or(&[]) {
            match tok.kind {
                T::LParen | T::LBracket | T::LBrace => depth += 1,
                T::RParen | T::RBracket | T::RBrace => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        loop {
            let tok = self.tok();
            match tok.kind {
                T::Eof => break,
                T::Semi if depth == 0 => {
                    self.bump();
                    break;
                }
                T::RBrace if depth == 0 => break,
                _ if depth == 0 && tok.nl_before && self.pos > stmt_start => break,
                T::LParen | T::LBracket | T::LBrace => depth += 1,
                T::RParen | T::RBracket | T::RBrace => depth = depth.saturating_sub(1),
                _ => {}
            }
            self.bump();
        }
    }

    // ----- statements ---------------------------------------------------------------------

    /// Statements up to the end of the file, or (in a block) up to its `}`, recovering from
    /// errors statement by statement.
    fn stmts(&mut self, in_block: bool) -> Vec<Stmt> {
        let mut out = Vec::new();
        while !self.stop {
            match self.kind() {
                T::Eof => break,
                T::RBrace if in_block => break,
                T::RBrace => {
                    let span = self.bump();
                    self.diag("unexpected closing delimiter `}`", span);
                    continue;
                }
                T::Semi => {
                    self.bump();
                    continue;
                }
                _ => {}
            }
            let start = self.pos;
            let (depth, height) = (self.depth, self.height);
            match self.stmt() {
                Ok(stmt) => out.push(stmt),
                Err(Fail) => {
                    self.depth = depth;
                    self.height = height;
                    self.recover(start);
                }
            }
        }
        out
    }

    fn stmt(&mut self) -> PResult<Stmt> {
        match self.kind() {
            T::Let => self.let_stmt(),
            T::Fun | T::Fn => self.fun_stmt(),
            _ => self.expr_stmt(),
        }
    }

    /// Ends a statement: a `;` (returned), or a newline, `}` or end of input before the next
    /// token. `lenient` statements (those ending in a `}`) may also be followed by another
    /// statement on the same line. A missing separator is reported and the rest of the line
    /// skipped; the statement itself is kept.
    fn end_stmt(&mut self, lenient: bool) -> Option<Span> {
        if let Some(semi) = self.eat(&T::Semi) {
            return Some(semi);
        }
        let tok = self.tok();
        if lenient || tok.nl_before || matches!(tok.kind, T::RBrace | T::Eof) {
            return None;
        }
        self.unexpected("`;` or newline");
        let pos = self.pos;
        self.recover(pos);
        None
    }

    /// `let [mut] name [: Type] = init`
    fn let_stmt(&mut self) -> PResult<Stmt> {
        let start = self.bump();
        let mutable = self.eat(&T::Mut).is_some();
        let name = self.ident("identifier")?;
        let ty = match self.eat(&T::Colon) {
            Some(_) => Some(self.ty()?),
            None => None,
        };
        self.expect(&T::Eq, "`=`")?;
        let init = self.expr()?;
        let end = self.end_stmt(false).unwrap_or(init.span);
        Ok(Stmt {
            span: start.to(end),
            kind: StmtKind::Let {
                name,
                mutable,
                ty,
                init,
            },
        })
    }

    /// `fun|fn name(params) [-> Type] block`
    fn fun_stmt(&mut self) -> PResult<Stmt> {
        let start = self.bump();
        let name = self.ident("identifier")?;
        self.expect(&T::LParen, "`(`")?;
        let params = self.params(&T::RParen, "`)`", true)?;
        let ret = match self.eat(&T::Arrow) {
            Some(_) => Some(self.ty()?),
            None => None,
        };
        let body = self.block()?;
        let span = start.to(body.span);
        let end = self.end_stmt(true).unwrap_or(span);
        Ok(Stmt {
            kind: StmtKind::Fun(Box::new(FunDecl {
                name,
                params,
                ret,
                body,
                span,
            })),
            span: span.to(end),
        })
    }

    fn expr_stmt(&mut self) -> PResult<Stmt> {
        let (expr, block_like) = self.expr_or_block_like()?;
        let semi = self.end_stmt(block_like);
        Ok(Stmt {
            span: semi.map_or(expr.span, |s| expr.span.to(s)),
            kind: StmtKind::Expr {
                expr,
                semi: semi.is_some(),
            },
        })
    }

    /// An expression in statement position (also a match arm's body). A block-like expression
    /// there stands alone unless an operator, `.` or `as` follows on the same line, in which case
    /// it is the left operand of a larger expression. Returns whether it stood alone.
    fn expr_or_block_like(&mut self) -> PResult<(Expr, bool)> {
        if !starts_block_like(self.kind()) {
            return Ok((self.expr()?, false));
        }
        let first = self.primary()?;
        let tok = self.tok();
        let continues = !tok.nl_before
            && (matches!(tok.kind, T::Dot | T::As)
                || infix(&tok.kind).is_some()
                || assign_op(&tok.kind).is_some());
        if continues {
            Ok((self.assign(Some(first))?, false))
        } else {
            Ok((first, true))
        }
    }

    /// Parameters up to and including `close`: `name [: Type] [= default]`, trailing comma
    /// allowed. Lambdas (`close` = `|`) take no defaults.
    fn params(&mut self, close: &T, close_desc: &str, defaults: bool) -> PResult<Vec<Param>> {
        let mut params = Vec::new();
        loop {
            if self.eat(close).is_some() {
                return Ok(params);
            }
            let name = self.ident("parameter name")?;
            let ty = match self.eat(&T::Colon) {
                Some(_) => Some(self.ty()?),
                None => None,
            };
            let default = if defaults && self.eat(&T::Eq).is_some() {
                Some(self.expr()?)
            } else {
                None
            };
            let end = default
                .as_ref()
                .map(|d| d.span)
                .or(ty.as_ref().map(|t| t.span))
                .unwrap_or(name.span);
            params.push(Param {
                span: name.span.to(end),
                name,
                ty,
                default,
            });
            if self.eat(&T::Comma).is_none() {
                self.expect(close, &format!("`,` or {close_desc}"))?;
                return Ok(params);
            }
        }
    }

    fn ident(&mut self, expected: &str) -> PResult<Ident> {
        if let T::Ident(name) = self.kind() {
            let name = name.clone();
            let span = self.bump();
            Ok(Ident { name, span })
        } else {
            Err(self.unexpected(expected))
        }
    }

    /// `{ stmts }`
    fn block(&mut self) -> PResult<Block> {
        let open = self.expect(&T::LBrace, "`{`")?;
        self.enter()?;
        let stmts = self.stmts(true);
        let close = self.expect(&T::RBrace, "`}`")?;
        self.leave();
        Ok(Block {
            stmts,
            span: open.to(close),
        })
    }

    // ----- types --------------------------------------------------------------------------

    /// A type annotation: `name[<T, ...>]`, `()` / `(T, ...)`, `[T]` / `[T; n]`, `&[mut] T`,
    /// `fn(T, ...) [-> T]`. Only its source text is kept.
    fn ty(&mut self) -> PResult<TypeAnn> {
        let start = self.span();
        self.enter()?;
        match self.kind() {
            T::LParen => {
                self.bump();
                self.type_list(&T::RParen, "`)`")?;
            }
            T::LBracket => {
                self.bump();
                self.ty()?;
                if self.eat(&T::Semi).is_some() {
                    self.expr()?;
                }
                self.expect(&T::RBracket, "`]`")?;
            }
            T::Amp => {
                self.bump();
                self.eat(&T::Mut);
                self.ty()?;
            }
            T::Fun | T::Fn => {
                self.bump();
                self.expect(&T::LParen, "`(`")?;
                self.type_list(&T::RParen, "`)`")?;
                if self.eat(&T::Arrow).is_some() {
                    self.ty()?;
                }
            }
            T::Ident(_) => {
                self.bump();
                if self.eat(&T::Lt).is_some() {
                    loop {
                        self.ty()?;
                        if self.eat(&T::Comma).is_none() || self.at_close_angle() {
                            break;
                        }
                    }
                    self.expect_close_angle()?;
                }
            }
            _ => return Err(self.unexpected("type")),
        }
        self.leave();
        let span = Span {
            start: start.start,
            end: self.prev_end.max(start.start),
        };
        Ok(TypeAnn {
            text: self.text(span).to_string(),
            span,
        })
    }

    /// Types separated by commas up to and including `close`.
    fn type_list(&mut self, close: &T, close_desc: &str) -> PResult<()> {
        loop {
            if self.eat(close).is_some() {
                return Ok(());
            }
            self.ty()?;
            if self.eat(&T::Comma).is_none() {
                self.expect(close, &format!("`,` or {close_desc}"))?;
                return Ok(());
            }
        }
    }

    fn at_close_angle(&self) -> bool {
        matches!(self.kind(), T::Gt | T::Shr | T::Ge | T::ShrEq)
    }

    /// Consumes one `>`, splitting `>>` (as in `Vec<Vec<i64>>`), `>=` and `>>=`.
    fn expect_close_angle(&mut self) -> PResult<()> {
        let rest = match self.kind() {
            T::Gt => None,
            T::Shr => Some(T::Gt),
            T::Ge => Some(T::Eq),
            T::ShrEq => Some(T::Ge),
            _ => return Err(self.unexpected("`,` or `>`")),
        };
        match rest {
            None => {
                self.bump();
            }
            Some(rest) => {
                if let Some(tok) = self.toks.get_mut(self.pos) {
                    tok.kind = rest;
                    tok.span.start += 1;
                    tok.nl_before = false;
                    self.prev_end = tok.span.start;
                }
            }
        }
        Ok(())
    }

    /// The type of an `as` cast: a plain name, so that `x as i64 < 5` compares.
    fn cast_ty(&mut self) -> PResult<TypeAnn> {
        match self.kind() {
            T::Ident(name) => {
                let text = name.clone();
                let span = self.bump();
                Ok(TypeAnn { text, span })
            }
            _ => Err(self.unexpected("type")),
        }
    }

    // ----- expressions --------------------------------------------------------------------

    /// A full expression, assignment included.
    #[inline(always)]
    fn expr(&mut self) -> PResult<Expr> {
        self.assign(None)
    }

    /// `target = value`, `target op= value` (right-associative) or a binary expression. `first`,
    /// when given, is an already parsed primary that starts the expression.
    fn assign(&mut self, first: Option<Expr>) -> PResult<Expr> {
        let target = self.binary(0, first)?;
        let Some(op) = assign_op(self.kind()) else {
            return Ok(target);
        };
        self.bump();
        if !matches!(target.kind, ExprKind::Ident(_) | ExprKind::Index { .. }) {
            self.diag("invalid assignment target", target.span);
        }
        self.enter()?;
        let value = self.assign(None)?;
        self.leave();
        Ok(assign_node(target, op, value))
    }

    /// Binary operators binding at least as tightly as `min` (precedence climbing). Ranges do not
    /// chain; `**` is right-associative.
    fn binary(&mut self, min: u8, first: Option<Expr>) -> PResult<Expr> {
        self.enter()?;
        let lhs = self.operand(first)?;
        let result = self.binary_rest(min, lhs)?;
        self.leave();
        Ok(result)
    }

    /// The operator loop of [`Self::binary`], separate so that the nesting of parentheses does
    /// not pay for its stack frame.
    fn binary_rest(&mut self, min: u8, mut lhs: Expr) -> PResult<Expr> {
        let height = self.height;
        let mut after_range = false;
        while let Some((op, prec)) = infix(self.kind()) {
            if prec < min {
                break;
            }
            let is_range = matches!(op, Infix::Range { .. });
            if is_range && after_range {
                let span = self.span();
                self.diag("range operators cannot be chained", span);
                return Err(Fail);
            }
            self.bump();
            let next_min = if prec == PREC_POW { prec } else { prec + 1 };
            let rhs = self.binary(next_min, None)?;
            self.grow()?;
            lhs = infix_node(op, lhs, rhs);
            after_range = is_range;
        }
        self.height = height;
        Ok(lhs)
    }

    /// An operand of a binary operator: a unary expression and its casts, or, given an already
    /// parsed primary, its postfix operators and casts.
    fn operand(&mut self, first: Option<Expr>) -> PResult<Expr> {
        let e = match first {
            Some(e) => self.postfix_rest(e)?,
            None => self.unary()?,
        };
        self.cast_rest(e)
    }

    /// Any number of `as T` casts after a unary expression.
    fn cast_rest(&mut self, mut e: Expr) -> PResult<Expr> {
        let height = self.height;
        while self.eat(&T::As).is_some() {
            let ty = self.cast_ty()?;
            self.grow()?;
            e = Expr {
                span: e.span.to(ty.span),
                kind: ExprKind::Cast {
                    expr: Box::new(e),
                    ty,
                },
            };
        }
        self.height = height;
        Ok(e)
    }

    /// Prefix `-`, `!`, `~`. `-9223372036854775808` folds to `i64::MIN`, the one place that
    /// literal is allowed.
    fn unary(&mut self) -> PResult<Expr> {
        let op = match self.kind() {
            T::Minus => UnOp::Neg,
            T::Bang => UnOp::Not,
            T::Tilde => UnOp::BitNot,
            _ => {
                let e = self.primary()?;
                return self.postfix_rest(e);
            }
        };
        let start = self.bump();
        if op == UnOp::Neg && self.at(&T::Int(I64_MIN_MAGNITUDE)) && !self.postfix_follows(1) {
            let lit = self.bump();
            return Ok(Expr {
                kind: ExprKind::Int(i64::MIN),
                span: start.to(lit),
            });
        }
        self.enter()?;
        let operand = self.unary()?;
        self.leave();
        Ok(unary_node(op, start, operand))
    }

    /// Whether the token `n` ahead continues an operand as a postfix operator.
    fn postfix_follows(&self, n: usize) -> bool {
        let tok = self.nth(n);
        match tok.kind {
            T::Dot => true,
            T::LParen | T::LBracket => !tok.nl_before,
            _ => false,
        }
    }

    /// Calls `f(args)` and indexing `x[i]` (same line only), method calls `x.m(args)` and tuple
    /// fields `t.0` (also on a following line, for chains).
    fn postfix_rest(&mut self, mut e: Expr) -> PResult<Expr> {
        let height = self.height;
        loop {
            let tok = self.tok();
            let same_line = !tok.nl_before;
            e = match tok.kind {
                T::LParen if same_line => self.call(e)?,
                T::LBracket if same_line => self.index(e)?,
                T::Dot => self.member(e)?,
                _ => break,
            };
            self.grow()?;
        }
        self.height = height;
        Ok(e)
    }

    /// `callee(args)`, at the `(`.
    fn call(&mut self, callee: Expr) -> PResult<Expr> {
        let (args, close) = self.args(&T::RParen, "`)`")?;
        Ok(Expr {
            span: callee.span.to(close),
            kind: ExprKind::Call {
                callee: Box::new(callee),
                args,
            },
        })
    }

    /// `base[index]`, at the `[`.
    fn index(&mut self, base: Expr) -> PResult<Expr> {
        self.bump();
        let index = self.expr()?;
        let close = self.expect(&T::RBracket, "`]`")?;
        Ok(Expr {
            span: base.span.to(close),
            kind: ExprKind::Index {
                base: Box::new(base),
                index: Box::new(index),
            },
        })
    }

    /// `.name(args)` or `.0`, at the `.`.
    fn member(&mut self, receiver: Expr) -> PResult<Expr> {
        self.bump();
        match self.kind() {
            T::Ident(name) => {
                let method = Ident {
                    name: name.clone(),
                    span: self.span(),
                };
                self.bump();
                if !self.at(&T::LParen) {
                    return Err(self.unexpected("`(`"));
                }
                let (args, close) = self.args(&T::RParen, "`)`")?;
                Ok(Expr {
                    span: receiver.span.to(close),
                    kind: ExprKind::MethodCall {
                        receiver: Box::new(receiver),
                        method,
                        args,
                    },
                })
            }
            T::Int(n) => {
                let n = *n;
                let span = self.bump();
                let index = u32::try_from(n).unwrap_or_else(|_| {
                    self.diag("tuple index is too large", span);
                    0
                });
                Ok(Expr {
                    span: receiver.span.to(span),
                    kind: ExprKind::TupleField {
                        base: Box::new(receiver),
                        index,
                    },
                })
            }
            _ => Err(self.unexpected("method name or tuple index")),
        }
    }

    /// Comma-separated expressions after the current opening delimiter, up to and including
    /// `close` (trailing comma allowed). Returns them and the closer's span.
    fn args(&mut self, close: &T, close_desc: &str) -> PResult<(Vec<Expr>, Span)> {
        self.bump();
        let mut items = Vec::new();
        let close_span = loop {
            if let Some(span) = self.eat(close) {
                break span;
            }
            items.push(self.expr()?);
            if self.eat(&T::Comma).is_none() {
                break self.expect(close, &format!("`,` or {close_desc}"))?;
            }
        };
        Ok((items, close_span))
    }

    /// A primary expression. Kept to a dispatch so that its stack frame, which every level of
    /// nesting pays for, stays small.
    fn primary(&mut self) -> PResult<Expr> {
        let parse: fn(&mut Self) -> PResult<Expr> = match self.kind() {
            T::LParen => Self::paren,
            T::LBracket => Self::array,
            T::LBrace => Self::block_expr,
            T::If => Self::if_expr,
            T::While => Self::while_expr,
            T::For => Self::for_expr,
            T::Loop => Self::loop_expr,
            T::Match => Self::match_expr,
            T::Break | T::Return => Self::jump,
            T::Pipe | T::PipePipe => Self::lambda,
            _ => Self::atom,
        };
        parse(self)
    }

    /// Literals, identifiers and `continue`.
    fn atom(&mut self) -> PResult<Expr> {
        let span = self.span();
        let kind = match self.kind() {
            T::Int(v) => {
                let v = *v;
                self.bump();
                let v = i64::try_from(v).unwrap_or_else(|_| {
                    self.diag("integer literal is too large", span);
                    0
                });
                ExprKind::Int(v)
            }
            T::Float(v) => {
                let v = *v;
                self.bump();
                ExprKind::Float(v)
            }
            T::Str(s) => {
                let s = s.clone();
                self.bump();
                ExprKind::Str(s)
            }
            T::FStr(pieces) => {
                let pieces = pieces.clone();
                self.bump();
                self.fstring(pieces)?
            }
            T::True | T::False => {
                let b = self.at(&T::True);
                self.bump();
                ExprKind::Bool(b)
            }
            T::Nil => {
                self.bump();
                ExprKind::Nil
            }
            T::Continue => {
                self.bump();
                ExprKind::Continue
            }
            T::Ident(name) if name != "_" => {
                let name = name.clone();
                self.bump();
                ExprKind::Ident(name)
            }
            _ => return Err(self.unexpected("expression")),
        };
        Ok(Expr { kind, span })
    }

    /// `[a, b, c]`
    fn array(&mut self) -> PResult<Expr> {
        let open = self.span();
        let (items, close) = self.args(&T::RBracket, "`]`")?;
        Ok(Expr {
            kind: ExprKind::Array(items),
            span: open.to(close),
        })
    }

    /// `{ stmts }` as an expression.
    fn block_expr(&mut self) -> PResult<Expr> {
        let block = self.block()?;
        Ok(Expr {
            span: block.span,
            kind: ExprKind::Block(block),
        })
    }

    /// `loop block`
    fn loop_expr(&mut self) -> PResult<Expr> {
        let start = self.bump();
        let body = self.block()?;
        Ok(Expr {
            span: start.to(body.span),
            kind: ExprKind::Loop { body },
        })
    }

    /// `()` (unit), `(e)` (grouping: the span widens to the parentheses), `(a,)`, `(a, b)`.
    fn paren(&mut self) -> PResult<Expr> {
        let open = self.bump();
        if let Some(close) = self.eat(&T::RParen) {
            return Ok(Expr {
                kind: ExprKind::Tuple(Vec::new()),
                span: open.to(close),
            });
        }
        let first = self.expr()?;
        if self.at(&T::Comma) {
            return self.tuple_rest(open, first);
        }
        let close = self.expect(&T::RParen, "`)`")?;
        Ok(Expr {
            kind: first.kind,
            span: open.to(close),
        })
    }

    /// The rest of a tuple after its first element, at the `,`.
    fn tuple_rest(&mut self, open: Span, first: Expr) -> PResult<Expr> {
        self.bump();
        let mut items = vec![first];
        let close = loop {
            if let Some(close) = self.eat(&T::RParen) {
                break close;
            }
            items.push(self.expr()?);
            if self.eat(&T::Comma).is_none() {
                break self.expect(&T::RParen, "`,` or `)`")?;
            }
        };
        Ok(Expr {
            kind: ExprKind::Tuple(items),
            span: open.to(close),
        })
    }

    /// Parses each `{expr}` of an f-string with a sub-parser over its source range, so spans are
    /// file offsets and the nesting limit carries over.
    fn fstring(&mut self, pieces: Vec<FStrPiece>) -> PResult<ExprKind> {
        let mut parts = Vec::with_capacity(pieces.len());
        for piece in pieces {
            match piece {
                FStrPiece::Lit(s) => parts.push(FStringPart::Lit(s)),
                FStrPiece::Expr(range) => {
                    let (toks, lex_diags) =
                        lex_range(self.src, range.start as usize, range.end as usize);
                    for d in lex_diags {
                        self.diag(d.message, d.span);
                    }
                    let diags = std::mem::take(&mut self.diags);
                    let mut sub = Parser::new(self.src, toks, diags, "`}`");
                    sub.depth = self.depth;
                    sub.height = self.height;
                    sub.prev_end = range.start;
                    let result = sub.enter().and_then(|()| {
                        let e = sub.expr()?;
                        if sub.at(&T::Eof) {
                            Ok(e)
                        } else {
                            Err(sub.unexpected("`}`"))
                        }
                    });
                    self.diags = sub.diags;
                    self.stop |= sub.stop;
                    parts.push(FStringPart::Expr(result?));
                }
            }
        }
        Ok(ExprKind::FString(parts))
    }

    /// `if cond block [else (if ... | block)]`. `else if` chains are parsed in a loop and folded
    /// from the end, so a long chain does not recurse.
    fn if_expr(&mut self) -> PResult<Expr> {
        let height = self.height;
        let mut links = Vec::new();
        let mut last_else = None;
        loop {
            let start = self.bump();
            let cond = self.expr()?;
            let then = self.block()?;
            links.push((start, cond, then));
            if self.eat(&T::Else).is_none() {
                break;
            }
            if self.at(&T::If) {
                self.grow()?;
                continue;
            }
            let block = self.block()?;
            last_else = Some(Expr {
                span: block.span,
                kind: ExprKind::Block(block),
            });
            break;
        }
        self.height = height;
        let mut acc = last_else;
        while let Some((start, cond, then)) = links.pop() {
            let end = acc.as_ref().map_or(then.span, |e| e.span);
            acc = Some(Expr {
                span: start.to(end),
                kind: ExprKind::If {
                    cond: Box::new(cond),
                    then,
                    else_: acc.map(Box::new),
                },
            });
        }
        acc.ok_or(Fail)
    }

    /// `while cond block`
    fn while_expr(&mut self) -> PResult<Expr> {
        let start = self.bump();
        let cond = self.expr()?;
        let body = self.block()?;
        Ok(Expr {
            span: start.to(body.span),
            kind: ExprKind::While {
                cond: Box::new(cond),
                body,
            },
        })
    }

    /// `for name in iter block`
    fn for_expr(&mut self) -> PResult<Expr> {
        let start = self.bump();
        let var = self.ident("identifier")?;
        self.expect(&T::In, "keyword `in`")?;
        let iter = self.expr()?;
        let body = self.block()?;
        Ok(Expr {
            span: start.to(body.span),
            kind: ExprKind::For {
                var,
                iter: Box::new(iter),
                body,
            },
        })
    }

    /// `break [value]` / `return [value]`: the value must start on the same line.
    fn jump(&mut self) -> PResult<Expr> {
        let is_break = self.at(&T::Break);
        let start = self.bump();
        let tok = self.tok();
        let value = if !tok.nl_before && starts_expr(&tok.kind) {
            Some(Box::new(self.expr()?))
        } else {
            None
        };
        let span = value.as_ref().map_or(start, |v| start.to(v.span));
        let kind = if is_break {
            ExprKind::Break(value)
        } else {
            ExprKind::Return(value)
        };
        Ok(Expr { kind, span })
    }

    /// `|a, b: T| body` or `|| body`.
    fn lambda(&mut self) -> PResult<Expr> {
        let start = self.span();
        let params = if self.eat(&T::PipePipe).is_some() {
            Vec::new()
        } else {
            self.bump();
            self.params(&T::Pipe, "`|`", false)?
        };
        let body = self.expr()?;
        Ok(Expr {
            span: start.to(body.span),
            kind: ExprKind::Lambda {
                params,
                body: Box::new(body),
            },
        })
    }

    /// `match scrutinee { pattern [if guard] => body, ... }`. Arms are separated by commas, which
    /// may be left out after a block body or at the end of a line.
    fn match_expr(&mut self) -> PResult<Expr> {
        let start = self.bump();
        self.enter()?;
        let scrutinee = self.expr()?;
        self.expect(&T::LBrace, "`{`")?;
        let mut arms = Vec::new();
        let close = loop {
            if let Some(close) = self.eat(&T::RBrace) {
                break close;
            }
            let pattern = self.pattern()?;
            let guard = match self.eat(&T::If) {
                Some(_) => Some(self.expr()?),
                None => None,
            };
            self.expect(&T::FatArrow, "`=>`")?;
            let (body, block_like) = self.expr_or_block_like()?;
            arms.push(MatchArm {
                span: pattern.span.to(body.span),
                pattern,
                guard,
                body,
            });
            if self.eat(&T::Comma).is_some() || self.at(&T::RBrace) {
                continue;
            }
            if block_like || self.tok().nl_before {
                continue;
            }
            return Err(self.unexpected("`,` or `}`"));
        };
        self.leave();
        Ok(Expr {
            span: start.to(close),
            kind: ExprKind::Match {
                scrutinee: Box::new(scrutinee),
                arms,
            },
        })
    }

    // ----- patterns -----------------------------------------------------------------------

    /// `p` or `p | q | ...`
    fn pattern(&mut self) -> PResult<Pattern> {
        let first = self.single_pattern()?;
        if !self.at(&T::Pipe) {
            return Ok(first);
        }
        let mut span = first.span;
        let mut alts = vec![first];
        while self.eat(&T::Pipe).is_some() {
            let alt = self.single_pattern()?;
            span = span.to(alt.span);
            alts.push(alt);
        }
        Ok(Pattern {
            kind: PatternKind::Or(alts),
            span,
        })
    }

    /// `_`, a binding, a literal, or a numeric range `lo..hi` / `lo..=hi`.
    fn single_pattern(&mut self) -> PResult<Pattern> {
        if let T::Ident(name) = self.kind() {
            let name = name.clone();
            let span = self.bump();
            let kind = if name == "_" {
                PatternKind::Wildcard
            } else {
                PatternKind::Binding(Ident { name, span })
            };
            return Ok(Pattern { kind, span });
        }
        let (lo, lo_span) = self.pattern_lit()?;
        let inclusive = match self.kind() {
            T::DotDot => false,
            T::DotDotEq => true,
            _ => {
                return Ok(Pattern {
                    kind: PatternKind::Lit(lo),
                    span: lo_span,
                })
            }
        };
        self.bump();
        let (hi, hi_span) = self.pattern_lit()?;
        let span = lo_span.to(hi_span);
        let numeric = |l: &PatLit| matches!(l, PatLit::Int(_) | PatLit::Float(_));
        if !numeric(&lo) || !numeric(&hi) {
            self.diag("range patterns must use numeric literals", span);
        }
        Ok(Pattern {
            kind: PatternKind::Range { lo, hi, inclusive },
            span,
        })
    }

    /// A literal pattern; numbers may carry a leading `-`.
    fn pattern_lit(&mut self) -> PResult<(PatLit, Span)> {
        let start = self.span();
        let negative = self.eat(&T::Minus).is_some();
        let lit = match self.kind() {
            T::Int(v) => {
                let v = *v;
                let span = self.bump();
                if negative && v == I64_MIN_MAGNITUDE {
                    PatLit::Int(i64::MIN)
                } else {
                    let v = i64::try_from(v).unwrap_or_else(|_| {
                        self.diag("integer literal is too large", span);
                        0
                    });
                    PatLit::Int(if negative { -v } else { v })
                }
            }
            T::Float(v) => {
                let v = *v;
                self.bump();
                PatLit::Float(if negative { -v } else { v })
            }
            T::Str(s) if !negative => {
                let s = s.clone();
                self.bump();
                PatLit::Str(s)
            }
            T::True if !negative => {
                self.bump();
                PatLit::Bool(true)
            }
            T::False if !negative => {
                self.bump();
                PatLit::Bool(false)
            }
            T::Nil if !negative => {
                self.bump();
                PatLit::Nil
            }
            _ if negative => return Err(self.unexpected("number")),
            _ => return Err(self.unexpected("pattern")),
        };
        let span = Span {
            start: start.start,
            end: self.prev_end,
        };
        Ok((lit, span))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(src: &str) -> SourceFile {
        SourceFile::new("test.ruchy", src)
    }

    fn parse_ok(src: &str) -> Program {
        let f = file(src);
        match parse(&f) {
            Ok(p) => p,
            Err(diags) => panic!(
                "unexpected diagnostics for {src:?}:\n{}",
                crate::source::render_all(&f, &diags)
            ),
        }
    }

    /// Messages with `line:col`, for asserting on errors.
    fn parse_err(src: &str) -> Vec<String> {
        let f = file(src);
        match parse(&f) {
            Ok(p) => panic!("expected diagnostics for {src:?}, got {p:?}"),
            Err(diags) => diags
                .iter()
                .map(|d| {
                    let (line, col) = f.line_col(d.span.start);
                    format!("{line}:{col}: {}", d.message)
                })
                .collect(),
        }
    }

    /// An S-expression rendering that makes the tree's shape easy to assert on.
    fn sx(e: &Expr) -> String {
        let list = |es: &[Expr]| es.iter().map(sx).collect::<Vec<_>>().join(" ");
        match &e.kind {
            ExprKind::Int(v) => v.to_string(),
            ExprKind::Float(v) => format!("{v:?}"),
            ExprKind::Str(s) => format!("{s:?}"),
            ExprKind::Bool(b) => b.to_string(),
            ExprKind::Nil => "nil".into(),
            ExprKind::Ident(n) => n.clone(),
            ExprKind::FString(parts) => {
                let parts: Vec<String> = parts
                    .iter()
                    .map(|p| match p {
                        FStringPart::Lit(s) => format!("{s:?}"),
                        FStringPart::Expr(e) => sx(e),
                    })
                    .collect();
                format!("(f {})", parts.join(" "))
            }
            ExprKind::Array(items) => format!("[{}]", list(items)),
            ExprKind::Tuple(items) => format!("(tuple {})", list(items)),
            ExprKind::Unary(op, a) => format!("({op:?} {})", sx(a)),
            ExprKind::Binary(op, a, b) => format!("({op:?} {} {})", sx(a), sx(b)),
            ExprKind::Assign { target, op, value } => match op {
                Some(op) => format!("({op:?}= {} {})", sx(target), sx(value)),
                None => format!("(= {} {})", sx(target), sx(value)),
            },
            ExprKind::Call { callee, args } => format!("(call {} {})", sx(callee), list(args)),
            ExprKind::MethodCall {
                receiver,
                method,
                args,
            } => format!("(.{} {} {})", method.name, sx(receiver), list(args)),
            ExprKind::Index { base, index } => format!("(index {} {})", sx(base), sx(index)),
            ExprKind::TupleField { base, index } => format!("(.{index} {})", sx(base)),
            ExprKind::Cast { expr, ty } => format!("(as {} {})", sx(expr), ty.text),
            ExprKind::If { cond, then, else_ } => match else_ {
                Some(e) => format!("(if {} {} {})", sx(cond), block(then), sx(e)),
                None => format!("(if {} {})", sx(cond), block(then)),
            },
            ExprKind::While { cond, body } => format!("(while {} {})", sx(cond), block(body)),
            ExprKind::For { var, iter, body } => {
                format!("(for {} {} {})", var.name, sx(iter), block(body))
            }
            ExprKind::Loop { body } => format!("(loop {})", block(body)),
            ExprKind::Break(v) => match v {
                Some(v) => format!("(break {})", sx(v)),
                None => "(break)".into(),
            },
            ExprKind::Continue => "(continue)".into(),
            ExprKind::Return(v) => match v {
                Some(v) => format!("(return {})", sx(v)),
                None => "(return)".into(),
            },
            ExprKind::Match { scrutinee, arms } => {
                let arms: Vec<String> = arms
                    .iter()
                    .map(|a| match &a.guard {
                        Some(g) => {
                            format!("({} if {} => {})", pat(&a.pattern), sx(g), sx(&a.body))
                        }
                        None => format!("({} => {})", pat(&a.pattern), sx(&a.body)),
                    })
                    .collect();
                format!("(match {} {})", sx(scrutinee), arms.join(" "))
            }
            ExprKind::Block(b) => block(b),
            ExprKind::Lambda { params, body } => {
                let names: Vec<&str> = params.iter().map(|p| p.name.name.as_str()).collect();
                format!("(lambda ({}) {})", names.join(" "), sx(body))
            }
            ExprKind::Range {
                start,
                end,
                inclusive,
            } => format!(
                "({} {} {})",
                if *inclusive { "..=" } else { ".." },
                sx(start),
                sx(end)
            ),
        }
    }

    fn pat(p: &Pattern) -> String {
        match &p.kind {
            PatternKind::Wildcard => "_".into(),
            PatternKind::Binding(id) => id.name.clone(),
            PatternKind::Lit(l) => format!("{l:?}"),
            PatternKind::Range { lo, hi, inclusive } => {
                format!("{lo:?}{}{hi:?}", if *inclusive { "..=" } else { ".." })
            }
            PatternKind::Or(alts) => alts.iter().map(pat).collect::<Vec<_>>().join("|"),
        }
    }

    fn stmt_sx(s: &Stmt) -> String {
        match &s.kind {
            StmtKind::Let {
                name,
                mutable,
                ty,
                init,
            } => format!(
                "(let{} {}{} {})",
                if *mutable { " mut" } else { "" },
                name.name,
                ty.as_ref()
                    .map(|t| format!(": {}", t.text))
                    .unwrap_or_default(),
                sx(init)
            ),
            StmtKind::Fun(f) => format!("(fun {} {})", f.name.name, block(&f.body)),
            StmtKind::Expr { expr, semi } => {
                format!("{}{}", sx(expr), if *semi { ";" } else { "" })
            }
        }
    }

    fn block(b: &Block) -> String {
        let stmts: Vec<String> = b.stmts.iter().map(stmt_sx).collect();
        format!("{{{}}}", stmts.join(" "))
    }

    /// The S-expressions of a program's statements.
    fn stmts(src: &str) -> Vec<String> {
        parse_ok(src).stmts.iter().map(stmt_sx).collect()
    }

    /// The S-expression of a single-expression program.
    fn expr(src: &str) -> String {
        let s = stmts(src);
        assert_eq!(s.len(), 1, "expected one statement in {src:?}: {s:?}");
        s[0].clone()
    }

    fn first_expr(p: &Program) -> &Expr {
        match &p.stmts[0].kind {
            StmtKind::Expr { expr, .. } => expr,
            StmtKind::Let { init, .. } => init,
            StmtKind::Fun(_) => panic!("not an expression statement"),
        }
    }

    fn corpus(dir: &str) {
        let mut count = 0;
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir}: {e}"));
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("ruchy") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable");
            let f = SourceFile::new(path.display().to_string(), text);
            if let Err(diags) = parse(&f) {
                panic!("{}", crate::source::render_all(&f, &diags));
            }
            count += 1;
        }
        assert!(count > 0, "no .ruchy files in {dir}");
    }

    #[test]
    fn conformance_files_parse() {
        corpus(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/conformance"
        ));
    }

    #[test]
    fn bench_files_parse() {
        corpus(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/bench"));
    }

    #[test]
    fn precedence() {
        assert_eq!(expr("1 + 2 * 3"), "(Add 1 (Mul 2 3))");
        assert_eq!(expr("10 - 4 - 3"), "(Sub (Sub 10 4) 3)");
        assert_eq!(expr("2 ** 3 ** 2"), "(Pow 2 (Pow 3 2))");
        assert_eq!(expr("-2 ** 2"), "(Pow (Neg 2) 2)");
        assert_eq!(expr("2 ** 3 * 4"), "(Mul (Pow 2 3) 4)");
        assert_eq!(expr("a || b && c"), "(Or a (And b c))");
        assert_eq!(expr("x as f64 * 2.0"), "(Mul (as x f64) 2.0)");
        assert_eq!(expr("-x as f64"), "(as (Neg x) f64)");
        assert_eq!(expr("a ** b as f64"), "(Pow a (as b f64))");
        assert_eq!(expr("x as i64 < 5"), "(Lt (as x i64) 5)");
        assert_eq!(
            expr("lo * 2..lo * 2 + 3"),
            "(.. (Mul lo 2) (Add (Mul lo 2) 3))"
        );
        assert_eq!(expr("1..=n"), "(..= 1 n)");
        assert_eq!(expr("1 << 4 + 1"), "(Shl 1 (Add 4 1))");
        assert_eq!(
            expr("a | b ^ c & d == e"),
            "(BitOr a (BitXor b (BitAnd c (Eq d e))))"
        );
        assert_eq!(expr("1 < 2 && 2 < 3"), "(And (Lt 1 2) (Lt 2 3))");
        assert_eq!(expr("!a == b"), "(Eq (Not a) b)");
        assert_eq!(expr("~x"), "(BitNot x)");
        assert_eq!(expr("-f(x)[1].m(2)"), "(Neg (.m (index (call f x) 1) 2))");
        assert_eq!(expr("7 - -3"), "(Sub 7 (Neg 3))");
        assert_eq!(expr("a = b = c"), "(= a (= b c))");
        assert_eq!(expr("x += 1 + 2"), "(Add= x (Add 1 2))");
        assert_eq!(expr("xs[i] = v"), "(= (index xs i) v)");
        assert_eq!(expr("t.0.1"), "(.1 (.0 t))");
        assert_eq!(expr("1.max(2)"), "(.max 1 2)");
        assert_eq!(expr("(7).to_string()"), "(.to_string 7 )");
    }

    #[test]
    fn ranges_do_not_chain() {
        assert_eq!(
            parse_err("a..b..c"),
            vec!["1:5: range operators cannot be chained"]
        );
        assert_eq!(expr("0..n == r"), "(Eq (.. 0 n) r)");
    }

    #[test]
    fn primaries() {
        assert_eq!(expr("()"), "(tuple )");
        assert_eq!(expr("(1,)"), "(tuple 1)");
        assert_eq!(expr("(1, \"two\", 3.0)"), "(tuple 1 \"two\" 3.0)");
        assert_eq!(expr("[1, 2, 3,]"), "[1 2 3]");
        assert_eq!(expr("[]"), "[]");
        assert_eq!(expr("nil"), "nil");
        assert_eq!(expr("|a, b| a * b"), "(lambda (a b) (Mul a b))");
        assert_eq!(expr("|| 1"), "(lambda () 1)");
        assert_eq!(expr("|x: i64| { x }"), "(lambda (x) {x})");
        assert_eq!(
            expr("xs.map(|x| x * x)"),
            "(.map xs (lambda (x) (Mul x x)))"
        );
        assert_eq!(
            expr("if a { 1 } else if b { 2 } else { 3 }"),
            "(if a {1} (if b {2} {3}))"
        );
        assert_eq!(expr("loop { break i * 2 }"), "(loop {(break (Mul i 2))})");
        assert_eq!(expr("for _ in 0..3 { }"), "(for _ (.. 0 3) {})");
    }

    #[test]
    fn i64_min_literal() {
        assert_eq!(expr("-9223372036854775808"), "-9223372036854775808");
        assert_eq!(expr("9223372036854775807"), "9223372036854775807");
        assert_eq!(
            parse_err("let x = 9223372036854775808"),
            vec!["1:9: integer literal is too large"]
        );
        assert_eq!(
            parse_err("x - 9223372036854775808"),
            vec!["1:5: integer literal is too large"]
        );
        assert_eq!(
            parse_err("-9223372036854775808.abs()"),
            vec!["1:2: integer literal is too large"]
        );
        assert_eq!(
            expr("match x { -9223372036854775808 => 1, _ => 2 }"),
            "(match x (Int(-9223372036854775808) => 1) (_ => 2))"
        );
    }

    #[test]
    fn statements() {
        assert_eq!(
            stmts("let mut x: i64 = 1; x += 2;\nx"),
            vec!["(let mut x: i64 1)", "(Add= x 2);", "x"]
        );
        let p = parse_ok("fun f(a, b: i64 = 2,) -> Vec<Vec<i64>> { a }\nfn g() -> () {}");
        let StmtKind::Fun(f) = &p.stmts[0].kind else {
            panic!("not a function")
        };
        assert_eq!(f.params.len(), 2);
        assert_eq!(
            f.params[1].ty.as_ref().map(|t| t.text.as_str()),
            Some("i64")
        );
        assert!(f.params[1].default.is_some());
        assert_eq!(
            f.ret.as_ref().map(|t| t.text.as_str()),
            Some("Vec<Vec<i64>>")
        );
        let StmtKind::Fun(g) = &p.stmts[1].kind else {
            panic!("not a function")
        };
        assert_eq!(g.ret.as_ref().map(|t| t.text.as_str()), Some("()"));
        let p = parse_ok("fun h(xs: [i64], s: &str, t: (i64, f64)) {}");
        let StmtKind::Fun(h) = &p.stmts[0].kind else {
            panic!("not a function")
        };
        let tys: Vec<&str> = h
            .params
            .iter()
            .filter_map(|p| p.ty.as_ref().map(|t| t.text.as_str()))
            .collect();
        assert_eq!(tys, vec!["[i64]", "&str", "(i64, f64)"]);
        // Nested functions, and a block's last expression without `;`.
        assert_eq!(
            stmts("fun main() {\n fun helper(n) { n * 2 }\n helper(1);\n 2\n}"),
            vec!["(fun main {(fun helper {(Mul n 2)}) (call helper 1); 2})"]
        );
    }

    #[test]
    fn spans_cover_source_text() {
        let src = "let v = (1 + 2) * f(3)\nfun sq(x: i64) -> i64 { x * x }";
        let p = parse_ok(src);
        let text = |s: Span| &src[s.start as usize..s.end as usize];
        assert_eq!(text(p.stmts[0].span), "let v = (1 + 2) * f(3)");
        let e = first_expr(&p);
        assert_eq!(text(e.span), "(1 + 2) * f(3)");
        let ExprKind::Binary(_, l, r) = &e.kind else {
            panic!("not binary")
        };
        assert_eq!(text(l.span), "(1 + 2)");
        assert_eq!(text(r.span), "f(3)");
        let StmtKind::Fun(f) = &p.stmts[1].kind else {
            panic!("not a function")
        };
        assert_eq!(text(f.span), "fun sq(x: i64) -> i64 { x * x }");
        assert_eq!(text(f.params[0].span), "x: i64");
        assert_eq!(text(f.body.span), "{ x * x }");
        let src = "match n {\n  0 | 1 => \"a\",\n  2..=5 if n > 3 => b,\n}; x";
        let text = |s: Span| &src[s.start as usize..s.end as usize];
        let p = parse_ok(src);
        assert_eq!(text(p.stmts[0].span), &src[..src.len() - 2]);
        let ExprKind::Match { arms, .. } = &first_expr(&p).kind else {
            panic!("not a match")
        };
        assert_eq!(text(arms[0].span), "0 | 1 => \"a\"");
        assert_eq!(text(arms[1].pattern.span), "2..=5");
    }

    #[test]
    fn match_arms() {
        assert_eq!(
            expr("match n { 0 => \"zero\", 1 | 2 => \"few\", 3..=9 => \"some\", -5..0 => \"neg\", x if x > 100 => \"big\", _ => \"many\" }"),
            "(match n (Int(0) => \"zero\") (Int(1)|Int(2) => \"few\") (Int(3)..=Int(9) => \"some\") (Int(-5)..Int(0) => \"neg\") (x if (Gt x 100) => \"big\") (_ => \"many\"))"
        );
        // Block bodies need no comma; neither do arms ending a line.
        assert_eq!(
            expr("match s {\n \"a\" => { 1 }\n true => 2\n nil => 3.5,\n}"),
            "(match s (Str(\"a\") => {1}) (Bool(true) => 2) (Nil => 3.5))"
        );
        assert_eq!(
            parse_err("match x { 1 => 2 3 => 4 }"),
            vec!["1:18: expected `,` or `}`, found `3`"]
        );
        assert_eq!(
            parse_err("match x { \"a\"..\"b\" => 1 }"),
            vec!["1:11: range patterns must use numeric literals"]
        );
    }

    #[test]
    fn fstrings() {
        let src = "println(f\"x={x} {a + 1}{{lit}}\")";
        let p = parse_ok(src);
        let ExprKind::Call { args, .. } = &first_expr(&p).kind else {
            panic!("not a call")
        };
        assert_eq!(sx(&args[0]), "(f \"x=\" x \" \" (Add a 1) \"{lit}\")");
        let ExprKind::FString(parts) = &args[0].kind else {
            panic!("not an f-string")
        };
        let FStringPart::Expr(e) = &parts[3] else {
            panic!("not an expression part")
        };
        assert_eq!(&src[e.span.start as usize..e.span.end as usize], "a + 1");
        assert_eq!(expr("f\"\""), "(f )");
        assert_eq!(
            expr("f\"{xs.map(|x| { x })}\""),
            "(f (.map xs (lambda (x) {x})))"
        );
        assert_eq!(expr("\"{name}\""), "\"{name}\"");
        // Errors inside the braces point into the string.
        assert_eq!(
            parse_err("let s = f\"a{1 +}b\""),
            vec!["1:16: expected expression, found `}`"]
        );
        assert_eq!(
            parse_err("f\"{a b}\""),
            vec!["1:6: expected `}`, found `b`"]
        );
        assert_eq!(
            parse_err("f\"{a $}\""),
            vec!["1:6: unexpected character `$`"]
        );
    }

    #[test]
    fn newline_rules() {
        assert_eq!(
            stmts("println(x)\n(1 + 2)"),
            vec!["(call println x)", "(Add 1 2)"]
        );
        assert_eq!(stmts("xs\n[0]"), vec!["xs", "[0]"]);
        assert_eq!(stmts("a\n+ b"), vec!["(Add a b)"]);
        assert_eq!(
            stmts("xs\n  .map(f)\n  .sum()"),
            vec!["(.sum (.map xs f) )"]
        );
        assert_eq!(
            stmts("if c { 1 } else { 2 }\n-1"),
            vec!["(if c {1} {2})", "(Neg 1)"]
        );
        assert_eq!(
            stmts("if a { 1 } else { 2 } + 1"),
            vec!["(Add (if a {1} {2}) 1)"]
        );
        assert_eq!(stmts("{ 1 }\n(2)"), vec!["{1}", "2"]);
        assert_eq!(stmts("{ 1 } (2)"), vec!["{1}", "2"]);
        assert_eq!(
            stmts("while i < 3 { i += 1 } println(i)"),
            vec!["(while (Lt i 3) {(Add= i 1)})", "(call println i)"]
        );
        assert_eq!(
            stmts("let n = 1 + if c { 5 } else { 6 }\nn"),
            vec!["(let n (Add 1 (if c {5} {6})))", "n"]
        );
        assert_eq!(
            stmts("let m = (if 3 > 2 { 10 } else { 20 }) + 1"),
            vec!["(let m (Add (if (Gt 3 2) {10} {20}) 1))"]
        );
        assert_eq!(
            stmts("if a {\n 1\n}\nelse {\n 2\n}"),
            vec!["(if a {1} {2})"]
        );
        assert_eq!(
            stmts("let a = 5; let b = 6; a + b;"),
            vec!["(let a 5)", "(let b 6)", "(Add a b);"]
        );
        assert_eq!(
            parse_err("println(1) println(2)"),
            vec!["1:12: expected `;` or newline, found `println`"]
        );
    }

    #[test]
    fn break_and_return_values() {
        assert_eq!(stmts("loop {\n break\n x\n}"), vec!["(loop {(break) x})"]);
        assert_eq!(stmts("loop { break }"), vec!["(loop {(break)})"]);
        assert_eq!(stmts("loop { break 5 }"), vec!["(loop {(break 5)})"]);
        assert_eq!(
            stmts("fun f() { if n <= 1 { return 1 }\n return\n}"),
            vec!["(fun f {(if (Le n 1) {(return 1)}) (return)})"]
        );
        assert_eq!(
            expr("match x { 0 => break, _ => continue }"),
            "(match x (Int(0) => (break)) (_ => (continue)))"
        );
    }

    #[test]
    fn assignment_targets() {
        assert_eq!(parse_err("1 = 2"), vec!["1:1: invalid assignment target"]);
        assert_eq!(
            parse_err("f(x) += 2"),
            vec!["1:1: invalid assignment target"]
        );
        assert_eq!(
            parse_err("a + b = 2"),
            vec!["1:1: invalid assignment target"]
        );
    }

    #[test]
    fn recovers_and_reports_several_errors() {
        let src = "let a = 1\nlet = 5\nprintln(a)\nfoo(1, 2 +* 3)\nprintln(a)\n";
        assert_eq!(
            parse_err(src),
            vec![
                "2:5: expected identifier, found `=`",
                "4:11: expected expression, found `*`"
            ]
        );
        // Errors inside nested blocks recover inside the block.
        let src = "fun f() {\n    let x = )\n    g(x)\n}\nfun g(x) {\n    x +\n}\nprintln(f())\n";
        assert_eq!(
            parse_err(src),
            vec![
                "2:13: expected expression, found `)`",
                "7:1: expected expression, found `}`"
            ]
        );
        // A multi-line call with an error resumes after its closing parenthesis.
        let src = "foo(1,\n  2 +,\n  3)\nlet = 1\n";
        assert_eq!(
            parse_err(src),
            vec![
                "2:6: expected expression, found `,`",
                "4:5: expected identifier, found `=`"
            ]
        );
        // Lexical and syntax errors together, in source order.
        let src = "let s = \"a\\qb\"\nlet x = 5 $ 3\nlet = 2\n";
        assert_eq!(
            parse_err(src),
            vec![
                "1:11: unknown character escape `\\q`",
                "2:11: unexpected character `$`",
                "3:5: expected identifier, found `=`"
            ]
        );
    }

    #[test]
    fn diagnostics_are_capped() {
        let src = "let = 1\n".repeat(200);
        assert_eq!(parse_err(&src).len(), MAX_DIAGS);
        let src = "$".repeat(500);
        assert_eq!(parse_err(&src).len(), MAX_DIAGS);
    }

    #[test]
    fn malformed_inputs_give_diagnostics() {
        let cases: &[(&str, &str)] = &[
            ("let s = \"abc", "1:9: unterminated string literal"),
            ("/* never closed", "1:1: unterminated block comment"),
            ("}", "1:1: unexpected closing delimiter `}`"),
            ("let = 5", "1:5: expected identifier, found `=`"),
            ("fun f( {", "1:8: expected parameter name, found `{`"),
            ("fun f() {", "1:10: expected `}`, found end of file"),
            ("if x { 1 } else", "1:16: expected `{`, found end of file"),
            ("(1, 2", "1:6: expected `,` or `)`, found end of file"),
            ("[1 2]", "1:4: expected `,` or `]`, found `2`"),
            (
                "x.",
                "1:3: expected method name or tuple index, found end of file",
            ),
            ("x.len", "1:6: expected `(`, found end of file"),
            ("let x = _", "1:9: expected expression, found `_`"),
            ("for (a, b) in xs {}", "1:5: expected identifier, found `(`"),
            (
                "let fun = 1",
                "1:5: expected identifier, found keyword `fun`",
            ),
            ("t.99999999999", "1:3: tuple index is too large"),
            ("x as 5", "1:6: expected type, found `5`"),
        ];
        for (src, want) in cases {
            let got = parse_err(src);
            assert_eq!(
                got.first().map(String::as_str),
                Some(*want),
                "for {src:?}: {got:?}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_a_diagnostic() {
        let n = 10_000;
        let cases = [
            format!("{}1{}", "(".repeat(n), ")".repeat(n)),
            "(".repeat(n),
            format!("{}1{}", "[".repeat(n), "]".repeat(n)),
            format!("{}{}", "{".repeat(n), "}".repeat(n)),
            format!("{}x", "-".repeat(n)),
            format!("{}x", "!".repeat(n)),
            format!("x{}", " ** x".repeat(n)),
            format!("x{}", " = x".repeat(n)),
            format!("{}x", "|a| ".repeat(n)),
            format!("{}x", "return ".repeat(n)),
            format!("{}1{}", "if a { ".repeat(n), " }".repeat(n)),
            format!("if a {{ 1 }}{}", " else if b { 2 }".repeat(n)),
            format!("x{}", " + x".repeat(n)),
            format!("f{}", "()".repeat(n)),
            format!("x{}", ".m()".repeat(n)),
            format!("x{}", " as i64".repeat(n)),
            format!("let x: {}i64{} = 1", "Vec<".repeat(n), ">".repeat(n)),
            format!("f\"{{{}1{}}}\"", "(".repeat(n), ")".repeat(n)),
        ];
        for src in &cases {
            let got = parse_err(src);
            assert!(
                got.iter()
                    .any(|m| m.ends_with("expression nested too deeply")),
                "for {}...: {got:?}",
                &src[..20.min(src.len())]
            );
            assert!(got.len() <= 3, "cascading diagnostics: {got:?}");
        }
    }

    #[test]
    fn nesting_below_the_limit_fits_a_small_stack() {
        // Just under the limit, in a thread with the default 2 MB test stack.
        let depth = MAX_DEPTH as usize - 2;
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let srcs = [
                    format!("{}1{}", "(".repeat(depth), ")".repeat(depth)),
                    format!("{}1{}", "[".repeat(depth), "]".repeat(depth)),
                    format!("{}{}", "{".repeat(depth / 2), "}".repeat(depth / 2)),
                    format!("{}x", "-".repeat(depth)),
                    format!("x{}", " ** x".repeat(depth)),
                    format!("{}x", "|a| ".repeat(depth)),
                ];
                for src in srcs {
                    let f = SourceFile::new("deep.ruchy", src);
                    assert!(parse(&f).is_ok(), "{:?}", parse(&f).err());
                }
                let long = format!("x{}", " + x".repeat(MAX_HEIGHT as usize - 10));
                assert!(parse(&SourceFile::new("long.ruchy", long)).is_ok());
            })
            .expect("spawn");
        handle.join().expect("no stack overflow");
    }

    /// A fixed-seed linear congruential generator: deterministic "random" inputs without a
    /// dependency.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_inputs_never_panic() {
        const PIECES: &[&str] = &[
            "let ",
            "mut ",
            "fun ",
            "fn ",
            "if ",
            "else ",
            "while ",
            "for ",
            " in ",
            "loop ",
            "break ",
            "continue ",
            "return ",
            "match ",
            "true",
            "false",
            "nil",
            " as ",
            "x",
            "y",
            "_",
            "0",
            "1",
            "9223372036854775808",
            "1.5",
            "1e",
            "0x",
            "\"s\"",
            "\"",
            "f\"{",
            "}\"",
            "{",
            "}",
            "(",
            ")",
            "[",
            "]",
            ",",
            ";",
            ":",
            ".",
            "..",
            "..=",
            "->",
            "=>",
            "+",
            "-",
            "*",
            "**",
            "/",
            "%",
            "^",
            "&",
            "&&",
            "|",
            "||",
            "!",
            "~",
            "=",
            "==",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            "<<",
            ">>",
            "+=",
            "\n",
            " ",
            "#",
            "//",
            "/*",
            "*/",
            "\\",
            "$",
            "é",
            "\t",
        ];
        let mut rng = Lcg(0x5eed_1234_abcd_0001);
        for _ in 0..400 {
            // Token soup.
            let len = rng.below(60);
            let src: String = (0..len).map(|_| PIECES[rng.below(PIECES.len())]).collect();
            let _ = parse(&SourceFile::new("fuzz.ruchy", src));
            // Raw bytes, made valid UTF-8.
            let len = rng.below(80);
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let src = String::from_utf8_lossy(&bytes).into_owned();
            let _ = parse(&SourceFile::new("fuzz.ruchy", src));
        }
        // Mutations of a real program: truncations and single-byte deletions.
        let program = "fun f(a, b = 1) -> i64 {\n  let mut s = f\"{a + b}\"\n  match a { 0 | 1 => s, 2..=9 if b > 0 => { s }, _ => \"x\" }\n}\nfor i in 0..10 { xs[i] += f(i).max(2) as i64 ** 2 }\n";
        for cut in 0..program.len() {
            if program.is_char_boundary(cut) {
                let _ = parse(&SourceFile::new("cut.ruchy", &program[..cut]));
                let mut s = program.to_string();
                s.remove(cut.min(s.len() - 1));
                let _ = parse(&SourceFile::new("del.ruchy", s));
            }
        }
    }
}

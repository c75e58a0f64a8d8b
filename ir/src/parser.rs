//! Parser for the text form written by [`crate::printer`].
//!
//! Value and block numbers are kept exactly (`%v7` is `Value` 7; numbers the text skips become
//! unused values of type `any` and empty blocks outside the layout), so printing a parsed text
//! gives the same text back. Functions and globals may be used before their definition. The
//! parser checks syntax and name resolution only; everything semantic (types, SSA dominance,
//! terminators) is the verifier's job, and [`SourceMap`] lets it report errors at `line:col` of
//! the text.
//!
//! Malformed text never panics: it gives a [`ParseError`] at the first problem.

use crate::entities::{Block, FuncId, GlobalId, Inst, Value};
use crate::function::{BlockData, Function, Level, ValueData, ValueDef};
use crate::instructions::{BlockCall, Const, Imm, InstData};
use crate::loc::SrcLoc;
use crate::module::Module;
use crate::opcode::{Builtin, CmpPred, ImmKind, Opcode};
use crate::types::{ElemType, Type};
use cranelift_entity::EntityRef;
use smallvec::SmallVec;
use std::collections::{HashMap, HashSet};
use std::fmt;

/// A syntax or name-resolution error, at a 1-based line and column (in characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for ParseError {}

/// A 1-based `(line, col)` position in the text.
pub type TextPos = (u32, u32);

/// Where each function, block and instruction of a parsed module was written, so diagnostics
/// about the IR (verifier errors) can point at the text.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    /// Position of the `func` keyword.
    pub func_pos: HashMap<FuncId, TextPos>,
    /// Position of the block label `^bbN`.
    pub block_pos: HashMap<(FuncId, Block), TextPos>,
    /// Position of the first token of the instruction (its result or its op name).
    pub inst_pos: HashMap<(FuncId, Inst), TextPos>,
}

impl SourceMap {
    pub fn func(&self, f: FuncId) -> Option<TextPos> {
        self.func_pos.get(&f).copied()
    }

    pub fn block(&self, f: FuncId, b: Block) -> Option<TextPos> {
        self.block_pos.get(&(f, b)).copied()
    }

    pub fn inst(&self, f: FuncId, i: Inst) -> Option<TextPos> {
        self.inst_pos.get(&(f, i)).copied()
    }
}

/// Parses a module. The `module "<source>"` line is optional (the source then is `""`).
pub fn parse_module(text: &str) -> Result<(Module, SourceMap), ParseError> {
    let toks = lex(text);
    // Entity numbers fill gaps with placeholders; bound them so a tiny text cannot ask for
    // billions of values.
    let budget = (1usize << 20).max(text.len().saturating_mul(16));
    let mut p = Parser {
        toks,
        pos: 0,
        module: Module::new(""),
        map: SourceMap::default(),
        budget,
        func_decl: HashMap::new(),
        defined_funcs: HashSet::new(),
        defined_globals: HashSet::new(),
        global_ids: HashMap::new(),
    };
    p.prescan();
    p.parse_top()?;
    Ok((p.module, p.map))
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// Keywords, op names, types, predicates, builtins: `[A-Za-z_][A-Za-z0-9_.$]*`.
    Word(String),
    /// A numeric literal as written, with its sign (`-7`, `1e-7`, `-inf`, `0x7ff8...`).
    Num(String),
    /// A string literal, unescaped.
    Str(String),
    Value(u32),
    Block(u32),
    /// `@name` or `@"name"`, without the `@`.
    Sym(String),
    Punct(char),
    Arrow,
    Eof,
    /// A lexical error; always the last token.
    Error(String),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: u32,
    col: u32,
}

impl Token {
    fn pos(&self) -> TextPos {
        (self.line, self.col)
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("`{w}`"),
        Tok::Num(n) => format!("number `{n}`"),
        Tok::Str(_) => "a string".to_string(),
        Tok::Value(n) => format!("`%v{n}`"),
        Tok::Block(n) => format!("`^bb{n}`"),
        Tok::Sym(s) => format!("`{}`", crate::printer::Symbol(s)),
        Tok::Punct(c) => format!("`{c}`"),
        Tok::Arrow => "`->`".to_string(),
        Tok::Eof => "end of file".to_string(),
        Tok::Error(m) => m.clone(),
    }
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$')
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.chars.get(self.i + k).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(c)
    }

    fn skip_trivia(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.bump();
            } else if c == '/' && self.peek_at(1) == Some('/') {
                while let Some(c) = self.peek() {
                    if c == '\n' {
                        break;
                    }
                    self.bump();
                }
            } else {
                break;
            }
        }
    }

    fn word(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek().filter(|&c| is_word_char(c)) {
            s.push(c);
            self.bump();
        }
        s
    }

    /// Digits after `%v` / `^bb`.
    fn entity_number(&mut self, what: &str) -> Result<u32, String> {
        let mut n: u32 = 0;
        let mut any = false;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            self.bump();
            any = true;
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(d))
                .ok_or_else(|| format!("{what} number out of range"))?;
        }
        if any {
            Ok(n)
        } else {
            Err(format!("expected a number after `{what}`"))
        }
    }

    fn number(&mut self) -> String {
        let mut s = String::new();
        if let Some(c) = self.peek().filter(|&c| c == '-' || c == '+') {
            s.push(c);
            self.bump();
        }
        while let Some(c) = self.peek() {
            let exp_sign = (c == '+' || c == '-')
                && matches!(s.chars().last(), Some('e' | 'E'))
                && !s.contains("0x");
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || exp_sign {
                s.push(c);
                self.bump();
            } else {
                break;
            }
        }
        s
    }

    /// A string literal; the opening quote is the current character.
    fn string(&mut self) -> Result<String, (TextPos, String)> {
        let start = (self.line, self.col);
        self.bump();
        let mut s = String::new();
        loop {
            let here = (self.line, self.col);
            match self.bump() {
                None | Some('\n') => return Err((start, "unterminated string".to_string())),
                Some('"') => return Ok(s),
                Some('\\') => match self.bump() {
                    Some('\\') => s.push('\\'),
                    Some('"') => s.push('"'),
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some('u') => {
                        if self.bump() != Some('{') {
                            return Err((here, "expected `{` after `\\u`".to_string()));
                        }
                        let mut hex = String::new();
                        loop {
                            match self.bump() {
                                Some('}') => break,
                                Some(c) if c.is_ascii_hexdigit() && hex.len() < 6 => hex.push(c),
                                None | Some('\n') => {
                                    return Err((start, "unterminated string".to_string()))
                                }
                                Some(_) => {
                                    return Err((here, "invalid `\\u{...}` escape".to_string()))
                                }
                            }
                        }
                        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                            Some(c) => s.push(c),
                            None => {
                                return Err((
                                    here,
                                    format!("invalid unicode escape `\\u{{{hex}}}`"),
                                ))
                            }
                        }
                    }
                    None | Some('\n') => return Err((start, "unterminated string".to_string())),
                    Some(c) => {
                        return Err((here, format!("invalid escape `\\{}`", c.escape_debug())))
                    }
                },
                Some(c) => s.push(c),
            }
        }
    }

    fn token(&mut self) -> Result<Tok, (TextPos, String)> {
        let start = (self.line, self.col);
        let Some(c) = self.peek() else {
            return Ok(Tok::Eof);
        };
        let err = |m: String| Err((start, m));
        Ok(match c {
            '(' | ')' | ',' | ':' | '=' | '{' | '}' | '[' | ']' | '<' | '>' => {
                self.bump();
                Tok::Punct(c)
            }
            '-' if self.peek_at(1) == Some('>') => {
                self.bump();
                self.bump();
                Tok::Arrow
            }
            '-' if self.peek_at(1).is_some_and(|c| c.is_ascii_alphanumeric()) => {
                Tok::Num(self.number())
            }
            c if c.is_ascii_digit() => Tok::Num(self.number()),
            '"' => Tok::Str(self.string()?),
            '%' => {
                self.bump();
                if self.peek() != Some('v') {
                    return err("expected a value like `%v0`".to_string());
                }
                self.bump();
                Tok::Value(self.entity_number("%v").map_err(|m| (start, m))?)
            }
            '^' => {
                self.bump();
                if self.peek() != Some('b') || self.peek_at(1) != Some('b') {
                    return err("expected a block like `^bb0`".to_string());
                }
                self.bump();
                self.bump();
                Tok::Block(self.entity_number("^bb").map_err(|m| (start, m))?)
            }
            '@' => {
                self.bump();
                match self.peek() {
                    Some('"') => Tok::Sym(self.string()?),
                    Some(c) if is_word_start(c) => Tok::Sym(self.word()),
                    _ => return err("expected a name after `@`".to_string()),
                }
            }
            c if is_word_start(c) => Tok::Word(self.word()),
            c => return err(format!("unexpected character `{}`", c.escape_debug())),
        })
    }
}

/// Splits the text into tokens, ending with `Eof` or with an `Error` at the first bad lexeme (so
/// that an earlier syntax error is still reported first).
fn lex(text: &str) -> Vec<Token> {
    let mut lx = Lexer {
        chars: text.chars().collect(),
        i: 0,
        line: 1,
        col: 1,
    };
    let mut toks = Vec::new();
    loop {
        lx.skip_trivia();
        let (line, col) = (lx.line, lx.col);
        match lx.token() {
            Ok(Tok::Eof) => {
                toks.push(Token {
                    tok: Tok::Eof,
                    line,
                    col,
                });
                return toks;
            }
            Ok(tok) => toks.push(Token { tok, line, col }),
            Err(((line, col), msg)) => {
                toks.push(Token {
                    tok: Tok::Error(msg),
                    line,
                    col,
                });
                return toks;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parser

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    module: Module,
    map: SourceMap,
    /// Entities (values + blocks) the rest of the text may still allocate.
    budget: usize,
    /// Where each function was first named at top level, for "never defined" errors.
    func_decl: HashMap<FuncId, TextPos>,
    defined_funcs: HashSet<FuncId>,
    defined_globals: HashSet<GlobalId>,
    global_ids: HashMap<String, GlobalId>,
}

type PResult<T> = Result<T, ParseError>;

fn error<T>(pos: TextPos, message: impl Into<String>) -> PResult<T> {
    Err(ParseError {
        line: pos.0,
        col: pos.1,
        message: message.into(),
    })
}

/// A use of a value, by number, where it was written.
struct VRef {
    num: u32,
    pos: TextPos,
}

struct PDest {
    block: u32,
    pos: TextPos,
    args: Vec<VRef>,
}

struct PInst {
    pos: TextPos,
    opcode: Opcode,
    args: Vec<VRef>,
    imm: Imm,
    dests: Vec<PDest>,
    result: Option<u32>,
    loc: SrcLoc,
    /// `deopt(@f ^bbN I [%target = %local, ...])`: target values are numbers in `@f`.
    deopt: Option<PDeopt>,
}

/// A parsed deopt state: target function, resume block and instruction numbers, and
/// `(target value number, source value)` pairs.
type PDeopt = (FuncId, u32, u32, Vec<(u32, VRef)>);

struct PBlock {
    num: u32,
    pos: TextPos,
    params: Vec<u32>,
    insts: Vec<usize>,
}

/// A function body as written, before numbers become entities.
#[derive(Default)]
struct PBody {
    blocks: Vec<PBlock>,
    block_nums: HashSet<u32>,
    insts: Vec<PInst>,
    /// Value number → (definition, type, where defined).
    values: HashMap<u32, (ValueDef, Type, TextPos)>,
}

impl Parser {
    fn peek(&self) -> &Token {
        // `lex` always ends with `Eof` or `Error`, and `bump` never moves past it.
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn peek_tok(&self) -> &Tok {
        &self.peek().tok
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if !matches!(t.tok, Tok::Eof | Tok::Error(_)) {
            self.pos += 1;
        }
        t
    }

    /// An error at the current token: the lexical error if that is what stands here.
    fn unexpected<T>(&self, expected: &str) -> PResult<T> {
        let t = self.peek();
        match &t.tok {
            Tok::Error(m) => error(t.pos(), m.clone()),
            other => error(
                t.pos(),
                format!("expected {expected}, found {}", describe(other)),
            ),
        }
    }

    fn is_punct(&self, c: char) -> bool {
        *self.peek_tok() == Tok::Punct(c)
    }

    fn eat_punct(&mut self, c: char) -> bool {
        if self.is_punct(c) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, c: char) -> PResult<TextPos> {
        if self.is_punct(c) {
            Ok(self.bump().pos())
        } else {
            self.unexpected(&format!("`{c}`"))
        }
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek_tok(), Tok::Word(x) if x == w)
    }

    fn expect_word(&mut self, w: &str) -> PResult<TextPos> {
        if self.is_word(w) {
            Ok(self.bump().pos())
        } else {
            self.unexpected(&format!("`{w}`"))
        }
    }

    fn expect_any_word(&mut self, what: &str) -> PResult<(String, TextPos)> {
        match self.peek_tok() {
            Tok::Word(w) => {
                let w = w.clone();
                Ok((w, self.bump().pos()))
            }
            _ => self.unexpected(what),
        }
    }

    fn expect_sym(&mut self) -> PResult<(String, TextPos)> {
        match self.peek_tok() {
            Tok::Sym(s) => {
                let s = s.clone();
                Ok((s, self.bump().pos()))
            }
            _ => self.unexpected("a name like `@f`"),
        }
    }

    fn expect_str(&mut self) -> PResult<String> {
        match self.peek_tok() {
            Tok::Str(s) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => self.unexpected("a string"),
        }
    }

    fn expect_value(&mut self) -> PResult<VRef> {
        match *self.peek_tok() {
            Tok::Value(num) => Ok(VRef {
                num,
                pos: self.bump().pos(),
            }),
            _ => self.unexpected("a value like `%v0`"),
        }
    }

    fn expect_u32(&mut self, what: &str) -> PResult<u32> {
        match self.peek_tok() {
            Tok::Num(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                let r = s.parse::<u32>();
                let pos = self.bump().pos();
                r.or_else(|_| error(pos, format!("{what} out of range")))
            }
            _ => self.unexpected(what),
        }
    }

    fn expect_i64(&mut self) -> PResult<i64> {
        match self.peek_tok() {
            Tok::Num(s) if is_int_literal(s) => {
                let r = s.parse::<i64>();
                let pos = self.bump().pos();
                r.or_else(|_| error(pos, "integer out of range"))
            }
            _ => self.unexpected("an integer"),
        }
    }

    // ---- top level

    /// Declares every function and global named at the top level, in text order, so that ids
    /// follow the text and bodies can refer to later definitions.
    fn prescan(&mut self) {
        let mut depth: i64 = 0;
        for k in 0..self.toks.len() {
            match &self.toks[k].tok {
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') => depth -= 1,
                Tok::Word(w) if depth == 0 && w == "func" => {
                    if let Some(Tok::Sym(name)) = self.toks.get(k + 1).map(|t| &t.tok) {
                        if self.module.func_by_name(name).is_none() {
                            let f = Function::new(name.clone(), Vec::new(), Type::Any, Level::Dyn);
                            let id = self.module.declare_function(f);
                            self.func_decl.insert(id, self.toks[k].pos());
                        }
                    }
                }
                Tok::Word(w) if depth == 0 && w == "global" => {
                    let name = self.toks.get(k + 1).map(|t| &t.tok);
                    let src = self.toks.get(k + 2).map(|t| &t.tok);
                    if let (Some(Tok::Sym(name)), Some(Tok::Str(src))) = (name, src) {
                        if !self.global_ids.contains_key(name) {
                            let id = self.module.add_global(name.clone(), src.clone());
                            self.global_ids.insert(name.clone(), id);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn parse_top(&mut self) -> PResult<()> {
        if self.is_word("module") {
            self.bump();
            self.module.source = self.expect_str()?;
        }
        loop {
            match self.peek_tok() {
                Tok::Eof => break,
                Tok::Word(w) if w == "entry" => self.parse_entry()?,
                Tok::Word(w) if w == "global" => self.parse_global()?,
                Tok::Word(w) if w == "func" => self.parse_func()?,
                Tok::Word(w) if w == "module" => {
                    return error(
                        self.peek().pos(),
                        "the `module` line must come first and only once",
                    )
                }
                _ => return self.unexpected("`func`, `global` or `entry`"),
            }
        }
        let mut missing: Vec<(TextPos, String)> = self
            .module
            .funcs
            .iter()
            .filter(|(id, _)| !self.defined_funcs.contains(id))
            .map(|(id, f)| {
                (
                    self.func_decl.get(&id).copied().unwrap_or((1, 1)),
                    f.name.clone(),
                )
            })
            .collect();
        missing.sort();
        if let Some((pos, name)) = missing.into_iter().next() {
            return error(
                pos,
                format!(
                    "function {} is never defined",
                    crate::printer::Symbol(&name)
                ),
            );
        }
        Ok(())
    }

    fn parse_entry(&mut self) -> PResult<()> {
        let kw = self.bump().pos();
        let (name, pos) = self.expect_sym()?;
        let id = self.resolve_func(&name, pos)?;
        if self.module.entry.is_some() {
            return error(kw, "duplicate `entry` line");
        }
        self.module.entry = Some(id);
        Ok(())
    }

    fn parse_global(&mut self) -> PResult<()> {
        self.bump();
        let (name, pos) = self.expect_sym()?;
        let src = self.expect_str()?;
        let id = match self.global_ids.get(&name) {
            Some(&id) => id,
            None => {
                let id = self.module.add_global(name.clone(), src);
                self.global_ids.insert(name.clone(), id);
                id
            }
        };
        if !self.defined_globals.insert(id) {
            return error(
                pos,
                format!("global {} is defined twice", crate::printer::Symbol(&name)),
            );
        }
        Ok(())
    }

    fn resolve_func(&self, name: &str, pos: TextPos) -> PResult<FuncId> {
        match self.module.func_by_name(name) {
            Some(id) => Ok(id),
            None => error(
                pos,
                format!("undefined function {}", crate::printer::Symbol(name)),
            ),
        }
    }

    fn resolve_global(&self, name: &str, pos: TextPos) -> PResult<GlobalId> {
        match self.global_ids.get(name) {
            Some(&id) => Ok(id),
            None => error(
                pos,
                format!("undefined global {}", crate::printer::Symbol(name)),
            ),
        }
    }

    fn parse_type(&mut self) -> PResult<Type> {
        let (w, pos) = self.expect_any_word("a type")?;
        if w == "array" {
            self.expect_punct('<')?;
            let (e, epos) = self.expect_any_word("an array element type")?;
            self.expect_punct('>')?;
            return match ElemType::parse(&e) {
                Some(e) => Ok(Type::Array(e)),
                None => error(
                    epos,
                    format!("unknown array element type `{e}` (any, i64, f64, bool or str)"),
                ),
            };
        }
        match Type::parse(&w) {
            Some(t) => Ok(t),
            None => error(pos, format!("unknown type `{w}`")),
        }
    }

    fn parse_loc(&mut self) -> PResult<SrcLoc> {
        self.expect_word("loc")?;
        self.expect_punct('(')?;
        let lpos = self.peek().pos();
        let line = self.expect_u32("a line number")?;
        self.expect_punct(':')?;
        let col = self.expect_u32("a column number")?;
        self.expect_punct(')')?;
        if line == 0 {
            return error(lpos, "line numbers start at 1");
        }
        Ok(SrcLoc::new(line, col))
    }

    fn parse_func(&mut self) -> PResult<()> {
        let fpos = self.bump().pos();
        let (name, npos) = self.expect_sym()?;
        let id = match self.module.func_by_name(&name) {
            Some(id) => id,
            None => {
                let f = Function::new(name.clone(), Vec::new(), Type::Any, Level::Dyn);
                self.module.declare_function(f)
            }
        };
        if !self.defined_funcs.insert(id) {
            return error(
                npos,
                format!(
                    "function {} is defined twice",
                    crate::printer::Symbol(&name)
                ),
            );
        }
        self.expect_punct('(')?;
        let mut params = Vec::new();
        if !self.eat_punct(')') {
            loop {
                params.push(self.parse_type()?);
                if !self.eat_punct(',') {
                    self.expect_punct(')')?;
                    break;
                }
            }
        }
        if *self.peek_tok() != Tok::Arrow {
            return self.unexpected("`->`");
        }
        self.bump();
        let ret = self.parse_type()?;
        self.expect_word("level")?;
        self.expect_punct('(')?;
        let (lw, lpos) = self.expect_any_word("a level")?;
        let level = match Level::from_name(&lw) {
            Some(l) => l,
            None => {
                return error(
                    lpos,
                    format!("unknown level `{lw}` (dyn, typed or lowered)"),
                )
            }
        };
        self.expect_punct(')')?;
        let mut f = Function::new(name, params, ret, level);
        let mut seen: HashSet<String> = HashSet::new();
        loop {
            let (attr, apos) = match self.peek_tok() {
                Tok::Punct('{') => break,
                Tok::Word(w) => (w.clone(), self.peek().pos()),
                _ => return self.unexpected("a function attribute or `{`"),
            };
            if !seen.insert(attr.clone()) {
                return error(apos, format!("duplicate attribute `{attr}`"));
            }
            match attr.as_str() {
                "hints" => {
                    self.bump();
                    self.expect_punct('(')?;
                    let mut hints = Vec::new();
                    if !self.eat_punct(')') {
                        loop {
                            if self.is_word("_") {
                                self.bump();
                                hints.push(None);
                            } else {
                                hints.push(Some(self.parse_type()?));
                            }
                            if !self.eat_punct(',') {
                                self.expect_punct(')')?;
                                break;
                            }
                        }
                    }
                    f.attrs.hints = Some(hints);
                }
                "captures" => {
                    self.bump();
                    self.expect_punct('(')?;
                    f.attrs.captures = self.expect_u32("a capture count")?;
                    self.expect_punct(')')?;
                }
                "defaults" => {
                    self.bump();
                    self.expect_punct('(')?;
                    if !self.eat_punct(')') {
                        loop {
                            let (d, dpos) = self.expect_sym()?;
                            f.attrs.defaults.push(self.resolve_func(&d, dpos)?);
                            if !self.eat_punct(',') {
                                self.expect_punct(')')?;
                                break;
                            }
                        }
                    }
                }
                "hidden" => {
                    self.bump();
                    f.attrs.hidden = true;
                }
                "frozen" => {
                    self.bump();
                    f.attrs.frozen = true;
                }
                "loc" => f.loc = self.parse_loc()?,
                _ => return error(apos, format!("unknown function attribute `{attr}`")),
            }
        }
        self.bump(); // `{`
        let body = self.parse_body(&f.name)?;
        self.build_function(id, &mut f, body)?;
        self.map.func_pos.insert(id, fpos);
        self.module.funcs[id] = f;
        Ok(())
    }

    fn define_value(
        body: &mut PBody,
        num: u32,
        def: ValueDef,
        ty: Type,
        pos: TextPos,
    ) -> PResult<()> {
        if body.values.contains_key(&num) {
            return error(pos, format!("value %v{num} is defined twice"));
        }
        body.values.insert(num, (def, ty, pos));
        Ok(())
    }

    fn parse_body(&mut self, fname: &str) -> PResult<PBody> {
        let mut body = PBody::default();
        loop {
            let t = self.peek().clone();
            match &t.tok {
                Tok::Punct('}') => {
                    self.bump();
                    return Ok(body);
                }
                Tok::Eof => {
                    return error(
                        t.pos(),
                        format!(
                            "unexpected end of file: missing `}}` at the end of {}",
                            crate::printer::Symbol(fname)
                        ),
                    )
                }
                Tok::Word(w) if w == "func" => {
                    return error(
                        t.pos(),
                        format!(
                            "missing `}}` at the end of {}",
                            crate::printer::Symbol(fname)
                        ),
                    )
                }
                Tok::Block(num) => {
                    self.bump();
                    let num = *num;
                    if !body.block_nums.insert(num) {
                        return error(t.pos(), format!("block ^bb{num} is defined twice"));
                    }
                    let mut params = Vec::new();
                    if self.eat_punct('(') && !self.eat_punct(')') {
                        loop {
                            let v = self.expect_value()?;
                            self.expect_punct(':')?;
                            let ty = self.parse_type()?;
                            let def = ValueDef::Param(Block::from_u32(num), params.len() as u32);
                            Self::define_value(&mut body, v.num, def, ty, v.pos)?;
                            params.push(v.num);
                            if !self.eat_punct(',') {
                                self.expect_punct(')')?;
                                break;
                            }
                        }
                    }
                    self.expect_punct(':')?;
                    body.blocks.push(PBlock {
                        num,
                        pos: t.pos(),
                        params,
                        insts: Vec::new(),
                    });
                }
                _ if body.blocks.is_empty() => {
                    return self.unexpected("a block label like `^bb0:`")
                }
                _ => {
                    let inst = self.parse_inst(&mut body)?;
                    let k = body.insts.len();
                    body.insts.push(inst);
                    if let Some(b) = body.blocks.last_mut() {
                        b.insts.push(k);
                    }
                }
            }
        }
    }

    fn parse_inst(&mut self, body: &mut PBody) -> PResult<PInst> {
        let start = self.peek().pos();
        let inst_index = body.insts.len();
        let result = match *self.peek_tok() {
            Tok::Value(num) => {
                self.bump();
                self.expect_punct('=')?;
                Some(num)
            }
            _ => None,
        };
        let (name, npos) = self.expect_any_word("an instruction")?;
        let Some(opcode) = Opcode::from_name(&name) else {
            return error(npos, unknown_op_message(&name));
        };
        let mut args = Vec::new();
        let mut dests = Vec::new();
        let imm = match opcode.imm_kind() {
            ImmKind::None => {
                if matches!(opcode, Opcode::DynCall | Opcode::CallIndirect) {
                    if let Tok::Value(_) = self.peek_tok() {
                        args.push(self.expect_value()?);
                    }
                    self.parse_call_args(&mut args)?;
                    self.parse_trailing_dests(&mut dests)?;
                } else {
                    self.parse_operands(&mut args, &mut dests, false)?;
                }
                Imm::None
            }
            ImmKind::Const => {
                let c = self.parse_const()?;
                self.parse_comma_operands(&mut args, &mut dests)?;
                Imm::Const(c)
            }
            ImmKind::Cmp => {
                let (p, ppos) = self.expect_any_word("a comparison predicate")?;
                let Some(pred) = CmpPred::from_name(&p) else {
                    return error(
                        ppos,
                        format!("unknown predicate `{p}` (eq, ne, lt, le, gt or ge)"),
                    );
                };
                self.parse_operands(&mut args, &mut dests, false)?;
                Imm::Cmp(pred)
            }
            ImmKind::Func => {
                let (f, fpos) = self.expect_sym()?;
                let id = self.resolve_func(&f, fpos)?;
                if opcode.call_like() {
                    self.parse_call_args(&mut args)?;
                    self.parse_trailing_dests(&mut dests)?;
                } else {
                    self.parse_comma_operands(&mut args, &mut dests)?;
                }
                Imm::Func(id)
            }
            ImmKind::Global => {
                let (g, gpos) = self.expect_sym()?;
                let id = self.resolve_global(&g, gpos)?;
                self.parse_comma_operands(&mut args, &mut dests)?;
                Imm::Global(id)
            }
            ImmKind::Builtin => {
                let (b, bpos) = self.expect_any_word("a builtin name")?;
                let Some(builtin) = Builtin::from_name(&b) else {
                    return error(bpos, format!("unknown builtin `{b}`"));
                };
                self.parse_call_args(&mut args)?;
                self.parse_trailing_dests(&mut dests)?;
                Imm::Builtin(builtin)
            }
            ImmKind::Method => {
                let name = match self.peek_tok() {
                    Tok::Word(w) | Tok::Str(w) => w.clone(),
                    _ => return self.unexpected("a method name"),
                };
                self.bump();
                self.parse_call_args(&mut args)?;
                self.parse_trailing_dests(&mut dests)?;
                Imm::Method(name)
            }
            ImmKind::Message => {
                let s = self.expect_str()?;
                self.parse_comma_operands(&mut args, &mut dests)?;
                Imm::Message(s)
            }
            ImmKind::Cases => {
                if let Tok::Value(_) = self.peek_tok() {
                    loop {
                        args.push(self.expect_value()?);
                        if !self.eat_punct(',') {
                            break;
                        }
                    }
                }
                self.expect_punct('[')?;
                let mut cases = Vec::new();
                if !self.eat_punct(']') {
                    loop {
                        cases.push(self.expect_i64()?);
                        self.expect_punct(':')?;
                        dests.push(self.parse_dest()?);
                        if !self.eat_punct(',') {
                            self.expect_punct(']')?;
                            break;
                        }
                    }
                }
                self.parse_trailing_dests(&mut dests)?;
                Imm::Cases(cases)
            }
        };
        let ty = if result.is_some() {
            self.expect_punct(':')?;
            self.parse_type()?
        } else if self.is_punct(':') {
            return error(
                self.peek().pos(),
                "an instruction without a result has no type (write `%vN = ...` to define one)",
            );
        } else {
            Type::Unit
        };
        let deopt = if self.is_word("deopt") {
            Some(self.parse_deopt()?)
        } else {
            None
        };
        let loc = if self.is_word("loc") {
            self.parse_loc()?
        } else {
            SrcLoc::UNKNOWN
        };
        if let Some(num) = result {
            let def = ValueDef::Result(Inst::new(inst_index));
            Self::define_value(body, num, def, ty, start)?;
        }
        Ok(PInst {
            pos: start,
            opcode,
            args,
            imm,
            dests,
            result,
            loc,
            deopt,
        })
    }

    /// `deopt(@f ^bbN I [%vA = %vB, ...])`
    fn parse_deopt(&mut self) -> PResult<PDeopt> {
        self.expect_word("deopt")?;
        self.expect_punct('(')?;
        let (f, fpos) = self.expect_sym()?;
        let func = self.resolve_func(&f, fpos)?;
        let block = match *self.peek_tok() {
            Tok::Block(n) => {
                self.bump();
                n
            }
            _ => return self.unexpected("the resume block, like `^bb1`"),
        };
        let index = self.expect_i64()?;
        let Ok(index) = u32::try_from(index) else {
            return self.unexpected("an instruction index");
        };
        self.expect_punct('[')?;
        let mut values = Vec::new();
        if !self.eat_punct(']') {
            loop {
                let target = self.expect_value()?;
                self.expect_punct('=')?;
                let local = self.expect_value()?;
                values.push((target.num, local));
                if !self.eat_punct(',') {
                    self.expect_punct(']')?;
                    break;
                }
            }
        }
        self.expect_punct(')')?;
        Ok((func, block, index, values))
    }

    fn parse_const(&mut self) -> PResult<Const> {
        let t = self.peek().clone();
        let c = match &t.tok {
            Tok::Num(s) => parse_number(s, t.pos())?,
            Tok::Str(s) => Const::Str(s.clone()),
            Tok::Word(w) => match w.as_str() {
                "true" => Const::Bool(true),
                "false" => Const::Bool(false),
                "nil" => Const::Nil,
                "inf" => Const::Float(f64::INFINITY),
                "nan" => Const::Float(f64::NAN),
                "NaN" => {
                    self.bump();
                    if !self.eat_punct('(') {
                        return Ok(Const::Float(f64::NAN));
                    }
                    let bits = match self.peek_tok() {
                        Tok::Num(s) => s
                            .strip_prefix("0x")
                            .and_then(|h| u64::from_str_radix(h, 16).ok())
                            .map(f64::from_bits)
                            .filter(|x| x.is_nan()),
                        _ => None,
                    };
                    let Some(x) = bits else {
                        return self.unexpected("the bits of a NaN, like `0x7ff8000000000001`");
                    };
                    self.bump();
                    self.expect_punct(')')?;
                    return Ok(Const::Float(x));
                }
                _ => {
                    return self.unexpected("a literal (number, `true`, `false`, `nil` or string)")
                }
            },
            _ => return self.unexpected("a literal (number, `true`, `false`, `nil` or string)"),
        };
        self.bump();
        Ok(c)
    }

    /// `(%a, %b)`, possibly empty.
    fn parse_call_args(&mut self, args: &mut Vec<VRef>) -> PResult<()> {
        self.expect_punct('(')?;
        if self.eat_punct(')') {
            return Ok(());
        }
        loop {
            args.push(self.expect_value()?);
            if !self.eat_punct(',') {
                self.expect_punct(')')?;
                return Ok(());
            }
        }
    }

    /// `^bbN` or `^bbN(%a, %b)`.
    fn parse_dest(&mut self) -> PResult<PDest> {
        let (block, pos) = match *self.peek_tok() {
            Tok::Block(n) => (n, self.bump().pos()),
            _ => return self.unexpected("a block like `^bb1`"),
        };
        let mut args = Vec::new();
        if self.eat_punct('(') && !self.eat_punct(')') {
            loop {
                args.push(self.expect_value()?);
                if !self.eat_punct(',') {
                    self.expect_punct(')')?;
                    break;
                }
            }
        }
        Ok(PDest { block, pos, args })
    }

    /// `, ^bb1, ^bb2(%a)` after a call or a case list.
    fn parse_trailing_dests(&mut self, dests: &mut Vec<PDest>) -> PResult<()> {
        while self.eat_punct(',') {
            dests.push(self.parse_dest()?);
        }
        Ok(())
    }

    /// `, operands...` after a value-like immediate.
    fn parse_comma_operands(
        &mut self,
        args: &mut Vec<VRef>,
        dests: &mut Vec<PDest>,
    ) -> PResult<()> {
        if self.eat_punct(',') {
            self.parse_operands(args, dests, true)?;
        }
        Ok(())
    }

    /// A comma-separated list of values followed by branch destinations.
    fn parse_operands(
        &mut self,
        args: &mut Vec<VRef>,
        dests: &mut Vec<PDest>,
        required: bool,
    ) -> PResult<()> {
        let mut first = true;
        loop {
            match self.peek_tok() {
                Tok::Value(_) if dests.is_empty() => args.push(self.expect_value()?),
                Tok::Value(_) => {
                    return error(
                        self.peek().pos(),
                        "operands must come before branch destinations",
                    )
                }
                Tok::Block(_) => dests.push(self.parse_dest()?),
                _ if first && !required => return Ok(()),
                _ => return self.unexpected("an operand"),
            }
            first = false;
            if !self.eat_punct(',') {
                return Ok(());
            }
        }
    }

    /// Turns a parsed body into entities, keeping the numbers of the text.
    fn build_function(&mut self, id: FuncId, f: &mut Function, body: PBody) -> PResult<()> {
        // Every use must name a value or block defined somewhere in the function.
        for inst in &body.insts {
            let deopt_locals = inst.deopt.iter().flat_map(|d| d.3.iter().map(|(_, v)| v));
            for v in inst.args.iter().chain(deopt_locals) {
                if !body.values.contains_key(&v.num) {
                    return error(v.pos, format!("undefined value %v{}", v.num));
                }
            }
            for d in &inst.dests {
                if !body.block_nums.contains(&d.block) {
                    return error(d.pos, format!("undefined block ^bb{}", d.block));
                }
                for v in &d.args {
                    if !body.values.contains_key(&v.num) {
                        return error(v.pos, format!("undefined value %v{}", v.num));
                    }
                }
            }
        }
        let max_value = body
            .values
            .iter()
            .max_by_key(|(n, _)| **n)
            .map(|(n, d)| (*n, d.2));
        let max_block = body
            .blocks
            .iter()
            .max_by_key(|b| b.num)
            .map(|b| (b.num, b.pos));
        for (what, max) in [("value %v", max_value), ("block ^bb", max_block)] {
            if let Some((n, pos)) = max {
                let need = n as usize + 1;
                if need > self.budget {
                    return error(pos, format!("{what}{n}: number too large for this text"));
                }
                self.budget -= need;
            }
        }
        if let Some((n, _)) = max_block {
            for _ in 0..=n {
                f.dfg.blocks.push(BlockData::default());
            }
        }
        if let Some((n, _)) = max_value {
            for _ in 0..=n {
                f.dfg.values.push(ValueData {
                    ty: Type::Any,
                    def: ValueDef::Unused,
                });
            }
        }
        for (&n, &(def, ty, _)) in &body.values {
            f.dfg.values[Value::from_u32(n)] = ValueData { ty, def };
        }
        let vals = |refs: &[VRef]| -> SmallVec<[Value; 4]> {
            refs.iter().map(|r| Value::from_u32(r.num)).collect()
        };
        for p in body.insts {
            let inst = f.dfg.insts.push(InstData {
                opcode: p.opcode,
                args: p.args.iter().map(|r| Value::from_u32(r.num)).collect(),
                imm: p.imm,
                dests: p
                    .dests
                    .iter()
                    .map(|d| BlockCall {
                        block: Block::from_u32(d.block),
                        args: vals(&d.args),
                    })
                    .collect(),
                result: p.result.map(Value::from_u32),
                loc: p.loc,
                deopt: p.deopt.as_ref().map(|(func, block, index, values)| {
                    Box::new(crate::DeoptState {
                        func: *func,
                        block: Block::from_u32(*block),
                        index: *index,
                        values: values
                            .iter()
                            .map(|(t, l)| (Value::from_u32(*t), Value::from_u32(l.num)))
                            .collect(),
                    })
                }),
            });
            self.map.inst_pos.insert((id, inst), p.pos);
        }
        for b in body.blocks {
            let block = Block::from_u32(b.num);
            f.dfg.blocks[block].params = b.params.iter().map(|&n| Value::from_u32(n)).collect();
            f.layout.append_block(block);
            for k in b.insts {
                f.layout.append_inst(block, Inst::new(k));
            }
            self.map.block_pos.insert((id, block), b.pos);
        }
        Ok(())
    }
}

fn is_int_literal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// An integer (`-7`) or a float (`1.5`, `1e-7`, `-inf`, `-0.0`).
fn parse_number(s: &str, pos: TextPos) -> PResult<Const> {
    if is_int_literal(s) {
        return match s.parse::<i64>() {
            Ok(i) => Ok(Const::Int(i)),
            Err(_) => error(pos, format!("integer `{s}` out of range")),
        };
    }
    match s.parse::<f64>() {
        Ok(x) if !s.contains("0x") => Ok(Const::Float(x)),
        _ => error(pos, format!("invalid number `{s}`")),
    }
}

fn unknown_op_message(name: &str) -> String {
    let mut msg = format!("unknown op `{name}`");
    let suffix_match = Opcode::ALL
        .iter()
        .find(|op| op.name().split_once('.').is_some_and(|(_, s)| s == name));
    let best = suffix_match.map(|op| op.name()).or_else(|| {
        Opcode::ALL
            .iter()
            .map(|op| (edit_distance(name, op.name()), op.name()))
            .filter(|&(d, n)| d <= 2.max(n.len() / 3))
            .min()
            .map(|(_, n)| n)
    });
    if let Some(s) = best {
        msg.push_str(&format!("; did you mean `{s}`?"));
    }
    msg
}

/// Levenshtein distance, for "did you mean" suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

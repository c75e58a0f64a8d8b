//! The lexer: source text → [`Token`]s with byte [`Span`]s.
//!
//! Ruchy's statements are separated by newlines, so every token records whether a newline (in
//! whitespace or in a comment) precedes it; the parser uses that to decide where statements end and
//! whether `(` / `[` continue an expression. Lexing never stops at an error: a problem is recorded
//! as a [`Diagnostic`], the offending text is skipped or turned into an [`TokenKind::Error`] token,
//! and lexing goes on, so one run reports every lexical error of a file.
//!
//! f-strings are split here into literal text and the source ranges of the interpolated
//! expressions; the parser lexes and parses each range separately (see [`lex_range`]), so the
//! expressions' spans are real file offsets.

use crate::source::{Diagnostic, Span};

/// At most this many diagnostics are recorded per run; beyond that they only repeat themselves.
const MAX_DIAGS: usize = 50;

/// The magnitude of `i64::MIN`. A literal of exactly this value is only valid directly under unary
/// minus, which only the parser can tell, so the lexer lets it through.
const I64_MIN_MAGNITUDE: u64 = 1 << 63;

/// One piece of an f-string, as split by the lexer.
#[derive(Clone, Debug, PartialEq)]
pub enum FStrPiece {
    /// Literal text with escapes and `{{` / `}}` already resolved.
    Lit(String),
    /// The source range of an interpolated expression (the text between `{` and `}`), which the
    /// parser parses as a full expression.
    Expr(Span),
}

/// The kind of a token, with the literal's value where it has one.
#[derive(Clone, Debug, PartialEq)]
pub enum TokenKind {
    /// An integer literal. Values up to `2^63` are kept (`2^63` itself is only legal under unary
    /// minus, checked by the parser); larger ones are diagnosed here and become `Int(0)`.
    Int(u64),
    Float(f64),
    /// A string literal with escapes resolved.
    Str(String),
    /// `f"..."`
    FStr(Vec<FStrPiece>),
    Ident(String),

    // Keywords.
    Fun,
    Fn,
    Let,
    Mut,
    If,
    Else,
    While,
    For,
    In,
    Loop,
    Break,
    Continue,
    Return,
    Match,
    True,
    False,
    Nil,
    As,

    // Delimiters and punctuation.
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Semi,
    Colon,
    Dot,
    /// `..`
    DotDot,
    /// `..=`
    DotDotEq,
    /// `->`
    Arrow,
    /// `=>`
    FatArrow,

    // Operators.
    Plus,
    Minus,
    Star,
    /// `**`
    StarStar,
    Slash,
    Percent,
    Caret,
    Amp,
    /// `&&`
    AmpAmp,
    Pipe,
    /// `||`
    PipePipe,
    Bang,
    Tilde,
    /// `=`
    Eq,
    /// `==`
    EqEq,
    /// `!=`
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
    PlusEq,
    MinusEq,
    StarEq,
    SlashEq,
    PercentEq,
    AmpEq,
    PipeEq,
    CaretEq,
    ShlEq,
    ShrEq,

    /// Text the lexer could not make sense of; a diagnostic has already been recorded, so the
    /// parser reports nothing more about it.
    Error,
    /// End of the input (always the last token).
    Eof,
}

impl TokenKind {
    /// The keyword spelled `text`, if it is one.
    pub fn keyword(text: &str) -> Option<TokenKind> {
        use TokenKind::*;
        Some(match text {
            "fun" => Fun,
            "fn" => Fn,
            "let" => Let,
            "mut" => Mut,
            "if" => If,
            "else" => Else,
            "while" => While,
            "for" => For,
            "in" => In,
            "loop" => Loop,
            "break" => Break,
            "continue" => Continue,
            "return" => Return,
            "match" => Match,
            "true" => True,
            "false" => False,
            "nil" => Nil,
            "as" => As,
            _ => return None,
        })
    }

    /// Whether this is a reserved word (used to say "keyword `x`" in messages).
    pub fn is_keyword(&self) -> bool {
        use TokenKind::*;
        matches!(
            self,
            Fun | Fn
                | Let
                | Mut
                | If
                | Else
                | While
                | For
                | In
                | Loop
                | Break
                | Continue
                | Return
                | Match
                | True
                | False
                | Nil
                | As
        )
    }
}

/// A token and where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
    /// A newline occurs between the previous token (or the start of the input) and this one.
    pub nl_before: bool,
}

/// Lexes a whole source text. The token list always ends with [`TokenKind::Eof`].
pub fn lex(src: &str) -> (Vec<Token>, Vec<Diagnostic>) {
    lex_range(src, 0, src.len())
}

/// Lexes `src[start..end]`, producing spans that are offsets into the whole of `src`. Used for the
/// expressions inside f-strings. Out-of-range or non-boundary offsets are clamped, never a panic.
pub fn lex_range(src: &str, start: usize, end: usize) -> (Vec<Token>, Vec<Diagnostic>) {
    let mut end = end.min(src.len());
    while !src.is_char_boundary(end) {
        end -= 1;
    }
    let mut start = start.min(end);
    while !src.is_char_boundary(start) {
        start -= 1;
    }
    let mut lexer = Lexer {
        src,
        bytes: src.as_bytes(),
        pos: start,
        end,
        toks: Vec::new(),
        diags: Vec::new(),
        nl: true,
    };
    lexer.run();
    (lexer.toks, lexer.diags)
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Exclusive end of the range being lexed.
    end: usize,
    toks: Vec<Token>,
    diags: Vec<Diagnostic>,
    /// A newline has been seen since the last token.
    nl: bool,
}

impl Lexer<'_> {
    /// The byte `off` positions ahead, if still inside the range.
    fn at(&self, off: usize) -> Option<u8> {
        let i = self.pos + off;
        if i < self.end {
            self.bytes.get(i).copied()
        } else {
            None
        }
    }

    fn eat_while(&mut self, pred: impl Fn(u8) -> bool) {
        while let Some(b) = self.at(0) {
            if !pred(b) {
                break;
            }
            self.pos += 1;
        }
    }

    fn diag(&mut self, message: impl Into<String>, start: usize, end: usize) {
        if self.diags.len() < MAX_DIAGS {
            self.diags
                .push(Diagnostic::new(message, Span::new(start, end)));
        }
    }

    fn push(&mut self, kind: TokenKind, start: usize) {
        let nl_before = std::mem::take(&mut self.nl);
        self.toks.push(Token {
            kind,
            span: Span::new(start, self.pos),
            nl_before,
        });
    }

    fn run(&mut self) {
        loop {
            self.skip_trivia();
            let start = self.pos;
            let Some(b) = self.at(0) else {
                self.push(TokenKind::Eof, start);
                return;
            };
            if is_ident_start(b) {
                self.ident(start);
            } else if b.is_ascii_digit() {
                self.number(start);
            } else if b == b'"' {
                self.string(start);
            } else {
                self.punct(start, b);
            }
        }
    }

    /// Skips whitespace and comments, noting newlines.
    fn skip_trivia(&mut self) {
        while let Some(b) = self.at(0) {
            match b {
                b'\n' => {
                    self.nl = true;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | 0x0b | 0x0c => self.pos += 1,
                b'#' => self.eat_while(|b| b != b'\n'),
                b'/' if self.at(1) == Some(b'/') => self.eat_while(|b| b != b'\n'),
                b'/' if self.at(1) == Some(b'*') => self.block_comment(),
                _ => break,
            }
        }
    }

    /// `/* ... */`, nesting.
    fn block_comment(&mut self) {
        let start = self.pos;
        self.pos += 2;
        let mut depth = 1usize;
        loop {
            match (self.at(0), self.at(1)) {
                (None, _) => {
                    self.diag("unterminated block comment", start, start + 2);
                    return;
                }
                (Some(b'/'), Some(b'*')) => {
                    depth += 1;
                    self.pos += 2;
                }
                (Some(b'*'), Some(b'/')) => {
                    depth -= 1;
                    self.pos += 2;
                    if depth == 0 {
                        return;
                    }
                }
                (Some(b), _) => {
                    if b == b'\n' {
                        self.nl = true;
                    }
                    self.pos += 1;
                }
            }
        }
    }

    fn ident(&mut self, start: usize) {
        self.eat_while(is_ident_continue);
        let text = &self.src[start..self.pos];
        if text == "f" && self.at(0) == Some(b'"') {
            self.fstring(start);
            return;
        }
        let kind = TokenKind::keyword(text).unwrap_or_else(|| TokenKind::Ident(text.to_string()));
        self.push(kind, start);
    }

    /// Integer and float literals. Right after a `.` only digits are taken, so `t.0.1` is two
    /// tuple-field accesses rather than `t.` followed by the float `0.1`. A `.` is part of a float
    /// only when not followed by another `.` (a range) or an identifier (a method call: `1.max(2)`).
    fn number(&mut self, start: usize) {
        let after_dot = matches!(
            self.toks.last(),
            Some(Token {
                kind: TokenKind::Dot,
                ..
            })
        );
        let radix = match (self.at(0), self.at(1)) {
            (Some(b'0'), Some(b'x' | b'X')) => 16,
            (Some(b'0'), Some(b'b' | b'B')) => 2,
            (Some(b'0'), Some(b'o' | b'O')) => 8,
            _ => 10,
        };
        if radix != 10 {
            self.prefixed_int(start, radix);
            return;
        }
        self.eat_while(|b| b.is_ascii_digit() || b == b'_');
        let mut is_float = false;
        if !after_dot {
            if self.at(0) == Some(b'.') {
                match self.at(1) {
                    Some(b'0'..=b'9') => {
                        self.pos += 1;
                        self.eat_while(|b| b.is_ascii_digit() || b == b'_');
                        is_float = true;
                    }
                    Some(b'.') => {}
                    Some(b) if is_ident_start(b) => {}
                    // `2.` is the float 2.0.
                    _ => {
                        self.pos += 1;
                        is_float = true;
                    }
                }
            }
            if matches!(self.at(0), Some(b'e' | b'E')) {
                let skip = match (self.at(1), self.at(2)) {
                    (Some(b'0'..=b'9'), _) => Some(1),
                    (Some(b'+' | b'-'), Some(b'0'..=b'9')) => Some(2),
                    _ => None,
                };
                if let Some(skip) = skip {
                    self.pos += skip;
                    self.eat_while(|b| b.is_ascii_digit() || b == b'_');
                    is_float = true;
                }
            }
        }
        if self.invalid_suffix(start, is_float) {
            return;
        }
        let text: String = self.src[start..self.pos]
            .chars()
            .filter(|&c| c != '_')
            .collect();
        if is_float {
            match text.parse::<f64>() {
                Ok(v) => self.push(TokenKind::Float(v), start),
                Err(_) => {
                    self.diag("invalid float literal", start, self.pos);
                    self.push(TokenKind::Float(0.0), start);
                }
            }
        } else {
            let value = text.bytes().try_fold(0u64, |acc, d| {
                acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            });
            self.finish_int(start, value);
        }
    }

    /// `0x..`, `0b..`, `0o..`.
    fn prefixed_int(&mut self, start: usize, radix: u32) {
        self.pos += 2;
        let digits_start = self.pos;
        self.eat_while(is_ident_continue);
        let mut value = Some(0u64);
        let mut any_digit = false;
        for c in self.src[digits_start..self.pos].chars() {
            if c == '_' {
                continue;
            }
            match c.to_digit(radix) {
                Some(d) => {
                    any_digit = true;
                    value = value
                        .and_then(|v| v.checked_mul(u64::from(radix)))
                        .and_then(|v| v.checked_add(u64::from(d)));
                }
                None => {
                    let base = match radix {
                        16 => "hexadecimal",
                        8 => "octal",
                        _ => "binary",
                    };
                    self.diag(
                        format!("invalid digit `{c}` in {base} literal"),
                        start,
                        self.pos,
                    );
                    self.push(TokenKind::Int(0), start);
                    return;
                }
            }
        }
        if !any_digit {
            self.diag(
                "missing digits after the integer base prefix",
                start,
                self.pos,
            );
            self.push(TokenKind::Int(0), start);
            return;
        }
        self.finish_int(start, value);
    }

    /// Diagnoses identifier characters glued to a number (`12abc`); returns whether it did.
    fn invalid_suffix(&mut self, start: usize, is_float: bool) -> bool {
        let suffix_start = self.pos;
        self.eat_while(is_ident_continue);
        if self.pos == suffix_start {
            return false;
        }
        let suffix = self.src[suffix_start..self.pos].to_string();
        self.diag(
            format!("invalid suffix `{suffix}` for number literal"),
            start,
            self.pos,
        );
        let kind = if is_float {
            TokenKind::Float(0.0)
        } else {
            TokenKind::Int(0)
        };
        self.push(kind, start);
        true
    }

    fn finish_int(&mut self, start: usize, value: Option<u64>) {
        match value {
            Some(v) if v <= I64_MIN_MAGNITUDE => self.push(TokenKind::Int(v), start),
            _ => {
                self.diag("integer literal is too large", start, self.pos);
                self.push(TokenKind::Int(0), start);
            }
        }
    }

    /// A `"..."` literal; an unterminated one runs to the end of the input.
    fn string(&mut self, start: usize) {
        self.pos += 1;
        let mut value = String::new();
        loop {
            match self.at(0) {
                None => {
                    self.diag("unterminated string literal", start, start + 1);
                    break;
                }
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => self.escape(&mut value),
                Some(_) => self.literal_run(&mut value, b"\"\\"),
            }
        }
        self.push(TokenKind::Str(value), start);
    }

    /// Appends text up to the next byte in `stops` (all ASCII, so the cut is a char boundary).
    fn literal_run(&mut self, out: &mut String, stops: &[u8]) {
        let run_start = self.pos;
        self.eat_while(|b| !stops.contains(&b));
        out.push_str(&self.src[run_start..self.pos]);
    }

    /// A backslash escape, at the `\`; appends the character it denotes.
    fn escape(&mut self, out: &mut String) {
        let start = self.pos;
        self.pos += 1;
        let Some(c) = self.src[self.pos..self.end].chars().next() else {
            // The caller reports the unterminated literal.
            return;
        };
        self.pos += c.len_utf8();
        match c {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'u' => self.unicode_escape(start, out),
            _ => self.diag(
                format!("unknown character escape `\\{}`", c.escape_debug()),
                start,
                self.pos,
            ),
        }
    }

    /// The `{XXXX}` of a `\u{XXXX}` escape; `start` is the backslash.
    fn unicode_escape(&mut self, start: usize, out: &mut String) {
        if self.at(0) != Some(b'{') {
            self.diag("incorrect unicode escape sequence", start, self.pos);
            return;
        }
        self.pos += 1;
        let digits_start = self.pos;
        self.eat_while(|b| b.is_ascii_hexdigit());
        let digits = &self.src[digits_start..self.pos];
        if self.at(0) != Some(b'}') {
            self.diag("unterminated unicode escape", start, self.pos);
            return;
        }
        self.pos += 1;
        let ch = if (1..=6).contains(&digits.len()) {
            u32::from_str_radix(digits, 16)
                .ok()
                .and_then(char::from_u32)
        } else {
            None
        };
        match ch {
            Some(ch) => out.push(ch),
            None => self.diag("invalid unicode character escape", start, self.pos),
        }
    }

    /// `f"..."`, at the `f`. Literal text is unescaped (`{{` and `}}` are braces); each `{expr}`
    /// becomes an [`FStrPiece::Expr`] holding the expression's source range. An expression may nest
    /// braces but not quotes: a `"` inside `{...}` ends the f-string, which keeps a missing `}`
    /// from swallowing the rest of the file.
    fn fstring(&mut self, start: usize) {
        self.pos = start + 2;
        let mut pieces = Vec::new();
        let mut lit = String::new();
        loop {
            match self.at(0) {
                None => {
                    self.diag("unterminated string literal", start, start + 2);
                    break;
                }
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => self.escape(&mut lit),
                Some(b'{') if self.at(1) == Some(b'{') => {
                    lit.push('{');
                    self.pos += 2;
                }
                Some(b'}') if self.at(1) == Some(b'}') => {
                    lit.push('}');
                    self.pos += 2;
                }
                Some(b'}') => {
                    self.diag("unmatched `}` in f-string", self.pos, self.pos + 1);
                    lit.push('}');
                    self.pos += 1;
                }
                Some(b'{') => {
                    if !lit.is_empty() {
                        pieces.push(FStrPiece::Lit(std::mem::take(&mut lit)));
                    }
                    if let Some(range) = self.fstring_expr() {
                        pieces.push(FStrPiece::Expr(range));
                    }
                }
                Some(_) => self.literal_run(&mut lit, b"\"\\{}"),
            }
        }
        if !lit.is_empty() {
            pieces.push(FStrPiece::Lit(lit));
        }
        self.push(TokenKind::FStr(pieces), start);
    }

    /// The `{expr}` of an f-string, at the `{`. Returns the range of `expr`, or `None` after a
    /// diagnostic.
    fn fstring_expr(&mut self) -> Option<Span> {
        let open = self.pos;
        self.pos += 1;
        let expr_start = self.pos;
        let mut depth = 0usize;
        loop {
            match self.at(0) {
                None | Some(b'"') => {
                    self.diag("unclosed `{` in f-string", open, open + 1);
                    return None;
                }
                Some(b'{') => depth += 1,
                Some(b'}') if depth == 0 => break,
                Some(b'}') => depth -= 1,
                Some(_) => {}
            }
            self.pos += 1;
        }
        let expr_end = self.pos;
        self.pos += 1;
        if self.src[expr_start..expr_end].trim().is_empty() {
            self.diag("empty expression in f-string", open, self.pos);
            return None;
        }
        Some(Span::new(expr_start, expr_end))
    }

    fn punct(&mut self, start: usize, b: u8) {
        use TokenKind::*;
        let next = self.at(1);
        let next2 = self.at(2);
        let (kind, len) = match (b, next, next2) {
            (b'(', _, _) => (LParen, 1),
            (b')', _, _) => (RParen, 1),
            (b'[', _, _) => (LBracket, 1),
            (b']', _, _) => (RBracket, 1),
            (b'{', _, _) => (LBrace, 1),
            (b'}', _, _) => (RBrace, 1),
            (b',', _, _) => (Comma, 1),
            (b';', _, _) => (Semi, 1),
            (b':', _, _) => (Colon, 1),
            (b'.', Some(b'.'), Some(b'=')) => (DotDotEq, 3),
            (b'.', Some(b'.'), _) => (DotDot, 2),
            (b'.', _, _) => (Dot, 1),
            (b'+', Some(b'='), _) => (PlusEq, 2),
            (b'+', _, _) => (Plus, 1),
            (b'-', Some(b'>'), _) => (Arrow, 2),
            (b'-', Some(b'='), _) => (MinusEq, 2),
            (b'-', _, _) => (Minus, 1),
            (b'*', Some(b'*'), _) => (StarStar, 2),
            (b'*', Some(b'='), _) => (StarEq, 2),
            (b'*', _, _) => (Star, 1),
            (b'/', Some(b'='), _) => (SlashEq, 2),
            (b'/', _, _) => (Slash, 1),
            (b'%', Some(b'='), _) => (PercentEq, 2),
            (b'%', _, _) => (Percent, 1),
            (b'^', Some(b'='), _) => (CaretEq, 2),
            (b'^', _, _) => (Caret, 1),
            (b'&', Some(b'&'), _) => (AmpAmp, 2),
            (b'&', Some(b'='), _) => (AmpEq, 2),
            (b'&', _, _) => (Amp, 1),
            (b'|', Some(b'|'), _) => (PipePipe, 2),
            (b'|', Some(b'='), _) => (PipeEq, 2),
            (b'|', _, _) => (Pipe, 1),
            (b'!', Some(b'='), _) => (Ne, 2),
            (b'!', _, _) => (Bang, 1),
            (b'~', _, _) => (Tilde, 1),
            (b'=', Some(b'='), _) => (EqEq, 2),
            (b'=', Some(b'>'), _) => (FatArrow, 2),
            (b'=', _, _) => (Eq, 1),
            (b'<', Some(b'<'), Some(b'=')) => (ShlEq, 3),
            (b'<', Some(b'<'), _) => (Shl, 2),
            (b'<', Some(b'='), _) => (Le, 2),
            (b'<', _, _) => (Lt, 1),
            (b'>', Some(b'>'), Some(b'=')) => (ShrEq, 3),
            (b'>', Some(b'>'), _) => (Shr, 2),
            (b'>', Some(b'='), _) => (Ge, 2),
            (b'>', _, _) => (Gt, 1),
            _ => {
                let ch = self.src[self.pos..self.end]
                    .chars()
                    .next()
                    .unwrap_or('\u{fffd}');
                self.pos += ch.len_utf8().max(1);
                self.diag(
                    format!("unexpected character `{}`", ch.escape_debug()),
                    start,
                    self.pos,
                );
                self.push(Error, start);
                return;
            }
        };
        self.pos += len;
        self.push(kind, start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TokenKind::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        let (toks, diags) = lex(src);
        assert!(
            diags.is_empty(),
            "unexpected diagnostics for {src:?}: {diags:?}"
        );
        toks.into_iter().map(|t| t.kind).collect()
    }

    fn errors(src: &str) -> Vec<String> {
        lex(src).1.into_iter().map(|d| d.message).collect()
    }

    fn ident(s: &str) -> TokenKind {
        Ident(s.to_string())
    }

    #[test]
    fn integers() {
        assert_eq!(kinds("42"), vec![Int(42), Eof]);
        assert_eq!(kinds("10_000"), vec![Int(10_000), Eof]);
        assert_eq!(
            kinds("0xFF 0b1010 0o17"),
            vec![Int(255), Int(10), Int(15), Eof]
        );
        assert_eq!(
            kinds("9223372036854775807"),
            vec![Int(i64::MAX as u64), Eof]
        );
        // Let through for the parser, which only accepts it under unary minus.
        assert_eq!(kinds("9223372036854775808"), vec![Int(1 << 63), Eof]);
        assert_eq!(
            errors("9223372036854775809"),
            vec!["integer literal is too large"]
        );
        assert_eq!(
            errors("99999999999999999999999"),
            vec!["integer literal is too large"]
        );
        assert_eq!(
            errors("0x1_0000_0000_0000_0000"),
            vec!["integer literal is too large"]
        );
        assert_eq!(errors("0b102"), vec!["invalid digit `2` in binary literal"]);
        assert_eq!(
            errors("0x"),
            vec!["missing digits after the integer base prefix"]
        );
        assert_eq!(
            errors("12abc"),
            vec!["invalid suffix `abc` for number literal"]
        );
    }

    #[test]
    fn floats_and_dots() {
        assert_eq!(kinds("1.5"), vec![Float(1.5), Eof]);
        assert_eq!(
            kinds("1e10 1.5e-7 2E+3"),
            vec![Float(1e10), Float(1.5e-7), Float(2e3), Eof]
        );
        assert_eq!(kinds("2."), vec![Float(2.0), Eof]);
        assert_eq!(kinds("0..10"), vec![Int(0), DotDot, Int(10), Eof]);
        assert_eq!(kinds("1..=5"), vec![Int(1), DotDotEq, Int(5), Eof]);
        assert_eq!(
            kinds("1.max(2)"),
            vec![Int(1), Dot, ident("max"), LParen, Int(2), RParen, Eof]
        );
        assert_eq!(
            kinds("(7).to_string()"),
            vec![
                LParen,
                Int(7),
                RParen,
                Dot,
                ident("to_string"),
                LParen,
                RParen,
                Eof
            ]
        );
        assert_eq!(
            kinds("t.0.1"),
            vec![ident("t"), Dot, Int(0), Dot, Int(1), Eof]
        );
        assert_eq!(kinds("1.5..2.5"), vec![Float(1.5), DotDot, Float(2.5), Eof]);
    }

    #[test]
    fn keywords_operators_and_idents() {
        assert_eq!(
            kinds("fun fn let mut _ x_1 as"),
            vec![Fun, Fn, Let, Mut, ident("_"), ident("x_1"), As, Eof]
        );
        assert_eq!(
            kinds("** *= -> => == != <= >= << >> <<= >>= && || ..= !"),
            vec![
                StarStar, StarEq, Arrow, FatArrow, EqEq, Ne, Le, Ge, Shl, Shr, ShlEq, ShrEq,
                AmpAmp, PipePipe, DotDotEq, Bang, Eof
            ]
        );
        assert_eq!(kinds("a--3"), vec![ident("a"), Minus, Minus, Int(3), Eof]);
    }

    #[test]
    fn comments_and_newlines() {
        let src = "a // one\nb # two\n/* x /* nested */ y */ c /* \n */ d";
        let (toks, diags) = lex(src);
        assert!(diags.is_empty());
        let got: Vec<(TokenKind, bool)> = toks.into_iter().map(|t| (t.kind, t.nl_before)).collect();
        assert_eq!(
            got,
            vec![
                (ident("a"), true),
                (ident("b"), true),
                (ident("c"), true),
                (ident("d"), true),
                (Eof, false)
            ]
        );
        assert_eq!(kinds("a b")[1], ident("b"));
        assert!(!lex("a b").0[1].nl_before);
        assert_eq!(errors("/* /* */"), vec!["unterminated block comment"]);
    }

    #[test]
    fn strings() {
        assert_eq!(
            kinds(r#""tab\there" "q\"x\"" "\u{48}\u{1F600}\\\0\'""#),
            vec![
                Str("tab\there".into()),
                Str("q\"x\"".into()),
                Str("H\u{1F600}\\\0'".into()),
                Eof
            ]
        );
        assert_eq!(kinds("\"{name}\""), vec![Str("{name}".into()), Eof]);
        assert_eq!(
            kinds("\"multi\nline\""),
            vec![Str("multi\nline".into()), Eof]
        );
        assert_eq!(errors(r#""a\qb""#), vec!["unknown character escape `\\q`"]);
        assert_eq!(
            errors(r#""\u{110000}""#),
            vec!["invalid unicode character escape"]
        );
        assert_eq!(errors("\"abc"), vec!["unterminated string literal"]);
        assert_eq!(errors("\"abc\\"), vec!["unterminated string literal"]);
    }

    #[test]
    fn fstrings() {
        let src = r#"f"x={x} {a + 1}{{lit}}\n""#;
        let (toks, diags) = lex(src);
        assert!(diags.is_empty(), "{diags:?}");
        let FStr(pieces) = &toks[0].kind else {
            panic!("not an f-string: {:?}", toks[0]);
        };
        let texts: Vec<String> = pieces
            .iter()
            .map(|p| match p {
                FStrPiece::Lit(s) => format!("lit:{s}"),
                FStrPiece::Expr(sp) => format!("expr:{}", &src[sp.start as usize..sp.end as usize]),
            })
            .collect();
        assert_eq!(
            texts,
            vec!["lit:x=", "expr:x", "lit: ", "expr:a + 1", "lit:{lit}\n"]
        );
        assert_eq!(toks[0].span, Span::new(0, src.len()));
        // `f` not directly before a quote is an identifier.
        assert_eq!(kinds("f \"a\""), vec![ident("f"), Str("a".into()), Eof]);
        assert_eq!(errors(r#"f"{x""#), vec!["unclosed `{` in f-string"]);
        assert_eq!(errors(r#"f"{}""#), vec!["empty expression in f-string"]);
        assert_eq!(errors(r#"f"a}b""#), vec!["unmatched `}` in f-string"]);
        assert_eq!(errors(r#"f"abc"#), vec!["unterminated string literal"]);
    }

    #[test]
    fn unexpected_characters_keep_lexing() {
        let (toks, diags) = lex("a $ b @ é");
        let msgs: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "unexpected character `$`",
                "unexpected character `@`",
                "unexpected character `é`"
            ]
        );
        assert_eq!(toks.len(), 6);
        assert_eq!(toks[5].kind, Eof);
    }

    #[test]
    fn lex_range_offsets() {
        let src = "zz a + 1 zz";
        let (toks, diags) = lex_range(src, 3, 8);
        assert!(diags.is_empty());
        assert_eq!(toks[0].span, Span::new(3, 4));
        assert_eq!(toks[2].span, Span::new(7, 8));
        assert_eq!(toks[3].kind, Eof);
        // Clamped, never a panic.
        let (toks, _) = lex_range("é", 1, 99);
        assert_eq!(toks.last().map(|t| &t.kind), Some(&Eof));
    }
}

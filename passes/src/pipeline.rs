//! Pipelines as text: `specialize,inline{threshold=40},sccp,dce`. Parsing checks every name and
//! option against the registry and reports errors at a column of the pipeline string; printing
//! gives the canonical text back.

use crate::registry;
use std::collections::BTreeMap;
use std::fmt;

/// One pass of a pipeline with its options.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineEntry {
    pub name: String,
    pub options: BTreeMap<String, String>,
}

/// An ordered list of passes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pipeline {
    pub entries: Vec<PipelineEntry>,
}

/// A malformed pipeline: the message and the 1-based column in the pipeline text.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineError {
    pub column: usize,
    pub message: String,
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl PipelineError {
    /// The message with the pipeline text and a caret under the column.
    pub fn render(&self, text: &str) -> String {
        format!(
            "error: invalid pass pipeline: {}\n  {}\n  {}^\n",
            self.message,
            text,
            " ".repeat(self.column.saturating_sub(1))
        )
    }
}

/// The named optimization levels, as pipeline strings.
pub fn named(level: &str) -> Option<&'static str> {
    match level {
        "O0" | "-O0" => Some(""),
        "O1" | "-O1" => Some("sccp,simplify-cfg,dce"),
        "O2" | "-O2" => Some(
            "specialize,inline,partial-inline,sccp,simplify-cfg,gvn,licm,strength-reduce,overflow-elim,escape-analysis,dce,simplify-cfg,lower",
        ),
        _ => None,
    }
}

impl Pipeline {
    /// Parses pipeline text, checking pass names and options against the registry.
    pub fn parse(text: &str) -> Result<Pipeline, PipelineError> {
        let mut p = Parser {
            chars: text.char_indices().collect(),
            pos: 0,
        };
        let mut entries = vec![];
        p.skip_ws();
        if p.at_end() {
            return Ok(Pipeline { entries });
        }
        loop {
            p.skip_ws();
            let start = p.column();
            let name = p.ident();
            if name.is_empty() {
                return Err(p.error("expected a pass name"));
            }
            let entry = match registry::lookup(&name) {
                Ok(e) => e,
                Err(msg) => {
                    return Err(PipelineError {
                        column: start,
                        message: msg,
                    })
                }
            };
            let mut options = BTreeMap::new();
            p.skip_ws();
            if p.eat('{') {
                loop {
                    p.skip_ws();
                    if p.eat('}') {
                        break;
                    }
                    let ocol = p.column();
                    let key = p.ident();
                    if key.is_empty() {
                        return Err(p.error("expected an option name"));
                    }
                    if !entry.info.options.iter().any(|o| o.name == key) {
                        let valid: Vec<&str> = entry.info.options.iter().map(|o| o.name).collect();
                        let hint = if valid.is_empty() {
                            "it takes no options".to_string()
                        } else {
                            format!("valid options: {}", valid.join(", "))
                        };
                        return Err(PipelineError {
                            column: ocol,
                            message: format!("pass `{name}` has no option `{key}` ({hint})"),
                        });
                    }
                    p.skip_ws();
                    if !p.eat('=') {
                        return Err(p.error("expected `=` after the option name"));
                    }
                    p.skip_ws();
                    let value = p.value();
                    if value.is_empty() {
                        return Err(p.error("expected an option value"));
                    }
                    options.insert(key, value);
                    p.skip_ws();
                    if p.eat(',') {
                        continue;
                    }
                    if p.eat('}') {
                        break;
                    }
                    return Err(p.error("expected `,` or `}` in the option list"));
                }
            }
            let e = PipelineEntry { name, options };
            // Options are checked by the pass itself, with the position of the entry.
            if let Err(msg) = (entry.create)(&crate::PassOptions::new(e.options.clone())) {
                return Err(PipelineError {
                    column: start,
                    message: msg,
                });
            }
            entries.push(e);
            p.skip_ws();
            if p.at_end() {
                break;
            }
            if !p.eat(',') {
                return Err(p.error("expected `,` between passes"));
            }
        }
        Ok(Pipeline { entries })
    }

    /// Parses a pipeline string or a named level (`O2`, `-O2`).
    pub fn parse_or_named(text: &str) -> Result<Pipeline, PipelineError> {
        match named(text.trim()) {
            Some(p) => Pipeline::parse(p),
            None => Pipeline::parse(text),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Display for PipelineEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.options.is_empty() {
            let opts: Vec<String> = self
                .options
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            write!(f, "{{{}}}", opts.join(","))?;
        }
        Ok(())
    }
}

impl fmt::Display for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

struct Parser {
    chars: Vec<(usize, char)>,
    pos: usize,
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|c| c.1)
    }

    fn column(&self) -> usize {
        self.pos + 1
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn ident(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                s.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        s
    }

    /// An option value: anything up to a top-level `,` or `}`; parentheses nest, so
    /// `sig=(i64,i64)` is one value.
    fn value(&mut self) -> String {
        let mut s = String::new();
        let mut depth = 0;
        while let Some(c) = self.peek() {
            match c {
                '(' => depth += 1,
                ')' if depth > 0 => depth -= 1,
                ',' | '}' if depth == 0 => break,
                _ => {}
            }
            s.push(c);
            self.pos += 1;
        }
        s.trim().to_string()
    }

    fn error(&self, message: &str) -> PipelineError {
        let found = match self.peek() {
            Some(c) => format!(", found `{c}`"),
            None => ", found the end of the pipeline".to_string(),
        };
        PipelineError {
            column: self.column(),
            message: format!("{message}{found}"),
        }
    }
}

//! Runtime errors: a message, the position that raised it and the Ruchy call stack, rendered the
//! same way by every tier.

use ruchy_ir::SrcLoc;
use std::fmt::Write as _;

/// One frame of a Ruchy call stack: the function and the position executing in it.
#[derive(Clone, Debug, PartialEq)]
pub struct StackFrame {
    pub function: String,
    pub loc: SrcLoc,
}

/// An error raised while running a program (exit code 1).
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimeError {
    pub message: String,
    /// Where the error was raised (innermost non-hidden frame).
    pub loc: SrcLoc,
    /// Innermost frame first.
    pub stack: Vec<StackFrame>,
}

/// How many frames a rendered stack shows at each end when it is deep.
const SHOWN_FRAMES: usize = 12;

impl RuntimeError {
    /// Renders `file:line:col: error: message`, the source line with a caret, and the call stack.
    /// `source_line` gives the text of a 1-based line, when the source is at hand.
    pub fn render(&self, file: &str, source_line: &dyn Fn(u32) -> Option<String>) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}:{}:{}: error: {}",
            file, self.loc.line, self.loc.col, self.message
        );
        if let Some(text) = source_line(self.loc.line) {
            let gutter = self.loc.line.to_string().len().max(4);
            let _ = writeln!(out, "{:>gutter$} | {}", self.loc.line, text);
            let pad: String = text
                .chars()
                .take(self.loc.col.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = writeln!(out, "{:>gutter$} | {}^", "", pad);
        }
        if !self.stack.is_empty() {
            let _ = writeln!(out, "call stack (innermost first):");
            let n = self.stack.len();
            for (i, f) in self.stack.iter().enumerate() {
                if n > 2 * SHOWN_FRAMES && i == SHOWN_FRAMES {
                    let _ = writeln!(out, "  ... {} more frames ...", n - 2 * SHOWN_FRAMES);
                }
                if n > 2 * SHOWN_FRAMES && i >= SHOWN_FRAMES && i < n - SHOWN_FRAMES {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "  at {} ({}:{}:{})",
                    f.function, file, f.loc.line, f.loc.col
                );
            }
        }
        out
    }
}

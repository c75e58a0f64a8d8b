//! Source files, spans and diagnostics rendered as `file:line:col: error: ...` with the source
//! line and a caret.

use std::fmt::Write as _;

/// A byte range `start..end` in a source file.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A named source text with a line index for turning offsets into `line:col`.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    line_starts: Vec<u32>,
    /// The byte offset of every multi-byte character, in order, and `extra_bytes[k]`: how many
    /// bytes beyond one per character the first `k` of them take. A column is then a byte
    /// distance less the extra bytes in between, found by binary search, rather than a count
    /// of characters from the line's start (which made a 100,000-element array literal on one
    /// line quadratic to compile).
    multibyte: Vec<u32>,
    extra_bytes: Vec<u32>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let mut line_starts = vec![0u32];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i as u32 + 1);
            }
        }
        let mut multibyte = vec![];
        let mut extra_bytes = vec![0u32];
        if !text.is_ascii() {
            for (i, c) in text.char_indices().filter(|(_, c)| !c.is_ascii()) {
                multibyte.push(i as u32);
                let total = extra_bytes.last().copied().unwrap_or(0);
                extra_bytes.push(total + c.len_utf8() as u32 - 1);
            }
        }
        SourceFile {
            name: name.into(),
            text,
            line_starts,
            multibyte,
            extra_bytes,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (u32, u32) {
        let offset = offset.min(self.text.len() as u32);
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        // Inside a multi-byte character: the column of that character.
        let mut end = offset as usize;
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let end = end as u32;
        let extra_before = |x: u32| self.extra_bytes[self.multibyte.partition_point(|&m| m < x)];
        let chars = (end - start) - (extra_before(end) - extra_before(start));
        (line as u32 + 1, chars + 1)
    }

    /// The text of 1-based line `line`, without its newline.
    pub fn line_text(&self, line: u32) -> &str {
        let i = line.saturating_sub(1) as usize;
        if i >= self.line_starts.len() {
            return "";
        }
        let start = self.line_starts[i] as usize;
        let end = self
            .line_starts
            .get(i + 1)
            .map(|&e| e as usize)
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    /// Renders a message at a 1-based line and column:
    ///
    /// ```text
    /// file.ruchy:3:9: error: unexpected `)`
    ///     3 | let x = )
    ///       |         ^
    /// ```
    pub fn render_at(
        &self,
        line: u32,
        col: u32,
        width: u32,
        severity: &str,
        message: &str,
    ) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}:{}:{}: {}: {}",
            self.name, line, col, severity, message
        );
        if line >= 1 && (line as usize) <= self.line_starts.len() {
            let text = self.line_text(line);
            let gutter = line.to_string().len().max(4);
            let _ = writeln!(out, "{:>gutter$} | {}", line, text);
            let pad: String = text
                .chars()
                .take(col.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let carets = "^".repeat(width.max(1) as usize);
            let _ = writeln!(out, "{:>gutter$} | {}{}", "", pad, carets);
        }
        out
    }

    /// Renders a diagnostic at a span; the caret underlines the span's first line.
    pub fn render(&self, span: Span, severity: &str, message: &str) -> String {
        let (line, col) = self.line_col(span.start);
        let (end_line, end_col) = self.line_col(span.end);
        let width = if end_line == line && end_col > col {
            end_col - col
        } else {
            1
        };
        self.render_at(line, col, width, severity, message)
    }
}

/// An error found in the source before anything runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub message: String,
    pub span: Span,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>, span: Span) -> Self {
        Diagnostic {
            message: message.into(),
            span,
        }
    }
}

/// Renders all diagnostics of a file, in order.
pub fn render_all(file: &SourceFile, diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| file.render(d.span, "error", &d.message))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::SourceFile;

    #[test]
    fn columns_count_characters_on_lines_with_non_ascii_text() {
        let f = SourceFile::new("t.ruchy", "let a = 1\nlet é = \"ü\" + x\n\nz");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(8), (1, 9));
        // `x` on line 2: bytes 10.. are `let é = "ü" + x`, with é and ü two bytes each.
        let x = f.text.find('x').unwrap() as u32;
        assert_eq!(f.line_col(x), (2, 15));
        // Inside a multi-byte character: the column of that character.
        let e = f.text.find('é').unwrap() as u32;
        assert_eq!(f.line_col(e + 1), (2, 5));
        assert_eq!(f.line_col(f.text.len() as u32 - 1), (4, 1));
        // Past the end: the end.
        assert_eq!(f.line_col(1000), (4, 2));
    }
}

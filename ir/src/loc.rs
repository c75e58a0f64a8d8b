//! Source locations carried by every instruction, so that errors raised by any tier (and, later,
//! trap sites in machine code) point back at `file:line:col`.

use std::fmt;

/// A 1-based line and column in the Ruchy source the instruction came from. `line == 0` means
/// unknown (IR written by hand without `loc(...)`).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Default, PartialOrd, Ord)]
pub struct SrcLoc {
    pub line: u32,
    pub col: u32,
}

impl SrcLoc {
    pub const UNKNOWN: SrcLoc = SrcLoc { line: 0, col: 0 };

    pub fn new(line: u32, col: u32) -> Self {
        SrcLoc { line, col }
    }

    pub fn is_known(self) -> bool {
        self.line != 0
    }
}

impl fmt::Display for SrcLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

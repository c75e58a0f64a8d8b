//! Per-pass counters for `--stats` ("inline: 12 call sites inlined").

use indexmap::IndexMap;

/// Counters of one pass, in the order they were first bumped.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PassStats {
    pub counters: IndexMap<String, u64>,
    /// Free-form remarks (why a function was not specialized, ...), shown with the counters.
    pub remarks: Vec<String>,
}

impl PassStats {
    /// Adds `n` to the counter described by `what` (a plural phrase: "call sites inlined").
    pub fn add(&mut self, what: &str, n: u64) {
        if n > 0 {
            *self.counters.entry(what.to_string()).or_default() += n;
        }
    }

    pub fn remark(&mut self, text: impl Into<String>) {
        self.remarks.push(text.into());
    }

    pub fn get(&self, what: &str) -> u64 {
        self.counters.get(what).copied().unwrap_or(0)
    }

    pub fn merge(&mut self, other: PassStats) {
        for (k, v) in other.counters {
            *self.counters.entry(k).or_default() += v;
        }
        self.remarks.extend(other.remarks);
    }
}

//! The single list of passes. Pipeline parsing, `--list-passes`, timing labels and "did you
//! mean" suggestions all read it, so adding a pass is one line here.

use crate::pass::{Pass, PassInfo, PassOptions};
use crate::transforms;

/// How to make a pass from its pipeline options.
pub struct PassEntry {
    pub info: &'static PassInfo,
    pub create: fn(&PassOptions) -> Result<Box<dyn Pass>, String>,
}

/// Every pass, in the order `--list-passes` shows them.
pub static REGISTRY: &[PassEntry] = &[
    transforms::specialize::ENTRY,
    transforms::inline::ENTRY,
    transforms::partial_inline::ENTRY,
    transforms::sccp::ENTRY,
    transforms::dce::ENTRY,
    transforms::simplify_cfg::ENTRY,
    transforms::gvn::ENTRY,
    transforms::licm::ENTRY,
    transforms::strength_reduce::ENTRY,
    transforms::overflow_elim::ENTRY,
    transforms::escape_analysis::ENTRY,
    transforms::lower::ENTRY,
    transforms::peephole::ENTRY,
];

/// Finds a pass by name, or explains that it does not exist and suggests the closest name.
pub fn lookup(name: &str) -> Result<&'static PassEntry, String> {
    if let Some(e) = REGISTRY.iter().find(|e| e.info.name == name) {
        return Ok(e);
    }
    let best = REGISTRY
        .iter()
        .map(|e| (edit_distance(name, e.info.name), e.info.name))
        .min();
    match best {
        Some((d, suggestion)) if d <= 3.max(name.len() / 3) => Err(format!(
            "unknown pass `{name}`, did you mean `{suggestion}`?"
        )),
        _ => Err(format!(
            "unknown pass `{name}` (`--list-passes` shows them all)"
        )),
    }
}

/// Creates a pass with options.
pub fn create(name: &str, options: &PassOptions) -> Result<Box<dyn Pass>, String> {
    let e = lookup(name)?;
    (e.create)(options)
}

/// `--list-passes`: name, description and options of every pass.
pub fn describe_all() -> String {
    let mut out = String::new();
    let width = REGISTRY
        .iter()
        .map(|e| e.info.name.len())
        .max()
        .unwrap_or(0);
    for e in REGISTRY {
        out.push_str(&format!(
            "  {:width$}  {}\n",
            e.info.name, e.info.description
        ));
        for o in e.info.options {
            let default = if o.default.is_empty() {
                String::new()
            } else {
                format!(" (default {})", o.default)
            };
            out.push_str(&format!(
                "  {:width$}    {}=...  {}{}\n",
                "", o.name, o.description, default
            ));
        }
    }
    out
}

/// Levenshtein distance, for suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_name() {
        assert_eq!(
            lookup("inlin").err().unwrap(),
            "unknown pass `inlin`, did you mean `inline`?"
        );
        assert!(lookup("zzzzzzzzzzzz")
            .err()
            .unwrap()
            .contains("--list-passes"));
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in REGISTRY.iter().enumerate() {
            for b in &REGISTRY[i + 1..] {
                assert_ne!(a.info.name, b.info.name);
            }
        }
    }
}

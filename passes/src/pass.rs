//! The one trait every pass implements, and the static description the registry keeps of it.

use crate::analysis::FunctionAnalyses;
use crate::stats::PassStats;
use ruchy_ir::{FuncId, Function, Module};
use std::collections::BTreeMap;

/// What a pass runs on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Once on the whole module (inlining, specialization).
    Module,
    /// Once per function, with the rest of the module visible read-only.
    Function,
}

/// An option a pass accepts in a pipeline (`inline{threshold=40}`).
#[derive(Debug)]
pub struct OptionInfo {
    pub name: &'static str,
    pub description: &'static str,
    /// The value used when the pipeline does not set it (empty: unset).
    pub default: &'static str,
}

/// What the registry, `--list-passes`, timing tables and diagnostics know about a pass.
#[derive(Debug)]
pub struct PassInfo {
    pub name: &'static str,
    /// One line, saying what the pass does.
    pub description: &'static str,
    pub scope: Scope,
    pub options: &'static [OptionInfo],
}

/// Option values given in a pipeline, checked against the pass's `OptionInfo`s.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PassOptions {
    values: BTreeMap<String, String>,
}

impl PassOptions {
    pub fn new(values: BTreeMap<String, String>) -> Self {
        PassOptions { values }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|s| s.as_str())
    }

    /// An unsigned integer option, or its default.
    pub fn usize_or(&self, name: &str, default: usize) -> Result<usize, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("option `{name}` takes a non-negative integer, not `{v}`")),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.values.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// What a function pass sees besides the function: the module (read-only; the function being
/// transformed is temporarily replaced there by a body-less copy of its signature), cached
/// analyses and the stats counters.
pub struct FunctionCx<'a> {
    pub module: &'a Module,
    pub func_id: FuncId,
    pub analyses: &'a mut FunctionAnalyses,
    pub stats: &'a mut PassStats,
}

/// What a module pass sees besides the module.
pub struct ModuleCx<'a> {
    pub stats: &'a mut PassStats,
}

/// A transformation of the IR. Implement the `run_*` method matching `info().scope`; return
/// whether anything changed (the manager invalidates analyses, prints `--print-ir-after-change`
/// dumps and re-verifies accordingly).
pub trait Pass {
    fn info(&self) -> &'static PassInfo;

    fn run_function(
        &mut self,
        _func: &mut Function,
        _cx: &mut FunctionCx<'_>,
    ) -> Result<bool, String> {
        Ok(false)
    }

    fn run_module(&mut self, _module: &mut Module, _cx: &mut ModuleCx<'_>) -> Result<bool, String> {
        Ok(false)
    }
}

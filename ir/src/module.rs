//! A module: the functions and globals lowered from one Ruchy file.

use crate::entities::{FuncId, GlobalId};
use crate::function::Function;
use cranelift_entity::PrimaryMap;
use indexmap::IndexMap;

/// A module-level variable.
#[derive(Clone, Debug, PartialEq)]
pub struct GlobalData {
    /// Unique in the module (shadowed top-level names get a `.N` suffix).
    pub name: String,
    /// The Ruchy name, for "undefined variable" errors.
    pub source_name: String,
}

/// Functions, globals and the entry point of a program.
#[derive(Clone, Debug, Default)]
pub struct Module {
    /// The source file name, used in error positions.
    pub source: String,
    pub funcs: PrimaryMap<FuncId, Function>,
    pub globals: PrimaryMap<GlobalId, GlobalData>,
    /// The function that runs the program.
    pub entry: Option<FuncId>,
    names: IndexMap<String, FuncId>,
}

impl Module {
    pub fn new(source: impl Into<String>) -> Self {
        Module {
            source: source.into(),
            ..Module::default()
        }
    }

    /// Adds a function; its name must not be taken (checked by the caller or the parser).
    pub fn add_function(&mut self, f: Function) -> FuncId {
        let name = f.name.clone();
        let id = self.funcs.push(f);
        self.names.insert(name, id);
        id
    }

    /// Reserves an id for a function whose body is built later, so that calls to it (recursion,
    /// forward references) can be lowered first.
    pub fn declare_function(&mut self, f: Function) -> FuncId {
        self.add_function(f)
    }

    pub fn func_by_name(&self, name: &str) -> Option<FuncId> {
        self.names.get(name).copied()
    }

    pub fn global_by_name(&self, name: &str) -> Option<GlobalId> {
        self.globals
            .iter()
            .find(|(_, g)| g.name == name)
            .map(|(id, _)| id)
    }

    pub fn add_global(
        &mut self,
        name: impl Into<String>,
        source_name: impl Into<String>,
    ) -> GlobalId {
        self.globals.push(GlobalData {
            name: name.into(),
            source_name: source_name.into(),
        })
    }

    /// Renames a function, keeping the name index in step.
    pub fn rename_function(&mut self, id: FuncId, name: String) {
        let old = std::mem::replace(&mut self.funcs[id].name, name.clone());
        self.names.shift_remove(&old);
        self.names.insert(name, id);
    }

    /// Total number of placed instructions over all functions.
    pub fn inst_count(&self) -> usize {
        self.funcs.values().map(|f| f.inst_count()).sum()
    }
}

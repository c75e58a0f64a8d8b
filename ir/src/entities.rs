//! Entity references: `u32` newtypes indexing the arenas of a [`crate::Function`] or
//! [`crate::Module`].
//!
//! Each entity displays as it is spelled in the text IR (`%v3`, `^bb2`), so diagnostics, dumps and
//! the printer all agree on one spelling. Functions and globals are spelled by name (`@fib`) in the
//! text form; their `Display` (`fn3`, `g1`) is only for debugging output that has no module at hand.

use cranelift_entity::entity_impl;

/// An SSA value: an instruction result or a block parameter.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Value(u32);
entity_impl!(Value, "%v");

/// A basic block. Blocks take parameters instead of phi nodes.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Block(u32);
entity_impl!(Block, "^bb");

/// An instruction. Instructions have no name in the text form; they are spelled by position.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Inst(u32);
entity_impl!(Inst, "inst");

/// A function of a module, spelled `@name` in the text form.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FuncId(u32);
entity_impl!(FuncId, "fn");

/// A module-level variable (a top-level Ruchy `let` that functions refer to), spelled `@name`.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GlobalId(u32);
entity_impl!(GlobalId, "g");

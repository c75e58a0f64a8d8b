//! The Ruchy runtime: values, the tier-0 interpreter with built-in profiling, and runtime errors
//! that carry a source position and the Ruchy call stack.

pub mod array;
pub mod error;
pub mod format;
pub mod interp;
pub mod jit;
pub mod ops;
pub mod profile;
pub mod value;

pub use error::{RuntimeError, StackFrame};
pub use interp::{Config, Interpreter, BIG_NATIVE_STACK};
pub use jit::JitConfig;
pub use profile::Profile;
pub use value::{Closure, Value};

//! The run-time representation of Ruchy values.
//!
//! A [`Value`] is 16 bytes: a tag and an 8-byte payload. Integers, floats, booleans, nil and
//! plain function references live inline (no heap allocation); strings, arrays, tuples, closures
//! and cells are reference counted. Strings are `Rc<String>` rather than `Rc<str>` so that a
//! string held by a single owner can be appended to in place (`s = s + x` in a loop is linear, not
//! quadratic), and arrays are shared by reference like Python lists.

use ruchy_ir::FuncId;
use std::cell::RefCell;
use std::rc::Rc;

/// A dynamically typed Ruchy value.
#[derive(Clone, Debug, Default)]
pub enum Value {
    #[default]
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<String>),
    Array(Rc<RefCell<Vec<Value>>>),
    Tuple(Rc<Vec<Value>>),
    /// A function with no captured environment.
    Func(FuncId),
    Closure(Rc<Closure>),
    /// A variable captured by reference.
    Cell(Rc<RefCell<Value>>),
    /// The content of a global before its first assignment; reading it is an error.
    Undef,
}

/// A function together with the values it captured; they are passed as its leading parameters.
#[derive(Debug)]
pub struct Closure {
    pub func: FuncId,
    pub captures: Vec<Value>,
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(Rc::new(s.into()))
    }

    pub fn array(items: Vec<Value>) -> Value {
        Value::Array(Rc::new(RefCell::new(items)))
    }

    /// The type name used by `type_of` and in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil | Value::Undef => "nil",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Array(_) => "array",
            Value::Tuple(_) => "tuple",
            Value::Func(_) | Value::Closure(_) => "function",
            Value::Cell(_) => "cell",
        }
    }

    /// A small number identifying the run-time type, for profiling type signatures.
    pub fn type_tag(&self) -> u8 {
        match self {
            Value::Nil | Value::Undef => 0,
            Value::Bool(_) => 1,
            Value::Int(_) => 2,
            Value::Float(_) => 3,
            Value::Str(_) => 4,
            Value::Array(_) => 5,
            Value::Tuple(_) => 6,
            Value::Func(_) | Value::Closure(_) => 7,
            Value::Cell(_) => 8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_two_words() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
    }
}

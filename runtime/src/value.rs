//! The run-time representation of Ruchy values.
//!
//! A [`Value`] is 16 bytes: a tag and an 8-byte payload. Integers, floats, booleans, nil and
//! plain function references live inline (no heap allocation); strings, arrays, tuples, closures
//! and cells are reference counted. Strings are `Rc<String>` rather than `Rc<str>` so that a
//! string held by a single owner can be appended to in place (`s = s + x` in a loop is linear, not
//! quadratic), and arrays are shared by reference like Python lists (with typed element storage, see
//! [`crate::array`]).

use crate::array::ArrayObj;
use ruchy_ir::{FuncId, Type};
use std::cell::RefCell;
use std::rc::Rc;

/// A dynamically typed Ruchy value.
///
/// The layout is fixed (`repr(C, u64)`: an 8-byte tag, then an 8-byte payload) so that compiled
/// code can read and write values in memory: the tag numbers are [`Value::TAG_NIL`] and friends.
#[derive(Clone, Debug, Default)]
#[repr(C, u64)]
pub enum Value {
    #[default]
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<String>),
    Array(Rc<ArrayObj>),
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
    /// Tags of the fixed layout, in declaration order.
    pub const TAG_NIL: u64 = 0;
    pub const TAG_BOOL: u64 = 1;
    pub const TAG_INT: u64 = 2;
    pub const TAG_FLOAT: u64 = 3;
    pub const TAG_STR: u64 = 4;
    pub const TAG_ARRAY: u64 = 5;
    pub const TAG_TUPLE: u64 = 6;
    pub const TAG_FUNC: u64 = 7;
    pub const TAG_CLOSURE: u64 = 8;
    pub const TAG_CELL: u64 = 9;
    pub const TAG_UNDEF: u64 = 10;

    /// The two words of the fixed layout (tag, payload), as compiled code sees them: a copy
    /// that owns nothing.
    pub fn layout_words(&self) -> [u64; 2] {
        // SAFETY: `Value` is `repr(C, u64)`: 16 bytes, an 8-byte tag then an 8-byte payload
        // (checked by `layout_tags_match_declaration_order`); reading them copies bits only.
        unsafe { *(self as *const Value as *const [u64; 2]) }
    }

    /// The tag of the fixed layout (what compiled code reads at offset 0).
    pub fn layout_tag(&self) -> u64 {
        match self {
            Value::Nil => Self::TAG_NIL,
            Value::Bool(_) => Self::TAG_BOOL,
            Value::Int(_) => Self::TAG_INT,
            Value::Float(_) => Self::TAG_FLOAT,
            Value::Str(_) => Self::TAG_STR,
            Value::Array(_) => Self::TAG_ARRAY,
            Value::Tuple(_) => Self::TAG_TUPLE,
            Value::Func(_) => Self::TAG_FUNC,
            Value::Closure(_) => Self::TAG_CLOSURE,
            Value::Cell(_) => Self::TAG_CELL,
            Value::Undef => Self::TAG_UNDEF,
        }
    }

    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(Rc::new(s.into()))
    }

    pub fn array(items: Vec<Value>) -> Value {
        Value::Array(Rc::new(ArrayObj::new(items)))
    }

    /// Whether the value owns no heap data (dropping it does nothing).
    #[inline(always)]
    pub fn is_scalar(&self) -> bool {
        matches!(
            self,
            Value::Nil
                | Value::Bool(_)
                | Value::Int(_)
                | Value::Float(_)
                | Value::Func(_)
                | Value::Undef
        )
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

    /// The `type_tag` every value of static type `ty` has, if they all have the same one
    /// (`any` values do not).
    pub fn type_tag_of(ty: Type) -> Option<u8> {
        Some(match ty {
            Type::Unit => 0,
            Type::Bool => 1,
            Type::I64 => 2,
            Type::F64 => 3,
            Type::Str => 4,
            Type::Array(_) => 5,
            Type::Tuple => 6,
            Type::Func | Type::Closure => 7,
            Type::Cell => 8,
            Type::Any => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_two_words() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
    }

    #[test]
    fn layout_tags_match_declaration_order() {
        fn tag(v: &Value) -> u64 {
            // SAFETY: `Value` is `repr(C, u64)`, so its first 8 bytes are the tag.
            unsafe { *(v as *const Value as *const u64) }
        }
        assert_eq!(tag(&Value::Nil), Value::TAG_NIL);
        assert_eq!(tag(&Value::Bool(true)), Value::TAG_BOOL);
        assert_eq!(tag(&Value::Int(5)), Value::TAG_INT);
        assert_eq!(tag(&Value::Float(1.0)), Value::TAG_FLOAT);
        assert_eq!(tag(&Value::str("s")), Value::TAG_STR);
        assert_eq!(tag(&Value::array(vec![])), Value::TAG_ARRAY);
        assert_eq!(tag(&Value::Undef), Value::TAG_UNDEF);
    }
}

//! IR types.
//!
//! `any` is a dynamic Ruchy value whose meaning is decided at run time; every other type is
//! concrete. Every concrete type converts implicitly to `any` (a use of an `i64` value where `any`
//! is expected is legal at every level; backends box it by its static type), never the reverse:
//! going from `any` to a concrete type needs a `guard` or a `dyn` op.

use std::fmt;

/// Element types an `array<T>` can hold. Nested arrays are `array<any>`.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum ElemType {
    Any,
    I64,
    F64,
    Bool,
    Str,
}

/// The type of an SSA value.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Type {
    /// A dynamically typed Ruchy value.
    Any,
    I64,
    F64,
    Bool,
    /// The type of `nil` and of expressions that produce no value.
    Unit,
    /// An immutable UTF-8 string.
    Str,
    /// A growable array shared by reference.
    Array(ElemType),
    /// An immutable tuple `(a, b)`.
    Tuple,
    /// A reference to a function with no captured environment (`func.ref`).
    Func,
    /// A function plus captured values (`func.closure`).
    Closure,
    /// A mutable heap cell holding an `any`: a variable captured by reference.
    Cell,
}

impl Type {
    /// Whether a value of type `self` may be used where `expected` is required.
    pub fn fits(self, expected: Type) -> bool {
        self == expected || expected == Type::Any
    }

    /// Whether the type is known at compile time (everything but `any`).
    pub fn is_concrete(self) -> bool {
        self != Type::Any
    }

    pub fn array_elem(self) -> Option<ElemType> {
        match self {
            Type::Array(e) => Some(e),
            _ => None,
        }
    }

    /// All types that have a spelling without parameters, for parsers and generators.
    pub const SIMPLE: [Type; 9] = [
        Type::Any,
        Type::I64,
        Type::F64,
        Type::Bool,
        Type::Unit,
        Type::Str,
        Type::Tuple,
        Type::Func,
        Type::Closure,
    ];

    /// Parses a type spelling (`i64`, `array<any>`), the inverse of `Display`.
    pub fn parse(s: &str) -> Option<Type> {
        Some(match s {
            "any" => Type::Any,
            "i64" => Type::I64,
            "f64" => Type::F64,
            "bool" => Type::Bool,
            "unit" => Type::Unit,
            "str" => Type::Str,
            "tuple" => Type::Tuple,
            "func" => Type::Func,
            "closure" => Type::Closure,
            "cell" => Type::Cell,
            _ => {
                let inner = s.strip_prefix("array<")?.strip_suffix('>')?;
                Type::Array(ElemType::parse(inner)?)
            }
        })
    }
}

impl ElemType {
    pub fn to_type(self) -> Type {
        match self {
            ElemType::Any => Type::Any,
            ElemType::I64 => Type::I64,
            ElemType::F64 => Type::F64,
            ElemType::Bool => Type::Bool,
            ElemType::Str => Type::Str,
        }
    }

    pub fn parse(s: &str) -> Option<ElemType> {
        Some(match s {
            "any" => ElemType::Any,
            "i64" => ElemType::I64,
            "f64" => ElemType::F64,
            "bool" => ElemType::Bool,
            "str" => ElemType::Str,
            _ => return None,
        })
    }
}

impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_type().fmt(f)
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Any => f.write_str("any"),
            Type::I64 => f.write_str("i64"),
            Type::F64 => f.write_str("f64"),
            Type::Bool => f.write_str("bool"),
            Type::Unit => f.write_str("unit"),
            Type::Str => f.write_str("str"),
            Type::Array(e) => write!(f, "array<{e}>"),
            Type::Tuple => f.write_str("tuple"),
            Type::Func => f.write_str("func"),
            Type::Closure => f.write_str("closure"),
            Type::Cell => f.write_str("cell"),
        }
    }
}

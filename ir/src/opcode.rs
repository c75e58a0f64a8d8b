//! The op table: every op of every dialect, with the properties that the verifier, the printer,
//! the parser and the passes consult. Adding an op means adding one line here and giving it
//! semantics in the interpreter (and, for typed ops, in the backends).

use std::fmt;

/// Dialects group ops by the level of abstraction they belong to.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Dialect {
    /// Operations on `any` values whose meaning depends on run-time types.
    Dyn,
    /// Typed scalar arithmetic, comparisons and conversions.
    Arith,
    /// Control flow: branches, returns, traps.
    Cf,
    /// Calls and closure creation.
    Func,
    /// Globals and heap cells.
    Mem,
    /// Arrays and tuples.
    Array,
    /// Strings.
    Str,
    /// Calls into the runtime (printing).
    Rt,
    /// Type checks that leave compiled code when they fail.
    Guard,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Dyn => "dyn",
            Dialect::Arith => "arith",
            Dialect::Cf => "cf",
            Dialect::Func => "func",
            Dialect::Mem => "mem",
            Dialect::Array => "array",
            Dialect::Str => "str",
            Dialect::Rt => "rt",
            Dialect::Guard => "guard",
        }
    }
}

/// What kind of immediate an op carries, which fixes its text syntax.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum ImmKind {
    None,
    /// A literal constant: `42`, `1.5`, `true`, `nil`, `"text"`.
    Const,
    /// A comparison predicate: `lt`.
    Cmp,
    /// A callee or closure body: `@name(args)`.
    Func,
    /// A global: `@name`.
    Global,
    /// A builtin function name: `sqrt(args)`.
    Builtin,
    /// A method name: `push(args)`.
    Method,
    /// A trap message: `"Division by zero"`.
    Message,
    /// The case values of a `cf.switch`.
    Cases,
}

macro_rules! opcodes {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $dialect:ident, $imm:ident, $flags:expr; )*) => {
        /// Every op of every dialect.
        #[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
        pub enum Opcode {
            $( $(#[$doc])* $variant, )*
        }

        impl Opcode {
            /// All ops, in table order.
            pub const ALL: &'static [Opcode] = &[ $( Opcode::$variant, )* ];

            /// The op's full text name, `dialect.op`.
            pub fn name(self) -> &'static str {
                match self { $( Opcode::$variant => $name, )* }
            }

            pub fn dialect(self) -> Dialect {
                match self { $( Opcode::$variant => Dialect::$dialect, )* }
            }

            pub fn imm_kind(self) -> ImmKind {
                match self { $( Opcode::$variant => ImmKind::$imm, )* }
            }

            fn flags(self) -> u8 {
                match self { $( Opcode::$variant => $flags, )* }
            }
        }
    };
}

/// Ends a block.
const TERM: u8 = 1;
/// Has an effect beyond its result (I/O, memory, may raise an error): never removed when unused,
/// never moved across other effects.
const EFFECT: u8 = 2;
/// Produces no result.
const NORES: u8 = 4;
/// Only legal at the `lowered` level.
const LOWERED: u8 = 8;
const PURE: u8 = 0;

opcodes! {
    // ---- dyn: meaning depends on run-time types; all may raise type errors.
    /// `+` on any values: numbers, string concatenation, array concatenation.
    DynAdd = "dyn.add", Dyn, None, EFFECT;
    DynSub = "dyn.sub", Dyn, None, EFFECT;
    DynMul = "dyn.mul", Dyn, None, EFFECT;
    DynDiv = "dyn.div", Dyn, None, EFFECT;
    DynRem = "dyn.rem", Dyn, None, EFFECT;
    /// `**`: an int when it fits, else a float.
    DynPow = "dyn.pow", Dyn, None, EFFECT;
    DynNeg = "dyn.neg", Dyn, None, EFFECT;
    /// `!` on a value that must be a bool.
    DynNot = "dyn.not", Dyn, None, EFFECT;
    DynBitAnd = "dyn.bitand", Dyn, None, EFFECT;
    DynBitOr = "dyn.bitor", Dyn, None, EFFECT;
    DynBitXor = "dyn.bitxor", Dyn, None, EFFECT;
    DynShl = "dyn.shl", Dyn, None, EFFECT;
    DynShr = "dyn.shr", Dyn, None, EFFECT;
    DynBitNot = "dyn.bitnot", Dyn, None, EFFECT;
    /// Comparison of any two values; result is `bool`.
    DynCmp = "dyn.cmp", Dyn, Cmp, EFFECT;
    /// The condition of `if`/`while`: a bool, else a type error.
    DynTruthy = "dyn.truthy", Dyn, None, EFFECT;
    /// `x[i]` on arrays, strings and tuples.
    DynIndex = "dyn.index", Dyn, None, EFFECT;
    /// `x[i] = v`.
    DynSetIndex = "dyn.set_index", Dyn, None, EFFECT | NORES;
    /// `len(x)`.
    DynLen = "dyn.len", Dyn, None, EFFECT;
    /// A call through a function or closure value.
    DynCall = "dyn.call", Dyn, None, EFFECT;
    /// `recv.name(args)`: the receiver is the first operand.
    DynMethod = "dyn.method", Dyn, Method, EFFECT;
    /// A builtin function applied to any values (`sqrt`, `abs`, `min`, ...).
    DynBuiltin = "dyn.builtin", Dyn, Builtin, EFFECT;
    /// `x as f64`, `float(x)`, `int(x)`: the result type names the target.
    DynCast = "dyn.cast", Dyn, None, EFFECT;

    // ---- arith: typed scalars. Integer add/sub/mul/div/rem/neg are checked and raise the
    // overflow / division-by-zero errors.
    Const = "arith.const", Arith, Const, PURE;
    AddI = "arith.addi", Arith, None, EFFECT;
    SubI = "arith.subi", Arith, None, EFFECT;
    MulI = "arith.muli", Arith, None, EFFECT;
    DivI = "arith.divi", Arith, None, EFFECT;
    RemI = "arith.remi", Arith, None, EFFECT;
    NegI = "arith.negi", Arith, None, EFFECT;
    /// Wrapping forms, for passes that proved the checked form cannot overflow.
    AddIWrap = "arith.addi_wrap", Arith, None, PURE;
    SubIWrap = "arith.subi_wrap", Arith, None, PURE;
    MulIWrap = "arith.muli_wrap", Arith, None, PURE;
    AndI = "arith.andi", Arith, None, PURE;
    OrI = "arith.ori", Arith, None, PURE;
    XorI = "arith.xori", Arith, None, PURE;
    NotI = "arith.noti", Arith, None, PURE;
    /// Shifts raise an error when the amount is outside 0..64.
    ShlI = "arith.shli", Arith, None, EFFECT;
    ShrI = "arith.shri", Arith, None, EFFECT;
    AddF = "arith.addf", Arith, None, PURE;
    SubF = "arith.subf", Arith, None, PURE;
    MulF = "arith.mulf", Arith, None, PURE;
    DivF = "arith.divf", Arith, None, PURE;
    RemF = "arith.remf", Arith, None, PURE;
    NegF = "arith.negf", Arith, None, PURE;
    CmpI = "arith.cmpi", Arith, Cmp, PURE;
    CmpF = "arith.cmpf", Arith, Cmp, PURE;
    /// `==`/`!=` on bools.
    CmpB = "arith.cmpb", Arith, Cmp, PURE;
    /// Boolean `!`.
    Not = "arith.not", Arith, None, PURE;
    /// i64 → f64.
    IToF = "arith.sitofp", Arith, None, PURE;
    /// f64 → i64, truncating toward zero and saturating (NaN gives 0), like `as i64`.
    FToI = "arith.fptosi", Arith, None, PURE;

    // ---- cf: control flow.
    Br = "cf.br", Cf, None, TERM | NORES;
    CondBr = "cf.cond_br", Cf, None, TERM | NORES;
    /// Multi-way branch on an i64: `cf.switch %v [0: ^bb1, 7: ^bb2], ^bb3`.
    Switch = "cf.switch", Cf, Cases, TERM | NORES;
    Return = "cf.return", Cf, None, TERM | NORES | EFFECT;
    /// Raises a runtime error with a message at the instruction's location.
    Trap = "cf.trap", Cf, Message, TERM | NORES | EFFECT;

    // ---- func: calls and closures.
    /// A direct call: `func.call @f(%a, %b)`.
    Call = "func.call", Func, Func, EFFECT;
    /// A call through a `func` or `closure` value of known type.
    CallIndirect = "func.call_indirect", Func, None, EFFECT;
    /// A function value with no environment.
    FuncRef = "func.ref", Func, Func, PURE;
    /// A closure: the callee's leading parameters receive the captured operands.
    MakeClosure = "func.closure", Func, Func, PURE;

    // ---- mem: globals and cells.
    /// Reads a global; raises "undefined variable" before its first store.
    GlobalLoad = "mem.global_load", Mem, Global, EFFECT;
    GlobalStore = "mem.global_store", Mem, Global, EFFECT | NORES;
    CellNew = "mem.cell_new", Mem, None, EFFECT;
    CellLoad = "mem.cell_load", Mem, None, EFFECT;
    CellStore = "mem.cell_store", Mem, None, EFFECT | NORES;
    /// An array of the operands whose storage lives in the frame: the `lowered` level's form of
    /// an `array.new` that escape analysis proved does not outlive its function. Same meaning as
    /// `array.new`; a backend may put it on the stack.
    StackAlloc = "mem.stack_alloc", Mem, None, EFFECT | LOWERED;

    // ---- array: arrays and tuples.
    ArrayNew = "array.new", Array, None, EFFECT;
    ArrayGet = "array.get", Array, None, EFFECT;
    ArraySet = "array.set", Array, None, EFFECT | NORES;
    ArrayLen = "array.len", Array, None, EFFECT;
    ArrayPush = "array.push", Array, None, EFFECT | NORES;
    ArrayConcat = "array.concat", Array, None, EFFECT;
    TupleNew = "array.tuple", Array, None, PURE;

    // ---- str: strings.
    StrConst = "str.const", Str, Const, PURE;
    StrConcat = "str.concat", Str, None, PURE;
    StrLen = "str.len", Str, None, PURE;
    /// Converts any value to its text, as string concatenation does (`2.0` gives `2`).
    StrFrom = "str.from", Str, None, PURE;
    StrIndex = "str.index", Str, None, EFFECT;
    StrCmp = "str.cmp", Str, Cmp, PURE;

    // ---- rt: runtime calls.
    Print = "rt.print", Rt, None, EFFECT;
    Println = "rt.println", Rt, None, EFFECT;
    /// `recv.name(args)` at the typed levels: the runtime's method dispatch on whatever the
    /// receiver is at run time (same meaning as `dyn.method`), for methods with no typed form.
    /// The result is `any`.
    RtMethod = "rt.method", Rt, Method, EFFECT;
    /// A builtin function at the typed levels, computed by the runtime (same meaning as
    /// `dyn.builtin`); also `a ** b`, which is the builtin `pow`. The result is `any`.
    RtBuiltin = "rt.builtin", Rt, Builtin, EFFECT;
    /// `len(x)` at the typed levels for a value whose type is not known statically (same
    /// meaning as `dyn.len`: strings, arrays and tuples, else an error); the result is `i64`.
    RtLen = "rt.len", Rt, None, EFFECT;
    /// `a + b` at the typed levels for operands whose types are not known statically: the
    /// runtime's generic arithmetic (same meaning as `dyn.add`), so that one such operation
    /// does not keep its whole function at the `dyn` level. The result is `any`.
    RtAdd = "rt.add", Rt, None, EFFECT;
    /// `a - b` by the runtime, as `rt.add`.
    RtSub = "rt.sub", Rt, None, EFFECT;
    /// `a * b` by the runtime, as `rt.add`.
    RtMul = "rt.mul", Rt, None, EFFECT;
    /// `a / b` by the runtime, as `rt.add`.
    RtDiv = "rt.div", Rt, None, EFFECT;
    /// `a % b` by the runtime, as `rt.add`.
    RtRem = "rt.rem", Rt, None, EFFECT;
    /// A comparison by the runtime (same meaning as `dyn.cmp`); the result is `bool`.
    RtCmp = "rt.cmp", Rt, Cmp, EFFECT;

    // ---- guard: type checks.
    /// Checks that an `any` value has the result's type and yields it typed; on failure, compiled
    /// code leaves for the interpreter.
    GuardType = "guard.type", Guard, None, EFFECT;
}

impl Opcode {
    /// Whether this op ends a block.
    pub fn is_terminator(self) -> bool {
        self.flags() & TERM != 0
    }

    /// Whether the op has effects (I/O, memory, possible error) that forbid deleting it when its
    /// result is unused or moving it.
    pub fn has_effects(self) -> bool {
        self.flags() & EFFECT != 0
    }

    /// Whether the op defines a result value.
    pub fn has_result(self) -> bool {
        self.flags() & NORES == 0
    }

    /// Whether the op is only legal at the `lowered` level.
    pub fn lowered_only(self) -> bool {
        self.flags() & LOWERED != 0
    }

    /// Whether arguments are printed in parentheses after the immediate (`@f(%a)`).
    pub fn call_like(self) -> bool {
        matches!(
            self,
            Opcode::Call
                | Opcode::MakeClosure
                | Opcode::DynMethod
                | Opcode::DynBuiltin
                | Opcode::RtMethod
                | Opcode::RtBuiltin
                | Opcode::DynCall
                | Opcode::CallIndirect
        )
    }

    /// Whether the op's result may be `any` at the typed levels whatever its operands are:
    /// values whose type only the running program knows (a callee's result, a global, a cell,
    /// the runtime's methods, builtins and generic arithmetic). Calls and array reads may also
    /// produce `any`, depending on the callee or the array.
    pub fn yields_any_by_nature(self) -> bool {
        matches!(
            self,
            Opcode::CallIndirect
                | Opcode::GlobalLoad
                | Opcode::CellLoad
                | Opcode::RtMethod
                | Opcode::RtBuiltin
                | Opcode::RtAdd
                | Opcode::RtSub
                | Opcode::RtMul
                | Opcode::RtDiv
                | Opcode::RtRem
        )
    }

    /// Looks an op up by its text name.
    pub fn from_name(name: &str) -> Option<Opcode> {
        Opcode::ALL.iter().copied().find(|op| op.name() == name)
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Comparison predicates of `dyn.cmp`, `arith.cmpi`, `arith.cmpf`, `arith.cmpb` and `str.cmp`.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum CmpPred {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpPred {
    pub const ALL: [CmpPred; 6] = [
        CmpPred::Eq,
        CmpPred::Ne,
        CmpPred::Lt,
        CmpPred::Le,
        CmpPred::Gt,
        CmpPred::Ge,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CmpPred::Eq => "eq",
            CmpPred::Ne => "ne",
            CmpPred::Lt => "lt",
            CmpPred::Le => "le",
            CmpPred::Gt => "gt",
            CmpPred::Ge => "ge",
        }
    }

    pub fn from_name(s: &str) -> Option<CmpPred> {
        CmpPred::ALL.iter().copied().find(|p| p.name() == s)
    }

    /// The Ruchy operator spelling, for error messages.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpPred::Eq => "==",
            CmpPred::Ne => "!=",
            CmpPred::Lt => "<",
            CmpPred::Le => "<=",
            CmpPred::Gt => ">",
            CmpPred::Ge => ">=",
        }
    }

    /// Applies the predicate to an ordering.
    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpPred::Eq => ord == Equal,
            CmpPred::Ne => ord != Equal,
            CmpPred::Lt => ord == Less,
            CmpPred::Le => ord != Greater,
            CmpPred::Gt => ord == Greater,
            CmpPred::Ge => ord != Less,
        }
    }

    /// Applies the predicate to two ints.
    // Always inlined: the interpreter's comparison ops call it on every step.
    #[inline(always)]
    pub fn holds_i64(self, x: i64, y: i64) -> bool {
        match self {
            CmpPred::Eq => x == y,
            CmpPred::Ne => x != y,
            CmpPred::Lt => x < y,
            CmpPred::Le => x <= y,
            CmpPred::Gt => x > y,
            CmpPred::Ge => x >= y,
        }
    }

    /// Applies the predicate to two floats with IEEE semantics: a NaN makes every predicate
    /// but `Ne` false, which an ordering cannot express.
    // Always inlined: the interpreter's comparison ops call it on every step.
    #[inline(always)]
    pub fn holds_f64(self, x: f64, y: f64) -> bool {
        match self {
            CmpPred::Eq => x == y,
            CmpPred::Ne => x != y,
            CmpPred::Lt => x < y,
            CmpPred::Le => x <= y,
            CmpPred::Gt => x > y,
            CmpPred::Ge => x >= y,
        }
    }

    /// The predicate with its operands swapped (`a < b` iff `b > a`).
    pub fn swapped(self) -> CmpPred {
        match self {
            CmpPred::Lt => CmpPred::Gt,
            CmpPred::Le => CmpPred::Ge,
            CmpPred::Gt => CmpPred::Lt,
            CmpPred::Ge => CmpPred::Le,
            p => p,
        }
    }
}

/// Builtin functions that `dyn.builtin` applies. Printing is `rt.print`/`rt.println`, and `len`
/// is `dyn.len`; these are the rest of the builtins of ruchy-core.md.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Builtin {
    Sqrt,
    Pow,
    Abs,
    Min,
    Max,
    Floor,
    Ceil,
    Round,
    Int,
    Float,
    Str,
    TypeOf,
}

impl Builtin {
    pub const ALL: [Builtin; 12] = [
        Builtin::Sqrt,
        Builtin::Pow,
        Builtin::Abs,
        Builtin::Min,
        Builtin::Max,
        Builtin::Floor,
        Builtin::Ceil,
        Builtin::Round,
        Builtin::Int,
        Builtin::Float,
        Builtin::Str,
        Builtin::TypeOf,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Builtin::Sqrt => "sqrt",
            Builtin::Pow => "pow",
            Builtin::Abs => "abs",
            Builtin::Min => "min",
            Builtin::Max => "max",
            Builtin::Floor => "floor",
            Builtin::Ceil => "ceil",
            Builtin::Round => "round",
            Builtin::Int => "int",
            Builtin::Float => "float",
            Builtin::Str => "str",
            Builtin::TypeOf => "type_of",
        }
    }

    pub fn from_name(s: &str) -> Option<Builtin> {
        Builtin::ALL.iter().copied().find(|b| b.name() == s)
    }

    /// The number of arguments the builtin takes.
    pub fn arity(self) -> usize {
        match self {
            Builtin::Pow | Builtin::Min | Builtin::Max => 2,
            _ => 1,
        }
    }
}

impl fmt::Display for Builtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

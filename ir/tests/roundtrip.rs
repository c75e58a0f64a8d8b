//! Text round trip: `print(parse(text)) == text` for hand-written modules that use every op.

use ruchy_ir::{
    parse_module, print_function, print_module, verify_module, Block, Const, FuncBuilder, Function,
    Imm, Level, Module, Opcode, SrcLoc, Type, Value, ValueDef,
};
use std::collections::HashSet;

/// The example of the text-form contract.
const FIB: &str = r#"module "c06_fib_recursive.ruchy"
entry @__toplevel__
global @counter "counter"

func @fib(any) -> any level(dyn) loc(2:1) {
^bb0(%v0: any):
  %v1 = arith.const 2 : i64 loc(3:12)
  %v2 = dyn.cmp lt %v0, %v1 : bool loc(3:8)
  cf.cond_br %v2, ^bb1, ^bb2(%v0, %v1) loc(3:5)
^bb1:
  cf.return %v0 loc(3:21)
^bb2(%v3: any, %v4: i64):
  %v5 = func.call @fib(%v3) : any loc(4:5)
  %v6 = dyn.builtin sqrt(%v5) : any
  %v7 = dyn.method push(%v5, %v6) : any
  %v8 = str.const "a\"b\n" : str
  %v9 = arith.const nil : unit
  %v10 = arith.const -1.5 : f64
  mem.global_store @counter, %v9
  cf.switch %v4 [0: ^bb1, 7: ^bb3], ^bb1
^bb3:
  cf.trap "Division by zero" loc(9:3)
}

func @__toplevel__() -> unit level(dyn) hidden {
^bb0:
  %v0 = arith.const 10 : i64 loc(12:9)
  %v1 = func.call @fib(%v0) : any loc(12:5)
  mem.global_store @counter, %v1
  %v2 = arith.const nil : unit
  cf.return %v2
}
"#;

/// Every op of every dialect, at all three levels, with gaps in value and block numbers, blocks
/// out of numeric order, forward references, quoted names and every literal kind.
const ALL_OPS: &str = r#"module "all \"ops\".ruchy"
entry @main
global @counter "counter"
global @"odd name" "odd name"
global @x.1 "x"

func @main() -> unit level(dyn) loc(1:1) {
^bb0:
  %v0 = arith.const 3 : i64 loc(2:3)
  %v1 = func.call @dyn_ops(%v0, %v0) : any
  %v2 = func.call @adapter(%v0) : i64
  mem.global_store @x.1, %v1
  %v3 = arith.const nil : unit
  cf.return %v3
}

func @dyn_ops(any, any) -> any level(dyn) hints(i64, _) hidden frozen loc(10:1) {
^bb0(%v0: any, %v1: any):
  %v2 = dyn.add %v0, %v1 : any loc(11:7)
  %v3 = dyn.sub %v0, %v1 : any
  %v4 = dyn.mul %v0, %v1 : any
  %v5 = dyn.div %v0, %v1 : any
  %v6 = dyn.rem %v0, %v1 : any
  %v7 = dyn.pow %v0, %v1 : any
  %v8 = dyn.neg %v0 : any
  %v9 = dyn.not %v0 : bool
  %v10 = dyn.bitand %v0, %v1 : any
  %v11 = dyn.bitor %v0, %v1 : any
  %v12 = dyn.bitxor %v0, %v1 : any
  %v13 = dyn.shl %v0, %v1 : any
  %v14 = dyn.shr %v0, %v1 : any
  %v15 = dyn.bitnot %v0 : any
  %v16 = dyn.truthy %v0 : bool
  %v17 = dyn.index %v0, %v1 : any
  dyn.set_index %v0, %v1, %v2
  %v18 = dyn.len %v0 : i64
  %v19 = dyn.call %v0(%v1, %v2) : any
  %v20 = dyn.cast %v0 : f64
  %v21 = dyn.method "odd name"(%v0) : any
  %v22 = dyn.builtin min(%v0, %v1) : any
  %v23 = dyn.call %v0() : any
  %v24 = dyn.cmp ge %v0, %v1 : bool
  %v25 = dyn.builtin type_of(%v23) : any
  cf.cond_br %v24, ^bb3(%v2), ^bb1 loc(30:1)
^bb3(%v30: any):
  cf.return %v30
^bb1:
  cf.br ^bb3(%v25)
}

func @typed_ops(i64, f64, bool, str) -> i64 level(typed) captures(1) defaults(@adapter) loc(40:1) {
^bb0(%v0: i64, %v1: f64, %v2: bool, %v3: str):
  %v4 = arith.addi %v0, %v0 : i64
  %v5 = arith.subi %v0, %v4 : i64
  %v6 = arith.muli %v0, %v4 : i64
  %v7 = arith.divi %v0, %v4 : i64
  %v8 = arith.remi %v0, %v4 : i64
  %v9 = arith.negi %v0 : i64
  %v10 = arith.addi_wrap %v0, %v4 : i64
  %v11 = arith.subi_wrap %v0, %v4 : i64
  %v12 = arith.muli_wrap %v0, %v4 : i64
  %v13 = arith.andi %v0, %v4 : i64
  %v14 = arith.ori %v0, %v4 : i64
  %v15 = arith.xori %v0, %v4 : i64
  %v16 = arith.noti %v0 : i64
  %v17 = arith.shli %v0, %v4 : i64
  %v18 = arith.shri %v0, %v4 : i64
  %v19 = arith.addf %v1, %v1 : f64
  %v20 = arith.subf %v1, %v19 : f64
  %v21 = arith.mulf %v1, %v19 : f64
  %v22 = arith.divf %v1, %v19 : f64
  %v23 = arith.remf %v1, %v19 : f64
  %v24 = arith.negf %v1 : f64
  %v25 = arith.cmpi ge %v0, %v4 : bool
  %v26 = arith.cmpf ne %v1, %v19 : bool
  %v27 = arith.cmpb eq %v2, %v25 : bool
  %v28 = arith.not %v27 : bool
  %v29 = arith.sitofp %v0 : f64
  %v30 = arith.fptosi %v1 : i64
  %v31 = arith.const true : bool
  %v32 = arith.const NaN : f64
  %v33 = arith.const -inf : f64
  %v34 = arith.const 1e-7 : f64
  %v35 = arith.const -9223372036854775808 : i64
  %v36 = arith.const -0.0 : f64
  %v37 = arith.const NaN(0xfff8000000000001) : f64
  %v40 = str.concat %v3, %v3 : str
  %v41 = str.len %v3 : i64
  %v42 = str.from %v0 : str
  %v43 = str.index %v3, %v0 : str
  %v44 = str.cmp le %v3, %v40 : bool
  %v45 = func.ref @adapter : func
  %v46 = func.closure @typed_ops(%v0) : closure
  %v47 = func.call_indirect %v46(%v0, %v1, %v2, %v3) : any
  %v48 = func.call @adapter(%v0) : i64
  %v49 = rt.print %v3 : unit
  %v50 = rt.println %v42, %v41 : unit
  %v51 = mem.global_load @"odd name" : any
  %v52 = guard.type %v51 : i64 deopt(@dyn_ops ^bb0 0 [%v0 = %v0])
  %v53 = mem.cell_new %v0 : cell
  %v54 = mem.cell_load %v53 : any
  mem.cell_store %v53, %v52
  %v55 = array.new %v0, %v4 : array<i64>
  %v56 = array.get %v55, %v0 : i64
  array.set %v55, %v0, %v56
  %v57 = array.len %v55 : i64
  array.push %v55, %v57
  %v58 = array.concat %v55, %v55 : array<i64>
  %v59 = array.tuple %v0, %v3 : tuple
  %v60 = arith.const 1.7976931348623157e308 : f64
  %v61 = arith.const 5e-324 : f64
  %v62 = str.const "tab\t cr\r bs\\ esc\u{1b} del\u{7f} ünï 😀" : str
  %v63 = arith.const false : bool
  %v64 = arith.const 9223372036854775807 : i64
  %v65 = arith.const inf : f64
  %v67 = rt.method substring(%v3, %v0, %v0) : any
  %v68 = rt.builtin pow(%v0, %v0) : any
  %v69 = rt.len %v67 : i64
  %v70 = rt.add %v67, %v68 : any
  %v71 = rt.sub %v67, %v0 : any
  %v72 = rt.mul %v67, %v68 : any
  %v73 = rt.div %v67, %v68 : any
  %v74 = rt.rem %v67, %v68 : any
  %v75 = rt.cmp le %v67, %v68 : bool
  cf.switch %v0 [-1: ^bb1, 0: ^bb2(%v0), 9223372036854775807: ^bb1], ^bb2(%v4)
^bb1:
  cf.cond_br %v28, ^bb5, ^bb2(%v56)
^bb2(%v66: i64):
  cf.return %v66 loc(70:5)
^bb5:
  cf.trap "unreachable \"code\"" loc(71:5)
}

func @adapter(i64) -> i64 level(lowered) hidden {
^bb0(%v0: i64):
  %v1 = mem.stack_alloc %v0 : array<i64>
  cf.return %v0
}

func @"weird name!"() -> any level(dyn) {
^bb0:
  %v0 = arith.const 1 : i64
  cf.return %v0
}
"#;

fn roundtrip(text: &str) -> Module {
    let (m, _) = parse_module(text).unwrap_or_else(|e| panic!("parse failed: {e}"));
    let printed = print_module(&m);
    assert_eq!(printed, text, "print(parse(text)) differs");
    m
}

#[test]
fn fib_example_round_trips_and_verifies() {
    let m = roundtrip(FIB);
    if let Err(errs) = verify_module(&m) {
        panic!("{}", ruchy_ir::verifier::render_errors(&m, &errs, None));
    }
}

#[test]
fn all_ops_round_trip_and_verify() {
    let m = roundtrip(ALL_OPS);
    if let Err(errs) = verify_module(&m) {
        panic!("{}", ruchy_ir::verifier::render_errors(&m, &errs, None));
    }
    let used: HashSet<Opcode> = m
        .funcs
        .values()
        .flat_map(|f| f.insts_in_order().map(move |(_, i)| f.dfg.insts[i].opcode))
        .collect();
    for op in Opcode::ALL {
        assert!(used.contains(op), "ALL_OPS does not use {op}");
    }
}

#[test]
fn parse_preserves_numbers_and_definitions() {
    let (m, map) = parse_module(ALL_OPS).unwrap();
    let typed = m.func_by_name("typed_ops").unwrap();
    let f = &m.funcs[typed];
    // Gaps in the numbering are unused values of type any.
    assert_eq!(f.dfg.value_def(Value::from_u32(38)), ValueDef::Unused);
    assert_eq!(f.dfg.value_type(Value::from_u32(39)), Type::Any);
    // Block parameters and results.
    assert_eq!(
        f.dfg.value_def(Value::from_u32(66)),
        ValueDef::Param(Block::from_u32(2), 0)
    );
    assert!(matches!(
        f.dfg.value_def(Value::from_u32(4)),
        ValueDef::Result(_)
    ));
    assert_eq!(f.params, vec![Type::I64, Type::F64, Type::Bool, Type::Str]);
    assert_eq!(f.level, Level::Typed);
    assert_eq!(f.attrs.captures, 1);
    // Unused blocks between the numbers are not in the layout.
    assert_eq!(f.dfg.blocks.len(), 6);
    assert_eq!(f.layout.blocks().len(), 4);
    // Exact literals.
    let consts: Vec<&Const> = f
        .insts_in_order()
        .filter_map(|(_, i)| match &f.dfg.insts[i].imm {
            Imm::Const(c) => Some(c),
            _ => None,
        })
        .collect();
    assert!(consts
        .iter()
        .any(|c| c.same(&Const::Float(f64::from_bits(0xfff8000000000001)))));
    assert!(consts.iter().any(|c| c.same(&Const::Float(-0.0))));
    assert!(consts.iter().any(|c| c.same(&Const::Int(i64::MIN))));
    // Positions.
    assert_eq!(map.func(typed), Some((51, 1)));
    assert_eq!(map.block(typed, Block::from_u32(0)), Some((52, 1)));
    let first = f.layout.block_insts(Block::from_u32(0))[0];
    assert_eq!(map.inst(typed, first), Some((53, 3)));
    assert_eq!(m.source, "all \"ops\".ruchy");
    assert_eq!(m.globals.len(), 3);
    assert_eq!(m.entry, m.func_by_name("main"));
}

#[test]
fn comments_blank_lines_and_missing_module_line() {
    let text = "// a comment\n\nfunc @f(i64) -> i64 level(typed) { // trailing\n^bb0(%v0: i64): // here\n\n  cf.return %v0 // there\n}\n// end";
    let (m, _) = parse_module(text).unwrap();
    assert_eq!(m.source, "");
    assert_eq!(
        print_module(&m),
        "module \"\"\n\nfunc @f(i64) -> i64 level(typed) {\n^bb0(%v0: i64):\n  cf.return %v0\n}\n"
    );
    assert!(verify_module(&m).is_ok());
}

#[test]
fn empty_inputs() {
    let (m, _) = parse_module("").unwrap();
    assert_eq!(print_module(&m), "module \"\"\n");
    let (m, _) = parse_module("module \"x.ruchy\"\n").unwrap();
    assert_eq!(print_module(&m), "module \"x.ruchy\"\n");
}

#[test]
fn builder_output_prints_as_specified() {
    let mut m = Module::new("b.ruchy");
    let mut f = Function::new("f", vec![Type::I64], Type::I64, Level::Typed);
    f.attrs.hints = Some(vec![None]);
    f.loc = SrcLoc::new(1, 1);
    {
        let mut b = FuncBuilder::new(&mut f);
        let entry = b.create_block();
        let p = b.append_block_param(entry, Type::I64);
        let exit = b.create_block();
        let q = b.append_block_param(exit, Type::I64);
        b.switch_to_block(entry);
        b.loc = SrcLoc::new(2, 5);
        let one = b.iconst(1);
        let s = b.value(Opcode::AddI, &[p, one], Imm::None, Type::I64);
        b.br(exit, &[s]);
        b.switch_to_block(exit);
        b.loc = SrcLoc::UNKNOWN;
        b.ret(q);
    }
    let id = m.add_function(f);
    let text = print_function(&m, &m.funcs[id]);
    assert_eq!(
        text,
        "func @f(i64) -> i64 level(typed) hints(_) loc(1:1) {\n^bb0(%v0: i64):\n  %v2 = arith.const 1 : i64 loc(2:5)\n  %v3 = arith.addi %v0, %v2 : i64 loc(2:5)\n  cf.br ^bb1(%v3) loc(2:5)\n^bb1(%v1: i64):\n  cf.return %v1\n}\n"
    );
    let printed = print_module(&m);
    let (m2, _) = parse_module(&printed).unwrap();
    assert_eq!(print_module(&m2), printed);
    assert!(verify_module(&m2).is_ok());
}

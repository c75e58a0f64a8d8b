//! Verifier: a valid module passes; each rule has a failing case; errors render with and without
//! a source map.

use ruchy_ir::verifier::render_errors;
use ruchy_ir::{
    parse_module, verify_function, verify_module, Block, ErrorLocation, FuncBuilder, Function, Imm,
    Level, Module, Opcode, Type, ValueDef,
};

/// Parses `text` (which must be syntactically valid) and returns the rendered verifier errors.
fn errors(text: &str) -> Vec<String> {
    let (m, map) = parse_module(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    match verify_module(&m) {
        Ok(()) => Vec::new(),
        Err(errs) => errs.iter().map(|e| e.render(&m, Some(&map))).collect(),
    }
}

#[track_caller]
fn rejects(text: &str, needle: &str) {
    let errs = errors(text);
    assert!(
        errs.iter().any(|e| e.contains(needle)),
        "expected an error containing `{needle}`, got {errs:#?}\nfor\n{text}"
    );
}

#[track_caller]
fn accepts(text: &str) {
    let errs = errors(text);
    assert!(errs.is_empty(), "unexpected errors {errs:#?}\nfor\n{text}");
}

/// A one-block function `@f(<params>) -> <ret> level(<level>)` with the given body lines.
fn func(level: &str, params: &str, ret: &str, body: &str) -> String {
    let entry_params: Vec<String> = params
        .split(", ")
        .filter(|p| !p.is_empty())
        .enumerate()
        .map(|(k, t)| format!("%v{k}: {t}"))
        .collect();
    let label = if entry_params.is_empty() {
        "^bb0:".to_string()
    } else {
        format!("^bb0({}):", entry_params.join(", "))
    };
    format!("func @f({params}) -> {ret} level({level}) {{\n{label}\n{body}}}\n")
}

const VALID: &str = r#"module "v.ruchy"
global @g "g"

func @sum(i64) -> i64 level(typed) {
^bb0(%v0: i64):
  %v1 = arith.const 0 : i64
  cf.br ^bb1(%v1, %v1)
^bb1(%v2: i64, %v3: i64):
  %v4 = arith.cmpi lt %v2, %v0 : bool
  cf.cond_br %v4, ^bb2, ^bb3
^bb2:
  %v5 = arith.addi %v3, %v2 : i64
  %v6 = arith.const 1 : i64
  %v7 = arith.addi %v2, %v6 : i64
  cf.br ^bb1(%v7, %v5)
^bb3:
  cf.return %v3
^bb4:
  %v8 = arith.addi %v9, %v9 : i64
  cf.br ^bb5
^bb5:
  %v9 = arith.const 2 : i64
  cf.br ^bb4
}

func @poly_dyn(any) -> any level(dyn) frozen {
^bb0(%v0: any):
  cf.return %v0
}

func @poly(any) -> any level(typed) {
^bb0(%v0: any):
  %v1 = func.call @poly(%v0) : any
  %v2 = mem.global_load @g : any
  %v3 = guard.type %v2 : i64 deopt(@poly_dyn ^bb0 0 [%v0 = %v0])
  %v4 = func.call @sum(%v3) : i64
  cf.return %v4
}
"#;

#[test]
fn valid_module_passes() {
    accepts(VALID);
    let (m, _) = parse_module(VALID).unwrap();
    for id in m.funcs.keys() {
        assert!(verify_function(&m, id).is_ok());
    }
}

#[test]
fn terminators() {
    rejects(
        &func("dyn", "any", "any", "  %v1 = dyn.neg %v0 : any\n"),
        "does not end with a terminator",
    );
    rejects(
        &func("dyn", "any", "any", "  cf.return %v0\n  cf.return %v0\n"),
        "terminator in the middle of ^bb0",
    );
    rejects(
        "func @f() -> any level(dyn) {\n^bb0:\n}\n",
        "block is empty",
    );
    rejects(
        "func @f() -> any level(dyn) {\n}\n",
        "function has no blocks",
    );
    rejects(
        &func(
            "dyn",
            "any",
            "any",
            "  cf.br ^bb1, ^bb1\n^bb1:\n  cf.return %v0\n",
        ),
        "`cf.br` takes 1 destinations, 2 given",
    );
}

#[test]
fn entry_block() {
    rejects(
        "func @f(any) -> any level(dyn) {\n^bb0(%v0: i64):\n  cf.return %v0\n}\n",
        "entry parameter 0 (%v0) has type i64 but the signature says any",
    );
    rejects(
        "func @f(any, any) -> any level(dyn) {\n^bb0(%v0: any):\n  cf.return %v0\n}\n",
        "the entry block has 1 parameters but the function takes 2",
    );
    rejects(
        &func(
            "dyn",
            "any",
            "any",
            "  cf.br ^bb1\n^bb1:\n  cf.br ^bb0(%v0)\n",
        ),
        "branch to the entry block ^bb0",
    );
}

#[test]
fn ssa_definitions_and_dominance() {
    // The definition in one arm does not dominate the join.
    rejects(
        &func(
            "dyn",
            "bool",
            "any",
            "  cf.cond_br %v0, ^bb1, ^bb2\n^bb1:\n  %v1 = arith.const 1 : i64\n  cf.br ^bb3\n^bb2:\n  cf.br ^bb3\n^bb3:\n  cf.return %v1\n",
        ),
        "the definition of %v1 in ^bb1 does not dominate this use",
    );
    rejects(
        &func(
            "dyn",
            "any",
            "any",
            "  %v1 = dyn.neg %v2 : any\n  %v2 = dyn.neg %v0 : any\n  cf.return %v1\n",
        ),
        "%v2 is used before its definition",
    );
    rejects(
        &func(
            "dyn",
            "any",
            "any",
            "  %v1 = dyn.neg %v1 : any\n  cf.return %v1\n",
        ),
        "used before its definition",
    );
    rejects(
        &func("dyn", "bool", "any", "  cf.cond_br %v0, ^bb1(%v0), ^bb2\n^bb1(%v1: bool):\n  cf.return %v1\n^bb2:\n  cf.return %v1\n"),
        "%v1 (parameter of ^bb1) does not dominate this use",
    );
    // Uses of values that are not defined at all (built programmatically: the parser refuses).
    let (mut m, _) = parse_module(&func(
        "dyn",
        "any",
        "any",
        "  %v1 = dyn.neg %v0 : any\n  cf.return %v1\n",
    ))
    .unwrap();
    let id = m.func_by_name("f").unwrap();
    let f = &mut m.funcs[id];
    let v1 = f.dfg.insts[f.layout.block_insts(Block::from_u32(0))[0]]
        .result
        .unwrap();
    f.dfg.values[v1].def = ValueDef::Unused;
    let errs = verify_module(&m).unwrap_err();
    let text = render_errors(&m, &errs, None);
    assert!(text.contains("use of undefined value %v1"), "{text}");
    assert!(text.contains("result %v1 is recorded as Unused"), "{text}");
    // A value whose instruction was removed from the layout.
    let (mut m, _) = parse_module(&func(
        "dyn",
        "any",
        "any",
        "  %v1 = dyn.neg %v0 : any\n  cf.return %v1\n",
    ))
    .unwrap();
    let f = &mut m.funcs[id];
    let first = f.layout.block_insts(Block::from_u32(0))[0];
    f.layout.remove_inst(first);
    let text = render_errors(&m, &verify_module(&m).unwrap_err(), None);
    assert!(
        text.contains("%v1 is defined by an instruction that is not placed"),
        "{text}"
    );
}

#[test]
fn unreachable_blocks_are_checked_loosely() {
    accepts(&func(
        "dyn",
        "any",
        "any",
        "  cf.return %v0\n^bb1:\n  cf.br ^bb2\n^bb2:\n  %v1 = dyn.neg %v2 : any\n  cf.br ^bb3\n^bb3:\n  %v2 = dyn.neg %v0 : any\n  cf.return %v1\n",
    ));
    // A value defined only in unreachable code does not dominate a reachable use.
    rejects(
        &func("dyn", "any", "any", "  cf.br ^bb2\n^bb1:\n  %v1 = dyn.neg %v0 : any\n  cf.br ^bb2\n^bb2:\n  cf.return %v1\n"),
        "does not dominate",
    );
}

#[test]
fn block_arguments() {
    rejects(
        &func(
            "dyn",
            "any",
            "any",
            "  cf.br ^bb1(%v0, %v0)\n^bb1(%v1: any):\n  cf.return %v1\n",
        ),
        "^bb1 takes 1 arguments, 2 given",
    );
    rejects(
        &func(
            "dyn",
            "any",
            "any",
            "  cf.br ^bb1(%v0)\n^bb1(%v1: i64):\n  cf.return %v1\n",
        ),
        "argument 0 of ^bb1: %v0 has type any, which does not fit parameter %v1: i64",
    );
    // Concrete fits any.
    accepts(&func(
        "dyn",
        "i64",
        "any",
        "  cf.br ^bb1(%v0)\n^bb1(%v1: any):\n  cf.return %v1\n",
    ));
}

#[test]
fn return_type() {
    rejects(
        &func("typed", "f64", "i64", "  cf.return %v0\n"),
        "has type f64, expected the return type i64",
    );
    rejects(
        &func("dyn", "any", "i64", "  cf.return %v0\n"),
        "has type any, expected the return type i64",
    );
    accepts(&func("typed", "i64", "any", "  cf.return %v0\n"));
    rejects(
        &func("dyn", "any", "any", "  cf.return\n"),
        "`cf.return` takes 1 operands, 0 given",
    );
}

#[test]
fn levels() {
    rejects(
        &func(
            "typed",
            "any",
            "any",
            "  %v1 = dyn.neg %v0 : any\n  cf.return %v1\n",
        ),
        "`dyn.neg` (dialect dyn) is not allowed at level typed",
    );
    rejects(
        &func(
            "lowered",
            "i64",
            "i64",
            "  %v1 = dyn.len %v0 : i64\n  cf.return %v1\n",
        ),
        "not allowed at level lowered",
    );
    rejects(
        &func(
            "dyn",
            "i64",
            "i64",
            "  %v1 = mem.stack_alloc %v0 : array<i64>\n  cf.return %v0\n",
        ),
        "`mem.stack_alloc` is only allowed at level lowered, not dyn",
    );
    rejects(
        &func(
            "typed",
            "i64",
            "i64",
            "  %v1 = mem.stack_alloc %v0 : array<i64>\n  cf.return %v0\n",
        ),
        "only allowed at level lowered",
    );
    rejects(
        &func("typed", "i64", "any", "  %v1 = array.new %v0 : array<i64>\n  %v2 = array.get %v1, %v0 : any\n  cf.return %v2\n"),
        "result %v2 has type any at level typed",
    );
    // A block parameter may carry an `any` around (a loop over values of unknown type), but a
    // typed op cannot use it.
    accepts(&func(
        "lowered",
        "any",
        "any",
        "  cf.br ^bb1(%v0)\n^bb1(%v1: any):\n  cf.return %v1\n",
    ));
    rejects(
        &func(
            "typed",
            "any",
            "i64",
            "  cf.br ^bb1(%v0)\n^bb1(%v1: any):\n  %v2 = arith.addi %v1, %v1 : i64\n  cf.return %v2\n",
        ),
        "operand 0 (%v1) of `arith.addi` has type any",
    );
    // The polymorphic sources of `any` are allowed.
    accepts(&func(
        "typed",
        "any, i64",
        "any",
        "  %v2 = array.new %v0 : array<any>\n  %v3 = array.get %v2, %v1 : any\n  %v4 = mem.cell_new %v3 : cell\n  %v5 = mem.cell_load %v4 : any\n  %v6 = func.ref @f : func\n  %v7 = func.call_indirect %v6(%v5, %v1) : any\n  %v8 = func.call @f(%v7, %v1) : any\n  cf.return %v8\n",
    ));
}

#[test]
fn result_presence_and_immediates() {
    rejects(
        &func("dyn", "any", "any", "  dyn.neg %v0\n  cf.return %v0\n"),
        "`dyn.neg` must define a result",
    );
    rejects(
        &func(
            "dyn",
            "any",
            "any",
            "  %v1 = cf.br ^bb1 : unit\n^bb1:\n  cf.return %v0\n",
        ),
        "`cf.br` has no result but defines %v1",
    );
    // Wrong immediate variants can only be built programmatically.
    let mut m = Module::new("");
    let mut f = Function::new("f", vec![], Type::I64, Level::Dyn);
    {
        let mut b = FuncBuilder::new(&mut f);
        let e = b.create_block();
        b.switch_to_block(e);
        let v = b.value(Opcode::Const, &[], Imm::None, Type::I64);
        let w = b.value(Opcode::AddI, &[v, v], Imm::Message("x".into()), Type::I64);
        b.ret(w);
    }
    let id = m.add_function(f);
    let errs = verify_function(&m, id).unwrap_err();
    let text = render_errors(&m, &errs, None);
    assert!(
        text.contains("`arith.const` takes a Const immediate, found None"),
        "{text}"
    );
    assert!(
        text.contains("`arith.addi` takes a None immediate, found Message(\"x\")"),
        "{text}"
    );
    // Without a source map, instruction errors show the printed instruction.
    assert!(
        text.contains("@f inst: %v0 = arith.const : i64: `arith.const` takes a Const immediate"),
        "{text}"
    );
}

#[test]
fn arith_types() {
    let bad = [
        (
            "f64, f64",
            "  %v2 = arith.addi %v0, %v1 : i64\n",
            "operand 0 (%v0) of `arith.addi` has type f64, expected i64",
        ),
        (
            "i64, i64",
            "  %v2 = arith.subi %v0, %v1 : f64\n",
            "result of `arith.subi` has type f64, expected i64",
        ),
        ("i64", "  %v2 = arith.mulf %v0, %v0 : f64\n", "expected f64"),
        ("i64", "  %v2 = arith.negf %v0 : f64\n", "expected f64"),
        (
            "f64, f64",
            "  %v2 = arith.cmpf lt %v0, %v1 : i64\n",
            "result of `arith.cmpf` has type i64, expected bool",
        ),
        (
            "f64, f64",
            "  %v2 = arith.cmpi lt %v0, %v1 : bool\n",
            "expected i64",
        ),
        (
            "bool, bool",
            "  %v2 = arith.cmpb lt %v0, %v1 : bool\n",
            "only compares with eq or ne",
        ),
        ("i64", "  %v2 = arith.not %v0 : bool\n", "expected bool"),
        ("f64", "  %v2 = arith.sitofp %v0 : f64\n", "expected i64"),
        ("i64", "  %v2 = arith.fptosi %v0 : i64\n", "expected f64"),
        (
            "i64",
            "  %v2 = arith.addi %v0 : i64\n",
            "`arith.addi` takes 2 operands, 1 given",
        ),
        (
            "",
            "  %v2 = arith.const 1.5 : i64\n",
            "result of `arith.const` has type i64, expected f64",
        ),
        ("", "  %v2 = arith.const nil : any\n", "expected unit"),
        ("", "  %v2 = arith.const true : i64\n", "expected bool"),
        (
            "",
            "  %v2 = arith.const \"s\" : str\n",
            "string literals need `str.const`",
        ),
        (
            "",
            "  %v2 = str.const 1 : str\n",
            "`str.const` needs a string literal",
        ),
        ("i64", "  %v2 = str.concat %v0, %v0 : str\n", "expected str"),
        ("str", "  %v2 = str.len %v0 : str\n", "expected i64"),
        (
            "str, str",
            "  %v2 = str.index %v0, %v1 : str\n",
            "operand 1 (%v1) of `str.index` has type str, expected i64",
        ),
    ];
    for (params, body, needle) in bad {
        let text = func(
            "dyn",
            params,
            "any",
            &format!("{body}  %v9 = arith.const nil : unit\n  cf.return %v9\n"),
        );
        rejects(&text, needle);
    }
}

#[test]
fn control_flow_types() {
    rejects(
        &func(
            "dyn",
            "i64",
            "any",
            "  cf.cond_br %v0, ^bb1, ^bb1\n^bb1:\n  cf.return %v0\n",
        ),
        "operand 0 (%v0) of `cf.cond_br` has type i64, expected bool",
    );
    rejects(
        &func(
            "dyn",
            "f64",
            "any",
            "  cf.switch %v0 [1: ^bb1], ^bb1\n^bb1:\n  cf.return %v0\n",
        ),
        "of `cf.switch` has type f64, expected i64",
    );
    rejects(
        &func(
            "dyn",
            "i64",
            "any",
            "  cf.switch %v0 [1: ^bb1, 1: ^bb1], ^bb1\n^bb1:\n  cf.return %v0\n",
        ),
        "case value 1 appears twice",
    );
    rejects(
        &func(
            "dyn",
            "i64",
            "any",
            "  cf.switch %v0 [1: ^bb1]\n^bb1:\n  cf.return %v0\n",
        ),
        "`cf.switch` takes 2 destinations, 1 given",
    );
    rejects(
        &func(
            "dyn",
            "i64",
            "any",
            "  cf.trap \"x\", ^bb1\n^bb1:\n  cf.return %v0\n",
        ),
        "`cf.trap` takes 0 destinations, 1 given",
    );
    rejects(
        &func(
            "dyn",
            "i64",
            "any",
            "  %v1 = arith.negi %v0, ^bb1 : i64\n  cf.br ^bb1\n^bb1:\n  cf.return %v0\n",
        ),
        "`arith.negi` is not a terminator but has branch destinations",
    );
}

const CALLEES: &str = r#"
func @two(i64, str) -> i64 level(typed) {
^bb0(%v0: i64, %v1: str):
  cf.return %v0
}

func @clos(i64, any) -> any level(dyn) captures(1) {
^bb0(%v0: i64, %v1: any):
  cf.return %v1
}
"#;

#[test]
fn calls_and_closures() {
    let with = |body: &str| {
        format!(
            "{CALLEES}\n{}",
            func(
                "dyn",
                "i64, str, f64",
                "any",
                &format!("{body}  cf.return %v0\n")
            )
        )
    };
    accepts(&with("  %v3 = func.call @two(%v0, %v1) : i64\n  %v4 = func.call @two(%v0, %v1) : any\n  %v5 = func.closure @clos(%v0) : closure\n  %v6 = func.ref @two : func\n"));
    rejects(
        &with("  %v3 = func.call @two(%v0) : i64\n"),
        "@two takes 2 arguments, 1 given",
    );
    rejects(
        &with("  %v3 = func.call @two(%v2, %v1) : i64\n"),
        "operand 0 (%v2) of `func.call` has type f64, expected a type fitting i64",
    );
    rejects(
        &with("  %v3 = func.call @two(%v0, %v1) : str\n"),
        "result of `func.call` has type str, expected i64 (the return type of @two)",
    );
    rejects(
        &with("  %v3 = func.call @clos(%v0, %v1) : i64\n"),
        "expected any (the return type of @clos)",
    );
    rejects(
        &with("  %v3 = func.closure @clos(%v0, %v1) : closure\n"),
        "@clos captures 1 values, 2 given",
    );
    rejects(
        &with("  %v3 = func.closure @clos(%v1) : closure\n"),
        "expected a type fitting i64",
    );
    rejects(
        &with("  %v3 = func.ref @clos : func\n"),
        "`func.ref` of @clos, which captures 1 values",
    );
    rejects(&with("  %v3 = func.ref @two : closure\n"), "expected func");
    rejects(
        &with("  %v3 = func.call_indirect %v0(%v1) : any\n"),
        "expected func, closure or any",
    );
}

#[test]
fn dyn_memory_array_and_guard_types() {
    let bad = [
        ("any", "  %v2 = dyn.add %v0, %v0 : i64\n", "result of `dyn.add` has type i64, expected any"),
        ("any", "  %v2 = dyn.cmp eq %v0, %v0 : i64\n", "expected bool or any"),
        ("any", "  %v2 = dyn.len %v0 : bool\n", "expected i64 or any"),
        ("any", "  %v2 = dyn.cast %v0 : any\n", "expected i64 or f64"),
        ("any", "  %v2 = dyn.builtin pow(%v0) : any\n", "`dyn.builtin` takes 2 operands, 1 given"),
        ("i64", "  %v2 = guard.type %v0 : i64\n", "operand 0 (%v0) of `guard.type` has type i64, expected any"),
        ("any", "  %v2 = guard.type %v0 : any\n", "expected a concrete type"),
        ("i64", "  %v2 = mem.cell_load %v0 : any\n", "expected cell"),
        ("any", "  %v2 = mem.cell_new %v0 : any\n", "expected cell"),
        ("i64", "  %v2 = array.get %v0, %v0 : any\n", "expected an array type"),
        ("str", "  %v2 = array.new %v0 : array<i64>\n", "expected a type fitting i64"),
        ("str", "  %v2 = array.new %v0 : array<str>\n  array.push %v2, %v2\n", "expected a type fitting str"),
        ("str", "  %v2 = array.new %v0 : array<str>\n  %v3 = arith.const 0 : i64\n  %v4 = array.get %v2, %v3 : i64\n", "expected str (the element type) or any"),
        ("str", "  %v2 = array.new %v0 : tuple\n", "expected an array type"),
        ("str", "  %v2 = array.tuple %v0 : array<str>\n", "expected tuple"),
        ("str", "  %v2 = rt.print %v0 : i64\n", "expected unit or any"),
    ];
    for (params, body, needle) in bad {
        let text = func(
            "dyn",
            params,
            "any",
            &format!("{body}  %v9 = arith.const nil : unit\n  cf.return %v9\n"),
        );
        rejects(&text, needle);
    }
}

#[test]
fn reports_all_errors_with_positions() {
    let text = "func @f(i64) -> bool level(typed) {\n^bb0(%v0: i64):\n  %v1 = arith.addf %v0, %v0 : f64\n  %v2 = dyn.neg %v0 : any\n  cf.br ^bb1(%v0)\n^bb1:\n  cf.return %v0\n}\n";
    let errs = errors(text);
    assert!(errs.len() >= 5, "{errs:#?}");
    assert!(
        errs.contains(
            &"3:3: error in @f: operand 0 (%v0) of `arith.addf` has type i64, expected f64"
                .to_string()
        ),
        "{errs:#?}"
    );
    assert!(
        errs.contains(
            &"4:3: error in @f: `dyn.neg` (dialect dyn) is not allowed at level typed".to_string()
        ),
        "{errs:#?}"
    );
    assert!(
        errs.contains(&"5:3: error in @f: ^bb1 takes 0 arguments, 1 given".to_string()),
        "{errs:#?}"
    );
    assert!(errs.iter().any(|e| e.starts_with("7:3: error in @f: operand 0 (%v0) of `cf.return` has type i64")), "{errs:#?}");

    // Block and function errors, with and without the source map.
    let text = "func @g(i64) -> any level(dyn) hints(i64, i64) {\n^bb0(%v0: i64):\n  cf.br ^bb1\n^bb1:\n}\n";
    let (m, map) = parse_module(text).unwrap();
    let errs = verify_module(&m).unwrap_err();
    let with: Vec<String> = errs.iter().map(|e| e.render(&m, Some(&map))).collect();
    let without: Vec<String> = errs.iter().map(|e| e.render(&m, None)).collect();
    assert!(
        with.contains(
            &"4:1: error in @g: block is empty; it must end with a terminator".to_string()
        ),
        "{with:#?}"
    );
    assert!(
        with.contains(&"1:1: error in @g: 2 parameter hints for 1 parameters".to_string()),
        "{with:#?}"
    );
    assert!(
        without.contains(&"@g ^bb1: block is empty; it must end with a terminator".to_string()),
        "{without:#?}"
    );
    assert!(
        without.contains(&"@g: 2 parameter hints for 1 parameters".to_string()),
        "{without:#?}"
    );
    let block_err = errs
        .iter()
        .find(|e| e.location == Some(ErrorLocation::Block(Block::from_u32(1))))
        .unwrap();
    assert_eq!(
        block_err.to_string(),
        "fn0 ^bb1: block is empty; it must end with a terminator"
    );
}

#[test]
fn module_level_checks() {
    let (mut m, _) = parse_module(VALID).unwrap();
    m.entry = Some(ruchy_ir::FuncId::from_u32(7));
    let errs = verify_module(&m).unwrap_err();
    assert!(errs
        .iter()
        .any(|e| e.message.contains("entry function does not exist")));
    let (mut m, _) = parse_module(VALID).unwrap();
    let id = m.func_by_name("sum").unwrap();
    m.funcs[id].name = "renamed".into();
    let errs = verify_module(&m).unwrap_err();
    assert!(
        errs.iter().any(|e| e.message.contains("name index")),
        "{errs:?}"
    );
}

#[test]
fn dangling_entities_do_not_panic() {
    let (mut m, _) = parse_module(VALID).unwrap();
    let id = m.func_by_name("poly").unwrap();
    let f = &mut m.funcs[id];
    let insts: Vec<_> = f.layout.block_insts(Block::from_u32(0)).to_vec();
    f.dfg.insts[insts[0]].imm = Imm::Func(ruchy_ir::FuncId::from_u32(99));
    f.dfg.insts[insts[1]].imm = Imm::Global(ruchy_ir::GlobalId::from_u32(99));
    f.dfg.insts[insts[2]].args[0] = ruchy_ir::Value::from_u32(1000);
    f.dfg.insts[insts[4]]
        .dests
        .push(ruchy_ir::BlockCall::new(Block::from_u32(50), &[]));
    let errs = verify_module(&m).unwrap_err();
    let text = render_errors(&m, &errs, None);
    assert!(
        text.contains("refers to fn99, which does not exist"),
        "{text}"
    );
    assert!(text.contains("global g99 does not exist"), "{text}");
    assert!(
        text.contains("use of %v1000, which does not exist"),
        "{text}"
    );
    assert!(
        text.contains("branch to ^bb50, which is not in the layout"),
        "{text}"
    );
    // Printing the broken function does not panic either.
    let printed = ruchy_ir::print_module(&m);
    assert!(printed.contains("@\"<invalid fn99>\""));
    // A layout naming a block the DFG does not have.
    let f = &mut m.funcs[id];
    f.layout.append_block(Block::from_u32(77));
    let errs = verify_function(&m, id).unwrap_err();
    assert!(errs
        .iter()
        .any(|e| e.message.contains("does not exist in the data-flow graph")));
    let _ = ruchy_ir::print_module(&m);
}

//! Guards carry the interpreter state to resume from: the text form round-trips it and the
//! verifier checks it.

use ruchy_ir::{parse_module, print_module, verify_module};

const TYPED_WITH_GUARD: &str = r#"module "g.ruchy"

func @f(any) -> any level(dyn) frozen loc(1:1) {
^bb0(%v0: any):
  %v1 = arith.const 1 : i64 loc(2:9)
  %v2 = dyn.add %v0, %v1 : any loc(2:5)
  cf.return %v2 loc(2:5)
}

func @f$i64(any) -> i64 level(typed) {
^bb0(%v0: any):
  %v1 = arith.const 1 : i64 loc(2:9)
  %v3 = guard.type %v0 : i64 deopt(@f ^bb0 1 [%v0 = %v0, %v1 = %v1]) loc(2:5)
  %v2 = arith.addi %v3, %v1 : i64 loc(2:5)
  cf.return %v2 loc(2:5)
}
"#;

#[test]
fn deopt_state_round_trips_and_verifies() {
    let (m, _) = parse_module(TYPED_WITH_GUARD).expect("parses");
    assert_eq!(print_module(&m), TYPED_WITH_GUARD);
    verify_module(&m).expect("verifies");
}

#[test]
fn typed_guard_without_deopt_is_rejected() {
    let text = TYPED_WITH_GUARD.replace(" deopt(@f ^bb0 1 [%v0 = %v0, %v1 = %v1])", "");
    let (m, _) = parse_module(&text).expect("parses");
    let errs = verify_module(&m).unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e.message.contains("needs a deopt state")),
        "{errs:?}"
    );
}

#[test]
fn deopt_into_a_missing_value_or_position_is_rejected() {
    let text = TYPED_WITH_GUARD.replace("%v1 = %v1])", "%v9 = %v1])");
    let (m, _) = parse_module(&text).expect("parses");
    let errs = verify_module(&m).unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e.message.contains("deopt value %v9 is not defined")),
        "{errs:?}"
    );
    let text = TYPED_WITH_GUARD.replace("@f ^bb0 1 [", "@f ^bb0 7 [");
    let (m, _) = parse_module(&text).expect("parses");
    let errs = verify_module(&m).unwrap_err();
    assert!(
        errs.iter().any(|e| e.message.contains("past the end")),
        "{errs:?}"
    );
}

#[test]
fn deopt_locals_must_be_defined() {
    let text = TYPED_WITH_GUARD.replace("%v1 = %v1])", "%v1 = %v42])");
    let err = parse_module(&text).unwrap_err();
    assert!(err.message.contains("undefined value %v42"), "{err}");
}

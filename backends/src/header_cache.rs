//! Which arrays compiled code keeps the header of in variables through a loop.
//!
//! An inline array access reads the array's header (`array_layout`: storage kind, length,
//! storage pointer) before it touches an element. Our IR does not show those reads, so no pass
//! can hoist them, and Cranelift cannot either: the header is memory that pushes and stores
//! change. In sieve's marking loop (`flags[m] = false`) they were most of the work: the slot
//! holding the array, then its kind, length and storage, reloaded for every element.
//!
//! A loop is *header-stable* when nothing in it can change an array's header except the inline
//! array operations themselves: its instructions are scalar arithmetic, control flow, guards,
//! strings, globals and cells, printing, and array operations on values statically arrays, and
//! it makes no call (a callee, a method or a builtin may push onto any array). For such a loop,
//! the headers of the arrays it accesses but does not define (the few most accessed, see
//! [`MAX_KEPT_ARRAYS`]) are read once on every edge that enters it and kept in Cranelift
//! variables; the code generator re-reads them after whatever may change a header inside the
//! loop (the runtime call of any `array.set`, `array.get` or `array.push` slow path, a push's
//! fast path), for every array kept, since two values may be one array. Cranelift's SSA
//! construction then threads the variables through the loop as block parameters, which stay in
//! registers.
//!
//! Deoptimization and errors leave compiled code, so they need no re-read. Dropping a value
//! runs no user code and cannot free a kept array: the loop uses it, so its slot holds it.

use ruchy_ir::{Block, ControlFlowGraph, Dialect, DomTree, Function, LoopForest, Opcode, Value};
use std::collections::{HashMap, HashSet};

/// How many arrays' headers a loop nest keeps at most. Each takes four to six variables, and
/// every re-read (after each slow path and push in the loop) reads them all: keeping many
/// arrays would spill registers and make code quadratic in the loop's size (a loop over 200
/// arrays compiled 5 times slower with all of them kept).
const MAX_KEPT_ARRAYS: usize = 4;

/// The plan for one function.
#[derive(Default, Debug)]
pub struct HeaderCache {
    /// The arrays whose header is in variables in each block (blocks of header-stable loops).
    kept_in: HashMap<Block, Vec<Value>>,
    /// The arrays whose header is read at the end of each block that enters such a loop.
    read_before_branch: HashMap<Block, Vec<Value>>,
    /// Arrays that some loop keeping them pushes onto (for the whole function, not per loop):
    /// their capacity is kept too.
    pushed: HashSet<Value>,
    /// Blocks of header-stable loops that push onto some array: a push changes a length on
    /// its fast path without reading the headers again.
    in_pushing_loop: HashSet<Block>,
}

impl HeaderCache {
    /// Plans `f`; `inline` tells which values the code generator accesses inline (statically
    /// arrays).
    pub fn compute(f: &Function, inline: impl Fn(Value) -> bool) -> Self {
        let mut plan = HeaderCache::default();
        let has_array_ops = f
            .insts_in_order()
            .any(|(_, i)| is_array_access(f.dfg.insts[i].opcode));
        let Some(entry) = f.entry_block() else {
            return plan;
        };
        if !has_array_ops {
            return plan;
        }
        let cfg = ControlFlowGraph::compute(f);
        let dt = DomTree::compute(&cfg);
        let loops = LoopForest::compute(f, &cfg, &dt);
        // Outer loops first, so that an inner loop sees what its enclosing loop keeps already.
        // An inner loop's blocks are among its enclosing loop's: the outer loop's scan sees the
        // inner loop's pushes (and marks all its blocks `in_pushing_loop`), and the inner
        // loop's blocks keep the union of both loops' arrays.
        for (_, data) in loops.loops() {
            if data.header == entry {
                continue;
            }
            let in_loop: HashSet<Block> = data.blocks.iter().copied().collect();
            // Each array defined outside the loop, with how often the loop accesses it.
            let mut accessed: Vec<(Value, usize)> = vec![];
            let mut pushed: Vec<Value> = vec![];
            let mut stable = true;
            'blocks: for &b in &data.blocks {
                for &i in f.layout.block_insts(b) {
                    let d = &f.dfg.insts[i];
                    if !preserves_headers(d.opcode) {
                        stable = false;
                        break 'blocks;
                    }
                    if !is_array_access(d.opcode) {
                        continue;
                    }
                    let arr = d.args[0];
                    if !inline(arr) {
                        // Stores and pushes through the runtime could change any array.
                        if matches!(d.opcode, Opcode::ArraySet | Opcode::ArrayPush) {
                            stable = false;
                            break 'blocks;
                        }
                        continue;
                    }
                    let defined_outside = f.def_block(arr).is_some_and(|db| !in_loop.contains(&db));
                    if defined_outside {
                        match accessed.iter_mut().find(|(a, _)| *a == arr) {
                            Some((_, n)) => *n += 1,
                            None => accessed.push((arr, 1)),
                        }
                    }
                    if d.opcode == Opcode::ArrayPush && !pushed.contains(&arr) {
                        pushed.push(arr);
                    }
                }
            }
            if !stable {
                continue;
            }
            // The most accessed arrays, up to `MAX_KEPT_ARRAYS` with those enclosing loops keep
            // already (ties in the order of first access).
            let outer = plan.kept_in.get(&data.header).map_or(0, Vec::len);
            accessed.retain(|(a, _)| !plan.is_kept(data.header, *a));
            accessed.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
            let arrays: Vec<Value> = accessed
                .iter()
                .take(MAX_KEPT_ARRAYS.saturating_sub(outer))
                .map(|&(a, _)| a)
                .collect();
            if arrays.is_empty() {
                continue;
            }
            let entries: Vec<Block> = cfg
                .preds(data.header)
                .iter()
                .copied()
                .filter(|p| !in_loop.contains(p))
                .collect();
            if entries.is_empty() || entries.iter().any(|&p| !cfg.is_reachable(p)) {
                continue;
            }
            for &p in &entries {
                let kept = plan.kept_in.get(&p).cloned().unwrap_or_default();
                let reads = plan.read_before_branch.entry(p).or_default();
                for &a in &arrays {
                    if !kept.contains(&a) && !reads.contains(&a) {
                        reads.push(a);
                    }
                }
            }
            for &b in &data.blocks {
                let kept = plan.kept_in.entry(b).or_default();
                for &a in &arrays {
                    if !kept.contains(&a) {
                        kept.push(a);
                    }
                }
            }
            if !pushed.is_empty() {
                plan.in_pushing_loop.extend(data.blocks.iter().copied());
            }
            plan.pushed
                .extend(pushed.into_iter().filter(|a| arrays.contains(a)));
        }
        plan
    }

    /// The arrays whose header is in variables in block `b`.
    pub fn kept_in(&self, b: Block) -> &[Value] {
        self.kept_in.get(&b).map_or(&[], Vec::as_slice)
    }

    /// Whether `arr`'s header is in variables in block `b`.
    pub fn is_kept(&self, b: Block, arr: Value) -> bool {
        self.kept_in(b).contains(&arr)
    }

    /// The arrays whose header is read at the end of `b`, before its branch into a loop.
    pub fn read_before_branch(&self, b: Block) -> &[Value] {
        self.read_before_branch.get(&b).map_or(&[], Vec::as_slice)
    }

    /// Whether the lengths by storage kind kept with the headers are up to date in block `b`
    /// (no push in the loops around it).
    pub fn lengths_by_kind_valid(&self, b: Block) -> bool {
        !self.in_pushing_loop.contains(&b)
    }

    /// Whether the capacity of `arr` is kept with its header (a loop pushes onto it).
    pub fn keeps_capacity(&self, arr: Value) -> bool {
        self.pushed.contains(&arr)
    }
}

/// The accesses whose inline code reads an array header.
fn is_array_access(op: Opcode) -> bool {
    matches!(
        op,
        Opcode::ArrayGet | Opcode::ArraySet | Opcode::ArrayLen | Opcode::ArrayPush
    )
}

/// Whether `op` leaves every array header as it was, or is an array operation whose changes
/// the code generator tracks. Anything that may run other code (calls, methods, builtins,
/// generic `dyn` operations) may push onto any array. Operations on memory, arrays and strings
/// are listed one by one, so that an operation added later (`array.pop`, say) counts as
/// changing headers until someone decides otherwise here.
fn preserves_headers(op: Opcode) -> bool {
    use Opcode::*;
    match op.dialect() {
        // Scalars, control flow, type tests.
        Dialect::Arith | Dialect::Cf | Dialect::Guard => true,
        // Read or build values; the helpers behind them run no Ruchy code.
        Dialect::Mem | Dialect::Array | Dialect::Str => matches!(
            op,
            GlobalLoad
                | GlobalStore
                | CellNew
                | CellLoad
                | CellStore
                | StackAlloc
                | ArrayNew
                | ArrayGet
                | ArrayLen
                | ArrayConcat
                | TupleNew
                // Tracked by the code generator: their slow paths re-read every kept header,
                // and a push's fast path updates its own array's length.
                | ArraySet
                | ArrayPush
                | StrConst
                | StrConcat
                | StrLen
                | StrFrom
                | StrIndex
                | StrCmp
        ),
        Dialect::Func => matches!(op, FuncRef | MakeClosure),
        Dialect::Rt => matches!(op, Print | Println | RtLen),
        Dialect::Dyn => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruchy_ir::{parse_module, Type};

    fn plan(text: &str) -> HeaderCache {
        let (m, _) = parse_module(text).expect("parses");
        let f = m.funcs.values().next().expect("one function");
        HeaderCache::compute(f, |v| matches!(f.dfg.value_type(v), Type::Array(_)))
    }

    fn b(n: u32) -> Block {
        Block::from_u32(n)
    }

    fn v(n: u32) -> Value {
        Value::from_u32(n)
    }

    /// `while i < n { a[i] = x; i = i + 1 }` over a parameter, with `body` in place of the
    /// store: blocks bb1 (header), bb2 (body), bb3 (exit).
    fn store_loop(body: &str) -> String {
        format!(
            "func @f(array<any>, i64, i64) -> i64 level(typed) {{\n\
             ^bb0(%v0: array<any>, %v1: i64, %v2: i64):\n\
               %v3 = arith.const 0 : i64\n\
               cf.br ^bb1(%v3)\n\
             ^bb1(%v4: i64):\n\
               %v5 = arith.cmpi lt %v4, %v1 : bool\n\
               cf.cond_br %v5, ^bb2, ^bb3\n\
             ^bb2:\n\
               {body}\n\
               %v7 = arith.const 1 : i64\n\
               %v8 = arith.addi %v4, %v7 : i64\n\
               cf.br ^bb1(%v8)\n\
             ^bb3:\n\
               %v9 = array.len %v0 : i64\n\
               cf.return %v9\n\
             }}\n"
        )
    }

    #[test]
    fn a_loop_of_stores_keeps_the_header_read_on_entry() {
        let p = plan(&store_loop("array.set %v0, %v4, %v2"));
        assert_eq!(p.read_before_branch(b(0)), &[v(0)]);
        assert!(p.is_kept(b(1), v(0)) && p.is_kept(b(2), v(0)));
        // After the loop, the header is read where it is used.
        assert!(!p.is_kept(b(3), v(0)) && !p.is_kept(b(0), v(0)));
        assert!(p.lengths_by_kind_valid(b(2)) && !p.keeps_capacity(v(0)));
    }

    #[test]
    fn a_call_in_the_loop_may_change_any_array() {
        let g = "func @g(i64) -> i64 level(typed) {\n^bb0(%v0: i64):\n  cf.return %v0\n}\n";
        let p = plan(&(store_loop("array.set %v0, %v4, %v2\n  %v6 = func.call @g(%v2) : i64") + g));
        assert!(p.read_before_branch(b(0)).is_empty());
        assert!(!p.is_kept(b(2), v(0)));
    }

    #[test]
    fn a_loop_that_pushes_keeps_the_capacity_and_not_the_lengths_by_kind() {
        let p = plan(&store_loop("array.push %v0, %v2"));
        assert!(p.is_kept(b(2), v(0)) && p.keeps_capacity(v(0)));
        assert!(!p.lengths_by_kind_valid(b(2)));
    }

    #[test]
    fn a_loop_keeps_only_its_most_accessed_arrays() {
        // Six arrays (%v0 and %v10..%v14); %v13 and %v14 are accessed twice, %v0 once, like
        // the others, and first.
        let params = ", array<any>, array<any>, array<any>, array<any>, array<any>";
        let text = store_loop(
            "array.set %v0, %v4, %v2\n  array.set %v10, %v4, %v2\n  array.set %v11, %v4, %v2\n  \
             array.set %v12, %v4, %v2\n  array.set %v13, %v4, %v2\n  array.set %v14, %v4, %v2\n  \
             array.set %v13, %v4, %v2\n  array.set %v14, %v4, %v2",
        )
        .replace(
            "^bb0(%v0: array<any>, %v1: i64, %v2: i64):",
            "^bb0(%v0: array<any>, %v1: i64, %v2: i64, %v10: array<any>, %v11: array<any>, \
             %v12: array<any>, %v13: array<any>, %v14: array<any>):",
        )
        .replace(
            "func @f(array<any>, i64, i64)",
            &format!("func @f(array<any>, i64, i64{params})"),
        );
        let p = plan(&text);
        assert_eq!(p.kept_in(b(2)), &[v(13), v(14), v(0), v(10)]);
        assert_eq!(p.read_before_branch(b(0)), &[v(13), v(14), v(0), v(10)]);
    }

    #[test]
    fn an_array_made_in_the_loop_is_not_kept() {
        let p = plan(&store_loop(
            "%v6 = array.new %v2 : array<any>\n  array.set %v6, %v4, %v2",
        ));
        assert!(p.kept_in(b(2)).is_empty());
    }

    #[test]
    fn an_array_of_unknown_type_written_in_the_loop_stops_keeping() {
        let text = store_loop("array.set %v0, %v4, %v2\n  array.set %v6, %v4, %v2")
            .replace(
                "^bb0(%v0: array<any>, %v1: i64, %v2: i64):",
                "^bb0(%v0: array<any>, %v1: i64, %v2: i64, %v6: any):",
            )
            .replace(
                "func @f(array<any>, i64, i64)",
                "func @f(array<any>, i64, i64, any)",
            );
        let p = plan(&text);
        assert!(p.kept_in(b(2)).is_empty());
    }
}

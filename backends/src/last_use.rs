//! Where values held in memory (`Value` slots) are used for the last time, so that compiled code
//! can give up its reference right there.
//!
//! Compiled code keeps every memory-typed SSA value (strings, arrays, `any`, ...) in a slot of its
//! frame, and a slot holds one reference to the value until it is overwritten or the frame
//! returns. A reference kept longer than needed is not a leak, but it defeats in-place updates:
//! `s = s + x` appends to `s`'s buffer only when nothing else refers to it, and a dead slot, or the
//! slot a loop's previous value came from, does. With the last uses known, the code generator
//! moves a value into a block parameter instead of copying it, lets `str.concat` take its left
//! operand, and drops any other dying operand right after its last use. That keeps `s = s + x`
//! linear in compiled code, as it is in the interpreter.
//!
//! The analysis is classic backward liveness over the IR blocks (a value is live into a block
//! if it is used there before being defined, or live out of it and not defined there; branch
//! arguments are uses at the branch, block parameters are defined at the top of their block),
//! followed by one backward scan per block.

use ruchy_ir::{Block, Function, Inst, Value};
use std::collections::{HashMap, HashSet};

/// The result: which operands die where.
#[derive(Default)]
pub struct LastUses {
    /// `(inst, value)`: `value` (an operand, deopt value or branch argument of `inst`) is not
    /// used after `inst`, on any path.
    dying: HashSet<(Inst, Value)>,
    /// The tracked values live on entry to each block (its parameters excluded).
    live_in: HashMap<Block, HashSet<Value>>,
}

impl LastUses {
    /// Computes the last uses of the values `tracked` accepts (the others are ignored).
    pub fn compute(f: &Function, tracked: impl Fn(Value) -> bool) -> Self {
        let blocks: Vec<Block> = f.layout.blocks().to_vec();
        // Per block: values used before any definition in it, and values defined in it.
        let mut upward: HashMap<Block, HashSet<Value>> = HashMap::new();
        let mut defined: HashMap<Block, HashSet<Value>> = HashMap::new();
        for &b in &blocks {
            let mut defs: HashSet<Value> = f.dfg.block_params(b).iter().copied().collect();
            let mut ups = HashSet::new();
            for &i in f.layout.block_insts(b) {
                let d = &f.dfg.insts[i];
                for v in d.all_uses() {
                    if tracked(v) && !defs.contains(&v) {
                        ups.insert(v);
                    }
                }
                if let Some(r) = d.result {
                    defs.insert(r);
                }
            }
            upward.insert(b, ups);
            defined.insert(b, defs);
        }
        let succs: HashMap<Block, Vec<Block>> = blocks
            .iter()
            .map(|&b| (b, f.successors(b).to_vec()))
            .collect();
        let mut live_in: HashMap<Block, HashSet<Value>> = HashMap::new();
        let mut live_out: HashMap<Block, HashSet<Value>> = HashMap::new();
        let mut changed = true;
        while changed {
            changed = false;
            for &b in blocks.iter().rev() {
                let mut out = HashSet::new();
                for s in &succs[&b] {
                    if let Some(l) = live_in.get(s) {
                        out.extend(l.iter().copied());
                    }
                }
                let mut inn: HashSet<Value> = upward[&b].clone();
                for &v in &out {
                    if !defined[&b].contains(&v) {
                        inn.insert(v);
                    }
                }
                if live_in.get(&b) != Some(&inn) {
                    live_in.insert(b, inn);
                    changed = true;
                }
                live_out.insert(b, out);
            }
        }
        let mut dying = HashSet::new();
        for &b in &blocks {
            let mut live = live_out.remove(&b).unwrap_or_default();
            for &i in f.layout.block_insts(b).iter().rev() {
                let d = &f.dfg.insts[i];
                if let Some(r) = d.result {
                    live.remove(&r);
                }
                let uses: Vec<Value> = d.all_uses().filter(|&v| tracked(v)).collect();
                for &v in &uses {
                    if !live.contains(&v) {
                        dying.insert((i, v));
                    }
                }
                live.extend(uses);
            }
        }
        LastUses { dying, live_in }
    }

    /// Whether `v` is not used after `inst` (which uses it).
    pub fn dies_at(&self, inst: Inst, v: Value) -> bool {
        self.dying.contains(&(inst, v))
    }

    /// Whether `v` is used in `b` or after it without being passed in again: a branch to `b`
    /// that passes `v` as an argument is its last use on that path when this is false.
    pub fn live_into(&self, b: Block, v: Value) -> bool {
        self.live_in.get(&b).is_some_and(|l| l.contains(&v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruchy_ir::parse_module;

    #[test]
    fn loop_string_dies_at_its_append_but_not_where_the_loop_exits() {
        let (m, _) = parse_module(
            "func @f(str) -> str level(typed) {\n\
             ^bb0(%v0: str):\n\
               %v1 = arith.const 0 : i64\n\
               %v9 = str.const \"x\" : str\n\
               cf.br ^bb1(%v1, %v0)\n\
             ^bb1(%v2: i64, %v3: str):\n\
               %v4 = arith.const 10 : i64\n\
               %v5 = arith.cmpi lt %v2, %v4 : bool\n\
               cf.cond_br %v5, ^bb2, ^bb3\n\
             ^bb2:\n\
               %v6 = str.concat %v3, %v9 : str\n\
               %v7 = arith.const 1 : i64\n\
               %v8 = arith.addi %v2, %v7 : i64\n\
               cf.br ^bb1(%v8, %v6)\n\
             ^bb3:\n\
               %v10 = str.len %v3 : i64\n\
               cf.return %v3\n\
             }\n",
        )
        .expect("parses");
        let f = m.funcs.values().next().expect("one function");
        let lu = LastUses::compute(f, |v| f.dfg.value_type(v) == ruchy_ir::Type::Str);
        let inst_of = |r: u32| match f.dfg.value_def(Value::from_u32(r)) {
            ruchy_ir::ValueDef::Result(i) => i,
            _ => panic!("not a result"),
        };
        let concat = inst_of(6);
        let len = inst_of(10);
        // The loop's string dies at the append (the back edge passes the new one)...
        assert!(lu.dies_at(concat, Value::from_u32(3)));
        // ...but the constant appended is used again on the next iteration.
        assert!(!lu.dies_at(concat, Value::from_u32(9)));
        // At the exit, the string is returned after `str.len`.
        assert!(!lu.dies_at(len, Value::from_u32(3)));
        // The loop's string is not needed past the back edge except through the parameter.
        assert!(!lu.live_into(Block::from_u32(1), Value::from_u32(6)));
        assert!(lu.live_into(Block::from_u32(2), Value::from_u32(9)));
        // The new string dies at the back edge that passes it on.
        let back = *f
            .layout
            .block_insts(Block::from_u32(2))
            .last()
            .expect("terminator");
        assert!(lu.dies_at(back, Value::from_u32(6)));
    }
}

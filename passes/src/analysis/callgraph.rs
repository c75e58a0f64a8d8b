//! The direct-call graph of a module (on petgraph), with strongly connected components so that
//! passes can tell recursive functions apart.

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use ruchy_ir::{EntityRef, FuncId, Imm, Module, Opcode};
use std::collections::HashMap;

pub struct CallGraph {
    pub graph: DiGraph<FuncId, ()>,
    nodes: HashMap<FuncId, NodeIndex>,
    /// For each function, the index of its SCC.
    scc_of: HashMap<FuncId, usize>,
    scc_sizes: Vec<usize>,
}

impl CallGraph {
    pub fn compute(m: &Module) -> Self {
        let mut graph = DiGraph::new();
        let mut nodes = HashMap::new();
        for (id, _) in m.funcs.iter() {
            nodes.insert(id, graph.add_node(id));
        }
        for (id, f) in m.funcs.iter() {
            for (_, i) in f.insts_in_order() {
                let d = &f.dfg.insts[i];
                if let (Opcode::Call | Opcode::MakeClosure | Opcode::FuncRef, Imm::Func(callee)) =
                    (d.opcode, &d.imm)
                {
                    if let (Some(&a), Some(&b)) = (nodes.get(&id), nodes.get(callee)) {
                        graph.update_edge(a, b, ());
                    }
                }
            }
        }
        let mut scc_of = HashMap::new();
        let mut scc_sizes = vec![];
        for (k, scc) in tarjan_scc(&graph).into_iter().enumerate() {
            scc_sizes.push(scc.len());
            for n in scc {
                scc_of.insert(graph[n], k);
            }
        }
        CallGraph {
            graph,
            nodes,
            scc_of,
            scc_sizes,
        }
    }

    /// Whether `f` can reach itself through direct calls.
    pub fn is_recursive(&self, f: FuncId) -> bool {
        let Some(&n) = self.nodes.get(&f) else {
            return false;
        };
        if self.graph.contains_edge(n, n) {
            return true;
        }
        self.scc_of.get(&f).is_some_and(|&k| self.scc_sizes[k] > 1)
    }

    /// Whether `a` and `b` call each other (directly or through others).
    pub fn same_scc(&self, a: FuncId, b: FuncId) -> bool {
        self.scc_of.contains_key(&a) && self.scc_of.get(&a) == self.scc_of.get(&b)
    }

    /// Direct callees of `f`.
    pub fn callees(&self, f: FuncId) -> Vec<FuncId> {
        match self.nodes.get(&f) {
            Some(&n) => self.graph.neighbors(n).map(|m| self.graph[m]).collect(),
            None => vec![],
        }
    }

    /// Functions in an order where callees come before callers (recursive cycles in some order).
    pub fn bottom_up(&self) -> Vec<FuncId> {
        let mut v: Vec<(usize, FuncId)> = self.scc_of.iter().map(|(&f, &k)| (k, f)).collect();
        // tarjan_scc returns SCCs in reverse topological order: callees first.
        v.sort_by_key(|&(k, f)| (k, f.index()));
        v.into_iter().map(|(_, f)| f).collect()
    }
}

//! Analyses over a function's control-flow graph, shared by the verifier, the passes and the
//! runtime (which needs loop headers for back-edge profiling and, later, OSR entries).

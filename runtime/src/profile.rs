//! The profile that tier 0 collects as it runs and that the tiering runtime reads to decide what
//! to compile: calls per function, the argument type signatures each function was called with,
//! and back-edge counts per loop header.

use crate::value::Value;
use ruchy_ir::{EntityRef, FuncId};
use smallvec::SmallVec;

/// A compact argument type signature: four bits per argument (`Value::type_tag`), at most 15
/// arguments, plus the count in the top bits.
pub type TypeSig = u64;

/// Most distinct signatures remembered per function; more means megamorphic.
pub const MAX_SIGS: usize = 8;

#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub calls: Vec<u64>,
    /// Per function: signatures seen and how often, most recent first.
    pub sigs: Vec<SmallVec<[(TypeSig, u64); 2]>>,
    /// Per loop header (numbered by the decoder across the program).
    pub backedges: Vec<u64>,
    /// Guards that failed and continued in the unspecialized function.
    pub deopts: u64,
    /// Wall time of the whole run, and the parts spent in compiled code and compiling (measured
    /// only when `Config::measure_tiers` is set, since timing every entry into compiled code
    /// costs a clock read); the rest is the interpreter's.
    pub run_time: std::time::Duration,
    pub native_time: std::time::Duration,
    pub compile_time: std::time::Duration,
}

impl Profile {
    pub fn new(nfuncs: usize, ncounters: usize) -> Self {
        Profile {
            calls: vec![0; nfuncs],
            sigs: vec![SmallVec::new(); nfuncs],
            backedges: vec![0; ncounters],
            deopts: 0,
            run_time: Default::default(),
            native_time: Default::default(),
            compile_time: Default::default(),
        }
    }

    /// Computes the signature of an argument list.
    #[inline]
    pub fn signature(args: &[Value]) -> TypeSig {
        Self::signature_of(args)
    }

    /// The signature of arguments that are not in one slice (registers, captures then
    /// arguments): at most 15 argument types of 4 bits, and the count in the top 4 bits.
    #[inline]
    pub fn signature_of<'a>(args: impl IntoIterator<Item = &'a Value>) -> TypeSig {
        let mut sig = 0;
        let mut n = 0u64;
        for a in args.into_iter().take(15) {
            sig |= (a.type_tag() as u64 & 0xF) << (4 * n);
            n += 1;
        }
        sig | (n << 60)
    }

    #[inline]
    pub fn record_call(&mut self, f: FuncId, args: &[Value]) {
        let i = f.index();
        self.calls[i] += 1;
        let sig = Self::signature(args);
        let sigs = &mut self.sigs[i];
        if let Some(first) = sigs.first_mut() {
            if first.0 == sig {
                first.1 += 1;
                return;
            }
        }
        if let Some(pos) = sigs.iter().position(|s| s.0 == sig) {
            sigs[pos].1 += 1;
            // Keep the most recent signature first so the common case stays one comparison.
            sigs.swap(0, pos);
        } else if sigs.len() < MAX_SIGS {
            sigs.insert(0, (sig, 1));
        }
    }

    /// Spells a signature like `(integer, float)`.
    pub fn describe(sig: TypeSig) -> String {
        let n = (sig >> 60) as usize;
        let names: Vec<&str> = (0..n)
            .map(|i| match (sig >> (4 * i)) & 0xF {
                0 => "nil",
                1 => "boolean",
                2 => "integer",
                3 => "float",
                4 => "string",
                5 => "array",
                6 => "tuple",
                7 => "function",
                _ => "cell",
            })
            .collect();
        format!("({})", names.join(", "))
    }
}

//! The tiering runtime: decides when a function is hot, specializes it for the argument types it
//! is called with, optimizes and compiles it, keeps the code in a method cache keyed by
//! (function, argument type signature) with LRU eviction, and runs it.
//!
//! Compiled code reaches the runtime through the `extern "C"` helpers of [`helpers`], with a
//! pointer to the [`JitContext`] as first argument; the context points back to the interpreter,
//! which the helpers re-enter for calls to interpreted functions and for deoptimization.

pub mod helpers;
pub mod osr;

use crate::profile::TypeSig;
use crate::value::Value;
use lru::LruCache;
use ruchy_backends::{Backend, BoxedEntry, CompiledFunction, RuntimeAbi};
use ruchy_ir::{ElemType, EntityRef, FuncId, Level, Module, Type};
use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::time::Duration;

/// When and how much to compile. Settable from the command line (`--tier1-threshold`, ...)
/// and the `RUCHY_JIT` environment variable (`tier1_threshold=0,max_cached_methods=5`).
#[derive(Clone, Debug, PartialEq)]
pub struct JitConfig {
    /// Compile a function once it has been called more than this many times (0: on the first
    /// call); the code is specialized for the argument types of the call that triggers it.
    pub tier1_threshold: u64,
    /// Reserved for the optimizing tier, which is not built yet; nothing reads it.
    pub tier2_threshold: u64,
    pub max_cached_methods: usize,
    pub max_specializations_per_function: usize,
    /// Back edges of a loop in an interpreted frame after which the rest of that call runs
    /// compiled, entered at the loop header (on-stack replacement; 0 never does it).
    pub backedge_threshold: u64,
    /// Whether compilation is enabled at all (`--tier=0` disables it).
    pub enabled: bool,
    /// Compile functions that contain loops on their first call.
    pub eager_loops: bool,
    /// ... but only those of at most this many interpreter ops. Compiling grows faster than
    /// linearly with a function's size, and a large function's loops may well be short; a
    /// larger one waits for its call count or for one of its loops to get hot (on-stack
    /// replacement), like HotSpot's limit on huge methods.
    pub eager_max_ops: usize,
    /// Append `START SIZE name` lines for compiled code to `/tmp/perf-PID.map`, so `perf report`
    /// names Ruchy functions.
    pub perf_map: bool,
    /// Deoptimizations of one compiled specialization after which the interpreter stops
    /// calling it (its signature stays interpreted): type instability that its guards keep
    /// running into (0: never give up on it).
    pub max_deopts: u64,
    /// Give each call through a function value in compiled code an inline cache, so that a
    /// call that keeps reaching the same compiled callee skips the runtime's dispatch.
    pub call_site_caches: bool,
    /// Compile the functions of one tier-up as a batch, which the backend may spread over
    /// several cores (off: one after the other on the interpreter's thread).
    pub parallel_codegen: bool,
}

impl Default for JitConfig {
    fn default() -> Self {
        JitConfig {
            tier1_threshold: 10,
            tier2_threshold: 100,
            max_cached_methods: 10_000,
            max_specializations_per_function: 3,
            backedge_threshold: 10_000,
            enabled: true,
            eager_loops: true,
            eager_max_ops: 1_000,
            perf_map: false,
            max_deopts: 50,
            call_site_caches: true,
            parallel_codegen: true,
        }
    }
}

impl JitConfig {
    /// Applies `key=value` settings separated by commas (the `RUCHY_JIT` syntax).
    pub fn apply(&mut self, spec: &str) -> Result<(), String> {
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("expected key=value, found `{part}`"))?;
            let n: u64 = v
                .trim()
                .parse()
                .map_err(|_| format!("`{k}` takes a number, not `{v}`"))?;
            match k.trim() {
                "tier1_threshold" => self.tier1_threshold = n,
                "tier2_threshold" => self.tier2_threshold = n,
                "max_cached_methods" => self.max_cached_methods = n.max(1) as usize,
                "max_specializations_per_function" => {
                    self.max_specializations_per_function = n as usize
                }
                "backedge_threshold" => self.backedge_threshold = n,
                "eager_loops" => self.eager_loops = n != 0,
                "eager_max_ops" => self.eager_max_ops = n as usize,
                "max_deopts" => self.max_deopts = n,
                "call_site_caches" => self.call_site_caches = n != 0,
                "parallel_codegen" => self.parallel_codegen = n != 0,
                other => return Err(format!("unknown JIT setting `{other}`")),
            }
        }
        Ok(())
    }
}

/// The block compiled code shares with the runtime. Field offsets are fixed by
/// `ruchy_backends::ctx`.
#[repr(C)]
pub struct JitContext {
    /// Entries into compiled code not returned from yet (evicted code is freed only at zero).
    pub depth: u64,
    /// Unused by compiled code; kept for the layout.
    pub max_depth: u64,
    /// Non-zero while an error is pending.
    pub error: u64,
    /// The interpreter that runs compiled code (for helpers that re-enter it).
    pub interp: *mut (),
    /// The lowest native stack address compiled code may use.
    pub stack_limit: u64,
}

/// A cached method: the specialization of a function for one signature and its code.
pub struct CacheEntry {
    /// The specialized IR function.
    pub spec: FuncId,
    pub code: Option<CompiledFunction>,
    /// Why it is not compiled, when it is not.
    pub reason: Option<String>,
    pub hits: u64,
}

/// Per-function facts for `--stats`.
#[derive(Clone, Debug, Default)]
pub struct FunctionReport {
    pub tier: u8,
    pub compile_time: Duration,
    pub code_size: usize,
    pub signatures_compiled: usize,
    pub cache_hits: u64,
    /// Why a hot function (or signature) was not compiled.
    pub reasons: Vec<String>,
    /// Why a function with loops was not compiled on its first call (it is large): shown only
    /// while it stays interpreted.
    pub waiting: Option<String>,
    pub megamorphic: bool,
}

/// What the dispatch needs to know of a function's code.
#[derive(Copy, Clone, Debug)]
pub struct FuncShape {
    pub has_loops: bool,
    /// Its size in interpreter ops.
    pub ops: usize,
}

/// What a call should do.
pub enum Decision {
    Interpret,
    /// Run compiled code through its boxed entry.
    Native(BoxedEntry),
    /// Hot and not tried yet: compile first.
    Compile,
}

/// Tiering state of one interpreter.
pub struct Tiering {
    pub config: JitConfig,
    backend: Option<Box<dyn Backend>>,
    pub cache: LruCache<(FuncId, TypeSig), CacheEntry>,
    /// Signatures per function that were compiled or tried.
    tried: HashMap<FuncId, HashSet<TypeSig>>,
    /// Indirection cells: each holds the typed entry of a compiled specialization. Boxed so
    /// their addresses stay put; never freed while the runtime lives.
    cells: HashMap<FuncId, Box<usize>>,
    /// Inline caches of calls through function values, as the backend asks for them while
    /// compiling, with the function whose code uses each; moved to `caches_of` once that
    /// function is compiled. Boxed so their addresses stay put as the vector grows.
    call_site_caches: Vec<(FuncId, Box<ruchy_backends::CallSiteCache>)>,
    /// The call-site caches of each piece of compiled code, by its typed entry (a function
    /// compiled again has new code and new caches): freed with that code.
    #[allow(clippy::vec_box)]
    caches_of: HashMap<usize, Vec<Box<ruchy_backends::CallSiteCache>>>,
    /// The closure each call-site cache (by address) holds, kept alive while it is cached.
    cached_closures: HashMap<usize, Value>,
    /// Interned string constants used by compiled code.
    strings: HashMap<String, Box<Value>>,
    pub reports: HashMap<FuncId, FunctionReport>,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    /// Bytes of machine code given back to the system after evictions.
    pub freed_bytes: usize,
    /// Evicted code waiting until no compiled frame is active to be freed.
    graveyard: Vec<CompiledFunction>,
    /// Functions other compiled code calls through their cells: their code is never freed.
    pinned: HashSet<FuncId>,
    pinned_code: Vec<CompiledFunction>,
    pub backend_error: Option<String>,
    /// Per function: the last signature that hit compiled code, and its boxed entry — checked
    /// before the method cache so a hot call costs an array load and a compare.
    fast: Vec<(TypeSig, BoxedEntry)>,
    /// Per function: calls that went to compiled code.
    fast_hits: Vec<u64>,
    /// OSR variants made so far, by function and loop header (`None`: none can be made).
    osr: HashMap<(FuncId, ruchy_ir::Block), Option<osr::OsrVariant>>,
    /// Loops entered through OSR.
    pub osr_entries: u64,
    /// Deoptimizations per compiled specialization.
    deopts_by_spec: HashMap<FuncId, u64>,
    /// Signatures whose compiled code deoptimized too often: interpreted from then on.
    given_up: HashSet<(FuncId, TypeSig)>,
}

impl Tiering {
    pub fn new(config: JitConfig) -> Self {
        let (backend, backend_error): (Option<Box<dyn Backend>>, Option<String>) = if config.enabled
        {
            match ruchy_backends::cranelift::CraneliftBackend::new() {
                Ok(b) => (Some(Box::new(b)), None),
                Err(e) => (None, Some(e.0)),
            }
        } else {
            (None, None)
        };
        let cap = NonZeroUsize::new(config.max_cached_methods.max(1)).unwrap_or(NonZeroUsize::MIN);
        Tiering {
            config,
            backend,
            cache: LruCache::new(cap),
            tried: HashMap::new(),
            cells: HashMap::new(),
            call_site_caches: vec![],
            caches_of: HashMap::new(),
            cached_closures: HashMap::new(),
            strings: HashMap::new(),
            reports: HashMap::new(),
            hits: 0,
            misses: 0,
            evictions: 0,
            freed_bytes: 0,
            graveyard: vec![],
            pinned: HashSet::new(),
            pinned_code: vec![],
            backend_error,
            fast: vec![],
            fast_hits: vec![],
            osr: HashMap::new(),
            osr_entries: 0,
            deopts_by_spec: HashMap::new(),
            given_up: HashSet::new(),
        }
    }

    /// A guard of compiled specialization `spec` failed. At `max_deopts` failures, the
    /// interpreter stops calling that code: its `(function, signature)` entry keeps no code, so
    /// later calls with that signature are interpreted instead of deoptimizing every time. The
    /// code itself stays (it may be running, and compiled callers reach it through its cell).
    pub fn note_deopt(&mut self, module: &Module, spec: FuncId) {
        let n = self.deopts_by_spec.entry(spec).or_default();
        *n += 1;
        if *n != self.config.max_deopts {
            return;
        }
        let n = *n;
        let orig = original_of(module, spec);
        let sig = module
            .funcs
            .get(spec)
            .and_then(|f| signature_of_types(&f.params));
        // Interpreted callers: the signature is no longer dispatched to compiled code.
        let cached = self
            .cache
            .iter()
            .find(|(_, e)| e.spec == spec && e.code.is_some())
            .map(|(k, _)| *k);
        if let Some(key) = cached {
            if let Some(e) = self.cache.peek_mut(&key) {
                if let Some(code) = e.code.take() {
                    self.pinned_code.push(code);
                }
                e.reason = Some(format!("deoptimized {n} times"));
            }
        }
        for e in self.fast.iter_mut() {
            *e = (0, BoxedEntry::NONE);
        }
        if let Some(sig) = cached.map(|k| k.1).or(sig) {
            self.given_up.insert((orig, sig));
            let msg = format!(
                "signature {} deoptimized {n} times: stays interpreted",
                crate::profile::Profile::describe(sig)
            );
            self.report(orig).reasons.push(msg);
        }
        // Compiled callers reach the code through its cell: point the cell at a stand-in that
        // runs the original in the interpreter, so they stop deoptimizing too.
        if self.cells.contains_key(&spec) {
            if let Some(backend) = self.backend.as_mut() {
                let mut abi = Abi {
                    cells: &self.cells,
                    strings: &mut self.strings,
                    call_site_caches: None,
                };
                if let Ok(fallback) = backend.compile_fallback(module, spec, orig, &mut abi) {
                    if let Some(cell) = self.cells.get_mut(&spec) {
                        **cell = fallback.typed_entry as usize;
                    }
                    self.pinned_code.push(fallback);
                }
            }
        }
    }

    /// The OSR variant of `f` entered at loop header `header` (made on first request); `None`
    /// when it cannot be made, with the reason in `f`'s report.
    pub fn osr_variant(
        &mut self,
        module: &mut Module,
        f: FuncId,
        header: ruchy_ir::Block,
    ) -> Option<osr::OsrVariant> {
        if let Some(v) = self.osr.get(&(f, header)) {
            return v.clone();
        }
        let made = osr::make_variant(module, f, header);
        let v = match made {
            Ok(v) => Some(v),
            Err(e) => {
                self.report(f)
                    .reasons
                    .push(format!("no on-stack replacement at {header}: {e}"));
                None
            }
        };
        self.osr.insert((f, header), v.clone());
        v
    }

    pub fn enabled(&self) -> bool {
        self.backend.is_some()
    }

    /// Decides what a call of `f` with signature `sig`, the `calls`th call of `f`, should do;
    /// `shape` is `f`'s interpreter code.
    #[inline]
    pub fn decide(&mut self, f: FuncId, sig: TypeSig, calls: u64, shape: FuncShape) -> Decision {
        // A function with loops may spend all its time in one call, so it is compiled on its
        // first call, unless it is large (see `eager_max_ops`).
        if calls <= self.config.tier1_threshold && !(shape.has_loops && self.eager(f, shape, calls))
        {
            return Decision::Interpret;
        }
        let i = f.index();
        if let Some(&(s, e)) = self.fast.get(i) {
            if !e.is_none() && s == sig {
                self.hits += 1;
                self.fast_hits[i] += 1;
                return Decision::Native(e);
            }
        }
        if let Some(e) = self.cache.get_mut(&(f, sig)) {
            return match &e.code {
                Some(code) => {
                    e.hits += 1;
                    self.hits += 1;
                    let entry = code.boxed_entry;
                    if self.fast.len() <= i {
                        self.fast.resize(i + 1, (0, BoxedEntry::NONE));
                        self.fast_hits.resize(i + 1, 0);
                    }
                    self.fast[i] = (sig, entry);
                    Decision::Native(entry)
                }
                None => Decision::Interpret,
            };
        }
        if self.tried.get(&f).is_some_and(|s| s.contains(&sig)) || self.given_up.contains(&(f, sig))
        {
            return Decision::Interpret;
        }
        self.misses += 1;
        Decision::Compile
    }

    /// Whether a function with loops is compiled before its call count says so.
    fn eager(&mut self, f: FuncId, shape: FuncShape, calls: u64) -> bool {
        if !self.config.eager_loops {
            return false;
        }
        if shape.ops <= self.config.eager_max_ops {
            return true;
        }
        if calls == 1 && self.backend.is_some() {
            let why = format!(
                "{} interpreter ops, above eager_max_ops={}: waits for more than {} calls or a \
                 loop reaching backedge_threshold={}",
                shape.ops,
                self.config.eager_max_ops,
                self.config.tier1_threshold,
                self.config.backedge_threshold
            );
            self.report(f).waiting = Some(why);
        }
        false
    }

    fn report(&mut self, f: FuncId) -> &mut FunctionReport {
        self.reports.entry(f).or_default()
    }

    /// Specializes, optimizes and compiles `f` for `sig`. Returns the boxed entry, or `None`
    /// when the function stays interpreted (the reason goes to the report). New IR functions
    /// are appended to `module`; `decoded` is how many of them the interpreter has decoded.
    pub fn compile(
        &mut self,
        module: &mut Module,
        f: FuncId,
        sig: TypeSig,
        active_native_frames: bool,
    ) -> Option<BoxedEntry> {
        self.tried.entry(f).or_default().insert(sig);
        let nsigs = self.tried[&f].len();
        if nsigs > self.config.max_specializations_per_function {
            let r = self.report(f);
            r.megamorphic = true;
            let msg = format!(
                "megamorphic: more than {} argument type signatures; signature {} stays interpreted",
                nsigs - 1,
                crate::profile::Profile::describe(sig)
            );
            if !r.reasons.contains(&msg) {
                r.reasons.push(msg);
            }
            return None;
        }
        let types = sig_types(sig);
        if module.funcs[f].level != Level::Dyn || module.funcs[f].params.len() != types.len() {
            self.report(f)
                .reasons
                .push("not a dyn-level function with a matching arity".into());
            return None;
        }
        let before = module.funcs.len();
        let (spec, result) = ruchy_passes::transforms::specialize::specialize_function_limited(
            module,
            f,
            &types,
            self.config.max_specializations_per_function,
        );
        let Some(spec) = spec else {
            let prefix = format!("{}$", module.funcs[f].name);
            let existing = module
                .funcs
                .values()
                .filter(|g| g.name.starts_with(&prefix))
                .count();
            let max = self.config.max_specializations_per_function;
            let r = self.report(f);
            if existing >= max {
                r.megamorphic = true;
                let msg = format!(
                    "megamorphic: {existing} specializations already (the limit is {max}); signature {} stays interpreted",
                    crate::profile::Profile::describe(sig)
                );
                if !r.reasons.contains(&msg) {
                    r.reasons.push(msg);
                }
            } else {
                r.reasons.push("cannot be specialized".into());
            }
            return None;
        };
        // Optimize the new functions (passes skip frozen functions: deopt targets and code
        // already compiled).
        let new: Vec<FuncId> = (before..module.funcs.len()).map(FuncId::new).collect();
        // Only the new specializations are optimized: every other function is frozen for the
        // run (the interpreter runs its decoded form already) and thawed afterwards, except
        // typed functions, which stay frozen (they are compiled or about to be).
        let mut thaw = vec![];
        for (id, func) in module.funcs.iter_mut() {
            if !new.contains(&id) && !func.attrs.frozen {
                func.attrs.frozen = true;
                if func.level == Level::Dyn {
                    thaw.push(id);
                }
            }
        }
        let mut pm = match ruchy_passes::PassManager::new(
            ruchy_passes::Pipeline::parse(TIER1_PIPELINE).expect("tier-1 pipeline parses"),
            ruchy_passes::Instrumentation {
                verify_each: cfg!(debug_assertions),
                ..Default::default()
            },
        ) {
            Ok(pm) => pm,
            Err(e) => {
                self.report(f).reasons.push(e);
                return None;
            }
        };
        let ran = pm.run(module, &mut std::io::sink());
        for id in thaw {
            module.funcs[id].attrs.frozen = false;
        }
        if let Err(e) = ran {
            self.report(f)
                .reasons
                .push(format!("optimization failed: {e}"));
            return None;
        }
        // Every specialization made along the way that stayed dynamic (this one, or a callee
        // that will run in the interpreter) says why, under its original function.
        for ((orig, _), id) in &result.created {
            if module.funcs[*id].level != Level::Dyn {
                continue;
            }
            let prefix = format!("@{} ", module.funcs[*id].name);
            let why = result
                .remarks
                .iter()
                .find(|r| r.starts_with(&prefix))
                .map(|r| r[prefix.len()..].to_string())
                .unwrap_or_else(|| "stays dyn: not fully typed".into());
            let msg = format!("@{}: {why}", module.funcs[*id].name);
            let r = self.report(*orig);
            if !r.reasons.contains(&msg) {
                r.reasons.push(msg);
            }
        }
        if module.funcs[spec].level == Level::Dyn {
            return None;
        }
        // Compile the specialization and the typed callees it calls directly, callees first.
        let (order, callees) = compile_order(module, spec, &self.cells);
        // Backends trust the IR's types (a value's register or memory form follows from its
        // type): ill-typed IR from a pass bug must keep a function interpreted, never become
        // wrong code. Debug builds verified after every pass already.
        if !cfg!(debug_assertions) {
            for &g in &order {
                if let Err(errors) = ruchy_ir::verify_function(module, g) {
                    let first = errors.first().map(|e| e.to_string()).unwrap_or_default();
                    self.report(f)
                        .reasons
                        .push(format!("the optimized IR does not verify: {first}"));
                    return None;
                }
            }
        }
        // Code that other code calls through a cell is never freed.
        self.pinned.extend(callees);
        for &g in &order {
            self.cells.entry(g).or_insert_with(|| Box::new(0));
        }
        let batch: Vec<FuncId> = order.iter().rev().copied().collect();
        let results = {
            let backend = self.backend.as_mut()?;
            let mut abi = Abi {
                cells: &self.cells,
                strings: &mut self.strings,
                call_site_caches: self
                    .config
                    .call_site_caches
                    .then_some(&mut self.call_site_caches),
            };
            if self.config.parallel_codegen {
                backend.compile_batch(module, &batch, &mut abi)
            } else {
                batch
                    .iter()
                    .map(|&g| backend.compile(module, g, &mut abi))
                    .collect()
            }
        };
        let mut caches = std::mem::take(&mut self.call_site_caches);
        let mut compiled = vec![];
        let mut results = batch.iter().copied().zip(results);
        for (g, compiled_g) in results.by_ref() {
            // The caches made for this code live as long as it does.
            let (mine, others) = caches.into_iter().partition(|(owner, _)| *owner == g);
            caches = others;
            let mine: Vec<_> = mine.into_iter().map(|(_, c)| c).collect();
            if let (Ok(code), false) = (&compiled_g, mine.is_empty()) {
                self.caches_of.insert(code.typed_entry as usize, mine);
            }
            match compiled_g {
                Ok(code) => {
                    if let Some(cell) = self.cells.get_mut(&g) {
                        **cell = code.typed_entry as usize;
                    }
                    module.funcs[g].attrs.frozen = true;
                    compiled.push((g, code));
                }
                Err(e) => {
                    let why = if g == spec {
                        format!("compile error: {e}")
                    } else {
                        // Callers were compiled against its cell: nothing can run them safely.
                        format!("compile error in a callee: {e}")
                    };
                    self.report(f).reasons.push(why);
                    for (_, code) in compiled {
                        self.pinned_code.push(code);
                    }
                    // The callers compiled with it were never installed: nothing can run
                    // their code.
                    if let Some(backend) = self.backend.as_mut() {
                        for code in results.filter_map(|(_, r)| r.ok()) {
                            backend.free(code);
                        }
                    }
                    return None;
                }
            }
        }
        if self.config.perf_map {
            write_perf_map(module, &compiled);
        }
        let mut entry = None;
        for (g, code) in compiled {
            let orig = original_of(module, g);
            let r = self.report(orig);
            r.tier = 1;
            r.compile_time += code.compile_time;
            r.code_size += code.code_size;
            r.signatures_compiled += 1;
            if g == spec {
                entry = Some(code.boxed_entry);
                self.insert(
                    (f, sig),
                    CacheEntry {
                        spec,
                        code: Some(code),
                        reason: None,
                        hits: 0,
                    },
                    active_native_frames,
                );
            } else {
                self.pinned_code.push(code);
            }
        }
        entry
    }

    fn insert(&mut self, key: (FuncId, TypeSig), entry: CacheEntry, active_native_frames: bool) {
        if let Some((old_key, old)) = self.cache.push(key, entry) {
            if let Some(code) = old.code {
                self.evictions += 1;
                // The fast table may point at the evicted code.
                for e in self.fast.iter_mut() {
                    *e = (0, BoxedEntry::NONE);
                }
                // A later call recompiles.
                self.tried.entry(old_key.0).or_default().remove(&old_key.1);
                if self.pinned.contains(&code.func) {
                    self.pinned_code.push(code);
                } else {
                    // Nothing calls it through its cell: free it once no compiled frame runs.
                    self.cells.remove(&code.func);
                    self.graveyard.push(code);
                }
            }
        }
        if !active_native_frames {
            self.collect_garbage();
        }
    }

    /// Frees evicted code (only when no compiled frame is running).
    pub fn collect_garbage(&mut self) {
        if let Some(b) = self.backend.as_mut() {
            for code in self.graveyard.drain(..) {
                self.freed_bytes += code.code_size;
                // Only this code points at its call-site caches, and at what they hold.
                let caches = self.caches_of.remove(&(code.typed_entry as usize));
                for cache in caches.unwrap_or_default() {
                    self.cached_closures
                        .remove(&(&*cache as *const ruchy_backends::CallSiteCache as usize));
                }
                b.free(code);
            }
        }
    }

    /// How many call-site caches compiled code that is still alive may use.
    pub fn live_call_site_caches(&self) -> usize {
        self.caches_of.values().map(Vec::len).sum::<usize>() + self.call_site_caches.len()
    }

    /// The boxed-entry trampoline and the indirection cell through which compiled code may call
    /// the compiled specialization of `f` for `sig` directly (an inline cache), pinning that
    /// code so that it is never freed; `None` when calls with `sig` are interpreted.
    pub fn direct_entry(&mut self, f: FuncId, sig: TypeSig) -> Option<(usize, usize)> {
        if self.given_up.contains(&(f, sig)) {
            return None;
        }
        let entry = self.cache.peek(&(f, sig))?;
        let code = entry.code.as_ref()?;
        let spec = entry.spec;
        let trampoline = code.boxed_entry.trampoline as usize;
        let cell = &**self.cells.get(&spec)? as *const usize as usize;
        self.pinned.insert(spec);
        Some((trampoline, cell))
    }

    /// Keeps `closure` alive for the call-site cache at `cache` (replacing what it held), or
    /// lets go of what it held.
    pub fn hold_for_cache(&mut self, cache: usize, closure: Option<Value>) {
        match closure {
            Some(c) => {
                self.cached_closures.insert(cache, c);
            }
            None => {
                self.cached_closures.remove(&cache);
            }
        }
    }

    /// The specialized functions with live compiled code.
    pub fn compiled_functions(&self) -> Vec<FuncId> {
        let mut v: Vec<FuncId> = self
            .cache
            .iter()
            .filter(|(_, e)| e.code.is_some())
            .map(|(_, e)| e.spec)
            .collect();
        v.extend(self.pinned_code.iter().map(|c| c.func));
        v.sort();
        v.dedup();
        v
    }

    /// Cache hits of the specializations of `f`.
    pub fn hits_of(&self, f: FuncId) -> u64 {
        self.fast_hits.get(f.index()).copied().unwrap_or(0)
            + self
                .cache
                .iter()
                .filter(|(k, _)| k.0 == f)
                .map(|(_, e)| e.hits)
                .sum::<u64>()
    }

    /// Total bytes of compiled code alive (cached and pinned).
    pub fn code_bytes(&self) -> usize {
        let cached: usize = self
            .cache
            .iter()
            .filter_map(|(_, e)| e.code.as_ref().map(|c| c.code_size))
            .sum();
        cached + self.pinned_code.iter().map(|c| c.code_size).sum::<usize>()
    }

    /// The backend and the ABI it compiles against, or why there is no backend.
    fn backend_and_abi(&mut self) -> Result<(&mut Box<dyn Backend>, Abi<'_>), String> {
        let err = self
            .backend_error
            .clone()
            .unwrap_or_else(|| "compilation is disabled".into());
        let backend = self.backend.as_mut().ok_or(err)?;
        let abi = Abi {
            cells: &self.cells,
            strings: &mut self.strings,
            call_site_caches: self
                .config
                .call_site_caches
                .then_some(&mut self.call_site_caches),
        };
        Ok((backend, abi))
    }

    /// Compiles one typed function with the backend and frees the code again, returning the
    /// backend's compile time (for benchmarks of the code generator alone).
    pub fn compile_and_free(&mut self, module: &Module, f: FuncId) -> Result<Duration, String> {
        let (backend, mut abi) = self.backend_and_abi()?;
        let code = backend.compile(module, f, &mut abi).map_err(|e| e.0)?;
        let t = code.compile_time;
        backend.free(code);
        // Nothing else used the caches made for it.
        self.call_site_caches.clear();
        Ok(t)
    }

    /// A text form of a function's compiled code (`--emit=clif`, `--emit=asm`).
    pub fn emit_text(
        &mut self,
        module: &Module,
        f: FuncId,
        form: ruchy_backends::TextForm,
    ) -> Result<String, String> {
        let (backend, mut abi) = self.backend_and_abi()?;
        let text = backend
            .emit_text(module, f, &mut abi, form)
            .map_err(|e| e.0);
        // That code never runs: nothing uses the caches made for it.
        self.call_site_caches.clear();
        text
    }
}

/// Which code text `--emit` shows (re-exported for the tools).
pub use ruchy_backends::TextForm;

/// Clean-ups run on fresh specializations before Cranelift compiles them.
pub const TIER1_PIPELINE: &str =
    "partial-inline,sccp,simplify-cfg,gvn,licm,strength-reduce,overflow-elim,dce,simplify-cfg";

/// Appends compiled functions to `/tmp/perf-PID.map` (the format `perf` reads for JIT code).
fn write_perf_map(module: &Module, compiled: &[(FuncId, CompiledFunction)]) {
    use std::io::Write as _;
    let path = format!("/tmp/perf-{}.map", std::process::id());
    let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    else {
        return;
    };
    for (g, code) in compiled {
        let _ = writeln!(
            file,
            "{:x} {:x} ruchy:{}",
            code.typed_entry as usize,
            code.code_size.max(1),
            module.funcs[*g].name
        );
    }
}

/// The run-time type signature (`Profile::signature`) of arguments of these static types, when
/// each has one run-time type (`any` does not).
fn signature_of_types(params: &[Type]) -> Option<TypeSig> {
    let mut sig = (params.len().min(15) as u64) << 60;
    for (i, &t) in params.iter().take(15).enumerate() {
        sig |= u64::from(Value::type_tag_of(t)?) << (4 * i);
    }
    Some(sig)
}

/// The IR function a specialization was made from (`fib$i64` → `fib`).
fn original_of(module: &Module, g: FuncId) -> FuncId {
    let name = &module.funcs[g].name;
    let base = name.split('$').next().unwrap_or(name);
    module.func_by_name(base).unwrap_or(g)
}

/// `spec` and the typed functions it calls directly (transitively) that are not compiled yet,
/// callers before callees; and every function called from them (compiled or not).
fn compile_order(
    module: &Module,
    spec: FuncId,
    cells: &HashMap<FuncId, Box<usize>>,
) -> (Vec<FuncId>, Vec<FuncId>) {
    let mut order = vec![];
    let mut callees = vec![];
    let mut stack = vec![spec];
    let mut seen = HashSet::new();
    while let Some(g) = stack.pop() {
        if !seen.insert(g) {
            continue;
        }
        if g != spec && cells.get(&g).is_some_and(|c| **c != 0) {
            continue;
        }
        order.push(g);
        let f = &module.funcs[g];
        for (_, i) in f.insts_in_order() {
            let d = &f.dfg.insts[i];
            if let (ruchy_ir::Opcode::Call, ruchy_ir::Imm::Func(c)) = (d.opcode, &d.imm) {
                if module.funcs[*c].level != Level::Dyn {
                    callees.push(*c);
                    stack.push(*c);
                }
            }
        }
    }
    (order, callees)
}

/// The IR types of a profiled argument signature.
pub fn sig_types(sig: TypeSig) -> Vec<Type> {
    let n = (sig >> 60) as usize;
    (0..n)
        .map(|i| match (sig >> (4 * i)) & 0xF {
            0 => Type::Unit,
            1 => Type::Bool,
            2 => Type::I64,
            3 => Type::F64,
            4 => Type::Str,
            5 => Type::Array(ElemType::Any),
            6 => Type::Tuple,
            8 => Type::Cell,
            _ => Type::Any,
        })
        .collect()
}

struct Abi<'a> {
    cells: &'a HashMap<FuncId, Box<usize>>,
    strings: &'a mut HashMap<String, Box<Value>>,
    /// Where new call-site caches go; `None` when they are turned off.
    call_site_caches: Option<&'a mut Vec<(FuncId, Box<ruchy_backends::CallSiteCache>)>>,
}

impl RuntimeAbi for Abi<'_> {
    fn helper(&self, name: &str) -> Option<*const u8> {
        helpers::address(name)
    }

    fn string_constant(&mut self, s: &str) -> *const u8 {
        let b = self
            .strings
            .entry(s.to_string())
            .or_insert_with(|| Box::new(Value::str(s)));
        &**b as *const Value as *const u8
    }

    fn call_slot(&mut self, callee: FuncId) -> Option<*const u8> {
        self.cells
            .get(&callee)
            .map(|c| &**c as *const usize as *const u8)
    }

    fn call_site_cache(&mut self, func: FuncId) -> Option<*mut ruchy_backends::CallSiteCache> {
        let caches = self.call_site_caches.as_mut()?;
        caches.push((func, Box::new(ruchy_backends::CallSiteCache::empty())));
        caches.last_mut().map(|(_, c)| &mut **c as *mut _)
    }

    fn array_body_offset(&self) -> i32 {
        crate::array::body_offset()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_helper_the_backend_needs_exists() {
        for h in ruchy_backends::HELPERS {
            assert!(
                helpers::address(h.name).is_some(),
                "missing helper {}",
                h.name
            );
        }
    }

    #[test]
    fn config_from_text() {
        let mut c = JitConfig::default();
        c.apply("tier1_threshold=0, max_cached_methods=5").unwrap();
        assert_eq!(c.tier1_threshold, 0);
        assert_eq!(c.max_cached_methods, 5);
        assert!(c.call_site_caches);
        c.apply("call_site_caches=0").unwrap();
        assert!(!c.call_site_caches);
        assert!(c.parallel_codegen);
        c.apply("parallel_codegen=0").unwrap();
        assert!(!c.parallel_codegen);
        assert!(c.apply("bogus=1").is_err());
        assert!(c.apply("tier1_threshold=x").is_err());
        let _ = EntityRef::index(FuncId::new(0));
    }
}

//! Inline fast paths of array operations, and the array headers loops keep in variables.
//!
//! An access checks the array's header (`array_layout`: storage kind, length, storage pointer)
//! and touches the element in place; anything else (generic storage, an index out of bounds or
//! from the end, a value of another type, growth) goes to the runtime. In a header-stable loop
//! (see [`crate::header_cache`]) the header fields live in Cranelift variables, read on entry
//! and again after whatever may change a header, and so does, for each typed kind, "the length
//! if the storage has this kind, else 0": one unsigned compare of the index with it checks both
//! the kind and the bounds.

use super::*;

/// The Cranelift variables holding a kept array header.
#[derive(Copy, Clone)]
pub(super) struct HeaderVars {
    body: Variable,
    kind: Variable,
    len: Variable,
    data: Variable,
    /// Only for arrays a loop pushes onto.
    cap: Option<Variable>,
    /// The length when the storage has kind `k` (1 to 3), else 0; `[0]`: when it has any typed
    /// kind; only for the kinds accesses check. Not updated by a push's fast path, so not used
    /// in loops that push.
    typed_len: [Option<Variable>; 4],
}

/// An array's header for one access. Fields come from the kept variables or are read where
/// first asked for, and each is taken once: the fast path uses what its checks saw.
pub(super) struct Header {
    vars: Option<HeaderVars>,
    body: ClValue,
    kind: Option<ClValue>,
    len: Option<ClValue>,
    data: Option<ClValue>,
    cap: Option<ClValue>,
}

impl<'a, 'b> Lower<'a, 'b> {
    /// Whether array operations on `arr` get inline fast paths: it is statically an array, and
    /// typed storage packs booleans in memory order the way compiled code addresses them.
    pub(super) fn inline_arrays(&self, arr: Value) -> bool {
        matches!(self.ty(arr), Type::Array(_)) && cfg!(target_endian = "little")
    }

    pub(super) fn result_is_memory(&self, i: Inst) -> bool {
        self.f.dfg.insts[i]
            .result
            .is_some_and(|r| repr_of(self.ty(r)) == Repr::Memory)
    }

    /// The address of the array body (`array_layout`) of the array `Value` at `arr`.
    fn array_body(&mut self, arr: ClValue) -> ClValue {
        let rc = self.b.ins().load(self.ptr, MemFlagsData::trusted(), arr, 8);
        let off = self.abi.array_body_offset() as i64;
        self.b.ins().iadd_imm_s(rc, off)
    }

    /// Fills `kinds_checked`: which lengths by kind the inline accesses to kept arrays use.
    pub(super) fn plan_lengths_by_kind(&mut self) {
        let f = self.f;
        for (bb, i) in f.insts_in_order() {
            let d = &f.dfg.insts[i];
            let Some(&arr) = d.args.first() else { continue };
            if !self.headers.is_kept(bb, arr) {
                continue;
            }
            let kind = match d.opcode {
                Opcode::ArrayGet => d
                    .result
                    .and_then(|r| self.guarded_as.get(&r))
                    .and_then(|&t| typed_kind(t))
                    .unwrap_or(0),
                Opcode::ArraySet => match d.args.get(2).map(|&v| repr_of(self.ty(v))) {
                    Some(Repr::I64) => al::KIND_INT,
                    Some(Repr::F64) => al::KIND_FLOAT,
                    Some(Repr::Bool) => al::KIND_BOOL,
                    _ => continue,
                },
                _ => continue,
            };
            *self.kinds_checked.entry(arr).or_default() |= 1 << kind;
        }
    }

    /// The variables of `arr`'s kept header, declared on first use.
    fn header_vars_of(&mut self, arr: Value) -> HeaderVars {
        if let Some(&v) = self.header_vars.get(&arr) {
            return v;
        }
        let pushed = self.headers.keeps_capacity(arr);
        let v = HeaderVars {
            body: self.b.declare_var(self.ptr),
            kind: self.b.declare_var(types::I64),
            len: self.b.declare_var(types::I64),
            data: self.b.declare_var(self.ptr),
            cap: pushed.then(|| self.b.declare_var(types::I64)),
            typed_len: [0u8, 1, 2, 3].map(|k| {
                let checked = self.kinds_checked.get(&arr).copied().unwrap_or(0);
                (checked & (1 << k) != 0).then(|| self.b.declare_var(types::I64))
            }),
        };
        self.header_vars.insert(arr, v);
        v
    }

    /// Reads `arr`'s header into its variables, on an edge into a loop that keeps it.
    pub(super) fn read_header_into_vars(&mut self, arr: Value) -> Result<(), CompileError> {
        let base = self.mem(arr)?;
        let body = self.array_body(base);
        let vars = self.header_vars_of(arr);
        self.b.def_var(vars.body, body);
        self.reread_header(vars, body);
        Ok(())
    }

    /// Reads the fields of a kept header into its variables again.
    fn reread_header(&mut self, vars: HeaderVars, body: ClValue) {
        let flags = MemFlagsData::trusted();
        let kind = self.b.ins().load(types::I64, flags, body, al::KIND);
        self.b.def_var(vars.kind, kind);
        let len = self.b.ins().load(types::I64, flags, body, al::LEN);
        self.b.def_var(vars.len, len);
        let data = self.b.ins().load(self.ptr, flags, body, al::DATA);
        self.b.def_var(vars.data, data);
        if let Some(c) = vars.cap {
            let cap = self.b.ins().load(types::I64, flags, body, al::CAP);
            self.b.def_var(c, cap);
        }
        for (k, var) in vars.typed_len.into_iter().enumerate() {
            let Some(var) = var else { continue };
            let zero = self.iconst(types::I64, 0);
            let is_k = if k == 0 {
                let k1 = self.b.ins().iadd_imm_s(kind, -1);
                self.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, k1, 3)
            } else {
                self.b.ins().icmp_imm_s(IntCC::Equal, kind, k as i64)
            };
            let l = self.b.ins().select(is_k, len, zero);
            self.b.def_var(var, l);
        }
    }

    /// After code that may have changed array headers (a runtime store or push), or a call
    /// they should not live across: reads every header kept in the current block again, but
    /// `except`'s, whose new fields the caller defines. Any two arrays may be one, so all.
    fn reread_kept_headers(&mut self, except: Option<Value>) {
        let Some(bb) = self.cur_block else {
            return;
        };
        for k in 0..self.headers.kept_in(bb).len() {
            let arr = self.headers.kept_in(bb)[k];
            if Some(arr) == except {
                continue;
            }
            let vars = self.header_vars_of(arr);
            let body = self.b.use_var(vars.body);
            self.reread_header(vars, body);
        }
    }

    /// The header of `arr` (whose `Value` is at `base`) for an access in the current block.
    fn header(&mut self, arr: Value, base: ClValue) -> Header {
        let kept = self
            .cur_block
            .is_some_and(|bb| self.headers.is_kept(bb, arr));
        if kept {
            let vars = self.header_vars_of(arr);
            let body = self.b.use_var(vars.body);
            return Header {
                vars: Some(vars),
                body,
                kind: None,
                len: None,
                data: None,
                cap: None,
            };
        }
        let body = self.array_body(base);
        Header {
            vars: None,
            body,
            kind: None,
            len: None,
            data: None,
            cap: None,
        }
    }

    /// One field of `h`: its variable, or read from the body at `offset`.
    fn header_field(
        &mut self,
        h: &Header,
        var: impl Fn(&HeaderVars) -> Option<Variable>,
        ty: types::Type,
        offset: i32,
    ) -> ClValue {
        match h.vars.as_ref().and_then(var) {
            Some(v) => self.b.use_var(v),
            None => self
                .b
                .ins()
                .load(ty, MemFlagsData::trusted(), h.body, offset),
        }
    }

    fn header_kind(&mut self, h: &mut Header) -> ClValue {
        if let Some(k) = h.kind {
            return k;
        }
        let k = self.header_field(h, |v| Some(v.kind), types::I64, al::KIND);
        h.kind = Some(k);
        k
    }

    fn header_len(&mut self, h: &mut Header) -> ClValue {
        if let Some(l) = h.len {
            return l;
        }
        let l = self.header_field(h, |v| Some(v.len), types::I64, al::LEN);
        h.len = Some(l);
        l
    }

    fn header_data(&mut self, h: &mut Header) -> ClValue {
        if let Some(d) = h.data {
            return d;
        }
        let ptr = self.ptr;
        let d = self.header_field(h, |v| Some(v.data), ptr, al::DATA);
        h.data = Some(d);
        d
    }

    fn header_cap(&mut self, h: &mut Header) -> ClValue {
        if let Some(c) = h.cap {
            return c;
        }
        let c = self.header_field(h, |v| v.cap, types::I64, al::CAP);
        h.cap = Some(c);
        c
    }

    /// Whether index `idx` is in bounds of storage of kind `kind` (`None`: any typed kind).
    fn in_bounds_of_kind(&mut self, h: &mut Header, idx: ClValue, kind: Option<u64>) -> ClValue {
        let valid = self
            .cur_block
            .is_some_and(|bb| self.headers.lengths_by_kind_valid(bb));
        let typed = h.vars.and_then(|v| v.typed_len[kind.unwrap_or(0) as usize]);
        if let Some(var) = typed.filter(|_| valid) {
            let l = self.b.use_var(var);
            return self.b.ins().icmp(IntCC::UnsignedLessThan, idx, l);
        }
        let k = self.header_kind(h);
        let len = self.header_len(h);
        let in_bounds = self.b.ins().icmp(IntCC::UnsignedLessThan, idx, len);
        let typed = match kind {
            Some(k1) => self.b.ins().icmp_imm_s(IntCC::Equal, k, k1 as i64),
            None => {
                let k1 = self.b.ins().iadd_imm_s(k, -1);
                self.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, k1, 3)
            }
        };
        self.b.ins().band(in_bounds, typed)
    }

    /// The address of element `idx` of a typed array whose storage starts at `data`.
    fn element_addr(&mut self, data: ClValue, idx: ClValue, bool_kind: bool) -> ClValue {
        if bool_kind {
            self.b.ins().iadd(data, idx)
        } else {
            let off = self.b.ins().ishl_imm_u(idx, 3);
            self.b.ins().iadd(data, off)
        }
    }

    /// The `guard.type` right after `array.get` `i` in its block, checking its result `r`
    /// and nothing else using `r`: its check can move into the access's slow path, since the
    /// fast path reads only the kind it wants.
    fn guard_right_after(&self, i: Inst, r: Value) -> Option<Inst> {
        self.out?;
        debug_assert_eq!(self.f.dfg.insts[i].result, Some(r));
        self.guard_next.get(&r).copied()
    }

    /// `array.get` with a result in memory (`any`): elements of typed arrays are read inline
    /// (tag = the kind, payload = the element); generic arrays, indices out of bounds or from
    /// the end, and a slot that still holds a heap value go to `rt_array_get`. The tag and
    /// payload stay known in registers for the guard that usually follows; when that guard is
    /// the only user, only the kind it wants is read inline, the slot is not written, and when
    /// the guard comes right after, its check is made on the slow path only.
    pub(super) fn array_get_inline(
        &mut self,
        i: Inst,
        arr: Value,
        idx: Value,
        loc: SrcLoc,
    ) -> Result<(), CompileError> {
        let base = self.mem(arr)?;
        let idx = self.reg(idx)?;
        let (r, out) = self.result_slot(i)?;
        // The kind the following guard wants, if known: then only that kind is read inline.
        let expected = self.guarded_as.get(&r).and_then(|&t| typed_kind(t));
        let fused_guard = expected.and_then(|_| self.guard_right_after(i, r));
        let mut h = self.header(arr, base);
        let flags = MemFlagsData::trusted();
        let mut ok = self.in_bounds_of_kind(&mut h, idx, expected);
        if expected.is_none() {
            // The fast path writes the slot: without a drop, that is only right when it holds
            // no heap value. (When the guard is the only user, the slot is only read on the
            // slow path, which the helper writes, so the fast path leaves it alone.)
            let old = self.b.ins().load(types::I64, flags, out, 0);
            let scalar = self
                .b
                .ins()
                .icmp_imm_s(IntCC::UnsignedLessThan, old, tags::STR as i64);
            ok = self.b.ins().band(ok, scalar);
        }
        let fast = self.b.create_block();
        let slow = self.b.create_block();
        self.b.set_cold_block(slow);
        let join = self.b.create_block();
        let payload = if fused_guard.is_some() {
            self.b.append_block_param(join, types::I64)
        } else {
            let _tag = self.b.append_block_param(join, types::I64);
            self.b.append_block_param(join, types::I64)
        };
        self.b.ins().brif(ok, fast, &[], slow, &[]);
        self.b.switch_to_block(fast);
        let data = self.header_data(&mut h);
        let read = |lw: &mut Self, bool_kind: bool| {
            let addr = lw.element_addr(data, idx, bool_kind);
            if bool_kind {
                lw.b.ins().uload8(types::I64, flags, addr, 0)
            } else {
                lw.b.ins().load(types::I64, flags, addr, 0)
            }
        };
        match expected {
            Some(k) => {
                let p = read(self, k == al::KIND_BOOL);
                let mut args = vec![];
                if fused_guard.is_none() {
                    let kc = self.iconst(types::I64, k as i64);
                    args.push(BlockArg::Value(kc));
                }
                args.push(BlockArg::Value(p));
                self.b.ins().jump(join, &args);
            }
            None => {
                let kind = self.header_kind(&mut h);
                let bytes = self.b.create_block();
                let words = self.b.create_block();
                let is_bool = self
                    .b
                    .ins()
                    .icmp_imm_s(IntCC::Equal, kind, al::KIND_BOOL as i64);
                self.b.ins().brif(is_bool, bytes, &[], words, &[]);
                for (blk, bool_kind) in [(bytes, true), (words, false)] {
                    self.b.switch_to_block(blk);
                    let p = read(self, bool_kind);
                    self.b
                        .ins()
                        .jump(join, &[BlockArg::Value(kind), BlockArg::Value(p)]);
                }
            }
        }
        self.b.switch_to_block(slow);
        let (fid, l) = self.site(loc);
        let c = self.ctx;
        let st = self.call_helper("rt_array_get", &[c, out, base, idx, fid, l]);
        self.status_check(st, loc);
        // Nothing changed, but read afresh the kept headers do not live across the call,
        // which would keep them out of the registers a call clobbers in the whole loop.
        self.reread_kept_headers(None);
        let t = self.b.ins().load(types::I64, flags, out, 0);
        let p = self.b.ins().load(types::I64, flags, out, 8);
        match (fused_guard, expected) {
            (Some(g), Some(k)) => {
                let is_k = self.b.ins().icmp_imm_s(IntCC::Equal, t, k as i64);
                let fail = self.b.create_block();
                self.b.set_cold_block(fail);
                self.b
                    .ins()
                    .brif(is_k, join, &[BlockArg::Value(p)], fail, &[]);
                self.b.switch_to_block(fail);
                let gd = self.f.dfg.insts[g].clone();
                self.deopt_exit(g, &gd)?;
                self.prechecked_guards.insert(g);
            }
            _ => {
                self.b
                    .ins()
                    .jump(join, &[BlockArg::Value(t), BlockArg::Value(p)]);
            }
        }
        self.b.switch_to_block(join);
        let tag = match (fused_guard, expected) {
            (Some(_), Some(k)) => self.iconst(types::I64, k as i64),
            _ => self.b.block_params(join)[0],
        };
        if expected.is_none() {
            store_value_words(&mut self.b, tag, payload, out, 0);
        }
        self.known.insert(r, (tag, payload));
        Ok(())
    }

    /// The kind a typed array must have to store `v` unboxed, and `v`'s bits, when `v` is in a
    /// register; for a value in memory, its tag and payload.
    fn element_bits(&mut self, v: Value) -> Result<(ClValue, ClValue, Option<u64>), CompileError> {
        match self.get(v)? {
            Val::Reg(r) => {
                let (kind, bits) = match repr_of(self.ty(v)) {
                    Repr::I64 => (al::KIND_INT, r),
                    Repr::F64 => (
                        al::KIND_FLOAT,
                        self.b.ins().bitcast(types::I64, MemFlagsData::new(), r),
                    ),
                    Repr::Bool => (al::KIND_BOOL, self.b.ins().uextend(types::I64, r)),
                    // unit is nil: no typed kind holds it.
                    _ => (u64::MAX, r),
                };
                let k = self.iconst(types::I64, kind as i64);
                Ok((k, bits, Some(kind).filter(|&k| k != u64::MAX)))
            }
            Val::Mem(p) => {
                let flags = MemFlagsData::trusted();
                let t = self.b.ins().load(types::I64, flags, p, 0);
                let bits = self.b.ins().load(types::I64, flags, p, 8);
                Ok((t, bits, None))
            }
        }
    }

    /// Stores `bits` as element `idx` of the typed array of header `h`, whose kind is 1, 2 or
    /// 3. With `known`, the kind is that one (checked already) and the width is fixed.
    fn store_element(&mut self, h: &mut Header, known: Option<u64>, idx: ClValue, bits: ClValue) {
        let flags = MemFlagsData::trusted();
        let data = self.header_data(h);
        if let Some(k) = known {
            let bool_kind = k == al::KIND_BOOL;
            let addr = self.element_addr(data, idx, bool_kind);
            if bool_kind {
                self.b.ins().istore8(flags, bits, addr, 0);
            } else {
                self.b.ins().store(flags, bits, addr, 0);
            }
            return;
        }
        let kind = self.header_kind(h);
        let bytes = self.b.create_block();
        let words = self.b.create_block();
        let done = self.b.create_block();
        let is_bool = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, kind, al::KIND_BOOL as i64);
        self.b.ins().brif(is_bool, bytes, &[], words, &[]);
        self.b.switch_to_block(bytes);
        let addr = self.element_addr(data, idx, true);
        self.b.ins().istore8(flags, bits, addr, 0);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(words);
        let addr = self.element_addr(data, idx, false);
        self.b.ins().store(flags, bits, addr, 0);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
    }

    /// Whether a typed array of kind `kind` stores a value whose kind (or tag) is `vkind`.
    fn same_typed_kind(&mut self, kind: ClValue, vkind: ClValue, known: Option<u64>) -> ClValue {
        if let Some(k) = known {
            return self.b.ins().icmp_imm_s(IntCC::Equal, kind, k as i64);
        }
        let same = self.b.ins().icmp(IntCC::Equal, kind, vkind);
        let k1 = self.b.ins().iadd_imm_s(kind, -1);
        let typed = self.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, k1, 3);
        self.b.ins().band(same, typed)
    }

    /// `array.set`: an element of the array's own kind at an index in bounds is stored inline;
    /// anything else (a generic array, a value of another type, which makes the array generic,
    /// an index from the end or out of bounds) goes to `rt_array_set`.
    pub(super) fn array_set_inline(
        &mut self,
        arr: Value,
        idx: Value,
        v: Value,
        loc: SrcLoc,
    ) -> Result<(), CompileError> {
        let base = self.mem(arr)?;
        let idxv = self.reg(idx)?;
        let (vkind, bits, known) = self.element_bits(v)?;
        let mut h = self.header(arr, base);
        let ok = match known {
            Some(_) => self.in_bounds_of_kind(&mut h, idxv, known),
            None => {
                let kind = self.header_kind(&mut h);
                let len = self.header_len(&mut h);
                let same = self.same_typed_kind(kind, vkind, known);
                let in_bounds = self.b.ins().icmp(IntCC::UnsignedLessThan, idxv, len);
                self.b.ins().band(same, in_bounds)
            }
        };
        self.inline_or_slow(
            ok,
            |lw| lw.store_element(&mut h, known, idxv, bits),
            |lw| {
                let vp = lw.mem(v)?;
                let (fid, l) = lw.site(loc);
                let c = lw.ctx;
                let st = lw.call_helper("rt_array_set", &[c, base, idxv, vp, fid, l]);
                lw.status_check(st, loc);
                // A value of another type made the storage generic.
                lw.reread_kept_headers(None);
                Ok(())
            },
        )
    }

    /// Runs `fast` when `ok` holds and the cold `slow` otherwise, then goes on after both.
    fn inline_or_slow(
        &mut self,
        ok: ClValue,
        fast: impl FnOnce(&mut Self),
        slow: impl FnOnce(&mut Self) -> Result<(), CompileError>,
    ) -> Result<(), CompileError> {
        let fast_block = self.b.create_block();
        let slow_block = self.b.create_block();
        self.b.set_cold_block(slow_block);
        let done = self.b.create_block();
        self.b.ins().brif(ok, fast_block, &[], slow_block, &[]);
        self.b.switch_to_block(fast_block);
        fast(self);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(slow_block);
        slow(self)?;
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
        Ok(())
    }

    /// `array.push`: an element of the array's own kind with room left is stored inline and
    /// the length bumped; growing, generic arrays and other types go to `rt_array_push`.
    pub(super) fn array_push_inline(
        &mut self,
        arr: Value,
        v: Value,
        loc: SrcLoc,
    ) -> Result<(), CompileError> {
        let base = self.mem(arr)?;
        let flags = MemFlagsData::trusted();
        let (vkind, bits, known) = self.element_bits(v)?;
        let mut h = self.header(arr, base);
        let kind = self.header_kind(&mut h);
        let len = self.header_len(&mut h);
        let cap = self.header_cap(&mut h);
        let same = self.same_typed_kind(kind, vkind, known);
        let room = self.b.ins().icmp(IntCC::UnsignedLessThan, len, cap);
        let ok = self.b.ins().band(same, room);
        let kept = h.vars;
        let body = h.body;
        self.inline_or_slow(
            ok,
            |lw| {
                lw.store_element(&mut h, known, len, bits);
                let len1 = lw.b.ins().iadd_imm_s(len, 1);
                lw.b.ins().store(flags, len1, body, al::LEN);
                // Only the length changed; another kept array may be this one.
                if let Some(vars) = kept {
                    lw.b.def_var(vars.len, len1);
                }
                lw.reread_kept_headers(kept.map(|_| arr));
            },
            |lw| {
                let vp = lw.mem(v)?;
                let (fid, l) = lw.site(loc);
                let c = lw.ctx;
                let st = lw.call_helper("rt_array_push", &[c, base, vp, fid, l]);
                lw.status_check(st, loc);
                lw.reread_kept_headers(None);
                Ok(())
            },
        )
    }

    /// `array.len` on an array.
    pub(super) fn array_len_inline(&mut self, arr: Value) -> Result<ClValue, CompileError> {
        let base = self.mem(arr)?;
        let mut h = self.header(arr, base);
        Ok(self.header_len(&mut h))
    }
}

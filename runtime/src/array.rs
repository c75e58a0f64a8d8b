//! Ruchy arrays, with typed element storage ("elements kinds", as in V8).
//!
//! An array whose elements are all booleans, all integers or all floats keeps them unboxed: one
//! byte per boolean, eight bytes per integer or float, instead of a 16-byte [`Value`] each. That
//! is an eighth to a half of the memory, and compiled code can read, write and append elements
//! with a few inline instructions (see [`layout`]). Storing an element of another type turns the
//! array into a generic one (`Vec<Value>`) for good; an empty generic array takes the kind of the
//! first element pushed to it. The kind is invisible to programs: every operation gives the same
//! result whatever the storage.
//!
//! Rust code reads elements with [`ArrayObj::get`], [`ArrayObj::len`] and [`ArrayObj::borrow`]
//! (a typed array is copied out as values), and changes them with [`ArrayObj::set`],
//! [`ArrayObj::push`], [`ArrayObj::pop`] or, for anything else, [`ArrayObj::borrow_mut`], which
//! makes the array generic first. No borrow is ever held while Ruchy code runs, so compiled code
//! may write typed storage directly.

use crate::value::Value;
use std::cell::{Cell, Ref, RefCell, RefMut};
use std::ops::{Deref, DerefMut};

/// The fixed layout compiled code relies on: field offsets inside [`ArrayObj`] and the kind
/// numbers (equal to the [`Value`] tags of the element type). The backends own the contract.
pub use ruchy_backends::array_layout as layout;

/// How far the [`ArrayObj`] lies from the pointer an array `Value` holds in its payload (the
/// `Rc`'s pointer, to its reference counts), measured once since Rust does not promise it.
pub fn body_offset() -> i32 {
    static OFFSET: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| {
        let v = Value::array(vec![]);
        let payload = value_payload(&v);
        match &v {
            Value::Array(rc) => (std::rc::Rc::as_ptr(rc) as usize).wrapping_sub(payload) as i32,
            _ => 0,
        }
    })
}

/// The second word of a value (its payload), as compiled code sees it.
fn value_payload(v: &Value) -> usize {
    // SAFETY: `Value` is `repr(C, u64)`: 16 bytes, the tag then an 8-byte payload, both
    // initialized for every variant that has one (arrays: the `Rc` pointer).
    unsafe { *(v as *const Value as *const usize).add(1) }
}

/// The body of `Value::Array`.
///
/// `repr(C)` fixes the first four fields at the offsets of [`layout`]; compiled code reads them
/// and, for typed kinds, writes elements and `len` (never beyond `cap`).
#[repr(C)]
pub struct ArrayObj {
    kind: Cell<u64>,
    data: Cell<*mut u8>,
    len: Cell<u64>,
    cap: Cell<u64>,
    /// The elements when the kind is [`layout::KIND_ANY`], else empty.
    values: RefCell<Vec<Value>>,
    /// The storage of a typed kind, zero beyond `len`: `u64` words so that integers and floats
    /// are aligned; booleans are packed eight to a word in memory order (little-endian).
    words: RefCell<Vec<u64>>,
}

/// The array is borrowed for a change (cannot happen while Ruchy code runs; kept for safety).
#[derive(Debug)]
pub struct Busy;

/// The kind that stores `v` unboxed, if any.
fn kind_of(v: &Value) -> u64 {
    match v {
        Value::Bool(_) => layout::KIND_BOOL,
        Value::Int(_) => layout::KIND_INT,
        Value::Float(_) => layout::KIND_FLOAT,
        _ => layout::KIND_ANY,
    }
}

/// The 64 bits a typed kind stores for `v` (whose kind must match).
fn bits_of(v: &Value) -> u64 {
    match v {
        Value::Bool(b) => *b as u64,
        Value::Int(n) => *n as u64,
        Value::Float(x) => x.to_bits(),
        _ => 0,
    }
}

fn elems_per_word(kind: u64) -> usize {
    if kind == layout::KIND_BOOL {
        8
    } else {
        1
    }
}

impl ArrayObj {
    /// An array of `items`, typed when they are all booleans, all integers or all floats.
    pub fn new(items: Vec<Value>) -> ArrayObj {
        let a = ArrayObj {
            kind: Cell::new(layout::KIND_ANY),
            data: Cell::new(std::ptr::null_mut()),
            len: Cell::new(items.len() as u64),
            cap: Cell::new(0),
            values: RefCell::new(vec![]),
            words: RefCell::new(vec![]),
        };
        let kind = items.first().map_or(layout::KIND_ANY, kind_of);
        if kind != layout::KIND_ANY && items.iter().all(|v| kind_of(v) == kind) {
            a.kind.set(kind);
            a.reserve(items.len());
            for (i, v) in items.iter().enumerate() {
                a.write_typed(i, bits_of(v));
            }
        } else {
            *a.values.borrow_mut() = items;
        }
        a
    }

    /// The storage kind (see [`layout`]); for tests and statistics.
    pub fn kind(&self) -> u64 {
        self.kind.get()
    }

    pub fn len(&self) -> usize {
        self.len.get() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` (no negative indices), or `None` out of bounds.
    pub fn get(&self, i: usize) -> Result<Option<Value>, Busy> {
        if i >= self.len() {
            return Ok(None);
        }
        Ok(Some(match self.kind.get() {
            layout::KIND_ANY => {
                let values = self.values.try_borrow().map_err(|_| Busy)?;
                values.get(i).cloned().unwrap_or_default()
            }
            kind => self.read_typed(kind, i),
        }))
    }

    /// Replaces element `i`; `Ok(false)` when `i` is out of bounds.
    pub fn set(&self, i: usize, v: Value) -> Result<bool, Busy> {
        if i >= self.len() {
            return Ok(false);
        }
        if self.kind.get() != layout::KIND_ANY && kind_of(&v) == self.kind.get() {
            self.write_typed(i, bits_of(&v));
            return Ok(true);
        }
        let mut values = self.try_borrow_mut()?;
        let old = std::mem::replace(&mut values[i], v);
        drop(values);
        // Dropped after the borrow ends: dropping may free another array.
        drop(old);
        Ok(true)
    }

    /// Appends `v`.
    pub fn push(&self, v: Value) -> Result<(), Busy> {
        let kind = kind_of(&v);
        if self.kind.get() == layout::KIND_ANY && self.is_empty() && kind != layout::KIND_ANY {
            // An empty generic array takes the kind of its first element.
            self.values.try_borrow_mut().map_err(|_| Busy)?.clear();
            self.kind.set(kind);
            self.cap.set(0);
        }
        if self.kind.get() != layout::KIND_ANY && kind == self.kind.get() {
            let n = self.len();
            if n >= self.cap.get() as usize {
                self.reserve((2 * n).max(8));
            }
            self.write_typed(n, bits_of(&v));
            self.len.set(n as u64 + 1);
            return Ok(());
        }
        self.try_borrow_mut()?.push(v);
        Ok(())
    }

    /// Removes and returns the last element.
    pub fn pop(&self) -> Result<Option<Value>, Busy> {
        let n = self.len();
        if n == 0 {
            return Ok(None);
        }
        match self.kind.get() {
            layout::KIND_ANY => Ok(self.try_borrow_mut()?.pop()),
            kind => {
                let v = self.read_typed(kind, n - 1);
                self.write_typed(n - 1, 0);
                self.len.set(n as u64 - 1);
                Ok(Some(v))
            }
        }
    }

    /// The elements as values: borrowed when generic, copied out when typed.
    pub fn try_borrow(&self) -> Result<ValuesRef<'_>, Busy> {
        match self.kind.get() {
            layout::KIND_ANY => Ok(ValuesRef::Shared(
                self.values.try_borrow().map_err(|_| Busy)?,
            )),
            kind => Ok(ValuesRef::Copied(
                (0..self.len()).map(|i| self.read_typed(kind, i)).collect(),
            )),
        }
    }

    /// [`ArrayObj::try_borrow`]; panics when the array is borrowed for a change, like `RefCell`.
    pub fn borrow(&self) -> ValuesRef<'_> {
        match self.try_borrow() {
            Ok(r) => r,
            Err(Busy) => panic!("array already borrowed for a change"),
        }
    }

    /// The elements as a mutable `Vec<Value>`; makes the array generic first.
    pub fn try_borrow_mut(&self) -> Result<ValuesMut<'_>, Busy> {
        let mut values = self.values.try_borrow_mut().map_err(|_| Busy)?;
        let kind = self.kind.get();
        if kind != layout::KIND_ANY {
            values.clear();
            values.extend((0..self.len()).map(|i| self.read_typed(kind, i)));
            self.kind.set(layout::KIND_ANY);
            self.data.set(std::ptr::null_mut());
            self.cap.set(0);
            *self.words.borrow_mut() = vec![];
        }
        Ok(ValuesMut {
            len: &self.len,
            values,
        })
    }

    /// [`ArrayObj::try_borrow_mut`]; panics when the array is borrowed (tests only).
    pub fn borrow_mut(&self) -> ValuesMut<'_> {
        match self.try_borrow_mut() {
            Ok(m) => m,
            Err(Busy) => panic!("array already borrowed"),
        }
    }

    /// Grows typed storage to hold at least `n` elements of the current kind.
    fn reserve(&self, n: usize) {
        let per = elems_per_word(self.kind.get());
        let mut words = self.words.borrow_mut();
        let need = n.div_ceil(per);
        if need > words.len() {
            words.resize(need, 0);
        }
        self.data.set(words.as_mut_ptr() as *mut u8);
        self.cap.set((words.len() * per) as u64);
    }

    fn read_typed(&self, kind: u64, i: usize) -> Value {
        let words = self.words.borrow();
        match kind {
            layout::KIND_BOOL => {
                let w = words.get(i / 8).copied().unwrap_or(0);
                Value::Bool(w.to_le_bytes()[i % 8] != 0)
            }
            layout::KIND_INT => Value::Int(words.get(i).copied().unwrap_or(0) as i64),
            _ => Value::Float(f64::from_bits(words.get(i).copied().unwrap_or(0))),
        }
    }

    /// Writes element `i` (below `cap`) of the current typed kind.
    fn write_typed(&self, i: usize, bits: u64) {
        let mut words = self.words.borrow_mut();
        if self.kind.get() == layout::KIND_BOOL {
            if let Some(w) = words.get_mut(i / 8) {
                let mut bytes = w.to_le_bytes();
                bytes[i % 8] = bits as u8;
                *w = u64::from_le_bytes(bytes);
            }
        } else if let Some(w) = words.get_mut(i) {
            *w = bits;
        }
    }
}

impl std::fmt::Debug for ArrayObj {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.borrow().iter()).finish()
    }
}

/// The elements of an array seen as values (see [`ArrayObj::try_borrow`]).
pub enum ValuesRef<'a> {
    Shared(Ref<'a, Vec<Value>>),
    Copied(Vec<Value>),
}

impl Deref for ValuesRef<'_> {
    type Target = Vec<Value>;
    fn deref(&self) -> &Vec<Value> {
        match self {
            ValuesRef::Shared(r) => r,
            ValuesRef::Copied(v) => v,
        }
    }
}

/// A generic array's elements, borrowed for a change; the length compiled code reads is brought
/// up to date when the borrow ends.
pub struct ValuesMut<'a> {
    len: &'a Cell<u64>,
    values: RefMut<'a, Vec<Value>>,
}

impl Deref for ValuesMut<'_> {
    type Target = Vec<Value>;
    fn deref(&self) -> &Vec<Value> {
        &self.values
    }
}

impl DerefMut for ValuesMut<'_> {
    fn deref_mut(&mut self) -> &mut Vec<Value> {
        &mut self.values
    }
}

impl Drop for ValuesMut<'_> {
    fn drop(&mut self) {
        self.len.set(self.values.len() as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(a: &ArrayObj) -> Vec<i64> {
        a.borrow()
            .iter()
            .map(|v| match v {
                Value::Int(n) => *n,
                _ => -1,
            })
            .collect()
    }

    #[test]
    fn homogeneous_literals_are_typed() {
        assert_eq!(
            ArrayObj::new(vec![Value::Int(1), Value::Int(2)]).kind(),
            layout::KIND_INT
        );
        assert_eq!(
            ArrayObj::new(vec![Value::Bool(true)]).kind(),
            layout::KIND_BOOL
        );
        assert_eq!(
            ArrayObj::new(vec![Value::Float(1.0)]).kind(),
            layout::KIND_FLOAT
        );
        assert_eq!(
            ArrayObj::new(vec![Value::Int(1), Value::Float(1.0)]).kind(),
            layout::KIND_ANY
        );
        assert_eq!(ArrayObj::new(vec![]).kind(), layout::KIND_ANY);
    }

    #[test]
    fn empty_array_takes_the_kind_of_its_first_push_and_grows() {
        let a = ArrayObj::new(vec![]);
        for i in 0..1000 {
            a.push(Value::Bool(i % 3 == 0)).unwrap();
        }
        assert_eq!(a.kind(), layout::KIND_BOOL);
        assert_eq!(a.len(), 1000);
        assert!(a.cap.get() >= 1000);
        assert!(matches!(a.get(999).unwrap(), Some(Value::Bool(true))));
        assert!(matches!(a.get(998).unwrap(), Some(Value::Bool(false))));
        assert!(a.get(1000).unwrap().is_none());
    }

    #[test]
    fn storing_another_type_generalizes_and_keeps_every_element() {
        let a = ArrayObj::new(vec![Value::Int(1), Value::Int(2), Value::Int(3)]);
        assert!(a.set(1, Value::Int(20)).unwrap());
        assert_eq!(ints(&a), vec![1, 20, 3]);
        assert!(a.set(2, Value::str("x")).unwrap());
        assert_eq!(a.kind(), layout::KIND_ANY);
        assert_eq!(a.len(), 3);
        assert!(matches!(a.get(0).unwrap(), Some(Value::Int(1))));
        assert!(matches!(a.get(2).unwrap(), Some(Value::Str(_))));
        assert!(!a.set(3, Value::Nil).unwrap());
    }

    #[test]
    fn pop_and_borrow_mut_keep_the_length_in_step() {
        let a = ArrayObj::new(vec![Value::Float(1.5), Value::Float(2.5)]);
        assert!(matches!(a.pop().unwrap(), Some(Value::Float(x)) if x == 2.5));
        assert_eq!(a.len(), 1);
        a.borrow_mut().push(Value::Nil);
        assert_eq!(a.len(), 2);
        assert_eq!(a.kind(), layout::KIND_ANY);
        a.borrow_mut().clear();
        assert!(a.is_empty());
        assert!(a.pop().unwrap().is_none());
    }

    #[test]
    fn body_offset_finds_the_array_from_a_value() {
        let v = Value::array(vec![Value::Int(7), Value::Int(8)]);
        let body = value_payload(&v).wrapping_add(body_offset() as usize);
        let Value::Array(rc) = &v else { unreachable!() };
        assert_eq!(body, std::rc::Rc::as_ptr(rc) as usize);
        assert!((0..=64).contains(&body_offset()));
    }

    #[test]
    fn layout_offsets_match_the_struct() {
        let a = ArrayObj::new(vec![Value::Int(7)]);
        let base = &a as *const ArrayObj as usize;
        assert_eq!(&a.kind as *const _ as usize - base, layout::KIND as usize);
        assert_eq!(&a.data as *const _ as usize - base, layout::DATA as usize);
        assert_eq!(&a.len as *const _ as usize - base, layout::LEN as usize);
        assert_eq!(&a.cap as *const _ as usize - base, layout::CAP as usize);
    }
}

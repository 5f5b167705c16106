//! The multi-value register every field of a document is.
//!
//! Its rules are `crdts::MVReg`'s, over `crdts::VClock`: a write carries the clock of what
//! its writer had seen plus its own dot; it replaces the values that clock dominates and is
//! dropped if a value's clock dominates it; concurrent values are all kept. Two things of
//! `MVReg` did not fit a document the phones and the server apply thousands of operations
//! to (decision 19): it hides its (clock, value) pairs, so a canonical snapshot had to copy a
//! register through its serde form to read them, and its clock comparison walks each clock
//! up to three times with a lookup per entry. Here the pairs are readable and two clocks are
//! compared in one ordered walk. The serde form is `MVReg`'s (a struct of `vals`).
//!
//! The rules are checked against `crdts::MVReg` itself by the property test below: the same
//! random operations, applied and merged in random orders, give the same values.

use std::cmp::Ordering;

use crdts::VClock;
use serde::{Deserialize, Serialize};

use super::ids::ActorId;

/// A register as (clock, value) pairs sorted: the same on every replica.
pub type CanonicalReg<V> = Vec<(std::collections::BTreeMap<ActorId, u64>, V)>;

/// How two clocks compare (an absent actor counts as 0), in one walk over both.
pub fn compare(a: &VClock<ActorId>, b: &VClock<ActorId>) -> Option<Ordering> {
    let (mut a_ahead, mut b_ahead) = (false, false);
    let mut ia = a.dots.iter().peekable();
    let mut ib = b.dots.iter().peekable();
    loop {
        match (ia.peek(), ib.peek()) {
            (None, None) => break,
            (Some(&(_, &x)), None) => {
                a_ahead |= x > 0;
                ia.next();
            }
            (None, Some(&(_, &y))) => {
                b_ahead |= y > 0;
                ib.next();
            }
            (Some(&(ka, &x)), Some(&(kb, &y))) => match ka.cmp(kb) {
                Ordering::Less => {
                    a_ahead |= x > 0;
                    ia.next();
                }
                Ordering::Greater => {
                    b_ahead |= y > 0;
                    ib.next();
                }
                Ordering::Equal => {
                    a_ahead |= x > y;
                    b_ahead |= y > x;
                    ia.next();
                    ib.next();
                }
            },
        }
        if a_ahead && b_ahead {
            return None;
        }
    }
    Some(match (a_ahead, b_ahead) {
        (false, false) => Ordering::Equal,
        (true, _) => Ordering::Greater,
        (false, true) => Ordering::Less,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Register<V> {
    vals: Vec<(VClock<ActorId>, V)>,
}

impl<V> Default for Register<V> {
    fn default() -> Self {
        Self { vals: Vec::new() }
    }
}

impl<V: Clone + Ord> Register<V> {
    /// Apply a write whose clock is `clock` (its writer's context plus its own dot).
    pub fn apply(&mut self, clock: VClock<ActorId>, val: V) {
        if clock.dots.is_empty() {
            return;
        }
        let mut dominated = false;
        self.vals.retain(|(c, _)| match compare(c, &clock) {
            Some(Ordering::Greater) => {
                dominated = true;
                true
            }
            None => true,
            Some(Ordering::Less | Ordering::Equal) => false,
        });
        if !dominated {
            self.vals.push((clock, val));
        }
    }

    /// Merge another replica's register.
    pub fn merge(&mut self, other: Self) {
        self.vals.retain(|(c, _)| {
            !other
                .vals
                .iter()
                .any(|(o, _)| compare(c, o) == Some(Ordering::Less))
        });
        let new: Vec<_> = other
            .vals
            .into_iter()
            .filter(|(o, _)| {
                !self
                    .vals
                    .iter()
                    .any(|(c, _)| c == o || compare(o, c) == Some(Ordering::Less))
            })
            .collect();
        self.vals.extend(new);
    }

    /// The values, sorted and without repeats, so every replica reads them in one order.
    pub fn values(&self) -> Vec<V> {
        let mut v: Vec<V> = self.vals.iter().map(|(_, v)| v.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Whether it holds more than one distinct value: a conflict (without copying them).
    pub fn conflicted(&self) -> bool {
        let mut vals = self.vals.iter().map(|(_, v)| v);
        match vals.next() {
            Some(first) => vals.any(|v| v != first),
            None => false,
        }
    }

    /// How many values it holds (concurrent writes of one value count apart).
    pub fn len(&self) -> usize {
        self.vals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vals.is_empty()
    }

    /// The clock of everything it holds: the context a write that replaces them all carries.
    pub fn clock(&self) -> VClock<ActorId> {
        let mut clock = VClock::new();
        for (c, _) in &self.vals {
            for (&actor, &n) in &c.dots {
                let e = clock.dots.entry(actor).or_insert(0);
                *e = (*e).max(n);
            }
        }
        clock
    }

    /// Whether every value's clock is within `seen` (at or before it): a reader that had
    /// seen `seen` had seen every value held.
    pub fn within(&self, seen: &VClock<ActorId>) -> bool {
        self.vals
            .iter()
            .all(|(c, _)| matches!(compare(c, seen), Some(Ordering::Less | Ordering::Equal)))
    }

    /// Its pairs sorted: the same bytes on every replica that holds the same values.
    pub fn canonical(&self) -> CanonicalReg<V> {
        let mut pairs: CanonicalReg<V> = self
            .vals
            .iter()
            .map(|(c, v)| (c.dots.clone(), v.clone()))
            .collect();
        pairs.sort();
        pairs
    }

    /// From canonical pairs (a snapshot). Zero entries in a clock mean nothing and are
    /// dropped, so every clock is in the form writes produce.
    pub fn from_canonical(pairs: CanonicalReg<V>) -> Self {
        Self {
            vals: pairs
                .into_iter()
                .map(|(mut dots, v)| {
                    dots.retain(|_, n| *n > 0);
                    (VClock { dots }, v)
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crdts::{CmRDT, CvRDT, Dot, MVReg, mvreg};
    use proptest::prelude::*;

    use super::*;

    fn clock(dots: &[(ActorId, u64)]) -> VClock<ActorId> {
        let mut c = VClock::new();
        for &(a, n) in dots {
            c.apply(Dot::new(a, n));
        }
        c
    }

    #[test]
    fn clocks_compare_as_crdts_does() {
        type Dots = &'static [(ActorId, u64)];
        let cases: [(Dots, Dots); 7] = [
            (&[], &[]),
            (&[(1, 1)], &[]),
            (&[(1, 1)], &[(1, 2)]),
            (&[(1, 2), (2, 1)], &[(1, 2)]),
            (&[(1, 2)], &[(2, 1)]),
            (&[(1, 1), (3, 4)], &[(1, 1), (2, 1), (3, 4)]),
            (&[(1, 3), (2, 1)], &[(1, 2), (2, 5)]),
        ];
        for (a, b) in cases {
            let (a, b) = (clock(a), clock(b));
            assert_eq!(compare(&a, &b), a.partial_cmp(&b), "{a:?} vs {b:?}");
            assert_eq!(compare(&b, &a), b.partial_cmp(&a), "{b:?} vs {a:?}");
        }
    }

    /// Writes by 4 actors, each with a context drawn from what came before it.
    fn writes() -> impl Strategy<Value = Vec<(VClock<ActorId>, u8)>> {
        prop::collection::vec((0u32..4, prop::collection::vec(0u64..6, 4), 0u8..5), 1..24).prop_map(
            |ws| {
                let mut seq = [0u64; 4];
                ws.into_iter()
                    .map(|(actor, ctx, val)| {
                        let i = actor as usize;
                        seq[i] += 1;
                        let mut dots: Vec<(ActorId, u64)> = ctx
                            .iter()
                            .enumerate()
                            .map(|(a, &n)| (a as ActorId, n.min(seq[a])))
                            .collect();
                        dots.push((actor, seq[i]));
                        (clock(&dots), val)
                    })
                    .collect()
            },
        )
    }

    fn theirs(ws: &[(VClock<ActorId>, u8)]) -> MVReg<u8, ActorId> {
        let mut r = MVReg::new();
        for (c, v) in ws {
            r.apply(mvreg::Op::Put {
                clock: c.clone(),
                val: *v,
            });
        }
        r
    }

    fn ours(ws: &[(VClock<ActorId>, u8)]) -> Register<u8> {
        let mut r = Register::default();
        for (c, v) in ws {
            r.apply(c.clone(), *v);
        }
        r
    }

    fn read(r: &MVReg<u8, ActorId>) -> Vec<u8> {
        let mut v = r.read().val;
        v.sort();
        v.dedup();
        v
    }

    proptest! {
        // Seeds of failures are recorded in proptest-regressions/.
        #[test]
        fn same_values_as_crdts_mvreg(ws in writes(), split in 0usize..24, shuffle in any::<u64>()) {
            // Applied in order.
            let (a, b) = (theirs(&ws), ours(&ws));
            prop_assert_eq!(read(&a), b.values());
            prop_assert_eq!(a.read().val.len(), b.len());
            prop_assert_eq!(b.conflicted(), b.values().len() > 1);
            prop_assert_eq!(a.read_ctx().add_clock, b.clock());
            // Split between two replicas in a shuffled order, then merged both ways.
            let split = split.min(ws.len());
            let mut left = ws[..split].to_vec();
            let right = ws[split..].to_vec();
            let turn = usize::try_from(shuffle % (left.len().max(1) as u64)).unwrap_or(0);
            left.rotate_left(turn);
            let (mut a1, mut b1) = (theirs(&left), ours(&left));
            let (a2, b2) = (theirs(&right), ours(&right));
            a1.merge(a2.clone());
            b1.merge(b2.clone());
            prop_assert_eq!(read(&a1), b1.values());
            let (mut a3, mut b3) = (a2, b2);
            a3.merge(theirs(&left));
            b3.merge(ours(&left));
            prop_assert_eq!(read(&a3), b3.values());
            prop_assert_eq!(b1.canonical(), b3.canonical());
            // Through the canonical form and back.
            prop_assert_eq!(Register::from_canonical(b1.canonical()).canonical(), b1.canonical());
        }
    }
}

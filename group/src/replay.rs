//! The replay window: a counter is accepted once, and only if it is no older than `size` below
//! the highest counter accepted so far (RFC 4303 §3.4.3's anti-replay window, on 64-bit
//! counters).

use crate::error::OpenError;

/// One sender's window in one epoch.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    /// The highest counter accepted, if any.
    top: Option<u64>,
    /// Bit `i` of the bitmap: counter `top - i` was accepted.
    bits: Vec<u64>,
    size: u64,
}

impl ReplayWindow {
    /// A window accepting counters up to `size` below the highest (`size` ≥ 1, rounded up to a
    /// multiple of 64).
    pub fn new(size: u64) -> ReplayWindow {
        let words = size.max(1).div_ceil(64);
        ReplayWindow {
            top: None,
            bits: vec![0; words as usize],
            size: words * 64,
        }
    }

    /// Whether `counter` would be accepted, without recording it.
    pub fn check(&self, sender: u64, counter: u64) -> Result<(), OpenError> {
        let Some(top) = self.top else {
            return Ok(());
        };
        if counter > top {
            return Ok(());
        }
        let age = top - counter;
        if age >= self.size {
            return Err(OpenError::TooOld {
                sender,
                counter,
                oldest: top + 1 - self.size,
            });
        }
        if self.bit(age) {
            return Err(OpenError::Replayed { sender, counter });
        }
        Ok(())
    }

    /// Records `counter` (after [`check`](Self::check) passed and the message authenticated).
    pub fn commit(&mut self, counter: u64) {
        match self.top {
            Some(top) if counter <= top => {
                let age = top - counter;
                if age < self.size {
                    self.set(age);
                }
            }
            _ => {
                let shift = self.top.map_or(self.size, |top| counter - top);
                self.shift(shift);
                self.top = Some(counter);
                self.set(0);
            }
        }
    }

    fn bit(&self, age: u64) -> bool {
        self.bits[(age / 64) as usize] >> (age % 64) & 1 == 1
    }

    fn set(&mut self, age: u64) {
        self.bits[(age / 64) as usize] |= 1 << (age % 64);
    }

    /// Ages every bit by `by`.
    fn shift(&mut self, by: u64) {
        if by >= self.size {
            self.bits.iter_mut().for_each(|w| *w = 0);
            return;
        }
        let (words, bits) = ((by / 64) as usize, by % 64);
        let n = self.bits.len();
        for i in (0..n).rev() {
            let from = i.checked_sub(words);
            let lo = from.map_or(0, |f| self.bits[f]);
            let carry = match from.and_then(|f| f.checked_sub(1)) {
                Some(f) if bits != 0 => self.bits[f] >> (64 - bits),
                _ => 0,
            };
            self.bits[i] = if bits == 0 { lo } else { lo << bits | carry };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn in_order_reordered_replayed_and_old() {
        let mut w = ReplayWindow::new(64);
        for c in [0, 1, 2, 5, 4, 3] {
            w.check(1, c).unwrap();
            w.commit(c);
        }
        assert_eq!(
            w.check(1, 4),
            Err(OpenError::Replayed {
                sender: 1,
                counter: 4
            })
        );
        w.check(1, 100).unwrap();
        w.commit(100);
        assert_eq!(
            w.check(1, 36),
            Err(OpenError::TooOld {
                sender: 1,
                counter: 36,
                oldest: 37
            })
        );
        w.check(1, 37).unwrap();
        w.check(1, 99).unwrap();
        w.commit(99);
        assert!(w.check(1, 99).is_err());
    }

    proptest! {
        /// The window agrees with a model that remembers every counter.
        #[test]
        fn agrees_with_a_set(size in 1u64..300, counters in proptest::collection::vec(0u64..2000, 1..400)) {
            let mut w = ReplayWindow::new(size);
            let size = w.size;
            let mut seen = std::collections::BTreeSet::new();
            let mut top: Option<u64> = None;
            for c in counters {
                let expected_ok = match top {
                    None => true,
                    Some(t) => c > t || (t - c < size && !seen.contains(&c)),
                };
                prop_assert_eq!(w.check(0, c).is_ok(), expected_ok, "counter {}", c);
                if expected_ok {
                    w.commit(c);
                    seen.insert(c);
                    top = Some(top.map_or(c, |t| t.max(c)));
                }
            }
        }
    }
}

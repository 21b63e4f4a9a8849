//! Admission of incoming connections while they are in the handshake.
//!
//! An unauthenticated connection costs a file descriptor, a task and a read buffer until its
//! handshake ends, so a listener bounds how many it holds, in all and per source address:
//!
//! - over `max_handshakes_per_address`, the **newest** connection from that address is closed at
//!   once (one address cannot take every slot);
//! - over `max_handshakes`, the **oldest** connection still in the handshake is closed to make
//!   room (a legitimate handshake takes milliseconds, so an attacker holding slots with silent
//!   connections loses them to whoever arrives next, instead of locking everyone out until the
//!   handshake timeout).
//!
//! A connection leaves the table when its handshake completes or it ends.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

#[derive(Debug, Default)]
struct Table {
    next: u64,
    /// In arrival order: sequence number → (source address, eviction signal).
    live: BTreeMap<u64, (Option<IpAddr>, CancellationToken)>,
    per_address: HashMap<IpAddr, usize>,
}

impl Table {
    fn forget(&mut self, seq: u64) -> Option<CancellationToken> {
        let (address, token) = self.live.remove(&seq)?;
        if let Some(ip) = address {
            if let Some(n) = self.per_address.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    self.per_address.remove(&ip);
                }
            }
        }
        Some(token)
    }
}

/// The handshake slots of one socket's listeners.
#[derive(Clone, Debug, Default)]
pub(crate) struct Admission {
    table: Arc<Mutex<Table>>,
}

/// Why a connection was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Its source address already holds `max_handshakes_per_address` handshakes.
    Address,
}

/// A connection's place in the table; dropping it (or [`Slot::release`]) frees the place.
#[derive(Debug)]
pub(crate) struct Slot {
    admission: Admission,
    seq: u64,
    /// Cancelled when a newer connection takes this one's place.
    pub(crate) evicted: CancellationToken,
}

impl Slot {
    /// The handshake is over: the connection no longer counts.
    pub(crate) fn release(self) {}
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admission.table().forget(self.seq);
    }
}

impl Admission {
    fn table(&self) -> MutexGuard<'_, Table> {
        // Every update leaves the table consistent, so a poisoned lock is still usable.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a new connection from `address` (`None`: no address, as over ipc, which only the
    /// total bounds), evicting the oldest handshake when the table is full.
    pub(crate) fn admit(
        &self,
        address: Option<IpAddr>,
        max_total: usize,
        max_per_address: usize,
    ) -> Result<Slot, Refusal> {
        let mut table = self.table();
        if let Some(ip) = address {
            if table.per_address.get(&ip).copied().unwrap_or(0) >= max_per_address {
                return Err(Refusal::Address);
            }
        }
        while table.live.len() >= max_total.max(1) {
            let Some((&oldest, _)) = table.live.iter().next() else {
                break;
            };
            if let Some(token) = table.forget(oldest) {
                token.cancel();
            }
        }
        let seq = table.next;
        table.next += 1;
        let evicted = CancellationToken::new();
        table.live.insert(seq, (address, evicted.clone()));
        if let Some(ip) = address {
            *table.per_address.entry(ip).or_insert(0) += 1;
        }
        Ok(Slot {
            admission: self.clone(),
            seq,
            evicted,
        })
    }

    /// Connections in the handshake now.
    pub(crate) fn in_handshake(&self) -> usize {
        self.table().live.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([127, 0, 0, last]))
    }

    #[test]
    fn the_newest_from_a_busy_address_is_refused() {
        let a = Admission::default();
        let first = a.admit(ip(1), 10, 2).unwrap();
        let _second = a.admit(ip(1), 10, 2).unwrap();
        assert_eq!(a.admit(ip(1), 10, 2).unwrap_err(), Refusal::Address);
        // Other addresses are unaffected; a finished handshake frees its address's place.
        let _other = a.admit(ip(2), 10, 2).unwrap();
        first.release();
        let _third = a.admit(ip(1), 10, 2).unwrap();
        assert_eq!(a.in_handshake(), 3);
    }

    #[test]
    fn a_full_table_evicts_its_oldest_handshake() {
        let a = Admission::default();
        let oldest = a.admit(ip(1), 2, 10).unwrap();
        let middle = a.admit(ip(2), 2, 10).unwrap();
        let newest = a.admit(ip(3), 2, 10).unwrap();
        assert!(oldest.evicted.is_cancelled());
        assert!(!middle.evicted.is_cancelled() && !newest.evicted.is_cancelled());
        assert_eq!(a.in_handshake(), 2);
        // The evicted slot's drop changes nothing for the others.
        drop(oldest);
        assert_eq!(a.in_handshake(), 2);
        drop(middle);
        drop(newest);
        assert_eq!(a.in_handshake(), 0);
        assert!(a.table().per_address.is_empty());
    }

    #[test]
    fn connections_without_an_address_count_only_in_the_total() {
        let a = Admission::default();
        let _slots: Vec<_> = (0..5).map(|_| a.admit(None, 10, 1).unwrap()).collect();
        assert_eq!(a.in_handshake(), 5);
    }
}

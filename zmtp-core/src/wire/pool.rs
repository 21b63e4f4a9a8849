//! Receive buffers for large frame bodies, kept for reuse.
//!
//! A large body is read straight into a buffer of its own, and the message the application gets
//! is a view of that buffer. When the application drops the message, the buffer comes back here
//! (if the socket is still open and the pool has room) instead of going back to the
//! allocator, so the next large message lands in memory that is already mapped. Without this, a
//! stream of megabyte messages costs a fresh set of page faults per message: the allocator hands
//! large blocks back to the kernel when they are freed.
//!
//! CURVE seals its large bodies into buffers from the same pool, which come back once written.
//!
//! The pool is bounded ([`crate::Limits::buffer_pool`]) by the octets it keeps idle *plus* those
//! of buffers taken for bodies still arriving; a buffer that would take it past its bound is
//! freed. Counting the second kind matters: a header alone takes a buffer, so a peer that sends
//! headers and then nothing on many connections would otherwise pin every buffer the pool is
//! given back. With them counted, all such peers together pin at most the bound, and the
//! bodies that find the pool spent start with an empty buffer that grows with what arrives.
//! One pool serves every connection of a socket (all sessions of one
//! [`crate::SessionConfig`]), so the bound holds however many peers there are. A buffer is
//! reused only for a body at least half its size, so a small message never holds a much
//! larger buffer. Buffers lent out are not counted: each is a complete message (or a sealed
//! body waiting to be written), at most twice its length. Messages hold the pool only weakly:
//! once the socket is gone (its configuration dropped), their buffers are freed as they are
//! dropped.

use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;

use crate::wire::frame::POOL_AT;

/// Idle buffers for large bodies. Clones share the same buffers.
#[derive(Clone, Debug)]
pub struct BodyPool {
    shared: Arc<Mutex<Idle>>,
    /// Bodies at least this large get a buffer from the pool.
    threshold: usize,
}

#[derive(Debug)]
struct Idle {
    buffers: Vec<Vec<u8>>,
    /// Capacity summed over `buffers`.
    held: usize,
    /// Capacity of the buffers taken and not yet complete ([`Taken`]).
    reserved: usize,
    /// The most `held + reserved` may reach.
    bound: usize,
}

impl BodyPool {
    /// A pool that keeps at most `bound` octets of idle buffers (0: none, every buffer is freed
    /// when its message is dropped).
    pub fn new(bound: usize) -> BodyPool {
        BodyPool::with_threshold(bound, POOL_AT)
    }

    /// A pool for bodies of at least `threshold` octets rather than [`POOL_AT`] (for tests and
    /// fuzzing, which exercise the pooled path with small inputs).
    pub fn with_threshold(bound: usize, threshold: usize) -> BodyPool {
        BodyPool {
            shared: Arc::new(Mutex::new(Idle {
                buffers: Vec::new(),
                held: 0,
                reserved: 0,
                bound,
            })),
            threshold,
        }
    }

    /// Bodies at least this large are collected in buffers from this pool.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// An empty buffer for a body of `len` octets. Only idle buffers of at most twice `len`
    /// are candidates (a small body never holds a large buffer); of those, the smallest that
    /// holds the body whole (the most recently returned among equals, whose memory is likeliest
    /// still in cache), else the largest (it grows as the body arrives), else a new one with no
    /// capacity. Nothing is reserved here for a body that has not arrived. Until
    /// [`Taken::into_vec`] (the body is complete) or its drop, the buffer counts against the
    /// bound.
    pub fn take(&self, len: usize) -> Taken {
        let mut idle = lock(&self.shared);
        let most = len.saturating_mul(2);
        // Newest first: `min_by_key` keeps the first of equal minimums, `max_by_key` the last.
        let candidates = || {
            idle.buffers
                .iter()
                .enumerate()
                .rev()
                .filter(move |(_, b)| b.capacity() <= most)
        };
        let pick = candidates()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .or_else(|| candidates().rev().max_by_key(|(_, b)| b.capacity()))
            .map(|(i, _)| i);
        let buf = match pick {
            Some(i) => {
                let buf = idle.buffers.remove(i);
                idle.held -= buf.capacity();
                idle.reserved += buf.capacity();
                buf
            }
            None => Vec::new(),
        };
        Taken {
            reserved: buf.capacity(),
            buf,
            home: Arc::downgrade(&self.shared),
        }
    }

    /// Octets of buffers taken for bodies not yet complete.
    pub fn reserved_octets(&self) -> usize {
        lock(&self.shared).reserved
    }

    /// Octets of idle buffers held now.
    pub fn idle_octets(&self) -> usize {
        lock(&self.shared).held
    }

    /// Gives `buf` (a complete body) to the application as `Bytes` viewing `buf[start..]`. The
    /// buffer comes back to this pool when the last clone of the `Bytes` is dropped.
    pub fn lend(&self, buf: Vec<u8>, start: usize) -> Bytes {
        let lent = Lent {
            buf,
            home: Arc::downgrade(&self.shared),
        };
        let whole = Bytes::from_owner(lent);
        if start == 0 {
            whole
        } else {
            whole.slice(start.min(whole.len())..)
        }
    }
}

fn lock(shared: &Mutex<Idle>) -> std::sync::MutexGuard<'_, Idle> {
    // The lock guards plain bookkeeping that no panic can leave half-done.
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn put_back(shared: &Mutex<Idle>, mut buf: Vec<u8>) {
    buf.clear();
    let cap = buf.capacity();
    if cap == 0 {
        return;
    }
    let mut idle = lock(shared);
    if idle.held.saturating_add(idle.reserved).saturating_add(cap) <= idle.bound {
        idle.held += cap;
        idle.buffers.push(buf);
    }
}

/// A buffer taken from the pool for a body still being filled. It counts against the pool's
/// bound until [`Taken::into_vec`]; dropped before that (the connection ended mid-body), it goes
/// back to the pool.
#[derive(Debug)]
pub struct Taken {
    buf: Vec<u8>,
    /// Octets of the pool's bound this buffer holds.
    reserved: usize,
    home: Weak<Mutex<Idle>>,
}

impl Taken {
    /// The buffer, to fill.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// The buffer, to read.
    pub fn as_vec(&self) -> &Vec<u8> {
        &self.buf
    }

    /// The filled buffer, no longer counted against the bound (lend it with [`BodyPool::lend`]).
    pub fn into_vec(mut self) -> Vec<u8> {
        self.release();
        std::mem::take(&mut self.buf)
    }

    fn release(&mut self) {
        if self.reserved > 0 {
            if let Some(home) = self.home.upgrade() {
                let mut idle = lock(&home);
                idle.reserved = idle.reserved.saturating_sub(self.reserved);
            }
            self.reserved = 0;
        }
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        self.release();
        if self.buf.capacity() > 0 {
            if let Some(home) = self.home.upgrade() {
                put_back(&home, std::mem::take(&mut self.buf));
            }
        }
    }
}

/// A body lent to the application; its buffer goes home when dropped.
struct Lent {
    buf: Vec<u8>,
    home: Weak<Mutex<Idle>>,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(home) = self.home.upgrade() {
            put_back(&home, std::mem::take(&mut self.buf));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(pool: &BodyPool, len: usize) -> Vec<u8> {
        let mut b = pool.take(len).into_vec();
        b.resize(len, 7);
        b
    }

    #[test]
    fn a_dropped_message_returns_its_buffer_and_the_next_body_reuses_it() {
        let pool = BodyPool::new(4 << 20);
        let buf = filled(&pool, 1 << 20);
        let addr = buf.as_ptr();
        let msg = pool.lend(buf, 0);
        assert_eq!(msg.len(), 1 << 20);
        assert_eq!(pool.idle_octets(), 0, "lent buffers are not idle");
        drop(msg);
        assert!(pool.idle_octets() >= 1 << 20);
        let again = pool.take(1 << 20);
        assert_eq!(
            again.as_vec().as_ptr(),
            addr,
            "the same memory, not a new allocation"
        );
        assert!(again.as_vec().is_empty());
        assert_eq!(pool.idle_octets(), 0);
        assert!(pool.reserved_octets() >= 1 << 20);
        drop(again);
        assert_eq!(pool.reserved_octets(), 0);
        assert!(
            pool.idle_octets() >= 1 << 20,
            "dropped unfinished: back to the pool"
        );
    }

    #[test]
    fn clones_keep_the_buffer_until_the_last_is_dropped() {
        let pool = BodyPool::new(4 << 20);
        let msg = pool.lend(filled(&pool, 1000), 10);
        assert_eq!(msg.len(), 990);
        let copy = msg.clone();
        drop(msg);
        assert_eq!(pool.idle_octets(), 0);
        assert_eq!(copy[0], 7);
        drop(copy);
        assert!(pool.idle_octets() >= 1000);
    }

    #[test]
    fn idle_octets_never_exceed_the_bound() {
        let pool = BodyPool::new(3 << 20);
        let msgs: Vec<Bytes> = (0..10)
            .map(|_| pool.lend(filled(&pool, 1 << 20), 0))
            .collect();
        drop(msgs);
        assert!(pool.idle_octets() <= 3 << 20, "{}", pool.idle_octets());
        assert!(pool.idle_octets() >= 2 << 20);
        // A buffer larger than the whole bound is never kept.
        let big = pool.lend(filled(&pool, 8 << 20), 0);
        drop(big);
        assert!(pool.idle_octets() <= 3 << 20);
    }

    #[test]
    fn a_zero_bound_keeps_nothing() {
        let pool = BodyPool::new(0);
        drop(pool.lend(filled(&pool, 1 << 20), 0));
        assert_eq!(pool.idle_octets(), 0);
        assert_eq!(pool.take(10).as_vec().capacity(), 0);
    }

    #[test]
    fn messages_outliving_their_connection_free_their_buffers() {
        let pool = BodyPool::new(4 << 20);
        let msg = pool.lend(filled(&pool, 1 << 20), 0);
        drop(pool);
        assert_eq!(msg.len(), 1 << 20);
        drop(msg); // no pool to return to: freed, and no panic
    }

    #[test]
    fn among_equal_buffers_the_most_recently_returned_comes_back_first() {
        let pool = BodyPool::new(8 << 20);
        let a = pool.lend(filled(&pool, 1 << 20), 0);
        let b = pool.lend(filled(&pool, 1 << 20), 0);
        let b_at = b.as_ptr();
        drop(a);
        drop(b);
        let again = pool.take(1 << 20);
        assert_eq!(again.as_vec().as_ptr(), b_at);
    }

    #[test]
    fn take_prefers_the_smallest_buffer_that_fits() {
        let pool = BodyPool::new(16 << 20);
        let a = pool.lend(filled(&pool, 4 << 20), 0);
        let b = pool.lend(filled(&pool, 3 << 20), 0);
        drop((a, b));
        assert_eq!(pool.take(3 << 20).as_vec().capacity(), 3 << 20);
        let pool = BodyPool::new(16 << 20);
        let a = pool.lend(filled(&pool, 4 << 20), 0);
        let b = pool.lend(filled(&pool, 3 << 20), 0);
        drop((a, b));
        // Nothing holds 5 MiB whole: the largest within twice that is taken, to grow.
        assert_eq!(pool.take(5 << 20).as_vec().capacity(), 4 << 20);
    }

    #[test]
    fn a_small_body_never_takes_a_buffer_more_than_twice_its_size() {
        let pool = BodyPool::new(16 << 20);
        drop(pool.lend(filled(&pool, 4 << 20), 0));
        assert_eq!(
            pool.take(1 << 20).as_vec().capacity(),
            0,
            "a new buffer, not the 4 MiB one"
        );
        assert_eq!(pool.take(2 << 20).as_vec().capacity(), 4 << 20);
    }

    /// The attacker's test: buffers taken for bodies that never finish count against the
    /// bound, so buffers given back meanwhile are freed rather than pinned one after another.
    #[test]
    fn buffers_held_by_unfinished_bodies_count_against_the_bound() {
        let pool = BodyPool::new(3 << 20);
        let idle: Vec<Bytes> = (0..3)
            .map(|_| pool.lend(filled(&pool, 1 << 20), 0))
            .collect();
        drop(idle);
        assert_eq!(pool.idle_octets(), 3 << 20);
        // Headers alone on many connections: the first three take the idle buffers.
        let stalled: Vec<Taken> = (0..10).map(|_| pool.take(1 << 20)).collect();
        let pinned: usize = stalled.iter().map(|t| t.as_vec().capacity()).sum();
        assert_eq!(pinned, 3 << 20);
        assert_eq!(pool.reserved_octets(), 3 << 20);
        // Legitimate messages finish and are dropped: nothing more is kept for the stalled.
        for _ in 0..5 {
            drop(pool.lend(filled(&pool, 1 << 20), 0));
        }
        assert_eq!(pool.idle_octets(), 0);
        let more: Vec<Taken> = (0..10).map(|_| pool.take(1 << 20)).collect();
        assert!(more.iter().all(|t| t.as_vec().capacity() == 0));
        drop(more);
        drop(stalled);
        assert_eq!(pool.reserved_octets(), 0);
        assert!(pool.idle_octets() <= 3 << 20);
    }

    #[test]
    fn clones_share_one_bound() {
        let pool = BodyPool::new(3 << 20);
        let other = pool.clone();
        let msgs: Vec<Bytes> = (0..3)
            .map(|_| pool.lend(filled(&pool, 1 << 20), 0))
            .chain((0..3).map(|_| other.lend(filled(&other, 1 << 20), 0)))
            .collect();
        drop(msgs);
        assert_eq!(pool.idle_octets(), other.idle_octets());
        assert!(pool.idle_octets() <= 3 << 20);
    }
}

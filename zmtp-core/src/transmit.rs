//! The outgoing byte queue. Small writes are coalesced into one buffer; a large payload is queued
//! as its own chunk after the header that precedes it, so it is written without being copied.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::frame::encode_header;
use crate::wire::pool::BodyPool;

/// Payloads at least this large are chained rather than copied.
pub const CHAIN_THRESHOLD: usize = 8 * 1024;

/// Coalesced octets are cut into chunks of about this size once a backlog builds: each is one
/// allocation below glibc's first mmap threshold (so freed ones are reused rather than mapped
/// afresh, page by page), and growing one never copies more than this. Without the cut a
/// PUB's burst to a slow subscriber grew one buffer by doubling to the whole backlog, and its
/// reallocations and first-touch page faults were a fifth of the publisher's page faults.
pub const COALESCE_CHUNK: usize = 64 * 1024;

/// Bytes waiting to be written to the peer, in order.
#[derive(Debug, Default)]
pub struct TransmitQueue {
    small: BytesMut,
    chunks: VecDeque<Bytes>,
    queued: usize,
    buffers: Option<BodyPool>,
}

impl TransmitQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty queue whose codec may seal large bodies into buffers from `buffers`.
    pub fn with_buffers(buffers: BodyPool) -> Self {
        TransmitQueue {
            buffers: Some(buffers),
            ..Self::default()
        }
    }

    /// Where a codec takes buffers for large bodies it builds (and lends them out of, so that
    /// they come back once written), when the queue has a pool.
    pub fn buffers(&self) -> Option<&BodyPool> {
        self.buffers.as_ref()
    }

    /// Total octets queued.
    pub fn len(&self) -> usize {
        self.queued
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// Appends octets by copying them.
    pub fn put_slice(&mut self, bytes: &[u8]) {
        if !self.small.is_empty() && self.small.len() + bytes.len() > COALESCE_CHUNK {
            self.flush_small();
            self.small.reserve(COALESCE_CHUNK.max(bytes.len()));
        }
        self.small.put_slice(bytes);
        self.queued += bytes.len();
    }

    /// Appends a payload, chaining it without a copy when it is large.
    pub fn put_bytes(&mut self, bytes: Bytes) {
        if bytes.len() >= CHAIN_THRESHOLD {
            self.flush_small();
            self.queued += bytes.len();
            self.chunks.push_back(bytes);
        } else {
            self.put_slice(&bytes);
        }
    }

    /// Appends one frame: its header and body.
    pub fn put_frame(&mut self, more: bool, command: bool, body: Bytes) {
        let before = self.small.len();
        encode_header(more, command, body.len(), &mut self.small);
        self.queued += self.small.len() - before;
        self.put_bytes(body);
    }

    fn flush_small(&mut self) {
        if !self.small.is_empty() {
            self.chunks.push_back(self.small.split().freeze());
        }
    }

    /// Takes the next chunk to write, oldest first.
    #[must_use]
    pub fn pop(&mut self) -> Option<Bytes> {
        if self.chunks.is_empty() {
            self.flush_small();
        }
        let chunk = self.chunks.pop_front()?;
        self.queued -= chunk.len();
        Some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backlog_of_small_frames_is_cut_into_chunks_in_order() {
        let mut q = TransmitQueue::new();
        let body = Bytes::from(vec![1u8; 1000]);
        let n = 3 * COALESCE_CHUNK / 1009 + 1;
        for _ in 0..n {
            q.put_frame(false, false, body.clone());
        }
        assert_eq!(q.len(), n * 1009);
        let mut wire = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = q.pop() {
            assert!(chunk.len() <= COALESCE_CHUNK, "{}", chunk.len());
            wire.extend_from_slice(&chunk);
            chunks += 1;
        }
        assert!(chunks >= 3, "{chunks} chunks");
        assert_eq!(wire.len(), n * 1009);
        for frame in wire.chunks(1009) {
            assert_eq!(frame[0], 0x02, "a long header, in place");
            assert_eq!(&frame[1..9], &1000u64.to_be_bytes()[..]);
            assert!(frame[9..].iter().all(|&b| b == 1));
        }
        assert!(q.is_empty());
    }

    #[test]
    fn small_frames_coalesce_and_large_payloads_chain() {
        let mut q = TransmitQueue::new();
        q.put_frame(true, false, Bytes::from_static(b"a"));
        let big = Bytes::from(vec![9u8; CHAIN_THRESHOLD]);
        q.put_frame(false, false, big.clone());
        assert_eq!(q.len(), 3 + 9 + CHAIN_THRESHOLD);
        let first = q.pop().unwrap();
        assert_eq!(&first[..], b"\x01\x01a\x02\x00\x00\x00\x00\x00\x00\x20\x00");
        let second = q.pop().unwrap();
        assert_eq!(second.as_ptr(), big.as_ptr(), "large payload is not copied");
        assert!(q.pop().is_none());
        assert!(q.is_empty());
    }
}

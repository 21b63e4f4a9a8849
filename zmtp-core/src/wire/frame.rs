//! ZMTP frames (RFC 23 §"Framing").
//!
//! ```text
//! frame        = short-size-frame / long-size-frame
//! flags        = %x00-07            ; bit 0 MORE, bit 1 LONG, bit 2 COMMAND; bits 3-7 reserved
//! short-frame  = flags(LONG=0) OCTET       body
//! long-frame   = flags(LONG=1) 8OCTET(BE)  body
//! ```
//!
//! [`FrameDecoder`] is a resumable state machine over a `BytesMut`: it survives any split of its
//! input, checks the announced size against the configured limit *before* reserving a byte,
//! reserves at most [`RESERVE_AHEAD`] octets for a body that has not arrived, and hands bodies
//! out without copying (`split_to(n).freeze()`). Given a [`BodyPool`]
//! ([`FrameDecoder::decode_raw`]), it collects a body of [`POOL_AT`] octets or more in a buffer
//! of its own instead: what of the body was already in the read buffer is copied there, and the
//! caller reads the rest into it directly ([`FrameDecoder::body_room`]), with no copy.

use bytes::buf::Limit as Limited;
use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{Error, Limit, ProtocolError};
use crate::wire::pool::{BodyPool, Taken};

/// Flag bit: more frames of this message follow.
pub const FLAG_MORE: u8 = 0x01;
/// Flag bit: the size is 8 octets.
pub const FLAG_LONG: u8 = 0x02;
/// Flag bit: this frame is a command.
pub const FLAG_COMMAND: u8 = 0x04;
const RESERVED: u8 = !(FLAG_MORE | FLAG_LONG | FLAG_COMMAND);
/// The most a frame header makes the decoder reserve ahead of the body octets that arrived.
pub const RESERVE_AHEAD: usize = 64 * 1024;
/// Bodies at least this large are collected in a buffer of their own from a [`BodyPool`], when
/// the decoder is given one. Below it, the allocator serves them well. From here on, a body
/// that straddles reads makes the read buffer grow past glibc's first `mmap` threshold (what of
/// the body has arrived plus the next read's room), so each message would cost a fresh block and
/// a page fault per 4 KiB: 64 KiB messages between two processes ran at 0.7-0.9x libzmq with
/// twice the page faults before they were pooled, and 2.1-2.4x after.
pub const POOL_AT: usize = 64 * 1024;

/// One frame as it travels: a data frame (possibly with MORE) or a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// MORE flag (never set on a command).
    pub more: bool,
    /// COMMAND flag.
    pub command: bool,
    /// The body.
    pub body: Bytes,
}

impl Frame {
    /// A data frame.
    pub fn data(body: Bytes, more: bool) -> Frame {
        Frame {
            more,
            command: false,
            body,
        }
    }

    /// A command frame.
    pub fn command(body: Bytes) -> Frame {
        Frame {
            more: false,
            command: true,
            body,
        }
    }
}

/// Writes a frame header for a body of `len` octets: short form up to 255, long form above.
pub fn encode_header(more: bool, command: bool, len: usize, out: &mut impl BufMut) {
    let mut flags = 0;
    if more {
        flags |= FLAG_MORE;
    }
    if command {
        flags |= FLAG_COMMAND;
    }
    if len > 255 {
        out.put_u8(flags | FLAG_LONG);
        out.put_u64(len as u64);
    } else {
        out.put_u8(flags);
        out.put_u8(len as u8);
    }
}

/// A message's parts as data frames on the wire: headers and bodies in one buffer, MORE on
/// every frame but the last. What [`Session::send_encoded`](crate::Session::send_encoded)
/// takes; [`split_message`] reads it back.
pub fn encode_message(parts: &[Bytes]) -> Bytes {
    let mut out = BytesMut::with_capacity(encoded_len(parts));
    let last = parts.len().saturating_sub(1);
    for (i, part) in parts.iter().enumerate() {
        encode_header(i < last, false, part.len(), &mut out);
        out.put_slice(part);
    }
    out.freeze()
}

/// Octets of `parts` as data frames: the length of [`encode_message`]'s result.
pub fn encoded_len(parts: &[Bytes]) -> usize {
    parts.iter().map(|p| header_len(p.len()) + p.len()).sum()
}

/// The parts of a message [`encode_message`] encoded, sharing its buffer. `None` when `wire`
/// is not whole data frames ending with one without MORE.
pub fn split_message(wire: &Bytes) -> Option<crate::Parts> {
    let mut parts = crate::Parts::new();
    let mut at = 0;
    loop {
        let flags = *wire.get(at)?;
        if flags & (FLAG_COMMAND | RESERVED) != 0 {
            return None;
        }
        let (len, header) = if flags & FLAG_LONG != 0 {
            let size: [u8; 8] = wire.get(at + 1..at + 9)?.try_into().ok()?;
            (usize::try_from(u64::from_be_bytes(size)).ok()?, 9)
        } else {
            (usize::from(*wire.get(at + 1)?), 2)
        };
        let start = at + header;
        let end = start.checked_add(len)?;
        if end > wire.len() {
            return None;
        }
        parts.push(wire.slice(start..end));
        at = end;
        if flags & FLAG_MORE == 0 {
            return (at == wire.len()).then_some(parts);
        }
    }
}

/// Header length for a body of `len` octets.
pub fn header_len(len: usize) -> usize {
    if len > 255 {
        9
    } else {
        2
    }
}

/// Writes a whole frame (header and body) into `out`.
pub fn encode_frame(frame: &Frame, out: &mut BytesMut) {
    out.reserve(header_len(frame.body.len()) + frame.body.len());
    encode_header(frame.more, frame.command, frame.body.len(), out);
    out.put_slice(&frame.body);
}

#[derive(Clone, Copy, Debug)]
enum DecodeState {
    Head,
    Size { flags: u8 },
    Body { flags: u8, len: usize },
}

/// Size bounds applied by [`FrameDecoder::decode`] to the next frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest data frame body, already reduced to what the current message may still take.
    pub max_data: u64,
    /// Largest command body.
    pub max_command: u64,
    /// Whether the data limit was imposed by the message budget (for the error report).
    pub data_limit_is_message: bool,
    /// Refuse data frames outright (during the handshake only commands may arrive).
    pub commands_only: bool,
}

/// A frame's body as [`FrameDecoder::decode_raw`] hands it out.
#[derive(Debug)]
pub enum RawBody {
    /// A slice of the read buffer (or the read buffer itself).
    Shared(Bytes),
    /// A buffer of its own, taken from the pool: the caller holds it alone and may open it in
    /// place, then lend it out ([`BodyPool::lend`]).
    Own(Vec<u8>),
}

impl RawBody {
    /// The body as `Bytes` (an own buffer is lent from `pool` when there is one).
    pub fn freeze(self, pool: Option<&BodyPool>) -> Bytes {
        match (self, pool) {
            (RawBody::Shared(b), _) => b,
            (RawBody::Own(v), Some(pool)) => pool.lend(v, 0),
            (RawBody::Own(v), None) => Bytes::from(v),
        }
    }
}

/// A decoded frame whose body may be a buffer of its own.
#[derive(Debug)]
pub struct RawFrame {
    /// MORE flag.
    pub more: bool,
    /// COMMAND flag.
    pub command: bool,
    /// The body.
    pub body: RawBody,
}

/// Resumable frame decoder.
#[derive(Debug)]
pub struct FrameDecoder {
    state: DecodeState,
    /// The body being collected in a buffer of its own (state `Body`, large frames, pool given).
    own: Option<Taken>,
    /// How much of `own` had arrived when [`FrameDecoder::take_progress`] last looked.
    own_seen: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder {
            state: DecodeState::Head,
            own: None,
            own_seen: 0,
        }
    }
}

/// Bodies at least this large leave the read buffer as a buffer of their own (see
/// [`take_body`]).
const OWN_BUFFER_AT: usize = 16 * 1024;

/// Takes a frame body of `len` octets from the front of `src`. A large body that (nearly)
/// fills the buffer takes the buffer itself, after the few octets of the next frame behind it
/// are copied out: the body is then the only owner of its memory, so a codec can decrypt it in
/// place (a shared slice would have to be copied whole), and the read buffer starts afresh
/// rather than being pinned by the message.
fn take_body(src: &mut BytesMut, len: usize) -> Bytes {
    let tail = src.len() - len;
    if len >= OWN_BUFFER_AT && tail.saturating_mul(4) <= len {
        let rest = BytesMut::from(&src[len..]);
        src.truncate(len);
        return std::mem::replace(src, rest).freeze();
    }
    src.split_to(len).freeze()
}

impl FrameDecoder {
    /// A decoder waiting for a frame header.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the decoder is between frames (no partial frame consumed).
    pub fn is_idle(&self) -> bool {
        matches!(self.state, DecodeState::Head)
    }

    /// Decodes at most one frame from the front of `src`. Returns `Ok(None)` when more input is
    /// needed; consumed header octets are remembered, so the next call resumes where this stopped.
    pub fn decode(
        &mut self,
        src: &mut BytesMut,
        limits: FrameLimits,
    ) -> Result<Option<Frame>, Error> {
        Ok(self.decode_raw(src, limits, None)?.map(|f| Frame {
            more: f.more,
            command: f.command,
            body: f.body.freeze(None),
        }))
    }

    /// As [`FrameDecoder::decode`], but a body of [`BodyPool::threshold`] octets or more
    /// ([`POOL_AT`] unless the pool says otherwise) is collected in a buffer from `pool` (when
    /// given) and handed out as [`RawBody::Own`]. While such a body is arriving,
    /// [`FrameDecoder::body_room`] offers its buffer to read into.
    pub fn decode_raw(
        &mut self,
        src: &mut BytesMut,
        limits: FrameLimits,
        pool: Option<&BodyPool>,
    ) -> Result<Option<RawFrame>, Error> {
        loop {
            match self.state {
                DecodeState::Head => {
                    if src.is_empty() {
                        return Ok(None);
                    }
                    let flags = src.get_u8();
                    // RFC 23: bits 7-3 of the flags octet are reserved and "SHALL be zero".
                    if flags & RESERVED != 0 {
                        return Err(ProtocolError::ReservedFlags { flags }.into());
                    }
                    // RFC 23: a command "consists of a single frame": MORE is not allowed on it.
                    if flags & FLAG_COMMAND != 0 && flags & FLAG_MORE != 0 {
                        return Err(ProtocolError::CommandWithMore.into());
                    }
                    if limits.commands_only && flags & FLAG_COMMAND == 0 {
                        return Err(ProtocolError::DataDuringHandshake.into());
                    }
                    self.state = DecodeState::Size { flags };
                }
                DecodeState::Size { flags } => {
                    let len = if flags & FLAG_LONG != 0 {
                        if src.len() < 8 {
                            return Ok(None);
                        }
                        src.get_u64()
                    } else {
                        if src.is_empty() {
                            return Ok(None);
                        }
                        u64::from(src.get_u8())
                    };
                    // Check against the limit before anything is reserved for the body.
                    let (limit, what) = if flags & FLAG_COMMAND != 0 {
                        (limits.max_command, Limit::CommandSize)
                    } else if limits.data_limit_is_message {
                        (limits.max_data, Limit::MessageSize)
                    } else {
                        (limits.max_data, Limit::FrameSize)
                    };
                    if len > limit {
                        return Err(Error::LimitExceeded {
                            what,
                            limit,
                            actual: len,
                        });
                    }
                    // `len <= limit`, and a limit above usize::MAX cannot be honoured anyway.
                    let len = usize::try_from(len).map_err(|_| Error::LimitExceeded {
                        what,
                        limit: usize::MAX as u64,
                        actual: len,
                    })?;
                    match pool {
                        // A pooled buffer holds only what it held before: it grows with the
                        // octets that arrive (see `body_room`).
                        Some(pool) if len >= pool.threshold() => {
                            self.own = Some(pool.take(len));
                            self.own_seen = 0;
                        }
                        // Room for what is announced, but never more than `RESERVE_AHEAD` beyond
                        // what has arrived: a header alone must not make us hold the body's
                        // size. The buffer grows with the bytes that really arrive (the driver
                        // reserves as it reads), so a 256 MiB frame costs 256 MiB only once
                        // 256 MiB were sent.
                        _ if src.len() < len => {
                            src.reserve((len - src.len()).min(RESERVE_AHEAD));
                        }
                        _ => {}
                    }
                    self.state = DecodeState::Body { flags, len };
                }
                DecodeState::Body { flags, len } => {
                    let body = match self.own.take() {
                        Some(mut taken) => {
                            let own = taken.buf();
                            // `body_room` never lets a read go past `len`.
                            debug_assert!(own.len() <= len);
                            own.truncate(len);
                            let n = (len - own.len()).min(src.len());
                            own.extend_from_slice(&src[..n]);
                            src.advance(n);
                            if own.len() < len {
                                self.own = Some(taken);
                                return Ok(None);
                            }
                            self.own_seen = 0;
                            RawBody::Own(taken.into_vec())
                        }
                        None if src.len() < len => return Ok(None),
                        None => RawBody::Shared(take_body(src, len)),
                    };
                    self.state = DecodeState::Head;
                    return Ok(Some(RawFrame {
                        more: flags & FLAG_MORE != 0,
                        command: flags & FLAG_COMMAND != 0,
                        body,
                    }));
                }
            }
        }
    }

    /// How many more octets the current frame needs, when known (for read sizing).
    pub fn bytes_wanted(&self, buffered: usize) -> usize {
        match self.state {
            DecodeState::Head => 1usize.saturating_sub(buffered),
            DecodeState::Size { flags } => {
                (if flags & FLAG_LONG != 0 { 8usize } else { 1 }).saturating_sub(buffered)
            }
            DecodeState::Body { len, .. } => {
                let have = self.own.as_ref().map_or(0, |t| t.as_vec().len());
                len.saturating_sub(have).saturating_sub(buffered)
            }
        }
    }

    /// While a large body is being collected in a buffer of its own, that buffer, limited to the
    /// octets the body still lacks: reading into it puts the body where it will stay, with no
    /// copy. Its spare room grows with what has arrived (doubling, up to the body's size), so a
    /// header alone never makes us hold the body's size. Call [`FrameDecoder::decode_raw`]
    /// afterwards, as after any read.
    pub fn body_room(&mut self) -> Option<Limited<&mut Vec<u8>>> {
        let DecodeState::Body { len, .. } = self.state else {
            return None;
        };
        let own = self.own.as_mut()?.buf();
        let lacking = len.saturating_sub(own.len());
        if lacking == 0 {
            return None;
        }
        if own.capacity() == own.len() {
            own.reserve_exact(lacking.min(own.len().max(RESERVE_AHEAD)));
        }
        Some(own.limit(lacking))
    }

    /// Whether octets reached the body buffer since the last call (they count as traffic).
    pub fn take_progress(&mut self) -> bool {
        let have = self.own.as_ref().map_or(0, |t| t.as_vec().len());
        let moved = have > self.own_seen;
        self.own_seen = have;
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: FrameLimits = FrameLimits {
        max_data: 1 << 20,
        max_command: 1024,
        data_limit_is_message: false,
        commands_only: false,
    };

    #[test]
    fn a_message_encoded_once_is_its_frames_on_the_wire_and_splits_back() {
        let long = Bytes::from(vec![7u8; 256]);
        let parts = [Bytes::from_static(b"ab"), Bytes::new(), long.clone()];
        let wire = encode_message(&parts);
        let mut want = b"\x01\x02ab\x01\x00\x02\x00\x00\x00\x00\x00\x00\x01\x00".to_vec();
        want.extend_from_slice(&long);
        assert_eq!(&wire[..], &want[..]);
        assert_eq!(encoded_len(&parts), wire.len());
        // The same bytes the session writes for these parts, frame by frame.
        let mut framed = BytesMut::new();
        for (i, p) in parts.iter().enumerate() {
            encode_frame(&Frame::data(p.clone(), i < 2), &mut framed);
        }
        assert_eq!(&wire[..], &framed[..]);
        let back = split_message(&wire).unwrap();
        assert_eq!(&back[..], &parts[..]);
        assert_eq!(
            &encode_message(&[Bytes::from_static(b"x")])[..],
            b"\x00\x01x"
        );
    }

    #[test]
    fn split_message_refuses_what_is_not_whole_data_frames() {
        for bad in [
            &b""[..],
            b"\x00",                                 // no size
            b"\x00\x02a",                            // body cut short
            b"\x01\x01a",                            // MORE, then nothing
            b"\x00\x01ab",                           // bytes after the last frame
            b"\x04\x01a",                            // a command
            b"\x08\x01a",                            // a reserved flag
            b"\x02\x00\x00\x00",                     // long size cut short
            b"\x02\xff\xff\xff\xff\xff\xff\xff\xff", // a size past any buffer
        ] {
            assert!(
                split_message(&Bytes::copy_from_slice(bad)).is_none(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_large_body_owns_its_buffer_and_the_next_frame_survives() {
        let len = 64 * 1024;
        let mut wire = BytesMut::new();
        encode_frame(&Frame::data(Bytes::from(vec![5u8; len]), false), &mut wire);
        encode_frame(&Frame::data(Bytes::from_static(b"next"), false), &mut wire);
        let mut d = FrameDecoder::default();
        let body = d.decode(&mut wire, LIMITS).unwrap().unwrap().body;
        assert_eq!(body.len(), len);
        assert!(
            body.try_into_mut().is_ok(),
            "the only owner: a codec may decrypt it in place"
        );
        let next = d.decode(&mut wire, LIMITS).unwrap().unwrap();
        assert_eq!(&next.body[..], b"next");
        assert!(wire.is_empty());
    }

    /// Feeds `wire` as a driver would, in reads of at most `most` octets, into `body_room` when
    /// offered; returns the frames, each with whether its body was a buffer of its own.
    fn read_all(wire: &[u8], most: usize, pool: &BodyPool) -> Vec<(Frame, bool)> {
        let mut d = FrameDecoder::new();
        let mut src = BytesMut::new();
        let mut rest = wire;
        let mut out = vec![];
        loop {
            while let Some(f) = d.decode_raw(&mut src, LIMITS, Some(pool)).unwrap() {
                let own = matches!(f.body, RawBody::Own(_));
                out.push((
                    Frame {
                        more: f.more,
                        command: f.command,
                        body: f.body.freeze(Some(pool)),
                    },
                    own,
                ));
            }
            if rest.is_empty() {
                return out;
            }
            let n = match d.body_room() {
                Some(mut room) => {
                    let n = rest.len().min(most).min(room.chunk_mut().len());
                    assert!(room.remaining_mut() >= n);
                    room.put_slice(&rest[..n]);
                    n
                }
                None => {
                    let n = rest.len().min(most);
                    src.extend_from_slice(&rest[..n]);
                    n
                }
            };
            rest = &rest[n..];
        }
    }

    #[test]
    fn a_large_body_is_read_into_its_own_buffer_however_the_reads_fall() {
        let big: Vec<u8> = (0..POOL_AT * 3 + 17).map(|i| (i % 251) as u8).collect();
        let mut wire = BytesMut::new();
        encode_frame(&Frame::data(Bytes::from_static(b"head"), true), &mut wire);
        encode_frame(&Frame::data(Bytes::from(big.clone()), true), &mut wire);
        encode_frame(&Frame::data(Bytes::from_static(b"tail"), false), &mut wire);
        encode_frame(
            &Frame::data(Bytes::from(vec![9u8; POOL_AT]), false),
            &mut wire,
        );
        for most in [1, 7, 4096, 65536, 1 << 20] {
            let pool = BodyPool::new(8 << 20);
            let frames = read_all(&wire, most, &pool);
            assert_eq!(frames.len(), 4, "reads of {most}");
            assert_eq!(&frames[0].0.body[..], b"head");
            assert_eq!(frames[1].0.body, big, "reads of {most}");
            assert!(frames[1].0.more);
            assert_eq!(&frames[2].0.body[..], b"tail");
            assert_eq!(frames[3].0.body.len(), POOL_AT);
            let owned: Vec<bool> = frames.iter().map(|f| f.1).collect();
            assert_eq!(owned, [false, true, false, true], "reads of {most}");
        }
    }

    #[test]
    fn a_header_alone_gets_no_more_pooled_room_than_reserve_ahead() {
        let limits = FrameLimits {
            max_data: 1 << 30,
            ..LIMITS
        };
        let pool = BodyPool::new(8 << 20);
        let mut d = FrameDecoder::new();
        // A header announcing 256 MiB, and then the body only as it arrives.
        let mut src = BytesMut::from(&b"\x02\x00\x00\x00\x00\x10\x00\x00\x00"[..]);
        assert!(d
            .decode_raw(&mut src, limits, Some(&pool))
            .unwrap()
            .is_none());
        let room = d.body_room().unwrap();
        assert!(room.get_ref().capacity() <= RESERVE_AHEAD);
        assert_eq!(Limited::limit(&room), 256 << 20);
        // After 1 MiB has arrived the buffer holds at most about twice that.
        let mut arrived = 0;
        while arrived < 1 << 20 {
            let mut room = d.body_room().unwrap();
            let n = room.chunk_mut().len().min((1 << 20) - arrived);
            room.put_bytes(1, n);
            arrived += n;
            assert!(d
                .decode_raw(&mut src, limits, Some(&pool))
                .unwrap()
                .is_none());
        }
        let room = d.body_room().unwrap();
        assert!(room.get_ref().capacity() <= (2 << 20) + RESERVE_AHEAD);
        assert_eq!(d.bytes_wanted(0), (256 << 20) - (1 << 20));
    }

    #[test]
    fn the_next_large_body_lands_in_the_buffer_the_last_one_gave_back() {
        let mut wire = BytesMut::new();
        for _ in 0..2 {
            encode_frame(
                &Frame::data(Bytes::from(vec![3u8; 1 << 20]), false),
                &mut wire,
            );
        }
        let pool = BodyPool::new(4 << 20);
        let mut d = FrameDecoder::new();
        let first = d
            .decode_raw(&mut wire, LIMITS, Some(&pool))
            .unwrap()
            .unwrap()
            .body
            .freeze(Some(&pool));
        let at = first.as_ptr();
        drop(first);
        let second = d
            .decode_raw(&mut wire, LIMITS, Some(&pool))
            .unwrap()
            .unwrap()
            .body
            .freeze(Some(&pool));
        assert_eq!(second.as_ptr(), at);
        assert_eq!(second.len(), 1 << 20);
        // Without a pool the decoder hands out plain buffers, as before.
        let mut wire = BytesMut::new();
        encode_frame(
            &Frame::data(Bytes::from(vec![3u8; 1 << 20]), false),
            &mut wire,
        );
        let f = FrameDecoder::new()
            .decode(&mut wire, LIMITS)
            .unwrap()
            .unwrap();
        assert!(f.body.try_into_mut().is_ok());
    }

    fn decode_all(wire: &[u8]) -> Result<Vec<Frame>, Error> {
        let mut d = FrameDecoder::new();
        let mut src = BytesMut::from(wire);
        let mut out = vec![];
        while let Some(f) = d.decode(&mut src, LIMITS)? {
            out.push(f);
        }
        Ok(out)
    }

    #[test]
    fn short_data_frame_bytes() {
        let mut out = BytesMut::new();
        encode_frame(&Frame::data(Bytes::from_static(b"hi"), false), &mut out);
        assert_eq!(&out[..], b"\x00\x02hi");
        let mut out = BytesMut::new();
        encode_frame(&Frame::data(Bytes::from_static(b"hi"), true), &mut out);
        assert_eq!(&out[..], b"\x01\x02hi");
    }

    #[test]
    fn command_frame_bytes() {
        let mut out = BytesMut::new();
        encode_frame(
            &Frame::command(Bytes::from_static(b"\x04PING\x00\x00")),
            &mut out,
        );
        assert_eq!(&out[..], b"\x04\x07\x04PING\x00\x00");
    }

    #[test]
    fn long_frame_bytes() {
        let body = Bytes::from(vec![7u8; 256]);
        let mut out = BytesMut::new();
        encode_frame(&Frame::data(body.clone(), true), &mut out);
        assert_eq!(&out[..9], b"\x03\x00\x00\x00\x00\x00\x00\x01\x00");
        assert_eq!(&out[9..], &body[..]);
        let mut out = BytesMut::new();
        encode_frame(&Frame::command(body), &mut out);
        assert_eq!(out[0], 0x06);
    }

    #[test]
    fn boundary_255_is_short_256_is_long() {
        assert_eq!(header_len(255), 2);
        assert_eq!(header_len(256), 9);
        let mut out = BytesMut::new();
        encode_header(false, false, 255, &mut out);
        assert_eq!(&out[..], b"\x00\xff");
    }

    #[test]
    fn empty_frame_round_trips() {
        let frames = decode_all(b"\x00\x00").unwrap();
        assert_eq!(frames, vec![Frame::data(Bytes::new(), false)]);
    }

    #[test]
    fn long_form_for_small_body_is_accepted() {
        // Senders may use the long form for any size.
        let frames = decode_all(b"\x02\x00\x00\x00\x00\x00\x00\x00\x03abc").unwrap();
        assert_eq!(frames[0].body, Bytes::from_static(b"abc"));
    }

    #[test]
    fn every_split_decodes_the_same() {
        let mut wire = BytesMut::new();
        encode_frame(&Frame::data(Bytes::from_static(b"one"), true), &mut wire);
        encode_frame(&Frame::data(Bytes::from(vec![1u8; 300]), false), &mut wire);
        encode_frame(&Frame::command(Bytes::from_static(b"\x04PONG")), &mut wire);
        let whole = decode_all(&wire).unwrap();
        assert_eq!(whole.len(), 3);
        for split in 0..wire.len() {
            let mut d = FrameDecoder::new();
            let mut src = BytesMut::from(&wire[..split]);
            let mut got = vec![];
            while let Some(f) = d.decode(&mut src, LIMITS).unwrap() {
                got.push(f);
            }
            src.extend_from_slice(&wire[split..]);
            while let Some(f) = d.decode(&mut src, LIMITS).unwrap() {
                got.push(f);
            }
            assert_eq!(got, whole, "split at {split}");
        }
    }

    #[test]
    fn reserved_flag_bits_are_refused() {
        for flags in [0x08u8, 0x10, 0x80, 0xFF] {
            let err = decode_all(&[flags, 0]).unwrap_err();
            assert!(matches!(
                err,
                Error::Protocol(ProtocolError::ReservedFlags { .. })
            ));
        }
    }

    #[test]
    fn more_on_a_command_is_refused() {
        assert_eq!(
            decode_all(b"\x05\x00").unwrap_err(),
            Error::Protocol(ProtocolError::CommandWithMore)
        );
    }

    #[test]
    fn huge_length_is_refused_without_allocating() {
        // 2^63: must be refused from the header alone, never reserved.
        let mut src = BytesMut::from(&b"\x02\x80\x00\x00\x00\x00\x00\x00\x00"[..]);
        let cap_before = src.capacity();
        let err = FrameDecoder::new().decode(&mut src, LIMITS).unwrap_err();
        assert_eq!(
            err,
            Error::LimitExceeded {
                what: Limit::FrameSize,
                limit: 1 << 20,
                actual: 1 << 63
            }
        );
        assert!(src.capacity() <= cap_before.max(64));
        // u64::MAX likewise, for an unbounded-looking limit.
        let mut src = BytesMut::from(&b"\x02\xff\xff\xff\xff\xff\xff\xff\xff"[..]);
        let limits = FrameLimits {
            max_data: u64::MAX - 1,
            ..LIMITS
        };
        assert!(FrameDecoder::new().decode(&mut src, limits).is_err());
    }

    #[test]
    fn an_announced_length_reserves_little_before_its_body_arrives() {
        // A header announcing 256 MiB, within the limit: the decoder waits for the body but
        // holds at most RESERVE_AHEAD for it (it used to reserve the whole announced size).
        let limits = FrameLimits {
            max_data: 256 << 20,
            ..LIMITS
        };
        let mut src = BytesMut::from(&b"\x02\x00\x00\x00\x00\x10\x00\x00\x00"[..]);
        let mut d = FrameDecoder::new();
        assert_eq!(d.decode(&mut src, limits).unwrap(), None);
        assert!(
            src.capacity() <= RESERVE_AHEAD + 64,
            "reserved {} octets for a body that has not arrived",
            src.capacity()
        );
        assert_eq!(d.bytes_wanted(src.len()), 256 << 20);
    }

    #[test]
    fn oversized_command_is_refused() {
        let err = decode_all(b"\x06\x00\x00\x00\x00\x00\x00\x04\x01").unwrap_err();
        assert!(matches!(
            err,
            Error::LimitExceeded {
                what: Limit::CommandSize,
                ..
            }
        ));
    }

    #[test]
    fn body_is_zero_copy() {
        let mut src = BytesMut::from(&b"\x00\x05hello"[..]);
        let ptr = src.as_ptr();
        let f = FrameDecoder::new()
            .decode(&mut src, LIMITS)
            .unwrap()
            .unwrap();
        assert_eq!(f.body.as_ptr(), ptr.wrapping_add(2));
    }
}

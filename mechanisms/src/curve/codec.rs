//! CURVE's traffic phase (RFC 26 §"The MESSAGE Command"), as libzmq 4.3.5 puts it on the wire:
//!
//! ```text
//! wire frame = flags %x00 (%x02 when long) + size + body      ; never MORE, never COMMAND
//! body       = %d7 "MESSAGE" nonce box                        ; 33 octets + payload
//! nonce      = 8OCTET                                         ; after "CurveZMQMESSAGEC"/"…S"
//! box        = tag(16) ciphertext( inner-flags payload )      ; under the key from the handshake
//! inner-flags: bit 0 MORE, bit 1 COMMAND, bits 2-7 zero
//! ```
//!
//! The outer frame's flags are not authenticated, so they are ignored on receive: MORE and
//! COMMAND come only from inside the box.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use zmtp_core::error::MalformedKind;
use zmtp_core::wire::pool::BodyPool;
use zmtp_core::{Command, Error, Frame, MessageCodec, Opened, ProtocolError, TransmitQueue};

use super::crypto::{PrecomputedBox, Tag};
use super::nonce::{self, ReceiveWindow, SendCounter};

const NAME: &[u8; 8] = b"\x07MESSAGE";
/// Name, short nonce and tag: where the ciphertext starts.
const SEALED_AT: usize = 8 + 8 + 16;
/// Octets a MESSAGE body adds to the frame it carries: name, nonce, tag, inner flags.
pub(crate) const OVERHEAD: usize = SEALED_AT + 1;

const INNER_MORE: u8 = 0x01;
const INNER_COMMAND: u8 = 0x02;

/// Seals and opens MESSAGE boxes with the key both sides agreed in the handshake.
#[derive(Debug)]
pub(crate) struct CurveCodec {
    key: Box<dyn PrecomputedBox>,
    send_prefix: &'static [u8; 16],
    receive_prefix: &'static [u8; 16],
    sent: SendCounter,
    received: ReceiveWindow,
    /// Where boxes are sealed. Each sealed body is split off it; once the bodies before were
    /// written and dropped, the next `reserve` takes their memory back, so sealing allocates
    /// (and the kernel zeroes fresh pages) only while earlier bodies are still in flight.
    scratch: BytesMut,
}

impl CurveCodec {
    /// The client's codec: it sends `…MESSAGEC` and receives `…MESSAGES`.
    pub(crate) fn client(
        key: Box<dyn PrecomputedBox>,
        sent: SendCounter,
        received: ReceiveWindow,
    ) -> CurveCodec {
        CurveCodec {
            key,
            send_prefix: nonce::MESSAGE_FROM_CLIENT,
            receive_prefix: nonce::MESSAGE_FROM_SERVER,
            sent,
            received,
            scratch: BytesMut::new(),
        }
    }

    /// The server's codec.
    pub(crate) fn server(
        key: Box<dyn PrecomputedBox>,
        sent: SendCounter,
        received: ReceiveWindow,
    ) -> CurveCodec {
        CurveCodec {
            key,
            send_prefix: nonce::MESSAGE_FROM_SERVER,
            receive_prefix: nonce::MESSAGE_FROM_CLIENT,
            sent,
            received,
            scratch: BytesMut::new(),
        }
    }

    /// The MESSAGE body for one frame. A large one is sealed into a buffer from `buffers`
    /// (the transmit queue's), which comes back once written: a fresh megabyte per message
    /// would cost its page faults every time.
    pub(crate) fn seal_body(
        &mut self,
        frame: &Frame,
        buffers: Option<&BodyPool>,
    ) -> Result<Bytes, Error> {
        let n = self.sent.take()?;
        let mut flags = 0;
        if frame.more {
            flags |= INNER_MORE;
        }
        if frame.command {
            flags |= INNER_COMMAND;
        }
        let len = OVERHEAD + frame.body.len();
        // The payload is copied once, into the buffer it is then encrypted in: a recycled one
        // for a large body, else the scratch buffer.
        if let Some(pool) = buffers.filter(|p| len >= p.threshold()) {
            let mut body = pool.take(len).into_vec();
            body.reserve_exact(len);
            lay_out(&mut body, n, flags, &frame.body);
            self.seal_in(n, &mut body)?;
            return Ok(pool.lend(body, 0));
        }
        self.scratch.clear();
        self.scratch.reserve(len);
        lay_out(&mut self.scratch, n, flags, &frame.body);
        let mut body = self.scratch.split();
        self.seal_in(n, &mut body)?;
        // The sealed body leaves; the rest of the buffer stays for the next one.
        Ok(body.freeze())
    }

    /// Seals a MESSAGE body laid out in place (name, nonce, room for the tag, flags, payload).
    fn seal_in(&self, n: u64, body: &mut [u8]) -> Result<(), Error> {
        let tag = self
            .key
            .seal(&nonce::short(self.send_prefix, n), &mut body[SEALED_AT..])?;
        body[16..SEALED_AT].copy_from_slice(&tag);
        Ok(())
    }

    /// Opens a MESSAGE body in place: the frame it carries starts at the returned offset.
    fn open_box(&mut self, body: &mut [u8]) -> Result<Opened, Error> {
        if body.len() < NAME.len() || &body[..NAME.len()] != NAME {
            // A command name is at most 255 octets: its first 256 hold it whole.
            let head = Bytes::copy_from_slice(&body[..body.len().min(256)]);
            let got = Command::parse(head)
                .map(|c| c.name_lossy())
                .unwrap_or_default();
            return Err(ProtocolError::UnexpectedCommand {
                expected: "MESSAGE",
                got,
            }
            .into());
        }
        // A box holds at least its tag and the flags octet (libzmq: MALFORMED_COMMAND_MESSAGE).
        if body.len() < OVERHEAD {
            return Err(ProtocolError::MalformedCommand(MalformedKind::Message).into());
        }
        let n = nonce::read_short(&body[8..16]);
        self.received.check(n)?;
        let mut tag: Tag = [0; 16];
        tag.copy_from_slice(&body[16..SEALED_AT]);
        self.key.open(
            &nonce::short(self.receive_prefix, n),
            &mut body[SEALED_AT..],
            &tag,
        )?;
        self.received.commit(n);
        let flags = body[SEALED_AT];
        // RFC 26: flag bits 7-2 "are reserved for future use and MUST be zero".
        if flags & !(INNER_MORE | INNER_COMMAND) != 0 {
            return Err(ProtocolError::MalformedCommand(MalformedKind::Message).into());
        }
        let more = flags & INNER_MORE != 0;
        let command = flags & INNER_COMMAND != 0;
        if more && command {
            return Err(ProtocolError::CommandWithMore.into());
        }
        Ok(Opened {
            more,
            command,
            start: OVERHEAD,
        })
    }
}

/// Writes a MESSAGE body before sealing: name, nonce, room for the tag, inner flags, payload.
fn lay_out(out: &mut impl BufMut, n: u64, flags: u8, payload: &[u8]) {
    out.put_slice(NAME);
    out.put_u64(n);
    out.put_bytes(0, 16);
    out.put_u8(flags);
    out.put_slice(payload);
}

impl MessageCodec for CurveCodec {
    fn seal(&mut self, frame: Frame, out: &mut TransmitQueue) -> Result<(), Error> {
        let body = self.seal_body(&frame, out.buffers())?;
        // libzmq sends every MESSAGE as a plain data frame; MORE travels inside the box.
        out.put_frame(false, false, body);
        Ok(())
    }

    fn open(&mut self, frame: Frame) -> Result<Frame, Error> {
        // Decrypt in place when we hold the only reference; otherwise copy the body once.
        let mut whole = match frame.body.try_into_mut() {
            Ok(whole) => whole,
            Err(shared) => BytesMut::from(&shared[..]),
        };
        let opened = self.open_box(&mut whole)?;
        whole.advance(opened.start);
        Ok(Frame {
            more: opened.more,
            command: opened.command,
            body: whole.freeze(),
        })
    }

    fn open_in_place(
        &mut self,
        _more: bool,
        _command: bool,
        body: &mut [u8],
    ) -> Result<Option<Opened>, Error> {
        self.open_box(body).map(Some)
    }

    fn overhead(&self) -> u64 {
        OVERHEAD as u64
    }
}

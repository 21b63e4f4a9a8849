//! Raw declarations of the parts of the libzmq 4.3.5 C API this crate uses.
//!
//! Written from `zmq.h`; only the stable (non-DRAFT) API is declared because
//! the library is built without `ZMQ_BUILD_DRAFT_API`.

use std::ffi::{c_char, c_int, c_void};

/// `zmq_msg_t`: 64 opaque bytes, aligned like a pointer.
#[repr(C)]
pub(crate) struct zmq_msg_t {
    pub(crate) bytes: [u8; 64],
    pub(crate) align: [*mut c_void; 0],
}

const _: () = assert!(std::mem::size_of::<zmq_msg_t>() == 64);
const _: () = assert!(std::mem::align_of::<zmq_msg_t>() == std::mem::align_of::<*mut c_void>());

pub(crate) const ZMQ_HAUSNUMERO: c_int = 156_384_712;
pub(crate) const ZMQ_BLOCKY: c_int = 70;
pub(crate) const ZMQ_DONTWAIT: c_int = 1;
pub(crate) const ZMQ_SNDMORE: c_int = 2;

extern "C" {
    pub(crate) fn zmq_errno() -> c_int;
    pub(crate) fn zmq_strerror(errnum: c_int) -> *const c_char;
    pub(crate) fn zmq_version(major: *mut c_int, minor: *mut c_int, patch: *mut c_int);
    pub(crate) fn zmq_has(capability: *const c_char) -> c_int;

    pub(crate) fn zmq_ctx_new() -> *mut c_void;
    pub(crate) fn zmq_ctx_term(context: *mut c_void) -> c_int;
    pub(crate) fn zmq_ctx_set(context: *mut c_void, option: c_int, optval: c_int) -> c_int;

    pub(crate) fn zmq_socket(context: *mut c_void, kind: c_int) -> *mut c_void;
    pub(crate) fn zmq_close(socket: *mut c_void) -> c_int;
    pub(crate) fn zmq_setsockopt(
        socket: *mut c_void,
        option: c_int,
        optval: *const c_void,
        optvallen: usize,
    ) -> c_int;
    pub(crate) fn zmq_getsockopt(
        socket: *mut c_void,
        option: c_int,
        optval: *mut c_void,
        optvallen: *mut usize,
    ) -> c_int;
    pub(crate) fn zmq_bind(socket: *mut c_void, addr: *const c_char) -> c_int;
    pub(crate) fn zmq_connect(socket: *mut c_void, addr: *const c_char) -> c_int;
    pub(crate) fn zmq_unbind(socket: *mut c_void, addr: *const c_char) -> c_int;
    pub(crate) fn zmq_disconnect(socket: *mut c_void, addr: *const c_char) -> c_int;
    pub(crate) fn zmq_send(
        socket: *mut c_void,
        buf: *const c_void,
        len: usize,
        flags: c_int,
    ) -> c_int;
    pub(crate) fn zmq_socket_monitor(
        socket: *mut c_void,
        addr: *const c_char,
        events: c_int,
    ) -> c_int;

    pub(crate) fn zmq_msg_init(msg: *mut zmq_msg_t) -> c_int;
    pub(crate) fn zmq_msg_recv(msg: *mut zmq_msg_t, socket: *mut c_void, flags: c_int) -> c_int;
    pub(crate) fn zmq_msg_close(msg: *mut zmq_msg_t) -> c_int;
    pub(crate) fn zmq_msg_data(msg: *mut zmq_msg_t) -> *mut c_void;
    pub(crate) fn zmq_msg_size(msg: *const zmq_msg_t) -> usize;
    pub(crate) fn zmq_msg_more(msg: *const zmq_msg_t) -> c_int;
    pub(crate) fn zmq_msg_gets(msg: *const zmq_msg_t, property: *const c_char) -> *const c_char;

    pub(crate) fn zmq_z85_encode(dest: *mut c_char, data: *const u8, size: usize) -> *mut c_char;
    pub(crate) fn zmq_z85_decode(dest: *mut u8, string: *const c_char) -> *mut u8;
    pub(crate) fn zmq_curve_keypair(z85_public: *mut c_char, z85_secret: *mut c_char) -> c_int;
    pub(crate) fn zmq_curve_public(z85_public: *mut c_char, z85_secret: *const c_char) -> c_int;
}

//! The context: the runtime a program's blocking sockets run on (libzmq's I/O threads).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use tokio::runtime::{Builder, Handle, Runtime};
use tokio_util::task::TaskTracker;
use zmtp_core::SocketType;

use super::error::Error;
use super::socket::Socket;
use crate::SocketOptions;

/// How long the runtime's shutdown waits for tasks still running after every socket has
/// lingered (a host name lookup in flight, say) before it abandons them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// A shared handle to a tokio runtime that runs the connections of every socket made from it
/// (libzmq's context and its I/O threads). Cheap to clone; `Send + Sync`.
///
/// When the last handle goes (every socket holds one), the context waits for each closed
/// socket to linger (`ZMQ_LINGER`, as `zmq_ctx_term` does), then stops the runtime.
///
/// Its methods block: call them from ordinary threads, not from async code (there, use
/// [`crate::Socket`] directly).
#[derive(Clone, Debug)]
pub struct Context {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Taken only by `drop`.
    runtime: Option<Runtime>,
    /// The closes of dropped sockets, lingering.
    closing: TaskTracker,
    io_threads: usize,
}

impl Context {
    /// A context with one I/O thread, as libzmq's default.
    ///
    /// # Panics
    /// When the runtime cannot start (the system refuses a thread or an epoll instance);
    /// [`Context::with_io_threads`] returns that error instead.
    pub fn new() -> Context {
        match Context::with_io_threads(1) {
            Ok(context) => context,
            Err(e) => panic!("zmtp::blocking::Context::new: {e}"),
        }
    }

    /// A context whose runtime has `threads` worker threads (libzmq's `ZMQ_IO_THREADS`, fixed
    /// here when the context is made). One is enough for most programs: in the measurements
    /// of the [module docs](super) a second one bought nothing on two cores.
    pub fn with_io_threads(threads: usize) -> Result<Context, Error> {
        if threads == 0 || threads > 1024 {
            return Err(Error::OutOfRange {
                option: "ZMQ_IO_THREADS",
                value: threads as i64,
                expected: "1..=1024",
            });
        }
        let runtime = Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("zmtp-io")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        Ok(Context {
            shared: Arc::new(Shared {
                runtime: Some(runtime),
                closing: TaskTracker::new(),
                io_threads: threads,
            }),
        })
    }

    /// The number of I/O threads (`ZMQ_IO_THREADS`).
    pub fn get_io_threads(&self) -> Result<i32, Error> {
        Ok(self.shared.io_threads as i32)
    }

    /// A new socket with default options (`zmq_socket`). Set its options, then bind or
    /// connect it.
    pub fn socket(&self, socket_type: SocketType) -> Result<Socket, Error> {
        Ok(Socket::new(
            self.clone(),
            socket_type,
            SocketOptions::default(),
        ))
    }

    /// A new socket starting from `options` instead of the defaults, for what has no libzmq
    /// setter here (an authenticator with its timeout, metadata, handshake limits). The
    /// setters still apply on top until the first bind or connect.
    pub fn socket_with_options(
        &self,
        socket_type: SocketType,
        options: SocketOptions,
    ) -> Result<Socket, Error> {
        Ok(Socket::new(self.clone(), socket_type, options))
    }

    fn runtime(&self) -> &Runtime {
        match &self.shared.runtime {
            Some(runtime) => runtime,
            // Only `Shared::drop` takes it, and no handle outlives that.
            None => unreachable!("runtime taken before the last context handle went"),
        }
    }

    /// Runs `future` to completion on the calling thread, the runtime's workers driving the
    /// connections meanwhile.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime().block_on(future)
    }

    /// Polls `future` once, inside the runtime: its output if it needs no waiting (the
    /// common case of a send with room or a receive with a message queued), `None` otherwise.
    /// Cheaper than `block_on` and the answer to DONTWAIT.
    pub(crate) fn poll_once<F: Future>(&self, future: F) -> Option<F::Output> {
        let _entered = self.runtime().enter();
        let mut future = pin!(future);
        match future
            .as_mut()
            .poll(&mut TaskContext::from_waker(Waker::noop()))
        {
            Poll::Ready(output) => Some(output),
            Poll::Pending => None,
        }
    }

    /// Closes a socket in the background, letting it linger; the last handle's drop waits.
    pub(crate) fn linger(&self, socket: crate::Socket, linger: Duration) {
        self.shared
            .closing
            .spawn_on(socket.close(linger), self.runtime().handle());
    }
}

impl Default for Context {
    fn default() -> Context {
        Context::new()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        self.closing.close();
        if Handle::try_current().is_ok() {
            // Dropped inside async code, which must not block: the lingering is cut short.
            runtime.shutdown_background();
            return;
        }
        runtime.block_on(self.closing.wait());
        runtime.shutdown_timeout(SHUTDOWN_GRACE);
    }
}

//! A handler running as an actor behind a bounded channel: the `inproc://zeromq.zap.01` of
//! this crate, without sockets.
//!
//! ```text
//! server A ─┐                     ┌──────────────┐
//! server B ─┼── ZapClient (mpsc) ─►  ZapService  ├─► handler.authenticate(request)
//! server C ─┘     bounded         └──────────────┘      (up to `max_in_flight` at once)
//! ```
//!
//! Every socket that clones the same [`ZapClient`] shares one handler. When the queue is full a
//! server waits (its own ZAP timeout bounds the wait); when the service is gone (stopped, or its
//! runtime shut down) every request fails at once with [`ZapFailure::Unspecified`], which is
//! what a libzmq server reports when nobody answers at the ZAP endpoint.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;
use zmtp_core::{AuthRequest, AuthResult, ZapFailure};

use crate::Authenticator;

/// Default queue length of a service.
pub const DEFAULT_QUEUE: usize = 256;

/// Default number of requests a service lets its handler work on at once.
pub const DEFAULT_IN_FLIGHT: usize = 64;

type Job = (AuthRequest, oneshot::Sender<AuthResult>);

/// Starts a handler as a service; see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct ZapService {
    queue: usize,
    max_in_flight: usize,
}

impl Default for ZapService {
    fn default() -> Self {
        ZapService {
            queue: DEFAULT_QUEUE,
            max_in_flight: DEFAULT_IN_FLIGHT,
        }
    }
}

impl ZapService {
    /// A service with the default queue and concurrency.
    pub fn new() -> ZapService {
        ZapService::default()
    }

    /// Requests waiting beyond this number make servers wait (at least 1).
    pub fn queue(mut self, len: usize) -> ZapService {
        self.queue = len.max(1);
        self
    }

    /// How many requests the handler may work on at once (at least 1; 1 answers strictly in
    /// order, as a single-threaded RFC 27 handler does).
    pub fn max_in_flight(mut self, n: usize) -> ZapService {
        self.max_in_flight = n.max(1);
        self
    }

    /// Spawns the service on the current tokio runtime. Panics outside a runtime, like
    /// `tokio::spawn`.
    pub fn spawn(self, handler: Arc<dyn Authenticator>) -> (ZapClient, ZapServiceHandle) {
        let (tx, mut rx) = mpsc::channel::<Job>(self.queue);
        let limit = Arc::new(Semaphore::new(self.max_in_flight));
        let task = tokio::spawn(async move {
            while let Some((request, reply)) = rx.recv().await {
                let Ok(permit) = limit.clone().acquire_owned().await else {
                    break;
                };
                let handler = handler.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    let mut reply = reply;
                    // A server that gave up (its ZAP timeout) drops its receiver: the handler's
                    // work for it is cancelled, so a stuck handler cannot pin the permits.
                    tokio::select! {
                        answer = handler.authenticate(request) => {
                            let _ = reply.send(answer);
                        }
                        _ = reply.closed() => {}
                    }
                });
            }
        });
        (ZapClient { tx }, ZapServiceHandle { task: Some(task) })
    }
}

/// The servers' side of a service: an [`Authenticator`] that forwards to it. Cheap to clone.
#[derive(Clone)]
pub struct ZapClient {
    tx: mpsc::Sender<Job>,
}

impl fmt::Debug for ZapClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZapClient")
            .field("closed", &self.tx.is_closed())
            .finish()
    }
}

impl ZapClient {
    /// Whether the service has stopped.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

#[async_trait]
impl Authenticator for ZapClient {
    async fn authenticate(&self, request: AuthRequest) -> AuthResult {
        let (tx, rx) = oneshot::channel();
        if self.tx.send((request, tx)).await.is_err() {
            return Err(ZapFailure::Unspecified);
        }
        // The handler task dropping the sender (it panicked, or the runtime is going away) is
        // "nobody answered".
        rx.await.unwrap_or(Err(ZapFailure::Unspecified))
    }
}

/// Owns the service task: dropping it (or [`ZapServiceHandle::stop`]) stops the service, and
/// every queued and later request fails with [`ZapFailure::Unspecified`] (requests a handler is
/// already working on still get their answer). Keep it alive as long as the service is needed:
/// `let (client, _) = …` drops it at once.
#[must_use = "dropping the handle stops the service"]
#[derive(Debug)]
pub struct ZapServiceHandle {
    task: Option<JoinHandle<()>>,
}

impl ZapServiceHandle {
    /// Stops the service now.
    pub fn stop(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Keeps the service running for the rest of the runtime's life.
    pub fn detach(mut self) {
        self.task.take();
    }
}

impl Drop for ZapServiceHandle {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use zmtp_core::{AuthReply, MechanismName};

    use super::*;
    use crate::FnAuthenticator;

    fn request(domain: &str) -> AuthRequest {
        AuthRequest {
            domain: domain.into(),
            address: "127.0.0.1".into(),
            identity: Default::default(),
            mechanism: MechanismName::NULL,
            credentials: vec![],
        }
    }

    #[tokio::test]
    async fn many_servers_share_one_handler() {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let handler = FnAuthenticator(move |r: &AuthRequest| {
            seen.fetch_add(1, Ordering::SeqCst);
            Ok(if r.domain == "ok" {
                AuthReply::allow("u")
            } else {
                AuthReply::deny("no")
            })
        });
        let (client, _handle) = ZapService::new().queue(2).spawn(Arc::new(handler));
        let mut tasks = Vec::new();
        for i in 0..50 {
            let c = client.clone();
            tasks.push(tokio::spawn(async move {
                let d = if i % 2 == 0 { "ok" } else { "bad" };
                (i, c.authenticate(request(d)).await.unwrap())
            }));
        }
        for t in tasks {
            let (i, reply) = t.await.unwrap();
            assert_eq!(reply.status.code(), if i % 2 == 0 { 200 } else { 400 });
        }
        assert_eq!(calls.load(Ordering::SeqCst), 50);
    }

    #[tokio::test]
    async fn a_stopped_service_fails_requests_at_once() {
        let (client, handle) = ZapService::new().spawn(Arc::new(crate::AllowAll));
        assert!(client.authenticate(request("d")).await.is_ok());
        handle.stop();
        let r = tokio::time::timeout(Duration::from_secs(5), client.authenticate(request("d")))
            .await
            .expect("no hang");
        assert_eq!(r.unwrap_err(), ZapFailure::Unspecified);
        assert!(client.is_closed());
    }

    #[derive(Debug)]
    struct Panics;

    #[async_trait]
    impl Authenticator for Panics {
        async fn authenticate(&self, _request: AuthRequest) -> AuthResult {
            panic!("handler bug")
        }
    }

    #[tokio::test]
    async fn a_handler_that_panics_is_nobody_answering() {
        let (client, _handle) = ZapService::new().spawn(Arc::new(Panics));
        let r = tokio::time::timeout(Duration::from_secs(5), client.authenticate(request("d")))
            .await
            .expect("no hang");
        assert_eq!(r.unwrap_err(), ZapFailure::Unspecified);
        // The service survives for the next request.
        assert!(!client.is_closed());
    }

    #[derive(Debug)]
    struct Slow(Arc<AtomicUsize>, Arc<AtomicUsize>);

    #[async_trait]
    impl Authenticator for Slow {
        async fn authenticate(&self, _request: AuthRequest) -> AuthResult {
            let now = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            self.1.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.0.fetch_sub(1, Ordering::SeqCst);
            Ok(AuthReply::allow(""))
        }
    }

    #[tokio::test]
    async fn a_request_its_server_gave_up_on_frees_its_slot() {
        #[derive(Debug)]
        struct Stuck;
        #[async_trait]
        impl Authenticator for Stuck {
            async fn authenticate(&self, request: AuthRequest) -> AuthResult {
                if request.domain == "stuck" {
                    std::future::pending::<()>().await;
                }
                Ok(AuthReply::allow(""))
            }
        }
        let (client, _handle) = ZapService::new().max_in_flight(1).spawn(Arc::new(Stuck));
        let gave_up = tokio::time::timeout(
            Duration::from_millis(50),
            client.authenticate(request("stuck")),
        )
        .await;
        assert!(gave_up.is_err());
        let next = tokio::time::timeout(Duration::from_secs(5), client.authenticate(request("ok")))
            .await
            .expect("the only slot was freed");
        assert!(next.is_ok());
    }

    #[tokio::test]
    async fn in_flight_requests_are_bounded() {
        let current = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (client, _handle) = ZapService::new()
            .max_in_flight(3)
            .spawn(Arc::new(Slow(current, peak.clone())));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let c = client.clone();
                tokio::spawn(async move { c.authenticate(request("d")).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!((1..=3).contains(&peak), "peak {peak}");
    }
}

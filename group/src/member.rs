//! A member's side of the key service: connects to the coordinator over CURVE, joins, keeps its
//! keyring current as grants arrive, says it is alive, and asks for an epoch it missed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use zmtp::mechanisms::{CurveClientConfig, CurvePublicKey, CurveSecretKey};
use zmtp::{MonitorEvent, Socket, SocketEvent, SocketOptions, SocketType};

use crate::control::{open_grant, Control};
use crate::error::GroupError;
use crate::keyring::{Keyring, ReceiverConfig};
use crate::wire::EpochKey;

/// How a member runs.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    /// The member's long-term CURVE key: the coordinator admits it (ZAP) and boxes grants to it.
    pub secret: CurveSecretKey,
    /// The coordinator's public key.
    pub coordinator: CurvePublicKey,
    /// How received messages are judged.
    pub receiver: ReceiverConfig,
    /// How often to tell the coordinator we are still here (well under its member TTL).
    pub alive_every: Duration,
}

impl MemberConfig {
    /// A member with the defaults: say ALIVE every 2 s, the default [`ReceiverConfig`].
    pub fn new(secret: CurveSecretKey, coordinator: CurvePublicKey) -> MemberConfig {
        MemberConfig {
            secret,
            coordinator,
            receiver: ReceiverConfig::default(),
            alive_every: Duration::from_secs(2),
        }
    }
}

/// What the member's task shares with its users.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) keyring: Mutex<Keyring>,
    /// How many DENIED answers have come.
    pub(crate) denials: AtomicU64,
    /// The last DENIED reason.
    pub(crate) last_denial: Mutex<Option<String>>,
    /// Reached the coordinator over TCP, and no handshake with it completed since.
    pub(crate) handshaking: AtomicBool,
}

/// A running member. Dropping it leaves the group (best effort) and stops its task.
#[derive(Debug)]
pub struct Member {
    pub(crate) shared: Arc<Shared>,
    /// Bumped at every grant or denial.
    pub(crate) changed: watch::Receiver<u64>,
    keys: watch::Receiver<Option<EpochKey>>,
    requests: mpsc::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Member {
    /// Connects to the coordinator at `endpoint` and asks for the current key.
    pub async fn connect(endpoint: &str, config: MemberConfig) -> Result<Member, GroupError> {
        let socket = Socket::try_with_options(
            SocketType::Dealer,
            SocketOptions {
                mechanism: Arc::new(CurveClientConfig::new(
                    config.secret.clone(),
                    config.coordinator,
                )),
                ..Default::default()
            },
        )?;
        // Refusals happen in the CURVE handshake, before any DENIED could be sent: the socket's
        // monitor is how the member learns that the coordinator's authenticator said no, or
        // that the coordinator's key is not the one configured.
        let monitor = socket.monitor(16);
        socket.connect(endpoint).await?;
        let shared = Arc::new(Shared {
            keyring: Mutex::new(Keyring::unbound(config.receiver.clone())),
            denials: AtomicU64::new(0),
            last_denial: Mutex::new(None),
            handshaking: AtomicBool::new(false),
        });
        let (changed_tx, changed) = watch::channel(0u64);
        let (keys_tx, keys) = watch::channel(None);
        let (requests, requests_rx) = mpsc::channel(64);
        let task = tokio::spawn(run(
            socket,
            monitor,
            config,
            shared.clone(),
            changed_tx,
            keys_tx,
            requests_rx,
        ));
        Ok(Member {
            shared,
            changed,
            keys,
            requests,
            task,
        })
    }

    /// Waits until the first key arrives. [`GroupError::Denied`] as soon as the coordinator
    /// refuses: a DENIED from its key service, or its authenticator refusing our key in the
    /// CURVE handshake (ZAP 400). [`GroupError::HandshakeIncomplete`] when the coordinator was
    /// reached but no handshake completed (a coordinator whose key is not
    /// [`MemberConfig::coordinator`] drops our HELLO without a word);
    /// [`GroupError::KeyTimeout`] when it was never reached.
    pub async fn wait_for_key(&self, timeout: Duration) -> Result<u64, GroupError> {
        let mut changed = self.changed.clone();
        let wait = async {
            loop {
                if let Some(epoch) = self.current_epoch() {
                    return Ok(epoch);
                }
                if let Some(reason) = self.shared.last_denial.lock().expect("lock").clone() {
                    return Err(GroupError::Denied(reason));
                }
                if changed.changed().await.is_err() {
                    return Err(GroupError::Closed);
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(result) => result,
            Err(_) if self.shared.handshaking.load(Ordering::SeqCst) => {
                Err(GroupError::HandshakeIncomplete { waited: timeout })
            }
            Err(_) => Err(GroupError::KeyTimeout {
                epoch: 0,
                waited: timeout,
            }),
        }
    }

    /// The newest epoch held.
    pub fn current_epoch(&self) -> Option<u64> {
        self.shared.keyring.lock().expect("lock").current()
    }

    /// The newest key, as it changes (for a publisher whose coordinator runs elsewhere).
    pub fn keys(&self) -> watch::Receiver<Option<EpochKey>> {
        self.keys.clone()
    }

    /// Stops talking to the coordinator without a word, as a crashed member would (the
    /// connection closes; keys held so far stay). Dropping the member says LEAVE instead.
    pub fn stop(&self) {
        self.task.abort();
    }

    /// Asks the coordinator for `epoch`'s key.
    pub(crate) fn request(&self, epoch: u64) {
        let _ = self.requests.try_send(epoch);
    }
}

async fn run(
    socket: Socket,
    mut monitor: mpsc::Receiver<SocketEvent>,
    config: MemberConfig,
    shared: Arc<Shared>,
    changed: watch::Sender<u64>,
    keys: watch::Sender<Option<EpochKey>>,
    mut requests: mpsc::Receiver<u64>,
) {
    let send = |control: Control| {
        let socket = &socket;
        async move {
            let _ =
                tokio::time::timeout(Duration::from_secs(1), socket.send(control.encode())).await;
        }
    };
    send(Control::Join).await;
    let mut alive = tokio::time::interval(config.alive_every);
    alive.tick().await;
    // (when, epoch): at `when`, keys older than `epoch` go (epoch_grace after it became newest).
    let mut retire: std::collections::VecDeque<(tokio::time::Instant, u64)> = Default::default();
    let mut sweep = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            message = socket.recv() => {
                let Ok(message) = message else { return };
                match Control::decode(message.parts()) {
                    Ok(Control::Grant { nonce, sealed }) => {
                        match open_grant(&nonce, &sealed, &config.coordinator, &config.secret) {
                            Ok(grant) => {
                                let mut ring = shared.keyring.lock().expect("lock");
                                ring.set_publishers(grant.publishers);
                                ring.insert(grant.key.clone());
                                let newest = ring.current();
                                drop(ring);
                                *shared.last_denial.lock().expect("lock") = None;
                                if newest == Some(grant.key.epoch) {
                                    let when = tokio::time::Instant::now() + config.receiver.epoch_grace;
                                    retire.push_back((when, grant.key.epoch));
                                    keys.send_replace(Some(grant.key));
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "group grant refused"),
                        }
                    }
                    Ok(Control::Denied(reason)) => {
                        tracing::debug!(%reason, "group key denied");
                        *shared.last_denial.lock().expect("lock") = Some(reason);
                        shared.denials.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(_) | Err(_) => continue,
                }
                changed.send_modify(|n| *n += 1);
            }
            Some(event) = monitor.recv() => {
                match event.event {
                    MonitorEvent::Connected => shared.handshaking.store(true, Ordering::SeqCst),
                    MonitorEvent::HandshakeSucceeded => {
                        shared.handshaking.store(false, Ordering::SeqCst)
                    }
                    _ => {}
                }
                let Some(reason) = handshake_refusal(&event) else { continue };
                tracing::debug!(%reason, "group key service refused the connection");
                *shared.last_denial.lock().expect("lock") = Some(reason);
                shared.denials.fetch_add(1, Ordering::SeqCst);
                changed.send_modify(|n| *n += 1);
            }
            epoch = requests.recv() => {
                // The member was dropped (its request sender with it): say LEAVE, so that the
                // coordinator can rotate at once, and close.
                let Some(epoch) = epoch else { break };
                send(Control::Key(epoch)).await;
            }
            _ = alive.tick() => send(Control::Alive).await,
            _ = sweep.tick() => {
                let now = tokio::time::Instant::now();
                while let Some(&(when, epoch)) = retire.front() {
                    if when > now {
                        break;
                    }
                    retire.pop_front();
                    shared.keyring.lock().expect("lock").retire_below(epoch);
                }
            }
        }
    }
    send(Control::Leave).await;
    socket.close(Duration::from_millis(500)).await;
}

/// What a failed handshake with the coordinator says about membership, if anything: a ZAP
/// refusal. A dropped connection or a timeout says nothing, and the member keeps trying.
///
/// Only ZAP's 400 is a refusal: 300 (try later) and 500 (the authenticator's own failure) may
/// pass, and a cryptographic failure is what an injected or corrupted packet causes too (a
/// coordinator with another key says nothing at all), so the member keeps trying after those.
fn handshake_refusal(event: &SocketEvent) -> Option<String> {
    match event.event {
        MonitorEvent::HandshakeFailedAuth if event.value == 400 => {
            Some("the coordinator's authenticator refused this member (ZAP status 400)".to_owned())
        }
        _ => None,
    }
}

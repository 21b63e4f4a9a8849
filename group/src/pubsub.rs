//! The group's publisher and subscriber over ordinary zmtp PUB and SUB sockets.

use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use tokio::sync::watch;
use zmtp::Socket;

use crate::error::GroupError;
use crate::keyring::{Opened, Sealer};
use crate::member::Member;
use crate::wire::{self, EpochKey, Limits};
use crate::OpenError;

/// Seals each message once and publishes the same ciphertext to every subscriber.
#[derive(Debug)]
pub struct GroupPublisher {
    socket: Socket,
    state: Mutex<(Sealer, watch::Receiver<Option<EpochKey>>)>,
}

impl GroupPublisher {
    /// A publisher on `socket` (a PUB or XPUB, over NULL or CURVE) that seals with the keys
    /// `keys` yields ([`Coordinator::keys`](crate::Coordinator::keys) for a local coordinator,
    /// [`Member::keys`] for a remote one) and signs with `signer` (whose verifying key the
    /// coordinator must list among its publishers).
    pub fn new(
        socket: Socket,
        keys: watch::Receiver<Option<EpochKey>>,
        signer: Option<SigningKey>,
        limits: Limits,
    ) -> GroupPublisher {
        GroupPublisher {
            socket,
            state: Mutex::new((Sealer::new(signer, limits), keys)),
        }
    }

    /// The socket underneath (to bind, connect, or read its options).
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// The socket back, the sealing state dropped.
    pub fn into_socket(self) -> Socket {
        self.socket
    }

    /// Closes the socket, waiting up to `linger` for what is queued to go out.
    pub async fn close(self, linger: Duration) {
        self.socket.close(linger).await;
    }

    /// The epoch the next message is sealed with, if a key has arrived.
    pub fn epoch(&self) -> Option<u64> {
        let mut state = self.state.lock().expect("lock");
        Self::refresh(&mut state);
        state.0.epoch()
    }

    fn refresh(state: &mut (Sealer, watch::Receiver<Option<EpochKey>>)) {
        if state.1.has_changed().unwrap_or(false) || state.0.epoch().is_none() {
            if let Some(key) = state.1.borrow_and_update().clone() {
                state.0.set_key(key);
            }
        }
    }

    /// Seals and publishes one message.
    pub async fn publish(&self, topic: &[u8], parts: &[Bytes]) -> Result<(), GroupError> {
        let frames = {
            let mut state = self.state.lock().expect("lock");
            Self::refresh(&mut state);
            state.0.seal(topic, parts)?
        };
        self.socket.send(Vec::from(frames)).await?;
        Ok(())
    }

    /// Publishes one message in the clear (the sensitive-only mode: the application decides
    /// per message; subscribers must opt in with `accept_clear`).
    pub async fn publish_clear(&self, topic: &[u8], parts: &[Bytes]) -> Result<(), GroupError> {
        self.socket.send(wire::clear(topic, parts)).await?;
        Ok(())
    }
}

/// Receives a group's messages on a SUB socket and opens them with the member's keys.
#[derive(Debug)]
pub struct GroupSubscriber {
    socket: Socket,
    member: Member,
    key_wait: Duration,
}

impl GroupSubscriber {
    /// A subscriber on `socket` (a SUB, subscribed and connected by the caller) that opens
    /// messages with `member`'s keys. A message of an epoch the member lacks (it missed a
    /// rotation, or the message outran its grant) is held while the member asks for the key,
    /// for up to 2 s.
    pub fn new(socket: Socket, member: Member) -> GroupSubscriber {
        GroupSubscriber {
            socket,
            member,
            key_wait: Duration::from_secs(2),
        }
    }

    /// How long a message waits for its epoch's key.
    pub fn with_key_wait(mut self, wait: Duration) -> GroupSubscriber {
        self.key_wait = wait;
        self
    }

    /// The socket underneath.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// The member (its keys and status).
    pub fn member(&self) -> &Member {
        &self.member
    }

    /// The next message, opened and checked. A refused message is an error naming why; the
    /// next call goes on with the next message.
    pub async fn recv(&self) -> Result<Opened, GroupError> {
        let message = self.socket.recv().await?;
        let frames = message.parts();
        let mut asked = false;
        let deadline = tokio::time::Instant::now() + self.key_wait;
        loop {
            let result = self
                .member
                .shared
                .keyring
                .lock()
                .expect("lock")
                .open(frames);
            let epoch = match result {
                Err(OpenError::UnknownEpoch { epoch }) if self.wanted(epoch) => epoch,
                other => return other.map_err(GroupError::from),
            };
            let mut changed = self.member.changed.clone();
            let denials = self.member.shared.denials.load(Ordering::SeqCst);
            if !asked {
                self.member.request(epoch);
                asked = true;
            }
            // Wait for the grant (or a denial), then try again.
            loop {
                if self.member.shared.keyring.lock().expect("lock").has(epoch) {
                    break;
                }
                if self.member.shared.denials.load(Ordering::SeqCst) != denials {
                    let reason = self.member.shared.last_denial.lock().expect("lock").clone();
                    return Err(GroupError::Denied(reason.unwrap_or_default()));
                }
                match tokio::time::timeout_at(deadline, changed.changed()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Err(GroupError::Closed),
                    Err(_) => {
                        return Err(GroupError::KeyTimeout {
                            epoch,
                            waited: self.key_wait,
                        })
                    }
                }
            }
        }
    }

    fn wanted(&self, epoch: u64) -> bool {
        let ring = self.member.shared.keyring.lock().expect("lock");
        ring.wants(epoch) && ring.group().is_some()
    }
}

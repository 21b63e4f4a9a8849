//! What a publisher and a subscriber keep between messages: the sealing side's counter, and
//! the opening side's epoch keys, trusted publishers and replay windows. Sans-IO.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::error::{OpenError, SealError};
use crate::replay::ReplayWindow;
use crate::wire::{self, EpochKey, GroupId, Kind, Limits, Parsed};

/// The sealing side: one publisher instance.
///
/// Its sender id is random for each instance, never configured: a restarted publisher that
/// reused an id would reuse nonces with a key it had already used.
#[derive(Debug)]
pub struct Sealer {
    sender: u64,
    signer: Option<SigningKey>,
    key: Option<EpochKey>,
    counter: u64,
    limits: Limits,
}

impl Sealer {
    /// A publisher that signs with `signer` (if given).
    pub fn new(signer: Option<SigningKey>, limits: Limits) -> Sealer {
        Sealer {
            sender: rand_core::RngCore::next_u64(&mut rand_core::OsRng),
            signer,
            key: None,
            counter: 0,
            limits,
        }
    }

    /// This instance's sender id.
    pub fn sender(&self) -> u64 {
        self.sender
    }

    /// The epoch it seals with, if it has a key.
    pub fn epoch(&self) -> Option<u64> {
        self.key.as_ref().map(|k| k.epoch)
    }

    /// Seals with `key` from now on; the counter restarts for a new epoch. A key older than the
    /// current one is ignored (a late push must not move the publisher back).
    pub fn set_key(&mut self, key: EpochKey) {
        if self.key.as_ref().is_some_and(|k| k.epoch >= key.epoch) {
            return;
        }
        self.key = Some(key);
        self.counter = 0;
    }

    /// Seals one message: `[topic, envelope]`.
    pub fn seal(&mut self, topic: &[u8], parts: &[Bytes]) -> Result<[Bytes; 2], SealError> {
        let key = self.key.as_ref().ok_or(SealError::NoKey)?;
        if self.counter == u64::MAX {
            return Err(SealError::CounterSpent { epoch: key.epoch });
        }
        let frames = wire::seal(
            key,
            self.sender,
            self.counter,
            self.signer.as_ref(),
            topic,
            parts,
            &self.limits,
        )?;
        self.counter += 1;
        Ok(frames)
    }
}

/// How a subscriber judges what it receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// How far below a sender's highest counter a message may arrive (reordering), per epoch.
    pub window: u64,
    /// Most senders tracked per epoch; a message from one more is refused.
    pub max_senders: usize,
    /// Refuse sealed messages that are not signed by one of the group's publishers.
    pub require_signature: bool,
    /// Accept messages the publisher sent in the clear (the sensitive-only mode).
    pub accept_clear: bool,
    /// Most epoch keys held at once (the current one and those before it, so that messages
    /// in flight across a rotation still open); past it the oldest goes first.
    pub max_epochs: usize,
    /// How long a member keeps the keys older than its newest one, for messages still in
    /// flight (or queued unread) when the key rotated. Applied by [`Member`](crate::Member).
    pub epoch_grace: std::time::Duration,
    /// Size and part limits.
    pub limits: Limits,
}

impl Default for ReceiverConfig {
    fn default() -> ReceiverConfig {
        ReceiverConfig {
            window: 1024,
            max_senders: 64,
            require_signature: true,
            accept_clear: false,
            max_epochs: 16,
            epoch_grace: std::time::Duration::from_secs(10),
            limits: Limits::default(),
        }
    }
}

/// A message that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The topic frame.
    pub topic: Bytes,
    /// The application's parts.
    pub parts: Vec<Bytes>,
    /// How it was protected: `None` if it came in the clear.
    pub sealed: Option<SealInfo>,
}

/// Where a sealed message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealInfo {
    /// The epoch whose key sealed it.
    pub epoch: u64,
    /// The publisher instance.
    pub sender: u64,
    /// Its counter.
    pub counter: u64,
    /// The publisher's verifying key, if signed.
    pub signer: Option<VerifyingKey>,
}

#[derive(Debug)]
struct EpochState {
    key: EpochKey,
    windows: HashMap<u64, ReplayWindow>,
}

/// The opening side: a group's epoch keys, its publishers' keys, and the replay state.
#[derive(Debug)]
pub struct Keyring {
    group: Option<GroupId>,
    config: ReceiverConfig,
    epochs: BTreeMap<u64, EpochState>,
    publishers: Vec<VerifyingKey>,
    retired_below: u64,
}

impl Keyring {
    /// An empty keyring for `group`.
    pub fn new(group: GroupId, config: ReceiverConfig) -> Keyring {
        Keyring {
            group: Some(group),
            config,
            epochs: BTreeMap::new(),
            publishers: Vec::new(),
            retired_below: 0,
        }
    }

    /// An empty keyring that belongs to the group of the first key inserted (a member learns
    /// its group from its first grant).
    pub fn unbound(config: ReceiverConfig) -> Keyring {
        Keyring {
            group: None,
            config,
            epochs: BTreeMap::new(),
            publishers: Vec::new(),
            retired_below: 0,
        }
    }

    /// The group, once known.
    pub fn group(&self) -> Option<GroupId> {
        self.group
    }

    /// The newest epoch held.
    pub fn current(&self) -> Option<u64> {
        self.epochs.keys().next_back().copied()
    }

    /// Whether the key of `epoch` is held.
    pub fn has(&self, epoch: u64) -> bool {
        self.epochs.contains_key(&epoch)
    }

    /// Whether `epoch` is one this keyring would still take a key for (not retired).
    pub fn wants(&self, epoch: u64) -> bool {
        epoch >= self.retired_below && !self.has(epoch)
    }

    /// The publishers whose signatures are accepted.
    pub fn set_publishers(&mut self, publishers: Vec<VerifyingKey>) {
        self.publishers = publishers;
    }

    /// Adds an epoch key. Keys beyond [`ReceiverConfig::max_epochs`] are dropped oldest first;
    /// a key for another group or a retired epoch is ignored.
    pub fn insert(&mut self, key: EpochKey) {
        if *self.group.get_or_insert(key.group) != key.group || key.epoch < self.retired_below {
            return;
        }
        self.epochs.entry(key.epoch).or_insert_with(|| EpochState {
            key,
            windows: HashMap::new(),
        });
        while self.epochs.len() > self.config.max_epochs.max(1) {
            if let Some((epoch, _)) = self.epochs.pop_first() {
                self.retired_below = self.retired_below.max(epoch + 1);
            }
        }
    }

    /// Forgets every key older than `epoch`; they are never taken again.
    pub fn retire_below(&mut self, epoch: u64) {
        self.retired_below = self.retired_below.max(epoch);
        self.epochs.retain(|&e, _| e >= epoch);
    }

    /// Checks and opens a received message.
    pub fn open(&mut self, frames: &[Bytes]) -> Result<Opened, OpenError> {
        let limits = self.config.limits;
        let (header, signer) = match wire::parse(frames, &limits)? {
            Parsed::Clear { topic, parts } => {
                if !self.config.accept_clear {
                    return Err(OpenError::ClearRefused);
                }
                return Ok(Opened {
                    topic: topic.clone(),
                    parts: parts.to_vec(),
                    sealed: None,
                });
            }
            Parsed::Sealed { header, signer } => (header, signer),
        };
        if self.group != Some(header.group) {
            return Err(match self.group {
                None => OpenError::UnknownEpoch {
                    epoch: header.epoch,
                },
                Some(_) => OpenError::WrongGroup,
            });
        }
        if header.kind != Kind::Signed && self.config.require_signature {
            return Err(OpenError::Unsigned);
        }
        if let Some(signer) = &signer {
            if !self.publishers.contains(signer) {
                return Err(OpenError::UntrustedSigner);
            }
        }
        let max_senders = self.config.max_senders;
        let window = self.config.window;
        let state = self
            .epochs
            .get_mut(&header.epoch)
            .ok_or(OpenError::UnknownEpoch {
                epoch: header.epoch,
            })?;
        if let Some(w) = state.windows.get(&header.sender) {
            w.check(header.sender, header.counter)?;
        } else if state.windows.len() >= max_senders {
            return Err(OpenError::TooManySenders { max: max_senders });
        }
        let parts = wire::open(&state.key, frames, &limits)?;
        // Only an authentic message moves the window.
        state
            .windows
            .entry(header.sender)
            .or_insert_with(|| ReplayWindow::new(window))
            .commit(header.counter);
        Ok(Opened {
            topic: frames[0].clone(),
            parts,
            sealed: Some(SealInfo {
                epoch: header.epoch,
                sender: header.sender,
                counter: header.counter,
                signer,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUP: GroupId = GroupId([1; 16]);

    fn setup(config: ReceiverConfig) -> (Sealer, Keyring) {
        let signer = SigningKey::from_bytes(&[5; 32]);
        let mut keyring = Keyring::new(GROUP, config);
        keyring.set_publishers(vec![signer.verifying_key()]);
        let mut sealer = Sealer::new(Some(signer), Limits::default());
        let key = EpochKey::generate(GROUP, 1);
        keyring.insert(key.clone());
        sealer.set_key(key);
        (sealer, keyring)
    }

    fn msg(n: u8) -> Vec<Bytes> {
        vec![Bytes::from(vec![n; 3])]
    }

    #[test]
    fn replay_reorder_and_window() {
        let (mut sealer, mut ring) = setup(ReceiverConfig {
            window: 64,
            ..Default::default()
        });
        let sealed: Vec<_> = (0..100)
            .map(|n| sealer.seal(b"t", &msg(n)).unwrap())
            .collect();
        assert_eq!(ring.open(&sealed[1]).unwrap().parts, msg(1));
        assert_eq!(
            ring.open(&sealed[0]).unwrap().parts,
            msg(0),
            "reordered within the window"
        );
        assert!(matches!(
            ring.open(&sealed[1]),
            Err(OpenError::Replayed { counter: 1, .. })
        ));
        assert_eq!(ring.open(&sealed[99]).unwrap().parts, msg(99));
        assert!(matches!(
            ring.open(&sealed[2]),
            Err(OpenError::TooOld { counter: 2, .. })
        ));
        assert_eq!(ring.open(&sealed[40]).unwrap().parts, msg(40));
    }

    #[test]
    fn a_forgery_does_not_move_the_window() {
        let (mut sealer, mut ring) = setup(ReceiverConfig::default());
        let good = sealer.seal(b"t", &msg(0)).unwrap();
        let mut bad = good.clone();
        let mut env = bad[1].to_vec();
        let last = env.len() - 70;
        env[last] ^= 1;
        bad[1] = env.into();
        assert!(ring.open(&bad).is_err());
        assert!(
            ring.open(&good).is_ok(),
            "the forgery did not burn counter 0"
        );
    }

    #[test]
    fn member_forgery_and_unsigned_are_refused() {
        let (_, mut ring) = setup(ReceiverConfig::default());
        // A member holds the epoch key but not the publisher's signing key.
        let key = ring.epochs[&1].key.clone();
        let mut member = Sealer::new(Some(SigningKey::from_bytes(&[6; 32])), Limits::default());
        member.set_key(key.clone());
        assert_eq!(
            ring.open(&member.seal(b"t", &msg(0)).unwrap()),
            Err(OpenError::UntrustedSigner)
        );
        let mut unsigned = Sealer::new(None, Limits::default());
        unsigned.set_key(key);
        assert_eq!(
            ring.open(&unsigned.seal(b"t", &msg(0)).unwrap()),
            Err(OpenError::Unsigned)
        );
    }

    #[test]
    fn clear_messages_need_consent() {
        let (_, mut ring) = setup(ReceiverConfig::default());
        let frames = wire::clear(b"t", &msg(1));
        assert_eq!(ring.open(&frames), Err(OpenError::ClearRefused));
        let (_, mut ring) = setup(ReceiverConfig {
            accept_clear: true,
            ..Default::default()
        });
        let opened = ring.open(&frames).unwrap();
        assert_eq!((opened.parts, opened.sealed), (msg(1), None));
    }

    #[test]
    fn epochs_overlap_then_retire() {
        let (mut sealer, mut ring) = setup(ReceiverConfig::default());
        let old = sealer.seal(b"t", &msg(0)).unwrap();
        let next = EpochKey::generate(GROUP, 2);
        ring.insert(next.clone());
        sealer.set_key(next);
        let new = sealer.seal(b"t", &msg(1)).unwrap();
        assert!(ring.open(&old).is_ok(), "in flight across the rotation");
        assert!(ring.open(&new).is_ok());
        ring.insert(EpochKey::generate(GROUP, 3));
        let stale = sealer.seal(b"t", &msg(2)).unwrap();
        assert!(ring.open(&stale).is_ok(), "epoch 2 is still held");
        ring.retire_below(3);
        assert!(!ring.has(2) && !ring.wants(2), "epoch 2 retired for good");
        assert_eq!(ring.open(&stale), Err(OpenError::UnknownEpoch { epoch: 2 }));
        ring.insert(EpochKey::generate(GROUP, 2));
        assert!(!ring.has(2), "a retired epoch is not taken again");
        let mut capped = Keyring::new(
            GROUP,
            ReceiverConfig {
                max_epochs: 2,
                ..Default::default()
            },
        );
        for e in 1..=3 {
            capped.insert(EpochKey::generate(GROUP, e));
        }
        assert!(
            !capped.has(1) && capped.has(2) && capped.has(3),
            "max_epochs bounds memory"
        );
    }

    #[test]
    fn senders_are_bounded() {
        let (_, mut ring) = setup(ReceiverConfig {
            max_senders: 2,
            ..Default::default()
        });
        let key = ring.epochs[&1].key.clone();
        let signer = SigningKey::from_bytes(&[5; 32]);
        for n in 0..3 {
            let mut s = Sealer::new(Some(signer.clone()), Limits::default());
            s.set_key(key.clone());
            let r = ring.open(&s.seal(b"t", &msg(0)).unwrap());
            if n < 2 {
                r.unwrap();
            } else {
                assert_eq!(r, Err(OpenError::TooManySenders { max: 2 }));
            }
        }
    }
}

//! The coordinator: admits members over CURVE (its ZAP authenticator decides who may join),
//! grants them the current epoch key boxed to their long-term key, and rotates the key on a
//! timer, on demand, and when a member leaves, goes silent or is revoked.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ed25519_dalek::VerifyingKey;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use zmtp::core::{AuthRequest, AuthStatus};
use zmtp::mechanisms::{CurvePublicKey, CurveSecretKey, CurveServerConfig};
use zmtp::zap::Authenticator;
use zmtp::{Message, Socket, SocketOptions, SocketType};

use crate::control::{grant_box, seal_grant_with, Control, Grant};
use crate::error::GroupError;
use crate::wire::{EpochKey, GroupId};

/// How a coordinator runs.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// The group (random by default).
    pub group: GroupId,
    /// The coordinator's long-term CURVE key: members connect to its public half, and grants
    /// are boxed with it.
    pub secret: CurveSecretKey,
    /// Who may join: asked for every CURVE connection (ZAP) and again at every JOIN.
    pub authenticator: Arc<dyn Authenticator>,
    /// The ZAP domain of those requests.
    pub zap_domain: String,
    /// The publishers whose signatures members accept.
    pub publishers: Vec<VerifyingKey>,
    /// Rotate the key this often (`None`: never on a timer).
    pub rotate_every: Option<Duration>,
    /// Rotate when a member leaves, goes silent or is revoked, so that it cannot read what is
    /// sealed afterwards. Departures within one quarter second share one rotation, and so do
    /// members a re-check found no longer admitted; `Coordinator::revoke` rotates at once.
    pub rotate_on_leave: bool,
    /// A member not heard from for this long has left.
    pub member_ttl: Duration,
    /// Ask the authenticator about every member again this often (`None`: never): a member
    /// whose certificate was removed, or whom the policy now denies, is revoked.
    pub recheck_every: Option<Duration>,
    /// How long after granting a new key to every member the local publisher starts sealing
    /// with it, so that members hold it before its first message arrives.
    pub switch_delay: Duration,
    /// Most members at once; a JOIN past it is denied.
    pub max_members: usize,
    /// Most questions to the authenticator in flight at once (JOINs and re-checks). Each runs
    /// in a task of its own, so a slow authenticator delays only those it is asked about; a
    /// JOIN arriving when all are taken is dropped, and the member's next ALIVE asks again.
    pub max_pending_auth: usize,
    /// How long the authenticator may take over one question; past it, the answer is no.
    pub auth_timeout: Duration,
}

impl CoordinatorConfig {
    /// A coordinator for a new random group, with the defaults: rotate on leave, members
    /// silent for 10 s have left, re-check membership every 30 s, switch 100 ms after a grant,
    /// at most 10,000 members, 64 questions to the authenticator in flight, each given 5 s.
    pub fn new(secret: CurveSecretKey, authenticator: Arc<dyn Authenticator>) -> CoordinatorConfig {
        let mut group = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut group);
        CoordinatorConfig {
            group: GroupId(group),
            secret,
            authenticator,
            zap_domain: String::new(),
            publishers: Vec::new(),
            rotate_every: None,
            rotate_on_leave: true,
            member_ttl: Duration::from_secs(10),
            recheck_every: Some(Duration::from_secs(30)),
            switch_delay: Duration::from_millis(100),
            max_members: 10_000,
            max_pending_auth: 64,
            auth_timeout: Duration::from_secs(5),
        }
    }
}

/// Key requests (JOIN or KEY) one connection may make at once, and how often it earns another;
/// requests beyond are dropped, so that a member cannot make the coordinator box keys in a loop.
const REQUEST_BURST: u32 = 5;
const REQUEST_INTERVAL: Duration = Duration::from_millis(100);

enum Command {
    Rotate(oneshot::Sender<u64>),
    Revoke(CurvePublicKey, oneshot::Sender<bool>),
    Members(oneshot::Sender<Vec<CurvePublicKey>>),
}

/// A running coordinator. Dropping it stops the service.
#[derive(Debug)]
pub struct Coordinator {
    commands: mpsc::Sender<Command>,
    keys: watch::Receiver<Option<EpochKey>>,
    endpoint: String,
    public: CurvePublicKey,
    group: GroupId,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Rotate(_) => "Rotate",
            Command::Revoke(..) => "Revoke",
            Command::Members(_) => "Members",
        })
    }
}

impl Coordinator {
    /// Binds the key service at `endpoint` (a ROUTER, CURVE server) and starts epoch 1.
    pub async fn bind(
        config: CoordinatorConfig,
        endpoint: &str,
    ) -> Result<Coordinator, GroupError> {
        let socket = Socket::try_with_options(
            SocketType::Router,
            SocketOptions {
                mechanism: Arc::new(CurveServerConfig::new(config.secret.clone())),
                authenticator: Some(config.authenticator.clone()),
                zap_domain: Some(config.zap_domain.clone()),
                ..Default::default()
            },
        )?;
        let endpoint = socket.bind(endpoint).await?;
        let first = EpochKey::generate(config.group, 1);
        let (keys_tx, keys) = watch::channel(Some(first.clone()));
        let (commands, commands_rx) = mpsc::channel(16);
        // A verdict is queued before its question slot is released, so this never fills.
        let (verdicts_tx, verdicts_rx) = mpsc::channel(config.max_pending_auth.max(1));
        let public = config.secret.public_key();
        let group = config.group;
        let service = Service {
            socket,
            members: HashMap::new(),
            last_request: HashMap::new(),
            departed: false,
            expelled: false,
            asking: HashMap::new(),
            questions: 0,
            recheck_queue: Default::default(),
            auth_slots: Arc::new(tokio::sync::Semaphore::new(config.max_pending_auth.max(1))),
            verdicts_tx,
            revoked: HashSet::new(),
            current: first,
            previous: None,
            keys: keys_tx,
            config,
        };
        let task = tokio::spawn(service.run(commands_rx, verdicts_rx));
        Ok(Coordinator {
            commands,
            keys,
            endpoint,
            public,
            group,
            task,
        })
    }

    /// The endpoint members connect to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The key members connect with (the coordinator's public key).
    pub fn public_key(&self) -> &CurvePublicKey {
        &self.public
    }

    /// The group.
    pub fn group(&self) -> GroupId {
        self.group
    }

    /// The key a local publisher seals with (it follows rotations after the switch delay).
    pub fn keys(&self) -> watch::Receiver<Option<EpochKey>> {
        self.keys.clone()
    }

    /// Rotates now; returns the new epoch.
    pub async fn rotate(&self) -> Result<u64, GroupError> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Rotate(tx)).await?;
        rx.await.map_err(|_| GroupError::Closed)
    }

    /// Revokes a member for good: it is dropped, denied any further key, and the key rotates.
    /// Returns whether it was a member.
    pub async fn revoke(&self, member: &CurvePublicKey) -> Result<bool, GroupError> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Revoke(*member, tx)).await?;
        rx.await.map_err(|_| GroupError::Closed)
    }

    /// The members' keys.
    pub async fn members(&self) -> Result<Vec<CurvePublicKey>, GroupError> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Members(tx)).await?;
        rx.await.map_err(|_| GroupError::Closed)
    }

    async fn command(&self, command: Command) -> Result<(), GroupError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| GroupError::Closed)
    }
}

/// Why the authenticator was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Question {
    Join,
    Recheck,
}

/// The authenticator's answer about one connection, back in the service loop.
struct Verdict {
    id: Bytes,
    number: u64,
    key: CurvePublicKey,
    address: String,
    question: Question,
    admitted: bool,
}

struct MemberState {
    key: CurvePublicKey,
    /// The box to this member's key, made once (one X25519 per member, not per grant).
    boxer: crypto_box::SalsaBox,
    address: String,
    last_seen: Instant,
    /// The epoch current when it joined: it may ask for no older key.
    joined: u64,
}

struct Service {
    socket: Socket,
    members: HashMap<Bytes, MemberState>,
    /// Each connection's key-request bucket: tokens left, and when it last refilled.
    last_request: HashMap<Bytes, (u32, Instant)>,
    /// A member left or went silent since the last tick: rotate at the tick.
    departed: bool,
    /// A re-check found a member no longer admitted since the last tick: rotate at the tick.
    expelled: bool,
    /// Connections with a question to the authenticator in flight, with the question's number:
    /// a verdict whose number is not here any more (the connection left meanwhile) is ignored.
    asking: HashMap<Bytes, u64>,
    /// Numbers questions.
    questions: u64,
    /// Members still to re-check, asked as question slots come free.
    recheck_queue: std::collections::VecDeque<(Bytes, CurvePublicKey, String)>,
    /// Bounds the questions in flight (`max_pending_auth`).
    auth_slots: Arc<tokio::sync::Semaphore>,
    verdicts_tx: mpsc::Sender<Verdict>,
    revoked: HashSet<[u8; 32]>,
    current: EpochKey,
    previous: Option<EpochKey>,
    keys: watch::Sender<Option<EpochKey>>,
    config: CoordinatorConfig,
}

impl Service {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut verdicts: mpsc::Receiver<Verdict>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_rotation = self.config.rotate_every.map(|d| Instant::now() + d);
        let mut next_recheck = self.config.recheck_every.map(|d| Instant::now() + d);
        loop {
            tokio::select! {
                message = self.socket.recv() => match message {
                    Ok(message) => self.handle(message).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "group coordinator socket closed");
                        return;
                    }
                },
                Some(verdict) = verdicts.recv() => self.judged(verdict).await,
                command = commands.recv() => match command {
                    None => return,
                    Some(Command::Rotate(reply)) => {
                        let epoch = self.rotate("on demand").await;
                        let _ = reply.send(epoch);
                    }
                    Some(Command::Revoke(key, reply)) => {
                        self.revoked.insert(*key.as_bytes());
                        let before = self.members.len();
                        self.members.retain(|_, m| m.key != key);
                        let was = self.members.len() != before;
                        if was {
                            self.rotate("member revoked").await;
                        }
                        let _ = reply.send(was);
                    }
                    Some(Command::Members(reply)) => {
                        let _ = reply.send(self.members.values().map(|m| m.key).collect());
                    }
                },
                _ = tick.tick() => {
                    let now = Instant::now();
                    let ttl = self.config.member_ttl;
                    let before = self.members.len();
                    self.members.retain(|_, m| now.duration_since(m.last_seen) < ttl);
                    if self.members.len() != before && self.config.rotate_on_leave {
                        self.departed = true;
                    }
                    // Every departure since the last tick is covered by one rotation, so that a
                    // crowd leaving together does not turn the epochs over faster than members
                    // can drain what is in flight.
                    let departed = std::mem::take(&mut self.departed);
                    let expelled = std::mem::take(&mut self.expelled);
                    if departed || expelled {
                        self.rotate(if expelled { "member no longer admitted" } else { "members left" })
                            .await;
                    }
                    self.pump_rechecks();
                    if next_rotation.is_some_and(|at| now >= at) {
                        self.rotate("timer").await;
                        next_rotation = self.config.rotate_every.map(|d| now + d);
                    }
                    if next_recheck.is_some_and(|at| now >= at) {
                        self.recheck();
                        next_recheck = self.config.recheck_every.map(|d| now + d);
                    }
                }
            }
        }
    }

    async fn handle(&mut self, message: Message) {
        let parts = message.parts();
        let Some((id, frames)) = parts.split_first() else {
            return;
        };
        let control = match Control::decode(frames) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "key-service message dropped");
                return;
            }
        };
        let Some(key) = message
            .property("User-Id")
            .and_then(|u| CurvePublicKey::from_z85(u).ok())
        else {
            self.reply(
                id,
                Control::Denied("the member's User-Id must be its CURVE key".into()),
            )
            .await;
            return;
        };
        let address = message
            .property("Peer-Address")
            .unwrap_or_default()
            .to_owned();
        if matches!(control, Control::Join | Control::Key(_)) && !self.may_request(id) {
            tracing::debug!("key request dropped: more than {REQUEST_BURST} at once");
            return;
        }
        match control {
            Control::Join => self.join(id, key, address).await,
            Control::Alive => {
                if let Some(m) = self.members.get_mut(id) {
                    m.last_seen = Instant::now();
                } else {
                    // Forgotten (silent too long, or re-checked away): it must join again.
                    self.join(id, key, address).await;
                }
            }
            Control::Key(epoch) => {
                let Some(m) = self.members.get(id) else {
                    self.reply(id, Control::Denied("not a member".into())).await;
                    return;
                };
                let grantable = [Some(&self.current), self.previous.as_ref()]
                    .into_iter()
                    .flatten()
                    .find(|k| k.epoch == epoch && epoch >= m.joined)
                    .cloned();
                match grantable {
                    Some(k) => {
                        self.grant(id, &k).await;
                    }
                    None => {
                        self.reply(id, Control::Denied(format!("epoch {epoch} not available")))
                            .await
                    }
                }
            }
            Control::Leave => {
                // An answer still to come about this connection no longer matters.
                self.asking.remove(id);
                if self.members.remove(id).is_some() && self.config.rotate_on_leave {
                    self.departed = true;
                }
            }
            Control::Grant { .. } | Control::Denied(_) => {}
        }
    }

    /// A token bucket per connection: a burst of `REQUEST_BURST` key requests, then one per
    /// `REQUEST_INTERVAL`.
    fn may_request(&mut self, id: &Bytes) -> bool {
        let now = Instant::now();
        if self.last_request.len() > self.config.max_members.saturating_mul(2) {
            // Connections idle long enough to have a full bucket again need no entry.
            let full = REQUEST_INTERVAL * REQUEST_BURST;
            self.last_request
                .retain(|_, (_, at)| now.duration_since(*at) < full);
        }
        let (tokens, at) = self
            .last_request
            .entry(id.clone())
            .or_insert((REQUEST_BURST, now));
        let refilled = (now.duration_since(*at).as_millis() / REQUEST_INTERVAL.as_millis()) as u32;
        if refilled > 0 {
            *tokens = (*tokens + refilled).min(REQUEST_BURST);
            *at = now;
        }
        if *tokens == 0 {
            return false;
        }
        *tokens -= 1;
        true
    }

    /// Why `key` may not (re)join on connection `id`, if it may not.
    fn barred(&self, id: &Bytes, key: &CurvePublicKey) -> Option<&'static str> {
        if self.revoked.contains(key.as_bytes()) {
            Some("revoked")
        } else if !self.members.contains_key(id) && self.members.len() >= self.config.max_members {
            Some("the group is full")
        } else {
            None
        }
    }

    async fn join(&mut self, id: &Bytes, key: CurvePublicKey, address: String) {
        if let Some(reason) = self.barred(id, &key) {
            self.reply(id, Control::Denied(reason.into())).await;
            return;
        }
        // A member already admitted on this connection gets the current key again without a
        // new question (its request bucket bounds how often): re-checks keep membership
        // current, and a member cannot fill the authenticator's slots by asking in a loop.
        if self.members.get(id).is_some_and(|m| m.key == key) {
            let current = self.current.clone();
            self.grant(id, &current).await;
            return;
        }
        // The authenticator answers in a task of its own; `judged` goes on from here.
        self.ask(id, key, address, Question::Join);
    }

    /// Asks the authenticator about `key` in a task of its own (as ZAP would for a new CURVE
    /// connection), unless a question about this connection is in flight already or all of
    /// `max_pending_auth` are taken (then the member asks again with its next ALIVE, or the
    /// next re-check does).
    ///
    /// Returns false when no slot was free.
    fn ask(
        &mut self,
        id: &Bytes,
        key: CurvePublicKey,
        address: String,
        question: Question,
    ) -> bool {
        if self.asking.contains_key(id) {
            return true;
        }
        let Ok(slot) = self.auth_slots.clone().try_acquire_owned() else {
            tracing::debug!(
                "authenticator busy ({} questions in flight): request dropped",
                self.config.max_pending_auth
            );
            return false;
        };
        self.questions += 1;
        let number = self.questions;
        self.asking.insert(id.clone(), number);
        let request = AuthRequest {
            domain: self.config.zap_domain.clone(),
            address: address.clone(),
            identity: Bytes::new(),
            mechanism: zmtp::core::MechanismName::CURVE,
            credentials: vec![Bytes::copy_from_slice(key.as_bytes())],
        };
        let authenticator = self.config.authenticator.clone();
        let limit = self.config.auth_timeout;
        let verdicts = self.verdicts_tx.clone();
        let id = id.clone();
        tokio::spawn(async move {
            // In a task of its own, so that an authenticator that panics is a refusal too and
            // a verdict always comes back.
            let mut asked = tokio::spawn(async move { authenticator.authenticate(request).await });
            let admitted = match tokio::time::timeout(limit, &mut asked).await {
                Ok(Ok(Ok(reply))) => reply.status == AuthStatus::Success,
                Ok(Ok(Err(_))) => false,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "the authenticator failed: refused");
                    false
                }
                Err(_) => {
                    asked.abort();
                    tracing::debug!(?limit, "the authenticator did not answer in time: refused");
                    false
                }
            };
            let _ = verdicts
                .send(Verdict {
                    id,
                    number,
                    key,
                    address,
                    question,
                    admitted,
                })
                .await;
            // Held until the verdict is queued: the channel has room for every slot.
            drop(slot);
        });
        true
    }

    /// The authenticator's answer about one connection.
    async fn judged(&mut self, verdict: Verdict) {
        let Verdict {
            id,
            number,
            key,
            address,
            question,
            admitted,
        } = verdict;
        if self.asking.get(&id) != Some(&number) {
            // The connection left (or asked anew) while the authenticator was thinking.
            self.pump_rechecks();
            return;
        }
        self.asking.remove(&id);
        self.pump_rechecks();
        let id = &id;
        match question {
            Question::Recheck => {
                // Only about the member as it was asked about (it may have left meanwhile).
                if !admitted && self.members.get(id).is_some_and(|m| m.key == key) {
                    self.members.remove(id);
                    self.reply(id, Control::Denied("no longer admitted".into()))
                        .await;
                    self.expelled = true;
                }
                return;
            }
            Question::Join => {}
        }
        if !admitted {
            if self.members.remove(id).is_some() {
                self.expelled = true;
            }
            self.reply(id, Control::Denied("not admitted".into())).await;
            return;
        }
        // Revoked, or the group filled up, while the authenticator was thinking.
        if let Some(reason) = self.barred(id, &key) {
            self.reply(id, Control::Denied(reason.into())).await;
            return;
        }
        let joined = self
            .members
            .get(id)
            .map_or(self.current.epoch, |m| m.joined);
        self.members.insert(
            id.clone(),
            MemberState {
                key,
                boxer: grant_box(&key, &self.config.secret),
                address,
                last_seen: Instant::now(),
                joined,
            },
        );
        let current = self.current.clone();
        self.grant(id, &current).await;
    }

    /// Asks the authenticator about every member again; each answer arrives in `judged`, and
    /// those no longer admitted are dropped, with one rotation at the next tick. Members are
    /// queued and asked as question slots come free, so every member is asked whatever
    /// `max_pending_auth` is.
    fn recheck(&mut self) {
        self.recheck_queue = self
            .members
            .iter()
            .map(|(id, m)| (id.clone(), m.key, m.address.clone()))
            .collect();
        self.pump_rechecks();
    }

    /// Asks about queued members while slots are free.
    fn pump_rechecks(&mut self) {
        while let Some((id, key, address)) = self.recheck_queue.pop_front() {
            // Gone since the re-check began: nothing to ask.
            if !self.members.get(&id).is_some_and(|m| m.key == key) {
                continue;
            }
            if !self.ask(&id, key, address.clone(), Question::Recheck) {
                self.recheck_queue.push_front((id, key, address));
                return;
            }
        }
    }

    async fn rotate(&mut self, why: &str) -> u64 {
        let next = EpochKey::generate(self.config.group, self.current.epoch + 1);
        self.previous = Some(std::mem::replace(&mut self.current, next.clone()));
        tracing::debug!(
            epoch = next.epoch,
            why,
            members = self.members.len(),
            "group key rotated"
        );
        let members: Vec<_> = self.members.keys().cloned().collect();
        for id in members {
            self.grant(&id, &next).await;
        }
        let keys = self.keys.clone();
        let delay = self.config.switch_delay;
        let epoch = next.epoch;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            keys.send_if_modified(|held| {
                if held.as_ref().is_some_and(|k| k.epoch >= next.epoch) {
                    return false;
                }
                *held = Some(next);
                true
            });
        });
        epoch
    }

    /// Grants `key` to the member at `id` (nothing if it is no longer a member).
    async fn grant(&self, id: &Bytes, key: &EpochKey) {
        let Some(member) = self.members.get(id) else {
            return;
        };
        let grant = Grant {
            key: key.clone(),
            publishers: self.config.publishers.clone(),
        };
        self.reply(id, seal_grant_with(&grant, &member.boxer)).await;
    }

    async fn reply(&self, id: &Bytes, control: Control) {
        let mut frames = vec![id.clone()];
        frames.extend(control.encode());
        // A member whose pipe is full (not reading) misses this one and asks again.
        match tokio::time::timeout(Duration::from_millis(100), self.socket.send(frames)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "key-service reply dropped"),
            Err(_) => tracing::debug!("key-service reply dropped: the member is not reading"),
        }
    }
}

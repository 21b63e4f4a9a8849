//! The group layer end to end over loopback: membership decided by ZAP, rotation on leave and
//! revocation, late joiners, replay and forgery from the wire, and no loss across a rotation.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use zmtp::mechanisms::CurveKeyPair;
use zmtp::zap::Policy;
use zmtp::{Socket, SocketType};
use zmtp_group::{
    Coordinator, CoordinatorConfig, GroupError, GroupPublisher, GroupSubscriber, Limits, Member,
    MemberConfig, OpenError, ReceiverConfig, SigningKey,
};

const WAIT: Duration = Duration::from_secs(10);

struct Group {
    coordinator: Coordinator,
    publisher: GroupPublisher,
    data: String,
    admitted: Vec<CurveKeyPair>,
}

/// A coordinator admitting `n` member keys (and no others), and a signing publisher on a PUB
/// over NULL.
async fn group(n: usize, tune: impl FnOnce(&mut CoordinatorConfig)) -> Group {
    let admitted: Vec<_> = (0..n).map(|_| CurveKeyPair::generate().unwrap()).collect();
    let mut policy = Policy::new();
    for pair in &admitted {
        policy = policy.curve_key("*", &pair.public, Default::default());
    }
    let signer = SigningKey::from_bytes(&[0x11; 32]);
    let coordinator_keys = CurveKeyPair::generate().unwrap();
    let mut config = CoordinatorConfig::new(coordinator_keys.secret, Arc::new(policy));
    config.publishers = vec![signer.verifying_key()];
    config.switch_delay = Duration::from_millis(50);
    tune(&mut config);
    let coordinator = Coordinator::bind(config, "tcp://127.0.0.1:*")
        .await
        .unwrap();
    let socket = Socket::new(SocketType::Pub);
    let data = socket.bind("tcp://127.0.0.1:*").await.unwrap();
    let publisher =
        GroupPublisher::new(socket, coordinator.keys(), Some(signer), Limits::default());
    Group {
        coordinator,
        publisher,
        data,
        admitted,
    }
}

impl Group {
    async fn member(&self, pair: &CurveKeyPair) -> Member {
        self.member_with(pair, ReceiverConfig::default()).await
    }

    async fn member_with(&self, pair: &CurveKeyPair, receiver: ReceiverConfig) -> Member {
        let mut config = MemberConfig::new(pair.secret.clone(), *self.coordinator.public_key());
        config.receiver = receiver;
        config.alive_every = Duration::from_millis(200);
        Member::connect(self.coordinator.endpoint(), config)
            .await
            .unwrap()
    }

    /// A subscriber for `pair`, with its key, subscribed and connected to the data socket.
    async fn subscriber(&self, pair: &CurveKeyPair) -> GroupSubscriber {
        let member = self.member(pair).await;
        member.wait_for_key(WAIT).await.unwrap();
        self.subscribe(member).await
    }

    async fn subscribe(&self, member: Member) -> GroupSubscriber {
        // Counted before connecting: a handshake that completes before the count is read
        // would otherwise be counted in `before`, and the wait below would want one more.
        let before = self.subscribers().await;
        let sub = Socket::new(SocketType::Sub);
        sub.subscribe(Bytes::new()).unwrap();
        sub.connect(&self.data).await.unwrap();
        self.publisher
            .socket()
            .wait_for_subscribers(before + 1, b"", WAIT)
            .await
            .unwrap();
        GroupSubscriber::new(sub, member)
    }

    async fn subscribers(&self) -> usize {
        self.publisher.socket().peer_count()
    }

    async fn publish(&self, text: &str) {
        self.publisher
            .publish(b"t", &[Bytes::copy_from_slice(text.as_bytes())])
            .await
            .unwrap();
    }

    /// Waits until the publisher seals with `epoch`.
    async fn until_epoch(&self, epoch: u64) {
        tokio::time::timeout(WAIT, async {
            while self.publisher.epoch() != Some(epoch) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the publisher switched");
    }
}

async fn recv_text(sub: &GroupSubscriber) -> Result<String, GroupError> {
    let opened = tokio::time::timeout(WAIT, sub.recv())
        .await
        .expect("a message")?;
    Ok(String::from_utf8(opened.parts[0].to_vec()).unwrap())
}

#[tokio::test]
async fn members_read_and_publish_is_sealed_once() {
    let g = group(2, |_| {}).await;
    let a = g.subscriber(&g.admitted[0]).await;
    let b = g.subscriber(&g.admitted[1]).await;
    g.publish("hello").await;
    assert_eq!(recv_text(&a).await.unwrap(), "hello");
    assert_eq!(recv_text(&b).await.unwrap(), "hello");
    let opened_sealed = {
        g.publish("again").await;
        tokio::time::timeout(WAIT, a.recv()).await.unwrap().unwrap()
    };
    let info = opened_sealed.sealed.expect("sealed");
    assert_eq!(info.epoch, 1);
    assert_eq!(
        info.counter, 1,
        "the second message of this sender in epoch 1"
    );
    assert!(info.signer.is_some());
}

#[tokio::test]
async fn a_subscriber_that_fails_zap_never_gets_a_key() {
    let g = group(1, |_| {}).await;
    let stranger = CurveKeyPair::generate().unwrap();
    let member = g.member(&stranger).await;
    // The refusal is in the CURVE handshake (ZAP said 400), and it is reported as one, at once.
    let got = member.wait_for_key(WAIT).await;
    assert!(
        matches!(&got, Err(GroupError::Denied(reason)) if reason.contains("ZAP status 400")),
        "{got:?}"
    );
    assert_eq!(member.current_epoch(), None);
    assert!(g.coordinator.members().await.unwrap().is_empty());
    // Listening anyway, it reads nothing.
    let sub = g.subscribe(member).await;
    g.publish("secret").await;
    let r = tokio::time::timeout(WAIT, sub.recv()).await.unwrap();
    assert!(
        matches!(
            r,
            Err(GroupError::Open(OpenError::UnknownEpoch { epoch: 1 }))
        ),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_wrong_coordinator_key_is_an_incomplete_handshake_and_an_absent_coordinator_a_timeout() {
    let g = group(1, |_| {}).await;
    let impostor = CurveKeyPair::generate().unwrap();
    let config = MemberConfig::new(g.admitted[0].secret.clone(), impostor.public);
    let member = Member::connect(g.coordinator.endpoint(), config)
        .await
        .unwrap();
    // A coordinator drops a HELLO it cannot open without a word (it must not answer strangers),
    // so the member can only say that it connected and no handshake completed.
    let got = member.wait_for_key(Duration::from_millis(1500)).await;
    assert!(
        matches!(got, Err(GroupError::HandshakeIncomplete { .. })),
        "{got:?}"
    );
    assert_eq!(member.current_epoch(), None);

    // Nobody listening: nothing is heard, so it is a timeout and not a refusal.
    let vacant = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("tcp://{}", vacant.local_addr().unwrap());
    drop(vacant);
    let config = MemberConfig::new(g.admitted[0].secret.clone(), *g.coordinator.public_key());
    let member = Member::connect(&endpoint, config).await.unwrap();
    let got = member.wait_for_key(Duration::from_millis(800)).await;
    assert!(matches!(got, Err(GroupError::KeyTimeout { .. })), "{got:?}");
}

#[tokio::test]
async fn a_revoked_member_cannot_open_what_is_sealed_after_the_rotation() {
    let g = group(2, |_| {}).await;
    let stays = g.subscriber(&g.admitted[0]).await;
    let revoked = g.subscriber(&g.admitted[1]).await;
    g.publish("before").await;
    assert_eq!(recv_text(&revoked).await.unwrap(), "before");
    assert_eq!(recv_text(&stays).await.unwrap(), "before");

    assert!(g.coordinator.revoke(&g.admitted[1].public).await.unwrap());
    g.until_epoch(2).await;
    g.publish("after").await;
    assert_eq!(recv_text(&stays).await.unwrap(), "after");
    let r = recv_text(&revoked).await;
    assert!(matches!(r, Err(GroupError::Denied(_))), "{r:?}");
    assert_eq!(revoked.member().current_epoch(), Some(1));
    // Its JOIN is refused from now on, even though ZAP still admits its key.
    let again = g.member(&g.admitted[1]).await;
    assert!(matches!(
        again.wait_for_key(WAIT).await,
        Err(GroupError::Denied(_))
    ));
}

#[tokio::test]
async fn a_departed_member_cannot_open_what_is_sealed_after_the_rotation() {
    let g = group(2, |c| c.member_ttl = Duration::from_millis(800)).await;
    let stays = g.subscriber(&g.admitted[0]).await;
    let leaves = g.member(&g.admitted[1]).await;
    leaves.wait_for_key(WAIT).await.unwrap();
    // The departed member kept its keyring and listens on a socket of its own; its key
    // service connection is gone (dropped), so the coordinator stops hearing from it.
    let held = leaves.current_epoch();
    assert_eq!(held, Some(1));
    let eavesdropper = g.subscribe(leaves).await;
    eavesdropper.member().stop();
    g.until_epoch(2).await;
    g.publish("after").await;
    assert_eq!(recv_text(&stays).await.unwrap(), "after");
    let r = recv_text(&eavesdropper).await;
    assert!(r.is_err(), "{r:?}");
    assert_eq!(eavesdropper.member().current_epoch(), Some(1));
}

#[tokio::test]
async fn a_late_joiner_gets_the_current_key_only() {
    let g = group(2, |_| {}).await;
    let early = g.subscriber(&g.admitted[0]).await;
    g.publish("epoch one").await;
    assert_eq!(recv_text(&early).await.unwrap(), "epoch one");
    // A sealed epoch-1 message, captured from the wire.
    let capture = Socket::new(SocketType::Sub);
    capture.subscribe(Bytes::new()).unwrap();
    capture.connect(&g.data).await.unwrap();
    g.publisher
        .socket()
        .wait_for_subscribers(2, b"", WAIT)
        .await
        .unwrap();
    g.publish("captured").await;
    let captured = tokio::time::timeout(WAIT, capture.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recv_text(&early).await.unwrap(), "captured");

    g.coordinator.rotate().await.unwrap();
    g.until_epoch(2).await;
    let late = g.member(&g.admitted[1]).await;
    assert_eq!(late.wait_for_key(WAIT).await.unwrap(), 2);
    // It asks for epoch 1 and is refused.
    let late = g.subscribe(late).await;
    let replayer = Socket::new(SocketType::Pub);
    let replay_at = replayer.bind("tcp://127.0.0.1:*").await.unwrap();
    late.socket().connect(&replay_at).await.unwrap();
    replayer.wait_for_subscribers(1, b"", WAIT).await.unwrap();
    replayer.send(captured.parts().to_vec()).await.unwrap();
    let r = recv_text(&late).await;
    assert!(matches!(r, Err(GroupError::Denied(_))), "{r:?}");
    assert_eq!(late.member().current_epoch(), Some(2));
    g.publish("epoch two").await;
    assert_eq!(recv_text(&late).await.unwrap(), "epoch two");
}

#[tokio::test]
async fn replayed_and_altered_messages_from_the_wire_are_refused() {
    let g = group(1, |_| {}).await;
    let sub = g.subscriber(&g.admitted[0]).await;
    let tap = Socket::new(SocketType::Sub);
    tap.subscribe(Bytes::new()).unwrap();
    tap.connect(&g.data).await.unwrap();
    g.publisher
        .socket()
        .wait_for_subscribers(2, b"", WAIT)
        .await
        .unwrap();
    g.publish("genuine").await;
    let genuine = tokio::time::timeout(WAIT, tap.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recv_text(&sub).await.unwrap(), "genuine");

    // An attacker's publisher the subscriber also listens to.
    let attacker = Socket::new(SocketType::Pub);
    let at = attacker.bind("tcp://127.0.0.1:*").await.unwrap();
    sub.socket().connect(&at).await.unwrap();
    attacker.wait_for_subscribers(1, b"", WAIT).await.unwrap();
    let parts = genuine.parts().to_vec();

    attacker.send(parts.clone()).await.unwrap();
    let r = tokio::time::timeout(WAIT, sub.recv()).await.unwrap();
    assert!(
        matches!(r, Err(GroupError::Open(OpenError::Replayed { .. }))),
        "{r:?}"
    );

    // Each alteration also moves the counter to one not seen yet, so that it is the tag that
    // refuses it (an altered copy of a counter already seen is refused as a replay first).
    let fresh = |counter: u64, frames: &[Bytes]| {
        let mut frames = frames.to_vec();
        let mut envelope = frames[1].to_vec();
        envelope[34..42].copy_from_slice(&counter.to_be_bytes());
        frames[1] = envelope.into();
        frames
    };
    for (counter, what) in [(77u64, "header"), (78, "ciphertext"), (79, "topic")] {
        let mut altered = fresh(counter, &parts);
        match what {
            "ciphertext" => {
                let mut envelope = altered[1].to_vec();
                let n = envelope.len();
                envelope[n - 80] ^= 0x20;
                altered[1] = envelope.into();
            }
            "topic" => altered[0] = Bytes::from_static(b"other topic"),
            _ => {}
        }
        attacker.send(altered).await.unwrap();
        let r = tokio::time::timeout(WAIT, sub.recv()).await.unwrap();
        assert!(
            matches!(r, Err(GroupError::Open(OpenError::Forged))),
            "{what}: {r:?}"
        );
    }

    let truncated = vec![parts[0].clone(), parts[1].slice(..30)];
    attacker.send(truncated).await.unwrap();
    let r = tokio::time::timeout(WAIT, sub.recv()).await.unwrap();
    assert!(
        matches!(r, Err(GroupError::Open(OpenError::Truncated(_)))),
        "{r:?}"
    );

    // The genuine publisher is still heard.
    g.publish("still here").await;
    assert_eq!(recv_text(&sub).await.unwrap(), "still here");
}

#[tokio::test]
async fn reordered_beyond_the_window_is_refused() {
    let g = group(1, |_| {}).await;
    let member = g
        .member_with(
            &g.admitted[0],
            ReceiverConfig {
                window: 64,
                ..Default::default()
            },
        )
        .await;
    member.wait_for_key(WAIT).await.unwrap();
    let sub = g.subscribe(member).await;
    let tap = Socket::new(SocketType::Sub);
    tap.subscribe(Bytes::new()).unwrap();
    tap.connect(&g.data).await.unwrap();
    g.publisher
        .socket()
        .wait_for_subscribers(2, b"", WAIT)
        .await
        .unwrap();
    g.publish("old").await;
    let old = tokio::time::timeout(WAIT, tap.recv())
        .await
        .unwrap()
        .unwrap();
    // The subscriber has not seen "old" yet (its own copy is dropped below): 100 newer ones.
    for n in 0..100 {
        g.publish(&format!("m{n}")).await;
    }
    assert_eq!(recv_text(&sub).await.unwrap(), "old");
    for n in 0..100 {
        assert_eq!(recv_text(&sub).await.unwrap(), format!("m{n}"));
    }
    let attacker = Socket::new(SocketType::Pub);
    let at = attacker.bind("tcp://127.0.0.1:*").await.unwrap();
    sub.socket().connect(&at).await.unwrap();
    attacker.wait_for_subscribers(1, b"", WAIT).await.unwrap();
    attacker.send(old.parts().to_vec()).await.unwrap();
    let r = tokio::time::timeout(WAIT, sub.recv()).await.unwrap();
    assert!(
        matches!(
            r,
            Err(GroupError::Open(OpenError::TooOld { counter: 0, .. }))
        ),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_across_rotations() {
    let g = Arc::new(group(1, |_| {}).await);
    let sub = g.subscriber(&g.admitted[0]).await;
    let total = 1500;
    let publisher = {
        let g = g.clone();
        tokio::spawn(async move {
            for n in 0..total {
                g.publish(&n.to_string()).await;
                if n % 250 == 125 {
                    g.coordinator.rotate().await.unwrap();
                }
                if n % 10 == 0 {
                    // Paced, so that rotations (switching 50 ms after each grant) land mid-stream.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        })
    };
    let mut epochs = std::collections::BTreeSet::new();
    for n in 0..total {
        let opened = tokio::time::timeout(WAIT, sub.recv())
            .await
            .unwrap()
            .unwrap_or_else(|e| {
                panic!(
                    "message {n}: {e}; member holds epoch {:?}, publisher at {:?}",
                    sub.member().current_epoch(),
                    g.publisher.epoch()
                )
            });
        assert_eq!(opened.parts[0], Bytes::from(n.to_string()));
        epochs.insert(opened.sealed.unwrap().epoch);
    }
    publisher.await.unwrap();
    assert!(epochs.len() >= 4, "crossed the rotations: {epochs:?}");
}

#[tokio::test]
async fn sensitive_only_mode_mixes_clear_and_sealed() {
    let g = group(1, |_| {}).await;
    let member = g
        .member_with(
            &g.admitted[0],
            ReceiverConfig {
                accept_clear: true,
                ..Default::default()
            },
        )
        .await;
    member.wait_for_key(WAIT).await.unwrap();
    let sub = g.subscribe(member).await;
    g.publisher
        .publish_clear(b"t", &[Bytes::from_static(b"telemetry")])
        .await
        .unwrap();
    g.publish("credentials").await;
    let clear = tokio::time::timeout(WAIT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (&clear.parts[0][..], clear.sealed),
        (&b"telemetry"[..], None)
    );
    let sealed = tokio::time::timeout(WAIT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&sealed.parts[0][..], b"credentials");
    assert!(sealed.sealed.is_some());
    // A subscriber that did not opt in refuses clear messages.
    let strict = g.subscriber(&g.admitted[0]).await;
    g.publisher
        .publish_clear(b"t", &[Bytes::from_static(b"telemetry")])
        .await
        .unwrap();
    let r = tokio::time::timeout(WAIT, strict.recv()).await.unwrap();
    assert!(
        matches!(r, Err(GroupError::Open(OpenError::ClearRefused))),
        "{r:?}"
    );
}

#[tokio::test]
async fn the_key_rotates_on_a_timer() {
    let g = group(1, |c| c.rotate_every = Some(Duration::from_millis(600))).await;
    let sub = g.subscriber(&g.admitted[0]).await;
    g.until_epoch(3).await;
    g.publish("later").await;
    let opened = tokio::time::timeout(WAIT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(opened.sealed.unwrap().epoch >= 3);
}

#[tokio::test]
async fn a_member_asking_in_a_loop_is_throttled() {
    use zmtp::mechanisms::CurveClientConfig;
    use zmtp::SocketOptions;
    use zmtp_group::control::Control;
    let g = group(1, |_| {}).await;
    let pair = &g.admitted[0];
    let raw = Socket::with_options(
        SocketType::Dealer,
        SocketOptions {
            mechanism: Arc::new(CurveClientConfig::new(
                pair.secret.clone(),
                *g.coordinator.public_key(),
            )),
            ..Default::default()
        },
    );
    raw.connect(g.coordinator.endpoint()).await.unwrap();
    raw.wait_for_peers(1, WAIT).await.unwrap();
    let grants = |raw: Socket| async move {
        let mut grants = 0;
        while let Ok(Ok(message)) =
            tokio::time::timeout(Duration::from_millis(500), raw.recv()).await
        {
            if matches!(Control::decode(message.parts()), Ok(Control::Grant { .. })) {
                grants += 1;
            }
        }
        (grants, raw)
    };
    // JOINs: one question to the authenticator per connection at a time, so those arriving
    // while it is asked share its answer (and never more than the bucket's burst get through).
    for _ in 0..200 {
        raw.send(Control::Join.encode()).await.unwrap();
    }
    let (joined, raw) = grants(raw).await;
    assert!(
        (1..=10).contains(&joined),
        "200 JOINs at once were answered by {joined} grants"
    );
    // KEY requests for the current epoch: each would be a box, so the bucket decides.
    tokio::time::sleep(Duration::from_millis(600)).await;
    for _ in 0..200 {
        raw.send(Control::Key(1).encode()).await.unwrap();
    }
    let (keyed, _raw) = grants(raw).await;
    assert!(
        (5..=10).contains(&keyed),
        "200 KEY requests at once were answered by {keyed} grants"
    );
}

#[tokio::test]
async fn a_member_that_is_dropped_says_leave_and_the_key_rotates_at_once() {
    // A TTL far longer than the test: only LEAVE can make the coordinator rotate in time.
    let g = group(2, |c| c.member_ttl = Duration::from_secs(600)).await;
    let stays = g.subscriber(&g.admitted[0]).await;
    let leaves = g.member(&g.admitted[1]).await;
    leaves.wait_for_key(WAIT).await.unwrap();
    drop(leaves);
    tokio::time::timeout(Duration::from_secs(3), g.until_epoch(2))
        .await
        .expect("rotated on LEAVE");
    g.publish("after").await;
    assert_eq!(recv_text(&stays).await.unwrap(), "after");
    assert_eq!(g.coordinator.members().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_crowd_leaving_together_costs_one_rotation() {
    let g = group(21, |_| {}).await;
    let stays = g.subscriber(&g.admitted[0]).await;
    let mut crowd = Vec::new();
    for pair in &g.admitted[1..] {
        let m = g.member(pair).await;
        m.wait_for_key(WAIT).await.unwrap();
        crowd.push(m);
    }
    drop(crowd);
    g.until_epoch(2).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        g.publisher.epoch().unwrap() <= 3,
        "20 departures turned the key over {} times",
        g.publisher.epoch().unwrap() - 1
    );
    g.publish("after").await;
    assert_eq!(recv_text(&stays).await.unwrap(), "after");
}

/// Admits every key; the questions after a key's first (the first is its CURVE handshake's)
/// wait `later` — forever when `None`.
#[derive(Debug)]
struct Hesitant {
    slow: [u8; 32],
    later: Option<Duration>,
    asked: std::sync::Mutex<std::collections::HashMap<Vec<u8>, usize>>,
    /// Keys refused from now on.
    refused: std::sync::Mutex<std::collections::HashSet<Vec<u8>>>,
}

#[async_trait::async_trait]
impl zmtp::zap::Authenticator for Hesitant {
    async fn authenticate(&self, request: zmtp::core::AuthRequest) -> zmtp::core::AuthResult {
        let key = request.credentials[0].to_vec();
        let n = {
            let mut asked = self.asked.lock().unwrap();
            let n = asked.entry(key.clone()).or_default();
            *n += 1;
            *n
        };
        if self.refused.lock().unwrap().contains(&key) {
            return Ok(zmtp::core::AuthReply::deny("refused"));
        }
        if key == self.slow && n > 1 {
            match self.later {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending::<()>().await,
            }
        }
        let id = zmtp::mechanisms::CurvePublicKey::from_bytes(key[..].try_into().unwrap())
            .unwrap()
            .to_z85();
        Ok(zmtp::core::AuthReply::allow(id))
    }
}

impl Hesitant {
    /// Waits until `pair`'s key was asked about `n` times (its JOIN is the second question:
    /// the first is its CURVE handshake's).
    async fn until_asked(&self, pair: &CurveKeyPair, n: usize) {
        let until = tokio::time::Instant::now() + WAIT;
        while self.times_asked(pair.public.as_bytes()) < n {
            assert!(
                tokio::time::Instant::now() < until,
                "asked {} times, not {n}",
                self.times_asked(pair.public.as_bytes())
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn times_asked(&self, key: &[u8; 32]) -> usize {
        self.asked
            .lock()
            .unwrap()
            .get(&key[..])
            .copied()
            .unwrap_or(0)
    }
}

async fn hesitant_coordinator(
    slow: &CurveKeyPair,
    later: Option<Duration>,
    tune: impl FnOnce(&mut CoordinatorConfig),
) -> (Coordinator, Arc<Hesitant>) {
    let auth = Arc::new(Hesitant {
        slow: *slow.public.as_bytes(),
        later,
        asked: Default::default(),
        refused: Default::default(),
    });
    let mut config = CoordinatorConfig::new(CurveKeyPair::generate().unwrap().secret, auth.clone());
    tune(&mut config);
    let coordinator = Coordinator::bind(config, "tcp://127.0.0.1:*")
        .await
        .unwrap();
    (coordinator, auth)
}

async fn join(coordinator: &Coordinator, pair: &CurveKeyPair) -> Member {
    let mut config = MemberConfig::new(pair.secret.clone(), *coordinator.public_key());
    config.alive_every = Duration::from_millis(200);
    Member::connect(coordinator.endpoint(), config)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_slow_authenticator_delays_only_the_member_it_is_asked_about() {
    let slow = CurveKeyPair::generate().unwrap();
    let (coordinator, auth) =
        hesitant_coordinator(&slow, Some(Duration::from_secs(4)), |_| {}).await;
    let slow_member = join(&coordinator, &slow).await;
    // Its JOIN is with the authenticator (the second question about its key).
    auth.until_asked(&slow, 2).await;
    // Meanwhile another member joins at once: it used to wait behind the slow answer.
    let fast = CurveKeyPair::generate().unwrap();
    let started = tokio::time::Instant::now();
    let fast_member = join(&coordinator, &fast).await;
    assert_eq!(fast_member.wait_for_key(WAIT).await.unwrap(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the fast member waited {:?}",
        started.elapsed()
    );
    assert_eq!(slow_member.current_epoch(), None);
    // The slow one gets its key once its answer comes.
    assert_eq!(slow_member.wait_for_key(WAIT).await.unwrap(), 1);
}

#[tokio::test]
async fn an_authenticator_that_never_answers_a_join_is_a_refusal_after_auth_timeout() {
    let stuck = CurveKeyPair::generate().unwrap();
    let (coordinator, _auth) = hesitant_coordinator(&stuck, None, |c| {
        c.auth_timeout = Duration::from_millis(300);
    })
    .await;
    let member = join(&coordinator, &stuck).await;
    let got = member.wait_for_key(WAIT).await;
    assert!(
        matches!(&got, Err(GroupError::Denied(reason)) if reason == "not admitted"),
        "{got:?}"
    );
    assert!(coordinator.members().await.unwrap().is_empty());
    // The service is not held up by the question still hanging.
    let other = CurveKeyPair::generate().unwrap();
    assert_eq!(
        join(&coordinator, &other)
            .await
            .wait_for_key(WAIT)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn questions_beyond_max_pending_auth_wait_for_a_free_slot() {
    // One slot, taken by a JOIN whose answer takes 1 s: another member's JOIN is dropped, and
    // its next ALIVE (every 200 ms) asks again until the slot is free.
    let slow = CurveKeyPair::generate().unwrap();
    let (coordinator, auth) = hesitant_coordinator(&slow, Some(Duration::from_secs(1)), |c| {
        c.max_pending_auth = 1;
    })
    .await;
    let slow_member = join(&coordinator, &slow).await;
    auth.until_asked(&slow, 2).await;
    let slot_taken = tokio::time::Instant::now();
    let other = CurveKeyPair::generate().unwrap();
    let other_member = join(&coordinator, &other).await;
    assert_eq!(other_member.wait_for_key(WAIT).await.unwrap(), 1);
    // Not before the slow answer freed the slot (1 s after it was taken).
    assert!(
        slot_taken.elapsed() >= Duration::from_millis(900),
        "the second JOIN was answered after {:?}, with the only slot taken",
        slot_taken.elapsed()
    );
    assert_eq!(slow_member.wait_for_key(WAIT).await.unwrap(), 1);
    assert_eq!(coordinator.members().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_recheck_asks_about_every_member_however_few_the_slots() {
    // Five members, one question slot, a re-check every 4 s: one re-check reaches all five
    // (one slot's worth per re-check, as before, would take five re-checks: 20 s).
    let nobody = CurveKeyPair::generate().unwrap();
    let (coordinator, auth) = hesitant_coordinator(&nobody, None, |c| {
        c.max_pending_auth = 1;
        c.recheck_every = Some(Duration::from_secs(4));
    })
    .await;
    let pairs: Vec<_> = (0..5).map(|_| CurveKeyPair::generate().unwrap()).collect();
    let mut members = Vec::new();
    for pair in &pairs {
        let m = join(&coordinator, pair).await;
        m.wait_for_key(WAIT).await.unwrap();
        members.push(m);
    }
    assert_eq!(coordinator.members().await.unwrap().len(), 5);
    auth.refused
        .lock()
        .unwrap()
        .extend(pairs.iter().map(|p| p.public.as_bytes().to_vec()));
    let until = tokio::time::Instant::now() + Duration::from_secs(7);
    while !coordinator.members().await.unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < until,
            "members left after the re-checks: {}",
            coordinator.members().await.unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The key moved on.
    drop(members);
    let mut keys = coordinator.keys();
    tokio::time::timeout(
        WAIT,
        keys.wait_for(|k| k.as_ref().is_some_and(|k| k.epoch >= 2)),
    )
    .await
    .expect("the key rotated after the expulsions")
    .unwrap();
}

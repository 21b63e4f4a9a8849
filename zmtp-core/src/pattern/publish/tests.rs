//! Tests of the PUB/XPUB policy.

use super::*;
use crate::Limits;
use smallvec::smallvec;

fn options() -> PublisherOptions {
    PublisherOptions::new(&Limits::default())
}

fn xpub_with(change: impl FnOnce(&mut PublisherOptions), peers: &[u32]) -> Publisher<u32> {
    let mut o = options();
    change(&mut o);
    let mut p = Publisher::new_xpub(o);
    for &peer in peers {
        p.join(peer);
    }
    p
}

fn to(p: &Publisher<u32>, topic: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    p.subscribers(topic, &mut out);
    out
}

fn note(frame: &'static [u8]) -> Option<Bytes> {
    Some(Bytes::from_static(frame))
}

#[test]
fn xpub_deduplicates_first_subscribe_and_last_cancel() {
    let mut p = xpub_with(|_| {}, &[1, 2]);
    assert_eq!(p.handle_subscribe(1, b"A").unwrap(), note(b"\x01A"));
    assert_eq!(p.handle_subscribe(2, b"A").unwrap(), None);
    assert_eq!(p.handle_subscribe(1, b"A").unwrap(), None, "a set per peer");
    assert_eq!(p.handle_cancel(1, b"A"), None, "peer 2 still wants A");
    assert_eq!(
        p.handle_cancel(1, b"A"),
        None,
        "unknown cancel: not passed up"
    );
    assert_eq!(p.handle_cancel(2, b"A"), note(b"\x00A"));
    assert_eq!(to(&p, b"A..."), Vec::<u32>::new());
}

#[test]
fn verbose_passes_every_subscribe_and_verboser_every_cancel() {
    let mut p = xpub_with(|o| o.verbosity = XpubVerbosity::Subscribes, &[1, 2]);
    assert_eq!(p.handle_subscribe(1, b"A").unwrap(), note(b"\x01A"));
    assert_eq!(p.handle_subscribe(2, b"A").unwrap(), note(b"\x01A"));
    assert_eq!(p.handle_cancel(1, b"A"), None);
    assert_eq!(p.handle_cancel(2, b"A"), note(b"\x00A"));

    let mut p = xpub_with(
        |o| o.verbosity = XpubVerbosity::SubscribesAndCancels,
        &[1, 2],
    );
    p.handle_subscribe(1, b"A").unwrap();
    assert_eq!(p.handle_subscribe(2, b"A").unwrap(), note(b"\x01A"));
    assert_eq!(p.handle_cancel(1, b"A"), note(b"\x00A"));
    assert_eq!(p.leave(2), vec![Bytes::from_static(b"\x00A")]);
}

#[test]
fn a_leaving_peer_cancels_what_nobody_else_wants() {
    let mut p = xpub_with(|_| {}, &[1, 2]);
    p.handle_subscribe(1, b"A").unwrap();
    p.handle_subscribe(1, b"B").unwrap();
    p.handle_subscribe(2, b"B").unwrap();
    assert_eq!(p.leave(1), vec![Bytes::from_static(b"\x00A")]);
    assert_eq!(to(&p, b"B"), vec![2]);
    assert_eq!(
        p.handle_subscribe(1, b"C").unwrap(),
        None,
        "gone peers are ignored"
    );
}

#[test]
fn pub_applies_subscriptions_silently_and_receives_nothing() {
    let mut p = Publisher::<u32>::new_pub(options());
    p.join(1);
    assert_eq!(p.handle_subscribe(1, b"A").unwrap(), None);
    assert_eq!(
        p.send(smallvec![Bytes::from_static(b"AB")]).unwrap().0,
        Route::Subscribers
    );
    assert_eq!(to(&p, b"AB"), vec![1]);
    assert_eq!(p.leave(1), Vec::<Bytes>::new());
    assert!(matches!(
        p.recv(1, smallvec![Bytes::from_static(b"x")]),
        Err(PatternError::Unsupported { .. })
    ));
}

#[test]
fn invert_matching_delivers_to_peers_that_do_not_match() {
    let mut p = xpub_with(|o| o.invert_matching = true, &[1, 2, 3]);
    p.handle_subscribe(1, b"A").unwrap();
    p.handle_subscribe(2, b"B").unwrap();
    assert_eq!(to(&p, b"Apple"), vec![2, 3]);
    assert_eq!(to(&p, b"Zoo"), vec![1, 2, 3]);
    let mut out = vec![99];
    p.subscribers(b"Banana", &mut out);
    assert_eq!(out, vec![99, 1, 3], "appends after what was there");
}

#[test]
fn welcome_and_nodrop_are_reported() {
    let mut p = xpub_with(
        |o| {
            o.welcome_msg = Some(Bytes::from_static(b"hi"));
            o.nodrop = true;
        },
        &[],
    );
    assert_eq!(p.join(1), Some(smallvec![Bytes::from_static(b"hi")]));
    assert!(p.nodrop());
    assert_eq!(xpub_with(|_| {}, &[]).join(1), None);
}

#[test]
fn manual_mode_applies_what_the_application_decides() {
    let mut p = xpub_with(|o| o.manual = true, &[1, 2]);
    assert_eq!(p.subscribe_last(b"A"), Err(PatternError::NoLastSubscriber));
    let n = p.handle_subscribe(1, b"A").unwrap().unwrap();
    assert_eq!(
        p.handle_subscribe(2, b"A").unwrap(),
        note(b"\x01A"),
        "no de-dup"
    );
    assert!(to(&p, b"A").is_empty(), "nothing applied by itself");
    p.recv(1, smallvec![n]).unwrap();
    p.subscribe_last(b"A-only").unwrap();
    assert_eq!(to(&p, b"A-only!"), vec![1]);
    assert_eq!(to(&p, b"A"), Vec::<u32>::new());
    assert_eq!(p.handle_cancel(1, b"zzz"), note(b"\x00zzz"));
    // Leaving cancels everything the peer asked for, and forgets it as the last peer.
    assert_eq!(p.leave(1), vec![Bytes::from_static(b"\x00A")]);
    assert!(to(&p, b"A-only!").is_empty());
    assert_eq!(p.cancel_last(b"A"), Err(PatternError::NoLastSubscriber));
    let mut plain = xpub_with(|_| {}, &[1]);
    assert!(matches!(
        plain.subscribe_last(b"A"),
        Err(PatternError::Unsupported { .. })
    ));
}

#[test]
fn manual_last_value_sends_once_to_the_last_peer() {
    let mut p = xpub_with(
        |o| {
            o.manual = true;
            o.manual_last_value = true;
        },
        &[1, 2],
    );
    for peer in [1, 2] {
        let n = p.handle_subscribe(peer, b"A").unwrap().unwrap();
        p.recv(peer, smallvec![n]).unwrap();
        p.subscribe_last(b"A").unwrap();
    }
    let m = smallvec![Bytes::from_static(b"A1")];
    assert_eq!(p.send(m.clone()).unwrap().0, Route::Peer(2));
    assert_eq!(p.send(m).unwrap().0, Route::Subscribers);
}

#[test]
fn a_peer_over_its_limits_is_refused() {
    let mut p = xpub_with(|o| o.max_subscriptions = 1, &[1]);
    p.handle_subscribe(1, b"A").unwrap();
    assert!(matches!(
        p.handle_subscribe(1, b"B"),
        Err(Error::LimitExceeded { .. })
    ));
    assert_eq!(p.topic_count(), 1);
}

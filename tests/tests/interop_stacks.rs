//! The interop matrix (`zmtp_tests::stacks`) against each independent ZMTP stack, and against
//! libzmq itself as the baseline that proves the harness. Each stack's known defects are declared
//! here with the entry of `rfcs/interop-stacks.md` that records them; a case whose outcome differs
//! from its declaration fails the test. `cargo test -p zmtp-tests --test interop_stacks --
//! --nocapture` prints each stack's table.

/// libzmq's REQ, bound as a PLAIN or CURVE server with a ZAP handler that names a User-Id,
/// drops the connection when the reply arrives (libzmq 4.3.4 and 4.3.5, libzmq on both sides
/// too): the case where the peer's REQ binds and we answer.
fn libzmq_req_zap_server(case: &Case) -> bool {
    matches!(
        case,
        Case::Traffic {
            mech: Mech::Plain | Mech::Curve,
            pattern: Pattern::ReqRep,
            we_bind: false,
            we_send: false,
        }
    )
}

const STACK_LIBZMQ_1: &str = "STACK-LIBZMQ-1: a libzmq REQ bound as a PLAIN or CURVE server \
     whose ZAP handler names a User-Id drops the connection when the reply arrives";

use zmtp_tests::stacks::{Case, Matrix, Mech, Pattern, Program, Wrong};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libzmq_baseline() {
    Matrix::new(Program::libzmq())
        .known_flaky(libzmq_req_zap_server, STACK_LIBZMQ_1)
        .run()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zmqrs_matrix() {
    Matrix::new(Program::new(
        "zmq.rs 0.7.0",
        env!("CARGO_BIN_EXE_zmqrs-peer"),
    ))
    .without_mech(Mech::Plain, "zmq.rs 0.7.0 has no PLAIN")
    .without_mech(Mech::Curve, "zmq.rs 0.7.0 has no CURVE")
    .run()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rzmq_matrix() {
    Matrix::new(Program::new("rzmq 0.5.28", env!("CARGO_BIN_EXE_rzmq-peer")))
        .known_failure(
            |case| {
                matches!(
                    case,
                    Case::Traffic {
                        pattern: Pattern::ReqRep,
                        we_send: false,
                        ..
                    }
                )
            },
            "STACK-RZMQ-1: rzmq's REQ sends single-part requests only",
        )
        .known_failure(
            |case| {
                *case
                    == Case::Refused {
                        wrong: Wrong::ClientKey,
                        we_serve: false,
                    }
            },
            "STACK-RZMQ-2: rzmq has no ZAP; its CURVE server admits any client",
        )
        .run()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azmq_matrix() {
    let python = Program::installed_by("setup-azmq");
    let peer = zmtp_tests::repo_root().join("tests/interop/azmq_peer.py");
    Matrix::new(Program::new("azmq 1.0.6", python).arg(peer.display().to_string()))
        .known_failure(
            |case| {
                matches!(
                    case,
                    Case::Traffic {
                        mech: Mech::Curve,
                        pattern: Pattern::PubSub,
                        we_send: false,
                        ..
                    }
                )
            },
            "STACK-AZMQ-1: azmq's CURVE ignores the COMMAND flag of MESSAGE boxes, so its PUB \
             takes a ZMTP 3.1 SUBSCRIBE for data and drops the subscriber",
        )
        .run()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn czmq_matrix() {
    Matrix::new(Program::new(
        "czmq 4.2.1 (libzmq 4.3.4)",
        Program::installed_by("setup-czmq"),
    ))
    .known_flaky(libzmq_req_zap_server, STACK_LIBZMQ_1)
    .run()
    .await;
}

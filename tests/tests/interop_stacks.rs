//! The interop matrix (`zmtp_tests::stacks`) against each independent ZMTP stack, and against
//! libzmq itself as the baseline that proves the harness. Each stack's known defects are declared
//! here with the entry of `rfcs/interop-stacks.md` that records them; a case whose outcome differs
//! from its declaration fails the test. `cargo test -p zmtp-tests --test interop_stacks --
//! --nocapture` prints each stack's table.

use zmtp_tests::stacks::{Case, Matrix, Mech, Pattern, Program};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libzmq_baseline() {
    Matrix::new(Program::libzmq())
        .known_flaky(
            |case| {
                matches!(
                    case,
                    Case::Traffic {
                        mech: Mech::Plain | Mech::Curve,
                        pattern: Pattern::ReqRep,
                        we_bind: false,
                        we_send: false,
                    }
                )
            },
            "STACK-LIBZMQ-1: a libzmq REQ bound as a PLAIN or CURVE server with a ZAP handler \
             may drop its first connection right after the handshake, and the reply with it",
        )
        .run()
        .await;
}

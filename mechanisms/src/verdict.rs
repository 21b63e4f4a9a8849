//! What every server-side mechanism does with a ZAP answer (RFC 27, and libzmq's behaviour as
//! recorded in the interop notes): 200 continues; 300 closes without ERROR so the client may try
//! again; 400 and 500 send ERROR whose reason is exactly the three-digit status; a failed
//! exchange (malformed reply, no handler) closes without ERROR.

use zmtp_core::wire::command::encode_error;
use zmtp_core::{AuthOutcome, AuthResult, AuthStatus, Error, ProtocolError};

/// How a ZAP answer ends the handshake step.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Continue with this outcome.
    Allow(AuthOutcome),
    /// Fail; send this ERROR command body first when `Some`.
    Refuse {
        error: Error,
        error_command: Option<bytes::Bytes>,
    },
}

pub(crate) fn judge(reply: AuthResult) -> Verdict {
    match reply {
        Err(failure) => Verdict::Refuse {
            error: ProtocolError::Zap(failure).into(),
            error_command: None,
        },
        Ok(reply) => match reply.status {
            AuthStatus::Success => Verdict::Allow(AuthOutcome {
                user_id: reply.user_id,
                metadata: reply.metadata,
            }),
            status => Verdict::Refuse {
                error: Error::AuthFailed {
                    status: status.code(),
                    text: reply.status_text,
                },
                error_command: (status != AuthStatus::TemporaryFailure)
                    .then(|| encode_error(status.as_str())),
            },
        },
    }
}

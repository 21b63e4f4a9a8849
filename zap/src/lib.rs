//! ZAP (RFC 27): how a server decides whether to admit a peer.
//!
//! ```text
//! server mechanism ──AuthRequest──► connection driver ──► Authenticator::authenticate
//!                  ◄──AuthReply─────                  ◄──
//! ```
//!
//! A server-side mechanism emits an [`AuthRequest`] as data; the connection driver hands it to the
//! socket's [`Authenticator`] and feeds the answer back, with a timeout. Any type implementing
//! the trait can decide; [`FnAuthenticator`] wraps a closure.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;

use async_trait::async_trait;
pub use zmtp_core::{AuthReply, AuthRequest, AuthResult, AuthStatus, Metadata, ZapFailure};

pub mod cert;
mod files;
pub mod fuzzing;
pub mod passwords;
pub mod policy;
pub mod service;
pub mod wire;

pub use cert::{CertError, CertFormat, Certificate};
pub use passwords::{PasswordFile, Passwords};
pub use policy::{Policy, PolicyError, ANY_DOMAIN};
pub use service::{ZapClient, ZapService, ZapServiceHandle};

/// The RFC 27 handler interface under the name the design uses; the same trait.
pub use self::Authenticator as ZapHandler;

/// Decides whether a peer may connect.
#[async_trait]
pub trait Authenticator: Send + Sync + fmt::Debug {
    /// Answers one request. `Err` means the exchange itself failed (as a malformed ZAP reply
    /// would); a refusal is an `Ok` reply with status 300, 400 or 500.
    async fn authenticate(&self, request: AuthRequest) -> AuthResult;
}

/// An authenticator backed by a synchronous closure.
pub struct FnAuthenticator<F>(pub F);

impl<F> fmt::Debug for FnAuthenticator<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnAuthenticator")
    }
}

#[async_trait]
impl<F> Authenticator for FnAuthenticator<F>
where
    F: Fn(&AuthRequest) -> AuthResult + Send + Sync,
{
    async fn authenticate(&self, request: AuthRequest) -> AuthResult {
        (self.0)(&request)
    }
}

/// Admits every peer (with an empty user id). For NULL sockets that want ZAP metadata only.
#[derive(Debug, Default, Clone, Copy)]
pub struct AllowAll;

#[async_trait]
impl Authenticator for AllowAll {
    async fn authenticate(&self, _request: AuthRequest) -> AuthResult {
        Ok(AuthReply::allow(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes_free_request as req;

    fn bytes_free_request() -> AuthRequest {
        AuthRequest {
            domain: "d".into(),
            address: "127.0.0.1".into(),
            identity: Default::default(),
            mechanism: zmtp_core::MechanismName::NULL,
            credentials: vec![],
        }
    }

    #[tokio::test]
    async fn closure_authenticator_answers() {
        let a = FnAuthenticator(|r: &AuthRequest| {
            if r.domain == "d" {
                Ok(AuthReply::allow("u"))
            } else {
                Ok(AuthReply::deny("no"))
            }
        });
        assert_eq!(a.authenticate(req()).await.unwrap().user_id, "u");
        assert_eq!(
            AllowAll.authenticate(req()).await.unwrap().status,
            AuthStatus::Success
        );
    }
}

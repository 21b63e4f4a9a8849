//! Security flags, named after libzmq's options. NULL is the default.

use std::sync::Arc;

use clap::Args;
use zmtp::mechanisms::{
    CurveClientConfig, CurveKeyPair, CurvePublicKey, CurveSecretKey, CurveServerConfig,
    PlainClientConfig, PlainServerConfig,
};
use zmtp::zap::AllowAll;
use zmtp::SocketOptions;

use crate::common::Failure;

/// Security and authentication options.
#[derive(Args, Debug, Clone, Default)]
pub struct SecurityArgs {
    /// Act as CURVE server (needs --curve-secretkey; the public key is derived).
    #[arg(long, help_heading = "Security")]
    pub curve_server: bool,
    /// Our CURVE secret key (40 Z85 characters).
    #[arg(long, value_name = "Z85", help_heading = "Security")]
    pub curve_secretkey: Option<String>,
    /// Our CURVE public key (client; checked against the secret key).
    #[arg(long, value_name = "Z85", help_heading = "Security")]
    pub curve_publickey: Option<String>,
    /// The server's CURVE public key: makes this socket a CURVE client. Without its own keys the
    /// client uses a fresh keypair.
    #[arg(long, value_name = "Z85", help_heading = "Security")]
    pub curve_serverkey: Option<String>,
    /// Act as PLAIN server (needs an authenticator: --passwords, or --zap-endpoint).
    #[arg(long, help_heading = "Security")]
    pub plain_server: bool,
    /// PLAIN client user name.
    #[arg(long, value_name = "U", help_heading = "Security")]
    pub plain_username: Option<String>,
    /// PLAIN client password.
    #[arg(long, value_name = "P", help_heading = "Security")]
    pub plain_password: Option<String>,
    /// ZMQ_ZAP_DOMAIN: the domain the authentication handler is asked in.
    #[arg(long, value_name = "DOMAIN", help_heading = "Authentication")]
    pub zap_domain: Option<String>,
    /// CURVE server: admit any client whose keys complete the handshake.
    #[arg(long, help_heading = "Authentication")]
    pub curve_allow_any: bool,
}

fn secret(text: &str) -> Result<CurveSecretKey, Failure> {
    CurveSecretKey::from_z85(text).map_err(|e| Failure::usage(format!("--curve-secretkey: {e}")))
}

fn public(flag: &str, text: &str) -> Result<CurvePublicKey, Failure> {
    CurvePublicKey::from_z85(text).map_err(|e| Failure::usage(format!("{flag}: {e}")))
}

impl SecurityArgs {
    /// Applies the flags to socket options.
    pub fn apply(&self, options: &mut SocketOptions) -> Result<(), Failure> {
        let curve_client = self.curve_serverkey.is_some();
        let plain_client = self.plain_username.is_some() || self.plain_password.is_some();
        let chosen = [
            self.curve_server,
            curve_client,
            self.plain_server,
            plain_client,
        ]
        .iter()
        .filter(|&&b| b)
        .count();
        if chosen > 1 {
            return Err(Failure::usage(
                "choose one of --curve-server, --curve-serverkey, --plain-server, --plain-username",
            ));
        }
        if let Some(d) = &self.zap_domain {
            options.zap_domain = Some(d.clone());
        }
        if self.curve_server {
            let key = self
                .curve_secretkey
                .as_deref()
                .ok_or_else(|| Failure::usage("--curve-server needs --curve-secretkey"))?;
            options.mechanism = Arc::new(CurveServerConfig::new(secret(key)?));
        } else if let Some(server_key) = &self.curve_serverkey {
            let server = public("--curve-serverkey", server_key)?;
            let ours = match &self.curve_secretkey {
                Some(s) => CurveKeyPair::from_secret(secret(s)?),
                None => CurveKeyPair::generate()
                    .map_err(|e| Failure::other(format!("cannot generate keys: {e}")))?,
            };
            if let Some(p) = &self.curve_publickey {
                if public("--curve-publickey", p)? != ours.public {
                    return Err(Failure::usage(
                        "--curve-publickey does not belong to --curve-secretkey",
                    ));
                }
            }
            options.mechanism = Arc::new(CurveClientConfig::new(ours.secret, server));
        } else if self.curve_secretkey.is_some() || self.curve_publickey.is_some() {
            return Err(Failure::usage(
                "CURVE keys need --curve-server or --curve-serverkey",
            ));
        } else if self.plain_server {
            options.mechanism = Arc::new(PlainServerConfig::new());
        } else if plain_client {
            let user = self.plain_username.as_deref().unwrap_or_default();
            let pass = self.plain_password.as_deref().unwrap_or_default();
            let config = PlainClientConfig::new(user.as_bytes(), pass.as_bytes())
                .map_err(|e| Failure::usage(format!("PLAIN credentials: {e}")))?;
            options.mechanism = Arc::new(config);
        }
        if self.curve_allow_any {
            if !self.curve_server {
                return Err(Failure::usage("--curve-allow-any is for --curve-server"));
            }
            options.authenticator = Some(Arc::new(AllowAll));
            options.zap_domain.get_or_insert_with(|| "global".into());
        }
        Ok(())
    }
}

//! Security flags, named after libzmq's options. NULL is the default.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use zeroize::Zeroizing;
use zmtp::mechanisms::{
    CurveClientConfig, CurveKeyPair, CurvePublicKey, CurveSecretKey, CurveServerConfig,
    PlainClientConfig, PlainServerConfig,
};
use zmtp::zap::{Certificate, Policy, ANY_DOMAIN};
use zmtp::{SocketOptions, ZapProxy};

use crate::common::{parse_public_key, parse_secret_key, Failure};

/// Security and authentication options.
#[derive(Args, Debug, Clone, Default)]
pub struct SecurityArgs {
    /// Act as CURVE server (needs --curve-secretkey or --curve-cert; the public key is derived).
    #[arg(long, help_heading = "Security")]
    pub curve_server: bool,
    /// Our CURVE secret key (40 Z85 characters). Without it and --curve-cert, --curve-server
    /// reads the environment variable ZMTP_CURVE_SECRETKEY, which keeps the key out of the
    /// process list (a client keeps its secret in a --curve-cert file instead).
    #[arg(
        long,
        value_name = "Z85",
        allow_hyphen_values = true,
        value_parser = parse_secret_key,
        help_heading = "Security"
    )]
    pub curve_secretkey: Option<CurveSecretKey>,
    /// Our CURVE public key (client; checked against the secret key).
    #[arg(
        long,
        value_name = "Z85",
        allow_hyphen_values = true,
        value_parser = parse_public_key,
        help_heading = "Security"
    )]
    pub curve_publickey: Option<CurvePublicKey>,
    /// The server's CURVE public key: makes this socket a CURVE client. Without its own keys
    /// (--curve-secretkey or --curve-cert) the client uses a fresh keypair.
    #[arg(
        long,
        value_name = "Z85",
        allow_hyphen_values = true,
        value_parser = parse_public_key,
        help_heading = "Security"
    )]
    pub curve_serverkey: Option<CurvePublicKey>,
    /// Our CURVE keys from a secret certificate file (czmq `NAME_secret` or pyzmq
    /// `NAME.key_secret`), instead of --curve-secretkey.
    #[arg(long, value_name = "FILE", help_heading = "Security")]
    pub curve_cert: Option<PathBuf>,
    /// Act as PLAIN server (needs an authenticator: --passwords, or --zap-endpoint).
    #[arg(long, help_heading = "Security")]
    pub plain_server: bool,
    /// PLAIN client user name.
    #[arg(long, value_name = "U", help_heading = "Security")]
    pub plain_username: Option<String>,
    /// PLAIN client password. Without it, --plain-username reads the environment variable
    /// ZMTP_PLAIN_PASSWORD, which keeps the password out of the process list.
    #[arg(long, value_name = "P", value_parser = parse_secret_text, help_heading = "Security")]
    pub plain_password: Option<SecretText>,
    /// ZMQ_ZAP_DOMAIN: the domain the authentication handler is asked in.
    #[arg(long, value_name = "DOMAIN", help_heading = "Authentication")]
    pub zap_domain: Option<String>,
    /// CURVE server: admit any client whose keys complete the handshake.
    #[arg(long, help_heading = "Authentication")]
    pub curve_allow_any: bool,
    /// Admit only peers from this IP address (repeatable; not with --deny).
    #[arg(long, value_name = "IP", help_heading = "Authentication")]
    pub allow: Vec<String>,
    /// Refuse peers from this IP address (repeatable; not with --allow).
    #[arg(long, value_name = "IP", help_heading = "Authentication")]
    pub deny: Vec<String>,
    /// PLAIN server: the users, one `user=password` a line (re-read when it changes).
    #[arg(long, value_name = "FILE", help_heading = "Authentication")]
    pub passwords: Option<PathBuf>,
    /// CURVE server: admit the clients whose public certificates (czmq or pyzmq files) are in
    /// DIR; their metadata is attached to the connection (re-read when the directory changes).
    #[arg(long, value_name = "DIR", help_heading = "Authentication")]
    pub curve_certs: Option<PathBuf>,
    /// Ask an external RFC 27 handler over ZMTP (e.g. tcp://127.0.0.1:5599) instead of the
    /// in-process one.
    #[arg(long, value_name = "ENDPOINT", help_heading = "Authentication")]
    pub zap_endpoint: Option<String>,
}

/// A secret given as text (a password): wiped from memory when dropped, never printed by
/// `Debug`.
///
/// The command line it came from stays in the process's argument block and in clap's own parse
/// of it, and a value from the environment stays in the environment block: copies outside this
/// program's reach (removing a variable is not safe in a threaded program), which is why the
/// environment is the better place for a secret than a flag.
#[derive(Clone)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    /// The text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}

/// A secret flag's value, copied once into wiped memory.
fn parse_secret_text(s: &str) -> Result<SecretText, String> {
    Ok(SecretText(Zeroizing::new(s.to_owned())))
}

/// Where --curve-server without --curve-secretkey or --curve-cert finds its secret key. Clients
/// never read it, so a server's key set in a shell does not become a client's identity.
pub const SECRET_KEY_ENV: &str = "ZMTP_CURVE_SECRETKEY";
/// Where --plain-username without --plain-password finds the password.
pub const PASSWORD_ENV: &str = "ZMTP_PLAIN_PASSWORD";

/// An environment variable that is set to something other than blanks (an empty or blank value
/// counts as unset); one that is not Unicode is a usage error. The value is read into wiped
/// memory (see [`SecretText`] for the copy in the environment itself).
fn from_env(name: &str) -> Result<Option<SecretText>, Failure> {
    match std::env::var(name).map(Zeroizing::new) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(SecretText(v))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(raw)) => {
            drop(Zeroizing::new(raw.into_encoded_bytes()));
            Err(Failure::usage(format!("{name} is not valid text")))
        }
    }
}

/// The secret key in ZMTP_CURVE_SECRETKEY, if set.
pub(crate) fn secret_from_env() -> Result<Option<CurveSecretKey>, Failure> {
    from_env(SECRET_KEY_ENV)?
        .map(|text| {
            CurveSecretKey::from_z85(text.expose().trim())
                .map_err(|e| Failure::usage(format!("{SECRET_KEY_ENV}: {e}")))
        })
        .transpose()
}

impl SecurityArgs {
    /// Our secret key, from --curve-secretkey or --curve-cert.
    fn our_secret(&self) -> Result<Option<CurveSecretKey>, Failure> {
        match (&self.curve_secretkey, &self.curve_cert) {
            (Some(_), Some(_)) => Err(Failure::usage(
                "give --curve-secretkey or --curve-cert, not both",
            )),
            (Some(s), None) => Ok(Some(s.clone())),
            (None, Some(path)) => {
                let cert = Certificate::load(path)
                    .map_err(|e| Failure::usage(format!("--curve-cert: {e}")))?;
                match cert.secret {
                    Some(s) => Ok(Some(s)),
                    None => Err(Failure::usage(format!(
                        "--curve-cert: {} is a public certificate; give the secret one",
                        path.display()
                    ))),
                }
            }
            (None, None) => Ok(None),
        }
    }

    /// Whether any server-side authentication flag is given.
    fn wants_policy(&self) -> bool {
        self.curve_allow_any
            || !self.allow.is_empty()
            || !self.deny.is_empty()
            || self.passwords.is_some()
            || self.curve_certs.is_some()
    }

    /// The in-process handler the authentication flags describe.
    fn policy(&self) -> Result<Policy, Failure> {
        let usage = |e: zmtp::zap::PolicyError| Failure::usage(e.to_string());
        let mut policy = Policy::new();
        for ip in &self.allow {
            policy = policy.allow(ip).map_err(usage)?;
        }
        for ip in &self.deny {
            policy = policy.deny(ip).map_err(usage)?;
        }
        if let Some(path) = &self.passwords {
            policy = policy
                .passwords_file(ANY_DOMAIN, path)
                .map_err(|e| Failure::usage(format!("--passwords: {e}")))?;
        }
        if let Some(dir) = &self.curve_certs {
            policy = policy
                .curve_certs(ANY_DOMAIN, dir)
                .map_err(|e| Failure::usage(format!("--curve-certs: {e}")))?;
        }
        if self.curve_allow_any {
            policy = policy.curve_allow_any(ANY_DOMAIN);
        }
        Ok(policy)
    }

    /// Applies the flags to socket options (connecting to an external ZAP handler if asked).
    pub async fn apply(&self, options: &mut SocketOptions) -> Result<(), Failure> {
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
        let mut our_secret = self.our_secret()?;
        if our_secret.is_none() && self.curve_server {
            our_secret = secret_from_env()?;
        }
        if self.curve_server {
            let key = our_secret.ok_or_else(|| {
                Failure::usage(format!(
                    "--curve-server needs --curve-secretkey, --curve-cert or {SECRET_KEY_ENV}"
                ))
            })?;
            if let Some(p) = self.curve_publickey {
                if p != key.public_key() {
                    return Err(Failure::usage(
                        "--curve-publickey does not belong to the server's secret key",
                    ));
                }
            }
            options.mechanism = Arc::new(CurveServerConfig::new(key));
        } else if let Some(server) = self.curve_serverkey {
            if our_secret.is_none() && matches!(from_env(SECRET_KEY_ENV), Ok(Some(_))) {
                eprintln!(
                    "note: {SECRET_KEY_ENV} is for --curve-server only; this client uses a fresh \
                     keypair (give --curve-cert or --curve-secretkey for a fixed one)"
                );
            }
            let ours = match our_secret {
                Some(s) => CurveKeyPair::from_secret(s),
                None => CurveKeyPair::generate()
                    .map_err(|e| Failure::other(format!("cannot generate keys: {e}")))?,
            };
            if let Some(p) = self.curve_publickey {
                if p != ours.public {
                    return Err(Failure::usage(
                        "--curve-publickey does not belong to --curve-secretkey",
                    ));
                }
            }
            options.mechanism = Arc::new(CurveClientConfig::new(ours.secret, server));
        } else if our_secret.is_some() || self.curve_publickey.is_some() {
            return Err(Failure::usage(
                "CURVE keys need --curve-server or --curve-serverkey",
            ));
        } else if self.plain_server {
            options.mechanism = Arc::new(PlainServerConfig::new());
        } else if plain_client {
            let user = self.plain_username.as_deref().unwrap_or_default();
            let env_password = match &self.plain_password {
                None if self.plain_username.is_some() => from_env(PASSWORD_ENV)?,
                _ => None,
            };
            if self.plain_password.is_none() && env_password.is_none() {
                return Err(Failure::usage(format!(
                    "--plain-username needs --plain-password or {PASSWORD_ENV}"
                )));
            }
            let pass = self
                .plain_password
                .as_ref()
                .or(env_password.as_ref())
                .map(SecretText::expose)
                .unwrap_or_default();
            let config = PlainClientConfig::new(user.as_bytes(), pass.as_bytes())
                .map_err(|e| Failure::usage(format!("PLAIN credentials: {e}")))?;
            options.mechanism = Arc::new(config);
        }
        let server = self.curve_server || self.plain_server;
        if (self.wants_policy() || self.zap_endpoint.is_some()) && !server && !options_is_null(self)
        {
            return Err(Failure::usage(
                "authentication flags (--allow, --deny, --passwords, --curve-certs, \
                 --curve-allow-any, --zap-endpoint) are for servers",
            ));
        }
        if (self.curve_allow_any || self.curve_certs.is_some()) && !self.curve_server {
            return Err(Failure::usage(
                "--curve-allow-any and --curve-certs are for --curve-server",
            ));
        }
        if self.passwords.is_some() && !self.plain_server {
            return Err(Failure::usage("--passwords is for --plain-server"));
        }
        if let Some(endpoint) = &self.zap_endpoint {
            if self.wants_policy() {
                return Err(Failure::usage(
                    "--zap-endpoint replaces the in-process handler: drop --allow, --deny, \
                     --passwords, --curve-certs and --curve-allow-any",
                ));
            }
            if endpoint.starts_with("tcp://") && self.plain_server {
                eprintln!(
                    "warning: PLAIN passwords travel unencrypted to the ZAP handler at {endpoint}; \
                     prefer an ipc:// endpoint"
                );
            }
            let proxy = ZapProxy::connect(endpoint)
                .await
                .map_err(|e| Failure::usage(format!("--zap-endpoint: {e}")))?;
            options.authenticator = Some(Arc::new(proxy));
        } else if self.wants_policy() {
            if self.plain_server && self.passwords.is_none() {
                return Err(Failure::usage(
                    "--plain-server needs --passwords FILE or --zap-endpoint",
                ));
            }
            if self.curve_server && !self.curve_allow_any && self.curve_certs.is_none() {
                return Err(Failure::usage(
                    "--curve-server with --allow/--deny needs --curve-certs DIR or \
                     --curve-allow-any",
                ));
            }
            options.authenticator = Some(Arc::new(self.policy()?));
        } else if self.plain_server {
            return Err(Failure::usage(
                "--plain-server needs --passwords FILE or --zap-endpoint",
            ));
        }
        Ok(())
    }
}

/// Whether the flags leave the socket on NULL (a NULL server can still filter by address).
fn options_is_null(args: &SecurityArgs) -> bool {
    args.curve_serverkey.is_none() && args.plain_username.is_none() && args.plain_password.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_a_password() {
        let args = SecurityArgs {
            plain_username: Some("admin".into()),
            plain_password: Some(parse_secret_text("hunter2").unwrap()),
            ..SecurityArgs::default()
        };
        assert_eq!(
            args.plain_password.as_ref().map(SecretText::expose),
            Some("hunter2")
        );
        assert!(!format!("{args:?}").contains("hunter2"));
    }
}

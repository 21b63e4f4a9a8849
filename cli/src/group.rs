//! Group keys from the shell: `zmtp coordinator` runs the key service, `send --group` publishes
//! sealed messages and `recv --group` opens them (see the `zmtp-group` crate).
//!
//! Keys are given as on the other commands: CURVE keys as Z85 text or certificate files (from
//! `zmtp keygen --cert`), a publisher's Ed25519 keys as hex or key files (from
//! `zmtp keygen --ed25519 --cert`).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use zmtp::mechanisms::{CurvePublicKey, CurveSecretKey};
use zmtp::zap::{Certificate, Policy, ANY_DOMAIN};
use zmtp_group::keyfile;
use zmtp_group::{
    Coordinator, CoordinatorConfig, GroupError, Member, MemberConfig, Opened, SigningKey,
    VerifyingKey,
};

use crate::common::{frame_json, frame_text, parse_public_key, parse_secret_key, Failure};

/// How long `send` and `recv` wait for their first group key without --timeout-ms.
pub const KEY_WAIT: Duration = Duration::from_secs(10);

/// A CURVE public key flag's value: Z85, or a certificate file (public or secret).
pub fn public_key_or_file(s: &str) -> Result<CurvePublicKey, String> {
    if Path::new(s).is_file() {
        return Certificate::load(Path::new(s))
            .map(|c| c.public)
            .map_err(|e| e.to_string());
    }
    parse_public_key(s.trim()).map_err(|e| format!("{e} (nor is it a certificate file)"))
}

/// A CURVE secret key flag's value: Z85, or a secret certificate file.
pub fn secret_key_or_file(s: &str) -> Result<CurveSecretKey, String> {
    if Path::new(s).is_file() {
        let cert = Certificate::load(Path::new(s)).map_err(|e| e.to_string())?;
        return cert
            .secret
            .ok_or_else(|| format!("{s} is a public certificate; give the secret one"));
    }
    parse_secret_key(s.trim()).map_err(|e| format!("{e} (nor is it a certificate file)"))
}

/// A publisher's Ed25519 signing key: 64 hex digits, or a secret key file.
pub fn signing_key(s: &str) -> Result<SigningKey, String> {
    let path = Path::new(s);
    if path.is_file() {
        return keyfile::read_signing_key(path).map_err(|e| match e {
            keyfile::KeyFileError::Missing { .. } => {
                format!("{s} holds no secret-key (a public key file? give the _secret one)")
            }
            e => e.to_string(),
        });
    }
    keyfile::signing_key_from_hex(s).map_err(|e| e.to_string())
}

/// A publisher's Ed25519 verifying key: 64 hex digits, or a key file (public or secret).
pub fn verifying_key(s: &str) -> Result<VerifyingKey, String> {
    let path = Path::new(s);
    if path.is_file() {
        return keyfile::read_verifying_key(path).map_err(|e| e.to_string());
    }
    keyfile::verifying_key_from_hex(s).map_err(|e| e.to_string())
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    zmtp keygen --cert coord && zmtp keygen --cert sub && zmtp keygen --cert pub\n  \
    zmtp keygen --ed25519 --cert signer\n  \
    zmtp coordinator --bind tcp://127.0.0.1:5560 --secret-key coord_secret --allow sub --allow pub \
    --publisher signer\n\n\
    Members (zmtp recv --group, zmtp send --group) connect over CURVE with their own keys; the \
    coordinator admits those listed with --allow, found in --certs, or any with --allow-any, \
    and boxes each epoch key to the member's key. Subscribers accept only messages signed by \
    a key given with --publisher. The key rotates when a member leaves or goes silent, and \
    with --rotate-every. It runs until interrupted; joins, leaves and new epochs are reported \
    on stderr.")]
pub struct CoordinatorArgs {
    /// Where members connect, e.g. tcp://127.0.0.1:5560.
    #[arg(long, value_name = "ENDPOINT")]
    pub bind: String,
    /// The coordinator's CURVE secret key: Z85, or a secret certificate file. Without it, the
    /// environment variable ZMTP_CURVE_SECRETKEY.
    #[arg(long, value_name = "Z85|FILE", allow_hyphen_values = true,
          value_parser = secret_key_or_file)]
    pub secret_key: Option<CurveSecretKey>,
    /// Admit the member with this CURVE public key: Z85, or a certificate file (repeatable).
    #[arg(long, value_name = "Z85|FILE", allow_hyphen_values = true,
          value_parser = public_key_or_file)]
    pub allow: Vec<CurvePublicKey>,
    /// Admit the members whose public certificates are in DIR (re-read when it changes).
    #[arg(long, value_name = "DIR")]
    pub certs: Option<std::path::PathBuf>,
    /// Admit any member whose CURVE handshake succeeds.
    #[arg(long)]
    pub allow_any: bool,
    /// A publisher's Ed25519 verifying key (hex, or a key file from zmtp keygen --ed25519):
    /// members accept the messages it signs (repeatable; at least one).
    #[arg(long, value_name = "HEX|FILE", value_parser = verifying_key)]
    pub publisher: Vec<VerifyingKey>,
    /// Rotate the key every SECS seconds (besides on every leave).
    #[arg(long, value_name = "SECS")]
    pub rotate_every: Option<f64>,
    /// Print {"endpoint": ..., "public": ..., "group": ...} instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `zmtp coordinator`.
pub async fn coordinator(args: CoordinatorArgs) -> Result<(), Failure> {
    let secret = match args.secret_key.clone() {
        Some(s) => s,
        None => crate::security::secret_from_env()?.ok_or_else(|| {
            Failure::usage(format!(
                "give --secret-key (Z85 or a secret certificate file) or {}",
                crate::security::SECRET_KEY_ENV
            ))
        })?,
    };
    if args.allow.is_empty() && args.certs.is_none() && !args.allow_any {
        return Err(Failure::usage(
            "nobody could join: give --allow KEY, --certs DIR or --allow-any",
        ));
    }
    if args.publisher.is_empty() {
        return Err(Failure::usage(
            "give --publisher: members accept only messages signed by a listed publisher",
        ));
    }
    let mut policy = Policy::new();
    for key in &args.allow {
        policy = policy.curve_key(ANY_DOMAIN, key, Default::default());
    }
    if let Some(dir) = &args.certs {
        policy = policy
            .curve_certs(ANY_DOMAIN, dir)
            .map_err(|e| Failure::usage(format!("--certs: {e}")))?;
    }
    if args.allow_any {
        policy = policy.curve_allow_any(ANY_DOMAIN);
    }
    let mut config = CoordinatorConfig::new(secret, Arc::new(policy));
    config.publishers = args.publisher.clone();
    if let Some(secs) = args.rotate_every {
        let every = Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| *d >= Duration::from_millis(100))
            .ok_or_else(|| Failure::usage("--rotate-every: at least 0.1 seconds"))?;
        config.rotate_every = Some(every);
    }
    let group = config.group;
    let coordinator = Coordinator::bind(config, &args.bind)
        .await
        .map_err(|e| Failure::usage(format!("cannot bind {}: {e}", args.bind)))?;
    let public = coordinator.public_key().to_z85();
    let group = hex::encode(group.0);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "endpoint": coordinator.endpoint(), "public": public, "group": group,
            })
        );
    } else {
        println!("endpoint: {}", coordinator.endpoint());
        println!("public: {public}");
        println!("group: {group}");
    }
    let _ = std::io::stdout().flush();
    // Until interrupted: report who joins and leaves, and each new epoch.
    let mut keys = coordinator.keys();
    let mut members: Vec<CurvePublicKey> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            changed = keys.changed() => {
                if changed.is_err() {
                    return Err(Failure::other("the coordinator stopped"));
                }
                if let Some(epoch) = keys.borrow_and_update().as_ref().map(|k| k.epoch) {
                    eprintln!("epoch {epoch}");
                }
            }
            _ = tick.tick() => {
                let now = coordinator
                    .members()
                    .await
                    .map_err(|e| Failure::other(format!("coordinator: {e}")))?;
                for m in now.iter().filter(|m| !members.contains(m)) {
                    eprintln!("joined: {m}");
                }
                for m in members.iter().filter(|m| !now.contains(m)) {
                    eprintln!("left: {m}");
                }
                members = now;
            }
        }
    }
}

/// The options `send` and `recv` share for group keys.
#[derive(Args, Debug, Clone, Default)]
pub struct GroupArgs {
    /// Group keys: join the group whose coordinator (zmtp coordinator) is at ENDPOINT; messages
    /// are sealed (send, PUB/XPUB) or opened (recv, SUB) with its keys. Needs
    /// --coordinator-key and --member-key.
    #[arg(long, value_name = "ENDPOINT", help_heading = "Group keys")]
    pub group: Option<String>,
    /// The coordinator's CURVE public key: Z85, or its public certificate file.
    #[arg(long, value_name = "Z85|FILE", allow_hyphen_values = true,
          value_parser = public_key_or_file, requires = "group", help_heading = "Group keys")]
    pub coordinator_key: Option<CurvePublicKey>,
    /// This member's CURVE secret key, which the coordinator admits: Z85, or a secret
    /// certificate file.
    #[arg(long, value_name = "Z85|FILE", allow_hyphen_values = true,
          value_parser = secret_key_or_file, requires = "group", help_heading = "Group keys")]
    pub member_key: Option<CurveSecretKey>,
}

impl GroupArgs {
    /// Joins the group and waits up to `wait` for the first key. The error is the failure to
    /// report, with the member (still trying) when it only timed out.
    pub async fn join(&self, wait: Duration) -> Result<Member, (Failure, Option<Member>)> {
        let endpoint = self.group.as_deref().unwrap_or_default();
        let (Some(coordinator), Some(secret)) = (self.coordinator_key, self.member_key.clone())
        else {
            return Err((
                Failure::usage("--group needs --coordinator-key and --member-key"),
                None,
            ));
        };
        let member = Member::connect(endpoint, MemberConfig::new(secret, coordinator))
            .await
            .map_err(|e| (Failure::usage(format!("--group {endpoint}: {e}")), None))?;
        match member.wait_for_key(wait).await {
            Ok(_) => Ok(member),
            Err(GroupError::Denied(reason)) => Err((
                Failure::refused(format!("the coordinator at {endpoint} denied us: {reason}")),
                Some(member),
            )),
            Err(e @ GroupError::HandshakeIncomplete { .. }) => Err((
                Failure::timeout(format!("no group key from {endpoint}: {e}")),
                Some(member),
            )),
            Err(_) => Err((
                Failure::timeout(format!(
                    "no group key from {endpoint} within {} ms (is this member's key admitted, \
                     and --coordinator-key the coordinator's?)",
                    wait.as_millis()
                )),
                Some(member),
            )),
        }
    }
}

/// An opened message on one line: the topic (unless empty), then the frames.
pub fn opened_line(opened: &Opened) -> String {
    std::iter::once(&opened.topic)
        .filter(|t| !t.is_empty())
        .chain(&opened.parts)
        .map(|p| frame_text(p))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An opened message as JSON: topic, frames, and how it was sealed.
pub fn opened_json(opened: &Opened) -> String {
    let sealed = opened.sealed.map(|s| {
        serde_json::json!({
            "epoch": s.epoch,
            "sender": format!("{:016x}", s.sender),
            "counter": s.counter,
            "signer": s.signer.map(|k| hex::encode(k.as_bytes())),
        })
    });
    serde_json::json!({
        "topic": frame_json(&opened.topic),
        "frames": opened.parts.iter().map(|p| frame_json(p)).collect::<Vec<_>>(),
        "sealed": sealed,
    })
    .to_string()
}

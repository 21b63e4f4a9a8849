//! The built-in handler: the rules people already write with czmq's zauth and pyzmq's
//! `zmq.auth`, per ZAP domain.
//!
//! A request is decided in two steps:
//!
//! 1. **Address.** With an allow list, only listed addresses pass; with a deny list, listed
//!    addresses are refused (400). The lists are mutually exclusive, as in pyzmq.
//! 2. **Mechanism,** with the rules of the request's domain (or of the default domain `*`):
//!    - NULL: admitted with an empty User-Id;
//!    - PLAIN: the username and password must match the domain's passwords (User-Id = username);
//!    - CURVE: the client key must be in the domain's certificate directory or key set, or the
//!      domain allows any key (User-Id = the key in Z85; a certificate's metadata becomes ZAP
//!      metadata, so it is a property of every message from that client);
//!    - a mechanism with no rule goes to the fallback handler if one is set, else is refused.
//!
//! Passwords files and certificate directories are re-read when they change (checked at each
//! request). To revoke a user or a key, remove its line or its certificate: a file or directory
//! that cannot be read (deleted, half-written, unreadable) leaves the last good set in force, so
//! a botched deployment never locks everyone out; the failure is logged once per change.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use zmtp_core::{AuthReply, AuthRequest, AuthResult, AuthStatus, MechanismName, Metadata};
use zmtp_mechanisms::CurvePublicKey;

use crate::cert::{CertError, Certificate};
use crate::passwords::{PasswordFile, PasswordFileError, Passwords};
use crate::Authenticator;

/// The domain whose rules apply to requests for a domain without rules of its own.
pub const ANY_DOMAIN: &str = "*";

/// A configuration mistake.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Both an allow list and a deny list were given.
    #[error("--allow and --deny cannot be combined (as in pyzmq: use one list)")]
    AllowAndDeny,
    /// An address does not parse as an IP address.
    #[error("not an IP address: {0}")]
    BadAddress(String),
    /// A passwords file could not be read.
    #[error(transparent)]
    Passwords(#[from] PasswordFileError),
    /// A certificate directory could not be read.
    #[error(transparent)]
    Certificates(#[from] CertError),
}

#[derive(Debug, Default)]
enum AddressRule {
    #[default]
    Any,
    Allow(HashSet<IpAddr>),
    Deny(HashSet<IpAddr>),
}

enum PlainRule {
    Fixed(Passwords),
    File(PasswordFile),
}

impl PlainRule {
    fn check(&self, user: &[u8], password: &[u8]) -> bool {
        match self {
            PlainRule::Fixed(p) => p.check(user, password),
            PlainRule::File(f) => f.check(user, password),
        }
    }
}

#[derive(Default)]
struct CurveRule {
    allow_any: bool,
    keys: HashMap<[u8; 32], Metadata>,
    dirs: Vec<CertDirectory>,
}

#[derive(Default)]
struct DomainRules {
    plain: Option<PlainRule>,
    curve: Option<CurveRule>,
}

/// The built-in handler; see the module docs. Build it, then share it (`Arc`) among sockets
/// directly or through a [`crate::ZapService`].
#[derive(Default)]
pub struct Policy {
    address: AddressRule,
    domains: HashMap<String, DomainRules>,
    fallback: Option<Arc<dyn Authenticator>>,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut domains: Vec<_> = self.domains.keys().collect();
        domains.sort();
        f.debug_struct("Policy")
            .field("address", &self.address)
            .field("domains", &domains)
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}

/// An address as the lists compare it: an IPv6 zone (`%eth0`) dropped, and an IPv4-mapped IPv6
/// address (`::ffff:192.0.2.1`, what a dual-stack listener reports for IPv4 clients) read as
/// the IPv4 address it carries.
fn canonical_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s.split_once('%').map_or(s, |(addr, _zone)| addr);
    let s = s.trim_start_matches('[').trim_end_matches(']');
    s.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

fn parse_ip(s: &str) -> Result<IpAddr, PolicyError> {
    canonical_ip(s).ok_or_else(|| PolicyError::BadAddress(s.to_owned()))
}

impl Policy {
    /// A policy that admits NULL peers from anywhere and refuses PLAIN and CURVE until rules
    /// are added.
    pub fn new() -> Policy {
        Policy::default()
    }

    /// Admits only this address (repeat for more). Cannot be combined with [`Policy::deny`].
    pub fn allow(mut self, address: &str) -> Result<Policy, PolicyError> {
        let ip = parse_ip(address)?;
        match &mut self.address {
            AddressRule::Any => self.address = AddressRule::Allow(HashSet::from([ip])),
            AddressRule::Allow(set) => {
                set.insert(ip);
            }
            AddressRule::Deny(_) => return Err(PolicyError::AllowAndDeny),
        }
        Ok(self)
    }

    /// Refuses this address (repeat for more). Cannot be combined with [`Policy::allow`].
    pub fn deny(mut self, address: &str) -> Result<Policy, PolicyError> {
        let ip = parse_ip(address)?;
        match &mut self.address {
            AddressRule::Any => self.address = AddressRule::Deny(HashSet::from([ip])),
            AddressRule::Deny(set) => {
                set.insert(ip);
            }
            AddressRule::Allow(_) => return Err(PolicyError::AllowAndDeny),
        }
        Ok(self)
    }

    fn rules(&mut self, domain: &str) -> &mut DomainRules {
        self.domains.entry(domain.to_owned()).or_default()
    }

    fn curve(&mut self, domain: &str) -> &mut CurveRule {
        self.rules(domain)
            .curve
            .get_or_insert_with(Default::default)
    }

    /// PLAIN users for `domain` (use [`ANY_DOMAIN`] for every domain without its own rules).
    pub fn passwords(mut self, domain: &str, passwords: Passwords) -> Policy {
        self.rules(domain).plain = Some(PlainRule::Fixed(passwords));
        self
    }

    /// PLAIN users from a `user=password` file, re-read when it changes.
    pub fn passwords_file(
        mut self,
        domain: &str,
        path: impl Into<PathBuf>,
    ) -> Result<Policy, PolicyError> {
        let file = PasswordFile::open(path)?;
        self.rules(domain).plain = Some(PlainRule::File(file));
        Ok(self)
    }

    /// Admits every CURVE client of `domain` whose handshake succeeds (any key).
    pub fn curve_allow_any(mut self, domain: &str) -> Policy {
        self.curve(domain).allow_any = true;
        self
    }

    /// Admits this CURVE client key in `domain`, with metadata for its connections.
    pub fn curve_key(mut self, domain: &str, key: &CurvePublicKey, metadata: Metadata) -> Policy {
        self.curve(domain).keys.insert(*key.as_bytes(), metadata);
        self
    }

    /// Admits the CURVE keys of the public certificates in `dir` (czmq `name` and pyzmq
    /// `name.key` files), with each certificate's metadata; re-read when the directory or a file
    /// in it changes.
    pub fn curve_certs(
        mut self,
        domain: &str,
        dir: impl Into<PathBuf>,
    ) -> Result<Policy, PolicyError> {
        let dir = CertDirectory::open(dir.into())?;
        self.curve(domain).dirs.push(dir);
        Ok(self)
    }

    /// Asks `handler` about requests no rule covers (a mechanism without rules in the domain).
    pub fn fallback(mut self, handler: Arc<dyn Authenticator>) -> Policy {
        self.fallback = Some(handler);
        self
    }

    fn domain_rules(&self, domain: &str) -> Option<&DomainRules> {
        self.domains
            .get(domain)
            .or_else(|| self.domains.get(ANY_DOMAIN))
    }

    fn check_address(&self, address: &str) -> Result<(), AuthReply> {
        let ip = canonical_ip(address);
        match &self.address {
            AddressRule::Any => Ok(()),
            AddressRule::Allow(set) => match ip {
                Some(ip) if set.contains(&ip) => Ok(()),
                _ => Err(AuthReply::deny("Address not in the allow list")),
            },
            // Fail closed: an address we cannot read might be a denied one.
            AddressRule::Deny(set) => match ip {
                Some(ip) if !set.contains(&ip) => Ok(()),
                Some(_) => Err(AuthReply::deny("Address is denied")),
                None => Err(AuthReply::deny("Unreadable peer address")),
            },
        }
    }

    /// Decides a request without the fallback (`None` = no rule applies).
    fn decide(&self, request: &AuthRequest) -> Option<AuthReply> {
        if let Err(refusal) = self.check_address(&request.address) {
            return Some(refusal);
        }
        let rules = self.domain_rules(&request.domain);
        let m = request.mechanism;
        if m == MechanismName::NULL {
            return Some(AuthReply::allow(""));
        }
        if m == MechanismName::PLAIN {
            let plain = rules.and_then(|r| r.plain.as_ref())?;
            let [user, password] = request.credentials.as_slice() else {
                return Some(AuthReply::deny("Malformed PLAIN credentials"));
            };
            return Some(if plain.check(user, password) {
                AuthReply::allow(String::from_utf8_lossy(user))
            } else {
                AuthReply::deny("Invalid username or password")
            });
        }
        if m == MechanismName::CURVE {
            let curve = rules.and_then(|r| r.curve.as_ref())?;
            let key: Option<[u8; 32]> = match request.credentials.as_slice() {
                [k] => k.as_ref().try_into().ok(),
                _ => None,
            };
            let Some(key) = key else {
                return Some(AuthReply::deny("Malformed CURVE credentials"));
            };
            let user_id = z85_codec::encode_key(&key);
            if let Some(md) = curve.keys.get(&key) {
                return Some(AuthReply {
                    metadata: md.clone(),
                    ..AuthReply::allow(user_id)
                });
            }
            for dir in &curve.dirs {
                if let Some(md) = dir.lookup(&key) {
                    return Some(AuthReply {
                        metadata: md,
                        ..AuthReply::allow(user_id)
                    });
                }
            }
            return Some(if curve.allow_any {
                AuthReply::allow(user_id)
            } else {
                AuthReply::deny("Unknown key")
            });
        }
        None
    }
}

#[async_trait]
impl Authenticator for Policy {
    async fn authenticate(&self, request: AuthRequest) -> AuthResult {
        if let Some(reply) = self.decide(&request) {
            if reply.status == AuthStatus::Success {
                tracing::debug!(domain = %request.domain, address = %request.address, user = %reply.user_id, "ZAP allowed");
            } else {
                tracing::info!(domain = %request.domain, address = %request.address, reason = %reply.status_text, "ZAP denied");
            }
            return Ok(reply);
        }
        match &self.fallback {
            Some(h) => h.authenticate(request).await,
            None => Ok(AuthReply::deny(format!(
                "No {} rules for domain {:?}",
                request.mechanism.as_str_lossy(),
                request.domain
            ))),
        }
    }
}

/// What a reload check compares: each entry's path, and its target's modification time, change
/// time (unix) and size, so replacing a symlink's target or rewriting a file in place is seen.
type Stamp = Vec<(PathBuf, Option<SystemTime>, i64, u64)>;

/// A directory of public certificates, re-read when its listing, or a file's time or size,
/// changes (checked at each request).
struct CertDirectory {
    dir: PathBuf,
    state: Mutex<CertState>,
}

struct CertState {
    /// The directory as it was when `keys` were loaded.
    loaded: Stamp,
    keys: HashMap<[u8; 32], Metadata>,
    /// A state of the directory that failed to load: not retried (nor logged) until it changes.
    failed: Option<Stamp>,
}

fn dir_stamp(dir: &Path) -> Stamp {
    let mut out: Stamp = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| {
            let path = e.path();
            match std::fs::metadata(&path) {
                Ok(m) => (path, m.modified().ok(), change_time(&m), m.len()),
                // Unreadable now: part of the stamp too, so it is retried once it changes.
                Err(_) => (path, None, -1, 0),
            }
        })
        .collect();
    out.sort();
    out
}

#[cfg(unix)]
fn change_time(m: &std::fs::Metadata) -> i64 {
    use std::os::unix::fs::MetadataExt;
    m.ctime()
        .saturating_mul(1_000_000_000)
        .saturating_add(m.ctime_nsec())
}

#[cfg(not(unix))]
fn change_time(_: &std::fs::Metadata) -> i64 {
    0
}

fn load_keys(dir: &Path) -> Result<HashMap<[u8; 32], Metadata>, CertError> {
    let mut keys = HashMap::new();
    for (path, cert) in Certificate::load_public_dir(dir)? {
        let mut md = Metadata::new();
        for (name, value) in &cert.metadata {
            if md.push(name, value.clone().into_bytes()).is_err() {
                tracing::warn!(path = %path.display(), name, "certificate metadata name is not a valid ZMTP property name; skipped");
            }
        }
        keys.insert(*cert.public.as_bytes(), md);
    }
    Ok(keys)
}

impl CertDirectory {
    fn open(dir: PathBuf) -> Result<CertDirectory, CertError> {
        let stamp = dir_stamp(&dir);
        let keys = load_keys(&dir)?;
        Ok(CertDirectory {
            dir,
            state: Mutex::new(CertState {
                loaded: stamp,
                keys,
                failed: None,
            }),
        })
    }

    fn lookup(&self, key: &[u8; 32]) -> Option<Metadata> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = dir_stamp(&self.dir);
        if now != state.loaded && state.failed.as_ref() != Some(&now) {
            match load_keys(&self.dir) {
                Ok(keys) => {
                    tracing::debug!(dir = %self.dir.display(), keys = keys.len(), "certificates reloaded");
                    *state = CertState {
                        loaded: now,
                        keys,
                        failed: None,
                    };
                }
                Err(e) => {
                    tracing::warn!("certificates not reloaded, keeping the last good set: {e}");
                    state.failed = Some(now);
                }
            }
        }
        state.keys.get(key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::cert::CertFormat;
    use crate::FnAuthenticator;

    fn request(domain: &str, mechanism: MechanismName, credentials: Vec<Bytes>) -> AuthRequest {
        AuthRequest {
            domain: domain.into(),
            address: "192.0.2.1".into(),
            identity: Bytes::new(),
            mechanism,
            credentials,
        }
    }

    fn plain(domain: &str, user: &str, password: &str) -> AuthRequest {
        request(
            domain,
            MechanismName::PLAIN,
            vec![
                Bytes::copy_from_slice(user.as_bytes()),
                Bytes::copy_from_slice(password.as_bytes()),
            ],
        )
    }

    fn curve(key: &CurvePublicKey) -> AuthRequest {
        request(
            "d",
            MechanismName::CURVE,
            vec![Bytes::copy_from_slice(key.as_bytes())],
        )
    }

    async fn code(policy: &Policy, req: AuthRequest) -> u16 {
        policy.authenticate(req).await.unwrap().status.code()
    }

    #[test]
    fn allow_and_deny_are_exclusive_and_addresses_must_parse() {
        assert!(matches!(
            Policy::new().allow("10.0.0.1").unwrap().deny("10.0.0.2"),
            Err(PolicyError::AllowAndDeny)
        ));
        assert!(matches!(
            Policy::new().deny("10.0.0.1").unwrap().allow("10.0.0.2"),
            Err(PolicyError::AllowAndDeny)
        ));
        assert!(matches!(
            Policy::new().allow("example.com"),
            Err(PolicyError::BadAddress(_))
        ));
    }

    #[tokio::test]
    async fn domains_have_their_own_rules_and_star_is_the_default() {
        let mut a = Passwords::new();
        a.insert("alice", "a");
        let mut any = Passwords::new();
        any.insert("bob", "b");
        let policy = Policy::new()
            .passwords("sales", a)
            .passwords(ANY_DOMAIN, any);
        assert_eq!(code(&policy, plain("sales", "alice", "a")).await, 200);
        assert_eq!(code(&policy, plain("sales", "bob", "b")).await, 400);
        assert_eq!(code(&policy, plain("other", "bob", "b")).await, 200);
        assert_eq!(code(&policy, plain("other", "alice", "a")).await, 400);
        let reply = policy.authenticate(plain("", "bob", "b")).await.unwrap();
        assert_eq!(reply.user_id, "bob");
    }

    #[tokio::test]
    async fn mechanisms_without_rules_are_refused_or_go_to_the_fallback() {
        let policy = Policy::new();
        assert_eq!(code(&policy, plain("d", "u", "p")).await, 400);
        let key = fresh_key();
        assert_eq!(code(&policy, curve(&key)).await, 400);
        assert_eq!(
            code(&policy, request("d", MechanismName::NULL, vec![])).await,
            200
        );
        let fallback = Policy::new().fallback(Arc::new(FnAuthenticator(|r: &AuthRequest| {
            Ok(AuthReply::allow(format!("fallback:{}", r.domain)))
        })));
        let reply = fallback.authenticate(plain("d", "u", "p")).await.unwrap();
        assert_eq!(reply.user_id, "fallback:d");
        let custom = request("d", MechanismName::new("X-PSK").unwrap(), vec![]);
        assert_eq!(code(&fallback, custom.clone()).await, 200);
        assert_eq!(code(&policy, custom).await, 400);
    }

    #[tokio::test]
    async fn address_rules_come_first() {
        let mut users = Passwords::new();
        users.insert("u", "p");
        let policy = Policy::new()
            .deny("192.0.2.1")
            .unwrap()
            .passwords(ANY_DOMAIN, users.clone());
        assert_eq!(code(&policy, plain("d", "u", "p")).await, 400);
        let policy = Policy::new()
            .allow("192.0.2.1")
            .unwrap()
            .passwords(ANY_DOMAIN, users);
        assert_eq!(code(&policy, plain("d", "u", "p")).await, 200);
        let mut elsewhere = plain("d", "u", "p");
        elsewhere.address = "192.0.2.99".into();
        assert_eq!(code(&policy, elsewhere).await, 400);
    }

    #[tokio::test]
    async fn mapped_and_zoned_addresses_match_the_lists() {
        let deny = Policy::new()
            .deny("192.0.2.1")
            .unwrap()
            .deny("fe80::1")
            .unwrap();
        for address in [
            "192.0.2.1",
            "::ffff:192.0.2.1",
            "[::ffff:192.0.2.1]",
            "fe80::1%2",
            "garbage",
        ] {
            let mut r = request("d", MechanismName::NULL, vec![]);
            r.address = address.into();
            assert_eq!(code(&deny, r).await, 400, "{address} must be denied");
        }
        let allow = Policy::new().allow("::ffff:192.0.2.1").unwrap();
        let mut r = request("d", MechanismName::NULL, vec![]);
        assert_eq!(
            code(&allow, r.clone()).await,
            200,
            "listed in mapped form, seen as IPv4"
        );
        r.address = "fe80::1%eth0".into();
        assert_eq!(code(&allow, r).await, 400);
    }

    fn fresh_key() -> CurvePublicKey {
        Certificate::generate().unwrap().public
    }

    #[tokio::test]
    async fn certificate_directories_are_reloaded_when_they_change() {
        let dir = tempfile::tempdir().unwrap();
        let policy = Policy::new().curve_certs(ANY_DOMAIN, dir.path()).unwrap();
        let cert = Certificate::generate()
            .unwrap()
            .with_metadata("Role", "ops");
        assert_eq!(code(&policy, curve(&cert.public)).await, 400);
        cert.save_public(&dir.path().join("ops"), CertFormat::Czmq)
            .unwrap();
        let reply = policy.authenticate(curve(&cert.public)).await.unwrap();
        assert_eq!(reply.status.code(), 200);
        assert_eq!(reply.user_id, cert.public.to_z85());
        assert_eq!(reply.metadata.get_str("Role"), Some("ops"));
        std::fs::remove_file(dir.path().join("ops")).unwrap();
        assert_eq!(code(&policy, curve(&cert.public)).await, 400);
    }

    #[tokio::test]
    async fn curve_allow_any_names_users_by_key() {
        let policy = Policy::new().curve_allow_any(ANY_DOMAIN);
        let key = fresh_key();
        let reply = policy.authenticate(curve(&key)).await.unwrap();
        assert_eq!(reply.status.code(), 200);
        assert_eq!(reply.user_id, key.to_z85());
        let bad = request(
            "d",
            MechanismName::CURVE,
            vec![Bytes::from_static(b"short")],
        );
        assert_eq!(code(&policy, bad).await, 400);
    }
}

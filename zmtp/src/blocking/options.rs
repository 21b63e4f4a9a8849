//! The options of a blocking socket before its async socket exists: libzmq's values checked
//! one by one as they are set, then turned into [`SocketOptions`] at the first bind or connect.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use zeroize::Zeroizing;
use zmtp_core::{MechanismConfig, SocketType};
use zmtp_mechanisms::{
    ConfigError, CurveClientConfig, CurvePublicKey, CurveSecretKey, CurveServerConfig, NullConfig,
    PlainClientConfig, PlainServerConfig,
};

use super::error::Error;
use crate::SocketOptions;

/// What libzmq's `mechanism` and `as_server` options say together; the last security option
/// set decides, as in libzmq.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// No security option set: whatever [`SocketOptions::mechanism`] was given (NULL unless
    /// the socket was made with other options).
    Given,
    Null,
    PlainClient,
    PlainServer,
    CurveClient,
    CurveServer,
}

/// The security options as set, kept apart until they make a mechanism.
struct Security {
    role: Role,
    plain_username: Option<Vec<u8>>,
    plain_password: Option<Zeroizing<Vec<u8>>>,
    curve_public: Option<CurvePublicKey>,
    curve_secret: Option<CurveSecretKey>,
    curve_server_key: Option<CurvePublicKey>,
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Security")
            .field("role", &self.role)
            .field("plain_username", &self.plain_username)
            .field(
                "plain_password",
                &self.plain_password.as_ref().map(|_| "<redacted>"),
            )
            .field("curve_public", &self.curve_public)
            .field("curve_secret", &self.curve_secret)
            .field("curve_server_key", &self.curve_server_key)
            .finish()
    }
}

/// Everything set on a socket before it binds or connects.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) socket_type: SocketType,
    /// All but the mechanism, which [`Security`] makes.
    pub(crate) options: SocketOptions,
    security: Security,
    /// SUB/XSUB subscriptions (`true`) and cancels made before the socket existed, in order.
    pub(crate) subscriptions: Vec<(Bytes, bool)>,
}

impl Config {
    pub(crate) fn new(socket_type: SocketType, options: SocketOptions) -> Config {
        Config {
            socket_type,
            options,
            security: Security {
                role: Role::Given,
                plain_username: None,
                plain_password: None,
                curve_public: None,
                curve_secret: None,
                curve_server_key: None,
            },
            subscriptions: Vec::new(),
        }
    }

    /// Refuses an option that does not apply to this socket type, as libzmq does (`EINVAL`).
    pub(crate) fn require_type(
        &self,
        option: &'static str,
        types: &[SocketType],
    ) -> Result<(), Error> {
        if types.contains(&self.socket_type) {
            Ok(())
        } else {
            Err(Error::WrongSocketType {
                option,
                socket_type: self.socket_type,
            })
        }
    }

    pub(crate) fn role(&self) -> Role {
        self.security.role
    }

    /// `ZMQ_PLAIN_USERNAME`: `None` or empty returns to NULL, as in libzmq.
    pub(crate) fn set_plain_username(&mut self, name: Option<&str>) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_PLAIN_USERNAME";
        let s = &mut self.security;
        match name.filter(|n| !n.is_empty()) {
            None => {
                s.plain_username = None;
                s.role = Role::Null;
            }
            Some(n) if n.len() > 255 => {
                return Err(Error::Credential {
                    option: OPTION,
                    source: ConfigError::UsernameLength { len: n.len() },
                })
            }
            Some(n) => {
                s.plain_username = Some(n.as_bytes().to_vec());
                s.role = Role::PlainClient;
            }
        }
        Ok(())
    }

    /// `ZMQ_PLAIN_PASSWORD`: `None` or empty returns to NULL, as in libzmq.
    pub(crate) fn set_plain_password(&mut self, password: Option<&str>) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_PLAIN_PASSWORD";
        let s = &mut self.security;
        match password.filter(|p| !p.is_empty()) {
            None => {
                s.plain_password = None;
                s.role = Role::Null;
            }
            Some(p) if p.len() > 255 => {
                return Err(Error::Credential {
                    option: OPTION,
                    source: ConfigError::PasswordLength { len: p.len() },
                })
            }
            Some(p) => {
                s.plain_password = Some(Zeroizing::new(p.as_bytes().to_vec()));
                s.role = Role::PlainClient;
            }
        }
        Ok(())
    }

    pub(crate) fn plain_username(&self) -> Option<&[u8]> {
        self.security.plain_username.as_deref()
    }

    /// `ZMQ_PLAIN_SERVER`: on makes a PLAIN server, off returns to NULL (libzmq).
    pub(crate) fn set_plain_server(&mut self, on: bool) {
        self.security.role = if on { Role::PlainServer } else { Role::Null };
    }

    /// `ZMQ_CURVE_SERVER`: on makes a CURVE server, off returns to NULL (libzmq).
    pub(crate) fn set_curve_server(&mut self, on: bool) {
        self.security.role = if on { Role::CurveServer } else { Role::Null };
    }

    /// `ZMQ_CURVE_SECRETKEY`: 32 octets or 40 Z85 characters; selects CURVE (a client unless
    /// `ZMQ_CURVE_SERVER` is on), as in libzmq.
    pub(crate) fn set_curve_secretkey(&mut self, key: &[u8]) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_CURVE_SECRETKEY";
        let secret =
            CurveSecretKey::from_option_bytes(key).map_err(|source| Error::Credential {
                option: OPTION,
                source,
            })?;
        let s = &mut self.security;
        if s.curve_public.is_some_and(|p| p != secret.public_key()) {
            return Err(Error::InvalidValue {
                option: OPTION,
                reason: "it does not belong to the ZMQ_CURVE_PUBLICKEY already set",
            });
        }
        s.curve_secret = Some(secret);
        s.select_curve();
        Ok(())
    }

    /// `ZMQ_CURVE_PUBLICKEY`: checked against the secret key when both are set (the public
    /// key is derived from the secret one, so it only guards against a mix-up).
    pub(crate) fn set_curve_publickey(&mut self, key: &[u8]) -> Result<(), Error> {
        const OPTION: &str = "ZMQ_CURVE_PUBLICKEY";
        let public =
            CurvePublicKey::from_option_bytes(key).map_err(|source| Error::Credential {
                option: OPTION,
                source,
            })?;
        let s = &mut self.security;
        if s.curve_secret
            .as_ref()
            .is_some_and(|k| k.public_key() != public)
        {
            return Err(Error::InvalidValue {
                option: OPTION,
                reason: "it does not belong to the ZMQ_CURVE_SECRETKEY already set",
            });
        }
        s.curve_public = Some(public);
        s.select_curve();
        Ok(())
    }

    /// `ZMQ_CURVE_SERVERKEY`: makes a CURVE client of this socket (libzmq).
    pub(crate) fn set_curve_serverkey(&mut self, key: &[u8]) -> Result<(), Error> {
        let server =
            CurvePublicKey::from_option_bytes(key).map_err(|source| Error::Credential {
                option: "ZMQ_CURVE_SERVERKEY",
                source,
            })?;
        self.security.curve_server_key = Some(server);
        self.security.role = Role::CurveClient;
        Ok(())
    }

    /// Our public key: as set, or derived from the secret key.
    pub(crate) fn curve_publickey(&self) -> Option<CurvePublicKey> {
        let s = &self.security;
        s.curve_public
            .or_else(|| s.curve_secret.as_ref().map(CurveSecretKey::public_key))
    }

    pub(crate) fn curve_serverkey(&self) -> Option<CurvePublicKey> {
        self.security.curve_server_key
    }

    /// The async socket's options: these, with the mechanism the security options make.
    pub(crate) fn build(&self) -> Result<SocketOptions, Error> {
        let mut options = self.options.clone();
        if let Some(mechanism) = self.security.mechanism()? {
            options.mechanism = mechanism;
        }
        Ok(options)
    }
}

impl Security {
    /// A CURVE key was set: CURVE, in the role already chosen or as a client.
    fn select_curve(&mut self) {
        if self.role != Role::CurveServer {
            self.role = Role::CurveClient;
        }
    }

    /// The mechanism the options make; `None` keeps the one given with the socket.
    fn mechanism(&self) -> Result<Option<Arc<dyn MechanismConfig>>, Error> {
        let needs = |needs| Error::IncompleteSecurity { needs };
        Ok(Some(match self.role {
            Role::Given => return Ok(None),
            Role::Null => Arc::new(NullConfig::new()),
            Role::PlainServer => Arc::new(PlainServerConfig::new()),
            Role::PlainClient => {
                let user = self
                    .plain_username
                    .as_ref()
                    .ok_or(needs("ZMQ_PLAIN_USERNAME"))?;
                let password = self
                    .plain_password
                    .as_ref()
                    .ok_or(needs("ZMQ_PLAIN_PASSWORD"))?;
                let config =
                    PlainClientConfig::new(user, password.as_slice()).map_err(|source| {
                        Error::Credential {
                            option: "ZMQ_PLAIN_USERNAME",
                            source,
                        }
                    })?;
                Arc::new(config)
            }
            Role::CurveServer => {
                let secret = self
                    .curve_secret
                    .clone()
                    .ok_or(needs("ZMQ_CURVE_SECRETKEY"))?;
                Arc::new(CurveServerConfig::new(secret))
            }
            Role::CurveClient => {
                let server = self.curve_server_key.ok_or(needs("ZMQ_CURVE_SERVERKEY"))?;
                let secret = self
                    .curve_secret
                    .clone()
                    .ok_or(needs("ZMQ_CURVE_SECRETKEY"))?;
                Arc::new(CurveClientConfig::new(secret, server))
            }
        }))
    }
}

/// A count that must not be negative (a high-water mark).
pub(crate) fn count(option: &'static str, value: i32) -> Result<usize, Error> {
    usize::try_from(value).map_err(|_| Error::OutOfRange {
        option,
        value: value.into(),
        expected: "0 or more",
    })
}

/// Milliseconds where -1 means for ever (`None`): SNDTIMEO, RCVTIMEO, LINGER.
pub(crate) fn millis_or_forever(
    option: &'static str,
    value: i32,
) -> Result<Option<Duration>, Error> {
    match value {
        -1 => Ok(None),
        v if v >= 0 => Ok(Some(Duration::from_millis(v as u64))),
        v => Err(Error::OutOfRange {
            option,
            value: v.into(),
            expected: "-1 (for ever) or 0 or more milliseconds",
        }),
    }
}

/// Milliseconds where 0 means off (`None`): HANDSHAKE_IVL, HEARTBEAT_IVL, RECONNECT_IVL_MAX.
pub(crate) fn millis_or_off(option: &'static str, value: i32) -> Result<Option<Duration>, Error> {
    match value {
        0 => Ok(None),
        v if v > 0 => Ok(Some(Duration::from_millis(v as u64))),
        v => Err(Error::OutOfRange {
            option,
            value: v.into(),
            expected: "0 (off) or more milliseconds",
        }),
    }
}

/// Back to libzmq's milliseconds, `none` standing for `None`.
pub(crate) fn to_millis(value: Option<Duration>, none: i32) -> i32 {
    value.map_or(none, |d| i32::try_from(d.as_millis()).unwrap_or(i32::MAX))
}

/// A count back in libzmq's `int`.
pub(crate) fn to_int(value: usize) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

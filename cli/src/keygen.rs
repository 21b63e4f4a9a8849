//! `zmtp keygen`: CURVE keypairs in Z85, optionally written as certificate files.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use zmtp::mechanisms::CurveSecretKey;
use zmtp::zap::{CertFormat, Certificate};

use crate::common::Failure;

/// Certificate file layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `NAME` and `NAME_secret`, as czmq's zcert writes them.
    Czmq,
    /// `NAME.key` and `NAME.key_secret`, as pyzmq's zmq.auth writes them.
    Pyzmq,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    zmtp keygen\n  \
    zmtp keygen --json\n  \
    mkdir -p certs && zmtp keygen --cert certs/gateway --meta name=gateway-1\n  \
    zmtp keygen --cert client --cert-format pyzmq\n  \
    zmtp keygen --public-from 'D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs'\n  \
    zmtp keygen --ed25519 --cert signer\n\n\
    --ed25519 makes a group publisher's signing keypair (hex) instead: with --cert NAME, NAME \
    holds the verifying key (for zmtp coordinator --publisher) and NAME_secret the signing key \
    (for zmtp send --group --signing-key).")]
pub struct KeygenArgs {
    /// Print {"public": "...", "secret": "..."} (and the files written).
    #[arg(long)]
    pub json: bool,
    /// Print the public key of this Z85 secret key instead of generating a pair.
    #[arg(
        long,
        value_name = "SECRET",
        allow_hyphen_values = true,
        value_parser = |s: &str| crate::common::parse_secret_key(s.trim()),
        conflicts_with_all = ["cert", "meta"]
    )]
    pub public_from: Option<CurveSecretKey>,
    /// Also write certificate files: NAME (public) and NAME_secret, or NAME.key and
    /// NAME.key_secret with --cert-format pyzmq. The secret file is readable by its owner only.
    #[arg(long, value_name = "NAME")]
    pub cert: Option<PathBuf>,
    /// Certificate file layout.
    #[arg(long, value_enum, default_value = "czmq", requires = "cert")]
    pub cert_format: Format,
    /// Certificate metadata NAME=VALUE (repeatable); a certificate directory handler returns
    /// it to the connections of this key.
    #[arg(long, value_name = "NAME=VALUE", requires = "cert")]
    pub meta: Vec<String>,
    /// An Ed25519 keypair for a group publisher (hex) instead of a CURVE one.
    #[arg(long, conflicts_with_all = ["public_from", "meta"])]
    pub ed25519: bool,
}

fn cert_format(format: Format) -> CertFormat {
    match format {
        Format::Czmq => CertFormat::Czmq,
        Format::Pyzmq => CertFormat::Pyzmq,
    }
}

/// The files `--cert` would write: their directory must exist, and neither file may.
fn check_targets(base: &Path, format: CertFormat) -> Result<(), Failure> {
    // The directory is not created: a mistyped path should not grow a tree of secrets.
    if let Some(dir) = base.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(Failure::usage(format!(
                "--cert: directory {} does not exist",
                dir.display()
            )));
        }
    }
    // Refuse to overwrite: a lost secret certificate cannot be recovered.
    for path in [format.public_path(base), format.secret_path(base)] {
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(Failure::usage(format!(
                "--cert: {} exists; not overwriting it",
                path.display()
            )));
        }
    }
    Ok(())
}

/// `--ed25519`: a publisher's signing keypair, printed in hex and optionally written.
fn ed25519(args: &KeygenArgs) -> Result<(), Failure> {
    let key = zmtp_group::SigningKey::generate(&mut rand_core::OsRng);
    let public = hex::encode(key.verifying_key().as_bytes());
    let secret = zeroize::Zeroizing::new(hex::encode(key.as_bytes()));
    let files = match &args.cert {
        Some(base) => {
            let format = cert_format(args.cert_format);
            check_targets(base, format)?;
            let (p, s) = (format.public_path(base), format.secret_path(base));
            zmtp_group::keyfile::write_key_files(&key, &p, &s)
                .map_err(|e| Failure::usage(format!("--cert: {e}")))?;
            Some((p, s))
        }
        None => None,
    };
    print_pair(args.json, &public, &secret, files.as_ref());
    Ok(())
}

fn print_pair(json: bool, public: &str, secret: &str, files: Option<&(PathBuf, PathBuf)>) {
    if json {
        let mut out = serde_json::json!({ "public": public, "secret": secret });
        if let Some((p, s)) = files {
            out["public_file"] = serde_json::json!(p.display().to_string());
            out["secret_file"] = serde_json::json!(s.display().to_string());
        }
        println!("{out}");
    } else {
        println!("public: {public}");
        println!("secret: {secret}");
        if let Some((p, s)) = files {
            println!("public certificate: {}", p.display());
            println!("secret certificate: {}", s.display());
        }
    }
}

pub fn run(args: KeygenArgs) -> Result<(), Failure> {
    if let Some(secret) = &args.public_from {
        let public = secret.public_key().to_z85();
        if args.json {
            println!("{}", serde_json::json!({ "public": public }));
        } else {
            println!("public: {public}");
        }
        return Ok(());
    }
    if args.ed25519 {
        return ed25519(&args);
    }
    let mut cert = Certificate::generate().map_err(|e| Failure::other(e.to_string()))?;
    for entry in &args.meta {
        let (name, value) = entry
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("--meta {entry:?}: expected NAME=VALUE")))?;
        cert = cert.with_metadata(name, value);
    }
    let files = match &args.cert {
        Some(base) => {
            let format = cert_format(args.cert_format);
            check_targets(base, format)?;
            let (public, secret) = cert
                .save(base, format)
                .map_err(|e| Failure::usage(format!("--cert: {e}")))?;
            Some((public, secret))
        }
        None => None,
    };
    let public = cert.public.to_z85();
    let secret = cert
        .secret
        .as_ref()
        .map(|s| s.to_z85())
        .ok_or_else(|| Failure::other("generated certificate without a secret key"))?;
    print_pair(args.json, &public, secret.as_str(), files.as_ref());
    Ok(())
}

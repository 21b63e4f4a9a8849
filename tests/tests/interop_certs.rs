//! CURVE certificate files crossing between us and pyzmq's `zmq.auth`, in both directions:
//! files we write (pyzmq and czmq layout) read by `load_certificate` and `load_certificates`,
//! our pyzmq layout compared line by line with what pyzmq writes for the same keys, and files
//! pyzmq's `create_certificates` writes read by `Certificate::load` and `load_public_dir`.
//!
//! pyzmq comes from the project's interop environment (`scripts/setup-interop`).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use zmtp_mechanisms::CurveSecretKey;
use zmtp_tests::pyzmq::python;
use zmtp_zap::{CertFormat, Certificate};

// The zmq_curve(7) man-page client keypair (../shared/vectors/keys.txt).
const CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

/// Runs `script` with pyzmq's python, the JSON `input` on stdin; returns the JSON it prints.
fn pyzmq(script: &str, input: &Value) -> Value {
    let mut child = Command::new(python())
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the interop python runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "pyzmq script failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// `zmq.auth.load_certificate` on each path: {path: [public, secret or null]}.
const LOAD: &str = r#"
import json, sys
import zmq.auth
out = {}
for path in json.load(sys.stdin):
    public, secret = zmq.auth.load_certificate(path)
    out[path] = [public.decode(), secret.decode() if secret else None]
print(json.dumps(out))
"#;

/// `zmq.auth.load_certificates` on a directory: the sorted public keys.
const LOAD_DIR: &str = r#"
import json, sys
import zmq.auth
keys = zmq.auth.load_certificates(json.load(sys.stdin))
print(json.dumps(sorted(k.decode() for k in keys)))
"#;

/// `zmq.auth.create_certificates` for each name: {name: [public file, secret file]}.
const CREATE: &str = r#"
import json, sys
import zmq.auth
cfg = json.load(sys.stdin)
out = {}
for name, metadata in cfg["names"].items():
    out[name] = list(zmq.auth.create_certificates(cfg["dir"], name, metadata=metadata))
print(json.dumps(out))
"#;

/// The file writer behind `create_certificates`, given our keys and metadata, for a
/// line-by-line comparison: {"public": text, "secret": text}.
const WRITE_WITH_KEYS: &str = r#"
import json, os, sys
from zmq.auth import certs
cfg = json.load(sys.stdin)
out = {}
for kind, secret in (("public", None), ("secret", cfg["secret"])):
    path = os.path.join(cfg["dir"], kind)
    certs._write_key_file(path, '# banner\n\n', cfg["public"], secret_key=secret,
                          metadata=cfg["metadata"])
    with open(path, encoding="utf-8") as f:
        out[kind] = f.read()
print(json.dumps(out))
"#;

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

/// The text from the first line that is not a comment: what both writers must agree on.
fn after_comments(text: &str) -> String {
    text.lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn client() -> Certificate {
    Certificate::from_secret(CurveSecretKey::from_z85(CLIENT_SECRET).unwrap())
}

#[test]
fn pyzmq_reads_the_keys_of_our_certificates_in_both_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let ours = client()
        .with_metadata("name", "node one")
        .with_metadata("Role", "a#b = c");
    let mut files = Vec::new();
    for format in [CertFormat::Czmq, CertFormat::Pyzmq] {
        let (public, secret) = ours
            .save(&dir.path().join(format!("{format:?}")), format)
            .unwrap();
        files.push((public, None));
        files.push((secret, Some(CLIENT_SECRET)));
    }
    let paths: Vec<&str> = files.iter().map(|(p, _)| path_str(p)).collect();
    let loaded = pyzmq(LOAD, &json!(paths));
    for (path, secret) in &files {
        let got = &loaded[path_str(path)];
        assert_eq!(got[0], CLIENT_PUBLIC, "{path:?}");
        match secret {
            Some(s) => assert_eq!(got[1], *s, "{path:?}"),
            None => assert!(got[1].is_null(), "{path:?}: {got}"),
        }
    }
}

#[test]
fn pyzmq_reads_a_directory_of_our_public_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let mut expected = BTreeSet::new();
    for i in 0..3 {
        let cert = Certificate::generate()
            .unwrap()
            .with_metadata("index", i.to_string());
        cert.save(&dir.path().join(format!("peer{i}")), CertFormat::Pyzmq)
            .unwrap();
        expected.insert(cert.public.to_z85());
    }
    // czmq-named files are not `*.key`: pyzmq's loader does not look at them.
    Certificate::generate()
        .unwrap()
        .save(&dir.path().join("czmq-peer"), CertFormat::Czmq)
        .unwrap();
    let keys = pyzmq(LOAD_DIR, &json!(path_str(dir.path())));
    let keys: BTreeSet<String> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, expected);
    // Ours reads the same directory whole: three pyzmq and one czmq certificate.
    let ours = Certificate::load_public_dir(dir.path()).unwrap();
    assert_eq!(ours.len(), 4);
    assert!(ours
        .iter()
        .all(|(_, c)| c.secret.is_none() && c.metadata.len() <= 1));
}

#[test]
fn our_pyzmq_layout_is_what_pyzmq_writes_below_the_comments() {
    let dir = tempfile::tempdir().unwrap();
    // Values pyzmq writes unquoted and that read back unchanged.
    let ours = client()
        .with_metadata("Hello", "World")
        .with_metadata("name", "node one");
    let theirs = pyzmq(
        WRITE_WITH_KEYS,
        &json!({
            "dir": path_str(dir.path()),
            "public": CLIENT_PUBLIC,
            "secret": CLIENT_SECRET,
            "metadata": { "name": "node one", "Hello": "World" },
        }),
    );
    let public = ours.to_public_text(CertFormat::Pyzmq).unwrap();
    let secret = ours.to_secret_text(CertFormat::Pyzmq).unwrap();
    // From the blank line that ends the comment block to the last key, byte for byte.
    assert!(after_comments(&public).starts_with("\nmetadata\n"));
    assert_eq!(
        after_comments(&public),
        after_comments(theirs["public"].as_str().unwrap())
    );
    assert_eq!(
        after_comments(&secret),
        after_comments(theirs["secret"].as_str().unwrap())
    );
}

#[test]
fn we_read_certificates_pyzmq_creates() {
    let dir = tempfile::tempdir().unwrap();
    let created = pyzmq(
        CREATE,
        &json!({
            "dir": path_str(dir.path()),
            "names": {
                "server": null,
                "client": { "Hello": "World", "name": "client one" },
            },
        }),
    );
    let files = |name: &str| -> (PathBuf, PathBuf) {
        let pair = created[name].as_array().unwrap();
        (
            PathBuf::from(pair[0].as_str().unwrap()),
            PathBuf::from(pair[1].as_str().unwrap()),
        )
    };
    let (client_public, client_secret) = files("client");
    let (server_public, server_secret) = files("server");
    assert_eq!(client_public, dir.path().join("client.key"));
    assert_eq!(client_secret, dir.path().join("client.key_secret"));

    // Our reading agrees with pyzmq's own on the keys of every file.
    let all = [
        &client_public,
        &client_secret,
        &server_public,
        &server_secret,
    ];
    let theirs = pyzmq(LOAD, &json!(all.map(|p| path_str(p))));
    for path in all {
        let ours = Certificate::load(path).unwrap();
        let keys = &theirs[path_str(path)];
        assert_eq!(ours.public.to_z85(), keys[0].as_str().unwrap(), "{path:?}");
        assert_eq!(
            ours.secret.as_ref().map(|s| s.to_z85().to_string()),
            keys[1].as_str().map(str::to_owned),
            "{path:?}"
        );
    }
    // pyzmq keeps metadata in the secret file, unquoted and in the order given.
    let secret = Certificate::load(&client_secret).unwrap();
    assert_eq!(
        secret.metadata,
        [
            ("Hello".to_owned(), "World".to_owned()),
            ("name".to_owned(), "client one".to_owned())
        ]
    );
    assert!(Certificate::load(&client_public)
        .unwrap()
        .metadata
        .is_empty());

    // The directory: both public certificates, neither secret one; with one of ours beside
    // them in czmq form.
    let ours = client().with_metadata("who", "us");
    ours.save(&dir.path().join("ours"), CertFormat::Czmq)
        .unwrap();
    let loaded = Certificate::load_public_dir(dir.path()).unwrap();
    let names: Vec<String> = loaded
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["client.key", "ours", "server.key"]);
    let by_name = |n: &str| &loaded[names.iter().position(|x| x == n).unwrap()].1;
    assert_eq!(
        by_name("client.key").public,
        Certificate::load(&client_secret).unwrap().public
    );
    assert_eq!(by_name("ours").public.to_z85(), CLIENT_PUBLIC);
    assert_eq!(by_name("ours").metadata, ours.metadata);
    assert!(loaded.iter().all(|(_, c)| c.secret.is_none()));
}

//! Every fuzz target's corpus, replayed on a stable toolchain through the same entry points the
//! targets call. (The CURVE session targets run here with the real crypto: the MAC-less provider
//! exists only in fuzz builds.)

use zmtp_tests::repo_root;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = repo_root().join("fuzz/corpus").join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = match std::fs::read(&path) {
            Ok(data) => data,
            // A fuzzing run in the same checkout may reduce the corpus while this reads it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("{}: {e}", path.display()),
        };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let result = std::panic::catch_unwind(|| check(&data));
        assert!(result.is_ok(), "{target}: input {name:?} fails");
        count += 1;
    }
    assert!(count > 0, "{target}: empty corpus in {}", dir.display());
}

#[test]
fn every_fuzz_target_has_a_corpus_test() {
    let targets_dir = repo_root().join("fuzz/fuzz_targets");
    let this = std::fs::read_to_string(file_path()).unwrap();
    for entry in std::fs::read_dir(targets_dir).unwrap() {
        let name = entry.unwrap().path();
        let stem = name.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(
            this.contains(&format!("\"{stem}\",")) || this.contains(&format!("(\"{stem}\"")),
            "fuzz target {stem} has no corpus replay here"
        );
    }
}

fn file_path() -> std::path::PathBuf {
    repo_root().join("tests/tests/fuzz_corpora.rs")
}

#[test]
fn z85() {
    replay("z85", z85_codec::fuzzing::round_trip);
}

#[test]
fn greeting() {
    replay("greeting", zmtp_core::fuzzing::greeting);
}

#[test]
fn frames() {
    replay("frames", zmtp_core::fuzzing::frames);
}

#[test]
fn command() {
    replay("command", zmtp_core::fuzzing::command);
}

#[test]
fn metadata() {
    replay("metadata", zmtp_core::fuzzing::metadata);
}

#[test]
fn session_null() {
    replay("session_null", zmtp_mechanisms::fuzzing::null_session);
}

#[test]
fn session_plain_server() {
    replay(
        "session_plain_server",
        zmtp_mechanisms::fuzzing::plain_server_session,
    );
}

#[test]
fn session_plain_client() {
    replay(
        "session_plain_client",
        zmtp_mechanisms::fuzzing::plain_client_session,
    );
}

#[test]
fn session_curve_server() {
    replay(
        "session_curve_server",
        zmtp_mechanisms::fuzzing::curve_server_session,
    );
}

#[test]
fn session_curve_client() {
    replay(
        "session_curve_client",
        zmtp_mechanisms::fuzzing::curve_client_session,
    );
}

#[test]
fn zap() {
    replay("zap", zmtp_zap::fuzzing::zap);
}

#[test]
fn socket_ops() {
    replay("socket_ops", zmtp::fuzzing::socket_ops);
}

#[test]
fn salsa_backends() {
    replay("salsa_backends", salsa_simd::fuzzing::backends_agree);
}

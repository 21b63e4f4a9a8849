//! Shared helpers for the integration tests in `tests/`: the conformance-ledger parser and the
//! interop harness against a real libzmq.

#![forbid(unsafe_code)]

pub mod abnf;
pub mod psk;
pub mod pyzmq;
pub mod stacks;

use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}

/// One checklist row of an `rfcs/*.md` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    /// The file it came from.
    pub file: PathBuf,
    /// The rule id.
    pub id: String,
    /// The file that enforces the rule.
    pub enforced_in: String,
    /// `path::function` of the test.
    pub test: String,
}

/// Reads every checklist row (tables whose header is `| Id | Rule | Enforced in | Test |`).
pub fn ledger_rows(rfcs: &Path) -> std::io::Result<Vec<LedgerRow>> {
    let mut rows = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(rfcs)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        // README.md explains the format with an example row.
        .filter(|p| p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    entries.sort();
    for file in entries {
        let text = std::fs::read_to_string(&file)?;
        let mut in_checklist = false;
        for line in text.lines() {
            let cells: Vec<&str> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            if !line.trim_start().starts_with('|') {
                in_checklist = false;
                continue;
            }
            if cells.len() == 4
                && cells[0] == "Id"
                && cells[2] == "Enforced in"
                && cells[3] == "Test"
            {
                in_checklist = true;
                continue;
            }
            if !in_checklist || cells.len() != 4 || cells[0].starts_with('-') {
                continue;
            }
            let unquote = |s: &str| s.trim_matches('`').to_owned();
            rows.push(LedgerRow {
                file: file.clone(),
                id: cells[0].to_owned(),
                enforced_in: unquote(cells[2]),
                test: unquote(cells[3]),
            });
        }
    }
    Ok(rows)
}

/// How long an interop test waits for any one message or event.
pub const INTEROP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The next message on `socket`; panics after [`INTEROP_TIMEOUT`].
pub async fn recv(socket: &zmtp::Socket) -> zmtp::Message {
    tokio::time::timeout(INTEROP_TIMEOUT, socket.recv())
        .await
        .unwrap_or_else(|_| panic!("no message within {INTEROP_TIMEOUT:?}"))
        .expect("recv")
}

/// Waits for the monitor event `wanted`, skipping others, and returns its value; panics after
/// [`INTEROP_TIMEOUT`].
pub async fn event(
    monitor: &mut tokio::sync::mpsc::Receiver<zmtp::SocketEvent>,
    wanted: zmtp::MonitorEvent,
) -> u32 {
    let deadline = tokio::time::Instant::now() + INTEROP_TIMEOUT;
    loop {
        let ev = tokio::time::timeout_at(deadline, monitor.recv())
            .await
            .unwrap_or_else(|_| panic!("no {wanted:?} within {INTEROP_TIMEOUT:?}"))
            .expect("monitor open");
        if ev.event == wanted {
            return ev.value;
        }
    }
}

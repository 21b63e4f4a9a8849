//! The conformance ledger stays true: every checklist row in rfcs/ names a file that exists and
//! a test function that file defines.

use std::collections::HashSet;

use zmtp_tests::{ledger_rows, repo_root};

#[test]
fn every_ledger_row_names_an_existing_test() {
    let root = repo_root();
    let rows = ledger_rows(&root.join("rfcs")).expect("rfcs/ is readable");
    assert!(
        rows.len() >= 20,
        "the ledger lists the rules we enforce ({} rows)",
        rows.len()
    );
    let mut problems = Vec::new();
    let mut ids = HashSet::new();
    for row in &rows {
        if !ids.insert(row.id.clone()) {
            problems.push(format!("{}: duplicate id", row.id));
        }
        for path in row.enforced_in.split(',').map(str::trim) {
            if !root.join(path).is_file() {
                problems.push(format!(
                    "{}: enforced-in file {path} does not exist",
                    row.id
                ));
            }
        }
        let Some((path, function)) = row.test.rsplit_once("::") else {
            problems.push(format!(
                "{}: test {:?} is not path::function",
                row.id, row.test
            ));
            continue;
        };
        match std::fs::read_to_string(root.join(path)) {
            Ok(text) => {
                if !text.contains(&format!("fn {function}(")) {
                    problems.push(format!("{}: {path} defines no fn {function}", row.id));
                }
            }
            Err(_) => problems.push(format!("{}: test file {path} does not exist", row.id)),
        }
    }
    assert!(
        problems.is_empty(),
        "ledger problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_ledger_parser_reads_rows() {
    let dir = std::env::temp_dir().join(format!("zmtp-ledger-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("x.md"),
        "| Id | Rule | Enforced in | Test |\n|---|---|---|---|\n| A-1 | r | `a.rs` | `a.rs::t` |\n\n| Id | What we do | Why |\n| D | x | y |\n",
    )
    .unwrap();
    let rows = ledger_rows(&dir).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].test, "a.rs::t");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Tests named anywhere in rfcs/ (deviation rows, notes), not only in checklist rows, exist.
#[test]
fn every_test_named_in_rfcs_exists() {
    let root = repo_root();
    let mut named = 0;
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(root.join("rfcs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for quoted in text.split('`').skip(1).step_by(2) {
            let Some((file, function)) = quoted.rsplit_once("::") else {
                continue;
            };
            // The README explains the form with a placeholder path.
            if !file.ends_with(".rs")
                || function.is_empty()
                || file.contains(' ')
                || file.starts_with("path/to/")
            {
                continue;
            }
            named += 1;
            let defines = std::fs::read_to_string(root.join(file))
                .map(|t| t.contains(&format!("fn {function}(")))
                .unwrap_or(false);
            if !defines {
                problems.push(format!("{}: {quoted}", path.display()));
            }
        }
    }
    assert!(named >= 20, "rfcs/ names its tests ({named} found)");
    assert!(
        problems.is_empty(),
        "named tests that do not exist:\n{}",
        problems.join("\n")
    );
}

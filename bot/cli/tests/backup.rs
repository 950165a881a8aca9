//! `deskbot chat --json-input`, `deskbot export` and `deskbot import`, driven as processes.

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::Value;

fn deskbot(args: &[&str], data_dir: &Path, stdin: &[u8]) -> Output {
    let mut child = crate::common::deskbot()
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn json_input_serves_many_users_and_reports_bad_lines_by_number() {
    let dir = tempfile::tempdir().unwrap();
    let input = concat!(
        "{\"user\": \"ann\", \"text\": \"I forgot my password\"}\n",
        "{\"user\": \"bob\", \"text\": \"let me talk to a real person\"}\n",
        "this is not json\n",
        "{\"user\": \"\", \"text\": \"empty user\"}\n",
        "{\"user\": \"ann\"}\n",
        "{\"user\": \"ann\", \"text\": \"no\"}\n",
        "{\"text\": \"hello\"}\n",
    );
    let out = lines(&deskbot(
        &["chat", "--json-input", "--user", "dflt"],
        dir.path(),
        input.as_bytes(),
    ));
    assert_eq!(out.len(), 7, "{out:?}");
    assert_eq!(out[0]["user"], "ann");
    assert_eq!(out[0]["state"], "guide");
    assert_eq!(out[0]["step"], 1);
    assert_eq!(out[1]["user"], "bob");
    assert_eq!(out[1]["state"], "escalated");
    for (i, line) in [(2, 3), (3, 4), (4, 5)] {
        assert_eq!(out[i]["line"], line, "{:?}", out[i]);
        assert!(out[i]["error"].as_str().is_some_and(|e| !e.is_empty()));
        assert!(out[i].get("reply").is_none());
    }
    // ann's conversation went on despite the bad lines in between.
    assert_eq!(out[5]["user"], "ann");
    assert_eq!(out[5]["step"], 2);
    assert_eq!(out[6]["user"], "dflt");
    assert!(out[6]["reply"].as_str().is_some());
}

#[test]
fn export_then_import_restores_conversations_into_an_empty_dir_only() {
    let dir = tempfile::tempdir().unwrap();
    let input = concat!(
        "{\"user\": \"ann\", \"text\": \"I forgot my password\"}\n",
        "{\"user\": \"bob\", \"text\": \"let me talk to a real person\"}\n",
        "{\"user\": \"ann\", \"text\": \"no\"}\n",
    );
    lines(&deskbot(
        &["chat", "--json-input"],
        dir.path(),
        input.as_bytes(),
    ));
    let backup = dir.path().join("backup.jsonl");
    let out = deskbot(
        &["export", "--out", backup.to_str().unwrap()],
        dir.path(),
        b"",
    );
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 conversations"));
    let text = std::fs::read_to_string(&backup).unwrap();
    assert!(text.contains("I forgot my password"));
    assert!(!dir.path().join("backup.jsonl.partial").exists());
    // Export to stdout gives the same file.
    let out = deskbot(&["export"], dir.path(), b"");
    assert_eq!(String::from_utf8_lossy(&out.stdout), text);

    let restored = tempfile::tempdir().unwrap();
    let out = deskbot(&["import", backup.to_str().unwrap()], restored.path(), b"");
    assert!(out.status.success(), "{out:?}");
    // The restored bot carries on: ann is at step 2, "no" takes her to step 3; bob's
    // ticket is still open.
    let out = lines(&deskbot(
        &["chat", "--json-input"],
        restored.path(),
        b"{\"user\": \"ann\", \"text\": \"no\"}\n{\"user\": \"bob\", \"text\": \"hi\"}\n",
    ));
    assert_eq!(out[0]["step"], 3);
    assert_eq!(out[1]["state"], "escalated");
    assert_eq!(out[1]["ticket"], 1);

    // A second import into the now non-empty dir is refused, clearly.
    let out = deskbot(&["import", backup.to_str().unwrap()], restored.path(), b"");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already holds data"), "{err}");
    assert!(err.contains("empty data directory"), "{err}");
}

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

/// Transcript lines carrying a decision record (the bot's own, from `deskbot chat`, and ones
/// with every field set) go through `deskbot export` and `deskbot import` unchanged: the
/// restored store reads the same lines, each decision serialises to the same bytes, and a
/// second export writes the same transcript records.
#[test]
fn decisions_survive_export_and_import_byte_for_byte() {
    use deskbot_storage::{
        ConvKey, Decision, EscalationKind, GuideStep, InputKind, Miss, Platform, Speaker, Store,
        TranscriptEntry, TurnWrite,
    };
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    let full = Decision {
        language: Some("pt".into()),
        input: InputKind::Button,
        intent: Some("password_reset".into()),
        confidence: Some(0.876_543_2),
        act: Some("deny".into()),
        answered: Some(GuideStep {
            guide: "password_reset".into(),
            step: 2,
        }),
        shown: Some(GuideStep {
            guide: "password_reset".into(),
            step: 3,
        }),
        outcome: "escalated".into(),
        escalation: Some(EscalationKind::GuideExhausted),
        ticket: Some(7),
        fallback: true,
        miss: Some(Miss::SuggestionIgnored),
        declined_suggestion: true,
        latency_us: 1_234_567,
    };
    let bare = Decision {
        language: None,
        input: InputKind::Text,
        intent: None,
        confidence: Some(0.1 + 0.2),
        act: None,
        answered: None,
        shown: None,
        outcome: "out_of_scope".into(),
        escalation: None,
        ticket: None,
        fallback: false,
        miss: Some(Miss::OutOfScope),
        declined_suggestion: false,
        latency_us: 0,
    };
    let with = |at_ms, text: &str, d: &Decision| TranscriptEntry {
        decision: Some(Box::new(d.clone())),
        ..TranscriptEntry::new(at_ms, Speaker::User, text)
    };
    let keys = [
        ConvKey::new(Platform::Telegram, "5511"),
        ConvKey::new(Platform::Discord, "ana \"quoted\" ü"),
    ];
    lines(&deskbot(
        &["chat", "--json-input"],
        &src,
        concat!(
            "{\"user\": \"rui\", \"text\": \"esqueci a senha da minha conta mi\"}\n",
            "{\"user\": \"rui\", \"text\": \"no didnt work\"}\n",
            "{\"user\": \"kim\", \"text\": \"whats the weather in seoul\"}\n",
            "{\"user\": \"kim\", \"text\": \"/human\"}\n",
        )
        .as_bytes(),
    ));
    {
        let store = Store::open(&src).unwrap();
        let state =
            serde_json::to_value(deskbot_engine::dialogue::Conversation::default()).unwrap();
        for key in &keys {
            store
                .commit_turn(&TurnWrite {
                    key,
                    state: &state,
                    transcript: &[
                        with(1_700_000_000_001, "nao, nao funcionou 😩", &full),
                        TranscriptEntry::new(1_700_000_000_002, Speaker::Bot, "Vamos tentar…"),
                        with(1_700_000_000_003, "quanto custa o redmi 13??", &bare),
                    ],
                    tickets: &[],
                    channel: None,
                })
                .unwrap();
        }
    }
    let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let run = |args: &[&str], data: &Path| {
        let out = deskbot(args, data, b"");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["export", "--out", a.to_str().unwrap()], &src);
    run(&["import", a.to_str().unwrap()], &dst);
    run(&["export", "--out", b.to_str().unwrap()], &dst);

    // The backups' transcript records, sequence numbers aside (an import renumbers them).
    let records = |path: &Path| -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter_map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                (v["kind"] == "transcript").then(|| {
                    v["seq"] = Value::Null;
                    v.to_string()
                })
            })
            .collect()
    };
    let (first, second) = (records(&a), records(&b));
    assert!(first.len() >= 6 + 8, "{first:#?}");
    assert_eq!(first, second);
    // The chat's four user lines carry the bot's decisions, the crafted ones theirs.
    assert_eq!(
        first.iter().filter(|r| r.contains("\"decision\"")).count(),
        4 + 4,
        "{first:#?}"
    );
    let chatted = [
        ConvKey::new(Platform::Console, "rui"),
        ConvKey::new(Platform::Console, "kim"),
    ];

    let (original, restored) = (Store::open(&src).unwrap(), Store::open(&dst).unwrap());
    for key in &chatted {
        let (before, after) = (
            original.transcript(key, 100).unwrap(),
            restored.transcript(key, 100).unwrap(),
        );
        assert_eq!(before, after, "{key}");
        let bytes = |t: &[TranscriptEntry]| -> Vec<Vec<u8>> {
            t.iter()
                .map(|l| serde_json::to_vec(&l.decision).unwrap())
                .collect()
        };
        assert_eq!(bytes(&before), bytes(&after), "{key}");
        assert_eq!(
            after
                .iter()
                .filter(|l| l.speaker == Speaker::User && l.decision.is_some())
                .count(),
            2,
            "{key}: {after:#?}"
        );
    }
    for key in &keys {
        let (before, after) = (
            original.transcript(key, 10).unwrap(),
            restored.transcript(key, 10).unwrap(),
        );
        assert_eq!(before, after, "{key}");
        let decisions: Vec<Vec<u8>> = after
            .iter()
            .map(|l| serde_json::to_vec(&l.decision).unwrap())
            .collect();
        let expected: Vec<Vec<u8>> = [Some(&full), None, Some(&bare)]
            .iter()
            .map(|d| serde_json::to_vec(&d.map(|d| Box::new(d.clone()))).unwrap())
            .collect();
        assert_eq!(decisions, expected, "{key}");
        assert_eq!(
            after[0].decision.as_ref().unwrap().confidence,
            Some(0.876_543_2_f32)
        );
    }
}

//! `deskbot review`, `review add` and `review export`, driven as a support lead would after
//! the scripted run (issue #16, must-show 2):
//! - the review lists exactly the messages the run did not get understood, with the right
//!   reasons and counts, and nothing else;
//! - `review add` of one of them makes the next `deskbot chat` (on a copy of the catalog)
//!   understand it, and leaves every other line of the edited file byte for byte as it was;
//!   a message in Spanish goes to the Spanish examples; unknown ids and intents, a second
//!   label and a text the catalog already has are refused with the files untouched;
//! - `review export` writes an evaluation set `deskbot eval --test` accepts;
//! - user text reaches the terminal with its control characters escaped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::scripted_run;

fn deskbot(args: &[&str]) -> Output {
    crate::common::deskbot()
        .args(args)
        .output()
        .expect("deskbot runs")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn fails(out: Output) -> String {
    assert!(
        !out.status.success(),
        "should fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

fn review_json(data: &Path) -> Vec<Value> {
    let out = ok(deskbot(&["review", "--data-dir", path(data), "--json"]));
    serde_json::from_str::<Vec<Value>>(out.trim()).expect("a JSON list")
}

/// Copies the repository's catalog (`intents/`, with its language folders) into `to`.
fn copy_catalog(to: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    copy(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../intents"),
        to,
    );
}

/// Every file of the catalog with its bytes, to show a refused add changed nothing.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// `after` is `before` with exactly one line inserted: returns that line. Every other line,
/// and the bytes around them, are unchanged (the file minus the added line is `before`).
fn one_added_line(before: &str, after: &str) -> String {
    let b: Vec<&str> = before.split_inclusive('\n').collect();
    let a: Vec<&str> = after.split_inclusive('\n').collect();
    assert_eq!(a.len(), b.len() + 1, "one line more:\n{after}");
    let at = b
        .iter()
        .zip(&a)
        .position(|(x, y)| x != y)
        .unwrap_or(b.len());
    let mut without = a.clone();
    let added = without.remove(at);
    assert_eq!(without.concat(), before, "every other byte is as it was");
    added.to_string()
}

/// The chat's reply to `text` from a new user, on the catalog in `catalog` (or the built-in).
fn first_reply(text: &str, catalog: Option<&Path>) -> Value {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = crate::common::deskbot();
    cmd.args(["chat", "--json-input", "--no-embeddings", "--data-dir"])
        .arg(data.path());
    if let Some(c) = catalog {
        cmd.arg("--catalog").arg(c);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(
            stdin,
            "{}",
            serde_json::json!({"user": "new", "text": text})
        )
        .unwrap();
    }
    let out = ok(child.wait_with_output().unwrap());
    serde_json::from_str(out.lines().next().expect("a reply")).unwrap()
}

#[test]
fn review_lists_what_the_scripted_run_misunderstood_and_add_teaches_it() {
    let data_dir = tempfile::tempdir().unwrap();
    let data = data_dir.path();
    let started = std::time::Instant::now();
    let expected = scripted_run::run(data);
    eprintln!(
        "scripted run: {} conversations, {} messages in {:?}",
        expected.conversations,
        expected.user_messages,
        started.elapsed()
    );
    assert!(expected.conversations >= 200, "{}", expected.conversations);

    // Exactly the misunderstood messages: one row per distinct text, with its count and the
    // reason of its newest occurrence.
    let mut want: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for m in &expected.misunderstood {
        let e = want.entry(m.text.clone()).or_insert((0, String::new()));
        e.0 += 1;
        e.1 = m.reason.clone();
    }
    let rows = review_json(data);
    let got: BTreeMap<String, (usize, String)> = rows
        .iter()
        .map(|r| {
            (
                r["text"].as_str().unwrap().to_string(),
                (
                    r["count"].as_u64().unwrap() as usize,
                    r["reason"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    assert_eq!(got.len(), rows.len(), "identical texts are one row");
    assert_eq!(got, want);
    for reason in [
        "out_of_scope",
        "low_confidence",
        "guide_fallback",
        "suggestion_ignored",
        "reworded",
    ] {
        assert!(
            want.values().any(|(_, r)| r == reason),
            "the run has {reason}"
        );
    }
    // Grouped by nearest intent: a group's rows are together.
    let groups: Vec<&Value> = rows.iter().map(|r| &r["nearest_intent"]).collect();
    let mut seen = Vec::new();
    for g in groups.windows(2) {
        if g[0] != g[1] {
            assert!(!seen.contains(&g[1]), "group {} split: {rows:?}", g[1]);
            seen.push(g[0]);
        }
    }
    assert!(
        rows.iter()
            .all(|r| r["confidence"].is_number() && r["id"].is_string())
    );
    let text = ok(deskbot(&[
        "review",
        "--data-dir",
        path(data),
        "--limit",
        "3",
    ]));
    assert_eq!(
        text.lines().filter(|l| l.starts_with("  ")).count(),
        3,
        "{text}"
    );

    // `review add`: a message the bot was unsure about, taught as what it is.
    let catalog_dir = tempfile::tempdir().unwrap();
    let catalog = catalog_dir.path();
    copy_catalog(catalog);
    let unsure = "phone says verify your identity and then nothing";
    let before_chat = first_reply(unsure, None);
    assert_eq!(before_chat["state"], "suggest", "{before_chat}");
    let row = rows.iter().find(|r| r["text"] == unsure).expect("listed");
    let id = row["id"].as_str().unwrap();
    let file = catalog.join("two_factor.toml");
    let before = std::fs::read_to_string(&file).unwrap();
    let out = ok(deskbot(&[
        "review",
        "add",
        id,
        "two_factor",
        "--data-dir",
        path(data),
        "--catalog",
        path(catalog),
    ]));
    assert!(out.contains("two_factor"), "{out}");
    let after = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        one_added_line(&before, &after),
        format!("  \"{unsure}\",\n")
    );
    let taught = first_reply(unsure, Some(catalog));
    assert_eq!(taught["intent"], "two_factor", "{taught}");
    assert_eq!(taught["outcome"], "guidestarted", "{taught}");

    // A Spanish message goes to the Spanish examples, under the label given.
    let spanish = "se me rompio la pantalla del celular";
    let es_rows: Vec<&Value> = rows.iter().filter(|r| r["text"] == spanish).collect();
    assert_eq!(es_rows.len(), 1);
    assert_eq!(es_rows[0]["language"], "es");
    let es_id = es_rows[0]["id"].as_str().unwrap();
    let es_file = catalog.join("lang/es/examples.toml");
    let es_before = std::fs::read_to_string(&es_file).unwrap();
    ok(deskbot(&[
        "review",
        "add",
        es_id,
        "oos",
        "--data-dir",
        path(data),
        "--catalog",
        path(catalog),
    ]));
    let es_after = std::fs::read_to_string(&es_file).unwrap();
    assert_eq!(
        one_added_line(&es_before, &es_after),
        format!("  \"{spanish}\",\n")
    );
    let parsed: toml::Table = toml::from_str(&es_after).unwrap();
    assert!(
        parsed["intents"]["out_of_scope"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_str() == Some(spanish))
    );

    // Refusals change nothing.
    let files = snapshot(catalog);
    let other = rows
        .iter()
        .find(|r| r["reason"] == "out_of_scope" && r["language"] == "en")
        .unwrap();
    let other_id = other["id"].as_str().unwrap();
    let add = |id: &str, intent: &str| {
        deskbot(&[
            "review",
            "add",
            id,
            intent,
            "--data-dir",
            path(data),
            "--catalog",
            path(catalog),
        ])
    };
    let err = fails(add(id, "two_factor"));
    assert!(err.contains("already added"), "{err}");
    let err = fails(add(other_id, "pasword_reset"));
    assert!(
        err.contains("`pasword_reset` is not an intent") && err.contains("password_reset"),
        "{err}"
    );
    let err = fails(add("fffffff", "two_factor"));
    assert!(err.contains("no message with id fffffff"), "{err}");
    let err = fails(add("not-an-id", "two_factor"));
    assert!(err.contains("not a review id"), "{err}");
    // The same text as one already added (another occurrence, another id) is a duplicate.
    let twice = expected
        .misunderstood
        .iter()
        .filter(|m| m.text == spanish)
        .count();
    assert_eq!(twice, 2, "the run says it twice");
    let older = older_id_of(data, spanish, es_id);
    let err = fails(add(&older, "out_of_scope"));
    assert!(
        err.contains("already an example of `out_of_scope`"),
        "{err}"
    );
    assert_eq!(snapshot(catalog), files, "a refused add touches no file");

    // Labelled texts leave the review; the rest stays.
    let left: Vec<String> = review_json(data)
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left.len(), want.len() - 2);
    assert!(!left.iter().any(|t| t == unsure || t == spanish));

    // The labelled ones as an evaluation set that `deskbot eval --test` reads.
    let eval_file = data_dir.path().join("labelled.jsonl");
    let out = ok(deskbot(&[
        "review",
        "export",
        "--data-dir",
        path(data),
        "--out",
        path(&eval_file),
    ]));
    assert!(out.contains("2 labelled"), "{out}");
    let lines: Vec<Value> = std::fs::read_to_string(&eval_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines.contains(&serde_json::json!({"text": unsure, "intent": "two_factor", "lang": "en"}))
    );
    assert!(lines.contains(&serde_json::json!({"text": spanish, "intent": "oos", "lang": "es"})));
    let eval = ok(deskbot(&[
        "eval",
        "--test",
        path(&eval_file),
        "--catalog",
        path(catalog),
        "--no-embeddings",
        "--json",
    ]));
    let report: Value = serde_json::from_str(eval.trim()).expect("eval JSON");
    assert!(report.is_object(), "{report}");
}

/// The review id of the older occurrence of `text` (the review shows the newest, `newest`).
fn older_id_of(data: &Path, text: &str, newest: &str) -> String {
    use deskbot_storage::{Speaker, Store};
    let store = Store::open_existing(data).unwrap();
    let ids: Vec<String> = store
        .transcript_lines()
        .map(Result::unwrap)
        .filter(|l| l.entry.speaker == Speaker::User && l.entry.text == text)
        .map(|l| format!("{:x}", l.seq))
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    ids.into_iter().find(|i| i != newest).unwrap()
}

/// What users wrote is shown with control characters (and direction overrides) escaped on
/// the terminal, and as JSON escapes in `--json`; without a database nothing is created.
#[test]
fn review_escapes_control_characters_and_refuses_a_missing_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let err = fails(deskbot(&["review", "--data-dir", path(d)]));
    assert!(err.contains("no deskbot database"), "{err}");
    let mut child = crate::common::deskbot()
        .args(["chat", "--json-input", "--no-embeddings", "--data-dir"])
        .arg(d)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        let line = serde_json::json!({"user": "x", "text": "what is the \u{202e}bitcoin price\rtoday \u{7}"});
        writeln!(stdin, "{line}").unwrap();
    }
    ok(child.wait_with_output().unwrap());
    let json = ok(deskbot(&["review", "--data-dir", path(d), "--json"]));
    assert!(!json.contains(['\r', '\u{7}', '\u{202e}']), "{json:?}");
    let rows: Vec<Value> = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(rows.len(), 1, "{json}");
    // The text as the transcript keeps it (masked), control characters and all.
    let stored = rows[0]["text"].as_str().unwrap();
    assert_eq!(stored, "what is the \u{202e}bitcoin price\rtoday \u{7}");
    let text = ok(deskbot(&["review", "--data-dir", path(d)]));
    assert!(!text.contains(['\r', '\u{7}', '\u{202e}']), "{text:?}");
    assert!(
        text.contains("what is the \\u{202e}bitcoin price\\rtoday \\u{7}"),
        "{text}"
    );
    assert!(text.contains("out_of_scope"), "{text}");
    let err = fails(deskbot(&[
        "review",
        "export",
        "--data-dir",
        path(d),
        "--out",
        path(&d.join("x.jsonl")),
    ]));
    assert!(err.contains("no labelled messages"), "{err}");
}

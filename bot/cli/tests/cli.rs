//! The `deskbot` binary driven as a user would drive it: through stdin and stdout.

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::Value;

fn chat(data_dir: &Path, user: &str, stdin: &[u8], json: bool) -> Output {
    let mut cmd = crate::common::deskbot();
    cmd.args(["chat", "--user", user, "--data-dir"])
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if json {
        cmd.arg("--json");
    }
    let mut child = cmd.spawn().expect("deskbot starts");
    let mut pipe = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().expect("deskbot exits");
    writer.join().expect("writer thread");
    out
}

fn turns(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

#[test]
fn password_guide_persists_between_runs() {
    let dir = tempfile::tempdir().unwrap();
    let t = turns(&chat(dir.path(), "t1", b"I forgot my password\nno\n", true));
    assert_eq!(t.len(), 2);
    assert_eq!(t[0]["intent"], "password_reset");
    let last = &t[1];
    assert_eq!(last["state"], "guide");
    assert_eq!(last["guide"], "password_reset");
    assert_eq!(last["step"], 2);
    assert!(last["steps"].as_u64().unwrap() >= 3);
    assert_eq!(last["buttons"][0], "Yes, that fixed it");
    for key in [
        "user",
        "text",
        "intent",
        "confidence",
        "reply",
        "buttons",
        "state",
        "guide",
        "step",
        "steps",
        "ticket",
    ] {
        assert!(last.get(key).is_some(), "missing {key}");
    }
    let t = turns(&chat(dir.path(), "t1", b"yes\n", true));
    assert_eq!(t[0]["state"], "idle");
    assert_eq!(t[0]["guide"], Value::Null);
    assert!(t[0]["reply"].as_str().unwrap().contains("glad"));
}

#[test]
fn ticket_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let t = turns(&chat(
        dir.path(),
        "t2",
        b"let me talk to a real person\n",
        true,
    ));
    let ticket = t[0]["ticket"].as_u64().expect("a ticket number");
    assert_eq!(t[0]["state"], "escalated");
    let t = turns(&chat(dir.path(), "t2", b"hello? anyone there\n", true));
    assert_eq!(t[0]["state"], "escalated");
    assert_eq!(t[0]["ticket"].as_u64(), Some(ticket));
    assert!(
        t[0]["reply"]
            .as_str()
            .unwrap()
            .contains(&format!("#{ticket}"))
    );
}

#[test]
fn plain_mode_prints_buttons_as_numbered_lines_and_numbers_press_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = chat(
        dir.path(),
        "t3",
        b"my 2fa code is always invalid\n2\n1\n",
        false,
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[1] Yes, that fixed it"), "{text}");
    assert!(text.contains("[2] No, still stuck"), "{text}");
    assert!(text.contains("Step 2 of"), "{text}");
    assert!(text.contains("glad"), "{text}");
    assert!(
        !text.contains("> "),
        "no prompt when stdin is not a terminal: {text}"
    );
}

#[test]
fn garbage_input_gets_replies_and_keeps_state() {
    let dir = tempfile::tempdir().unwrap();
    // An open ticket is state no message can change, so it shows whether junk corrupts or
    // loses anything stored before it.
    let t = turns(&chat(dir.path(), "g", b"I want to talk to a human\n", true));
    let ticket = t[0]["ticket"].as_u64().expect("a ticket");
    let mut junk = Vec::new();
    junk.extend(std::iter::repeat_n(b'x', 1_000_000));
    junk.push(b'\n');
    junk.extend_from_slice(b"\xff\xfe\xfd invalid utf8 \xc3\x28\n");
    junk.extend_from_slice("😀😀😀\n".as_bytes());
    junk.extend_from_slice("لا أستطيع تسجيل الدخول\n".as_bytes());
    junk.extend_from_slice(b"\x00\x01\x02\n");
    for i in 0..10_000 {
        junk.extend_from_slice(format!("line {i}\n").as_bytes());
    }
    let t = turns(&chat(dir.path(), "g", &junk, true));
    assert_eq!(t.len(), 5 + 10_000);
    assert!(
        t.iter()
            .all(|turn| !turn["reply"].as_str().unwrap_or_default().is_empty())
    );
    assert!(t.iter().all(|turn| turn["ticket"].as_u64() == Some(ticket)));
    // The 1 MB line was cut, not dropped, and the rest kept their order.
    assert!(t[0]["text"].as_str().unwrap().len() <= 64 * 1024);
    assert_eq!(t[5]["text"], "line 0");
    assert_eq!(t[10_004]["text"], "line 9999");
    // After a restart the ticket is still open and still this user's.
    let t = turns(&chat(dir.path(), "g", b"still there?\n", true));
    assert_eq!(t[0]["state"], "escalated");
    assert_eq!(t[0]["ticket"].as_u64(), Some(ticket));
    // A guide in progress survives the unusual characters too.
    let t = turns(&chat(
        dir.path(),
        "h",
        "I forgot my password\n😀😀😀\n\u{202e}\u{200b}\n\n".as_bytes(),
        true,
    ));
    assert!(
        t.iter().all(|turn| turn["guide"] == "password_reset"),
        "{t:?}"
    );
}

#[test]
fn bad_arguments_and_locked_database_are_clear_errors() {
    let out = crate::common::deskbot()
        .args(["chat", "--no-such-flag"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));

    let dir = tempfile::tempdir().unwrap();
    let out = crate::common::deskbot()
        .args(["chat", "--catalog"])
        .arg(dir.path().join("missing"))
        .arg("--data-dir")
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing") && err.contains("cannot read"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn second_process_on_the_same_data_dir_gets_a_clear_lock_error() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut first = crate::common::deskbot()
        .args(["chat", "--json", "--user", "a", "--data-dir"])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = first.stdin.take().unwrap();
    stdin.write_all(b"hello\n").unwrap();
    stdin.flush().unwrap();
    // Once it has answered, it holds the database.
    let mut line = String::new();
    BufReader::new(first.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("\"reply\""), "{line}");

    let out = chat(dir.path(), "b", b"hi\n", true);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another deskbot process"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    drop(stdin);
    assert!(first.wait().unwrap().success());
}

#[test]
fn check_config_names_the_offending_key_and_never_prints_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("deskbot.toml");
    let run = |env_token: Option<&str>| {
        let mut cmd = crate::common::deskbot();
        cmd.arg("check-config").arg("--config").arg(&cfg);
        cmd.env_remove("TELEGRAM_BOT_TOKEN")
            .env_remove("DISCORD_BOT_TOKEN");
        if let Some(t) = env_token {
            cmd.env("TELEGRAM_BOT_TOKEN", t);
        }
        cmd.output().unwrap()
    };
    std::fs::write(&cfg, "[telegram]\nenabled = true\npoll_timeout_secs = 99\n").unwrap();
    let out = run(Some("777:SECRET-TOKEN-xyz"));
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("telegram.poll_timeout_secs"), "{all}");
    assert!(!all.contains("SECRET-TOKEN"), "{all}");

    std::fs::write(&cfg, "[telegram]\nenabled = true\n").unwrap();
    let out = run(None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("telegram.token"));

    let out = run(Some("777:SECRET-TOKEN-xyz"));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(all.contains("channels enabled: telegram"), "{all}");
    assert!(!all.contains("SECRET-TOKEN"), "{all}");

    std::fs::write(&cfg, "[telegram]\nenabeld = true\n").unwrap();
    let out = run(None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("enabeld"));
}

#[test]
fn the_example_config_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deskbot.example.toml");
    // The example enables no channel (the operator picks one), which `check-config` only
    // accepts when asked to.
    let out = crate::common::deskbot()
        .arg("check-config")
        .arg("--allow-no-channel")
        .arg("--config")
        .arg(&example)
        .env_remove("TELEGRAM_BOT_TOKEN")
        .env_remove("DISCORD_BOT_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok"));
}

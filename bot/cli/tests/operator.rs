//! The operator's commands driven as processes: what users wrote reaches the terminal with
//! control characters escaped; read-only commands never create a database; `import` refuses a
//! record the bot could not read; `export --salvage` keeps what still decodes; `check-config`
//! and `DESKBOT_*` errors say what is wrong; `--json-input` reports over-long lines;
//! `dead-letters list|retry` show what a channel gave up on and queue a reply again.

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use deskbot_storage::Platform;
use deskbot_storage::{ConvKey, Store, TurnWrite};

/// Runs `deskbot args… --data-dir dir` with `stdin`.
fn deskbot(args: &[&str], data_dir: &Path, stdin: &[u8]) -> Output {
    deskbot_as(args, data_dir, stdin, None)
}

fn deskbot_as(args: &[&str], data_dir: &Path, stdin: &[u8], uid: Option<u32>) -> Output {
    let mut cmd = crate::common::deskbot();
    cmd.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(uid) = uid {
        use std::os::unix::process::CommandExt;
        cmd.uid(uid).gid(uid);
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

fn stdout_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// No byte that a terminal acts on: C0 controls but the line feed, DEL, and C1 controls.
fn assert_no_controls(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(bad.is_empty(), "{what} prints raw controls {bad:?}: {text}");
}

/// A name that retitles the terminal window and clears the screen when printed raw.
const EVIL_NAME: &str = "mallory\u{1b}]0;owned\u{7}\u{1b}[2J";

#[test]
fn user_text_reaches_the_operator_with_visible_escapes_and_tickets_show_grows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = format!(
        "{}\n{}\n{}\n",
        serde_json::json!({"user": EVIL_NAME, "text": "i cant log in!!\u{1b}[31m pls\rhelp"}),
        serde_json::json!({"user": EVIL_NAME, "text": "get me a real person"}),
        serde_json::json!({"user": EVIL_NAME, "text": "hello?? still waiting \u{9b}2J anyone\u{7}"}),
    );
    let chat = stdout_ok(&deskbot(&["chat", "--json-input"], d, input.as_bytes()));
    assert_no_controls("chat --json-input", &chat);
    let turns: Vec<serde_json::Value> = chat
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The JSON still says exactly what was written.
    assert_eq!(turns[0]["user"], EVIL_NAME);
    assert!(turns[2]["text"].as_str().unwrap().contains('\u{9b}'));
    assert_eq!(turns[1]["state"], "escalated", "{chat}");

    let list = stdout_ok(&deskbot(&["tickets", "list"], d, b""));
    assert_no_controls("tickets list", &list);
    assert!(list.contains("mallory\\u{1b}]0;owned\\u{7}"), "{list}");

    let show = stdout_ok(&deskbot(&["tickets", "show", "1"], d, b""));
    assert_no_controls("tickets show", &show);
    assert!(show.contains("\\u{1b}[2J"), "{show}");
    assert!(show.contains("pls\\rhelp"), "{show}");
    // The message written after the ticket opened is part of it.
    assert!(show.contains("Since the ticket opened:"), "{show}");
    assert!(
        show.contains("User: hello?? still waiting \\u{9b}2J anyone\\u{7}"),
        "{show}"
    );

    // Plain console mode: what is printed for the person at the terminal has no raw controls
    // either, even when the bot quotes their ticket.
    let plain = stdout_ok(&deskbot(
        &["chat", "--user", EVIL_NAME],
        d,
        "any news\u{1b}[2J\n".as_bytes(),
    ));
    assert_no_controls("chat", &plain);
}

#[test]
fn tickets_show_follows_an_open_ticket_and_stops_at_its_close() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    stdout_ok(&deskbot(
        &["chat", "--user", "priya"],
        d,
        b"my acount is locked after too many tries\nhuman please\n",
    ));
    let show = stdout_ok(&deskbot(&["tickets", "show", "1"], d, b""));
    assert!(!show.contains("Since the ticket opened:"), "{show}");
    stdout_ok(&deskbot(
        &["chat", "--user", "priya"],
        d,
        b"i also changed my phone number last week\nits +44 7700 900123\n",
    ));
    let show = stdout_ok(&deskbot(&["tickets", "show", "1"], d, b""));
    let since = show
        .split("Since the ticket opened:")
        .nth(1)
        .unwrap_or_else(|| panic!("no new lines: {show}"));
    assert!(
        since.contains("User: i also changed my phone number last week"),
        "{show}"
    );
    assert!(
        !since.contains("human please"),
        "the escalation is not repeated: {show}"
    );
    stdout_ok(&deskbot(&["tickets", "close", "1"], d, b""));
    // After the close, the user's next conversation is not the ticket's.
    stdout_ok(&deskbot(
        &["chat", "--user", "priya"],
        d,
        b"different thing now, 2fa codes never arrive\n",
    ));
    let show = stdout_ok(&deskbot(&["tickets", "show", "1"], d, b""));
    assert!(show.contains("changed my phone number"), "{show}");
    assert!(!show.contains("2fa codes never arrive"), "{show}");
}

#[test]
fn read_only_commands_refuse_a_missing_data_dir_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("deskbot-dta");
    for args in [
        &["export"][..],
        &["export", "--salvage"][..],
        &["tickets", "list"][..],
        &["tickets", "show", "1"][..],
        &["tickets", "close", "1"][..],
        &["dead-letters", "list"][..],
        &["dead-letters", "retry", "1"][..],
    ] {
        let out = deskbot(args, &typo, b"");
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = stderr(&out);
        assert!(
            err.contains("deskbot-dta") && err.contains("no deskbot database"),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?} wrote a backup anyway");
        assert!(!typo.exists(), "{args:?} created the data directory");
    }
    // An existing directory without a database is refused too and stays empty.
    let out = deskbot(&["tickets", "list"], dir.path(), b"");
    assert!(!out.status.success());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_read_only_data_dir_can_be_exported() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    stdout_ok(&deskbot(
        &["chat", "--user", "sam"],
        &d,
        b"forgot my pasword again\n",
    ));
    let mut files = vec![d.clone(), d.join("db"), d.join("db/blobs")];
    for e in std::fs::read_dir(d.join("db")).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            files.push(p);
        }
    }
    // Everyone may read, nobody may write. root ignores permissions, so as root the commands
    // run as `nobody` (65534), who then cannot write either.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for f in &files {
        let mode = if f.is_dir() { 0o555 } else { 0o444 };
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc_geteuid() } == 0;
    let uid = root.then_some(65534);
    let before = std::fs::read(d.join("db/db")).unwrap();
    let out = deskbot_as(&["export"], &d, b"", uid);
    let backup = stdout_ok(&out);
    assert!(backup.contains("forgot my pasword again"), "{backup}");
    assert!(stderr(&out).contains("temporary copy"), "{}", stderr(&out));
    let list = stdout_ok(&deskbot_as(&["tickets", "list"], &d, b"", uid));
    assert_eq!(list.trim(), "no tickets");
    assert_eq!(std::fs::read(d.join("db/db")).unwrap(), before);
    for f in &files {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// A real database holding two good conversations and one whose stored state the bot cannot
/// read (`{}`: no `phase`), written through the storage API as an older or damaged build
/// might have.
fn database_with_one_bad_conversation(d: &Path) {
    stdout_ok(&deskbot(
        &["chat", "--json-input"],
        d,
        b"{\"user\":\"ann\",\"text\":\"lost access to my email, cant reset\"}\n{\"user\":\"bo\",\"text\":\"account locked\"}\n",
    ));
    let store = Store::open(d).unwrap();
    store
        .commit_turn(&TurnWrite {
            key: &ConvKey::new(Platform::Console, "broken\u{1b}[2J"),
            state: &serde_json::json!({}),
            transcript: &[],
            tickets: &[],
            channel: None,
        })
        .unwrap();
    store.flush().unwrap();
}

#[test]
fn import_refuses_a_record_the_bot_could_not_read_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    database_with_one_bad_conversation(d);
    // A plain export still writes everything (it is a copy, not a judge)…
    let backup = stdout_ok(&deskbot(&["export"], d, b""));
    let bad_line = backup
        .lines()
        .position(|l| l.contains("broken"))
        .expect("the bad record is exported")
        + 1;
    // …and the import refuses the file, naming the line and the reason, writing nothing.
    let restored = tempfile::tempdir().unwrap();
    let file = restored.path().join("backup.jsonl");
    std::fs::write(&file, &backup).unwrap();
    let target = restored.path().join("data");
    let out = deskbot(&["import", file.to_str().unwrap()], &target, b"");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("backup line {bad_line}")) && err.contains("missing field `phase`"),
        "{err}"
    );
    assert_no_controls("import error", &err);
    let after = stdout_ok(&deskbot(&["export"], &target, b""));
    assert_eq!(after.lines().count(), 1, "only the header: {after}");

    // The same file from stdin, with the bad line removed, imports and the bot goes on.
    let good: String = backup
        .lines()
        .filter(|l| !l.contains("broken"))
        .map(|l| format!("{l}\n"))
        .collect();
    let out = deskbot(&["import", "-"], &target, good.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    let chat = stdout_ok(&deskbot(
        &["chat", "--json-input"],
        &target,
        b"{\"user\":\"ann\",\"text\":\"no\"}\n",
    ));
    assert!(chat.contains("\"user\":\"ann\""), "{chat}");
}

#[test]
fn salvage_writes_what_decodes_and_lists_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    database_with_one_bad_conversation(d);
    let before = std::fs::read(d.join("db/db")).unwrap();
    let file = d.join("salvaged.jsonl");
    let out = deskbot(
        &["export", "--salvage", "--out", file.to_str().unwrap()],
        d,
        b"",
    );
    assert!(!out.status.success(), "something was left out: exit 1");
    let err = stderr(&out);
    assert!(err.contains("salvaged 2 conversations"), "{err}");
    assert!(err.contains("left out 1:"), "{err}");
    assert!(
        err.contains("conversations key \"console\\u{0}broken\\u{1b}[2J\\u{0}\"")
            && err.contains("missing field `phase`"),
        "{err}"
    );
    assert_no_controls("salvage report", &err);
    assert_eq!(
        std::fs::read(d.join("db/db")).unwrap(),
        before,
        "original untouched"
    );
    // What was salvaged imports cleanly.
    let restored = tempfile::tempdir().unwrap();
    let out = deskbot(&["import", file.to_str().unwrap()], restored.path(), b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("2 conversations"), "{}", stderr(&out));
}

#[test]
fn json_input_reports_an_over_long_line_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!(
        "{{\"user\":\"kim\",\"text\":\"{}\"}}\n",
        "my account wont let me in ".repeat(4_000)
    );
    let input = format!("{long}{{\"user\":\"kim\",\"text\":\"forgot password\"}}\n");
    let out = stdout_ok(&deskbot(
        &["chat", "--json-input"],
        dir.path(),
        input.as_bytes(),
    ));
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["line"], 1);
    let e = lines[0]["error"].as_str().unwrap();
    assert!(
        e.contains("too long") && e.contains(&(long.len() - 1).to_string()) && e.contains("65536"),
        "{e}"
    );
    assert!(!e.contains("column"), "{e}");
    assert_eq!(lines[1]["user"], "kim");
    assert!(lines[1]["reply"].as_str().is_some());
}

fn check_config(cfg: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = crate::common::deskbot();
    cmd.arg("check-config").arg("--config").arg(cfg).args(extra);
    for (k, _) in std::env::vars() {
        if k.starts_with("DESKBOT_") || k.ends_with("_BOT_TOKEN") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_BACKTRACE", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn check_config_fails_with_no_channel_unless_asked_for_none() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("deskbot.toml");
    std::fs::write(&cfg, "[flood]\nmax_messages = 8\n").unwrap();
    let out = check_config(&cfg, &[], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("no channel is enabled") && err.contains("--allow-no-channel"),
        "{err}"
    );
    let out = check_config(&cfg, &["--allow-no-channel"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("channels enabled: none"));
    // A channel enabled from the environment counts.
    let out = check_config(
        &cfg,
        &[],
        &[
            ("DESKBOT_TELEGRAM__ENABLED", "true"),
            ("TELEGRAM_BOT_TOKEN", "1:abc"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_bad_environment_value_names_the_variable_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("deskbot.toml");
    std::fs::write(&cfg, "[telegram]\nenabled = true\n").unwrap();
    let token = ("TELEGRAM_BOT_TOKEN", "1:abc");
    let out = check_config(
        &cfg,
        &[],
        &[token, ("DESKBOT_FLOOD__MAX_MESSAGES", "lots-of-them")],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("DESKBOT_FLOOD__MAX_MESSAGES") && err.contains("`flood.max_messages`"),
        "{err}"
    );
    assert!(
        !err.contains("lots-of-them"),
        "values are not repeated: {err}"
    );
    // A value of the right type that validation refuses is blamed on its variable too.
    let out = check_config(
        &cfg,
        &[],
        &[token, ("DESKBOT_TELEGRAM__API_URL", "not a url")],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("DESKBOT_TELEGRAM__API_URL") && err.contains("telegram.api_url"),
        "{err}"
    );
}

#[test]
fn dead_letters_are_listed_escaped_and_a_parked_reply_is_queued_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (reply, update) = {
        let store = Store::open(d).unwrap();
        store
            .channel_commit(&deskbot_storage::ChannelWrite {
                channel: "discord".into(),
                target: "6001".into(),
                outbox: vec![
                    format!(r#"{{"v":1,"text":"hi {EVIL_NAME} here is step 1"}}"#).into_bytes(),
                ],
                ..deskbot_storage::ChannelWrite::default()
            })
            .unwrap();
        let (seq, _) = store.outbox_pending("discord", "6001").unwrap()[0].clone();
        let reply = store
            .park_outbox(
                "discord",
                "6001",
                seq,
                "createMessage: HTTP 502",
                1_700_000_000,
            )
            .unwrap()
            .unwrap();
        let update = store
            .record_skipped_update(
                "discord",
                "MESSAGE_CREATE:77",
                "{\"author\":\"x\"}",
                "does not parse: \u{1b}[2J",
                1_700_000_001,
            )
            .unwrap();
        store.flush().unwrap();
        (reply, update)
    };
    let list = stdout_ok(&deskbot(&["dead-letters", "list"], d, b""));
    assert_no_controls("dead-letters list", &list);
    assert!(
        list.contains(&format!("#{reply} discord reply to 6001")),
        "{list}"
    );
    assert!(list.contains("deskbot dead-letters retry"), "{list}");
    assert!(list.contains("mallory\\u{1b}]0;owned"), "{list}");
    assert!(
        list.contains(&format!("#{update} discord update id MESSAGE_CREATE:77")),
        "{list}"
    );

    let out = stdout_ok(&deskbot(
        &["dead-letters", "retry", &reply.to_string()],
        d,
        b"",
    ));
    assert!(out.contains("queued again for discord 6001"), "{out}");
    // Retrying again, an update, or an unknown id: a clear refusal, nothing changed.
    for (id, says) in [
        (reply, "no dead letter"),
        (update, "nothing to retry"),
        (999_999, "no dead letter"),
    ] {
        let out = deskbot(&["dead-letters", "retry", &id.to_string()], d, b"");
        assert!(!out.status.success(), "retry {id} succeeded");
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
    }
    let list = stdout_ok(&deskbot(&["dead-letters", "list"], d, b""));
    assert!(!list.contains("reply to 6001"), "{list}");
    assert!(list.contains("MESSAGE_CREATE:77"), "{list}");
    let store = Store::open(d).unwrap();
    let queued = store.outbox_pending("discord", "6001").unwrap();
    assert_eq!(queued.len(), 1, "the reply is back in the outbox");
    assert!(String::from_utf8_lossy(&queued[0].1).contains("step 1"));
}

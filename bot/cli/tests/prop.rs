//! Property tests of the bot's pure parts on arbitrary input: configuration parsing and the
//! Telegram and Discord renderers (message splitting, escaping, buttons, callback data,
//! mentions). Case counts are modest so `cargo test` stays fast; a long run:
//! `PROPTEST_CASES=100000 cargo test --release -p deskbot --test integration prop::`.

use deskbot::config::{Config, ConfigError};
use deskbot_discord::{custom_id, render, route};
use deskbot_engine::dialogue::{Button, Reply};
use deskbot_telegram::{inbound, outbound};
use proptest::prelude::*;

/// Cases per property: `PROPTEST_CASES` when set, else `default`.
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Message text: words, spaces, newlines, markdown characters, backslashes, wide and astral
/// characters (two UTF-16 units), combining marks, mentions, arbitrary Unicode.
fn message_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => "[a-z]{1,12}",
        3 => Just(" ".to_string()),
        2 => Just("\n".to_string()),
        1 => Just("\n\n".to_string()),
        1 => "[ \t]{2,6}",
        1 => "[*_~`|>#\\-\\[\\]<\\\\]{1,4}",
        1 => "[\u{1f600}-\u{1f64f}\u{10000}-\u{10100}]{1,4}",
        1 => "[\u{4e00}-\u{4e40}é\u{301}\u{200b}]{1,6}",
        1 => "<@[0-9]{1,4}>",
        1 => "[a-z]{60,300}",
        1 => any::<String>(),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

fn non_whitespace(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn buttons() -> impl Strategy<Value = Vec<Button>> {
    let id = prop_oneof![
        "[0-9]{1,4}:(yes|no|human|back|none|intent:[a-z_]{1,30})",
        any::<String>(),
        "[a-z]{90,120}",
    ];
    let label = prop_oneof![
        "[A-Za-z ,]{1,30}",
        any::<String>(),
        "[a-z]{70,120}",
        Just(" ".to_string())
    ];
    prop::collection::vec(
        (id, label).prop_map(|(id, label)| Button { id, label }),
        0..30,
    )
}

/// TOML-ish configuration text built from the real keys, values of right and wrong types,
/// and noise.
fn config_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("[telegram]".to_string()),
        Just("[discord]".to_string()),
        Just("[handoff]".to_string()),
        Just("[nonsense]".to_string()),
        Just("enabled = true".to_string()),
        Just("enabled = \"yes\"".to_string()),
        Just("token = \"123:abc\"".to_string()),
        Just("token = 5".to_string()),
        Just("data_dir = \"/tmp/x\"".to_string()),
        Just("catalog = \"intents\"".to_string()),
        Just("api_url = \"http://127.0.0.1:1\"".to_string()),
        Just("api_url = \"ftp://nowhere\"".to_string()),
        Just("shards = \"auto\"".to_string()),
        Just("shards = -3".to_string()),
        Just("support_channels = [1, 2, \"x\"]".to_string()),
        Just("unknown_key = 1".to_string()),
        "[a-z_]{1,12} = [0-9]{1,25}",
        "[a-z_]{1,12} = \"[^\"\\\\\n]{0,20}\"",
        "[\\[\\]=\"a-z. ]{0,20}",
    ];
    prop::collection::vec(line, 0..12).prop_map(|v| v.join("\n"))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn config_parsing_never_panics_and_errors_name_the_file(
        text in prop_oneof![config_text(), any::<String>()],
    ) {
        match Config::parse("conf/deskbot.toml", &text) {
            Ok(cfg) => {
                if let Err(e) = cfg.validate("conf/deskbot.toml") {
                    prop_assert!(e.to_string().starts_with("conf/deskbot.toml: key `"), "{}", e);
                }
            }
            Err(e) => {
                prop_assert!(matches!(e, ConfigError::Parse { .. }), "not a parse error: {}", e);
                prop_assert!(e.to_string().starts_with("conf/deskbot.toml: "), "{}", e);
            }
        }
    }

    #[test]
    fn telegram_split_keeps_every_part_within_the_limit_and_loses_no_text(
        text in message_text(),
        max in prop_oneof![2usize..80, Just(outbound::MAX_TEXT)],
    ) {
        let parts = outbound::split_text(&text, max);
        for p in &parts {
            prop_assert!(utf16_len(p) <= max, "part of {} units > {}: {:?}", utf16_len(p), max, p);
            prop_assert!(!p.trim().is_empty(), "blank part");
        }
        prop_assert_eq!(non_whitespace(&parts.concat()), non_whitespace(&text));
    }

    #[test]
    fn telegram_render_obeys_the_platform_limits(
        text in message_text(),
        buttons in buttons(),
        owner in prop::option::of(any::<u64>()),
        reply_to in prop::option::of(any::<i32>()),
    ) {
        let reply = Reply { text: text.clone(), buttons: buttons.clone() };
        let to = outbound::Destination { chat: -100, reply_to, thread: None, owner };
        let out = outbound::render(&reply, to);
        // A silent reply (flood control's "ignored") sends nothing; anything else something.
        let silent = reply.text.trim().is_empty() && reply.buttons.is_empty();
        prop_assert_eq!(out.is_empty(), silent);
        if silent {
            return Ok(());
        }
        let last = out.len() - 1;
        for (i, o) in out.iter().enumerate() {
            let outbound::Outgoing::Send { text: t, buttons: b, reply_to: r, .. } = o else {
                panic!("render made something else than a Send: {o:?}");
            };
            prop_assert!((1..=outbound::MAX_TEXT).contains(&utf16_len(t)));
            prop_assert!(!t.trim().is_empty());
            prop_assert_eq!(*r, if i == 0 { reply_to } else { None });
            if i != last {
                prop_assert!(b.is_empty());
            }
            for (data, label) in b {
                prop_assert!(data.len() <= outbound::MAX_CALLBACK_DATA);
                prop_assert!(!label.trim().is_empty());
                // The press comes back as the engine's id and the owner.
                let (o2, id) = outbound::parse_callback_data(data);
                prop_assert!(buttons.iter().any(|btn| btn.id == id), "unknown id {}", id);
                if owner.is_some() {
                    prop_assert_eq!(o2, owner);
                }
            }
        }
    }

    #[test]
    fn telegram_callback_data_round_trips_with_an_owner(id in any::<String>(), owner in any::<u64>()) {
        let data = outbound::callback_data(&id, Some(owner));
        prop_assert_eq!(outbound::parse_callback_data(&data), (Some(owner), id.as_str()));
    }

    #[test]
    fn telegram_mentions_never_panic(text in message_text(), username in prop_oneof!["[a-z_]{1,10}bot", any::<String>()]) {
        let me = inbound::BotIdentity { id: 1, username: username.clone() };
        let _ = inbound::mentions(&text, &me);
        let stripped = inbound::strip_mention(&text, &username);
        prop_assert!(stripped.len() <= text.len());
        let with = format!("@{username} {text}");
        if !username.is_empty() && username.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            prop_assert!(inbound::mentions(&with, &me));
        }
    }

    #[test]
    fn discord_split_keeps_every_chunk_within_the_limit_and_loses_no_text(
        text in message_text(),
        // From 3: an escaped astral character (`\` + U+1F600) is one 3-unit piece that
        // split_message never cuts, so with max = 2 it goes out alone, over the limit
        // (unreachable with MAX_CONTENT; `split_terminates_with_tiny_limits` checks it ends).
        max in prop_oneof![3usize..80, Just(render::MAX_CONTENT)],
    ) {
        let chunks = render::split_message(&text, max);
        prop_assert!(!chunks.is_empty());
        for c in &chunks {
            prop_assert!(render::discord_len(c) <= max, "chunk of {} > {}: {:?}", render::discord_len(c), max, c);
        }
        if chunks.len() > 1 {
            prop_assert!(chunks.iter().all(|c| !c.trim().is_empty()));
        }
        prop_assert_eq!(non_whitespace(&chunks.concat()), non_whitespace(&text));
    }

    #[test]
    fn discord_escaping_is_never_split_from_its_character(
        text in "[a-z *_~`|>#\\-\\[\\]<\\\\\n]{0,400}",
        max in 3usize..60,
    ) {
        let escaped = render::escape_markdown(&text);
        for chunk in render::split_message(&escaped, max) {
            let mut chars = chunk.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    let next = chars.next();
                    prop_assert!(
                        next.is_some_and(|n| "\\*_~`|>#-[]<".contains(n)),
                        "dangling escape in chunk {:?}", chunk
                    );
                }
            }
        }
    }

    #[test]
    fn discord_render_obeys_the_platform_limits(
        text in message_text(),
        buttons in buttons(),
        owner in any::<u64>(),
    ) {
        let reply = Reply { text, buttons: buttons.clone() };
        let (messages, dropped) = render::render_reply(&reply, owner);
        prop_assert!(!messages.is_empty());
        let mut shown = 0;
        for (i, m) in messages.iter().enumerate() {
            prop_assert!(render::discord_len(&m.content) <= render::MAX_CONTENT);
            if i + 1 != messages.len() {
                prop_assert!(m.rows.is_empty());
            }
            prop_assert!(m.rows.len() <= render::MAX_ROWS);
            for row in &m.rows {
                prop_assert!(!row.is_empty() && row.len() <= render::MAX_BUTTONS_PER_ROW);
                for b in row {
                    shown += 1;
                    prop_assert!(b.custom_id.len() <= custom_id::MAX_LEN);
                    prop_assert!(render::discord_len(&b.label) <= render::MAX_LABEL);
                    prop_assert!(!b.label.trim().is_empty());
                    match custom_id::check(&b.custom_id, owner) {
                        custom_id::Press::Owner { engine_id } => {
                            prop_assert!(buttons.iter().any(|x| x.id == engine_id));
                        }
                        other => prop_assert!(false, "own button not recognised: {:?}", other),
                    }
                }
            }
        }
        prop_assert_eq!(shown + dropped, buttons.len());
    }

    #[test]
    fn discord_custom_ids_are_checked_for_the_owner(
        id in any::<String>(),
        owner in any::<u64>(),
        presser in any::<u64>(),
        forged in any::<String>(),
    ) {
        if let Some(cid) = custom_id::encode(owner, &id) {
            prop_assert!(cid.len() <= custom_id::MAX_LEN);
            let expected = if presser == owner {
                custom_id::Press::Owner { engine_id: id.as_str() }
            } else {
                custom_id::Press::Foreign { owner }
            };
            prop_assert_eq!(custom_id::check(&cid, presser), expected);
        } else {
            prop_assert!(id.is_empty() || id.len() + 24 > custom_id::MAX_LEN);
        }
        // Anything else is refused or read, never a panic.
        let _ = custom_id::check(&forged, presser);
    }

    #[test]
    fn discord_routing_helpers_never_panic(text in message_text(), user in any::<u64>(), name in "[a-z]{0,10}") {
        let stripped = route::strip_mentions_of(&text, user);
        let mention = format!("<@{user}>");
        prop_assert!(!stripped.contains(&mention), "{:?}", stripped);
        if let Some(t) = route::command_text(&name, Some(&text)) {
            prop_assert!(name == "support" || t.starts_with('/'));
        }
    }
}

#[test]
fn split_terminates_with_tiny_limits() {
    // Used to loop forever: a unit wider than the limit never advanced the split.
    let chunks = render::split_message("a\\😀b \\😀", 2);
    assert!(!chunks.is_empty());
    assert_eq!(
        non_whitespace(&chunks.concat()),
        non_whitespace("a\\😀b \\😀")
    );
}

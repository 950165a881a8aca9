//! End-to-end conversations through the real engine (trained on the built-in catalog), the
//! turn runner and a real sled database in a temporary directory.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use deskbot_desk::desk::{Desk, TurnResult};
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::{Engine, Input, Outcome, Phase};
use deskbot_storage::Platform;
use deskbot_storage::{ConvKey, TicketStatus};

fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let catalog = Catalog::builtin().expect("built-in catalog loads");
            Arc::new(Engine::new(catalog).expect("engine trains"))
        })
        .clone()
}

fn desk(dir: &Path) -> Desk {
    Desk::open(engine(), dir).expect("store opens")
}

fn say(desk: &Desk, key: &ConvKey, text: &str) -> TurnResult {
    desk.handle(key, Some("Test User"), &Input::Text(text.into()))
        .expect("turn commits")
}

/// Presses the button of the last reply whose label starts with `label`.
fn press(desk: &Desk, key: &ConvKey, last: &TurnResult, label: &str) -> TurnResult {
    let button = last
        .reply
        .buttons
        .iter()
        .find(|b| b.label.starts_with(label))
        .unwrap_or_else(|| panic!("no button {label:?} in {:?}", last.reply));
    desk.handle(key, None, &Input::Button(button.id.clone()))
        .expect("turn commits")
}

fn guide_step(r: &TurnResult) -> Option<(String, usize)> {
    match &r.conversation.phase {
        Phase::Guide { intent, step } => Some((intent.clone(), step + 1)),
        _ => None,
    }
}

#[test]
fn guide_resolved_at_step_two() {
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(dir.path());
    let key = ConvKey::new(Platform::Console, "resolver");
    let r = say(&desk, &key, "I forgot my password and can't get in");
    assert_eq!(guide_step(&r), Some(("password_reset".into(), 1)));
    assert_eq!(r.outcome, Outcome::GuideStarted);
    assert!(r.reply.text.contains("Step 1 of"), "{}", r.reply.text);
    let labels: Vec<&str> = r.reply.buttons.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(
        labels,
        ["Yes, that fixed it", "No, still stuck", "Talk to a person"]
    );
    let r = press(&desk, &key, &r, "No");
    assert_eq!(guide_step(&r), Some(("password_reset".into(), 2)));
    let r = say(&desk, &key, "yes that worked!");
    assert_eq!(r.outcome, Outcome::Resolved);
    assert_eq!(r.conversation.phase, Phase::Idle);
    // Durable: the store has the same state.
    assert_eq!(desk.conversation(&key).unwrap().phase, Phase::Idle);
}

#[test]
fn guide_exhausted_then_escalated_stores_a_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(dir.path());
    let key = ConvKey::new(Platform::Telegram, "1001");
    let mut r = say(&desk, &key, "ACCOUNT_LOCKED error after too many attempts");
    let (guide, _) = guide_step(&r).expect("a guide starts");
    assert_eq!(guide, "account_locked");
    let steps = engine()
        .catalog()
        .intent("account_locked")
        .unwrap()
        .steps
        .len();
    for _ in 0..steps {
        r = press(&desk, &key, &r, "No");
    }
    assert_eq!(r.conversation.state_name(), "offer_human");
    assert!(r.reply.text.contains("last step"), "{}", r.reply.text);
    let r = press(&desk, &key, &r, "Yes, connect me");
    let number = r.opened_ticket.expect("a ticket is opened");
    assert!(
        r.reply.text.contains(&format!("#{number}")),
        "{}",
        r.reply.text
    );
    assert_eq!(r.conversation.ticket(), Some(number));
    let ticket = desk.store().ticket(number).unwrap().expect("ticket stored");
    assert_eq!(ticket.status, TicketStatus::Open);
    assert_eq!(ticket.conversation, key);
    assert_eq!(ticket.intent.as_deref(), Some("account_locked"));
    assert_eq!(ticket.steps_tried.len(), steps);
    assert!(ticket.steps_tried.iter().all(|s| s.answer == "no"));
    assert!(
        ticket
            .transcript
            .iter()
            .any(|l| l.text.contains("ACCOUNT_LOCKED")),
        "transcript: {:?}",
        ticket.transcript
    );
    // While the ticket is open, messages are added to it and no guide runs.
    let r = say(&desk, &key, "I forgot my password too");
    assert_eq!(r.outcome, Outcome::AddedToTicket);
    assert_eq!(r.conversation.ticket(), Some(number));
    // Staff close it: the user is told and guides run again.
    let (closed_key, reply) = desk.close_ticket(number).unwrap().expect("ticket was open");
    assert_eq!(closed_key, key);
    assert!(reply.text.contains("closed"), "{}", reply.text);
    assert_eq!(
        desk.store().ticket(number).unwrap().unwrap().status,
        TicketStatus::Closed
    );
    let r = say(&desk, &key, "I forgot my password");
    assert_eq!(guide_step(&r), Some(("password_reset".into(), 1)));
}

#[test]
fn human_request_escalates_at_any_time() {
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(dir.path());
    let key = ConvKey::new(Platform::Console, "impatient");
    let r = say(&desk, &key, "my verification code never arrives");
    assert!(guide_step(&r).is_some());
    let r = say(&desk, &key, "/human");
    assert!(r.opened_ticket.is_some());
    let ticket = desk
        .store()
        .ticket(r.opened_ticket.unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(ticket.intent.as_deref(), Some("two_factor"));
}

#[test]
fn switches_between_guides() {
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(dir.path());
    let key = ConvKey::new(Platform::Console, "switcher");
    let r = say(
        &desk,
        &key,
        "the login page won't load, no internet connection",
    );
    assert_eq!(guide_step(&r).map(|g| g.0).as_deref(), Some("connectivity"));
    let r = say(&desk, &key, "no");
    assert_eq!(guide_step(&r), Some(("connectivity".into(), 2)));
    let r = say(
        &desk,
        &key,
        "now it says the sms verification code is invalid",
    );
    assert_eq!(guide_step(&r), Some(("two_factor".into(), 1)));
}

#[test]
fn out_of_scope_then_two_misses_offer_a_person() {
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(dir.path());
    let key = ConvKey::new(Platform::Console, "lost");
    let r = say(&desk, &key, "what's the weather in paris tomorrow");
    assert_eq!(r.outcome, Outcome::OutOfScope);
    assert_eq!(r.conversation.phase, Phase::Idle);
    assert!(
        r.reply.text.contains("outside what I can help with"),
        "{}",
        r.reply.text
    );
    let r = say(&desk, &key, "tell me a joke about cats");
    assert_eq!(r.conversation.state_name(), "offer_human");
    let r = press(&desk, &key, &r, "Yes, connect me");
    assert!(r.opened_ticket.is_some());
}

#[test]
fn restart_in_the_middle_of_a_guide_resumes_at_the_same_step() {
    let dir = tempfile::tempdir().unwrap();
    let key = ConvKey::new(Platform::Discord, "77");
    {
        let desk = desk(dir.path());
        say(&desk, &key, "my mi cloud stopped syncing photos");
        let r = say(&desk, &key, "no");
        assert_eq!(guide_step(&r), Some(("cloud_sync".into(), 2)));
    } // the store is closed here, as in a restart
    let desk = desk(dir.path());
    let conv = desk.conversation(&key).unwrap();
    assert_eq!(
        conv.phase,
        Phase::Guide {
            intent: "cloud_sync".into(),
            step: 1
        }
    );
    let r = say(&desk, &key, "still stuck");
    assert_eq!(guide_step(&r), Some(("cloud_sync".into(), 3)));
}

#[test]
fn stale_buttons_are_refused_and_typed_numbers_press_buttons() {
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(dir.path());
    let key = ConvKey::new(Platform::Console, "clicker");
    let first = say(&desk, &key, "new phone says DEVICE_NOT_RECOGNIZED");
    assert_eq!(
        guide_step(&first).map(|g| g.0).as_deref(),
        Some("device_not_recognized")
    );
    let second = say(&desk, &key, "2"); // "No, still stuck"
    assert_eq!(guide_step(&second).map(|g| g.1), Some(2));
    // Pressing "Yes" on the first message must not resolve the guide.
    let r = press(&desk, &key, &first, "Yes");
    assert!(r.reply.text.contains("earlier message"), "{}", r.reply.text);
    assert_eq!(guide_step(&r).map(|g| g.1), Some(2));
    // A forged button id is refused the same way.
    let r = desk
        .handle(&key, None, &Input::Button("999:yes".into()))
        .unwrap();
    assert!(r.reply.text.contains("earlier message"));
    assert_eq!(guide_step(&r).map(|g| g.1), Some(2));
}

#[test]
fn users_are_isolated_and_concurrent_turns_all_commit() {
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(dir.path());
    std::thread::scope(|s| {
        for t in 0..4 {
            let desk = desk.clone();
            s.spawn(move || {
                for u in 0..5 {
                    let key = ConvKey::new(Platform::Console, format!("user-{t}-{u}"));
                    say(&desk, &key, "I forgot my password");
                    say(&desk, &key, "no");
                }
            });
        }
    });
    for t in 0..4 {
        for u in 0..5 {
            let key = ConvKey::new(Platform::Console, format!("user-{t}-{u}"));
            let conv = desk.conversation(&key).unwrap();
            assert_eq!(
                conv.phase,
                Phase::Guide {
                    intent: "password_reset".into(),
                    step: 1
                }
            );
            assert_eq!(desk.store().transcript(&key, 100).unwrap().len(), 4);
        }
    }
}

#[test]
fn hostile_text_gets_a_reply_and_keeps_state() {
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(dir.path());
    let key = ConvKey::new(Platform::Console, "fuzzy");
    say(&desk, &key, "I forgot my password");
    let inputs = [
        String::new(),
        "   ".into(),
        "😀😀😀🔥🔥".into(),
        // A language the bot does not speak (Georgian): the list of languages, the guide kept.
        "ვერ შევდივარ ჩემს ანგარიშზე, დამეხმარეთ".into(),
        "<b>*_[x](y)_*</b> @everyone ``` \\".into(),
        "\u{0}\u{1}\u{7f}\u{202e}".into(),
        "a".repeat(1_000_000),
    ];
    for text in inputs {
        let r = say(&desk, &key, &text);
        assert!(!r.reply.text.is_empty());
        // The guide stays where it was: still on its step, or (after two answers the bot
        // could not read) offering a person with the way back to that same step.
        let kept = match &r.conversation.phase {
            Phase::Guide { intent, step } => intent == "password_reset" && *step == 0,
            Phase::OfferHuman {
                resume: Some(place),
                ..
            } => place.intent == "password_reset" && place.step == 0,
            _ => false,
        };
        assert!(
            kept,
            "input {:?} changed the guide: {:?}",
            text.chars().take(20).collect::<String>(),
            r.conversation.phase
        );
    }
}

#[test]
fn catalog_errors_name_file_intent_and_field() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../intents");
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    // The copy loads as is.
    let ok = Catalog::load_dir(dir.path()).unwrap();
    assert_eq!(ok.guides().count(), 13);

    let file = dir.path().join("two_factor.toml");
    let original = std::fs::read_to_string(&file).unwrap();
    // Top-level keys go before the `[[steps]]` tables.
    let top = |line: &str| format!("{line}\n{original}");
    let cases = [
        (top("synonyms = []"), "synonyms"),
        (original.replace("[[steps]]", "[[steps_old]]"), "steps"),
        (top("patterns = ['(unclosed']"), "patterns"),
    ];
    for (text, field) in cases {
        std::fs::write(&file, text).unwrap();
        let err = Catalog::load_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("two_factor.toml"), "{err}");
        assert!(err.contains("two_factor"), "{err}");
        assert!(err.contains(field), "expected {field} in: {err}");
    }
    // A guide with no steps.
    let no_steps = original.split("[[steps]]").next().unwrap().to_string() + "steps = []\n";
    std::fs::write(&file, no_steps).unwrap();
    let err = Catalog::load_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("field `steps`"), "{err}");
    // Two files defining the same intent.
    std::fs::write(&file, &original).unwrap();
    std::fs::write(dir.path().join("zz_copy.toml"), &original).unwrap();
    let err = Catalog::load_dir(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("zz_copy.toml") && err.contains("field `id`"),
        "{err}"
    );
}

#[test]
fn secrets_are_masked_in_storage_and_the_user_is_warned_once() {
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(dir.path());
    let key = ConvKey::new(Platform::Console, "leaky");
    let r = say(&desk, &key, "the code 482913 from sms says invalid");
    assert!(
        r.reply.text.contains("nobody from support will ever ask"),
        "{}",
        r.reply.text
    );
    let r = say(&desk, &key, "my password is Hunter2! and it still fails");
    assert!(
        !r.reply.text.contains("nobody from support will ever ask"),
        "warned twice"
    );
    let r = say(&desk, &key, "/human");
    let stored: Vec<String> = desk
        .store()
        .transcript(&key, 100)
        .unwrap()
        .into_iter()
        .map(|l| l.text)
        .collect();
    let all = stored.join("\n");
    assert!(!all.contains("482913") && !all.contains("Hunter2"), "{all}");
    assert!(
        all.contains("[code hidden]") && all.contains("[password hidden]"),
        "{all}"
    );
    let ticket = desk
        .store()
        .ticket(r.opened_ticket.unwrap())
        .unwrap()
        .unwrap();
    let in_ticket: String = ticket.transcript.iter().map(|l| l.text.as_str()).collect();
    assert!(!in_ticket.contains("482913") && !in_ticket.contains("Hunter2"));
}

#[test]
fn ok_in_a_guide_waits_instead_of_leaving() {
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(dir.path());
    let key = ConvKey::new(Platform::Console, "patient");
    say(&desk, &key, "my account got locked");
    let r = say(&desk, &key, "ok");
    assert_eq!(guide_step(&r), Some(("account_locked".into(), 1)));
    assert!(
        r.reply.text.to_lowercase().contains("take your time"),
        "{}",
        r.reply.text
    );
    assert_eq!(r.reply.buttons.len(), 3);
}

#[test]
fn getting_back_into_a_taken_over_account_is_not_the_end_of_its_guide() {
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(dir.path());
    let key = ConvKey::new(Platform::Console, "taken-over");
    let r = say(
        &desk,
        &key,
        "somebody got into my mi account and swapped the recovery email for theirs",
    );
    assert_eq!(guide_step(&r), Some(("account_compromised".into(), 1)));
    assert_eq!(
        r.reply.buttons[0].label, "Talk to a person",
        "{:?}",
        r.reply
    );
    let r = say(&desk, &key, "yes changed the password, im back in");
    // Not resolved: the remaining protective steps follow.
    assert_ne!(r.outcome, Outcome::Resolved);
    assert_eq!(guide_step(&r), Some(("account_compromised".into(), 2)));
    let r = press(&desk, &key, &r, "Talk to a person");
    let number = r.opened_ticket.expect("a ticket");
    let ticket = desk.store().ticket(number).unwrap().unwrap();
    assert!(ticket.priority);
    assert_eq!(ticket.intent.as_deref(), Some("account_compromised"));
    assert!(r.priority);
}

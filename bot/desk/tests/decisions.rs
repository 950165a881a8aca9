//! Decision records: every turn stores, on the user's transcript line and in the turn's own
//! commit, what the bot made of the message.

use std::sync::Arc;

use deskbot_desk::desk::Desk;
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::{Engine, Input};
use deskbot_storage::{ConvKey, Decision, EscalationKind, InputKind, Miss, Platform, Speaker};

fn desk(dir: &std::path::Path) -> Desk {
    let engine = Arc::new(Engine::new(Catalog::builtin().unwrap()).unwrap());
    Desk::open(engine, dir).unwrap()
}

/// The decision on the user's latest line.
fn last_decision(desk: &Desk, key: &ConvKey) -> Decision {
    let lines = desk.store().transcript(key, 100).unwrap();
    let line = lines
        .iter()
        .rev()
        .find(|l| l.speaker == Speaker::User)
        .expect("a user line");
    for l in &lines {
        if l.speaker != Speaker::User {
            assert!(l.decision.is_none(), "only user lines carry a decision");
        }
    }
    *line.decision.clone().expect("the user line has a decision")
}

#[test]
fn a_guide_run_records_each_step_answered_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(dir.path());
    let key = ConvKey::new(Platform::Telegram, "41");
    let first = desk
        .handle(
            &key,
            None,
            &Input::Text("forgot my pasword cant get in".into()),
        )
        .unwrap();
    let d = last_decision(&desk, &key);
    assert_eq!(d.input, InputKind::Text);
    assert_eq!(d.outcome, "guide_started");
    let guide = d.shown.clone().expect("a guide step is shown").guide;
    assert_eq!(d.shown.as_ref().unwrap().step, 1);
    assert_eq!(d.intent.as_deref(), Some(guide.as_str()));
    assert!(d.answered.is_none());
    assert_eq!(d.language.as_deref(), Some("en"));
    assert!(d.miss.is_none() && !d.fallback);

    // The "no" button: recorded as a deny of step 1, with step 2 shown.
    let no = first.reply.buttons[1].id.clone();
    desk.handle(&key, None, &Input::Button(no)).unwrap();
    let d = last_decision(&desk, &key);
    assert_eq!(d.input, InputKind::Button);
    assert_eq!(d.act.as_deref(), Some("deny"));
    assert_eq!(d.answered.as_ref().map(|p| p.step), Some(2 - 1));
    assert_eq!(d.shown.as_ref().map(|p| p.step), Some(2));

    desk.handle(&key, None, &Input::Text("yes!! that worked, im in".into()))
        .unwrap();
    let d = last_decision(&desk, &key);
    assert_eq!(d.outcome, "resolved");
    assert_eq!(d.act.as_deref(), Some("affirm"));
    assert_eq!(
        d.answered.as_ref().map(|p| (p.guide.as_str(), p.step)),
        Some((guide.as_str(), 2))
    );
    assert!(d.shown.is_none());
}

#[test]
fn misunderstood_messages_are_marked_with_the_nearest_intent() {
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(dir.path());
    let key = ConvKey::new(Platform::Discord, "7");
    desk.handle(
        &key,
        None,
        &Input::Text("whats the best pizza place near the station".into()),
    )
    .unwrap();
    let d = last_decision(&desk, &key);
    assert_eq!(d.outcome, "out_of_scope");
    assert_eq!(d.miss, Some(Miss::OutOfScope));
    assert!(d.fallback);
    assert!(
        d.intent.is_some(),
        "the nearest intent is kept for the review"
    );
    assert!(d.confidence.is_some());

    // Inside a guide, an answer the bot cannot read is a guide fallback.
    let key = ConvKey::new(Platform::Discord, "8");
    desk.handle(
        &key,
        None,
        &Input::Text("account locked after too many tries".into()),
    )
    .unwrap();
    assert!(last_decision(&desk, &key).shown.is_some());
    desk.handle(&key, None, &Input::Text("qwpoeiru zmxncb".into()))
        .unwrap();
    let d = last_decision(&desk, &key);
    assert!(d.fallback, "{d:?}");
    assert_eq!(d.miss, Some(Miss::GuideFallback));
    assert!(d.answered.is_some());
}

#[test]
fn an_escalation_records_why_and_which_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(dir.path());
    let key = ConvKey::new(Platform::Telegram, "99");
    let r = desk
        .handle(
            &key,
            None,
            &Input::Text("i need a real person not a bot".into()),
        )
        .unwrap();
    let d = last_decision(&desk, &key);
    let number = r.opened_ticket.expect("a ticket");
    assert_eq!(d.ticket, Some(number));
    assert_eq!(d.escalation, Some(EscalationKind::Asked));
    assert_eq!(d.outcome, "escalated");
    // The ticket's own copy of the transcript carries no decisions.
    let ticket = desk.store().ticket(number).unwrap().unwrap();
    assert!(ticket.transcript.iter().all(|l| l.decision.is_none()));
    assert!(d.latency_us > 0);
}

#[test]
fn forget_leaves_no_decision_of_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(dir.path());
    let key = ConvKey::new(Platform::Telegram, "5");
    desk.handle(&key, None, &Input::Text("my acount got locked".into()))
        .unwrap();
    assert!(!desk.store().transcript(&key, 10).unwrap().is_empty());
    let r = desk
        .handle(&key, None, &Input::Text("/forget".into()))
        .unwrap();
    let yes = r.reply.buttons[0].id.clone();
    desk.handle(&key, None, &Input::Button(yes)).unwrap();
    assert!(desk.store().transcript(&key, 10).unwrap().is_empty());
}

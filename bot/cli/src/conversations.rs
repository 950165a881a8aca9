//! The conversation test suite: multi-turn scripts a support lead can read and edit (TOML),
//! run through the real engine, the [`Desk`] and a real store, like `rasa test` runs stories.
//!
//! A file holds `[[conversation]]` tables, each with an `id`, a `class` (the kind of problem it
//! tests) and `turns`: one inline table per turn with exactly one of `user = "typed text"`,
//! `press = "label prefix"` (presses a button of the last reply), `tap = "action"` (presses
//! the button with that action: `yes`, `no`, `human`, `decline`, `continue`, `restart`,
//! `forget_yes`, `forget_no`, `none`, `intent:<id>`, `rate_up`, `rate_down`, `lang:<code>`,
//! whatever its label's language) or `staff_close = true`, an
//! optional `wait_minutes` (time passes first) and expectations, all optional: `state`, `guide`,
//! `step` (1-based), `advance` (the step moved forward, or stayed), `act`, `outcome`,
//! `not_outcome`, `says` / `not_says` (substrings of the reply, any case), `buttons` (label
//! substrings), `ticket` (one is open), `priority`, `ticket_intent`, `masked` (the stored user
//! line has a secret masked), `stored_lacks` and `reply_lang` (the language the bot answered
//! in). A conversation may name its `lang` (pass rates are reported per language) and a
//! `locale` (the language a platform reports for the new user). `deskbot eval
//! --conversations FILE` prints the pass rate per class and per language.
//!
//! Beside each script's own expectations, every conversation must keep three promises:
//! two consecutive replies are never identical; a guide is recorded as resolved only on an
//! explicit affirmation (a turn labelled `act = "affirm"`, or the "Yes, that fixed it" button);
//! and a turn labelled `deny` is never resolved, never answered with a goodbye or a "!".

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use deskbot_engine::dialogue::{Engine, Input, Outcome, Phase, Reply};
use deskbot_storage::{ConvKey, Speaker};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use deskbot_desk::desk::{Desk, TurnRequest, TurnResult};
use deskbot_storage::Platform;

/// Why a suite could not be run (a failing conversation is a result, not an error).
#[derive(Debug, Error)]
pub enum SuiteError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid suite.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong (with the conversation id and the field).
        message: String,
    },
    /// The temporary store could not be opened or written.
    #[error("conversation store: {0}")]
    Store(#[from] deskbot_storage::StorageError),
    /// The temporary directory could not be made.
    #[error("cannot make a temporary directory: {0}")]
    TempDir(std::io::Error),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    conversation: Vec<Script>,
}

/// One scripted conversation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// A unique id.
    pub id: String,
    /// The kind of problem it tests.
    pub class: String,
    /// What it is about (for people).
    #[serde(default)]
    pub note: Option<String>,
    /// The language the conversation is written in (`en` when left out), for per-language
    /// pass rates.
    #[serde(default)]
    pub lang: Option<String>,
    /// The language the platform reports for the user (Telegram's `language_code`).
    #[serde(default)]
    pub locale: Option<String>,
    /// The turns, in order.
    pub turns: Vec<ScriptTurn>,
}

/// One turn of a script: what the user does, and what must hold afterwards.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptTurn {
    /// Text the user types.
    pub user: Option<String>,
    /// Presses the last reply's button whose label starts with this (any case).
    pub press: Option<String>,
    /// Presses the last reply's button with this action (`yes`, `human`, `lang:ru`…).
    pub tap: Option<String>,
    /// Staff close the open ticket.
    pub staff_close: Option<bool>,
    /// Minutes that pass before this turn.
    pub wait_minutes: Option<u64>,
    /// Expected state (`idle`, `guide`, `offer_human`, `suggest`, `escalated`).
    pub state: Option<String>,
    /// Expected guide id.
    pub guide: Option<String>,
    /// The language the reply must be in (a catalog language code).
    pub reply_lang: Option<String>,
    /// Expected 1-based step.
    pub step: Option<usize>,
    /// The step moved forward (true) or stayed (false).
    pub advance: Option<bool>,
    /// The act the user's message is (`none` when not an answer).
    pub act: Option<String>,
    /// Expected outcome.
    pub outcome: Option<String>,
    /// An outcome that must not happen.
    pub not_outcome: Option<String>,
    /// Substrings the reply must contain.
    #[serde(default)]
    pub says: Vec<String>,
    /// Substrings the reply must not contain.
    #[serde(default)]
    pub not_says: Vec<String>,
    /// Substrings of button labels that must be offered.
    #[serde(default)]
    pub buttons: Vec<String>,
    /// Whether a ticket is open afterwards.
    pub ticket: Option<bool>,
    /// Whether the open ticket is a priority one.
    pub priority: Option<bool>,
    /// The open ticket's intent.
    pub ticket_intent: Option<String>,
    /// Whether the stored user line has a secret masked.
    pub masked: Option<bool>,
    /// Substrings that must not be in the stored user line.
    #[serde(default)]
    pub stored_lacks: Vec<String>,
}

/// One failed check.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The conversation's id.
    pub id: String,
    /// Its class.
    pub class: String,
    /// The 1-based turn.
    pub turn: usize,
    /// What the user did.
    pub input: String,
    /// What went wrong.
    pub message: String,
    /// The bot's reply.
    pub reply: String,
}

/// Pass counts of one class.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClassResult {
    /// Conversations of the class.
    pub total: usize,
    /// Those that passed every check.
    pub passed: usize,
}

/// The result of a suite.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SuiteReport {
    /// Conversations run.
    pub conversations: usize,
    /// Conversations that passed.
    pub passed: usize,
    /// Per class.
    pub classes: BTreeMap<String, ClassResult>,
    /// Per language (the scripts' `lang`).
    pub languages: BTreeMap<String, ClassResult>,
    /// Turns recorded as resolved.
    pub resolved_turns: usize,
    /// Of those, turns that were an explicit affirmation.
    pub resolved_with_affirmation: usize,
    /// Turns labelled `deny` answered with a goodbye or resolved.
    pub deny_goodbyes: usize,
    /// Every failed check (the first per conversation is enough to fail it).
    pub failures: Vec<Failure>,
}

impl SuiteReport {
    /// Share of conversations that passed, 0..=1.
    pub fn pass_rate(&self) -> f64 {
        if self.conversations == 0 {
            return 0.0;
        }
        self.passed as f64 / self.conversations as f64
    }
}

/// Reads a suite file, checking every turn's shape.
pub fn load(path: &Path) -> Result<Vec<Script>, SuiteError> {
    let text = std::fs::read_to_string(path).map_err(|source| SuiteError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let invalid = |message: String| SuiteError::Invalid {
        path: path.display().to_string(),
        message,
    };
    let file: SuiteFile = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let mut ids = std::collections::HashSet::new();
    for s in &file.conversation {
        if !ids.insert(s.id.clone()) {
            return Err(invalid(format!("conversation `{}`: duplicate id", s.id)));
        }
        if s.turns.is_empty() {
            return Err(invalid(format!("conversation `{}`: no turns", s.id)));
        }
        for (i, t) in s.turns.iter().enumerate() {
            let actions = usize::from(t.user.is_some())
                + usize::from(t.press.is_some())
                + usize::from(t.tap.is_some())
                + usize::from(t.staff_close == Some(true));
            if actions != 1 {
                return Err(invalid(format!(
                    "conversation `{}`, turn {}: needs exactly one of `user`, `press`, `tap`, `staff_close = true`",
                    s.id,
                    i + 1
                )));
            }
            for (field, name) in [(&t.outcome, "outcome"), (&t.not_outcome, "not_outcome")] {
                if let Some(o) = field
                    && outcome_named(o).is_none()
                {
                    return Err(invalid(format!(
                        "conversation `{}`, turn {}: `{name}` {o:?} is not an outcome",
                        s.id,
                        i + 1
                    )));
                }
            }
        }
    }
    Ok(file.conversation)
}

/// The outcome a script names (`guide_started`, `resolved`, …).
fn outcome_named(name: &str) -> Option<Outcome> {
    Some(match name {
        "none" => Outcome::None,
        "guide_started" => Outcome::GuideStarted,
        "resolved" => Outcome::Resolved,
        "escalated" => Outcome::Escalated,
        "added_to_ticket" => Outcome::AddedToTicket,
        "out_of_scope" => Outcome::OutOfScope,
        "rated" => Outcome::Rated,
        "forgotten" => Outcome::Forgotten,
        "unsupported_language" => Outcome::UnsupportedLanguage,
        _ => return None,
    })
}

/// Runs every script on a fresh store in a temporary directory.
pub fn run(engine: Arc<Engine>, scripts: &[Script]) -> Result<SuiteReport, SuiteError> {
    let dir = tempfile::tempdir().map_err(SuiteError::TempDir)?;
    let clock = Arc::new(AtomicU64::new(1_767_225_600_000));
    let ticks = clock.clone();
    let desk = Desk::open(engine, dir.path())?
        .with_clock(Arc::new(move || ticks.fetch_add(1_000, Ordering::SeqCst)));
    let mut report = SuiteReport::default();
    for (n, script) in scripts.iter().enumerate() {
        let key = ConvKey::new(Platform::Console, format!("conversation-{n}"));
        let failures = run_script(&desk, &clock, &key, script, &mut report)?;
        let lang = script.lang.clone().unwrap_or_else(|| "en".into());
        let class = report.classes.entry(script.class.clone()).or_default();
        class.total += 1;
        let language = report.languages.entry(lang).or_default();
        language.total += 1;
        report.conversations += 1;
        if failures.is_empty() {
            report
                .classes
                .entry(script.class.clone())
                .or_default()
                .passed += 1;
            if let Some(l) = report
                .languages
                .get_mut(script.lang.as_deref().unwrap_or("en"))
            {
                l.passed += 1;
            }
            report.passed += 1;
        }
        report.failures.extend(failures);
    }
    Ok(report)
}

/// Whether the button with id `id` (`<turn>:<action>`) does `action` (`rate_up` and
/// `rate_down` stand for the rating of any ticket).
fn button_does(id: &str, action: &str) -> bool {
    let Some((_, code)) = id.split_once(':') else {
        return false;
    };
    match action {
        "rate_up" => code.starts_with("rate:") && code.ends_with(":up"),
        "rate_down" => code.starts_with("rate:") && code.ends_with(":down"),
        other => code == other,
    }
}

/// Where a conversation is in a guide: (guide, 1-based step).
fn place(phase: &Phase) -> Option<(String, usize)> {
    match phase {
        Phase::Guide { intent, step } => Some((intent.clone(), step + 1)),
        _ => None,
    }
}

fn run_script(
    desk: &Desk,
    clock: &AtomicU64,
    key: &ConvKey,
    script: &Script,
    report: &mut SuiteReport,
) -> Result<Vec<Failure>, SuiteError> {
    let mut failures = Vec::new();
    let mut last: Option<TurnResult> = None;
    let mut last_reply = String::new();
    let mut last_place: Option<(String, usize)> = None;
    for (i, t) in script.turns.iter().enumerate() {
        if let Some(m) = t.wait_minutes {
            clock.fetch_add(m * 60_000, Ordering::SeqCst);
        }
        let mut fail = |input: &str, reply: &str, message: String| {
            failures.push(Failure {
                id: script.id.clone(),
                class: script.class.clone(),
                turn: i + 1,
                input: input.to_string(),
                message,
                reply: reply.to_string(),
            });
        };
        let (input_desc, result): (String, TurnResult) = if let Some(text) = &t.user {
            let input = Input::Text(text.clone());
            let r = desk.turn(
                &TurnRequest::new(key, &input)
                    .name(Some("Eval User"))
                    .locale(script.locale.as_deref()),
            )?;
            (text.clone(), r)
        } else if let Some(action) = &t.tap {
            let button = last.as_ref().and_then(|r| {
                r.reply
                    .buttons
                    .iter()
                    .find(|b| button_does(&b.id, action))
                    .cloned()
            });
            let Some(button) = button else {
                let offered: Vec<String> = last
                    .as_ref()
                    .map(|r| r.reply.buttons.iter().map(|b| b.id.clone()).collect())
                    .unwrap_or_default();
                fail(
                    &format!("[tap {action}]"),
                    &last_reply,
                    format!("no button does {action:?} (offered: {offered:?})"),
                );
                break;
            };
            let input = Input::Button(button.id.clone());
            let r = desk.turn(&TurnRequest::new(key, &input).locale(script.locale.as_deref()))?;
            (format!("[tap {action}: {}]", button.label), r)
        } else if let Some(label) = &t.press {
            let wanted = label.to_lowercase();
            let button = last.as_ref().and_then(|r| {
                r.reply
                    .buttons
                    .iter()
                    .find(|b| b.label.to_lowercase().starts_with(&wanted))
                    .cloned()
            });
            let Some(button) = button else {
                let offered: Vec<String> = last
                    .as_ref()
                    .map(|r| r.reply.buttons.iter().map(|b| b.label.clone()).collect())
                    .unwrap_or_default();
                fail(
                    &format!("[press {label}]"),
                    &last_reply,
                    format!("no button starting with {label:?} (offered: {offered:?})"),
                );
                break;
            };
            let r = desk.handle(key, None, &Input::Button(button.id.clone()))?;
            (format!("[press {}]", button.label), r)
        } else {
            let conv = desk.conversation(key)?;
            let Some(number) = conv.ticket() else {
                fail(
                    "[staff close]",
                    &last_reply,
                    "no ticket is open to close".into(),
                );
                break;
            };
            let reply = desk
                .close_ticket(number)?
                .map_or_else(Reply::default, |(_, r)| r);
            let conversation = desk.conversation(key)?;
            (
                "[staff close]".to_string(),
                TurnResult {
                    reply,
                    conversation,
                    intent: None,
                    opened_ticket: None,
                    outcome: Outcome::None,
                    act: None,
                    priority: false,
                },
            )
        };
        let reply = result.reply.text.clone();
        let lower = reply.to_lowercase();
        let mut check = |ok: bool, message: String| {
            if !ok {
                fail(&input_desc, &reply, message);
            }
        };

        // The promises every conversation keeps.
        check(
            reply.is_empty() || reply != last_reply,
            "the same reply twice in a row".into(),
        );
        let labelled_affirm = t.act.as_deref() == Some("affirm")
            || t.tap.as_deref() == Some("yes")
            || t.press
                .as_deref()
                .is_some_and(|p| "yes, that fixed it".starts_with(&p.to_lowercase()));
        if result.outcome == Outcome::Resolved {
            report.resolved_turns += 1;
            if labelled_affirm {
                report.resolved_with_affirmation += 1;
            }
            check(
                labelled_affirm,
                "recorded as resolved without an explicit affirmation".into(),
            );
        }
        if t.act.as_deref() == Some("deny") {
            let goodbye = result.outcome == Outcome::Resolved
                || lower.contains("goodbye")
                || lower.contains("glad");
            if goodbye {
                report.deny_goodbyes += 1;
            }
            check(!goodbye, "a goodbye or a resolve after `deny`".into());
            check(!reply.contains('!'), "a \"!\" after `deny`".into());
        }

        // The script's own expectations.
        let conv = &result.conversation;
        let now_place = place(&conv.phase);
        if let Some(s) = &t.state {
            check(
                conv.state_name() == s,
                format!("state {} (expected {s})", conv.state_name()),
            );
        }
        if let Some(g) = &t.guide {
            check(
                now_place.as_ref().map(|p| &p.0) == Some(g),
                format!(
                    "guide {:?} (expected {g})",
                    now_place.as_ref().map(|p| &p.0)
                ),
            );
        }
        if let Some(want) = &t.reply_lang {
            // The reply's language: the conversation's, except the English note on a
            // language the bot does not speak.
            let got = if result.outcome == Outcome::UnsupportedLanguage {
                "en"
            } else {
                conv.language.as_deref().unwrap_or("en")
            };
            check(got == want, format!("reply in {got} (expected {want})"));
        }
        if let Some(s) = t.step {
            check(
                now_place.as_ref().map(|p| p.1) == Some(s),
                format!("step {:?} (expected {s})", now_place.as_ref().map(|p| p.1)),
            );
        }
        if let Some(adv) = t.advance {
            let moved = match (&last_place, &now_place) {
                (Some((g0, s0)), Some((g1, s1))) if g0 == g1 => Some(s1 > s0),
                (Some(_), Some(_)) => Some(true),
                _ => None,
            };
            check(
                moved == Some(adv),
                format!(
                    "step went from {:?} to {:?} (expected advance = {adv})",
                    last_place, now_place
                ),
            );
        }
        if let Some(a) = &t.act {
            let got = result.act.map_or("none", |g| g.act.as_str());
            check(got == a, format!("act {got} (expected {a})"));
        }
        if let Some(o) = &t.outcome {
            check(
                outcome_named(o) == Some(result.outcome),
                format!("outcome {:?} (expected {o})", result.outcome),
            );
        }
        if let Some(o) = &t.not_outcome {
            check(
                outcome_named(o) != Some(result.outcome),
                format!("outcome {:?} (must not be {o})", result.outcome),
            );
        }
        for s in &t.says {
            check(
                lower.contains(&s.to_lowercase()),
                format!("the reply does not say {s:?}"),
            );
        }
        for s in &t.not_says {
            check(
                !lower.contains(&s.to_lowercase()),
                format!("the reply says {s:?}"),
            );
        }
        for b in &t.buttons {
            let wanted = b.to_lowercase();
            check(
                result
                    .reply
                    .buttons
                    .iter()
                    .any(|x| x.label.to_lowercase().contains(&wanted)),
                format!("no button {b:?}"),
            );
        }
        let ticket = match conv.ticket() {
            Some(n) => desk.store().ticket(n)?,
            None => None,
        };
        if let Some(open) = t.ticket {
            check(
                ticket.is_some() == open,
                format!("ticket open: {} (expected {open})", ticket.is_some()),
            );
        }
        if let Some(p) = t.priority {
            let got = ticket.as_ref().is_some_and(|k| k.priority);
            check(got == p, format!("ticket priority {got} (expected {p})"));
        }
        if let Some(want) = &t.ticket_intent {
            let got = ticket.as_ref().and_then(|k| k.intent.clone());
            check(
                got.as_deref() == Some(want.as_str()),
                format!("ticket intent {got:?} (expected {want})"),
            );
        }
        if t.masked.is_some() || !t.stored_lacks.is_empty() {
            let stored = desk
                .store()
                .transcript(key, 4)?
                .into_iter()
                .rev()
                .find(|l| l.speaker == Speaker::User)
                .map(|l| l.text)
                .unwrap_or_default();
            if let Some(m) = t.masked {
                let got = stored.contains(" hidden]");
                check(
                    got == m,
                    format!("stored {stored:?}: masked {got} (expected {m})"),
                );
            }
            for s in &t.stored_lacks {
                check(
                    !stored.contains(s.as_str()),
                    format!("stored {stored:?} keeps {s:?}"),
                );
            }
        }
        last_reply = reply;
        last_place = now_place;
        last = Some(result);
    }
    Ok(failures)
}

//! Which stored messages the bot did not understand, read from the decision records on the
//! users' transcript lines, and how `deskbot review` groups them.
//!
//! A user's typed message is listed when:
//! - its decision has `miss` set: judged out of scope (`out_of_scope`), the bot unsure and
//!   asking "did you mean …" (`low_confidence`), an answer inside a guide it could not read
//!   (`guide_fallback`);
//! - the bot asked "did you mean …" about it and the user's next message was none of the
//!   options (`suggestion_ignored`: the next line's decision has `declined_suggestion`);
//! - or the user reworded it (`reworded`): it started guide A, and the same user's next typed
//!   message, within [`REWORD_WINDOW_MS`], started a different guide, or stopped guide A on
//!   its first step (the `stop` act: "that's not what I asked"). A plain "no" on the first
//!   step is not counted: that is the step not helping, which the report's funnel shows, not
//!   the bot misreading the problem.
//!
//! An answer "none of these" to a "did you mean …" is recorded as a miss (the bot asks for
//! more detail) but is not listed: it was understood; the message it declined is.

use std::collections::HashMap;

use deskbot_storage::{Decision, InputKind, Miss, Speaker, StorageError, StoredLine};
use serde::Serialize;

/// How soon after a message the next one must come to count as rewording it.
pub const REWORD_WINDOW_MS: u64 = 2 * 60 * 1000;

/// Why a message is listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Judged out of scope.
    OutOfScope,
    /// The bot was unsure and asked "did you mean …".
    LowConfidence,
    /// An answer inside a guide the bot did not understand.
    GuideFallback,
    /// The bot asked "did you mean …" and the user answered with something else.
    SuggestionIgnored,
    /// The user said it again in other words right after (see the module docs).
    Reworded,
}

impl Reason {
    /// The name in `--json` output and on the terminal.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OutOfScope => "out_of_scope",
            Self::LowConfidence => "low_confidence",
            Self::GuideFallback => "guide_fallback",
            Self::SuggestionIgnored => "suggestion_ignored",
            Self::Reworded => "reworded",
        }
    }

    fn of(miss: Miss) -> Self {
        match miss {
            Miss::OutOfScope => Self::OutOfScope,
            Miss::LowConfidence => Self::LowConfidence,
            Miss::GuideFallback => Self::GuideFallback,
            Miss::SuggestionIgnored => Self::SuggestionIgnored,
        }
    }
}

/// One misunderstood message as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The transcript line's sequence number (the review id).
    pub line: u64,
    /// When it was written (Unix ms).
    pub at_ms: u64,
    /// The text (masked, as the transcript keeps it).
    pub text: String,
    /// The classifier's nearest intent.
    pub nearest_intent: Option<String>,
    /// Its confidence.
    pub confidence: Option<f32>,
    /// Why it is listed.
    pub reason: Reason,
    /// The language the bot answered in.
    pub language: String,
}

/// The previous typed message of the conversation being read, waiting for the next one.
struct Pending {
    line: u64,
    at_ms: u64,
    text: String,
    decision: Decision,
}

impl Pending {
    /// Whether `next` (the same user's next message) shows this one was misunderstood, and
    /// why; `None` leaves this message's own record as it is.
    fn judged_by(&self, next: &Decision, next_at_ms: u64) -> Option<Reason> {
        if next.declined_suggestion {
            return Some(Reason::SuggestionIgnored);
        }
        let d = &self.decision;
        let started = match (&d.shown, d.outcome.as_str(), d.miss) {
            (Some(shown), "guide_started", None) => shown,
            _ => return None,
        };
        if next.input != InputKind::Text || next_at_ms.saturating_sub(self.at_ms) > REWORD_WINDOW_MS
        {
            return None;
        }
        let other_guide = next.outcome == "guide_started"
            && next
                .shown
                .as_ref()
                .is_some_and(|s| s.guide != started.guide);
        let stopped_at_once = next.act.as_deref() == Some("stop")
            && next
                .answered
                .as_ref()
                .is_some_and(|a| a.guide == started.guide && a.step == 1);
        (other_guide || stopped_at_once).then_some(Reason::Reworded)
    }

    fn found(self, reason: Option<Reason>) -> Option<Found> {
        let d = &self.decision;
        // "None of these" to a "did you mean …" counts as a miss in the record (the bot asks
        // for more detail), but the answer itself was understood: the message it declined is
        // the one listed (as `suggestion_ignored`).
        let own = d
            .miss
            .filter(|m| {
                !(*m == Miss::GuideFallback && d.answered.is_none() && d.declined_suggestion)
            })
            .map(Reason::of);
        let reason = reason.or(own)?;
        Some(Found {
            line: self.line,
            at_ms: self.at_ms,
            text: self.text,
            nearest_intent: self.decision.intent,
            confidence: self.decision.confidence,
            reason,
            language: self.decision.language.unwrap_or_else(|| "en".into()),
        })
    }
}

/// Every misunderstood message among `lines` (as [`deskbot_storage::Store::transcript_lines`]
/// gives them: grouped by conversation, oldest first) written at or after `since_ms`, passed
/// to `found` one at a time.
pub fn scan(
    lines: impl Iterator<Item = Result<StoredLine, StorageError>>,
    since_ms: u64,
    mut found: impl FnMut(Found),
) -> Result<(), StorageError> {
    let mut conversation = None;
    let mut pending: Option<Pending> = None;
    let mut emit = |p: Pending, reason: Option<Reason>| {
        if p.at_ms >= since_ms
            && let Some(f) = p.found(reason)
        {
            found(f);
        }
    };
    for line in lines {
        let line = line?;
        if conversation.as_ref() != Some(&line.conversation) {
            if let Some(p) = pending.take() {
                emit(p, None);
            }
            conversation = Some(line.conversation);
        }
        let entry = line.entry;
        if entry.speaker != Speaker::User {
            continue;
        }
        let Some(decision) = entry.decision else {
            continue;
        };
        if let Some(p) = pending.take() {
            let reason = p.judged_by(&decision, entry.at_ms);
            emit(p, reason);
        }
        if decision.input == InputKind::Text {
            pending = Some(Pending {
                line: line.seq,
                at_ms: entry.at_ms,
                text: entry.text,
                decision: *decision,
            });
        }
    }
    if let Some(p) = pending.take() {
        emit(p, None);
    }
    Ok(())
}

/// One row of the review: identical texts are one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The review id: the newest occurrence's transcript line, in hex.
    pub id: String,
    /// The text.
    pub text: String,
    /// The nearest intent of the newest occurrence (`null` when the classifier had none).
    pub nearest_intent: Option<String>,
    /// Its confidence, rounded to 3 decimals.
    pub confidence: Option<f64>,
    /// Why the newest occurrence is listed.
    pub reason: Reason,
    /// How many times the text was not understood.
    pub count: usize,
    /// The language of the newest occurrence.
    pub language: String,
    /// When the newest occurrence was written (Unix ms).
    pub last_at_ms: u64,
}

/// The review id of transcript line `line`.
pub fn id_of(line: u64) -> String {
    format!("{line:x}")
}

/// The transcript line of review id `id`, if it is one.
pub fn line_of(id: &str) -> Option<u64> {
    let id = id.trim();
    if id.is_empty() || id.len() > 16 {
        return None;
    }
    u64::from_str_radix(id, 16).ok()
}

/// Collects [`Found`] messages into rows: one per distinct text, newest first.
#[derive(Debug, Default)]
pub struct Rows {
    by_text: HashMap<String, (Found, usize)>,
}

impl Rows {
    /// Adds one occurrence.
    pub fn add(&mut self, f: Found) {
        match self.by_text.get_mut(&f.text) {
            Some((newest, count)) => {
                *count += 1;
                if (f.at_ms, f.line) > (newest.at_ms, newest.line) {
                    *newest = f;
                }
            }
            None => {
                self.by_text.insert(f.text.clone(), (f, 1));
            }
        }
    }

    /// The rows, grouped by nearest intent: the group with the newest message first, and
    /// within a group the newest row first; at most `limit` rows (the newest ones). Texts in
    /// `hidden` (already labelled) are left out; the second value counts their occurrences.
    pub fn into_rows(
        self,
        limit: Option<usize>,
        hidden: &dyn Fn(&str) -> bool,
    ) -> (Vec<Row>, usize) {
        let mut left_out = 0;
        let mut newest: Vec<(Found, usize)> = Vec::new();
        for (text, (found, count)) in self.by_text {
            if hidden(&text) {
                left_out += count;
            } else {
                newest.push((found, count));
            }
        }
        let recency = |f: &Found| std::cmp::Reverse((f.at_ms, f.line));
        newest.sort_by_key(|(f, _)| recency(f));
        newest.truncate(limit.unwrap_or(usize::MAX));
        // Groups in the order of their newest row (the list is newest first already).
        let mut groups: Vec<Option<String>> = Vec::new();
        for (f, _) in &newest {
            if !groups.contains(&f.nearest_intent) {
                groups.push(f.nearest_intent.clone());
            }
        }
        let rank = |g: &Option<String>| groups.iter().position(|x| x == g);
        newest.sort_by_key(|(f, _)| (rank(&f.nearest_intent), recency(f)));
        let rows = newest
            .into_iter()
            .map(|(f, count)| Row {
                id: id_of(f.line),
                confidence: f
                    .confidence
                    .map(|c| (f64::from(c) * 1000.0).round() / 1000.0),
                text: f.text,
                nearest_intent: f.nearest_intent,
                reason: f.reason,
                count,
                language: f.language,
                last_at_ms: f.at_ms,
            })
            .collect();
        (rows, left_out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deskbot_storage::{ConvKey, GuideStep, Platform, TranscriptEntry};

    fn decision(intent: &str, outcome: &str) -> Decision {
        Decision {
            language: Some("en".into()),
            input: InputKind::Text,
            intent: Some(intent.into()),
            confidence: Some(0.42),
            act: None,
            answered: None,
            shown: None,
            outcome: outcome.into(),
            escalation: None,
            ticket: None,
            fallback: false,
            miss: None,
            declined_suggestion: false,
            latency_us: 1,
        }
    }

    fn started(guide: &str) -> Decision {
        Decision {
            shown: Some(GuideStep {
                guide: guide.into(),
                step: 1,
            }),
            ..decision(guide, "guide_started")
        }
    }

    struct Script {
        lines: Vec<StoredLine>,
        seq: u64,
    }

    impl Script {
        fn new() -> Self {
            Self {
                lines: Vec::new(),
                seq: 0,
            }
        }

        fn user(&mut self, who: &str, at_s: u64, text: &str, d: Decision) -> &mut Self {
            self.seq += 1;
            let mut entry = TranscriptEntry::new(at_s * 1000, Speaker::User, text);
            entry.decision = Some(Box::new(d));
            self.lines.push(StoredLine {
                conversation: ConvKey::new(Platform::Console, who),
                seq: self.seq,
                entry,
            });
            self.seq += 1;
            self.lines.push(StoredLine {
                conversation: ConvKey::new(Platform::Console, who),
                seq: self.seq,
                entry: TranscriptEntry::new(at_s * 1000, Speaker::Bot, "reply"),
            });
            self
        }

        fn found(&self, since_ms: u64) -> Vec<(String, Reason)> {
            let mut out = Vec::new();
            scan(self.lines.iter().cloned().map(Ok), since_ms, |f| {
                out.push((f.text, f.reason))
            })
            .unwrap();
            out
        }
    }

    #[test]
    fn misses_are_listed_with_their_reason_and_understood_messages_are_not() {
        let mut s = Script::new();
        let oos = Decision {
            miss: Some(Miss::OutOfScope),
            outcome: "out_of_scope".into(),
            ..decision("password_reset", "out_of_scope")
        };
        let fallback = Decision {
            miss: Some(Miss::GuideFallback),
            fallback: true,
            ..decision("vague", "none")
        };
        s.user("ann", 1, "how much is a redmi 13", oos)
            .user("ann", 2, "my pass dont work", started("password_reset"))
            .user("ann", 3, "asdfgh", fallback)
            .user("ann", 4, "ok that did it", decision("thanks", "resolved"));
        assert_eq!(
            s.found(0),
            vec![
                ("how much is a redmi 13".to_string(), Reason::OutOfScope),
                ("asdfgh".to_string(), Reason::GuideFallback),
            ]
        );
        // --since leaves out what came before it.
        assert_eq!(
            s.found(2_000),
            vec![("asdfgh".to_string(), Reason::GuideFallback)]
        );
    }

    #[test]
    fn a_declined_suggestion_marks_the_message_it_was_about() {
        let mut s = Script::new();
        let unsure = Decision {
            miss: Some(Miss::LowConfidence),
            ..decision("two_factor", "none")
        };
        let declined = Decision {
            declined_suggestion: true,
            ..started("account_locked")
        };
        s.user("bo", 1, "the thing with the numbers", unsure.clone())
            .user("bo", 2, "no its locked for 72 hours", declined)
            .user("cy", 3, "thing with numbers again", unsure);
        assert_eq!(
            s.found(0),
            vec![
                (
                    "the thing with the numbers".to_string(),
                    Reason::SuggestionIgnored
                ),
                // The last message of a conversation keeps its own record's reason.
                (
                    "thing with numbers again".to_string(),
                    Reason::LowConfidence
                ),
            ]
        );
    }

    #[test]
    fn rewording_right_after_a_guide_started_is_a_miss_of_the_first_message() {
        let stop_at_first = Decision {
            act: Some("stop".into()),
            answered: Some(GuideStep {
                guide: "cloud_sync".into(),
                step: 1,
            }),
            ..decision("goodbye", "none")
        };
        let deny_at_first = Decision {
            act: Some("deny".into()),
            answered: Some(GuideStep {
                guide: "cloud_sync".into(),
                step: 1,
            }),
            ..decision("goodbye", "none")
        };
        let mut s = Script::new();
        s.user("a", 10, "photos gone", started("cloud_sync"))
            .user(
                "a",
                30,
                "i mean i cant sign in on the new phone",
                started("device_not_recognized"),
            )
            .user("b", 10, "sync thing", started("cloud_sync"))
            .user("b", 20, "no stop thats not it", stop_at_first)
            .user("c", 10, "sync broke", started("cloud_sync"))
            .user("c", 20, "nope", deny_at_first)
            // Too late to be a rewording: a new problem.
            .user("d", 10, "cloud", started("cloud_sync"))
            .user(
                "d",
                500,
                "now my account is locked",
                started("account_locked"),
            );
        assert_eq!(
            s.found(0),
            vec![
                ("photos gone".to_string(), Reason::Reworded),
                ("sync thing".to_string(), Reason::Reworded),
            ]
        );
    }

    #[test]
    fn identical_texts_are_one_row_grouped_by_intent_newest_first() {
        let mut rows = Rows::default();
        let f = |line: u64, at_ms: u64, text: &str, intent: Option<&str>| Found {
            line,
            at_ms,
            text: text.into(),
            nearest_intent: intent.map(str::to_string),
            confidence: Some(0.1234),
            reason: Reason::OutOfScope,
            language: "en".into(),
        };
        rows.add(f(1, 100, "lol", None));
        rows.add(f(2, 200, "pw??", Some("password_reset")));
        rows.add(f(3, 300, "lol", None));
        rows.add(f(4, 250, "reset pls", Some("password_reset")));
        rows.add(f(5, 50, "labelled one", Some("account_locked")));
        let (all, left_out) = rows.into_rows(None, &|t| t == "labelled one");
        assert_eq!(left_out, 1);
        let seen: Vec<(&str, usize, &str)> = all
            .iter()
            .map(|r| (r.text.as_str(), r.count, r.id.as_str()))
            .collect();
        assert_eq!(
            seen,
            [("lol", 2, "3"), ("reset pls", 1, "4"), ("pw??", 1, "2")]
        );
        assert_eq!(all[0].confidence, Some(0.123));
        let mut rows = Rows::default();
        rows.add(f(1, 100, "a", Some("x")));
        rows.add(f(2, 200, "b", Some("y")));
        rows.add(f(3, 300, "c", Some("x")));
        let (limited, _) = rows.into_rows(Some(2), &|_| false);
        let texts: Vec<&str> = limited.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["c", "b"]);
    }

    #[test]
    fn ids_are_hex_line_numbers_and_bad_ids_are_refused() {
        assert_eq!(id_of(255), "ff");
        assert_eq!(line_of("ff"), Some(255));
        assert_eq!(line_of(" FF "), Some(255));
        for bad in ["", "zz", "-1", "1ffffffffffffffff", "0x1f"] {
            assert_eq!(line_of(bad), None, "{bad}");
        }
    }
}

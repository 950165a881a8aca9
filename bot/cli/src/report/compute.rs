//! The report's figures, computed by one pure pass over the store's records: tickets (with
//! their events) first, then every transcript line grouped by conversation, as
//! [`Store::transcript_lines`](deskbot_storage::Store::transcript_lines) yields them.
//!
//! Memory is bounded by the number of tickets and of distinct guides, steps, intents, staff
//! members, channels and languages, never by the number of turns: a conversation's lines are
//! folded into counters as they stream by and its state is dropped when the next
//! conversation starts.
//!
//! Definitions (all restricted to the [`Window`]):
//! - a *conversation* is a conversation key (platform and user) with at least one user line in
//!   the window; it counts once, under the language of its last recorded user line there;
//! - a *user turn* is a user line; a *fallback turn* one whose decision says the bot did not
//!   understand (`fallback`); the fallback rate is one over the other;
//! - *resolved without a ticket*: a conversation with a turn whose outcome is `resolved` and no
//!   turn that opened a ticket;
//! - *escalations* count the turns that opened a ticket, by their `escalation` reason;
//! - per guide, by *run* (a guide from its `guide_started` turn to the next guide started in
//!   the conversation, or the conversation's end; a run already under way when the window
//!   opens counts from there, without a start): `started` counts runs started, `resolved`
//!   runs that ended `resolved`, `steps[k-1].reached` runs that showed step `k` (once however
//!   often), `steps[k-1].no` runs in which step `k` was answered with a no (`act == "deny"`,
//!   typed or the button);
//! - tickets *opened* / *closed* by their open time / close time; *time to close* over the
//!   tickets closed in the window; *first reply*: from a ticket's opening to the first staff
//!   line in its conversation after it, over the tickets opened in the window that got one;
//!   percentiles are nearest-rank;
//! - a *rating* counts at its `rated` event (or, without one, at the ticket's close), for the
//!   ticket's intent and for every staff member who claimed or closed the ticket; `staff`
//!   counts claims and closes (ticket events) in the window by name.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use deskbot_storage::{
    ConvKey, EscalationKind, Rating, Speaker, StoredLine, Ticket, TicketEvent, TicketEventKind,
    TicketStatus,
};
use serde::Serialize;

/// The name reports use for a missing language, intent or staff member.
pub const UNKNOWN: &str = "unknown";

/// The period a report covers, in Unix milliseconds, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// The first millisecond counted (0: since the beginning).
    pub since_ms: u64,
    /// The last millisecond counted (the report's "now").
    pub until_ms: u64,
}

impl Window {
    /// Whether `at_ms` falls in the window.
    pub fn contains(&self, at_ms: u64) -> bool {
        (self.since_ms..=self.until_ms).contains(&at_ms)
    }
}

/// A ticket with its history, as the report reads it.
#[derive(Debug, Clone)]
pub struct TicketFacts {
    /// The ticket.
    pub ticket: Ticket,
    /// Its events, oldest first.
    pub events: Vec<TicketEvent>,
}

/// Escalations (turns that opened a ticket) by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Escalations {
    /// The user asked for a person.
    pub asked: u64,
    /// The guide ran out of steps.
    pub guide_exhausted: u64,
    /// The bot did not understand the user repeatedly.
    pub misses: u64,
    /// A high-risk case.
    pub high_risk: u64,
}

impl Escalations {
    fn add(&mut self, kind: EscalationKind) {
        match kind {
            EscalationKind::Asked => self.asked += 1,
            EscalationKind::GuideExhausted => self.guide_exhausted += 1,
            EscalationKind::Misses => self.misses += 1,
            EscalationKind::HighRisk => self.high_risk += 1,
        }
    }

    /// All escalations.
    pub fn total(&self) -> u64 {
        self.asked + self.guide_exhausted + self.misses + self.high_risk
    }

    /// `(json key, label, count)` for each reason, in a fixed order.
    pub fn rows(&self) -> [(&'static str, &'static str, u64); 4] {
        [
            ("asked", "asked for a person", self.asked),
            ("guide_exhausted", "guide ran out", self.guide_exhausted),
            ("misses", "repeated misses", self.misses),
            ("high_risk", "high risk", self.high_risk),
        ]
    }
}

/// Thumbs up and down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Ratings {
    /// 👍
    pub up: u64,
    /// 👎
    pub down: u64,
}

impl Ratings {
    fn add(&mut self, rating: Rating) {
        match rating {
            Rating::Up => self.up += 1,
            Rating::Down => self.down += 1,
        }
    }
}

/// One step of a guide's funnel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StepFunnel {
    /// The step, 1-based.
    pub step: usize,
    /// Runs of the guide that showed this step.
    pub reached: u64,
    /// Runs in which the user said no to it.
    pub no: u64,
}

/// One guide's funnel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GuideFunnel {
    /// Runs started.
    pub started: u64,
    /// Runs that ended resolved.
    pub resolved: u64,
    /// Step by step, from step 1 to the last step anyone reached or answered.
    pub steps: Vec<StepFunnel>,
}

impl GuideFunnel {
    fn step(&mut self, step: usize) -> &mut StepFunnel {
        let index = step.max(1) - 1;
        while self.steps.len() <= index {
            let n = self.steps.len() + 1;
            self.steps.push(StepFunnel {
                step: n,
                ..StepFunnel::default()
            });
        }
        &mut self.steps[index]
    }
}

/// The figures of one channel or one language.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Slice {
    /// Conversations.
    pub conversations: u64,
    /// User turns.
    pub user_turns: u64,
    /// Conversations resolved without a ticket.
    pub resolved_without_ticket: u64,
    /// Fallback turns.
    pub fallback_turns: u64,
    /// Escalations by reason.
    pub escalations: Escalations,
    /// Tickets opened.
    pub tickets_opened: u64,
    /// Tickets closed.
    pub tickets_closed: u64,
    /// Ratings.
    pub ratings: Ratings,
}

/// What a staff member did with tickets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StaffWork {
    /// Tickets claimed.
    pub claimed: u64,
    /// Tickets closed.
    pub closed: u64,
}

/// The report, as `deskbot report --json` prints it. Maps are sorted by key; durations are in
/// seconds (`null` when nothing was measured); shares and rates are fractions in 0..=1
/// (`null` without a denominator).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The period covered.
    pub window: Window,
    /// Conversations with a user line in the window.
    pub conversations: u64,
    /// User lines.
    pub user_turns: u64,
    /// User lines without a decision record (written before decisions were recorded).
    pub turns_without_decision: u64,
    /// Conversations resolved by a guide without a ticket.
    pub resolved_without_ticket: u64,
    /// `resolved_without_ticket / conversations`.
    pub resolved_without_ticket_share: Option<f64>,
    /// Turns that opened a ticket, by reason.
    pub escalations: Escalations,
    /// Turns where the bot said it did not understand.
    pub fallback_turns: u64,
    /// `fallback_turns / user_turns`.
    pub fallback_rate: Option<f64>,
    /// Tickets opened in the window.
    pub tickets_opened: u64,
    /// Tickets closed in the window.
    pub tickets_closed: u64,
    /// Tickets opened in the window that got a staff reply.
    pub tickets_answered: u64,
    /// Time to the first staff reply, median.
    pub first_reply_secs_p50: Option<f64>,
    /// Time to the first staff reply, 90th percentile.
    pub first_reply_secs_p90: Option<f64>,
    /// Time from opening to closing, median.
    pub close_secs_p50: Option<f64>,
    /// Time from opening to closing, 90th percentile.
    pub close_secs_p90: Option<f64>,
    /// All ratings.
    pub ratings: Ratings,
    /// Ratings by the ticket's intent.
    pub ratings_by_intent: BTreeMap<String, Ratings>,
    /// Ratings by staff member (who claimed or closed the ticket).
    pub ratings_by_staff: BTreeMap<String, Ratings>,
    /// Claims and closes by staff member.
    pub staff: BTreeMap<String, StaffWork>,
    /// Each guide's funnel.
    pub per_guide: BTreeMap<String, GuideFunnel>,
    /// The figures by channel (`console`, `telegram`, `discord`).
    pub by_channel: BTreeMap<String, Slice>,
    /// The figures by language (a catalog code, or `unknown`).
    pub by_language: BTreeMap<String, Slice>,
}

/// What the report keeps of a ticket.
#[derive(Debug)]
struct TicketSummary {
    channel: String,
    intent: String,
    opened_at_ms: u64,
    /// The close time, when closed.
    closed_at_ms: Option<u64>,
    rating: Option<(Rating, u64)>,
    staff: BTreeSet<String>,
    language: Option<String>,
    first_reply_ms: Option<u64>,
}

/// One run of a guide in a conversation: the steps it showed and those answered no.
#[derive(Debug)]
struct GuideRun {
    guide: String,
    reached: BTreeSet<usize>,
    no: BTreeSet<usize>,
}

impl GuideRun {
    fn new(guide: String) -> Self {
        Self {
            guide,
            reached: BTreeSet::new(),
            no: BTreeSet::new(),
        }
    }

    /// Adds the run's steps to the guide's funnel.
    fn count(self, per_guide: &mut BTreeMap<String, GuideFunnel>) {
        let funnel = per_guide.entry(self.guide).or_default();
        for step in self.reached {
            funnel.step(step).reached += 1;
        }
        for step in self.no {
            funnel.step(step).no += 1;
        }
    }
}

/// The run of `guide` in `run`: the one under way, or (after counting that one) a new one
/// that started before the window.
fn run_of<'a>(
    run: &'a mut Option<GuideRun>,
    guide: &str,
    per_guide: &mut BTreeMap<String, GuideFunnel>,
) -> &'a mut GuideRun {
    if run.as_ref().is_some_and(|r| r.guide != guide)
        && let Some(done) = run.take()
    {
        done.count(per_guide);
    }
    run.get_or_insert_with(|| GuideRun::new(guide.to_string()))
}

/// One conversation's state while its lines stream by.
#[derive(Debug, Default)]
struct ConvState {
    key: Option<ConvKey>,
    counted: bool,
    language: Option<String>,
    resolved: bool,
    opened_ticket: bool,
    /// The guide run under way.
    run: Option<GuideRun>,
    /// This conversation's tickets opened in the window, oldest first.
    tickets: Vec<(u64, u64)>,
}

/// Folds records into a [`Report`]: [`Aggregator::ticket`] for every ticket, then
/// [`Aggregator::line`] for every transcript line in store order, then
/// [`Aggregator::finish`]. [`compute`] does all three.
#[derive(Debug)]
pub struct Aggregator {
    window: Window,
    report: Report,
    tickets: HashMap<u64, TicketSummary>,
    /// Tickets opened in the window by conversation: (opened at, number).
    by_conversation: HashMap<ConvKey, Vec<(u64, u64)>>,
    conv: ConvState,
}

fn slice<'a>(map: &'a mut BTreeMap<String, Slice>, key: &str) -> &'a mut Slice {
    map.entry(key.to_string()).or_default()
}

/// Nearest-rank percentile `p` (0..=100) of sorted milliseconds, in seconds.
fn percentile_secs(sorted: &[u64], p: u64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as u64;
    let rank = (p * n).div_ceil(100).clamp(1, n);
    let index = usize::try_from(rank - 1)
        .unwrap_or(usize::MAX)
        .min(sorted.len() - 1);
    Some(sorted[index] as f64 / 1000.0)
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl Aggregator {
    /// An empty report over `window`.
    pub fn new(window: Window) -> Self {
        Self {
            window,
            report: Report {
                window,
                conversations: 0,
                user_turns: 0,
                turns_without_decision: 0,
                resolved_without_ticket: 0,
                resolved_without_ticket_share: None,
                escalations: Escalations::default(),
                fallback_turns: 0,
                fallback_rate: None,
                tickets_opened: 0,
                tickets_closed: 0,
                tickets_answered: 0,
                first_reply_secs_p50: None,
                first_reply_secs_p90: None,
                close_secs_p50: None,
                close_secs_p90: None,
                ratings: Ratings::default(),
                ratings_by_intent: BTreeMap::new(),
                ratings_by_staff: BTreeMap::new(),
                staff: BTreeMap::new(),
                per_guide: BTreeMap::new(),
                by_channel: BTreeMap::new(),
                by_language: BTreeMap::new(),
            },
            tickets: HashMap::new(),
            by_conversation: HashMap::new(),
            conv: ConvState::default(),
        }
    }

    /// Takes in one ticket. Tickets must all come before the first line.
    pub fn ticket(&mut self, facts: TicketFacts) {
        let TicketFacts { ticket, events } = facts;
        let w = self.window;
        let mut staff = BTreeSet::new();
        let mut rated_at = None;
        for e in &events {
            match e.kind {
                TicketEventKind::Claimed | TicketEventKind::Closed => {
                    staff.insert(e.by.clone());
                    if w.contains(e.at_ms) {
                        let work = self.report.staff.entry(e.by.clone()).or_default();
                        if e.kind == TicketEventKind::Claimed {
                            work.claimed += 1;
                        } else {
                            work.closed += 1;
                        }
                    }
                }
                TicketEventKind::Rated => rated_at = Some(e.at_ms),
                _ => {}
            }
        }
        let closed_at_ms = match ticket.status {
            TicketStatus::Closed => ticket.closed_at_ms,
            TicketStatus::Open => None,
        };
        let rating = ticket
            .rating
            .and_then(|r| Some((r, rated_at.or(closed_at_ms)?)));
        let opened = w.contains(ticket.opened_at_ms);
        let relevant = opened
            || closed_at_ms.is_some_and(|t| w.contains(t))
            || rating.is_some_and(|(_, t)| w.contains(t));
        if !relevant {
            return;
        }
        if opened && !ticket.forgotten {
            self.by_conversation
                .entry(ticket.conversation.clone())
                .or_default()
                .push((ticket.opened_at_ms, ticket.number));
        }
        self.tickets.insert(
            ticket.number,
            TicketSummary {
                channel: ticket.conversation.platform.as_str().to_string(),
                intent: ticket.intent.unwrap_or_else(|| UNKNOWN.to_string()),
                opened_at_ms: ticket.opened_at_ms,
                closed_at_ms,
                rating,
                staff,
                language: None,
                first_reply_ms: None,
            },
        );
    }

    /// Takes in one transcript line. Lines of one conversation must come together, oldest
    /// first (the store's order).
    pub fn line(&mut self, line: &StoredLine) {
        if self.conv.key.as_ref() != Some(&line.conversation) {
            self.end_conversation();
            let mut tickets = self
                .by_conversation
                .remove(&line.conversation)
                .unwrap_or_default();
            tickets.sort_unstable();
            self.conv = ConvState {
                key: Some(line.conversation.clone()),
                tickets,
                ..ConvState::default()
            };
        }
        let entry = &line.entry;
        match entry.speaker {
            Speaker::User if self.window.contains(entry.at_ms) => self.user_line(line),
            Speaker::Staff => self.staff_line(entry.at_ms),
            _ => {}
        }
    }

    fn user_line(&mut self, line: &StoredLine) {
        let channel = line.conversation.platform.as_str();
        let c = &mut self.conv;
        c.counted = true;
        let r = &mut self.report;
        r.user_turns += 1;
        slice(&mut r.by_channel, channel).user_turns += 1;
        let Some(d) = line.entry.decision.as_deref() else {
            r.turns_without_decision += 1;
            slice(&mut r.by_language, UNKNOWN).user_turns += 1;
            return;
        };
        let language = d.language.as_deref().unwrap_or(UNKNOWN);
        c.language = Some(language.to_string());
        slice(&mut r.by_language, language).user_turns += 1;
        if d.fallback {
            r.fallback_turns += 1;
            slice(&mut r.by_channel, channel).fallback_turns += 1;
            slice(&mut r.by_language, language).fallback_turns += 1;
        }
        if let Some(kind) = d.escalation {
            r.escalations.add(kind);
            slice(&mut r.by_channel, channel).escalations.add(kind);
            slice(&mut r.by_language, language).escalations.add(kind);
        }
        if let Some(number) = d.ticket {
            c.opened_ticket = true;
            if let Some(t) = self.tickets.get_mut(&number) {
                t.language = Some(language.to_string());
            }
        }
        let guide_of = |step: &Option<deskbot_storage::GuideStep>| {
            step.as_ref()
                .map(|s| s.guide.clone())
                .or_else(|| d.intent.clone())
        };
        // The answer belongs to the run it answered; a start ends that run.
        if let Some(answered) = &d.answered
            && d.act.as_deref() == Some("deny")
        {
            run_of(&mut c.run, &answered.guide, &mut r.per_guide)
                .no
                .insert(answered.step);
        }
        match d.outcome.as_str() {
            "guide_started" => {
                if let Some(guide) = guide_of(&d.shown) {
                    if let Some(done) = c.run.take() {
                        done.count(&mut r.per_guide);
                    }
                    r.per_guide.entry(guide.clone()).or_default().started += 1;
                    c.run = Some(GuideRun::new(guide));
                }
            }
            "resolved" => {
                c.resolved = true;
                if let Some(guide) = guide_of(&d.answered) {
                    r.per_guide.entry(guide).or_default().resolved += 1;
                }
            }
            _ => {}
        }
        if let Some(shown) = &d.shown {
            run_of(&mut c.run, &shown.guide, &mut r.per_guide)
                .reached
                .insert(shown.step);
        }
    }

    /// A staff line at `at_ms`: the first reply to the conversation's latest ticket opened
    /// before it, if that one has none yet.
    fn staff_line(&mut self, at_ms: u64) {
        let Some(&(_, number)) = self
            .conv
            .tickets
            .iter()
            .rev()
            .find(|(opened, _)| *opened <= at_ms)
        else {
            return;
        };
        if let Some(t) = self.tickets.get_mut(&number)
            && t.first_reply_ms.is_none()
        {
            t.first_reply_ms = Some(at_ms);
        }
    }

    fn end_conversation(&mut self) {
        let c = std::mem::take(&mut self.conv);
        let Some(key) = c.key else { return };
        if !c.counted {
            return;
        }
        let r = &mut self.report;
        let channel = key.platform.as_str();
        let language = c.language.as_deref().unwrap_or(UNKNOWN);
        r.conversations += 1;
        slice(&mut r.by_channel, channel).conversations += 1;
        slice(&mut r.by_language, language).conversations += 1;
        if c.resolved && !c.opened_ticket {
            r.resolved_without_ticket += 1;
            slice(&mut r.by_channel, channel).resolved_without_ticket += 1;
            slice(&mut r.by_language, language).resolved_without_ticket += 1;
        }
        if let Some(run) = c.run {
            run.count(&mut r.per_guide);
        }
    }

    /// The finished report.
    pub fn finish(mut self) -> Report {
        self.end_conversation();
        let w = self.window;
        let mut r = self.report;
        let mut close_ms = Vec::new();
        let mut reply_ms = Vec::new();
        for t in self.tickets.values() {
            let language = t.language.as_deref().unwrap_or(UNKNOWN);
            if w.contains(t.opened_at_ms) {
                r.tickets_opened += 1;
                slice(&mut r.by_channel, &t.channel).tickets_opened += 1;
                slice(&mut r.by_language, language).tickets_opened += 1;
                if let Some(at) = t.first_reply_ms {
                    reply_ms.push(at.saturating_sub(t.opened_at_ms));
                }
            }
            if let Some(closed) = t.closed_at_ms.filter(|&c| w.contains(c)) {
                r.tickets_closed += 1;
                slice(&mut r.by_channel, &t.channel).tickets_closed += 1;
                slice(&mut r.by_language, language).tickets_closed += 1;
                close_ms.push(closed.saturating_sub(t.opened_at_ms));
            }
            if let Some((rating, _)) = t.rating.filter(|&(_, at)| w.contains(at)) {
                r.ratings.add(rating);
                r.ratings_by_intent
                    .entry(t.intent.clone())
                    .or_default()
                    .add(rating);
                if t.staff.is_empty() {
                    r.ratings_by_staff
                        .entry(UNKNOWN.to_string())
                        .or_default()
                        .add(rating);
                }
                for name in &t.staff {
                    r.ratings_by_staff
                        .entry(name.clone())
                        .or_default()
                        .add(rating);
                }
                slice(&mut r.by_channel, &t.channel).ratings.add(rating);
                slice(&mut r.by_language, language).ratings.add(rating);
            }
        }
        close_ms.sort_unstable();
        reply_ms.sort_unstable();
        r.tickets_answered = reply_ms.len() as u64;
        r.first_reply_secs_p50 = percentile_secs(&reply_ms, 50);
        r.first_reply_secs_p90 = percentile_secs(&reply_ms, 90);
        r.close_secs_p50 = percentile_secs(&close_ms, 50);
        r.close_secs_p90 = percentile_secs(&close_ms, 90);
        r.resolved_without_ticket_share = ratio(r.resolved_without_ticket, r.conversations);
        r.fallback_rate = ratio(r.fallback_turns, r.user_turns);
        r
    }
}

/// The report over `window` from `tickets` (all of them, with their events) and `lines`
/// (every transcript line, grouped by conversation, oldest first within one). Pure: reads
/// nothing but its arguments; stops at the first error either iterator yields.
pub fn compute<E>(
    window: Window,
    tickets: impl IntoIterator<Item = Result<TicketFacts, E>>,
    lines: impl IntoIterator<Item = Result<StoredLine, E>>,
) -> Result<Report, E> {
    let mut agg = Aggregator::new(window);
    for t in tickets {
        agg.ticket(t?);
    }
    for line in lines {
        agg.line(&line?);
    }
    Ok(agg.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let ms: Vec<u64> = (1..=10).map(|s| s * 1000).collect();
        assert_eq!(percentile_secs(&ms, 50), Some(5.0));
        assert_eq!(percentile_secs(&ms, 90), Some(9.0));
        assert_eq!(percentile_secs(&[7_500], 90), Some(7.5));
        assert_eq!(percentile_secs(&[], 50), None);
        assert_eq!(percentile_secs(&[1_000, 3_000], 50), Some(1.0));
        assert_eq!(percentile_secs(&[1_000, 3_000], 90), Some(3.0));
    }

    fn line(user: &str, at_ms: u64, decision: Option<serde_json::Value>) -> StoredLine {
        let mut entry = deskbot_storage::TranscriptEntry::new(at_ms, Speaker::User, "x");
        entry.decision = decision.map(|d| Box::new(serde_json::from_value(d).unwrap()));
        StoredLine {
            conversation: ConvKey::new(deskbot_storage::Platform::Telegram, user),
            seq: at_ms,
            entry,
        }
    }

    fn turn(
        outcome: &str,
        act: Option<&str>,
        answered: Option<usize>,
        shown: Option<usize>,
    ) -> serde_json::Value {
        let place =
            |s: Option<usize>| s.map(|step| serde_json::json!({"guide": "g", "step": step}));
        serde_json::json!({
            "language": "en", "input": "button", "outcome": outcome, "latency_us": 1,
            "act": act, "answered": place(answered), "shown": place(shown), "intent": "g",
        })
    }

    #[test]
    fn a_run_under_way_when_the_window_opens_counts_its_steps_but_no_start() {
        let w = Window {
            since_ms: 100,
            until_ms: 1_000,
        };
        let lines = [
            line("a", 50, Some(turn("guide_started", None, None, Some(1)))),
            line("a", 100, Some(turn("none", Some("deny"), Some(1), Some(2)))),
            line("a", 200, Some(turn("none", Some("deny"), Some(2), Some(3)))),
            line("a", 300, Some(turn("guide_started", None, None, Some(1)))),
            line(
                "a",
                1_001,
                Some(turn("resolved", Some("affirm"), Some(1), None)),
            ),
            line("b", 400, None),
        ];
        let r =
            compute::<std::convert::Infallible>(w, std::iter::empty(), lines.into_iter().map(Ok))
                .unwrap();
        let g = &r.per_guide["g"];
        assert_eq!((g.started, g.resolved), (1, 0));
        let steps: Vec<(u64, u64)> = g.steps.iter().map(|s| (s.reached, s.no)).collect();
        assert_eq!(steps, [(1, 1), (1, 1), (1, 0)]);
        assert_eq!(
            (r.conversations, r.user_turns, r.turns_without_decision),
            (2, 4, 1)
        );
        assert_eq!(r.by_language["unknown"].conversations, 1);
    }

    #[test]
    fn the_first_error_stops_the_pass() {
        let lines = vec![
            Ok(line("a", 1, None)),
            Err("disk on fire"),
            Ok(line("b", 2, None)),
        ];
        let w = Window {
            since_ms: 0,
            until_ms: 10,
        };
        assert_eq!(
            compute(w, std::iter::empty(), lines).unwrap_err(),
            "disk on fire"
        );
    }

    #[test]
    fn funnel_steps_fill_the_gaps() {
        let mut g = GuideFunnel::default();
        g.step(3).reached += 1;
        assert_eq!(
            g.steps
                .iter()
                .map(|s| (s.step, s.reached))
                .collect::<Vec<_>>(),
            [(1, 0), (2, 0), (3, 1)]
        );
    }
}

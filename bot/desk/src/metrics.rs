//! The desk's metrics, exposed in the Prometheus text format by `deskbot run`'s `/metrics`.
//! A [`Metrics`] is a registry passed in, not a process-wide global: the
//! [`Desk`](crate::desk::Desk) owns one (fresh from [`Desk::new`](crate::desk::Desk::new), or
//! shared with [`Desk::with_metrics`](crate::desk::Desk::with_metrics)) and whatever counts
//! gets it from the handle it already has (the desk, or the platform client built with it).
//!
//! Every turn of every channel is counted by one call at the end of
//! [`Desk::turn`](crate::desk::Desk::turn) ([`Metrics::record_turn`]); adapters
//! add what only they see: replies actually delivered ([`Metrics::message_out`]), messages
//! dropped before a turn ([`Metrics::message_dropped`]), failures ([`Metrics::error`]) and
//! whether their platform connection is up ([`Metrics::set_channel_up`]). The open-ticket
//! gauge is read from the store when scraped ([`Metrics::set_open_tickets`]).
//!
//! Built on `prometheus-client` (the Prometheus project's Rust client): lock-free atomic
//! counters, label families and a histogram, encoded as text format 0.0.4. Label values are
//! bounded: channel names, intent ids from the catalog, and the `&'static str` kinds and
//! reasons callers pass.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use deskbot_engine::dialogue::Outcome;
use deskbot_storage::StorageError;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::desk::TurnResult;

/// The `Content-Type` of [`Metrics::encode`]'s output (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabel {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IntentLabel {
    intent: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    channel: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabel {
    channel: String,
    task: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabel {
    channel: String,
    reason: String,
}

type TurnHistograms = Family<ChannelLabel, Histogram, fn() -> Histogram>;

/// Turn latency buckets: 0.5 ms (a turn without an fsync) doubling to about 8 s (a stuck disk).
fn turn_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_5, 2.0, 15))
}

/// deskbot's counters, gauges and histogram: a registry the [`Desk`](crate::desk::Desk) owns
/// ([`Desk::metrics`](crate::desk::Desk::metrics)) and hands to whatever counts for it;
/// `/metrics` serves the desk's. Each [`Metrics::new`] is a registry of its own, so a test
/// counts only what its own desk did.
pub struct Metrics {
    registry: Registry,
    messages_in: Family<ChannelLabel, Counter>,
    messages_out: Family<ChannelLabel, Counter>,
    messages_dropped: Family<DropLabel, Counter>,
    intents: Family<IntentLabel, Counter>,
    resolutions: Family<ChannelLabel, Counter>,
    escalations: Family<ChannelLabel, Counter>,
    open_tickets: Gauge,
    turn_seconds: TurnHistograms,
    errors: Family<KindLabel, Counter>,
    channel_up: Family<ChannelLabel, Gauge>,
    unparsed_answers: Family<MethodLabel, Counter>,
    skipped_updates: Family<ChannelLabel, Counter>,
    dead_letters: Family<ChannelLabel, Counter>,
    panics: Family<TaskLabel, Counter>,
    /// The same status as `channel_up`, readable for `/healthz` (a family cannot be listed).
    channels: Mutex<BTreeMap<String, bool>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Short: the holders of a registry (the desk, the channels' clients) derive `Debug`, and
/// every series in it would only clutter theirs.
impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn channel(name: &str) -> ChannelLabel {
    ChannelLabel {
        channel: name.to_string(),
    }
}

impl Metrics {
    /// A fresh set of metrics, all at zero, registered under the `deskbot_` prefix.
    pub fn new() -> Self {
        let mut m = Self {
            messages_in: Family::default(),
            messages_out: Family::default(),
            messages_dropped: Family::default(),
            intents: Family::default(),
            resolutions: Family::default(),
            escalations: Family::default(),
            open_tickets: Gauge::default(),
            turn_seconds: Family::new_with_constructor(turn_histogram),
            errors: Family::default(),
            channel_up: Family::default(),
            unparsed_answers: Family::default(),
            skipped_updates: Family::default(),
            dead_letters: Family::default(),
            panics: Family::default(),
            channels: Mutex::new(BTreeMap::new()),
            registry: Registry::with_prefix("deskbot"),
        };
        let registry = &mut m.registry;
        registry.register(
            "messages_in",
            "User messages (texts and button presses) handled by a turn, per channel",
            m.messages_in.clone(),
        );
        registry.register(
            "messages_out",
            "Messages delivered to users by the platform, per channel",
            m.messages_out.clone(),
        );
        registry.register(
            "messages_dropped",
            "User messages dropped before a turn (flood control, length cap, block list), per channel and reason",
            m.messages_dropped.clone(),
        );
        registry.register(
            "intents",
            "Turns whose message was classified as an intent, per intent id",
            m.intents.clone(),
        );
        registry.register(
            "resolutions",
            "Turns where the user said a guide fixed their problem, per channel",
            m.resolutions.clone(),
        );
        registry.register(
            "escalations",
            "Turns that handed the conversation to staff (a ticket opened), per channel",
            m.escalations.clone(),
        );
        registry.register(
            "open_tickets",
            "Support tickets open now (read from the store when scraped)",
            m.open_tickets.clone(),
        );
        registry.register(
            "turn_duration_seconds",
            "Time from a turn's start to its durable commit (lock wait, engine, storage and fsync), per channel",
            m.turn_seconds.clone(),
        );
        registry.register(
            "errors",
            "Errors by kind (storage, platform, delivery, ...)",
            m.errors.clone(),
        );
        registry.register(
            "channel_up",
            "1 while a channel is connected to its platform, 0 while it is not",
            m.channel_up.clone(),
        );
        registry.register(
            "platform_unparsed_answers",
            "Platform calls answered as done whose answer the client library could not read (counted as done, never repeated), per channel and method",
            m.unparsed_answers.clone(),
        );
        registry.register(
            "updates_skipped",
            "Received platform updates that could not be read (confirmed, recorded as dead letters, never handled), per channel",
            m.skipped_updates.clone(),
        );
        registry.register(
            "dead_letters",
            "Replies parked as dead letters after the platform kept refusing or failing them, per channel",
            m.dead_letters.clone(),
        );
        registry.register(
            "panics",
            "Panics caught at a task boundary (the channel went on), per channel and task",
            m.panics.clone(),
        );
        m
    }

    /// Counts one successful turn on `channel`: the message in, its intent, a resolution or an
    /// escalation, and how long the turn took.
    pub fn record_turn(&self, channel_name: &str, result: &TurnResult, elapsed: Duration) {
        let label = channel(channel_name);
        self.messages_in.get_or_create(&label).inc();
        if let Some(guess) = &result.intent {
            self.intents
                .get_or_create(&IntentLabel {
                    intent: guess.id.clone(),
                })
                .inc();
        }
        if result.outcome == Outcome::Resolved {
            self.resolutions.get_or_create(&label).inc();
        }
        if result.outcome == Outcome::Escalated || result.opened_ticket.is_some() {
            self.escalations.get_or_create(&label).inc();
        }
        self.turn_seconds
            .get_or_create(&label)
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a turn on `channel` that failed: a platform update delivered again after it was
    /// handled (`AlreadyHandled`: dropped as `duplicate`, not an error), else an error of kind
    /// `storage_io`, `storage_corrupt`, `storage_encode`, `invalid_key` or `storage`.
    pub fn turn_failed(&self, channel_name: &str, error: &StorageError) {
        let kind = match error {
            StorageError::AlreadyHandled { .. } => {
                self.message_dropped(channel_name, "duplicate");
                return;
            }
            StorageError::Sled(_) => "storage_io",
            StorageError::Corrupt { .. } => "storage_corrupt",
            StorageError::Encode(_) => "storage_encode",
            StorageError::InvalidKey(_) => "invalid_key",
            _ => "storage",
        };
        self.error(kind);
    }

    /// Counts a message delivered to a user on `channel` (call it once the platform accepted it).
    pub fn message_out(&self, channel_name: &str) {
        self.messages_out
            .get_or_create(&channel(channel_name))
            .inc();
    }

    /// Counts a user message on `channel` dropped before reaching a turn, and why (`"flood"`,
    /// `"too_long"`, `"blocked"`, ...).
    pub fn message_dropped(&self, channel_name: &str, reason: &'static str) {
        self.messages_dropped
            .get_or_create(&DropLabel {
                channel: channel_name.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Counts an error of `kind` (a fixed name such as `"storage"`, `"telegram_api"`,
    /// `"delivery"`; never a message, which could carry user data).
    pub fn error(&self, kind: &'static str) {
        self.errors
            .get_or_create(&KindLabel {
                kind: kind.to_string(),
            })
            .inc();
    }

    /// Counts a `method` call on `channel` that the platform answered as done but whose answer
    /// could not be read: it counts as done.
    pub fn unparsed_answer(&self, channel_name: &str, method: &'static str) {
        self.unparsed_answers
            .get_or_create(&MethodLabel {
                channel: channel_name.to_string(),
                method: method.to_string(),
            })
            .inc();
    }

    /// Counts a received update on `channel` that could not be read and was skipped.
    pub fn update_skipped(&self, channel_name: &str) {
        self.skipped_updates
            .get_or_create(&channel(channel_name))
            .inc();
    }

    /// Counts a reply on `channel` parked as a dead letter.
    pub fn dead_letter(&self, channel_name: &str) {
        self.dead_letters
            .get_or_create(&channel(channel_name))
            .inc();
    }

    /// Counts a panic caught in `task` (`"worker"`, `"poller"`, …) of `channel`.
    pub fn panic_caught(&self, channel_name: &str, task: &'static str) {
        self.panics
            .get_or_create(&TaskLabel {
                channel: channel_name.to_string(),
                task: task.to_string(),
            })
            .inc();
    }

    /// Records whether `channel` is connected to its platform (shown by `/healthz` and as
    /// `deskbot_channel_up`).
    pub fn set_channel_up(&self, channel_name: &str, up: bool) {
        self.channel_up
            .get_or_create(&channel(channel_name))
            .set(i64::from(up));
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(channel_name.to_string(), up);
    }

    /// Every channel that reported its status, and whether it is up, by name.
    pub fn channels(&self) -> BTreeMap<String, bool> {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sets the open-ticket gauge (done by `/metrics` before encoding, from the store).
    pub fn set_open_tickets(&self, open: u64) {
        self.open_tickets
            .set(i64::try_from(open).unwrap_or(i64::MAX));
    }

    /// Everything, in the Prometheus text format 0.0.4 ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; an error could only come from a broken encoder,
        // and then a partial page is still the most useful answer.
        if prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry).is_err() {
            out.push_str("# encoding failed\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deskbot_engine::dialogue::{Conversation, IntentGuess, Reply};

    fn turn(intent: Option<&str>, outcome: Outcome, ticket: Option<u64>) -> TurnResult {
        TurnResult {
            reply: Reply::text("hi"),
            conversation: Conversation::default(),
            intent: intent.map(|id| IntentGuess {
                id: id.to_string(),
                confidence: 1.0,
            }),
            opened_ticket: ticket,
            outcome,
            act: None,
            priority: false,
        }
    }

    /// The value of the sample line that starts with `series ` (name plus labels).
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    }

    #[test]
    fn turns_and_calls_show_in_the_text_format() {
        let m = Metrics::new();
        m.record_turn(
            "telegram",
            &turn(Some("account_locked"), Outcome::GuideStarted, None),
            Duration::from_millis(3),
        );
        m.record_turn(
            "telegram",
            &turn(None, Outcome::Resolved, None),
            Duration::from_millis(1),
        );
        m.record_turn(
            "discord",
            &turn(Some("talk_to_human"), Outcome::Escalated, Some(7)),
            Duration::from_secs(20),
        );
        m.message_out("telegram");
        m.message_dropped("discord", "flood");
        m.error("storage");
        m.turn_failed("discord", &StorageError::InvalidKey("x".into()));
        m.turn_failed(
            "telegram",
            &StorageError::AlreadyHandled {
                channel: "telegram".into(),
                id: 1,
            },
        );
        m.set_channel_up("telegram", true);
        m.set_channel_up("discord", false);
        m.set_open_tickets(4);
        let text = m.encode();
        let v = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
        assert_eq!(v("deskbot_messages_in_total{channel=\"telegram\"}"), 2.0);
        assert_eq!(v("deskbot_messages_in_total{channel=\"discord\"}"), 1.0);
        assert_eq!(v("deskbot_messages_out_total{channel=\"telegram\"}"), 1.0);
        assert_eq!(
            v("deskbot_messages_dropped_total{channel=\"discord\",reason=\"flood\"}"),
            1.0
        );
        assert_eq!(v("deskbot_intents_total{intent=\"account_locked\"}"), 1.0);
        assert_eq!(v("deskbot_intents_total{intent=\"talk_to_human\"}"), 1.0);
        assert_eq!(v("deskbot_resolutions_total{channel=\"telegram\"}"), 1.0);
        assert_eq!(v("deskbot_escalations_total{channel=\"discord\"}"), 1.0);
        assert_eq!(
            sample(&text, "deskbot_escalations_total{channel=\"telegram\"}"),
            None
        );
        assert_eq!(v("deskbot_errors_total{kind=\"storage\"}"), 1.0);
        assert_eq!(v("deskbot_errors_total{kind=\"invalid_key\"}"), 1.0);
        assert_eq!(
            v("deskbot_messages_dropped_total{channel=\"telegram\",reason=\"duplicate\"}"),
            1.0
        );
        assert_eq!(v("deskbot_channel_up{channel=\"telegram\"}"), 1.0);
        assert_eq!(v("deskbot_channel_up{channel=\"discord\"}"), 0.0);
        assert_eq!(v("deskbot_open_tickets"), 4.0);
        // The histogram: 2 telegram turns, both under 4 ms; the 20 s discord turn only in +Inf.
        assert_eq!(
            v("deskbot_turn_duration_seconds_count{channel=\"telegram\"}"),
            2.0
        );
        assert_eq!(
            v("deskbot_turn_duration_seconds_bucket{channel=\"telegram\",le=\"0.004\"}"),
            2.0
        );
        assert_eq!(
            v("deskbot_turn_duration_seconds_bucket{channel=\"discord\",le=\"8.192\"}"),
            0.0
        );
        assert_eq!(
            v("deskbot_turn_duration_seconds_bucket{channel=\"discord\",le=\"+Inf\"}"),
            1.0
        );
        assert!(text.contains("# TYPE deskbot_turn_duration_seconds histogram"));
        assert_eq!(
            m.channels(),
            BTreeMap::from([("discord".into(), false), ("telegram".into(), true)])
        );
    }
}

//! Sending on Discord: the desk's send loop ([`deskbot_desk::outbox::send::Sender`]) drives
//! [`DiscordSend`], which renders a queued reply into messages at send time
//! ([`outbox::Route`], [`render`]) and posts each with a nonce under `enforce_nonce`, retrying
//! transient failures ([`retry`]) and sorting how it ended ([`poison::outcome`]); plus the
//! direct sends of replies that are not queued (storage apologies).

use std::sync::Arc;

use deskbot_desk::metrics::Metrics;
use deskbot_desk::outbox::send::{Channel, Sent};
use deskbot_engine::dialogue::Reply;
use serenity::all::{
    ButtonStyle, ChannelId, CreateActionRow, CreateAllowedMentions, CreateButton, CreateMessage,
    Http, HttpError, MessageId, MessageReference, Nonce,
};

use crate::outbox::{self, Queued};
use crate::poison;
use crate::render::{self, ButtonSpec, OutMessage, Style};
use crate::retry::{self, Failure, Policy};

/// Discord, as the send loop sees it.
#[derive(Debug, Clone)]
pub struct DiscordSend {
    http: Arc<Http>,
    policy: Policy,
    metrics: Arc<Metrics>,
}

impl DiscordSend {
    /// Posts through `http`, trying each message as hard as `policy` says before it is
    /// parked (or left for the next sweep); unreadable answers are counted in `metrics`.
    pub fn new(http: Arc<Http>, policy: Policy, metrics: Arc<Metrics>) -> Self {
        Self {
            http,
            policy,
            metrics,
        }
    }
}

impl Channel for DiscordSend {
    type Call = Queued;
    const DROPPED: &'static str = "discord_delivery";
    const GONE: &'static str = "discord_target_gone";

    fn name(&self) -> &'static str {
        outbox::CHANNEL
    }

    fn render(&self, route: &serde_json::Value, reply: &Reply, nonce: &str) -> Option<Vec<Queued>> {
        outbox::render_envelope(&deskbot_desk::outbox::Envelope {
            envelope: deskbot_desk::outbox::ENVELOPE_VERSION,
            route: route.clone(),
            reply: reply.clone(),
            nonce: nonce.to_string(),
            done: 0,
        })
    }

    fn decode(&self, payload: &[u8]) -> Option<Queued> {
        Queued::decode(payload)
    }

    async fn send(&self, call: &mut Queued) -> Sent {
        deliver_queued(&self.http, &self.metrics, call, self.policy).await
    }
}

/// Errors worth retrying: 5xx, 429 (when serenity's ratelimiter did not absorb it), timeouts
/// and connection failures.
pub(crate) fn is_transient(e: &serenity::Error) -> bool {
    match e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
            r.status_code.is_server_error() || r.status_code.as_u16() == 429
        }
        serenity::Error::Http(HttpError::Request(r)) => !r.is_builder(),
        serenity::Error::Io(_) => true,
        _ => false,
    }
}

pub(crate) fn allowed_mentions() -> CreateAllowedMentions {
    // Empty `parse`, `users` and `roles`, `replied_user` false: nothing the bot sends pings.
    CreateAllowedMentions::new()
}

pub(crate) fn components(rows: &[Vec<ButtonSpec>]) -> Vec<CreateActionRow> {
    rows.iter()
        .map(|row| {
            CreateActionRow::Buttons(
                row.iter()
                    .map(|b| {
                        CreateButton::new(b.custom_id.clone())
                            .label(b.label.clone())
                            .style(match b.style {
                                Style::Success => ButtonStyle::Success,
                                Style::Primary => ButtonStyle::Primary,
                                Style::Secondary => ButtonStyle::Secondary,
                            })
                    })
                    .collect(),
            )
        })
        .collect()
}

/// The messages for `reply`; none for a silent one ([`render::is_silent`]).
pub(crate) fn rendered(reply: &Reply, owner: u64) -> Vec<OutMessage> {
    if render::is_silent(reply) {
        return Vec::new();
    }
    let (messages, dropped) = render::render_reply(reply, owner);
    if dropped > 0 {
        tracing::warn!(
            dropped,
            "buttons left out: their id is too long or there are too many"
        );
    }
    messages
}

/// Sends `reply` to `channel` as one or more messages (buttons on the last), the first one
/// replying to `reference` when set. Each message carries a nonce derived from `nonce_base`
/// with `enforce_nonce`, so a retry after a lost response cannot post it twice. Unreadable
/// answers are counted in `metrics`.
pub(crate) async fn send_reply(
    http: &Http,
    metrics: &Metrics,
    channel: ChannelId,
    reply: &Reply,
    owner: u64,
    reference: Option<MessageReference>,
    nonce_base: &str,
) {
    let messages = rendered(reply, owner);
    send_messages(
        http, metrics, channel, &messages, owner, reference, nonce_base,
    )
    .await;
}

/// Sends rendered messages in order; stops at the first that cannot be delivered.
pub(crate) async fn send_messages(
    http: &Http,
    metrics: &Metrics,
    channel: ChannelId,
    messages: &[OutMessage],
    owner: u64,
    reference: Option<MessageReference>,
    nonce_base: &str,
) {
    for (i, m) in messages.iter().enumerate() {
        let mut b = CreateMessage::new()
            .content(m.content.clone())
            .allowed_mentions(allowed_mentions())
            .nonce(Nonce::String(format!("{nonce_base}.{i}")))
            .enforce_nonce(true);
        if !m.rows.is_empty() {
            b = b.components(components(&m.rows));
        }
        if i == 0
            && let Some(r) = &reference
        {
            b = b.reference_message(r.clone());
        }
        let r = retry::retry(Policy::DELIVERY, "send message", is_transient, || {
            channel.send_message(http, b.clone())
        })
        .await;
        if let Some(e) = undelivered(metrics, "createMessage", r) {
            tracing::error!(
                channel = channel.get(),
                user = owner,
                part = i + 1,
                error = %e,
                "could not deliver a reply"
            );
            return;
        }
    }
}

/// Sends one queued message (retrying transient failures up to `policy`; an unreadable answer
/// is counted in `metrics`).
pub(crate) async fn deliver_queued(
    http: &Http,
    metrics: &Metrics,
    q: &Queued,
    policy: Policy,
) -> Sent {
    let Some(channel) = std::num::NonZeroU64::new(q.channel).map(ChannelId::from) else {
        return Sent::Park("createMessage: channel id 0".into());
    };
    let mut b = CreateMessage::new()
        .content(q.message.content.clone())
        .allowed_mentions(allowed_mentions())
        .nonce(Nonce::String(q.nonce.clone()))
        .enforce_nonce(true);
    if !q.message.rows.is_empty() {
        b = b.components(components(&q.message.rows));
    }
    if let Some(m) = q.reply_to.and_then(std::num::NonZeroU64::new) {
        let mut r = MessageReference::from((channel, MessageId::from(m)));
        r.fail_if_not_exists = Some(false);
        b = b.reference_message(r);
    }
    let r = retry::retry(policy, "send message", is_transient, || {
        channel.send_message(http, b.clone())
    })
    .await;
    poison::outcome(metrics, "createMessage", r)
}

/// Why a `method` call did not go through, or `None` when it did. A response serenity could
/// not decode still means Discord accepted the message: sending it again (or elsewhere) would
/// duplicate it; it is counted in `metrics` and logged once ([`poison::unreadable_answer`]).
pub(crate) fn undelivered<T>(
    metrics: &Metrics,
    method: &'static str,
    r: Result<T, Failure<serenity::Error>>,
) -> Option<String> {
    match r {
        Ok(_) => None,
        Err(Failure::Error { error, .. }) if poison::unreadable_answer(metrics, method, &error) => {
            None
        }
        Err(e) => Some(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use deskbot_engine::dialogue::Button;

    use super::*;

    #[test]
    fn a_silent_reply_renders_to_nothing_and_queues_nothing() {
        for text in ["", "  \n "] {
            let silent = Reply::text(text);
            assert!(render::is_silent(&silent));
            assert!(rendered(&silent, 7).is_empty(), "{text:?}");
            assert!(outbox::queue(5, rendered(&silent, 7), Some(9), "n").is_empty());
        }
        // Text, or buttons alone, are not silent.
        assert_eq!(rendered(&Reply::text("hi"), 7).len(), 1);
        let buttons = Reply {
            text: String::new(),
            buttons: vec![Button {
                id: "1:yes".into(),
                label: "Yes".into(),
            }],
        };
        assert!(!render::is_silent(&buttons));
        assert_eq!(rendered(&buttons, 7).len(), 1);
    }
}

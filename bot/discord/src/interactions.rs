//! Answering interactions: acknowledging within Discord's 3 seconds, refusing, and
//! delivering a reply to a command or button press.

use deskbot_desk::metrics::Metrics;
use deskbot_engine::dialogue::Reply;
use serenity::all::{
    ChannelId, CreateInteractionResponse, CreateInteractionResponseFollowup,
    CreateInteractionResponseMessage, EditInteractionResponse, Http, HttpError,
};

use super::render;
use super::retry::{self, Failure, Policy};
use crate::sending::{
    allowed_mentions, components, is_transient, rendered, send_messages, send_reply, undelivered,
};

/// Discord's error code for "Interaction has already been acknowledged": a retried
/// acknowledgement whose first attempt did arrive.
pub(crate) const ALREADY_ACKNOWLEDGED: isize = 40060;

pub(crate) fn refusal(text: &str) -> CreateInteractionResponse {
    CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content(render::escape_markdown(text))
            .ephemeral(true)
            .allowed_mentions(allowed_mentions()),
    )
}

pub(crate) fn defer(ephemeral: bool) -> CreateInteractionResponse {
    CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new().ephemeral(ephemeral))
}

/// Answers an interaction right away with an ephemeral refusal.
pub(crate) async fn refuse<F, Fut>(id: u64, what: &str, call: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = serenity::Result<()>>,
{
    if let Err(e) = retry::retry(Policy::ACK, "refuse interaction", is_transient, call).await {
        tracing::warn!(interaction = id, refusal = what, error = %e, "could not answer an interaction");
    }
}

/// Acknowledges an interaction within Discord's 3 seconds; false when that failed.
pub(crate) async fn acknowledge<F, Fut>(ephemeral: bool, call: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = serenity::Result<()>>,
{
    match retry::retry(Policy::ACK, "acknowledge interaction", is_transient, call).await {
        Ok(()) => true,
        Err(Failure::Error {
            error: serenity::Error::Http(HttpError::UnsuccessfulRequest(r)),
            ..
        }) if r.error.code == ALREADY_ACKNOWLEDGED => true,
        Err(e) => {
            tracing::warn!(
                ephemeral,
                error = %e,
                "could not acknowledge an interaction{}",
                if ephemeral { "" } else { "; answering in the channel instead" }
            );
            false
        }
    }
}

/// Where an interaction's answer goes.
pub(crate) struct Respond<'a> {
    /// Where unreadable answers are counted (the desk's).
    pub(crate) metrics: &'a Metrics,
    pub(crate) token: &'a str,
    pub(crate) acked: bool,
    pub(crate) ephemeral: bool,
    pub(crate) channel: ChannelId,
    pub(crate) nonce: String,
}

impl Respond<'_> {
    /// Fills the deferred response with the first message and sends the rest as follow-ups;
    /// falls back to plain channel messages (when the answer is not private) if the
    /// interaction cannot be used.
    pub(crate) async fn deliver(&self, http: &Http, reply: &Reply, owner: u64) {
        if !self.acked {
            send_reply(
                http,
                self.metrics,
                self.channel,
                reply,
                owner,
                None,
                &self.nonce,
            )
            .await;
            return;
        }
        let messages = rendered(reply, owner);
        if messages.is_empty() {
            // Nothing to say (an ignored message): remove the "thinking…" placeholder.
            if let Err(e) = http.delete_original_interaction_response(self.token).await {
                tracing::warn!(error = %e, "could not remove a deferred interaction response");
            }
            return;
        }
        for (i, m) in messages.iter().enumerate() {
            let r = if i == 0 {
                let mut b = EditInteractionResponse::new()
                    .content(m.content.clone())
                    .allowed_mentions(allowed_mentions());
                if !m.rows.is_empty() {
                    b = b.components(components(&m.rows));
                }
                retry::retry(
                    Policy::DELIVERY,
                    "fill interaction response",
                    is_transient,
                    || http.edit_original_interaction_response(self.token, &b, vec![]),
                )
                .await
            } else {
                let mut b = CreateInteractionResponseFollowup::new()
                    .content(m.content.clone())
                    .allowed_mentions(allowed_mentions())
                    .ephemeral(self.ephemeral);
                if !m.rows.is_empty() {
                    b = b.components(components(&m.rows));
                }
                retry::retry(Policy::DELIVERY, "send follow-up", is_transient, || {
                    http.create_followup_message(self.token, &b, vec![])
                })
                .await
            };
            let method = if i == 0 {
                "editOriginalInteractionResponse"
            } else {
                "createFollowupMessage"
            };
            if let Some(e) = undelivered(self.metrics, method, r) {
                tracing::error!(
                    user = owner,
                    channel = self.channel.get(),
                    part = i + 1,
                    error = %e,
                    "could not deliver an interaction reply{}",
                    if self.ephemeral { "" } else { "; sending the rest to the channel" }
                );
                if !self.ephemeral {
                    send_messages(
                        http,
                        self.metrics,
                        self.channel,
                        &messages[i..],
                        owner,
                        None,
                        &self.nonce,
                    )
                    .await;
                }
                return;
            }
        }
    }
}

//! The turn function: state × input → reply × new state.
//!
//! [`Engine::turn_with`] interprets the input ([`Event`]), then hands it to the part of the
//! policy for the conversation's phase: [`answers`] (the user answers a guide step, an offer
//! or a choice), [`topics`] (a new message outside a guide), [`ticket`] (a ticket is open).
//! [`guide`] moves through a guide's steps; [`tone`] keeps replies humane (frustration
//! acknowledged once, never the same reply twice in a row).

mod actions;
mod answers;
mod guide;
mod language;
mod ticket;
mod tone;
mod topics;

use super::{
    Analysis, Button, Conversation, Engine, Escalation, Input, IntentGuess, Outcome, Phase, Rating,
    Reply, Turn, TurnContext, texts,
};
use crate::acts::ActGuess;
use actions::Action;

/// The most characters of a typed message the engine reads: beyond this it asks for a
/// shorter description instead (the classifier looks at no more than this anyway).
pub const MAX_INPUT_CHARS: usize = crate::normalize::MAX_CHARS;

/// The most characters of a typed message kept for the transcript (masked); the rest of a
/// longer message is dropped before masking.
pub const MAX_KEPT_CHARS: usize = 4_000;

/// The input, interpreted.
enum Event {
    Empty,
    TooLong,
    Command(String),
    /// `/language`, with what follows it (a code or a language's name), if anything.
    Language(Option<String>),
    Stale,
    Action(Action),
    Text(Analysis),
}

/// A turn under construction.
struct Draft<'c> {
    conv: Conversation,
    reply: Reply,
    intent: Option<IntentGuess>,
    escalation: Option<Escalation>,
    outcome: Outcome,
    forget: bool,
    rating: Option<(u64, Rating)>,
    act: Option<ActGuess>,
    ctx: &'c TurnContext,
    /// What the bot says, in the conversation's language.
    t: texts::Texts<'c>,
    /// The message is clearly in a language the catalog lacks.
    unsupported: bool,
    /// The previous reply's hash (to avoid saying the same thing twice in a row).
    previous_reply: u64,
}

impl Draft<'_> {
    fn say(&mut self, text: impl Into<String>) {
        self.reply = Reply::text(text);
    }

    /// Puts `lead` before the reply's text (a blank line between).
    fn lead(&mut self, lead: &str) {
        self.reply.text = if self.reply.text.is_empty() {
            lead.to_string()
        } else {
            format!("{lead}\n\n{}", self.reply.text)
        };
    }

    fn button(&mut self, action: Action, label: &str) {
        self.reply.buttons.push(Button {
            id: format!("{}:{}", self.conv.turn, action.code()),
            label: label.to_string(),
        });
    }

    /// The first of `variants` that differs from the previous reply.
    fn say_varied(&mut self, variants: &[String]) {
        let pick = variants
            .iter()
            .find(|v| tone::hash(v) != self.previous_reply)
            .or(variants.first())
            .cloned()
            .unwrap_or_default();
        self.say(pick);
    }
}

impl Engine {
    /// Runs one turn of a conversation with no knowledge of time or queue. Pure: the same
    /// state and input give the same turn.
    pub fn turn(&self, conv: &Conversation, input: &Input) -> Turn {
        self.turn_with(conv, input, &TurnContext::default())
    }

    /// Runs one turn of a conversation. Pure: the same state, input and context give the
    /// same turn.
    pub fn turn_with(&self, conv: &Conversation, input: &Input, ctx: &TurnContext) -> Turn {
        let mut has_secret = false;
        let user_text = match input {
            Input::Text(t) => {
                // Only the start of a very long message is kept (and so masked): masking a
                // megabyte would cost more than the turn is worth.
                // One character more than is kept, so the caller still sees it was cut.
                let kept = match t.char_indices().nth(MAX_KEPT_CHARS + 1) {
                    Some((cut, _)) => &t[..cut],
                    None => t.as_str(),
                };
                let (masked, found) = crate::redact::mask_secrets(kept);
                has_secret = found;
                masked
            }
            Input::Button(id) => conv
                .buttons
                .iter()
                .find(|b| &b.id == id)
                .map_or_else(|| format!("[button {id}]"), |b| b.label.clone()),
        };
        // The message's language, found once: it picks the models that read the message and
        // the language the reply is in.
        let identified = match input {
            Input::Text(raw) if !raw.trim_start().starts_with('/') => {
                Some(self.langid.identify(raw))
            }
            _ => None,
        };
        let event = self.interpret(conv, input, identified.as_ref());
        let mut next = conv.clone();
        next.turn = conv.turn.wrapping_add(1);
        let paused = match (conv.last_seen_secs, ctx.now_secs) {
            (Some(before), Some(now)) => {
                now.saturating_sub(before) >= self.catalog.settings.resume_after_minutes * 60
            }
            _ => false,
        };
        if ctx.now_secs.is_some() {
            next.last_seen_secs = ctx.now_secs;
        }
        let mut d = Draft {
            conv: next,
            reply: Reply::default(),
            intent: None,
            escalation: None,
            outcome: Outcome::None,
            forget: false,
            rating: None,
            act: None,
            ctx,
            t: texts::Texts::new(&self.catalog, None),
            unsupported: false,
            previous_reply: conv.last_reply,
        };
        self.set_language(&mut d, conv, identified);
        let nearest = match &event {
            Event::Text(a) => a.ranked.first().cloned(),
            _ => None,
        };
        let frustrated = match (&event, input) {
            (Event::Text(a), Input::Text(raw)) => {
                d.intent = a.top().cloned();
                d.act = a.act;
                // Anger reads in the message's language and in English, which people swear
                // in everywhere.
                let lang = a.language.as_deref();
                tone::frustrated(raw, &[self.cues(lang), self.cues(None)])
            }
            // A typed button label ("No, still stuck", "2") is that answer as typed.
            (Event::Action(action), Input::Text(_)) => {
                let act = match action {
                    Action::Yes => Some(crate::acts::Act::Affirm),
                    Action::No => Some(crate::acts::Act::Deny),
                    Action::Human => Some(crate::acts::Act::Human),
                    _ => None,
                };
                d.act = act.map(|act| ActGuess {
                    act,
                    confidence: 1.0,
                });
                false
            }
            _ => false,
        };
        self.decide(&mut d, event, paused);
        if frustrated && !d.conv.soothed && !d.forget {
            d.conv.soothed = true;
            d.lead(d.t.s("soothe"));
        }
        if has_secret && !d.conv.warned_secrets && !d.forget {
            d.conv.warned_secrets = true;
            d.reply.text = format!("{}\n\n{}", d.reply.text, d.t.s("secret_warning"));
        }
        tone::never_twice(&mut d);
        d.conv.last_reply = tone::hash(&d.reply.text);
        d.conv.buttons = d.reply.buttons.clone();
        let priority = d.escalation.as_ref().is_some_and(|e| e.priority)
            || d.conv.ticket().is_some() && d.conv.priority;
        Turn {
            conversation: d.conv,
            reply: d.reply,
            intent: d.intent,
            escalation: d.escalation,
            outcome: d.outcome,
            user_text,
            forget: d.forget,
            rating: d.rating,
            act: d.act,
            priority,
            nearest,
        }
    }

    /// Records that the escalation of the last turn opened ticket `number`, at `position` in
    /// the queue, and returns the reply that tells the user.
    pub fn ticket_opened(&self, conv: &mut Conversation, number: u64, position: usize) -> Reply {
        conv.phase = Phase::Escalated { ticket: number };
        conv.tried.clear();
        conv.misses = 0;
        conv.buttons.clear();
        let t = texts::Texts::new(&self.catalog, conv.language.as_deref());
        let reply = Reply::text(t.ticket_opened(number, position));
        conv.last_reply = tone::hash(&reply.text);
        reply
    }

    /// Records that staff closed the conversation's ticket, and returns what to tell the user:
    /// the close, with 👍 / 👎 buttons that rate the help (a press comes back as
    /// [`Turn::rating`]; typing anything else just goes on with the conversation).
    pub fn ticket_closed(&self, conv: &mut Conversation, number: u64) -> Reply {
        conv.phase = Phase::Idle;
        conv.priority = false;
        conv.last_intent = None;
        conv.turn = conv.turn.wrapping_add(1);
        let t = texts::Texts::new(&self.catalog, conv.language.as_deref());
        let mut reply = Reply::text(t.ticket_closed(number));
        for (rating, label) in [
            (Rating::Up, texts::RATE_UP),
            (Rating::Down, texts::RATE_DOWN),
        ] {
            reply.buttons.push(Button {
                id: format!(
                    "{}:{}",
                    conv.turn,
                    Action::Rate {
                        ticket: number,
                        rating
                    }
                    .code()
                ),
                label: label.to_string(),
            });
        }
        conv.buttons = reply.buttons.clone();
        conv.last_reply = tone::hash(&reply.text);
        reply
    }

    /// What to say to a user whose messages come too fast (flood control, run by the caller):
    /// they are ignored for `mute_secs` seconds.
    pub fn slow_down_reply(&self, conv: &Conversation, mute_secs: u64) -> Reply {
        Reply::text(texts::Texts::new(&self.catalog, conv.language.as_deref()).slow_down(mute_secs))
    }

    /// A sentence of the bot's in the conversation's language (English when the language
    /// lacks it): `key` is one of [`crate::catalog::STRING_KEYS`], `args` fill its
    /// placeholders. For what the caller says itself (a staff message's prefix, a ticket
    /// closed elsewhere).
    pub fn say(
        &self,
        conv: &Conversation,
        key: &str,
        args: &[(&str, &dyn std::fmt::Display)],
    ) -> String {
        texts::Texts::new(&self.catalog, conv.language.as_deref()).fill(key, args)
    }

    fn interpret(
        &self,
        conv: &Conversation,
        input: &Input,
        identified: Option<&crate::langid::Identified>,
    ) -> Event {
        match input {
            Input::Button(id) => {
                let Some((turn, code)) = id.split_once(':') else {
                    return Event::Stale;
                };
                if turn.parse::<u64>().ok() != Some(conv.turn) {
                    return Event::Stale;
                }
                match Action::parse(code) {
                    // Deleting data and rating a ticket act only through a button the bot
                    // offered in its last reply, never through a guessed id.
                    Some(Action::ForgetYes | Action::Rate { .. })
                        if !conv.buttons.iter().any(|b| &b.id == id) =>
                    {
                        Event::Stale
                    }
                    Some(a) => Event::Action(a),
                    None => Event::Stale,
                }
            }
            Input::Text(raw) if raw.chars().nth(MAX_INPUT_CHARS).is_some() => Event::TooLong,
            Input::Text(raw) => {
                let lang = self.message_language(conv, identified);
                let analysis = self.analyze_in(raw, lang.as_deref());
                let n = analysis.normalised.as_str();
                if n.is_empty() {
                    return Event::Empty;
                }
                if let Some(cmd) = n.strip_prefix('/') {
                    let word = cmd.split([' ', '@']).next().unwrap_or_default();
                    if matches!(word, "language" | "lang" | "languages") {
                        let arg = cmd
                            .split_once(' ')
                            .map(|(_, a)| a.trim().to_string())
                            .filter(|a| !a.is_empty());
                        return Event::Language(arg);
                    }
                    return Event::Command(word.to_string());
                }
                // A typed button number or label presses that button.
                if let Ok(k) = n.parse::<usize>()
                    && let Some(b) = k.checked_sub(1).and_then(|i| conv.buttons.get(i))
                {
                    return self.interpret(conv, &Input::Button(b.id.clone()), None);
                }
                if let Some(b) = conv
                    .buttons
                    .iter()
                    .find(|b| crate::normalize::normalize(&b.label) == n)
                {
                    return self.interpret(conv, &Input::Button(b.id.clone()), None);
                }
                Event::Text(analysis)
            }
        }
    }

    fn decide<'c>(&'c self, d: &mut Draft<'c>, event: Event, paused: bool) {
        // Deleting one's data and rating work in every phase, an open ticket included.
        let event = match event {
            Event::Command(c) if c == "forget" => return self.ask_forget(d),
            Event::Text(a) if super::forget::wants_forget(&a.normalised) => {
                return self.ask_forget(d);
            }
            Event::Action(Action::ForgetYes) => return self.forget(d),
            Event::Action(Action::ForgetNo) => return self.keep(d),
            Event::Language(arg) => return self.choose_language(d, arg.as_deref()),
            Event::Action(Action::Language(code)) => return self.set_language_to(d, &code),
            Event::Text(_) if d.unsupported && d.conv.ticket().is_none() => {
                return self.unsupported_language(d);
            }
            Event::Action(Action::Rate { ticket, rating }) => {
                d.rating = Some((ticket, rating));
                d.outcome = Outcome::Rated;
                d.say(d.t.s("rated"));
                return;
            }
            other => other,
        };
        if let Phase::Escalated { ticket } = d.conv.phase {
            return self.in_ticket(d, ticket, event);
        }
        match event {
            Event::Empty => {
                d.say(d.t.s("empty"));
                self.reoffer(d);
            }
            Event::TooLong => {
                d.say(d.t.s("too_long"));
                self.reoffer(d);
            }
            Event::Stale => {
                self.prompt(d);
                d.lead(d.t.s("stale_button"));
            }
            Event::Command(c) => self.command(d, &c),
            Event::Language(arg) => self.choose_language(d, arg.as_deref()),
            Event::Action(a) => self.act(d, a),
            Event::Text(a) => self.text(d, &a, paused),
        }
    }

    fn command<'c>(&'c self, d: &mut Draft<'c>, command: &str) {
        match command {
            "start" => {
                self.reset(d);
                d.say(d.t.help());
            }
            "help" => {
                d.say(d.t.help());
            }
            "reset" => {
                let was_idle = d.conv.phase == Phase::Idle;
                self.reset(d);
                d.say(if was_idle {
                    d.t.s("nothing_to_reset")
                } else {
                    d.t.s("reset")
                });
            }
            "human" => self.escalate(d, super::EscalationReason::Requested),
            other => d.say(d.t.unknown_command(&format!("/{other}"))),
        }
    }

    /// Asks to confirm `/forget`, keeping the conversation where it is.
    fn ask_forget<'c>(&'c self, d: &mut Draft<'c>) {
        d.intent = None;
        d.act = None;
        d.say(d.t.forget_confirm(d.conv.ticket()));
        d.button(Action::ForgetYes, d.t.s("yes_delete"));
        d.button(Action::ForgetNo, d.t.s("no_keep"));
    }

    /// `/forget` confirmed: the caller deletes the stored data; the conversation starts over.
    fn forget<'c>(&'c self, d: &mut Draft<'c>) {
        d.forget = true;
        d.outcome = Outcome::Forgotten;
        // Only the turn counter carries on (buttons stay tied to turns); the caller stores
        // nothing of this state and deletes what it had.
        d.conv = Conversation {
            turn: d.conv.turn,
            ..Conversation::default()
        };
        d.say(d.t.s("forgotten"));
    }

    /// `/forget` cancelled: nothing changes; say where the conversation is.
    fn keep<'c>(&'c self, d: &mut Draft<'c>) {
        if d.conv.phase == Phase::Idle {
            d.say(d.t.s("forget_kept"));
        } else {
            self.prompt(d);
            d.lead(d.t.s("forget_kept"));
        }
    }

    /// Leaves whatever is under way; the problem is forgotten.
    fn reset<'c>(&'c self, d: &mut Draft<'c>) {
        d.conv.phase = Phase::Idle;
        d.conv.tried.clear();
        d.conv.misses = 0;
        d.conv.last_intent = None;
        d.conv.soothed = false;
    }

    /// Says where the conversation is, with fresh buttons (after a stale press or an answer
    /// that fits nothing).
    fn prompt<'c>(&'c self, d: &mut Draft<'c>) {
        match d.conv.phase.clone() {
            Phase::Guide { intent, step } => self.show_step(d, &intent, step),
            Phase::OfferHuman {
                exhausted_guide, ..
            } => {
                match exhausted_guide
                    .as_deref()
                    .and_then(|g| self.catalog.intent(g))
                {
                    Some(i) => d.say(d.t.exhausted(i)),
                    None => d.say(d.t.s("missed_twice")),
                }
                self.offer_buttons(d);
            }
            Phase::Suggest { options } => {
                d.say(d.t.s("not_sure_meant"));
                for id in options {
                    if let Some(i) = self.catalog.intent(&id) {
                        let label = d.t.title(i).to_string();
                        d.button(Action::Intent(id), &label);
                    }
                }
                d.button(Action::NoneOfThese, d.t.s("something_else"));
            }
            Phase::Resume { intent, step } => self.welcome_back(d, &intent, step, None),
            Phase::Escalated { ticket } => d.say(d.t.ticket_still_open(ticket)),
            Phase::Idle => d.say(d.t.greeting()),
        }
    }

    /// After an empty or too long message: keep the current buttons available.
    fn reoffer<'c>(&'c self, d: &mut Draft<'c>) {
        if !matches!(d.conv.phase, Phase::Idle) {
            let text = d.reply.text.clone();
            self.prompt(d);
            d.lead(&text);
        }
    }
}

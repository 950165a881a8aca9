//! The turn function: state × input → reply × new state.

use super::words::{self, Answer};
use super::{
    Analysis, Button, Conversation, Engine, Escalation, EscalationReason, Input, IntentGuess,
    Outcome, Phase, Rating, Reply, StepRecord, Turn, texts,
};
use crate::catalog::{Intent, IntentKind};

/// What a button or a typed word asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Yes,
    No,
    Back,
    Restart,
    Human,
    Decline,
    Intent(String),
    NoneOfThese,
    /// "ok": heard; in a guide, wait for the result.
    Ack,
    /// Confirms `/forget`: delete everything stored about the user.
    ForgetYes,
    /// Cancels `/forget`.
    ForgetNo,
    /// Rates closed ticket `ticket`.
    Rate {
        ticket: u64,
        rating: Rating,
    },
}

/// The most characters of a typed message the engine reads: beyond this it asks for a
/// shorter description instead (the classifier looks at no more than this anyway).
pub const MAX_INPUT_CHARS: usize = crate::normalize::MAX_CHARS;

impl Action {
    fn code(&self) -> String {
        match self {
            Self::Yes => "yes".into(),
            Self::No => "no".into(),
            Self::Back => "back".into(),
            Self::Restart => "restart".into(),
            Self::Human => "human".into(),
            Self::Decline => "decline".into(),
            Self::Intent(id) => format!("intent:{id}"),
            Self::NoneOfThese => "none".into(),
            Self::Ack => "ok".into(),
            Self::ForgetYes => "forget_yes".into(),
            Self::ForgetNo => "forget_no".into(),
            Self::Rate { ticket, rating } => format!(
                "rate:{ticket}:{}",
                match rating {
                    Rating::Up => "up",
                    Rating::Down => "down",
                }
            ),
        }
    }

    fn parse(code: &str) -> Option<Self> {
        Some(match code {
            "yes" => Self::Yes,
            "no" => Self::No,
            "back" => Self::Back,
            "restart" => Self::Restart,
            "human" => Self::Human,
            "decline" => Self::Decline,
            "none" => Self::NoneOfThese,
            "forget_yes" => Self::ForgetYes,
            "forget_no" => Self::ForgetNo,
            other => {
                if let Some(rest) = other.strip_prefix("rate:") {
                    let (ticket, rating) = rest.split_once(':')?;
                    let rating = match rating {
                        "up" => Rating::Up,
                        "down" => Rating::Down,
                        _ => return None,
                    };
                    return Some(Self::Rate {
                        ticket: ticket.parse().ok()?,
                        rating,
                    });
                }
                Self::Intent(other.strip_prefix("intent:")?.to_string())
            }
        })
    }

    fn from_answer(a: Answer) -> Self {
        match a {
            Answer::Yes => Self::Yes,
            Answer::No => Self::No,
            Answer::Back => Self::Back,
            Answer::Restart => Self::Restart,
            Answer::Ack => Self::Ack,
        }
    }
}

/// The input, interpreted.
enum Event {
    Empty,
    TooLong,
    Command(String),
    Stale,
    Action(Action),
    Text(Analysis),
}

/// A turn under construction.
struct Draft {
    conv: Conversation,
    reply: Reply,
    intent: Option<IntentGuess>,
    escalation: Option<Escalation>,
    outcome: Outcome,
    forget: bool,
    rating: Option<(u64, Rating)>,
}

impl Draft {
    fn say(&mut self, text: impl Into<String>) {
        self.reply = Reply::text(text);
    }

    fn button(&mut self, action: Action, label: &str) {
        self.reply.buttons.push(Button {
            id: format!("{}:{}", self.conv.turn, action.code()),
            label: label.to_string(),
        });
    }
}

impl Engine {
    /// Runs one turn of a conversation. Pure: the same state and input give the same turn.
    pub fn turn(&self, conv: &Conversation, input: &Input) -> Turn {
        let mut has_secret = false;
        let user_text = match input {
            Input::Text(t) => {
                let (masked, found) = crate::redact::mask_secrets(t);
                has_secret = found;
                masked
            }
            Input::Button(id) => conv
                .buttons
                .iter()
                .find(|b| &b.id == id)
                .map_or_else(|| format!("[button {id}]"), |b| b.label.clone()),
        };
        let event = self.interpret(conv, input);
        let mut next = conv.clone();
        next.turn = conv.turn.wrapping_add(1);
        let mut d = Draft {
            conv: next,
            reply: Reply::default(),
            intent: None,
            escalation: None,
            outcome: Outcome::None,
            forget: false,
            rating: None,
        };
        if let Event::Text(a) = &event {
            d.intent = a.top().cloned();
        }
        self.decide(&mut d, event);
        if has_secret && !d.conv.warned_secrets {
            d.conv.warned_secrets = true;
            d.reply.text = format!("{}\n\n{}", d.reply.text, texts::SECRET_WARNING);
        }
        d.conv.buttons = d.reply.buttons.clone();
        Turn {
            conversation: d.conv,
            reply: d.reply,
            intent: d.intent,
            escalation: d.escalation,
            outcome: d.outcome,
            user_text,
            forget: d.forget,
            rating: d.rating,
        }
    }

    /// Records that the escalation of the last turn opened ticket `number`, at `position` in
    /// the queue, and returns the reply that tells the user.
    pub fn ticket_opened(&self, conv: &mut Conversation, number: u64, position: usize) -> Reply {
        conv.phase = Phase::Escalated { ticket: number };
        conv.tried.clear();
        conv.misses = 0;
        conv.buttons.clear();
        Reply::text(texts::ticket_opened(number, position))
    }

    /// Records that staff closed the conversation's ticket, and returns what to tell the user:
    /// the close, with 👍 / 👎 buttons that rate the help (a press comes back as
    /// [`Turn::rating`]; typing anything else just goes on with the conversation).
    pub fn ticket_closed(&self, conv: &mut Conversation, number: u64) -> Reply {
        conv.phase = Phase::Idle;
        conv.turn = conv.turn.wrapping_add(1);
        let mut reply = Reply::text(texts::ticket_closed(number));
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
        reply
    }

    /// What to say to a user whose messages come too fast (flood control, run by the caller):
    /// they are ignored for `mute_secs` seconds.
    pub fn slow_down_reply(&self, mute_secs: u64) -> Reply {
        Reply::text(texts::slow_down(mute_secs))
    }

    fn interpret(&self, conv: &Conversation, input: &Input) -> Event {
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
                let analysis = self.analyze(raw);
                let n = analysis.normalised.as_str();
                if n.is_empty() {
                    return Event::Empty;
                }
                if let Some(cmd) = n.strip_prefix('/') {
                    let word = cmd.split([' ', '@']).next().unwrap_or_default();
                    return Event::Command(word.to_string());
                }
                // A typed button number or label presses that button.
                if let Ok(k) = n.parse::<usize>()
                    && let Some(b) = k.checked_sub(1).and_then(|i| conv.buttons.get(i))
                {
                    return self.interpret(conv, &Input::Button(b.id.clone()));
                }
                if let Some(b) = conv
                    .buttons
                    .iter()
                    .find(|b| crate::normalize::normalize(&b.label) == n)
                {
                    return self.interpret(conv, &Input::Button(b.id.clone()));
                }
                Event::Text(analysis)
            }
        }
    }

    fn decide(&self, d: &mut Draft, event: Event) {
        // Deleting one's data and rating work in every phase, an open ticket included.
        let event = match event {
            Event::Command(c) if c == "forget" => return self.ask_forget(d),
            Event::Text(a) if words::wants_forget(&a.normalised) => return self.ask_forget(d),
            Event::Action(Action::ForgetYes) => return self.forget(d),
            Event::Action(Action::ForgetNo) => return self.keep(d),
            Event::Action(Action::Rate { ticket, rating }) => {
                d.rating = Some((ticket, rating));
                d.outcome = Outcome::Rated;
                d.say(texts::RATED);
                return;
            }
            other => other,
        };
        if let Phase::Escalated { ticket } = d.conv.phase {
            d.intent = None;
            match event {
                Event::Command(c) if c == "help" => d.say(format!(
                    "{}\n\n{}",
                    texts::help(&self.catalog),
                    texts::ticket_still_open(ticket)
                )),
                Event::Command(_) | Event::Stale | Event::Empty => {
                    d.say(texts::ticket_still_open(ticket))
                }
                // The transcript keeps the start of it (cut) for staff.
                Event::Action(_) | Event::Text(_) | Event::TooLong => {
                    d.say(texts::added_to_ticket(ticket));
                    d.outcome = Outcome::AddedToTicket;
                }
            }
            return;
        }
        match event {
            Event::Empty => {
                d.say(texts::EMPTY);
                self.reoffer(d);
            }
            Event::TooLong => {
                d.say(texts::TOO_LONG);
                self.reoffer(d);
            }
            Event::Stale => {
                let mut prompt = Draft {
                    conv: d.conv.clone(),
                    reply: Reply::default(),
                    intent: None,
                    escalation: None,
                    outcome: Outcome::None,
                    forget: false,
                    rating: None,
                };
                self.prompt(&mut prompt);
                d.reply = prompt.reply;
                d.reply.text = format!("{}\n\n{}", texts::STALE_BUTTON, d.reply.text);
            }
            Event::Command(c) => self.command(d, &c),
            Event::Action(a) => self.act(d, a),
            Event::Text(a) => self.text(d, &a),
        }
    }

    fn command(&self, d: &mut Draft, command: &str) {
        match command {
            "start" => {
                self.reset(d);
                d.say(texts::help(&self.catalog));
            }
            "help" => {
                d.say(texts::help(&self.catalog));
            }
            "reset" => {
                let was_idle = d.conv.phase == Phase::Idle;
                self.reset(d);
                d.say(if was_idle {
                    texts::NOTHING_TO_RESET
                } else {
                    texts::RESET
                });
            }
            "human" => self.escalate(d, EscalationReason::Requested),
            other => d.say(texts::unknown_command(&self.catalog, &format!("/{other}"))),
        }
    }

    /// Asks to confirm `/forget`, keeping the conversation where it is.
    fn ask_forget(&self, d: &mut Draft) {
        d.intent = None;
        d.say(texts::forget_confirm(d.conv.ticket()));
        d.button(Action::ForgetYes, texts::YES_DELETE);
        d.button(Action::ForgetNo, texts::NO_KEEP);
    }

    /// `/forget` confirmed: the caller deletes the stored data; the conversation starts over.
    fn forget(&self, d: &mut Draft) {
        d.forget = true;
        d.outcome = Outcome::Forgotten;
        // Only the turn counter carries on (buttons stay tied to turns); the caller stores
        // nothing of this state and deletes what it had.
        d.conv = Conversation {
            turn: d.conv.turn,
            ..Conversation::default()
        };
        d.say(texts::FORGOTTEN);
    }

    /// `/forget` cancelled: nothing changes; say where the conversation is.
    fn keep(&self, d: &mut Draft) {
        if d.conv.phase == Phase::Idle {
            d.say(texts::FORGET_KEPT);
        } else {
            self.prompt(d);
            d.reply.text = format!("{}\n\n{}", texts::FORGET_KEPT, d.reply.text);
        }
    }

    fn reset(&self, d: &mut Draft) {
        d.conv.phase = Phase::Idle;
        d.conv.tried.clear();
        d.conv.misses = 0;
    }

    fn act(&self, d: &mut Draft, action: Action) {
        let phase = d.conv.phase.clone();
        match (action, phase) {
            (Action::Human, Phase::OfferHuman { exhausted_guide }) => {
                let reason = if exhausted_guide.is_some() {
                    EscalationReason::GuideExhausted
                } else {
                    EscalationReason::NotUnderstood
                };
                self.escalate(d, reason);
            }
            (Action::Yes | Action::Ack, Phase::OfferHuman { .. }) => self.act(d, Action::Human),
            (Action::Ack, Phase::Guide { intent, step }) => {
                self.show_step(d, &intent, step);
                d.reply.text = format!("{}\n\n{}", texts::TAKE_YOUR_TIME, d.reply.text);
            }
            (Action::Human, _) => self.escalate(d, EscalationReason::Requested),
            (Action::Yes, Phase::Guide { .. }) => self.resolved(d),
            (Action::No, Phase::Guide { intent, step }) => self.next_step(d, &intent, step, "no"),
            (Action::Back, Phase::Guide { intent, step }) => {
                self.show_step(d, &intent, step.saturating_sub(1))
            }
            (Action::Restart, Phase::Guide { intent, .. }) => self.show_step(d, &intent, 0),
            (Action::Decline | Action::No, Phase::OfferHuman { .. }) => {
                self.reset(d);
                d.say(texts::DECLINED_PERSON);
            }
            (Action::Intent(id), _) => match self.catalog.intent(&id) {
                Some(intent) => {
                    let guess = IntentGuess {
                        id,
                        confidence: 1.0,
                    };
                    d.conv.last_intent = Some(guess.clone());
                    d.intent = Some(guess);
                    self.act_on_intent(d, intent.clone());
                }
                None => self.prompt(d),
            },
            (Action::NoneOfThese | Action::No, Phase::Suggest { .. }) => {
                self.reset_keep_misses(d);
                self.missed(d, texts::NO_SUGGESTION_FITS.to_string());
            }
            (Action::Yes, Phase::Suggest { options }) if options.len() == 1 => {
                self.act(d, Action::Intent(options[0].clone()))
            }
            _ => self.prompt(d),
        }
    }

    fn reset_keep_misses(&self, d: &mut Draft) {
        d.conv.phase = Phase::Idle;
    }

    fn text(&self, d: &mut Draft, a: &Analysis) {
        let settings = &self.catalog.settings;
        let answer = words::answer(&a.normalised);
        let words_count = a.normalised.split(' ').count();
        let top = a.top();
        let confident = top.filter(|g| a.by_pattern || g.confidence >= settings.confident);
        let in_guide = matches!(d.conv.phase, Phase::Guide { .. });
        let expects_answer = matches!(
            d.conv.phase,
            Phase::Guide { .. } | Phase::OfferHuman { .. } | Phase::Suggest { .. }
        );

        // A clear topic in a longer message wins over a leading "no" ("no, I forgot my
        // password"); a short answer wins over any topic guess.
        let topical = confident.filter(|g| {
            words_count >= 3
                && self
                    .catalog
                    .intent(&g.id)
                    .is_some_and(|i| matches!(i.kind, IntentKind::Guide | IntentKind::Handoff))
        });
        if expects_answer
            && let Some(ans) = answer
            && topical.is_none()
        {
            d.intent = None;
            self.act(d, Action::from_answer(ans));
            return;
        }
        if let Some(guess) = confident {
            let Some(intent) = self.catalog.intent(&guess.id).cloned() else {
                return self.prompt(d);
            };
            d.conv.misses = 0;
            if intent.kind == IntentKind::Guide || intent.kind == IntentKind::Handoff {
                d.conv.last_intent = Some(guess.clone());
            }
            if let Phase::Guide {
                intent: current,
                step,
            } = &d.conv.phase
                && *current == intent.id
            {
                let (current, step) = (current.clone(), *step);
                self.show_step(d, &current, step);
                return;
            }
            self.act_on_intent(d, intent);
            return;
        }
        if in_guide {
            d.intent = top.cloned();
            if let Phase::Guide { intent, step } = d.conv.phase.clone()
                && let Some(i) = self.catalog.intent(&intent)
            {
                d.say(texts::not_an_answer(i, step));
                self.guide_buttons(d);
                return;
            }
        }
        // In scope but unsure: offer the best candidates.
        if top.is_some() {
            let options: Vec<&Intent> = a
                .ranked
                .iter()
                .filter(|g| g.confidence >= settings.suggest)
                .filter_map(|g| self.catalog.intent(&g.id))
                .filter(|i| matches!(i.kind, IntentKind::Guide | IntentKind::Handoff))
                .take(3)
                .collect();
            if !options.is_empty() {
                d.conv.phase = Phase::Suggest {
                    options: options.iter().map(|i| i.id.clone()).collect(),
                };
                d.say(texts::NOT_SURE_MEANT);
                for i in options {
                    let label = if i.kind == IntentKind::Handoff {
                        texts::TALK_TO_PERSON
                    } else {
                        i.title.as_str()
                    };
                    d.button(Action::Intent(i.id.clone()), label);
                }
                d.button(Action::NoneOfThese, texts::SOMETHING_ELSE);
                return;
            }
        }
        d.outcome = Outcome::OutOfScope;
        d.intent = None;
        if !matches!(d.conv.phase, Phase::OfferHuman { .. }) {
            d.conv.phase = Phase::Idle;
        }
        self.missed(d, texts::out_of_scope(&self.catalog));
    }

    /// Counts a miss; the second in a row offers a person instead of `text`.
    fn missed(&self, d: &mut Draft, text: String) {
        d.conv.misses = d.conv.misses.saturating_add(1);
        if d.conv.misses >= 2 {
            d.conv.phase = Phase::OfferHuman {
                exhausted_guide: None,
            };
            d.say(texts::MISSED_TWICE);
            d.button(Action::Human, texts::YES_PERSON);
            d.button(Action::Decline, texts::NO_THANKS);
        } else {
            d.say(text);
        }
    }

    fn act_on_intent(&self, d: &mut Draft, intent: Intent) {
        match intent.kind {
            IntentKind::Guide => {
                d.outcome = Outcome::GuideStarted;
                self.show_step(d, &intent.id, 0);
            }
            IntentKind::Handoff => self.escalate(d, EscalationReason::Requested),
            IntentKind::Greeting => {
                if let Phase::Guide { intent, step } = d.conv.phase.clone() {
                    self.show_step(d, &intent, step);
                    d.reply.text = format!("Hi again! {}", d.reply.text);
                } else {
                    d.conv.phase = Phase::Idle;
                    d.say(texts::greeting(&self.catalog));
                }
            }
            IntentKind::Thanks => {
                if matches!(d.conv.phase, Phase::Guide { .. }) {
                    self.resolved(d);
                } else {
                    d.conv.phase = Phase::Idle;
                    d.say(texts::YOU_ARE_WELCOME);
                }
            }
            IntentKind::Goodbye => {
                self.reset(d);
                d.say(texts::GOODBYE);
            }
        }
    }

    fn show_step(&self, d: &mut Draft, intent_id: &str, step: usize) {
        let Some(intent) = self.catalog.intent(intent_id) else {
            self.reset(d);
            return self.prompt(d);
        };
        let step = step.min(intent.steps.len().saturating_sub(1));
        d.conv.phase = Phase::Guide {
            intent: intent.id.clone(),
            step,
        };
        d.say(texts::step(intent, step));
        self.guide_buttons(d);
    }

    fn guide_buttons(&self, d: &mut Draft) {
        d.button(Action::Yes, texts::YES_FIXED);
        d.button(Action::No, texts::NO_STUCK);
        d.button(Action::Human, texts::TALK_TO_PERSON);
    }

    fn next_step(&self, d: &mut Draft, intent_id: &str, step: usize, answer: &str) {
        let Some(intent) = self.catalog.intent(intent_id) else {
            self.reset(d);
            return self.prompt(d);
        };
        d.conv.tried.push(StepRecord {
            guide: intent.id.clone(),
            step: step + 1,
            text: intent.steps.get(step).cloned().unwrap_or_default(),
            answer: answer.to_string(),
        });
        if step + 1 < intent.steps.len() {
            self.show_step(d, intent_id, step + 1);
        } else {
            d.conv.phase = Phase::OfferHuman {
                exhausted_guide: Some(intent.id.clone()),
            };
            d.say(texts::exhausted(intent));
            d.button(Action::Human, texts::YES_PERSON);
            d.button(Action::Decline, texts::NO_THANKS);
        }
    }

    fn resolved(&self, d: &mut Draft) {
        self.reset(d);
        d.outcome = Outcome::Resolved;
        d.say(texts::RESOLVED);
    }

    fn escalate(&self, d: &mut Draft, reason: EscalationReason) {
        d.escalation = Some(Escalation {
            reason,
            intent: d.conv.last_intent.clone(),
            steps_tried: d.conv.tried.clone(),
        });
        d.outcome = Outcome::Escalated;
        d.say("Opening a ticket for you…");
    }

    /// Says where the conversation is, with fresh buttons (after a stale press or an answer
    /// that fits nothing).
    fn prompt(&self, d: &mut Draft) {
        match d.conv.phase.clone() {
            Phase::Guide { intent, step } => self.show_step(d, &intent, step),
            Phase::OfferHuman { exhausted_guide } => {
                match exhausted_guide
                    .as_deref()
                    .and_then(|g| self.catalog.intent(g))
                {
                    Some(i) => d.say(texts::exhausted(i)),
                    None => d.say(texts::MISSED_TWICE),
                }
                d.button(Action::Human, texts::YES_PERSON);
                d.button(Action::Decline, texts::NO_THANKS);
            }
            Phase::Suggest { options } => {
                d.say(texts::NOT_SURE_MEANT);
                for id in options {
                    if let Some(i) = self.catalog.intent(&id) {
                        let label = i.title.clone();
                        d.button(Action::Intent(id), &label);
                    }
                }
                d.button(Action::NoneOfThese, texts::SOMETHING_ELSE);
            }
            Phase::Escalated { ticket } => d.say(texts::ticket_still_open(ticket)),
            Phase::Idle => d.say(texts::greeting(&self.catalog)),
        }
    }

    /// After an empty message: keep the current buttons available.
    fn reoffer(&self, d: &mut Draft) {
        if !matches!(d.conv.phase, Phase::Idle) {
            let text = d.reply.text.clone();
            self.prompt(d);
            d.reply.text = format!("{text}\n\n{}", d.reply.text);
        }
    }
}

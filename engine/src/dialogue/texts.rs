//! What the bot says. Kept in one place so the tone is consistent and easy to review.

use crate::catalog::{Catalog, Intent, Step};

pub(crate) const YES_FIXED: &str = "Yes, that fixed it";
pub(crate) const NO_STUCK: &str = "No, still stuck";
pub(crate) const TALK_TO_PERSON: &str = "Talk to a person";
pub(crate) const YES_PERSON: &str = "Yes, connect me";
pub(crate) const NO_THANKS: &str = "No, thanks";
pub(crate) const SOMETHING_ELSE: &str = "Something else";

pub(crate) fn topics(catalog: &Catalog) -> String {
    let mut s = String::new();
    for g in catalog.guides() {
        s.push_str("• ");
        s.push_str(&g.title);
        s.push_str(": ");
        s.push_str(&g.description);
        s.push('\n');
    }
    s
}

pub(crate) fn help(catalog: &Catalog) -> String {
    format!(
        "I'm {name}. I can help with {scope}. Describe what happens when you try, in your own words, and I'll walk you through it one step at a time.\n\nTopics I know:\n{topics}\nCommands: /help shows this, /reset leaves the current guide, /human asks for a person, /forget deletes what I have stored about you.",
        name = catalog.settings.bot_name,
        scope = catalog.settings.scope,
        topics = topics(catalog),
    )
}

pub(crate) fn greeting(catalog: &Catalog) -> String {
    format!(
        "Hi! I'm {}. I can help with {}. What happens when you try to sign in?",
        catalog.settings.bot_name, catalog.settings.scope
    )
}

/// The step's text with its tip, without the title or the question.
pub(crate) fn step_body(step: &Step) -> String {
    match &step.tip {
        Some(tip) => format!("{}\nTip: {tip}", step.text),
        None => step.text.clone(),
    }
}

pub(crate) fn step(intent: &Intent, step: usize) -> String {
    let body = intent.steps.get(step).map(step_body).unwrap_or_default();
    format!(
        "{title}\nStep {n} of {total}: {body}\n\n{FIXED_QUESTION}",
        title = intent.title,
        n = step + 1,
        total = intent.steps.len()
    )
}

pub(crate) const FIXED_QUESTION: &str = "Did that fix it?";

/// The step again in other words (its help text), for a question or an unclear answer.
pub(crate) fn step_help(intent: &Intent, step: usize, lead: &str) -> String {
    let s = intent.steps.get(step);
    let detail = s
        .and_then(|s| s.help.clone())
        .or_else(|| s.map(step_body))
        .unwrap_or_default();
    format!(
        "{lead}\n\nStep {n} of {total} of \"{title}\", in more detail: {detail}\n\nWhen you've tried it, did it fix it?",
        n = step + 1,
        total = intent.steps.len(),
        title = intent.title,
    )
}

pub(crate) const QUESTION_LEAD: &str = "Good question.";
pub(crate) const MISS_LEAD: &str = "Sorry, I didn't quite follow.";

pub(crate) fn unsure(intent: &Intent, step: usize) -> String {
    format!(
        "That's fine. The simplest check: try signing in again now. If you get in, it's fixed; if you see the same problem, it isn't.\n\n{}",
        self::step(intent, step)
    )
}

pub(crate) const ACK_LEADS: [&str; 3] = [
    "Okay, take your time. When you've tried it, tell me whether it worked.",
    "Alright. Once you've done it, try signing in: did it work, or are you still stuck?",
    "Thanks. Let me know how it goes: did that step solve it?",
];

pub(crate) const ALREADY_TRIED_LEAD: &str = "Thanks, then we'll skip that one.";
pub(crate) const DENY_LEAD: &str = "Okay, let's try the next thing.";
pub(crate) const DENY_LEAD_ALT: &str = "Understood. Next step:";

pub(crate) const LEFT_GUIDE: &str = "Okay, I've stopped the guide. If you'd like to pick it up again, just tell me what happens when you try to sign in.";
pub(crate) const STOP_IDLE: &str =
    "Okay. I'm here whenever you need help signing in to your Mi account.";

pub(crate) const MISSED_IN_GUIDE: &str = "I'm having trouble understanding your answers, sorry. Would you like me to pass this to a person from our support team? They'll see the steps you've already tried.";
pub(crate) const KEEP_TRYING: &str = "No, let's keep trying";
pub(crate) const KEEP_GOING_LEAD: &str = "Okay, let's keep going.";

pub(crate) fn welcome_back(intent: &Intent, step: usize) -> String {
    format!(
        "Welcome back. Last time we were on step {n} of \"{title}\". Would you like to continue from there, start over, or talk to a person?",
        n = step + 1,
        title = intent.title
    )
}

pub(crate) const CONTINUE: &str = "Continue";
pub(crate) const START_OVER: &str = "Start over";

pub(crate) fn high_risk_lead() -> &'static str {
    "This needs quick action, so please do these steps now. I can also bring in a person from our support team right away: tap \"Talk to a person\"."
}

pub(crate) fn person_offered_lead() -> &'static str {
    "A person from our support team can help with this too: tap \"Talk to a person\" at any time."
}

pub(crate) const SOOTHE: &str = "Sorry, I know this is frustrating.";

pub(crate) const VAGUE: &str =
    "I'd like to help. Which of these is closest to what happens when you try to sign in?";

pub(crate) fn unknown_code(code: &str) -> String {
    format!(
        "I don't have information on error {code}, sorry. To point you to the right steps: which of these is closest to what happens?"
    )
}

pub(crate) fn unknown_code_with_guide(code: &str) -> String {
    format!(
        "I don't have information on error {code}, but from what you describe, this guide should help."
    )
}

pub(crate) const NO_TICKET_STATUS: &str = "You don't have an open ticket at the moment. Tell me what happens when you try to sign in and I'll help, or tap \"Talk to a person\".";

pub(crate) const OK_IDLE: &str =
    "Okay. Tell me what happens when you try to sign in to your Mi account, and I'll help.";

pub(crate) const GLAD: &str = "Glad to hear it. If anything else comes up, just write to me.";

pub(crate) fn exhausted(intent: &Intent) -> String {
    format!(
        "That was the last step I have for \"{}\". I'm sorry it didn't solve it. Would you like me to pass this to a person from our support team? They'll see what you've already tried.",
        intent.title
    )
}

pub(crate) const KEEP_PROTECTING: &str =
    "Good. Please do the remaining steps too, so whoever got in cannot do it again:";
pub(crate) const RESOLVED: &str =
    "Great, I'm glad you're back in! If anything else comes up, just write to me.";
pub(crate) const DECLINED_PERSON: &str = "Okay. If you'd like to try something else, describe the problem and I'll look for another guide.";
pub(crate) const RESET: &str = "Okay, I've left that guide. Describe your problem whenever you're ready, or type /help to see the topics.";
pub(crate) const NOTHING_TO_RESET: &str =
    "There's nothing under way to reset. Describe your problem, or type /help to see the topics.";
pub(crate) const EMPTY: &str =
    "I didn't catch any words there. Could you describe the problem in a sentence?";
pub(crate) const STALE_BUTTON: &str =
    "That button belongs to an earlier message, so I've ignored it. Here's where we are:";
pub(crate) const SECRET_WARNING: &str = "Please don't share passwords or verification codes in this chat: nobody from support will ever ask for them. I've hidden what looked like one from our records.";
pub(crate) const YOU_ARE_WELCOME: &str = "You're welcome! Anything else I can help with?";
pub(crate) const GOODBYE: &str = "Goodbye! Write to me any time you need help signing in.";
pub(crate) const NOT_SURE_MEANT: &str = "I'm not sure which of these you mean. Is it one of these?";
pub(crate) const NOT_SURE_MEANT_AGAIN: &str =
    "Could you pick the closest one below, or tell me a bit more?";
pub(crate) const NO_SUGGESTION_FITS: &str = "Sorry I guessed wrong. Could you describe what happens when you try to sign in, in a bit more detail?";
pub(crate) const MISSED_TWICE: &str = "I'm having trouble understanding, sorry. Would you like me to pass this to a person from our support team?";

pub(crate) const OUT_OF_SCOPE: &str = "Sorry, that's outside what I can help with: I help with signing in to your Mi account. Is it one of these?";
pub(crate) const OUT_OF_SCOPE_AGAIN: &str =
    "I can only help with Mi account sign-in problems. Does one of these fit?";

pub(crate) fn unknown_command(catalog: &Catalog, command: &str) -> String {
    format!("I don't know the command {command}.\n\n{}", help(catalog))
}

pub(crate) fn ticket_opened(number: u64, position: usize) -> String {
    let queue = if position <= 1 {
        "You're next in the queue.".to_string()
    } else {
        format!("You're number {position} in the queue.")
    };
    format!(
        "I've opened ticket #{number} for you. {queue} A person from our support team will reply right here. Anything you write now is added to your ticket.\n\nPlease never share your password or verification codes with anyone, including us: support will never ask for them."
    )
}

pub(crate) fn added_to_ticket(number: u64, variant: usize) -> String {
    match variant % 2 {
        0 => format!(
            "Thanks, I've added that to ticket #{number}. A person from our support team will reply here."
        ),
        _ => format!("Added to ticket #{number} as well. Our support team will see it."),
    }
}

pub(crate) fn ticket_still_open(number: u64) -> String {
    format!(
        "Your ticket #{number} is still open, so I've left it with our support team. They'll reply here; anything you write is added to the ticket."
    )
}

fn queue(position: Option<usize>) -> String {
    match position {
        Some(0 | 1) => "You're next in the queue.".into(),
        Some(p) => format!("You're number {p} in the queue."),
        None => "You're in the queue.".into(),
    }
}

pub(crate) fn ticket_status(number: u64, position: Option<usize>, variant: usize) -> String {
    let queue = queue(position);
    match variant % 2 {
        0 => format!(
            "Your ticket #{number} is with our support team and they've been notified. {queue} A person will reply in this chat; I've added your message to the ticket."
        ),
        _ => format!(
            "Ticket #{number} is still waiting for a person from our support team. {queue} I can't give an exact time, but they answer in order and will reply right here."
        ),
    }
}

pub(crate) const HERE: &str = "Yes, I'm here.";

pub(crate) fn already_with_person(number: u64, position: Option<usize>) -> String {
    format!(
        "You're already waiting for a person: ticket #{number}. {} They'll reply here.",
        queue(position)
    )
}

pub(crate) fn ticket_closed(number: u64) -> String {
    format!(
        "Ticket #{number} has been closed by our support team. Was this helpful? Tap or send 👍 or 👎. If you still need help, describe the problem and I'll start again."
    )
}

pub(crate) const YES_DELETE: &str = "Yes, delete";
pub(crate) const NO_KEEP: &str = "No, keep";
pub(crate) const RATE_UP: &str = "👍";
pub(crate) const RATE_DOWN: &str = "👎";

pub(crate) fn forget_confirm(open_ticket: Option<u64>) -> String {
    let ticket = match open_ticket {
        Some(n) => format!(" Your open ticket #{n} will be closed first."),
        None => String::new(),
    };
    format!(
        "Do you want me to delete everything I've stored about you? That is this conversation, its history, and your name and messages in your support tickets (only the ticket numbers and topics stay, for statistics).{ticket} This can't be undone."
    )
}

pub(crate) const FORGOTTEN: &str = "Done: I've deleted everything I had stored about you. If you write again, I'll start from scratch.";
pub(crate) const FORGET_KEPT: &str = "Okay, I haven't deleted anything.";
pub(crate) const RATED: &str =
    "Thank you for your feedback. If you need help with anything else, just describe the problem.";
pub(crate) const TOO_LONG: &str =
    "That message is too long for me to read. Could you describe the problem in a few sentences?";

pub(crate) fn slow_down(mute_secs: u64) -> String {
    format!(
        "You're sending messages very quickly, so I'll pause for {mute_secs} seconds and ignore what arrives meanwhile. Then write to me again, one message at a time."
    )
}

pub(crate) const OFFER_EXPLAINED: &str = "A person from our support team would read what you've told me and the steps you've tried, and reply in this chat. Would you like that?";
pub(crate) const OFFER_AGAIN: &str =
    "Shall I pass this to a person from our support team? Tap one of the buttons below.";

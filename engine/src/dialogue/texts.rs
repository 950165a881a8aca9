//! What the bot says. Kept in one place so the tone is consistent and easy to review.

use crate::catalog::{Catalog, Intent};

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

pub(crate) fn step(intent: &Intent, step: usize) -> String {
    let text = intent
        .steps
        .get(step)
        .map(String::as_str)
        .unwrap_or_default();
    format!(
        "{title}\nStep {n} of {total}: {text}\n\nDid that fix it?",
        title = intent.title,
        n = step + 1,
        total = intent.steps.len()
    )
}

pub(crate) fn exhausted(intent: &Intent) -> String {
    format!(
        "That was the last step I have for \"{}\". I'm sorry it didn't solve it. Would you like me to pass this to a person from our support team? They'll see what you've already tried.",
        intent.title
    )
}

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
pub(crate) const TAKE_YOUR_TIME: &str =
    "Take your time. Tell me when you've tried it; here's the step again:";
pub(crate) const YOU_ARE_WELCOME: &str = "You're welcome! Anything else I can help with?";
pub(crate) const GOODBYE: &str = "Goodbye! Write to me any time you need help signing in.";
pub(crate) const NOT_SURE_MEANT: &str = "I'm not sure which of these you mean. Is it one of these?";
pub(crate) const NO_SUGGESTION_FITS: &str = "Sorry I guessed wrong. Could you describe what happens when you try to sign in, in a bit more detail?";
pub(crate) const MISSED_TWICE: &str = "I'm having trouble understanding, sorry. Would you like me to pass this to a person from our support team?";

pub(crate) fn out_of_scope(catalog: &Catalog) -> String {
    let titles: Vec<&str> = catalog.guides().map(|g| g.title.as_str()).collect();
    format!(
        "Sorry, that's outside what I can help with. I handle {}: {}. Could you describe your sign-in problem?",
        catalog.settings.scope,
        titles.join(", ")
    )
}

pub(crate) fn not_an_answer(intent: &Intent, step: usize) -> String {
    format!(
        "I didn't quite get that. We're on step {} of {} of \"{}\". Did that step fix it? You can also type /reset to leave this guide.",
        step + 1,
        intent.steps.len(),
        intent.title
    )
}

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

pub(crate) fn added_to_ticket(number: u64) -> String {
    format!(
        "Thanks, I've added that to ticket #{number}. A person from our support team will reply here."
    )
}

pub(crate) fn ticket_still_open(number: u64) -> String {
    format!(
        "Your ticket #{number} is still open, so I've left it with our support team. They'll reply here; anything you write is added to the ticket."
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
    "Thank you for your feedback! If you need help with anything else, just describe the problem.";
pub(crate) const TOO_LONG: &str =
    "That message is too long for me to read. Could you describe the problem in a few sentences?";

pub(crate) fn slow_down(mute_secs: u64) -> String {
    format!(
        "You're sending messages very quickly, so I'll pause for {mute_secs} seconds and ignore what arrives meanwhile. Then write to me again, one message at a time."
    )
}

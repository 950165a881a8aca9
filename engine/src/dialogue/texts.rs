//! What the bot says, in the user's language. The words are data (`intents/lang/*/strings.toml`,
//! see [`crate::catalog::STRING_KEYS`]); this module fills in their placeholders and composes
//! the few replies made of several strings. A string a language lacks is said in English.

use std::fmt::Display;

use crate::catalog::{Catalog, Intent, Language, Step};

/// The strings of one language, with English behind them.
#[derive(Clone, Copy)]
pub(crate) struct Texts<'a> {
    catalog: &'a Catalog,
    lang: &'a Language,
}

impl<'a> Texts<'a> {
    /// The texts of language `code` (English when it is `None` or not in the catalog).
    pub(crate) fn new(catalog: &'a Catalog, code: Option<&str>) -> Self {
        let lang = code
            .and_then(|c| catalog.language(c))
            .unwrap_or_else(|| catalog.english());
        Self { catalog, lang }
    }

    /// The string `key`: this language's, else English's (every key is in English: the catalog
    /// refuses an English without one).
    pub(crate) fn s(&self, key: &str) -> &'a str {
        self.lang
            .string(key)
            .or_else(|| self.catalog.english().string(key))
            .unwrap_or("")
    }

    /// The string `key` with its `{placeholders}` filled in.
    pub(crate) fn fill(&self, key: &str, args: &[(&str, &dyn Display)]) -> String {
        fill(self.s(key), args)
    }

    /// An intent's title in this language.
    pub(crate) fn title(&self, intent: &'a Intent) -> &'a str {
        self.lang
            .intents
            .get(&intent.id)
            .map_or(intent.title.as_str(), |t| t.title.as_str())
    }

    /// An intent's description in this language.
    pub(crate) fn description(&self, intent: &'a Intent) -> &'a str {
        self.lang
            .intents
            .get(&intent.id)
            .map_or(intent.description.as_str(), |t| t.description.as_str())
    }

    /// A guide's steps in this language (English when they are not translated).
    pub(crate) fn steps(&self, intent: &'a Intent) -> &'a [Step] {
        match self.lang.intents.get(&intent.id) {
            Some(t) if t.steps.len() == intent.steps.len() => &t.steps,
            _ => &intent.steps,
        }
    }

    fn scope(&self) -> &'a str {
        self.s("scope")
    }

    pub(crate) fn topics(&self) -> String {
        let mut s = String::new();
        for g in self.catalog.guides() {
            s.push_str("• ");
            s.push_str(self.title(g));
            s.push_str(": ");
            s.push_str(self.description(g));
            s.push('\n');
        }
        s
    }

    pub(crate) fn help(&self) -> String {
        self.fill(
            "help",
            &[
                ("name", &self.catalog.settings.bot_name),
                ("scope", &self.scope()),
                ("topics", &self.topics()),
            ],
        )
    }

    pub(crate) fn greeting(&self) -> String {
        self.fill(
            "greeting",
            &[
                ("name", &self.catalog.settings.bot_name),
                ("scope", &self.scope()),
            ],
        )
    }

    /// The step's text with its tip, without the title or the question.
    pub(crate) fn step_body(&self, step: &Step) -> String {
        match &step.tip {
            Some(tip) => format!("{}\n{}", step.text, self.fill("tip", &[("tip", tip)])),
            None => step.text.clone(),
        }
    }

    pub(crate) fn step(&self, intent: &'a Intent, step: usize) -> String {
        let steps = self.steps(intent);
        let body = steps
            .get(step)
            .map(|s| self.step_body(s))
            .unwrap_or_default();
        format!(
            "{}\n\n{}",
            self.fill(
                "step",
                &[
                    ("title", &self.title(intent)),
                    ("n", &(step + 1)),
                    ("total", &steps.len()),
                    ("body", &body),
                ],
            ),
            self.s("fixed_question")
        )
    }

    /// The step again in other words (its help text), for a question or an unclear answer.
    pub(crate) fn step_help(&self, intent: &'a Intent, step: usize, lead: &str) -> String {
        let steps = self.steps(intent);
        let s = steps.get(step);
        let detail = s
            .and_then(|s| s.help.clone())
            .or_else(|| s.map(|s| self.step_body(s)))
            .unwrap_or_default();
        let middle = self.fill(
            "step_help",
            &[
                ("n", &(step + 1)),
                ("total", &steps.len()),
                ("title", &self.title(intent)),
                ("detail", &detail),
            ],
        );
        format!("{lead}\n\n{middle}\n\n{}", self.s("step_help_question"))
    }

    pub(crate) fn unsure(&self, intent: &'a Intent, step: usize) -> String {
        format!("{}\n\n{}", self.s("unsure"), self.step(intent, step))
    }

    /// The three ways of saying "take your time, tell me whether it worked".
    pub(crate) fn ack_leads(&self) -> [&'a str; 3] {
        [self.s("ack_1"), self.s("ack_2"), self.s("ack_3")]
    }

    pub(crate) fn welcome_back(&self, intent: &'a Intent, step: usize) -> String {
        self.fill(
            "welcome_back",
            &[("n", &(step + 1)), ("title", &self.title(intent))],
        )
    }

    pub(crate) fn unknown_code(&self, code: &str) -> String {
        self.fill("unknown_code", &[("code", &code)])
    }

    pub(crate) fn unknown_code_with_guide(&self, code: &str) -> String {
        self.fill("unknown_code_with_guide", &[("code", &code)])
    }

    pub(crate) fn exhausted(&self, intent: &'a Intent) -> String {
        self.fill("exhausted", &[("title", &self.title(intent))])
    }

    pub(crate) fn unknown_command(&self, command: &str) -> String {
        format!(
            "{}\n\n{}",
            self.fill("unknown_command", &[("command", &command)]),
            self.help()
        )
    }

    fn queue(&self, position: Option<usize>) -> String {
        match position {
            Some(0 | 1) => self.s("queue_next").to_string(),
            Some(p) => self.fill("queue_number", &[("position", &p)]),
            None => self.s("queue_unknown").to_string(),
        }
    }

    pub(crate) fn ticket_opened(&self, number: u64, position: usize) -> String {
        let queue = self.queue(Some(position));
        self.fill("ticket_opened", &[("number", &number), ("queue", &queue)])
    }

    pub(crate) fn added_to_ticket(&self, number: u64, variant: usize) -> String {
        let key = if variant.is_multiple_of(2) {
            "added_to_ticket_1"
        } else {
            "added_to_ticket_2"
        };
        self.fill(key, &[("number", &number)])
    }

    pub(crate) fn ticket_still_open(&self, number: u64) -> String {
        self.fill("ticket_still_open", &[("number", &number)])
    }

    pub(crate) fn ticket_status(
        &self,
        number: u64,
        position: Option<usize>,
        variant: usize,
    ) -> String {
        let key = if variant.is_multiple_of(2) {
            "ticket_status_1"
        } else {
            "ticket_status_2"
        };
        let queue = self.queue(position);
        self.fill(key, &[("number", &number), ("queue", &queue)])
    }

    pub(crate) fn already_with_person(&self, number: u64, position: Option<usize>) -> String {
        let queue = self.queue(position);
        self.fill(
            "already_with_person",
            &[("number", &number), ("queue", &queue)],
        )
    }

    pub(crate) fn ticket_closed(&self, number: u64) -> String {
        self.fill("ticket_closed", &[("number", &number)])
    }

    pub(crate) fn forget_confirm(&self, open_ticket: Option<u64>) -> String {
        let ticket = match open_ticket {
            Some(n) => self.fill("forget_open_ticket", &[("number", &n)]),
            None => String::new(),
        };
        self.fill("forget_confirm", &[("ticket", &ticket)])
    }

    pub(crate) fn slow_down(&self, mute_secs: u64) -> String {
        self.fill("slow_down", &[("secs", &mute_secs)])
    }

    /// The languages the catalog speaks, each in its own name ("English, Español, Русский").
    pub(crate) fn language_list(&self) -> String {
        self.catalog
            .languages
            .iter()
            .map(|l| l.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `template` with each `{name}` of `args` replaced (an unknown `{…}` stays as written).
pub(crate) fn fill(template: &str, args: &[(&str, &dyn Display)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after
            .find('}')
            .and_then(|close| Some((close, args.iter().find(|(n, _)| *n == &after[..close])?)))
        {
            Some((close, (_, value))) => {
                out.push_str(&value.to_string());
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Emoji labels of the rating buttons (the same in every language).
pub(crate) const RATE_UP: &str = "👍";
/// See [`RATE_UP`].
pub(crate) const RATE_DOWN: &str = "👎";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_unknown_braces_kept() {
        assert_eq!(
            fill(
                "#{number} is {state} {x}",
                &[("number", &7), ("state", &"open")]
            ),
            "#7 is open {x}"
        );
        assert_eq!(fill("{", &[]), "{");
        assert_eq!(fill("a{b", &[("b", &1)]), "a{b");
    }

    #[test]
    fn every_string_is_said_in_english_when_a_language_lacks_it() {
        let catalog = Catalog::builtin().expect("built-in catalog");
        let en = Texts::new(&catalog, None);
        for key in crate::catalog::STRING_KEYS {
            assert!(!en.s(key).is_empty(), "English lacks {key}");
        }
        let unknown = Texts::new(&catalog, Some("xx"));
        assert_eq!(unknown.s("goodbye"), en.s("goodbye"));
    }
}

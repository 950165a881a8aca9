//! The conversation's language: found from what the user writes, seeded by the platform,
//! chosen with `/language`, and the answer to a language the bot does not speak.

use super::{Conversation, Draft, Engine, Outcome, Phase, texts::Texts};
use crate::langid::Identified;
use crate::normalize::normalize;

use super::actions::Action;

impl Engine {
    /// Before deciding: a message clearly in one of the catalog's languages switches the
    /// conversation to it; a short or plain one ("ok", "no", an error code) keeps the
    /// conversation's language, or gives a first language when there is none yet.
    pub(super) fn set_language<'c>(
        &'c self,
        d: &mut Draft<'c>,
        conv: &Conversation,
        identified: Option<Identified>,
    ) {
        if let Some(identified) = identified {
            match identified {
                Identified::Known { code, clear } => {
                    if (clear && !conv.language_chosen) || conv.language.is_none() {
                        d.conv.language = Some(code);
                    }
                }
                Identified::Unsupported => d.unsupported = true,
                Identified::Unclear => {}
            }
        }
        d.t = Texts::new(&self.catalog, d.conv.language.as_deref());
    }

    /// The language a message is read in, from what the identifier found in it: its own when
    /// it is clearly one of the catalog's (or the conversation has none yet), else the
    /// conversation's.
    pub(super) fn message_language(
        &self,
        conv: &Conversation,
        identified: Option<&Identified>,
    ) -> Option<String> {
        match identified {
            Some(Identified::Known { code, clear }) if *clear || conv.language.is_none() => {
                Some(code.clone())
            }
            _ => conv.language.clone(),
        }
    }

    /// Sets the language of a new conversation from what the platform says of the user
    /// (Telegram's `language_code`, Discord's `locale`: "pt-BR", "ru", "es-419"), when the
    /// catalog speaks it. A conversation that has a language keeps it. Returns whether it
    /// was set.
    pub fn seed_language(&self, conv: &mut Conversation, locale: &str) -> bool {
        if conv.language.is_some() {
            return false;
        }
        let code = locale
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if self.catalog.language(&code).is_none() {
            return false;
        }
        conv.language = Some(code);
        true
    }

    /// `/language`: with a language's code or name, switches to it; alone (or with a name the
    /// catalog lacks), asks with one button per language.
    pub(super) fn choose_language<'c>(&'c self, d: &mut Draft<'c>, arg: Option<&str>) {
        d.intent = None;
        d.act = None;
        if let Some(arg) = arg {
            let wanted = normalize(arg);
            if let Some(l) = self.catalog.languages.iter().find(|l| {
                l.code == wanted
                    || normalize(&l.name) == wanted
                    || normalize(&l.english_name) == wanted
            }) {
                let code = l.code.clone();
                return self.set_language_to(d, &code);
            }
            d.say(d.t.fill("language_unknown", &[("languages", &d.t.language_list())]));
        } else {
            d.say(d.t.s("language_prompt"));
        }
        for l in &self.catalog.languages {
            d.button(Action::Language(l.code.clone()), &l.name);
        }
    }

    /// A `/language` button (or name): from now on the bot speaks `code`; says so in it and
    /// shows again where the conversation is.
    pub(super) fn set_language_to<'c>(&'c self, d: &mut Draft<'c>, code: &str) {
        if self.catalog.language(code).is_none() {
            return self.choose_language(d, None);
        }
        d.conv.language = Some(code.to_string());
        d.conv.language_chosen = true;
        d.t = Texts::new(&self.catalog, Some(code));
        let set = d.t.s("language_set");
        if d.conv.phase == Phase::Idle {
            d.say(set);
        } else {
            self.prompt(d);
            d.lead(set);
        }
    }

    /// A message in a language the catalog lacks: say, in English, which languages the bot
    /// speaks, and offer a person.
    pub(super) fn unsupported_language<'c>(&'c self, d: &mut Draft<'c>) {
        d.intent = None;
        d.act = None;
        d.outcome = Outcome::UnsupportedLanguage;
        let english = Texts::new(&self.catalog, None);
        d.say(english.fill(
            "unsupported_language",
            &[("languages", &english.language_list())],
        ));
        d.button(Action::Human, english.s("talk_to_person"));
    }
}

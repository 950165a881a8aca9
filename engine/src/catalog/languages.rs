//! The languages the bot speaks: one folder `lang/<code>/` per language with what the bot says
//! (`strings.toml`), the intents' titles and steps (`guides.toml`) and what users write
//! (`examples.toml`). See `intents/lang/README.md`.
//!
//! English is the base: its strings come with the binary (`lang/en/strings.toml` of the
//! built-in catalog) and a catalog may override them; every other language may leave strings
//! out, which then fall back to English one string at a time ([`Catalog::missing_strings`]
//! lists them).

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::cues::Cues;
use super::intent_file::{RawStep, check_examples, fold_steps};
use super::{Catalog, CatalogError, Intent, IntentKind, Settings, Step};
use crate::acts::Act;

/// The folder that holds the languages, inside a catalog directory.
pub const LANG_DIR: &str = "lang";
/// The code of the base language.
pub const ENGLISH: &str = "en";

/// Every string the bot says, by key (the keys of `lang/en/strings.toml`).
pub const STRING_KEYS: &[&str] = &[
    "yes_fixed",
    "no_stuck",
    "talk_to_person",
    "yes_person",
    "no_thanks",
    "something_else",
    "keep_trying",
    "continue",
    "start_over",
    "yes_delete",
    "no_keep",
    "scope",
    "help",
    "greeting",
    "unknown_command",
    "step",
    "tip",
    "fixed_question",
    "step_help",
    "step_help_question",
    "question_lead",
    "miss_lead",
    "unsure",
    "ack_1",
    "ack_2",
    "ack_3",
    "already_tried",
    "deny",
    "deny_alt",
    "left_guide",
    "stop_idle",
    "missed_in_guide",
    "keep_going",
    "welcome_back",
    "high_risk",
    "person_offered",
    "soothe",
    "still_here",
    "vague",
    "unknown_code",
    "unknown_code_with_guide",
    "exhausted",
    "keep_protecting",
    "resolved",
    "glad",
    "declined_person",
    "reset",
    "nothing_to_reset",
    "ok_idle",
    "empty",
    "stale_button",
    "secret_warning",
    "you_are_welcome",
    "goodbye",
    "not_sure_meant",
    "not_sure_meant_again",
    "no_suggestion_fits",
    "missed_twice",
    "out_of_scope",
    "out_of_scope_again",
    "too_long",
    "slow_down",
    "offer_explained",
    "offer_again",
    "queue_next",
    "queue_number",
    "queue_unknown",
    "ticket_opened",
    "added_to_ticket_1",
    "added_to_ticket_2",
    "ticket_still_open",
    "ticket_status_1",
    "ticket_status_2",
    "no_ticket_status",
    "here",
    "already_with_person",
    "ticket_closed",
    "ticket_closed_other",
    "ticket_reopened_other",
    "ticket_idle_warning",
    "rated",
    "support_says",
    "support_named_says",
    "forget_confirm",
    "forget_open_ticket",
    "forgotten",
    "forget_kept",
    "language_prompt",
    "language_set",
    "language_unknown",
    "unsupported_language",
];

/// Strings only English has: said in English whatever the user's language.
pub const ENGLISH_ONLY: &[&str] = &["unsupported_language"];

/// One language the bot speaks.
#[derive(Debug, Clone)]
pub struct Language {
    /// ISO 639-1 code (`es`).
    pub code: String,
    /// The language's own name ("Español"), shown on the `/language` buttons.
    pub name: String,
    /// The language's name in English, for staff and operators.
    pub english_name: String,
    /// The `whatlang` code (ISO 639-3) of a language written in the Latin alphabet.
    pub detect: Option<String>,
    /// What the bot says, by key (see [`STRING_KEYS`]); missing keys fall back to English.
    pub strings: HashMap<String, String>,
    /// Intents' titles, descriptions and steps in this language, by intent id.
    pub intents: HashMap<String, IntentText>,
    /// What users write in this language, by intent id.
    pub examples: BTreeMap<String, Vec<String>>,
    /// Out-of-scope messages in this language.
    pub out_of_scope: Vec<String>,
    /// Answers to a step in this language, by dialogue act.
    pub acts: Vec<(Act, Vec<String>)>,
    /// The words the policy reads answers by (`cues.toml`; empty lists when it has none).
    pub cues: Cues,
    /// Where it was read from (for messages).
    pub dir: String,
}

/// An intent's texts in one language.
#[derive(Debug, Clone, Default)]
pub struct IntentText {
    /// Short title for buttons and `/help`.
    pub title: String,
    /// One line saying what the intent covers.
    pub description: String,
    /// The guide's steps as shown (advice folded in as tips, as in English); empty when the
    /// language does not translate them.
    pub steps: Vec<Step>,
}

impl Language {
    /// The string `key` in this language, if it has one.
    pub fn string(&self, key: &str) -> Option<&str> {
        self.strings.get(key).map(String::as_str)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStrings {
    name: String,
    english_name: String,
    #[serde(default)]
    detect: Option<String>,
    #[serde(default)]
    strings: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntentText {
    title: String,
    description: String,
    #[serde(default)]
    steps: Vec<RawStepText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStepText {
    text: String,
    #[serde(default)]
    help: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExamples {
    #[serde(default)]
    intents: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    acts: BTreeMap<String, Vec<String>>,
}

/// The files of one language folder, as read.
#[derive(Debug, Default)]
pub(super) struct LangFiles<'a> {
    pub(super) strings: Option<(&'a str, &'a str)>,
    pub(super) guides: Option<(&'a str, &'a str)>,
    pub(super) examples: Option<(&'a str, &'a str)>,
    pub(super) cues: Option<(&'a str, &'a str)>,
}

/// Which language file `name` is (`…/lang/<code>/<file>.toml`): the code and the file's
/// base name.
pub(super) fn lang_file(name: &str) -> Option<(&str, &str)> {
    let mut parts = name.rsplit(['/', '\\']);
    let file = parts.next()?;
    let code = parts.next()?;
    (parts.next()? == LANG_DIR).then_some((code, file))
}

fn invalid(file: &str, what: &str, field: &'static str, message: String) -> CatalogError {
    CatalogError::Invalid {
        file: file.to_string(),
        intent: what.to_string(),
        field,
        message,
    }
}

fn placeholders(s: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push(name);
        }
        rest = &after[close + 1..];
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Reads one language folder. `english` is the base strings (to check placeholders against);
/// `None` while English itself is read.
pub(super) fn parse(
    code: &str,
    files: &LangFiles<'_>,
    intents: &[Intent],
    settings: &Settings,
    english: Option<&Language>,
) -> Result<Language, CatalogError> {
    let Some((strings_file, strings_text)) = files.strings else {
        let file = files.guides.or(files.examples).map_or(LANG_DIR, |(n, _)| n);
        return Err(invalid(
            file,
            code,
            "strings",
            format!("the language `{code}` has no strings.toml (its name is set there)"),
        ));
    };
    if code.len() < 2 || code.len() > 3 || !code.chars().all(|c| c.is_ascii_lowercase()) {
        return Err(invalid(
            strings_file,
            code,
            "code",
            "a language folder is named by its ISO 639-1 code (two lowercase letters)".into(),
        ));
    }
    let raw: RawStrings =
        toml::from_str(strings_text).map_err(|e| super::parse_error(strings_file, code, &e))?;
    if raw.name.trim().is_empty() {
        return Err(invalid(
            strings_file,
            code,
            "name",
            "must not be empty".into(),
        ));
    }
    if let Some(d) = &raw.detect
        && whatlang::Lang::from_code(d).is_none()
    {
        return Err(invalid(
            strings_file,
            code,
            "detect",
            format!("`{d}` is not a whatlang language code (ISO 639-3, such as \"spa\")"),
        ));
    }
    for (key, value) in &raw.strings {
        if !STRING_KEYS.contains(&key.as_str()) {
            return Err(invalid(
                strings_file,
                code,
                "strings",
                format!("unknown key `{key}` (the keys are those of lang/en/strings.toml)"),
            ));
        }
        if value.trim().is_empty() {
            return Err(invalid(
                strings_file,
                code,
                "strings",
                format!("`{key}` is empty (leave it out to fall back to English)"),
            ));
        }
        if let Some(base) = english.and_then(|en| en.string(key))
            && placeholders(base) != placeholders(value)
        {
            return Err(invalid(
                strings_file,
                code,
                "strings",
                format!(
                    "`{key}` must have the placeholders of the English string ({}), found ({})",
                    placeholders(base).join(", "),
                    placeholders(value).join(", ")
                ),
            ));
        }
    }
    let mut language = Language {
        code: code.to_string(),
        name: raw.name.trim().to_string(),
        english_name: raw.english_name.trim().to_string(),
        detect: raw.detect,
        strings: raw.strings.into_iter().collect(),
        intents: HashMap::new(),
        examples: BTreeMap::new(),
        out_of_scope: Vec::new(),
        acts: Vec::new(),
        cues: Cues::default(),
        dir: strings_file
            .rsplit_once(['/', '\\'])
            .map_or(strings_file, |(d, _)| d)
            .to_string(),
    };
    if let Some((file, text)) = files.guides {
        language.intents = parse_guides(file, text, intents)?;
    }
    if let Some((file, text)) = files.examples {
        parse_examples(file, text, intents, settings, &mut language)?;
    }
    if let Some((file, text)) = files.cues {
        language.cues = Cues::parse(file, code, text)?;
    }
    Ok(language)
}

fn parse_guides(
    file: &str,
    text: &str,
    intents: &[Intent],
) -> Result<HashMap<String, IntentText>, CatalogError> {
    let raw: BTreeMap<String, RawIntentText> =
        toml::from_str(text).map_err(|e| super::parse_error(file, "guides", &e))?;
    let mut out = HashMap::with_capacity(raw.len());
    for (id, t) in raw {
        let Some(intent) = intents.iter().find(|i| i.id == id) else {
            return Err(invalid(
                file,
                &id,
                "id",
                "no intent of the catalog has this id".into(),
            ));
        };
        if t.title.trim().is_empty() || t.title.chars().count() > 60 {
            return Err(invalid(
                file,
                &id,
                "title",
                "must be 1 to 60 characters".into(),
            ));
        }
        if t.description.trim().is_empty() || t.description.contains('\n') {
            return Err(invalid(
                file,
                &id,
                "description",
                "must be one non-empty line".into(),
            ));
        }
        let steps = if t.steps.is_empty() {
            Vec::new()
        } else if intent.kind != IntentKind::Guide {
            return Err(invalid(file, &id, "steps", "only guides have steps".into()));
        } else if t.steps.len() != intent.step_kinds.len() {
            return Err(invalid(
                file,
                &id,
                "steps",
                format!(
                    "has {} steps; the English guide has {} (one per [[steps]] table, same order)",
                    t.steps.len(),
                    intent.step_kinds.len()
                ),
            ));
        } else {
            let mut raw_steps = Vec::with_capacity(t.steps.len());
            for (i, (s, kind)) in t.steps.into_iter().zip(&intent.step_kinds).enumerate() {
                if s.text.trim().is_empty() {
                    return Err(invalid(
                        file,
                        &id,
                        "steps",
                        format!("step {} is empty", i + 1),
                    ));
                }
                raw_steps.push(RawStep {
                    kind: *kind,
                    text: s.text,
                    help: s.help.filter(|h| !h.trim().is_empty()),
                });
            }
            fold_steps(raw_steps)
        };
        out.insert(
            id,
            IntentText {
                title: t.title.trim().to_string(),
                description: t.description.trim().to_string(),
                steps,
            },
        );
    }
    Ok(out)
}

fn parse_examples(
    file: &str,
    text: &str,
    intents: &[Intent],
    settings: &Settings,
    language: &mut Language,
) -> Result<(), CatalogError> {
    let raw: RawExamples =
        toml::from_str(text).map_err(|e| super::parse_error(file, "examples", &e))?;
    for (id, examples) in raw.intents {
        if id == "out_of_scope" {
            check_examples(
                file,
                &id,
                "intents",
                &examples,
                settings.min_language_other_examples,
            )?;
            language.out_of_scope = examples;
            continue;
        }
        let Some(intent) = intents.iter().find(|i| i.id == id) else {
            return Err(invalid(
                file,
                &id,
                "intents",
                "no intent of the catalog has this id".into(),
            ));
        };
        let min = if intent.kind == IntentKind::Guide {
            settings.min_language_guide_examples
        } else {
            settings.min_language_other_examples
        };
        check_examples(file, &id, "intents", &examples, min)?;
        language.examples.insert(id, examples);
    }
    for (name, examples) in raw.acts {
        let Some(act) = Act::parse(&name) else {
            return Err(invalid(
                file,
                &name,
                "acts",
                format!(
                    "unknown act; the acts are {}",
                    Act::ALL.map(Act::as_str).join(", ")
                ),
            ));
        };
        check_examples(
            file,
            &name,
            "acts",
            &examples,
            settings.min_language_act_examples,
        )?;
        language.acts.push((act, examples));
    }
    Ok(())
}

/// What a language lacks and English fills in: strings, intent texts, steps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Missing {
    /// String keys the language does not translate.
    pub strings: Vec<String>,
    /// Intents whose title and description are not translated.
    pub intents: Vec<String>,
    /// Guides whose steps are not translated.
    pub steps: Vec<String>,
    /// Intents with no examples in this language.
    pub examples: Vec<String>,
}

impl Missing {
    /// Nothing is missing.
    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
            && self.intents.is_empty()
            && self.steps.is_empty()
            && self.examples.is_empty()
    }
}

impl Catalog {
    /// The language with this code, if the catalog has it.
    pub fn language(&self, code: &str) -> Option<&Language> {
        self.languages.iter().find(|l| l.code == code)
    }

    /// Whether the catalog has examples of what users write in the non-English language
    /// `code`: its intents are then learnt from the language's own words, not only carried
    /// over by meaning from English (see [`crate::classifier::cascade`]).
    pub fn has_examples_in(&self, code: &str) -> bool {
        code != ENGLISH
            && self
                .language(code)
                .is_some_and(|l| l.examples.values().any(|e| !e.is_empty()))
    }

    /// The base language (English).
    pub fn english(&self) -> &Language {
        // The catalog always has English first (see `from_files`).
        &self.languages[0]
    }

    /// What each non-English language leaves to English, by language code.
    pub fn missing_strings(&self) -> Vec<(String, Missing)> {
        self.languages
            .iter()
            .skip(1)
            .map(|l| {
                let strings = STRING_KEYS
                    .iter()
                    .filter(|k| !ENGLISH_ONLY.contains(k) && l.string(k).is_none())
                    .map(|k| (*k).to_string())
                    .collect();
                let intents = self
                    .intents
                    .iter()
                    .filter(|i| !l.intents.contains_key(&i.id))
                    .map(|i| i.id.clone())
                    .collect();
                let steps = self
                    .guides()
                    .filter(|i| l.intents.get(&i.id).is_none_or(|t| t.steps.is_empty()))
                    .map(|i| i.id.clone())
                    .collect();
                let examples = self
                    .intents
                    .iter()
                    .filter(|i| !l.examples.contains_key(&i.id))
                    .map(|i| i.id.clone())
                    .collect();
                (
                    l.code.clone(),
                    Missing {
                        strings,
                        intents,
                        steps,
                        examples,
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_in_any_order_once() {
        assert_eq!(placeholders("a {b} {c} {b}"), vec!["b", "c"]);
        assert_eq!(placeholders("no braces { here"), Vec::<&str>::new());
        assert_eq!(placeholders("{ x } {}"), Vec::<&str>::new());
    }

    #[test]
    fn a_language_file_is_recognised_by_its_folder() {
        assert_eq!(
            lang_file("intents/lang/es/strings.toml"),
            Some(("es", "strings.toml"))
        );
        assert_eq!(
            lang_file("lang/ru/guides.toml"),
            Some(("ru", "guides.toml"))
        );
        assert_eq!(lang_file("intents/password_reset.toml"), None);
        assert_eq!(lang_file("strings.toml"), None);
    }
}

//! The intent catalog: what the bot knows about its domain, loaded from TOML files a support
//! lead edits (see `intents/README.md` for the format).
//!
//! Loading is strict on purpose. A typo in a key (`exmaples`) that was silently ignored would
//! leave an intent untrained, and the bot would quietly answer the wrong guide; so every file
//! is checked and the first problem stops start-up with an error that names the file, the
//! intent and the field.

mod acts_file;
pub mod cues;
mod intent_file;
mod languages;

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;
use thiserror::Error;

use crate::acts::Act;
use crate::classifier::TrainingData;
use crate::normalize::normalize;
pub use acts_file::ACTS_FILE;
use intent_file::{RawIntent, RawOutOfScope, check_examples, validate};
pub use languages::{ENGLISH, ENGLISH_ONLY, IntentText, LANG_DIR, Language, Missing, STRING_KEYS};

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_catalog.rs"));
}

/// The name of the catalog-wide settings file.
pub const SETTINGS_FILE: &str = "catalog.toml";
/// The name of the out-of-scope examples file.
pub const OUT_OF_SCOPE_FILE: &str = "out_of_scope.toml";
/// The fewest and most steps a guide may have.
pub const GUIDE_STEPS: std::ops::RangeInclusive<usize> = 3..=7;

/// What an intent does when the classifier picks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentKind {
    /// Walks the user through ordered troubleshooting steps.
    Guide,
    /// The user asks for a person: escalate to human support.
    Handoff,
    /// A greeting: answered with what the bot can do.
    Greeting,
    /// Thanks: ends a guide as resolved, or is acknowledged.
    Thanks,
    /// A farewell: leaves any guide and says goodbye.
    Goodbye,
    /// A vague but in-scope message ("it doesn't work"): answered with one clarifying
    /// question offering the likeliest topics.
    Clarify,
}

impl IntentKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Guide => "guide",
            Self::Handoff => "handoff",
            Self::Greeting => "greeting",
            Self::Thanks => "thanks",
            Self::Goodbye => "goodbye",
            Self::Clarify => "clarify",
        }
    }
}

impl fmt::Display for IntentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One validated intent.
#[derive(Debug, Clone)]
pub struct Intent {
    /// Stable identifier (`password_reset`), used by tools and data sets.
    pub id: String,
    /// What the intent does.
    pub kind: IntentKind,
    /// Short title for buttons and `/help`.
    pub title: String,
    /// One line saying what the intent covers.
    pub description: String,
    /// Training examples, as written in the file.
    pub examples: Vec<String>,
    /// Exact signals that route a message here with full confidence (the `patterns`, and
    /// one per error code in `codes`).
    pub patterns: Vec<Regex>,
    /// Error codes known to mean this intent, each with the source of its meaning.
    pub codes: Vec<ErrorCode>,
    /// The guide's steps as the user sees them: action steps, each with the advice steps
    /// folded into it as a tip (empty for other kinds).
    pub steps: Vec<Step>,
    /// The kind of each `[[steps]]` table as written (translations are folded the same way).
    pub(crate) step_kinds: Vec<intent_file::StepKind>,
    /// High risk (a taken-over account): a person is offered at once and the ticket is
    /// marked priority, first in the queue.
    pub priority: bool,
    /// A person is offered with the guide's first step.
    pub offer_person: bool,
    /// The file the intent came from (for error messages).
    pub file: String,
}

/// One step of a guide, as shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The instruction; the bot asks "Did that fix it?" after it.
    pub text: String,
    /// The same step in other, more detailed words: answers "how?" and "where?" questions.
    pub help: Option<String>,
    /// Advice that cannot fix anything by itself, shown with this step.
    pub tip: Option<String>,
}

/// An error code the catalog knows, and where its meaning comes from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorCode {
    /// The code as users see it (`DEVICE_NOT_RECOGNIZED`, `70016`).
    pub code: String,
    /// What it means.
    pub meaning: String,
    /// Where that meaning was taken from (codes are never given invented meanings).
    pub source: String,
}

/// Catalog-wide settings from `catalog.toml`; every field has a default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The bot's name, used in greetings.
    pub bot_name: String,
    /// What the bot helps with, completing "I can help with …".
    pub scope: String,
    /// Confidence at or above which an in-scope message starts its guide without asking.
    pub confident: f32,
    /// Confidence at or above which an intent is offered as a "did you mean" button.
    pub suggest: f32,
    /// Fewest examples a guide intent needs.
    pub min_guide_examples: usize,
    /// Fewest examples any other intent (and the out-of-scope file) needs.
    pub min_other_examples: usize,
    /// Fewest examples each dialogue act in `acts.toml` needs.
    pub min_act_examples: usize,
    /// Fewest distinct examples per guide in a language's `examples.toml`.
    pub min_language_guide_examples: usize,
    /// Fewest distinct examples per other intent (and out of scope) in a language's
    /// `examples.toml`.
    pub min_language_other_examples: usize,
    /// Fewest distinct examples per dialogue act in a language's `examples.toml`.
    pub min_language_act_examples: usize,
    /// A user who comes back to an unfinished guide after this many minutes is welcomed back
    /// and asked whether to continue.
    pub resume_after_minutes: u64,
    /// The most common guides, most common first: offered as buttons when a message is vague
    /// or out of scope. Empty: the first guides in catalog order.
    pub common_topics: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bot_name: "deskbot".into(),
            scope: "problems signing in to your account".into(),
            confident: 0.5,
            suggest: 0.15,
            min_guide_examples: 30,
            min_other_examples: 20,
            min_act_examples: 30,
            min_language_guide_examples: 20,
            min_language_other_examples: 15,
            min_language_act_examples: 10,
            resume_after_minutes: 30,
            common_topics: Vec::new(),
        }
    }
}

/// A validated catalog: intents, out-of-scope examples and settings.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The intents, sorted by id.
    pub intents: Vec<Intent>,
    /// Examples of messages the bot does not handle.
    pub out_of_scope: Vec<String>,
    /// Catalog-wide settings.
    pub settings: Settings,
    /// Examples of each dialogue act (from `acts.toml`, or the built-in catalog's when the
    /// folder has none: how people answer does not depend on the domain).
    pub acts: Vec<(Act, Vec<String>)>,
    /// The languages the bot speaks, English first (see [`Language`]).
    pub languages: Vec<Language>,
    /// Where the catalog came from (a directory, or `<built-in>`).
    pub origin: String,
}

/// Why a catalog could not be loaded. Every variant names the file.
#[derive(Debug, Error)]
pub enum CatalogError {
    /// The directory or a file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The path that failed.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid TOML, or has an unknown, missing or mistyped field.
    #[error("{file}: intent `{intent}`: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The intent the file defines (its file stem when the id could not be read).
        intent: String,
        /// What is wrong, with the field and the line.
        message: String,
    },
    /// A field's value breaks a rule.
    #[error("{file}: intent `{intent}`, field `{field}`: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// The intent.
        intent: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The catalog has no intents at all.
    #[error("{origin}: the catalog defines no intents")]
    Empty {
        /// The directory.
        origin: String,
    },
}

impl Catalog {
    /// The default Mi-account catalog compiled into the binary from `intents/`.
    pub fn builtin() -> Result<Self, CatalogError> {
        Self::from_files("<built-in>", builtin::BUILTIN_FILES.iter().copied())
    }

    /// Loads every `*.toml` file of `dir`.
    pub fn load_dir(dir: &Path) -> Result<Self, CatalogError> {
        let io = |path: &Path, source| CatalogError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| io(dir, e))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        let lang = dir.join(LANG_DIR);
        if lang.is_dir() {
            let mut folders: Vec<PathBuf> = std::fs::read_dir(&lang)
                .map_err(|e| io(&lang, e))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect();
            folders.sort();
            for folder in folders {
                paths.extend(
                    std::fs::read_dir(&folder)
                        .map_err(|e| io(&folder, e))?
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|e| e == "toml")),
                );
            }
        }
        paths.sort();
        let mut files = Vec::with_capacity(paths.len());
        for path in &paths {
            let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
            files.push((path.display().to_string(), text));
        }
        Self::from_files(
            &dir.display().to_string(),
            files.iter().map(|(n, t)| (n.as_str(), t.as_str())),
        )
    }

    /// Builds a catalog from (file name, TOML text) pairs; file names are used in errors and
    /// to tell the settings and out-of-scope files apart.
    pub fn from_files<'a>(
        origin: &str,
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, CatalogError> {
        let all: Vec<(&str, &str)> = files.into_iter().collect();
        type Files<'f> = Vec<(&'f str, &'f str)>;
        let (lang_files, files): (Files<'_>, Files<'_>) = all
            .into_iter()
            .partition(|(name, _)| languages::lang_file(name).is_some());
        let mut settings = Settings::default();
        // The settings file's name as given (`intents/catalog.toml`), for its errors.
        let mut settings_file = SETTINGS_FILE.to_string();
        for (name, text) in &files {
            if base_name(name) == SETTINGS_FILE {
                settings = toml::from_str(text).map_err(|e| parse_error(name, "catalog", &e))?;
                settings_file = name.to_string();
                check_settings(name, &settings)?;
            }
        }
        let mut intents: Vec<Intent> = Vec::new();
        let mut out_of_scope = Vec::new();
        let mut acts = Vec::new();
        let mut seen = HashSet::new();
        for (name, text) in &files {
            let base = base_name(name);
            let stem = base.trim_end_matches(".toml");
            if base == SETTINGS_FILE {
                continue;
            }
            if base == OUT_OF_SCOPE_FILE {
                let raw: RawOutOfScope =
                    toml::from_str(text).map_err(|e| parse_error(name, stem, &e))?;
                let bad = |field, message: String| CatalogError::Invalid {
                    file: name.to_string(),
                    intent: stem.to_string(),
                    field,
                    message,
                };
                if raw.kind != "out_of_scope" {
                    return Err(bad(
                        "kind",
                        format!("must be \"out_of_scope\", found {:?}", raw.kind),
                    ));
                }
                if raw.id.as_deref().is_some_and(|id| id != "out_of_scope") {
                    return Err(bad("id", "must be \"out_of_scope\" (or left out)".into()));
                }
                check_examples(
                    name,
                    stem,
                    "examples",
                    &raw.examples,
                    settings.min_other_examples,
                )?;
                out_of_scope = raw.examples;
                continue;
            }
            if base == ACTS_FILE {
                acts = acts_file::parse(name, text, &settings)?;
                continue;
            }
            let raw: RawIntent = toml::from_str(text).map_err(|e| parse_error(name, stem, &e))?;
            let intent = validate(name, stem, raw, &settings)?;
            if !seen.insert(intent.id.clone()) {
                return Err(CatalogError::Invalid {
                    file: name.to_string(),
                    intent: intent.id,
                    field: "id",
                    message: "duplicate id: another file defines the same intent".into(),
                });
            }
            intents.push(intent);
        }
        if intents.is_empty() {
            return Err(CatalogError::Empty {
                origin: origin.to_string(),
            });
        }
        intents.sort_by(|a, b| a.id.cmp(&b.id));
        for id in &settings.common_topics {
            if !intents
                .iter()
                .any(|i| &i.id == id && i.kind == IntentKind::Guide)
            {
                return Err(CatalogError::Invalid {
                    file: settings_file.clone(),
                    intent: "catalog".into(),
                    field: "common_topics",
                    message: format!("`{id}` is not a guide of this catalog"),
                });
            }
        }
        if acts.is_empty() {
            acts = builtin_acts()?;
        }
        let languages = read_languages(&lang_files, &intents, &settings)?;
        Ok(Self {
            intents,
            out_of_scope,
            settings,
            acts,
            languages,
            origin: origin.to_string(),
        })
    }

    /// The most common guides, most common first (`common_topics`, else catalog order).
    pub fn common_topics(&self) -> Vec<&Intent> {
        let listed: Vec<&Intent> = self
            .settings
            .common_topics
            .iter()
            .filter_map(|id| self.intent(id))
            .collect();
        if listed.is_empty() {
            self.guides().collect()
        } else {
            listed
        }
    }

    /// The intent with this id.
    pub fn intent(&self, id: &str) -> Option<&Intent> {
        self.intents.iter().find(|i| i.id == id)
    }

    /// The guide intents, in catalog order.
    pub fn guides(&self) -> impl Iterator<Item = &Intent> {
        self.intents.iter().filter(|i| i.kind == IntentKind::Guide)
    }

    /// Normalised training data for the classifier: labels are the intents in catalog order.
    pub fn training_data(&self) -> TrainingData {
        let labels = self.intents.iter().map(|i| i.id.clone()).collect();
        let examples = self
            .intents
            .iter()
            .enumerate()
            .flat_map(|(label, i)| self.examples_of(i).map(move |e| (normalize(e), label)))
            .collect();
        let out_of_scope = self
            .out_of_scope
            .iter()
            .chain(self.languages.iter().flat_map(|l| l.out_of_scope.iter()))
            .map(|e| normalize(e))
            .collect();
        TrainingData {
            labels,
            examples,
            out_of_scope,
        }
    }
}

/// The built-in catalog's dialogue acts (empty when it has none).
/// Reads the language folders: English first (the built-in strings, overridden by the
/// catalog's `lang/en/strings.toml` key by key), then the others by code.
fn read_languages(
    files: &[(&str, &str)],
    intents: &[Intent],
    settings: &Settings,
) -> Result<Vec<Language>, CatalogError> {
    let mut by_code: std::collections::BTreeMap<&str, languages::LangFiles<'_>> =
        std::collections::BTreeMap::new();
    for (name, text) in files {
        let Some((code, file)) = languages::lang_file(name) else {
            continue;
        };
        let entry = by_code.entry(code).or_default();
        match file {
            "strings.toml" => entry.strings = Some((name, text)),
            "guides.toml" => entry.guides = Some((name, text)),
            "examples.toml" => entry.examples = Some((name, text)),
            cues::CUES_FILE => entry.cues = Some((name, text)),
            other => {
                return Err(CatalogError::Invalid {
                    file: name.to_string(),
                    intent: code.to_string(),
                    field: "file",
                    message: format!(
                        "unknown file `{other}` in a language folder (strings.toml, guides.toml, examples.toml, cues.toml)"
                    ),
                });
            }
        }
    }
    let builtin_en = builtin::BUILTIN_FILES
        .iter()
        .find(|(name, _)| languages::lang_file(name) == Some((languages::ENGLISH, "strings.toml")));
    let Some((en_name, en_text)) = builtin_en else {
        return Err(CatalogError::Empty {
            origin: "<built-in>/lang/en/strings.toml".into(),
        });
    };
    // How people answer does not depend on the domain: English's cues come with the binary,
    // and a catalog's own `lang/en/cues.toml` replaces them.
    let builtin_cues = builtin::BUILTIN_FILES
        .iter()
        .find(|(name, _)| languages::lang_file(name) == Some((languages::ENGLISH, cues::CUES_FILE)))
        .map(|(name, text)| (*name, *text));
    let base_files = languages::LangFiles {
        strings: Some((en_name, en_text)),
        cues: builtin_cues,
        ..Default::default()
    };
    let mut english = languages::parse(languages::ENGLISH, &base_files, intents, settings, None)?;
    if let Some(own) = by_code.remove(languages::ENGLISH) {
        let has_cues = own.cues.is_some();
        let own = languages::parse(languages::ENGLISH, &own, intents, settings, Some(&english))?;
        english.strings.extend(own.strings);
        if has_cues {
            english.cues = own.cues;
        }
        english.dir = own.dir;
    }
    for key in STRING_KEYS {
        if english.string(key).is_none() {
            return Err(CatalogError::Invalid {
                file: format!("{}/strings.toml", english.dir),
                intent: languages::ENGLISH.into(),
                field: "strings",
                message: format!("missing key `{key}`: English must say everything"),
            });
        }
    }
    if settings.scope != Settings::default().scope {
        english
            .strings
            .insert("scope".into(), settings.scope.clone());
    }
    let mut out = vec![english];
    for (code, files) in by_code {
        let language = languages::parse(code, &files, intents, settings, Some(&out[0]))?;
        out.push(language);
    }
    Ok(out)
}

impl Catalog {
    /// An intent's examples in every language (English first).
    pub fn examples_of<'a>(&'a self, intent: &'a Intent) -> impl Iterator<Item = &'a String> {
        intent.examples.iter().chain(
            self.languages
                .iter()
                .filter_map(move |l| l.examples.get(&intent.id))
                .flatten(),
        )
    }

    /// The dialogue acts' examples in every language.
    pub fn all_acts(&self) -> Vec<(Act, Vec<String>)> {
        let mut out = self.acts.clone();
        for language in &self.languages {
            for (act, examples) in &language.acts {
                match out.iter_mut().find(|(a, _)| a == act) {
                    Some((_, list)) => list.extend(examples.iter().cloned()),
                    None => out.push((*act, examples.clone())),
                }
            }
        }
        out
    }

    /// The same catalog understanding only the languages `codes` (English is always kept for
    /// what the bot says; its examples only when `en` is listed): for measuring what examples
    /// in each language add.
    pub fn with_examples_of(&self, codes: &[&str]) -> Catalog {
        let mut out = self.clone();
        if !codes.contains(&languages::ENGLISH) {
            for i in &mut out.intents {
                i.examples.clear();
            }
            out.out_of_scope.clear();
            out.acts.iter_mut().for_each(|(_, e)| e.clear());
        }
        for l in &mut out.languages {
            if !codes.contains(&l.code.as_str()) {
                l.examples.clear();
                l.out_of_scope.clear();
                l.acts.clear();
            }
        }
        out
    }
}

fn builtin_acts() -> Result<Vec<(Act, Vec<String>)>, CatalogError> {
    match builtin::BUILTIN_FILES
        .iter()
        .find(|(name, _)| base_name(name) == ACTS_FILE)
    {
        Some((name, text)) => acts_file::parse(name, text, &Settings::default()),
        None => Ok(Vec::new()),
    }
}

fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

fn parse_error(file: &str, intent: &str, e: &toml::de::Error) -> CatalogError {
    // toml's own Display already quotes the offending line and names the field.
    CatalogError::Parse {
        file: file.to_string(),
        intent: intent.to_string(),
        message: e.to_string().trim_end().to_string(),
    }
}

fn check_settings(file: &str, s: &Settings) -> Result<(), CatalogError> {
    let bad = |field, message: &str| {
        Err(CatalogError::Invalid {
            file: file.to_string(),
            intent: "catalog".into(),
            field,
            message: message.into(),
        })
    };
    if !(0.0..=1.0).contains(&s.confident) {
        return bad("confident", "must be between 0 and 1");
    }
    if !(0.0..=1.0).contains(&s.suggest) || s.suggest > s.confident {
        return bad(
            "suggest",
            "must be between 0 and 1 and not above `confident`",
        );
    }
    if s.bot_name.trim().is_empty() {
        return bad("bot_name", "must not be empty");
    }
    if s.resume_after_minutes == 0 {
        return bad("resume_after_minutes", "must be at least 1");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples(n: usize, word: &str) -> String {
        let list: Vec<String> = (0..n).map(|i| format!("\"{word} example {i}\"")).collect();
        format!("[{}]", list.join(", "))
    }

    fn guide(id: &str) -> String {
        format!(
            "id = \"{id}\"\nkind = \"guide\"\ntitle = \"T\"\ndescription = \"D\"\nexamples = {}\nsteps = [\"a\", \"b\", \"c\"]\n",
            examples(30, id)
        )
    }

    fn load(files: &[(&str, &str)]) -> Result<Catalog, CatalogError> {
        Catalog::from_files("test", files.iter().copied())
    }

    #[test]
    fn loads_a_valid_catalog() {
        let g = guide("login");
        let c = load(&[("dir/login.toml", &g)]).unwrap();
        assert_eq!(c.intents.len(), 1);
        assert_eq!(c.intents[0].steps.len(), 3);
        assert_eq!(c.intents[0].steps[1].text, "b");
        let td = c.training_data();
        assert_eq!(td.labels, vec!["login".to_string()]);
        assert_eq!(td.examples.len(), 30);
    }

    #[test]
    fn unknown_key_names_file_intent_and_field() {
        let g = guide("login") + "exmaples = []\n";
        let err = load(&[("dir/login.toml", &g)]).unwrap_err().to_string();
        assert!(err.contains("dir/login.toml"), "{err}");
        assert!(err.contains("login"), "{err}");
        assert!(err.contains("exmaples"), "{err}");
    }

    #[test]
    fn a_common_topic_that_is_no_guide_names_the_settings_file_as_given() {
        let g = guide("login");
        let err = load(&[
            ("dir/login.toml", &g),
            ("dir/catalog.toml", "common_topics = [\"nope\"]\n"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("dir/catalog.toml"), "{err}");
        assert!(
            err.contains("common_topics") && err.contains("nope"),
            "{err}"
        );
    }

    #[test]
    fn too_few_steps_and_examples() {
        let g = guide("login").replace("[\"a\", \"b\", \"c\"]", "[]");
        let err = load(&[("login.toml", &g)]).unwrap_err().to_string();
        assert!(err.contains("field `steps`"), "{err}");
        let g = guide("login").replace(&examples(30, "login"), &examples(5, "login"));
        let err = load(&[("login.toml", &g)]).unwrap_err().to_string();
        assert!(
            err.contains("field `examples`") && err.contains("at least 30"),
            "{err}"
        );
    }

    #[test]
    fn invalid_regex_and_duplicate_id() {
        let g = guide("login") + "patterns = ['(unclosed']\n";
        let err = load(&[("login.toml", &g)]).unwrap_err().to_string();
        assert!(
            err.contains("field `patterns`") && err.contains("login.toml"),
            "{err}"
        );
        let g = guide("login");
        let err = load(&[("a/login.toml", &g), ("b/login.toml", &g)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("duplicate id"), "{err}");
    }

    #[test]
    fn id_must_match_file_name() {
        let g = guide("login");
        let err = load(&[("other.toml", &g)]).unwrap_err().to_string();
        assert!(err.contains("field `id`"), "{err}");
    }

    #[test]
    fn settings_are_checked() {
        let g = guide("login");
        let err = load(&[("login.toml", &g), ("catalog.toml", "confident = 3.0\n")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("catalog.toml") && err.contains("`confident`"),
            "{err}"
        );
        let err = load(&[("login.toml", &g), ("catalog.toml", "colour = 1\n")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn builtin_catalog_is_valid_when_present() {
        // The embedded catalog must always load: a broken intents/ file fails here first.
        if builtin::BUILTIN_FILES.is_empty() {
            return;
        }
        let c = Catalog::builtin().unwrap_or_else(|e| panic!("{e}"));
        assert!(c.guides().count() >= 1);
    }
}

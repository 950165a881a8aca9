//! The intent catalog: what the bot knows about its domain, loaded from TOML files a support
//! lead edits (see `intents/README.md` for the format).
//!
//! Loading is strict on purpose. A typo in a key (`exmaples`) that was silently ignored would
//! leave an intent untrained, and the bot would quietly answer the wrong guide; so every file
//! is checked and the first problem stops start-up with an error that names the file, the
//! intent and the field.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use thiserror::Error;

use crate::classifier::TrainingData;
use crate::normalize::normalize;

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
}

impl IntentKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Guide => "guide",
            Self::Handoff => "handoff",
            Self::Greeting => "greeting",
            Self::Thanks => "thanks",
            Self::Goodbye => "goodbye",
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
    /// Exact signals (error codes) that route a message here with full confidence.
    pub patterns: Vec<Regex>,
    /// The guide's ordered steps (empty for other kinds).
    pub steps: Vec<String>,
    /// The file the intent came from (for error messages).
    pub file: String,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntent {
    id: String,
    kind: IntentKind,
    title: String,
    description: String,
    examples: Vec<String>,
    #[serde(default)]
    patterns: Vec<String>,
    #[serde(default)]
    steps: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutOfScope {
    #[serde(default)]
    id: Option<String>,
    kind: String,
    examples: Vec<String>,
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
        let files: Vec<(&str, &str)> = files.into_iter().collect();
        let mut settings = Settings::default();
        for (name, text) in &files {
            if base_name(name) == SETTINGS_FILE {
                settings = toml::from_str(text).map_err(|e| parse_error(name, "catalog", &e))?;
                check_settings(name, &settings)?;
            }
        }
        let mut intents: Vec<Intent> = Vec::new();
        let mut out_of_scope = Vec::new();
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
                check_examples(name, stem, &raw.examples, settings.min_other_examples)?;
                out_of_scope = raw.examples;
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
        Ok(Self {
            intents,
            out_of_scope,
            settings,
            origin: origin.to_string(),
        })
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
            .flat_map(|(label, i)| i.examples.iter().map(move |e| (normalize(e), label)))
            .collect();
        let out_of_scope = self.out_of_scope.iter().map(|e| normalize(e)).collect();
        TrainingData {
            labels,
            examples,
            out_of_scope,
        }
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
    Ok(())
}

fn check_examples(
    file: &str,
    intent: &str,
    examples: &[String],
    min: usize,
) -> Result<(), CatalogError> {
    let bad = |message: String| CatalogError::Invalid {
        file: file.to_string(),
        intent: intent.to_string(),
        field: "examples",
        message,
    };
    if let Some(pos) = examples.iter().position(|e| normalize(e).is_empty()) {
        return Err(bad(format!("example {} is empty", pos + 1)));
    }
    let distinct: HashSet<String> = examples.iter().map(|e| normalize(e)).collect();
    if distinct.len() < min {
        return Err(bad(format!(
            "has {} distinct examples, needs at least {min}",
            distinct.len()
        )));
    }
    Ok(())
}

fn validate(
    file: &str,
    stem: &str,
    raw: RawIntent,
    settings: &Settings,
) -> Result<Intent, CatalogError> {
    let bad = |field, message: String| CatalogError::Invalid {
        file: file.to_string(),
        intent: raw.id.clone(),
        field,
        message,
    };
    if raw.id.is_empty()
        || !raw
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(bad(
            "id",
            "must be non-empty lowercase letters, digits and _".into(),
        ));
    }
    if raw.id != stem {
        return Err(bad(
            "id",
            format!("must match the file name (`{stem}.toml`)"),
        ));
    }
    if raw.title.trim().is_empty() || raw.title.chars().count() > 60 {
        return Err(bad("title", "must be 1 to 60 characters".into()));
    }
    if raw.description.trim().is_empty() || raw.description.contains('\n') {
        return Err(bad("description", "must be one non-empty line".into()));
    }
    let min = if raw.kind == IntentKind::Guide {
        settings.min_guide_examples
    } else {
        settings.min_other_examples
    };
    check_examples(file, &raw.id, &raw.examples, min)?;
    let mut patterns = Vec::with_capacity(raw.patterns.len());
    for (i, p) in raw.patterns.iter().enumerate() {
        let re = RegexBuilder::new(p)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| {
                bad(
                    "patterns",
                    format!("pattern {} is not a valid regex: {e}", i + 1),
                )
            })?;
        if re.is_match("") {
            return Err(bad(
                "patterns",
                format!("pattern {} matches every message", i + 1),
            ));
        }
        patterns.push(re);
    }
    match raw.kind {
        IntentKind::Guide => {
            if !GUIDE_STEPS.contains(&raw.steps.len()) {
                return Err(bad(
                    "steps",
                    format!(
                        "a guide needs {} to {} steps, found {}",
                        GUIDE_STEPS.start(),
                        GUIDE_STEPS.end(),
                        raw.steps.len()
                    ),
                ));
            }
            if let Some(pos) = raw.steps.iter().position(|s| s.trim().is_empty()) {
                return Err(bad("steps", format!("step {} is empty", pos + 1)));
            }
        }
        other if !raw.steps.is_empty() => {
            return Err(bad(
                "steps",
                format!("only guides have steps, this intent is a {other}"),
            ));
        }
        _ => {}
    }
    Ok(Intent {
        id: raw.id,
        kind: raw.kind,
        title: raw.title.trim().to_string(),
        description: raw.description.trim().to_string(),
        examples: raw.examples,
        patterns,
        steps: raw
            .steps
            .into_iter()
            .map(|s| s.trim().to_string())
            .collect(),
        file: file.to_string(),
    })
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

//! Which of the catalog's languages a user writes in, so the bot answers in it.
//!
//! Script first: a language with its own script in the catalog (Russian's Cyrillic, Arabic,
//! Hindi's Devanagari) is known from a couple of letters. Latin-script text goes to `whatlang`
//! (a small trigram detector: no model file, microseconds a message, ISO 639-3 codes),
//! restricted to the catalog's Latin-script languages (`detect` in each `strings.toml`) so it
//! cannot answer with a language nobody writes to us in. Latin-script Hindi, which `whatlang`
//! does not know, and short answers ("belum", "não", "nahi") are recognised by words that only
//! one language's examples use. A message too short or too plain to tell ("ok", "no", an error
//! code) is [`Identified::Unclear`]: the conversation keeps its language.
//!
//! A message clearly in a language the catalog lacks (another script, or a Latin-script
//! language `whatlang` is sure of) is [`Identified::Unsupported`].

use std::collections::{HashMap, HashSet};

use whatlang::{Detector, Lang, Script};

use crate::catalog::{Catalog, ENGLISH};
use crate::normalize::normalize;

/// Latin-script text with fewer letters than this is too short for the trigram detector.
const MIN_LETTERS: usize = 12;
/// Fewest examples of one language a word must appear in to mark that language.
const MARKER_MIN_USES: usize = 2;
/// Fewest words before a language the catalog lacks is believed.
const UNSUPPORTED_MIN_WORDS: usize = 3;
/// `whatlang`'s confidence above which its answer among the catalog's languages stands alone.
const SURE: f64 = 0.5;

/// What the identifier says of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identified {
    /// One of the catalog's languages. `clear` is false when the message is short and only
    /// hints at it (a first message may take it; a conversation keeps its own).
    Known {
        /// The language's code.
        code: String,
        /// The message is long or distinctive enough to switch a conversation's language.
        clear: bool,
    },
    /// Clearly a language the catalog does not have.
    Unsupported,
    /// Too short, or too plain, to tell (a conversation keeps its language).
    Unclear,
}

/// Identifies the catalog's languages in messages; built once per catalog.
#[derive(Debug, Clone)]
pub struct LanguageId {
    /// Script → the one catalog language written in it.
    scripts: HashMap<Script, String>,
    /// `whatlang` language → catalog language code.
    latin: Vec<(Lang, String)>,
    /// A word only one Latin-script language's examples use → that language.
    markers: HashMap<String, String>,
    /// Languages written in Latin letters that `whatlang` does not know (found by markers).
    marker_only: HashSet<String>,
    /// Every word of every language's examples (normalised): real words, not gibberish.
    vocabulary: HashSet<String>,
    /// Every Latin letter the catalog's languages use: a message with others ("ı", "ş", "ß",
    /// "ø") is written in a language the catalog lacks.
    latin_letters: HashSet<char>,
    /// Short examples (at most [`SHORT_EXAMPLE_WORDS`] words) that only one language has,
    /// word for word ("namaste", "valeu"): such a message hints at that language.
    short_examples: HashMap<String, String>,
}

/// Examples up to this many words are remembered word for word (see `short_examples`).
const SHORT_EXAMPLE_WORDS: usize = 3;

fn script_of(text: &str) -> Option<Script> {
    whatlang::detect_script(text)
}

/// The script a message is written in, by words rather than letters: Latin-script words that
/// are codes or names (`ACCOUNT_LOCKED`, `account.xiaomi.com`, `Mi`, `Fitness`) often
/// outweigh a short Russian or Arabic sentence by letters. A message with at least half as
/// many words in another script as plain Latin words is in that script (people mix English
/// terms into their language far more than the reverse).
fn own_script(text: &str) -> Option<Script> {
    let mut latin = 0usize;
    let mut other: HashMap<Script, usize> = HashMap::new();
    for token in text.split_whitespace() {
        if !token.chars().any(char::is_alphabetic) {
            continue;
        }
        let code_like =
            token.contains(['_', '.', '/', '@']) || token.chars().any(|c| c.is_ascii_digit());
        match script_of(token) {
            Some(Script::Latin) if !code_like => latin += 1,
            Some(Script::Latin) | None => {}
            Some(s) => *other.entry(s).or_default() += 1,
        }
    }
    let best = other
        .into_iter()
        .max_by_key(|(s, n)| (*n, s.name().to_string()));
    match best {
        Some((s, n)) if n * 2 >= latin => Some(s),
        _ if latin > 0 => Some(Script::Latin),
        _ => script_of(text),
    }
}

fn is_latin(c: char) -> bool {
    c.is_ascii_alphabetic() || is_latin_letter(c)
}

fn is_latin_letter(c: char) -> bool {
    matches!(c, '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}')
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().any(char::is_alphabetic))
}

impl LanguageId {
    /// Learns the catalog's languages: their scripts from their examples, their detector codes,
    /// and the words that mark each Latin-script language.
    pub fn new(catalog: &Catalog) -> Self {
        let mut scripts: HashMap<Script, HashSet<String>> = HashMap::new();
        let mut latin = Vec::new();
        let mut vocabulary = HashSet::new();
        let mut latin_letters = HashSet::new();
        // Per Latin-script language: word -> number of examples using it.
        let mut vocab: HashMap<String, HashMap<String, usize>> = HashMap::new();
        // Short example (its words) -> the one language that has it (`None`: several do).
        let mut short: HashMap<String, Option<String>> = HashMap::new();
        for (i, language) in catalog.languages.iter().enumerate() {
            let mut texts: Vec<&str> = Vec::new();
            if i == 0 {
                for intent in &catalog.intents {
                    texts.extend(intent.examples.iter().map(String::as_str));
                }
                // Not `acts.toml`: its answers include other languages' ("sí", "nahi").
                texts.extend(catalog.out_of_scope.iter().map(String::as_str));
                texts.extend(language.strings.values().map(String::as_str));
            } else {
                for ex in language.examples.values() {
                    texts.extend(ex.iter().map(String::as_str));
                }
                texts.extend(language.out_of_scope.iter().map(String::as_str));
                for (_, ex) in &language.acts {
                    texts.extend(ex.iter().map(String::as_str));
                }
            }
            if let Some(lang) = language.detect.as_deref().and_then(Lang::from_code) {
                latin.push((lang, language.code.clone()));
            }
            for t in &texts {
                let n = normalize(t);
                let key: Vec<&str> = words(&n).collect();
                if !key.is_empty() && key.len() <= SHORT_EXAMPLE_WORDS {
                    short
                        .entry(key.join(" "))
                        .and_modify(|c| {
                            if c.as_deref() != Some(language.code.as_str()) {
                                *c = None;
                            }
                        })
                        .or_insert_with(|| Some(language.code.clone()));
                }
                vocabulary.extend(words(&n).map(str::to_string));
                latin_letters.extend(n.chars().filter(|c| c.is_alphabetic() && is_latin(*c)));
                match script_of(&n) {
                    Some(Script::Latin) => {
                        let seen: HashSet<&str> = words(&n).collect();
                        let v = vocab.entry(language.code.clone()).or_default();
                        for w in seen {
                            *v.entry(w.to_string()).or_default() += 1;
                        }
                    }
                    Some(s) if i > 0 => {
                        scripts.entry(s).or_default().insert(language.code.clone());
                    }
                    _ => {}
                }
            }
        }
        // A script belongs to a language only when no other catalog language writes in it.
        let scripts = scripts
            .into_iter()
            .filter_map(|(s, codes)| {
                (codes.len() == 1).then(|| (s, codes.into_iter().next().unwrap_or_default()))
            })
            .collect();
        let mut markers = HashMap::new();
        for (code, words) in &vocab {
            for (word, uses) in words {
                if *uses < MARKER_MIN_USES || word.chars().count() < 2 {
                    continue;
                }
                let elsewhere = vocab
                    .iter()
                    .any(|(other, w)| other != code && w.contains_key(word));
                if !elsewhere {
                    markers.insert(word.clone(), code.clone());
                }
            }
        }
        let marker_only = vocab
            .keys()
            .filter(|code| code.as_str() != ENGLISH && !latin.iter().any(|(_, c)| c == *code))
            .cloned()
            .collect();
        let short_examples = short
            .into_iter()
            .filter_map(|(text, code)| code.map(|c| (text, c)))
            .collect();
        Self {
            scripts,
            latin,
            markers,
            marker_only,
            vocabulary,
            latin_letters,
            short_examples,
        }
    }

    /// Whether `word` (normalised) is a word of one of the catalog's languages: written in a
    /// script other than Latin, or used in some language's examples.
    pub fn knows_word(&self, word: &str) -> bool {
        word.chars()
            .any(|c| c.is_alphabetic() && !c.is_ascii() && !is_latin_letter(c))
            || self.vocabulary.contains(word)
    }

    /// The language of `text` (raw or normalised).
    pub fn identify(&self, text: &str) -> Identified {
        let text = normalize(text);
        match self.identify_normalised(&text) {
            // Too short or plain to tell, but written word for word in one language's
            // examples ("namaste"): a hint, which a first message takes.
            Identified::Unclear => {
                let key: Vec<&str> = words(&text).collect();
                match self.short_examples.get(&key.join(" ")) {
                    Some(code) if key.len() <= SHORT_EXAMPLE_WORDS => Identified::Known {
                        code: code.clone(),
                        clear: false,
                    },
                    _ => Identified::Unclear,
                }
            }
            other => other,
        }
    }

    fn identify_normalised(&self, text: &str) -> Identified {
        let letters = text.chars().filter(|c| c.is_alphabetic()).count();
        if letters == 0 {
            return Identified::Unclear;
        }
        match own_script(text) {
            Some(Script::Latin) | None => {}
            Some(script) => {
                return match self.scripts.get(&script) {
                    Some(code) => Identified::Known {
                        code: code.clone(),
                        clear: letters >= 2,
                    },
                    None if letters >= 2 => Identified::Unsupported,
                    None => Identified::Unclear,
                };
            }
        }
        let words: Vec<&str> = words(text).collect();
        // Words that mark one language, counted per language.
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for w in &words {
            if let Some(code) = self.markers.get(*w) {
                *votes.entry(code.as_str()).or_default() += 1;
            }
        }
        let mut ranked: Vec<(&str, usize)> = votes.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let top_marker = ranked.first().copied();
        let marker_lead = match (ranked.first(), ranked.get(1)) {
            (Some(&(code, n)), Some(&(_, m))) if n > m => Some((code, n)),
            (Some(&(code, n)), None) => Some((code, n)),
            _ => None,
        };
        // A language only the markers can find (Latin-script Hindi) wins on two marker words,
        // or on one in a short message.
        if let Some((code, n)) = marker_lead
            && self.marker_only.contains(code)
            && (n >= 2 || words.len() <= 3)
        {
            return Identified::Known {
                code: code.to_string(),
                clear: n >= 2 || n * 3 >= words.len().max(1),
            };
        }
        if letters < MIN_LETTERS || words.len() < 2 {
            return match marker_lead {
                Some((code, _)) => Identified::Known {
                    code: code.to_string(),
                    clear: false,
                },
                None => Identified::Unclear,
            };
        }
        let allow: Vec<Lang> = self.latin.iter().map(|(l, _)| *l).collect();
        let restricted = if allow.is_empty() {
            None
        } else {
            Detector::with_allowlist(allow).detect(text)
        };
        let code_of = |lang: Lang| {
            self.latin
                .iter()
                .find(|(l, _)| *l == lang)
                .map(|(_, c)| c.as_str())
        };
        // A language the catalog lacks: whatlang is sure, the message is long enough, and no
        // word of it marks one of ours.
        let foreign = text
            .chars()
            .any(|c| c.is_alphabetic() && is_latin(c) && !self.latin_letters.contains(&c));
        if words.len() >= UNSUPPORTED_MIN_WORDS
            && top_marker.is_none_or(|(_, n)| n * 4 < words.len())
            && let Some(info) = whatlang::detect(text)
            && (info.is_reliable() || foreign)
            && code_of(info.lang()).is_none()
            && info.script() == Script::Latin
            && !matches!(info.lang(), Lang::Eng)
        {
            return Identified::Unsupported;
        }
        match restricted {
            Some(info) => {
                let Some(code) = code_of(info.lang()) else {
                    return Identified::Unclear;
                };
                // Markers of another language outvote an unsure detector.
                if let Some((m, n)) = marker_lead
                    && m != code
                    && (info.confidence() < SURE || n >= 2)
                {
                    return Identified::Known {
                        code: m.to_string(),
                        clear: n >= 2,
                    };
                }
                Identified::Known {
                    code: code.to_string(),
                    clear: info.confidence() >= SURE || marker_lead.is_some_and(|(m, _)| m == code),
                }
            }
            None => match marker_lead {
                Some((code, n)) => Identified::Known {
                    code: code.to_string(),
                    clear: n >= 2,
                },
                None => Identified::Unclear,
            },
        }
    }

    /// The language to answer `text` in, in a conversation that was in `context` (for
    /// measuring the identifier): a clear language wins, an unclear message keeps the
    /// context, a first message takes what it hints at, and English is the default.
    pub fn answer_language(&self, text: &str, context: Option<&str>) -> String {
        match (self.identify(text), context) {
            (Identified::Known { code, clear: true }, _) => code,
            (Identified::Known { code, .. }, None) => code,
            (Identified::Unsupported, _) => ENGLISH.to_string(),
            (_, Some(c)) => c.to_string(),
            (Identified::Unclear, None) => ENGLISH.to_string(),
        }
    }
}

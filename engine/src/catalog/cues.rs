//! `lang/<code>/cues.toml`: the words by which the dialogue policy reads a user's answer in its
//! context, per language: the plain yes and no, what opens a question, what says it is still
//! broken or that it worked, "already", "none of these", and so on (see
//! `intents/lang/README.md`). The act classifier says what a message does on its own; these
//! cues let the policy read it around the question the bot just asked ("no, …" after "Did that
//! fix it?" is a no whatever else the message resembles), in every language alike.
//!
//! A cue is a word or a phrase of words, matched as whole words in order, without case and
//! without the accents of Latin letters (people type "nao", "todavia" on phones).

use serde::Deserialize;

use super::CatalogError;
use crate::acts::fold_accents;
use crate::normalize::normalize;

/// The name of a language's cue file.
pub const CUES_FILE: &str = "cues.toml";

/// A list of cues: each one word or several (stored folded, words joined by one space).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Phrases(Vec<String>);

impl Phrases {
    /// The cues, folded.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the single word `word` (folded) is one of the cues.
    pub fn has_word(&self, word: &str) -> bool {
        self.0.iter().any(|p| p == word)
    }

    /// Whether the message `said` contains one of the cues as whole words.
    pub fn in_message(&self, said: &Said) -> bool {
        self.0
            .iter()
            .any(|p| said.padded.contains(&format!(" {p} ")))
    }

    /// How many words of `said` follow the last cue found in it (`None`: no cue is in it).
    /// "done, changed my password and im in now" ends one word after "im in".
    pub fn words_after_last(&self, said: &Said) -> Option<usize> {
        // The cue ending last is the one with the fewest words after it.
        self.0
            .iter()
            .filter_map(|p| {
                let needle = format!(" {p} ");
                let at = said.padded.rfind(&needle)?;
                Some(said.padded[at + needle.len()..].split_whitespace().count())
            })
            .min()
    }

    fn from_raw(raw: Vec<String>) -> Result<Self, String> {
        let mut out = Vec::with_capacity(raw.len());
        for (i, cue) in raw.iter().enumerate() {
            let words = words(&normalize(cue));
            if words.is_empty() {
                return Err(format!("cue {} ({cue:?}) has no word", i + 1));
            }
            let joined = words.join(" ");
            if !out.contains(&joined) {
                out.push(joined);
            }
        }
        Ok(Self(out))
    }
}

/// The words of a normalised message, folded the way cues are: Latin accents dropped, split on
/// anything that is neither a letter, a digit, a combining mark (Devanagari vowel signs and
/// virama, Arabic harakat) nor an apostrophe.
pub fn words(normalised: &str) -> Vec<String> {
    fold_accents(normalised)
        .split(|c: char| {
            !(c.is_alphanumeric() || c == '\'' || unicode_normalization::char::is_combining_mark(c))
        })
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// A message as cues read it: its folded words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Said {
    /// The words, in order.
    pub words: Vec<String>,
    /// The words joined by single spaces, with a space before and after (for phrase lookups).
    padded: String,
}

impl Said {
    /// Reads a normalised message.
    pub fn new(normalised: &str) -> Self {
        let words = words(normalised);
        let padded = format!(" {} ", words.join(" "));
        Self { words, padded }
    }

    /// The first word, if any.
    pub fn first(&self) -> Option<&str> {
        self.words.first().map(String::as_str)
    }

    /// The last word, if any.
    pub fn last(&self) -> Option<&str> {
        self.words.last().map(String::as_str)
    }
}

/// One language's cues (see the module's documentation; every list may be empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cues {
    /// Plain yes words ("yes", "sí", "да", "haan", "نعم").
    pub yes: Phrases,
    /// Plain no words ("no", "não", "нет", "nahi", "لا").
    pub no: Phrases,
    /// Words that make a message a question when they open it ("how", "where", "is").
    pub question_openers: Phrases,
    /// Words that make a message a question wherever they stand (languages that keep the
    /// question word in place: Hindi "ye kaise hoga", Indonesian "settingnya di mana").
    pub question_words: Phrases,
    /// Words a question may start with before its question word ("and", "so", "y", "а").
    pub lead_ins: Phrases,
    /// Words that say something is still wrong ("not", "didn't", "failed").
    pub negative: Phrases,
    /// Words that say the same problem goes on ("still", "same", "todavia", "все еще").
    pub still: Phrases,
    /// Phrases that say it worked ("it worked", "got in", "funcionó", "berhasil").
    pub worked: Phrases,
    /// Words that say the user did it before ("already").
    pub already: Phrases,
    /// Words that announce something else ("now", "actually", "another problem").
    pub change: Phrases,
    /// Words that address the bot ("you", "your").
    pub you: Phrases,
    /// Words of someone calling out while waiting ("hello", "anyone").
    pub call_out: Phrases,
    /// Phrases that ask what the bot meant ("what do you mean").
    pub asks_meaning: Phrases,
    /// Phrases that say "go on" to "shall we continue?".
    pub carry_on: Phrases,
    /// Phrases that say "none of these" to "is it one of these?".
    pub none_of_these: Phrases,
    /// Words and phrases of someone at the end of their patience.
    pub frustrated: Phrases,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCues {
    #[serde(default)]
    yes: Vec<String>,
    #[serde(default)]
    no: Vec<String>,
    #[serde(default)]
    question_openers: Vec<String>,
    #[serde(default)]
    question_words: Vec<String>,
    #[serde(default)]
    lead_ins: Vec<String>,
    #[serde(default)]
    negative: Vec<String>,
    #[serde(default)]
    still: Vec<String>,
    #[serde(default)]
    worked: Vec<String>,
    #[serde(default)]
    already: Vec<String>,
    #[serde(default)]
    change: Vec<String>,
    #[serde(default)]
    you: Vec<String>,
    #[serde(default)]
    call_out: Vec<String>,
    #[serde(default)]
    asks_meaning: Vec<String>,
    #[serde(default)]
    carry_on: Vec<String>,
    #[serde(default)]
    none_of_these: Vec<String>,
    #[serde(default)]
    frustrated: Vec<String>,
}

impl Cues {
    /// Reads a `cues.toml` of language `code`.
    pub(crate) fn parse(file: &str, code: &str, text: &str) -> Result<Self, CatalogError> {
        let raw: RawCues = toml::from_str(text).map_err(|e| super::parse_error(file, code, &e))?;
        let list = |field: &'static str, cues: Vec<String>| {
            Phrases::from_raw(cues).map_err(|message| CatalogError::Invalid {
                file: file.to_string(),
                intent: code.to_string(),
                field,
                message,
            })
        };
        let cues = Self {
            yes: list("yes", raw.yes)?,
            no: list("no", raw.no)?,
            question_openers: list("question_openers", raw.question_openers)?,
            question_words: list("question_words", raw.question_words)?,
            lead_ins: list("lead_ins", raw.lead_ins)?,
            negative: list("negative", raw.negative)?,
            still: list("still", raw.still)?,
            worked: list("worked", raw.worked)?,
            already: list("already", raw.already)?,
            change: list("change", raw.change)?,
            you: list("you", raw.you)?,
            call_out: list("call_out", raw.call_out)?,
            asks_meaning: list("asks_meaning", raw.asks_meaning)?,
            carry_on: list("carry_on", raw.carry_on)?,
            none_of_these: list("none_of_these", raw.none_of_these)?,
            frustrated: list("frustrated", raw.frustrated)?,
        };
        if let Some(word) = cues.yes.iter().find(|w| cues.no.has_word(w)) {
            return Err(CatalogError::Invalid {
                file: file.to_string(),
                intent: code.to_string(),
                field: "no",
                message: format!("`{word}` is both a plain yes and a plain no"),
            });
        }
        Ok(cues)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_marks_and_drop_latin_accents() {
        assert_eq!(words("não, já tentei"), vec!["nao", "ja", "tentei"]);
        assert_eq!(words("क्या हुआ?"), vec!["क्या", "हुआ"]);
        assert_eq!(words("لا، ما زبط"), vec!["لا", "ما", "زبط"]);
        assert_eq!(words("didn't work!!"), vec!["didn't", "work"]);
    }

    #[test]
    fn the_words_after_the_last_cue_are_counted() {
        let worked = Phrases::from_raw(vec!["im in".into(), "worked".into()]).unwrap();
        let count = |t: &str| worked.words_after_last(&Said::new(t));
        assert_eq!(count("done i changed my password and im in now"), Some(1));
        assert_eq!(count("it worked"), Some(0));
        assert_eq!(count("worked but now my photos are gone"), Some(6));
        assert_eq!(count("im in, it worked"), Some(0));
        assert_eq!(count("nothing yet"), None);
        assert_eq!(count(""), None);
    }

    #[test]
    fn phrases_match_whole_words_in_order() {
        let p = Phrases::from_raw(vec!["Got in".into(), "ya".into()]).unwrap();
        assert!(p.in_message(&Said::new("ok got in, thanks")));
        assert!(!p.in_message(&Said::new("forgot in the morning")));
        assert!(!p.in_message(&Said::new("in got")));
        assert!(p.has_word("ya"));
        assert!(!p.has_word("yay"));
    }

    #[test]
    fn a_file_is_strict() {
        let ok = Cues::parse("cues.toml", "es", "yes = [\"sí\"]\nno = [\"no\"]\n").unwrap();
        assert!(ok.yes.has_word("si"));
        let err = Cues::parse("x/cues.toml", "es", "yess = [\"si\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x/cues.toml") && err.contains("yess"), "{err}");
        let err = Cues::parse("x/cues.toml", "es", "yes = [\"!!\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`yes`") && err.contains("no word"), "{err}");
        let err = Cues::parse("x/cues.toml", "es", "yes = [\"si\"]\nno = [\"sí\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("both"), "{err}");
    }
}

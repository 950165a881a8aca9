//! Which language a message is written in, as far as understanding it needs.
//!
//! The classifier has two ways to read a message with a sentence vector: with the catalog's
//! n-grams (best in a language the catalog has examples in) or by meaning alone (best in any
//! other language). Script comes first (Cyrillic, Devanagari, Arabic… are decided at once);
//! Latin-script text goes to `whatlang`, a small, dependency-light trigram detector (no model
//! files, a few microseconds a message), restricted to the Latin-script languages we expect,
//! so that it cannot answer with a language nobody writes to us in.

use whatlang::{Detector, Lang, Script};

/// The Latin-script languages the detector chooses among.
const LATIN: [Lang; 4] = [Lang::Eng, Lang::Spa, Lang::Por, Lang::Ind];

/// Latin-script text with fewer letters than this is not sent to the detector.
const MIN_LETTERS: usize = 8;

/// What the detector says of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// English (or too short or plain to tell, as "ok" or an error code is).
    English,
    /// Another language in Latin letters (Spanish, Portuguese, Indonesian…).
    OtherLatin,
    /// A language in another script (Cyrillic, Devanagari, Arabic, CJK…).
    OtherScript,
}

/// Detects what `text` (normalised) is written in.
pub fn written(text: &str) -> Written {
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    if letters == 0 {
        return Written::English;
    }
    let latin = text
        .chars()
        .filter(|c| c.is_alphabetic() && is_latin(*c))
        .count();
    // Mostly other letters: another script (an English word inside Hindi stays Hindi).
    if latin * 2 < letters {
        return Written::OtherScript;
    }
    // Too little text to tell a language by ("ok", "no", "thx"): the default.
    if letters < MIN_LETTERS {
        return Written::English;
    }
    match whatlang::detect_script(text) {
        Some(Script::Latin) | None => {}
        Some(_) => return Written::OtherScript,
    }
    // Any other language counts, however unsure: on held-apart messages this sends 98 % of
    // Spanish and Portuguese and 95 % of Indonesian to the vector view, and 10 % of English
    // there too, where it costs little (the vector alone reads English nearly as well), while
    // Spanish read with English n-grams loses a tenth of its accuracy.
    match Detector::with_allowlist(LATIN.to_vec()).detect(text) {
        Some(info) if info.lang() != Lang::Eng => Written::OtherLatin,
        _ => Written::English,
    }
}

fn is_latin(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_and_latin_languages() {
        assert_eq!(written("не могу войти в аккаунт"), Written::OtherScript);
        assert_eq!(written("मेरा अकाउंट नहीं खुल रहा"), Written::OtherScript);
        assert_eq!(written("لا أستطيع الدخول إلى حسابي"), Written::OtherScript);
        assert_eq!(
            written("i cannot sign in to my account since yesterday, it keeps asking for a code"),
            Written::English
        );
        assert_eq!(written("ok"), Written::English);
        assert_eq!(written("12345"), Written::English);
        assert_eq!(
            written("no puedo entrar a mi cuenta desde ayer, me pide un código"),
            Written::OtherLatin
        );
    }
}

//! What a language looks like to a user, from the catalog: the checks the channel tests make
//! on every text and button a user of another language receives (its script, the catalog's
//! wording in it, no English sentence, no direction mark).

use std::collections::BTreeSet;

use deskbot_engine::catalog::{Catalog, Language};

/// Characters that change the direction of text: the left-to-right, right-to-left and
/// Arabic letter marks, the embeddings and overrides, and the isolates.
pub fn is_direction_mark(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A Cyrillic letter.
pub fn cyrillic(c: char) -> bool {
    matches!(c, '\u{0400}'..='\u{052F}')
}

/// An Arabic-script letter.
pub fn arabic(c: char) -> bool {
    matches!(c, '\u{0600}'..='\u{06FF}' | '\u{0750}'..='\u{077F}' | '\u{08A0}'..='\u{08FF}'
        | '\u{FB50}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}')
}

/// The literal pieces of a catalog template: the text between its `{placeholders}` and line
/// breaks, trimmed, of at least `min` characters.
pub fn pieces(template: &str, min: usize) -> Vec<String> {
    let mut plain = String::new();
    let mut inside = false;
    for c in template.chars() {
        match c {
            '{' => {
                inside = true;
                plain.push('\n');
            }
            '}' => inside = false,
            _ if !inside => plain.push(c),
            _ => {}
        }
    }
    plain
        .split('\n')
        .map(str::trim)
        .filter(|p| p.chars().count() >= min)
        .map(str::to_string)
        .collect()
}

/// Fills a catalog template's placeholders.
pub fn fill(template: &str, args: &[(&str, &str)]) -> String {
    args.iter().fold(template.to_string(), |t, (k, v)| {
        t.replace(&format!("{{{k}}}"), v)
    })
}

/// What a language sounds like, from the catalog.
pub struct Speech {
    /// The language.
    pub lang: Language,
    /// Its script's letters.
    pub script: fn(char) -> bool,
    /// Literal pieces of everything the catalog has the bot say in it.
    pub own: Vec<String>,
    /// Every button label the bot can show in it: its strings and its guides' titles.
    pub labels: BTreeSet<String>,
    /// English sentences that must never reach the user: pieces of `en/strings.toml` and of
    /// the English guides.
    pub english: Vec<String>,
}

impl Speech {
    /// What the catalog has the bot say in language `code`, written in `script`.
    pub fn of(catalog: &Catalog, code: &str, script: fn(char) -> bool) -> Self {
        let lang = catalog
            .language(code)
            .expect("the catalog speaks it")
            .clone();
        let mut own: Vec<String> = lang.strings.values().flat_map(|s| pieces(s, 6)).collect();
        for t in lang.intents.values() {
            own.extend(pieces(&t.title, 6));
            own.extend(t.steps.iter().flat_map(|s| pieces(&s.text, 6)));
        }
        let mut labels: BTreeSet<String> = lang.strings.values().cloned().collect();
        labels.extend(lang.intents.values().map(|t| t.title.clone()));
        let mut english: Vec<String> = catalog
            .english()
            .strings
            .values()
            .flat_map(|s| pieces(s, 10))
            .collect();
        for i in &catalog.intents {
            english.extend(pieces(&i.title, 10));
            english.extend(pieces(&i.description, 10));
            english.extend(i.steps.iter().flat_map(|s| pieces(&s.text, 10)));
        }
        // Short English pieces the filter above leaves out but that must not show either.
        english.extend(["Support (", "Support:", "Step 1 of", "Tip:"].map(String::from));
        Self {
            lang,
            script,
            own,
            labels,
            english,
        }
    }

    /// The string `key` of this language.
    pub fn s(&self, key: &str) -> &str {
        self.lang
            .string(key)
            .unwrap_or_else(|| panic!("{} has no {key}", self.lang.code))
    }

    /// Checks that `text` is in this language: mostly its script, holding some of the
    /// catalog's wording in it, no English sentence, no direction mark.
    pub fn check_text(&self, text: &str) {
        let code = &self.lang.code;
        assert!(
            !text.chars().any(is_direction_mark),
            "a direction mark in {text:?}"
        );
        if let Some(e) = self.english.iter().find(|e| text.contains(e.as_str())) {
            panic!("English {e:?} in a {code} message: {text:?}");
        }
        let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
        let native = letters.iter().filter(|c| (self.script)(**c)).count();
        assert!(
            native * 10 >= letters.len() * 6,
            "{native} of {} letters in the {code} script: {text:?}",
            letters.len()
        );
        assert!(
            self.own.iter().any(|p| text.contains(p.as_str())),
            "none of the catalog's {code} wording in {text:?}"
        );
    }

    /// Checks that `label` is one of this language's own labels.
    pub fn check_label(&self, label: &str) {
        assert!(
            !label.chars().any(is_direction_mark),
            "a direction mark in label {label:?}"
        );
        assert!(
            self.labels.contains(label),
            "label {label:?} is not one of the catalog's {} labels",
            self.lang.code
        );
    }
}

/// A Latin letter.
pub fn latin(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, '\u{00C0}'..='\u{024F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checks catch what they are meant to catch.
    #[test]
    fn the_checks_catch_english_other_scripts_and_direction_marks_in_arabic() {
        let catalog = Catalog::builtin().unwrap();
        let ar = Speech::of(&catalog, "ar", arabic);
        let fails =
            |f: &dyn Fn()| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err();
        let fine = format!("{} {}", ar.s("deny"), ar.s("fixed_question"));
        assert!(!fails(&|| ar.check_text(&fine)));
        assert!(fails(&|| ar.check_text(&format!("{fine} Talk to a person"))));
        assert!(fails(&|| ar.check_text(&format!("\u{200F}{fine}"))));
        assert!(fails(&|| ar.check_text(&format!("{fine}\u{2067}"))));
        assert!(fails(
            &|| ar.check_text(&format!("{fine} {}", "abcdef ".repeat(20)))
        ));
        assert!(fails(&|| ar.check_text("شكرا على الانتظار")));
        assert!(!fails(&|| ar.check_label(ar.s("no_stuck"))));
        assert!(fails(&|| ar.check_label("No, still stuck")));
    }

    #[test]
    fn the_checks_catch_english_other_scripts_and_direction_marks_in_russian() {
        let catalog = Catalog::builtin().unwrap();
        let ru = Speech::of(&catalog, "ru", cyrillic);
        let fails =
            |f: &dyn Fn()| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err();
        let fine = format!("{} {}", ru.s("deny"), ru.s("fixed_question"));
        assert!(!fails(&|| ru.check_text(&fine)));
        assert!(fails(&|| ru.check_text(&format!("{fine} Did that fix it?"))));
        assert!(fails(&|| ru.check_text(&format!("\u{200F}{fine}"))));
        assert!(fails(
            &|| ru.check_text(&format!("{fine} {}", "abcdef ".repeat(20)))
        ));
        assert!(fails(&|| ru.check_text("Спасибо за ожидание")));
        assert!(!fails(&|| ru.check_label(ru.s("no_stuck"))));
        assert!(fails(&|| ru.check_label("No, still stuck")));
    }
}

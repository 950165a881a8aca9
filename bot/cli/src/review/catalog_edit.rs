//! `deskbot review add`: one example appended to a catalog file, everything else in the file
//! kept byte for byte, and the whole catalog loaded again to prove it still is one.
//!
//! `toml_edit` (the TOML project's format-preserving editor) parses the file into a document
//! that prints back exactly as read, comments and layout included; the new string is pushed
//! onto the examples array with the indentation of the array's last item. Before anything is
//! written the untouched document is printed and compared with the file: a file the editor
//! would not give back unchanged is refused rather than rewritten.

use std::path::{Path, PathBuf};

use deskbot_engine::catalog::{Catalog, ENGLISH, LANG_DIR, OUT_OF_SCOPE_FILE};
use deskbot_engine::normalize::normalize;
use toml_edit::{Array, DocumentMut, Item, Value};

/// The label that means "out of scope" (the catalog's out-of-scope examples).
pub const OUT_OF_SCOPE: &str = "out_of_scope";

/// Why an example was not added. The catalog files are as they were.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The label is no intent of the catalog.
    #[error("`{label}` is not an intent of the catalog in {dir}; its intents are: {known}")]
    UnknownIntent {
        /// The label given.
        label: String,
        /// The catalog directory.
        dir: String,
        /// The intents it has, and `out_of_scope`.
        known: String,
    },
    /// The text is already an example.
    #[error("{text:?} is already an example of `{intent}`: nothing to add")]
    Duplicate {
        /// The text.
        text: String,
        /// The intent (or `out_of_scope`) that has it.
        intent: String,
    },
    /// The text is empty once normalised (only spaces and invisible characters).
    #[error("{0:?} has nothing the classifier could learn from: not added")]
    Empty(String),
    /// The catalog, or the file to edit, could not be read or parsed.
    #[error("{0}")]
    Catalog(String),
    /// The catalog no longer loads with the new example; the file was restored.
    #[error(
        "the catalog does not load with the new example ({why}); {file} was restored as it was"
    )]
    Invalid {
        /// The loader's error.
        why: String,
        /// The file that was restored.
        file: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

/// Where an example was added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The file edited.
    pub file: PathBuf,
    /// The intent (or `out_of_scope`) it was added to.
    pub intent: String,
}

/// The label as the catalog names it: an intent id, or [`OUT_OF_SCOPE`] (also written `oos`).
pub fn canonical_label(label: &str) -> String {
    let label = label.trim();
    if label.eq_ignore_ascii_case("oos") || label.eq_ignore_ascii_case(OUT_OF_SCOPE) {
        OUT_OF_SCOPE.to_string()
    } else {
        label.to_string()
    }
}

/// Adds `text` as an example of `label` (an intent id or `out_of_scope`) in language
/// `language` to the catalog in `dir`: `<intent>.toml` (or the out-of-scope file) for English,
/// `lang/<code>/examples.toml` for another language. Refuses an unknown label, a text that is
/// already an example of any intent (in any language), and a text the classifier cannot
/// read; then loads the whole catalog, and restores the file when it no longer loads.
pub fn add_example(dir: &Path, label: &str, language: &str, text: &str) -> Result<Added, AddError> {
    add_example_checked(dir, label, language, text, &|d| {
        Catalog::load_dir(d).map(|_| ()).map_err(|e| e.to_string())
    })
}

/// [`add_example`] with the final check of the edited catalog given (the loader, in use).
fn add_example_checked(
    dir: &Path,
    label: &str,
    language: &str,
    text: &str,
    check: &dyn Fn(&Path) -> Result<(), String>,
) -> Result<Added, AddError> {
    let label = canonical_label(label);
    let catalog = Catalog::load_dir(dir).map_err(|e| {
        AddError::Catalog(format!(
            "the catalog in {} does not load: {e}",
            dir.display()
        ))
    })?;
    if label != OUT_OF_SCOPE && catalog.intent(&label).is_none() {
        let mut known: Vec<&str> = catalog.intents.iter().map(|i| i.id.as_str()).collect();
        known.push(OUT_OF_SCOPE);
        return Err(AddError::UnknownIntent {
            label,
            dir: dir.display().to_string(),
            known: known.join(", "),
        });
    }
    let wanted = normalize(text);
    if wanted.is_empty() {
        return Err(AddError::Empty(text.to_string()));
    }
    if let Some(intent) = example_owner(&catalog, &wanted) {
        return Err(AddError::Duplicate {
            text: text.to_string(),
            intent,
        });
    }
    let (file, table) = if language == ENGLISH {
        let name = if label == OUT_OF_SCOPE {
            OUT_OF_SCOPE_FILE.to_string()
        } else {
            format!("{label}.toml")
        };
        (dir.join(name), None)
    } else {
        (
            dir.join(LANG_DIR).join(language).join("examples.toml"),
            Some("intents"),
        )
    };
    let io = |source| AddError::Io {
        path: file.display().to_string(),
        source,
    };
    let original = std::fs::read_to_string(&file).map_err(io)?;
    let edited = appended(&original, table, &label, text)
        .map_err(|why| AddError::Catalog(format!("{}: {why}", file.display())))?;
    write_atomically(&file, edited.as_bytes()).map_err(io)?;
    if let Err(why) = check(dir) {
        write_atomically(&file, original.as_bytes()).map_err(io)?;
        return Err(AddError::Invalid {
            why,
            file: file.display().to_string(),
        });
    }
    Ok(Added {
        file,
        intent: label,
    })
}

/// The intent (or `out_of_scope`) that already has an example normalising to `wanted`.
fn example_owner(catalog: &Catalog, wanted: &str) -> Option<String> {
    for intent in &catalog.intents {
        if catalog.examples_of(intent).any(|e| normalize(e) == wanted) {
            return Some(intent.id.clone());
        }
    }
    let oos = catalog
        .out_of_scope
        .iter()
        .chain(catalog.languages.iter().flat_map(|l| l.out_of_scope.iter()));
    for e in oos {
        if normalize(e) == wanted {
            return Some(OUT_OF_SCOPE.to_string());
        }
    }
    None
}

/// `original` with `text` appended to its examples array: the top-level `examples` (an
/// intent file, the out-of-scope file) or `[table] label` (a language's `examples.toml`).
/// Every other byte is kept.
pub fn appended(
    original: &str,
    table: Option<&str>,
    label: &str,
    text: &str,
) -> Result<String, String> {
    let mut doc: DocumentMut = original
        .parse()
        .map_err(|e| format!("not valid TOML: {e}"))?;
    if doc.to_string() != original {
        return Err(
            "the TOML editor would not write this file back unchanged; add the example by hand"
                .into(),
        );
    }
    let (where_, item) = match table {
        None => ("`examples`".to_string(), doc.get_mut("examples")),
        Some(t) => (
            format!("`{label}` under [{t}]"),
            doc.get_mut(t).and_then(|t| t.get_mut(label)),
        ),
    };
    let array = match item {
        Some(Item::Value(Value::Array(a))) => a,
        None | Some(Item::None) => return Err(format!("there is no {where_} to add to")),
        Some(_) => return Err(format!("{where_} is not an array of strings")),
    };
    push_like_last(array, text);
    Ok(doc.to_string())
}

/// Pushes `text` with the layout of the array's last item: on its own line with the same
/// indentation in a multi-line array, after a space in a one-line one. A comment after the
/// last item (`"two",  # note`) stays on that item's line.
fn push_like_last(array: &mut Array, text: &str) {
    let raw =
        |r: Option<&toml_edit::RawString>| r.and_then(|r| r.as_str()).unwrap_or("").to_string();
    let last_prefix = raw(array.iter().last().and_then(|v| v.decor().prefix()));
    let last_suffix = raw(array.iter().last().and_then(|v| v.decor().suffix()));
    let trailing = raw(Some(array.trailing()));
    // Only the indentation of the last line of the prefix: comments above the last item
    // belong to it and are not copied.
    let indent = last_prefix
        .rfind('\n')
        .map(|i| last_prefix[i + 1..].to_string());
    let mut value = Value::from(text);
    match indent {
        Some(indent) if array.trailing_comma() => {
            // `…"two",<rest of its line>\n<more>]`: the new item goes after the rest of the
            // last item's line; what followed it stays before the `]`.
            let (line_end, more) = match trailing.find('\n') {
                Some(i) => (&trailing[..=i], &trailing[i + 1..]),
                None => ("\n", trailing.as_str()),
            };
            value.decor_mut().set_prefix(format!("{line_end}{indent}"));
            value.decor_mut().set_suffix("");
            array.set_trailing(format!("\n{more}"));
        }
        Some(indent) => {
            // No trailing comma: the last item's line gets the separating comma.
            if let Some(last) = array.iter_mut().last() {
                last.decor_mut().set_suffix("");
            }
            value.decor_mut().set_prefix(format!("\n{indent}"));
            value.decor_mut().set_suffix(last_suffix);
        }
        None => {
            value
                .decor_mut()
                .set_prefix(if array.is_empty() { "" } else { " " });
            value.decor_mut().set_suffix("");
        }
    }
    array.push_formatted(value);
}

/// Writes `bytes` beside `path` and renames it into place.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut name = path.as_os_str().to_owned();
    name.push(".review-tmp");
    let tmp = PathBuf::from(name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines of `after` that are not in `before`, with every line of `before` kept in
    /// order (a line-level check that nothing else moved).
    fn added_lines(before: &str, after: &str) -> Vec<String> {
        let mut rest = after.lines();
        let mut added = Vec::new();
        for line in before.lines() {
            loop {
                let next = rest.next().expect("a line of the original is missing");
                if next == line {
                    break;
                }
                added.push(next.to_string());
            }
        }
        added.extend(rest.map(str::to_string));
        added
    }

    #[test]
    fn an_example_is_appended_keeping_comments_and_layout() {
        let before = "# who writes what\nid = \"x\"  # the id\nkind = \"guide\"\n\nexamples = [\n  \"one\",\n  # the angry ones\n  'two' ,   # single quotes\n]\n# the end\n";
        let after = appended(before, None, "x", "my \"pass\" wont\twork").unwrap();
        let added = added_lines(before, &after);
        assert_eq!(added.len(), 1, "{after}");
        assert!(
            added[0].starts_with("  ") && !added[0].starts_with("   ") && added[0].ends_with(','),
            "{after}"
        );
        let parsed: toml::Value = toml::from_str(&after).unwrap();
        let examples: Vec<&str> = parsed["examples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(examples, ["one", "two", "my \"pass\" wont\twork"]);
        // The comment above the last item is not copied.
        assert_eq!(after.matches("# the angry ones").count(), 1);
    }

    #[test]
    fn a_language_file_gets_the_example_under_its_intent() {
        let before = "# ru\n\n[intents]\npassword_reset = [\n  \"забыл пароль\",\n]\naccount_locked = [\"заблокировали\"]\n\n[acts]\ndeny = [\"нет\"]\n";
        let after = appended(
            before,
            Some("intents"),
            "password_reset",
            "пароль сброс не идет",
        )
        .unwrap();
        assert_eq!(added_lines(before, &after), ["  \"пароль сброс не идет\","]);
        // A one-line array stays on its line.
        let after = appended(before, Some("intents"), "account_locked", "акк в блоке").unwrap();
        assert!(
            after.contains("account_locked = [\"заблокировали\", \"акк в блоке\"]\n"),
            "{after}"
        );
        assert_eq!(after.lines().count(), before.lines().count());
        assert_eq!(
            appended(before, Some("intents"), "two_factor", "x").unwrap_err(),
            "there is no `two_factor` under [intents] to add to"
        );
        assert!(appended(before, Some("acts"), "deny", "x").is_ok());
        assert!(appended("examples = 3\n", None, "x", "y").is_err());
    }

    /// A copy of the repository's catalog.
    fn catalog_copy() -> tempfile::TempDir {
        fn copy(from: &Path, to: &Path) {
            std::fs::create_dir_all(to).unwrap();
            for entry in std::fs::read_dir(from).unwrap() {
                let entry = entry.unwrap();
                let target = to.join(entry.file_name());
                if entry.file_type().unwrap().is_dir() {
                    copy(&entry.path(), &target);
                } else {
                    std::fs::copy(entry.path(), target).unwrap();
                }
            }
        }
        let dir = tempfile::tempdir().unwrap();
        copy(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../intents"),
            dir.path(),
        );
        dir
    }

    #[test]
    fn a_catalog_that_no_longer_loads_is_restored_and_duplicates_are_refused() {
        let dir = catalog_copy();
        let file = dir.path().join("account_locked.toml");
        let original = std::fs::read(&file).unwrap();
        let err = add_example_checked(
            dir.path(),
            "account_locked",
            "en",
            "acc frozen after 3 tries??",
            &|_| Err("the loader said no".into()),
        )
        .unwrap_err();
        assert!(
            matches!(&err, AddError::Invalid { why, .. } if why == "the loader said no"),
            "{err}"
        );
        assert!(err.to_string().contains("was restored"), "{err}");
        assert_eq!(std::fs::read(&file).unwrap(), original);
        // With the real loader it goes in, once; the same text again (in any case, with other
        // spacing: the catalog's normalised form) is a duplicate, of this intent or as
        // another's example.
        let added = add_example(
            dir.path(),
            "account_locked",
            "en",
            "acc frozen after 3 tries??",
        )
        .unwrap();
        assert_eq!(added.file, file);
        for (label, text) in [
            ("account_locked", "Acc frozen  after 3 tries??"),
            ("password_reset", "ACC FROZEN AFTER 3 TRIES??"),
        ] {
            let err = add_example(dir.path(), label, "en", text).unwrap_err();
            assert!(
                matches!(&err, AddError::Duplicate { intent, .. } if intent == "account_locked"),
                "{err}"
            );
        }
        let err = add_example(dir.path(), "account_lockd", "en", "x y z").unwrap_err();
        assert!(matches!(err, AddError::UnknownIntent { .. }), "{err}");
        let err = add_example(dir.path(), "account_locked", "en", " \u{200b} ").unwrap_err();
        assert!(matches!(err, AddError::Empty(_)), "{err}");
        let err = add_example(dir.path(), "account_locked", "xx", "kunci akun").unwrap_err();
        assert!(matches!(err, AddError::Io { .. }), "{err}");
    }

    #[test]
    fn labels_name_the_out_of_scope_file_either_way() {
        assert_eq!(canonical_label(" OOS "), OUT_OF_SCOPE);
        assert_eq!(canonical_label("out_of_scope"), OUT_OF_SCOPE);
        assert_eq!(canonical_label("password_reset"), "password_reset");
    }
}

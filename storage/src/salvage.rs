//! `export --salvage`: a backup of everything that can still be read from a damaged database.
//!
//! [`salvage`] differs from [`Store::export`](crate::Store::export), which stops at the first
//! error, in three ways:
//!
//! - It works on a temporary **copy** of the database. sled's recovery stops at the first
//!   corrupt log entry and overwrites the rest of the log (`pagecache/snapshot.rs`, measured:
//!   a database with 32 flipped bytes opened in place kept 6 of its 100 conversations), so
//!   the original must never be opened by it; it is left as it was for other tools.
//! - A tree that cannot be read to the end is read forwards up to the damage and backwards
//!   from its end down to the damage; a tree that cannot be opened is skipped. Each is
//!   reported.
//! - Every record is decoded the way the bot will read it ([`check_record`]); one that does
//!   not decode is not written and is reported with its tree and key.

use std::io::Write;
use std::path::Path;

use crate::StorageError;
use crate::backup::{
    BACKUP_FORMAT, BackupError, BackupSummary, Bytes, KNOWN, META, Record, decode,
};
use crate::existing::{copy_db, existing_db};
use crate::store::{META_SCHEMA, SCHEMA_VERSION, open_db};
use crate::validate::{PayloadCheck, check_record};

/// A record, or a run of records, that [`salvage`] could not write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The tree it is in.
    pub tree: String,
    /// Its key, shown with bytes that are not printable text escaped (`\0`, `\x1b`, `\xff`);
    /// `None` for a part of a tree that could not be read at all.
    pub key: Option<String>,
    /// Why.
    pub error: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.key {
            Some(k) => write!(f, "{} key \"{k}\": {}", self.tree, self.error),
            None => write!(f, "{}: {}", self.tree, self.error),
        }
    }
}

/// What [`salvage`] wrote and what it could not.
#[derive(Debug, Clone, Default)]
pub struct SalvageReport {
    /// The records written, by kind.
    pub written: BackupSummary,
    /// The records (or runs of records) left out.
    pub unreadable: Vec<Unreadable>,
}

/// `key` as text: printable characters as they are, anything else escaped.
pub fn show_key(key: &[u8]) -> String {
    let mut out = String::new();
    for chunk in key.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Writes a backup (the format of [`Store::export`](crate::Store::export)) of every record of
/// the database in `data_dir` that can still be read and decodes the way the bot will read it
/// (`check` decodes conversation states and channel payloads), and returns what it left out.
/// The database itself is only read (see the [module docs](self)). Fails with
/// [`StorageError::Missing`] when there is no database, and when not even a copy opens.
pub fn salvage(
    data_dir: &Path,
    out: &mut dyn Write,
    check: PayloadCheck<'_>,
) -> Result<SalvageReport, BackupError> {
    let path = existing_db(data_dir)?;
    let (_tmp, copy) = copy_db(&path)?;
    let db = open_db(&copy)?;
    let mut report = SalvageReport::default();
    let emit = |out: &mut dyn Write, r: &Record, report: &mut SalvageReport| {
        serde_json::to_writer(&mut *out, r).map_err(StorageError::Encode)?;
        out.write_all(b"\n")?;
        report.written.count(r);
        Ok::<_, BackupError>(())
    };
    emit(
        out,
        &Record::Header {
            format: BACKUP_FORMAT,
            schema_version: SCHEMA_VERSION,
        },
        &mut report,
    )?;
    let mut names: Vec<String> = KNOWN.iter().map(|s| s.to_string()).collect();
    for name in db.tree_names() {
        let name = String::from_utf8_lossy(&name).into_owned();
        if !names.contains(&name) && name != "__sled__default" {
            names.push(name);
        }
    }
    for name in &names {
        let tree = match db.open_tree(name) {
            Ok(t) => t,
            Err(e) => {
                report.unreadable.push(Unreadable {
                    tree: name.clone(),
                    key: None,
                    error: format!("the tree cannot be opened: {e}"),
                });
                continue;
            }
        };
        for (k, v) in readable(&tree, name, &mut report.unreadable) {
            if name == META && k.as_ref() == META_SCHEMA {
                continue;
            }
            if let Err(error) = check_record(name, &k, &v, check) {
                report.unreadable.push(Unreadable {
                    tree: name.clone(),
                    key: Some(show_key(&k)),
                    error,
                });
                continue;
            }
            let record = decode(name, &k, &v).unwrap_or_else(|| Record::Raw {
                tree: name.clone(),
                key: Bytes::of(&k),
                value: Bytes::of(&v),
            });
            emit(out, &record, &mut report)?;
        }
    }
    out.flush()?;
    Ok(report)
}

/// The records of `tree` that sled can read, in key order: forwards up to the first error,
/// then backwards from the end down to the first error from that side. What lies between is
/// reported in `unreadable`.
fn readable(
    tree: &sled::Tree,
    name: &str,
    unreadable: &mut Vec<Unreadable>,
) -> Vec<(sled::IVec, sled::IVec)> {
    let mut front = Vec::new();
    let mut damage = None;
    for item in tree.iter() {
        match item {
            Ok(kv) => front.push(kv),
            Err(e) => {
                damage = Some(e);
                break;
            }
        }
    }
    let Some(first_error) = damage else {
        return front;
    };
    let after = front.last().map(|(k, _)| k.clone());
    let mut back = Vec::new();
    let mut back_error = None;
    for item in tree.iter().rev() {
        match item {
            Ok((k, v)) => {
                if after.as_ref().is_some_and(|a| k <= *a) {
                    break;
                }
                back.push((k, v));
            }
            Err(e) => {
                back_error = Some(e);
                break;
            }
        }
    }
    let from = after
        .as_deref()
        .map_or("the start".into(), |k| format!("key \"{}\"", show_key(k)));
    let to = back.last().map_or("the end".into(), |(k, _)| {
        format!("key \"{}\"", show_key(k))
    });
    unreadable.push(Unreadable {
        tree: name.to_string(),
        key: None,
        error: format!(
            "records after {from} and before {to} cannot be read: {first_error}{}",
            back_error
                .map(|e| format!(" (read backwards: {e})"))
                .unwrap_or_default()
        ),
    });
    back.reverse();
    front.extend(back);
    front
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use crate::validate::{Payload, accept_any};

    #[test]
    fn keys_are_shown_with_escapes() {
        assert_eq!(show_key(b"console\0ann\0"), "console\\u{0}ann\\u{0}");
        assert_eq!(show_key("\u{1b}]0;x\u{7}".as_bytes()), "\\u{1b}]0;x\\u{7}");
        assert_eq!(show_key(&[b'a', 0xff]), "a\\xff");
        assert_eq!(show_key("Zoë".as_bytes()), "Zoë");
    }

    #[test]
    fn records_that_do_not_decode_are_left_out_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .conversations
            .insert(b"console\0ann\0", br#"{"phase":"idle"}"#.as_slice())
            .unwrap();
        store
            .conversations
            .insert(b"console\0bob\0", b"{}".as_slice())
            .unwrap();
        store
            .tickets
            .insert(7u64.to_be_bytes(), b"{\"number\":7".as_slice())
            .unwrap();
        store.flush().unwrap();
        drop(store);
        let before = std::fs::read(dir.path().join("db/db")).unwrap();
        let bot = |p: Payload<'_>| match p {
            Payload::Conversation { state, .. } if state == b"{}" => {
                Err("missing field `phase`".to_string())
            }
            other => accept_any(other),
        };
        let mut out = Vec::new();
        let report = salvage(dir.path(), &mut out, &bot).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(report.written.conversations, 1);
        assert_eq!(report.written.tickets, 0);
        assert!(text.contains("\"user\":\"ann\"") && !text.contains("\"bob\""));
        let shown: Vec<String> = report.unreadable.iter().map(|u| u.to_string()).collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(shown[0].contains("console\\u{0}bob") && shown[0].contains("phase"));
        assert!(shown[1].starts_with("tickets key"), "{shown:?}");
        // The salvaged file imports cleanly, and the original was not touched.
        let restored = tempfile::tempdir().unwrap();
        let r = Store::open(restored.path()).unwrap();
        r.import(&mut text.as_bytes()).unwrap();
        assert_eq!(r.record_count().unwrap(), 1);
        assert_eq!(std::fs::read(dir.path().join("db/db")).unwrap(), before);
    }

    #[test]
    fn a_missing_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = salvage(&dir.path().join("nope"), &mut Vec::new(), &accept_any).unwrap_err();
        assert!(err.to_string().contains("no deskbot database"), "{err}");
    }
}

//! Backup and restore: the whole database as JSON Lines.
//!
//! [`Store::export`] writes one JSON object per line: first a header
//! (`{"kind":"header","format":1,"schema_version":1}`), then every record the store holds,
//! tree by tree, in key order:
//!
//! | `kind` | fields | from tree |
//! |---|---|---|
//! | `conversation` | `channel`, `user`, `state` (the stored JSON) | `conversations` |
//! | `transcript` | `channel`, `user`, `seq`, `entry` (the stored JSON) | `transcripts` |
//! | `ticket` | `ticket` (the stored JSON) | `tickets` |
//! | `open_ticket` | `number`, `channel`, `user` | `open_tickets` |
//! | `meta` | `key`, `value` (bytes) | `meta` (counters; not the schema version) |
//! | `inbox` | `channel`, `id`, `payload` (bytes) | `channel_inbox` |
//! | `outbox` | `channel`, `target`, `seq`, `payload` (bytes) | `channel_outbox` |
//! | `mark` | `channel`, `name`, `value` (bytes) | `channel_marks` |
//! | `raw` | `tree`, `key`, `value` (bytes) | any other tree, or a record whose key has an unexpected shape |
//!
//! Bytes are `{"text": "..."}` when they are UTF-8 and `{"hex": "..."}` otherwise, so nothing
//! the store holds is lost, including trees added after this file was written.
//!
//! [`Store::import`] reads such a file into an *empty* store (it refuses one that holds
//! anything) and flushes it. Transcript lines and outbox entries get new sequence numbers from
//! the database's id generator, in the order of the file's lines (the export's order), so the
//! order of each conversation and each outbox is kept and ids generated afterwards sort after
//! the imported ones. A failed import removes what it wrote, leaving the store empty.
//!
//! The export is not a point-in-time snapshot across trees: take it from a stopped bot (the
//! `deskbot export` command opens the database, which sled only allows when no other process
//! has it open).

use std::io::{BufRead, Read, Seek, Write};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::store::{META_SCHEMA, SCHEMA_VERSION, Store};
use crate::validate::{PayloadCheck, check_record};
use crate::{ConvKey, StorageError};

/// The version of the backup file format written by [`Store::export`].
pub const BACKUP_FORMAT: u32 = 1;

/// The longest line [`Store::import`] accepts, in bytes (a ticket with a long transcript is
/// well below this).
const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// How much of a backup being imported is kept in memory while its lines are checked; the
/// rest goes to a temporary file.
const SPOOL_IN_MEMORY: usize = 16 * 1024 * 1024;

/// Why an export or import failed.
#[derive(Debug, Error)]
pub enum BackupError {
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Reading or writing the backup file failed.
    #[error("backup file: {0}")]
    Io(#[from] std::io::Error),
    /// A line of the backup file is not a valid record.
    #[error("backup line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The file does not start with a header this build can read.
    #[error("not a deskbot backup this version can read: {0}")]
    Format(String),
    /// The store to import into already holds data.
    #[error(
        "the database at {path} already holds data ({records} records); import only into an empty data directory (move the old one away or pass another --data-dir)"
    )]
    NotEmpty {
        /// The database directory.
        path: String,
        /// How many records it holds (besides the schema version).
        records: u64,
    },
}

impl From<sled::Error> for BackupError {
    fn from(e: sled::Error) -> Self {
        BackupError::Storage(StorageError::Sled(e))
    }
}

/// How many records an export wrote or an import read, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupSummary {
    /// Conversation states.
    pub conversations: u64,
    /// Transcript lines.
    pub transcript_lines: u64,
    /// Tickets (open and closed).
    pub tickets: u64,
    /// Inbox, outbox and mark entries of the chat channels.
    pub channel_records: u64,
    /// Everything else: counters, the open-ticket index, raw records.
    pub other: u64,
}

impl BackupSummary {
    /// All records counted.
    pub fn total(&self) -> u64 {
        self.conversations
            + self.transcript_lines
            + self.tickets
            + self.channel_records
            + self.other
    }

    pub(crate) fn count(&mut self, record: &Record) {
        match record {
            Record::Header { .. } => {}
            Record::Conversation { .. } => self.conversations += 1,
            Record::Transcript { .. } => self.transcript_lines += 1,
            Record::Ticket { .. } => self.tickets += 1,
            Record::Inbox { .. } | Record::Outbox { .. } | Record::Mark { .. } => {
                self.channel_records += 1
            }
            Record::OpenTicket { .. } | Record::Meta { .. } | Record::Raw { .. } => self.other += 1,
        }
    }
}

impl std::fmt::Display for BackupSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} conversations, {} transcript lines, {} tickets, {} channel records, {} other records",
            self.conversations,
            self.transcript_lines,
            self.tickets,
            self.channel_records,
            self.other
        )
    }
}

/// Bytes in a backup line: text when UTF-8, hex otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Bytes {
    Text(String),
    Hex(String),
}

impl Bytes {
    pub(crate) fn of(b: &[u8]) -> Self {
        match std::str::from_utf8(b) {
            Ok(s) => Bytes::Text(s.to_string()),
            Err(_) => Bytes::Hex(b.iter().map(|x| format!("{x:02x}")).collect()),
        }
    }

    fn to_vec(&self) -> Result<Vec<u8>, String> {
        match self {
            Bytes::Text(s) => Ok(s.as_bytes().to_vec()),
            Bytes::Hex(h) => {
                if h.len() % 2 != 0 || !h.is_ascii() {
                    return Err(format!("invalid hex {h:?}"));
                }
                (0..h.len())
                    .step_by(2)
                    .map(|i| {
                        u8::from_str_radix(&h[i..i + 2], 16)
                            .map_err(|_| format!("invalid hex {h:?}"))
                    })
                    .collect()
            }
        }
    }
}

/// One line of a backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Record {
    Header {
        format: u32,
        schema_version: u32,
    },
    Conversation {
        channel: String,
        user: String,
        state: Value,
    },
    Transcript {
        channel: String,
        user: String,
        seq: u64,
        entry: Value,
    },
    Ticket {
        ticket: Value,
    },
    OpenTicket {
        number: u64,
        channel: String,
        user: String,
    },
    Meta {
        key: Bytes,
        value: Bytes,
    },
    Inbox {
        channel: String,
        id: u64,
        payload: Bytes,
    },
    Outbox {
        channel: String,
        target: String,
        seq: u64,
        payload: Bytes,
    },
    Mark {
        channel: String,
        name: Bytes,
        value: Bytes,
    },
    Raw {
        tree: String,
        key: Bytes,
        value: Bytes,
    },
}

/// Tree names, as `Store::open` opens them.
pub(crate) const CONVERSATIONS: &str = "conversations";
pub(crate) const TRANSCRIPTS: &str = "transcripts";
pub(crate) const TICKETS: &str = "tickets";
pub(crate) const OPEN_TICKETS: &str = "open_tickets";
pub(crate) const META: &str = "meta";
pub(crate) const INBOX: &str = "channel_inbox";
pub(crate) const OUTBOX: &str = "channel_outbox";
pub(crate) const MARKS: &str = "channel_marks";
pub(crate) const KNOWN: [&str; 8] = [
    CONVERSATIONS,
    TRANSCRIPTS,
    TICKETS,
    OPEN_TICKETS,
    META,
    INBOX,
    OUTBOX,
    MARKS,
];

/// Splits `bytes` at the first NUL: (text before it, rest after it).
fn take_part(bytes: &[u8]) -> Option<(String, &[u8])> {
    let end = bytes.iter().position(|&b| b == 0)?;
    let part = std::str::from_utf8(&bytes[..end]).ok()?.to_string();
    Some((part, &bytes[end + 1..]))
}

fn be64(bytes: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(bytes).ok().map(u64::from_be_bytes)
}

fn json(bytes: &[u8]) -> Option<Value> {
    serde_json::from_slice(bytes).ok()
}

/// The typed record for a key/value of a known tree; `None` when its shape is unexpected (it
/// is then exported raw).
pub(crate) fn decode(tree: &str, k: &[u8], v: &[u8]) -> Option<Record> {
    Some(match tree {
        CONVERSATIONS => {
            let (channel, rest) = take_part(k)?;
            let (user, rest) = take_part(rest)?;
            if !rest.is_empty() {
                return None;
            }
            Record::Conversation {
                channel,
                user,
                state: json(v)?,
            }
        }
        TRANSCRIPTS => {
            let (channel, rest) = take_part(k)?;
            let (user, rest) = take_part(rest)?;
            Record::Transcript {
                channel,
                user,
                seq: be64(rest)?,
                entry: json(v)?,
            }
        }
        TICKETS => {
            be64(k)?;
            Record::Ticket { ticket: json(v)? }
        }
        OPEN_TICKETS => {
            let (channel, rest) = take_part(v)?;
            let (user, rest) = take_part(rest)?;
            if !rest.is_empty() {
                return None;
            }
            Record::OpenTicket {
                number: be64(k)?,
                channel,
                user,
            }
        }
        META => Record::Meta {
            key: Bytes::of(k),
            value: Bytes::of(v),
        },
        INBOX => {
            let (channel, rest) = take_part(k)?;
            Record::Inbox {
                channel,
                id: be64(rest)?,
                payload: Bytes::of(v),
            }
        }
        OUTBOX => {
            let (channel, rest) = take_part(k)?;
            let (target, rest) = take_part(rest)?;
            Record::Outbox {
                channel,
                target,
                seq: be64(rest)?,
                payload: Bytes::of(v),
            }
        }
        MARKS => {
            let (channel, rest) = take_part(k)?;
            Record::Mark {
                channel,
                name: Bytes::of(rest),
                value: Bytes::of(v),
            }
        }
        _ => return None,
    })
}

fn nul_joined(parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::new();
    for p in parts {
        k.extend_from_slice(p);
        k.push(0);
    }
    k
}

fn text_part(what: &str, s: &str) -> Result<(), String> {
    if s.contains('\0') {
        Err(format!("{what} contains NUL"))
    } else {
        Ok(())
    }
}

fn json_bytes(v: &Value) -> Result<Vec<u8>, String> {
    serde_json::to_vec(v).map_err(|e| e.to_string())
}

impl Store {
    /// Writes every record of the database to `out` as JSON Lines (see the [module
    /// docs](crate::backup) for the format) and returns how many of each kind it wrote.
    pub fn export(&self, out: &mut dyn Write) -> Result<BackupSummary, BackupError> {
        let mut summary = BackupSummary::default();
        let mut emit = |out: &mut dyn Write, r: &Record| -> Result<(), BackupError> {
            serde_json::to_writer(&mut *out, r).map_err(StorageError::Encode)?;
            out.write_all(b"\n")?;
            summary.count(r);
            Ok(())
        };
        emit(
            out,
            &Record::Header {
                format: BACKUP_FORMAT,
                schema_version: SCHEMA_VERSION,
            },
        )?;
        let mut names: Vec<String> = KNOWN.iter().map(|s| s.to_string()).collect();
        for name in self.db.tree_names() {
            let name = String::from_utf8_lossy(&name).into_owned();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        for name in &names {
            let tree = self.db.open_tree(name)?;
            for item in tree.iter() {
                let (k, v) = item?;
                if name == META && k.as_ref() == META_SCHEMA {
                    continue;
                }
                let record = decode(name, &k, &v).unwrap_or_else(|| Record::Raw {
                    tree: name.clone(),
                    key: Bytes::of(&k),
                    value: Bytes::of(&v),
                });
                emit(out, &record)?;
            }
        }
        out.flush()?;
        Ok(summary)
    }

    /// How many records the database holds, besides its schema version.
    pub fn record_count(&self) -> Result<u64, StorageError> {
        let mut n = 0u64;
        for name in self.db.tree_names() {
            let tree = self.db.open_tree(&name)?;
            for item in tree.iter().keys() {
                let k = item?;
                if !(name.as_ref() == META.as_bytes() && k.as_ref() == META_SCHEMA) {
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// [`Store::import_checked`] with storage's own checks only: conversation states and
    /// channel payloads are taken as they are (storage does not know their types).
    pub fn import(&self, input: &mut dyn BufRead) -> Result<BackupSummary, BackupError> {
        self.import_checked(input, &crate::validate::accept_any)
    }

    /// Reads a backup written by [`Store::export`] into this store, which must be empty
    /// ([`BackupError::NotEmpty`] otherwise), and flushes it to disk. Every record is first
    /// decoded the way the bot will read it ([`crate::validate::check_record`], with `check`
    /// for conversation states and channel payloads); the first that does not decode fails
    /// the import with [`BackupError::Line`] naming its line. On any error, what was written
    /// is removed again and the store is left empty.
    pub fn import_checked(
        &self,
        input: &mut dyn BufRead,
        check: PayloadCheck<'_>,
    ) -> Result<BackupSummary, BackupError> {
        let records = self.record_count()?;
        if records > 0 {
            return Err(BackupError::NotEmpty {
                path: self.path().display().to_string(),
                records,
            });
        }
        let result = self.import_lines(input, check);
        // The import wrote `open_tickets` directly: reload the open-ticket mirror when needed.
        *crate::batch::lock(&self.open_index) = None;
        match result {
            Ok(summary) => {
                self.db.flush()?;
                Ok(summary)
            }
            Err(e) => {
                // Leave the store as it was: empty (besides the schema version).
                for name in self.db.tree_names() {
                    let tree = self.db.open_tree(&name)?;
                    if name.as_ref() == META.as_bytes() {
                        for k in tree.iter().keys() {
                            let k = k?;
                            if k.as_ref() != META_SCHEMA {
                                tree.remove(k)?;
                            }
                        }
                    } else {
                        tree.clear()?;
                    }
                }
                self.db.flush()?;
                Err(e)
            }
        }
    }

    fn import_lines(
        &self,
        input: &mut dyn BufRead,
        check: PayloadCheck<'_>,
    ) -> Result<BackupSummary, BackupError> {
        // First every line is read and checked, kept in a spool (memory, then a temporary
        // file); only when all of them decode is anything written.
        let mut spool = tempfile::spooled_tempfile(SPOOL_IN_MEMORY);
        let header = Record::Header {
            format: BACKUP_FORMAT,
            schema_version: SCHEMA_VERSION,
        };
        serde_json::to_writer(&mut spool, &header).map_err(StorageError::Encode)?;
        spool.write_all(b"\n")?;
        // The spool holds the header, then one line per record: its line in the file is kept
        // aside so a write error names the line of the file.
        let mut lines_in_file = Vec::new();
        read_lines(input, &mut |line, raw, record| {
            check_line(record, check)?;
            lines_in_file.push(line);
            spool
                .write_all(raw)
                .and_then(|()| spool.write_all(b"\n"))
                .map_err(|e| format!("cannot spool the backup: {e}"))
        })?;
        spool.seek(std::io::SeekFrom::Start(0))?;
        let mut spooled = std::io::BufReader::new(spool);
        read_lines(&mut spooled, &mut |_, _, record| self.apply(record)).map_err(|e| match e {
            BackupError::Line { line, message } => BackupError::Line {
                line: line
                    .checked_sub(2)
                    .and_then(|i| lines_in_file.get(i).copied())
                    .unwrap_or(line),
                message,
            },
            other => other,
        })
    }
}

/// What [`read_lines`] hands each record to: its line number, raw bytes and parsed form.
type LineSink<'a> = dyn FnMut(usize, &[u8], &Record) -> Result<(), String> + 'a;

/// Reads a backup's lines, checks its header, and hands each record (its line number, raw
/// bytes and parsed form) to `sink`; an `Err` of `sink` becomes [`BackupError::Line`].
fn read_lines(
    input: &mut dyn BufRead,
    sink: &mut LineSink<'_>,
) -> Result<BackupSummary, BackupError> {
    let mut summary = BackupSummary::default();
    let mut buf = Vec::new();
    let mut line = 0usize;
    let mut header = false;
    loop {
        buf.clear();
        let n = (&mut *input)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        line += 1;
        if buf.len() > MAX_LINE_BYTES {
            return Err(BackupError::Line {
                line,
                message: format!("longer than {MAX_LINE_BYTES} bytes"),
            });
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record: Record = serde_json::from_slice(&buf).map_err(|e| BackupError::Line {
            line,
            message: e.to_string(),
        })?;
        if !header {
            match record {
                Record::Header {
                    format,
                    schema_version,
                } => {
                    if format != BACKUP_FORMAT || schema_version != SCHEMA_VERSION {
                        return Err(BackupError::Format(format!(
                            "backup format {format} with schema version {schema_version}; this deskbot reads format {BACKUP_FORMAT}, schema version {SCHEMA_VERSION}"
                        )));
                    }
                    header = true;
                    continue;
                }
                _ => {
                    return Err(BackupError::Format("the first line is not a header".into()));
                }
            }
        }
        let raw = buf.strip_suffix(b"\n").unwrap_or(&buf);
        sink(line, raw, &record).map_err(|message| BackupError::Line { line, message })?;
        summary.count(&record);
    }
    if !header {
        return Err(BackupError::Format("the file is empty".into()));
    }
    Ok(summary)
}

impl Store {
    /// Writes one record. Errors are messages for [`BackupError::Line`].
    fn apply(&self, record: &Record) -> Result<(), String> {
        let db_err = |e: sled::Error| format!("database error: {e}");
        let mut fresh = |_: u64| self.db.generate_id().map_err(db_err);
        let (tree, key, value) = encode(record, &mut fresh)?;
        let tree = self.db.open_tree(&tree).map_err(db_err)?;
        if tree.insert(key, value).map_err(db_err)?.is_some() {
            return Err("a duplicate record (its key was already imported)".into());
        }
        Ok(())
    }
}

/// The tree, key and value a record is stored as; `seq` gives the sequence number of a
/// transcript line or an outbox entry from the one in the file. Errors are messages for
/// [`BackupError::Line`].
fn encode(
    record: &Record,
    seq: &mut dyn FnMut(u64) -> Result<u64, String>,
) -> Result<(String, Vec<u8>, Vec<u8>), String> {
    let conv = |channel: &str, user: &str| {
        let platform: crate::Platform = channel
            .parse()
            .map_err(|e: crate::UnknownPlatform| e.to_string())?;
        ConvKey::new(platform, user)
            .encode()
            .map_err(|e| e.to_string())
    };
    let (tree, key, value): (&str, Vec<u8>, Vec<u8>) = match record {
        Record::Header { .. } => return Err("a second header".into()),
        Record::Conversation {
            channel,
            user,
            state,
        } => (CONVERSATIONS, conv(channel, user)?, json_bytes(state)?),
        Record::Transcript {
            channel,
            user,
            seq: s,
            entry,
        } => {
            let mut key = conv(channel, user)?;
            key.extend_from_slice(&seq(*s)?.to_be_bytes());
            (TRANSCRIPTS, key, json_bytes(entry)?)
        }
        Record::Ticket { ticket } => {
            let number = ticket
                .get("number")
                .and_then(Value::as_u64)
                .ok_or("a ticket without a numeric `number`")?;
            (TICKETS, number.to_be_bytes().to_vec(), json_bytes(ticket)?)
        }
        Record::OpenTicket {
            number,
            channel,
            user,
        } => (
            OPEN_TICKETS,
            number.to_be_bytes().to_vec(),
            conv(channel, user)?,
        ),
        Record::Meta { key, value } => {
            let key = key.to_vec()?;
            if key == META_SCHEMA {
                return Err("the schema version is set by the header, not a meta record".into());
            }
            (META, key, value.to_vec()?)
        }
        Record::Inbox {
            channel,
            id,
            payload,
        } => {
            text_part("channel", channel)?;
            let mut key = nul_joined(&[channel.as_bytes()]);
            key.extend_from_slice(&id.to_be_bytes());
            (INBOX, key, payload.to_vec()?)
        }
        Record::Outbox {
            channel,
            target,
            seq: s,
            payload,
        } => {
            text_part("channel", channel)?;
            text_part("target", target)?;
            let mut key = nul_joined(&[channel.as_bytes(), target.as_bytes()]);
            key.extend_from_slice(&seq(*s)?.to_be_bytes());
            (OUTBOX, key, payload.to_vec()?)
        }
        Record::Mark {
            channel,
            name,
            value,
        } => {
            text_part("channel", channel)?;
            let mut key = nul_joined(&[channel.as_bytes()]);
            key.extend_from_slice(&name.to_vec()?);
            (MARKS, key, value.to_vec()?)
        }
        Record::Raw { tree, key, value } => {
            let key = key.to_vec()?;
            if tree == META && key == META_SCHEMA {
                return Err("the schema version is set by the header, not a raw record".into());
            }
            return Ok((tree.clone(), key, value.to_vec()?));
        }
    };
    if channel_empty(record) {
        return Err("an empty channel name".into());
    }
    Ok((tree.to_string(), key, value))
}

/// Checks that a record of a backup decodes the way the bot will read it, without writing
/// anything.
fn check_line(record: &Record, check: PayloadCheck<'_>) -> Result<(), String> {
    let (tree, key, value) = encode(record, &mut |s| Ok(s))?;
    check_record(&tree, &key, &value, check)
}

fn channel_empty(record: &Record) -> bool {
    match record {
        Record::Inbox { channel, .. }
        | Record::Outbox { channel, .. }
        | Record::Mark { channel, .. } => channel.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_as_text_or_hex() {
        for b in [&b"hello"[..], &[0, 159, 255, 1][..], &[][..]] {
            let enc = Bytes::of(b);
            assert_eq!(enc.to_vec().unwrap(), b);
        }
        assert_eq!(Bytes::of(&[0xff, 0x00]), Bytes::Hex("ff00".into()));
        assert!(Bytes::Hex("f".into()).to_vec().is_err());
        assert!(Bytes::Hex("zz".into()).to_vec().is_err());
        assert!(Bytes::Hex("é0".into()).to_vec().is_err());
    }

    #[test]
    fn trees_unknown_to_this_file_round_trip_raw() {
        let a = tempfile::tempdir().unwrap();
        let store = Store::open(a.path()).unwrap();
        let extra = store.db.open_tree("future_tree").unwrap();
        extra.insert(&[0u8, 1, 2][..], &b"v1"[..]).unwrap();
        extra.insert(&b"k"[..], &[0xffu8][..]).unwrap();
        // A known tree with a key of an unexpected shape is exported raw, but the bot could
        // not read it back, so it is not imported.
        store.transcripts.insert(&b"odd"[..], &b"{}"[..]).unwrap();
        let mut out = Vec::new();
        store.export(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(r#""tree":"transcripts","key":{"text":"odd"}"#),
            "{text}"
        );
        let b = tempfile::tempdir().unwrap();
        let restored = Store::open(b.path()).unwrap();
        let err = restored
            .import(&mut text.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("transcript key"), "{err}");
        assert_eq!(restored.record_count().unwrap(), 0);
        let kept: String = text
            .lines()
            .filter(|l| !l.contains("\"odd\""))
            .map(|l| format!("{l}\n"))
            .collect();
        restored.import(&mut kept.as_bytes()).unwrap();
        let extra = restored.db.open_tree("future_tree").unwrap();
        assert_eq!(extra.get([0u8, 1, 2]).unwrap().unwrap().as_ref(), b"v1");
        assert_eq!(extra.get(b"k").unwrap().unwrap().as_ref(), [0xffu8]);
        assert_eq!(restored.record_count().unwrap(), 2);
    }

    #[test]
    fn unexpected_key_shapes_are_not_decoded() {
        assert!(decode(TRANSCRIPTS, b"console\0ann\0short", b"{}").is_none());
        assert!(decode(CONVERSATIONS, b"console\0ann\0", b"not json").is_none());
        assert!(decode(TICKETS, b"123", b"{}").is_none());
        assert!(matches!(
            decode(CONVERSATIONS, b"console\0ann\0", b"{\"a\":1}"),
            Some(Record::Conversation { .. })
        ));
    }
}

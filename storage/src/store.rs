//! The sled-backed store.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::TransactionError;

use crate::batch::{PreparedTicket, PreparedTurn};
use crate::channel::{AlreadyHandled, ChannelWrite};
use crate::keys::transcript_key;
use crate::{ConvKey, StorageError, Ticket, TranscriptEntry};

/// The on-disk schema this build reads and writes. Bump it when a record's shape changes in a
/// way older code cannot read.
pub const SCHEMA_VERSION: u32 = 1;

pub(crate) const META_SCHEMA: &[u8] = b"schema_version";
pub(crate) const META_TICKET_COUNTER: &[u8] = b"ticket_counter";
/// The most transcript lines copied into a ticket.
const TICKET_TRANSCRIPT_LINES: usize = 100;

/// Everything one turn writes, applied atomically by [`Store::commit_turn`].
#[derive(Debug)]
pub struct TurnWrite<'a, S> {
    /// The conversation.
    pub key: &'a ConvKey,
    /// Its new state.
    pub state: &'a S,
    /// Lines to append to its transcript.
    pub transcript: &'a [TranscriptEntry],
    /// Tickets to insert or replace.
    pub tickets: &'a [Ticket],
    /// Channel bookkeeping committed with the turn (the update it handles, the replies to
    /// deliver); see [`crate::channel`]. `None` for channels that reply directly (console).
    pub channel: Option<&'a ChannelWrite>,
}

/// Handle to the database. Cheap to clone; all clones share one database.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: sled::Db,
    path: PathBuf,
    pub(crate) conversations: sled::Tree,
    pub(crate) transcripts: sled::Tree,
    pub(crate) tickets: sled::Tree,
    pub(crate) open_tickets: sled::Tree,
    pub(crate) meta: sled::Tree,
    pub(crate) inbox: sled::Tree,
    pub(crate) outbox: sled::Tree,
    pub(crate) channel_marks: sled::Tree,
    durability: std::sync::Arc<crate::group_commit::GroupCommit>,
    pub(crate) committer: std::sync::Arc<crate::batch::TurnCommitter>,
    pub(crate) open_index: std::sync::Arc<crate::batch::OpenIndex>,
    /// The temporary copy this store was opened from, when the database itself could not be
    /// opened for writing ([`Store::open_existing`]); removed when the last clone is dropped.
    copy: Option<std::sync::Arc<tempfile::TempDir>>,
}

impl Store {
    /// Opens (or creates) the database in `data_dir/db`.
    ///
    /// Fails with [`StorageError::Locked`] when another process has it open, and with
    /// [`StorageError::IncompatibleSchema`] when it was written by an incompatible version.
    pub fn open(data_dir: &Path) -> Result<Self, StorageError> {
        let path = data_dir.join("db");
        let db = open_db(&path)?;
        Self::from_db(db, path, None)
    }

    /// The store over an opened database at `path`.
    pub(crate) fn from_db(
        db: sled::Db,
        path: PathBuf,
        copy: Option<std::sync::Arc<tempfile::TempDir>>,
    ) -> Result<Self, StorageError> {
        let store = Self {
            conversations: db.open_tree("conversations")?,
            transcripts: db.open_tree("transcripts")?,
            tickets: db.open_tree("tickets")?,
            open_tickets: db.open_tree("open_tickets")?,
            meta: db.open_tree("meta")?,
            inbox: db.open_tree("channel_inbox")?,
            outbox: db.open_tree("channel_outbox")?,
            channel_marks: db.open_tree("channel_marks")?,
            durability: Default::default(),
            committer: Default::default(),
            open_index: Default::default(),
            copy,
            db,
            path,
        };
        store.check_schema()?;
        Ok(store)
    }

    fn check_schema(&self) -> Result<(), StorageError> {
        match self.meta.get(META_SCHEMA)? {
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| StorageError::Corrupt {
                        tree: "meta",
                        message: "schema_version is not 4 bytes".into(),
                    })?;
                if found != SCHEMA_VERSION {
                    return Err(StorageError::IncompatibleSchema {
                        path: self.path.display().to_string(),
                        found,
                        expected: SCHEMA_VERSION,
                    });
                }
            }
            None => {
                self.meta
                    .insert(META_SCHEMA, &SCHEMA_VERSION.to_be_bytes())?;
                self.db.flush()?;
            }
        }
        Ok(())
    }

    /// The temporary copy the store was opened from, if it was (see
    /// [`Store::open_existing`]).
    pub(crate) fn copy_of(&self) -> Option<&tempfile::TempDir> {
        self.copy.as_deref()
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored state of a conversation, if any.
    pub fn conversation<S: DeserializeOwned>(
        &self,
        key: &ConvKey,
    ) -> Result<Option<S>, StorageError> {
        match self.conversations.get(key.encode()?)? {
            None => Ok(None),
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StorageError::Corrupt {
                        tree: "conversations",
                        message: format!("{key}: {e}"),
                    })
            }
        }
    }

    /// Reserves the next ticket number. Numbers only grow; a number reserved by a turn that
    /// never committed (a crash) is skipped, never reused.
    pub fn next_ticket_number(&self) -> Result<u64, StorageError> {
        let new = self.meta.update_and_fetch(META_TICKET_COUNTER, |old| {
            let n = old
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            Some((n + 1).to_be_bytes().to_vec())
        })?;
        new.and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map(u64::from_be_bytes)
            .ok_or(StorageError::Corrupt {
                tree: "meta",
                message: "ticket counter is not 8 bytes".into(),
            })
    }

    /// Writes a turn atomically (state, transcript lines, tickets, channel bookkeeping) and
    /// flushes it to disk. When this returns `Ok`, the turn survives a crash. Fails with
    /// [`StorageError::AlreadyHandled`], writing nothing, when the channel update it consumes
    /// was handled before.
    ///
    /// Concurrent calls are committed together: one transaction and one flush per batch (see
    /// [`crate::batch`]); each call still gets its own result.
    pub fn commit_turn<S: Serialize>(&self, turn: &TurnWrite<'_, S>) -> Result<(), StorageError> {
        let key = turn.key.encode()?;
        let state = serde_json::to_vec(turn.state)?;
        let mut lines = Vec::with_capacity(turn.transcript.len());
        for entry in turn.transcript {
            let seq = self.db.generate_id()?;
            lines.push((transcript_key(&key, seq), serde_json::to_vec(entry)?));
        }
        let mut tickets = Vec::with_capacity(turn.tickets.len());
        for t in turn.tickets {
            tickets.push(PreparedTicket {
                number: t.number,
                value: serde_json::to_vec(t)?,
                status: t.status,
                priority: t.priority,
            });
        }
        let channel = match turn.channel {
            Some(w) => Some(self.prepare_channel_write(w)?),
            None => None,
        };
        self.commit_prepared(PreparedTurn {
            key,
            state,
            lines,
            tickets,
            channel,
        })
    }

    /// Returns once everything written before the call is on disk, sharing the fsync with
    /// concurrent turns (see [`crate::group_commit`]).
    pub(crate) fn sync(&self) -> Result<(), StorageError> {
        self.durability.sync(|| self.db.flush().map(|_| ()))?;
        Ok(())
    }

    /// The conversation's transcript, oldest first; at most the last `limit` lines.
    pub fn transcript(
        &self,
        key: &ConvKey,
        limit: usize,
    ) -> Result<Vec<TranscriptEntry>, StorageError> {
        let prefix = key.encode()?;
        let mut out = Vec::new();
        for item in self.transcripts.scan_prefix(&prefix).rev().take(limit) {
            let (_, v) = item?;
            out.push(
                serde_json::from_slice(&v).map_err(|e| StorageError::Corrupt {
                    tree: "transcripts",
                    message: e.to_string(),
                })?,
            );
        }
        out.reverse();
        Ok(out)
    }

    /// The transcript lines worth copying into a new ticket.
    pub fn transcript_for_ticket(
        &self,
        key: &ConvKey,
    ) -> Result<Vec<TranscriptEntry>, StorageError> {
        self.transcript(key, TICKET_TRANSCRIPT_LINES)
    }

    /// The ticket with this number.
    pub fn ticket(&self, number: u64) -> Result<Option<Ticket>, StorageError> {
        match self.tickets.get(number.to_be_bytes())? {
            None => Ok(None),
            Some(v) => decode_ticket(&v).map(Some),
        }
    }

    /// All tickets, by number; only open ones when `open_only`.
    pub fn tickets(&self, open_only: bool) -> Result<Vec<Ticket>, StorageError> {
        let mut out = Vec::new();
        if open_only {
            for item in self.open_tickets.iter() {
                let (k, _) = item?;
                if let Some(t) = self.tickets.get(&k)? {
                    out.push(decode_ticket(&t)?);
                }
            }
        } else {
            for item in self.tickets.iter() {
                let (_, v) = item?;
                out.push(decode_ticket(&v)?);
            }
        }
        Ok(out)
    }

    /// 1-based position of ticket `number` in the queue of open tickets: priority tickets
    /// first, each group oldest (lowest number) first. A priority ticket is one more than the
    /// open priority tickets with a smaller number; a normal ticket one more than all open
    /// priority tickets and the open normal tickets with a smaller number. A number that is
    /// not open counts as a normal ticket (use [`Store::queue_position_as`] for a ticket about
    /// to be opened). Answered from an in-memory mirror of the open tickets (loaded on first
    /// use), not by scanning the tree.
    pub fn queue_position(&self, number: u64) -> Result<usize, StorageError> {
        self.with_open_queue(|q| q.position(number, q.is_priority(number)))
    }

    /// 1-based position ticket `number` has (or will have, once committed open) in the queue
    /// with this priority; see [`Store::queue_position`].
    pub fn queue_position_as(&self, number: u64, priority: bool) -> Result<usize, StorageError> {
        self.with_open_queue(|q| q.position(number, priority))
    }

    /// Runs `f` on the open-ticket mirror, loading it first when needed.
    fn with_open_queue<T>(
        &self,
        f: impl FnOnce(&crate::queue::OpenQueue) -> T,
    ) -> Result<T, StorageError> {
        let mut index = crate::batch::lock(&self.open_index);
        let queue = match &mut *index {
            Some(queue) => queue,
            None => index.insert(self.load_open_queue()?),
        };
        Ok(f(queue))
    }

    /// Flushes everything to disk (used at shutdown).
    pub fn flush(&self) -> Result<(), StorageError> {
        self.db.flush()?;
        Ok(())
    }
}

/// Maps a failed transaction to the storage error.
pub(crate) fn transaction_error(e: TransactionError<AlreadyHandled>) -> StorageError {
    match e {
        TransactionError::Storage(e) => StorageError::Sled(e),
        TransactionError::Abort(a) => a.into(),
    }
}

/// How long [`Store::open`] waits for the database lock before reporting it as taken: a
/// process that has just exited (a restart) can hold it for a moment while sled's background
/// threads finish, and that must not fail the restart.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

pub(crate) fn open_db(path: &Path) -> Result<sled::Db, StorageError> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    let mut pause = std::time::Duration::from_millis(10);
    loop {
        let result = sled::Config::new()
            .path(path)
            // Conversation state is small; 64 MiB of cache is plenty and keeps RSS sane.
            .cache_capacity(64 * 1024 * 1024)
            .open();
        match result {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(ref io))
                if io.kind() == std::io::ErrorKind::WouldBlock
                    || io.to_string().contains("lock") =>
            {
                if std::time::Instant::now() >= deadline {
                    return Err(StorageError::Locked {
                        path: path.display().to_string(),
                    });
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(200));
            }
            Err(other) => return Err(StorageError::Sled(other)),
        }
    }
}

pub(crate) fn decode_ticket(bytes: &[u8]) -> Result<Ticket, StorageError> {
    serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt {
        tree: "tickets",
        message: e.to_string(),
    })
}

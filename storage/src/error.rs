//! The storage error type.

use thiserror::Error;

/// Why a storage operation failed.
#[derive(Debug, Error)]
pub enum StorageError {
    /// Another process (or another handle in this one) has the database open.
    #[error(
        "the database at {path} is in use by another deskbot process (sled holds an exclusive lock); stop it or use another --data-dir"
    )]
    Locked {
        /// The database directory.
        path: String,
    },
    /// There is no database where one was expected (a read-only command never creates one).
    #[error(
        "no deskbot database at {path}: the directory does not exist or holds no database (check --data-dir)"
    )]
    Missing {
        /// The data directory.
        path: String,
    },
    /// The database was written by an incompatible version of deskbot.
    #[error(
        "the database at {path} has schema version {found}, this deskbot understands version {expected}; export it with the version that wrote it"
    )]
    IncompatibleSchema {
        /// The database directory.
        path: String,
        /// The version found on disk.
        found: u32,
        /// The version this build writes.
        expected: u32,
    },
    /// A stored record could not be decoded.
    #[error("corrupt record in tree `{tree}`: {message}")]
    Corrupt {
        /// The tree holding the record.
        tree: &'static str,
        /// What failed.
        message: String,
    },
    /// A key part contains a byte that cannot be stored.
    #[error("invalid conversation key: {0}")]
    InvalidKey(String),
    /// A channel update was already handled (its inbox entry is gone): nothing was written.
    #[error("{channel} update {id} was already handled")]
    AlreadyHandled {
        /// The channel.
        channel: String,
        /// The update's id.
        id: u64,
    },
    /// sled reported an error.
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
    /// A value could not be encoded.
    #[error("cannot encode a record: {0}")]
    Encode(#[from] serde_json::Error),
}

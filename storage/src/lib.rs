//! deskbot's persistence, and the only code that opens the sled database.
//!
//! Three kinds of record live here: each conversation's state (opaque to this crate, any
//! serde type), the transcript of every conversation, and support tickets; plus, for chat
//! channels, the delivery bookkeeping of [`channel`] (received updates, queued replies). A
//! turn's writes go through [`Store::commit_turn`], which applies them atomically across trees
//! and flushes them to disk before returning, so that a reply is only ever sent for a turn
//! that survives a crash.
//!
//! Why sled: the design card chose it (embedded, pure Rust, no server to run beside the bot).
//! Its known weaknesses (beta on-disk format, space amplification) are contained here: the
//! rest of the code sees only this API, so the engine underneath can change.

#![warn(missing_docs)]

mod backup;
mod batch;
pub mod channel;
pub mod dead_letter;
mod decision;
mod error;
mod existing;
mod group_commit;
pub mod handoff;
mod health;
mod keys;
mod privacy;
mod queue;
mod records;
mod review;
pub mod salvage;
mod scan;
mod store;
pub mod validate;

pub use backup::{BACKUP_FORMAT, BackupError, BackupSummary};
pub use channel::ChannelWrite;
pub use dead_letter::{DeadLetter, DeadLetterKind, RetryOutcome};
pub use decision::{Decision, EscalationKind, GuideStep, InputKind, Miss};
pub use error::StorageError;
pub use handoff::{BlockRecord, RouteKind, StaffLocation, TicketEvent, TicketEventKind};
pub use health::HealthError;
pub use keys::{ConvKey, Platform, UnknownPlatform};
pub use privacy::{ForgetSummary, PurgeSummary};
pub use records::{DELETED, Rating, Speaker, StepTried, Ticket, TicketStatus, TranscriptEntry};
pub use review::ReviewLabel;
pub use scan::StoredLine;
pub use store::{SCHEMA_VERSION, Store, TurnWrite};

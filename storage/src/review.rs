//! Labels a support lead gave to messages the bot did not understand (`deskbot review add`),
//! kept so that `deskbot review export` can write them as an evaluation set.
//!
//! A label lives in its own tree, keyed by the labelled transcript line's sequence number
//! (big-endian). It holds the masked text as it was added to the catalog, the intent and the
//! language: no conversation key, so nothing in it points back to the user. The text itself
//! is, by the lead's decision, a catalog example from then on; `/forget` and retention delete
//! the user's transcript line, not the example the catalog now holds.

use serde::{Deserialize, Serialize};

use crate::{StorageError, Store, TranscriptEntry};

/// The tree holding review labels.
const REVIEW_LABELS: &str = "review_labels";

/// A misunderstood message labelled with the intent it should have been.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewLabel {
    /// The sequence number of the labelled transcript line (see [`Store::transcript_line`]).
    pub line: u64,
    /// The message as added to the catalog (masked, as the transcript holds it).
    pub text: String,
    /// The intent id it was labelled with (`out_of_scope` for the out-of-scope examples).
    pub intent: String,
    /// The catalog language of the message (`en`, `es`, …).
    pub language: String,
    /// When the label was given (Unix ms).
    pub at_ms: u64,
}

fn corrupt(message: String) -> StorageError {
    StorageError::Corrupt {
        tree: REVIEW_LABELS,
        message,
    }
}

impl Store {
    /// The transcript line with sequence number `seq` (the last 8 bytes of its key), in
    /// whichever conversation it is; `None` when there is none (a wrong id, or a line deleted
    /// by retention or `/forget`). Scans the keys of every transcript line: meant for an
    /// operator's single look-up, not for a loop.
    pub fn transcript_line(&self, seq: u64) -> Result<Option<TranscriptEntry>, StorageError> {
        let tail = seq.to_be_bytes();
        for key in self.transcripts.iter().keys() {
            let key = key?;
            // A key is `channel NUL user NUL seq`: the sequence number is its last 8 bytes.
            if key.len() > tail.len() && key.ends_with(&tail) {
                return match self.transcripts.get(&key)? {
                    None => Ok(None),
                    Some(v) => {
                        serde_json::from_slice(&v)
                            .map(Some)
                            .map_err(|e| StorageError::Corrupt {
                                tree: "transcripts",
                                message: e.to_string(),
                            })
                    }
                };
            }
        }
        Ok(None)
    }

    /// Records `label` and flushes it to disk. Returns `false`, writing nothing, when line
    /// `label.line` already has a label.
    pub fn add_review_label(&self, label: &ReviewLabel) -> Result<bool, StorageError> {
        let tree = self.db.open_tree(REVIEW_LABELS)?;
        let value = serde_json::to_vec(label)?;
        let added = tree
            .compare_and_swap(label.line.to_be_bytes(), None as Option<&[u8]>, Some(value))?
            .is_ok();
        if added {
            self.flush()?;
        }
        Ok(added)
    }

    /// The label of transcript line `line`, if it has one.
    pub fn review_label(&self, line: u64) -> Result<Option<ReviewLabel>, StorageError> {
        let tree = self.db.open_tree(REVIEW_LABELS)?;
        match tree.get(line.to_be_bytes())? {
            None => Ok(None),
            Some(v) => decode(&v).map(Some),
        }
    }

    /// Every review label, oldest line first.
    pub fn review_labels(&self) -> Result<Vec<ReviewLabel>, StorageError> {
        let tree = self.db.open_tree(REVIEW_LABELS)?;
        let mut out = Vec::new();
        for item in tree.iter() {
            let (_, v) = item?;
            out.push(decode(&v)?);
        }
        Ok(out)
    }
}

fn decode(bytes: &[u8]) -> Result<ReviewLabel, StorageError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConvKey, Platform, Speaker, TurnWrite};

    fn label(line: u64, intent: &str) -> ReviewLabel {
        ReviewLabel {
            line,
            text: "mi akun gak bisa masuk".into(),
            intent: intent.into(),
            language: "id".into(),
            at_ms: 5,
        }
    }

    #[test]
    fn a_line_is_found_by_its_sequence_number_in_any_conversation() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // A user id ending in bytes that look like a sequence number must not confuse it.
        let odd = ConvKey::new(Platform::Console, "x\u{1}\u{2}");
        let ann = ConvKey::new(Platform::Telegram, "ann");
        for (key, text) in [(&odd, "o1"), (&ann, "a1"), (&odd, "o2"), (&ann, "a2")] {
            store
                .commit_turn(&TurnWrite {
                    key,
                    state: &(),
                    transcript: &[TranscriptEntry::new(1, Speaker::User, text)],
                    tickets: &[],
                    channel: None,
                })
                .unwrap();
        }
        let lines: Vec<_> = store.transcript_lines().map(Result::unwrap).collect();
        assert_eq!(lines.len(), 4);
        for l in &lines {
            let found = store.transcript_line(l.seq).unwrap().unwrap();
            assert_eq!(found.text, l.entry.text);
        }
        let missing = lines.iter().map(|l| l.seq).max().unwrap() + 1000;
        assert_eq!(store.transcript_line(missing).unwrap(), None);
    }

    #[test]
    fn a_line_is_labelled_once_and_labels_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            assert!(store.review_labels().unwrap().is_empty());
            assert!(store.add_review_label(&label(9, "account_locked")).unwrap());
            assert!(store.add_review_label(&label(3, "out_of_scope")).unwrap());
            // A second label for line 9 is refused and the first one kept.
            assert!(!store.add_review_label(&label(9, "password_reset")).unwrap());
        }
        let store = Store::open(dir.path()).unwrap();
        let all = store.review_labels().unwrap();
        assert_eq!(
            all,
            vec![label(3, "out_of_scope"), label(9, "account_locked")]
        );
        assert_eq!(
            store.review_label(9).unwrap(),
            Some(label(9, "account_locked"))
        );
        assert_eq!(store.review_label(4).unwrap(), None);
    }
}

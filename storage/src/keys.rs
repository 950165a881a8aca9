//! Byte encodings of keys. Numbers are big-endian so sled's byte order is numeric order.

use crate::StorageError;

/// Identifies one conversation: a channel (`console`, `telegram`, `discord`) and the user's id
/// on that channel.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ConvKey {
    /// The channel name.
    pub channel: String,
    /// The user's id on that channel.
    pub user: String,
}

impl ConvKey {
    /// Makes a key.
    pub fn new(channel: impl Into<String>, user: impl Into<String>) -> Self {
        Self {
            channel: channel.into(),
            user: user.into(),
        }
    }

    /// `channel NUL user NUL`: the NUL terminators make one key never a prefix of another's.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, StorageError> {
        if self.channel.is_empty() || self.channel.contains('\0') || self.user.contains('\0') {
            return Err(StorageError::InvalidKey(format!(
                "channel must be non-empty and neither part may contain NUL: {:?}/{:?}",
                self.channel, self.user
            )));
        }
        let mut k = Vec::with_capacity(self.channel.len() + self.user.len() + 2);
        k.extend_from_slice(self.channel.as_bytes());
        k.push(0);
        k.extend_from_slice(self.user.as_bytes());
        k.push(0);
        Ok(k)
    }
}

impl std::fmt::Display for ConvKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.channel, self.user)
    }
}

/// A transcript key: the conversation's prefix followed by a big-endian sequence number.
pub(crate) fn transcript_key(prefix: &[u8], seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_do_not_prefix_each_other() {
        let a = ConvKey::new("console", "ann").encode().unwrap();
        let b = ConvKey::new("console", "anna").encode().unwrap();
        assert!(!b.starts_with(&a));
    }

    #[test]
    fn nul_is_rejected() {
        assert!(ConvKey::new("console", "a\0b").encode().is_err());
        assert!(ConvKey::new("", "a").encode().is_err());
    }
}

//! Byte encodings of keys. Numbers are big-endian so sled's byte order is numeric order.

use crate::StorageError;

/// The platform a conversation is on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// `deskbot chat` in a terminal (and scripted runs of it).
    Console,
    /// Telegram: the user id is the Telegram user id.
    Telegram,
    /// Discord: the user id is the Discord user id.
    Discord,
}

impl Platform {
    /// Every platform.
    pub const ALL: [Platform; 3] = [Platform::Console, Platform::Telegram, Platform::Discord];

    /// The name in keys, stored records and metrics (`telegram`): also the name of the
    /// platform's channel records in the store.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Console => "console",
            Self::Telegram => "telegram",
            Self::Discord => "discord",
        }
    }

    /// The name people read (`Telegram`).
    pub const fn label(self) -> &'static str {
        match self {
            Self::Console => "console",
            Self::Telegram => "Telegram",
            Self::Discord => "Discord",
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A platform name this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform {0:?} (console, telegram or discord)")]
pub struct UnknownPlatform(pub String);

impl std::str::FromStr for Platform {
    type Err = UnknownPlatform;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPlatform(s.to_string()))
    }
}

/// Identifies one conversation: the platform and the user's id on it.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ConvKey {
    /// The platform (stored as `channel`, its name before it was typed).
    #[serde(rename = "channel")]
    pub platform: Platform,
    /// The user's id on that platform.
    pub user: String,
}

impl ConvKey {
    /// Makes a key.
    pub fn new(platform: Platform, user: impl Into<String>) -> Self {
        Self {
            platform,
            user: user.into(),
        }
    }

    /// `channel NUL user NUL`: the NUL terminators make one key never a prefix of another's.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, StorageError> {
        if self.user.contains('\0') {
            return Err(StorageError::InvalidKey(format!(
                "a user id may not contain NUL: {:?}/{:?}",
                self.platform.as_str(),
                self.user
            )));
        }
        let channel = self.platform.as_str();
        let mut k = Vec::with_capacity(channel.len() + self.user.len() + 2);
        k.extend_from_slice(channel.as_bytes());
        k.push(0);
        k.extend_from_slice(self.user.as_bytes());
        k.push(0);
        Ok(k)
    }
}

impl std::fmt::Display for ConvKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.platform, self.user)
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
        let a = ConvKey::new(Platform::Console, "ann").encode().unwrap();
        let b = ConvKey::new(Platform::Console, "anna").encode().unwrap();
        assert!(!b.starts_with(&a));
    }

    #[test]
    fn nul_is_rejected() {
        assert!(ConvKey::new(Platform::Console, "a\0b").encode().is_err());
    }

    #[test]
    fn platforms_read_back_from_their_names_and_serialise_as_before() {
        for p in Platform::ALL {
            assert_eq!(p.as_str().parse::<Platform>(), Ok(p));
        }
        assert!("web".parse::<Platform>().is_err());
        let key = ConvKey::new(Platform::Telegram, "42");
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(json, r#"{"channel":"telegram","user":"42"}"#);
        assert_eq!(serde_json::from_str::<ConvKey>(&json).unwrap(), key);
    }
}

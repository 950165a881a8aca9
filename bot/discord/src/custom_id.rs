//! Button `custom_id`s: `db:<owner user id>:<engine button id>`.
//!
//! The engine's id (`<turn>:<action>`) lets the engine refuse a press on an outdated message;
//! the owner lets the adapter refuse a press by anyone but the user whose conversation the
//! message belongs to (in a support channel everyone sees everyone's buttons).

/// Discord's limit on a `custom_id`.
pub const MAX_LEN: usize = 100;

const PREFIX: &str = "db:";

/// The `custom_id` for engine button `engine_id` in `owner`'s conversation; `None` when it
/// would exceed [`MAX_LEN`].
pub fn encode(owner: u64, engine_id: &str) -> Option<String> {
    let id = format!("{PREFIX}{owner}:{engine_id}");
    (id.len() <= MAX_LEN && !engine_id.is_empty()).then_some(id)
}

/// What a pressed button's `custom_id` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Press<'a> {
    /// One of ours, pressed by the conversation's owner: hand `engine_id` to the engine.
    Owner {
        /// The engine's button id.
        engine_id: &'a str,
    },
    /// One of ours, pressed by someone else: refuse, leave the conversation alone.
    Foreign {
        /// Whose conversation the button belongs to.
        owner: u64,
    },
    /// Not a button this bot made (or a forged id): refuse.
    Unknown,
}

/// Checks a press of `custom_id` by user `presser`.
pub fn check(custom_id: &str, presser: u64) -> Press<'_> {
    let Some(rest) = custom_id.strip_prefix(PREFIX) else {
        return Press::Unknown;
    };
    let Some((owner, engine_id)) = rest.split_once(':') else {
        return Press::Unknown;
    };
    let Ok(owner) = owner.parse::<u64>() else {
        return Press::Unknown;
    };
    if engine_id.is_empty() || custom_id.len() > MAX_LEN {
        return Press::Unknown;
    }
    if owner == presser {
        Press::Owner { engine_id }
    } else {
        Press::Foreign { owner }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let id = encode(123_456_789_012_345_678, "4:intent:password_reset").unwrap();
        assert_eq!(id, "db:123456789012345678:4:intent:password_reset");
        assert_eq!(
            check(&id, 123_456_789_012_345_678),
            Press::Owner {
                engine_id: "4:intent:password_reset"
            }
        );
    }

    #[test]
    fn another_user_is_foreign() {
        let id = encode(1, "2:no").unwrap();
        assert_eq!(check(&id, 2), Press::Foreign { owner: 1 });
    }

    #[test]
    fn malformed_ids_are_unknown() {
        for bad in [
            "",
            "2:no",
            "db:",
            "db:x:2:no",
            "db:1:",
            "db:-1:2:no",
            "xx:1:2:no",
        ] {
            assert_eq!(check(bad, 1), Press::Unknown, "{bad}");
        }
    }

    #[test]
    fn respects_the_length_limit() {
        assert!(encode(u64::MAX, &"x".repeat(70)).is_some());
        assert!(encode(u64::MAX, &"x".repeat(90)).is_none());
        assert!(encode(1, "").is_none());
        // The longest id the engine makes (~40 chars) always fits with the largest user id.
        assert!(encode(u64::MAX, &format!("{}:intent:{}", u64::MAX, "i".repeat(20))).is_some());
    }
}

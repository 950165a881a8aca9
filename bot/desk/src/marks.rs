//! Names of the channel marks the desk itself reads or removes. A mark is a small value a
//! channel keeps in the store beside its outbox (see `deskbot_storage::ChannelWrite`); the
//! ones here hold something about one user, so `/forget` removes them without knowing which
//! channel wrote them.

/// The mark (in the user's own channel) holding where that channel reaches `user` privately
/// when they have not just written: a Discord DM channel, for instance. The stored name is
/// `dm:<user>`, as it always was, so marks written by earlier versions are still found.
pub fn private_address(user: &str) -> String {
    format!("dm:{user}")
}

/// The marks holding something about the user of `key` (`(channel, name)` pairs), removed by
/// `/forget`.
pub fn of_user(key: &deskbot_storage::ConvKey) -> Vec<(String, String)> {
    vec![(
        key.platform.as_str().to_string(),
        private_address(&key.user),
    )]
}

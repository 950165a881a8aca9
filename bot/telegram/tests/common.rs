//! What the Telegram test modules share: one trained engine per test binary, and the channel's
//! settings against a fake Bot API (fast polling, send limits out of the way).

use std::sync::{Arc, OnceLock};

use deskbot_desk::secret::Secret;
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::Engine;
use deskbot_telegram::config::TelegramConfig;
use deskbot_tests::fake_telegram::{FakeTelegram, TOKEN};

/// The built-in catalog's engine, trained once for the whole binary.
pub fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| Arc::new(Engine::new(Catalog::builtin().unwrap()).unwrap()))
        .clone()
}

/// The Telegram channel's settings for `fake`.
pub fn config(fake: &FakeTelegram) -> TelegramConfig {
    TelegramConfig {
        enabled: true,
        token: Secret::new(TOKEN),
        api_url: Some(fake.url.clone()),
        poll_timeout_secs: 1,
        messages_per_sec_overall: 1000,
        messages_per_sec_chat: 100,
        messages_per_min_chat: 100_000,
        messages_per_min_group: 100_000,
        ..TelegramConfig::default()
    }
}

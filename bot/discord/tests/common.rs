//! What the Discord test modules share: one trained engine per test binary.

use std::sync::{Arc, OnceLock};

use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::Engine;

/// The built-in catalog's engine, trained once for the whole binary.
pub fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    Arc::clone(ENGINE.get_or_init(|| Arc::new(Engine::new(Catalog::builtin().unwrap()).unwrap())))
}

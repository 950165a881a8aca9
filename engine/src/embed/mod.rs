//! Sentence embeddings: a message as a point in a space where meaning, not spelling, is
//! close, in every language the model knows.
//!
//! The classifier uses them as a feature block beside its n-grams ([`crate::classifier`]).
//! This module holds the interface ([`Embed`]) and the engine's own encoder for the
//! multilingual-e5-small model ([`e5`]). The model file is fetched and verified by the binary;
//! the engine only reads it.

pub mod e5;
pub mod recent;

/// Something that turns a message into a unit-length sentence vector.
///
/// Implementations are shared between threads; `embed` is pure (the same text gives the same
/// vector) so its results may be cached by text.
pub trait Embed: Send + Sync {
    /// Length of every vector [`Embed::embed`] returns.
    fn dim(&self) -> usize;

    /// Identifies the model: two embedders with the same id give the same vectors, so cached
    /// vectors are keyed by it (the model file's SHA-256 in hex for the real model).
    fn model_id(&self) -> &str;

    /// The L2-normalised vector of `text` (already normalised by [`crate::normalize`]).
    fn embed(&self, text: &str) -> Vec<f32>;
}

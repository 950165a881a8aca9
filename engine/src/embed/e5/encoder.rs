//! The BERT encoder's forward pass over one window (`<s>` content `</s>`), mean-pooled, in
//! the C engine's order of operations: embeddings + LayerNorm, then per layer Q/K/V, softmax
//! attention, output projection + residual LayerNorm, GELU feed-forward + residual LayerNorm.

use super::format::{Header, Q4_BLOCK_BYTES, QK};
use super::kernels::{Kernel, QuantActs, block_scale, matmul, scales};

/// A Q4_0 matrix (`rows` × `cols`) in the model file, at a checked offset.
pub(crate) struct Q4 {
    /// Byte offset of its first block.
    pub offset: usize,
    /// Output rows.
    pub rows: usize,
    /// Inputs per row (a multiple of 32).
    pub cols: usize,
}

impl Q4 {
    fn row_bytes(&self) -> usize {
        self.cols / QK * Q4_BLOCK_BYTES
    }

    /// Its bytes in `file` (the loader checked that they lie inside it).
    fn bytes<'f>(&self, file: &'f [u8]) -> &'f [u8] {
        &file[self.offset..self.offset + self.rows * self.row_bytes()]
    }
}

/// One encoder layer: 4-bit matrices in the file, f32 biases and LayerNorm weights copied.
pub(crate) struct Layer {
    pub q: Q4,
    pub qb: Vec<f32>,
    pub k: Q4,
    pub kb: Vec<f32>,
    pub v: Q4,
    pub vb: Vec<f32>,
    pub ao: Q4,
    pub aob: Vec<f32>,
    pub aln_w: Vec<f32>,
    pub aln_b: Vec<f32>,
    pub fi: Q4,
    pub fib: Vec<f32>,
    pub fo: Q4,
    pub fob: Vec<f32>,
    pub oln_w: Vec<f32>,
    pub oln_b: Vec<f32>,
}

/// All the weights: the word table stays in the file (54 MB), the rest is small.
pub(crate) struct Weights {
    /// Word embeddings, `vocab` rows of H.
    pub word: Q4,
    /// Position embeddings, `max_pos` rows of H.
    pub pos: Vec<f32>,
    /// Token type 0's embedding.
    pub typ: Vec<f32>,
    pub eln_w: Vec<f32>,
    pub eln_b: Vec<f32>,
    pub layers: Vec<Layer>,
}

/// A forward pass's borrowed model.
pub(crate) struct Encoder<'a> {
    pub file: &'a [u8],
    pub header: &'a Header,
    pub weights: &'a Weights,
    pub kernel: Kernel,
}

/// `x = LayerNorm(x + y)` row by row (`y` = `None`: `LayerNorm(x)`).
fn add_layernorm(x: &mut [f32], y: Option<&[f32]>, w: &[f32], b: &[f32], h: usize, eps: f32) {
    for (t, r) in x.chunks_exact_mut(h).enumerate() {
        if let Some(y) = y {
            for (ri, yi) in r.iter_mut().zip(&y[t * h..(t + 1) * h]) {
                *ri += yi;
            }
        }
        let mean = r.iter().sum::<f32>() / h as f32;
        let var = r.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((ri, wi), bi) in r.iter_mut().zip(w).zip(b) {
            *ri = (*ri - mean) * inv * wi + bi;
        }
    }
}

/// `Σ a·b` in eight interleaved partial sums, which the compiler turns into vector code (a
/// single running sum would be a chain of scalar additions).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (ca, cb) in ac.zip(bc) {
        for ((l, x), y) in lanes.iter_mut().zip(ca).zip(cb) {
            *l += x * y;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// The error function, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, far below the int8
/// step of the activations it feeds): a polynomial and one [`exp`], no libm call, and no
/// dependency.
fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_8,
        -1.453_152,
        1.061_405_4,
    ];
    let ax = x.abs();
    let t = 1.0 / (1.0 + P * ax);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let y = 1.0 - poly * exp(-ax * ax);
    y.copysign(x)
}

/// `e^x` for x in [-87, 88] (clamped outside), relative error about 2e-7: x = n·ln2 + r with
/// |r| ≤ ln2/2 (ln2 split in two for exactness), e^r by its Taylor series to r^6, 2^n built in
/// the exponent bits. Plain arithmetic, so loops over it vectorise (a libm call does not).
#[inline]
fn exp(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    const MAGIC_BITS: i32 = 0x4b40_0000;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let big = x * std::f32::consts::LOG2_E + MAGIC;
    let n = big - MAGIC;
    let k = big.to_bits() as i32 - MAGIC_BITS;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r / 720.0)))));
    p * f32::from_bits(((k + 127) << 23) as u32)
}

/// GELU, the exact (erf) form BERT uses.
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

impl Encoder<'_> {
    /// The mean over tokens of the last layer's hidden states for `ids` (`<s>`, content,
    /// `</s>`; at most `max_pos` ids, each a row of the word table), not normalised.
    pub(crate) fn forward(&self, ids: &[u32]) -> Vec<f32> {
        let hd = self.header;
        let (h, ff, heads) = (hd.h, hd.ff, hd.heads);
        let t_len = ids.len().min(hd.max_pos);
        let ids = &ids[..t_len];
        let w = self.weights;
        let file = self.file;

        // Embeddings: word (dequantised) + position + type 0, then LayerNorm.
        let mut x = vec![0f32; t_len * h];
        let word = w.word.bytes(file);
        let row_bytes = w.word.row_bytes();
        let table = scales();
        for (t, (&id, r)) in ids.iter().zip(x.chunks_exact_mut(h)).enumerate() {
            let id = (id as usize).min(w.word.rows - 1);
            let row = &word[id * row_bytes..(id + 1) * row_bytes];
            for (blk, out) in row.chunks_exact(Q4_BLOCK_BYTES).zip(r.chunks_exact_mut(QK)) {
                let d = block_scale(table, blk);
                for (j, &q) in blk[2..].iter().enumerate() {
                    out[j] = (i32::from(q & 0x0f) - 8) as f32 * d;
                    out[j + QK / 2] = (i32::from(q >> 4) - 8) as f32 * d;
                }
            }
            let pos = &w.pos[t * h..(t + 1) * h];
            for ((ri, pi), ti) in r.iter_mut().zip(pos).zip(&w.typ) {
                *ri += pi + ti;
            }
        }
        add_layernorm(&mut x, None, &w.eln_w, &w.eln_b, h, hd.eps);

        let th = t_len * h;
        let (mut q, mut k, mut v) = (vec![0f32; th], vec![0f32; th], vec![0f32; th]);
        let (mut ctx, mut proj) = (vec![0f32; th], vec![0f32; th]);
        let mut mid = vec![0f32; t_len * ff];
        let mut prob = vec![0f32; t_len];
        let mut acts = QuantActs::default();
        let hdim = h / heads;
        let scale = 1.0 / (hdim as f32).sqrt();
        let mm = |m: &Q4, bias: &[f32], acts: &QuantActs, y: &mut [f32]| {
            matmul(self.kernel, m.bytes(file), bias, acts, y, m.rows);
        };

        for ly in &w.layers {
            acts.quantise(&x, t_len, h);
            mm(&ly.q, &ly.qb, &acts, &mut q);
            mm(&ly.k, &ly.kb, &acts, &mut k);
            mm(&ly.v, &ly.vb, &acts, &mut v);
            for t in 0..t_len {
                for hh in 0..heads {
                    let off = hh * hdim;
                    let qh = &q[t * h + off..t * h + off + hdim];
                    let mut mx = f32::NEG_INFINITY;
                    for (s, p) in prob.iter_mut().enumerate() {
                        let kh = &k[s * h + off..s * h + off + hdim];
                        let d = dot(qh, kh) * scale;
                        *p = d;
                        mx = mx.max(d);
                    }
                    let mut sum = 0.0f32;
                    for p in prob.iter_mut() {
                        *p = exp(*p - mx);
                        sum += *p;
                    }
                    let inv = 1.0 / sum;
                    let ch = &mut ctx[t * h + off..t * h + off + hdim];
                    ch.fill(0.0);
                    for (s, &p) in prob.iter().enumerate() {
                        let p = p * inv;
                        let vh = &v[s * h + off..s * h + off + hdim];
                        for (c, vi) in ch.iter_mut().zip(vh) {
                            *c += p * vi;
                        }
                    }
                }
            }
            acts.quantise(&ctx, t_len, h);
            mm(&ly.ao, &ly.aob, &acts, &mut proj);
            add_layernorm(&mut x, Some(&proj), &ly.aln_w, &ly.aln_b, h, hd.eps);

            acts.quantise(&x, t_len, h);
            mm(&ly.fi, &ly.fib, &acts, &mut mid);
            for m in mid.iter_mut() {
                *m = gelu(*m);
            }
            acts.quantise(&mid, t_len, ff);
            mm(&ly.fo, &ly.fob, &acts, &mut proj);
            add_layernorm(&mut x, Some(&proj), &ly.oln_w, &ly.oln_b, h, hd.eps);
        }

        let mut mean = vec![0f32; h];
        for r in x.chunks_exact(h) {
            for (m, xi) in mean.iter_mut().zip(r) {
                *m += xi;
            }
        }
        let inv = 1.0 / t_len.max(1) as f32;
        for m in mean.iter_mut() {
            *m *= inv;
        }
        mean
    }
}

#[cfg(test)]
mod tests {
    use super::{erf, exp};

    #[test]
    fn exp_is_within_a_few_ulps_of_libm() {
        let mut x = -87.0f32;
        while x <= 88.0 {
            let (ours, std) = (exp(x), x.exp());
            assert!(
                ((ours - std) / std).abs() < 4e-7,
                "exp({x}) = {ours}, libm {std}"
            );
            x += 0.013;
        }
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-200.0) >= 0.0 && exp(-200.0) < 1e-37);
    }

    #[test]
    fn erf_matches_tabulated_values() {
        // erf at 0, 0.1, 0.5, 1, 2, 3 (Abramowitz & Stegun, table 7.1).
        for (x, want) in [
            (0.0f32, 0.0f32),
            (0.1, 0.112_462_92),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (2.0, 0.995_322_3),
            (3.0, 0.999_977_9),
        ] {
            assert!((erf(x) - want).abs() < 3e-7, "erf({x}) = {}", erf(x));
            assert!((erf(-x) + want).abs() < 3e-7, "erf(-{x}) = {}", erf(-x));
        }
    }
}

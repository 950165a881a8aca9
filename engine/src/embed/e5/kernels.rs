//! The hot path: activations quantised to int8 per 32-value block, multiplied with the 4-bit
//! (Q4_0) weights in integers, as the C engine does. Each output is
//! `Σ_blocks d_w · d_a · (⟨w_nibble, a_int8⟩ − 8 · Σ a_int8)`: the nibbles stay unsigned
//! (0..15) and their −8 offset is folded in through the activation block sums.
//!
//! Two kernels compute the per-block dot products: AVX2 + FMA (`_mm256_maddubs_epi16`), picked
//! at run time where the CPU has them, and a portable scalar one everywhere else.

use std::sync::OnceLock;

use super::format::{Q4_BLOCK_BYTES, QK};

/// Output rows computed together: their nibbles are expanded once and reused over all tokens.
const RO: usize = 8;

/// Which dot-product kernel a matrix multiplication runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Portable Rust, on every CPU.
    Scalar,
    /// AVX2 + FMA integer multiply-adds (x86-64 only); falls back to [`Kernel::Scalar`] on a
    /// CPU without them.
    Avx2,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub fn detect() -> Kernel {
        if Kernel::Avx2.available() {
            Kernel::Avx2
        } else {
            Kernel::Scalar
        }
    }

    /// Whether this CPU runs the kernel.
    pub fn available(self) -> bool {
        match self {
            Kernel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx2 => false,
        }
    }
}

/// Activations quantised per 32-value block: int8 values, each block's scale and int sum.
#[derive(Default)]
pub(crate) struct QuantActs {
    q: Vec<i8>,
    d: Vec<f32>,
    s: Vec<i32>,
    nin: usize,
    tokens: usize,
}

impl QuantActs {
    /// Quantises `x` (`tokens` rows of `nin`, `nin` a multiple of 32) into `self`.
    pub(crate) fn quantise(&mut self, x: &[f32], tokens: usize, nin: usize) {
        let nb = nin / QK;
        self.q.clear();
        self.d.clear();
        self.s.clear();
        self.q.reserve(tokens * nin);
        for block in x[..tokens * nin].chunks_exact(QK) {
            // Eight running maxima (no reassociation needed, so the loop vectorises).
            let mut lanes = [0.0f32; 8];
            for c in block.chunks_exact(8) {
                for (m, v) in lanes.iter_mut().zip(c) {
                    let a = v.abs();
                    *m = if a > *m { a } else { *m };
                }
            }
            let amax = lanes.iter().fold(0.0f32, |m, &v| if v > m { v } else { m });
            let d = amax / 127.0;
            let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
            let mut q = [0i8; QK];
            for (o, &v) in q.iter_mut().zip(block) {
                *o = to_i8(v * inv);
            }
            self.q.extend_from_slice(&q);
            self.d.push(d);
            self.s.push(q.iter().map(|&v| i32::from(v)).sum());
        }
        debug_assert_eq!(self.d.len(), tokens * nb);
        self.nin = nin;
        self.tokens = tokens;
    }
}

/// `v` clamped to -128..=127 and rounded to the nearest integer, ties to even: C's
/// `lrintf` then a clamp, as the reference quantiser does. Adding 1.5 · 2^23 to a float of
/// magnitude ≤ 128 rounds it to an integer (ties to even) that the low mantissa bits hold, so
/// no float-to-int conversion (with its saturation checks) is needed and the quantiser's loop
/// vectorises. A NaN (from a broken model only) becomes 0.
#[inline]
fn to_i8(v: f32) -> i8 {
    const MAGIC: f32 = 12_582_912.0;
    const MAGIC_BITS: i32 = 0x4b40_0000;
    let c = v.clamp(-128.0, 127.0);
    ((c + MAGIC).to_bits() as i32 - MAGIC_BITS) as i8
}

/// `f16` bits to `f32`.
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: value = man · 2^-24.
            let v = man as f32 * f32::from_bits(0x3380_0000);
            return if sign != 0 { -v } else { v };
        }
        (31, _) => sign | 0x7f80_0000 | (man << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

/// All 65536 `f16` values as `f32` (256 KiB, built once): a weight block's scale is one load
/// ([`block_scale`]'s first argument).
pub(crate) fn scales() -> &'static [f32] {
    static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
    TABLE.get_or_init(|| (0..=u16::MAX).map(f16_to_f32).collect())
}

/// The `f32` value of the `f16` scale at the start of a Q4_0 block.
#[inline]
pub(crate) fn block_scale(table: &[f32], blk: &[u8]) -> f32 {
    table[usize::from(u16::from_le_bytes([blk[0], blk[1]]))]
}

/// `y[t][o] = bias[o] + Σ_i W[o][i] · x[t][i]` with `W` the Q4_0 matrix in `w` (`nout` rows of
/// `nin`), `x` already quantised in `acts`, `y` `acts.tokens` rows of `nout`.
pub(crate) fn matmul(
    kernel: Kernel,
    w: &[u8],
    bias: &[f32],
    acts: &QuantActs,
    y: &mut [f32],
    nout: usize,
) {
    let (nin, tokens) = (acts.nin, acts.tokens);
    let nb = nin / QK;
    let row_bytes = nb * Q4_BLOCK_BYTES;
    let w = &w[..nout * row_bytes];
    let bias = &bias[..nout];
    let y = &mut y[..tokens * nout];
    let kernel = if kernel.available() {
        kernel
    } else {
        Kernel::Scalar
    };
    let table = scales();
    // The group's nibbles, row after row, and its scales block after block ([b][r]). A last
    // group of fewer than RO rows leaves the other rows' stale values: computed, not used.
    let mut wexp = vec![0u8; RO * nin];
    let mut dw = vec![0f32; RO * nb];
    for oo in (0..nout).step_by(RO) {
        let ro = RO.min(nout - oo);
        let rows = &w[oo * row_bytes..(oo + ro) * row_bytes];
        for (r, row) in rows.chunks_exact(row_bytes).enumerate() {
            let we = &mut wexp[r * nin..(r + 1) * nin];
            for (b, (blk, out)) in row
                .chunks_exact(Q4_BLOCK_BYTES)
                .zip(we.chunks_exact_mut(QK))
                .enumerate()
            {
                dw[b * RO + r] = block_scale(table, blk);
                expand(blk, out);
            }
        }
        let g = Group {
            wexp: &wexp,
            dw: &dw,
            nin,
        };
        for t in 0..tokens {
            let a = Token {
                q: &acts.q[t * nin..(t + 1) * nin],
                d: &acts.d[t * nb..(t + 1) * nb],
                s: &acts.s[t * nb..(t + 1) * nb],
            };
            let mut dots = [0f32; RO];
            let mut corr = [0f32; RO];
            group_dots(kernel, &g, &a, ro, &mut dots, &mut corr);
            let out = &mut y[t * nout + oo..t * nout + oo + ro];
            for (r, o) in out.iter_mut().enumerate() {
                *o = bias[oo + r] + dots[r] - 8.0 * corr[r];
            }
        }
    }
}

/// One token's dot products with a row group on `kernel` (checked as available).
#[inline]
fn group_dots(
    kernel: Kernel,
    g: &Group<'_>,
    a: &Token<'_>,
    ro: usize,
    dots: &mut [f32; RO],
    corr: &mut [f32; RO],
) {
    #[cfg(target_arch = "x86_64")]
    if kernel == Kernel::Avx2 {
        // SAFETY: `matmul` picks Avx2 only when `available()` confirmed AVX2 and FMA.
        unsafe { avx2::dots(g, a, dots, corr) };
        return;
    }
    let _ = (kernel, &corr);
    scalar_dots(g, a, ro, dots);
}

/// A Q4_0 block's 32 nibbles as bytes 0..15: byte j's low nibble is weight j, its high one
/// weight j + 16.
#[inline]
fn expand(blk: &[u8], out: &mut [u8]) {
    let (lo, hi) = out.split_at_mut(QK / 2);
    let q = &blk[2..2 + QK / 2];
    for j in 0..QK / 2 {
        lo[j] = q[j] & 0x0f;
        hi[j] = q[j] >> 4;
    }
}

/// A row group: [`RO`] rows' expanded nibbles and their block scales.
struct Group<'a> {
    /// `RO × nin` unsigned nibbles (0..15), row after row.
    wexp: &'a [u8],
    /// `nin/32 × RO` weight block scales, block after block.
    dw: &'a [f32],
    nin: usize,
}

/// One token's quantised activations.
struct Token<'a> {
    /// `nin` int8 values.
    q: &'a [i8],
    /// `nin/32` block scales.
    d: &'a [f32],
    /// `nin/32` block sums.
    s: &'a [i32],
}

/// Portable kernel: `dots[r]` gets the whole result (the −8 offset included) for `ro` rows.
fn scalar_dots(g: &Group<'_>, a: &Token<'_>, ro: usize, dots: &mut [f32; RO]) {
    let nb = g.nin / QK;
    for (r, dot) in dots.iter_mut().enumerate().take(ro) {
        let we = &g.wexp[r * g.nin..(r + 1) * g.nin];
        let mut acc = 0.0f32;
        for b in 0..nb {
            let wb = &we[b * QK..(b + 1) * QK];
            let ab = &a.q[b * QK..(b + 1) * QK];
            let isum: i32 = wb
                .iter()
                .zip(ab)
                .map(|(&w, &a)| i32::from(w) * i32::from(a))
                .sum();
            acc += g.dw[b * RO + r] * a.d[b] * (isum - 8 * a.s[b]) as f32;
        }
        *dot = acc;
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Group, QK, RO, Token};

    /// For each of the group's [`RO`] rows: `dots[r]` = `Σ_b d_w d_a ⟨w, a⟩` and `corr[r]` =
    /// `Σ_b d_w d_a Σa`.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dots(
        g: &Group<'_>,
        a: &Token<'_>,
        dots: &mut [f32; RO],
        corr: &mut [f32; RO],
    ) {
        let nin = g.nin;
        let nb = nin / QK;
        // Every load below reads 32 bytes at `b * QK` (+ `r * nin`) for b < nb, r < RO, or
        // RO floats at `b * RO`.
        assert!(
            nin.is_multiple_of(QK)
                && a.q.len() >= nin
                && g.wexp.len() >= RO * nin
                && g.dw.len() >= RO * nb
                && a.d.len() >= nb
                && a.s.len() >= nb
        );
        let ones = _mm256_set1_epi16(1);
        let mut facc = [_mm256_setzero_ps(); RO];
        let mut cacc = _mm256_setzero_ps();
        let mut scale = [0f32; RO];
        for b in 0..nb {
            // SAFETY: b * QK + 32 <= nin <= a.q.len() (asserted above); loadu is unaligned.
            let av = unsafe { _mm256_loadu_si256(a.q.as_ptr().add(b * QK).cast()) };
            // SAFETY: b * RO + RO <= nb * RO <= dw.len() (asserted above).
            let dwv = unsafe { _mm256_loadu_ps(g.dw.as_ptr().add(b * RO)) };
            let sv = _mm256_mul_ps(dwv, _mm256_set1_ps(a.d[b]));
            cacc = _mm256_fmadd_ps(sv, _mm256_set1_ps(a.s[b] as f32), cacc);
            // SAFETY: `scale` holds RO floats.
            unsafe { _mm256_storeu_ps(scale.as_mut_ptr(), sv) };
            for (r, acc) in facc.iter_mut().enumerate() {
                // SAFETY: r * nin + b * QK + 32 <= RO * nin <= wexp.len() (asserted above).
                let wv =
                    unsafe { _mm256_loadu_si256(g.wexp.as_ptr().add(r * nin + b * QK).cast()) };
                let s = _mm256_madd_epi16(_mm256_maddubs_epi16(wv, av), ones);
                *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(scale[r]), *acc);
            }
        }
        for (d, acc) in dots.iter_mut().zip(facc) {
            *d = hsum(acc);
        }
        // SAFETY: `corr` holds RO floats.
        unsafe { _mm256_storeu_ps(corr.as_mut_ptr(), cacc) };
    }

    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps::<1>(v);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
        _mm_cvtss_f32(s)
    }
}

/// `x · Wᵀ + bias` for `tokens` rows of `x` (`nin` wide, a multiple of 32) and the Q4_0 matrix
/// `w` (`nout` rows of `nin`), with activations quantised as in the encoder, on `kernel` (the
/// scalar one when this CPU lacks it). `None` when a slice is shorter than the sizes say.
///
/// Public so tests can hold the two kernels against each other.
pub fn matmul_q4(
    kernel: Kernel,
    w: &[u8],
    bias: &[f32],
    x: &[f32],
    tokens: usize,
    nout: usize,
    nin: usize,
) -> Option<Vec<f32>> {
    let fits = nin.is_multiple_of(QK)
        && w.len() >= nout * (nin / QK) * Q4_BLOCK_BYTES
        && bias.len() >= nout
        && x.len() >= tokens * nin;
    if !fits {
        return None;
    }
    let mut acts = QuantActs::default();
    acts.quantise(x, tokens, nin);
    let mut y = vec![0f32; tokens * nout];
    matmul(kernel, w, bias, &acts, &mut y, nout);
    Some(y)
}

#[cfg(test)]
mod tests {
    use super::{f16_to_f32, to_i8};

    #[test]
    fn f16_values_convert_exactly() {
        for (bits, want) in [
            (0x3c00u16, 1.0f32),
            (0xc000, -2.0),
            (0x3800, 0.5),
            (0x2c00, 0.0625),
            (0x7bff, 65504.0),
            (0x0001, 2f32.powi(-24)),
            (0x8400, -(2f32.powi(-14))),
            (0x0000, 0.0),
            (0x7c00, f32::INFINITY),
        ] {
            assert_eq!(f16_to_f32(bits), want, "{bits:#06x}");
        }
        assert!(f16_to_f32(0x7e00).is_nan());
    }

    #[test]
    fn quantised_values_round_half_to_even_and_clamp() {
        for (v, want) in [
            (0.5f32, 0i8),
            (1.5, 2),
            (2.5, 2),
            (-0.5, 0),
            (-1.5, -2),
            (126.7, 127),
            (127.4, 127),
            (300.0, 127),
            (-127.6, -128),
            (-1e9, -128),
            (3.49, 3),
            (f32::NAN, 0),
        ] {
            assert_eq!(to_i8(v), want, "{v}");
        }
    }
}

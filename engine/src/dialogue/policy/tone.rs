//! Tone: frustration is acknowledged once, and the bot never sends the same reply twice in
//! a row.

use super::Draft;
use crate::catalog::cues::{Cues, Said};

/// Capitalised words that are names, not shouting.
const ACRONYMS: &[&str] = &[
    "OTP", "SMS", "MIUI", "IMEI", "HYPEROS", "XIAOMI", "REDMI", "POCO", "WIFI", "PIN", "SIM", "ID",
    "URL", "HELP", "OK", "OKAY",
];

/// Whether a raw message sounds frustrated: mostly capitals, "!!"/"?!", or a word of anger
/// (the `frustrated` cues of the languages `cues`).
pub(super) fn frustrated(raw: &str, cues: &[&Cues]) -> bool {
    let letters: Vec<char> = raw.chars().filter(|c| c.is_alphabetic()).collect();
    let upper = letters.iter().filter(|c| c.is_uppercase()).count();
    if letters.len() >= 8 && upper * 10 >= letters.len() * 7 {
        return true;
    }
    if raw.contains("!!") || raw.contains("?!") || raw.contains("!?") || raw.contains("???") {
        return true;
    }
    // One shouted word among others ("locked AGAIN").
    let shouted = raw
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .any(|w| {
            w.chars().count() >= 4
                && w.chars().all(|c| c.is_ascii_uppercase())
                && !ACRONYMS.contains(&w)
        });
    if shouted && letters.len() > upper {
        return true;
    }
    let said = Said::new(&crate::normalize::normalize(raw));
    cues.iter().any(|c| c.frustrated.in_message(&said))
}

/// A stable hash of a reply's text (FNV-1a: the value is stored, so it must not change
/// between builds, which `std`'s hasher does not promise).
pub(super) fn hash(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h.max(1)
}

/// The last guard: a reply identical to the previous one gets a different opening.
pub(super) fn never_twice(d: &mut Draft<'_>) {
    if !d.reply.text.is_empty() && hash(&d.reply.text) == d.previous_reply {
        d.reply.text = format!("{} {}", d.t.s("still_here"), d.reply.text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hears_frustration() {
        let catalog = crate::catalog::Catalog::builtin().unwrap();
        let en = [&catalog.english().cues];
        let frustrated = |t: &str| frustrated(t, &en);
        assert!(frustrated("WHY DOESNT THIS WORK"));
        assert!(frustrated("been trying for hours"));
        assert!(frustrated("this is ridiculous"));
        assert!(frustrated("hello??? anyone"));
        assert!(!frustrated("I forgot my password"));
        assert!(!frustrated("OK"));
        assert!(!frustrated("my Redmi Note 12 says ACCOUNT_LOCKED"));
        assert!(frustrated("mi account says locked AGAIN"));
        assert!(!frustrated("no OTP or SMS arrives on my XIAOMI"));
        let ru = catalog.language("ru").map(|l| &l.cues).unwrap();
        assert!(super::frustrated("да сколько можно это терпеть", &[ru]));
        assert!(!super::frustrated("не приходит смс", &[ru]));
    }

    #[test]
    fn hash_is_stable_and_never_zero_for_text() {
        assert_eq!(hash("abc"), hash("abc"));
        assert_ne!(hash("abc"), hash("abd"));
        assert_eq!(hash(""), 0);
    }
}

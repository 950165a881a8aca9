//! Tone: frustration is acknowledged once, and the bot never sends the same reply twice in
//! a row.

use super::Draft;

/// Words and phrases of someone at the end of their patience.
const FRUSTRATED: &[&str] = &[
    "wtf",
    "fuck",
    "fucking",
    "shit",
    "damn",
    "crap",
    "bloody",
    "ridiculous",
    "useless",
    "pathetic",
    "stupid",
    "sucks",
    "annoying",
    "frustrating",
    "frustrated",
    "fed up",
    "sick of",
    "for hours",
    "for days",
    "all day",
    "hours now",
    "days now",
    "so angry",
    "i'm angry",
    "im angry",
    "joke",
    "nothing works",
    "fix this now",
    "all morning",
    "all night",
    "all week",
    "so done",
    "i'm done",
    "im done",
    "over and over",
    "again and again",
    "give up",
    "wasted",
];

/// Capitalised words that are names, not shouting.
const ACRONYMS: &[&str] = &[
    "OTP", "SMS", "MIUI", "IMEI", "HYPEROS", "XIAOMI", "REDMI", "POCO", "WIFI", "PIN", "SIM", "ID",
    "URL", "HELP", "OK", "OKAY",
];

/// Whether a raw message sounds frustrated: mostly capitals, "!!"/"?!", or a word of anger.
pub(super) fn frustrated(raw: &str) -> bool {
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
    let lower = raw.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .collect();
    let joined = format!(" {} ", words.join(" "));
    FRUSTRATED
        .iter()
        .any(|p| joined.contains(&format!(" {p} ")))
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
        d.reply.text = format!("(Still here.) {}", d.reply.text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hears_frustration() {
        assert!(frustrated("WHY DOESNT THIS WORK"));
        assert!(frustrated("been trying for hours"));
        assert!(frustrated("this is ridiculous"));
        assert!(frustrated("hello??? anyone"));
        assert!(!frustrated("I forgot my password"));
        assert!(!frustrated("OK"));
        assert!(!frustrated("my Redmi Note 12 says ACCOUNT_LOCKED"));
        assert!(frustrated("mi account says locked AGAIN"));
        assert!(!frustrated("no OTP or SMS arrives on my XIAOMI"));
    }

    #[test]
    fn hash_is_stable_and_never_zero_for_text() {
        assert_eq!(hash("abc"), hash("abc"));
        assert_ne!(hash("abc"), hash("abd"));
        assert_eq!(hash(""), 0);
    }
}

//! Property tests of the engine on arbitrary input: normalisation, classification, catalog
//! parsing and whole conversations. Case counts are modest so `cargo test` stays fast; a long
//! run: `PROPTEST_CASES=100000 cargo test --release -p deskbot-engine --test integration prop::`.

use std::sync::OnceLock;

use deskbot_engine::catalog::{Catalog, CatalogError, IntentKind};
use deskbot_engine::classifier::RANKED;
use deskbot_engine::dialogue::{Conversation, Engine, Input, SPECIFIC_OVER_VAGUE};
use deskbot_engine::normalize::{MAX_CHARS, normalize};
use proptest::prelude::*;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(Catalog::builtin().unwrap()).unwrap())
}

/// Cases per property: `PROPTEST_CASES` when set, else `default`.
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text as chat users send it: ASCII words and phrases from the catalog's world, mixed with
/// arbitrary Unicode, controls, zero-width and bidi characters, combining marks, emoji.
fn chat_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9 ,.!?'/:-]{0,12}",
        2 => Just("forgot my password ".to_string()),
        1 => Just("verification code ".to_string()),
        1 => Just("/human".to_string()),
        1 => Just("/reset".to_string()),
        1 => Just("no ".to_string()),
        1 => Just("yes ".to_string()),
        1 => "[\u{0}-\u{1f}\u{7f}-\u{9f}]{1,3}",
        1 => "[\u{200b}-\u{200f}\u{2028}-\u{202e}\u{2060}-\u{2064}\u{feff}\u{ad}]{1,3}",
        1 => "[\u{300}-\u{36f}]{1,4}",
        1 => "[\u{ff01}-\u{ff5e}\u{fb00}-\u{fb06}\u{2160}-\u{2188}\u{130}\u{3a3}]{1,4}",
        1 => "[\u{1f600}-\u{1f64f}\u{4e00}-\u{4e20}\u{5d0}-\u{5ea}\u{600}-\u{6ff}]{1,4}",
        1 => any::<String>(),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

fn is_zero_width_or_format(c: char) -> bool {
    matches!(
        c,
        '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}' | '\u{feff}'
    )
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn normalisation_is_idempotent_capped_and_clean(text in chat_text()) {
        let n = normalize(&text);
        prop_assert_eq!(normalize(&n), n.clone(), "not idempotent for {:?}", text);
        prop_assert!(n.chars().count() <= MAX_CHARS);
        prop_assert!(!n.chars().any(|c| c.is_control()), "control char in {:?}", n);
        prop_assert!(!n.chars().any(is_zero_width_or_format), "format char in {:?}", n);
        prop_assert_eq!(n.trim(), n.as_str());
        prop_assert!(!n.contains("  "));
        prop_assert!(!n.chars().any(|c| c.is_whitespace() && c != ' '));
    }

    #[test]
    fn normalisation_caps_huge_input(c in any::<char>(), sep in prop::sample::select(vec!["", " ", "\u{200b}", "\n"]), n in 1_000usize..12_000) {
        let text: String = std::iter::repeat_n(format!("{c}{sep}"), n).collect();
        let out = normalize(&text);
        prop_assert!(out.chars().count() <= MAX_CHARS);
        prop_assert_eq!(normalize(&out), out);
    }

    #[test]
    fn classification_never_panics_and_scores_are_sane(text in chat_text()) {
        let e = engine();
        for input in [text.clone(), normalize(&text)] {
            let p = e.classifier().predict(&input);
            prop_assert!(p.ranked.len() <= RANKED);
            for s in &p.ranked {
                prop_assert!(s.confidence.is_finite() && (0.0..=1.0).contains(&s.confidence), "{:?}", p);
                prop_assert!(s.label < e.classifier().labels().len());
            }
            for w in p.ranked.windows(2) {
                prop_assert!(w[0].confidence >= w[1].confidence, "not sorted: {:?}", p);
            }
        }
        let a = e.analyze(&text);
        prop_assert_eq!(&a.normalised, &normalize(&text));
        // Sorted, except that a plausible guide may be put before a vague best guess
        // (`prefer_specific`).
        let kind = |id: &str| e.catalog().intent(id).map(|i| i.kind);
        let promoted = a.ranked.len() >= 2
            && kind(&a.ranked[0].id) == Some(IntentKind::Guide)
            && a.ranked[0].confidence >= SPECIFIC_OVER_VAGUE
            && kind(&a.ranked[1].id) == Some(IntentKind::Clarify);
        for w in a.ranked.windows(2).skip(usize::from(promoted)) {
            prop_assert!(w[0].confidence >= w[1].confidence, "not sorted: {:?}", a);
        }
        for g in &a.ranked {
            prop_assert!(g.confidence.is_finite() && (0.0..=1.0).contains(&g.confidence));
            prop_assert!(e.catalog().intent(&g.id).is_some(), "unknown intent {}", g.id);
        }
        if a.out_of_scope {
            prop_assert!(a.top().is_none());
        }
    }
}

/// The built-in catalog's files, read from `intents/`.
fn catalog_files() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../intents");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let name = format!("intents/{}", p.file_name().unwrap().to_string_lossy());
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// A mutation of TOML text: cut a range, insert a fragment, or duplicate a line.
#[derive(Debug, Clone)]
enum Mutation {
    Cut(usize, usize),
    Insert(usize, String),
    DuplicateLine(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let fragment = prop_oneof![
        Just("\"".to_string()),
        Just("[".to_string()),
        Just("]]".to_string()),
        Just("\nid = \"password_reset\"\n".to_string()),
        Just("\nunknown_key = 1\n".to_string()),
        Just("\nkind = \"nonsense\"\n".to_string()),
        Just("\nsteps = []\n".to_string()),
        Just("\npatterns = [\"(unclosed\"]\n".to_string()),
        Just("\nexamples = [\"\"]\n".to_string()),
        Just("\n[table]\n".to_string()),
        Just("= = =".to_string()),
        Just("\u{0}\u{feff}".to_string()),
        "[a-z_ =\"\\[\\]\n#0-9.]{1,20}",
        any::<String>(),
    ];
    prop_oneof![
        (any::<usize>(), 0usize..200).prop_map(|(a, n)| Mutation::Cut(a, n)),
        (any::<usize>(), fragment).prop_map(|(a, f)| Mutation::Insert(a, f)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let boundary = |i: usize| {
        let mut i = if text.is_empty() {
            0
        } else {
            i % (text.len() + 1)
        };
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    match m {
        Mutation::Cut(a, n) => {
            let start = boundary(*a);
            let end = boundary(start + n);
            let end = end.max(start);
            format!("{}{}", &text[..start], &text[end..])
        }
        Mutation::Insert(a, f) => {
            let at = boundary(*a);
            format!("{}{}{}", &text[..at], f, &text[at..])
        }
        Mutation::DuplicateLine(a) => {
            let lines: Vec<&str> = text.lines().collect();
            if lines.is_empty() {
                return text.to_string();
            }
            let i = a % lines.len();
            let mut out: Vec<&str> = lines[..=i].to_vec();
            out.extend_from_slice(&lines[i..]);
            out.join("\n")
        }
    }
}

fn error_names_a_file(e: &CatalogError, files: &[(String, String)], origin: &str) -> bool {
    let msg = e.to_string();
    match e {
        CatalogError::Empty { .. } => msg.contains(origin),
        _ => files.iter().any(|(name, _)| msg.contains(name.as_str())),
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn catalog_parsing_of_mutated_files_is_ok_or_an_error_naming_the_file(
        which in any::<usize>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut files = catalog_files();
        let i = which % files.len();
        for m in &mutations {
            files[i].1 = apply(&files[i].1, m);
        }
        let result = Catalog::from_files("intents", files.iter().map(|(n, t)| (n.as_str(), t.as_str())));
        if let Err(e) = result {
            prop_assert!(error_names_a_file(&e, &files, "intents"), "error names no file: {}", e);
            // Only the mutated file can be at fault (or the catalog as a whole).
            let msg = e.to_string();
            prop_assert!(msg.contains(&files[i].0) || msg.contains("intents"), "{}", msg);
        }
    }

    #[test]
    fn catalog_parsing_of_arbitrary_text_never_panics(
        name in prop::sample::select(vec!["x/catalog.toml", "x/out_of_scope.toml", "x/some_intent.toml"]),
        text in prop_oneof![any::<String>(), "[a-z_ =\"\\[\\]\n#0-9.,]{0,200}"],
    ) {
        let mut files = catalog_files();
        files.push((name.to_string(), text));
        if let Err(e) = Catalog::from_files("x", files.iter().map(|(n, t)| (n.as_str(), t.as_str()))) {
            prop_assert!(error_names_a_file(&e, &files, "x"), "error names no file: {}", e);
        }
    }
}

/// One step of a conversation: typed text, a press of one of the offered buttons, or a press
/// of an arbitrary (forged or stale) id.
#[derive(Debug, Clone)]
enum Step {
    Text(String),
    Offered(usize),
    Forged(String),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => chat_text().prop_map(Step::Text),
        3 => any::<usize>().prop_map(Step::Offered),
        1 => prop_oneof![any::<String>(), "[0-9]{1,3}:(yes|no|human|back|restart|none|decline|continue|forget_yes|forget_no|rate:[0-9]{1,3}:(up|down)|intent:[a-z_]{1,20})"].prop_map(Step::Forged),
        1 => prop::sample::select(vec!["/forget", "delete my data", "/human", "/reset"]).prop_map(|t| Step::Text(t.to_string())),
    ]
}

const ACTIONS: [&str; 10] = [
    "yes",
    "no",
    "back",
    "restart",
    "human",
    "decline",
    "none",
    "forget_yes",
    "forget_no",
    "continue",
];

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn conversations_on_arbitrary_input_never_panic_and_buttons_parse(
        steps in prop::collection::vec(step(), 1..25),
    ) {
        let e = engine();
        let mut conv = Conversation::default();
        for s in &steps {
            let input = match s {
                Step::Text(t) => Input::Text(t.clone()),
                Step::Offered(i) if !conv.buttons.is_empty() => {
                    Input::Button(conv.buttons[i % conv.buttons.len()].id.clone())
                }
                Step::Offered(_) => Input::Text("no".into()),
                Step::Forged(id) => Input::Button(id.clone()),
            };
            let turn = e.turn(&conv, &input);
            let next = turn.conversation;
            prop_assert_eq!(next.turn, conv.turn.wrapping_add(1));
            prop_assert!(!turn.reply.text.trim().is_empty(), "empty reply to {:?}", input);
            prop_assert_eq!(&next.buttons, &turn.reply.buttons);
            for b in &turn.reply.buttons {
                let (t, code) = b.id.split_once(':').unwrap_or(("", ""));
                prop_assert_eq!(t.parse::<u64>().ok(), Some(next.turn), "button id {}", b.id);
                let known = ACTIONS.contains(&code)
                    || code.strip_prefix("rate:").is_some_and(|r| r.ends_with(":up") || r.ends_with(":down"))
                    || code.strip_prefix("intent:").is_some_and(|id| e.catalog().intent(id).is_some());
                prop_assert!(known, "button id {} does not parse", b.id);
                prop_assert!(!b.label.trim().is_empty());
            }
            // The engine is pure: the same state and input give the same turn.
            let again = e.turn(&conv, &input);
            prop_assert_eq!(&again.conversation, &next);
            prop_assert_eq!(&again.reply, &turn.reply);
            conv = next;
        }
    }
}

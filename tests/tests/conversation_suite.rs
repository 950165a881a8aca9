//! The conversation suite (`tests/data/conversations.toml`, written apart from the catalog's
//! examples) through the real engine, the Desk and a real store, as `deskbot eval
//! --conversations` runs it; and the held-apart answers labelled with their dialogue act
//! (`tests/data/acts_heldout.jsonl`), read in the context they answer.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use deskbot::conversations;
use deskbot_engine::acts::NONE;
use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::{AnswerContext, Engine};

fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let catalog = Catalog::builtin().expect("built-in catalog loads");
            Arc::new(Engine::new(catalog).expect("engine trains"))
        })
        .clone()
}

fn data(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(file)
}

#[test]
fn the_conversation_suite_passes_and_keeps_its_promises() {
    let scripts = conversations::load(&data("conversations.toml")).expect("suite loads");
    assert!(scripts.len() >= 150, "{} conversations", scripts.len());
    let report = conversations::run(engine(), &scripts).expect("suite runs");
    let mut failed: Vec<String> = report
        .failures
        .iter()
        .map(|f| {
            format!(
                "{} turn {}: {} (user: {:?})",
                f.id, f.turn, f.message, f.input
            )
        })
        .collect();
    failed.dedup();
    for (class, c) in &report.classes {
        assert!(
            c.total >= 8,
            "class {class} has only {} conversations",
            c.total
        );
    }
    assert!(
        report.pass_rate() >= 0.95,
        "pass rate {:.3} ({} of {}); failed checks:\n{}",
        report.pass_rate(),
        report.passed,
        report.conversations,
        failed.join("\n")
    );
    // Every conversation recorded as resolved has an explicit affirmation there, and none
    // says goodbye (or resolves) while the user says it did not work.
    assert!(report.resolved_turns > 0);
    assert_eq!(report.resolved_with_affirmation, report.resolved_turns);
    assert_eq!(report.deny_goodbyes, 0);
}

#[test]
fn held_apart_answers_are_read_as_their_act_in_context() {
    let text = std::fs::read_to_string(data("acts_heldout.jsonl")).expect("data reads");
    let engine = engine();
    let (mut total, mut correct) = (0usize, 0usize);
    let mut misread = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let row: serde_json::Value = serde_json::from_str(line).expect("valid JSON line");
        let text = row["text"].as_str().expect("text");
        let act = row["act"].as_str().expect("act");
        let context =
            AnswerContext::parse(row["context"].as_str().unwrap_or("step")).expect("known context");
        let got = engine
            .read_act(text, context, row["guide"].as_str())
            .map_or(NONE, |g| g.act.as_str());
        total += 1;
        if got == act {
            correct += 1;
        } else {
            misread.push(format!("{act} read as {got}: {text}"));
        }
    }
    assert!(total >= 400, "{total} answers");
    let accuracy = correct as f64 / total as f64;
    println!("act accuracy {accuracy:.3} of {total}");
    assert!(
        accuracy >= 0.95,
        "act accuracy {accuracy:.3}; misread:\n{}",
        misread.join("\n")
    );
}

/// The suites in the bot's other languages (`tests/data/lang/conversations_*.toml`, written
/// apart from the catalog): each passes mostly, keeps the promises, and every reply is in the
/// language the script expects where it says so. On n-grams alone (the sentence vectors do
/// better; `deskbot eval --conversations FILE` runs the bot's own engine).
#[test]
fn the_suites_in_other_languages_pass_and_keep_their_promises() {
    for lang in ["es", "pt", "ru", "id", "hi", "ar"] {
        let file = data(&format!("lang/conversations_{lang}.toml"));
        let scripts = conversations::load(&file).expect("suite loads");
        assert!(
            scripts.len() >= 10,
            "{lang}: {} conversations",
            scripts.len()
        );
        let report = conversations::run(engine(), &scripts).expect("suite runs");
        let failed: Vec<String> = report
            .failures
            .iter()
            .map(|f| format!("{} turn {}: {}", f.id, f.turn, f.message))
            .collect();
        assert!(
            // Measured on n-grams: 81.8 % (ar) to 100 %; with sentence vectors every language
            // but Russian (85 %) is at 90 % or more.
            report.pass_rate() >= 0.80,
            "{lang}: pass rate {:.3}; failed checks:\n{}",
            report.pass_rate(),
            failed.join("\n")
        );
        // No guide is closed as solved without the user saying so (a Spanish "vale ya lo
        // encontre, dame un minuto" was once read as "it worked").
        assert!(
            report.resolved_turns == report.resolved_with_affirmation,
            "{lang}: {} resolves without an explicit yes\n{}",
            report.resolved_turns - report.resolved_with_affirmation,
            failed.join("\n")
        );
        assert_eq!(report.deny_goodbyes, 0, "{lang}");
        assert_eq!(
            report.languages.get(lang).map(|l| l.total),
            Some(scripts.len()),
            "{lang}: every script names its language"
        );
    }
}

/// Language identification on short held-apart messages (one-word answers in context
/// included): at least 97 % in every language.
#[test]
fn the_language_to_answer_in_is_found_in_every_language() {
    let engine = engine();
    let id = engine.language_id();
    for lang in ["en", "es", "pt", "ru", "id", "hi", "ar"] {
        let text = std::fs::read_to_string(data(&format!("lang/langid_{lang}.jsonl")))
            .expect("data reads");
        let (mut total, mut right) = (0usize, 0usize);
        let mut wrong = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let row: serde_json::Value = serde_json::from_str(line).expect("valid JSON line");
            let got =
                id.answer_language(row["text"].as_str().expect("text"), row["context"].as_str());
            total += 1;
            if got == row["lang"].as_str().expect("lang") {
                right += 1;
            } else {
                wrong.push(format!("{line} -> {got}"));
            }
        }
        assert!(total >= 100, "{lang}: {total} messages");
        assert!(
            right as f64 >= 0.97 * total as f64,
            "{lang}: {right} of {total}\n{}",
            wrong.join("\n")
        );
    }
}

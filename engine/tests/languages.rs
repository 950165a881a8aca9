//! The conversation's language: found from what users write, seeded by the platform, kept on
//! short answers, chosen with `/language`; and a language the bot does not speak.

use std::sync::LazyLock;

use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::{Conversation, Engine, Input, Outcome};
use deskbot_engine::langid::Identified;

static ENGINE: LazyLock<Engine> =
    LazyLock::new(|| Engine::new(Catalog::builtin().expect("catalog")).expect("engine"));

fn say(conv: &Conversation, text: &str) -> deskbot_engine::dialogue::Turn {
    ENGINE.turn(conv, &Input::Text(text.to_string()))
}

fn string(lang: &str, key: &str) -> String {
    ENGINE
        .catalog()
        .language(lang)
        .and_then(|l| l.string(key))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn scripts_decide_at_once_latin_languages_by_detector_and_words() {
    let id = ENGINE.language_id();
    let known = |text: &str| match id.identify(text) {
        Identified::Known { code, .. } => code,
        other => panic!("{text}: {other:?}"),
    };
    assert_eq!(known("нет"), "ru");
    assert_eq!(known("ACCOUNT_LOCKED что это значит"), "ru");
    assert_eq!(known("ما قدرت افوت على حسابي"), "ar");
    assert_eq!(known("मेरा अकाउंट बंद हो गया"), "hi");
    assert_eq!(known("bhai otp nahi aa raha login ke time"), "hi");
    assert_eq!(known("no me llega el codigo de verificacion"), "es");
    assert_eq!(known("não chega o código no meu celular"), "pt");
    assert_eq!(known("kode verifikasi tidak masuk ke hp saya"), "id");
    assert_eq!(known("the verification code never arrives"), "en");
    // Too short or plain to tell: the conversation keeps its language.
    assert_eq!(id.identify("ok"), Identified::Unclear);
    assert_eq!(id.identify("70016"), Identified::Unclear);
    assert_eq!(id.answer_language("ok", Some("ru")), "ru");
    assert_eq!(id.answer_language("no", Some("es")), "es");
    // Other scripts and languages the catalog lacks.
    assert_eq!(id.identify("我无法登录我的账户"), Identified::Unsupported);
    assert_eq!(
        id.identify("je n'arrive pas à me connecter à mon compte depuis hier"),
        Identified::Unsupported
    );
}

#[test]
fn the_bot_answers_in_the_language_it_is_written_to_and_keeps_it_on_short_answers() {
    let t = say(&Conversation::default(), "забыл пароль от mi аккаунта");
    assert_eq!(t.conversation.language.as_deref(), Some("ru"));
    assert_eq!(t.outcome, Outcome::GuideStarted);
    assert!(
        t.reply.text.contains(&string("ru", "fixed_question")),
        "{}",
        t.reply.text
    );
    for b in &t.reply.buttons {
        assert!(
            b.label
                .chars()
                .any(|c| ('а'..='я').contains(&c.to_lowercase().next().unwrap_or(c))),
            "{b:?}"
        );
    }
    // "ok" keeps Russian.
    let t2 = say(&t.conversation, "ok");
    assert_eq!(t2.conversation.language.as_deref(), Some("ru"));
    // A clear sentence in another language switches.
    let t3 = say(
        &t2.conversation,
        "sorry, can you write in english? the reset link never came",
    );
    assert_eq!(
        t3.conversation.language.as_deref(),
        Some("en"),
        "{:?} {}",
        t3.conversation,
        t3.reply.text
    );
}

#[test]
fn a_platform_language_seeds_a_new_conversation_only() {
    let mut conv = Conversation::default();
    assert!(ENGINE.seed_language(&mut conv, "pt-BR"));
    assert_eq!(conv.language.as_deref(), Some("pt"));
    let t = say(&conv, "hi");
    assert!(
        t.reply.text.contains(
            &string("pt", "greeting")
                .replace("{name}", "deskbot")
                .chars()
                .take(10)
                .collect::<String>()
        ),
        "{}",
        t.reply.text
    );
    // A language the catalog lacks, or a conversation that has one, is left alone.
    let mut fresh = Conversation::default();
    assert!(!ENGINE.seed_language(&mut fresh, "de"));
    assert!(!ENGINE.seed_language(&mut conv, "ru"));
    assert_eq!(conv.language.as_deref(), Some("pt"));
}

#[test]
fn language_shows_every_language_and_a_choice_sticks() {
    let t = say(&Conversation::default(), "/language");
    let names: Vec<&str> = t.reply.buttons.iter().map(|b| b.label.as_str()).collect();
    for l in &ENGINE.catalog().languages {
        assert!(names.contains(&l.name.as_str()), "{names:?}");
    }
    let ar = t
        .reply
        .buttons
        .iter()
        .find(|b| b.id.ends_with(":lang:ar"))
        .expect("an Arabic button");
    let t2 = ENGINE.turn(&t.conversation, &Input::Button(ar.id.clone()));
    assert_eq!(t2.conversation.language.as_deref(), Some("ar"));
    assert_eq!(t2.reply.text, string("ar", "language_set"));
    // Chosen: an English sentence is understood but answered in Arabic.
    let t3 = say(
        &t2.conversation,
        "i forgot my password and the reset email never comes",
    );
    assert_eq!(t3.conversation.language.as_deref(), Some("ar"));
    assert_eq!(t3.outcome, Outcome::GuideStarted);
    // `/language ru` by code, `/language español` by name.
    let t4 = say(&t3.conversation, "/language ru");
    assert_eq!(t4.conversation.language.as_deref(), Some("ru"));
    let t5 = say(&t4.conversation, "/language Español");
    assert_eq!(t5.conversation.language.as_deref(), Some("es"));
    let t6 = say(&t5.conversation, "/language klingon");
    assert_eq!(t6.conversation.language.as_deref(), Some("es"));
    assert!(!t6.reply.buttons.is_empty());
}

#[test]
fn an_unsupported_language_gets_the_list_in_english_and_a_person() {
    let t = say(
        &Conversation::default(),
        "Ich kann mich seit gestern nicht mehr in mein Konto einloggen",
    );
    assert_eq!(t.outcome, Outcome::UnsupportedLanguage);
    for l in &ENGINE.catalog().languages {
        assert!(t.reply.text.contains(&l.name), "{}", t.reply.text);
    }
    assert!(t.reply.buttons.iter().any(|b| b.id.ends_with(":human")));
    assert!(t.reply.text.starts_with("Sorry"), "{}", t.reply.text);
}

#[test]
fn a_repeated_reply_is_marked_in_the_users_language() {
    let mut conv = say(
        &Conversation::default(),
        "здравствуйте, не получается войти в аккаунт",
    )
    .conversation;
    assert_eq!(conv.language.as_deref(), Some("ru"));
    let mut replies = Vec::new();
    for _ in 0..3 {
        let turn = say(&conv, "/help");
        replies.push(turn.reply.text.clone());
        conv = turn.conversation;
    }
    let marked: Vec<&String> = replies
        .iter()
        .filter(|r| r.starts_with(&string("ru", "still_here")))
        .collect();
    assert!(!marked.is_empty(), "a repeat is marked: {replies:?}");
    assert!(
        replies.iter().all(|r| !r.contains("Still here")),
        "{replies:?}"
    );
}

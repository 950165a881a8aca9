//! Answers read in their context in every language: the cues of `lang/<code>/cues.toml` (plain
//! yes and no, questions, "still", "it worked", "none of these") read the same way as English's.
//! On n-grams alone (the engine CI can build without the embedding model). The sentences are
//! written here, apart from the catalog and the conversation suites.

use std::sync::LazyLock;

use deskbot_engine::catalog::Catalog;
use deskbot_engine::dialogue::{
    Act, AnswerContext, Conversation, Engine, Input, Outcome, Phase, Turn,
};
use deskbot_engine::langid::Identified;

static ENGINE: LazyLock<Engine> =
    LazyLock::new(|| Engine::new(Catalog::builtin().expect("catalog")).expect("engine"));

fn act(lang: &str, text: &str, context: AnswerContext, guide: Option<&str>) -> Option<Act> {
    ENGINE
        .read_act_in(text, Some(lang), context, guide)
        .map(|g| g.act)
}

fn in_guide(lang: &str, guide: &str) -> Conversation {
    Conversation {
        phase: Phase::Guide {
            intent: guide.into(),
            step: 0,
        },
        language: Some(lang.into()),
        ..Conversation::default()
    }
}

fn say(conv: &Conversation, text: &str) -> Turn {
    ENGINE.turn(conv, &Input::Text(text.to_string()))
}

/// `text` in `lang` answering a question of `phase`: asserts it is read as a no that leaves
/// the conversation idle, and returns the turn.
fn says_no(phase: &Phase, lang: &str, text: &str) -> Turn {
    let conv = Conversation {
        phase: phase.clone(),
        language: Some(lang.into()),
        ..Conversation::default()
    };
    let t = say(&conv, text);
    assert_eq!(t.conversation.phase, Phase::Idle, "{lang}: {text}");
    assert_eq!(t.act.map(|g| g.act), Some(Act::Deny), "{lang}: {text}");
    t
}

#[test]
fn every_language_has_the_cues_its_answers_are_read_by() {
    for l in &ENGINE.catalog().languages {
        let c = &l.cues;
        for (name, empty) in [
            ("yes", c.yes.is_empty()),
            ("no", c.no.is_empty()),
            ("negative", c.negative.is_empty()),
            ("still", c.still.is_empty()),
            ("worked", c.worked.is_empty()),
            ("already", c.already.is_empty()),
            (
                "question_openers or question_words",
                c.question_openers.is_empty() && c.question_words.is_empty(),
            ),
            ("none_of_these", c.none_of_these.is_empty()),
            ("call_out", c.call_out.is_empty()),
        ] {
            assert!(!empty, "{}: no `{name}` cues", l.code);
        }
    }
}

#[test]
fn a_plain_no_or_a_problem_that_goes_on_is_a_no_in_every_language() {
    let step = AnswerContext::Step;
    for (lang, guide, text) in [
        ("es", "two_factor", "no, me sigue diciendo codigo invalido"),
        (
            "es",
            "credentials",
            "pues nada, sigue igual que antes la verdad",
        ),
        ("pt", "credentials", "poxa, continua dando senha incorreta"),
        ("pt", "two_factor", "não, o sms ainda não chegou"),
        ("ru", "cloud_sync", "нет, фотки до сих пор не появились"),
        ("ru", "account_locked", "всё так же пишет что заблокирован"),
        ("id", "two_factor", "gak, kodenya masih belum masuk"),
        ("id", "app_sync", "masih ke logout terus kak"),
        (
            "hi",
            "cloud_sync",
            "nahi yaar, photos abhi bhi nahi dikh rahi",
        ),
        ("hi", "credentials", "नहीं, अभी भी गलत पासवर्ड बोल रहा है"),
        ("ar", "two_factor", "لا، لسه الرمز ما وصلني"),
        ("ar", "credentials", "برضه نفس المشكلة يقول كلمة السر غلط"),
    ] {
        assert_eq!(
            act(lang, text, step, Some(guide)),
            Some(Act::Deny),
            "{lang}: {text}"
        );
    }
}

#[test]
fn a_plain_yes_or_it_worked_is_a_yes_in_every_language() {
    let step = AnswerContext::Step;
    for (lang, guide, text) in [
        (
            "es",
            "credentials",
            "si!! ya me dejo entrar, era el teclado",
        ),
        ("pt", "two_factor", "deu certo, o código chegou agora"),
        ("ru", "password_reset", "да, письмо пришло и я зашёл"),
        ("id", "cloud_sync", "iya kak udah sinkron semua"),
        ("hi", "two_factor", "haan bhai otp aa gaya"),
        ("ar", "app_sync", "نعم اشتغل التطبيق الحين"),
    ] {
        assert_eq!(
            act(lang, text, step, Some(guide)),
            Some(Act::Affirm),
            "{lang}: {text}"
        );
    }
}

#[test]
fn a_word_of_the_language_is_not_read_as_an_english_word() {
    let step = AnswerContext::Step;
    // Indonesian "nah" opens a sentence ("so"); it is no "no".
    assert_eq!(
        act(
            "id",
            "nah sekarang udah berhasil login",
            step,
            Some("credentials")
        ),
        Some(Act::Affirm)
    );
    // Spanish "ya" is "already" / "now", not "yeah": found the setting is no "it worked".
    assert_ne!(
        act(
            "es",
            "ok ya vi donde esta, ahora pruebo",
            step,
            Some("cloud_sync")
        ),
        Some(Act::Affirm)
    );
    // "bentar ya": "ya" after a word is a particle.
    assert_ne!(
        act("id", "bentar ya kak", step, Some("cloud_sync")),
        Some(Act::Affirm)
    );
}

#[test]
fn a_question_about_the_step_is_one_where_the_language_puts_its_question_word() {
    let step = AnswerContext::Step;
    for (lang, guide, text) in [
        ("hi", "cloud_sync", "ye wali setting phone me kahan milegi"),
        ("id", "credentials", "ikon matanya ada di sebelah mana ya"),
        ("ar", "two_factor", "الرسائل المحظورة وين القاها"),
        ("ru", "app_sync", "а кэш где чистить"),
        ("es", "two_factor", "oye y los bloqueados donde se ven"),
    ] {
        assert_eq!(
            act(lang, text, step, Some(guide)),
            Some(Act::Question),
            "{lang}: {text}"
        );
    }
}

#[test]
fn a_no_about_the_same_problem_holds_to_the_step_a_new_one_switches() {
    // A code the user typed and was told is wrong is still the code problem, in any language.
    for (lang, text) in [
        (
            "id",
            "nggak, udah saya ketik kodenya tapi katanya tetep salah",
        ),
        ("ar", "لا، دخلت الرمز وقال انه غلط برضه"),
        (
            "es",
            "no, meti el codigo otra vez y sigue saliendo incorrecto",
        ),
    ] {
        let t = say(&in_guide(lang, "two_factor"), text);
        assert_eq!(
            t.conversation.phase,
            Phase::Guide {
                intent: "two_factor".into(),
                step: 1
            },
            "{lang}: {text}"
        );
    }
    // Announced as something else, it is a new problem.
    let t = say(
        &in_guide("en", "credentials"),
        "no, now it says my account is locked for too many attempts",
    );
    assert!(
        matches!(&t.conversation.phase, Phase::Guide { intent, step: 0 } if intent == "account_locked"),
        "{:?}",
        t.conversation.phase
    );
}

#[test]
fn a_plain_yes_or_no_answers_an_offer_and_a_choice_in_every_language() {
    let offer = Conversation {
        phase: Phase::OfferHuman {
            exhausted_guide: Some("account_locked".into()),
            resume: None,
        },
        ..Conversation::default()
    };
    for (lang, text) in [
        ("es", "sip, gracias"),
        ("pt", "sim pfv"),
        ("ru", "да, давайте"),
        ("id", "iya boleh"),
        ("hi", "haan please"),
        ("ar", "ايوه لو سمحت"),
    ] {
        let conv = Conversation {
            language: Some(lang.into()),
            ..offer.clone()
        };
        let t = say(&conv, text);
        assert!(t.escalation.is_some(), "{lang}: {text}: {}", t.reply.text);
    }
    // "No" to "which of these do you mean?" declines the topics; it starts no guide.
    let suggest = Phase::Suggest {
        options: vec!["password_reset".into(), "two_factor".into()],
    };
    for (lang, text) in [
        ("ar", "لا"),
        ("ru", "нет"),
        ("id", "bukan"),
        ("hi", "nahi"),
        ("es", "no"),
    ] {
        let t = says_no(&suggest, lang, text);
        assert_ne!(t.outcome, Outcome::GuideStarted, "{lang}: {text}");
    }
}

#[test]
fn a_short_example_of_one_language_hints_at_it() {
    // "namaste" in Latin letters is written word for word only in the Hindi examples, and
    // only once: no marker word, too short for a detector, it still tells a first message's
    // language.
    assert_eq!(
        ENGINE.language_id().identify("namaste"),
        Identified::Known {
            code: "hi".into(),
            clear: false
        }
    );
    let t = say(&Conversation::default(), "namaste");
    assert_eq!(t.conversation.language.as_deref(), Some("hi"));
}

#[test]
fn no_not_now_declines_the_offer_of_a_person_as_a_no() {
    let offer = Phase::OfferHuman {
        exhausted_guide: Some("account_locked".into()),
        resume: None,
    };
    for (lang, text) in [
        ("en", "no not now, ill try again tmrw"),
        ("es", "no, deja, mejor mas tarde"),
        ("pt", "nao, deixa pra depois"),
        ("ru", "нет, пока не нужно"),
        ("hi", "nahi abhi rehne do"),
        ("ar", "لا خلاص مو الحين"),
    ] {
        let t = says_no(&offer, lang, text);
        assert!(t.escalation.is_none(), "{lang}: {text}");
    }
}

#[test]
fn it_worked_with_an_explanation_is_no_new_risky_problem() {
    // The explanation names devices and sign-ins, which a hijacked account also has; the
    // answer still holds to "did that fix it?".
    for (lang, guide, text) in [
        (
            "en",
            "security_alert",
            "ok sorted, turns out those logins were all my own devices",
        ),
        (
            "en",
            "security_alert",
            "yep that worked, the strange login was just me on my laptop",
        ),
        (
            "id",
            "security_alert",
            "oke udah beres, ternyata yg login itu hp saya sendiri semua",
        ),
        (
            "es",
            "device_not_recognized",
            "ya funciono, resulta que los dispositivos eran todos mios",
        ),
    ] {
        let t = say(&in_guide(lang, guide), text);
        assert_eq!(
            t.outcome,
            Outcome::Resolved,
            "{lang}: {text}: {}",
            t.reply.text
        );
    }
    // Someone else changing the account is the risky problem, whatever the step.
    let t = say(
        &in_guide("en", "security_alert"),
        "someone changed my password and my email, i cant get in anymore",
    );
    assert!(
        matches!(&t.conversation.phase, Phase::Guide { intent, .. } if intent == "account_compromised"),
        "{:?}",
        t.conversation.phase
    );
}

#[test]
fn progress_with_a_question_is_a_question_not_a_yes() {
    for (lang, guide, text) in [
        (
            "en",
            "two_factor",
            "the code came through, where do i type it?",
        ),
        ("es", "two_factor", "me llego el codigo, donde lo pongo?"),
        ("es", "activation_lock", "y si el vendedor no me responde?"),
        ("pt", "two_factor", "o codigo chegou, onde eu coloco?"),
        ("id", "two_factor", "kodenya udah masuk, terus gimana?"),
    ] {
        let t = say(&in_guide(lang, guide), text);
        assert_ne!(
            t.outcome,
            Outcome::Resolved,
            "{lang}: {text}: {}",
            t.reply.text
        );
        assert!(
            matches!(&t.conversation.phase, Phase::Guide { intent, step: 0 } if intent == guide),
            "{lang}: {text}: {:?}",
            t.conversation.phase
        );
    }
}

#[test]
fn a_yes_that_names_the_fix_resolves_instead_of_starting_a_risky_guide() {
    for (lang, text) in [
        ("id", "udah ganti password, aman sekarang"),
        ("es", "ya cambie la contraseña y pude entrar, todo bien"),
    ] {
        let t = say(&in_guide(lang, "security_alert"), text);
        assert_eq!(
            t.outcome,
            Outcome::Resolved,
            "{lang}: {text}: {}",
            t.reply.text
        );
    }
}

#[test]
fn a_lone_unknown_word_is_no_answer() {
    for (lang, text) in [
        ("en", "pizza"),
        ("en", "hamster"),
        ("es", "tortilla"),
        ("id", "bakso"),
    ] {
        assert_eq!(
            act(lang, text, AnswerContext::Step, Some("connectivity")),
            None,
            "{lang}: {text}"
        );
    }
    // A plain yes or no of the language stays one, however short.
    for (lang, text, want) in [("en", "nope", Act::Deny), ("ru", "ага", Act::Affirm)] {
        assert_eq!(
            act(lang, text, AnswerContext::Step, Some("connectivity")),
            Some(want),
            "{lang}: {text}"
        );
    }
}

//! Languages through the binary: the console answers in the user's language, `check-config`
//! lists what each language leaves to English, and a broken language file is named.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

/// The repository's catalog (`intents/`), copied so a test may damage it.
fn catalog_copy(dir: &Path) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../intents");
    let to = dir.join("intents");
    copy_dir(&from, &to);
    to
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = crate::common::deskbot()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("deskbot starts");
    let mut pipe = child.stdin.take().expect("stdin");
    let data = stdin.as_bytes().to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().expect("deskbot exits");
    let _ = writer.join();
    out
}

fn check_config(dir: &Path, catalog: &Path) -> Output {
    let cfg = dir.join("deskbot.toml");
    std::fs::write(
        &cfg,
        format!("catalog = {:?}\n", catalog.display().to_string()),
    )
    .unwrap();
    run(
        &[
            "check-config",
            "--config",
            cfg.to_str().unwrap(),
            "--allow-no-channel",
        ],
        "",
    )
}

#[test]
fn check_config_lists_what_a_language_leaves_to_english() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog_copy(dir.path());
    let complete = check_config(dir.path(), &catalog);
    let stdout = String::from_utf8_lossy(&complete.stdout);
    assert!(
        complete.status.success(),
        "{}",
        String::from_utf8_lossy(&complete.stderr)
    );
    for code in ["en", "es", "pt", "ru", "id", "hi", "ar"] {
        assert!(stdout.contains(&format!("({code})")), "{stdout}");
    }
    assert!(stdout.contains("  pt: complete"), "{stdout}");

    // Portuguese loses one string and one guide's steps: both are listed, the rest is fine.
    let strings = catalog.join("lang/pt/strings.toml");
    let text = std::fs::read_to_string(&strings).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("goodbye ="))
        .collect();
    assert!(kept.len() < text.lines().count(), "pt has a goodbye string");
    std::fs::write(&strings, kept.join("\n")).unwrap();
    let partial = check_config(dir.path(), &catalog);
    let stdout = String::from_utf8_lossy(&partial.stdout);
    assert!(
        partial.status.success(),
        "{}",
        String::from_utf8_lossy(&partial.stderr)
    );
    assert!(
        stdout.contains("pt: falls back to English for:"),
        "{stdout}"
    );
    assert!(stdout.contains("strings: goodbye"), "{stdout}");
    assert!(stdout.contains("  ru: complete"), "{stdout}");
}

#[test]
fn a_broken_language_file_is_named_with_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog_copy(dir.path());
    let strings = catalog.join("lang/ru/strings.toml");
    let text = std::fs::read_to_string(&strings).unwrap();
    // A placeholder dropped from a translation would say "ticket #" without its number.
    let broken: String = text
        .lines()
        .map(|l| {
            if l.starts_with("ticket_closed_other =") {
                "ticket_closed_other = \"Обращение закрыто.\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&strings, broken).unwrap();
    let out = check_config(dir.path(), &catalog);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("lang/ru/strings.toml"), "{stderr}");
    assert!(
        stderr.contains("strings") && stderr.contains("ticket_closed_other"),
        "{stderr}"
    );

    // A guide whose translated steps do not match the English ones.
    std::fs::write(&strings, text).unwrap();
    let guides = catalog.join("lang/es/guides.toml");
    let g = std::fs::read_to_string(&guides).unwrap();
    std::fs::write(
        &guides,
        format!("{g}\n[no_such_intent]\ntitle = \"x\"\ndescription = \"y\"\n"),
    )
    .unwrap();
    let out = check_config(dir.path(), &catalog);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("lang/es/guides.toml") && stderr.contains("no_such_intent"),
        "{stderr}"
    );
}

#[test]
fn the_console_answers_in_the_users_language_and_language_changes_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let catalog = deskbot_engine::catalog::Catalog::builtin().unwrap();
    let ru = catalog.language("ru").unwrap();
    let out = run(
        &["chat", "--user", "olga", "--data-dir", data],
        "забыла пароль от mi аккаунта, как восстановить\n/language en\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The Russian guide, with Russian buttons…
    assert!(
        stdout.contains(&ru.intents["password_reset"].title),
        "{stdout}"
    );
    assert!(stdout.contains(ru.string("yes_fixed").unwrap()), "{stdout}");
    // …then English on request, the guide kept.
    assert!(
        stdout.contains(catalog.english().string("language_set").unwrap()),
        "{stdout}"
    );
    assert!(stdout.contains("Reset your password"), "{stdout}");

    // The language is stored: a restart answers in the chosen English.
    let out = run(&["chat", "--user", "olga", "--data-dir", data], "/help\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Topics I know"), "{stdout}");

    // A language the bot does not speak: the list of languages, in English, and a person.
    let out = run(
        &["chat", "--user", "pierre", "--data-dir", data],
        "bonjour, je n'arrive plus à me connecter à mon compte depuis hier soir\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("I speak:"), "{stdout}");
    for l in &catalog.languages {
        assert!(stdout.contains(&l.name), "{} missing in {stdout}", l.name);
    }
    assert!(stdout.contains("Talk to a person"), "{stdout}");
}

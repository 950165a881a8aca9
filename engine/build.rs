//! Embeds the default catalog (`../intents/*.toml`) into the engine, so `deskbot chat` works
//! from any directory. The list of files is generated here rather than written by hand so a
//! support lead can add an intent file without touching Rust.

use std::fmt::Write as _;
use std::path::Path;

/// The paths in `dir` that `keep` accepts (none when `dir` cannot be read).
fn entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| keep(p))
                .collect()
        })
        .unwrap_or_default()
}

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let dir = Path::new(&manifest).join("..").join("intents");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files = entries(&dir, |p| p.extension().is_some_and(|e| e == "toml"));
    // The languages: `lang/<code>/*.toml`, named `lang/<code>/<file>` so the catalog knows
    // them apart from the intent files.
    let lang = dir.join("lang");
    println!("cargo:rerun-if-changed={}", lang.display());
    let mut folders = entries(&lang, |p| p.is_dir());
    folders.sort();
    for folder in folders {
        println!("cargo:rerun-if-changed={}", folder.display());
        let mut inner = entries(&folder, |p| p.extension().is_some_and(|e| e == "toml"));
        files.append(&mut inner);
    }
    files.sort();
    let mut code = String::from("/// The default catalog's files: (file name, contents).\n");
    code.push_str("pub const BUILTIN_FILES: &[(&str, &str)] = &[\n");
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let name = match path.parent().and_then(|p| p.strip_prefix(&lang).ok()) {
            Some(code) if !code.as_os_str().is_empty() => {
                format!("lang/{}/{file}", code.display())
            }
            _ => file.to_string(),
        };
        let abs = path.canonicalize().unwrap_or_else(|_| path.clone());
        let _ = writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            abs.display().to_string()
        );
    }
    code.push_str("];\n");
    let out = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    if let Err(e) = std::fs::write(Path::new(&out).join("builtin_catalog.rs"), code) {
        panic!("cannot write the embedded catalog list: {e}");
    }
}

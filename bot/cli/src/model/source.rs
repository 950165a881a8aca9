//! Where the wheel comes from: a URL to download, or a file already on disk.

use std::path::PathBuf;

use url::Url;

use super::error::{FetchError, shown};

/// The wheel's location, parsed from the spec's URL.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// Downloaded over `http://` or `https://`.
    Http(Url),
    /// Read in place: a `file://` URL or a plain path (air-gapped installs).
    Local(PathBuf),
}

impl Source {
    /// `text` as a source: `http(s)://` and `file://` URLs, or a path (anything that does not
    /// parse as an absolute URL, and Windows drive paths like `C:\wheels\x.whl`).
    pub(crate) fn parse(text: &str) -> Result<Self, FetchError> {
        let unsupported = || FetchError::UnsupportedUrl {
            url: redact_text(text),
        };
        match Url::parse(text) {
            Ok(url) => match url.scheme() {
                "http" | "https" => Ok(Self::Http(url)),
                "file" => url
                    .to_file_path()
                    .map(Self::Local)
                    .map_err(|()| unsupported()),
                scheme if scheme.len() == 1 => Ok(Self::Local(PathBuf::from(text))),
                _ => Err(unsupported()),
            },
            Err(url::ParseError::RelativeUrlWithoutBase) => Ok(Self::Local(PathBuf::from(text))),
            Err(_) => Err(unsupported()),
        }
    }

    /// The source as errors and logs show it: a URL without user, password, query or
    /// fragment (they may hold a mirror's credentials), a path with controls escaped.
    pub(crate) fn shown(&self) -> String {
        match self {
            Self::Http(url) => redact(url),
            Self::Local(path) => shown(path),
        }
    }
}

/// `url` without its credentials, query and fragment; `?…` marks a removed query.
pub(crate) fn redact(url: &Url) -> String {
    let mut clean = url.clone();
    // Both only fail for URLs that cannot have credentials (no host), which then have none.
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.set_query(None);
    clean.set_fragment(None);
    let mut text = clean.to_string();
    if url.query().is_some() {
        text.push_str("?…");
    }
    text
}

/// A URL that did not parse, shown without anything after `?` or an `@`.
fn redact_text(text: &str) -> String {
    let cut = text.split(['?', '#']).next().unwrap_or_default();
    let cut = match cut.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://…@{host}"),
            None => cut.to_owned(),
        },
        None => cut.to_owned(),
    };
    crate::terminal::escape_controls(&cut).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths() {
        assert!(matches!(
            Source::parse("https://files.example/x.whl"),
            Ok(Source::Http(_))
        ));
        assert!(matches!(
            Source::parse("file:///srv/wheels/x.whl"),
            Ok(Source::Local(p)) if p == std::path::Path::new("/srv/wheels/x.whl")
        ));
        assert!(matches!(
            Source::parse("/srv/wheels/x.whl"),
            Ok(Source::Local(p)) if p == std::path::Path::new("/srv/wheels/x.whl")
        ));
        assert!(matches!(
            Source::parse("wheels/x.whl"),
            Ok(Source::Local(p)) if p == std::path::Path::new("wheels/x.whl")
        ));
        assert!(matches!(
            Source::parse("ftp://mirror/x.whl"),
            Err(FetchError::UnsupportedUrl { .. })
        ));
    }

    #[test]
    fn credentials_never_shown() {
        let Ok(source) = Source::parse("https://bob:s3cret@mirror.example/x.whl?token=abc#f")
        else {
            panic!("a valid URL");
        };
        let text = source.shown();
        assert_eq!(text, "https://mirror.example/x.whl?…");
        let Err(error) = Source::parse("gopher://bob:s3cret@mirror/x.whl?token=abc") else {
            panic!("gopher is not supported");
        };
        let text = error.to_string();
        assert!(!text.contains("s3cret") && !text.contains("abc"), "{text}");
    }
}

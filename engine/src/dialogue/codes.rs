//! Error codes in a message that the catalog does not know ("error 90210"): acknowledged by
//! their number and followed by a clarifying question, never given an invented meaning.

use std::sync::LazyLock;

use regex::Regex;

/// "error 90210", "err: -2", "error code #70016".
static NUMBERED: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:error|err)(?:\s*code)?\s*(?:no\.?|number|#)?\s*[:#=]?\s*(-?\d{1,6})\b")
        .ok()
});

/// `SOME_ERROR_NAME` as apps show them.
static NAMED: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\b([A-Z][A-Z0-9]+(?:_[A-Z0-9]+)+)\b").ok());

/// The first error code in a raw message, if any.
pub(crate) fn error_code(raw: &str) -> Option<String> {
    let numbered = NUMBERED
        .as_ref()
        .and_then(|re| re.captures(raw))
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_string());
    numbered.or_else(|| {
        NAMED
            .as_ref()
            .and_then(|re| re.captures(raw))
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::error_code;

    #[test]
    fn finds_codes_and_leaves_other_numbers() {
        assert_eq!(
            error_code("got error 90210 again").as_deref(),
            Some("90210")
        );
        assert_eq!(
            error_code("Error code: -2 when i log in").as_deref(),
            Some("-2")
        );
        assert_eq!(
            error_code("it shows SYNC_FAILED_TOKEN").as_deref(),
            Some("SYNC_FAILED_TOKEN")
        );
        assert_eq!(error_code("my code is 123456"), None);
        assert_eq!(error_code("redmi note 12 on miui 14"), None);
        assert_eq!(error_code("there was an error, no idea"), None);
    }
}

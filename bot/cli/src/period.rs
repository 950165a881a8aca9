//! `--since` periods as people write them (`7d`, `12h`, `30m`, `1h 30m`, `2w`), shared by every
//! subcommand that looks back in time.

use std::time::Duration;

/// Parses a period longer than zero in humantime's grammar; the error says what is expected.
pub fn parse_period(text: &str) -> Result<Duration, String> {
    parse_period_expecting(text, "a duration such as 7d, 12h or 30m")
}

/// [`parse_period`] whose error names `expected` (a caller that also takes words like `all`).
pub fn parse_period_expecting(text: &str, expected: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d.is_zero() => Err("the period must be longer than zero".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e}: expected {expected}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_people_write_them() {
        assert_eq!(parse_period("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_period(" 12h "), Ok(Duration::from_secs(12 * 3_600)));
        assert_eq!(parse_period("30m"), Ok(Duration::from_secs(30 * 60)));
        assert_eq!(parse_period("1h 30m"), Ok(Duration::from_secs(5_400)));
        for bad in ["", "7", "7x", "week", "-3d", "0d", "99999999999999999999d"] {
            let err = parse_period(bad).unwrap_err();
            assert!(!err.is_empty(), "{bad:?}");
        }
        assert!(parse_period("7x").unwrap_err().contains("such as 7d"));
    }
}

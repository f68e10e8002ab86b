//! Timestamps as fixed-width RFC 3339 UTC text (`2026-01-02T03:04:05.123456Z`), which sorts
//! the same as time, so the stores can compare them as text.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset, macros::format_description};

/// Format `t` in the stores' fixed-width form.
pub fn format_timestamp(t: OffsetDateTime) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    t.to_offset(UtcOffset::UTC)
        .format(&fmt)
        .expect("formatting a UTC timestamp cannot fail")
}

/// Now, formatted.
pub fn now_timestamp() -> String {
    format_timestamp(OffsetDateTime::now_utc())
}

/// Parse any RFC 3339 timestamp (or a bare `YYYY-MM-DD`) into the fixed-width form.
///
/// # Errors
/// A message naming the text and the expected form.
pub fn parse_timestamp(text: &str) -> Result<String, String> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(format_timestamp(t));
    }
    let date_fmt = format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(text, &date_fmt) {
        return Ok(format_timestamp(d.midnight().assume_utc()));
    }
    Err(format!(
        "invalid timestamp {text:?}: expected RFC 3339 such as 2026-01-31T12:00:00Z"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_offsets_and_dates() {
        assert_eq!(
            parse_timestamp("2026-01-02T05:04:05+02:00").unwrap(),
            "2026-01-02T03:04:05.000000Z"
        );
        assert_eq!(
            parse_timestamp("2026-01-02").unwrap(),
            "2026-01-02T00:00:00.000000Z"
        );
        assert!(parse_timestamp("yesterday").is_err());
    }
}

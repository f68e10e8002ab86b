//! Parsing of sync frequencies such as `"every 30 minutes"`.

use std::fmt;
use std::time::Duration;

use crate::SyncError;

/// The shortest frequency a sync may declare.
pub const MIN_FREQUENCY: Duration = Duration::from_secs(30);

/// How often a sync runs, parsed from Nango-style text: `"every 30 minutes"`, `"every hour"`,
/// `"every 1 day"`, `"every half hour"`, or a bare duration such as `"45s"`, `"2h"`.
///
/// ```
/// use std::time::Duration;
/// use sync_sdk::Frequency;
/// let f: Frequency = "every 30 minutes".parse().unwrap();
/// assert_eq!(f.duration(), Duration::from_secs(1800));
/// assert!("every 10 seconds".parse::<Frequency>().is_err()); // below the 30 s minimum
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frequency {
    text: String,
    duration: Duration,
}

impl Frequency {
    /// The interval between runs.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The text it was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Frequency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Frequency {
    type Err = SyncError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let duration = parse_duration_text(s)?;
        if duration < MIN_FREQUENCY {
            return Err(SyncError::config(format!(
                "frequency {s:?} is shorter than the minimum of 30 seconds"
            )));
        }
        Ok(Frequency {
            text: s.trim().to_string(),
            duration,
        })
    }
}

/// Parse a human duration: `"every 30 minutes"`, `"1 hour"`, `"half hour"`, `"90s"`, `"2h"`,
/// `"500ms"`. No minimum is applied.
///
/// # Errors
/// A [`crate::ErrorKind::Config`] error naming the text and the accepted units.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(sync_sdk::parse_duration_text("2h").unwrap(), Duration::from_secs(7200));
/// assert_eq!(sync_sdk::parse_duration_text("every day").unwrap(), Duration::from_secs(86400));
/// ```
pub fn parse_duration_text(s: &str) -> Result<Duration, SyncError> {
    let bad = || {
        SyncError::config(format!(
            "invalid duration {s:?}: expected e.g. \"every 30 minutes\", \"every hour\", \"90s\", \"2h\" \
             (units: ms, s/sec/second, m/min/minute, h/hour, d/day, w/week)"
        ))
    };
    let text = s.trim().to_ascii_lowercase();
    let text = text.strip_prefix("every").unwrap_or(&text).trim();
    if text == "half hour" || text == "half an hour" {
        return Ok(Duration::from_secs(1800));
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let unit = unit.trim();
    let amount: f64 = if num.is_empty() {
        1.0
    } else {
        num.parse().map_err(|_| bad())?
    };
    if !(amount.is_finite() && amount >= 0.0) {
        return Err(bad());
    }
    let unit = unit.strip_prefix("a ").unwrap_or(unit);
    let millis_per_unit: f64 = match unit {
        "ms" | "millisecond" | "milliseconds" => 1.0,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000.0,
        "d" | "day" | "days" => 86_400_000.0,
        "w" | "week" | "weeks" => 604_800_000.0,
        _ => return Err(bad()),
    };
    Ok(Duration::from_millis(
        (amount * millis_per_unit).round() as u64
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nango_style_frequencies() {
        for (text, secs) in [
            ("every 30 minutes", 1800),
            ("every hour", 3600),
            ("every 1 hour", 3600),
            ("every half hour", 1800),
            ("every day", 86400),
            ("every 2 days", 172800),
            ("every 30 seconds", 30),
            ("45s", 45),
            ("1.5h", 5400),
            ("every week", 604800),
        ] {
            let f: Frequency = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(f.duration().as_secs(), secs, "{text}");
        }
    }

    #[test]
    fn rejects_short_or_garbled_frequencies() {
        for text in [
            "every 29 seconds",
            "every 5 fortnights",
            "soon",
            "every -3 hours",
            "",
        ] {
            assert!(text.parse::<Frequency>().is_err(), "{text:?} should fail");
        }
    }
}

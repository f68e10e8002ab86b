//! RFC 3339 timestamps with whole seconds in UTC (`2023-01-01T00:00:13Z`), the workload's format.

/// Format Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parse `YYYY-MM-DDTHH:MM:SS` followed by `Z` or `+00:00` (fractional seconds are truncated).
///
/// # Errors
/// A message saying which part is malformed.
pub fn parse(text: &str) -> Result<i64, String> {
    let b = text.as_bytes();
    let bad = || format!("{text:?} is not an RFC 3339 UTC timestamp (YYYY-MM-DDTHH:MM:SSZ)");
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, String> {
        text.get(range)
            .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)
    };
    let (y, mo, d, h, mi, s) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    if !matches!(rest, "Z" | "z" | "+00:00") {
        return Err(bad());
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    Ok(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

// Howard Hinnant's civil calendar algorithms (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_known_instants() {
        assert_eq!(format(1_672_531_200), "2023-01-01T00:00:00Z");
        assert_eq!(format(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(parse("2024-02-29T12:34:56Z"), Ok(1_709_210_096));
        assert_eq!(parse("2024-02-29T12:34:56.789+00:00"), Ok(1_709_210_096));
        assert!(
            parse("2024-02-29").is_err(),
            "a date alone must be rejected"
        );
        assert!(
            parse("2024-13-01T00:00:00Z").is_err(),
            "month 13 must be rejected"
        );
    }

    #[test]
    fn round_trips_across_four_centuries() {
        for secs in (-2_000_000_000_i64..20_000_000_000).step_by(86_400 * 37 + 4_321) {
            assert_eq!(parse(&format(secs)), Ok(secs), "round trip of {secs}");
        }
    }
}

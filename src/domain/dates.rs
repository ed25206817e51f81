//! Dates as users type them: `YYYY-MM-DD` with a four-digit year from 1900 to 9999, nothing else
//! (chrono alone reads `26-11-01` as the year 26).

use chrono::NaiveDate;

/// Parse a date written `YYYY-MM-DD`; the error says what was wrong and the form accepted.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let t = text.trim();
    let shaped = t.len() == 10
        && t.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            _ => c.is_ascii_digit(),
        });
    let form = "write YYYY-MM-DD with a four-digit year from 1900 to 9999, e.g. 2026-11-01";
    if !shaped {
        return Err(format!("'{t}' is not a date: {form}"));
    }
    let date = NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .map_err(|_| format!("'{t}' is not a day of the calendar: {form}"))?;
    let year = t[..4].parse::<i32>().unwrap_or(0);
    if !(1900..=9999).contains(&year) {
        return Err(format!("'{t}' has the year {year}: {form}"));
    }
    Ok(date)
}

/// The first day of a range of `days` days ending on `to` (never overflowing: the earliest
/// date chrono holds at worst).
pub fn range_start(to: NaiveDate, days: u32) -> NaiveDate {
    to.checked_sub_days(chrono::Days::new(u64::from(days.max(1)) - 1))
        .unwrap_or(NaiveDate::MIN)
}

/// The day after `to` (the last date chrono holds at worst).
pub fn day_after(to: NaiveDate) -> NaiveDate {
    to.succ_opt().unwrap_or(NaiveDate::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_four_digit_years_in_range_are_dates() {
        assert_eq!(
            parse_date(" 2026-11-01 ").unwrap(),
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
        );
        for (text, says) in [
            ("26-11-01", "is not a date"),
            ("0026-11-01", "has the year 26"),
            ("1899-12-31", "has the year 1899"),
            ("2026-02-30", "is not a day of the calendar"),
            ("2026-1-1", "is not a date"),
            ("+2026-11-01", "is not a date"),
            ("2026/11/01", "is not a date"),
            ("", "is not a date"),
        ] {
            let e = parse_date(text).unwrap_err();
            assert!(e.contains(says) && e.contains("YYYY-MM-DD"), "{text}: {e}");
        }
    }

    #[test]
    fn date_arithmetic_saturates_instead_of_overflowing() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert_eq!(range_start(d(2026, 10, 31), 365), d(2025, 11, 1));
        assert_eq!(range_start(d(2026, 10, 31), 0), d(2026, 10, 31));
        assert_eq!(range_start(d(1900, 1, 1), u32::MAX), NaiveDate::MIN);
        assert_eq!(day_after(d(2026, 10, 31)), d(2026, 11, 1));
        assert_eq!(day_after(NaiveDate::MAX), NaiveDate::MAX);
    }

    proptest! {
        #[test]
        fn every_day_from_1900_to_9999_reads_back(days in 0i64..2_937_000) {
            let d = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Duration::days(days);
            prop_assume!(d.format("%Y").to_string().len() == 4);
            prop_assert_eq!(parse_date(&d.format("%Y-%m-%d").to_string()).unwrap(), d);
        }
    }
}

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

/// Why `effective` is not a date a person likely meant for new rates, if it is not: more than
/// `max_future_days` after `today`, or before `history_from`, the first day of the labor the
/// rates are computed from. Such a date is written only when asked for explicitly: a rate
/// far in the future makes every real date after it "a later rate on record".
pub fn far_effective_date(
    effective: NaiveDate,
    today: NaiveDate,
    history_from: NaiveDate,
    max_future_days: u32,
) -> Option<String> {
    let ahead = (effective - today).num_days();
    if ahead > i64::from(max_future_days) {
        return Some(format!(
            "effective date {effective} is {} after today ({today}), more than rates.max_future_days ({max_future_days})",
            super::progress::count(ahead, "day", "days")
        ));
    }
    (effective < history_from).then(|| {
        format!(
            "effective date {effective} is before the labor history its rates are computed from (from {history_from})"
        )
    })
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

    #[test]
    fn a_far_future_date_or_one_before_the_history_is_named_with_why() {
        let d = |s| parse_date(s).unwrap();
        let today = d("2026-12-04");
        let from = d("2025-11-01");
        assert_eq!(far_effective_date(d("2026-12-15"), today, from, 366), None);
        assert_eq!(far_effective_date(d("2027-12-05"), today, from, 366), None);
        let why = far_effective_date(d("9999-12-31"), today, from, 366).unwrap();
        assert!(
            why.starts_with("effective date 9999-12-31 is 2,912,105 days")
                && why.ends_with(
                    "days after today (2026-12-04), more than rates.max_future_days (366)"
                ),
            "{why}"
        );
        assert!(far_effective_date(d("2027-12-06"), today, from, 366).is_some());
        let why = far_effective_date(d("2025-01-01"), today, from, 366).unwrap();
        assert_eq!(
            why,
            "effective date 2025-01-01 is before the labor history its rates are computed from (from 2025-11-01)"
        );
    }
}

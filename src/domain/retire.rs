//! Retiring site rates written by mistake: which rates on record a retirement removes — the
//! rows effective exactly on its date, for the sites and job codes asked — and how each reads
//! in a confirmation and the audit (old → gone).

use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use super::rates::{CurrentRate, JobCode};

/// A rate on record, effective on one date, that a retirement removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateOnRecord {
    pub site_id: i32,
    pub job_code_id: i32,
    pub job_code: String,
    pub effective_date: NaiveDate,
    pub hourly_rate: Option<Decimal>,
    pub method: Option<String>,
}

impl fmt::Display for RateOnRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "site {} {} {}: {} {} → gone",
            self.site_id,
            self.job_code,
            self.effective_date,
            self.hourly_rate
                .map_or_else(|| "NULL".to_string(), |r| r.to_string()),
            self.method.as_deref().unwrap_or("?")
        )
    }
}

/// The rates on record effective exactly on `date` for `sites` and `codes` (every job code
/// when `codes` is empty), from the rates in force on `date` as read. A job code that does
/// not exist is an error naming those that do.
pub fn on_record(
    in_force: &[CurrentRate],
    job_codes: &[JobCode],
    sites: &[i32],
    codes: &[String],
    date: NaiveDate,
) -> Result<Vec<RateOnRecord>, String> {
    let mut wanted = Vec::new();
    for c in codes {
        match job_codes
            .iter()
            .find(|j| j.job_code.eq_ignore_ascii_case(c.trim()))
        {
            Some(j) => wanted.push(j.job_code_id),
            None => {
                let known: Vec<&str> = job_codes.iter().map(|j| j.job_code.as_str()).collect();
                return Err(format!(
                    "job code '{c}' does not exist; job codes are {}",
                    known.join(", ")
                ));
            }
        }
    }
    let code_of = |id: i32| {
        job_codes
            .iter()
            .find(|j| j.job_code_id == id)
            .map_or_else(|| id.to_string(), |j| j.job_code.clone())
    };
    let mut out: Vec<RateOnRecord> = in_force
        .iter()
        .filter(|r| r.as_of_date == Some(date))
        .filter(|r| sites.contains(&r.site_id))
        .filter(|r| wanted.is_empty() || wanted.contains(&r.job_code_id))
        .map(|r| RateOnRecord {
            site_id: r.site_id,
            job_code_id: r.job_code_id,
            job_code: code_of(r.job_code_id),
            effective_date: date,
            hourly_rate: r.hourly_rate,
            method: r.as_of_method.clone(),
        })
        .collect();
    out.sort_by(|a, b| (a.site_id, &a.job_code).cmp(&(b.site_id, &b.job_code)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn only_rates_effective_on_the_date_for_the_sites_and_codes_asked_are_taken() {
        let code = |id, c: &str| JobCode {
            job_code_id: id,
            job_code: c.into(),
            title: String::new(),
            default_rate: dec!(15),
        };
        let codes = [code(1, "VAL"), code(2, "CSH")];
        let rate = |site, job, on: &str| CurrentRate {
            site_id: site,
            job_code_id: job,
            hourly_rate: Some(dec!(16.18)),
            as_of_method: Some("weighted".into()),
            as_of_date: Some(d(on)),
            newest_date: d(on),
        };
        let in_force = [
            rate(2, 1, "9999-12-31"),
            rate(2, 2, "9999-12-31"),
            rate(2, 2, "2026-11-01"),
            rate(3, 1, "9999-12-31"),
        ];
        let all = on_record(&in_force, &codes, &[2], &[], d("9999-12-31")).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0].to_string(),
            "site 2 CSH 9999-12-31: 16.18 weighted → gone"
        );
        let val = on_record(&in_force, &codes, &[2], &["val".into()], d("9999-12-31")).unwrap();
        assert_eq!(val.len(), 1);
        assert_eq!(val[0].job_code, "VAL");
        let e = on_record(&in_force, &codes, &[2], &["XX".into()], d("9999-12-31")).unwrap_err();
        assert_eq!(e, "job code 'XX' does not exist; job codes are VAL, CSH");
    }
}

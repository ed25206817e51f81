//! Copy progress as a user reads it: this run's rate and the time left (rows an earlier,
//! interrupted run copied count toward the fraction done, never toward the speed), and the
//! run's summary.

/// Where a copy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyProgress {
    /// Rows the stage copies in all.
    pub total: i64,
    /// Rows copied by earlier runs (finished tables, checkpoints resumed from).
    pub before: i64,
    /// Rows copied by this run so far.
    pub this_run: i64,
}

impl CopyProgress {
    /// Rows per second of this run.
    pub fn rate(&self, secs: f64) -> f64 {
        self.this_run as f64 / secs.max(0.001)
    }

    /// Seconds left at this run's rate; None before this run has copied anything.
    pub fn eta_secs(&self, secs: f64) -> Option<f64> {
        let rate = self.rate(secs);
        let left = (self.total - self.before - self.this_run).max(0);
        (self.this_run > 0 && rate > 0.0).then(|| left as f64 / rate)
    }

    /// How much of the whole copy is done, 0 to 1.
    pub fn fraction(&self) -> f64 {
        if self.total > 0 {
            ((self.before + self.this_run) as f64 / self.total as f64).min(1.0)
        } else {
            1.0
        }
    }

    /// `775,000 rows in 6.9 s · 225,000 copied before`.
    pub fn summary(&self, secs: f64) -> String {
        let mut s = format!("{} rows in {secs:.1} s", thousands(self.this_run));
        if self.before > 0 {
            s.push_str(&format!(" · {} copied before", thousands(self.before)));
        }
        s
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Time left from a moving rate: the rows copied over the last `WINDOW` seconds (a slow first
/// batch — connecting, creating tables — ages out), shown only once the last three estimates
/// agree within half of each other, so a first guess never reads 100× off.
#[derive(Debug, Clone, Default)]
pub struct Eta {
    samples: std::collections::VecDeque<(f64, i64)>,
    estimates: std::collections::VecDeque<f64>,
}

impl Eta {
    const WINDOW: f64 = 10.0;

    /// Seconds left, given `done` rows of this run at `secs` and `left` rows to go; None until
    /// the estimate is stable.
    pub fn observe(&mut self, secs: f64, done: i64, left: i64) -> Option<f64> {
        self.samples.push_back((secs, done));
        while self.samples.len() > 2
            && self
                .samples
                .front()
                .is_some_and(|(t, _)| secs - t > Self::WINDOW)
        {
            self.samples.pop_front();
        }
        let (t0, d0) = *self.samples.front()?;
        if self.samples.len() < 2 || secs <= t0 || done <= d0 {
            return None;
        }
        let estimate = left.max(0) as f64 / ((done - d0) as f64 / (secs - t0));
        self.estimates.push_back(estimate);
        if self.estimates.len() > 3 {
            self.estimates.pop_front();
        }
        let (lo, hi) = self
            .estimates
            .iter()
            .fold((f64::MAX, 0.0f64), |(lo, hi), e| (lo.min(*e), hi.max(*e)));
        (self.estimates.len() == 3 && hi <= lo * 1.5 + 1.0).then_some(estimate)
    }
}

/// Where a copy step's time went: reading catalogs and preparing, moving rows, and finishing
/// (constraints, indexes, modules), with the share of the step spent moving rows.
pub fn phase_split(catalog_secs: f64, rows_secs: f64, finish_secs: f64) -> String {
    let all = catalog_secs + rows_secs + finish_secs;
    let share = if all > 0.0 {
        rows_secs / all * 100.0
    } else {
        0.0
    };
    format!(
        "took: catalog {catalog_secs:.1} s · rows {rows_secs:.1} s · finish {finish_secs:.1} s ({share:.0}% of the step moving rows)"
    )
}

/// A count with its noun, singular or plural, the number with thousands separators:
/// `1 task`, `2 tasks`, `2,000,576 rows`.
pub fn count(n: i64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_phase_split_says_where_the_time_went() {
        assert_eq!(
            super::phase_split(0.2, 7.5, 0.3),
            "took: catalog 0.2 s · rows 7.5 s · finish 0.3 s (94% of the step moving rows)"
        );
        assert_eq!(
            super::phase_split(0.0, 0.0, 0.0),
            "took: catalog 0.0 s · rows 0.0 s · finish 0.0 s (0% of the step moving rows)"
        );
    }

    #[test]
    fn a_count_takes_the_singular_only_for_one() {
        assert_eq!(super::count(1, "task", "tasks"), "1 task");
        assert_eq!(super::count(0, "task", "tasks"), "0 tasks");
        assert_eq!(super::count(2_000_576, "row", "rows"), "2,000,576 rows");
    }

    use super::*;

    #[test]
    fn after_a_resume_speed_and_time_left_count_this_runs_rows_only() {
        // 1,000,000 rows; 225,000 copied before the interruption; 40,000 since, in 0.5 s.
        let p = CopyProgress {
            total: 1_000_000,
            before: 225_000,
            this_run: 40_000,
        };
        assert_eq!(p.rate(0.5), 80_000.0);
        // 735,000 left at 80,000 rows/s.
        assert_eq!(p.eta_secs(0.5), Some(9.1875));
        assert_eq!(p.fraction(), 0.265);
        let done = CopyProgress {
            this_run: 775_000,
            ..p
        };
        assert_eq!(
            done.summary(6.9),
            "775,000 rows in 6.9 s · 225,000 copied before"
        );
        assert_eq!(done.eta_secs(6.9), Some(0.0));
        let fresh = CopyProgress {
            total: 10,
            before: 0,
            this_run: 0,
        };
        assert_eq!(fresh.eta_secs(0.1), None, "no ETA before a first batch");
        assert_eq!(fresh.summary(0.0), "0 rows in 0.0 s");
    }

    #[test]
    fn the_time_left_is_hidden_until_stable_and_a_slow_start_ages_out() {
        let mut eta = Eta::default();
        // The first batch took 5 s (connecting, creating tables); then 10,000 rows a second,
        // 1,000,000 rows in all.
        assert_eq!(
            eta.observe(5.0, 10_000, 990_000),
            None,
            "one sample: no rate yet"
        );
        let mut shown = Vec::new();
        for i in 1..=20 {
            let secs = 5.0 + i as f64;
            let done = 10_000 + i * 10_000;
            shown.push(eta.observe(secs, done, 1_000_000 - done));
        }
        assert_eq!(shown[0], None, "not stable after one estimate");
        assert_eq!(shown[1], None);
        let third = shown[2].expect("three agreeing estimates");
        assert!((third - 96.0).abs() < 1.0, "{third}");
        let last = shown[19].unwrap();
        assert!(
            (last - 79.0).abs() < 1.0,
            "{last}: the rate of the last 10 s"
        );
        // A rate that jumps about is not shown.
        let mut jumpy = Eta::default();
        let mut any = false;
        for (i, done) in [1_000i64, 50_000, 51_000, 200_000, 201_000, 400_000]
            .iter()
            .enumerate()
        {
            any |= jumpy.observe(i as f64, *done, 1_000_000 - done).is_some();
        }
        assert!(!any);
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(2_000_576), "2,000,576");
        assert_eq!(thousands(-36_500), "-36,500");
    }
}

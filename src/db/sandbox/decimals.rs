//! Stored decimals of the sandbox. SQLite keeps a DECIMAL(p, s) column's values as REAL; each one
//! read back as a rate, and each rate written, is checked against the column's declared
//! precision and scale, as SQL Server checks them: a value that does not fit is an error naming
//! its row (Msg 8115 on a write), never a saturated or silently wrong number.

use rusqlite::Connection;
use rust_decimal::Decimal;

use crate::db::DbError;
use crate::domain::sqltype::SqlType;
use crate::domain::tsql::ObjectName;

/// The declared (precision, scale) of `table.column`, when it is an exact numeric column.
pub fn declared(c: &Connection, table: &ObjectName, column: &str) -> Option<(u8, u8)> {
    let ty: String = c
        .query_row(
            "SELECT type FROM pragma_table_info(?1) WHERE name = ?2 COLLATE NOCASE",
            [table.sandbox_table(), column.to_string()],
            |r| r.get(0),
        )
        .ok()?;
    match SqlType::parse(&ty).ok()? {
        SqlType::Decimal { precision, scale } | SqlType::Numeric { precision, scale } => {
            Some((precision, scale))
        }
        SqlType::Money => Some((19, 4)),
        SqlType::SmallMoney => Some((10, 4)),
        _ => None,
    }
}

/// Whether `d`, rounded to the type's scale, has no more integer digits than the type holds.
pub fn fits(d: Decimal, (precision, scale): (u8, u8)) -> bool {
    let int_digits = u32::from(precision.saturating_sub(scale));
    let rounded = d.round_dp(u32::from(scale)).abs().trunc();
    let mut limit = Some(Decimal::ONE);
    for _ in 0..int_digits {
        limit = limit.and_then(|l| l.checked_mul(Decimal::TEN));
    }
    match limit {
        Some(limit) => rounded < limit,
        // 10^29 and up is beyond every Decimal: whatever is held fits.
        None => true,
    }
}

/// The largest value of the type, for messages: DECIMAL(9,4) → 99999.9999.
pub fn largest((precision, scale): (u8, u8)) -> String {
    let int_digits = usize::from(precision.saturating_sub(scale));
    let int = if int_digits == 0 {
        "0".to_string()
    } else {
        "9".repeat(int_digits)
    };
    if scale == 0 {
        int
    } else {
        format!("{int}.{}", "9".repeat(usize::from(scale)))
    }
}

/// A stored REAL as the decimal it stands for, checked against the column's type. `row` names
/// the row and column for the error (`dbo.JobCode job_code 'VAL': default_rate`).
pub fn read(
    value: Option<f64>,
    ty: Option<(u8, u8)>,
    row: impl FnOnce() -> String,
) -> Result<Option<Decimal>, DbError> {
    let Some(f) = value else {
        return Ok(None);
    };
    let bad = |why: String| {
        DbError::Other(format!(
            "sandbox: {} {why}; correct the stored value",
            row()
        ))
    };
    let Some(d) = super::real_to_decimal(f) else {
        return Err(bad(format!("holds {f:e}, which is not a decimal number")));
    };
    match ty {
        Some(t) if !fits(d, t) => Err(bad(format!(
            "holds {f:e}, which does not fit its type decimal({},{}) (largest {})",
            t.0,
            t.1,
            largest(t)
        ))),
        _ => Ok(Some(d)),
    }
}

/// SQL Server's refusal of a value too large for a decimal column (Msg 8115, Level 16, State 8).
pub fn overflow(row: &str) -> DbError {
    DbError::server(
        8115,
        8,
        16,
        format!("Arithmetic overflow error converting numeric to data type numeric. ({row})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn values_fit_by_integer_digits_after_rounding_to_the_scale() {
        assert!(fits(dec!(99999.9999), (9, 4)));
        assert!(!fits(dec!(100000), (9, 4)));
        // Rounds to 100000.0000: SQL Server refuses it too.
        assert!(!fits(dec!(99999.99995), (9, 4)));
        assert!(fits(dec!(-99999.9999), (9, 4)));
        assert!(fits(dec!(0.5), (4, 4)));
        assert!(!fits(dec!(1), (4, 4)));
        assert!(fits(dec!(79228162514264337593543950335), (38, 0)));
        assert_eq!(largest((9, 4)), "99999.9999");
        assert_eq!(largest((4, 4)), "0.9999");
        assert_eq!(largest((5, 0)), "99999");
    }

    #[test]
    fn a_stored_real_too_large_for_its_column_is_an_error_naming_the_row() {
        let e = read(Some(7.9e27), Some((9, 4)), || {
            "dbo.JobCode job_code 'VAL': default_rate".into()
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("dbo.JobCode job_code 'VAL': default_rate holds 7.9e27")
                && e.contains("decimal(9,4) (largest 99999.9999)"),
            "{e}"
        );
        assert_eq!(
            read(Some(13.39), Some((9, 4)), String::new).unwrap(),
            Some(dec!(13.39))
        );
        assert_eq!(read(None, Some((9, 4)), String::new).unwrap(), None);
        assert!(read(Some(f64::NAN), None, String::new).is_err());
        assert!(read(Some(1e300), None, String::new).is_err());
    }
}

//! Rows as bulk-load cells: each tpdb value converted to the `ColumnData` its target column's
//! SQL Server type takes, checked before a single byte goes on the wire (a bulk load cannot
//! be abandoned half-sent without dropping the connection).

use std::borrow::Cow;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use rust_decimal::Decimal;
use tiberius::{ColumnData, IntoSql, SqlBulkCopyOption, SqlBulkCopyOptions, TokenRow};

use super::queries::{self, Param, Statement};
use crate::db::{Column, Replace, TableInfo};
use crate::domain::checksum::Value;
use crate::domain::tsql::quote_ident;

/// How tpdb bulk-loads a migration batch: identity values, NULLs and constraints kept exactly
/// as on the source (`KEEPIDENTITY`, `KEEP_NULLS`, `CHECK_CONSTRAINTS`, so constraints stay
/// trusted); triggers do not fire, as a migration copies data and must not cause side effects.
pub fn options() -> SqlBulkCopyOptions {
    SqlBulkCopyOption::KeepIdentity
        | SqlBulkCopyOption::KeepNulls
        | SqlBulkCopyOption::CheckConstraints
}

/// The DELETEs a batch's bulk load follows, in its transaction: none into a range known empty
/// (the load then runs alone, atomic by itself), every row after the checkpoint for a resumed
/// table's first batch or a retry, the batch's own keys for a merge.
pub fn deletes_before(
    table: &TableInfo,
    replace: &Replace,
    rows: &[Vec<Value>],
    param: fn(&Value) -> Param,
) -> Vec<Statement> {
    match replace {
        Replace::Nothing => Vec::new(),
        Replace::Beyond { after } => {
            let after: Option<Vec<Param>> = after.as_ref().map(|a| a.iter().map(param).collect());
            vec![queries::delete_after(
                &table.name,
                &table.primary_key,
                after.as_deref(),
            )]
        }
        Replace::Keys => {
            let key_pos = table.key_positions();
            let keys: Vec<Vec<Param>> = rows
                .iter()
                .map(|r| key_pos.iter().map(|i| param(&r[*i])).collect())
                .collect();
            queries::delete_keys(&table.name, &table.primary_key, &keys)
        }
    }
}

/// The column list and the `ORDER` hint (rows arrive in primary-key order), bracket-quoted.
pub fn columns_and_order(table: &TableInfo) -> (Vec<String>, Vec<String>) {
    (
        table.columns.iter().map(|c| quote_ident(&c.name)).collect(),
        table.primary_key.iter().map(|k| quote_ident(k)).collect(),
    )
}

/// Every row of a batch as bulk-load rows, or the first value that does not fit its column.
pub fn token_rows(
    table: &TableInfo,
    rows: &[Vec<Value>],
) -> Result<Vec<TokenRow<'static>>, String> {
    let targets: Vec<Target> = table.columns.iter().map(Target::of).collect();
    rows.iter()
        .map(|row| {
            if row.len() != table.columns.len() {
                return Err(format!(
                    "{}: a row has {} values for {} columns",
                    table.name,
                    row.len(),
                    table.columns.len()
                ));
            }
            let mut out = TokenRow::with_capacity(row.len());
            for ((v, col), target) in row.iter().zip(&table.columns).zip(&targets) {
                out.push(
                    cell_for(v, target).map_err(|e| format!("{}.{}: {e}", table.name, col.name))?,
                );
            }
            Ok(out)
        })
        .collect()
}

/// The type's name and its parenthesised arguments: `decimal(12,2)` → ("decimal", [12, 2]).
fn parse_type(sql_type: &str) -> (String, Vec<String>) {
    let t = sql_type.trim().to_ascii_lowercase();
    match t.split_once('(') {
        Some((base, rest)) => (
            base.trim().to_string(),
            rest.trim_end_matches(')')
                .split(',')
                .map(|a| a.trim().to_string())
                .collect(),
        ),
        None => (t, Vec::new()),
    }
}

/// A column's type as the conversion needs it, read once per batch (not once per value).
pub struct Target {
    base: String,
    args: Vec<String>,
    nullable: bool,
}

impl Target {
    pub fn of(col: &Column) -> Target {
        let (base, args) = parse_type(&col.sql_type);
        Target {
            base,
            args,
            nullable: col.nullable,
        }
    }
}

/// One value for a column of `col.sql_type`.
pub fn cell(v: &Value, col: &Column) -> Result<ColumnData<'static>, String> {
    cell_for(v, &Target::of(col))
}

/// One value for a column whose type was read into `target`.
pub fn cell_for(v: &Value, target: &Target) -> Result<ColumnData<'static>, String> {
    let (base, args) = (&target.base, &target.args);
    if matches!(v, Value::Null) {
        if !target.nullable {
            return Err("NULL for a NOT NULL column".into());
        }
        return Ok(null_of(base));
    }
    let int = || -> Result<i64, String> {
        match v {
            Value::Int(i) => Ok(*i),
            Value::Dec(d) if d.fract().is_zero() => {
                i64::try_from(*d).map_err(|_| format!("{d} is out of range"))
            }
            other => Err(format!("{} is not an integer", show(other))),
        }
    };
    let fits = |i: i64, what: &str, ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(format!("{i} does not fit {what}"))
        }
    };
    let text = || -> Result<&str, String> {
        match v {
            Value::Text(s) => Ok(s.as_str()),
            other => Err(format!("{} is not text", show(other))),
        }
    };
    let decimal = || -> Result<Decimal, String> {
        match v {
            Value::Int(i) => Ok(Decimal::from(*i)),
            Value::Dec(d) => Ok(d.normalize()),
            Value::Text(s) => s
                .parse::<Decimal>()
                .map(|d| d.normalize())
                .map_err(|_| format!("'{s}' is not a number")),
            other => Err(format!("{} is not a number", show(other))),
        }
    };
    Ok(match base.as_str() {
        "tinyint" => {
            let i = int()?;
            fits(i, "tinyint", (0..=255).contains(&i))?;
            ColumnData::U8(Some(i as u8))
        }
        "smallint" => {
            let i = int()?;
            fits(i, "smallint", i16::try_from(i).is_ok())?;
            ColumnData::I16(Some(i as i16))
        }
        "int" => {
            let i = int()?;
            fits(i, "int", i32::try_from(i).is_ok())?;
            ColumnData::I32(Some(i as i32))
        }
        "bigint" => ColumnData::I64(Some(int()?)),
        "bit" => {
            let i = int()?;
            fits(i, "bit", i == 0 || i == 1)?;
            ColumnData::Bit(Some(i == 1))
        }
        "decimal" | "numeric" | "money" | "smallmoney" => {
            let d = decimal()?;
            // The encoder rounds a value to the column's scale; tpdb refuses to lose digits.
            let scale: u32 = match base.as_str() {
                "money" | "smallmoney" => 4,
                _ => args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0),
            };
            if d.scale() > scale {
                return Err(format!(
                    "{d} has more decimal places than the column's scale {scale}"
                ));
            }
            d.into_sql()
        }
        "float" | "real" => {
            let f: f64 = decimal()?
                .to_string()
                .parse()
                .map_err(|_| "not a floating-point number".to_string())?;
            if base == "real" {
                ColumnData::F32(Some(f as f32))
            } else {
                ColumnData::F64(Some(f))
            }
        }
        "char" | "varchar" | "nchar" | "nvarchar" | "text" | "ntext" | "sysname" => {
            ColumnData::String(Some(Cow::Owned(text()?.to_string())))
        }
        "uniqueidentifier" => ColumnData::Guid(Some(
            tiberius::Uuid::parse_str(text()?).map_err(|e| format!("not a GUID: {e}"))?,
        )),
        "binary" | "varbinary" | "image" => match v {
            Value::Bytes(b) => ColumnData::Binary(Some(Cow::Owned(b.clone()))),
            other => return Err(format!("{} is not binary", show(other))),
        },
        "date" => NaiveDate::parse_from_str(text()?, "%Y-%m-%d")
            .map_err(|_| format!("'{}' is not a YYYY-MM-DD date", text().unwrap_or("")))?
            .into_sql(),
        "datetime" | "datetime2" => parse_datetime(text()?)?.into_sql(),
        "smalldatetime" => small_datetime(parse_datetime(text()?)?)?,
        "time" => NaiveTime::parse_from_str(text()?, "%H:%M:%S%.f")
            .map_err(|_| format!("'{}' is not a time", text().unwrap_or("")))?
            .into_sql(),
        "datetimeoffset" => chrono::DateTime::parse_from_str(text()?, "%Y-%m-%d %H:%M:%S%.f %:z")
            .map_err(|_| format!("'{}' is not a date, time and offset", text().unwrap_or("")))?
            .into_sql(),
        other => {
            return Err(format!(
                "columns of type {other} are not bulk-copied yet; exclude the table in [migration] and copy it another way"
            ));
        }
    })
}

/// NULL of the variant the encoder expects for the column's type.
fn null_of(base: &str) -> ColumnData<'static> {
    match base {
        "tinyint" => ColumnData::U8(None),
        "smallint" => ColumnData::I16(None),
        "int" => ColumnData::I32(None),
        "bigint" => ColumnData::I64(None),
        "bit" => ColumnData::Bit(None),
        "decimal" | "numeric" | "money" | "smallmoney" => ColumnData::Numeric(None),
        "float" => ColumnData::F64(None),
        "real" => ColumnData::F32(None),
        "uniqueidentifier" => ColumnData::Guid(None),
        "binary" | "varbinary" | "image" => ColumnData::Binary(None),
        "date" => ColumnData::Date(None),
        "datetime" | "datetime2" => ColumnData::DateTime2(None),
        "smalldatetime" => ColumnData::SmallDateTime(None),
        "time" => ColumnData::Time(None),
        "datetimeoffset" => ColumnData::DateTimeOffset(None),
        _ => ColumnData::String(None),
    }
}

fn parse_datetime(s: &str) -> Result<NaiveDateTime, String> {
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d"]
        .iter()
        .find_map(|f| {
            NaiveDateTime::parse_from_str(s, f).ok().or_else(|| {
                NaiveDate::parse_from_str(s, f)
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            })
        })
        .ok_or_else(|| format!("'{s}' is not a date and time"))
}

/// smalldatetime: days since 1900-01-01 and minutes since midnight (whole minutes only).
fn small_datetime(dt: NaiveDateTime) -> Result<ColumnData<'static>, String> {
    let epoch = NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid date");
    let days = u16::try_from((dt.date() - epoch).num_days())
        .map_err(|_| format!("{dt} is outside smalldatetime's range (1900-01-01 to 2079-06-06)"))?;
    if dt.second() != 0 || dt.nanosecond() != 0 {
        return Err(format!(
            "{dt} has seconds; smalldatetime keeps whole minutes"
        ));
    }
    let minutes = (dt.hour() * 60 + dt.minute()) as u16;
    Ok(ColumnData::SmallDateTime(Some(
        tiberius::time::SmallDateTime::new(days, minutes),
    )))
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Int(i) => i.to_string(),
        Value::Dec(d) => d.to_string(),
        Value::Text(s) => format!("'{s}'"),
        Value::Bytes(b) => format!("{} bytes", b.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn col(sql_type: &str, nullable: bool) -> Column {
        Column {
            name: "c".into(),
            sql_type: sql_type.into(),
            nullable,
        }
    }

    /// `dbo.Ledger (entry_id int key, amount decimal(12,2))` holding `rows` rows.
    fn ledger(rows: i64) -> TableInfo {
        TableInfo {
            name: crate::domain::tsql::ObjectName::new("dbo", "Ledger"),
            columns: vec![
                Column {
                    name: "entry_id".into(),
                    sql_type: "int".into(),
                    nullable: false,
                },
                Column {
                    name: "amount".into(),
                    sql_type: "decimal(12,2)".into(),
                    nullable: false,
                },
            ],
            primary_key: vec!["entry_id".into()],
            rows,
            bytes: None,
            unreadable: None,
        }
    }

    #[test]
    fn a_batch_into_an_empty_range_loads_alone_and_a_resumed_or_merged_one_deletes_first() {
        let table = ledger(0);
        let rows = vec![
            vec![Value::Int(7), Value::Dec(dec!(1.25))],
            vec![Value::Int(9), Value::Dec(dec!(2.50))],
        ];
        let param = |v: &Value| match v {
            Value::Int(i) => Param::Big(*i),
            _ => Param::Null,
        };
        assert!(deletes_before(&table, &Replace::Nothing, &rows, param).is_empty());
        let beyond = deletes_before(
            &table,
            &Replace::Beyond {
                after: Some(vec![Value::Int(4)]),
            },
            &rows,
            param,
        );
        let sql: Vec<&str> = beyond.iter().map(|s| s.sql.as_str()).collect();
        assert_eq!(
            sql,
            ["DELETE FROM [dbo].[Ledger] WHERE (([entry_id] > @P1));"]
        );
        let all = deletes_before(&table, &Replace::Beyond { after: None }, &rows, param);
        assert_eq!(all[0].sql, "DELETE FROM [dbo].[Ledger];");
        let keys = deletes_before(&table, &Replace::Keys, &rows, param);
        assert_eq!(
            keys[0].sql,
            "DELETE FROM [dbo].[Ledger] WHERE [entry_id] IN (@P1, @P2);"
        );
    }

    #[test]
    fn integers_take_the_width_of_their_column_and_refuse_what_does_not_fit() {
        assert_eq!(
            cell(&Value::Int(7), &col("int", false)).unwrap(),
            ColumnData::I32(Some(7))
        );
        assert_eq!(
            cell(&Value::Int(7), &col("bigint", false)).unwrap(),
            ColumnData::I64(Some(7))
        );
        assert_eq!(
            cell(&Value::Int(7), &col("smallint", false)).unwrap(),
            ColumnData::I16(Some(7))
        );
        assert_eq!(
            cell(&Value::Int(7), &col("tinyint", false)).unwrap(),
            ColumnData::U8(Some(7))
        );
        assert_eq!(
            cell(&Value::Int(1), &col("bit", false)).unwrap(),
            ColumnData::Bit(Some(true))
        );
        let e = cell(&Value::Int(3_000_000_000), &col("int", false)).unwrap_err();
        assert!(e.contains("3000000000 does not fit int"), "{e}");
        assert!(cell(&Value::Int(256), &col("tinyint", false)).is_err());
        assert!(cell(&Value::Int(2), &col("bit", false)).is_err());
        assert!(cell(&Value::Text("x".into()), &col("int", false)).is_err());
    }

    #[test]
    fn decimals_keep_every_digit_or_are_refused() {
        match cell(&Value::Dec(dec!(18.50)), &col("decimal(9,2)", false)).unwrap() {
            ColumnData::Numeric(Some(n)) => assert_eq!((n.value(), n.scale()), (185, 1)),
            other => panic!("{other:?}"),
        }
        let e = cell(&Value::Dec(dec!(18.125)), &col("decimal(9,2)", false)).unwrap_err();
        assert!(
            e.contains("more decimal places than the column's scale 2"),
            "{e}"
        );
        assert!(cell(&Value::Dec(dec!(1.0001)), &col("money", false)).is_ok());
        assert!(cell(&Value::Dec(dec!(1.00001)), &col("money", false)).is_err());
        assert_eq!(
            cell(&Value::Dec(dec!(0.5)), &col("float", false)).unwrap(),
            ColumnData::F64(Some(0.5))
        );
    }

    #[test]
    fn nulls_are_typed_and_refused_for_not_null_columns() {
        assert_eq!(
            cell(&Value::Null, &col("int", true)).unwrap(),
            ColumnData::I32(None)
        );
        assert_eq!(
            cell(&Value::Null, &col("nvarchar(20)", true)).unwrap(),
            ColumnData::String(None)
        );
        assert!(
            cell(&Value::Null, &col("int", false))
                .unwrap_err()
                .contains("NOT NULL")
        );
    }

    #[test]
    fn dates_and_times_are_read_from_the_text_the_driver_writes() {
        // from_column writes dates as YYYY-MM-DD and date-times as "%Y-%m-%d %H:%M:%S%.f".
        let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(
            cell(&Value::Text("2026-03-01".into()), &col("date", false)).unwrap(),
            d.into_sql()
        );
        let dt = d.and_hms_milli_opt(13, 5, 0, 250).unwrap();
        assert_eq!(
            cell(
                &Value::Text("2026-03-01 13:05:00.250".into()),
                &col("datetime2(7)", false)
            )
            .unwrap(),
            dt.into_sql()
        );
        match cell(
            &Value::Text("1900-01-02 00:30:00".into()),
            &col("smalldatetime", false),
        )
        .unwrap()
        {
            ColumnData::SmallDateTime(Some(s)) => {
                assert_eq!((s.days(), s.seconds_fragments()), (1, 30))
            }
            other => panic!("{other:?}"),
        }
        assert!(cell(&Value::Text("2026-02-30".into()), &col("date", false)).is_err());
    }

    #[test]
    fn text_binary_and_guids_pass_through_and_unknown_types_are_named() {
        assert_eq!(
            cell(
                &Value::Text("Zoë ]';--".into()),
                &col("nvarchar(100)", false)
            )
            .unwrap(),
            ColumnData::String(Some(Cow::Owned("Zoë ]';--".into())))
        );
        assert_eq!(
            cell(&Value::Bytes(vec![1, 2]), &col("varbinary(max)", false)).unwrap(),
            ColumnData::Binary(Some(Cow::Owned(vec![1, 2])))
        );
        assert!(matches!(
            cell(
                &Value::Text("6f9619ff-8b86-d011-b42d-00c04fc964ff".into()),
                &col("uniqueidentifier", false)
            )
            .unwrap(),
            ColumnData::Guid(Some(_))
        ));
        let e = cell(&Value::Text("x".into()), &col("geography", false)).unwrap_err();
        assert!(
            e.contains("geography") && e.contains("exclude the table"),
            "{e}"
        );
    }

    #[test]
    fn a_batch_converts_whole_or_names_the_table_and_column_that_failed() {
        let table = ledger(2);
        let ok = token_rows(&table, &[vec![Value::Int(1), Value::Dec(dec!(2.5))]]).unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].len(), 2);
        let e = token_rows(
            &table,
            &[
                vec![Value::Int(1), Value::Dec(dec!(2.5))],
                vec![Value::Int(2), Value::Dec(dec!(2.555))],
            ],
        )
        .unwrap_err();
        assert!(
            e.starts_with("dbo.Ledger.amount: 2.555 has more decimal places"),
            "{e}"
        );
        let (cols, order) = columns_and_order(&table);
        assert_eq!(cols, ["[entry_id]", "[amount]"]);
        assert_eq!(order, ["[entry_id]"]);
    }
}

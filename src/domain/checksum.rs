//! The canonical row encoding both drivers' rows are checksummed with, so a source and a
//! target compare exactly whatever their physical types: NULL, integers, decimals (normalised:
//! 18.25 = 18.2500 = the same number as an integer), text, dates and bytes each get a tag and
//! a length. Rows are hashed as they stream; nothing holds a table in memory.

use std::borrow::Cow;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A column value as tpdb moves and compares it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Value {
    Null,
    Int(i64),
    Dec(Decimal),
    Text(String),
    Bytes(Vec<u8>),
}

/// A value as a T-SQL literal would show it: `18004`, `18.25`, `'it''s'`, `0x0a1b`, `NULL`.
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Dec(d) => write!(f, "{d}"),
            Value::Text(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Value::Bytes(b) => {
                f.write_str("0x")?;
                b.iter().try_for_each(|x| write!(f, "{x:02x}"))
            }
        }
    }
}

/// A borrowed view of one value, so a driver can hash what its database hands it without
/// building a [`Value`] first.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    Dec(Decimal),
    Text(Cow<'a, str>),
    Bytes(&'a [u8]),
}

impl Value {
    pub fn cell(&self) -> Cell<'_> {
        match self {
            Value::Null => Cell::Null,
            Value::Int(i) => Cell::Int(*i),
            Value::Dec(d) => Cell::Dec(*d),
            Value::Text(s) => Cell::Text(Cow::Borrowed(s)),
            Value::Bytes(b) => Cell::Bytes(b),
        }
    }
}

impl Cell<'_> {
    pub fn into_value(self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Int(i) => Value::Int(i),
            Cell::Dec(d) => Value::Dec(d),
            Cell::Text(s) => Value::Text(s.into_owned()),
            Cell::Bytes(b) => Value::Bytes(b.to_vec()),
        }
    }
}

/// Numbers encode as the normalised decimal: its scale, then its mantissa zigzagged and cut to
/// the bytes it needs (with their count), so `8`, `8.00` and `8.0000` are one number; text and
/// bytes carry their length.
fn encode(cell: &Cell<'_>, out: &mut Vec<u8>) {
    let number = |out: &mut Vec<u8>, mantissa: i128, scale: u32| {
        let zigzag = ((mantissa << 1) ^ (mantissa >> 127)) as u128;
        let len = (128 - zigzag.leading_zeros()).div_ceil(8) as usize;
        out.extend_from_slice(&[1, scale as u8, len as u8]);
        out.extend_from_slice(&zigzag.to_le_bytes()[..len]);
    };
    match cell {
        Cell::Null => out.push(0),
        Cell::Int(i) => number(out, i128::from(*i), 0),
        Cell::Dec(d) => {
            let n = d.normalize();
            number(out, n.mantissa(), n.scale())
        }
        Cell::Text(s) => {
            out.push(2);
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Cell::Bytes(b) => {
            out.push(3);
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(b);
        }
    }
}

/// Encoded rows are hashed in chunks of about this many bytes.
const CHUNK: usize = 64 * 1024;

/// A table checksum built row by row in key order: SHA-256 over the canonical encodings, each
/// row prefixed with its column count (every cell delimits itself, so rows cannot run together).
#[derive(Clone, Default)]
pub struct TableChecksum {
    hasher: Sha256,
    rows: u64,
    buf: Vec<u8>,
}

impl TableChecksum {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_row(&mut self, row: &[Value]) {
        self.add_cells(row.len(), |i| {
            Ok::<_, std::convert::Infallible>(row[i].cell())
        })
        .unwrap_or_else(|never| match never {});
    }

    /// Add one row of `columns` cells, asking `cell` for each in order (a driver's reader).
    pub fn add_cells<'a, E>(
        &mut self,
        columns: usize,
        mut cell: impl FnMut(usize) -> Result<Cell<'a>, E>,
    ) -> Result<(), E> {
        let start = self.buf.len();
        self.buf.extend_from_slice(&(columns as u32).to_le_bytes());
        for i in 0..columns {
            match cell(i) {
                Ok(c) => encode(&c, &mut self.buf),
                Err(e) => {
                    self.buf.truncate(start);
                    return Err(e);
                }
            }
        }
        self.rows += 1;
        if self.buf.len() >= CHUNK {
            self.hasher.update(&self.buf);
            self.buf.clear();
        }
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Hex digest.
    pub fn finish(mut self) -> String {
        self.hasher.update(&self.buf);
        self.hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// A row's canonical encoding (its cells in order, each delimiting itself).
fn encoded(row: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in row {
        encode(&v.cell(), &mut out);
    }
    out
}

/// Whether two rows are equal under the canonical encoding (`8` equals `8.00`; types that
/// encode differently differ), as validation compares them.
pub fn same_row(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && encoded(a) == encoded(b)
}

/// Sort rows into their canonical order (by encoding). A table without a primary key has no
/// order of its own; sorted, two tables holding the same rows, duplicates included, read alike.
pub fn canonical_order(rows: &mut [Vec<Value>]) {
    rows.sort_by_cached_key(|r| encoded(r));
}

/// Row count and checksum of rows in canonical order (`canonical_order` first): what a table
/// without a primary key is proven by.
pub fn sorted_checksum(rows: &[Vec<Value>]) -> (i64, String) {
    let mut sum = TableChecksum::new();
    for r in rows {
        sum.add_row(r);
    }
    (sum.rows() as i64, sum.finish())
}

/// Where two multisets of rows (both in canonical order) part: how many rows each side has
/// that the other lacks (duplicates counted), and the first such row of each.
pub fn multiset_difference<'a>(
    a: &'a [Vec<Value>],
    b: &'a [Vec<Value>],
) -> (usize, Option<&'a Vec<Value>>, usize, Option<&'a Vec<Value>>) {
    let (mut i, mut j) = (0, 0);
    let (mut only_a, mut first_a, mut only_b, mut first_b) = (0, None, 0, None);
    while i < a.len() || j < b.len() {
        let order = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => encoded(x).cmp(&encoded(y)),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => {
                only_a += 1;
                first_a = first_a.or(Some(&a[i]));
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                only_b += 1;
                first_b = first_b.or(Some(&b[j]));
                j += 1;
            }
        }
    }
    (only_a, first_a, only_b, first_b)
}

/// Compare what a copy sent with what the server stored for the same rows (both in key order):
/// None when every value reads back equal, else the first difference in words —
/// `dbo.LaborHours row labor_id = 1: hours sent 13.39, server stored 5244313317.5`.
pub fn first_mismatch(
    table: &str,
    columns: &[String],
    key_names: &[String],
    key_positions: &[usize],
    sent: &[Vec<Value>],
    stored: &[Vec<Value>],
) -> Option<String> {
    let key_text = |row: &[Value]| {
        key_names
            .iter()
            .zip(key_positions)
            .map(|(n, i)| format!("{n} = {}", row[*i]))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (i, s) in sent.iter().enumerate() {
        let Some(t) = stored.get(i) else {
            return Some(format!(
                "{table} row {}: sent, not stored (the server kept {} of {} rows)",
                key_text(s),
                stored.len(),
                sent.len()
            ));
        };
        if same_row(s, t) {
            continue;
        }
        for (c, (a, b)) in s.iter().zip(t).enumerate() {
            if !same_row(std::slice::from_ref(a), std::slice::from_ref(b)) {
                let column = columns.get(c).map(String::as_str).unwrap_or("?");
                return Some(format!(
                    "{table} row {}: {column} sent {a}, server stored {b}",
                    key_text(s)
                ));
            }
        }
        return Some(format!(
            "{table} row {}: the row read back differs from the row sent",
            key_text(s)
        ));
    }
    (stored.len() > sent.len()).then(|| {
        format!(
            "{table}: the server holds {} rows where {} were sent",
            stored.len(),
            sent.len()
        )
    })
}

/// The checksum of one row (for narrowing a mismatch to its first differing key).
pub fn row_checksum(row: &[Value]) -> String {
    let mut t = TableChecksum::new();
    t.add_row(row);
    t.finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_read_back_names_the_row_column_and_both_values() {
        use rust_decimal::Decimal;
        let cols = vec!["labor_id".to_string(), "hours".to_string()];
        let keys = vec!["labor_id".to_string()];
        let row =
            |id: i64, h: &str| vec![Value::Int(id), Value::Dec(h.parse::<Decimal>().unwrap())];
        let sent = vec![row(1, "13.39"), row(2, "8")];
        assert_eq!(
            first_mismatch(
                "dbo.LaborHours",
                &cols,
                &keys,
                &[0],
                &sent,
                &[row(1, "13.39"), row(2, "8.00")]
            ),
            None,
            "8 and 8.00 are the same value"
        );
        assert_eq!(
            first_mismatch(
                "dbo.LaborHours",
                &cols,
                &keys,
                &[0],
                &sent,
                &[row(1, "5244313317.5246"), row(2, "8")]
            )
            .unwrap(),
            "dbo.LaborHours row labor_id = 1: hours sent 13.39, server stored 5244313317.5246"
        );
        assert_eq!(
            first_mismatch(
                "dbo.LaborHours",
                &cols,
                &keys,
                &[0],
                &sent,
                &[row(1, "13.39")]
            )
            .unwrap(),
            "dbo.LaborHours row labor_id = 2: sent, not stored (the server kept 1 of 2 rows)"
        );
    }

    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    #[test]
    fn decimals_compare_by_value_and_integers_match_integral_decimals() {
        let a = row_checksum(&[Value::Dec(Decimal::from_str("18.25").unwrap())]);
        let b = row_checksum(&[Value::Dec(Decimal::from_str("18.2500").unwrap())]);
        assert_eq!(a, b);
        assert_eq!(
            row_checksum(&[Value::Int(8)]),
            row_checksum(&[Value::Dec(Decimal::from_str("8.00").unwrap())])
        );
        assert_ne!(
            row_checksum(&[Value::Int(8)]),
            row_checksum(&[Value::Text("8".into())])
        );
        assert_ne!(
            row_checksum(&[Value::Null]),
            row_checksum(&[Value::Text(String::new())])
        );
    }

    #[test]
    fn a_failing_cell_leaves_no_partial_row_behind() {
        let mut a = TableChecksum::new();
        a.add_row(&[Value::Int(1)]);
        let r = a.add_cells(2, |i| {
            if i == 0 {
                Ok(Cell::Int(7))
            } else {
                Err("gone")
            }
        });
        assert_eq!(r, Err("gone"));
        assert_eq!(a.rows(), 1);
        let mut b = TableChecksum::new();
        b.add_row(&[Value::Int(1)]);
        assert_eq!(a.finish(), b.finish());
    }

    #[test]
    fn a_checksum_over_many_chunks_depends_on_every_row() {
        let rows = (0..20_000).map(|i| vec![Value::Int(i), Value::Text(format!("row {i}"))]);
        let whole = |skip: Option<i64>| {
            let mut t = TableChecksum::new();
            for r in rows
                .clone()
                .filter(|r| Some(&Value::Int(skip.unwrap_or(-1))) != r.first())
            {
                t.add_row(&r);
            }
            t.finish()
        };
        assert_eq!(whole(None), whole(None));
        assert_ne!(whole(None), whole(Some(0)));
        assert_ne!(whole(None), whole(Some(19_999)));
    }

    #[test]
    fn rows_compare_as_the_checksum_sees_them() {
        let d = |s: &str| Value::Dec(Decimal::from_str(s).unwrap());
        assert!(same_row(
            &[Value::Int(8), d("1.50")],
            &[d("8.000"), d("1.5")]
        ));
        assert!(!same_row(&[Value::Int(8)], &[Value::Text("8".into())]));
        assert!(!same_row(&[Value::Int(8)], &[Value::Int(8), Value::Null]));
    }

    proptest! {
        #[test]
        fn an_integer_and_the_same_decimal_at_any_scale_encode_alike(i in any::<i64>(), scale in 0u32..=6) {
            let d = Decimal::from_i128_with_scale(i128::from(i) * 10i128.pow(scale), scale);
            prop_assert_eq!(row_checksum(&[Value::Int(i)]), row_checksum(&[Value::Dec(d)]));
        }

        #[test]
        fn rows_of_numbers_never_run_together(a in any::<i64>(), b in any::<i64>(), c in any::<i64>(), s in 0u32..=4) {
            // (a, b) then (c) against (a) then (b, c): same cells, different rows.
            let n = |v| Value::Dec(Decimal::new(v, s));
            let mut left = TableChecksum::new();
            left.add_row(&[n(a), n(b)]);
            left.add_row(&[n(c)]);
            let mut right = TableChecksum::new();
            right.add_row(&[n(a)]);
            right.add_row(&[n(b), n(c)]);
            prop_assert_ne!(left.finish(), right.finish());
        }

        #[test]
        fn different_numbers_encode_differently(a in any::<i64>(), b in any::<i64>(), s in 0u32..=4) {
            let (x, y) = (Decimal::new(a, s), Decimal::new(b, s));
            prop_assert_eq!(row_checksum(&[Value::Dec(x)]) == row_checksum(&[Value::Dec(y)]), a == b);
        }

        #[test]
        fn no_two_rows_of_texts_collide_by_concatenation(a in ".{0,8}", b in ".{0,8}", c in ".{0,8}") {
            // ("ab","c") and ("a","bc") must differ: lengths are part of the encoding.
            let left = row_checksum(&[Value::Text(format!("{a}{b}")), Value::Text(c.clone())]);
            let right = row_checksum(&[Value::Text(a.clone()), Value::Text(format!("{b}{c}"))]);
            prop_assert_eq!(left == right, b.is_empty());
        }

        #[test]
        fn rows_in_canonical_order_prove_the_same_multiset_in_any_order(
            rows in proptest::collection::vec((0i64..4, ".{0,2}"), 0..24),
            shift in 0usize..24,
            drop_one in any::<bool>(),
        ) {
            let table: Vec<Vec<Value>> = rows
                .iter()
                .map(|(n, t)| vec![Value::Int(*n), Value::Text(t.clone())])
                .collect();
            let mut a = table.clone();
            let mut b = table.clone();
            let turn = shift.min(b.len());
            b.rotate_left(turn);
            b.reverse();
            if drop_one && !b.is_empty() {
                // One copy of a row gone: a duplicate less is a difference too.
                b.remove(shift % b.len());
            }
            canonical_order(&mut a);
            canonical_order(&mut b);
            let changed = drop_one && !table.is_empty();
            prop_assert_eq!(sorted_checksum(&a) == sorted_checksum(&b), !changed);
            let (only_a, first_a, only_b, _) = multiset_difference(&a, &b);
            prop_assert_eq!((only_a, only_b), (usize::from(changed), 0));
            prop_assert_eq!(first_a.is_some(), changed);
        }

        #[test]
        fn row_order_matters(x in any::<i64>(), y in any::<i64>()) {
            let mut t1 = TableChecksum::new();
            t1.add_row(&[Value::Int(x)]);
            t1.add_row(&[Value::Int(y)]);
            let mut t2 = TableChecksum::new();
            t2.add_row(&[Value::Int(y)]);
            t2.add_row(&[Value::Int(x)]);
            prop_assert_eq!(t1.finish() == t2.finish(), x == y);
        }
    }
}

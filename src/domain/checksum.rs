//! The canonical row encoding both drivers' rows are checksummed with, so a source and a
//! target compare exactly whatever their physical types: NULL, integers, decimals (normalised:
//! 18.25 = 18.2500), text, dates and bytes each get a tag and a length.

use std::io::Write as _;

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

impl Value {
    /// Integers and integral decimals encode alike, so `8` and `8.00` compare equal.
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.push(0),
            Value::Int(i) => {
                out.push(1);
                let _ = write!(out, "{i}");
                out.push(0xff);
            }
            Value::Dec(d) => {
                out.push(1);
                let _ = write!(out, "{}", d.normalize());
                out.push(0xff);
            }
            Value::Text(s) => {
                out.push(2);
                out.extend_from_slice(&(s.len() as u64).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Value::Bytes(b) => {
                out.push(3);
                out.extend_from_slice(&(b.len() as u64).to_le_bytes());
                out.extend_from_slice(b);
            }
        }
    }
}

/// A table checksum built row by row in key order: SHA-256 over the canonical encodings.
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
        self.buf.clear();
        self.buf
            .extend_from_slice(&(row.len() as u32).to_le_bytes());
        for v in row {
            v.encode(&mut self.buf);
        }
        self.hasher.update((self.buf.len() as u64).to_le_bytes());
        self.hasher.update(&self.buf);
        self.rows += 1;
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Hex digest.
    pub fn finish(self) -> String {
        self.hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The checksum of one row (for narrowing a mismatch to its first differing key).
pub fn row_checksum(row: &[Value]) -> String {
    let mut t = TableChecksum::new();
    t.add_row(row);
    t.finish()
}

#[cfg(test)]
mod tests {
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

    proptest! {
        #[test]
        fn no_two_rows_of_texts_collide_by_concatenation(a in ".{0,8}", b in ".{0,8}", c in ".{0,8}") {
            // ("ab","c") and ("a","bc") must differ: lengths are part of the encoding.
            let left = row_checksum(&[Value::Text(format!("{a}{b}")), Value::Text(c.clone())]);
            let right = row_checksum(&[Value::Text(a.clone()), Value::Text(format!("{b}{c}"))]);
            prop_assert_eq!(left == right, b.is_empty());
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

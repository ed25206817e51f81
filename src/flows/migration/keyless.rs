//! Tables without a primary key (`[migration] keyless = "copy"`). With no key to resume or
//! compare by, each is read whole, copied in one transaction (every target row deleted and the
//! source's inserted together), and proven as a multiset of rows in canonical order.

use super::{db_err, retrying, write_batch};
use crate::db::{AnyNode, DbError, Load, Node, Replace, TableInfo};
use crate::domain::checksum::{Value, canonical_order, multiset_difference, sorted_checksum};
use crate::domain::progress::thousands;
use crate::error::Error;

/// The most rows a table without a key may have: it is held in memory whole to be copied and
/// compared (about 50 MB at this size).
pub const MAX_ROWS: usize = 250_000;

/// Why a table without a key is not copied whole.
pub fn too_many(name: &str, rows: i64) -> String {
    format!(
        "{name} has no primary key and {}: more than the {} a table is copied whole with, in one transaction; add a primary key, or exclude the table",
        crate::domain::progress::count(rows, "row", "rows"),
        thousands(MAX_ROWS as i64)
    )
}

/// Every row of `t` on `node`, in canonical order.
pub async fn read_whole(node: &AnyNode, t: &TableInfo) -> Result<Vec<Vec<Value>>, DbError> {
    let mut rows = node.read_rows(t, None, MAX_ROWS + 1).await?;
    if rows.len() > MAX_ROWS {
        return Err(DbError::Other(too_many(
            &t.name.to_string(),
            rows.len() as i64,
        )));
    }
    canonical_order(&mut rows);
    Ok(rows)
}

/// Row count and checksum of a table without a key (its rows in canonical order).
pub async fn checksum(node: &AnyNode, t: &TableInfo) -> Result<(i64, String), DbError> {
    Ok(sorted_checksum(&read_whole(node, t).await?))
}

/// Row count and checksum of any table: in key order, or in canonical order without a key.
pub async fn table_checksum(node: &AnyNode, t: &TableInfo) -> Result<(i64, String), DbError> {
    if t.primary_key.is_empty() {
        checksum(node, t).await
    } else {
        node.table_checksum(t).await
    }
}

/// Where two tables without a key part, in words; None when they hold the same rows.
pub fn difference(source: &[Vec<Value>], target: &[Vec<Value>]) -> Option<String> {
    let (only_source, first_source, only_target, first_target) =
        multiset_difference(source, target);
    let show = |r: Option<&Vec<Value>>| {
        r.map(|r| {
            let cells: Vec<String> = r.iter().map(|v| v.to_string()).collect();
            format!(" (first: ({}))", cells.join(", "))
        })
        .unwrap_or_default()
    };
    let rows = |n: usize| match n {
        1 => "1 row".to_string(),
        n => format!("{} rows", thousands(n as i64)),
    };
    (only_source + only_target > 0).then(|| {
        format!(
            "{} only on the source{}, {} only on the target{}",
            rows(only_source),
            show(first_source),
            rows(only_target),
            show(first_target)
        )
    })
}

/// Copy one table without a key: one write (the way `load` says) that deletes every target row
/// and inserts the source's, then the target read back whole and compared. Returns the rows copied, and what
/// the server stored differently if it did.
pub async fn copy_whole(
    src: &AnyNode,
    tgt: &AnyNode,
    t: &TableInfo,
    (source, target): (&str, &str),
    load: Load,
) -> Result<(i64, Option<String>), Error> {
    let name = t.name.to_string();
    let rows = retrying("read", || read_whole(src, t))
        .await
        .map_err(db_err(source, &format!("reading {name}")))?;
    write_batch(
        "write",
        tgt,
        t,
        (Replace::Beyond { after: None }, load),
        &None,
        &rows,
    )
    .await
    .map_err(db_err(target, &format!("writing {name}")))?;
    let stored = match retrying("read back", || read_whole(tgt, t)).await {
        Ok(rows) => rows,
        Err(e) => {
            return Ok((
                rows.len() as i64,
                Some(super::copy::read_back_failed(&name, target, &e)),
            ));
        }
    };
    let wrong = difference(&rows, &stored)
        .map(|d| format!("{name} read back after writing: {d} (the table has no key to name)"));
    Ok((rows.len() as i64, wrong))
}

/// Validation of a table without a key: (source rows, checksum, target rows, checksum, equal,
/// first difference).
pub async fn compare(
    src: &AnyNode,
    t: &TableInfo,
    tgt: &AnyNode,
    tt: &TableInfo,
) -> Result<(i64, String, i64, String, bool, String), DbError> {
    let (a, b) = tokio::join!(read_whole(src, t), read_whole(tgt, tt));
    let (a, b) = (a?, b?);
    let ((sn, sc), (tn, tc)) = (sorted_checksum(&a), sorted_checksum(&b));
    let ok = sn == tn && sc == tc;
    let first = if ok {
        String::new()
    } else {
        difference(&a, &b).unwrap_or_else(|| "the rows differ".into())
    };
    Ok((sn, sc, tn, tc, ok, first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_counts_rows_on_each_side_with_the_first_of_each() {
        let row = |n: i64, t: &str| vec![Value::Int(n), Value::Text(t.into())];
        let mut source = vec![row(1, "a"), row(1, "a"), row(2, "b")];
        let mut target = vec![row(2, "b"), row(1, "a"), row(3, "c")];
        canonical_order(&mut source);
        canonical_order(&mut target);
        assert_eq!(
            difference(&source, &target).unwrap(),
            "1 row only on the source (first: (1, 'a')), 1 row only on the target (first: (3, 'c'))"
        );
        target.push(row(1, "a"));
        target.retain(|r| r[0] != Value::Int(3));
        canonical_order(&mut target);
        assert_eq!(difference(&source, &target), None);
        assert!(too_many("dbo.Notes", 300_000).contains("300,000 rows"));
    }
}

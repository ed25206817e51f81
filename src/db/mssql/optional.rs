//! Optional server features: the bulk load's ORDER and TABLOCK hints and the size view. Each is tried once
//! per node. When the server refuses it, the operation runs again without it; the refusal is
//! remembered, and logged once with the feature and the node. A step never fails for an
//! optimisation or a size.

use std::future::Future;
use std::sync::Mutex;

use crate::db::DbError;

/// One optional feature: untried, accepted, or refused by this node.
#[derive(Debug)]
pub struct Optional {
    what: &'static str,
    /// None until tried; then whether the server took it.
    state: Mutex<Option<bool>>,
}

impl Optional {
    pub const fn new(what: &'static str) -> Optional {
        Optional {
            what,
            state: Mutex::new(None),
        }
    }

    /// Whether the feature is still worth asking for (not refused yet).
    pub fn enabled(&self) -> bool {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) != Some(false)
    }

    fn set(&self, v: bool) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
    }

    /// Run `op(true)` (with the feature) unless it was refused before; when the server refuses
    /// it (`refused`), remember that and run `op(false)`.
    pub async fn run<T, F, Fut>(
        &self,
        node: &str,
        refused: impl Fn(&DbError) -> bool,
        mut op: F,
    ) -> Result<T, DbError>
    where
        F: FnMut(bool) -> Fut,
        Fut: Future<Output = Result<T, DbError>>,
    {
        if !self.enabled() {
            return op(false).await;
        }
        match op(true).await {
            Ok(v) => {
                self.set(true);
                Ok(v)
            }
            Err(e) if refused(&e) => {
                self.set(false);
                tracing::warn!(
                    node,
                    feature = self.what,
                    error = %e,
                    "the server refused an optional feature: going on without it"
                );
                op(false).await
            }
            Err(e) => Err(e),
        }
    }
}

/// A server's refusal of the bulk load's ORDER hint: 4817/4818 (the hint's columns), or a
/// message saying the option is not supported (as TDS servers other than SQL Server say it:
/// "insert bulk option order is not yet supported").
pub fn refuses_order_hint(e: &DbError) -> bool {
    matches!(
        e,
        DbError::Server {
            number: 4817 | 4818,
            ..
        }
    ) || refuses_bulk_option(e, "order")
}

/// A server's refusal of the bulk load's TABLOCK hint ("insert bulk option tablock is not
/// yet supported" and the like).
pub fn refuses_table_lock(e: &DbError) -> bool {
    refuses_bulk_option(e, "tablock")
}

/// A server error saying a bulk-load option named `option` is not supported.
fn refuses_bulk_option(e: &DbError, option: &str) -> bool {
    match e {
        DbError::Server { message, .. } => {
            let m = message.to_ascii_lowercase();
            // A server that does not know the option at all says it is a syntax error
            // there (102, "Incorrect syntax near 'TABLOCK'").
            m.contains(option)
                && (m.contains("not supported")
                    || m.contains("not yet supported")
                    || m.contains("is ignored")
                    || m.contains("unsupported")
                    || m.contains("incorrect syntax"))
        }
        _ => false,
    }
}

/// A refusal of the size view (`sys.dm_db_partition_stats`): any server error to a query
/// that only reads it — 300 without VIEW DATABASE STATE, 208 where the view does not exist.
pub fn refuses_size_view(e: &DbError) -> bool {
    matches!(e, DbError::Server { .. })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A server double: refuses the feature with `refusal`, counts what it was asked.
    struct Double {
        refusal: Option<DbError>,
        with: AtomicUsize,
        without: AtomicUsize,
    }

    impl Double {
        fn new(refusal: Option<DbError>) -> Double {
            Double {
                refusal,
                with: AtomicUsize::new(0),
                without: AtomicUsize::new(0),
            }
        }

        async fn load(&self, with_feature: bool) -> Result<&'static str, DbError> {
            if with_feature {
                self.with.fetch_add(1, Ordering::SeqCst);
                match &self.refusal {
                    Some(e) => Err(e.clone()),
                    None => Ok("loaded with the hint"),
                }
            } else {
                self.without.fetch_add(1, Ordering::SeqCst);
                Ok("loaded without the hint")
            }
        }
    }

    fn order_refusal() -> DbError {
        DbError::server(
            33557097,
            1,
            16,
            "insert bulk option order is not yet supported",
        )
    }

    #[tokio::test]
    async fn a_refused_option_is_dropped_once_and_never_asked_for_again() {
        let server = Double::new(Some(order_refusal()));
        let hint = Optional::new("ORDER hint");
        for _ in 0..3 {
            let r = hint
                .run("prod", refuses_order_hint, |w| server.load(w))
                .await;
            assert_eq!(r.unwrap(), "loaded without the hint");
        }
        assert_eq!(server.with.load(Ordering::SeqCst), 1, "tried once");
        assert_eq!(server.without.load(Ordering::SeqCst), 3);
        assert!(!hint.enabled());
    }

    #[tokio::test]
    async fn an_accepted_option_stays_and_a_real_error_is_not_retried() {
        let server = Double::new(None);
        let hint = Optional::new("ORDER hint");
        assert_eq!(
            hint.run("prod", refuses_order_hint, |w| server.load(w))
                .await
                .unwrap(),
            "loaded with the hint"
        );
        assert!(hint.enabled());
        // A key violation is the data's fault, not the option's: it is reported as it is.
        let dup = DbError::server(2627, 1, 14, "Violation of PRIMARY KEY constraint 'PK_x'.");
        let server = Double::new(Some(dup.clone()));
        let hint = Optional::new("ORDER hint");
        let e = hint
            .run("prod", refuses_order_hint, |w| server.load(w))
            .await
            .unwrap_err();
        assert_eq!(e, dup);
        assert_eq!(server.without.load(Ordering::SeqCst), 0);
        assert!(hint.enabled());
    }

    #[test]
    fn which_errors_refuse_which_feature() {
        assert!(refuses_order_hint(&order_refusal()));
        assert!(refuses_order_hint(&DbError::server(
            4817,
            1,
            16,
            "Could not bulk load. The sorted column 'x' is not valid. The ORDER hint is ignored."
        )));
        assert!(!refuses_order_hint(&DbError::Other(
            "connection reset".into()
        )));
        let tablock = DbError::server(
            33557097,
            1,
            16,
            "insert bulk option tablock is not yet supported",
        );
        assert!(refuses_table_lock(&tablock));
        assert!(!refuses_order_hint(&tablock), "each option by its own name");
        assert!(!refuses_table_lock(&order_refusal()));
        let unknown = DbError::server(102, 1, 15, "Incorrect syntax near 'TABLOCK'.");
        assert!(refuses_table_lock(&unknown));
        assert!(!refuses_order_hint(&unknown));
        let other_syntax = DbError::server(102, 1, 15, "Incorrect syntax near 'Ledger'.");
        assert!(!refuses_table_lock(&other_syntax));
        let denied = DbError::server(
            300,
            1,
            14,
            "VIEW DATABASE STATE permission denied in database 'Billing'.",
        );
        assert!(refuses_size_view(&denied));
        assert!(!refuses_size_view(&DbError::Timeout {
            host: "h".into(),
            port: 1433,
            secs: 5
        }));
    }
}

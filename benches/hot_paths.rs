//! The pure hot paths, measured with criterion: rate finishing (decimal), the permission
//! evaluator and the privilege diff over a catalog of 10,000 entries and 500 principals, the
//! canonical row checksum, and one frame of each pane on a `TestBackend` — the Rates pane
//! holding 100,000 preview rows, of which it must draw only the visible ones.
//!
//!     cargo bench --bench hot_paths

use std::hint::black_box;
use std::str::FromStr;
use std::time::Instant;

use chrono::NaiveDate;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rust_decimal::Decimal;

use tpdb::domain::checksum::{TableChecksum, Value};
use tpdb::domain::perms::{
    Catalog, Evaluator, PermEntry, PermState, Principal, PrincipalKind, Securable,
};
use tpdb::domain::privdiff::diff_catalogs;
use tpdb::domain::rates::{
    CurrentRate, JobCode, Method, PreviewInputs, RateAggregate, RateParams, RatePolicy, Site,
    UnitAccount, build_preview,
};
use tpdb::tui::app::{App, Pane};
use tpdb::tui::keymap::Keymap;
use tpdb::tui::theme::Theme;
use tpdb::worker::{Command, Event, PreviewOutcome, TaskEnd};

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn params() -> RateParams {
    RateParams {
        sites: vec![],
        job_codes: vec![],
        from: date("2025-11-01"),
        to: date("2026-10-31"),
        method: Method::Weighted,
        effective_date: date("2026-11-01"),
    }
}

/// Aggregates for `sites` × `codes` pairs as the database returns them, with GP accounts and
/// current rates for most sites.
struct RateData {
    sites: Vec<Site>,
    job_codes: Vec<JobCode>,
    aggregates: Vec<RateAggregate>,
    current: Vec<CurrentRate>,
    unit_accounts: Vec<UnitAccount>,
}

fn rate_data(sites: i32, codes: i32) -> RateData {
    let d = |cents: i64| Decimal::new(cents, 2);
    let sites_v: Vec<Site> = (1..=sites)
        .map(|s| Site {
            site_id: s,
            site_name: format!("Site {s}"),
            region: ["East", "West", "South"][s as usize % 3].into(),
        })
        .collect();
    let codes_v: Vec<JobCode> = (1..=codes)
        .map(|j| JobCode {
            job_code_id: j,
            job_code: format!("J{j:03}"),
            title: format!("Job {j}"),
            default_rate: d(1500 + j as i64),
        })
        .collect();
    let mut aggregates = Vec::new();
    let mut current = Vec::new();
    for s in 1..=sites {
        for j in 1..=codes {
            let n = 5 + ((s * 7 + j) % 40) as i64;
            aggregates.push(RateAggregate {
                site_id: s,
                job_code: format!("J{j:03}"),
                samples: n,
                sum_rate: d(n * (1600 + (s as i64 % 300))),
                sum_hours: d(n * 800),
                sum_hours_rate: Decimal::new(n * 8 * (1600 + (s as i64 % 300)), 2),
                min_rate: Some(d(1500)),
                max_rate: Some(d(2100)),
                excluded: (s + j) as i64 % 3,
            });
            if (s + j) % 4 != 0 {
                current.push(CurrentRate {
                    site_id: s,
                    job_code_id: j,
                    hourly_rate: Some(d(1550 + (j as i64 % 90))),
                    as_of_method: Some("weighted".into()),
                    as_of_date: Some(date("2025-01-01")),
                    newest_date: date("2025-01-01"),
                });
            }
        }
    }
    let unit_accounts = (1..=sites)
        .filter(|s| s % 10 != 0)
        .map(|s| UnitAccount {
            site_id: s,
            unit_account: format!("UA-{s:04}"),
        })
        .collect();
    RateData {
        sites: sites_v,
        job_codes: codes_v,
        aggregates,
        current,
        unit_accounts,
    }
}

fn preview_of(data: &RateData) -> tpdb::domain::rates::Preview {
    build_preview(&PreviewInputs {
        params: &params(),
        policy: &RatePolicy::default(),
        sites: &data.sites,
        job_codes: &data.job_codes,
        aggregates: &data.aggregates,
        current: &data.current,
        unit_accounts: &data.unit_accounts,
    })
}

fn rates(c: &mut Criterion) {
    let data = rate_data(100, 100);
    let mut g = c.benchmark_group("rates");
    g.throughput(Throughput::Elements(data.aggregates.len() as u64));
    g.bench_function("finish 10,000 site × job code aggregates", |b| {
        b.iter(|| black_box(preview_of(black_box(&data))))
    });
    g.finish();
}

/// A catalog of 500 principals (450 users, 50 roles; each user in two roles) and 10,000
/// permission entries over 1,000 objects in 10 schemas, with denies among the grants.
fn big_catalog(seed: usize) -> Catalog {
    let mut c = Catalog::default();
    for r in 0..50 {
        c.principals.push(Principal {
            name: format!("role{r}"),
            kind: PrincipalKind::Role,
        });
    }
    for u in 0..450 {
        c.principals.push(Principal {
            name: format!("user{u}"),
            kind: PrincipalKind::SqlUser,
        });
        c.memberships
            .push((format!("role{}", u % 50), format!("user{u}")));
        c.memberships
            .push((format!("role{}", (u * 7 + seed) % 50), format!("user{u}")));
    }
    let perms = ["SELECT", "INSERT", "UPDATE", "DELETE", "EXECUTE"];
    for i in 0..10_000usize {
        // 1,000 objects × 10 (permission, grantee) pairs; every 20th entry on the schema instead.
        let (object, k) = (i % 1000, i / 1000);
        let securable = if i % 20 == 0 {
            Securable::Schema(format!("s{}", object % 10))
        } else {
            Securable::object(format!("s{}", object % 10), format!("t{}", object / 10))
        };
        let grantee = if k < 5 {
            format!("role{}", (object + seed) % 50)
        } else {
            format!("user{}", (object * 7 + seed) % 450)
        };
        c.permissions.push(PermEntry {
            securable,
            permission: perms[k % 5].into(),
            grantee,
            state: if i % 17 == 0 {
                PermState::Deny
            } else {
                PermState::Grant
            },
        });
    }
    c.permissions.sort();
    c.permissions.dedup_by(|a, b| {
        a.securable == b.securable && a.permission == b.permission && a.grantee == b.grantee
    });
    c
}

fn permissions(c: &mut Criterion) {
    let catalog = big_catalog(0);
    let other = big_catalog(3);
    assert!(catalog.permissions.len() > 9_500 && catalog.principals.len() == 500);
    let queries: Vec<(String, &str, Securable)> = (0..256)
        .map(|i| {
            (
                format!("user{}", i * 13 % 450),
                ["SELECT", "INSERT", "EXECUTE", "DELETE"][i % 4],
                Securable::object(format!("s{}", i % 10), format!("t{}", i % 100)),
            )
        })
        .collect();
    let mut g = c.benchmark_group("permissions");
    let indexed = Evaluator::new(&catalog);
    let mut i = 0;
    g.bench_function(
        "evaluate one check, indexed (10k entries, 500 principals)",
        |b| {
            b.iter(|| {
                let (user, perm, securable) = &queries[i % queries.len()];
                i += 1;
                black_box(indexed.evaluate(user, perm, securable))
            })
        },
    );
    g.bench_function(
        "evaluate one check, one-off scan (10k entries, 500 principals)",
        |b| {
            b.iter(|| {
                let (user, perm, securable) = &queries[i % queries.len()];
                i += 1;
                black_box(catalog.evaluate(user, perm, securable))
            })
        },
    );
    g.bench_function("index the catalog for many checks", |b| {
        b.iter(|| black_box(Evaluator::new(&catalog)))
    });
    g.bench_function("diff two catalogs (10k entries, 500 principals)", |b| {
        b.iter(|| black_box(diff_catalogs(&catalog, &other, None)))
    });
    g.finish();
}

/// Rows of the Ledger table the copy tests use: (int, int, text, decimal).
fn ledger_rows(n: i64) -> Vec<Vec<Value>> {
    (0..n)
        .map(|i| {
            vec![
                Value::Int(i * 3 + 1),
                Value::Int(i % 40 + 1),
                Value::Text(format!("entry {i}")),
                Value::Dec(Decimal::from_str(&format!("{}.25", i % 997)).unwrap()),
            ]
        })
        .collect()
}

fn checksum(c: &mut Criterion) {
    let rows = ledger_rows(10_000);
    let mut g = c.benchmark_group("checksum");
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.bench_function(
        "canonical SHA-256 of 10,000 rows (int, int, text, decimal)",
        |b| {
            b.iter(|| {
                let mut t = TableChecksum::new();
                for r in &rows {
                    t.add_row(r);
                }
                black_box(t.finish())
            })
        },
    );
    g.finish();
}

/// The mssql write path's client side: a batch of source rows converted to bulk-load cells
/// (checked against each column's type) — what happens before a byte goes on the wire.
fn bulk_rows(c: &mut Criterion) {
    use tpdb::db::{Column, TableInfo};
    let col = |name: &str, sql_type: &str| Column {
        name: name.into(),
        sql_type: sql_type.into(),
        nullable: false,
    };
    let table = TableInfo {
        name: tpdb::domain::tsql::ObjectName::new("dbo", "Ledger"),
        columns: vec![
            col("entry_id", "int"),
            col("site_id", "int"),
            col("memo", "nvarchar(100)"),
            col("amount", "decimal(12,2)"),
        ],
        primary_key: vec!["entry_id".into()],
        rows: 0,
        bytes: None,
        unreadable: None,
    };
    let rows = ledger_rows(10_000);
    let mut g = c.benchmark_group("bulk");
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.bench_function(
        "10,000 rows (int, int, nvarchar, decimal) to bulk-load cells",
        |b| {
            b.iter(|| {
                black_box(
                    tpdb::db::mssql::bulk::token_rows(&table, &rows)
                        .unwrap()
                        .len(),
                )
            })
        },
    );
    g.finish();
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn screen(t: &Terminal<TestBackend>) -> String {
    let buf = t.backend().buffer();
    let mut s = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

/// An app on the demo sandbox with every pane holding what its worker would have sent.
fn loaded_app(config: &tpdb::config::Config, rt: &tokio::runtime::Runtime) -> App {
    let mut app = App::new(
        Keymap::default(),
        Theme::load("dark", None, true).unwrap(),
        Some(params()),
        tpdb::tui::facts(config),
    );
    let now = Instant::now();
    // Rates: 100,000 preview rows (1,000 sites × 100 job codes).
    app.start();
    let id = app
        .take_commands()
        .iter()
        .find_map(|c| match c {
            Command::PreviewRates { id, .. } => Some(*id),
            _ => None,
        })
        .expect("a first preview");
    let data = rate_data(1000, 100);
    let preview = preview_of(&data);
    assert_eq!(preview.rows.len(), 100_000);
    app.on_event(Event::RatesPreview {
        id,
        outcome: Box::new(PreviewOutcome {
            params: params(),
            preview,
            sites: data.sites,
            job_codes: data.job_codes,
            max_excluded_pct: rust_decimal::Decimal::ONE,
        }),
    });
    app.on_event(Event::TaskFinished {
        id,
        end: TaskEnd::Done,
    });
    // Every other pane, answered with the real flows' results on the demo.
    for pane in ['1', '2', '4'] {
        app.on_key(key(pane), now);
        for command in app.take_commands() {
            let event = match command {
                Command::MigrationStatus { id } => Event::MigrationStatus {
                    id,
                    stages: tpdb::flows::migration::status(config).unwrap(),
                },
                Command::PrivilegesCheck {
                    id,
                    principal,
                    node,
                } => Event::Privileges {
                    id,
                    outcome: Box::new(
                        rt.block_on(tpdb::flows::privileges::check(config, &principal, &node))
                            .unwrap(),
                    ),
                },
                Command::PrivilegesDiff { id, left, right } => Event::Privileges {
                    id,
                    outcome: Box::new(
                        rt.block_on(tpdb::flows::privileges::diff_nodes(
                            config, &left, &right, None,
                        ))
                        .unwrap(),
                    ),
                },
                Command::Probe {
                    id,
                    principal,
                    nodes,
                    active,
                } => Event::ProbeResults {
                    id,
                    results: rt
                        .block_on(tpdb::flows::probes::probe(
                            config, &principal, &nodes, active,
                        ))
                        .unwrap(),
                },
                _ => continue,
            };
            let id = match &event {
                Event::MigrationStatus { id, .. }
                | Event::Privileges { id, .. }
                | Event::ProbeResults { id, .. } => *id,
                _ => unreachable!(),
            };
            app.on_event(event);
            app.on_event(Event::TaskFinished {
                id,
                end: TaskEnd::Done,
            });
        }
    }
    app
}

fn panes(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let summary = tpdb::demo::create_demo(dir.path(), 1, false).unwrap();
    let config = tpdb::config::Config::load(&summary.config).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut app = loaded_app(&config, &rt);
    let mut g = c.benchmark_group("render");
    for (pane, shows) in [
        (Pane::Rates, "Site 1"),
        (Pane::Migration, "training"),
        (Pane::Privileges, "rate_auditors"),
        (Pane::Probes, "usp_UpsertSiteJobCodeRate"),
        (Pane::Activity, "Activity"),
    ] {
        app.pane = pane;
        let mut terminal = Terminal::new(TestBackend::new(160, 48)).unwrap();
        terminal.draw(|f| app.render(f)).unwrap();
        // A frame of an empty pane would measure nothing: each shows its data.
        let s = screen(&terminal);
        assert!(
            s.contains(shows),
            "{pane:?} pane does not show {shows}:\n{s}"
        );
        g.bench_function(format!("{pane:?} pane, one 160×48 frame"), |b| {
            b.iter_batched_ref(
                || Terminal::new(TestBackend::new(160, 48)).unwrap(),
                |t| {
                    t.draw(|f| app.render(f)).unwrap();
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, rates, permissions, checksum, bulk_rows, panes);
criterion_main!(benches);

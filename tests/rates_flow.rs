//! The rate flow against the demo sandbox: preview numbers, exclusions, GP validation, input
//! errors, and apply through both write paths with the sandbox enforcing permissions.

mod common;

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use tpdb::db::sandbox::security::set_permission;
use tpdb::domain::perms::{PermState, Securable};
use tpdb::domain::rates::{Flag, Method, RateParams, Source, round};
use tpdb::error::Error;
use tpdb::flows::no_progress;
use tpdb::flows::rates::{apply, prepare_apply, preview};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn params(method: Method) -> RateParams {
    RateParams {
        sites: vec![],
        job_codes: vec![],
        from: d("2025-11-01"),
        to: d("2026-10-31"),
        method,
        effective_date: d("2026-11-01"),
    }
}

/// Raw labor records of one site and job code in range, read straight from the EDW file.
fn raw_records(demo: &common::Demo, site: i32, code: &str) -> Vec<(Decimal, Decimal)> {
    let conn = demo.node("edw");
    let mut st = conn
        .prepare(
            r#"SELECT printf('%.2f', hours), printf('%.4f', hourly_rate) FROM "dbo.LaborHours"
               WHERE site_id = ?1 AND job_code = ?2 AND work_date BETWEEN '2025-11-01' AND '2026-10-31'"#,
        )
        .unwrap();
    st.query_map(rusqlite::params![site, code], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })
    .unwrap()
    .map(|r| {
        let (h, rate) = r.unwrap();
        (
            Decimal::from_str(&h).unwrap(),
            Decimal::from_str(&rate).unwrap(),
        )
    })
    .collect()
}

#[tokio::test]
async fn preview_equals_a_client_side_computation_over_the_raw_records() {
    let demo = common::demo();
    let b = &demo.config.rates.as_ref().unwrap().bounds;
    for method in [Method::Average, Method::Weighted] {
        let out = preview(&demo.config, &params(method), &no_progress)
            .await
            .unwrap();
        for (site, code) in [(1, "VAL"), (12, "CSH"), (40, "SUP")] {
            let raw = raw_records(&demo, site, code);
            let kept: Vec<_> = raw
                .iter()
                .filter(|(h, r)| {
                    *h > Decimal::ZERO && *h <= b.max_hours && *r >= b.min_rate && *r <= b.max_rate
                })
                .collect();
            let expected = match method {
                Method::Average => {
                    kept.iter().map(|(_, r)| *r).sum::<Decimal>() / Decimal::from(kept.len())
                }
                _ => {
                    kept.iter().map(|(h, r)| h * r).sum::<Decimal>()
                        / kept.iter().map(|(h, _)| *h).sum::<Decimal>()
                }
            };
            let row = out
                .preview
                .rows
                .iter()
                .find(|r| r.site_id == site && r.job_code == code)
                .unwrap();
            assert_eq!(row.rate, round(expected, 2), "{method} {site} {code}");
            assert_eq!(row.samples, kept.len() as i64);
            assert_eq!(row.source, Source::History);
        }
    }
}

#[tokio::test]
async fn bad_records_are_excluded_and_counted_and_gp_gaps_flagged() {
    let demo = common::demo();
    let out = preview(&demo.config, &params(Method::Weighted), &no_progress)
        .await
        .unwrap();
    let bad = common::count(
        &demo.node("edw"),
        r#"SELECT COUNT(*) FROM "dbo.LaborHours" WHERE work_date BETWEEN '2025-11-01' AND '2026-10-31'
           AND (hours <= 0 OR hours > 24 OR hourly_rate < 7.25 OR hourly_rate > 250)"#,
    );
    assert!(bad > 0);
    assert_eq!(out.preview.excluded_records, bad);
    assert_eq!(out.preview.sites_without_gp, vec![7, 19, 26, 33]);
    for r in &out.preview.rows {
        assert_eq!(
            r.flags.contains(&Flag::NoGpAccount),
            [7, 19, 26, 33].contains(&r.site_id),
            "site {}",
            r.site_id
        );
    }
    assert!(
        out.preview
            .rows
            .iter()
            .any(|r| r.flags.contains(&Flag::DefaultUsed))
    );
    assert!(
        out.preview
            .rows
            .iter()
            .any(|r| r.flags.contains(&Flag::FewSamples))
    );
    assert!(
        out.preview
            .rows
            .iter()
            .any(|r| r.flags.contains(&Flag::LargeChange))
    );
}

#[tokio::test]
async fn filters_are_pushed_down_and_unknown_names_are_refused() {
    let demo = common::demo();
    let mut p = params(Method::Average);
    p.sites = vec![3];
    p.job_codes = vec!["VAL".into()];
    let out = preview(&demo.config, &p, &no_progress).await.unwrap();
    assert_eq!(out.preview.rows.len(), 1);
    assert_eq!(
        (
            out.preview.rows[0].site_id,
            out.preview.rows[0].job_code.as_str()
        ),
        (3, "VAL")
    );

    p.sites = vec![3, 404];
    let e = preview(&demo.config, &p, &no_progress).await.unwrap_err();
    assert!(matches!(e, Error::Usage(_)));
    assert!(
        e.to_string()
            .starts_with("unknown site 404; known sites: 1, 2, 3"),
        "{e}"
    );
    p.sites = vec![];
    p.job_codes = vec!["VALET".into()];
    let e = preview(&demo.config, &p, &no_progress).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("unknown job code VALET; known job codes: ACC, AMG"),
        "{e}"
    );
    p.job_codes = vec![];
    p.from = d("2027-01-01");
    let e = preview(&demo.config, &p, &no_progress).await.unwrap_err();
    assert!(e.to_string().contains("is after to"), "{e}");
    assert_eq!(e.exit_code(), 2);
}

#[tokio::test]
async fn a_mapped_table_or_column_that_does_not_exist_names_the_config_key() {
    let mut demo = common::demo();
    demo.edit_config(|t| {
        t.replace(
            "[rates.bounds]",
            "[rates.edw]\ntable = \"dbo.LaborHour\"\n\n[rates.bounds]",
        )
    });
    let e = preview(&demo.config, &params(Method::Average), &no_progress)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert_eq!(e.server_number(), Some(208));
    assert!(text.contains("rates.edw"), "{text}");
    assert!(
        text.contains("dbo.LaborHour does not exist on node 'edw'"),
        "{text}"
    );

    let mut demo = common::demo();
    demo.edit_config(|t| {
        t.replace(
            "[rates.bounds]",
            "[rates.edw]\nhours = \"hrs\"\n\n[rates.bounds]",
        )
    });
    let e = preview(&demo.config, &params(Method::Average), &no_progress)
        .await
        .unwrap_err();
    assert_eq!(e.server_number(), Some(207));
    assert!(e.to_string().contains("Invalid column name 'hrs'"), "{e}");
}

fn rate_rows(demo: &common::Demo) -> BTreeMap<(i64, i64, String), f64> {
    let conn = demo.node("node1");
    let mut st = conn
        .prepare(r#"SELECT job_code_id, site_id, effective_date, hourly_rate FROM "dbo.SiteJobCodeRate""#)
        .unwrap();
    st.query_map([], |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn a_refused_write_writes_nothing_and_names_the_grant() {
    let demo = common::demo();
    let before = rate_rows(&demo);
    let out = preview(&demo.config, &params(Method::Weighted), &no_progress)
        .await
        .unwrap();
    let prep = prepare_apply(&demo.config, &out, false).unwrap();
    assert_eq!(prep.identity, "sp-billing-dataflow");
    assert!(prep.protected);
    assert!(
        prep.statements[1].starts_with("EXEC [dbo].[usp_UpsertSiteJobCodeRate] @job_code_id = ")
    );
    let e = apply(&demo.config, &prep, &common::yes(&prep.node))
        .await
        .unwrap_err();
    assert_eq!(e.server_number(), Some(229));
    let text = e.to_string();
    assert!(text.contains(
        "The EXECUTE permission was denied on the object 'usp_UpsertSiteJobCodeRate', database 'node1', schema 'dbo'."
    ), "{text}");
    assert!(text.contains(
        "GRANT EXECUTE ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO [sp-billing-dataflow];"
    ));
    assert_eq!(rate_rows(&demo), before);
    let audit = std::fs::read_to_string(demo.path("audit.jsonl")).unwrap();
    assert!(
        audit
            .lines()
            .last()
            .unwrap()
            .contains("\"outcome\":\"refused\"")
    );
}

#[tokio::test]
async fn applying_twice_leaves_one_row_per_key_and_date_and_keeps_history() {
    let mut demo = common::demo();
    // The service principal has db_datawriter: the table path is allowed.
    demo.edit_config(|t| t.replace("write_path = \"procedure\"", "write_path = \"table\""));
    let before = rate_rows(&demo);
    let out = preview(&demo.config, &params(Method::Weighted), &no_progress)
        .await
        .unwrap();
    let prep = prepare_apply(&demo.config, &out, false).unwrap();
    let written = apply(&demo.config, &prep, &common::yes(&prep.node))
        .await
        .unwrap();
    assert_eq!(written, prep.plan.writes.len());
    assert!(written > 300);
    let after_once = rate_rows(&demo);
    assert_eq!(
        apply(&demo.config, &prep, &common::yes(&prep.node))
            .await
            .unwrap(),
        written
    );
    let after_twice = rate_rows(&demo);
    assert_eq!(after_once, after_twice);
    assert_eq!(after_once.len(), before.len() + written);
    for (k, v) in &before {
        assert_eq!(after_once.get(k), Some(v), "history row {k:?} changed");
    }
    for w in &prep.plan.writes {
        let key = (
            w.job_code_id as i64,
            w.site_id as i64,
            "2026-11-01".to_string(),
        );
        assert_eq!(
            Decimal::from_str(&format!("{:.2}", after_once[&key])).unwrap(),
            w.hourly_rate
        );
    }
    // No row was written for a site without an active GP unit account.
    assert!(
        after_once
            .keys()
            .filter(|k| k.2 == "2026-11-01")
            .all(|k| ![7, 19, 26, 33].contains(&k.1))
    );
    // The preview now shows the written rate as current.
    let again = preview(&demo.config, &params(Method::Weighted), &no_progress)
        .await
        .unwrap();
    let r = again
        .preview
        .rows
        .iter()
        .find(|r| r.site_id == 1 && r.job_code == "VAL")
        .unwrap();
    assert_eq!(r.current_rate, Some(r.rate));
}

#[tokio::test]
async fn with_execute_granted_the_procedure_path_writes() {
    let demo = common::demo();
    set_permission(
        &demo.node("node1"),
        PermState::Grant,
        "EXECUTE",
        &Securable::object("dbo", "usp_UpsertSiteJobCodeRate"),
        "sp-billing-dataflow",
    )
    .unwrap();
    let mut p = params(Method::Average);
    p.sites = vec![1, 2];
    let out = preview(&demo.config, &p, &no_progress).await.unwrap();
    let prep = prepare_apply(&demo.config, &out, false).unwrap();
    let n = apply(&demo.config, &prep, &common::yes(&prep.node))
        .await
        .unwrap();
    assert_eq!(n, out.preview.rows.len());
    let conn = demo.node("node1");
    assert_eq!(
        common::count(
            &conn,
            r#"SELECT COUNT(*) FROM "dbo.SiteJobCodeRate" WHERE effective_date = '2026-11-01' AND calculation_method = 'average'"#
        ),
        n as i64
    );
}

#[tokio::test]
async fn a_deny_through_a_role_refuses_the_table_write_and_writes_nothing() {
    use tpdb::db::sandbox::security::{add_member, add_principal};
    use tpdb::domain::perms::PrincipalKind;
    let mut demo = common::demo();
    demo.edit_config(|t| t.replace("write_path = \"procedure\"", "write_path = \"table\""));
    {
        let c = demo.node("node1");
        add_principal(&c, "legacy_readonly", PrincipalKind::Role).unwrap();
        add_member(&c, "legacy_readonly", "sp-billing-dataflow").unwrap();
        set_permission(
            &c,
            PermState::Deny,
            "INSERT",
            &Securable::Schema("dbo".into()),
            "legacy_readonly",
        )
        .unwrap();
    }
    let before = rate_rows(&demo);
    let out = preview(&demo.config, &params(Method::Weighted), &no_progress)
        .await
        .unwrap();
    let prep = prepare_apply(&demo.config, &out, false).unwrap();
    let e = apply(&demo.config, &prep, &common::yes(&prep.node))
        .await
        .unwrap_err();
    assert_eq!(e.server_number(), Some(229));
    assert!(e.to_string().contains("The INSERT permission was denied on the object 'SiteJobCodeRate', database 'node1', schema 'dbo'."), "{e}");
    assert!(e.to_string().contains("remove that DENY"), "{e}");
    assert_eq!(rate_rows(&demo), before);
}

#[tokio::test]
async fn a_rates_node_without_the_rate_table_names_the_key() {
    let mut demo = common::demo();
    // uat has no dbo.SiteJobCodeRate yet (the migration's copy step creates it).
    demo.edit_config(|t| {
        t.replace("rates_node = \"uat\"", "")
            .replace("rates_node = \"node1\"", "rates_node = \"uat\"")
    });
    let e = preview(&demo.config, &params(Method::Weighted), &no_progress)
        .await
        .unwrap_err();
    assert_eq!(e.server_number(), Some(208), "{e}");
    assert!(e.to_string().contains("rates.rate_table"), "{e}");
    assert!(
        e.to_string()
            .contains("dbo.SiteJobCodeRate does not exist on node 'uat'"),
        "{e}"
    );
}

/// Every stored rate row, byte for byte as SQLite holds it (rate as text, method included).
fn history_dump(demo: &common::Demo) -> Vec<String> {
    let conn = demo.node("node1");
    let mut st = conn
        .prepare(r#"SELECT job_code_id || '|' || site_id || '|' || effective_date || '|' || quote(hourly_rate) || '|' || calculation_method FROM "dbo.SiteJobCodeRate" ORDER BY 1"#)
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Sites 5, job codes CSH and VAL, effective 2025-01-01: a date the demo has rates on record for.
fn on_record_params(method: Method) -> RateParams {
    RateParams {
        sites: vec![5],
        job_codes: vec!["CSH".into(), "VAL".into()],
        effective_date: d("2025-01-01"),
        ..params(method)
    }
}

#[tokio::test]
async fn a_rate_on_record_for_the_date_is_flagged_left_out_and_replaced_only_when_asked() {
    let mut demo = common::demo();
    demo.edit_config(|t| t.replace("write_path = \"procedure\"", "write_path = \"table\""));
    let before = history_dump(&demo);
    let out = preview(
        &demo.config,
        &on_record_params(Method::Weighted),
        &no_progress,
    )
    .await
    .unwrap();
    assert_eq!(out.preview.rows.len(), 2);
    for r in &out.preview.rows {
        assert!(r.flags.contains(&Flag::ReplacesRateOnRecord), "{r:?}");
        assert_eq!(r.recorded_rate, r.current_rate, "{r:?}");
        assert_eq!(r.recorded_method.as_deref(), Some("average"), "{r:?}");
        assert_ne!(r.recorded_rate, Some(r.rate), "{r:?}");
    }

    // Without asking: nothing is written, history stays byte-identical, the rows are named.
    let prep = prepare_apply(&demo.config, &out, false).unwrap();
    assert!(prep.plan.writes.is_empty());
    assert_eq!(prep.plan.replacements_left_out(), 2);
    assert!(
        prep.plan
            .skipped
            .iter()
            .all(|(_, _, why)| why.starts_with("replaces the rate on record (site 5 ")),
        "{:?}",
        prep.plan.skipped
    );
    assert_eq!(
        apply(&demo.config, &prep, &common::yes(&prep.node))
            .await
            .unwrap(),
        0
    );
    assert_eq!(history_dump(&demo), before);

    // Asked for: written, and the audit line carries old and new values of each row. The
    // date is before the labor history the rates come from: a correction of history is
    // written only when that date is asked for too.
    let mut prep = prepare_apply(&demo.config, &out, true).unwrap();
    assert_eq!(prep.plan.writes.len(), 2);
    let e = apply(&demo.config, &prep, &common::yes(&prep.node))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("effective date 2025-01-01 is before the labor history")
            && e.contains("nothing was written"),
        "{e}"
    );
    prep.allow_far_date = true;
    assert_eq!(
        apply(&demo.config, &prep, &common::yes(&prep.node))
            .await
            .unwrap(),
        2
    );
    let audit = std::fs::read_to_string(demo.path("audit.jsonl")).unwrap();
    let last = audit.lines().last().unwrap();
    for r in &out.preview.rows {
        let said = format!(
            "site 5 {} 2025-01-01: {} average → {} weighted",
            r.job_code,
            r.recorded_rate.unwrap(),
            r.rate
        );
        assert!(last.contains(&said), "{said} not in {last}");
    }
    assert!(last.contains("\"outcome\":\"ok\""), "{last}");

    // Written again, the same rows are unchanged: nothing to write, nothing sent.
    let again = preview(
        &demo.config,
        &on_record_params(Method::Weighted),
        &no_progress,
    )
    .await
    .unwrap();
    assert!(
        again
            .preview
            .rows
            .iter()
            .all(|r| r.flags.contains(&Flag::Unchanged) && !r.writable()),
        "{:?}",
        again.preview.rows
    );
    let after = history_dump(&demo);
    let prep = prepare_apply(&demo.config, &again, true).unwrap();
    assert!(prep.plan.writes.is_empty() && prep.plan.replacing.is_empty());
    assert_eq!(
        apply(&demo.config, &prep, &common::yes(&prep.node))
            .await
            .unwrap(),
        0
    );
    assert_eq!(history_dump(&demo), after);
    let applies = |text: &str| text.lines().filter(|l| l.contains("rates.apply")).count();
    let now = std::fs::read_to_string(demo.path("audit.jsonl")).unwrap();
    assert_eq!(applies(&now), applies(&audit), "no write was even begun");
}

#[test]
fn the_cli_leaves_rates_on_record_out_until_replace_recorded_and_asks_no_confirmation_for_nothing()
{
    let mut demo = common::demo();
    demo.edit_config(|t| t.replace("write_path = \"procedure\"", "write_path = \"table\""));
    let before = history_dump(&demo);
    let args = [
        "rates",
        "apply",
        "--sites",
        "5",
        "--job-codes",
        "CSH,VAL",
        "--effective-date",
        "2025-01-01",
        "--yes",
    ];
    // node1 is protected, yet with nothing to write no confirmation is asked.
    let out = common::tpdb(&demo, &args);
    let (o, e) = (common::text(&out.stdout), common::text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{o}{e}");
    assert!(
        o.contains("-- 0 rows to write") && o.contains("2 left out"),
        "{o}"
    );
    assert!(o.contains("add --replace-recorded"), "{o}");
    assert!(e.contains("nothing to write"), "{e}");
    assert!(!e.contains("protected"), "{e}");
    assert_eq!(history_dump(&demo), before);

    let mut replace = args.to_vec();
    replace.extend(["--replace-recorded", "--confirm", "node1"]);
    let out = common::tpdb(&demo, &replace);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a date before the history needs asking for"
    );
    assert!(
        common::text(&out.stderr).contains("--allow-far-date"),
        "{}",
        common::text(&out.stderr)
    );
    assert_eq!(history_dump(&demo), before);
    replace.push("--allow-far-date");
    let out = common::tpdb(&demo, &replace);
    let o = common::text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{o}{}",
        common::text(&out.stderr)
    );
    assert!(o.contains("--   replaces: site 5 CSH 2025-01-01: "), "{o}");
    assert_ne!(history_dump(&demo), before);

    // JSON shows what is on record next to the new rate.
    let out = common::tpdb(
        &demo,
        &[
            "rates",
            "preview",
            "--sites",
            "5",
            "--job-codes",
            "CSH",
            "--effective-date",
            "2025-01-01",
            "--method",
            "average",
            "--format",
            "json",
        ],
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["recorded_method"], "weighted", "{rows}");
    assert!(rows[0]["recorded_rate"].is_string(), "{rows}");
    assert!(
        rows[0]["flags"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("replaces_rate_on_record")),
        "{rows}"
    );
}

#[tokio::test]
async fn a_stored_procedure_the_sandbox_cannot_run_says_so_and_writes_nothing() {
    let mut demo = common::demo();
    {
        let c = demo.node("node1");
        let mut p = tpdb::db::sandbox::seed_objects::node1_modules()
            .into_iter()
            .find(|o| o.name.name == "usp_UpsertSiteJobCodeRate")
            .unwrap();
        p.name = tpdb::domain::tsql::ObjectName::new("dbo", "usp_WriteRates");
        tpdb::db::sandbox::objects::store(&c, &p).unwrap();
        tpdb::db::sandbox::security::register_object(&c, &p.name, "P").unwrap();
        set_permission(
            &c,
            PermState::Grant,
            "EXECUTE",
            &Securable::object("dbo", "usp_WriteRates"),
            "sp-billing-dataflow",
        )
        .unwrap();
    }
    demo.edit_config(|t| {
        t.replace(
            "write_path = \"procedure\"",
            "write_path = \"procedure\"\nprocedure = \"dbo.usp_WriteRates\"",
        )
    });
    let before = common::count(
        &demo.node("node1"),
        r#"SELECT COUNT(*) FROM "dbo.SiteJobCodeRate""#,
    );
    let mut p = params(Method::Average);
    p.sites = vec![1, 2];
    let out = preview(&demo.config, &p, &no_progress).await.unwrap();
    let prep = prepare_apply(&demo.config, &out, false).unwrap();
    let e = apply(&demo.config, &prep, &common::yes(&prep.node))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("the sandbox keeps dbo.usp_WriteRates's definition (compared and migrated like any object) but runs only dbo.usp_UpsertSiteJobCodeRate itself: nothing was written"),
        "{e}"
    );
    assert!(!e.contains("Could not find stored procedure"), "{e}");
    assert_eq!(
        common::count(
            &demo.node("node1"),
            r#"SELECT COUNT(*) FROM "dbo.SiteJobCodeRate""#
        ),
        before
    );
}

#[test]
fn a_far_future_date_is_refused_unless_asked_for_and_a_mistaken_rate_can_be_retired() {
    let demo = common::demo();
    let script = demo.path("grant.sql");
    std::fs::write(
        &script,
        "GRANT EXECUTE ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO [sp-billing-dataflow];\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = common::tpdb(&demo, args);
        (
            out.status.code(),
            common::text(&out.stdout),
            common::text(&out.stderr),
        )
    };
    let (code, _, e) = run(&[
        "privileges",
        "apply",
        "--node",
        "node1",
        "--script",
        script.to_str().unwrap(),
        "--yes",
        "--confirm",
        "node1",
    ]);
    assert_eq!(code, Some(0), "{e}");
    let before = history_dump(&demo);
    let far = [
        "rates",
        "apply",
        "--effective-date",
        "9999-12-31",
        "--sites",
        "2",
        "--yes",
        "--confirm",
        "node1",
    ];
    let (code, o, e) = run(&far);
    assert_eq!(code, Some(1), "{o}{e}");
    assert!(
        e.contains("effective date 9999-12-31 is 2,912,") && e.contains("--allow-far-date"),
        "{e}"
    );
    assert_eq!(history_dump(&demo), before, "nothing was written");
    // Asked for, it is written; then every real date is left out behind it …
    let mut asked = far.to_vec();
    asked.push("--allow-far-date");
    assert_eq!(run(&asked).0, Some(0));
    let real = [
        "rates",
        "apply",
        "--effective-date",
        "2026-12-01",
        "--sites",
        "2",
        "--yes",
        "--confirm",
        "node1",
    ];
    let (_, o, e) = run(&real);
    assert!(o.contains("a later rate is already on record"), "{o}");
    assert!(e.contains("nothing to write"), "{e}");
    // … until it is retired: shown first, removed only through the gate, audited.
    let retire = [
        "rates",
        "retire",
        "--sites",
        "2",
        "--effective-date",
        "9999-12-31",
    ];
    let (code, o, _) = run(&retire);
    assert_eq!(code, Some(0));
    assert!(
        o.contains("-- 10 rates on record to remove on node node1 as dbo:"),
        "{o}"
    );
    assert!(
        o.contains("DELETE FROM [dbo].[SiteJobCodeRate] WHERE [job_code_id] = "),
        "{o}"
    );
    let mut without_name = retire.to_vec();
    without_name.push("--yes");
    let (code, _, e) = run(&without_name);
    assert_eq!(code, Some(1));
    assert!(e.contains("--confirm node1"), "{e}");
    let mut confirmed = without_name.clone();
    confirmed.extend(["--confirm", "node1"]);
    let (code, _, e) = run(&confirmed);
    assert_eq!(code, Some(0), "{e}");
    assert!(
        e.contains("removed 10 rates effective 9999-12-31 on node node1"),
        "{e}"
    );
    assert_eq!(
        history_dump(&demo),
        before,
        "history is as it was before the mistake"
    );
    let audit = std::fs::read_to_string(demo.path("audit.jsonl")).unwrap();
    assert!(
        audit.lines().any(|l| l.contains("rates.retire")
            && l.contains("site 2 VAL 9999-12-31: ")
            && l.contains("→ gone")),
        "{audit}"
    );
    // The real date writes now.
    let (code, _, e) = run(&real);
    assert_eq!(code, Some(0), "{e}");
    assert!(
        e.contains("wrote 10 site rates effective 2026-12-01"),
        "{e}"
    );
}

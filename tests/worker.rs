//! The worker: a preview runs off the UI and reports; a newer preview cancels a stale one;
//! a cancelled task says so. A local listener that accepts and never answers stands in for
//! a hanging SQL Server.

mod common;

use std::sync::Arc;
use std::time::Duration;

use tpdb::domain::rates::RateParams;
use tpdb::worker::{self, Command, Event, TaskEnd, WorkerHandle};

fn params() -> RateParams {
    common::demo_params()
}

async fn next_end(w: &mut WorkerHandle, id: u64) -> (TaskEnd, Vec<Event>) {
    let mut seen = Vec::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(60), w.events.recv())
            .await
            .expect("the worker answers")
            .expect("the worker is alive");
        if let Event::TaskFinished { id: done, end } = &ev
            && *done == id
        {
            return (end.clone(), seen);
        }
        seen.push(ev);
    }
}

#[tokio::test]
async fn a_preview_reports_progress_and_its_rows() {
    let demo = common::demo();
    let mut w = worker::spawn(Arc::new(demo.config.clone()));
    w.commands
        .send(Command::PreviewRates {
            id: 1,
            params: params(),
        })
        .unwrap();
    let (end, seen) = next_end(&mut w, 1).await;
    assert_eq!(end, TaskEnd::Done);
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::Progress { id: 1, .. }))
    );
    let rows = seen.iter().find_map(|e| match e {
        Event::RatesPreview { id: 1, outcome } => Some(outcome.preview.rows.len()),
        _ => None,
    });
    assert!(rows.unwrap() > 300);
}

#[tokio::test]
async fn a_newer_preview_cancels_the_stale_one_and_cancel_stops_a_task() {
    let mut demo = common::demo();
    let port = common::silent_listener().await;
    // The EDW becomes a SQL Server that never answers. PATH stands in for a password
    // variable that is set; the silent listener never reads it.
    demo.edit_config(|t| {
        t.replace(
            "[nodes.edw]\ndriver = \"sandbox\"\npath = \"edw.db\"\ndatabase = \"edw\"\nuser = \"dbo\"\nprotected = false",
            &format!(
                "[nodes.edw]\ndriver = \"mssql\"\nhost = \"127.0.0.1\"\nport = {port}\ndatabase = \"edw\"\nconnect_timeout_secs = 120\nauth = {{ method = \"sql\", user = \"reader\", password_env = \"PATH\" }}"
            ),
        )
    });
    assert_eq!(demo.config.nodes["edw"].driver_name(), "mssql");
    let mut w = worker::spawn(Arc::new(demo.config.clone()));
    w.commands
        .send(Command::PreviewRates {
            id: 1,
            params: params(),
        })
        .unwrap();
    // Wait until the first preview is stuck on the EDW.
    loop {
        match w.events.recv().await.unwrap() {
            Event::Progress { id: 1, progress } if progress.message.contains("aggregating") => {
                break;
            }
            _ => {}
        }
    }
    w.commands
        .send(Command::PreviewRates {
            id: 2,
            params: params(),
        })
        .unwrap();
    let (end, _) = next_end(&mut w, 1).await;
    assert_eq!(end, TaskEnd::Cancelled);
    w.commands.send(Command::Cancel { id: 2 }).unwrap();
    let (end, seen) = next_end(&mut w, 2).await;
    assert_eq!(end, TaskEnd::Cancelled);
    assert!(!seen.iter().any(|e| matches!(e, Event::RatesPreview { .. })));
}

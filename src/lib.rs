//! tpdb: a terminal console for a staged SQL Server node migration, job-code rate previews
//! and service-principal permission probes, with an embedded SQL-Server-shaped sandbox.

pub mod audit;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod flows;
pub mod journal;
pub mod lease;
pub mod logging;
pub mod tui;
pub mod worker;

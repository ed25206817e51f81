//! One module per pane: its state, its key handling and how it renders.

pub mod activity;
pub mod migration;
pub mod placeholder;
pub mod privileges;
pub mod probes;
pub mod rates;
pub mod retire;
pub mod schema_view;

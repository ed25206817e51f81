//! Pure logic of tpdb: permissions, rates and T-SQL text. No I/O, no async, no drivers.

pub mod diagnosis;
pub mod perms;
pub mod rates;
pub mod tsql;

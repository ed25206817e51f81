//! Pure logic of tpdb: permissions, rates and T-SQL text. No I/O, no async, no drivers.

pub mod checksum;
pub mod dates;
pub mod diagnosis;
pub mod next;
pub mod objects;
pub mod overpriv;
pub mod perms;
pub mod plan;
pub mod privdiff;
pub mod progress;
pub mod rates;
pub mod requirement;
pub mod retire;
pub mod schema;
pub mod seccheck;
pub mod secscript;
pub mod selection;
pub mod sqltype;
pub mod tsql;

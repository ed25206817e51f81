//! Reading SQL Server's refusals: which permission on which object a message names, and the
//! statement that grants it.

use super::perms::Securable;
use super::tsql::quote_ident;

/// What a 229 message ("The EXECUTE permission was denied on the object 'P', database 'D',
/// schema 'S'.") names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionDenied {
    pub permission: String,
    pub object: String,
    pub database: String,
    pub schema: String,
}

fn quoted_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let end = rest.find('\'')?;
    Some(&rest[..end])
}

/// Parse error 229's message.
pub fn parse_permission_denied(message: &str) -> Option<PermissionDenied> {
    let rest = message.strip_prefix("The ")?;
    let permission = rest[..rest.find(" permission was denied")?].to_string();
    Some(PermissionDenied {
        permission,
        object: quoted_after(message, "on the object '")?.to_string(),
        database: quoted_after(message, "database '")?.to_string(),
        schema: quoted_after(message, "schema '")?.to_string(),
    })
}

/// `GRANT P ON S TO [principal];`
pub fn grant_statement(permission: &str, on: &Securable, principal: &str) -> String {
    let on = match on {
        Securable::Database => String::new(),
        other => format!(" ON {}", other.tsql()),
    };
    format!("GRANT {permission}{on} TO {};", quote_ident(principal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sql_servers_229_message() {
        let p = parse_permission_denied(
            "The EXECUTE permission was denied on the object 'usp_UpsertSiteJobCodeRate', database 'node1', schema 'dbo'.",
        )
        .unwrap();
        assert_eq!(p.permission, "EXECUTE");
        assert_eq!(p.object, "usp_UpsertSiteJobCodeRate");
        assert_eq!(p.database, "node1");
        assert_eq!(p.schema, "dbo");
        assert!(parse_permission_denied("Invalid object name 'x'.").is_none());
    }

    #[test]
    fn grant_statement_quotes_every_name() {
        assert_eq!(
            grant_statement(
                "EXECUTE",
                &Securable::object("dbo", "usp_UpsertSiteJobCodeRate"),
                "sp-billing-dataflow"
            ),
            "GRANT EXECUTE ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO [sp-billing-dataflow];"
        );
        assert_eq!(
            grant_statement("CONNECT", &Securable::Database, "a]b"),
            "GRANT CONNECT TO [a]]b];"
        );
    }
}

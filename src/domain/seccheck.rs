//! A security script judged as the server judges it, statement by statement on a copy of the
//! node's catalog: the runner's permission (15247), the securable and the permission's fit
//! (15151, 4606), then the statement itself (15023, 15405, 4611 …). The sandbox runs scripts
//! through this, and a dry run on any node judges them the same way before anything is sent.

use super::perms::{Catalog, Securable};
use super::secscript::Statement;

/// What the session must hold to run a security statement (db_owner holds all of it).
pub fn permission_for(statement: &Statement) -> (&'static str, Securable) {
    match statement {
        Statement::CreateUser { .. } => ("ALTER ANY USER", Securable::Database),
        Statement::CreateRole { .. }
        | Statement::AddMember { .. }
        | Statement::DropMember { .. } => ("ALTER ANY ROLE", Securable::Database),
        Statement::Grant { securable, .. }
        | Statement::Deny { securable, .. }
        | Statement::Revoke { securable, .. } => ("CONTROL", securable.clone()),
    }
}

/// The first statement the server would refuse: its line, its text and the server's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub line: usize,
    pub statement: String,
    pub number: i32,
    pub class: u8,
    pub message: String,
}

impl Refusal {
    /// The server's message with where it is: `… (line 2: DENY …;)`.
    pub fn located(&self) -> String {
        format!("{} (line {}: {})", self.message, self.line, self.statement)
    }
}

/// Apply `statements` to a copy of `catalog` as the server would, or say which it refuses
/// first. `runner`, when known, is the database user that runs the script: each statement
/// needs its permission. Names are kept as the database spells them.
pub fn judge(
    catalog: &Catalog,
    runner: Option<&str>,
    statements: &[(usize, Statement)],
) -> Result<Catalog, Refusal> {
    let mut cat = catalog.clone();
    for (line, st) in statements {
        let refused = |number: i32, class: u8, message: String| Refusal {
            line: *line,
            statement: st.tsql(),
            number,
            class,
            message,
        };
        // Principals as the database spells them, as its collation finds them.
        let st = &cat.spelled(st);
        if let Some(user) = runner {
            let (perm, on) = permission_for(st);
            if !catalog.evaluate(user, perm, &on).allowed() {
                return Err(refused(
                    15247,
                    16,
                    "User does not have permission to perform this action.".into(),
                ));
            }
        }
        let st = match &catalog.objects {
            Some(objects) => {
                st.check_securable(objects)
                    .map_err(|e| refused(e.number, e.class(), e.message.clone()))?;
                match st.securable().and_then(|on| objects.canonical(on)) {
                    Some(on) => st.on_securable(on),
                    None => st.clone(),
                }
            }
            None => st.clone(),
        };
        cat.apply(&st)
            .map_err(|e| refused(e.number, e.class(), e.message.clone()))?;
    }
    Ok(cat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::perms::{Principal, PrincipalKind};
    use crate::domain::secscript::parse_script;

    #[test]
    fn the_first_refusal_names_its_line_and_the_servers_answer() {
        let mut c = Catalog::default();
        c.principals.push(Principal {
            name: "app".into(),
            kind: PrincipalKind::SqlUser,
        });
        let script = "GRANT SELECT TO [app];\nREVOKE SELECT FROM [nobody];\n";
        let r = judge(&c, None, &parse_script(script).unwrap()).unwrap_err();
        assert_eq!((r.line, r.number), (2, 15151));
        assert_eq!(
            r.located(),
            "Cannot find the user 'nobody', because it does not exist or you do not have permission. (line 2: REVOKE SELECT FROM [nobody];)"
        );
        let ok = judge(&c, None, &parse_script("GRANT SELECT TO [app];").unwrap()).unwrap();
        assert!(ok.evaluate("app", "SELECT", &Securable::Database).allowed());
        // A runner without the permission is refused before the statement is judged.
        let r = judge(&c, Some("app"), &parse_script(script).unwrap()).unwrap_err();
        assert_eq!((r.line, r.number), (1, 15247));
    }
}

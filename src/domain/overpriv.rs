//! Over-privilege: the access a principal has beyond its configured requirements, each with
//! the script that takes it away *without breaking a requirement* — the narrow grant a
//! requirement still needs first, then the removal — proven on a copy of the catalog. A grant
//! or membership that is the only path to a requirement no narrow grant can replace is said,
//! never proposed for removal.

use serde::Serialize;

use super::perms::{Catalog, PermState, Securable, fixed_role_permissions, is_fixed_role};
use super::requirement::Requirement;
use super::secscript::Statement;

/// More access than the requirements ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub principal: String,
    pub what: String,
    /// The statements that take it away, in order: the narrow grants that keep every
    /// requirement met, then the removal. Empty when no script can take it away without
    /// breaking a requirement (`what` then says which). Never run by tpdb on its own.
    pub statements: Vec<String>,
}

impl Finding {
    /// The statements on one line, for a table cell or a hint.
    pub fn script(&self) -> String {
        self.statements.join(" ")
    }
}

/// Whether `user` meets `r` on `c`.
pub fn requirement_met(c: &Catalog, user: &str, r: &Requirement) -> bool {
    match r {
        Requirement::Member { role } => c.roles_of(user).iter().any(|(x, _)| x == role),
        Requirement::Permission {
            permission,
            securable,
        } => c.evaluate(user, permission, securable).allowed(),
    }
}

/// A requirement exactly as a grant states it: `permission` on `securable`.
fn asks_exactly(requirements: &[Requirement], permission: &str, securable: &Securable) -> bool {
    requirements.iter().any(|r| {
        matches!(r, Requirement::Permission { permission: p, securable: s }
            if p.eq_ignore_ascii_case(permission) && s == securable)
    })
}

/// The requirements a grant of `permission` on `securable` covers: the same permission on the
/// securable or on something it contains (CONTROL covers every permission).
fn covered<'a>(
    requirements: &'a [Requirement],
    permission: &str,
    securable: &Securable,
) -> Vec<&'a Requirement> {
    requirements
        .iter()
        .filter(|r| match r {
            Requirement::Permission {
                permission: p,
                securable: s,
            } => {
                (p.eq_ignore_ascii_case(permission) || permission.eq_ignore_ascii_case("CONTROL"))
                    && s.with_containers().contains(securable)
            }
            Requirement::Member { .. } => false,
        })
        .collect()
}

fn revoke(permission: &str, securable: &Securable, principal: &str, state: PermState) -> Statement {
    Statement::Revoke {
        permission: permission.to_string(),
        securable: securable.clone(),
        principal: principal.to_string(),
        grant_option_only: false,
        cascade: state == PermState::GrantWithGrantOption,
    }
}

/// The script that takes `removal` away from `user` and keeps every requirement met that is
/// met now: the narrow grant of each requirement the removal alone would break, then the
/// removal. `Err` names the requirements no narrow grant can keep (a required membership).
fn safe_removal(
    node: &Catalog,
    user: &str,
    requirements: &[Requirement],
    removal: &Statement,
) -> Result<Vec<Statement>, Vec<String>> {
    let met: Vec<&Requirement> = requirements
        .iter()
        .filter(|r| requirement_met(node, user, r))
        .collect();
    let mut alone = node.clone();
    if alone.apply(removal).is_err() {
        return Err(vec![format!("{} is refused here", removal.tsql())]);
    }
    let mut script = Vec::new();
    for r in met.iter().filter(|r| !requirement_met(&alone, user, r)) {
        match r {
            Requirement::Permission {
                permission,
                securable,
            } => script.push(Statement::Grant {
                permission: permission.clone(),
                securable: securable.clone(),
                principal: user.to_string(),
                with_grant_option: false,
            }),
            Requirement::Member { .. } => return Err(vec![r.to_string()]),
        }
    }
    script.push(removal.clone());
    // The proof: the whole script, applied, keeps every requirement that was met.
    let mut trial = node.clone();
    for st in &script {
        if trial.apply(st).is_err() {
            return Err(vec![format!("{} is refused here", st.tsql())]);
        }
    }
    let broken: Vec<String> = met
        .iter()
        .filter(|r| !requirement_met(&trial, user, r))
        .map(|r| r.to_string())
        .collect();
    if broken.is_empty() {
        Ok(script)
    } else {
        Err(broken)
    }
}

/// A finding of `what`, taken away by `removal` through the safe script (or said unremovable).
fn finding(
    node: &Catalog,
    user: &str,
    requirements: &[Requirement],
    what: String,
    removal: Statement,
) -> Finding {
    match safe_removal(node, user, requirements, &removal) {
        Ok(script) => {
            let narrowed = script.len() > 1;
            Finding {
                principal: user.into(),
                what: if narrowed {
                    format!("{what}; the narrow grant of what is required comes first")
                } else {
                    what
                },
                statements: script.iter().map(Statement::tsql).collect(),
            }
        }
        Err(needs) => Finding {
            principal: user.into(),
            what: format!(
                "{what}; no removal is proposed: it is the only way {user} meets {}",
                needs.join(", ")
            ),
            statements: Vec::new(),
        },
    }
}

/// Access `user` has beyond `requirements` on `node`: db_owner, CONTROL granted to it or to
/// any role it is in, fixed roles none of whose permissions is required, and direct grants
/// that no requirement asks for or that are broader than the one that does.
pub fn over_privilege(user: &str, requirements: &[Requirement], node: &Catalog) -> Vec<Finding> {
    // Each finding's script is proven on the node as the scripts before it leave it: applying
    // all of them, in order, keeps every requirement met, not only each alone.
    let mut after = node.clone();
    let mut out = Vec::new();
    for (what, removal) in candidates(user, requirements, node) {
        let f = finding(&after, user, requirements, what, removal);
        for st in crate::domain::secscript::parse_script(&f.statements.join("\n"))
            .map(|v| v.into_iter().map(|(_, st)| st).collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let _ = after.apply(&st);
        }
        out.push(f);
    }
    out
}

/// What is more than required, each with the statement that removes it, in the order they
/// are judged: memberships first, then grants.
fn candidates(
    user: &str,
    requirements: &[Requirement],
    node: &Catalog,
) -> Vec<(String, Statement)> {
    let mut out = Vec::new();
    let required_role = |r: &str| {
        requirements
            .iter()
            .any(|q| matches!(q, Requirement::Member { role } if role == r))
    };
    let roles = node.roles_of(user);
    for (role, via) in &roles {
        if role == "public" || required_role(role) {
            continue;
        }
        let member = via.get(1).cloned().unwrap_or_else(|| user.to_string());
        let through = if via.len() == 1 {
            String::new()
        } else {
            format!(" through {member}")
        };
        let drop = Statement::DropMember {
            role: role.clone(),
            member: member.clone(),
        };
        if role == "db_owner" {
            let what = format!(
                "member of db_owner{through}: full control of the database, which no requirement needs"
            );
            out.push((what, drop));
            continue;
        }
        let grants: Vec<&str> = fixed_role_permissions(role)
            .iter()
            .filter(|(_, s)| *s != PermState::Deny)
            .map(|(p, _)| *p)
            .collect();
        if is_fixed_role(role)
            && !grants.is_empty()
            && grants
                .iter()
                .all(|p| covered(requirements, p, &Securable::Database).is_empty())
        {
            let what = format!(
                "member of {role}{through}, which gives {} ON DATABASE; no requirement asks for it",
                grants.join(", ")
            );
            out.push((what, drop));
        }
    }
    // CONTROL reaches the principal through any role it is in, as it does granted directly.
    let holders: Vec<&str> = std::iter::once(user)
        .chain(roles.iter().map(|(r, _)| r.as_str()))
        .collect();
    for e in &node.permissions {
        if e.state == PermState::Deny || !holders.contains(&e.grantee.as_str()) {
            continue;
        }
        let direct = e.grantee == user;
        let removal = revoke(&e.permission, &e.securable, &e.grantee, e.state);
        let cascade = if e.state == PermState::GrantWithGrantOption {
            format!(
                " (granted WITH GRANT OPTION: CASCADE also takes it from whoever {} granted it to)",
                e.grantee
            )
        } else {
            String::new()
        };
        if e.permission.eq_ignore_ascii_case("CONTROL") {
            let what = if direct {
                format!(
                    "CONTROL ON {}: every permission there{cascade}",
                    e.securable
                )
            } else {
                format!(
                    "CONTROL ON {} through role {}: every permission there, for every member of {}{cascade}",
                    e.securable, e.grantee, e.grantee
                )
            };
            out.push((what, removal));
            continue;
        }
        if !direct || e.permission.eq_ignore_ascii_case("CONNECT") {
            continue;
        }
        if asks_exactly(requirements, &e.permission, &e.securable) {
            continue;
        }
        let covers = covered(requirements, &e.permission, &e.securable);
        let what = if covers.is_empty() {
            format!(
                "{} ON {} is granted but not required{cascade}",
                e.permission, e.securable
            )
        } else {
            let names: Vec<String> = covers.iter().map(|r| r.to_string()).collect();
            format!(
                "{} ON {} is broader than required ({}){cascade}",
                e.permission,
                e.securable,
                names.join(", ")
            )
        };
        out.push((what, removal));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::perms::{PermEntry, Principal, PrincipalKind};

    fn catalog(
        entries: &[(&str, PermState, Securable, &str)],
        members: &[(&str, &str)],
    ) -> Catalog {
        let mut c = Catalog::default();
        for n in ["sp", "other"] {
            c.principals.push(Principal {
                name: n.into(),
                kind: PrincipalKind::ExternalUser,
            });
        }
        for (role, _) in members {
            if !is_fixed_role(role) && c.principal(role).is_none() {
                c.principals.push(Principal {
                    name: role.to_string(),
                    kind: PrincipalKind::Role,
                });
            }
        }
        c.memberships = members
            .iter()
            .map(|(r, m)| (r.to_string(), m.to_string()))
            .collect();
        for (p, state, s, to) in entries {
            c.permissions.push(PermEntry {
                securable: s.clone(),
                permission: p.to_string(),
                grantee: to.to_string(),
                state: *state,
            });
        }
        c
    }

    fn req(s: &str) -> Requirement {
        Requirement::parse(s).unwrap()
    }

    fn applied(c: &Catalog, f: &Finding) -> Catalog {
        let mut c = c.clone();
        for (_, st) in crate::domain::secscript::parse_script(&f.statements.join("\n")).unwrap() {
            c.apply(&st).unwrap();
        }
        c
    }

    #[test]
    fn a_broader_grant_that_meets_a_requirement_is_narrowed_first_then_removed() {
        use PermState::Grant;
        let c = catalog(
            &[("EXECUTE", Grant, Securable::Schema("dbo".into()), "sp")],
            &[],
        );
        let reqs = [req("EXECUTE ON OBJECT::dbo.usp_UpsertSiteJobCodeRate")];
        let f = over_privilege("sp", &reqs, &c);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].what.contains("broader than required"), "{}", f[0].what);
        assert_eq!(
            f[0].statements,
            [
                "GRANT EXECUTE ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO [sp];",
                "REVOKE EXECUTE ON SCHEMA::[dbo] FROM [sp];"
            ]
        );
        assert!(requirement_met(&applied(&c, &f[0]), "sp", &reqs[0]));
    }

    #[test]
    fn control_through_a_custom_role_is_over_privilege_like_a_direct_one() {
        use PermState::Grant;
        let c = catalog(
            &[("CONTROL", Grant, Securable::Database, "r_ops")],
            &[("r_ops", "sp")],
        );
        let f = over_privilege("sp", &[req("SELECT ON SCHEMA::gp")], &c);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].what.contains("CONTROL ON DATABASE through role r_ops"));
        // The only path to SELECT ON SCHEMA::gp: the narrow grant comes first.
        assert_eq!(
            f[0].statements,
            [
                "GRANT SELECT ON SCHEMA::[gp] TO [sp];",
                "REVOKE CONTROL FROM [r_ops];"
            ]
        );
    }

    #[test]
    fn a_grant_held_with_grant_option_is_revoked_with_cascade() {
        let c = catalog(
            &[(
                "SELECT",
                PermState::GrantWithGrantOption,
                Securable::object("gp", "UnitAccount"),
                "sp",
            )],
            &[],
        );
        let f = over_privilege("sp", &[], &c);
        assert_eq!(
            f[0].statements,
            ["REVOKE SELECT ON OBJECT::[gp].[UnitAccount] FROM [sp] CASCADE;"]
        );
        assert!(f[0].what.contains("CASCADE also takes it"), "{}", f[0].what);
        applied(&c, &f[0]);
    }

    #[test]
    fn a_membership_a_requirement_names_is_never_proposed_for_removal() {
        use PermState::Grant;
        // db_datareader is required by name; CONTROL reaches through it… nothing else does.
        let c = catalog(
            &[("CONTROL", Grant, Securable::Schema("dbo".into()), "r_x")],
            &[("db_owner", "r_x"), ("r_x", "sp")],
        );
        let reqs = [req("MEMBER OF r_x")];
        let f = over_privilege("sp", &reqs, &c);
        for x in &f {
            let after = applied(&c, x);
            assert!(requirement_met(&after, "sp", &reqs[0]), "{x:?}");
        }
        assert!(
            f.iter().any(|x| x.what.contains("db_owner through r_x")),
            "{f:?}"
        );
    }
}

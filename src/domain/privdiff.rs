//! Privilege diffs — node against node, or a principal's requirements against a node — each
//! with the smallest ordered script that closes it (checked by simulating the script on the
//! catalog) and the over-privilege it finds. Never a blanket db_owner.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::perms::{
    Catalog, Evaluator, Outcome, PermEntry, PermState, PrincipalKind, Reason, Securable,
    is_fixed_role,
};
use super::requirement::Requirement;
use super::secscript::{Statement, is_built_in};

pub use super::overpriv::{Finding, over_privilege, requirement_met};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    PrincipalMissing,
    MembershipDiffers,
    Missing,
    StateDiffers,
    Extra,
    /// A requirement on a schema or object that does not exist on the node: unmet, and no
    /// GRANT is proposed for it until it exists.
    SecurableMissing,
}

impl DiffKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DiffKind::PrincipalMissing => "principal missing",
            DiffKind::MembershipDiffers => "membership differs",
            DiffKind::Missing => "missing",
            DiffKind::StateDiffers => "state differs",
            DiffKind::Extra => "extra",
            DiffKind::SecurableMissing => "securable missing",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffRow {
    pub principal: String,
    pub securable: String,
    pub permission: String,
    pub left: String,
    pub right: String,
    pub kind: DiffKind,
    /// Why the right side decides as it does, in words.
    pub why: String,
    /// Configured principals whose requirements this row's change would take away: the row is
    /// left out of a node-vs-node script.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_by: Option<String>,
}

impl DiffRow {
    /// The kind as shown: `extra`, or `extra · required by migration_user` for a row a
    /// configured principal's requirement keeps as it is.
    pub fn kind_label(&self) -> String {
        match &self.required_by {
            Some(by) => format!("{} · required by {by}", self.kind.as_str()),
            None => self.kind.as_str().to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub rows: Vec<DiffRow>,
    /// The remediation, in the order it must run.
    pub script: Vec<Statement>,
    /// Remarks shown as comments in the script.
    pub notes: Vec<String>,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.rows.is_empty()
    }

    /// The script as text: a header, the notes as comments, one statement per line.
    pub fn script_text(&self, title: &str) -> String {
        let mut out = format!("-- tpdb remediation: {title}\n");
        for n in &self.notes {
            out.push_str(&format!("-- {n}\n"));
        }
        if self.script.is_empty() {
            out.push_str("-- nothing to change\n");
        }
        for s in &self.script {
            if let Statement::Revoke {
                principal,
                cascade: true,
                ..
            }
            | Statement::Deny {
                principal,
                cascade: true,
                ..
            } = s
            {
                out.push_str(&format!(
                    "-- CASCADE: {principal} holds this WITH GRANT OPTION; it is also taken from whoever {principal} granted it to\n"
                ));
            }
            out.push_str(&s.tsql());
            out.push('\n');
        }
        out
    }
}

fn state_word(s: PermState) -> &'static str {
    match s {
        PermState::Grant => "GRANT",
        PermState::GrantWithGrantOption => "GRANT WITH GRANT OPTION",
        PermState::Deny => "DENY",
    }
}

fn kind_word(k: PrincipalKind) -> &'static str {
    match k {
        PrincipalKind::SqlUser => "SQL user",
        PrincipalKind::ExternalUser => "Entra user/app",
        PrincipalKind::ExternalGroup => "Entra group",
        PrincipalKind::WithoutLogin => "user without login",
        PrincipalKind::Role => "role",
    }
}

/// Keep, in phase order, only the statements that change the catalog they are simulated on.
/// Returns the minimal script and the simulated catalog.
fn minimise(start: &Catalog, candidates: Vec<Statement>) -> (Vec<Statement>, Catalog) {
    let mut ordered = candidates;
    ordered.sort_by_key(Statement::phase);
    let mut sim = start.clone();
    let mut kept = Vec::new();
    let mut seen = BTreeSet::new();
    for s in ordered {
        if !seen.insert(s.clone()) {
            continue;
        }
        // A refused statement leaves the catalog as it was; a no-op is not worth a line.
        if sim.apply(&s) == Ok(true) {
            kept.push(s);
        }
    }
    (kept, sim)
}

/// A row for a membership that one side has and the other lacks.
fn membership_row(role: &str, member: &str, on_left: bool) -> DiffRow {
    let (yes, no) = ("member".to_string(), "not a member".to_string());
    let (left, right) = if on_left { (yes, no) } else { (no, yes) };
    DiffRow {
        principal: member.to_string(),
        securable: format!("ROLE::{role}"),
        permission: "MEMBER".into(),
        left,
        right,
        kind: DiffKind::MembershipDiffers,
        why: format!(
            "{member} is in {role} on the {} only",
            if on_left { "left" } else { "right" }
        ),
        required_by: None,
    }
}

/// Compare two catalogs: what the right (target) lacks or has beyond the left (reference),
/// and the script that makes the right match. `only` limits it to one principal.
pub fn diff_catalogs(left: &Catalog, right: &Catalog, only: Option<&str>) -> Report {
    let in_scope = |name: &str| match only {
        Some(p) => p == name,
        None => !is_built_in(name),
    };
    let mut report = Report::default();
    let mut candidates = Vec::new();

    let lp: BTreeMap<&str, PrincipalKind> = left
        .principals
        .iter()
        .map(|p| (p.name.as_str(), p.kind))
        .collect();
    let rp: BTreeMap<&str, PrincipalKind> = right
        .principals
        .iter()
        .map(|p| (p.name.as_str(), p.kind))
        .collect();
    for (name, kind) in &lp {
        if in_scope(name) && !is_built_in(name) && !rp.contains_key(name) {
            report.rows.push(DiffRow {
                principal: name.to_string(),
                securable: "—".into(),
                permission: "—".into(),
                left: kind_word(*kind).into(),
                right: "absent".into(),
                kind: DiffKind::PrincipalMissing,
                why: format!("{name} has no database user or role on the right"),
                required_by: None,
            });
            candidates.push(match kind {
                PrincipalKind::Role => Statement::CreateRole {
                    name: name.to_string(),
                },
                k => Statement::CreateUser {
                    name: name.to_string(),
                    kind: *k,
                },
            });
        }
    }
    for (name, kind) in &rp {
        if in_scope(name) && !is_built_in(name) && !lp.contains_key(name) {
            report.rows.push(DiffRow {
                principal: name.to_string(),
                securable: "—".into(),
                permission: "—".into(),
                left: "absent".into(),
                right: kind_word(*kind).into(),
                kind: DiffKind::Extra,
                why: format!("{name} exists only on the right"),
                required_by: None,
            });
            report.notes.push(format!(
                "{name} exists only on the right; tpdb does not drop principals. If it should go: DROP {} {};",
                if *kind == PrincipalKind::Role { "ROLE" } else { "USER" },
                super::tsql::quote_ident(name)
            ));
        }
    }

    let members = |c: &Catalog| -> BTreeSet<(String, String)> {
        c.memberships
            .iter()
            .filter(|(_, m)| in_scope(m))
            .cloned()
            .collect()
    };
    let (lm, rm) = (members(left), members(right));
    for (role, member) in lm.difference(&rm) {
        report.rows.push(membership_row(role, member, true));
        if !is_fixed_role(role) && !rp.contains_key(role.as_str()) {
            candidates.push(Statement::CreateRole { name: role.clone() });
        }
        candidates.push(Statement::AddMember {
            role: role.clone(),
            member: member.clone(),
        });
    }
    for (role, member) in rm.difference(&lm) {
        report.rows.push(membership_row(role, member, false));
        candidates.push(Statement::DropMember {
            role: role.clone(),
            member: member.clone(),
        });
    }

    let grantee_ok = |g: &str| in_scope(g) || (only.is_none() && g == "public");
    let entries = |c: &Catalog| -> BTreeMap<(String, Securable, String), PermState> {
        c.permissions
            .iter()
            .filter(|e| grantee_ok(&e.grantee))
            .map(|e| {
                (
                    (e.grantee.clone(), e.securable.clone(), e.permission.clone()),
                    e.state,
                )
            })
            .collect()
    };
    let (le, re) = (entries(left), entries(right));
    // Every row explains itself with a decision: index each side once for them all.
    let (left_eval, right_eval) = (Evaluator::new(left), Evaluator::new(right));
    for (key, ls) in &le {
        let (grantee, securable, permission) = key;
        let why = format!(
            "on the right, {}",
            right_eval
                .evaluate(grantee, permission, securable)
                .explain()
        );
        let row = |right: String, kind| DiffRow {
            principal: grantee.clone(),
            securable: securable.to_string(),
            permission: permission.clone(),
            left: state_word(*ls).into(),
            right,
            kind,
            why: why.clone(),
            required_by: None,
        };
        let entry = PermEntry {
            securable: securable.clone(),
            permission: permission.clone(),
            grantee: grantee.clone(),
            state: *ls,
        };
        match re.get(key) {
            None => {
                report.rows.push(row("none".into(), DiffKind::Missing));
                candidates.push(Statement::setting(&entry));
            }
            Some(rs) if rs != ls => {
                report
                    .rows
                    .push(row(state_word(*rs).into(), DiffKind::StateDiffers));
                if *ls == PermState::Grant && *rs == PermState::GrantWithGrantOption {
                    candidates.push(Statement::Revoke {
                        permission: permission.clone(),
                        securable: securable.clone(),
                        principal: grantee.clone(),
                        grant_option_only: true,
                        cascade: true,
                    });
                } else {
                    // A DENY of what the right holds WITH GRANT OPTION needs CASCADE.
                    let mut st = Statement::setting(&entry);
                    if let Statement::Deny { cascade, .. } = &mut st {
                        *cascade = *rs == PermState::GrantWithGrantOption;
                    }
                    candidates.push(st);
                }
            }
            Some(_) => {}
        }
    }
    for (key, rs) in &re {
        if !le.contains_key(key) {
            let (grantee, securable, permission) = key;
            report.rows.push(DiffRow {
                principal: grantee.clone(),
                securable: securable.to_string(),
                permission: permission.clone(),
                left: "none".into(),
                right: state_word(*rs).into(),
                kind: DiffKind::Extra,
                why: format!(
                    "on the left, {}",
                    left_eval.evaluate(grantee, permission, securable).explain()
                ),
                required_by: None,
            });
            candidates.push(Statement::Revoke {
                permission: permission.clone(),
                securable: securable.clone(),
                principal: grantee.clone(),
                grant_option_only: false,
                cascade: *rs == PermState::GrantWithGrantOption,
            });
        }
    }
    report.rows.sort_by(|a, b| {
        (&a.principal, a.kind, &a.securable, &a.permission).cmp(&(
            &b.principal,
            b.kind,
            &b.securable,
            &b.permission,
        ))
    });
    let (script, _) = minimise(right, candidates);
    report.script = script;
    report
}

/// A configured principal and what it requires, for a node-vs-node script that must not take
/// any of it away.
#[derive(Debug, Clone, Copy)]
pub struct Requirer<'a> {
    /// The name in the config (`[principals.NAME]`), for the tag.
    pub name: &'a str,
    /// Its database user.
    pub user: &'a str,
    pub kind: PrincipalKind,
    pub required: &'a [Requirement],
}

/// The principal a statement changes the access of (grantee or member).
fn subject(s: &Statement) -> Option<&str> {
    match s {
        Statement::Deny { principal, .. } | Statement::Revoke { principal, .. } => Some(principal),
        Statement::AddMember { member, .. } | Statement::DropMember { member, .. } => Some(member),
        Statement::Grant { .. } | Statement::CreateUser { .. } | Statement::CreateRole { .. } => {
            None
        }
    }
}

/// Leave out of a node-vs-node script every statement that would take away — or block — what
/// a configured principal requires on the target, and tag the rows it would have fixed
/// `required by P`. A statement counts as taking away when, on the target as the principal's
/// own remediation would leave it (its requirements met), the statement makes one of them
/// unmet: a DENY, a REVOKE of a grant it relies on, a dropped membership, a membership in a
/// role that denies. So the two modes never undo each other.
pub fn keep_required(report: &mut Report, right: &Catalog, requirers: &[Requirer<'_>]) {
    let mut fixed: Vec<(&Requirer<'_>, Catalog)> = requirers
        .iter()
        .map(|p| {
            let mut c = right.clone();
            for st in check_required("", p.user, p.kind, p.required, right).script {
                let _ = c.apply(&st);
            }
            (p, c)
        })
        .collect();
    // The target as the script leaves it so far: a statement must not take away what is met
    // there either (the principal's own remediation may never be run).
    let mut current = right.clone();
    let mut kept = Vec::new();
    let mut left_out: Vec<(Statement, Vec<String>)> = Vec::new();
    for st in std::mem::take(&mut report.script) {
        let mut by = Vec::new();
        if let Some(who) = subject(&st) {
            for (p, c) in &fixed {
                // Only statements on the principal itself, a role it is in, or public.
                let reaches = |c: &Catalog| {
                    who == p.user
                        || who == "public"
                        || c.roles_of(p.user).iter().any(|(r, _)| r == who)
                };
                let takes_away = |c: &Catalog| {
                    let mut trial = c.clone();
                    reaches(c)
                        && trial.apply(&st) == Ok(true)
                        && p.required.iter().any(|r| {
                            requirement_met(c, p.user, r) && !requirement_met(&trial, p.user, r)
                        })
                };
                if takes_away(c) || takes_away(&current) || denies_required(&st, p, c, reaches(c)) {
                    by.push(p.name.to_string());
                }
            }
        }
        if by.is_empty() {
            // Later statements are judged after this one: a DENY to a role and a membership
            // in it are harmless alone and take away together.
            for (_, c) in &mut fixed {
                let _ = c.apply(&st);
            }
            let _ = current.apply(&st);
            kept.push(st);
        } else {
            left_out.push((st, by));
        }
    }
    if left_out.is_empty() {
        report.script = kept;
        return;
    }
    let mut tagged = 0;
    for row in &mut report.rows {
        let Some((_, by)) = left_out.iter().find(|(st, _)| fixes_row(st, row)) else {
            continue;
        };
        let names = by.join(", ");
        row.why = format!(
            "required by {names}: kept as it is, [principals.{}].required needs it. {}",
            by[0], row.why
        );
        row.required_by = Some(names);
        tagged += 1;
    }
    report.notes.push(format!(
        "{tagged} rows kept as they are because a configured principal requires them ({} statements left out):",
        left_out.len()
    ));
    for (st, by) in &left_out {
        report.notes.push(format!(
            "  left out (required by {}): {}",
            by.join(", "),
            st.tsql()
        ));
    }
    report.script = kept;
}

/// Whether `st` puts a DENY in the way of one of `p`'s required permissions — directly, on a
/// role it is in or public, or by a membership in a role that denies — whether or not the
/// permission is held today: the principal's own remediation would revoke it again.
fn denies_required(st: &Statement, p: &Requirer<'_>, c: &Catalog, reaches: bool) -> bool {
    if !reaches {
        return false;
    }
    let covers = |denied: &str, on: &Securable, rp: &str, rs: &Securable| {
        (denied.eq_ignore_ascii_case(rp) || denied.eq_ignore_ascii_case("CONTROL"))
            && rs.with_containers().contains(on)
    };
    let blocked = |denied: &str, on: &Securable| {
        p.required.iter().any(|r| match r {
            Requirement::Permission {
                permission,
                securable,
            } => covers(denied, on, permission, securable),
            Requirement::Member { .. } => false,
        })
    };
    match st {
        Statement::Deny {
            permission,
            securable,
            ..
        } => blocked(permission, securable),
        Statement::AddMember { role, .. } => {
            crate::domain::perms::fixed_role_permissions(role)
                .iter()
                .any(|(perm, state)| {
                    *state == PermState::Deny && blocked(perm, &Securable::Database)
                })
                || c.permissions.iter().any(|e| {
                    e.grantee == *role
                        && e.state == PermState::Deny
                        && blocked(&e.permission, &e.securable)
                })
        }
        _ => false,
    }
}

/// Whether `st` is the statement a node-vs-node `row` proposed.
fn fixes_row(st: &Statement, row: &DiffRow) -> bool {
    match st {
        Statement::AddMember { role, member } | Statement::DropMember { role, member } => {
            row.kind == DiffKind::MembershipDiffers
                && row.principal == *member
                && row.securable == format!("ROLE::{role}")
        }
        Statement::Grant {
            permission,
            securable,
            principal,
            ..
        }
        | Statement::Deny {
            permission,
            securable,
            principal,
            ..
        }
        | Statement::Revoke {
            permission,
            securable,
            principal,
            ..
        } => {
            row.principal == *principal
                && row.permission == *permission
                && row.securable == securable.to_string()
        }
        Statement::CreateUser { .. } | Statement::CreateRole { .. } => false,
    }
}

/// A principal's requirements against a node's catalog: unmet requirements with the reason,
/// the smallest script that meets them all, and access beyond them.
pub fn check_required(
    node_name: &str,
    user: &str,
    kind: PrincipalKind,
    requirements: &[Requirement],
    node: &Catalog,
) -> Report {
    let mut report = Report::default();
    let mut sim = node.clone();
    let mut candidates = Vec::new();
    let exists = node
        .principal(user)
        .is_some_and(|p| p.kind != PrincipalKind::Role);
    if !exists {
        report.rows.push(DiffRow {
            principal: user.into(),
            securable: "—".into(),
            permission: "—".into(),
            left: "required".into(),
            right: "absent".into(),
            kind: DiffKind::PrincipalMissing,
            why: format!("{user} has no database user here: it cannot even connect"),
            required_by: None,
        });
        let s = Statement::CreateUser {
            name: user.into(),
            kind,
        };
        let _ = sim.apply(&s);
        candidates.push(s);
    }
    for req in requirements {
        match req {
            Requirement::Member { role } => {
                if sim.roles_of(user).iter().any(|(r, _)| r == role) {
                    continue;
                }
                report.rows.push(DiffRow {
                    principal: user.into(),
                    securable: format!("ROLE::{role}"),
                    permission: "MEMBER".into(),
                    left: "member".into(),
                    right: "not a member".into(),
                    kind: DiffKind::MembershipDiffers,
                    why: format!("{user} is not in {role}, directly or through another role"),
                    required_by: None,
                });
                if !is_fixed_role(role) && sim.principal(role).is_none() {
                    let s = Statement::CreateRole { name: role.clone() };
                    let _ = sim.apply(&s);
                    candidates.push(s);
                    report.notes.push(format!(
                        "role {role} is created empty: grant it what it stands for"
                    ));
                }
                let s = Statement::AddMember {
                    role: role.clone(),
                    member: user.into(),
                };
                let _ = sim.apply(&s);
                candidates.push(s);
            }
            Requirement::Permission {
                permission,
                securable,
            } => {
                // A permission on something that is not there cannot be exercised: unmet,
                // whatever the catalog grants, and nothing to grant yet.
                if let Some(objects) = &node.objects
                    && !objects.exists(securable)
                {
                    report.rows.push(DiffRow {
                        principal: user.into(),
                        securable: securable.to_string(),
                        permission: permission.clone(),
                        left: "GRANT (required)".into(),
                        right: "does not exist".into(),
                        kind: DiffKind::SecurableMissing,
                        why: format!(
                            "{} does not exist on {node_name}: the migration creates it, or create it first; no GRANT is proposed until it exists",
                            securable.name()
                        ),
                        required_by: None,
                    });
                    continue;
                }
                let d = if exists {
                    node.evaluate(user, permission, securable)
                } else {
                    sim.evaluate(user, permission, securable)
                };
                if d.allowed() && exists {
                    continue;
                }
                let (right, kind) = match d.outcome {
                    Outcome::Denied => ("DENY", DiffKind::StateDiffers),
                    _ if !exists => ("absent", DiffKind::Missing),
                    _ => ("not granted", DiffKind::Missing),
                };
                if !(exists || matches!(d.outcome, Outcome::Denied | Outcome::NotGranted)) {
                    continue;
                }
                report.rows.push(DiffRow {
                    principal: user.into(),
                    securable: securable.to_string(),
                    permission: permission.clone(),
                    left: "GRANT (required)".into(),
                    right: right.into(),
                    kind,
                    why: d.explain(),
                    required_by: None,
                });
                // Remove what denies it, then grant what is still missing.
                let denial = sim.evaluate(user, permission, securable);
                if denial.outcome == Outcome::Denied {
                    for reason in &denial.path {
                        let s = match reason {
                            Reason::Entry { entry, via } => {
                                if !via.is_empty() && via[0] != "public" {
                                    report.notes.push(format!(
                                        "revoking the DENY from role {} changes it for every member of {}",
                                        entry.grantee, entry.grantee
                                    ));
                                }
                                Statement::Revoke {
                                    permission: entry.permission.clone(),
                                    securable: entry.securable.clone(),
                                    principal: entry.grantee.clone(),
                                    grant_option_only: false,
                                    cascade: entry.state == PermState::GrantWithGrantOption,
                                }
                            }
                            Reason::FixedRole { role, via, .. } => Statement::DropMember {
                                role: role.clone(),
                                member: via.get(1).cloned().unwrap_or_else(|| user.to_string()),
                            },
                            Reason::Owner => continue,
                        };
                        let _ = sim.apply(&s);
                        candidates.push(s);
                    }
                }
                if !sim.evaluate(user, permission, securable).allowed() {
                    let s = Statement::Grant {
                        permission: permission.clone(),
                        securable: securable.clone(),
                        principal: user.into(),
                        with_grant_option: false,
                    };
                    let _ = sim.apply(&s);
                    candidates.push(s);
                }
            }
        }
    }
    let (script, _) = minimise(node, candidates);
    report.script = script;
    if exists {
        report.findings = over_privilege(user, requirements, node);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::perms::Principal;

    fn user(n: &str) -> Principal {
        Principal {
            name: n.into(),
            kind: PrincipalKind::ExternalUser,
        }
    }

    fn grant(p: &str, s: Securable, to: &str) -> PermEntry {
        PermEntry {
            securable: s,
            permission: p.into(),
            grantee: to.into(),
            state: PermState::Grant,
        }
    }

    fn req(s: &str) -> Requirement {
        Requirement::parse(s).unwrap()
    }

    fn blocked_node() -> Catalog {
        Catalog {
            principals: vec![
                user("sp"),
                Principal {
                    name: "legacy_readonly".into(),
                    kind: PrincipalKind::Role,
                },
            ],
            memberships: vec![
                ("db_datareader".into(), "sp".into()),
                ("db_datawriter".into(), "sp".into()),
                ("legacy_readonly".into(), "sp".into()),
            ],
            permissions: vec![
                grant("CONNECT", Securable::Database, "sp"),
                PermEntry {
                    securable: Securable::Schema("dbo".into()),
                    permission: "EXECUTE".into(),
                    grantee: "legacy_readonly".into(),
                    state: PermState::Deny,
                },
            ],
            objects: None,
        }
    }

    #[test]
    fn the_blocked_data_flow_gets_revoke_of_the_deny_then_the_grant() {
        let node = blocked_node();
        let reqs = [
            req("EXECUTE ON OBJECT::dbo.usp_UpsertSiteJobCodeRate"),
            req("SELECT ON SCHEMA::gp"),
        ];
        let r = check_required("node", "sp", PrincipalKind::ExternalUser, &reqs, &node);
        assert_eq!(r.rows.len(), 1);
        assert_eq!(r.rows[0].kind, DiffKind::StateDiffers);
        assert_eq!(
            r.rows[0].why,
            "denied: DENY EXECUTE ON SCHEMA::dbo to role legacy_readonly, of which sp is a member"
        );
        let text: Vec<String> = r.script.iter().map(|s| s.tsql()).collect();
        assert_eq!(
            text,
            vec![
                "REVOKE EXECUTE ON SCHEMA::[dbo] FROM [legacy_readonly];",
                "GRANT EXECUTE ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO [sp];",
            ]
        );
        let mut fixed = node.clone();
        for s in &r.script {
            fixed.apply(s).unwrap();
        }
        assert!(
            check_required("node", "sp", PrincipalKind::ExternalUser, &reqs, &fixed).is_clean()
        );
        // db_datawriter gives writes no requirement asks for.
        assert!(
            r.findings
                .iter()
                .any(|f| f.what.starts_with("member of db_datawriter")),
            "{:?}",
            r.findings
        );
        assert!(
            !r.script
                .iter()
                .any(|s| matches!(s, Statement::AddMember { role, .. } if role == "db_owner"))
        );
    }

    #[test]
    fn a_missing_principal_is_created_first_and_only_what_is_needed_follows() {
        let node = Catalog::default();
        let reqs = [
            req("CONNECT"),
            req("MEMBER OF db_datareader"),
            req("SELECT ON SCHEMA::gp"),
        ];
        let r = check_required("node", "sp", PrincipalKind::ExternalUser, &reqs, &node);
        assert_eq!(r.rows[0].kind, DiffKind::PrincipalMissing);
        let text: Vec<String> = r.script.iter().map(|s| s.tsql()).collect();
        // CONNECT comes with CREATE USER; SELECT comes with db_datareader: neither is scripted.
        assert_eq!(
            text,
            vec![
                "CREATE USER [sp] FROM EXTERNAL PROVIDER;",
                "ALTER ROLE [db_datareader] ADD MEMBER [sp];"
            ]
        );
    }

    #[test]
    fn a_fixed_deny_role_is_left_not_revoked() {
        let mut node = blocked_node();
        node.memberships
            .push(("db_denydatawriter".into(), "sp".into()));
        let r = check_required(
            "node",
            "sp",
            PrincipalKind::ExternalUser,
            &[req("INSERT ON OBJECT::dbo.T")],
            &node,
        );
        assert_eq!(
            r.script.iter().map(|s| s.tsql()).collect::<Vec<_>>(),
            vec!["ALTER ROLE [db_denydatawriter] DROP MEMBER [sp];"]
        );
    }

    #[test]
    fn a_grant_held_with_grant_option_is_denied_or_revoked_with_cascade_node_vs_node() {
        let ua = Securable::object("gp", "UnitAccount");
        let node = |state: Option<PermState>| Catalog {
            principals: vec![user("migration_user")],
            memberships: vec![],
            permissions: state
                .map(|st| PermEntry {
                    state: st,
                    ..grant("SELECT", ua.clone(), "migration_user")
                })
                .into_iter()
                .collect(),
            objects: None,
        };
        let right = node(Some(PermState::GrantWithGrantOption));
        for (left, expected) in [
            (
                node(Some(PermState::Deny)),
                "DENY SELECT ON OBJECT::[gp].[UnitAccount] TO [migration_user] CASCADE;",
            ),
            (
                node(None),
                "REVOKE SELECT ON OBJECT::[gp].[UnitAccount] FROM [migration_user] CASCADE;",
            ),
        ] {
            let r = diff_catalogs(&left, &right, None);
            let script: Vec<String> = r.script.iter().map(Statement::tsql).collect();
            assert_eq!(script, [expected]);
            // The server (and the sandbox) accept it, and the right then equals the left.
            let mut after = right.clone();
            for st in &r.script {
                after.apply(st).unwrap();
            }
            assert!(diff_catalogs(&left, &after, None).script.is_empty());
            assert!(
                r.script_text("t")
                    .contains("-- CASCADE: migration_user holds this WITH GRANT OPTION")
            );
        }
    }

    #[test]
    fn node_diff_script_makes_the_right_equal_the_left() {
        let left = Catalog {
            principals: vec![
                user("sp"),
                Principal {
                    name: "auditors".into(),
                    kind: PrincipalKind::Role,
                },
            ],
            memberships: vec![
                ("auditors".into(), "sp".into()),
                ("db_datareader".into(), "sp".into()),
            ],
            permissions: vec![
                grant("CONNECT", Securable::Database, "sp"),
                grant("SELECT", Securable::Schema("gp".into()), "auditors"),
                PermEntry {
                    securable: Securable::object("dbo", "P"),
                    permission: "EXECUTE".into(),
                    grantee: "sp".into(),
                    state: PermState::GrantWithGrantOption,
                },
            ],
            objects: None,
        };
        let mut right = blocked_node();
        right
            .permissions
            .push(grant("DELETE", Securable::Database, "sp"));
        let r = diff_catalogs(&left, &right, None);
        let kinds: BTreeSet<DiffKind> = r.rows.iter().map(|r| r.kind).collect();
        assert!(
            kinds.contains(&DiffKind::PrincipalMissing)
                && kinds.contains(&DiffKind::Extra)
                && kinds.contains(&DiffKind::MembershipDiffers)
                && kinds.contains(&DiffKind::Missing)
        );
        let mut fixed = right.clone();
        for s in &r.script {
            fixed.apply(s).unwrap();
        }
        let after = diff_catalogs(&left, &fixed, None);
        // Only the principal tpdb never drops is left, and the script says how to drop it.
        assert!(
            after
                .rows
                .iter()
                .all(|r| r.kind == DiffKind::Extra && r.securable == "—"),
            "{:?}",
            after.rows
        );
        assert!(
            after
                .notes
                .iter()
                .any(|n| n.contains("DROP ROLE [legacy_readonly];")),
            "{:?}",
            after.notes
        );
        assert!(r.script.first().is_some_and(|s| s.phase() == 0));
    }

    /// Two statements that undo each other: one grants, denies or revokes what the other
    /// revokes, grants or denies (same permission, securable and principal), or one adds the
    /// membership the other drops.
    fn undoes(a: &Statement, b: &Statement) -> bool {
        let key = |s: &Statement| match s {
            Statement::Grant {
                permission,
                securable,
                principal,
                ..
            } => Some((0, permission.clone(), securable.clone(), principal.clone())),
            Statement::Deny {
                permission,
                securable,
                principal,
                ..
            } => Some((1, permission.clone(), securable.clone(), principal.clone())),
            Statement::Revoke {
                permission,
                securable,
                principal,
                grant_option_only: false,
                ..
            } => Some((2, permission.clone(), securable.clone(), principal.clone())),
            _ => None,
        };
        if let (Some(x), Some(y)) = (key(a), key(b)) {
            return x.0 != y.0 && (x.1, &x.2, &x.3) == (y.1, &y.2, &y.3);
        }
        matches!((a, b),
            (Statement::AddMember { role: r1, member: m1 }, Statement::DropMember { role: r2, member: m2 })
            | (Statement::DropMember { role: r1, member: m1 }, Statement::AddMember { role: r2, member: m2 })
            if r1 == r2 && m1 == m2)
    }

    /// The catalog after `script`, every statement of which the server accepts (a refusal,
    /// such as 4611 for a grantable permission without CASCADE, fails the test).
    fn applied(c: &Catalog, script: &[Statement]) -> Catalog {
        let mut c = c.clone();
        for s in script {
            if let Err(e) = c.apply(s) {
                panic!("{} is refused: Msg {} {}", s.tsql(), e.number, e.message);
            }
        }
        c
    }

    use proptest::prelude::*;

    fn arb_catalog() -> impl Strategy<Value = Catalog> {
        let roles = [
            "r1",
            "r2",
            "db_owner",
            "db_datareader",
            "db_datawriter",
            "db_denydatareader",
            "db_ddladmin",
        ];
        let perms = ["SELECT", "INSERT", "EXECUTE", "CONTROL"];
        let secs = || {
            vec![
                Securable::Database,
                Securable::Schema("dbo".into()),
                Securable::object("dbo", "t"),
                Securable::object("dbo", "proc"),
            ]
        };
        let who = ["p", "r1", "r2", "public"];
        (
            proptest::collection::vec((0..roles.len(), 0..3usize), 0..5),
            proptest::collection::vec((0..who.len(), 0..perms.len(), 0..4usize, 0..3usize), 0..7),
        )
            .prop_map(move |(members, entries)| {
                let mut c = Catalog {
                    principals: vec![
                        user("p"),
                        Principal {
                            name: "r1".into(),
                            kind: PrincipalKind::Role,
                        },
                        Principal {
                            name: "r2".into(),
                            kind: PrincipalKind::Role,
                        },
                    ],
                    memberships: Vec::new(),
                    permissions: Vec::new(),
                    objects: None,
                };
                for (role, m) in members {
                    let member = ["p", "r1", "r2"][m];
                    if roles[role] != member {
                        let pair = (roles[role].to_string(), member.to_string());
                        if !c.memberships.contains(&pair) {
                            c.memberships.push(pair);
                        }
                    }
                }
                for (g, p, sec, st) in entries {
                    let e = PermEntry {
                        securable: secs()[sec].clone(),
                        permission: perms[p].into(),
                        grantee: who[g].into(),
                        state: [
                            PermState::Grant,
                            PermState::GrantWithGrantOption,
                            PermState::Deny,
                        ][st],
                    };
                    c.permissions.retain(|x| {
                        !(x.grantee == e.grantee
                            && x.permission == e.permission
                            && x.securable == e.securable)
                    });
                    c.permissions.push(e);
                }
                c
            })
    }

    fn arb_requirements() -> impl Strategy<Value = Vec<Requirement>> {
        let all = vec![
            Requirement::Member { role: "r1".into() },
            Requirement::Member {
                role: "db_datawriter".into(),
            },
            Requirement::Permission {
                permission: "SELECT".into(),
                securable: Securable::Schema("dbo".into()),
            },
            Requirement::Permission {
                permission: "INSERT".into(),
                securable: Securable::Database,
            },
            Requirement::Permission {
                permission: "EXECUTE".into(),
                securable: Securable::object("dbo", "proc"),
            },
            Requirement::Permission {
                permission: "SELECT".into(),
                securable: Securable::object("dbo", "t"),
            },
        ];
        proptest::sample::subsequence(all, 0..=4)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(600))]
        /// Every "to take it away" script the over-privilege findings print, parsed as printed
        /// and applied in order, is accepted and keeps every requirement that was met.
        #[test]
        fn applying_every_over_privilege_script_keeps_every_requirement_met(
            node in arb_catalog(),
            required in arb_requirements(),
        ) {
            let findings = over_privilege("p", &required, &node);
            let mut after = node.clone();
            for f in &findings {
                let parsed = crate::domain::secscript::parse_script(&f.statements.join("\n"));
                prop_assert!(parsed.is_ok(), "{:?} does not parse", f.statements);
                for (_, st) in parsed.unwrap() {
                    let applied = after.apply(&st);
                    prop_assert!(applied.is_ok(), "{} is refused: {:?}", st.tsql(), applied);
                }
            }
            for r in &required {
                if requirement_met(&node, "p", r) {
                    prop_assert!(
                        requirement_met(&after, "p", r),
                        "{r} was met and is not after {:?}",
                        findings
                    );
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn node_vs_node_and_required_modes_never_undo_each_other(
            left in arb_catalog(),
            right in arb_catalog(),
            required in arb_requirements(),
        ) {
            let req = [Requirer { name: "p", user: "p", kind: PrincipalKind::ExternalUser, required: &required }];
            let met = |c: &Catalog| -> Vec<bool> {
                required.iter().map(|r| requirement_met(c, "p", r)).collect()
            };
            // Node vs node first, then the requirements.
            let mut nvn = diff_catalogs(&left, &right, None);
            keep_required(&mut nvn, &right, &req);
            let r1 = applied(&right, &nvn.script);
            for (before, after) in met(&right).iter().zip(met(&r1)) {
                prop_assert!(!before || after, "node vs node took a requirement away: {:?}", nvn.script);
            }
            let then = check_required("n", "p", PrincipalKind::ExternalUser, &required, &r1).script;
            for a in &nvn.script {
                for b in &then {
                    prop_assert!(!undoes(a, b), "required mode undoes {a} with {b}");
                }
            }
            // The requirements first, then node vs node.
            let fix = check_required("n", "p", PrincipalKind::ExternalUser, &required, &right).script;
            let r2 = applied(&right, &fix);
            let mut after = diff_catalogs(&left, &r2, None);
            keep_required(&mut after, &r2, &req);
            let r3 = applied(&r2, &after.script);
            // What the requirements got stays: node vs node may reach it another way (the
            // role the source uses instead of a direct grant), never take it away…
            for (before, now) in met(&r2).iter().zip(met(&r3)) {
                prop_assert!(!before || now, "node vs node took back what remediation gave: {:?}", after.script);
            }
            // …so the requirements ask nothing back: no ping-pong between the modes.
            let again = check_required("n", "p", PrincipalKind::ExternalUser, &required, &r3).script;
            for a in &after.script {
                for b in &again {
                    prop_assert!(!undoes(a, b), "required mode undoes {a} with {b}");
                }
            }
        }
    }
}

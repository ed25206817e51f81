//! Effective database permissions with SQL Server's rules, and the path that decided each one.
//!
//! Rules: DATABASE ⊃ SCHEMA ⊃ OBJECT; a permission on a container covers what it contains;
//! CONTROL covers every permission; any DENY that reaches the user (directly, through a role,
//! nested roles, or `public`) beats every GRANT, except for `dbo` (the owner); `db_owner`
//! members are allowed everything not denied. Fixed database roles carry their implied
//! permissions. Column-level permissions are not modelled.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use super::tsql::quote_ident;

/// What a permission is granted on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Securable {
    Database,
    Schema(String),
    Object { schema: String, name: String },
}

impl Securable {
    pub fn object(schema: impl Into<String>, name: impl Into<String>) -> Self {
        Securable::Object {
            schema: schema.into(),
            name: name.into(),
        }
    }

    /// This securable and every container above it, innermost first.
    pub fn with_containers(&self) -> Vec<Securable> {
        match self {
            Securable::Database => vec![Securable::Database],
            Securable::Schema(s) => vec![Securable::Schema(s.clone()), Securable::Database],
            Securable::Object { schema, .. } => vec![
                self.clone(),
                Securable::Schema(schema.clone()),
                Securable::Database,
            ],
        }
    }

    /// T-SQL form: `DATABASE`, `SCHEMA::[s]`, `OBJECT::[s].[o]`.
    pub fn tsql(&self) -> String {
        match self {
            Securable::Database => "DATABASE".to_string(),
            Securable::Schema(s) => format!("SCHEMA::{}", quote_ident(s)),
            Securable::Object { schema, name } => {
                format!("OBJECT::{}.{}", quote_ident(schema), quote_ident(name))
            }
        }
    }
}

impl Securable {
    /// The name alone, as people write it: `dbo.Site`, `gp` (schema), `the database`.
    pub fn name(&self) -> String {
        match self {
            Securable::Database => "the database".into(),
            Securable::Schema(s) => format!("schema {s}"),
            Securable::Object { schema, name } => format!("{schema}.{name}"),
        }
    }
}

impl fmt::Display for Securable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Securable::Database => write!(f, "DATABASE"),
            Securable::Schema(s) => write!(f, "SCHEMA::{s}"),
            Securable::Object { schema, name } => write!(f, "OBJECT::{schema}.{name}"),
        }
    }
}

/// GRANT, GRANT WITH GRANT OPTION or DENY (REVOKE removes an entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PermState {
    Grant,
    GrantWithGrantOption,
    Deny,
}

impl PermState {
    /// The `state` code of `sys.database_permissions`.
    pub fn code(self) -> &'static str {
        match self {
            PermState::Grant => "G",
            PermState::GrantWithGrantOption => "W",
            PermState::Deny => "D",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code.trim() {
            "G" => Some(PermState::Grant),
            "W" => Some(PermState::GrantWithGrantOption),
            "D" => Some(PermState::Deny),
            _ => None,
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            PermState::Deny => "DENY",
            _ => "GRANT",
        }
    }
}

/// One row of the permission catalog.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PermEntry {
    pub securable: Securable,
    /// Upper-case permission name, e.g. `SELECT`, `EXECUTE`, `CONTROL`.
    pub permission: String,
    pub grantee: String,
    pub state: PermState,
}

impl fmt::Display for PermEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ON {} TO {}{}",
            self.state.verb(),
            self.permission,
            self.securable,
            self.grantee,
            if self.state == PermState::GrantWithGrantOption {
                " WITH GRANT OPTION"
            } else {
                ""
            }
        )
    }
}

/// Kinds of database principal, after `sys.database_principals.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrincipalKind {
    /// `S`: a SQL user (mapped to a login, or contained with a password).
    SqlUser,
    /// `E`: an Entra ID user or application (CREATE USER … FROM EXTERNAL PROVIDER).
    ExternalUser,
    /// `X`: an Entra ID group.
    ExternalGroup,
    /// A user WITHOUT LOGIN (type `S`, authentication type NONE).
    WithoutLogin,
    /// `R`: a database role (custom or fixed).
    Role,
}

impl PrincipalKind {
    pub fn type_code(self) -> &'static str {
        match self {
            PrincipalKind::SqlUser | PrincipalKind::WithoutLogin => "S",
            PrincipalKind::ExternalUser => "E",
            PrincipalKind::ExternalGroup => "X",
            PrincipalKind::Role => "R",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub kind: PrincipalKind,
}

/// The fixed database roles tpdb knows, with the permissions they imply.
pub const FIXED_ROLES: &[&str] = &[
    "public",
    "db_owner",
    "db_accessadmin",
    "db_securityadmin",
    "db_ddladmin",
    "db_backupoperator",
    "db_datareader",
    "db_datawriter",
    "db_denydatareader",
    "db_denydatawriter",
];

pub fn is_fixed_role(name: &str) -> bool {
    FIXED_ROLES.iter().any(|r| r.eq_ignore_ascii_case(name))
}

/// Database-level permissions a fixed role implies: (permission, state).
pub fn fixed_role_permissions(role: &str) -> &'static [(&'static str, PermState)] {
    use PermState::*;
    match role.to_ascii_lowercase().as_str() {
        "db_owner" => &[("CONTROL", Grant)],
        "db_datareader" => &[("SELECT", Grant)],
        "db_datawriter" => &[("INSERT", Grant), ("UPDATE", Grant), ("DELETE", Grant)],
        "db_denydatareader" => &[("SELECT", Deny)],
        "db_denydatawriter" => &[("INSERT", Deny), ("UPDATE", Deny), ("DELETE", Deny)],
        "db_ddladmin" => &[
            ("ALTER ANY SCHEMA", Grant),
            ("CREATE TABLE", Grant),
            ("CREATE VIEW", Grant),
            ("CREATE PROCEDURE", Grant),
            ("CREATE FUNCTION", Grant),
            ("CREATE TYPE", Grant),
            ("CREATE SCHEMA", Grant),
            ("REFERENCES", Grant),
            ("CHECKPOINT", Grant),
        ],
        "db_securityadmin" => &[
            ("ALTER ANY ROLE", Grant),
            ("ALTER ANY APPLICATION ROLE", Grant),
            ("CREATE SCHEMA", Grant),
            ("VIEW DEFINITION", Grant),
        ],
        "db_accessadmin" => &[
            ("ALTER ANY USER", Grant),
            ("CREATE SCHEMA", Grant),
            ("CONNECT", GrantWithGrantOption),
        ],
        "db_backupoperator" => &[
            ("BACKUP DATABASE", Grant),
            ("BACKUP LOG", Grant),
            ("CHECKPOINT", Grant),
        ],
        _ => &[],
    }
}

/// A database's security catalog: principals, role memberships and permission entries.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub principals: Vec<Principal>,
    /// (role, member)
    pub memberships: Vec<(String, String)>,
    pub permissions: Vec<PermEntry>,
    /// The database's schemas and objects, when the node reported them: a requirement on a
    /// securable that is not there is unmet, and a statement on one is refused.
    pub objects: Option<super::objects::Objects>,
}

/// The outcome of an effective-permission check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Denied,
    NotGranted,
}

/// What decided a check: an entry, reached through a chain of roles (empty = held directly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Entry {
        entry: PermEntry,
        via: Vec<String>,
    },
    FixedRole {
        role: String,
        entry: PermEntry,
        via: Vec<String>,
    },
    Owner,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub user: String,
    pub permission: String,
    pub securable: Securable,
    pub outcome: Outcome,
    /// The entries that decided it: the DENYs when denied, the GRANTs when allowed.
    pub path: Vec<Reason>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.outcome == Outcome::Allowed
    }

    /// A sentence saying why, e.g. "denied: DENY INSERT ON SCHEMA::dbo to role legacy_readonly,
    /// of which sp-billing-dataflow is a member".
    pub fn explain(&self) -> String {
        let head = match self.outcome {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::NotGranted => {
                return format!(
                    "not granted: no GRANT of {} (or CONTROL) on {} or a container reaches {}",
                    self.permission, self.securable, self.user
                );
            }
        };
        let parts: Vec<String> = self
            .path
            .iter()
            .map(|r| describe_reason(r, &self.user))
            .collect();
        format!("{head}: {}", parts.join("; "))
    }
}

fn describe_reason(reason: &Reason, user: &str) -> String {
    match reason {
        Reason::Owner => format!("{user} owns the database (dbo): DENY does not apply"),
        Reason::Entry { entry, via } => {
            let holder = if via.is_empty() {
                entry.grantee.clone()
            } else {
                format!("role {}", entry.grantee)
            };
            format!(
                "{} {} ON {} to {holder}{}",
                entry.state.verb(),
                entry.permission,
                entry.securable,
                role_chain(via, user)
            )
        }
        Reason::FixedRole { role, entry, via } => format!(
            "{} {} ON {} implied by fixed role {role}{}",
            entry.state.verb(),
            entry.permission,
            entry.securable,
            role_chain(via, user)
        ),
    }
}

/// ", of which U is a member" or ", which U reaches through a → b".
fn role_chain(via: &[String], user: &str) -> String {
    match via {
        [] => String::new(),
        [r] if r == "public" => ", which every user is in".to_string(),
        [_] => format!(", of which {user} is a member"),
        chain => {
            let mut path: Vec<&str> = chain.iter().map(String::as_str).collect();
            path.reverse();
            format!(", which {user} reaches through {}", path.join(" → "))
        }
    }
}

impl Catalog {
    pub fn principal(&self, name: &str) -> Option<&Principal> {
        self.principals.iter().find(|p| p.name == name)
    }

    /// How the database spells the principal a statement names `name`: names resolve as under
    /// SQL Server's default (case-insensitive) collation, fixed roles and `public` included.
    /// None when there is no such principal.
    pub fn spelling(&self, name: &str) -> Option<String> {
        if let Some(fixed) = FIXED_ROLES.iter().find(|r| r.eq_ignore_ascii_case(name)) {
            return Some(fixed.to_string());
        }
        self.principals
            .iter()
            .find(|p| p.name.to_lowercase() == name.to_lowercase())
            .map(|p| p.name.clone())
    }

    /// Every role `user` is in, transitively, each with the chain that reaches it
    /// (`[role]` for a direct member, `[outer, .., direct]` for nested roles). `public` included.
    pub fn roles_of(&self, user: &str) -> Vec<(String, Vec<String>)> {
        roles_via(&members_index(self), user)
    }

    /// Effective access of `user` to `permission` on `securable`. For many checks against one
    /// catalog, an [`Evaluator`] indexes it once.
    pub fn evaluate(&self, user: &str, permission: &str, securable: &Securable) -> Decision {
        let holders = holders_of(&members_index(self), user);
        decide(user, permission, securable, &holders, |holder| {
            self.permissions
                .iter()
                .filter(|e| e.grantee == holder)
                .collect()
        })
    }
}

/// A catalog indexed for many checks (a node diff, a requirements check): entries by grantee
/// and memberships by member, built once. Its decisions are `Catalog::evaluate`'s.
pub struct Evaluator<'a> {
    by_member: HashMap<&'a str, Vec<&'a str>>,
    by_grantee: HashMap<&'a str, Vec<&'a PermEntry>>,
}

impl<'a> Evaluator<'a> {
    pub fn new(catalog: &'a Catalog) -> Self {
        let mut by_grantee: HashMap<&str, Vec<&PermEntry>> = HashMap::new();
        for e in &catalog.permissions {
            by_grantee.entry(e.grantee.as_str()).or_default().push(e);
        }
        Evaluator {
            by_member: members_index(catalog),
            by_grantee,
        }
    }

    pub fn evaluate(&self, user: &str, permission: &str, securable: &Securable) -> Decision {
        let holders = holders_of(&self.by_member, user);
        decide(user, permission, securable, &holders, |holder| {
            self.by_grantee.get(holder).cloned().unwrap_or_default()
        })
    }
}

fn members_index(c: &Catalog) -> HashMap<&str, Vec<&str>> {
    let mut by_member: HashMap<&str, Vec<&str>> = HashMap::new();
    for (role, member) in &c.memberships {
        by_member
            .entry(member.as_str())
            .or_default()
            .push(role.as_str());
    }
    by_member
}

fn roles_via(by_member: &HashMap<&str, Vec<&str>>, user: &str) -> Vec<(String, Vec<String>)> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut frontier: Vec<(String, Vec<String>)> = vec![(user.to_string(), Vec::new())];
    while let Some((who, chain)) = frontier.pop() {
        for role in by_member.get(who.as_str()).into_iter().flatten() {
            if seen.insert(role.to_string()) {
                let mut c = vec![role.to_string()];
                c.extend(chain.iter().cloned());
                out.push((role.to_string(), c.clone()));
                frontier.push((role.to_string(), c));
            }
        }
    }
    if user != "public" && !seen.contains("public") {
        out.push(("public".to_string(), vec!["public".to_string()]));
    }
    out
}

/// The user and every role it holds permissions through, each with its membership chain.
fn holders_of(by_member: &HashMap<&str, Vec<&str>>, user: &str) -> Vec<(String, Vec<String>)> {
    let mut holders = vec![(user.to_string(), Vec::new())];
    holders.extend(roles_via(by_member, user));
    holders
}

/// The decision from the holders' entries (`entries_of(holder)`) and fixed-role permissions:
/// any DENY wins, then any GRANT; `dbo` is the owner.
fn decide<'e>(
    user: &str,
    permission: &str,
    securable: &Securable,
    holders: &[(String, Vec<String>)],
    entries_of: impl Fn(&str) -> Vec<&'e PermEntry>,
) -> Decision {
    let permission = permission.to_ascii_uppercase();
    let scope = securable.with_containers();
    let covers = |p: &str| p == permission || p == "CONTROL";
    let mut denies = Vec::new();
    let mut grants = Vec::new();
    for (holder, via) in holders {
        for e in entries_of(holder) {
            if covers(&e.permission) && scope.contains(&e.securable) {
                let r = Reason::Entry {
                    entry: e.clone(),
                    via: via.clone(),
                };
                if e.state == PermState::Deny {
                    denies.push(r);
                } else {
                    grants.push(r);
                }
            }
        }
        if is_fixed_role(holder) {
            for (p, state) in fixed_role_permissions(holder) {
                if covers(p) {
                    let entry = PermEntry {
                        securable: Securable::Database,
                        permission: p.to_string(),
                        grantee: holder.clone(),
                        state: *state,
                    };
                    let r = Reason::FixedRole {
                        role: holder.clone(),
                        entry,
                        via: via.clone(),
                    };
                    if *state == PermState::Deny {
                        denies.push(r);
                    } else {
                        grants.push(r);
                    }
                }
            }
        }
    }
    let decision = |outcome, path| Decision {
        user: user.to_string(),
        permission: permission.clone(),
        securable: securable.clone(),
        outcome,
        path,
    };
    if user.eq_ignore_ascii_case("dbo") {
        return decision(Outcome::Allowed, vec![Reason::Owner]);
    }
    if !denies.is_empty() {
        return decision(Outcome::Denied, denies);
    }
    if !grants.is_empty() {
        return decision(Outcome::Allowed, grants);
    }
    decision(Outcome::NotGranted, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_indexed_evaluator_decides_as_the_catalog_does(
            members in proptest::collection::vec((0usize..6, 0usize..10), 0..20),
            entries in proptest::collection::vec((0usize..10, 0usize..4, 0usize..5, 0usize..3), 0..40),
        ) {
            // Principals p0..p5 (users) and r0..r3 plus two fixed roles as roles; nested roles too.
            let name = |i: usize| match i {
                0..=5 => format!("p{i}"),
                6..=7 => format!("r{}", i - 6),
                8 => "db_datareader".to_string(),
                _ => "db_denydatawriter".to_string(),
            };
            let securables = [
                Securable::Database,
                Securable::Schema("dbo".into()),
                Securable::object("dbo", "T"),
                Securable::object("gp", "U"),
                Securable::Schema("gp".into()),
            ];
            let perms = ["SELECT", "INSERT", "EXECUTE", "CONTROL"];
            let states = [PermState::Grant, PermState::GrantWithGrantOption, PermState::Deny];
            let c = Catalog {
                principals: (0..8).map(|i| Principal {
                    name: name(i),
                    kind: if i < 6 { PrincipalKind::SqlUser } else { PrincipalKind::Role },
                }).collect(),
                memberships: members.iter().map(|(m, r)| (name(6 + r % 4), name(*m))).collect(),
                permissions: entries.iter().map(|(g, p, sec, st)| PermEntry {
                    securable: securables[*sec].clone(),
                    permission: perms[*p].into(),
                    grantee: name(*g % 8),
                    state: states[*st],
                }).collect(),
                objects: None,
            };
            let indexed = Evaluator::new(&c);
            for u in 0..6 {
                for p in ["select", "INSERT", "EXECUTE", "DELETE"] {
                    for sec in &securables {
                        prop_assert_eq!(indexed.evaluate(&name(u), p, sec), c.evaluate(&name(u), p, sec));
                    }
                }
            }
        }
    }

    fn user(name: &str) -> Principal {
        Principal {
            name: name.into(),
            kind: PrincipalKind::ExternalUser,
        }
    }

    fn role(name: &str) -> Principal {
        Principal {
            name: name.into(),
            kind: PrincipalKind::Role,
        }
    }

    fn entry(state: PermState, perm: &str, on: Securable, to: &str) -> PermEntry {
        PermEntry {
            securable: on,
            permission: perm.into(),
            grantee: to.into(),
            state,
        }
    }

    fn proc_() -> Securable {
        Securable::object("dbo", "usp_UpsertSiteJobCodeRate")
    }

    fn table() -> Securable {
        Securable::object("dbo", "SiteJobCodeRate")
    }

    #[test]
    fn datareader_gives_select_but_not_execute() {
        let c = Catalog {
            principals: vec![user("sp")],
            memberships: vec![("db_datareader".into(), "sp".into())],
            permissions: vec![],
            objects: None,
        };
        assert_eq!(
            c.evaluate("sp", "SELECT", &table()).outcome,
            Outcome::Allowed
        );
        assert_eq!(
            c.evaluate("sp", "EXECUTE", &proc_()).outcome,
            Outcome::NotGranted
        );
    }

    #[test]
    fn grant_through_nested_role() {
        let c = Catalog {
            principals: vec![user("sp"), role("inner"), role("outer")],
            memberships: vec![
                ("inner".into(), "sp".into()),
                ("outer".into(), "inner".into()),
            ],
            permissions: vec![entry(
                PermState::Grant,
                "EXECUTE",
                Securable::Schema("dbo".into()),
                "outer",
            )],
            objects: None,
        };
        let d = c.evaluate("sp", "EXECUTE", &proc_());
        assert_eq!(d.outcome, Outcome::Allowed);
        assert!(
            d.explain().contains("reaches through inner → outer"),
            "{}",
            d.explain()
        );
    }

    #[test]
    fn schema_deny_beats_object_grant_and_says_which_role() {
        let c = Catalog {
            principals: vec![user("sp"), role("legacy_readonly")],
            memberships: vec![("legacy_readonly".into(), "sp".into())],
            permissions: vec![
                entry(PermState::Grant, "INSERT", table(), "sp"),
                entry(
                    PermState::Deny,
                    "INSERT",
                    Securable::Schema("dbo".into()),
                    "legacy_readonly",
                ),
            ],
            objects: None,
        };
        let d = c.evaluate("sp", "INSERT", &table());
        assert_eq!(d.outcome, Outcome::Denied);
        assert_eq!(
            d.explain(),
            "denied: DENY INSERT ON SCHEMA::dbo to role legacy_readonly, of which sp is a member"
        );
    }

    #[test]
    fn denydatawriter_beats_datawriter_and_db_owner_is_subject_to_deny() {
        let c = Catalog {
            principals: vec![user("sp")],
            memberships: vec![
                ("db_datawriter".into(), "sp".into()),
                ("db_denydatawriter".into(), "sp".into()),
                ("db_owner".into(), "sp".into()),
            ],
            permissions: vec![],
            objects: None,
        };
        assert_eq!(
            c.evaluate("sp", "UPDATE", &table()).outcome,
            Outcome::Denied
        );
        assert_eq!(
            c.evaluate("sp", "EXECUTE", &proc_()).outcome,
            Outcome::Allowed
        );
    }

    #[test]
    fn control_on_schema_gives_execute_and_public_reaches_everyone() {
        let c = Catalog {
            principals: vec![user("a"), user("b")],
            memberships: vec![],
            permissions: vec![
                entry(
                    PermState::Grant,
                    "CONTROL",
                    Securable::Schema("dbo".into()),
                    "a",
                ),
                entry(
                    PermState::Grant,
                    "SELECT",
                    Securable::Schema("gp".into()),
                    "public",
                ),
            ],
            objects: None,
        };
        assert!(c.evaluate("a", "EXECUTE", &proc_()).allowed());
        assert!(!c.evaluate("b", "EXECUTE", &proc_()).allowed());
        assert!(
            c.evaluate("b", "SELECT", &Securable::object("gp", "UnitAccount"))
                .allowed()
        );
    }

    #[test]
    fn dbo_is_not_subject_to_deny() {
        let c = Catalog {
            principals: vec![],
            memberships: vec![],
            permissions: vec![entry(
                PermState::Deny,
                "SELECT",
                Securable::Database,
                "public",
            )],
            objects: None,
        };
        assert!(c.evaluate("dbo", "SELECT", &table()).allowed());
    }

    /// (rule, catalog entries as (state, permission, securable, grantee), memberships as
    /// (role, member), user, permission, securable, expected outcome)
    #[test]
    fn rule_table() {
        use Outcome::*;
        use PermState::*;
        type E = (PermState, &'static str, Securable, &'static str);
        let t = || table();
        let sch = |n: &str| Securable::Schema(n.into());
        type Case = (
            &'static str,
            Vec<E>,
            Vec<(&'static str, &'static str)>,
            &'static str,
            &'static str,
            Securable,
            Outcome,
        );
        let cases: Vec<Case> = vec![
            (
                "WITH GRANT OPTION grants",
                vec![(GrantWithGrantOption, "SELECT", t(), "u")],
                vec![],
                "u",
                "SELECT",
                t(),
                Allowed,
            ),
            (
                "DENY CONTROL on a schema denies SELECT in it",
                vec![
                    (Grant, "SELECT", t(), "u"),
                    (Deny, "CONTROL", sch("dbo"), "u"),
                ],
                vec![],
                "u",
                "SELECT",
                t(),
                Denied,
            ),
            (
                "a DENY to public reaches everyone",
                vec![
                    (Grant, "SELECT", t(), "u"),
                    (Deny, "SELECT", Securable::Database, "public"),
                ],
                vec![],
                "u",
                "SELECT",
                t(),
                Denied,
            ),
            (
                "db_owner members are subject to DENY",
                vec![(Deny, "DELETE", t(), "u")],
                vec![("db_owner", "u")],
                "u",
                "DELETE",
                t(),
                Denied,
            ),
            (
                "db_owner allows what is not denied",
                vec![],
                vec![("db_owner", "u")],
                "u",
                "ALTER",
                sch("gp"),
                Allowed,
            ),
            (
                "a grant on another schema does not reach",
                vec![(Grant, "SELECT", sch("gp"), "u")],
                vec![],
                "u",
                "SELECT",
                t(),
                NotGranted,
            ),
            (
                "a DENY on another object does not reach",
                vec![
                    (Grant, "SELECT", sch("dbo"), "u"),
                    (Deny, "SELECT", Securable::object("dbo", "Other"), "u"),
                ],
                vec![],
                "u",
                "SELECT",
                t(),
                Allowed,
            ),
            (
                "db_denydatareader beats a direct GRANT",
                vec![(Grant, "SELECT", t(), "u")],
                vec![("db_denydatareader", "u")],
                "u",
                "SELECT",
                t(),
                Denied,
            ),
            (
                "a DENY through a nested role",
                vec![
                    (Grant, "INSERT", t(), "u"),
                    (Deny, "INSERT", Securable::Database, "outer"),
                ],
                vec![("inner", "u"), ("outer", "inner")],
                "u",
                "INSERT",
                t(),
                Denied,
            ),
            (
                "db_datawriter gives DELETE",
                vec![],
                vec![("db_datawriter", "u")],
                "u",
                "DELETE",
                t(),
                Allowed,
            ),
            (
                "db_datawriter does not give SELECT",
                vec![],
                vec![("db_datawriter", "u")],
                "u",
                "SELECT",
                t(),
                NotGranted,
            ),
            (
                "EXECUTE on the database reaches every procedure",
                vec![(Grant, "EXECUTE", Securable::Database, "u")],
                vec![],
                "u",
                "EXECUTE",
                proc_(),
                Allowed,
            ),
        ];
        for (rule, entries, members, u, p, on, want) in cases {
            let c = Catalog {
                principals: vec![user(u), role("inner"), role("outer")],
                memberships: members
                    .iter()
                    .map(|(r, m)| (r.to_string(), m.to_string()))
                    .collect(),
                permissions: entries
                    .into_iter()
                    .map(|(st, pm, s, g)| entry(st, pm, s, g))
                    .collect(),
                objects: None,
            };
            let d = c.evaluate(u, p, &on);
            assert_eq!(d.outcome, want, "{rule}: {}", d.explain());
            assert_eq!(
                d.path.is_empty(),
                want == NotGranted,
                "{rule}: a decision names its entries"
            );
        }
    }
}

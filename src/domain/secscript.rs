//! Security statements: the T-SQL subset tpdb generates (CREATE USER/ROLE, ALTER ROLE
//! ADD/DROP MEMBER, GRANT/DENY/REVOKE), one generator for their text, a parser for scripts,
//! and their effect on a `Catalog` — so remediation can be simulated and the sandbox can run
//! exactly what SQL Server would.

use std::fmt;

use super::perms::{
    Catalog, PermEntry, PermState, Principal, PrincipalKind, Securable, is_fixed_role,
};
use super::tsql::{quote_ident, split_parts};

/// Names that always exist in a database and are never created or dropped by a script.
pub const BUILT_IN_PRINCIPALS: [&str; 4] = ["dbo", "guest", "sys", "INFORMATION_SCHEMA"];

pub fn is_built_in(name: &str) -> bool {
    BUILT_IN_PRINCIPALS
        .iter()
        .any(|b| b.eq_ignore_ascii_case(name))
        || is_fixed_role(name)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Statement {
    CreateUser {
        name: String,
        kind: PrincipalKind,
    },
    CreateRole {
        name: String,
    },
    AddMember {
        role: String,
        member: String,
    },
    DropMember {
        role: String,
        member: String,
    },
    Grant {
        permission: String,
        securable: Securable,
        principal: String,
        with_grant_option: bool,
    },
    /// DENY; `cascade` when the principal holds the permission WITH GRANT OPTION (SQL Server
    /// refuses it otherwise, Msg 4611), which also takes it from whoever it granted it to.
    Deny {
        permission: String,
        securable: Securable,
        principal: String,
        cascade: bool,
    },
    /// REVOKE removes a GRANT or DENY; with `grant_option_only` it keeps the GRANT. `cascade`
    /// as for DENY (always with `grant_option_only`).
    Revoke {
        permission: String,
        securable: Securable,
        principal: String,
        grant_option_only: bool,
        cascade: bool,
    },
}

fn on_clause(s: &Securable) -> String {
    match s {
        Securable::Database => String::new(),
        other => format!(" ON {}", other.tsql()),
    }
}

impl Statement {
    /// The order remediation runs in: principals, memberships, revokes, grants and denies.
    pub fn phase(&self) -> u8 {
        match self {
            Statement::CreateUser { .. } | Statement::CreateRole { .. } => 0,
            Statement::AddMember { .. } | Statement::DropMember { .. } => 1,
            Statement::Revoke { .. } => 2,
            Statement::Grant { .. } | Statement::Deny { .. } => 3,
        }
    }

    /// The statement's T-SQL, every name quoted.
    pub fn tsql(&self) -> String {
        match self {
            Statement::CreateUser { name, kind } => match kind {
                PrincipalKind::ExternalUser | PrincipalKind::ExternalGroup => {
                    format!("CREATE USER {} FROM EXTERNAL PROVIDER;", quote_ident(name))
                }
                PrincipalKind::WithoutLogin => {
                    format!("CREATE USER {} WITHOUT LOGIN;", quote_ident(name))
                }
                _ => format!(
                    "CREATE USER {} FOR LOGIN {};",
                    quote_ident(name),
                    quote_ident(name)
                ),
            },
            Statement::CreateRole { name } => format!("CREATE ROLE {};", quote_ident(name)),
            Statement::AddMember { role, member } => {
                format!(
                    "ALTER ROLE {} ADD MEMBER {};",
                    quote_ident(role),
                    quote_ident(member)
                )
            }
            Statement::DropMember { role, member } => {
                format!(
                    "ALTER ROLE {} DROP MEMBER {};",
                    quote_ident(role),
                    quote_ident(member)
                )
            }
            Statement::Grant {
                permission,
                securable,
                principal,
                with_grant_option,
            } => format!(
                "GRANT {permission}{} TO {}{};",
                on_clause(securable),
                quote_ident(principal),
                if *with_grant_option {
                    " WITH GRANT OPTION"
                } else {
                    ""
                }
            ),
            Statement::Deny {
                permission,
                securable,
                principal,
                cascade,
            } => {
                format!(
                    "DENY {permission}{} TO {}{};",
                    on_clause(securable),
                    quote_ident(principal),
                    if *cascade { " CASCADE" } else { "" }
                )
            }
            Statement::Revoke {
                permission,
                securable,
                principal,
                grant_option_only,
                cascade,
            } => format!(
                "REVOKE {}{permission}{} FROM {}{};",
                if *grant_option_only {
                    "GRANT OPTION FOR "
                } else {
                    ""
                },
                on_clause(securable),
                quote_ident(principal),
                if *grant_option_only || *cascade {
                    " CASCADE"
                } else {
                    ""
                }
            ),
        }
    }

    /// The statement that sets a catalog entry to `state`.
    pub fn setting(entry: &PermEntry) -> Statement {
        match entry.state {
            PermState::Deny => Statement::Deny {
                permission: entry.permission.clone(),
                securable: entry.securable.clone(),
                principal: entry.grantee.clone(),
                cascade: false,
            },
            s => Statement::Grant {
                permission: entry.permission.clone(),
                securable: entry.securable.clone(),
                principal: entry.grantee.clone(),
                with_grant_option: s == PermState::GrantWithGrantOption,
            },
        }
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tsql())
    }
}

/// A refusal while applying a statement, with SQL Server's number and message shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyError {
    pub number: i32,
    pub message: String,
}

fn not_found(what: &str, name: &str) -> ApplyError {
    ApplyError {
        number: 15151,
        message: format!(
            "Cannot find the {what} '{name}', because it does not exist or you do not have permission."
        ),
    }
}

/// Principals no permission can be granted, denied or revoked to (Msg 4624).
const UNGRANTABLE: [&str; 3] = ["dbo", "sys", "INFORMATION_SCHEMA"];

fn special_principal(name: &str) -> ApplyError {
    ApplyError {
        number: 15405,
        message: format!("Cannot use the special principal '{name}'."),
    }
}

impl ApplyError {
    /// The severity SQL Server gives this error (15405 is 11; the others here are 16).
    pub fn class(&self) -> u8 {
        if self.number == 15405 { 11 } else { 16 }
    }
}

impl Statement {
    /// The same statement on `on` instead of its own securable (names as the database spells
    /// them); statements without a securable are returned as they are.
    pub fn on_securable(&self, on: Securable) -> Statement {
        let mut s = self.clone();
        match &mut s {
            Statement::Grant { securable, .. }
            | Statement::Deny { securable, .. }
            | Statement::Revoke { securable, .. } => *securable = on,
            _ => {}
        }
        s
    }

    /// The securable a GRANT, DENY or REVOKE is on.
    pub fn securable(&self) -> Option<&Securable> {
        match self {
            Statement::Grant { securable, .. }
            | Statement::Deny { securable, .. }
            | Statement::Revoke { securable, .. } => Some(securable),
            _ => None,
        }
    }

    /// Refuse, as SQL Server does, a statement on a securable that does not exist here (15151)
    /// or a permission that the securable's class or kind does not take (4606).
    pub fn check_securable(&self, objects: &super::objects::Objects) -> Result<(), ApplyError> {
        let (permission, securable) = match self {
            Statement::Grant {
                permission,
                securable,
                ..
            }
            | Statement::Deny {
                permission,
                securable,
                ..
            }
            | Statement::Revoke {
                permission,
                securable,
                ..
            } => (permission, securable),
            _ => return Ok(()),
        };
        match objects.applies(permission, securable) {
            None => Err(match securable {
                Securable::Schema(s) => not_found("schema", s),
                Securable::Object { name, .. } => not_found("object", name),
                Securable::Database => not_found("database", ""),
            }),
            Some(false) => Err(ApplyError {
                number: 4606,
                message: format!(
                    "Granted or revoked privilege {} is not compatible with object.",
                    permission.to_ascii_uppercase()
                ),
            }),
            Some(true) => Ok(()),
        }
    }
}

/// REVOKE or DENY of a permission held WITH GRANT OPTION, without CASCADE (Msg 4611).
fn needs_cascade() -> ApplyError {
    ApplyError {
        number: 4611,
        message: "To revoke or deny grantable privileges, specify the CASCADE option.".into(),
    }
}

impl Catalog {
    /// Whether `principal` holds `permission` on `securable` WITH GRANT OPTION: a REVOKE or
    /// DENY of it needs CASCADE.
    pub fn grantable(&self, principal: &str, permission: &str, securable: &Securable) -> bool {
        self.permissions.iter().any(|e| {
            e.grantee == principal
                && e.permission.eq_ignore_ascii_case(permission)
                && e.securable == *securable
                && e.state == PermState::GrantWithGrantOption
        })
    }

    fn has_principal(&self, name: &str) -> bool {
        self.spelling(name).is_some()
    }

    fn is_role(&self, name: &str) -> bool {
        is_fixed_role(name)
            || self.spelling(name).is_some_and(|n| {
                self.principals
                    .iter()
                    .any(|p| p.name == n && p.kind == PrincipalKind::Role)
            })
    }

    /// `s` with every principal it names spelled as this catalog spells it (a name that is
    /// not here stays as written, for the refusal to quote); the name a CREATE gives stays the
    /// creator's.
    pub fn spelled(&self, s: &Statement) -> Statement {
        let spell = |n: &mut String| {
            if let Some(stored) = self.spelling(n) {
                *n = stored;
            }
        };
        let mut s = s.clone();
        match &mut s {
            Statement::CreateUser { .. } | Statement::CreateRole { .. } => {}
            Statement::AddMember { role, member } | Statement::DropMember { role, member } => {
                spell(role);
                spell(member);
            }
            Statement::Grant { principal, .. }
            | Statement::Deny { principal, .. }
            | Statement::Revoke { principal, .. } => spell(principal),
        }
        s
    }

    /// Apply one statement as SQL Server would, or refuse it (leaving the catalog untouched).
    /// `Ok(true)` when the catalog changed, `Ok(false)` when the statement was a no-op here.
    pub fn apply(&mut self, s: &Statement) -> Result<bool, ApplyError> {
        let exists = |name: &str| ApplyError {
            number: 15023,
            message: format!(
                "User, group, or role '{name}' already exists in the current database."
            ),
        };
        match s {
            Statement::CreateUser { name, kind } => {
                if self.has_principal(name) || is_built_in(name) {
                    return Err(exists(name));
                }
                self.principals.push(Principal {
                    name: name.clone(),
                    kind: *kind,
                });
                // CREATE USER grants CONNECT, as SQL Server does.
                self.set_entry(PermEntry {
                    securable: Securable::Database,
                    permission: "CONNECT".into(),
                    grantee: name.clone(),
                    state: PermState::Grant,
                });
                Ok(true)
            }
            Statement::CreateRole { name } => {
                if self.has_principal(name) || is_built_in(name) {
                    return Err(exists(name));
                }
                self.principals.push(Principal {
                    name: name.clone(),
                    kind: PrincipalKind::Role,
                });
                Ok(true)
            }
            Statement::AddMember { role, member } | Statement::DropMember { role, member } => {
                // dbo, public and the fixed roles are no role's members (dbo belongs to
                // db_owner by definition, and that cannot change).
                if member.eq_ignore_ascii_case("dbo")
                    || member.eq_ignore_ascii_case("public")
                    || is_fixed_role(member)
                {
                    return Err(special_principal(member));
                }
                if !self.is_role(role) {
                    return Err(ApplyError {
                        number: 15151,
                        message: format!(
                            "Cannot alter the role '{role}', because it does not exist or you do not have permission."
                        ),
                    });
                }
                if !self.has_principal(member) {
                    return Err(not_found("user", member));
                }
                let pair = (role.clone(), member.clone());
                let was = self.memberships.contains(&pair);
                self.memberships.retain(|m| m != &pair);
                let add = matches!(s, Statement::AddMember { .. });
                if add {
                    self.memberships.push(pair);
                }
                Ok(was != add)
            }
            Statement::Grant {
                permission,
                securable,
                principal,
                with_grant_option,
            } => {
                grantee_allowed(principal)?;
                if !self.has_principal(principal) {
                    return Err(not_found("user", principal));
                }
                Ok(self.set_entry(PermEntry {
                    securable: securable.clone(),
                    permission: permission.clone(),
                    grantee: principal.clone(),
                    state: if *with_grant_option {
                        PermState::GrantWithGrantOption
                    } else {
                        PermState::Grant
                    },
                }))
            }
            Statement::Deny {
                permission,
                securable,
                principal,
                cascade,
            } => {
                grantee_allowed(principal)?;
                if !self.has_principal(principal) {
                    return Err(not_found("user", principal));
                }
                if !cascade && self.grantable(principal, permission, securable) {
                    return Err(needs_cascade());
                }
                Ok(self.set_entry(PermEntry {
                    securable: securable.clone(),
                    permission: permission.clone(),
                    grantee: principal.clone(),
                    state: PermState::Deny,
                }))
            }
            Statement::Revoke {
                permission,
                securable,
                principal,
                grant_option_only,
                cascade,
            } => {
                grantee_allowed(principal)?;
                if !self.has_principal(principal) {
                    return Err(not_found("user", principal));
                }
                if !(*cascade || *grant_option_only)
                    && self.grantable(principal, permission, securable)
                {
                    return Err(needs_cascade());
                }
                let key = |e: &PermEntry| {
                    e.grantee == *principal
                        && e.permission == *permission
                        && e.securable == *securable
                };
                let mut changed = false;
                if *grant_option_only {
                    for e in self.permissions.iter_mut().filter(|e| key(e)) {
                        if e.state == PermState::GrantWithGrantOption {
                            e.state = PermState::Grant;
                            changed = true;
                        }
                    }
                } else {
                    let before = self.permissions.len();
                    self.permissions.retain(|e| !key(e));
                    changed = self.permissions.len() != before;
                }
                Ok(changed)
            }
        }
    }

    /// One entry per (securable, permission, grantee): a new state replaces the old one.
    /// Whether anything changed.
    fn set_entry(&mut self, entry: PermEntry) -> bool {
        let same = |e: &PermEntry| {
            e.grantee == entry.grantee
                && e.permission == entry.permission
                && e.securable == entry.securable
        };
        match self.permissions.iter().position(same) {
            Some(i) if self.permissions[i].state == entry.state => false,
            Some(i) => {
                self.permissions[i] = entry;
                true
            }
            None => {
                self.permissions.push(entry);
                true
            }
        }
    }
}

/// SQL Server refuses permissions to dbo, sys and INFORMATION_SCHEMA (4624) and to the fixed
/// database roles (4617); public and guest take them.
fn grantee_allowed(principal: &str) -> Result<(), ApplyError> {
    if UNGRANTABLE
        .iter()
        .any(|u| u.eq_ignore_ascii_case(principal))
    {
        return Err(ApplyError {
            number: 4624,
            message: "Cannot grant, deny, or revoke permissions to sa, dbo, entity owner, information_schema, sys, or yourself.".into(),
        });
    }
    if is_fixed_role(principal) && !principal.eq_ignore_ascii_case("public") {
        return Err(ApplyError {
            number: 4617,
            message: "Cannot grant, deny or revoke permissions to or from special roles.".into(),
        });
    }
    Ok(())
}

/// A script statement tpdb cannot run, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ScriptError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Sym(&'static str),
}

fn tokenize(text: &str) -> Result<Vec<(Tok, usize)>, ScriptError> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '-' if chars.get(i + 1) == Some(&'-') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i += 2;
            }
            '[' => {
                let start = line;
                let mut name = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(ScriptError {
                                line: start,
                                message: "a '[' is never closed".into(),
                            });
                        }
                        Some(']') if chars.get(i + 1) == Some(&']') => {
                            name.push(']');
                            i += 2;
                        }
                        Some(']') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            if *ch == '\n' {
                                line += 1;
                            }
                            name.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push((Tok::Quoted(name), start));
            }
            '"' => {
                let start = line;
                let mut name = String::new();
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    name.push(chars[i]);
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(ScriptError {
                        line: start,
                        message: "a '\"' is never closed".into(),
                    });
                }
                i += 1;
                out.push((Tok::Quoted(name), start));
            }
            ':' if chars.get(i + 1) == Some(&':') => {
                out.push((Tok::Sym("::"), line));
                i += 2;
            }
            '.' => {
                out.push((Tok::Sym("."), line));
                i += 1;
            }
            ',' => {
                out.push((Tok::Sym(","), line));
                i += 1;
            }
            ';' => {
                out.push((Tok::Sym(";"), line));
                i += 1;
            }
            c if c.is_alphanumeric() || c == '_' || c == '@' || c == '#' => {
                let mut w = String::new();
                while i < chars.len() && (chars[i].is_alphanumeric() || "_@#$".contains(chars[i])) {
                    w.push(chars[i]);
                    i += 1;
                }
                out.push((Tok::Word(w), line));
            }
            other => {
                return Err(ScriptError {
                    line,
                    message: format!("unexpected '{other}'"),
                });
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

impl Parser {
    fn line(&self) -> usize {
        self.toks
            .get(self.pos)
            .or(self.toks.last())
            .map_or(1, |t| t.1)
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, ScriptError> {
        Err(ScriptError {
            line: self.line(),
            message: message.into(),
        })
    }

    fn peek_word(&self) -> Option<String> {
        match self.toks.get(self.pos) {
            Some((Tok::Word(w), _)) => Some(w.to_ascii_uppercase()),
            _ => None,
        }
    }

    fn keyword(&mut self, kw: &str) -> bool {
        if self.peek_word().as_deref() == Some(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, kw: &str) -> Result<(), ScriptError> {
        if self.keyword(kw) {
            Ok(())
        } else {
            self.err(format!("expected {kw}"))
        }
    }

    fn sym(&mut self, s: &str) -> bool {
        if matches!(self.toks.get(self.pos), Some((Tok::Sym(x), _)) if *x == s) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn name(&mut self) -> Result<String, ScriptError> {
        match self.toks.get(self.pos).cloned() {
            Some((Tok::Quoted(n), _)) | Some((Tok::Word(n), _)) => {
                self.pos += 1;
                Ok(n)
            }
            _ => self.err("expected a name"),
        }
    }

    /// Permission names: words up to ON / TO / FROM, separated by commas.
    fn permissions(&mut self) -> Result<Vec<String>, ScriptError> {
        let mut perms = Vec::new();
        let mut words: Vec<String> = Vec::new();
        loop {
            match self.peek_word() {
                Some(w) if w == "ON" || w == "TO" || w == "FROM" => break,
                Some(w) => {
                    words.push(w);
                    self.pos += 1;
                }
                None if self.sym(",") => {
                    perms.push(words.join(" "));
                    words.clear();
                }
                None => break,
            }
        }
        if !words.is_empty() {
            perms.push(words.join(" "));
        }
        if perms.is_empty() || perms.iter().any(|p| p.is_empty()) {
            return self.err("expected a permission name");
        }
        for p in &perms {
            if !super::requirement::is_known_permission(p) {
                return self.err(format!("'{p}' is not a database permission tpdb knows"));
            }
        }
        Ok(perms)
    }

    fn securable(&mut self) -> Result<Securable, ScriptError> {
        if !self.keyword("ON") {
            return Ok(Securable::Database);
        }
        let class = match self.peek_word().as_deref() {
            Some("OBJECT") | Some("SCHEMA") | Some("DATABASE")
                if matches!(self.toks.get(self.pos + 1), Some((Tok::Sym("::"), _))) =>
            {
                let c = self.peek_word().unwrap_or_default();
                self.pos += 2;
                c
            }
            _ => "OBJECT".to_string(),
        };
        let first = self.name()?;
        let second = if self.sym(".") {
            Some(self.name()?)
        } else {
            None
        };
        Ok(match (class.as_str(), second) {
            ("DATABASE", _) => Securable::Database,
            ("SCHEMA", None) => Securable::Schema(first),
            ("OBJECT", Some(n)) => Securable::Object {
                schema: first,
                name: n,
            },
            ("OBJECT", None) => Securable::Object {
                schema: "dbo".into(),
                name: first,
            },
            _ => return self.err("a schema name has one part"),
        })
    }

    fn principals(&mut self) -> Result<Vec<String>, ScriptError> {
        let mut out = vec![self.name()?];
        while self.sym(",") {
            out.push(self.name()?);
        }
        Ok(out)
    }

    fn statement(&mut self) -> Result<Vec<Statement>, ScriptError> {
        let Some(first) = self.peek_word() else {
            return self.err("expected a statement");
        };
        self.pos += 1;
        let out = match first.as_str() {
            "CREATE" if self.keyword("USER") => {
                let name = self.name()?;
                let kind = if self.keyword("FROM") {
                    if self.keyword("EXTERNAL") {
                        self.expect("PROVIDER")?;
                        PrincipalKind::ExternalUser
                    } else {
                        self.expect("LOGIN")?;
                        self.name()?;
                        PrincipalKind::SqlUser
                    }
                } else if self.keyword("WITHOUT") {
                    self.expect("LOGIN")?;
                    PrincipalKind::WithoutLogin
                } else if self.keyword("FOR") {
                    self.expect("LOGIN")?;
                    self.name()?;
                    PrincipalKind::SqlUser
                } else {
                    PrincipalKind::SqlUser
                };
                vec![Statement::CreateUser { name, kind }]
            }
            "CREATE" if self.keyword("ROLE") => {
                let name = self.name()?;
                if self.keyword("AUTHORIZATION") {
                    self.name()?;
                }
                vec![Statement::CreateRole { name }]
            }
            "ALTER" if self.keyword("ROLE") => {
                let role = self.name()?;
                let add = if self.keyword("ADD") {
                    true
                } else if self.keyword("DROP") {
                    false
                } else {
                    return self.err("expected ADD MEMBER or DROP MEMBER");
                };
                self.expect("MEMBER")?;
                let member = self.name()?;
                vec![if add {
                    Statement::AddMember { role, member }
                } else {
                    Statement::DropMember { role, member }
                }]
            }
            "GRANT" | "DENY" => {
                let perms = self.permissions()?;
                let securable = self.securable()?;
                self.expect("TO")?;
                let principals = self.principals()?;
                let with_grant_option = first == "GRANT" && self.keyword("WITH") && {
                    self.expect("GRANT")?;
                    self.expect("OPTION")?;
                    true
                };
                let cascade = self.keyword("CASCADE");
                let mut v = Vec::new();
                for p in &principals {
                    for perm in &perms {
                        v.push(if first == "GRANT" {
                            Statement::Grant {
                                permission: perm.clone(),
                                securable: securable.clone(),
                                principal: p.clone(),
                                with_grant_option,
                            }
                        } else {
                            Statement::Deny {
                                permission: perm.clone(),
                                securable: securable.clone(),
                                principal: p.clone(),
                                cascade,
                            }
                        });
                    }
                }
                v
            }
            "REVOKE" => {
                let grant_option_only = if self.keyword("GRANT") {
                    self.expect("OPTION")?;
                    self.expect("FOR")?;
                    true
                } else {
                    false
                };
                let perms = self.permissions()?;
                let securable = self.securable()?;
                if !self.keyword("FROM") {
                    self.expect("TO")?;
                }
                let principals = self.principals()?;
                let cascade = self.keyword("CASCADE");
                let mut v = Vec::new();
                for p in &principals {
                    for perm in &perms {
                        v.push(Statement::Revoke {
                            permission: perm.clone(),
                            securable: securable.clone(),
                            principal: p.clone(),
                            grant_option_only,
                            cascade: cascade || grant_option_only,
                        });
                    }
                }
                v
            }
            other => {
                self.pos -= 1;
                return self.err(format!(
                    "'{other}…' is not a statement tpdb runs; scripts may hold CREATE USER, CREATE ROLE, ALTER ROLE … ADD/DROP MEMBER, GRANT, DENY and REVOKE"
                ));
            }
        };
        if !self.sym(";") && self.pos < self.toks.len() && self.peek_word().is_none() {
            return self.err("expected ';' or the next statement");
        }
        Ok(out)
    }
}

/// Parse a whole script. Comments and `GO` lines are ignored. The first statement tpdb does
/// not support rejects the whole script, naming its line.
pub fn parse_script(text: &str) -> Result<Vec<(usize, Statement)>, ScriptError> {
    let cleaned: String = text
        .lines()
        .map(|l| {
            if l.trim().eq_ignore_ascii_case("go") {
                ""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut p = Parser {
        toks: tokenize(&cleaned)?,
        pos: 0,
    };
    let mut out = Vec::new();
    while p.pos < p.toks.len() {
        if p.sym(";") {
            continue;
        }
        let line = p.line();
        for s in p.statement()? {
            out.push((line, s));
        }
    }
    Ok(out)
}

/// The two-part name in a securable phrase such as `dbo.usp_X` or `[dbo].[usp X]`.
pub fn object_securable(text: &str) -> Result<Securable, String> {
    let parts = split_parts(text)?;
    match parts.as_slice() {
        [n] => Ok(Securable::object("dbo", n.clone())),
        [s, n] => Ok(Securable::object(s.clone(), n.clone())),
        _ => Err(format!("'{text}' is not schema.name")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_statements_parse_back_to_themselves() {
        let stmts = vec![
            Statement::CreateUser {
                name: "sp-billing-dataflow".into(),
                kind: PrincipalKind::ExternalUser,
            },
            Statement::CreateUser {
                name: "svc".into(),
                kind: PrincipalKind::WithoutLogin,
            },
            Statement::CreateUser {
                name: "migration_user".into(),
                kind: PrincipalKind::SqlUser,
            },
            Statement::CreateRole {
                name: "rate writers".into(),
            },
            Statement::AddMember {
                role: "db_datareader".into(),
                member: "svc".into(),
            },
            Statement::DropMember {
                role: "legacy_readonly".into(),
                member: "svc".into(),
            },
            Statement::Grant {
                permission: "EXECUTE".into(),
                securable: Securable::object("dbo", "usp_UpsertSiteJobCodeRate"),
                principal: "sp-billing-dataflow".into(),
                with_grant_option: false,
            },
            Statement::Grant {
                permission: "VIEW DEFINITION".into(),
                securable: Securable::Schema("gp".into()),
                principal: "svc".into(),
                with_grant_option: true,
            },
            Statement::Deny {
                permission: "INSERT".into(),
                securable: Securable::Schema("dbo".into()),
                principal: "legacy_readonly".into(),
                cascade: false,
            },
            Statement::Deny {
                permission: "SELECT".into(),
                securable: Securable::Schema("dbo".into()),
                principal: "svc".into(),
                cascade: true,
            },
            Statement::Revoke {
                permission: "SELECT".into(),
                securable: Securable::Database,
                principal: "svc".into(),
                grant_option_only: false,
                cascade: false,
            },
            Statement::Revoke {
                permission: "SELECT".into(),
                securable: Securable::Database,
                principal: "svc".into(),
                grant_option_only: false,
                cascade: true,
            },
            Statement::Revoke {
                permission: "SELECT".into(),
                securable: Securable::object("gp", "UnitAccount"),
                principal: "svc".into(),
                grant_option_only: true,
                cascade: true,
            },
        ];
        let text: String = stmts.iter().map(|s| format!("{}\n", s.tsql())).collect();
        let parsed: Vec<Statement> = parse_script(&text)
            .unwrap()
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        assert_eq!(parsed, stmts);
        assert_eq!(
            stmts[6].tsql(),
            "GRANT EXECUTE ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO [sp-billing-dataflow];"
        );
        assert_eq!(stmts[10].tsql(), "REVOKE SELECT FROM [svc];");
        assert_eq!(
            stmts[9].tsql(),
            "DENY SELECT ON SCHEMA::[dbo] TO [svc] CASCADE;"
        );
        assert_eq!(stmts[11].tsql(), "REVOKE SELECT FROM [svc] CASCADE;");
    }

    #[test]
    fn a_grantable_permission_is_revoked_or_denied_only_with_cascade() {
        let mut c = Catalog::default();
        c.apply(&Statement::CreateUser {
            name: "migration_user".into(),
            kind: PrincipalKind::WithoutLogin,
        })
        .unwrap();
        let ua = Securable::object("gp", "UnitAccount");
        let parse = |t: &str| parse_script(t).unwrap().remove(0).1;
        c.apply(&parse(
            "GRANT SELECT ON OBJECT::[gp].[UnitAccount] TO [migration_user] WITH GRANT OPTION;",
        ))
        .unwrap();
        assert!(c.grantable("migration_user", "SELECT", &ua));
        for refused in [
            "REVOKE SELECT ON OBJECT::[gp].[UnitAccount] FROM [migration_user];",
            "DENY SELECT ON OBJECT::[gp].[UnitAccount] TO [migration_user];",
        ] {
            let e = c.apply(&parse(refused)).unwrap_err();
            assert_eq!(e.number, 4611, "{refused}");
            assert_eq!(
                e.message,
                "To revoke or deny grantable privileges, specify the CASCADE option."
            );
        }
        let mut denied = c.clone();
        assert!(
            denied
                .apply(&parse(
                    "DENY SELECT ON OBJECT::[gp].[UnitAccount] TO [migration_user] CASCADE;"
                ))
                .unwrap()
        );
        assert!(
            c.apply(&parse(
                "REVOKE SELECT ON OBJECT::[gp].[UnitAccount] FROM [migration_user] CASCADE;"
            ))
            .unwrap()
        );
        assert!(!c.grantable("migration_user", "SELECT", &ua));
    }

    #[test]
    fn accepts_hand_written_forms_comments_and_go() {
        let script = "-- fix\nGRANT SELECT, INSERT ON dbo.Site TO app, [other app]\nGO\n/* block\ncomment */ DENY DELETE ON SCHEMA::gp TO app;";
        let parsed = parse_script(script).unwrap();
        assert_eq!(parsed.len(), 5);
        assert_eq!(parsed[0].0, 2);
        assert_eq!(parsed[4].0, 5);
        assert!(
            matches!(&parsed[4].1, Statement::Deny { securable: Securable::Schema(s), .. } if s == "gp")
        );
    }

    #[test]
    fn an_unsupported_statement_is_named_with_its_line() {
        let e = parse_script("GRANT SELECT TO a;\nDROP TABLE dbo.Site;\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.message.contains("'DROP…' is not a statement tpdb runs"),
            "{e}"
        );
        let e = parse_script("GRANT SELEKT ON dbo.Site TO a;").unwrap_err();
        assert!(
            e.message.contains("'SELEKT' is not a database permission"),
            "{e}"
        );
        assert!(parse_script("ALTER ROLE r ADD x;").is_err());
    }

    #[test]
    fn applying_follows_sql_server() {
        let mut c = Catalog::default();
        c.apply(&Statement::CreateUser {
            name: "u".into(),
            kind: PrincipalKind::SqlUser,
        })
        .unwrap();
        assert!(c.evaluate("u", "CONNECT", &Securable::Database).allowed());
        assert_eq!(
            c.apply(&Statement::CreateUser {
                name: "u".into(),
                kind: PrincipalKind::SqlUser
            })
            .unwrap_err()
            .number,
            15023
        );
        let deny = Statement::Deny {
            permission: "SELECT".into(),
            securable: Securable::Schema("dbo".into()),
            principal: "u".into(),
            cascade: false,
        };
        assert!(c.apply(&deny).unwrap(), "a new DENY changes the catalog");
        assert!(
            !c.apply(&deny).unwrap(),
            "the same DENY again changes nothing"
        );
        let t = Securable::object("dbo", "T");
        assert!(!c.evaluate("u", "SELECT", &t).allowed());
        // GRANT of the same permission replaces the DENY entry.
        c.apply(&Statement::Grant {
            permission: "SELECT".into(),
            securable: Securable::Schema("dbo".into()),
            principal: "u".into(),
            with_grant_option: false,
        })
        .unwrap();
        assert!(c.evaluate("u", "SELECT", &t).allowed());
        assert_eq!(
            c.permissions
                .iter()
                .filter(|e| e.permission == "SELECT")
                .count(),
            1
        );
        assert_eq!(
            c.apply(&Statement::AddMember {
                role: "nope".into(),
                member: "u".into()
            })
            .unwrap_err()
            .number,
            15151
        );
    }

    proptest! {
        #[test]
        fn hostile_names_survive_generation_and_parsing(
            name in "[\\]\\['; \\-a-zA-Z0-9é漢]{1,16}",
            schema in "[\\]'; \\-a-zA-Z0-9ü]{1,10}",
        ) {
            let s = Statement::Grant {
                permission: "SELECT".into(),
                securable: Securable::object(schema.clone(), name.clone()),
                principal: name.clone(),
                with_grant_option: false,
            };
            let text = s.tsql();
            let parsed = parse_script(&text).unwrap();
            prop_assert_eq!(parsed.len(), 1);
            prop_assert_eq!(&parsed[0].1, &s);
            let c = Statement::CreateUser { name: name.clone(), kind: PrincipalKind::ExternalUser };
            let parsed = parse_script(&format!("{}\n-- {}\n", c.tsql(), name)).unwrap();
            prop_assert_eq!(&parsed[0].1, &c);
        }
    }
}

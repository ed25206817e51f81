//! A node's schema as objects: tables with everything that makes them work (identity, named
//! defaults, computed columns, keys, checks, foreign keys, indexes), the programmable objects
//! (views, procedures, functions, triggers) with their definitions as read, synonyms, sequences
//! and user-defined types, each with the objects it depends on. Pure data; reading it is the
//! drivers', comparing it `diff`, ordering it `order`, scripting it `ddl`.

pub mod canon;
pub mod ddl;
pub mod deploy;
pub mod diff;
pub mod options;
pub mod order;

use serde::{Deserialize, Serialize};

use super::tsql::{Collation, ObjectName};

/// What kind of object, in the order a deployment creates kinds that do not depend on each
/// other (types before tables, tables before the modules that read them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    AliasType,
    TableType,
    Sequence,
    Table,
    ScalarFunction,
    TableFunction,
    View,
    Procedure,
    Trigger,
    Synonym,
}

impl Kind {
    /// As people say it: `table`, `procedure`, `scalar function` …
    pub fn label(self) -> &'static str {
        match self {
            Kind::AliasType => "alias type",
            Kind::TableType => "table type",
            Kind::Sequence => "sequence",
            Kind::Table => "table",
            Kind::ScalarFunction => "scalar function",
            Kind::TableFunction => "table function",
            Kind::View => "view",
            Kind::Procedure => "procedure",
            Kind::Trigger => "trigger",
            Kind::Synonym => "synonym",
        }
    }

    /// From `sys.objects.type` (types and table types come from `sys.types`, not from here).
    pub fn from_type_code(code: &str) -> Option<Kind> {
        Some(match code.trim().to_ascii_uppercase().as_str() {
            "U" => Kind::Table,
            "V" => Kind::View,
            "P" | "PC" => Kind::Procedure,
            "FN" | "FS" => Kind::ScalarFunction,
            "IF" | "TF" | "FT" => Kind::TableFunction,
            "TR" | "TA" => Kind::Trigger,
            "SN" => Kind::Synonym,
            "SO" => Kind::Sequence,
            _ => return None,
        })
    }

    /// Whether its definition is T-SQL text kept by the server (`sys.sql_modules`).
    pub fn is_module(self) -> bool {
        matches!(
            self,
            Kind::ScalarFunction
                | Kind::TableFunction
                | Kind::View
                | Kind::Procedure
                | Kind::Trigger
        )
    }
}

/// What `ON DELETE` / `ON UPDATE` of a foreign key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefAction {
    #[default]
    NoAction,
    Cascade,
    SetNull,
    SetDefault,
}

impl RefAction {
    /// From `sys.foreign_keys.delete_referential_action` (0–3).
    pub fn from_code(code: u8) -> RefAction {
        match code {
            1 => RefAction::Cascade,
            2 => RefAction::SetNull,
            3 => RefAction::SetDefault,
            _ => RefAction::NoAction,
        }
    }

    pub fn sql(self) -> &'static str {
        match self {
            RefAction::NoAction => "NO ACTION",
            RefAction::Cascade => "CASCADE",
            RefAction::SetNull => "SET NULL",
            RefAction::SetDefault => "SET DEFAULT",
        }
    }
}

/// A named default constraint on a column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultConstraint {
    pub name: String,
    /// The server named it (`DF__Site__regio__…`): the name differs on every node and is not
    /// compared or scripted.
    #[serde(default)]
    pub system_named: bool,
    /// As the server keeps it, e.g. `((0))` or `(getdate())`.
    pub definition: String,
}

/// A column of a table or a table type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDef {
    pub name: String,
    /// The type as T-SQL writes it: `int`, `nvarchar(200)`, `decimal(9,4)`, `dbo.Money`.
    pub sql_type: String,
    pub nullable: bool,
    /// `IDENTITY(seed, increment)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<(i64, i64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<DefaultConstraint>,
    /// A computed column's definition, and whether it is `PERSISTED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed: Option<(String, bool)>,
    /// The column's collation where it differs from the database's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collation: Option<String>,
}

impl ColumnDef {
    pub fn new(name: &str, sql_type: &str, nullable: bool) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            sql_type: sql_type.into(),
            nullable,
            identity: None,
            default: None,
            computed: None,
            collation: None,
        }
    }
}

/// A key column of an index or constraint, and whether it sorts descending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyColumn {
    pub name: String,
    #[serde(default)]
    pub descending: bool,
}

/// A primary key or unique constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyConstraint {
    pub name: String,
    #[serde(default)]
    pub system_named: bool,
    pub clustered: bool,
    pub columns: Vec<KeyColumn>,
}

/// A check constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    #[serde(default)]
    pub system_named: bool,
    pub definition: String,
}

/// A foreign key, with its actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    #[serde(default)]
    pub system_named: bool,
    pub columns: Vec<String>,
    pub references: ObjectName,
    pub referenced_columns: Vec<String>,
    #[serde(default)]
    pub on_delete: RefAction,
    #[serde(default)]
    pub on_update: RefAction,
}

/// An index that is not a key constraint's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    pub clustered: bool,
    pub unique: bool,
    pub keys: Vec<KeyColumn>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included: Vec<String>,
    /// A filtered index's `WHERE` predicate, as the server keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

/// A table's whole definition.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TableDef {
    pub columns: Vec<ColumnDef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<KeyConstraint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uniques: Vec<KeyConstraint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_keys: Vec<ForeignKey>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<Index>,
}

/// A sequence (`sys.sequences`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceDef {
    pub sql_type: String,
    pub start: i64,
    pub increment: i64,
    pub minimum: i64,
    pub maximum: i64,
    pub cycle: bool,
}

/// What an object is, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    Table(TableDef),
    /// A view, procedure, function or trigger: its definition exactly as the server keeps it
    /// (`CREATE …`), run as read; `None` when it could not be read (`unreadable` says why).
    Module(Option<String>),
    /// A synonym's base object, as `sys.synonyms.base_object_name` writes it.
    Synonym(String),
    Sequence(SequenceDef),
    /// A user-defined table type's columns and key.
    TableType(TableDef),
    /// An alias type: its base type and nullability.
    AliasType {
        base: String,
        nullable: bool,
    },
}

/// One object of a schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaObject {
    pub name: ObjectName,
    pub kind: Kind,
    pub body: Body,
    /// A trigger's table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ObjectName>,
    /// The objects its definition refers to (`sys.sql_expression_dependencies`, foreign keys'
    /// tables, a column's alias type, a trigger's table).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ObjectName>,
    /// Why its definition could not be read (an encrypted module, no VIEW DEFINITION).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

impl SchemaObject {
    /// An object with no parent, no dependencies yet, and its definition read.
    pub fn new(name: ObjectName, kind: Kind, body: Body) -> SchemaObject {
        SchemaObject {
            name,
            kind,
            body,
            parent: None,
            depends_on: vec![],
            unreadable: None,
        }
    }

    /// The object's canonical definition (`canon`): what "the same" means between nodes.
    pub fn canonical(&self) -> String {
        canon::canonical(self)
    }

    /// A digest of the canonical definition.
    pub fn hash(&self) -> String {
        canon::hash(&self.canonical())
    }

    /// Why a login without VIEW DEFINITION on it cannot read its definition, with the grant.
    pub fn no_view_definition(&self) -> String {
        format!(
            "the definition of {} {} cannot be read: this login lacks VIEW DEFINITION on it (GRANT VIEW DEFINITION ON OBJECT::{} TO the node's identity)",
            self.kind.label(),
            self.name,
            self.name.quoted()
        )
    }

    /// The table definition of a table (None for other kinds).
    pub fn table(&self) -> Option<&TableDef> {
        match &self.body {
            Body::Table(t) => Some(t),
            _ => None,
        }
    }

    /// What it depends on, foreign keys' tables and a trigger's table included.
    pub fn dependencies(&self) -> Vec<ObjectName> {
        let mut out = self.depends_on.clone();
        if let Some(t) = self.table() {
            out.extend(t.foreign_keys.iter().map(|f| f.references.clone()));
        }
        out.extend(self.parent.clone());
        out.retain(|d| d != &self.name);
        out.sort();
        out.dedup();
        out
    }
}

/// The objects of one node, with the collation its identifiers compare by.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Schema {
    pub objects: Vec<SchemaObject>,
    #[serde(skip)]
    pub case_sensitive: bool,
}

impl Schema {
    pub fn new(objects: Vec<SchemaObject>, collation: Collation) -> Schema {
        Schema {
            objects,
            case_sensitive: collation.case_sensitive,
        }
    }

    pub fn collation(&self) -> Collation {
        Collation {
            case_sensitive: self.case_sensitive,
        }
    }

    /// How names compare between this schema and `other`: without case only where both
    /// databases' collations say so.
    pub fn names_with(&self, other: &Schema) -> Collation {
        Collation {
            case_sensitive: self.case_sensitive || other.case_sensitive,
        }
    }

    /// The object named `name` under this schema's collation.
    pub fn get(&self, name: &ObjectName) -> Option<&SchemaObject> {
        let c = self.collation();
        self.objects.iter().find(|o| o.name.same_as(name, c))
    }

    /// A name's key under this schema's collation: two names with one key name one object.
    fn key(&self, name: &ObjectName) -> (String, String) {
        if self.case_sensitive {
            (name.schema.clone(), name.name.clone())
        } else {
            (name.schema.to_lowercase(), name.name.to_lowercase())
        }
    }

    /// Every foreign key as (its table, the table it references).
    pub fn foreign_key_references(&self) -> Vec<(ObjectName, ObjectName)> {
        self.objects
            .iter()
            .filter_map(|o| o.table().map(|t| (o, t)))
            .flat_map(|(o, t)| {
                t.foreign_keys
                    .iter()
                    .map(|f| (o.name.clone(), f.references.clone()))
            })
            .collect()
    }

    /// A lookup by name under this schema's collation, built once (`get` for many names).
    pub fn lookup<'a>(&'a self) -> impl Fn(&ObjectName) -> Option<&'a SchemaObject> + 'a {
        let map: std::collections::HashMap<(String, String), usize> = self
            .objects
            .iter()
            .enumerate()
            .map(|(i, o)| (self.key(&o.name), i))
            .collect();
        move |name| map.get(&self.key(name)).map(|i| &self.objects[*i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_foreign_key_and_a_trigger_table_are_dependencies_and_an_object_is_not_its_own() {
        let mut t = TableDef::default();
        t.foreign_keys.push(ForeignKey {
            name: "FK_a_site".into(),
            system_named: false,
            columns: vec!["site_id".into()],
            references: ObjectName::new("dbo", "Site"),
            referenced_columns: vec!["site_id".into()],
            on_delete: RefAction::NoAction,
            on_update: RefAction::NoAction,
        });
        let o = SchemaObject {
            name: ObjectName::new("dbo", "A"),
            kind: Kind::Table,
            body: Body::Table(t),
            parent: None,
            depends_on: vec![ObjectName::new("dbo", "A"), ObjectName::new("dbo", "T")],
            unreadable: None,
        };
        assert_eq!(
            o.dependencies(),
            vec![ObjectName::new("dbo", "Site"), ObjectName::new("dbo", "T")]
        );
    }

    #[test]
    fn type_codes_map_to_kinds_and_constraints_are_not_objects_of_their_own() {
        assert_eq!(Kind::from_type_code("P "), Some(Kind::Procedure));
        assert_eq!(Kind::from_type_code("if"), Some(Kind::TableFunction));
        assert_eq!(Kind::from_type_code("TR"), Some(Kind::Trigger));
        assert_eq!(Kind::from_type_code("PK"), None);
        assert_eq!(Kind::from_type_code("D"), None);
    }
}

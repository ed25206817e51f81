//! The order objects are created in: every object after what it depends on (a view after its
//! tables, a procedure after the function it calls, a trigger after its table), kinds in
//! `Kind` order where nothing else decides, names last, so the same schema always gives the
//! same script. Foreign keys do not order tables: they are added once every table exists.
//! Drops go in the reverse order.

use std::collections::{BTreeSet, HashMap};

use super::SchemaObject;
use crate::domain::tsql::{Collation, ObjectName};

/// A reference to an object the selection does not hold (it may exist on the target already,
/// or be missing there): reported, never guessed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outside {
    pub from: ObjectName,
    pub to: ObjectName,
}

/// Objects that depend on each other in a circle: no order creates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// The chain, its first object repeated at the end: `dbo.a → dbo.b → dbo.a`.
    pub chain: Vec<ObjectName>,
}

impl std::fmt::Display for Cycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.chain.iter().map(|n| n.to_string()).collect();
        write!(
            f,
            "these objects depend on each other in a circle, so none can be created first: {}; \
             break the circle (e.g. create one without its reference, then ALTER it)",
            names.join(" → ")
        )
    }
}

/// A creation order: indexes into the objects, and the references that lead outside them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub order: Vec<usize>,
    pub outside: Vec<Outside>,
}

fn fold(name: &ObjectName, c: Collation) -> (String, String) {
    if c.case_sensitive {
        (name.schema.clone(), name.name.clone())
    } else {
        (name.schema.to_lowercase(), name.name.to_lowercase())
    }
}

/// What an object must be created after: what it refers to and a trigger's table, not the
/// tables its foreign keys reference (those are added after every table exists).
pub fn creation_dependencies(object: &SchemaObject) -> Vec<ObjectName> {
    let mut out = object.depends_on.clone();
    out.extend(object.parent.clone());
    out.retain(|d| d != &object.name);
    out.sort();
    out.dedup();
    out
}

/// The order to load `tables` in so that each comes after the tables it references
/// (`references`: child → parent, e.g. a target's own foreign keys), keeping the given order
/// wherever nothing decides; tables in a circle keep theirs. Emptying goes in the reverse
/// order, so no parent is emptied while a child still holds rows that reference it.
pub fn load_order(
    tables: &[ObjectName],
    references: &[(ObjectName, ObjectName)],
    collation: Collation,
) -> Vec<usize> {
    let keys: Vec<(String, String)> = tables.iter().map(|t| fold(t, collation)).collect();
    let parents: Vec<Vec<usize>> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let mut ps: Vec<usize> = references
                .iter()
                .filter(|(child, _)| &fold(child, collation) == k)
                .filter_map(|(_, parent)| {
                    let pk = fold(parent, collation);
                    keys.iter().position(|x| *x == pk)
                })
                .filter(|p| *p != i)
                .collect();
            ps.sort_unstable();
            ps.dedup();
            ps
        })
        .collect();
    let mut placed = vec![false; tables.len()];
    let mut out = Vec::with_capacity(tables.len());
    while out.len() < tables.len() {
        let next = (0..tables.len())
            .find(|&i| !placed[i] && parents[i].iter().all(|p| placed[*p]))
            // A circle: the first table not placed goes next, in the given order.
            .or_else(|| (0..tables.len()).find(|&i| !placed[i]))
            .expect("a table is left to place");
        placed[next] = true;
        out.push(next);
    }
    out
}

/// The order to create `objects` in, or the first circle found.
pub fn creation_order(objects: &[SchemaObject], collation: Collation) -> Result<Order, Cycle> {
    let index: HashMap<(String, String), usize> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| (fold(&o.name, collation), i))
        .collect();
    let mut outside = Vec::new();
    // needs[i]: what i waits for; feeds[j]: who waits for j.
    let mut needs: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); objects.len()];
    let mut feeds: Vec<Vec<usize>> = vec![Vec::new(); objects.len()];
    for (i, o) in objects.iter().enumerate() {
        for d in creation_dependencies(o) {
            match index.get(&fold(&d, collation)) {
                Some(&j) if j != i => {
                    if needs[i].insert(j) {
                        feeds[j].push(i);
                    }
                }
                Some(_) => {}
                None => outside.push(Outside {
                    from: o.name.clone(),
                    to: d,
                }),
            }
        }
    }
    let key = |i: usize| {
        let o = &objects[i];
        let (s, n) = fold(
            &o.name,
            Collation {
                case_sensitive: false,
            },
        );
        (o.kind, s, n, i)
    };
    let mut ready: BTreeSet<_> = (0..objects.len())
        .filter(|i| needs[*i].is_empty())
        .map(key)
        .collect();
    let mut waiting: Vec<usize> = needs.iter().map(BTreeSet::len).collect();
    let mut order = Vec::with_capacity(objects.len());
    while let Some(first) = ready.pop_first() {
        let i = first.3;
        order.push(i);
        for &k in &feeds[i] {
            waiting[k] -= 1;
            if waiting[k] == 0 {
                ready.insert(key(k));
            }
        }
    }
    if order.len() < objects.len() {
        return Err(Cycle {
            chain: find_cycle(objects, &needs, &waiting),
        });
    }
    Ok(Order { order, outside })
}

/// A circle among the objects still waiting: walk what each waits for until a name repeats.
fn find_cycle(
    objects: &[SchemaObject],
    needs: &[BTreeSet<usize>],
    waiting: &[usize],
) -> Vec<ObjectName> {
    let stuck = |i: usize| waiting[i] > 0;
    let start = (0..objects.len())
        .find(|i| stuck(*i))
        .expect("some object is waiting");
    let mut path = vec![start];
    let mut at = start;
    loop {
        let next = *needs[at]
            .iter()
            .find(|j| stuck(**j))
            .expect("a waiting object waits for a waiting one");
        if let Some(pos) = path.iter().position(|p| *p == next) {
            let mut chain: Vec<ObjectName> = path[pos..]
                .iter()
                .map(|i| objects[*i].name.clone())
                .collect();
            chain.push(objects[next].name.clone());
            // Told in the direction of use: a depends on b depends on a.
            return chain;
        }
        path.push(next);
        at = next;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tables_load_after_the_tables_they_reference_and_keep_their_order_otherwise() {
        let n = |s: &str| ObjectName::new("dbo", s);
        let c = Collation::from_name("SQL_Latin1_General_CP1_CI_AS");
        let tables = vec![n("Rate"), n("Audit"), n("Site"), n("JobCode")];
        let refs = vec![
            (n("Rate"), n("Site")),
            (n("rate"), n("JOBCODE")),
            (n("Audit"), n("Other")),
            (n("Site"), n("Site")),
        ];
        assert_eq!(load_order(&tables, &refs, c), vec![1, 2, 3, 0]);
        assert_eq!(load_order(&tables, &[], c), vec![0, 1, 2, 3]);
        // Tables in a circle come after the free ones, in the given order, each once.
        let circle = vec![(n("Rate"), n("Audit")), (n("Audit"), n("Rate"))];
        assert_eq!(load_order(&tables, &circle, c), vec![2, 3, 0, 1]);
    }

    use super::*;
    use crate::domain::schema::{Body, Kind};
    use proptest::prelude::*;

    fn obj(name: &str, kind: Kind, deps: &[&str]) -> SchemaObject {
        SchemaObject {
            name: ObjectName::new("dbo", name),
            kind,
            body: Body::Module(Some(format!("CREATE VIEW dbo.{name} AS SELECT 1 AS x"))),
            parent: None,
            depends_on: deps.iter().map(|d| ObjectName::new("dbo", *d)).collect(),
            unreadable: None,
        }
    }

    const CI: Collation = Collation {
        case_sensitive: false,
    };

    #[test]
    fn a_view_comes_after_its_table_and_a_procedure_after_its_function_whatever_the_input_order() {
        let objects = vec![
            obj("usp_Upsert", Kind::Procedure, &["fn_Round", "Rate"]),
            obj("v_Current", Kind::View, &["rate"]),
            obj("fn_Round", Kind::ScalarFunction, &[]),
            obj("Rate", Kind::Table, &[]),
        ];
        let o = creation_order(&objects, CI).unwrap();
        let names: Vec<&str> = o
            .order
            .iter()
            .map(|i| objects[*i].name.name.as_str())
            .collect();
        assert_eq!(names, ["Rate", "fn_Round", "v_Current", "usp_Upsert"]);
        assert!(
            o.outside.is_empty(),
            "dbo.rate is dbo.Rate under a _CI_ collation"
        );
        // Under a case-sensitive collation dbo.rate is another object, outside the selection.
        let o = creation_order(
            &objects,
            Collation {
                case_sensitive: true,
            },
        )
        .unwrap();
        assert_eq!(
            o.outside,
            vec![Outside {
                from: ObjectName::new("dbo", "v_Current"),
                to: ObjectName::new("dbo", "rate"),
            }]
        );
    }

    #[test]
    fn a_circle_is_told_as_its_chain() {
        let objects = vec![
            obj("a", Kind::View, &["b"]),
            obj("b", Kind::View, &["c"]),
            obj("c", Kind::View, &["a"]),
            obj("d", Kind::View, &[]),
        ];
        let err = creation_order(&objects, CI).unwrap_err();
        assert_eq!(err.chain.len(), 4);
        assert_eq!(err.chain.first(), err.chain.last());
        let text = err.to_string();
        assert!(text.contains("dbo.a → dbo.b → dbo.c → dbo.a"), "{text}");
    }

    #[test]
    fn foreign_keys_between_tables_do_not_order_them_so_a_circle_of_keys_is_fine() {
        use crate::domain::schema::{ForeignKey, RefAction, TableDef};
        let table = |name: &str, to: &str| {
            let mut t = TableDef::default();
            t.foreign_keys.push(ForeignKey {
                name: format!("FK_{name}"),
                system_named: false,
                columns: vec!["x".into()],
                references: ObjectName::new("dbo", to),
                referenced_columns: vec!["x".into()],
                on_delete: RefAction::NoAction,
                on_update: RefAction::NoAction,
            });
            SchemaObject {
                name: ObjectName::new("dbo", name),
                kind: Kind::Table,
                body: Body::Table(t),
                parent: None,
                depends_on: vec![],
                unreadable: None,
            }
        };
        let objects = vec![table("a", "b"), table("b", "a")];
        assert_eq!(creation_order(&objects, CI).unwrap().order, vec![0, 1]);
    }

    proptest! {
        #[test]
        fn every_object_comes_after_everything_it_depends_on(
            n in 1usize..40,
            edges in proptest::collection::vec((0usize..40, 0usize..40), 0..120),
            shuffle in proptest::collection::vec(any::<u32>(), 40),
        ) {
            // Edges go from a higher number to a lower one, so the graph has no circle.
            let mut deps: Vec<Vec<String>> = vec![Vec::new(); n];
            for (a, b) in edges {
                let (a, b) = (a % n, b % n);
                if a > b {
                    deps[a].push(format!("o{b}"));
                }
            }
            let mut objects: Vec<SchemaObject> = (0..n)
                .map(|i| {
                    let d: Vec<&str> = deps[i].iter().map(String::as_str).collect();
                    obj(&format!("o{i}"), Kind::View, &d)
                })
                .collect();
            // Any input order.
            let mut keyed: Vec<(u32, SchemaObject)> = objects.drain(..).zip(shuffle).map(|(o, k)| (k, o)).collect();
            keyed.sort_by_key(|(k, _)| *k);
            let objects: Vec<SchemaObject> = keyed.into_iter().map(|(_, o)| o).collect();
            let order = creation_order(&objects, CI).unwrap().order;
            prop_assert_eq!(order.len(), n);
            let pos: HashMap<&str, usize> = order.iter().enumerate().map(|(p, i)| (objects[*i].name.name.as_str(), p)).collect();
            for o in &objects {
                for d in &o.depends_on {
                    prop_assert!(pos[d.name.as_str()] < pos[o.name.name.as_str()]);
                }
            }
        }

        #[test]
        fn a_back_edge_is_always_found_as_a_circle(n in 2usize..30, from in 0usize..30, to in 0usize..30) {
            let (lo, hi) = { let a = from % n; let b = to % n; (a.min(b), a.max(b)) };
            prop_assume!(lo < hi);
            // A chain o1 → o0, o2 → o1 …, and o_lo depending on o_hi closes a circle.
            let objects: Vec<SchemaObject> = (0..n)
                .map(|i| {
                    let mut d = Vec::new();
                    if i > 0 { d.push(format!("o{}", i - 1)); }
                    if i == lo { d.push(format!("o{hi}")); }
                    let d: Vec<&str> = d.iter().map(String::as_str).collect();
                    obj(&format!("o{i}"), Kind::View, &d)
                })
                .collect();
            let err = creation_order(&objects, CI).unwrap_err();
            prop_assert_eq!(err.chain.first(), err.chain.last());
            // Each link is a real dependency.
            for w in err.chain.windows(2) {
                let o = objects.iter().find(|o| o.name == w[0]).unwrap();
                prop_assert!(o.depends_on.contains(&w[1]));
            }
        }
    }
}

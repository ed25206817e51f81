//! Which tables and objects a stage moves: `include` and `exclude` patterns over
//! `schema.name`, `*` for any run of characters, compared case-insensitively. A name may be
//! written plainly (`dbo.a.b c]d'e`, as the source spells it) or bracketed (`dbo.[a.b c]]d'e]`).

use super::tsql::ObjectName;

/// `*` matches any run of characters; the rest compares case-insensitively.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.to_lowercase(), name.to_lowercase());
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == n;
    }
    let mut rest = n.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Whether `pattern` matches `name`, written plainly or as tpdb displays it (bracketed where
/// a part holds a dot or a bracket).
pub fn name_matches(pattern: &str, name: &ObjectName) -> bool {
    pattern_matches(pattern, &format!("{}.{}", name.schema, name.name))
        || pattern_matches(pattern, &name.to_string())
}

/// Whether a stage with these patterns moves `name`.
pub fn selected(include: &[String], exclude: &[String], name: &ObjectName) -> bool {
    include.iter().any(|p| name_matches(p, name)) && !exclude.iter().any(|p| name_matches(p, name))
}

/// The patterns that match none of `names`: (`include` or `exclude`, the pattern).
pub fn unmatched<'a>(
    include: &'a [String],
    exclude: &'a [String],
    names: &[ObjectName],
) -> Vec<(&'static str, &'a str)> {
    let none = |p: &str| !names.iter().any(|n| name_matches(p, n));
    include
        .iter()
        .filter(|p| none(p))
        .map(|p| ("include", p.as_str()))
        .chain(
            exclude
                .iter()
                .filter(|p| none(p))
                .map(|p| ("exclude", p.as_str())),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_schema_qualified_names() {
        assert!(pattern_matches("dbo.*", "dbo.Site"));
        assert!(pattern_matches("*", "gp.UnitAccount"));
        assert!(pattern_matches("dbo.*_archive", "dbo.Rates_archive"));
        assert!(!pattern_matches("dbo.*_archive", "dbo.Rates"));
        assert!(!pattern_matches("gp.*", "dbo.Site"));
        assert!(pattern_matches("DBO.SITE", "dbo.Site"));
    }

    #[test]
    fn a_hostile_name_matches_written_plainly_or_bracketed() {
        let hostile = ObjectName::new("dbo", "a.b c]d'e\"ü€");
        assert!(name_matches("dbo.a.b c]d'e\"ü€", &hostile));
        assert!(name_matches("dbo.[a.b c]]d'e\"ü€]", &hostile));
        assert!(
            name_matches("dbo.A.B C]D'E\"Ü€", &hostile),
            "case-insensitive"
        );
        let all = vec!["*".to_string()];
        assert!(!selected(&all, &["dbo.a.b c]d'e\"ü€".into()], &hostile));
        assert!(selected(&all, &[], &hostile));
    }

    #[test]
    fn a_pattern_that_matches_nothing_is_named() {
        let names = [
            ObjectName::new("dbo", "Site"),
            ObjectName::new("gp", "UnitAccount"),
        ];
        let include = vec!["dbo.*".to_string(), "gp.*".to_string()];
        let exclude = vec!["dbo.Sitte".to_string(), "gp.UnitAccount".to_string()];
        assert_eq!(
            unmatched(&include, &exclude, &names),
            [("exclude", "dbo.Sitte")]
        );
    }
}

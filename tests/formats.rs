//! Every command that offers `--format csv|json|table` writes each: the CSV parses as one
//! header and rows of its width (and nothing for a human), the JSON parses, the table is text.

mod common;

/// RFC 4180 records: quoted fields may hold commas, quotes (doubled) and line breaks.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(!quoted, "an unterminated quoted field");
    assert!(
        field.is_empty() && record.is_empty(),
        "the last record ends with a line break"
    );
    records
}

#[test]
fn every_listed_format_is_written_and_parses() {
    let demo = common::demo();
    // A state with something in every listing: a failing probe, an unmet requirement.
    let commands: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "probe",
                "--principal",
                "sp-billing-dataflow",
                "--node",
                "node1",
            ],
            "node",
        ),
        (
            vec![
                "privileges",
                "check",
                "--principal",
                "sp-billing-dataflow",
                "--node",
                "node1",
            ],
            "record",
        ),
        (
            vec!["privileges", "diff", "--from", "node1", "--to", "uat"],
            "record",
        ),
        (vec!["migrate", "status"], "stage"),
        (
            vec!["schema", "diff", "--from", "node1", "--to", "uat"],
            "kind",
        ),
        (
            vec!["rates", "preview", "--sites", "1", "--to", "2026-10-31"],
            "site_id",
        ),
    ];
    for (args, first_column) in commands {
        let what = args.join(" ");
        for format in ["csv", "json", "table"] {
            let mut all = args.clone();
            all.extend(["--format", format]);
            let out = common::tpdb(&demo, &all);
            let text = common::text(&out.stdout);
            assert!(
                matches!(out.status.code(), Some(0) | Some(1)),
                "{what} --format {format}: {}",
                common::text(&out.stderr)
            );
            match format {
                "csv" => {
                    let records = parse_csv(&text);
                    assert!(records.len() > 1, "{what}: header and rows:\n{text}");
                    assert_eq!(records[0][0], first_column, "{what}:\n{text}");
                    let width = records[0].len();
                    for r in &records {
                        assert_eq!(r.len(), width, "{what}: a row of another width: {r:?}");
                    }
                    for human in ["over-privilege:", "-- tpdb", "  why:", "✓", "✗"] {
                        assert!(!text.contains(human), "{what}: '{human}' in CSV:\n{text}");
                    }
                }
                "json" => {
                    let v: serde_json::Value = serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("{what}: JSON does not parse: {e}\n{text}"));
                    assert!(v.is_array() || v.is_object(), "{what}");
                }
                _ => assert!(!text.trim().is_empty(), "{what}"),
            }
        }
    }
}

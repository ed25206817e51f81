//! Output formats shared by the subcommands: aligned table, CSV and JSON.

use std::io::Write;

use clap::ValueEnum;

/// Exit code of a command whose output pipe was closed by its reader (128 + SIGPIPE).
pub const EXIT_CLOSED_PIPE: i32 = 141;

/// Write to stdout at once (see `out!`).
pub fn write_out(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        stdout_failed(e);
    }
}

/// Output could not be written: a closed pipe ends the command quietly (141); anything else
/// (a full disk behind a redirect) is said on stderr (exit 1). Nothing is left half-done by
/// this: output is written after the work it reports, or before a write it announces.
pub fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(EXIT_CLOSED_PIPE);
    }
    eprintln!("error: cannot write the output: {e}");
    std::process::exit(1);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// One CSV field, quoted when it must be.
pub fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

pub fn csv_line(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",")
}

/// A CSV document: the header line, then one line per row (RFC 4180 quoting). Every command
/// that offers `--format csv` writes it through here: the rows only, nothing for a human.
pub fn csv(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::with_capacity(rows.len() * 64 + 64);
    out.push_str(&csv_line(
        &header.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
    ));
    out.push('\n');
    for r in rows {
        out.push_str(&csv_line(r));
        out.push('\n');
    }
    out
}

/// Left-aligned columns sized to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = String::new();
    out.push_str(&line(header.to_vec()));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn csv_is_a_header_and_one_quoted_line_per_row() {
        let text = csv(
            &["node", "error"],
            &[vec!["uat".into(), "Msg 229, \"denied\"\nnext".into()]],
        );
        assert_eq!(text, "node,error\nuat,\"Msg 229, \"\"denied\"\"\nnext\"\n");
    }

    #[test]
    fn table_aligns_columns() {
        let t = table(&["a", "bb"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "a    bb\nxyz  1\n");
    }
}

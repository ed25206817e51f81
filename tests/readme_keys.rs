//! The README's key table is the keymap's: generated from the table the in-app help uses, so
//! what the README says a key does is what it does.

#[test]
fn the_readmes_key_table_is_the_keymaps() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("## Keys\n\n").expect("a Keys section") + "## Keys\n\n".len();
    let table: String = readme[start..]
        .lines()
        .take_while(|l| l.starts_with('|'))
        .map(|l| format!("{l}\n"))
        .collect();
    let generated = tpdb::tui::keymap::Keymap::default().markdown();
    assert_eq!(
        table, generated,
        "the README's key table differs from the keymap; put this in its place:\n{generated}"
    );
}

//! Keys map to actions, per scope; defaults are built in and `[ui.keys]` overrides them. The
//! footer hints and the `?` help are generated from this map.

use std::collections::BTreeMap;
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Global,
    Migration,
    Rates,
    Privileges,
    Probes,
    Activity,
}

impl Scope {
    pub fn label(self) -> &'static str {
        match self {
            Scope::Global => "everywhere",
            Scope::Migration => "Migration",
            Scope::Rates => "Rates",
            Scope::Privileges => "Privileges",
            Scope::Probes => "Probes",
            Scope::Activity => "Activity",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Quit,
    NextPane,
    PrevPane,
    Pane1,
    Pane2,
    Pane3,
    Pane4,
    Pane5,
    Help,
    Detail,
    SidePanel,
    ClearFilter,
    NextFinding,
    PrevFinding,
    CycleMethodBack,
    ProbePrincipalBack,
    PrivPrevFrom,
    PrivPrevNode,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Filter,
    Sort,
    SortReverse,
    EditParams,
    CycleMethod,
    Apply,
    Retire,
    CancelTask,
    Refresh,
    PrivToggleMode,
    PrivNextFrom,
    PrivNextNode,
    PrivFilter,
    PrivFindings,
    PrivEdit,
    PrivSave,
    PrivApply,
    PrivRefresh,
    ProbeLeft,
    ProbeRight,
    ProbePrincipal,
    ProbeActive,
    ProbeRerun,
    ProbeFix,
    ProbeFilter,
    ActivityFilter,
    MigRun,
    MigValidate,
    MigRollback,
    MigOverride,
    MigCancel,
    MigLeft,
    MigRight,
    MigSchema,
    MigRefresh,
    ActivityAudit,
}

/// Every action: config name, scope, description, default keys.
const ACTIONS: &[(Action, &str, Scope, &str, &[&str])] = &[
    (
        Action::Quit,
        "quit",
        Scope::Global,
        "quit (asks while work runs)",
        &["q", "ctrl-c"],
    ),
    (
        Action::NextPane,
        "next_pane",
        Scope::Global,
        "next pane",
        &["tab"],
    ),
    (
        Action::PrevPane,
        "prev_pane",
        Scope::Global,
        "previous pane",
        &["shift-tab"],
    ),
    (
        Action::Pane1,
        "pane_migration",
        Scope::Global,
        "Migration pane",
        &["1"],
    ),
    (
        Action::Pane2,
        "pane_privileges",
        Scope::Global,
        "Privileges pane",
        &["2"],
    ),
    (
        Action::Pane3,
        "pane_rates",
        Scope::Global,
        "Rates pane",
        &["3"],
    ),
    (
        Action::Pane4,
        "pane_probes",
        Scope::Global,
        "Probes pane",
        &["4"],
    ),
    (
        Action::Pane5,
        "pane_activity",
        Scope::Global,
        "Activity pane",
        &["5"],
    ),
    (
        Action::Help,
        "help",
        Scope::Global,
        "show / hide this help",
        &["?"],
    ),
    (
        Action::Detail,
        "detail",
        Scope::Global,
        "detail: every field of the selected row",
        &["enter", "space"],
    ),
    (
        Action::SidePanel,
        "side_panel",
        Scope::Global,
        "side panel: the chart or the why in place of the table (narrow terminals)",
        &["c"],
    ),
    (
        Action::NextFinding,
        "next_finding",
        Scope::Global,
        "next finding: flagged rate, failed check or step, next principal's rows",
        &["n"],
    ),
    (
        Action::PrevFinding,
        "previous_finding",
        Scope::Global,
        "previous finding",
        &["N"],
    ),
    (
        Action::CycleMethodBack,
        "cycle_method_back",
        Scope::Rates,
        "previous method",
        &["M"],
    ),
    (
        Action::ProbePrincipalBack,
        "probes_principal_back",
        Scope::Probes,
        "previous principal",
        &["P"],
    ),
    (
        Action::PrivPrevFrom,
        "privileges_from_back",
        Scope::Privileges,
        "previous reference node or principal",
        &["F"],
    ),
    (
        Action::PrivPrevNode,
        "privileges_node_back",
        Scope::Privileges,
        "previous target node",
        &["D"],
    ),
    (
        Action::ClearFilter,
        "clear_filter",
        Scope::Global,
        "clear the filter",
        &["esc"],
    ),
    (Action::Up, "up", Scope::Global, "move up", &["up", "k"]),
    (
        Action::Down,
        "down",
        Scope::Global,
        "move down",
        &["down", "j"],
    ),
    (
        Action::PageUp,
        "page_up",
        Scope::Global,
        "page up",
        &["pageup"],
    ),
    (
        Action::PageDown,
        "page_down",
        Scope::Global,
        "page down",
        &["pagedown"],
    ),
    (
        Action::Top,
        "top",
        Scope::Global,
        "first row",
        &["home", "g"],
    ),
    (
        Action::Bottom,
        "bottom",
        Scope::Global,
        "last row",
        &["end", "G"],
    ),
    (
        Action::Filter,
        "filter",
        Scope::Rates,
        "filter rows",
        &["/"],
    ),
    (
        Action::Sort,
        "sort",
        Scope::Rates,
        "sort by next column",
        &["s"],
    ),
    (
        Action::SortReverse,
        "sort_reverse",
        Scope::Rates,
        "reverse sort",
        &["S"],
    ),
    (
        Action::EditParams,
        "edit_params",
        Scope::Rates,
        "edit parameters",
        &["e"],
    ),
    (
        Action::CycleMethod,
        "cycle_method",
        Scope::Rates,
        "next method",
        &["m"],
    ),
    (
        Action::Apply,
        "apply",
        Scope::Rates,
        "write rates (shows statements first)",
        &["a"],
    ),
    (
        Action::Retire,
        "retire",
        Scope::Rates,
        "retire: remove the selected row's rate on record for the effective date (shows the DELETE first)",
        &["R"],
    ),
    (
        Action::Refresh,
        "refresh",
        Scope::Rates,
        "recompute now",
        &["r"],
    ),
    (
        Action::PrivToggleMode,
        "privileges_mode",
        Scope::Privileges,
        "mode: node vs node, or a principal's requirements vs a node",
        &["t"],
    ),
    (
        Action::PrivNextFrom,
        "privileges_from",
        Scope::Privileges,
        "from: next reference node or principal (F: previous)",
        &["f"],
    ),
    (
        Action::PrivNextNode,
        "privileges_node",
        Scope::Privileges,
        "to: next target node (D: previous)",
        &["d"],
    ),
    (
        Action::PrivFilter,
        "privileges_filter",
        Scope::Privileges,
        "filter: filter rows",
        &["/"],
    ),
    (
        Action::PrivFindings,
        "privileges_findings",
        Scope::Privileges,
        "findings: every over-privilege finding with the statements that remove it",
        &["v"],
    ),
    (
        Action::PrivEdit,
        "privileges_edit",
        Scope::Privileges,
        "edit: edit the script (Esc leaves)",
        &["e"],
    ),
    (
        Action::PrivSave,
        "privileges_save",
        Scope::Privileges,
        "save: save the script to a file",
        &["w"],
    ),
    (
        Action::PrivApply,
        "privileges_apply",
        Scope::Privileges,
        "apply: apply the script (asks first)",
        &["a"],
    ),
    (
        Action::PrivRefresh,
        "privileges_refresh",
        Scope::Privileges,
        "refresh: compare again",
        &["r"],
    ),
    (
        Action::MigRun,
        "migration_run",
        Scope::Migration,
        "run: run the selected step",
        &["enter"],
    ),
    (
        Action::MigValidate,
        "migration_validate",
        Scope::Migration,
        "validate: validate the stage",
        &["v"],
    ),
    (
        Action::MigRollback,
        "migration_rollback",
        Scope::Migration,
        "rollback: roll the stage back (asks first)",
        &["b"],
    ),
    (
        Action::MigOverride,
        "migration_override",
        Scope::Migration,
        "override: unlock a stage with a reason",
        &["o"],
    ),
    (
        Action::MigCancel,
        "migration_cancel",
        Scope::Migration,
        "cancel: stop the running step (a copy resumes later)",
        &["x"],
    ),
    (
        Action::MigSchema,
        "migration_schema",
        Scope::Migration,
        "schema: the stage's objects, source vs target, with diffs",
        &["i"],
    ),
    (
        Action::MigRefresh,
        "migration_refresh",
        Scope::Migration,
        "refresh: read every stage's state again (another process may have run a step)",
        &["r"],
    ),
    (
        Action::MigLeft,
        "migration_left",
        Scope::Migration,
        "previous step",
        &["left", "h"],
    ),
    (
        Action::MigRight,
        "migration_right",
        Scope::Migration,
        "next step",
        &["right", "l"],
    ),
    (
        Action::ProbeLeft,
        "probes_left",
        Scope::Probes,
        "previous node",
        &["left", "h"],
    ),
    (
        Action::ProbeRight,
        "probes_right",
        Scope::Probes,
        "next node",
        &["right", "l"],
    ),
    (
        Action::ProbePrincipal,
        "probes_principal",
        Scope::Probes,
        "principal: next principal",
        &["p"],
    ),
    (
        Action::ProbeActive,
        "probes_active",
        Scope::Probes,
        "toggle: passive ↔ active probes",
        &["t"],
    ),
    (
        Action::ProbeRerun,
        "probes_rerun",
        Scope::Probes,
        "re-run: probe again",
        &["r"],
    ),
    (
        Action::ProbeFix,
        "probes_fix",
        Scope::Probes,
        "apply: apply the selected node's fix (asks first)",
        &["a"],
    ),
    (
        Action::ProbeFilter,
        "probes_filter",
        Scope::Probes,
        "filter: the checks, or node columns by name",
        &["/"],
    ),
    (
        Action::ActivityFilter,
        "activity_filter",
        Scope::Activity,
        "filter: the tasks and the audit trail",
        &["/"],
    ),
    (
        Action::CancelTask,
        "cancel_task",
        Scope::Activity,
        "cancel the selected task",
        &["x"],
    ),
    (
        Action::ActivityAudit,
        "activity_audit",
        Scope::Activity,
        "toggle: select in the tasks or in the audit trail",
        &["t"],
    ),
];

/// A key with its modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub fn parse(text: &str) -> Result<Key, String> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = text;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                mods |= KeyModifiers::CONTROL;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                mods |= KeyModifiers::ALT;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "tab" => KeyCode::Tab,
            "shift-tab" | "backtab" => KeyCode::BackTab,
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "space" => KeyCode::Char(' '),
            f if f.starts_with('f') && f.len() > 1 && f[1..].parse::<u8>().is_ok() => {
                KeyCode::F(f[1..].parse().expect("checked"))
            }
            c if c.chars().count() == 1 => KeyCode::Char(c.chars().next().expect("one char")),
            other => {
                return Err(format!(
                    "'{other}' is not a key; use a character, ctrl-X, alt-X, tab, shift-tab, enter, esc, up, down, left, right, pageup, pagedown, home, end, space or f1..f12"
                ));
            }
        };
        Ok(Key { code, mods })
    }

    fn matches(&self, ev: &KeyEvent) -> bool {
        if self.code != ev.code {
            return false;
        }
        // Shift is part of the character (`G`, `?`), so compare only ctrl and alt.
        let relevant = KeyModifiers::CONTROL | KeyModifiers::ALT;
        (ev.modifiers & relevant) == (self.mods & relevant)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            write!(f, "ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            write!(f, "alt-")?;
        }
        match self.code {
            KeyCode::Tab => write!(f, "Tab"),
            KeyCode::BackTab => write!(f, "Shift-Tab"),
            KeyCode::Enter => write!(f, "Enter"),
            KeyCode::Esc => write!(f, "Esc"),
            KeyCode::Up => write!(f, "↑"),
            KeyCode::Down => write!(f, "↓"),
            KeyCode::Left => write!(f, "←"),
            KeyCode::Right => write!(f, "→"),
            KeyCode::PageUp => write!(f, "PgUp"),
            KeyCode::PageDown => write!(f, "PgDn"),
            KeyCode::Home => write!(f, "Home"),
            KeyCode::End => write!(f, "End"),
            KeyCode::Char(' ') => write!(f, "Space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::F(n) => write!(f, "F{n}"),
            _ => write!(f, "?"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: Vec<(Scope, Key, Action)>,
}

impl Default for Keymap {
    fn default() -> Self {
        let mut bindings = Vec::new();
        for (action, _, scope, _, keys) in ACTIONS {
            for k in *keys {
                bindings.push((*scope, Key::parse(k).expect("default keys parse"), *action));
            }
        }
        Keymap { bindings }
    }
}

impl Keymap {
    /// Defaults with `[ui.keys]` overrides: `action = "key"` or `"key1, key2"`.
    pub fn with_overrides(overrides: &BTreeMap<String, String>) -> Result<Keymap, String> {
        let mut map = Keymap::default();
        for (name, keys) in overrides {
            let Some((action, _, scope, _, _)) = ACTIONS.iter().find(|a| a.1 == name) else {
                return Err(format!(
                    "[ui.keys]: unknown action '{name}'; actions are {}",
                    ACTIONS.iter().map(|a| a.1).collect::<Vec<_>>().join(", ")
                ));
            };
            map.bindings.retain(|(_, _, a)| a != action);
            for k in keys.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                let key = Key::parse(k).map_err(|e| format!("[ui.keys] {name}: {e}"))?;
                map.bindings
                    .retain(|(s, bk, _)| !(bk == &key && s == scope));
                map.bindings.push((*scope, key, *action));
            }
        }
        Ok(map)
    }

    /// The action of a key in a scope (the pane's own bindings first, then global ones).
    pub fn action(&self, scope: Scope, ev: &KeyEvent) -> Option<Action> {
        let find = |s: Scope| {
            self.bindings
                .iter()
                .find(|(bs, k, _)| *bs == s && k.matches(ev))
                .map(|(_, _, a)| *a)
        };
        if scope != Scope::Global
            && let Some(a) = find(scope)
        {
            return Some(a);
        }
        find(Scope::Global)
    }

    /// The keys bound to an action, as shown to the user (`q/ctrl-c`).
    pub fn keys_for(&self, action: Action) -> String {
        let keys: Vec<String> = self
            .bindings
            .iter()
            .filter(|(_, _, a)| *a == action)
            .map(|(_, k, _)| k.to_string())
            .collect();
        keys.join("/")
    }

    /// Help rows: (scope, keys, description), in the order of the action table.
    pub fn help(&self) -> Vec<(Action, Scope, String, &'static str)> {
        ACTIONS
            .iter()
            .map(|(a, _, s, d, _)| (*a, *s, self.keys_for(*a), *d))
            .filter(|(_, _, k, _)| !k.is_empty())
            .collect()
    }

    /// The key table as the README shows it (Markdown), from the same table the help uses:
    /// what the README says is what the keys do.
    pub fn markdown(&self) -> String {
        let mut out = String::from("| where | keys | does |\n|---|---|---|\n");
        for (_, scope, keys, does) in self.help() {
            let cell = |t: &str| t.replace('|', "\\|");
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                scope.label(),
                cell(&keys),
                cell(does)
            ));
        }
        out
    }

    /// A one-line hint for a scope's footer.
    pub fn hints(&self, scope: Scope, actions: &[Action]) -> String {
        let _ = scope;
        actions
            .iter()
            .map(|a| {
                let d = ACTIONS
                    .iter()
                    .find(|x| x.0 == *a)
                    .map(|x| {
                        let d = x.3.split(" (").next().unwrap_or("");
                        d.split(':').next().unwrap_or(d).trim()
                    })
                    .unwrap_or("");
                format!("{} {d}", self.keys_for(*a))
            })
            .collect::<Vec<_>>()
            .join("  ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn pane_bindings_win_over_global_ones() {
        let m = Keymap::default();
        assert_eq!(m.action(Scope::Rates, &key('a')), Some(Action::Apply));
        assert_eq!(m.action(Scope::Activity, &key('a')), None);
        assert_eq!(
            m.action(Scope::Activity, &key('x')),
            Some(Action::CancelTask)
        );
        assert_eq!(m.action(Scope::Rates, &key('q')), Some(Action::Quit));
    }

    #[test]
    fn overrides_replace_defaults_and_show_in_help() {
        let mut o = BTreeMap::new();
        o.insert("quit".to_string(), "ctrl-q".to_string());
        let m = Keymap::with_overrides(&o).unwrap();
        assert_eq!(m.action(Scope::Global, &key('q')), None);
        let ctrl_q = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::CONTROL);
        assert_eq!(m.action(Scope::Global, &ctrl_q), Some(Action::Quit));
        assert!(
            m.help()
                .iter()
                .any(|(_, _, k, d)| k == "ctrl-q" && d.starts_with("quit"))
        );
    }

    #[test]
    fn bad_overrides_are_explained() {
        let mut o = BTreeMap::new();
        o.insert("qiut".to_string(), "q".to_string());
        assert!(
            Keymap::with_overrides(&o)
                .unwrap_err()
                .contains("unknown action 'qiut'")
        );
        let mut o = BTreeMap::new();
        o.insert("quit".to_string(), "hyper-q".to_string());
        assert!(
            Keymap::with_overrides(&o)
                .unwrap_err()
                .contains("not a key")
        );
    }
}

//! What the app asks of a pane: the keys it offers now (its hints), the key it takes first for
//! what it has open (a popup, confirmation, prompt or input), its own actions, and the work it
//! asks of the worker, sent as `Command`s through the `Ctx` it is given. The app routes keys
//! to the focused pane, keeps the global keys, and hands worker events to their owner.

use std::collections::HashMap;
use std::time::Instant;

use crossterm::event::KeyEvent;

use super::app::Pane;
use super::keymap::Action;
use crate::worker::Progress;
use crate::worker::{Command, Event, TaskEnd, TaskId};

/// Task ids, and which pane asked for each (its failure shows there).
#[derive(Debug)]
pub struct Tasks {
    next: TaskId,
    pub owners: HashMap<TaskId, Pane>,
}

impl Default for Tasks {
    fn default() -> Self {
        Tasks {
            next: 1,
            owners: HashMap::new(),
        }
    }
}

impl Tasks {
    /// A new task id, owned by `owner` when it has one.
    pub fn start(&mut self, owner: Option<Pane>) -> TaskId {
        let id = self.next;
        self.next += 1;
        if let Some(p) = owner {
            self.owners.insert(id, p);
        }
        id
    }
}

/// What a pane's key handling may use: the time, and the way to ask the worker for work.
pub struct Ctx<'a> {
    pub now: Instant,
    pub outbox: &'a mut Vec<Command>,
    pub tasks: &'a mut Tasks,
    /// The pane this context belongs to (the owner of the tasks it starts).
    pub pane: Pane,
}

impl Ctx<'_> {
    /// Send the command `make` builds for a new task of this pane; its id.
    pub fn send(&mut self, make: impl FnOnce(TaskId) -> Command) -> TaskId {
        let id = self.tasks.start(Some(self.pane));
        self.outbox.push(make(id));
        id
    }
}

/// A pane as the app drives it.
pub trait Component {
    /// The actions the footer offers now, most used first (the help lists them first too).
    fn hints(&self) -> Vec<Action>;

    /// While an input of the pane is focused, its keys (the footer shows only these).
    fn input_hint(&self) -> Option<&'static str> {
        None
    }

    /// Offer a key to what the pane has open (popup, confirmation, prompt, input) before any
    /// keymap lookup; true when it took the key.
    fn capture(&mut self, key: KeyEvent, ctx: &mut Ctx) -> bool;

    /// Do one of the pane's actions; false when the action is not the pane's.
    fn act(&mut self, action: Action, ctx: &mut Ctx) -> bool;

    /// The pane is shown: it starts its first work if it has not yet.
    fn entered(&mut self, _ctx: &mut Ctx) {}

    /// A worker event of this pane's kind (a preview, a comparison, probe results …).
    fn on_event(&mut self, _ev: Event, _ctx: &mut Ctx) {}

    /// A task reported progress (the pane shows it when the task is its own).
    fn progress(&mut self, _id: TaskId, _p: &Progress) {}

    /// A task ended (the pane forgets it when it was its own).
    fn finished(&mut self, _id: TaskId, _end: &TaskEnd, _ctx: &mut Ctx) {}

    /// A task of this pane failed: the pane shows why.
    fn failed(&mut self, _why: String) {}

    /// Move the selection by `delta` rows (↑↓, PgUp PgDn, g G, the wheel).
    fn move_by(&mut self, delta: isize);

    /// Rows a page holds in the last frame.
    fn page(&self) -> usize {
        20
    }

    /// A left click at (`column`, `row`) inside the pane's `area`.
    fn click(&mut self, _column: u16, _row: u16, _area: ratatui::layout::Rect) {}

    /// Pasted text, for the focused input.
    fn paste(&mut self, _text: &str, _now: Instant) {}
}

/// A detail popup's key: Esc, Enter, space or q close it; every key is taken while it is open.
/// `detail_key` for a popup that scrolls: ↑↓ / PgUp PgDn / Home move `scroll`, the closing
/// keys close it (and the next one opens at its top).
pub fn popup_key(open: &mut bool, scroll: &mut usize, key: &KeyEvent) -> bool {
    use crossterm::event::KeyCode;
    if !*open {
        return false;
    }
    match key.code {
        KeyCode::Down | KeyCode::Char('j') => *scroll += 1,
        KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
        KeyCode::PageDown => *scroll += 10,
        KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
        KeyCode::Home => *scroll = 0,
        _ => {
            detail_key(open, key);
            if !*open {
                *scroll = 0;
            }
        }
    }
    true
}

pub fn detail_key(open: &mut bool, key: &KeyEvent) -> bool {
    use crossterm::event::KeyCode;
    if !*open {
        return false;
    }
    if matches!(
        key.code,
        KeyCode::Esc | KeyCode::Enter | KeyCode::Char(' ') | KeyCode::Char('q')
    ) {
        *open = false;
    }
    true
}

//! Pieces the panes share: a cursor over a list that renders only its visible rows, and the
//! filter input drawn over a table's last lines.

use std::cell::Cell;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::theme::Theme;
use ratatui_textarea::TextArea;

/// The selected row and the scroll window of a list of `len` rows. `page` is how many rows the
/// last render showed; render records it, movement uses it.
#[derive(Debug)]
pub struct Cursor {
    pub selected: usize,
    pub offset: Cell<usize>,
    pub page: Cell<usize>,
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor {
            selected: 0,
            offset: Cell::new(0),
            page: Cell::new(20),
        }
    }
}

impl Cursor {
    /// Move by `delta` rows within `len`, keeping the selection visible.
    pub fn move_by(&mut self, delta: isize, len: usize) {
        if len == 0 {
            return;
        }
        let last = len as isize - 1;
        self.selected = (self.selected as isize + delta).clamp(0, last) as usize;
        self.keep_visible(len);
    }

    pub fn select(&mut self, index: usize, len: usize) {
        if len > 0 {
            self.selected = index.min(len - 1);
            self.keep_visible(len);
        }
    }

    /// After the list changed length.
    pub fn clamp(&mut self, len: usize) {
        self.selected = self.selected.min(len.saturating_sub(1));
        self.keep_visible(len);
    }

    fn keep_visible(&self, len: usize) {
        let page = self.page.get().max(1);
        let mut off = self.offset.get();
        if self.selected < off {
            off = self.selected;
        } else if self.selected >= off + page {
            off = self.selected + 1 - page;
        }
        self.offset.set(off.min(len.saturating_sub(1)));
    }

    /// The rows to build for a render showing `page` rows: `offset..end`. Records the page.
    pub fn window(&self, len: usize, page: usize) -> (usize, usize) {
        self.page.set(page.max(1));
        let offset = self.offset.get().min(len.saturating_sub(1));
        (offset, (offset + page).min(len))
    }
}

/// A status message, with the moment it was said: it shows its age once it is a few seconds
/// old (`· 12 s ago`) and goes after `Notice::LIFETIME`, so what a pane says is never stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub said: std::time::Instant,
}

impl Notice {
    pub const LIFETIME: std::time::Duration = std::time::Duration::from_secs(30);

    pub fn new(text: impl Into<String>) -> Notice {
        Notice {
            text: text.into(),
            said: std::time::Instant::now(),
        }
    }

    /// The text as shown at `now`.
    pub fn shown(&self, now: std::time::Instant) -> String {
        let age = now.saturating_duration_since(self.said).as_secs();
        if age < 5 {
            self.text.clone()
        } else {
            format!("{} · {age} s ago", self.text)
        }
    }

    pub fn expired(&self, now: std::time::Instant) -> bool {
        now.saturating_duration_since(self.said) >= Self::LIFETIME
    }
}

impl From<&str> for Notice {
    fn from(text: &str) -> Notice {
        Notice::new(text)
    }
}

impl From<String> for Notice {
    fn from(text: String) -> Notice {
        Notice::new(text)
    }
}

/// What a key did to a confirmation that may ask for a node's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Cancelled,
    Confirmed,
    /// Still open: a key was typed, or the name did not match (the error says so).
    Open,
}

/// A key for a confirmation of a write to `node`: Esc cancels; Enter confirms, on a protected
/// node only once its name is typed exactly; other keys type the name.
pub fn typed_name_key(
    node: &str,
    protected: bool,
    typed: &mut TextArea<'static>,
    error: &mut Option<String>,
    key: crossterm::event::KeyEvent,
) -> Answer {
    use crossterm::event::KeyCode;
    match key.code {
        KeyCode::Esc => Answer::Cancelled,
        KeyCode::Enter => {
            let t = typed.lines().join("");
            if protected && t.trim() != node {
                *error = Some(format!(
                    "'{}' is not '{node}': type the node's name exactly",
                    t.trim()
                ));
                return Answer::Open;
            }
            Answer::Confirmed
        }
        _ => {
            if protected {
                typed.input(key);
                *error = None;
            }
            Answer::Open
        }
    }
}

/// `applied 1 statement on uat; probing again`.
pub fn applied(statements: usize, node: &str, then: &str) -> Notice {
    let n = crate::domain::progress::count(statements as i64, "statement", "statements");
    format!("applied {n} on {node}; {then}").into()
}

/// Clear `notice` once it has expired; whether it did.
pub fn expire(notice: &mut Option<Notice>, now: std::time::Instant) -> bool {
    if notice.as_ref().is_some_and(|n| n.expired(now)) {
        *notice = None;
        return true;
    }
    false
}

/// The filter input, drawn over the last lines inside a bordered table.
pub fn filter_overlay(frame: &mut Frame, area: Rect, filter: &TextArea<'static>) {
    let mut f = filter.clone();
    f.set_block(
        Block::new()
            .borders(Borders::TOP)
            .title("filter (Enter keeps, Esc leaves)"),
    );
    let h = 2.min(area.height);
    let bottom = Rect::new(
        area.x + 1,
        area.bottom().saturating_sub(h + 1),
        area.width.saturating_sub(2),
        h,
    );
    frame.render_widget(Clear, bottom);
    frame.render_widget(&f, bottom);
}

/// A confirmation box over `rect`: the body, an error if any, and — on a protected node — the
/// prompt and input for its typed name (else the plain hint).
#[allow(clippy::too_many_arguments)]
pub fn confirmation(
    frame: &mut Frame,
    rect: Rect,
    theme: &Theme,
    title: String,
    mut body: Vec<Line<'static>>,
    error: Option<&str>,
    node: &str,
    protected: bool,
    hint: &str,
    typed: &TextArea<'static>,
) {
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .title(title)
        .title_style(theme.title())
        .border_style(theme.fg("warn"));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [msg, input] = Layout::vertical([Constraint::Min(2), Constraint::Length(2)]).areas(inner);
    if let Some(e) = error {
        body.push(Line::styled(e.to_string(), theme.fg("error")));
    }
    body.push(Line::styled(
        if protected {
            format!("{node} is protected: type its name and press Enter; Esc cancels.")
        } else {
            hint.to_string()
        },
        theme.fg("warn"),
    ));
    frame.render_widget(Paragraph::new(body).wrap(Wrap { trim: false }), msg);
    if protected {
        let mut t = typed.clone();
        t.set_block(Block::new().borders(Borders::TOP).title("node name"));
        frame.render_widget(&t, input);
    }
}

/// What a list's filter holds, as rows are matched against it: trimmed, lower-case.
pub fn filter_needle(filter: &TextArea<'static>) -> String {
    filter.lines().join("").trim().to_lowercase()
}

/// A key while a list's filter is typed: Esc clears it and leaves it, Enter keeps it, other
/// keys type.
pub fn filter_typed(
    filter: &mut TextArea<'static>,
    filtering: &mut bool,
    key: crossterm::event::KeyEvent,
) {
    match key.code {
        crossterm::event::KeyCode::Esc => {
            *filter = TextArea::default();
            *filtering = false;
        }
        crossterm::event::KeyCode::Enter => *filtering = false,
        _ => {
            filter.input(key);
        }
    }
}

/// `block` with what a window of rows leaves out said at its foot: `↓ N more` below (and
/// `↑ N above`), so a long table never ends silently at the panel's edge.
pub fn rows_left_out<'a>(block: Block<'a>, theme: &Theme, above: usize, below: usize) -> Block<'a> {
    let said = match (above, below) {
        (0, 0) => return block,
        (0, b) => format!(" ↓ {b} more "),
        (a, 0) => format!(" ↑ {a} above "),
        (a, b) => format!(" ↑ {a} above · ↓ {b} more "),
    };
    block.title_bottom(Line::styled(said, theme.fg("extra")))
}

/// A value's lines; an empty value is one empty line.
fn value_lines(v: &str) -> Vec<&str> {
    if v.is_empty() {
        vec![""]
    } else {
        v.lines().collect()
    }
}

/// Every field of one row, each wrapped in full, in a popup over `area`: what a cut cell hides.
/// A value of several lines (a script) shows one line each. Esc or Enter closes it.
pub fn detail_popup(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: &str,
    fields: &[(&str, String)],
) {
    detail_popup_at(frame, area, theme, title, fields, 0);
}

/// `detail_popup`, its first `scroll` lines scrolled past (↓ / PgDn with `popup_key`); the
/// frame says how many lines are below.
pub fn detail_popup_at(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: &str,
    fields: &[(&str, String)],
    scroll: usize,
) {
    let w = area.width.saturating_sub(4).clamp(10, 100);
    let inner = usize::from(w.saturating_sub(2)).max(1);
    let label = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 2;
    // One line per line of each value (a script is one statement a line), more where one
    // wraps.
    let needed: usize = fields
        .iter()
        .flat_map(|(_, v)| value_lines(v))
        .map(|l| {
            (label + unicode_width::UnicodeWidthStr::width(l))
                .div_ceil(inner)
                .max(1)
        })
        .sum();
    let h = (needed as u16 + 3)
        .min(area.height.saturating_sub(2))
        .max(3);
    let rect = Rect::new(
        area.x + (area.width.saturating_sub(w)) / 2,
        area.y + (area.height.saturating_sub(h)) / 2,
        w.min(area.width),
        h,
    );
    frame.render_widget(Clear, rect);
    let lines: Vec<Line<'static>> = fields
        .iter()
        .flat_map(|(k, v)| {
            value_lines(v).into_iter().enumerate().map(move |(i, l)| {
                let key = if i == 0 { *k } else { "" };
                Line::from(vec![
                    ratatui::text::Span::styled(format!("{key:<label$}"), theme.header()),
                    ratatui::text::Span::styled(l.to_string(), theme.text()),
                ])
            })
        })
        .collect();
    let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
    let total = paragraph.line_count(rect.width.saturating_sub(2));
    let room = usize::from(rect.height.saturating_sub(2));
    let top = scroll.min(total.saturating_sub(room));
    let below = total.saturating_sub(top + room);
    let block = Block::bordered()
        .title(format!(" {title} "))
        .title_style(theme.title())
        .title_bottom(if below > 0 {
            format!(" ↓ {below} more (↓ / PgDn) · Esc closes ")
        } else {
            " Esc or Enter closes ".to_string()
        })
        .border_style(theme.border(true));
    frame.render_widget(paragraph.scroll((top as u16, 0)).block(block), rect);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_shows_its_age_and_expires() {
        let n = Notice::new("wrote 359 site rates");
        let t = n.said;
        assert_eq!(n.shown(t), "wrote 359 site rates");
        assert_eq!(
            n.shown(t + std::time::Duration::from_secs(12)),
            "wrote 359 site rates · 12 s ago"
        );
        let mut slot = Some(n);
        assert!(!expire(&mut slot, t + std::time::Duration::from_secs(29)));
        assert!(expire(&mut slot, t + Notice::LIFETIME));
        assert!(slot.is_none());
    }

    #[test]
    fn a_detail_popup_shows_a_script_one_statement_a_line() {
        let theme = Theme::load("dark", None, true).unwrap();
        let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).unwrap();
        let fix = "REVOKE SELECT ON SCHEMA::[gp] FROM [r_a];\nREVOKE EXECUTE FROM [public];";
        t.draw(|f| {
            let area = f.area();
            detail_popup(
                f,
                area,
                &theme,
                "Probe",
                &[("check", "x".into()), ("fix", fix.into())],
            );
        })
        .unwrap();
        let rows: Vec<String> = t
            .backend()
            .buffer()
            .content()
            .chunks(80)
            .map(|r| r.iter().map(|c| c.symbol()).collect())
            .collect();
        let row_of = |text: &str| rows.iter().position(|r| r.contains(text));
        let (a, b) = (
            row_of("REVOKE SELECT ON SCHEMA::[gp] FROM [r_a];").expect("the first statement"),
            row_of("REVOKE EXECUTE FROM [public];").expect("the second statement"),
        );
        assert_eq!(b, a + 1, "{rows:#?}");
        assert!(!rows[a].contains("[public]"), "{rows:#?}");
    }

    #[test]
    fn the_window_follows_the_selection() {
        let mut c = Cursor::default();
        assert_eq!(c.window(100, 10), (0, 10));
        c.move_by(15, 100);
        assert_eq!(c.window(100, 10), (6, 16));
        c.move_by(isize::MAX / 2, 100);
        assert_eq!((c.selected, c.window(100, 10)), (99, (90, 100)));
        c.move_by(-95, 100);
        assert_eq!(c.window(100, 10), (4, 14));
        c.clamp(3);
        assert_eq!((c.selected, c.window(3, 10)), (2, (2, 3)));
    }
}

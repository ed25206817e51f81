//! The Rates pane's retirement of a rate on record (a row written by mistake): the rates it
//! removes, old → gone, and the exact DELETE statements, confirmed as every write is (Enter,
//! and the node's name typed when it is protected).

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui_textarea::TextArea;

use crate::tui::theme::Theme;
use crate::tui::widgets::{Answer, confirmation, typed_name_key};
use crate::worker::{Consent, RetirePreparation};

pub struct RetireConfirm {
    pub prep: RetirePreparation,
    pub protected: bool,
    pub typed: TextArea<'static>,
    pub error: Option<String>,
}

impl RetireConfirm {
    pub fn new(prep: RetirePreparation, protected: bool) -> Self {
        RetireConfirm {
            prep,
            protected,
            typed: TextArea::default(),
            error: None,
        }
    }

    /// A key: what it did to the confirmation, and the consent a confirmed one carries.
    pub fn key(&mut self, key: KeyEvent) -> (Answer, Consent) {
        let answer = typed_name_key(
            &self.prep.node,
            self.protected,
            &mut self.typed,
            &mut self.error,
            key,
        );
        let typed = self.typed.lines().join("");
        (answer, Consent::confirmed(typed.trim()))
    }

    /// The popup over `area`: what goes, then every statement, wrapped, never cut.
    pub fn render(&self, theme: &Theme, frame: &mut Frame, area: Rect) {
        let w = area.width.saturating_sub(4).min(110);
        let h = area.height.saturating_sub(2);
        let rect = Rect::new(
            area.x + (area.width - w) / 2,
            area.y + (area.height - h) / 2,
            w,
            h,
        );
        let p = &self.prep;
        let mut body = vec![Line::from(format!(
            "Removes {} from {} on {} as {}, in one transaction:",
            p.count(),
            p.table,
            p.node,
            p.identity
        ))];
        body.extend(
            p.rows
                .iter()
                .map(|r| Line::styled(r.to_string(), theme.fg("extra"))),
        );
        body.extend(
            p.statements
                .iter()
                .map(|s| Line::styled(s.clone(), theme.muted())),
        );
        confirmation(
            frame,
            rect,
            theme,
            format!(" Retire rates on {} ", p.node),
            body,
            self.error.as_deref(),
            &p.node,
            self.protected,
            "Enter removes them; Esc cancels.",
            &self.typed,
        );
    }
}

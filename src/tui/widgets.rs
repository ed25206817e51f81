//! Pieces the panes share: a cursor over a list that renders only its visible rows, and the
//! filter input drawn over a table's last lines.

use std::cell::Cell;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Block, Borders, Clear};
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

#[cfg(test)]
mod tests {
    use super::*;

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

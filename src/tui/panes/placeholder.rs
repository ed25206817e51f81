//! Panes whose features are not built yet: they say so plainly and show only real config.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::tui::theme::Theme;

pub fn render(
    title: &str,
    message: &str,
    facts: &[String],
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    focused: bool,
) {
    let mut lines = vec![
        Line::styled(message.to_string(), theme.fg("warn")),
        Line::from(""),
    ];
    lines.extend(facts.iter().map(|f| Line::styled(f.clone(), theme.text())));
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .title(format!(" {title} "))
                .title_style(theme.title())
                .border_style(theme.border(focused)),
        ),
        area,
    );
}

//! Responsive table columns: each has a priority and a minimum width. The columns that fit the
//! width are kept (the least important dropped first, never the first one), each grows toward
//! its ideal width, the rest goes to the column that fills, and a cell that is still too long is
//! cut with `…` — its full value is in the row's detail (Enter).

use ratatui::layout::Constraint;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// A table column: its title, how narrow it may get, how wide it wants to be, and how much it
/// matters (0 first; higher numbers drop first when the width runs out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Col {
    pub title: &'static str,
    pub min: u16,
    pub ideal: u16,
    pub priority: u8,
    /// Takes what width is left once every kept column has its ideal.
    pub fill: bool,
}

impl Col {
    pub const fn new(title: &'static str, min: u16, ideal: u16, priority: u8) -> Col {
        Col {
            title,
            min,
            ideal,
            priority,
            fill: false,
        }
    }

    /// This column takes the width left over.
    pub const fn filling(mut self) -> Col {
        self.fill = true;
        self
    }

    /// The same column wanting the width of its widest value among `values` (and its title),
    /// within its minimum and `cap`.
    pub fn wanting<'a>(mut self, values: impl Iterator<Item = &'a str>, cap: u16) -> Col {
        let widest = values
            .map(UnicodeWidthStr::width)
            .chain(std::iter::once(self.title.width()))
            .max()
            .unwrap_or(0)
            .min(usize::from(cap)) as u16;
        self.ideal = widest.max(self.min);
        self
    }
}

/// The columns a table of `width` cells shows: (index into `cols`, width), in their order.
/// `spacing` is the gap between two columns.
pub fn fit(cols: &[Col], width: u16, spacing: u16) -> Vec<(usize, u16)> {
    let mut kept: Vec<usize> = (0..cols.len()).collect();
    let need = |kept: &[usize]| -> u32 {
        kept.iter().map(|i| u32::from(cols[*i].min)).sum::<u32>()
            + u32::from(spacing) * kept.len().saturating_sub(1) as u32
    };
    while kept.len() > 1 && need(&kept) > u32::from(width) {
        // The least important column goes; of equals, the rightmost.
        let (pos, _) = kept
            .iter()
            .enumerate()
            .skip(1)
            .max_by_key(|(pos, i)| (cols[**i].priority, *pos))
            .expect("more than one column is kept");
        kept.remove(pos);
    }
    let mut widths: Vec<u16> = kept.iter().map(|i| cols[*i].min).collect();
    let mut left = u32::from(width).saturating_sub(need(&kept));
    // Grow toward the ideal a cell at a time, round by round, most important first in each
    // round: no column takes all the room while another still shows `…`.
    let mut order: Vec<usize> = (0..kept.len()).collect();
    order.sort_by_key(|p| (cols[kept[*p]].priority, *p));
    while left > 0 {
        let mut grew = false;
        for p in &order {
            if left > 0 && widths[*p] < cols[kept[*p]].ideal {
                widths[*p] += 1;
                left -= 1;
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    if let Some(p) = (0..kept.len()).find(|p| cols[kept[*p]].fill) {
        widths[p] = widths[p].saturating_add(left.min(u32::from(u16::MAX)) as u16);
    }
    kept.into_iter().zip(widths).collect()
}

/// The constraints for the kept columns (for `Table::new`).
pub fn constraints(fitted: &[(usize, u16)]) -> Vec<Constraint> {
    fitted.iter().map(|(_, w)| Constraint::Length(*w)).collect()
}

/// The kept cells of a row, in order.
pub fn pick<T: Clone>(cells: &[T], fitted: &[(usize, u16)]) -> Vec<T> {
    fitted.iter().map(|(i, _)| cells[*i].clone()).collect()
}

/// `text` cut to `width` display cells, ending in `…` when it was longer.
pub fn cut(text: &str, width: u16) -> String {
    let width = usize::from(width);
    if text.width() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for ch in text.chars() {
        let w = ch.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(ch);
        used += w;
    }
    out.push('…');
    out
}

/// Styled pieces cut to `width` cells as a whole: the pieces that fit, the next one cut with
/// `…`, the rest left out.
pub fn cut_spans(
    spans: Vec<ratatui::text::Span<'static>>,
    width: u16,
) -> Vec<ratatui::text::Span<'static>> {
    let mut out = Vec::new();
    let mut left = width;
    for span in spans {
        let w = span.content.width().min(usize::from(u16::MAX)) as u16;
        if w <= left {
            left -= w;
            out.push(span);
            continue;
        }
        if left > 0 {
            out.push(ratatui::text::Span::styled(
                cut(&span.content, left),
                span.style,
            ));
        }
        break;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: [Col; 4] = [
        Col::new("Site", 4, 4, 0),
        Col::new("Name", 6, 30, 3).filling(),
        Col::new("Rate", 8, 8, 0),
        Col::new("Flags", 10, 24, 5),
    ];

    #[test]
    fn the_least_important_columns_drop_first_and_the_rest_grow_to_fill() {
        // Wide: every column, Name takes what is left.
        let wide = fit(&COLS, 100, 1);
        assert_eq!(
            wide.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert_eq!(
            wide.iter().map(|(_, w)| u32::from(*w)).sum::<u32>() + 3,
            100
        );
        assert_eq!(wide[3].1, 24, "Flags at its ideal");
        // Room for some growth only: shared round by round, not all to the first column.
        let some = fit(&COLS, 40, 1);
        let w: Vec<u16> = some.iter().map(|(_, w)| *w).collect();
        assert_eq!(w.iter().map(|w| u32::from(*w)).sum::<u32>() + 3, 40);
        assert!(w[1] > 6 && w[3] > 10, "{w:?}: both Name and Flags grew");
        let col = Col::new("kind", 4, 4, 0).wanting(["missing", "state differs"].into_iter(), 10);
        assert_eq!(col.ideal, 10, "capped");
        // Narrow: Flags (priority 5) goes before Name (3); the numbers stay.
        let narrow = fit(&COLS, 24, 1);
        assert_eq!(
            narrow.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert!(narrow.iter().map(|(_, w)| u32::from(*w)).sum::<u32>() + 2 <= 24);
        // Narrower still: the first column always stays.
        assert_eq!(fit(&COLS, 3, 1), vec![(0, 4)]);
    }

    #[test]
    fn a_long_cell_is_cut_with_an_ellipsis_and_a_short_one_is_kept() {
        assert_eq!(cut("membership differs", 10), "membershi…");
        assert_eq!(cut("GRANT", 10), "GRANT");
        assert_eq!(cut("Zoë's café", 10), "Zoë's café");
        assert_eq!(cut("日本語テキスト", 7), "日本語…");
        assert_eq!(cut("abc", 0), "");
        assert!(cut("principal missing", 12).width() <= 12);
        let spans = vec![
            ratatui::text::Span::raw("large_change "),
            ratatui::text::Span::raw("later_rate_on_record "),
        ];
        let cut_to: Vec<String> = cut_spans(spans, 20)
            .iter()
            .map(|s| s.content.to_string())
            .collect();
        assert_eq!(cut_to, ["large_change ", "later_…"]);
    }
}

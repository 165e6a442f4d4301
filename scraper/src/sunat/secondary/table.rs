//! The rows of a page's tables, and the one rule for reading them: each
//! row of a fixed number of cells, or no table and a sentence saying there
//! is nothing.

use std::sync::LazyLock;

use html::{ElementRef, Html, Selector};

use crate::sunat::text::collapse;

static ROWS: LazyLock<Selector> = LazyLock::new(|| Selector::parse("table.table tr").expect("static selector"));
static CELLS: LazyLock<Selector> = LazyLock::new(|| Selector::parse("td").expect("static selector"));

/// The cells of every row of the page's tables that has cells (header
/// rows have none), each cell's text collapsed.
pub(super) fn rows(document: &Html) -> Vec<Vec<String>> {
    document
        .select(&ROWS)
        .map(|row| row.select(&CELLS).map(cell_text).collect::<Vec<_>>())
        .filter(|cells| !cells.is_empty())
        .collect()
}

fn cell_text(cell: ElementRef) -> String {
    collapse(&cell.text().collect::<String>())
}

/// Reads a page's table rows, each of exactly `width` cells, with `row`.
/// Without a table the page must say it has nothing: `empty`, a phrase of
/// its folded `text`, gives an empty list (no phrase: unreadable).
pub(super) fn each_row<T>(
    rows: &[Vec<String>],
    width: usize,
    (text, empty): (&str, Option<&str>),
    row: impl Fn(&[String]) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    if rows.is_empty() {
        return match empty {
            Some(phrase) if text.contains(phrase) => Ok(Vec::new()),
            _ => Err("ni tabla ni aviso de que no hay nada".into()),
        };
    }
    rows.iter()
        .map(|cells| match cells.len() {
            len if len == width => row(cells),
            len => Err(format!("una fila de {len} celdas en lugar de {width}")),
        })
        .collect()
}

/// A cell that must hold a value.
pub(super) fn required(cells: &[String], index: usize, what: &str) -> Result<String, String> {
    match cells.get(index) {
        Some(cell) if !cell.is_empty() => Ok(cell.clone()),
        _ => Err(format!("una fila sin {what}")),
    }
}

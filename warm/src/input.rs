//! The RUCs to warm: one per line, or one CSV column (by number or by its
//! header's name; `,` or `;` separated, whichever the first line uses
//! more); blank entries skipped, each RUC once, in the order first given.
//! Invalid ones are sent too: the proxy answers each with its own 400.

use std::collections::HashSet;
use std::io::Read;

/// The RUCs of `file` (`-`: standard input).
pub(crate) fn read(file: &str, column: Option<&str>) -> Result<Vec<String>, String> {
    let mut text = String::new();
    let read = if file == "-" {
        std::io::stdin().read_to_string(&mut text)
    } else {
        std::fs::File::open(file).and_then(|mut file| file.read_to_string(&mut text))
    };
    read.map_err(|error| format!("cannot read {file}: {error}"))?;
    let entries = match column {
        None => text.lines().map(str::to_string).collect(),
        Some(column) => csv_column(&text, column)?,
    };
    let mut seen = HashSet::new();
    Ok(entries
        .into_iter()
        .map(|entry| entry.trim().to_string())
        .filter(|entry| !entry.is_empty() && seen.insert(entry.clone()))
        .collect())
}

/// The values of `column` (a number from 1, or a header's name).
fn csv_column(text: &str, column: &str) -> Result<Vec<String>, String> {
    let first = text.lines().next().unwrap_or_default();
    let delimiter = if first.matches(';').count() > first.matches(',').count() {
        b';'
    } else {
        b','
    };
    let by_number = column.parse::<usize>().ok();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(by_number.is_none())
        .flexible(true)
        .from_reader(text.as_bytes());
    let index = match by_number {
        Some(0) => return Err("--column numbers start at 1".to_string()),
        Some(number) => number - 1,
        None => {
            let headers = reader.headers().map_err(|error| format!("the CSV header: {error}"))?;
            headers
                .iter()
                .position(|name| name.trim().eq_ignore_ascii_case(column.trim()))
                .ok_or_else(|| format!("no column {column:?} in the CSV header"))?
        }
    };
    let mut values = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|error| format!("the CSV: {error}"))?;
        values.push(record.get(index).unwrap_or_default().to_string());
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_is_found_by_number_or_name_with_either_separator() {
        let text = "nombre;ruc\nSUNAT;20131312955\nX; 10401510465 \n";
        assert_eq!(csv_column(text, "ruc").unwrap(), ["20131312955", " 10401510465 "]);
        let text = "SUNAT,20131312955\n\"A, B\",10401510465\n";
        assert_eq!(csv_column(text, "2").unwrap(), ["20131312955", "10401510465"]);
        assert!(csv_column(text, "0").is_err());
        assert!(csv_column("a,b\n1,2\n", "ruc").is_err());
    }
}

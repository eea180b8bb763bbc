//! What `ctl` prints: aligned tables and one-line summaries for people, the server's JSON with
//! `--json`. Answers are read leniently: a missing or odd field prints as `-`, never a panic.

use std::io::Write;

use anyhow::{Context, Result};
use serde_json::Value;

/// Writes to stdout; a closed pipe (`| head`) ends the output quietly.
pub fn emit(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(error).context("cannot write to stdout")
        }
        _ => Ok(()),
    }
}

pub fn line(text: impl std::fmt::Display) -> Result<()> {
    emit(&format!("{text}\n"))
}

/// Pretty JSON; nothing for an empty answer (204 No Content).
pub fn json(value: &Value) -> Result<()> {
    if value.is_null() {
        return Ok(());
    }
    line(serde_json::to_string_pretty(value).context("cannot print the answer as JSON")?)
}

/// Columns separated by two spaces, each as wide as its widest cell; no trailing spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let headers: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    let mut text = String::new();
    for row in std::iter::once(&headers).chain(rows) {
        let mut rendered = String::new();
        for (index, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if index > 0 {
                rendered.push_str("  ");
            }
            rendered.push_str(cell);
            let padding = width.saturating_sub(cell.chars().count());
            rendered.extend(std::iter::repeat_n(' ', padding));
        }
        text.push_str(rendered.trim_end());
        text.push('\n');
    }
    text
}

/// A table, or `empty` when there are no rows.
pub fn print_table(headers: &[&str], rows: &[Vec<String>], empty: &str) -> Result<()> {
    if rows.is_empty() {
        return line(empty);
    }
    emit(&table(headers, rows))
}

/// `name  value` lines, names aligned.
pub fn print_pairs(pairs: &[(&str, String)]) -> Result<()> {
    let width = pairs.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let text: String = pairs
        .iter()
        .map(|(name, value)| format!("{name:width$}  {value}\n"))
        .collect();
    emit(&text)
}

/// The array a listing answers with.
pub fn list<'a>(value: &'a Value, what: &str) -> Result<&'a [Value]> {
    value.as_array().map(Vec::as_slice).with_context(|| {
        format!("the control plane answered something other than a list of {what}")
    })
}

/// The field at a JSON pointer as text: strings bare, `-` when missing or null.
pub fn text(value: &Value, pointer: &str) -> String {
    match value.pointer(pointer) {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

pub fn flag(value: &Value, pointer: &str) -> Option<bool> {
    value.pointer(pointer).and_then(Value::as_bool)
}

/// An RFC 3339 time as `YYYY-MM-DD HH:MM:SS` UTC; anything else as it came.
pub fn time(value: &Value, pointer: &str) -> String {
    let raw = text(value, pointer);
    chrono::DateTime::parse_from_rfc3339(&raw)
        .map(|at| {
            at.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or(raw)
}

pub fn bytes(count: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut size = count as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{count} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tables_align_columns_without_trailing_spaces() {
        let rendered = table(
            &["ID", "NAME"],
            &[
                vec!["acme".into(), "Acme Corp".into()],
                vec!["b".into(), "-".into()],
            ],
        );
        assert_eq!(rendered, "ID    NAME\nacme  Acme Corp\nb     -\n");
    }

    #[test]
    fn odd_answers_print_as_dashes_not_panics() {
        let value = json!({"a": null, "b": 3, "c": {"d": "x"}, "at": "2026-01-02T03:04:05.123Z"});
        assert_eq!(text(&value, "/a"), "-");
        assert_eq!(text(&value, "/missing/deeper"), "-");
        assert_eq!(text(&value, "/b"), "3");
        assert_eq!(text(&value, "/c/d"), "x");
        assert_eq!(time(&value, "/at"), "2026-01-02 03:04:05");
        assert_eq!(time(&value, "/c/d"), "x");
        assert!(list(&value, "tenants").is_err());
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}

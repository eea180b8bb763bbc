use arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::condition::resolve;
use crate::limits::OutputBudget;
use crate::pipeline::TransformError;

/// Why an `add_field` value is not a template; offsets are bytes into the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TemplateSyntaxError {
    #[error("unclosed ${{ at byte {at}")]
    Unclosed { at: usize },
    #[error("empty ${{}} at byte {at}")]
    Empty { at: usize },
}

/// An `add_field` value such as `"${hostname}/${app_name}"`: text with field references.
/// `$$` writes a literal `$`. A missing field or a null value renders as empty text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Field(String),
}

impl Template {
    pub(crate) fn parse(source: &str) -> Result<Template, TemplateSyntaxError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = source;
        while let Some(position) = rest.find('$') {
            text.push_str(&rest[..position]);
            rest = &rest[position..];
            if let Some(after) = rest.strip_prefix("$$") {
                text.push('$');
                rest = after;
            } else if let Some(after) = rest.strip_prefix("${") {
                let at = source.len() - rest.len();
                let end = after
                    .find('}')
                    .ok_or(TemplateSyntaxError::Unclosed { at })?;
                let field = after[..end].trim();
                if field.is_empty() {
                    return Err(TemplateSyntaxError::Empty { at });
                }
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Field(field.to_owned()));
                rest = &after[end + 1..];
            } else {
                text.push('$');
                rest = &rest[1..];
            }
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template { parts })
    }

    /// The text, when it references no field (with `$$` already unescaped).
    pub(crate) fn as_constant(&self) -> Option<String> {
        match self.parts.as_slice() {
            [] => Some(String::new()),
            [Part::Text(text)] => Some(text.clone()),
            _ => None,
        }
    }

    /// One value per row; `budget` bounds each value and the column, checked before the text
    /// is copied, since `${message}` repeated can multiply a large event.
    pub(crate) fn render(
        &self,
        batch: &RecordBatch,
        budget: &mut OutputBudget<'_>,
    ) -> Result<StringArray, TransformError> {
        let rows = batch.num_rows();
        let columns = self
            .parts
            .iter()
            .map(|part| match part {
                Part::Text(_) => Ok(None),
                Part::Field(name) => resolve(batch, name)
                    .map(|column| cast(&column, &DataType::Utf8))
                    .transpose(),
            })
            .collect::<Result<Vec<Option<ArrayRef>>, ArrowError>>()?;
        let columns: Vec<Option<&StringArray>> = columns
            .iter()
            .map(|c| c.as_ref().and_then(|c| c.as_any().downcast_ref()))
            .collect();
        let mut out = StringBuilder::with_capacity(rows, rows * 16);
        let mut line = String::new();
        for row in 0..rows {
            line.clear();
            let mut length = 0usize;
            for (part, column) in self.parts.iter().zip(&columns) {
                let piece = match (part, column) {
                    (Part::Text(text), _) => text.as_str(),
                    (Part::Field(_), Some(column)) if column.is_valid(row) => column.value(row),
                    (Part::Field(_), _) => "",
                };
                length = length.saturating_add(piece.len());
                budget.check_value(length, 0)?;
                line.push_str(piece);
            }
            budget.take(line.len(), 0)?;
            out.append_value(&line);
        }
        Ok(out.finish())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;

    use super::*;

    #[test]
    fn references_render_per_row_and_text_stays_constant() {
        let batch = RecordBatch::try_from_iter(vec![
            (
                "host",
                Arc::new(StringArray::from(vec![Some("a"), None])) as ArrayRef,
            ),
            (
                "port",
                Arc::new(Int64Array::from(vec![22, 443])) as ArrayRef,
            ),
        ])
        .unwrap();
        let template = Template::parse("${host}:${port} $$5 ${missing}!").unwrap();
        let limits = crate::limits::TransformLimits::default();
        let out = template
            .render(&batch, &mut OutputBudget::new(&limits, 0, "add_field"))
            .unwrap();
        assert_eq!(out.value(0), "a:22 $5 !");
        assert_eq!(out.value(1), ":443 $5 !");
        assert_eq!(template.as_constant(), None);
        assert_eq!(
            Template::parse("cost $5, $$x").unwrap().as_constant(),
            Some("cost $5, $x".to_owned())
        );
        assert!(
            Template::parse("${host")
                .unwrap_err()
                .to_string()
                .contains("unclosed")
        );
        assert!(
            Template::parse("${ }")
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
    }
}

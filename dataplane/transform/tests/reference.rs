//! The vectorized engine against a deliberately naive row-by-row reference: random events
//! through random pipelines must give the same columns, types and values.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use bytefreezer_transform::{Pipeline, PipelineSpec};
use proptest::prelude::*;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Text(String),
    Int(i64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Int,
}

impl Cell {
    fn text(&self) -> Option<String> {
        match self {
            Cell::Null => None,
            Cell::Text(t) => Some(t.clone()),
            Cell::Int(i) => Some(i.to_string()),
        }
    }
}

/// Columns in order, each with its type and one cell per row. The row count is kept apart from
/// the columns because rows outlive them: a pipeline may remove every column and add one back.
#[derive(Debug, Clone)]
struct Table {
    columns: Vec<(String, Kind, Vec<Cell>)>,
    rows: usize,
}

impl Table {
    fn rows(&self) -> usize {
        self.rows
    }

    fn column(&self, name: &str) -> Option<&(String, Kind, Vec<Cell>)> {
        self.columns.iter().find(|c| c.0 == name)
    }

    /// The engine's `set_column`: replace in place or append; under a mask, unmasked rows keep
    /// the old value when the types agree, its text when the new column is text, else null.
    fn set(&mut self, name: &str, kind: Kind, values: Vec<Cell>, mask: Option<&[bool]>) {
        let values = match mask {
            None => values,
            Some(mask) => {
                let old: Vec<Cell> = match self.column(name) {
                    Some((_, old_kind, old)) if *old_kind == kind => old.clone(),
                    Some((_, _, old)) if kind == Kind::Text => old
                        .iter()
                        .map(|c| c.text().map_or(Cell::Null, Cell::Text))
                        .collect(),
                    _ => vec![Cell::Null; self.rows()],
                };
                values
                    .into_iter()
                    .zip(old)
                    .zip(mask)
                    .map(|((new, old), hit)| if *hit { new } else { old })
                    .collect()
            }
        };
        match self.columns.iter_mut().find(|c| c.0 == name) {
            Some(column) => *column = (name.to_owned(), kind, values),
            None => self.columns.push((name.to_owned(), kind, values)),
        }
    }

    fn retain_rows(&mut self, keep: &[bool]) {
        self.rows = keep.iter().filter(|k| **k).count();
        for column in &mut self.columns {
            let mut row = 0;
            column.2.retain(|_| {
                row += 1;
                keep[row - 1]
            });
        }
    }
}

#[derive(Debug, Clone)]
enum Cond {
    Compare(String, &'static str, Lit),
    In(String, Vec<Lit>),
    Text(String, &'static str, String),
    Exists(String),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

#[derive(Debug, Clone)]
enum Lit {
    Text(String),
    Int(i64),
    Null,
}

impl Lit {
    fn source(&self) -> String {
        match self {
            Lit::Text(t) => format!("'{t}'"),
            Lit::Int(i) => i.to_string(),
            Lit::Null => "null".into(),
        }
    }
}

impl Cond {
    fn source(&self) -> String {
        match self {
            Cond::Compare(f, op, lit) => format!("{f} {op} {}", lit.source()),
            Cond::In(f, lits) => format!(
                "{f} in [{}]",
                lits.iter().map(Lit::source).collect::<Vec<_>>().join(", ")
            ),
            Cond::Text(f, op, needle) => format!("{f} {op} '{needle}'"),
            Cond::Exists(f) => format!("exists({f})"),
            Cond::Not(inner) => format!("!({})", inner.source()),
            Cond::And(a, b) => format!("({}) && ({})", a.source(), b.source()),
            Cond::Or(a, b) => format!("({}) or ({})", a.source(), b.source()),
        }
    }

    fn holds(&self, table: &Table, row: usize) -> bool {
        let cell = |field: &str| table.column(field).map(|c| (c.1, c.2[row].clone()));
        match self {
            Cond::Compare(field, op, lit) => compare(cell(field), op, lit),
            Cond::In(field, lits) => lits.iter().any(|lit| compare(cell(field), "==", lit)),
            Cond::Text(field, op, needle) => match cell(field).and_then(|(_, c)| c.text()) {
                Some(text) => match *op {
                    "contains" => text.contains(needle.as_str()),
                    "starts_with" => text.starts_with(needle.as_str()),
                    _ => text.ends_with(needle.as_str()),
                },
                None => false,
            },
            Cond::Exists(field) => cell(field).is_some_and(|(_, c)| c != Cell::Null),
            Cond::Not(inner) => !inner.holds(table, row),
            Cond::And(a, b) => a.holds(table, row) && b.holds(table, row),
            Cond::Or(a, b) => a.holds(table, row) || b.holds(table, row),
        }
    }
}

/// The documented comparison rules: a missing field or a null never matches except `== null`;
/// text literals compare text; numbers compare numerically (text that is no number never matches).
fn compare(cell: Option<(Kind, Cell)>, op: &str, lit: &Lit) -> bool {
    let Some((kind, cell)) = cell else {
        return matches!(lit, Lit::Null) && op == "==";
    };
    if let Lit::Null = lit {
        return (cell == Cell::Null) == (op == "==");
    }
    let ordering = match (lit, &cell) {
        (_, Cell::Null) => return false,
        (Lit::Text(t), cell) => cell.text().map(|c| c.as_str().cmp(t.as_str())),
        (Lit::Int(i), Cell::Int(c)) if kind == Kind::Int => Some(c.cmp(i)),
        (Lit::Int(i), cell) => cell
            .text()
            .and_then(|t| t.parse::<f64>().ok())
            .and_then(|c| c.partial_cmp(&(*i as f64))),
        (Lit::Null, _) => unreachable!(),
    };
    let Some(ordering) = ordering else {
        return false;
    };
    match op {
        "==" => ordering.is_eq(),
        "!=" => ordering.is_ne(),
        "<" => ordering.is_lt(),
        "<=" => ordering.is_le(),
        ">" => ordering.is_gt(),
        _ => ordering.is_ge(),
    }
}

#[derive(Debug, Clone)]
enum Filter {
    Rename(String, String),
    Copy(String, String, Option<Cond>),
    AddText(String, String, Option<Cond>),
    AddInt(String, i64, Option<Cond>),
    AddTemplate(String, String, String, Option<Cond>),
    Remove(String),
    Drop(Cond, Option<Cond>),
    Keep(Cond, Option<Cond>),
    Case(&'static str, String, Option<Cond>),
}

impl Filter {
    fn spec(&self) -> Value {
        let with = |kind: &str, config: Value, condition: &Option<Cond>| {
            let mut filter = json!({ "type": kind, "config": config });
            if let Some(condition) = condition {
                filter["condition"] = json!(condition.source());
            }
            filter
        };
        match self {
            Filter::Rename(from, to) => {
                with("rename_field", json!({"from": from, "to": to}), &None)
            }
            Filter::Copy(from, to, c) => with("copy_field", json!({"from": from, "to": to}), c),
            Filter::AddText(field, value, c) => {
                with("add_field", json!({"field": field, "value": value}), c)
            }
            Filter::AddInt(field, value, c) => {
                with("add_field", json!({"field": field, "value": value}), c)
            }
            Filter::AddTemplate(field, a, b, c) => with(
                "add_field",
                json!({"field": field, "value": format!("${{{a}}}/${{{b}}}")}),
                c,
            ),
            Filter::Remove(field) => with("remove_field", json!({"field": field}), &None),
            Filter::Drop(cond, c) => with("drop", json!({"condition": cond.source()}), c),
            Filter::Keep(cond, c) => with("keep", json!({"condition": cond.source()}), c),
            Filter::Case(kind, field, c) => with(kind, json!({"field": field}), c),
        }
    }

    fn apply(&self, table: &mut Table) {
        let mask = |condition: &Option<Cond>, table: &Table| {
            condition.as_ref().map(|c| {
                (0..table.rows())
                    .map(|r| c.holds(table, r))
                    .collect::<Vec<_>>()
            })
        };
        match self {
            Filter::Rename(from, to) => {
                if table.column(from).is_none() || from == to {
                    return;
                }
                table.columns.retain(|c| &c.0 != to);
                if let Some(column) = table.columns.iter_mut().find(|c| &c.0 == from) {
                    column.0 = to.clone();
                }
            }
            Filter::Copy(from, to, c) => {
                let Some((_, kind, values)) = table.column(from).cloned() else {
                    return;
                };
                let mask = mask(c, table);
                table.set(to, kind, values, mask.as_deref());
            }
            Filter::AddText(field, value, c) => {
                let mask = mask(c, table);
                let values = vec![Cell::Text(value.clone()); table.rows()];
                table.set(field, Kind::Text, values, mask.as_deref());
            }
            Filter::AddInt(field, value, c) => {
                let mask = mask(c, table);
                let values = vec![Cell::Int(*value); table.rows()];
                table.set(field, Kind::Int, values, mask.as_deref());
            }
            Filter::AddTemplate(field, a, b, c) => {
                let mask = mask(c, table);
                let part = |name: &str, row: usize| {
                    table
                        .column(name)
                        .and_then(|col| col.2[row].text())
                        .unwrap_or_default()
                };
                let values = (0..table.rows())
                    .map(|r| Cell::Text(format!("{}/{}", part(a, r), part(b, r))))
                    .collect();
                table.set(field, Kind::Text, values, mask.as_deref());
            }
            Filter::Remove(field) => table.columns.retain(|c| &c.0 != field),
            Filter::Drop(cond, c) => {
                let mask = mask(c, table);
                let keep: Vec<bool> = (0..table.rows())
                    .map(|r| !(cond.holds(table, r) && mask.as_ref().is_none_or(|m| m[r])))
                    .collect();
                table.retain_rows(&keep);
            }
            Filter::Keep(cond, c) => {
                let mask = mask(c, table);
                let keep: Vec<bool> = (0..table.rows())
                    .map(|r| cond.holds(table, r) || mask.as_ref().is_some_and(|m| !m[r]))
                    .collect();
                table.retain_rows(&keep);
            }
            Filter::Case(kind, field, c) => {
                let Some((_, _, values)) = table.column(field).cloned() else {
                    return;
                };
                let mask = mask(c, table);
                let values = values
                    .iter()
                    .map(|cell| match cell.text() {
                        None => Cell::Null,
                        Some(t) => Cell::Text(match *kind {
                            "lowercase" => t.to_lowercase(),
                            "uppercase" => t.to_uppercase(),
                            _ => t.trim().to_owned(),
                        }),
                    })
                    .collect();
                table.set(field, Kind::Text, values, mask.as_deref());
            }
        }
    }
}

const NAMES: &[&str] = &["action", "port", "host", "user", "extra"];
const WORDS: &[&str] = &[
    "deny",
    "allow",
    " Mixed Case ",
    "22",
    "x-1",
    "",
    "Ärger",
    "host-7",
];

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(NAMES).prop_map(str::to_owned)
}

fn word() -> impl Strategy<Value = String> {
    prop::sample::select(WORDS).prop_map(str::to_owned)
}

fn literal() -> impl Strategy<Value = Lit> {
    prop_oneof![
        word().prop_map(Lit::Text),
        (-5i64..600).prop_map(Lit::Int),
        Just(Lit::Null),
    ]
}

fn condition() -> impl Strategy<Value = Cond> {
    let leaf = prop_oneof![
        (
            name(),
            prop::sample::select(&["==", "!=", "<", "<=", ">", ">="][..]),
            literal()
        )
            .prop_map(|(f, op, lit)| {
                // Null only compares with == and != (the parser refuses the rest).
                let op = match (&lit, op) {
                    (Lit::Null, "==" | "<=" | ">=") => "==",
                    (Lit::Null, _) => "!=",
                    _ => op,
                };
                Cond::Compare(f, op, lit)
            }),
        (name(), prop::collection::vec(literal(), 1..4)).prop_map(|(f, l)| Cond::In(f, l)),
        (
            name(),
            prop::sample::select(&["contains", "starts_with", "ends_with"][..]),
            prop::sample::select(&["e", "de", "x", "2", "Ä", "os"][..])
        )
            .prop_map(|(f, op, n)| Cond::Text(f, op, n.to_owned())),
        name().prop_map(Cond::Exists),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| Cond::Not(Box::new(c))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Cond::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn filter() -> impl Strategy<Value = Filter> {
    let maybe = || prop::option::weighted(0.4, condition());
    prop_oneof![
        (name(), name()).prop_map(|(a, b)| Filter::Rename(a, b)),
        (name(), name(), maybe()).prop_map(|(a, b, c)| Filter::Copy(a, b, c)),
        (name(), word(), maybe()).prop_map(|(f, v, c)| Filter::AddText(f, v, c)),
        (name(), -3i64..500, maybe()).prop_map(|(f, v, c)| Filter::AddInt(f, v, c)),
        (name(), name(), name(), maybe()).prop_map(|(f, a, b, c)| Filter::AddTemplate(f, a, b, c)),
        name().prop_map(Filter::Remove),
        (condition(), maybe()).prop_map(|(a, c)| Filter::Drop(a, c)),
        (condition(), maybe()).prop_map(|(a, c)| Filter::Keep(a, c)),
        (
            prop::sample::select(&["lowercase", "uppercase", "trim"][..]),
            name(),
            maybe()
        )
            .prop_map(|(k, f, c)| Filter::Case(k, f, c)),
    ]
}

type Event = (Option<String>, Option<i64>, Option<String>, Option<String>);

fn events() -> impl Strategy<Value = Table> {
    let text = || prop::option::weighted(0.85, word());
    prop::collection::vec(
        (
            text(),
            prop::option::weighted(0.85, 0i64..600),
            text(),
            text(),
        ),
        0..40,
    )
    .prop_map(|rows| {
        let column = |f: &dyn Fn(&Event) -> Cell| rows.iter().map(f).collect::<Vec<_>>();
        let text = |v: &Option<String>| v.clone().map_or(Cell::Null, Cell::Text);
        Table {
            rows: rows.len(),
            columns: vec![
                ("action".into(), Kind::Text, column(&|r| text(&r.0))),
                (
                    "port".into(),
                    Kind::Int,
                    column(&|r| r.1.map_or(Cell::Null, Cell::Int)),
                ),
                ("host".into(), Kind::Text, column(&|r| text(&r.2))),
                ("user".into(), Kind::Text, column(&|r| text(&r.3))),
            ],
        }
    })
}

fn to_batch(table: &Table) -> RecordBatch {
    RecordBatch::try_from_iter(table.columns.iter().map(|(name, kind, cells)| {
        let array: ArrayRef = match kind {
            Kind::Int => Arc::new(Int64Array::from(
                cells
                    .iter()
                    .map(|c| match c {
                        Cell::Int(i) => Some(*i),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            )),
            Kind::Text => Arc::new(StringArray::from(
                cells.iter().map(Cell::text).collect::<Vec<_>>(),
            )),
        };
        (name.clone(), array)
    }))
    .unwrap()
}

/// (name, type, cells as text) per column.
fn observed(batch: &RecordBatch) -> Vec<(String, Kind, Vec<Option<String>>)> {
    batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            let kind = match field.data_type() {
                DataType::Int64 => Kind::Int,
                DataType::Utf8 => Kind::Text,
                other => panic!("unexpected type {other} for {}", field.name()),
            };
            let text = arrow::compute::cast(column, &DataType::Utf8).unwrap();
            let text = text.as_string::<i32>();
            (
                field.name().clone(),
                kind,
                (0..text.len())
                    .map(|i| text.is_valid(i).then(|| text.value(i).to_owned()))
                    .collect(),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn vectorized_engine_matches_row_by_row_reference(
        table in events(),
        filters in prop::collection::vec(filter(), 1..7),
    ) {
        let spec: PipelineSpec = serde_json::from_value(
            json!({ "filters": filters.iter().map(Filter::spec).collect::<Vec<_>>() }),
        ).unwrap();
        let pipeline = Pipeline::compile(&spec)
            .unwrap_or_else(|e| panic!("generated pipeline did not compile: {e}\n{spec:?}"));
        let out = pipeline.run(to_batch(&table)).unwrap();
        let mut expected = table;
        for filter in &filters {
            filter.apply(&mut expected);
        }
        prop_assert_eq!(out.num_rows(), expected.rows(), "pipeline: {}", serde_json::to_string(&spec).unwrap());
        let expected: Vec<_> = expected
            .columns
            .iter()
            .map(|(name, kind, cells)| (name.clone(), *kind, cells.iter().map(Cell::text).collect::<Vec<_>>()))
            .collect();
        prop_assert_eq!(observed(&out), expected, "pipeline: {}", serde_json::to_string(&spec).unwrap());
    }
}

/// Found by the property above: rows outlive their columns, so a pipeline that removes every
/// field and adds one back yields one row per input row, each with the new field.
#[test]
fn removing_every_field_keeps_the_rows_for_fields_added_after() {
    let input = RecordBatch::try_from_iter(vec![
        (
            "action",
            Arc::new(StringArray::from(vec![None::<&str>, Some("allow")])) as ArrayRef,
        ),
        (
            "port",
            Arc::new(Int64Array::from(vec![Some(22), None])) as ArrayRef,
        ),
    ])
    .unwrap();
    let spec: PipelineSpec = serde_json::from_value(json!({ "filters": [
        { "type": "remove_field", "config": { "field": "action" } },
        { "type": "remove_field", "config": { "field": "port" } },
        { "type": "add_field", "config": { "field": "action", "value": "deny" } },
    ]}))
    .unwrap();
    let out = Pipeline::compile(&spec).unwrap().run(input).unwrap();
    assert_eq!(out.num_rows(), 2);
    assert_eq!(
        observed(&out),
        vec![(
            "action".to_owned(),
            Kind::Text,
            vec![Some("deny".to_owned()), Some("deny".to_owned())]
        )]
    );
}

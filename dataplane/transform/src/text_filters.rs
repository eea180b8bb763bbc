//! Per-value text functions behind the `mask`, `hash`, `regex_replace`, `regex_extract` and
//! `sample` filters. Each maps a text column to a new one; nulls stay null.

use arrow::array::{Array, StringArray, StringBuilder};
use hmac::{Hmac, Mac};
use regex::Regex;
use sha2::{Digest, Sha256};

use crate::limits::OutputBudget;
use crate::pipeline::TransformError;

/// Keeps `prefix` leading and `suffix` trailing characters and replaces the rest with `*`.
pub fn mask(values: &StringArray, prefix: usize, suffix: usize) -> StringArray {
    values
        .iter()
        .map(|value| {
            value.map(|text| {
                let count = text.chars().count();
                text.chars()
                    .enumerate()
                    .map(|(i, c)| {
                        if i < prefix || i + suffix >= count {
                            c
                        } else {
                            '*'
                        }
                    })
                    .collect::<String>()
            })
        })
        .collect()
}

/// Hex SHA-256, or HMAC-SHA-256 with `key`, so values can be joined on without being readable.
pub fn hash(values: &StringArray, key: Option<&[u8]>) -> StringArray {
    values
        .iter()
        .map(|value| {
            value.map(|text| match key {
                Some(key) => match Hmac::<Sha256>::new_from_slice(key) {
                    Ok(mut mac) => {
                        mac.update(text.as_bytes());
                        hex::encode(mac.finalize().into_bytes())
                    }
                    Err(_) => String::new(),
                },
                None => hex::encode(Sha256::digest(text.as_bytes())),
            })
        })
        .collect()
}

/// A `regex_replace` replacement, parsed once with the `regex` crate's syntax (`$1`, `$name`,
/// `${name}`, `$$`), so the length of each expansion is known before it is written.
#[derive(Debug, Clone)]
pub struct Replacement {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Index(usize),
    Name(String),
}

impl Replacement {
    pub fn parse(source: &str) -> Replacement {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = source;
        while let Some(position) = rest.find('$') {
            text.push_str(&rest[..position]);
            rest = &rest[position + 1..];
            let (name, after) = if let Some(after) = rest.strip_prefix('$') {
                text.push('$');
                rest = after;
                continue;
            } else if let Some(braced) = rest.strip_prefix('{') {
                match braced.find('}') {
                    Some(end) => (&braced[..end], &braced[end + 1..]),
                    None => ("", rest),
                }
            } else {
                let end = rest
                    .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
                    .unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            };
            if name.is_empty() {
                text.push('$');
                continue;
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(match name.parse::<usize>() {
                Ok(index) => Piece::Index(index),
                Err(_) => Piece::Name(name.to_owned()),
            });
            rest = after;
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Replacement { pieces }
    }

    fn group<'t>(piece: &Piece, captures: &regex::Captures<'t>) -> &'t str {
        match piece {
            Piece::Index(index) => captures.get(*index).map_or("", |m| m.as_str()),
            Piece::Name(name) => captures.name(name).map_or("", |m| m.as_str()),
            Piece::Text(_) => "",
        }
    }

    fn expanded_len(&self, captures: &regex::Captures<'_>) -> usize {
        self.pieces
            .iter()
            .map(|piece| match piece {
                Piece::Text(text) => text.len(),
                group => Replacement::group(group, captures).len(),
            })
            .fold(0usize, usize::saturating_add)
    }

    fn expand(&self, captures: &regex::Captures<'_>, out: &mut String) {
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                group => out.push_str(Replacement::group(group, captures)),
            }
        }
    }
}

/// Every match of `pattern` replaced, each value and the column bounded by `budget`: the size
/// of a result is computed before it is built, so `(?s)(.*)` → `$1$1` fails instead of
/// doubling a megabyte event until memory runs out.
pub(crate) fn regex_replace(
    values: &StringArray,
    pattern: &Regex,
    replacement: &Replacement,
    budget: &mut OutputBudget<'_>,
) -> Result<StringArray, TransformError> {
    let mut out = StringBuilder::with_capacity(values.len(), values.value_data().len());
    let mut line = String::new();
    for value in values.iter() {
        let Some(text) = value else {
            out.append_null();
            continue;
        };
        line.clear();
        let mut last = 0;
        let mut length = 0usize;
        for captures in pattern.captures_iter(text) {
            let Some(whole) = captures.get(0) else {
                continue;
            };
            length = length
                .saturating_add(whole.start() - last)
                .saturating_add(replacement.expanded_len(&captures));
            budget.check_value(length, text.len())?;
            line.push_str(&text[last..whole.start()]);
            replacement.expand(&captures, &mut line);
            last = whole.end();
        }
        line.push_str(&text[last..]);
        budget.take(line.len(), text.len())?;
        out.append_value(&line);
    }
    Ok(out.finish())
}

/// One column per named group of `pattern`, null where the value does not match.
pub fn regex_extract(values: &StringArray, pattern: &Regex) -> Vec<(String, StringArray)> {
    pattern
        .capture_names()
        .flatten()
        .map(|group| {
            let column: StringArray = values
                .iter()
                .map(|value| {
                    value
                        .and_then(|text| pattern.captures(text))
                        .and_then(|captures| captures.name(group).map(|m| m.as_str().to_owned()))
                })
                .collect();
            (group.to_owned(), column)
        })
        .collect()
}

/// Whether a row with this key is in a `rate` sample: the same key always gives the same answer.
pub fn in_sample(key: &[u8], rate: f64) -> bool {
    let digest = Sha256::digest(key);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) as f64 / u64::MAX as f64) < rate
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::TransformLimits;

    fn strings(array: &StringArray) -> Vec<Option<&str>> {
        array.iter().collect()
    }

    #[test]
    fn mask_hash_and_regex() {
        let values = StringArray::from(vec![Some("4111111111111111"), None, Some("ab")]);
        assert_eq!(
            strings(&mask(&values, 0, 4)),
            [Some("************1111"), None, Some("ab")]
        );
        let hashed = hash(&StringArray::from(vec!["abc"]), None);
        assert_eq!(
            hashed.value(0),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let keyed = hash(&StringArray::from(vec!["abc"]), Some(b"key"));
        assert_ne!(keyed.value(0), hashed.value(0));
        assert_eq!(keyed.value(0).len(), 64);
        let pattern = Regex::new(r"\d+").unwrap();
        let limits = TransformLimits::default();
        let mut budget = OutputBudget::new(&limits, 0, "regex_replace");
        assert_eq!(
            strings(
                &regex_replace(
                    &StringArray::from(vec![Some("a1b22"), None]),
                    &pattern,
                    &Replacement::parse("#"),
                    &mut budget
                )
                .unwrap()
            ),
            [Some("a#b#"), None]
        );
        let pattern = Regex::new(r"user=(?P<user>\w+) port=(?P<port>\d+)").unwrap();
        let columns = regex_extract(
            &StringArray::from(vec![Some("user=bob port=22"), Some("nothing"), None]),
            &pattern,
        );
        assert_eq!(columns[0].0, "user");
        assert_eq!(strings(&columns[0].1), [Some("bob"), None, None]);
        assert_eq!(strings(&columns[1].1), [Some("22"), None, None]);
    }

    #[test]
    fn replacements_expand_like_the_regex_crate() {
        let pattern = Regex::new(r"(?P<user>\w+)@(\w+)").unwrap();
        let limits = TransformLimits::default();
        for replacement in [
            "$2:$user", "${2}x", "$$1", "$1a", "${user}_", "$", "a$", "${x", "$9", "$ x",
        ] {
            let values = StringArray::from(vec!["bob@host and eve@box"]);
            let mut budget = OutputBudget::new(&limits, 0, "regex_replace");
            let ours = regex_replace(
                &values,
                &pattern,
                &Replacement::parse(replacement),
                &mut budget,
            )
            .unwrap();
            let theirs = pattern.replace_all(values.value(0), replacement);
            assert_eq!(ours.value(0), theirs, "{replacement:?}");
        }
    }

    #[test]
    fn a_doubling_replacement_stops_at_the_value_limit() {
        let pattern = Regex::new(r"(?s)(.*)").unwrap();
        let limits = TransformLimits {
            max_value_bytes: 1000,
            ..TransformLimits::default()
        };
        let event = "x".repeat(600);
        let values = StringArray::from(vec![event.as_str()]);
        let mut budget = OutputBudget::new(&limits, 3, "regex_replace");
        let error = regex_replace(&values, &pattern, &Replacement::parse("$1$1"), &mut budget)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("filter 3") && error.contains("max_value_bytes"),
            "{error}"
        );
        // Not growing is always allowed, even past the limit.
        let big = "y".repeat(2000);
        let values = StringArray::from(vec![big.as_str()]);
        let mut budget = OutputBudget::new(&limits, 3, "regex_replace");
        let same =
            regex_replace(&values, &pattern, &Replacement::parse("$1"), &mut budget).unwrap();
        assert_eq!(same.value(0).len(), 2000);
        let column_limits = TransformLimits {
            max_column_bytes: 1500,
            ..TransformLimits::default()
        };
        let values = StringArray::from(vec![event.as_str(), event.as_str(), event.as_str()]);
        let mut budget = OutputBudget::new(&column_limits, 0, "regex_replace");
        let error = regex_replace(&values, &pattern, &Replacement::parse("$1"), &mut budget)
            .unwrap_err()
            .to_string();
        assert!(error.contains("max_column_bytes"), "{error}");
    }

    #[test]
    fn sampling_is_deterministic_and_close_to_the_rate() {
        let kept = (0..10_000)
            .filter(|i| in_sample(format!("key-{i}").as_bytes(), 0.1))
            .count();
        assert!((800..1200).contains(&kept), "{kept}");
        assert_eq!(in_sample(b"x", 0.5), in_sample(b"x", 0.5));
        assert!(!in_sample(b"x", 0.0) && in_sample(b"x", 1.0));
    }
}

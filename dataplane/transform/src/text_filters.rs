//! Per-value text functions behind the `mask`, `hash`, `regex_replace`, `regex_extract` and
//! `sample` filters. Each maps a text column to a new one; nulls stay null.

use arrow::array::StringArray;
use hmac::{Hmac, Mac};
use regex::Regex;
use sha2::{Digest, Sha256};

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

pub fn regex_replace(values: &StringArray, pattern: &Regex, replacement: &str) -> StringArray {
    values
        .iter()
        .map(|value| value.map(|text| pattern.replace_all(text, replacement).into_owned()))
        .collect()
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
        assert_eq!(
            strings(&regex_replace(
                &StringArray::from(vec!["a1b22"]),
                &pattern,
                "#"
            )),
            [Some("a#b#")]
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
    fn sampling_is_deterministic_and_close_to_the_rate() {
        let kept = (0..10_000)
            .filter(|i| in_sample(format!("key-{i}").as_bytes(), 0.1))
            .count();
        assert!((800..1200).contains(&kept), "{kept}");
        assert_eq!(in_sample(b"x", 0.5), in_sample(b"x", 0.5));
        assert!(!in_sample(b"x", 0.0) && in_sample(b"x", 1.0));
    }
}

/// Calls `on_pair` for every `key=value` pair in `text`. Keys are `[A-Za-z_][A-Za-z0-9_.-]*`
/// and start the text or follow whitespace; values run to the next whitespace or are
/// double-quoted with `\"` and `\\` escapes. Check Point's `[key:"value"; key:"value"]` form
/// is read too: a key, a colon and a quoted value (a `[` may open the first).
pub fn scan_pairs<'a>(text: &'a str, mut on_pair: impl FnMut(&'a str, Value<'a>)) {
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        while index < bytes.len() && bytes[index].is_ascii_whitespace() {
            index += 1;
        }
        let word_start = index;
        if bytes.get(index) == Some(&b'[') {
            index += 1;
        }
        let key_start = index;
        if index < bytes.len() && (bytes[index].is_ascii_alphabetic() || bytes[index] == b'_') {
            index += 1;
            while index < bytes.len()
                && (bytes[index].is_ascii_alphanumeric()
                    || matches!(bytes[index], b'_' | b'.' | b'-'))
            {
                index += 1;
            }
        }
        let bracketed = key_start > word_start;
        let is_pair = match bytes.get(index) {
            Some(b'=') => !bracketed,
            Some(b':') => bytes.get(index + 1) == Some(&b'"'),
            _ => false,
        };
        if index == key_start || !is_pair {
            // Not a pair: skip the word.
            while index < bytes.len() && !bytes[index].is_ascii_whitespace() {
                index += 1;
            }
            continue;
        }
        let key = &text[key_start..index];
        index += 1;
        if bytes.get(index) == Some(&b'"') {
            index += 1;
            let value_start = index;
            let mut escaped = false;
            while index < bytes.len() && bytes[index] != b'"' {
                escaped |= bytes[index] == b'\\';
                index += if bytes[index] == b'\\' { 2 } else { 1 };
            }
            let value_end = index.min(bytes.len());
            index = (index + 1).min(bytes.len());
            let raw = &text[value_start..value_end];
            on_pair(
                key,
                if escaped {
                    Value::Escaped(raw)
                } else {
                    Value::Plain(raw)
                },
            );
        } else {
            let value_start = index;
            while index < bytes.len() && !bytes[index].is_ascii_whitespace() {
                index += 1;
            }
            on_pair(key, Value::Plain(&text[value_start..index]));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Plain(&'a str),
    /// A quoted value that contains escapes; see [`unescape`].
    Escaped(&'a str),
}

pub fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        scan_pairs(text, |key, value| {
            let value = match value {
                Value::Plain(v) => v.to_owned(),
                Value::Escaped(v) => unescape(v),
            };
            out.push((key.to_owned(), value));
        });
        out
    }

    #[test]
    fn bare_and_quoted_values() {
        assert_eq!(
            pairs(r#"action=deny source_ip=10.0.0.1 msg="hello \"world\"" x"#),
            vec![
                ("action".into(), "deny".into()),
                ("source_ip".into(), "10.0.0.1".into()),
                ("msg".into(), "hello \"world\"".into()),
            ]
        );
        assert!(pairs("no pairs here, 1=2 =x").is_empty());
        assert_eq!(
            pairs("a= b=\"unterminated"),
            vec![("a".into(), "".into()), ("b".into(), "unterminated".into())]
        );
        assert_eq!(pairs("word:x=1"), vec![]);
        assert_eq!(pairs("[x=1] time:12:00"), vec![]);
    }

    #[test]
    fn check_point_fields() {
        assert_eq!(
            pairs(r#"[action:"Accept"; ifdir:"inbound"; origin:"192.0.2.1"; note:"a \"b\""]"#),
            vec![
                ("action".into(), "Accept".into()),
                ("ifdir".into(), "inbound".into()),
                ("origin".into(), "192.0.2.1".into()),
                ("note".into(), "a \"b\"".into()),
            ]
        );
    }
}

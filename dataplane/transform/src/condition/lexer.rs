use super::parser::ConditionError;

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Ident(String),
    Str(String),
    Number(f64, bool),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Op(&'static str),
}

/// Splits a condition into tokens; positions in errors are byte offsets into the text.
pub fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, ConditionError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        let start = index;
        let byte = bytes[index];
        if byte.is_ascii_whitespace() {
            index += 1;
            continue;
        }
        let two = text.get(index..index + 2).unwrap_or("");
        let token = match (byte, two) {
            (_, "==" | "!=" | "<=" | ">=" | "&&" | "||") => {
                index += 2;
                Token::Op(match two {
                    "==" => "==",
                    "!=" => "!=",
                    "<=" => "<=",
                    ">=" => ">=",
                    "&&" => "&&",
                    _ => "||",
                })
            }
            (b'<', _) => {
                index += 1;
                Token::Op("<")
            }
            (b'>', _) => {
                index += 1;
                Token::Op(">")
            }
            (b'!', _) => {
                index += 1;
                Token::Op("!")
            }
            (b'(', _) => {
                index += 1;
                Token::LParen
            }
            (b')', _) => {
                index += 1;
                Token::RParen
            }
            (b'[', _) => {
                index += 1;
                Token::LBracket
            }
            (b']', _) => {
                index += 1;
                Token::RBracket
            }
            (b',', _) => {
                index += 1;
                Token::Comma
            }
            (b'\'' | b'"', _) => {
                let quote = byte;
                index += 1;
                let mut value = String::new();
                loop {
                    match bytes.get(index) {
                        None => return Err(ConditionError::at(start, "string is not closed")),
                        Some(b'\\') => {
                            let escaped = text[index + 1..]
                                .chars()
                                .next()
                                .ok_or_else(|| ConditionError::at(index, "string is not closed"))?;
                            value.push(escaped);
                            index += 1 + escaped.len_utf8();
                        }
                        Some(b) if *b == quote => {
                            index += 1;
                            break;
                        }
                        Some(_) => {
                            let c = text[index..].chars().next().unwrap_or('\u{fffd}');
                            value.push(c);
                            index += c.len_utf8();
                        }
                    }
                }
                Token::Str(value)
            }
            (b'0'..=b'9' | b'-', _) => {
                index += 1;
                while index < bytes.len()
                    && (bytes[index].is_ascii_digit() || matches!(bytes[index], b'.' | b'e' | b'E'))
                {
                    index += 1;
                }
                let literal = &text[start..index];
                let number: f64 = literal.parse().map_err(|_| {
                    ConditionError::at(start, format!("{literal:?} is not a number"))
                })?;
                Token::Number(number, !literal.contains(['.', 'e', 'E']))
            }
            (b, _) if b.is_ascii_alphabetic() || b == b'_' || b == b'@' => {
                while index < bytes.len()
                    && (bytes[index].is_ascii_alphanumeric()
                        || matches!(bytes[index], b'_' | b'.' | b'-' | b'@'))
                {
                    index += 1;
                }
                Token::Ident(text[start..index].to_owned())
            }
            _ => {
                return Err(ConditionError::at(
                    start,
                    format!(
                        "unexpected character {:?}",
                        text[start..].chars().next().unwrap_or(' ')
                    ),
                ));
            }
        };
        tokens.push((start, token));
    }
    Ok(tokens)
}

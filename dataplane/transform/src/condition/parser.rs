use std::net::IpAddr;

use regex::Regex;

use super::lexer::{Token, tokenize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("condition: {message} (at character {position})")]
pub struct ConditionError {
    pub position: usize,
    pub message: String,
}

impl ConditionError {
    pub(crate) fn at(position: usize, message: impl Into<String>) -> Self {
        ConditionError {
            position,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    Contains,
    StartsWith,
    EndsWith,
}

/// A network for `in cidr('10.0.0.0/8', ...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub address: IpAddr,
    pub prefix: u8,
}

impl Network {
    pub fn contains(&self, candidate: IpAddr) -> bool {
        match (self.address, candidate) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare {
        field: String,
        op: CompareOp,
        value: Literal,
    },
    In {
        field: String,
        values: Vec<Literal>,
    },
    InCidr {
        field: String,
        networks: Vec<Network>,
    },
    Text {
        field: String,
        op: TextOp,
        value: String,
    },
    Matches {
        field: String,
        regex: Regex,
    },
    Exists(String),
    /// A bare field: true where it is a true boolean.
    Truthy(String),
    Constant(bool),
}

/// A parsed condition with its source text, ready to evaluate on batches.
#[derive(Debug, Clone)]
pub struct Condition {
    pub source: String,
    pub expr: Expr,
}

pub fn parse_condition(text: &str) -> Result<Condition, ConditionError> {
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err(ConditionError::at(0, "the condition is empty"));
    }
    let mut parser = Parser {
        tokens,
        index: 0,
        end: text.len(),
    };
    let expr = parser.or()?;
    if let Some((position, token)) = parser.tokens.get(parser.index) {
        return Err(ConditionError::at(
            *position,
            format!("unexpected {token:?} after a complete condition"),
        ));
    }
    Ok(Condition {
        source: text.to_owned(),
        expr,
    })
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    index: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.index).map(|(_, token)| token)
    }

    fn position(&self) -> usize {
        self.tokens
            .get(self.index)
            .map_or(self.end, |(position, _)| *position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.index).map(|(_, token)| token.clone());
        self.index += 1;
        token
    }

    fn is_word(&self, words: &[&str]) -> bool {
        matches!(self.peek(), Some(Token::Ident(word)) if words.contains(&word.as_str()))
    }

    fn expect(&mut self, wanted: Token, what: &str) -> Result<(), ConditionError> {
        let position = self.position();
        match self.next() {
            Some(token) if token == wanted => Ok(()),
            _ => Err(ConditionError::at(position, format!("expected {what}"))),
        }
    }

    fn or(&mut self) -> Result<Expr, ConditionError> {
        let mut left = self.and()?;
        while matches!(self.peek(), Some(Token::Op("||"))) || self.is_word(&["or"]) {
            self.next();
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ConditionError> {
        let mut left = self.unary()?;
        while matches!(self.peek(), Some(Token::Op("&&"))) || self.is_word(&["and"]) {
            self.next();
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ConditionError> {
        if matches!(self.peek(), Some(Token::Op("!"))) || self.is_word(&["not"]) {
            self.next();
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, ConditionError> {
        let position = self.position();
        match self.next() {
            Some(Token::LParen) => {
                let inner = self.or()?;
                self.expect(Token::RParen, "')'")?;
                Ok(inner)
            }
            Some(Token::Ident(word)) if word == "true" || word == "false" => {
                Ok(Expr::Constant(word == "true"))
            }
            Some(Token::Ident(word)) if word == "exists" => {
                self.expect(Token::LParen, "'(' after exists")?;
                let field = self.field()?;
                self.expect(Token::RParen, "')'")?;
                Ok(Expr::Exists(field))
            }
            Some(Token::Ident(field)) => self.after_field(field),
            Some(other) => Err(ConditionError::at(
                position,
                format!("expected a field name, found {other:?}"),
            )),
            None => Err(ConditionError::at(position, "the condition ends too early")),
        }
    }

    fn field(&mut self) -> Result<String, ConditionError> {
        let position = self.position();
        match self.next() {
            Some(Token::Ident(field)) => Ok(field),
            _ => Err(ConditionError::at(position, "expected a field name")),
        }
    }

    fn after_field(&mut self, field: String) -> Result<Expr, ConditionError> {
        let position = self.position();
        let op = match self.peek() {
            Some(Token::Op("==")) => Some(CompareOp::Eq),
            Some(Token::Op("!=")) => Some(CompareOp::NotEq),
            Some(Token::Op("<")) => Some(CompareOp::Lt),
            Some(Token::Op("<=")) => Some(CompareOp::LtEq),
            Some(Token::Op(">")) => Some(CompareOp::Gt),
            Some(Token::Op(">=")) => Some(CompareOp::GtEq),
            _ => None,
        };
        if let Some(op) = op {
            self.next();
            let value = self.literal()?;
            if value == Literal::Null && !matches!(op, CompareOp::Eq | CompareOp::NotEq) {
                return Err(ConditionError::at(
                    position,
                    "null can only be compared with == or !=",
                ));
            }
            return Ok(Expr::Compare { field, op, value });
        }
        let text_op = |word: &str| match word {
            "contains" => Some(TextOp::Contains),
            "starts_with" => Some(TextOp::StartsWith),
            "ends_with" => Some(TextOp::EndsWith),
            _ => None,
        };
        match self.peek().cloned() {
            Some(Token::Ident(word)) if word == "in" => {
                self.next();
                if self.is_word(&["cidr"]) {
                    self.next();
                    return Ok(Expr::InCidr {
                        field,
                        networks: self.networks()?,
                    });
                }
                self.expect(Token::LBracket, "'[' or cidr(...) after in")?;
                let mut values = Vec::new();
                if !matches!(self.peek(), Some(Token::RBracket)) {
                    loop {
                        values.push(self.literal()?);
                        if matches!(self.peek(), Some(Token::Comma)) {
                            self.next();
                        } else {
                            break;
                        }
                    }
                }
                self.expect(Token::RBracket, "']'")?;
                Ok(Expr::In { field, values })
            }
            Some(Token::Ident(word)) if text_op(&word).is_some() => {
                self.next();
                let Some(op) = text_op(&word) else {
                    unreachable!()
                };
                match self.literal()? {
                    Literal::Str(value) => Ok(Expr::Text { field, op, value }),
                    _ => Err(ConditionError::at(
                        position,
                        format!("{word} needs a string"),
                    )),
                }
            }
            Some(Token::Ident(word)) if word == "matches" => {
                self.next();
                let pattern_position = self.position();
                match self.literal()? {
                    Literal::Str(pattern) => Regex::new(&pattern)
                        .map(|regex| Expr::Matches { field, regex })
                        .map_err(|e| {
                            ConditionError::at(
                                pattern_position,
                                format!("invalid regular expression: {e}"),
                            )
                        }),
                    _ => Err(ConditionError::at(
                        position,
                        "matches needs a string with a regular expression",
                    )),
                }
            }
            _ => Ok(Expr::Truthy(field)),
        }
    }

    fn networks(&mut self) -> Result<Vec<Network>, ConditionError> {
        self.expect(Token::LParen, "'(' after cidr")?;
        let mut networks = Vec::new();
        loop {
            let position = self.position();
            let Literal::Str(text) = self.literal()? else {
                return Err(ConditionError::at(
                    position,
                    "cidr() takes strings like '10.0.0.0/8'",
                ));
            };
            networks.push(parse_network(&text).ok_or_else(|| {
                ConditionError::at(
                    position,
                    format!("{text:?} is not a network like '10.0.0.0/8'"),
                )
            })?);
            if matches!(self.peek(), Some(Token::Comma)) {
                self.next();
            } else {
                break;
            }
        }
        self.expect(Token::RParen, "')'")?;
        Ok(networks)
    }

    fn literal(&mut self) -> Result<Literal, ConditionError> {
        let position = self.position();
        match self.next() {
            Some(Token::Str(value)) => Ok(Literal::Str(value)),
            Some(Token::Number(value, true)) if value.abs() < 9.0e15 => {
                Ok(Literal::Int(value as i64))
            }
            Some(Token::Number(value, _)) => Ok(Literal::Float(value)),
            Some(Token::Ident(word)) if word == "true" || word == "false" => {
                Ok(Literal::Bool(word == "true"))
            }
            Some(Token::Ident(word)) if word == "null" => Ok(Literal::Null),
            Some(Token::Ident(word)) => Err(ConditionError::at(
                position,
                format!("expected a value, found the name {word:?}: quote text as 'text'"),
            )),
            _ => Err(ConditionError::at(position, "expected a value")),
        }
    }
}

fn parse_network(text: &str) -> Option<Network> {
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address.parse::<IpAddr>().ok()?, prefix.parse::<u8>().ok()?),
        None => {
            let address = text.parse::<IpAddr>().ok()?;
            (address, if address.is_ipv4() { 32 } else { 128 })
        }
    };
    let limit = if address.is_ipv4() { 32 } else { 128 };
    (prefix <= limit).then_some(Network { address, prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_examples() {
        for text in [
            "action == 'deny'",
            "action == 'deny' && source_ip in cidr('10.0.0.0/8')",
            "not (severity <= 3 or app_name in ['sshd', \"sudo\"])",
            "exists(user) and message contains 'failed' || msg matches '^err[0-9]+'",
            "bytes_sent > 1e6 and dest_port != 443",
            "user == null",
            "ok",
        ] {
            parse_condition(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    #[test]
    fn errors_point_at_the_problem() {
        let cases = [
            ("", 0, "empty"),
            ("action ==", 9, "expected a value"),
            ("action == deny", 10, "quote text"),
            ("(a == 1", 7, "')'"),
            ("a == 'x' b", 9, "unexpected"),
            ("ip in cidr('10.0.0.0/33')", 11, "not a network"),
            ("m matches '('", 10, "invalid regular expression"),
            ("a == 'open", 5, "not closed"),
            ("a < null", 2, "null"),
        ];
        for (text, position, message) in cases {
            let error = parse_condition(text).unwrap_err();
            assert_eq!(error.position, position, "{text}: {error}");
            assert!(error.message.contains(message), "{text}: {error}");
        }
    }

    #[test]
    fn networks_match_their_members_only() {
        let network = parse_network("10.0.0.0/8").unwrap();
        assert!(network.contains("10.255.1.2".parse().unwrap()));
        assert!(!network.contains("11.0.0.1".parse().unwrap()));
        assert!(!network.contains("::1".parse().unwrap()));
        assert!(
            parse_network("2001:db8::/32")
                .unwrap()
                .contains("2001:db8::1".parse().unwrap())
        );
        assert!(
            parse_network("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
    }
}

//! `unsafe` lives in one crate, dataplane/udp (io_uring, `recvmmsg`, thread affinity), where
//! each block carries a `// SAFETY:` comment and a safe function around it. The workspace lint
//! `unsafe_code = "deny"` keeps it out of every other crate's build; this check also covers
//! what that lint does not: the fuzz crates outside the workspace, code behind a `cfg` the
//! build did not take, and an `#[allow]` slipped in somewhere.

/// The one folder whose files may hold `unsafe`.
pub const UNSAFE_HOME: &str = "dataplane/udp/";

/// Built at compile time so this file does not flag itself.
pub const KEYWORD: &str = concat!("un", "safe");

/// The 1-based numbers of the lines of a Rust file that hold the keyword as a token: in code,
/// not in a comment, a string or a character literal.
pub fn unsafe_lines(source: &str) -> Vec<usize> {
    code_only(source)
        .lines()
        .enumerate()
        .filter(|(_, line)| has_keyword(line))
        .map(|(index, _)| index + 1)
        .collect()
}

fn has_keyword(code: &str) -> bool {
    let identifier_char = |c: char| c.is_alphanumeric() || c == '_';
    code.match_indices(KEYWORD).any(|(at, _)| {
        !code[..at].ends_with(identifier_char)
            && !code[at + KEYWORD.len()..].starts_with(identifier_char)
    })
}

/// `source` with every comment, string and character literal blanked out (line breaks kept,
/// so line numbers stay true).
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(&chars, i) {
            // r"…", r#"…"#, br"…": no escapes; ends at a quote followed by as many hashes.
            i = chars[i..]
                .iter()
                .position(|&c| c == '"')
                .map_or(chars.len(), |p| i + p + 1);
            while i < chars.len() {
                let closes = chars[i] == '"'
                    && chars[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&c| c == '#')
                        .count()
                        == hashes;
                if closes {
                    i += 1 + hashes;
                    break;
                }
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
                if let Some(&c) = chars.get(i) {
                    blank(&mut out, c);
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1F600}') or a lifetime ('a), which is code.
            if next == Some('\\') {
                // Past the quote, the backslash and the escaped character, to the closing quote.
                i += 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The number of `#` of a raw string starting at `at` (`r"`, `r#"`, `br"`), if one does.
fn raw_string_start(chars: &[char], at: usize) -> Option<usize> {
    let previous_is_identifier =
        at > 0 && (chars[at - 1].is_alphanumeric() || chars[at - 1] == '_');
    if previous_is_identifier {
        return None;
    }
    let mut i = at;
    if chars.get(i) == Some(&'b') {
        i += 1;
    }
    if chars.get(i) != Some(&'r') {
        return None;
    }
    i += 1;
    let hashes = chars[i..].iter().take_while(|&&c| c == '#').count();
    (chars.get(i + hashes) == Some(&'"')).then_some(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keyword_is_found_as_a_token_in_code() {
        let source = format!(
            "fn f() {{\n    let x = {KEYWORD} {{ g() }};\n}}\n{KEYWORD} impl Send for X {{}}\npub {KEYWORD} fn h<'a>(x: &'a u8) {{}}\n"
        );
        assert_eq!(unsafe_lines(&source), [2, 4, 5]);
    }

    #[test]
    fn comments_strings_and_longer_names_are_not_code() {
        let source = format!(
            "#![forbid({KEYWORD}_code)]\nlet not_{KEYWORD} = 1;\n// {KEYWORD} here\n/* {KEYWORD}\n /* nested */ {KEYWORD} */\nlet s = \"{KEYWORD} \\\" {KEYWORD}\";\nlet r = r#\"{KEYWORD} \" {KEYWORD}\"#;\nlet help = \"first\\n\\\n    {KEYWORD} on a continued line\";\nlet c = '\"'; let q = '\\''; {KEYWORD} {{}}\n"
        );
        assert_eq!(unsafe_lines(&source), [10]);
    }
}

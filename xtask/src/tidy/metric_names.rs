//! A metric's name is the contract between the stage that exports it and everything that reads
//! it back (the reporter, the control plane's status, the benchmark, whoever scrapes
//! `/metrics`). Written as a literal in two places, one copy can change and the other silently
//! reads a series that no longer exists; so each name and its help text are written once, in
//! `bytefreezer_api::metrics`, and this check refuses a string literal that starts with a
//! metric name anywhere else in source that ships. Tests may still spell names out: what
//! `/metrics` says on the wire is what they check.

/// The one file that may spell metric names out.
pub const METRICS_HOME: &str = "controlplane/api-types/src/metrics.rs";

/// Built at compile time so this file does not flag itself.
const LITERAL_START: &str = concat!("\"bytefreezer", "_");

/// Whether the check covers a file (its path relative to the workspace root): sources under a
/// `src/` folder, but not tests, benchmarks or the metrics module itself.
pub fn applies_to(relative: &str) -> bool {
    let in_src = relative.starts_with("src/") || relative.contains("/src/");
    let in_tests = relative.starts_with("tests/")
        || relative.starts_with("benches/")
        || relative.contains("/tests/")
        || relative.contains("/benches/");
    in_src && !in_tests && relative != METRICS_HOME
}

/// The 1-based numbers of the lines of a Rust file that hold a string literal starting with a
/// metric name (or a `format!` template that builds one), up to the file's test module: a
/// `#[cfg(test)]` at the start of a line followed by a `mod`. Comment lines are skipped.
pub fn metric_name_lines(source: &str) -> Vec<usize> {
    let lines: Vec<&str> = source.lines().collect();
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if starts_test_module(&lines[index..]) {
            break;
        }
        if line.trim_start().starts_with("//") {
            continue;
        }
        if names_a_metric(line) {
            found.push(index + 1);
        }
    }
    found
}

/// `#[cfg(test)]` unindented, then (past further attributes and blank lines) a module.
fn starts_test_module(lines: &[&str]) -> bool {
    if lines
        .first()
        .is_none_or(|line| line.trim_end() != "#[cfg(test)]")
    {
        return false;
    }
    lines[1..]
        .iter()
        .map(|line| line.trim())
        .find(|line| !line.is_empty() && !line.starts_with("#["))
        .is_some_and(|item| {
            ["mod ", "pub mod ", "pub(crate) mod "]
                .iter()
                .any(|start| item.starts_with(start))
        })
}

/// A literal opening quote (not an escaped one inside another string), the prefix, then a
/// lowercase letter or a `{` of a format template.
fn names_a_metric(line: &str) -> bool {
    line.match_indices(LITERAL_START).any(|(at, _)| {
        let escaped = line[..at].ends_with('\\');
        let next = line[at + LITERAL_START.len()..].chars().next();
        !escaped && next.is_some_and(|c| c.is_ascii_lowercase() || c == '{')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `"bytefreezer_` plus `rest`, without writing the prefix out in this file.
    fn literal(rest: &str) -> String {
        format!("{LITERAL_START}{rest}")
    }

    #[test]
    fn a_name_as_a_literal_or_a_format_template_is_found() {
        let source = [
            "fn f(registry: &Registry) {".to_owned(),
            format!(
                "    registry.counter_total({});",
                literal("proxy_rows_total\"")
            ),
            format!("    let gauge = format!({});", literal("{role}_lag\"")),
            format!("    let raw = r#{};", literal("piper_x\"#")),
            "}".to_owned(),
        ]
        .join("\n");
        assert_eq!(metric_name_lines(&source), [2, 3, 4]);
    }

    #[test]
    fn comments_quoted_names_inside_help_text_and_other_words_pass() {
        let source = [
            format!("// {}", literal("proxy_rows_total\" in a comment")),
            format!("    /// {}", literal("x\"")),
            format!("const HELP: &str = \"counted in \\{}\";", literal("x\\\"")),
            "const HELP: &str = \"lost, see bytefreezer_proxy_rows_dropped_total\";".to_owned(),
            "let agent = concat!(\"bytefreezer-ctl/\", env!(\"CARGO_PKG_VERSION\"));".to_owned(),
            format!("let prefix = {};", literal("\"")),
            format!("let upper = {};", literal("X\"")),
        ]
        .join("\n");
        assert_eq!(metric_name_lines(&source), Vec::<usize>::new());
    }

    #[test]
    fn the_test_module_may_spell_names_but_a_test_only_item_may_not() {
        let source = [
            "impl Queue {".to_owned(),
            "    #[cfg(test)]".to_owned(),
            format!("    fn name() -> &'static str {{ {} }}", literal("a\"")),
            "}".to_owned(),
            "#[cfg(test)]".to_owned(),
            "#[allow(dead_code)]".to_owned(),
            "mod tests {".to_owned(),
            format!("    const NAME: &str = {};", literal("b\"")),
            "}".to_owned(),
        ]
        .join("\n");
        assert_eq!(metric_name_lines(&source), [3]);
    }

    #[test]
    fn shipped_sources_are_checked_tests_and_the_home_are_not() {
        assert!(applies_to("src/reporter.rs"));
        assert!(applies_to("dataplane/proxy/src/spool.rs"));
        assert!(applies_to("xtask/src/bench/ours.rs"));
        assert!(!applies_to(METRICS_HOME));
        assert!(!applies_to("tests/up_end_to_end.rs"));
        assert!(!applies_to("tests/support/up.rs"));
        assert!(!applies_to("dataplane/proxy/tests/proxy_delivery.rs"));
        assert!(!applies_to("benches/ingest.rs"));
        assert!(!applies_to("dataplane/schema/benches/src/x.rs"));
        assert!(!applies_to("build.rs"));
    }
}

//! Which workspace crate may depend on which is written once, in the crate graph table of
//! docs/architecture.md, and checked here against what the crates' Cargo.toml files declare, so
//! the picture in that document cannot drift from the build.
//!
//! The table has one row per crate, named by folder (`proxy` for `dataplane/proxy`,
//! `bytefreezer` for the binary in `src/`), each cell a list of `code` names:
//! - "may depend on": exactly its `[dependencies]` and `[build-dependencies]` on workspace
//!   crates; a dependency missing from the cell is refused, and so is a name the crate does not
//!   depend on (the table says what is, not what might be);
//! - "its tests may also use": exactly the workspace crates only its `[dev-dependencies]` add;
//! - "never builds": packages that must not be built for the crate even indirectly, through
//!   any normal or build dependency (`arrow` also stands for every `arrow-*` package), checked
//!   with `cargo tree`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

use super::workspace_crates::{DependencyKind, WorkspaceCrate};

pub const TABLE_FILE: &str = "docs/architecture.md";

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rule {
    pub crate_name: String,
    pub may_depend_on: BTreeSet<String>,
    pub tests_may_use: BTreeSet<String>,
    pub never_builds: Vec<String>,
}

/// The rows of the first table in `markdown` whose header starts with `crate | may depend on`.
pub fn parse_rules(markdown: &str) -> Result<Vec<Rule>> {
    let mut lines = markdown.lines().skip_while(|line| {
        let cells = cells(line);
        !(cells.len() >= 2
            && cells[0].eq_ignore_ascii_case("crate")
            && cells[1].eq_ignore_ascii_case("may depend on"))
    });
    let Some(header) = lines.next() else {
        bail!("{TABLE_FILE} has no crate graph table (a header `| crate | may depend on | …`)");
    };
    let columns = cells(header).len();
    let mut rules = Vec::new();
    for line in lines
        .skip(1)
        .take_while(|line| line.trim_start().starts_with('|'))
    {
        let row = cells(line);
        if row.len() != columns {
            bail!(
                "{TABLE_FILE}: crate graph row `{line}` has {} cells, not {columns}",
                row.len()
            );
        }
        let Some(crate_name) = code_spans(row[0]).into_iter().next() else {
            bail!("{TABLE_FILE}: crate graph row `{line}` names no `crate`");
        };
        let column = |index: usize| {
            row.get(index)
                .map(|cell| code_spans(cell))
                .unwrap_or_default()
        };
        rules.push(Rule {
            crate_name,
            may_depend_on: column(1).into_iter().collect(),
            tests_may_use: column(2).into_iter().collect(),
            never_builds: column(3),
        });
    }
    Ok(rules)
}

fn cells(line: &str) -> Vec<&str> {
    let line = line.trim();
    if !line.starts_with('|') {
        return Vec::new();
    }
    let inner = line.trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(str::trim).collect()
}

fn code_spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Where the declared graph and the table disagree.
pub fn problems(crates: &[WorkspaceCrate], rules: &[Rule]) -> Vec<String> {
    let mut problems = Vec::new();
    for rule in rules {
        if !crates.iter().any(|krate| krate.name == rule.crate_name) {
            problems.push(format!(
                "{TABLE_FILE}: the crate graph has a row for `{}`, which is no workspace crate: remove the row or correct its name",
                rule.crate_name
            ));
        }
    }
    for krate in crates {
        let Some(rule) = rules.iter().find(|rule| rule.crate_name == krate.name) else {
            problems.push(format!(
                "{TABLE_FILE}: crate `{}` ({}) has no row in the crate graph table: add one listing the workspace crates it depends on",
                krate.name,
                krate.manifest()
            ));
            continue;
        };
        let on = |kinds: &[DependencyKind]| -> BTreeSet<String> {
            krate
                .dependencies
                .iter()
                .filter(|dependency| kinds.contains(&dependency.kind))
                .filter_map(|dependency| dependency.workspace_crate.clone())
                .collect()
        };
        let built_with = on(&[DependencyKind::Normal, DependencyKind::Build]);
        let tests_add: BTreeSet<String> = on(&[DependencyKind::Dev])
            .difference(&built_with)
            .cloned()
            .collect();
        for name in built_with.difference(&rule.may_depend_on) {
            problems.push(format!(
                "{}: `{}` depends on `{name}`, which the crate graph in {TABLE_FILE} does not allow: remove the dependency, or, if the architecture changed, change the table in the same commit",
                krate.manifest(),
                krate.name
            ));
        }
        for name in rule.may_depend_on.difference(&built_with) {
            problems.push(format!(
                "{TABLE_FILE}: the crate graph says `{}` depends on `{name}`, but {} does not declare it: remove `{name}` from the row (the table lists what is)",
                krate.name,
                krate.manifest()
            ));
        }
        for name in tests_add.difference(&rule.tests_may_use) {
            if rule.may_depend_on.contains(name) {
                continue;
            }
            problems.push(format!(
                "{}: the tests of `{}` depend on `{name}` ([dev-dependencies]), which the crate graph in {TABLE_FILE} does not allow: remove it, or add it to the row's tests column in the same commit",
                krate.manifest(),
                krate.name
            ));
        }
        for name in rule.tests_may_use.difference(&tests_add) {
            problems.push(format!(
                "{TABLE_FILE}: the crate graph says the tests of `{}` use `{name}`, but {} has no such [dev-dependencies] entry beyond its [dependencies]: remove `{name}` from the tests column",
                krate.name,
                krate.manifest()
            ));
        }
    }
    problems
}

/// Builds each crate's normal and build dependency tree (`cargo tree`) and reports every
/// package its row says it never builds.
pub fn never_built_problems(
    root: &Path,
    crates: &[WorkspaceCrate],
    rules: &[Rule],
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for rule in rules.iter().filter(|rule| !rule.never_builds.is_empty()) {
        let Some(krate) = crates.iter().find(|krate| krate.name == rule.crate_name) else {
            continue;
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let stdout = crate::stdout_of(
            Command::new(cargo)
                .args(["tree", "--package", &krate.package])
                .args([
                    "--edges",
                    "normal,build",
                    "--prefix",
                    "none",
                    "--format",
                    "{p}",
                ])
                .current_dir(root),
            &format!("cargo tree --package {}", krate.package),
        )?;
        let tree = String::from_utf8_lossy(&stdout);
        for package in forbidden_packages(&tree, &rule.never_builds) {
            problems.push(format!(
                "{}: `{}` builds `{package}`, which the crate graph in {TABLE_FILE} says it never builds: find the path with `cargo tree -p {} -e normal,build -i {package}` and cut it",
                krate.manifest(),
                krate.name,
                krate.package
            ));
        }
    }
    Ok(problems)
}

/// The packages of a `cargo tree --prefix none --format {p}` listing that one of `forbidden`
/// names: the package itself or, for `arrow`, any `arrow-…` package.
pub fn forbidden_packages(tree: &str, forbidden: &[String]) -> BTreeSet<String> {
    tree.lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|package| {
            forbidden.iter().any(|name| {
                package == name
                    || package
                        .strip_prefix(name.as_str())
                        .is_some_and(|rest| rest.starts_with('-'))
            })
        })
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::workspace_crates::{from_metadata, tests::fixture};
    use super::*;

    const TABLE: &str = "\
## Crate graph

Some words.

| crate | may depend on | its tests may also use | never builds |
|---|---|---|---|
| `bytefreezer` (`src/`) | `proxy` | — | — |
| `proxy` | — | `receiver` | `arrow`, `maxminddb` |

After the table.
| crate | may depend on |
|---|---|
| `ignored` | `x` |
";

    #[test]
    fn the_table_is_read_row_by_row() {
        let rules = parse_rules(TABLE).expect("parses");
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].crate_name, "bytefreezer");
        assert_eq!(rules[0].may_depend_on, BTreeSet::from(["proxy".to_owned()]));
        assert!(rules[0].tests_may_use.is_empty());
        assert_eq!(rules[1].crate_name, "proxy");
        assert!(rules[1].may_depend_on.is_empty());
        assert_eq!(
            rules[1].tests_may_use,
            BTreeSet::from(["receiver".to_owned()])
        );
        assert_eq!(rules[1].never_builds, ["arrow", "maxminddb"]);
        assert!(parse_rules("# no table here\n| a | b |\n").is_err());
    }

    #[test]
    fn the_fixture_workspace_matches_its_table() {
        let crates = from_metadata(&fixture()).expect("crates");
        let mut rules = parse_rules(TABLE).expect("parses");
        rules[1].tests_may_use.clear();
        assert_eq!(problems(&crates, &rules), Vec::<String>::new());
    }

    #[test]
    fn a_dependency_the_table_does_not_allow_is_named_with_its_fix() {
        let crates = from_metadata(&fixture()).expect("crates");
        let mut rules = parse_rules(TABLE).expect("parses");
        rules[0].may_depend_on.clear();
        rules.push(Rule {
            crate_name: "gone".to_owned(),
            ..Rule::default()
        });
        let found = problems(&crates, &rules);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].contains("row for `gone`, which is no workspace crate"));
        assert!(found[1].starts_with(
            "Cargo.toml: `bytefreezer` depends on `proxy`, which the crate graph in docs/architecture.md does not allow"
        ));
        assert!(found[2].contains("the tests of `proxy` use `receiver`"));
    }

    #[test]
    fn a_crate_without_a_row_is_reported() {
        let crates = from_metadata(&fixture()).expect("crates");
        let rules = parse_rules(TABLE).expect("parses");
        let found = problems(&crates, &rules[..1]);
        assert!(found[0].contains("crate `proxy` (dataplane/proxy/Cargo.toml) has no row"));
    }

    #[test]
    fn forbidden_packages_match_by_name_or_family() {
        let tree = "bytefreezer-control-store v0.1.0 (/w/controlplane/store)\narrow-array v59.0.0\narrowhead v1.0.0\nserde v1.0.0 (*)\n";
        let forbidden = ["arrow".to_owned(), "serde".to_owned()];
        assert_eq!(
            forbidden_packages(tree, &forbidden),
            BTreeSet::from(["arrow-array".to_owned(), "serde".to_owned()])
        );
    }
}

//! Deliberate crashes at named points of the durability chain, for the kill harness
//! (`tests/kill_harness.rs`, `cargo xtask soak`). A signal sent from outside lands wherever the
//! process happens to be; the windows that matter most (an output written and its input not yet
//! deleted, a Parquet upload half done) are a few microseconds wide, so the harness also asks
//! the roles to abort exactly there now and then.
//!
//! `BYTEFREEZER_CRASH_POINTS="piper.output_written=0.05,packer.parquet_written=0.1"`: each named
//! point aborts the process with that probability each time it is passed. Unset (always, outside
//! the harness) a point costs one load of an empty list.

use std::sync::OnceLock;

/// The environment variable naming the points and their probabilities.
pub const CRASH_POINTS_VARIABLE: &str = "BYTEFREEZER_CRASH_POINTS";

static POINTS: OnceLock<Vec<(String, f64)>> = OnceLock::new();

fn parse(text: &str) -> Vec<(String, f64)> {
    text.split(',')
        .filter_map(|entry| {
            let (name, probability) = entry.trim().split_once('=')?;
            let probability: f64 = probability.trim().parse().ok()?;
            Some((name.trim().to_owned(), probability.clamp(0.0, 1.0)))
        })
        .collect()
}

/// Aborts the process, like a SIGKILL would stop it, when the harness armed `name` and the dice
/// say so. No destructor runs and nothing is flushed.
pub fn crash_point(name: &str) {
    let points = POINTS.get_or_init(|| {
        std::env::var(CRASH_POINTS_VARIABLE)
            .map(|text| parse(&text))
            .unwrap_or_default()
    });
    if points.is_empty() {
        return;
    }
    let armed = points
        .iter()
        .any(|(point, probability)| point == name && rand::random::<f64>() < *probability);
    if armed {
        eprintln!("crash point {name}: aborting as {CRASH_POINTS_VARIABLE} asked");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn points_are_read_with_their_probabilities_and_junk_is_ignored() {
        let points = parse("piper.output_written=0.05, packer.parquet_written = 2,broken,x=y");
        assert_eq!(
            points,
            vec![
                ("piper.output_written".to_owned(), 0.05),
                ("packer.parquet_written".to_owned(), 1.0),
            ]
        );
    }
}

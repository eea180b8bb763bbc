//! The repeated runs of one collector, summarized as the median and the spread (lowest and
//! highest), so a noisy host shows as a wide spread instead of a wrong ratio.

use super::measure::Outcome;

pub struct Runs<'a> {
    pub name: &'a str,
    pub outcomes: Vec<&'a Outcome>,
}

impl<'a> Runs<'a> {
    /// The runs of each collector, in the order collectors first appear.
    pub fn group(outcomes: &'a [Outcome]) -> Vec<Runs<'a>> {
        let mut groups: Vec<Runs<'a>> = Vec::new();
        for outcome in outcomes {
            match groups.iter_mut().find(|g| g.name == outcome.collector) {
                Some(group) => group.outcomes.push(outcome),
                None => groups.push(Runs {
                    name: &outcome.collector,
                    outcomes: vec![outcome],
                }),
            }
        }
        groups
    }

    fn values(&self, value: impl Fn(&Outcome) -> Option<f64>) -> Vec<f64> {
        let mut values: Vec<f64> = self.outcomes.iter().filter_map(|o| value(o)).collect();
        values.sort_by(f64::total_cmp);
        values
    }

    /// The median over the runs that measured `value` (the mean of the middle two for an
    /// even count).
    pub fn median(&self, value: impl Fn(&Outcome) -> Option<f64>) -> Option<f64> {
        let values = self.values(value);
        let middle = values.len() / 2;
        match values.len() {
            0 => None,
            n if n % 2 == 1 => Some(values[middle]),
            _ => Some((values[middle - 1] + values[middle]) / 2.0),
        }
    }

    /// The lowest and highest of `value` over the runs.
    pub fn spread(&self, value: impl Fn(&Outcome) -> Option<f64>) -> Option<(f64, f64)> {
        let values = self.values(value);
        Some((*values.first()?, *values.last()?))
    }

    /// True when `check` holds in every run.
    pub fn all(&self, check: impl Fn(&Outcome) -> bool) -> bool {
        self.outcomes.iter().all(|o| check(o))
    }

    pub fn version(&self) -> &str {
        self.outcomes.first().map_or("", |o| o.version.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(collector: &str, drain: Option<f64>) -> Outcome {
        Outcome {
            collector: collector.into(),
            drain_datagrams: drain,
            ..Outcome::default()
        }
    }

    #[test]
    fn groups_keep_first_seen_order_and_summarize_each_collector() {
        let outcomes = [
            outcome("ours", Some(3.0)),
            outcome("peer", Some(10.0)),
            outcome("ours", Some(1.0)),
            outcome("peer", None),
            outcome("ours", Some(2.0)),
        ];
        let groups = Runs::group(&outcomes);
        assert_eq!(
            groups.iter().map(|g| g.name).collect::<Vec<_>>(),
            ["ours", "peer"]
        );
        assert_eq!(groups[0].median(|o| o.drain_datagrams), Some(2.0));
        assert_eq!(groups[0].spread(|o| o.drain_datagrams), Some((1.0, 3.0)));
        assert_eq!(groups[1].median(|o| o.drain_datagrams), Some(10.0));
        let even = [outcome("a", Some(1.0)), outcome("a", Some(4.0))];
        assert_eq!(
            Runs::group(&even)[0].median(|o| o.drain_datagrams),
            Some(2.5)
        );
        assert_eq!(
            Runs::group(&[outcome("a", None)])[0].median(|o| o.drain_datagrams),
            None
        );
    }
}

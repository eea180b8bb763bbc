use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A monotonically increasing count, cheap to clone and to increment from any thread.
#[derive(Clone, Default, Debug)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn increment(&self, by: u64) {
        self.0.fetch_add(by, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (queue depth, spool bytes).
#[derive(Clone, Default, Debug)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    pub fn set(&self, value: i64) {
        self.0.store(value, Ordering::Relaxed);
    }
    pub fn add(&self, delta: i64) {
        self.0.fetch_add(delta, Ordering::Relaxed);
    }
    /// Adds `delta` and returns the value before, in one atomic step, so a gauge can also be
    /// the count a limit is checked against.
    pub fn fetch_add(&self, delta: i64) -> i64 {
        self.0.fetch_add(delta, Ordering::Relaxed)
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
enum Metric {
    Counter(Counter),
    Gauge(Gauge),
}

impl Metric {
    fn value(&self) -> u64 {
        match self {
            Metric::Counter(c) => c.get(),
            Metric::Gauge(g) => g.get().max(0) as u64,
        }
    }
}

struct Family {
    help: String,
    /// Rendered label set -> (the labels, the metric).
    series: BTreeMap<String, (Vec<(String, String)>, Metric)>,
}

/// Holds every metric of a process. Asking twice for the same name and labels returns the
/// same counter, so components can look their counters up instead of threading them through.
#[derive(Clone, Default)]
pub struct Registry {
    families: Arc<Mutex<BTreeMap<String, Family>>>,
    activity: crate::ActivityLog,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// The process's recent activity, shared like its counters.
    pub fn activity(&self) -> &crate::ActivityLog {
        &self.activity
    }

    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Counter {
        match self.metric(name, help, labels, || Metric::Counter(Counter::default())) {
            Metric::Counter(counter) => counter,
            Metric::Gauge(_) => panic!("metric {name} registered as a gauge and a counter"),
        }
    }

    pub fn gauge(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Gauge {
        match self.metric(name, help, labels, || Metric::Gauge(Gauge::default())) {
            Metric::Gauge(gauge) => gauge,
            Metric::Counter(_) => panic!("metric {name} registered as a counter and a gauge"),
        }
    }

    fn metric(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        make: impl FnOnce() -> Metric,
    ) -> Metric {
        let mut families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let family = families.entry(name.to_owned()).or_insert_with(|| Family {
            help: help.to_owned(),
            series: BTreeMap::new(),
        });
        family
            .series
            .entry(render_labels(labels))
            .or_insert_with(|| {
                let owned = labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect();
                (owned, make())
            })
            .1
            .clone()
    }

    /// Sum of a counter over all its label sets; 0 when absent.
    pub fn counter_total(&self, name: &str) -> u64 {
        let families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        families.get(name).map_or(0, |family| {
            family
                .series
                .values()
                .map(|(_, metric)| metric.value())
                .sum()
        })
    }

    /// A counter summed per `(tenant, dataset)` label pair; series without both labels are
    /// left out.
    pub fn counter_by_dataset(&self, name: &str) -> BTreeMap<(String, String), u64> {
        let families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = BTreeMap::new();
        let Some(family) = families.get(name) else {
            return out;
        };
        for (labels, metric) in family.series.values() {
            let label = |key: &str| {
                labels
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
            };
            if let (Some(tenant), Some(dataset)) = (label("tenant"), label("dataset")) {
                *out.entry((tenant, dataset)).or_insert(0) += metric.value();
            }
        }
        out
    }

    /// Every label set of a metric with its current value (gauges may be negative).
    pub fn series(&self, name: &str) -> Vec<(Vec<(String, String)>, i64)> {
        let families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        families.get(name).map_or_else(Vec::new, |family| {
            family
                .series
                .values()
                .map(|(labels, metric)| {
                    let value = match metric {
                        Metric::Counter(c) => i64::try_from(c.get()).unwrap_or(i64::MAX),
                        Metric::Gauge(g) => g.get(),
                    };
                    (labels.clone(), value)
                })
                .collect()
        })
    }

    /// Forgets one label set, for things that are gone (a stopped input), so neither
    /// `/metrics` nor reports keep showing them.
    pub fn remove(&self, name: &str, labels: &[(&str, &str)]) {
        let mut families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(family) = families.get_mut(name) {
            family.series.remove(&render_labels(labels));
        }
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for (name, family) in families.iter() {
            let kind = match family.series.values().next() {
                Some((_, Metric::Gauge(_))) => "gauge",
                _ => "counter",
            };
            let _ = writeln!(out, "# HELP {name} {}", family.help);
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, (_, metric)) in &family.series {
                let value = match metric {
                    Metric::Counter(c) => c.get() as i64,
                    Metric::Gauge(g) => g.get(),
                };
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        }
        out
    }
}

fn render_labels(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let mut out = String::from("{");
    for (index, (key, value)) in labels.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        let escaped = value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let _ = write!(out, "{key}=\"{escaped}\"");
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_and_labels_share_one_counter_and_render_as_prometheus_text() {
        let registry = Registry::new();
        registry
            .counter("rows_total", "Rows.", &[("dataset", "a")])
            .increment(2);
        registry
            .counter("rows_total", "Rows.", &[("dataset", "a")])
            .increment(3);
        registry
            .counter("rows_total", "Rows.", &[("dataset", "b\"x")])
            .increment(1);
        registry.gauge("depth", "Depth.", &[]).set(-4);
        assert_eq!(registry.counter_total("rows_total"), 6);
        let text = registry.render();
        assert!(text.contains("# TYPE rows_total counter"));
        assert!(text.contains("rows_total{dataset=\"a\"} 5"));
        assert!(text.contains("rows_total{dataset=\"b\\\"x\"} 1"));
        assert!(text.contains("# TYPE depth gauge\ndepth -4"));
    }
}

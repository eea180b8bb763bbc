//! One task per dataset for the inputs that run on tokio beside the receive workers (syslog
//! streams, nats, sqs, kafka): started for new datasets, stopped for those removed, paused or changed
//! (a changed one starts again with its new settings), the others untouched.

use std::collections::HashMap;
use std::sync::Arc;

use bytefreezer_api::{DataPlaneConfig, SourceSpec};
use bytefreezer_telemetry::{Shutdown, ShutdownTrigger, shutdown_pair};
use futures::future::BoxFuture;
use tokio::task::JoinHandle;

/// One dataset such an input runs for, with its plugin's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct InputDataset<S> {
    pub tenant_id: String,
    pub dataset_id: String,
    pub settings: S,
    pub testing: bool,
    /// `tcp://0.0.0.0:5514`, `nats://host:4222/logs.>`, a queue URL: the `listen` label of
    /// its metrics.
    pub listen: String,
}

impl<S> InputDataset<S> {
    /// `dataset t/d (listen)`, for the log.
    pub fn name(&self) -> String {
        format!(
            "dataset {}/{} ({})",
            self.tenant_id, self.dataset_id, self.listen
        )
    }

    /// The `tenant`, `dataset` and `listen` labels of its metrics.
    pub fn labels(&self) -> [(&str, &str); 3] {
        [
            ("tenant", self.tenant_id.as_str()),
            ("dataset", self.dataset_id.as_str()),
            ("listen", self.listen.as_str()),
        ]
    }

    fn key(&self) -> (String, String) {
        (self.tenant_id.clone(), self.dataset_id.clone())
    }
}

/// Every active dataset whose source `settings_of` accepts, with those settings.
pub(crate) fn active_inputs<S: Clone>(
    config: &DataPlaneConfig,
    settings_of: impl Fn(&SourceSpec) -> Option<&S>,
) -> Vec<InputDataset<S>> {
    config
        .datasets
        .iter()
        .filter(|dataset| dataset.active)
        .filter_map(|dataset| {
            Some(InputDataset {
                tenant_id: dataset.tenant_id.clone(),
                dataset_id: dataset.dataset_id.clone(),
                settings: settings_of(&dataset.source)?.clone(),
                testing: dataset.testing,
                listen: dataset.source.listen(),
            })
        })
        .collect()
}

/// What runs for one dataset until its shutdown fires.
pub type RunInput<S, R> = fn(InputDataset<S>, Arc<R>, Shutdown) -> BoxFuture<'static, ()>;

/// The running inputs of one plugin, by dataset, sharing the runtime `R`.
pub struct DatasetInputs<S, R> {
    runtime: Arc<R>,
    run: RunInput<S, R>,
    running: HashMap<(String, String), Running<S>>,
}

struct Running<S> {
    dataset: InputDataset<S>,
    stop: ShutdownTrigger,
    task: JoinHandle<()>,
}

impl<S, R> DatasetInputs<S, R>
where
    S: Clone + PartialEq + Send + 'static,
    R: Send + Sync + 'static,
{
    pub fn new(runtime: R, run: RunInput<S, R>) -> DatasetInputs<S, R> {
        DatasetInputs {
            runtime: Arc::new(runtime),
            run,
            running: HashMap::new(),
        }
    }

    /// Stops the inputs of datasets not in `desired` (or changed) and waits for them, then
    /// starts one for each dataset without one.
    pub async fn reconcile(&mut self, desired: &[InputDataset<S>]) {
        let obsolete: Vec<(String, String)> = self
            .running
            .iter()
            .filter(|(_, running)| !desired.contains(&running.dataset))
            .map(|(key, _)| key.clone())
            .collect();
        let stopping = obsolete
            .iter()
            .filter_map(|key| self.running.remove(key))
            .collect();
        stop_all(stopping).await;
        for dataset in desired {
            let key = dataset.key();
            if self.running.contains_key(&key) {
                continue;
            }
            let (stop, stopped) = shutdown_pair();
            let task = tokio::spawn((self.run)(dataset.clone(), self.runtime.clone(), stopped));
            self.running.insert(
                key,
                Running {
                    dataset: dataset.clone(),
                    stop,
                    task,
                },
            );
        }
    }

    /// Stops every input and waits for each to finish (and store what it took).
    pub async fn stop(&mut self) {
        stop_all(self.running.drain().map(|(_, running)| running).collect()).await;
    }
}

/// Tells every input to stop before waiting for any, so one slow to stop (a server gone away)
/// does not hold the others.
async fn stop_all<S>(inputs: Vec<Running<S>>) {
    for input in &inputs {
        input.stop.trigger();
    }
    for input in inputs {
        if let Err(error) = input.task.await
            && error.is_panic()
        {
            tracing::error!(
                "dataset {}/{}: its input stopped on a panic (a bug): {error}",
                input.dataset.tenant_id,
                input.dataset.dataset_id
            );
        }
    }
}

//! One task per dataset for the inputs that run on tokio beside the receive workers (syslog
//! streams, nats): started for new datasets, stopped for those removed, paused or changed (a
//! changed one starts again with its new settings), the others untouched.

use std::collections::HashMap;
use std::future::Future;

use bytefreezer_telemetry::{Shutdown, ShutdownTrigger, shutdown_pair};
use tokio::task::JoinHandle;

/// A dataset an input task runs for.
pub(crate) trait DatasetInput: Clone + PartialEq + Send + 'static {
    fn key(&self) -> (String, String);
}

pub(crate) struct DatasetTasks<D> {
    running: HashMap<(String, String), Running<D>>,
}

struct Running<D> {
    dataset: D,
    stop: ShutdownTrigger,
    task: JoinHandle<()>,
}

impl<D: DatasetInput> DatasetTasks<D> {
    pub fn new() -> DatasetTasks<D> {
        DatasetTasks {
            running: HashMap::new(),
        }
    }

    /// Stops the tasks of datasets not in `desired` (or changed) and waits for them, then
    /// starts `run(dataset, stopped)` for each dataset without a task.
    pub async fn reconcile<F, Fut>(&mut self, desired: &[D], run: F)
    where
        F: Fn(D, Shutdown) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let obsolete: Vec<(String, String)> = self
            .running
            .iter()
            .filter(|(_, running)| !desired.contains(&running.dataset))
            .map(|(key, _)| key.clone())
            .collect();
        for key in obsolete {
            if let Some(running) = self.running.remove(&key) {
                running.stop().await;
            }
        }
        for dataset in desired {
            let key = dataset.key();
            if self.running.contains_key(&key) {
                continue;
            }
            let (stop, stopped) = shutdown_pair();
            let task = tokio::spawn(run(dataset.clone(), stopped));
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

    /// Stops every task and waits for each to finish.
    pub async fn stop(&mut self) {
        for (_, running) in self.running.drain() {
            running.stop().await;
        }
    }
}

impl<D> Running<D> {
    async fn stop(self) {
        self.stop.trigger();
        let _ = self.task.await;
    }
}

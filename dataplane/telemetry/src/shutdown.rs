use tokio::sync::watch;

/// Fires the shutdown every [`Shutdown`] waits on.
#[derive(Clone)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// Resolves once shutdown was requested. Clone it into every task that must stop.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

pub fn shutdown_pair() -> (ShutdownTrigger, Shutdown) {
    let (sender, receiver) = watch::channel(false);
    (ShutdownTrigger(sender), Shutdown(receiver))
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn wait(&mut self) {
        // An error means every trigger was dropped, which also means stop.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// A shutdown that never fires, for components run standalone in tests.
    pub fn never() -> Shutdown {
        let (sender, receiver) = watch::channel(false);
        std::mem::forget(sender);
        Shutdown(receiver)
    }
}

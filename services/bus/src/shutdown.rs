//! One shutdown signal, handed to every `run` and fanned out to every task.

use tokio::sync::watch;

/// Fires the shutdown.
#[derive(Debug, Clone)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// Waits for the shutdown.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl ShutdownTrigger {
    /// A new trigger and its first listener.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger(tx), Shutdown(rx))
    }
    /// Tells every listener to stop.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
    /// Another listener.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }
}

impl Shutdown {
    /// True once the shutdown fired.
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }
    /// Resolves when the shutdown fires (at once if it already did, or if the trigger is gone).
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

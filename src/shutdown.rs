//! One shutdown signal (SIGTERM or Ctrl-C) fanned out to the server and every worker.

use tokio::sync::watch;

/// A cloneable shutdown signal.
#[derive(Clone)]
pub struct CancellationToken {
    tx: std::sync::Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
}

impl Default for CancellationToken {
    fn default() -> Self {
        Self::new()
    }
}

impl CancellationToken {
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(false);
        Self {
            tx: std::sync::Arc::new(tx),
            rx,
        }
    }
    pub fn cancel(&self) {
        let _ = self.tx.send(true);
    }
    pub fn is_cancelled(&self) -> bool {
        *self.rx.borrow()
    }
    pub async fn cancelled(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|v| *v).await;
    }
}

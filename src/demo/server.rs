//! The loopback HTTP server both mocks run on (I/O): bind `127.0.0.1:0`, serve a router on a
//! spawned task, stop on request or when dropped. Handlers see the stop signal too, so hung
//! and delayed requests end at shutdown.

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A bound, not yet serving, listener and its stop signal.
pub struct Bound {
    listener: TcpListener,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    stop_tx: watch::Sender<bool>,
    /// Handlers wait on this to end hung or delayed requests at shutdown.
    pub stop: watch::Receiver<bool>,
}

/// Binds a loopback port.
pub async fn bind() -> std::io::Result<Bound> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop) = watch::channel(false);
    Ok(Bound {
        listener,
        url,
        stop_tx,
        stop,
    })
}

/// A running server; dropping it stops it.
pub struct Running {
    url: String,
    stop_tx: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Bound {
    /// Serves `app` until stopped; `name` labels the log line if serving fails.
    pub fn serve(self, app: Router, name: &'static str) -> Running {
        let mut stop = self.stop;
        let task = tokio::spawn(async move {
            let serve = axum::serve(self.listener, app).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            });
            if let Err(error) = serve.await {
                tracing::warn!(%error, "{name} stopped");
            }
        });
        Running {
            url: self.url,
            stop_tx: self.stop_tx,
            task,
        }
    }
}

impl Running {
    /// Base URL (no trailing slash).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Stops serving: hanging requests end, open connections close.
    pub fn stop(&self) {
        let _ = self.stop_tx.send(true);
        self.task.abort();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

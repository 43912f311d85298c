//! Serving a double's routes on a loopback port until the double is dropped.

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use warp::filters::BoxedFilter;

/// A running server. Dropping it starts a graceful shutdown; [`Server::shutdown`] also waits
/// for it to finish.
#[derive(Debug)]
pub(crate) struct Server {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds a free loopback port. Done before the routes are built, because some routes hand
    /// out URLs pointing back at the double.
    ///
    /// The listener is bound here rather than by warp because warp's own bind panics on failure;
    /// a double that cannot bind should be an error its caller can report.
    pub async fn bind() -> io::Result<(TcpListener, SocketAddr)> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        Ok((listener, addr))
    }

    /// Serves `routes` on `listener` until `stop` turns true or the server is dropped.
    pub fn serve(
        listener: TcpListener,
        routes: BoxedFilter<(warp::reply::Response,)>,
        stop: watch::Sender<bool>,
    ) -> Self {
        let shutdown = stopped(stop.subscribe());
        let task = tokio::spawn(warp::serve(routes).incoming(listener).graceful(shutdown).run());
        Self { stop, task: Some(task) }
    }

    /// Stops accepting connections, releases hung requests and waits until open connections
    /// are closed.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Hung requests wait on this same signal, so graceful shutdown does not wait for them.
        self.stop.send_replace(true);
    }
}

/// Waits until the server is told to stop. Deliberately hung requests wait on this too, so a
/// graceful shutdown is not held up by them.
pub(crate) async fn stopped(mut stop: watch::Receiver<bool>) {
    // An error means the sender is gone, which also means "stop".
    let _ = stop.wait_for(|stop| *stop).await;
}

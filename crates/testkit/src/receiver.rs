//! A webhook receiver for tests: an HTTP server on 127.0.0.1 that records every POST (to any
//! path) with its headers and raw body, and answers the scripted statuses in turn (200 once the
//! script is used up). Stopped when dropped.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use tokio::net::TcpListener;

/// One request: its path, headers and raw body.
pub type Request = (String, HeaderMap, Vec<u8>);

type Shared = (Arc<Mutex<Vec<Request>>>, Arc<Mutex<VecDeque<u16>>>);

/// A running receiver.
#[derive(Debug)]
pub struct Receiver {
    /// `http://127.0.0.1:<port>/hook`; any other path on the port is received too.
    pub url: String,
    seen: Arc<Mutex<Vec<Request>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn hook(
    State((seen, script)): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    seen.lock()
        .unwrap()
        .push((uri.path().to_owned(), headers, body.to_vec()));
    let status = script.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    /// Starts a receiver answering `script` first.
    pub async fn start(script: &[u16]) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.iter().copied().collect()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let router = axum::Router::new()
            .fallback(axum::routing::post(hook))
            .with_state((Arc::clone(&seen), Arc::clone(&script)));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            url,
            seen,
            script,
            _stop: stop,
        }
    }

    /// `http://127.0.0.1:<port>` followed by `path`.
    #[must_use]
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url.trim_end_matches("/hook"))
    }

    /// Every request so far, oldest first.
    #[must_use]
    pub fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }

    /// Queues more statuses to answer.
    pub fn answer(&self, statuses: &[u16]) {
        self.script.lock().unwrap().extend(statuses.iter().copied());
    }
}

//! A small blocking HTTP client (ureq) that returns every status as data, never as an error, so
//! tests can assert on refusals.

use std::time::Duration;

/// Largest response body read: one full entry bundle of the largest entries, with room to spare.
const MAX_BODY: u64 = 32 << 20;

/// A response: status, headers and the whole body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: ureq::http::HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A header's value as text (`None` if absent or not visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as (lossy) text, for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Panics unless the status is 200, showing the body.
    pub fn expect_ok(self, what: &str) -> Reply {
        assert_eq!(self.status, 200, "{what}: body {:?}", self.text());
        self
    }
}

/// A blocking HTTP/1.1 client with keep-alive; one per thread.
#[derive(Debug, Clone)]
pub struct Http {
    agent: ureq::Agent,
}

impl Default for Http {
    fn default() -> Http {
        Http::new()
    }
}

impl Http {
    /// A client that ignores proxy settings (the server is on loopback) and times out after
    /// 60 s, so a hung server fails the test instead of hanging it.
    pub fn new() -> Http {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(60)))
            .build();
        Http {
            agent: config.into(),
        }
    }

    /// `GET url`.
    pub fn get(&self, url: &str) -> Result<Reply, ureq::Error> {
        let response = self.agent.get(url).call()?;
        read(response)
    }

    /// `POST url` with `body` as `text/plain`.
    pub fn post(&self, url: &str, body: &[u8]) -> Result<Reply, ureq::Error> {
        let response = self
            .agent
            .post(url)
            .header("Content-Type", "text/plain")
            .send(body)?;
        read(response)
    }

    /// `GET url`, panicking on a transport error.
    pub fn must_get(&self, url: &str) -> Reply {
        self.get(url)
            .unwrap_or_else(|e| panic!("GET {url} failed: {e}"))
    }

    /// `POST url`, panicking on a transport error.
    pub fn must_post(&self, url: &str, body: &[u8]) -> Reply {
        self.post(url, body)
            .unwrap_or_else(|e| panic!("POST {url} failed: {e}"))
    }
}

fn read(response: ureq::http::Response<ureq::Body>) -> Result<Reply, ureq::Error> {
    let (parts, mut body) = response.into_parts();
    let body = body.with_config().limit(MAX_BODY).read_to_vec()?;
    Ok(Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    })
}

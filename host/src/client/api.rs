//! One HTTP client for the server's API (blocking: a client does one thing at a time). Every
//! failure becomes a sentence a person can act on, with the documented exit code 3: which URL
//! was tried and where it came from, how to set a token, which job is unknown.

use std::io::Read;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use common::config::Source;
use common::exit::{Exit, SERVER};
use common::protocol::status::Status;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// For ordinary requests; a cancel may wait for nix to stop.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection to one server's API: its URL, where that URL came from (said in every error)
/// and the token writes send.
pub struct ApiClient {
    base: String,
    source: Source,
    token: Option<String>,
    agent: ureq::Agent,
}

impl ApiClient {
    /// A client for the server at `base` (no trailing slash) whose URL was set by `source`;
    /// `token`, when there is one, goes with every write as a Bearer token.
    pub fn new(base: String, source: Source, token: Option<String>) -> ApiClient {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .user_agent(concat!("atuin-bootstrap/", env!("CARGO_PKG_VERSION")))
            .build();
        ApiClient {
            base,
            source,
            token,
            agent,
        }
    }

    /// The server URL every request path is appended to, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The API token, when one is configured.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Whether the box's cache has a narinfo for this store path hash part (`HEAD
    /// /<hash>.narinfo`: 200 yes, 404 no).
    pub fn has_narinfo(&self, hash_part: &str) -> Result<bool> {
        let url = self.url(&format!("/{hash_part}.narinfo"));
        match self.agent.head(&url).timeout(REQUEST_TIMEOUT).call() {
            Ok(_) => Ok(true),
            Err(ureq::Error::Status(404, _)) => Ok(false),
            Err(ureq::Error::Status(status, _)) => Err(Exit {
                code: SERVER,
                message: self.not_ours(&format!("answered {status} to HEAD /{hash_part}.narinfo")),
            }
            .into()),
            Err(ureq::Error::Transport(transport)) => Err(self.unreachable(&transport)),
        }
    }

    /// `GET path` (e.g. `/api/v1/jobs`), sent without the token; returns the JSON answer, and a
    /// refusal or an unreachable server as an exit-3 error that says so.
    pub fn get_json(&self, path: &str) -> Result<Value> {
        let response = self.call(
            self.agent.get(&self.url(path)).timeout(REQUEST_TIMEOUT),
            None,
        )?;
        self.parse_json(response)
    }

    /// A POST with an optional JSON body; returns the status and the JSON answer.
    pub fn post_json(&self, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        let mut request = self.agent.post(&self.url(path)).timeout(REQUEST_TIMEOUT);
        if let Some(token) = &self.token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let response = self.call(request, body)?;
        let status = response.status();
        Ok((status, self.parse_json(response)?))
    }

    /// A request with `method` (`PUT`, `DELETE`, …) and an optional JSON body, with the
    /// token; returns the JSON answer.
    pub fn send_json(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let mut request = self
            .agent
            .request(method, &self.url(path))
            .timeout(REQUEST_TIMEOUT);
        if let Some(token) = &self.token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let response = self.call(request, body)?;
        self.parse_json(response)
    }

    /// `GET /api/v1/status`, typed.
    pub fn status(&self) -> Result<Status> {
        let value = self.get_json("/api/v1/status")?;
        serde_json::from_value(value).map_err(|e| {
            Exit {
                code: SERVER,
                message: format!(
                    "{} answered with a status this client does not understand ({e}); is it an atuin-bootstrap server of this version?",
                    self.base
                ),
            }
            .into()
        })
    }

    /// Whether the server answers its health check within `within`.
    pub fn answers(&self, within: Duration) -> bool {
        self.agent
            .get(&self.url("/api/v1/health"))
            .timeout(within)
            .call()
            .is_ok()
    }

    /// A streamed text body (a log), read as it arrives, with no overall time limit.
    pub fn stream(&self, path: &str) -> Result<Box<dyn Read + Send + Sync>> {
        let response = self.call(self.agent.get(&self.url(path)), None)?;
        Ok(response.into_reader())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn call(&self, request: ureq::Request, body: Option<&Value>) -> Result<ureq::Response> {
        let result = match body {
            Some(body) => request.send_json(body),
            None => request.call(),
        };
        match result {
            Ok(response) => Ok(response),
            Err(ureq::Error::Status(status, response)) => Err(self.refused(status, response)),
            Err(ureq::Error::Transport(transport)) if self.tls_to_plain_http(&transport) => {
                Err(Exit {
                    code: SERVER,
                    message: format!(
                        "the server at {} (set by {}) does not speak https ({}); if it is this \
                         project's server, use {}",
                        self.base,
                        self.source,
                        transport_reason(&transport),
                        self.base.replacen("https://", "http://", 1)
                    ),
                }
                .into())
            }
            Err(ureq::Error::Transport(transport)) => Err(self.unreachable(&transport)),
        }
    }

    fn unreachable(&self, transport: &ureq::Transport) -> anyhow::Error {
        Exit {
            code: SERVER,
            message: format!(
                "cannot reach the build server at {} (set by {}): {}; check that the server \
                 is running and that this machine is on the tailnet (`tailscale status`)",
                self.base,
                self.source,
                transport_reason(transport)
            ),
        }
        .into()
    }

    /// An https URL answered by a plain-HTTP server: the TLS handshake gets no TLS back.
    fn tls_to_plain_http(&self, transport: &ureq::Transport) -> bool {
        let text = transport.to_string().to_ascii_lowercase();
        self.base.starts_with("https://")
            && [
                "tls",
                "corrupt",
                "invalidcontenttype",
                "invalid content type",
                "handshake",
            ]
            .iter()
            .any(|sign| text.contains(sign))
    }

    /// What to say of an answer that is not this API's.
    fn not_ours(&self, what: &str) -> String {
        format!(
            "{} (set by {}) {what}: it does not look like an atuin-bootstrap server; check the \
             URL and port",
            self.base, self.source
        )
    }

    fn refused(&self, status: u16, response: ureq::Response) -> anyhow::Error {
        // This API always explains a refusal as {"error": "…"}; anything else is not ours.
        let said = response
            .into_json::<Value>()
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string));
        let Some(said) = said else {
            return Exit {
                code: SERVER,
                message: self.not_ours(&format!("answered {status} without this API's error")),
            }
            .into();
        };
        let message = match status {
            // The server's words already say which token to give and how: said once.
            401 => format!("the server refused the request (401): {said}"),
            404 => said,
            _ => format!("the server answered {status}: {said}"),
        };
        Exit {
            code: SERVER,
            message,
        }
        .into()
    }
}

impl ApiClient {
    fn parse_json(&self, response: ureq::Response) -> Result<Value> {
        response.into_json::<Value>().map_err(|_| {
            Exit {
                code: SERVER,
                message: self.not_ours("answered, but not with JSON"),
            }
            .into()
        })
    }
}

fn transport_reason(transport: &ureq::Transport) -> String {
    let text = transport.to_string();
    // ureq repeats the URL; keep the reason.
    text.rsplit(": ").next().unwrap_or(&text).to_string()
}

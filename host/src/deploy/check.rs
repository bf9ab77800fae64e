//! One health check, by its form: `http://…` and `https://…` (a GET answering 2xx, redirects
//! followed, TLS checked against the bundled web roots), `unit:NAME` (`systemctl is-active
//! --quiet NAME`), `tcp:HOST:PORT` (a connection opens), anything else a shell command
//! (`sh -c`, exit 0). One try; retrying is the caller's (see `health`).

use std::net::{TcpStream, ToSocketAddrs};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::bounded::{self, Ended, with_output};
use super::log::Log;

/// The longest one try of a built-in check waits.
const ONE_TRY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Check {
    Http(String),
    Unit(String),
    Tcp(String),
    Shell(String),
}

impl Check {
    pub(super) fn parse(text: &str) -> Check {
        let text = text.trim();
        if text.starts_with("http://") || text.starts_with("https://") {
            Check::Http(text.to_string())
        } else if let Some(unit) = text.strip_prefix("unit:") {
            Check::Unit(unit.trim().to_string())
        } else if let Some(address) = text.strip_prefix("tcp:") {
            Check::Tcp(address.trim().to_string())
        } else {
            Check::Shell(text.to_string())
        }
    }

    /// One try before `deadline`: `Ok(Err(why))` when it did not pass.
    pub(super) fn run(&self, deadline: Instant, log: &Log) -> Result<Result<(), String>> {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(100), ONE_TRY);
        Ok(match self {
            Check::Http(url) => http(url, left),
            Check::Tcp(address) => tcp(address, left),
            Check::Unit(unit) => {
                let mut command = Command::new("systemctl");
                command.args(["is-active", "--quiet", unit]);
                command_check(
                    command,
                    &format!("health check `unit:{unit}`"),
                    deadline,
                    log,
                )?
                .map_err(|why| format!("{why}: the unit is not active"))
            }
            Check::Shell(script) => {
                let mut command = Command::new("sh");
                command.args(["-c", script]);
                command_check(command, &format!("health check `{script}`"), deadline, log)?
            }
        })
    }
}

fn http(url: &str, within: Duration) -> Result<(), String> {
    let agent = ureq::AgentBuilder::new().timeout(within).build();
    match agent.get(url).call() {
        Ok(response) if (200..300).contains(&response.status()) => Ok(()),
        Ok(response) => Err(format!(
            "health check `{url}` answered {} (not 2xx)",
            response.status()
        )),
        Err(ureq::Error::Status(code, _)) => {
            Err(format!("health check `{url}` answered {code} (not 2xx)"))
        }
        Err(ureq::Error::Transport(e)) => Err(format!("health check `{url}` got no answer: {e}")),
    }
}

fn tcp(address: &str, within: Duration) -> Result<(), String> {
    let addresses: Vec<_> = match address.to_socket_addrs() {
        Ok(found) => found.collect(),
        Err(e) => {
            return Err(format!(
                "health check `tcp:{address}`: not a HOST:PORT that resolves ({e})"
            ));
        }
    };
    let mut last = String::from("no address");
    for one in &addresses {
        match TcpStream::connect_timeout(one, within) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("{one}: {e}"),
        }
    }
    Err(format!(
        "health check `tcp:{address}`: no connection opened ({last})"
    ))
}

fn command_check(
    command: Command,
    what: &str,
    deadline: Instant,
    log: &Log,
) -> Result<Result<(), String>> {
    let program = command.get_program().to_string_lossy().into_owned();
    let finished = match bounded::run(command, deadline, Some(log.boxed())) {
        Ok(finished) => finished,
        Err(e) => return Ok(Err(format!("{what} could not run {program}: {e:#}"))),
    };
    Ok(match &finished.ended {
        Ended::Succeeded => Ok(()),
        Ended::Failed(status) => Err(with_output(
            format!("{what} failed ({status})"),
            &finished.output,
        )),
        Ended::TimedOut => Err(with_output(
            format!("{what} did not finish before the health timeout"),
            &finished.output,
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            Check::parse("https://x/health"),
            Check::Http("https://x/health".into())
        );
        assert_eq!(Check::parse("unit:sshd"), Check::Unit("sshd".into()));
        assert_eq!(
            Check::parse("tcp:127.0.0.1:22"),
            Check::Tcp("127.0.0.1:22".into())
        );
        assert_eq!(
            Check::parse("test -e /x"),
            Check::Shell("test -e /x".into())
        );
    }

    #[test]
    fn tcp_opens_or_says_why() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        assert_eq!(tcp(&address, Duration::from_secs(2)), Ok(()));
        drop(listener);
        let refused = tcp(&address, Duration::from_secs(2)).unwrap_err();
        assert!(refused.contains("no connection opened"), "{refused}");
        let bad = tcp("nonsense", Duration::from_secs(2)).unwrap_err();
        assert!(bad.contains("HOST:PORT"), "{bad}");
    }
}

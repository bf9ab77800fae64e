//! The fleet table of the status page: each host, its state (with the last report's words
//! when it rolled back, failed, runs its own system or waits for a reboot), what it runs, its
//! newest green build (and the build it is pinned to, when it is) and when it was last seen.

use std::fmt::Write;
use std::time::SystemTime;

use super::format::{host_state, short_rev, time_ago};
use super::html::Escaped;
use crate::builds::repo::watcher::RepoStatus;
use common::protocol::host::{Host, HostState};

/// A report's message is cut to this many characters on the page.
const MESSAGE_SHOWN: usize = 240;

pub(super) fn write(out: &mut String, hosts: &[Host], repo: Option<&RepoStatus>, now: SystemTime) {
    out.push_str("<section id=\"fleet\"><h2>Fleet</h2>");
    if hosts.is_empty() {
        // Why there are none, as far as the box knows: no repository, not fetched yet, or a
        // flake without hosts.
        let why = match repo.map(|r| r.rev.as_deref()) {
            None => "No hosts: no fleet repository is configured (start the server with \
                     <code>serve --repo URL</code>). Hosts that report show here too."
                .to_string(),
            Some(None) => "No hosts yet: the flake's <code>nixosConfigurations</code> show \
                           here once the repository is fetched, and every host that reports."
                .to_string(),
            Some(Some(rev)) => format!(
                "No hosts: the fleet's flake at <code>{}</code> has no \
                 <code>nixosConfigurations</code> (each folder under <code>hosts/</code> is one; \
                 <code>bootstrap-new-machine</code> adds them). Hosts that report show here too.",
                Escaped(short_rev(rev))
            ),
        };
        let _ = writeln!(out, "<p class=\"mute\">{why}</p></section>");
        return;
    }
    out.push_str(
        "<div class=\"scroll\"><table><thead><tr><th>Host</th><th>State</th><th>Runs</th>\
         <th>Newest build</th><th>Last seen</th></tr></thead><tbody>",
    );
    for host in hosts {
        let _ = write!(
            out,
            "<tr id=\"host-{name}\"><td>{name}</td><td class=\"wrap\">{state}",
            name = Escaped(&host.name),
            state = host_state(host.state),
        );
        let explained = [
            HostState::RolledBack,
            HostState::Failed,
            HostState::Local,
            HostState::RebootNeeded,
        ];
        if explained.contains(&host.state)
            && let Some(message) = host.last_report.as_ref().and_then(|r| r.message.as_ref())
        {
            let cut: String = message.chars().take(MESSAGE_SHOWN).collect();
            let _ = write!(
                out,
                "<div class=\"mute\">{}{}</div>",
                Escaped(&cut),
                if cut.len() < message.len() { "…" } else { "" }
            );
        }
        out.push_str("</td><td>");
        match &host.running {
            None => out.push_str("<span class=\"mute\">—</span>"),
            Some(running) => match (&running.rev, running.job) {
                (Some(rev), Some(job)) => {
                    let _ = write!(
                        out,
                        "<code title=\"{path}\">{short}</code> <a href=\"/jobs/{job}\">job {job}</a>",
                        path = Escaped(&running.path),
                        short = Escaped(short_rev(rev)),
                    );
                }
                _ => {
                    let name = running.path.rsplit('/').next().unwrap_or(&running.path);
                    let _ = write!(
                        out,
                        "<code title=\"{}\">{}</code> <span class=\"mute\">(not built here)</span>",
                        Escaped(&running.path),
                        Escaped(name.get(33..).unwrap_or(name))
                    );
                }
            },
        }
        out.push_str("</td><td>");
        match &host.latest {
            None => out.push_str("<span class=\"mute\">none yet</span>"),
            Some(latest) => {
                let _ = write!(
                    out,
                    "<a href=\"/jobs/{job}\">job {job}</a> <code title=\"{path}\">{short}</code> {at}",
                    job = latest.job,
                    path = Escaped(&latest.path),
                    short = Escaped(short_rev(&latest.rev)),
                    at = time_ago(latest.finished_at.as_deref(), now),
                );
            }
        }
        // A pinned host runs its pin, not the newest build.
        if let (Some(pinned), Some(target)) = (&host.pinned, &host.target) {
            let what = match (&target.rev, target.job) {
                (Some(rev), Some(job)) => format!(
                    "<a href=\"/jobs/{job}\">job {job}</a> <code title=\"{path}\">{short}</code>",
                    path = Escaped(&target.path),
                    short = Escaped(short_rev(rev)),
                ),
                _ => format!("<code>{}</code>", Escaped(&target.path)),
            };
            let _ = write!(
                out,
                "<div class=\"warn\" data-pinned=\"{path}\">pinned to {what} {at}</div>",
                path = Escaped(&pinned.path),
                at = time_ago(Some(&pinned.at), now),
            );
        }
        let _ = write!(
            out,
            "</td><td>{}</td></tr>",
            time_ago(host.last_seen.as_deref(), now)
        );
    }
    out.push_str("</tbody></table></div></section>\n");
}

//! How jobs and the server look to a person: state colours (only on a terminal, never under
//! `NO_COLOR`), aligned tables, durations and ages. Scripts use `--json` instead.

use std::time::SystemTime;

use serde_json::Value;

use common::protocol::host::{Host, HostState, Target};

#[derive(Debug, Clone, Copy)]
pub(super) struct Style {
    pub colour: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_string()
        }
    }

    pub(super) fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    pub(super) fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    pub(super) fn red(self, text: &str) -> String {
        self.paint("31", text)
    }

    pub(super) fn green(self, text: &str) -> String {
        self.paint("32", text)
    }

    /// A host's state in words, coloured: green up to date, yellow behind, deploying or
    /// waiting for a reboot, cyan running its own system, red rolled back or failed.
    pub(super) fn host_state(self, state: HostState) -> String {
        let code = match state {
            HostState::UpToDate => "32",
            HostState::Behind | HostState::Deploying | HostState::RebootNeeded => "33",
            HostState::Local => "36",
            HostState::RolledBack | HostState::Failed => "31",
            HostState::NeverSeen => "2",
        };
        self.paint(code, state.words())
    }

    pub(super) fn state(self, state: &str) -> String {
        let code = match state {
            "succeeded" => "32",
            "failed" => "31",
            "running" => "33",
            "queued" => "36",
            _ => "35",
        };
        self.paint(code, state)
    }
}

/// `12 succeeded laptop, hello @ 0b1c2d3 (api)`.
pub(super) fn job_line(job: &Value, style: Style) -> String {
    format!(
        "job {} {} {} @ {} ({})",
        job["id"],
        style.state(text(&job["state"])),
        targets(job),
        short_rev(text(&job["rev"])),
        text(&job["trigger"])
    )
}

/// The job in detail, one fact a line.
pub(super) fn job_detail(job: &Value, style: Style) -> String {
    let mut out = String::new();
    let mut row = |key: &str, value: String| {
        out.push_str(&format!("{} {value}\n", style.bold(&format!("{key:<10}"))));
    };
    row("job", job["id"].to_string());
    row("state", style.state(text(&job["state"])));
    row("targets", targets(job));
    row("rev", text(&job["rev"]).to_string());
    row("trigger", text(&job["trigger"]).to_string());
    // A build with watched flake inputs at newer commits than the fleet pins.
    if let Some(inputs) = job["inputs"].as_object() {
        for (name, rev) in inputs {
            row("input", format!("{name} at {}", text(rev)));
        }
    }
    row("created", text(&job["created_at"]).to_string());
    if let Some(started) = job["started_at"].as_str() {
        row("started", started.to_string());
    }
    // A job the server queued again after it stopped mid-build.
    if let Some(attempt) = job["attempt"].as_u64().filter(|&n| n > 1) {
        row(
            "attempt",
            format!("{attempt} (the server restarted during an earlier one)"),
        );
    }
    if let Some(duration) = duration(job) {
        row("duration", duration);
    }
    if let Some(progress) = progress(job) {
        row("progress", progress);
    }
    if let Some(error) = job["error"].as_str() {
        row("error", error.to_string());
    }
    if let Some(outputs) = job["outputs"].as_object() {
        for (target, path) in outputs {
            row("output", format!("{target}: {}", text(path)));
        }
    }
    out
}

/// An aligned table: a header and rows of cells (cells may hold colour codes).
pub(super) fn table(header: &[&str], rows: &[Vec<String>], style: Style) -> String {
    let width = |cell: &str| strip_codes(cell).chars().count();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(width(cell));
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        let last = cells.len() - 1;
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(widths[i] - width(cell) + 2));
            }
        }
        out.push('\n');
    };
    line(header.iter().map(|h| style.bold(h)).collect(), &mut out);
    for row in rows {
        line(row.clone(), &mut out);
    }
    out
}

/// Rows for a list of jobs: id, state, targets, rev, trigger, age, duration.
pub(super) fn job_rows(jobs: &[Value], style: Style) -> Vec<Vec<String>> {
    jobs.iter()
        .map(|job| {
            let mut state = style.state(text(&job["state"]));
            if let Some(progress) = progress(job).filter(|_| job["state"] == "running") {
                state = format!("{state} {progress}");
            }
            vec![
                job["id"].to_string(),
                state,
                targets(job),
                short_rev(text(&job["rev"])).to_string(),
                text(&job["trigger"]).to_string(),
                age(text(&job["created_at"])),
                duration(job).unwrap_or_default(),
            ]
        })
        .collect()
}

/// Rows for the fleet: host, what it runs (revision and since when), the newest green
/// revision, state, last seen.
pub(super) fn host_rows(hosts: &[Host], style: Style) -> Vec<Vec<String>> {
    hosts
        .iter()
        .map(|host| {
            let running = match &host.running {
                None => "-".to_string(),
                Some(running) => {
                    let what = match &running.rev {
                        Some(rev) => short_rev(rev).to_string(),
                        None => "unknown build".to_string(),
                    };
                    format!("{what} (since {})", age(&running.since))
                }
            };
            let mut newest = host
                .latest
                .as_ref()
                .map_or("-".to_string(), |l| short_rev(&l.rev).to_string());
            if let Some(target) = host.target.as_ref().filter(|_| host.pinned.is_some()) {
                newest.push_str(&format!(", pinned to {}", target_name(target)));
            }
            vec![
                host.name.clone(),
                running,
                newest,
                style.host_state(host.state),
                host.last_seen.as_deref().map_or("never".to_string(), age),
            ]
        })
        .collect()
}

/// Rows for `fleet`: host, state, what it runs, what it is to run (and whether that is a
/// pin), when the pin was set, last seen.
pub(super) fn fleet_rows(hosts: &[Host], style: Style) -> Vec<Vec<String>> {
    hosts
        .iter()
        .map(|host| {
            let running = match &host.running {
                None => "-".to_string(),
                Some(running) => match &running.rev {
                    Some(rev) => short_rev(rev).to_string(),
                    None => store_name(&running.path).to_string(),
                },
            };
            let target = match &host.target {
                None => "-".to_string(),
                Some(target) if host.pinned.is_some() => {
                    format!("{} (pinned)", target_name(target))
                }
                Some(target) => target_name(target),
            };
            vec![
                host.name.clone(),
                style.host_state(host.state),
                running,
                target,
                host.pinned.as_ref().map_or("-".to_string(), |p| age(&p.at)),
                host.last_seen.as_deref().map_or("never".to_string(), age),
            ]
        })
        .collect()
}

/// A target as people name it: its revision, else its store path's name.
pub(super) fn target_name(target: &Target) -> String {
    match &target.rev {
        Some(rev) => short_rev(rev).to_string(),
        None => store_name(&target.path).to_string(),
    }
}

/// `nixos-system-laptop-…` of `/nix/store/<hash>-nixos-system-laptop-…`.
pub(super) fn store_name(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.get(33..).filter(|_| base.len() > 33).unwrap_or(base)
}

pub(super) fn targets(job: &Value) -> String {
    job["targets"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(|x| text(x).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "(default)".to_string())
}

pub(super) fn short_rev(rev: &str) -> &str {
    &rev[..rev.len().min(8)]
}

/// `done/total current`; nothing before Nix has counted anything (never a bare `0/0`).
fn progress(job: &Value) -> Option<String> {
    let progress = job
        .get("progress")
        .filter(|p| p.is_object() && p["total"].as_u64().is_some_and(|t| t > 0))?;
    let mut text = format!("{}/{}", progress["done"], progress["total"]);
    if let Some(current) = progress["current"].as_str() {
        text.push_str(&format!(" {current}"));
    }
    Some(text)
}

/// Wall time from start to end (or now, while running).
pub(super) fn duration(job: &Value) -> Option<String> {
    let started = parse_time(job["started_at"].as_str()?)?;
    let ended = job["finished_at"]
        .as_str()
        .and_then(parse_time)
        .unwrap_or_else(SystemTime::now);
    Some(human(
        ended.duration_since(started).unwrap_or_default().as_secs(),
    ))
}

/// `3m ago`.
pub(super) fn age(at: &str) -> String {
    match parse_time(at).and_then(|t| SystemTime::now().duration_since(t).ok()) {
        Some(elapsed) => format!("{} ago", human(elapsed.as_secs())),
        None => at.to_string(),
    }
}

fn human(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

fn parse_time(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(text).ok()
}

pub(super) fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

fn strip_codes(cell: &str) -> String {
    common::ansi::strip(cell)
}

/// Rows for Nix's remote builders: URI, systems, jobs, features, reachable, last probed.
pub(super) fn builder_rows(
    builders: &[common::protocol::status::BuilderStatus],
    style: Style,
) -> Vec<Vec<String>> {
    builders
        .iter()
        .map(|b| {
            let list = |items: &[String]| {
                if items.is_empty() {
                    "-".to_string()
                } else {
                    items.join(",")
                }
            };
            vec![
                b.uri.clone(),
                list(&b.systems),
                b.max_jobs.to_string(),
                list(&b.features),
                match (b.reachable, &b.last_checked) {
                    (_, None) => style.dim("not probed yet"),
                    (true, Some(_)) => style.green("reachable"),
                    (false, Some(_)) => style.red("unreachable"),
                },
                b.last_checked.as_deref().map(age).unwrap_or_default(),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_around_colour_codes() {
        let style = Style { colour: true };
        let rows = vec![
            vec!["1".into(), style.state("succeeded"), "laptop".into()],
            vec!["12".into(), style.state("failed"), "hello".into()],
        ];
        let plain = strip_codes(&table(&["ID", "STATE", "TARGETS"], &rows, style));
        let lines: Vec<&str> = plain.lines().collect();
        assert_eq!(lines[0], "ID  STATE      TARGETS");
        assert_eq!(lines[1], "1   succeeded  laptop");
        assert_eq!(lines[2], "12  failed     hello");
    }

    #[test]
    fn no_colour_means_no_codes() {
        assert_eq!(Style { colour: false }.state("failed"), "failed");
        assert_eq!(human(59), "59s");
        assert_eq!(human(61), "1m01s");
        assert_eq!(human(3700), "1h01m");
    }
}

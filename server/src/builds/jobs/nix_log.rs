//! Reads Nix's structured log (`--log-format internal-json`, one `@nix {…}` object a line) and
//! turns it into what a person reads — the builders' lines and Nix's messages as plain text —
//! and into the job's progress (derivations built of those to build, the one building now).
//! A derivation built on a remote builder gets a line naming that machine; the builder's own
//! echo of the same build (forwarded through `ssh-ng`) neither repeats it as if built here nor
//! overrides the progress. Pure: the runner feeds it lines.

use std::collections::HashMap;

use serde_json::Value;

use super::model::Progress;
use common::ansi::strip as strip_ansi;

/// Nix's activity and result type numbers (`ActivityType`, `ResultType` in Nix's logging.hh).
const ACT_BUILDS: u64 = 104;
const ACT_BUILD: u64 = 105;
const RES_BUILD_LOG_LINE: u64 = 101;
const RES_PROGRESS: u64 = 105;
/// Messages and activities up to this verbosity are shown (`lvlInfo`).
const SHOWN_LEVEL: u64 = 3;

#[derive(Debug, Default)]
pub(crate) struct NixLog {
    activity_types: HashMap<u64, u64>,
    /// The "builds" activity that counts this `nix build`'s derivations: the first one that
    /// starts while none is tracked. Those starting meanwhile are remote builders' counts of
    /// their share, forwarded.
    builds_activity: Option<u64>,
    /// Builds running on a remote builder: activity id → derivation path.
    remote_builds: HashMap<u64, String>,
    progress: Progress,
    saw_progress: bool,
    last_error: Option<String>,
}

impl NixLog {
    /// The plain-text lines one line of Nix's stderr stands for (often none).
    pub(crate) fn feed(&mut self, line: &str) -> Vec<String> {
        let Some(json) = line.strip_prefix("@nix ") else {
            return vec![strip_ansi(line)];
        };
        let Ok(event) = serde_json::from_str::<Value>(json) else {
            return vec![strip_ansi(line)];
        };
        let number = |key: &str| event.get(key).and_then(Value::as_u64);
        let text = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or("");
        let fields = event.get("fields").and_then(Value::as_array);
        match text("action") {
            "start" => {
                let (Some(id), Some(kind)) = (number("id"), number("type")) else {
                    return Vec::new();
                };
                self.activity_types.insert(id, kind);
                if kind == ACT_BUILDS && self.builds_activity.is_none() {
                    self.builds_activity = Some(id);
                }
                let level = number("level").unwrap_or(u64::MAX);
                let message = strip_ansi(text("text"));
                if kind == ACT_BUILD {
                    let field = |i: usize| {
                        fields
                            .and_then(|f| f.get(i))
                            .and_then(Value::as_str)
                            .unwrap_or("")
                    };
                    let (drv, machine) = (field(0), field(1));
                    self.progress.current = Some(derivation_name(drv));
                    if !machine.is_empty() {
                        self.remote_builds.insert(id, drv.to_string());
                        return vec![if message.contains(machine) {
                            message
                        } else {
                            format!("building '{drv}' on '{machine}'")
                        }];
                    }
                    if self.remote_builds.values().any(|remote| remote == drv) {
                        // The builder's own start of the build named above.
                        return Vec::new();
                    }
                }
                if level <= SHOWN_LEVEL && !message.is_empty() {
                    vec![message]
                } else {
                    Vec::new()
                }
            }
            "result" => {
                let kind = number("type").unwrap_or(0);
                let activity = number("id").and_then(|id| self.activity_types.get(&id).copied());
                match (kind, fields) {
                    (RES_BUILD_LOG_LINE, Some(fields)) => fields
                        .first()
                        .and_then(Value::as_str)
                        .map(|l| vec![strip_ansi(l)])
                        .unwrap_or_default(),
                    (RES_PROGRESS, Some(fields))
                        if activity == Some(ACT_BUILDS) && number("id") == self.builds_activity =>
                    {
                        let at = |i: usize| fields.get(i).and_then(Value::as_u64).unwrap_or(0);
                        self.progress.done = at(0);
                        self.progress.total = at(1);
                        self.saw_progress = true;
                        Vec::new()
                    }
                    _ => Vec::new(),
                }
            }
            "stop" => {
                if let Some(id) = number("id") {
                    self.activity_types.remove(&id);
                    self.remote_builds.remove(&id);
                    if self.builds_activity == Some(id) {
                        self.builds_activity = None;
                    }
                }
                Vec::new()
            }
            "msg" => {
                let level = number("level").unwrap_or(u64::MAX);
                let message = strip_ansi(text("msg"));
                if level == 0 {
                    self.last_error = Some(message.clone());
                }
                if level <= SHOWN_LEVEL {
                    message.lines().map(str::to_string).collect()
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        }
    }

    /// Progress so far; `None` before Nix has said how much there is to build.
    pub(crate) fn progress(&self) -> Option<Progress> {
        (self.saw_progress || self.progress.current.is_some()).then(|| self.progress.clone())
    }

    /// The first line of Nix's last error message, without the `error: ` prefix.
    pub(crate) fn error_summary(&self) -> Option<String> {
        let message = self.last_error.as_ref()?;
        let first = message.lines().find(|l| !l.trim().is_empty())?.trim();
        Some(first.strip_prefix("error: ").unwrap_or(first).to_string())
    }
}

/// `/nix/store/<hash>-hello-2.12.drv` → `hello-2.12`.
fn derivation_name(drv: &str) -> String {
    let base = drv.rsplit('/').next().unwrap_or(drv);
    let base = base.strip_suffix(".drv").unwrap_or(base);
    match base.split_once('-') {
        Some((hash, name)) if hash.len() == 32 => name.to_string(),
        _ => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_progress_and_errors() {
        let mut log = NixLog::default();
        let input = [
            r#"@nix {"action":"start","id":1,"level":4,"text":"fetching Git repository 'file:///x'","type":0}"#,
            r#"@nix {"action":"start","id":2,"level":0,"text":"","type":104}"#,
            r#"@nix {"action":"result","fields":[0,3,0,0],"id":2,"type":105}"#,
            r#"@nix {"action":"start","fields":["/nix/store/xwl60b1fjy7ija214sd2bjzcbakw9xip-a.drv","",1,1],"id":3,"level":3,"text":"building '/nix/store/xwl60b1fjy7ija214sd2bjzcbakw9xip-a.drv'","type":105}"#,
            r#"@nix {"action":"result","fields":["building a"],"id":3,"type":101}"#,
            r#"@nix {"action":"result","fields":[1,3,0,0],"id":2,"type":105}"#,
            r#"@nix {"action":"msg","level":0,"msg":"\u001b[31;1merror:\u001b[0m builder for 'x.drv' failed with exit code 1;\n       last 1 log lines:"}"#,
            "plain line",
        ];
        let lines: Vec<String> = input.iter().flat_map(|l| log.feed(l)).collect();
        assert_eq!(
            lines,
            vec![
                "building '/nix/store/xwl60b1fjy7ija214sd2bjzcbakw9xip-a.drv'",
                "building a",
                "error: builder for 'x.drv' failed with exit code 1;",
                "       last 1 log lines:",
                "plain line",
            ]
        );
        let progress = log.progress().unwrap();
        assert_eq!((progress.done, progress.total), (1, 3));
        assert_eq!(progress.current.as_deref(), Some("a"));
        assert_eq!(
            log.error_summary().unwrap(),
            "builder for 'x.drv' failed with exit code 1;"
        );
    }

    #[test]
    fn a_remote_build_names_its_machine_once_and_the_builders_counts_stay_its_own() {
        let mut log = NixLog::default();
        let drv = "/nix/store/cxc188hnb2my8qq1szm9m2rc3fs89p1s-remote.drv";
        let machine = "ssh-ng://builder?remote-store=local%3Froot%3D/tmp/b/store";
        let local_drv = "/nix/store/xwl60b1fjy7ija214sd2bjzcbakw9xip-a.drv";
        let input = [
            r#"@nix {"action":"start","id":1,"level":0,"text":"","type":104}"#.to_string(),
            r#"@nix {"action":"result","fields":[0,2,0,0],"id":1,"type":105}"#.to_string(),
            format!(r#"@nix {{"action":"start","fields":["{local_drv}","",1,1],"id":2,"level":3,"text":"building '{local_drv}'","type":105}}"#),
            r#"@nix {"action":"stop","id":2}"#.to_string(),
            r#"@nix {"action":"result","fields":[1,2,0,0],"id":1,"type":105}"#.to_string(),
            // Nix 2.8's own text names the machine; a bare one gets the machine added.
            format!(r#"@nix {{"action":"start","fields":["{drv}","{machine}",1,1],"id":3,"level":3,"text":"building '{drv}' on '{machine}'","type":105}}"#),
            // The builder's forwarded activities: its own count and its own start.
            r#"@nix {"action":"start","id":4,"level":0,"text":"","type":104}"#.to_string(),
            r#"@nix {"action":"result","fields":[0,1,0,0],"id":4,"type":105}"#.to_string(),
            format!(r#"@nix {{"action":"start","fields":["{drv}","",1,1],"id":5,"level":3,"text":"building '{drv}'","type":105}}"#),
            r#"@nix {"action":"result","fields":["building remote on the builder"],"id":5,"type":101}"#.to_string(),
            r#"@nix {"action":"result","fields":[1,1,0,0],"id":4,"type":105}"#.to_string(),
            r#"@nix {"action":"stop","id":5}"#.to_string(),
            r#"@nix {"action":"stop","id":4}"#.to_string(),
            r#"@nix {"action":"stop","id":3}"#.to_string(),
            format!(r#"@nix {{"action":"start","fields":["{drv}","{machine}",1,1],"id":6,"level":3,"text":"building '{drv}'","type":105}}"#),
        ];
        let lines: Vec<String> = input.iter().flat_map(|l| log.feed(l)).collect();
        assert_eq!(
            lines,
            vec![
                format!("building '{local_drv}'"),
                format!("building '{drv}' on '{machine}'"),
                "building remote on the builder".to_string(),
                format!("building '{drv}' on '{machine}'"),
            ]
        );
        let progress = log.progress().unwrap();
        assert_eq!((progress.done, progress.total), (1, 2));
        assert_eq!(progress.current.as_deref(), Some("remote"));
    }
}

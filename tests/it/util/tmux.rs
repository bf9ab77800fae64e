//! A tmux server of its own per test: a real pseudo-terminal to drive interactive programs.

use std::process::Command;
use std::time::Duration;

use super::build_server::wait_for;

/// A tmux server of its own, running one shell command in a 120×40 pane.
pub(crate) struct Tmux {
    socket: String,
}

impl Tmux {
    pub(crate) fn start(command: &str) -> Tmux {
        let socket = format!("abtest-{}", crate::util::nonce());
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "new-session",
                "-d",
                "-x",
                "120",
                "-y",
                "40",
                command,
            ])
            .status()
            .expect("tmux is needed for the terminal tests (.ci/run installs it)");
        assert!(status.success());
        Tmux { socket }
    }

    pub(crate) fn screen(&self, escapes: bool) -> String {
        let mut args = vec!["-L", &self.socket, "capture-pane", "-p"];
        if escapes {
            args.push("-e");
        }
        let output = Command::new("tmux").args(&args).output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub(crate) fn wait_screen(&self, what: &str) -> String {
        wait_for(Duration::from_secs(30), || {
            let screen = self.screen(false);
            screen.contains(what).then_some(screen)
        })
        .unwrap_or_else(|| panic!("never saw {what:?} on the screen:\n{}", self.screen(false)))
    }

    pub(crate) fn keys(&self, keys: &str) {
        Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", keys])
            .status()
            .unwrap();
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

//! What a person sees on a terminal, through a real pseudo-terminal (tmux): the progress bar
//! above the streaming log, Ctrl-C leaving the job running, colour (and none under
//! `NO_COLOR`), and `bs --watch` redrawing in place.

use crate::util::build_server::BuildBox;
use crate::util::fleet::Fleet;
use crate::util::tmux::Tmux;

fn shell(build: &BuildBox, extra_env: &str, command: &str) -> String {
    format!(
        "env -i PATH={path} HOME={home} TERM=xterm-256color ATUIN_BOOTSTRAP_ARGV0={command} {extra_env} ATUIN_BOOTSTRAP_SERVER={url} bash -c '{binary} \"$@\"; echo EXIT=$?; sleep 60' -- ",
        path = std::env::var("PATH").unwrap(),
        home = build.home.display(),
        url = build.server.url,
        binary = crate::util::binary().display(),
    )
}

#[test]
fn follow_shows_a_progress_bar_and_ctrl_c_leaves_the_job_running() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    build.settle();
    let tmux = Tmux::start(&format!("{}--follow hang", shell(&build, "", "bt")));
    tmux.wait_screen("hanging");
    let screen = tmux.wait_screen("0/1 derivations hang");
    assert!(
        screen.contains("[00:00:0"),
        "the bar shows the elapsed time: {screen}"
    );
    tmux.keys("C-c");
    let screen = tmux.wait_screen("EXIT=");
    assert!(screen.contains("EXIT=130"), "{screen}");
    assert!(
        screen.contains("keeps running") && screen.contains("atuin-bootstrap cancel"),
        "{screen}"
    );
    let running = crate::util::http::get_json(&build.url("/api/v1/jobs?state=running"));
    let id = running["jobs"][0]["id"]
        .as_u64()
        .expect("the job still runs");
    crate::util::http::post(&build.url(&format!("/api/v1/jobs/{id}/cancel")), "", &[]);
}

#[test]
fn colour_on_a_terminal_and_none_under_no_color() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    build.settle();
    let coloured = Tmux::start(&shell(&build, "", "bs"));
    coloured.wait_screen("EXIT=0");
    let screen = coloured.screen(true);
    assert!(
        screen.contains("\u{1b}["),
        "no colour on a terminal:\n{screen}"
    );
    let plain = Tmux::start(&shell(&build, "NO_COLOR=1", "bs"));
    plain.wait_screen("EXIT=0");
    let screen = plain.screen(true);
    assert!(
        !screen.contains("\u{1b}["),
        "colour despite NO_COLOR:\n{screen}"
    );
    assert!(screen.contains("succeeded"), "{screen}");
}

#[test]
fn bs_watch_redraws_in_place() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    build.settle();
    let tmux = Tmux::start(&format!("{}--watch", shell(&build, "", "bs")));
    tmux.wait_screen("TRIGGER");
    let (_, job) = build.request(r#"{"targets": ["greet"]}"#);
    build.wait_finished(job["id"].as_u64().unwrap());
    let screen = tmux.wait_screen("greet");
    assert_eq!(
        screen.matches("TRIGGER").count(),
        1,
        "redrawn in place, not appended:\n{screen}"
    );
    tmux.keys("C-c");
    tmux.wait_screen("EXIT=");
}

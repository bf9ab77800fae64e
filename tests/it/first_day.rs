//! The traps a newcomer met on the first day, each shown gone with the real binary and a real
//! server: `bl -f` of a job with nothing to build says which job and why its log is empty; an
//! error is said once (`bt --follow`, `bl -f`); `bs` goes on without a token file it cannot
//! read; the wizard's `--yes --dry-run` names what has no default; the status does not drift
//! (a tip built after all is not "not built", a fleet without hosts says so, a job that never
//! started shows no start and no `0/0`); a server without a repository names `serve --repo`;
//! `--config`'s help names `ATUIN_BOOTSTRAP_CONFIG`.

use std::process::{Command, Stdio};

use crate::util::applets::Applets as User;
use crate::util::build_server::{BuildBox, wait_for};
use crate::util::flake_repo::FlakeRepo;
use crate::util::fleet::Fleet;
use crate::util::http::{get, get_json};
use crate::util::output::{stderr as err, stdout as out};
use crate::util::server::Spawned;

#[test]
fn bl_follow_says_which_job_it_follows_and_why_its_log_is_empty() {
    let work = tempfile::tempdir().unwrap();
    let fleet = Fleet::new();
    let build_box = BuildBox::start(&fleet, work.path(), "");
    build_box.settle();
    let user = User::new(work.path(), &build_box.server.url);
    // The poll built every host: asking again has nothing to build, as after a commit that
    // changed no host.
    let again = user.run("bt", &["laptop", "--wait", "-q"]);
    assert_eq!(again.status.code(), Some(0), "{}", err(&again));
    let id = out(&again).trim().to_string();

    let followed = user.run("bl", &["-f"]);
    assert_eq!(followed.status.code(), Some(0), "{}", err(&followed));
    let said = err(&followed);
    assert!(
        said.contains(&format!(
            "following the newest job: job {id} succeeded laptop"
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "job {id} has an empty log: nothing needed building"
        )),
        "{said}"
    );
    assert!(out(&followed).is_empty(), "{}", out(&followed));
    // Named by the user, the job is not announced, but an empty log still says why.
    let named = user.run("bl", &[&id, "-f"]);
    assert!(
        !err(&named).contains("following the newest job"),
        "{}",
        err(&named)
    );
    assert!(
        err(&named).contains("nothing needed building"),
        "{}",
        err(&named)
    );
}

#[test]
fn a_failed_build_says_its_error_once() {
    let work = tempfile::tempdir().unwrap();
    let fleet = Fleet::new();
    let build_box = BuildBox::start(&fleet, work.path(), "");
    build_box.settle();
    let user = User::new(work.path(), &build_box.server.url);
    let error = "failed with exit code 3";

    let followed = user.run("bt", &["broken", "--follow"]);
    assert_eq!(followed.status.code(), Some(1), "{}", err(&followed));
    let all = format!("{}{}", out(&followed), err(&followed));
    assert_eq!(all.matches(error).count(), 1, "{all}");
    assert!(
        err(&followed).contains("failed (its error is in the log above)"),
        "{all}"
    );

    let again = user.run("bl", &["-f"]);
    assert_eq!(again.status.code(), Some(1));
    let all = format!("{}{}", out(&again), err(&again));
    assert_eq!(all.matches(error).count(), 1, "{all}");

    // Without the log on screen (`--wait`), the error is said in the ending.
    let waited = user.run("bt", &["broken", "--wait"]);
    assert_eq!(waited.status.code(), Some(1));
    let all = format!("{}{}", out(&waited), err(&waited));
    assert_eq!(all.matches(error).count(), 1, "{all}");
}

#[test]
fn bs_and_bl_go_on_without_a_token_file_they_cannot_read() {
    let work = tempfile::tempdir().unwrap();
    let fleet = Fleet::new();
    let build_box = BuildBox::start(&fleet, work.path(), "");
    build_box.settle();
    let user = User::new(work.path(), &build_box.server.url);
    let missing = work.path().join("no-such-token");
    let with_missing = |applet: &str, args: &[&str]| {
        user.command(applet)
            .env("ATUIN_BOOTSTRAP_CLIENT__TOKEN_FILE", &missing)
            .args(args)
            .output()
            .unwrap()
    };
    for (applet, args) in [("bs", &[][..]), ("bs", &["--json"]), ("bl", &["1"])] {
        let read = with_missing(applet, args);
        assert_eq!(read.status.code(), Some(0), "{applet}: {}", err(&read));
        assert!(
            err(&read).contains("warning: cannot read the token file")
                && err(&read).contains("going on without a token"),
            "{applet}: {}",
            err(&read)
        );
    }
    // A write still needs it: the same file is an error there.
    let write = with_missing("bt", &["hello"]);
    assert_eq!(write.status.code(), Some(2), "{}", err(&write));
}

#[test]
fn the_wizards_yes_names_what_has_no_default() {
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let refused = crate::util::command_in(&home)
        .env("ATUIN_BOOTSTRAP_ARGV0", "bootstrap-new-machine")
        .args(["--yes", "--dry-run"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", err(&refused));
    let said = err(&refused);
    assert!(
        said.contains("--yes takes the defaults, but these have none: pass --server URL"),
        "{said}"
    );
    assert!(!said.contains("(or --yes"), "{said}");
}

const HOSTLESS: &str = r#"{
  outputs = { self }: {
    packages.x86_64-linux.hello = derivation {
      name = "hello"; system = "x86_64-linux"; builder = "/bin/sh"; nonce = "@NONCE@";
      args = [ "-c" "echo hello > $out" ];
    };
  };
}
"#;

#[test]
fn the_status_does_not_drift() {
    let work = tempfile::tempdir().unwrap();
    let repo = FlakeRepo::new();
    let tip = repo.commit(HOSTLESS, "packages only, no hosts");
    let build_box = BuildBox::with_poll(&repo.path().display().to_string(), work.path(), "1h", "");
    build_box.wait_first_fetch();
    let user = User::new(work.path(), &build_box.server.url);
    let note = || get_json(&build_box.url("/api/v1/status"))["repo"]["note"].clone();
    // Nothing to build by default: the poll says so once.
    let said = wait_for(std::time::Duration::from_secs(20), || {
        note().as_str().map(str::to_string)
    })
    .expect("a note on the tip that was not built");
    assert!(said.contains("was not built"), "{said}");

    // A fleet whose flake has no hosts says so, not "once the repository is fetched".
    let page = get(&build_box.url("/")).text();
    assert!(
        page.contains("has no <code>nixosConfigurations</code>"),
        "{page}"
    );
    assert!(!page.contains("once the repository is fetched"), "{page}");
    let status = user.run("bs", &[]);
    assert!(
        out(&status).contains(&format!(
            "no hosts: the fleet flake at {} has no nixosConfigurations",
            &tip[..8]
        )),
        "{}",
        out(&status)
    );

    // Built after all (through the API): no longer "not built".
    let built = user.run("bt", &["hello", "--wait"]);
    assert_eq!(built.status.code(), Some(0), "{}", err(&built));
    assert!(note().is_null(), "{}", note());
    assert!(!out(&user.run("bs", &[])).contains("was not built"));

    // A job that never started (the flake does not evaluate): no start, no 0/0.
    repo.commit("{ outputs = { self }: { packages = ", "does not parse");
    let failed = user.run("bt", &["hello", "--wait", "-q"]);
    assert_eq!(failed.status.code(), Some(1), "{}", err(&failed));
    let id = out(&failed).trim().to_string();
    let job = get_json(&build_box.url(&format!("/api/v1/jobs/{id}")));
    assert_eq!(job["state"], "failed");
    assert!(job["started_at"].is_null(), "{job}");
    let page = get(&build_box.url("/")).text();
    let row = page
        .split(&format!("<tr id=\"job-{id}\">"))
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .unwrap_or_else(|| panic!("no row for job {id}: {page}"));
    assert!(row.contains("never started"), "{row}");
    assert!(!row.contains("queued"), "{row}");
    let detail = out(&user.run("bs", &[&id]));
    assert!(!detail.contains("0/0"), "{detail}");
}

#[test]
fn a_server_without_a_repository_names_serve_repo() {
    let work = tempfile::tempdir().unwrap();
    let mut command = crate::util::command_in(&work.path().join("home"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(work.path().join("state"))
        .stdin(Stdio::null());
    let server = Spawned::start(command, &work.path().join("server.log"));
    let user = User::new(work.path(), &server.url);
    let refused = user.run("bt", &["hello"]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(
        err(&refused).contains("serve --repo URL"),
        "{}",
        err(&refused)
    );
    assert!(out(&user.run("bs", &[])).contains("serve --repo URL"));
    let page = get(&format!("{}/", server.url)).text();
    assert!(page.contains("serve --repo"), "{page}");
}

#[test]
fn the_config_flag_names_its_environment_variable() {
    for args in [&["serve", "--help"][..], &["token", "create", "--help"]] {
        let help = Command::new(crate::util::binary())
            .env_clear()
            .args(args)
            .output()
            .unwrap();
        assert!(
            out(&help).contains("$ATUIN_BOOTSTRAP_CONFIG"),
            "{args:?}: {}",
            out(&help)
        );
    }
}

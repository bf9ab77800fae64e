//! Retention: only the newest `build.keep_per_target` successful builds of a target stay
//! rooted; `atuin-bootstrap gc` applies the same rule.

use std::process::Command;

use crate::util::build_server::BuildBox;
use crate::util::fleet::Fleet;
use crate::util::nix::run_ok;

#[test]
fn gc_keeps_exactly_keep_per_target_roots() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "[build]\nkeep_per_target = 2\n");
    let mut outputs = Vec::new();
    for _ in 0..4 {
        let rev = fleet.bump();
        let (_, job) = build.request(&format!(r#"{{"targets": ["hello"], "rev": "{rev}"}}"#));
        let done = build.wait_finished(job["id"].as_u64().unwrap());
        assert_eq!(done["state"], "succeeded");
        outputs.push((
            job["id"].as_u64().unwrap(),
            done["outputs"]["hello"].as_str().unwrap().to_string(),
        ));
    }
    let hello_roots = build.state.join("gcroots/hello");
    assert_eq!(build.root_jobs("hello"), vec![outputs[2].0, outputs[3].0]);

    // Plant an older root by hand; `gc` drops it again.
    std::os::unix::fs::symlink(&outputs[0].1, hello_roots.join("1")).unwrap();
    let output = run_ok(
        Command::new(crate::util::binary())
            .env("HOME", &build.home)
            .arg("--config")
            .arg(&build.config)
            .arg("gc"),
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(printed.contains("1 root(s) dropped"), "{printed}");
    assert_eq!(std::fs::read_dir(&hello_roots).unwrap().count(), 2);

    // The dropped outputs are no longer roots; the kept ones are.
    let roots = |path: &str| {
        String::from_utf8(
            run_ok(Command::new("nix-store").args(["--query", "--roots", path])).stdout,
        )
        .unwrap()
    };
    assert!(!roots(&outputs[0].1).contains(&build.state.display().to_string()));
    assert!(roots(&outputs[3].1).contains(&build.state.display().to_string()));
}

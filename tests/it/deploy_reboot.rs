//! A reboot is checked too, with real builds and generations and a stand-in for
//! /run/booted-system (a real reboot cannot happen here: the reboot command is a script that
//! points the booted and current system at the profile, as booting it would): `boot` mode
//! and a kernel change report `reboot_needed`; the agent reboots inside its window; the first
//! boot of a new generation is checked before anything else, and one that fails goes back
//! (boot default, then switched to) and is never tried again.

use crate::util::deploy_box::{build_newest, host_view, laptop_box, laptop_deployed, out_of};
use crate::util::deploy_fleet::{report_of, write_executable};
use crate::util::output::{code, stderr};

#[test]
fn reboots_are_reported_done_in_the_window_and_checked_at_first_boot() {
    let (_work, mut fleet, build_box) = laptop_box();
    let (mut laptop, first) = laptop_deployed(&build_box.server.url);
    laptop.boot_into(&first);

    // Boot mode: the profile takes it, and the host waits for a reboot.
    fleet.bump_all();
    let second = out_of(&build_newest(&build_box), "laptop");
    laptop.deploy_settings = "health_timeout = \"3s\"\nmode = \"boot\"\n".into();
    let boot = laptop.deploy(&["--json"]);
    assert_eq!(code(&boot), 0, "{}", stderr(&boot));
    assert_eq!(report_of(&boot)["state"], "reboot_needed");
    assert_eq!(laptop.generation().unwrap().1, second);
    assert_eq!(laptop.running().as_deref(), Some(first.as_str()));
    assert_eq!(
        laptop.activations().last().unwrap(),
        &(second.clone(), "boot".to_string())
    );
    assert_eq!(
        host_view(&build_box, "laptop")["last_report"]["state"],
        "reboot_needed"
    );
    let activations = laptop.activations().len();
    let again = laptop.deploy(&["--json"]);
    assert_eq!(report_of(&again)["state"], "reboot_needed");
    assert_eq!(laptop.activations().len(), activations);

    // Inside the window (equal ends: any time) the agent reboots.
    let reboot = laptop.dir.path().join("reboot");
    write_executable(
        &reboot,
        &format!(
            "#!/bin/sh\necho reboot >> \"$0.calls\"\nt=$(readlink -f {profile})\nln -sfn \"$t\" {booted}\nln -sfn \"$t\" {current}\n",
            profile = laptop.profile().display(),
            booted = laptop.booted_system().display(),
            current = laptop.current_system().display(),
        ),
    );
    laptop.deploy_settings.push_str(&format!(
        "reboot = \"window\"\nreboot_window = \"00:00-00:00\"\nreboot_command = [{:?}]\n",
        reboot.display().to_string()
    ));
    let rebooting = laptop.deploy(&["--json"]);
    assert_eq!(code(&rebooting), 0, "{}", stderr(&rebooting));
    let message = report_of(&rebooting)["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("rebooting now"), "{message}");
    assert!(laptop.dir.path().join("reboot.calls").exists());

    // The first boot: checked before anything else, and it passes.
    let booted = laptop.deploy(&["--json"]);
    assert_eq!(code(&booted), 0, "{}", stderr(&booted));
    assert!(
        stderr(&booted).contains("first boot of"),
        "{}",
        stderr(&booted)
    );
    let report = report_of(&booted);
    assert_eq!(report["state"], "deployed");
    assert!(
        report["message"]
            .as_str()
            .unwrap()
            .contains("passed its checks")
    );
    assert_eq!(laptop.activations().len(), activations);
    let settled = laptop.deploy(&["--json"]);
    assert_eq!(report_of(&settled)["state"], "up_to_date");

    // A generation whose first boot fails its checks goes back by itself.
    fleet.set_checks("laptop", &["echo broken at boot; false"]);
    fleet.bump_all();
    let third = out_of(&build_newest(&build_box), "laptop");
    let rebooting = laptop.deploy(&["--json"]);
    assert_eq!(report_of(&rebooting)["state"], "reboot_needed");
    assert_eq!(laptop.running().as_deref(), Some(third.as_str()));
    let back = laptop.deploy(&["--json"]);
    assert_eq!(code(&back), 1, "{}", stderr(&back));
    let report = report_of(&back);
    assert_eq!(report["state"], "rolled_back");
    let message = report["message"].as_str().unwrap();
    assert!(message.contains("first boot"), "{message}");
    assert!(message.contains("broken at boot"), "{message}");
    assert_eq!(laptop.generation().unwrap().1, second);
    assert_eq!(laptop.running().as_deref(), Some(second.as_str()));
    let activations = laptop.activations();
    assert_eq!(
        activations[activations.len() - 2..],
        [
            (second.clone(), "boot".to_string()),
            (second.clone(), "switch".to_string())
        ]
    );
    assert_eq!(host_view(&build_box, "laptop")["state"], "rolled_back");
    let skipped = laptop.deploy(&[]);
    assert_eq!(code(&skipped), 0, "{}", stderr(&skipped));
    assert_eq!(laptop.activations().len(), activations.len());

    // Switch mode with a new kernel: it runs, and says it needs a reboot (never: no reboot).
    fleet.set_checks("laptop", &["true"]);
    fleet.bump_kernel("laptop");
    let fourth = out_of(&build_newest(&build_box), "laptop");
    laptop.deploy_settings = "health_timeout = \"3s\"\n".into();
    let calls = std::fs::read_to_string(laptop.dir.path().join("reboot.calls")).unwrap();
    let switched = laptop.deploy(&["--json"]);
    assert_eq!(code(&switched), 0, "{}", stderr(&switched));
    assert_eq!(report_of(&switched)["state"], "reboot_needed");
    assert_eq!(laptop.running().as_deref(), Some(fourth.as_str()));
    assert_eq!(
        std::fs::read_to_string(laptop.dir.path().join("reboot.calls")).unwrap(),
        calls
    );
    laptop.boot_into(&fourth);
    let booted = laptop.deploy(&["--json"]);
    assert_eq!(code(&booted), 0, "{}", stderr(&booted));
    assert_eq!(report_of(&booted)["state"], "deployed");
}

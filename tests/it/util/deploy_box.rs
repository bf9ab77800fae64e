//! The box side of the deploy tests: a box building a `DeployFleet`, its builds, its view of
//! a host, and the start most of those tests share (one host, `laptop`, and a box that built
//! it). The host side (profiles, activations, `deploy` runs) is `deploy_fleet`.

use std::path::Path;

use super::build_server::BuildBox;
use super::deploy_fleet::{DeployFleet, FleetHost};
use super::http::get_json;
use super::output::code;

/// A box over `fleet` that builds its hosts, and waits for its first build.
pub(crate) fn start_box(fleet: &DeployFleet, work: &Path, extra: &str) -> BuildBox {
    let build_box = BuildBox::with_poll(&fleet.path().display().to_string(), work, "1h", extra);
    build_box.settle();
    build_box
}

/// Builds the fleet's newest commit on the box and waits for it.
pub(crate) fn build_newest(build_box: &BuildBox) -> serde_json::Value {
    let (status, job) = build_box.request("{}");
    assert!(status == 201 || status == 200, "{status} {job}");
    let job = build_box.wait_finished(job["id"].as_u64().unwrap());
    assert_eq!(job["state"], "succeeded", "{job}");
    job
}

/// The box's view of host `name`.
pub(crate) fn host_view(build_box: &BuildBox, name: &str) -> serde_json::Value {
    get_json(&build_box.url(&format!("/api/v1/hosts/{name}")))
}

/// The system of the box's latest build for host `name`.
pub(crate) fn latest_system(build_box: &BuildBox, name: &str) -> String {
    host_view(build_box, name)["latest"]["path"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The system a finished build made for `host`.
pub(crate) fn out_of(build: &serde_json::Value, host: &str) -> String {
    build["outputs"][host].as_str().unwrap().to_string()
}

/// A fleet of one host, `laptop`, and a box over it that has built it, with the directory the
/// box keeps its state in: where most deploy tests start. Bound as `(work, fleet, build_box)`
/// they drop box first, as the separate variables they replace did.
pub(crate) fn laptop_box() -> (tempfile::TempDir, DeployFleet, BuildBox) {
    let work = tempfile::tempdir().unwrap();
    let fleet = DeployFleet::new(&["laptop"]);
    let build_box = start_box(&fleet, work.path(), "");
    (work, fleet, build_box)
}

/// Host `laptop` of that fleet talking to `server`, deployed once (which must succeed), and
/// the system it then runs.
pub(crate) fn laptop_deployed(server: &str) -> (FleetHost, String) {
    let laptop = FleetHost::new("laptop", server);
    assert_eq!(code(&laptop.deploy(&[])), 0);
    let system = laptop.generation().unwrap().1;
    (laptop, system)
}

//! The links step: `bt`, `bs`, `bl` and `bootstrap-new-machine` in `~/.local/bin`, unless the
//! binary comes from the Nix store (then the package provides them) or they are already there.

use super::detect::Machine;
use super::plan::{Plan, PlannedCommand};
use common::process::Process;

pub(super) fn plan(plan: &mut Plan, process: &Process, machine: &Machine) {
    if machine.installed_by_nix {
        return;
    }
    let Some(exe) = process.current_exe.clone() else {
        return;
    };
    let dir = machine.home.join(".local/bin");
    let current = common::applet::LINKS
        .iter()
        .all(|(name, _)| std::fs::read_link(dir.join(name)).ok().as_deref() == Some(exe.as_path()));
    if current {
        return;
    }
    plan.commands.push(PlannedCommand {
        display: format!("atuin-bootstrap links {}", dir.display()),
        run: Box::new(move || {
            common::applet::make_links(&exe, &dir)?;
            Ok(format!(
                "linked bt, bs, bl and bootstrap-new-machine in {}",
                dir.display()
            ))
        }),
    });
}

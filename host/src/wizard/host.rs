//! One host's files in the fleet repository as the wizard renders them: `default.nix` from the
//! profile and, from a NixOS machine, `hardware-configuration.nix` and `boot-loader.nix`.
//! Public so the tests evaluate exactly what the wizard writes; whether and how the files are
//! written (never over a file that exists) is `fleet_repo`'s part.

use super::boot_loader::BootLoader;
use super::templates;

/// What a host's files are made of.
pub struct Inputs<'a> {
    /// `laptop`, `desktop`, `server` or `wsl`.
    pub profile: &'a str,
    /// Placeholder values of the profile template.
    pub values: &'a [(&'a str, &'a str)],
    /// Placeholders with no value: their lines are rendered commented out.
    pub unset: &'a [&'a str],
    /// `nixos-generate-config --show-hardware-config`.
    pub hardware: Option<&'a str>,
    /// The boot loader `boot-loader.nix` declares; `None` leaves that file out.
    pub boot_loader: Option<&'a BootLoader>,
}

/// The host's module, rendered from its profile's template; it imports the other two.
pub const DEFAULT: &str = "default.nix";
/// What `nixos-generate-config --show-hardware-config` printed on the machine.
pub const HARDWARE: &str = "hardware-configuration.nix";
/// The machine's boot loader, rendered by `BootLoader::render`.
pub const BOOT_LOADER: &str = "boot-loader.nix";

/// Whether hosts of `profile` boot NixOS themselves, so they need the machine's hardware file
/// and boot loader to build (a NixOS-WSL host boots through WSL and needs neither).
pub fn needs_machine_files(profile: &str) -> bool {
    profile != "wsl"
}

/// The host's files, by name inside `hosts/<name>/`.
pub fn render(inputs: &Inputs) -> Result<Vec<(&'static str, String)>, String> {
    let template = templates::profile(inputs.profile)
        .ok_or_else(|| format!("there is no profile {:?}", inputs.profile))?;
    let mut files = vec![(
        DEFAULT,
        templates::render_leaving_out(template, inputs.values, inputs.unset)?,
    )];
    if needs_machine_files(inputs.profile) {
        if let Some(hardware) = inputs.hardware {
            files.push((HARDWARE, hardware.to_string()));
        }
        if let Some(boot_loader) = inputs.boot_loader {
            files.push((BOOT_LOADER, boot_loader.render()));
        }
    }
    Ok(files)
}

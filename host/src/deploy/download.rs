//! Taking the new system from the box, trusting only the box's build key: `nix copy --from
//! BOX` with Nix's `trusted-public-keys` set to that key for the call (`require-sigs`), never
//! building; then every path of its closure must be one the box vouches for with that key
//! (`nix store verify --store BOX --recursive --sigs-needed 1`: a pushed path is served under
//! the push key, so a system holding one is refused); then every path the host already had
//! must hold the box's content (the same NarHash, see `narhash`: `nix copy` skips a path the
//! host has); then it must be a NixOS system (`nixos-version`, `bin/switch-to-configuration`)
//! before the profile moves.
//!
//! Why the closure is verified at the box and not in the host's store: a path the host
//! already had carries the signatures it came with (cache.nixos.org's, none for a local
//! build), so asking the local copies for the box's signature would refuse nearly every
//! first deploy. Store paths are named by what built them, so the box vouching for the name
//! is what `nix copy` itself relies on.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::bounded::{self, with_output};
use super::machine::Machine;
use super::narhash;
use common::exit::SERVER;
use nix_core::command;

/// A download has no deadline of its own; this only stops one that hangs forever.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
const VERIFY_TIMEOUT: Duration = Duration::from_secs(3600);

/// Why the target was not taken, and the exit code that says so.
#[derive(Debug, Clone)]
pub(super) struct Refusal {
    pub reason: String,
    pub code: i32,
    /// The system itself is at fault (not a NixOS system): never tried again.
    pub system_at_fault: bool,
}

/// The keys a download trusts: `deploy.public_keys`, else the build keys the box announces.
pub(super) fn trusted_keys(machine: &Machine<'_>) -> Result<Vec<String>> {
    if !machine.public_keys.is_empty() {
        return Ok(machine.public_keys.clone());
    }
    let status = machine.api.get_json("/api/v1/status")?;
    Ok(status["cache"]["public_keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// Brings `path` into the host's store from the box, or, when the box cannot give it, from
/// the bucket it publishes to (`sources`); or says why not.
pub(super) fn fetch(
    machine: &Machine<'_>,
    path: &str,
    keys: &[String],
) -> Result<Result<(), Refusal>> {
    let cache = machine.api.base();
    if keys.is_empty() {
        return Ok(Err(Refusal {
            reason: format!("the box at {cache} announces no build key to trust"),
            code: SERVER,
            system_at_fault: false,
        }));
    }
    let caches = super::sources::caches(machine.api);
    let mut refused = None;
    for (index, from) in caches.iter().enumerate() {
        if index > 0 {
            machine
                .log
                .line(&format!("deploy: trying the box's published cache {from}"));
        }
        match fetch_from(machine, from, path, keys)? {
            Ok(()) => {
                refused = None;
                break;
            }
            // The cache could not give the path: the next one may.
            Err(refusal) if refusal.code == SERVER => refused = Some(refusal),
            Err(refusal) => return Ok(Err(refusal)),
        }
    }
    if let Some(refusal) = refused {
        return Ok(Err(refusal));
    }
    if let Err(reason) = is_nixos_system(path) {
        return Ok(Err(Refusal {
            reason,
            code: 1,
            system_at_fault: true,
        }));
    }
    Ok(Ok(()))
}

/// `path` from one cache: the copy, that cache's word that every path of the closure is
/// signed by a build key, and the host's copies compared with the NarHashes it announces.
fn fetch_from(
    machine: &Machine<'_>,
    cache: &str,
    path: &str,
    keys: &[String],
) -> Result<Result<(), Refusal>> {
    // The copy, the cache's word on the closure and its NarHashes do not depend on each
    // other: all at once. Each Nix keeps narinfos in an SQLite cache under XDG_CACHE_HOME,
    // and two writing it at once fail ("executing SQLite statement"): the verify and the
    // listing get caches of their own.
    let log = machine.log.clone();
    let verify_cache = machine.memory.dir().join("verify-cache");
    let listing_cache = machine.memory.dir().join("path-info-cache");
    let (finished, verified, announced) = std::thread::scope(|scope| {
        let verify = scope.spawn(|| {
            let mut command = command::verify_signed(cache, path, keys).command();
            command.env("XDG_CACHE_HOME", &verify_cache);
            bounded::run(command, Instant::now() + VERIFY_TIMEOUT, Some(log.boxed()))
        });
        let listed = scope.spawn(|| {
            let mut command = command::closure_info(Some(cache), path, keys).command();
            command.env("XDG_CACHE_HOME", &listing_cache);
            command.output()
        });
        let copy = bounded::run(
            command::copy_from(cache, path, keys).command(),
            Instant::now() + DOWNLOAD_TIMEOUT,
            Some(machine.log.boxed()),
        );
        (
            copy,
            verify.join().expect("the verify thread panicked"),
            listed.join().expect("the path-info thread panicked"),
        )
    });
    let (finished, verified) = (finished?, verified?);
    if !finished.succeeded() {
        return Ok(Err(Refusal {
            reason: with_output(
                format!(
                    "the cache at {cache} could not give {path} signed by {} (nothing is built here)",
                    keys.join(" ")
                ),
                &finished.output,
            ),
            code: SERVER,
            system_at_fault: false,
        }));
    }
    if !verified.succeeded() {
        return Ok(Err(Refusal {
            reason: with_output(
                format!(
                    "not every path of {path} is signed by the box's build key (a pushed path?)"
                ),
                &verified.output,
            ),
            code: 1,
            system_at_fault: false,
        }));
    }
    let announced = match narhash::read(announced, &format!("the cache at {cache}")) {
        Ok(announced) => announced,
        Err(error) => {
            return Ok(Err(Refusal {
                reason: format!(
                    "the cache at {cache} could not list the closure of {path}: {error:#}"
                ),
                code: SERVER,
                system_at_fault: false,
            }));
        }
    };
    let local = narhash::read(
        command::closure_info(None, path, keys).command().output(),
        "the host's store",
    )?;
    let differing = narhash::differing(&announced, &local);
    if !differing.is_empty() {
        return Ok(Err(Refusal {
            reason: format!(
                "the host's own copy of {} differs from the box's build (another NarHash: it came from another cache or key, e.g. a pushed upload); remove it with `nix store delete` or repair it with `nix-store --repair-path`, then deploy again",
                differing.join(", ")
            ),
            code: 1,
            system_at_fault: false,
        }));
    }
    Ok(Ok(()))
}

/// A NixOS system's toplevel has `nixos-version` and `bin/switch-to-configuration`.
fn is_nixos_system(path: &str) -> Result<(), String> {
    let root = Path::new(path);
    for part in ["nixos-version", "bin/switch-to-configuration"] {
        if !root.join(part).exists() {
            return Err(format!(
                "{path} is not a NixOS system: it has no {part} (is the target a NixOS host's system.build.toplevel?)"
            ));
        }
    }
    Ok(())
}

# The fleet's shell aliases: one list, used by the NixOS modules (environment.shellAliases)
# and the home-manager module (home.shellAliases), so they cannot drift between machines.
# `fleetFlake` is where the fleet flake is checked out (a flake reference: a directory or a
# git URL). The aliases are expanded when they run, so `$(hostname)` is the machine's name.
{ fleetFlake }:
{
  # Switch this NixOS machine to its configuration in the fleet flake; with the build box's
  # cache as a substituter, everything the box already built is downloaded, not rebuilt.
  rebuild = "sudo nixos-rebuild switch --flake ${fleetFlake}#$(hostname)";
  # The same, made the boot default only (applied at the next boot).
  rebuild-boot = "sudo nixos-rebuild boot --flake ${fleetFlake}#$(hostname)";
  # Have the build box build this machine first and follow the log, then `rebuild`.
  prebuild = "bt $(hostname) --follow";
  # Queue a build and follow it; follow the newest job's log; watch the queue.
  btf = "bt --follow";
  blf = "bl --follow";
  bsw = "bs --watch";
}

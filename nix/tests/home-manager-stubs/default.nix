# Stand-ins for home-manager, for evaluating this project's home-manager modules offline:
# the options they set, declared as home-manager declares them (nix-community/home-manager:
# modules/lib/file-type.nix for home.file and xdg.configFile, modules/programs/atuin.nix,
# modules/misc/nix.nix), and home-manager's assertion that nix.settings needs nix.package.
#
# `forceOverwriteSettings`: home-manager 25.11 and later declare
# programs.atuin.forceOverwriteSettings; older releases do not, and the modules must work
# with both.
{ lib, forceOverwriteSettings ? true }:
{
  pkgs = import ../nixos-stubs/pkgs.nix;
  modules = [
    ../nixos-stubs/assertions.nix
    ./files.nix
    ./home.nix
    (import ./atuin.nix { inherit forceOverwriteSettings; })
  ];
}

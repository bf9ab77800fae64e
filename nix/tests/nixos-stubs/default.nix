# Stand-ins for nixpkgs' NixOS, for evaluating this project's modules offline (nixpkgs cannot
# be fetched on the build machines; only its lib is vendored). Each file declares the NixOS
# options our modules, templates and the hardware files nixos-generate-config writes touch,
# with the types and defaults NixOS gives them, and carries NixOS's own assertions where they
# decide whether a host can be built at all (root file system, boot loader, users). What is
# not declared here is not checked: an option we set that NixOS does not have fails here as
# it would there, but a value NixOS rejects in code we did not copy passes.
#
# `nixosSystem` is nixpkgs.lib.nixosSystem's shape (specialArgs, modules) over these stubs,
# with a fake package set (./pkgs.nix): nothing is built, store paths are made up.
{ lib }:
let
  modules = [
    ./assertions.nix
    ./boot.nix
    ./filesystems.nix
    ./hardware.nix
    ./networking.nix
    ./nix.nix
    ./nix-remote-build.nix
    ./binfmt.nix
    ./environment.nix
    ./users.nix
    ./systemd.nix
    ./services.nix
  ];
in
{
  inherit modules;

  nixosSystem =
    {
      modules,
      specialArgs ? { },
      ...
    }:
    lib.evalModules {
      specialArgs = {
        modulesPath = ./modules;
      }
      // specialArgs;
      modules = [
        (
          { config, ... }:
          {
            _module.args.pkgs = import ./pkgs.nix {
              inherit lib;
              inherit (config.nixpkgs) hostPlatform;
            };
          }
        )
      ]
      ++ (import ./default.nix { inherit lib; }).modules
      ++ modules;
    };
}

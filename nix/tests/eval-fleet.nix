# Evaluates every host of a fleet flake as its flake.nix builds them — nixpkgs.lib.nixosSystem
# with this project's modules and the host's files — against the NixOS stand-ins in
# ./nixos-stubs (nixpkgs cannot be fetched here; its lib can). For each host: the NixOS
# assertions that fail, the warnings, and the facts the tests check (boot loader, firewall,
# the deploy unit, the atuin-bootstrap config file in /etc).
#
#   nix-instantiate --eval --strict --json nix/tests/eval-fleet.nix \
#     --argstr lib /path/to/nixpkgs/lib --argstr fleet /path/to/fleet
{
  # nixpkgs' lib directory (the vendored nixpkgs.lib, unpacked).
  lib,
  # The fleet flake's directory (flake.nix and hosts/).
  fleet,
  # NixOS-WSL's source (the vendored nixos-wsl, unpacked): its real modules for wsl hosts.
  nixosWsl,
}:
let
  nixpkgsLib = import (/. + lib);
  stubs = import ./nixos-stubs { lib = nixpkgsLib; };

  nixpkgs = {
    lib = nixpkgsLib // {
      inherit (stubs) nixosSystem;
    };
    legacyPackages = nixpkgsLib.genAttrs [ "x86_64-linux" "aarch64-linux" ] (
      system:
      import ./nixos-stubs/pkgs.nix {
        lib = nixpkgsLib;
        hostPlatform = nixpkgsLib.systems.elaborate system;
      }
    );
  };

  # This project's flake, its outputs evaluated with the stand-in nixpkgs.
  atuin-bootstrap =
    let
      self = (import ../../flake.nix).outputs {
        inherit self nixpkgs;
      };
    in
    self // { outPath = ../..; };

  inputs = {
    inherit nixpkgs atuin-bootstrap;
    # The real NixOS-WSL modules (as its flake's nixosModules.default imports them), with
    # the NixOS options they set that no other stand-in declares.
    nixos-wsl.nixosModules.default = {
      imports = [
        (/. + nixosWsl + "/modules")
        ./nixos-stubs/for-nixos-wsl.nix
      ];
    };
  };

  fleetDir = /. + fleet;
  outputs = (import (fleetDir + "/flake.nix")).outputs (inputs // { self = outputs // { outPath = fleetDir; }; });

  orThrown =
    value:
    let
      tried = builtins.tryEval (builtins.deepSeq value value);
    in
    if tried.success then tried.value else "(throws)";

  report =
    system:
    let
      c = system.config;
      etcConfig = c.environment.etc."atuin-bootstrap/config.toml" or null;
      deploy = c.systemd.services.atuin-bootstrap-deploy or null;
    in
    {
      failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) c.assertions);
      inherit (c) warnings;
      hostName = c.networking.hostName;
      system = c.nixpkgs.hostPlatform.system;
      bootLoader = {
        grub = c.boot.loader.grub.enable;
        grubDevices = c.boot.loader.grub.devices;
        systemdBoot = c.boot.loader.systemd-boot.enable;
        canTouchEfiVariables = c.boot.loader.efi.canTouchEfiVariables;
        efiSysMountPoint = c.boot.loader.efi.efiSysMountPoint;
      };
      rootFileSystem = c.fileSystems."/".device or null;
      firewallInterfaces = builtins.mapAttrs (_: i: {
        tcp = i.allowedTCPPorts;
        udp = i.allowedUDPPorts;
      }) c.networking.firewall.interfaces;
      tailscaleInterface = c.services.tailscale.interfaceName;
      serverEnabled = c.services.atuin-bootstrap.server.enable;
      trustedPublicKeys = c.nix.settings.extra-trusted-public-keys or [ ];
      substituters = c.nix.settings.extra-substituters or [ ];
      repoUrl = c.services.atuin-bootstrap.server.settings.repo.url;
      # Remote builders and emulated systems, as Nix gets them.
      remoteBuilds = {
        inherit (c.nix) buildMachines distributedBuilds;
        machinesFile = (c.environment.etc."nix/machines" or { text = null; }).text;
        emulatedSystems = c.boot.binfmt.emulatedSystems;
        inherit (c.boot.binfmt) addEmulatedSystemsToNixSandbox;
        # NixOS throws (a bare assert) on emulating the machine's own system.
        registrations = orThrown (builtins.attrNames c.boot.binfmt.registrations);
        nixSettings = {
          builders = c.nix.settings.builders or "(unset)";
          builders-use-substitutes = c.nix.settings.builders-use-substitutes or null;
          extra-platforms = orThrown (c.nix.settings.extra-platforms or null);
        };
      };
      stateVersion = c.system.stateVersion;
      nixGc = {
        inherit (c.nix.gc) automatic options dates;
      };
      syncthingSettings = c.services.syncthing.settings;
      # NixOS-WSL's: keeps Windows .exe files running next to other binfmt registrations.
      wslInteropRegister = c.wsl.interop.register or null;
      # What the deploy agent reads from the new system (etc/atuin-bootstrap/…).
      healthChecksJson = (c.environment.etc."atuin-bootstrap/health-checks.json" or { text = null; }).text;
      # The file `atuin-bootstrap` reads on this host (/etc/atuin-bootstrap/config.toml).
      configToml =
        if etcConfig == null then
          null
        else if etcConfig.text != null then
          etcConfig.text
        else
          etcConfig.source.text;
      deployUnit =
        if deploy == null then
          null
        else
          {
            inherit (deploy)
              wantedBy
              wants
              after
              restartIfChanged
              stopIfChanged
              unitConfig
              serviceConfig
              environment
              ;
            path = map (p: p.name) deploy.path;
          };
    };
in
builtins.mapAttrs (_: report) outputs.nixosConfigurations

# Evaluates this project's home-manager modules (homeManagerModules.client and .terminal) in
# the real home-manager: its whole module list (modules/modules.nix, as modules/default.nix
# evaluates it) from each unpacked release, with nixpkgs' lib and the small stand-in package
# set of ./home-manager/pkgs.nix. For each release and case: the assertions that fail, the
# warnings, the files home-manager would link (forcing every file's `source`, as activation
# does) and the facts the tests check.
#
#   nix-instantiate --eval --strict --json nix/tests/eval-home.nix \
#     --argstr nixpkgs DIR --argstr homeManagers DIR
{
  # A directory with nixpkgs' lib/ and ./home-manager/nixos/ (home-manager's `pkgs.path`).
  nixpkgs,
  # A directory with one unpacked home-manager per release: <release>/home-manager/.
  homeManagers,
}:
let
  lib = import (/. + nixpkgs + "/lib");
  pkgs = import ./home-manager/pkgs.nix {
    inherit lib;
    path = /. + nixpkgs;
  };
  flake = import ../../flake.nix;
  atuin-bootstrap =
    let
      self = flake.outputs {
        inherit self;
        nixpkgs.lib = lib;
      };
    in
    self;

  user = {
    home.username = "me";
    home.homeDirectory = "/home/me";
    home.stateVersion = "24.11";
    # The stand-in lib is nixpkgs' newest; the check compares it with home-manager's release.
    home.enableNixpkgsReleaseCheck = false;
  };
  client = {
    services.atuin-bootstrap.client = {
      enable = true;
      serverUrl = "http://buildbox:8780";
      tokenFile = "/home/me/fleet/secrets/atuin-bootstrap-token";
    };
  };

  # The cases: modules on top of home-manager's, and the NixOS configuration home-manager
  # hands over when it runs as a NixOS module (null: standalone).
  cases = {
    # The client and the terminal, standalone.
    standard = {
      modules = [ client ];
      osConfig = null;
    };
    # Atuin turned off by the user.
    atuin-off = {
      modules = [ { programs.atuin.enable = false; } ];
      osConfig = null;
    };
    # Asked to manage zsh.
    zsh = {
      modules = [
        client
        { programs.atuin-bootstrap.terminal.zsh = true; }
      ];
      osConfig = null;
    };
    # Inside a NixOS system that has the NixOS terminal module (and backs up files).
    on-nixos-terminal = {
      modules = [ client ];
      osConfig = {
        programs.atuin-bootstrap.terminal.enable = true;
        home-manager.backupFileExtension = "backup";
      };
    };
    # Inside a NixOS system without it, backing up files: zsh is managed, Atuin in it.
    on-nixos-backups = {
      modules = [ client ];
      osConfig.home-manager.backupFileExtension = "backup";
    };
  };

  evaluate =
    hmDir:
    { modules, osConfig }:
    let
      hmLib = import (hmDir + "/modules/lib/stdlib-extended.nix") lib;
      hmModules = import (hmDir + "/modules/modules.nix") {
        inherit pkgs;
        lib = hmLib;
        # nixpkgs itself is not here: home-manager's `nixpkgs.*` options stay off.
        useNixpkgsModule = false;
      };
      c =
        (hmLib.evalModules {
          class = "homeManager";
          modules = hmModules ++ [
            user
            atuin-bootstrap.homeManagerModules.default
            atuin-bootstrap.homeManagerModules.terminal
          ] ++ modules;
          specialArgs = {
            modulesPath = toString (hmDir + "/modules");
          }
          // lib.optionalAttrs (osConfig != null) { inherit osConfig; };
        }).config;
      # home.file by target (home-manager's own attribute names vary between releases).
      files = lib.listToAttrs (
        map (f: {
          name = lib.removePrefix "./" f.target;
          value = f;
        }) (lib.attrValues c.home.file)
      );
      file = target: files.${target} or null;
      textOf = target: if file target == null then null else (file target).source.text or null;
    in
    {
      failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) c.assertions);
      inherit (c) warnings;
      # Every file home-manager links, with the store path of its source (as activation reads
      # it) and whether it replaces a file it did not make.
      files = lib.mapAttrs (_: f: {
        source = "${f.source}";
        inherit (f) force;
      }) files;
      atuinConfigForced = (file ".config/atuin/config.toml").force or null;
      clientConfigForced = (file ".config/atuin-bootstrap/config.toml").force or null;
      clientConfigText = textOf ".config/atuin-bootstrap/config.toml";
      atuinSyncAddress = c.programs.atuin.settings.sync_address or null;
      atuinZshIntegration = c.programs.atuin.enableZshIntegration;
      zshManaged = c.programs.zsh.enable;
      zshrc = textOf ".zshrc";
    };

  releases = builtins.attrNames (builtins.readDir (/. + homeManagers));
in
lib.genAttrs releases (
  release:
  lib.mapAttrs (_: evaluate (/. + homeManagers + "/${release}/home-manager")) cases
)

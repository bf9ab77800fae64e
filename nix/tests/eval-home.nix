# Evaluates the home-manager modules (homeManagerModules.client and .terminal) for one user
# against the home-manager stand-ins in ./home-manager-stubs, with and without
# programs.atuin.forceOverwriteSettings (home-manager before and from 25.11). For each: the
# assertions that fail, the warnings, whether activation may replace the two config files a
# first run of Atuin or bootstrap-new-machine leaves behind, and the client config's text.
#
#   nix-instantiate --eval --strict --json nix/tests/eval-home.nix --argstr lib /path/to/nixpkgs/lib
{
  # nixpkgs' lib directory (the vendored nixpkgs.lib, unpacked).
  lib,
}:
let
  nixpkgsLib = import (/. + lib);
  flake = import ../../flake.nix;
  atuin-bootstrap =
    let
      self = flake.outputs {
        inherit self;
        nixpkgs.lib = nixpkgsLib;
      };
    in
    self;

  evaluate =
    forceOverwriteSettings:
    let
      stubs = import ./home-manager-stubs {
        lib = nixpkgsLib;
        inherit forceOverwriteSettings;
      };
      c =
        (nixpkgsLib.evalModules {
          modules = stubs.modules ++ [
            { _module.args.pkgs = stubs.pkgs; }
            atuin-bootstrap.homeManagerModules.default
            atuin-bootstrap.homeManagerModules.terminal
            {
              home.username = "me";
              home.homeDirectory = "/home/me";
              home.stateVersion = "24.11";
              services.atuin-bootstrap.client = {
                enable = true;
                serverUrl = "http://buildbox:8780";
                tokenFile = "/home/me/fleet/secrets/atuin-bootstrap-token";
              };
            }
          ];
        }).config;
      file = name: c.xdg.configFile.${name} or null;
    in
    {
      failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) c.assertions);
      inherit (c) warnings;
      atuinConfigForced = (file "atuin/config.toml").force or null;
      clientConfigForced = (file "atuin-bootstrap/config.toml").force or null;
      clientConfigText = (file "atuin-bootstrap/config.toml").text or null;
      atuinSyncAddress = c.programs.atuin.settings.sync_address or null;
    };
in
{
  current = evaluate true;
  before-25-11 = evaluate false;
}

# A fake package set: every package is a derivation-shaped attribute set with a made-up store
# path, so option types that want a package accept it and nothing is ever built. writeText
# keeps its text, so a test can read the files a module renders. `stdenv.hostPlatform` is the
# real thing (nixpkgs' lib.systems.elaborate of nixpkgs.hostPlatform), as NixOS builds its
# package set for the machine.
{ lib, hostPlatform }:
let
  fake = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
  };
  packages = lib.genAttrs [
    "atuin"
    "atuin-bootstrap"
    "bash"
    "bashInteractive"
    "coreutils"
    "findutils"
    "git"
    "gnugrep"
    "gnused"
    "nix"
    "openssh"
    "shadow"
    "syncthing"
    "systemd"
    "tailscale"
    "zsh"
  ] fake;
in
packages
// {
  stdenv = {
    inherit hostPlatform;
    buildPlatform = hostPlatform;
  };
  writeText = name: text: fake name // { inherit text; };
  writeTextFile = { name, text, ... }: fake name // { inherit text; };
  writeShellScript = name: text: fake name // { inherit text; };
  callPackage = path: _args: fake "callPackage-${baseNameOf path}";
  # pkgs/pkgs-lib/formats.nix: the JSON value type (Syncthing's settings are of it).
  formats.json = _: {
    type =
      let
        valueType =
          with lib.types;
          nullOr (oneOf [
            bool
            int
            float
            str
            path
            (attrsOf valueType)
            (listOf valueType)
          ])
          // {
            description = "JSON value";
          };
      in
      valueType;
    generate = name: value: fake name // { inherit value; };
  };
  # …and the INI type (NixOS-WSL's wsl.conf settings): sections of single values.
  formats.ini = _: {
    type =
      with lib.types;
      attrsOf (
        attrsOf (
          nullOr (oneOf [
            bool
            int
            float
            str
          ])
        )
      );
    generate = name: value: fake name // { inherit value; };
  };
  formats.toml = _: {
    generate = name: value: fake name // { inherit value; };
  };
}

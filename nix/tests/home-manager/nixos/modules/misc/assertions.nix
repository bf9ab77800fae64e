# nixpkgs' nixos/modules/misc/assertions.nix, which home-manager's module list imports through
# `pkgs.path`: assertions and warnings, declared as there (the same as ../../../../nixos-stubs/assertions.nix).
{ lib, ... }:
{
  options = {
    assertions = lib.mkOption {
      type = lib.types.listOf lib.types.unspecified;
      internal = true;
      default = [ ];
    };
    warnings = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      internal = true;
      default = [ ];
    };
  };
}

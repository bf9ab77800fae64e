# assertions and warnings, as nixos/modules/misc/assertions.nix declares them. A NixOS build
# fails on any assertion that does not hold; the test harness reports them instead.
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

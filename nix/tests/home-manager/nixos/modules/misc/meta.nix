# Stand-in for nixpkgs' nixos/modules/misc/meta.nix, which home-manager's module list imports
# through `pkgs.path` (nixpkgs' nixos/ tree is not vendored): meta.doc and
# meta.buildDocsInSandbox kept per module as there, meta.maintainers a list (its real type
# lives in nixpkgs' maintainer list, which nothing here reads).
{ lib, ... }:
let
  perModule = type: type // { merge = _loc: defs: defs; };
in
{
  options.meta = {
    doc = lib.mkOption {
      type = perModule lib.types.path;
      internal = true;
    };
    buildDocsInSandbox = lib.mkOption {
      type = perModule lib.types.bool;
      internal = true;
      default = true;
    };
    maintainers = lib.mkOption {
      type = lib.types.listOf lib.types.raw;
      internal = true;
      default = [ ];
    };
  };
}

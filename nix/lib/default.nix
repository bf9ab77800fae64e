# Pure helpers for the flake, its modules and the fleet template: builtins only, no nixpkgs,
# so they evaluate (and are tested) on any machine with Nix — see nix/tests/lib.nix.
let
  toml = import ./toml.nix;
  hosts = import ./hosts.nix;
  syncthing = import ./syncthing.nix;
in
{
  inherit (toml) toTOML renderServerConfig;
  inherit (hosts) discoverHosts;
  inherit (syncthing) syncthingDevices;
}

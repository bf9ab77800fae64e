# The fleet flake (the user's nix-terminal repository): every folder under hosts/ with a
# default.nix is a NixOS host, built and cached by the atuin-bootstrap build server.
# Adding a machine is adding a folder: `bootstrap-new-machine` does it for you.
{
  description = "My NixOS fleet, built once on the build box and downloaded everywhere";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    # Where atuin-bootstrap's own flake is fetched from: bootstrap-new-machine writes its
    # --atuin-bootstrap-url here (a git URL of the project's repository or your fork, or
    # `git+file:///srv/atuin-bootstrap` for a clone the box can read); after `nix flake init`
    # replace the placeholder yourself. Then `nix flake lock` and commit flake.lock: the box
    # builds in pure mode and cannot lock inputs itself.
    atuin-bootstrap.url = "@atuinBootstrapUrl@";
    atuin-bootstrap.inputs.nixpkgs.follows = "nixpkgs";
    # Only hosts made from the wsl profile use it.
    nixos-wsl.url = "github:nix-community/NixOS-WSL";
    nixos-wsl.inputs.nixpkgs.follows = "nixpkgs";
  };

  outputs = { self, nixpkgs, atuin-bootstrap, ... }@inputs:
    let
      hosts = atuin-bootstrap.lib.discoverHosts ./hosts;
      mkHost = name: dir: nixpkgs.lib.nixosSystem {
        specialArgs = { inherit inputs; fleet = self; };
        modules = [
          atuin-bootstrap.nixosModules.default
          atuin-bootstrap.nixosModules.terminal
          {
            networking.hostName = nixpkgs.lib.mkDefault name;
            # Every host learns every other host's Syncthing device id from hosts/*/.
            services.atuin-bootstrap.client.fleet.hostsDir = ./hosts;
          }
          dir
        ];
      };
    in
    {
      nixosConfigurations = builtins.mapAttrs mkHost hosts;
    };
}

{
  description = "atuin-bootstrap: a build server, signed Nix binary cache, clients and bootstrap wizard for a personal NixOS fleet";

  # nixpkgs only. home-manager is not an input: homeManagerModules are plain modules that a
  # home-manager configuration imports.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAllSystems (
        pkgs:
        let
          atuin-bootstrap = pkgs.callPackage ./nix/package.nix { };
        in
        {
          inherit atuin-bootstrap;
          default = atuin-bootstrap;
          # One static binary (musl) to copy onto any Linux machine, Nix or not.
          static = pkgs.pkgsStatic.callPackage ./nix/package.nix { };
        }
      );

      overlays.default = final: _prev: {
        atuin-bootstrap = final.callPackage ./nix/package.nix { };
      };

      # Modules are given as paths, so importing one twice (default and client) is harmless.
      # Without the overlay they build the package with the machine's own nixpkgs.
      nixosModules = {
        # The build box: services.atuin-bootstrap.server.
        server = ./nix/modules/server.nix;
        # Every machine: services.atuin-bootstrap.client (also declares the server's options).
        client = ./nix/modules/client.nix;
        default = self.nixosModules.client;
        # zsh + Atuin + neovim + the fleet's aliases: programs.atuin-bootstrap.terminal.
        terminal = ./nix/modules/terminal.nix;
      };

      homeManagerModules = {
        # programs.atuin-bootstrap.terminal, for one user.
        terminal = ./nix/modules/home-terminal.nix;
        # services.atuin-bootstrap.client, for a user whose machine is not NixOS.
        client = ./nix/modules/home-client.nix;
        default = self.homeManagerModules.client;
      };

      # Pure helpers (builtins only): discoverHosts, syncthingDevices, toTOML, renderServerConfig.
      lib = import ./nix/lib;

      templates = {
        fleet = {
          path = ./templates/fleet;
          description = "A fleet flake: every folder under hosts/ is a NixOS host, built and cached by the box";
          # Printed by `nix flake init`: the two steps before the box can build the fleet.
          welcomeText = ''
            # A new fleet flake
            1. In `flake.nix`, replace `@atuinBootstrapUrl@` with where atuin-bootstrap's flake
               lives (its repository, your fork, or `git+file:///srv/atuin-bootstrap`).
               `bootstrap-new-machine --atuin-bootstrap-url URL` does it for a fleet it creates.
            2. Run `nix flake lock` and commit `flake.lock`: the box builds in pure mode and
               cannot lock the inputs itself.
          '';
        };
        default = self.templates.fleet;
        laptop = {
          path = ./templates/profiles/laptop;
          description = "A laptop host (hosts/<name>/default.nix; bootstrap-new-machine fills in the @placeholders@)";
        };
        desktop = {
          path = ./templates/profiles/desktop;
          description = "A desktop host (hosts/<name>/default.nix; bootstrap-new-machine fills in the @placeholders@)";
        };
        server = {
          path = ./templates/profiles/server;
          description = "A headless server host (hosts/<name>/default.nix; bootstrap-new-machine fills in the @placeholders@)";
        };
        wsl = {
          path = ./templates/profiles/wsl;
          description = "NixOS-WSL as the fleet's build box (hosts/<name>/default.nix; bootstrap-new-machine fills in the @placeholders@)";
        };
      };

      checks = forAllSystems (pkgs: {
        package = self.packages.${pkgs.stdenv.hostPlatform.system}.atuin-bootstrap;
      });
    };
}

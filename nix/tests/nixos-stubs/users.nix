# users.users and users.groups with NixOS's own checks (nixos/modules/config/users-groups.nix):
# exactly one of isNormalUser / isSystemUser, a group for every user, and a login shell whose
# program is enabled.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkDefault mkIf mkMerge mkOption types;
  cfg = config.users;
  bool = default: mkOption {
    type = types.bool;
    inherit default;
  };
  shellType = types.nullOr (types.either types.package types.path);
in
{
  options.users = {
    mutableUsers = bool true;
    defaultUserShell = mkOption {
      type = types.either types.path types.package;
      default = pkgs.bashInteractive;
    };
    groups = mkOption {
      default = { };
      type = types.attrsOf (
        types.submodule (
          { name, ... }:
          {
            options = {
              name = mkOption {
                type = types.str;
                default = name;
              };
              gid = mkOption {
                type = types.nullOr types.int;
                default = null;
              };
              members = mkOption {
                type = types.listOf types.str;
                default = [ ];
              };
            };
          }
        )
      );
    };
    users = mkOption {
      default = { };
      type = types.attrsOf (
        types.submodule (
          { name, config, ... }:
          {
            options = {
              name = mkOption {
                type = types.str;
                default = name;
              };
              uid = mkOption {
                type = types.nullOr types.int;
                default = null;
              };
              isSystemUser = bool false;
              isNormalUser = bool false;
              group = mkOption {
                type = types.str;
                default = "";
              };
              extraGroups = mkOption {
                type = types.listOf types.str;
                default = [ ];
              };
              description = mkOption {
                type = types.str;
                default = "";
              };
              home = mkOption {
                type = types.path;
                default = "/var/empty";
              };
              createHome = bool false;
              useDefaultShell = bool false;
              shell = mkOption {
                type = shellType;
                default = pkgs.shadow;
              };
              ignoreShellProgramCheck = bool false;
              openssh.authorizedKeys.keys = mkOption {
                type = types.listOf types.str;
                default = [ ];
              };
            };
            config = mkMerge [
              (mkIf config.isNormalUser {
                group = mkDefault "users";
                createHome = mkDefault true;
                home = mkDefault "/home/${config.name}";
                useDefaultShell = mkDefault true;
                isSystemUser = mkDefault false;
              })
              (mkIf config.useDefaultShell { shell = mkDefault cfg.defaultUserShell; })
            ];
          }
        )
      );
    };
  };

  config = {
    users.users.root = {
      uid = 0;
      description = "System administrator";
      home = "/root";
      group = "root";
    };
    users.groups.root.gid = 0;
    users.groups.users.gid = 100;
    users.groups.wheel.gid = 1;

    assertions = lib.flatten (
      lib.flip lib.mapAttrsToList cfg.users (
        _: user:
        [
          {
            assertion =
              let
                isEffectivelySystemUser = user.isSystemUser || (user.uid != null && user.uid < 1000);
              in
              lib.xor isEffectivelySystemUser user.isNormalUser;
            message = ''
              Exactly one of users.users.${user.name}.isSystemUser and users.users.${user.name}.isNormalUser must be set.
            '';
          }
          {
            assertion = user.group != "";
            message = ''
              users.users.${user.name}.group is unset. This used to default to
              nogroup, but this is unsafe. For example you can create a group
              for this user with:
              users.users.${user.name}.group = "${user.name}";
              users.groups.${user.name} = {};
            '';
          }
        ]
        ++ map (shell: {
          assertion =
            !user.ignoreShellProgramCheck -> (user.shell == pkgs.${shell}) -> (config.programs.${shell}.enable == true);
          message = ''
            users.users.${user.name}.shell is set to ${shell}, but
            programs.${shell}.enable is not true. This will cause the ${shell}
            shell to lack the basic nix directories in its PATH and might make
            logging in as that user impossible. You can fix it with:
            programs.${shell}.enable = true;
          '';
        }) [ "zsh" ]
      )
    );
  };
}

# networking.*: host name, NetworkManager, DHCP and the firewall with its per-interface ports,
# as nixos/modules/tasks/network-interfaces.nix and …/services/networking/firewall.nix declare
# them.
{ lib, ... }:
let
  inherit (lib) mkOption types;
  bool = default: mkOption {
    type = types.bool;
    inherit default;
  };
  portRange = types.submodule {
    options = {
      from = mkOption { type = types.port; };
      to = mkOption { type = types.port; };
    };
  };
  ports = {
    allowedTCPPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
    };
    allowedUDPPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
    };
    allowedTCPPortRanges = mkOption {
      type = types.listOf portRange;
      default = [ ];
    };
    allowedUDPPortRanges = mkOption {
      type = types.listOf portRange;
      default = [ ];
    };
  };
in
{
  options.networking = {
    hostName = mkOption {
      type = types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$";
      default = "nixos";
    };
    useDHCP = bool true;
    interfaces = mkOption {
      type = types.attrsOf (
        types.submodule {
          options.useDHCP = mkOption {
            type = types.nullOr types.bool;
            default = null;
          };
        }
      );
      default = { };
    };
    dhcpcd.enable = bool true;
    networkmanager.enable = bool false;
    firewall = ports // {
      enable = bool true;
      interfaces = mkOption {
        type = types.attrsOf (types.submodule { options = ports; });
        default = { };
      };
    };
  };
}

# nix.buildMachines and nix.distributedBuilds (nixos/modules/config/nix-remote-build.nix):
# the machine options with NixOS's types and defaults (protocol "ssh", speedFactor any
# positive number), its assertion that each machine names a system, /etc/nix/machines in
# Nix's line format, and `builders` emptied while distributed builds are off (Nix's default
# `@/etc/nix/machines` applies when they are on).
{ config, lib, ... }:
let
  inherit (lib) mkIf mkOption types;
  cfg = config.nix;
  orDash = value: if value == null || value == "" then "-" else value;
  machineLine =
    m:
    lib.concatStringsSep " " [
      "${lib.optionalString (m.protocol != null) "${m.protocol}://"}${
        lib.optionalString (m.sshUser != null) "${m.sshUser}@"
      }${m.hostName}"
      (if m.system != null then m.system else orDash (lib.concatStringsSep "," m.systems))
      (orDash m.sshKey)
      (toString m.maxJobs)
      (toString m.speedFactor)
      (orDash (lib.concatStringsSep "," (m.supportedFeatures ++ m.mandatoryFeatures)))
      (orDash (lib.concatStringsSep "," m.mandatoryFeatures))
      (orDash m.publicHostKey)
    ];
  noSystem = m: m.system == null && m.systems == [ ];
  strOrNull = mkOption {
    type = types.nullOr types.str;
    default = null;
  };
  strings = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };
in
{
  options.nix = {
    buildMachines = mkOption {
      default = [ ];
      type = types.listOf (
        types.submodule {
          options = {
            hostName = mkOption { type = types.str; };
            protocol = mkOption {
              type = types.enum [
                null
                "ssh"
                "ssh-ng"
              ];
              default = "ssh";
            };
            system = strOrNull;
            systems = strings;
            sshUser = strOrNull;
            sshKey = strOrNull;
            maxJobs = mkOption {
              type = types.int;
              default = 1;
            };
            speedFactor = mkOption {
              type = types.numbers.positive;
              default = 1;
            };
            mandatoryFeatures = strings;
            supportedFeatures = strings;
            publicHostKey = strOrNull;
          };
        }
      );
    };
    distributedBuilds = mkOption {
      type = types.bool;
      default = false;
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = !(lib.any noSystem cfg.buildMachines);
        message = "At least one system type (via system or systems) must be set for every build machine. Invalid machine specifications: ${
          lib.concatMapStringsSep ", " (m: m.hostName) (lib.filter noSystem cfg.buildMachines)
        }";
      }
    ];
    environment.etc."nix/machines" = mkIf (cfg.buildMachines != [ ]) {
      text = lib.concatMapStrings (m: machineLine m + "\n") cfg.buildMachines;
    };
    nix.settings = mkIf (!cfg.distributedBuilds) { builders = null; };
  };
}

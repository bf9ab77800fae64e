# systemd.services and systemd.targets with the option types of nixos/lib/systemd-unit-options.nix
# (unit options merge as NixOS merges them: lists concatenate, other values must agree), the
# service checks NixOS makes on Type= and Restart=, and the PATH every service gets
# (nixos/modules/system/boot/systemd.nix: the unit's `path` plus coreutils, findutils, grep,
# sed and systemd, as environment.PATH), so a test sees exactly what a unit can run.
{ lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  bool = default: mkOption {
    type = types.bool;
    inherit default;
  };
  units = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };

  unitOption = lib.mkOptionType {
    name = "systemd option";
    merge =
      loc: defs:
      let
        defs' = lib.filterOverrides defs;
      in
      if lib.any (def: lib.isList def.value) defs' then
        lib.concatMap (def: lib.toList def.value) defs'
      else
        lib.mergeEqualOption loc defs';
  };

  oneOf = name: values: attrs:
    lib.optional (attrs ? ${name} && !(lib.elem attrs.${name} values))
      "Systemd Service field `${name}' has value `${toString attrs.${name}}' but must be one of ${lib.concatStringsSep ", " values}.";
  checkService = attrs:
    let
      errors =
        oneOf "Type" [ "exec" "simple" "forking" "oneshot" "dbus" "notify" "notify-reload" "idle" ] attrs
        ++ oneOf "Restart" [ "no" "on-success" "on-failure" "on-abnormal" "on-abort" "on-watchdog" "always" ] attrs;
    in
    if errors == [ ] then true else builtins.trace (lib.concatStringsSep "\n" errors) false;

  commonUnitOptions = {
    enable = bool true;
    description = mkOption {
      type = types.singleLineStr;
      default = "";
    };
    requires = units;
    wants = units;
    after = units;
    before = units;
    bindsTo = units;
    partOf = units;
    conflicts = units;
    wantedBy = units;
    requiredBy = units;
    unitConfig = mkOption {
      type = types.attrsOf unitOption;
      default = { };
    };
  };

  serviceOptions = {
    environment = mkOption {
      type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]));
      default = { };
    };
    path = mkOption {
      type = types.listOf (types.oneOf [ types.package types.str ]);
      default = [ ];
    };
    serviceConfig = mkOption {
      type = types.addCheck (types.attrsOf unitOption) checkService;
      default = { };
    };
    script = mkOption {
      type = types.lines;
      default = "";
    };
    preStart = mkOption {
      type = types.lines;
      default = "";
    };
    restartTriggers = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    reloadIfChanged = bool false;
    restartIfChanged = bool true;
    stopIfChanged = bool true;
    startAt = mkOption {
      type = types.either types.str (types.listOf types.str);
      default = [ ];
    };
    startLimitBurst = mkOption {
      type = types.nullOr types.int;
      default = null;
    };
    startLimitIntervalSec = mkOption {
      type = types.nullOr types.int;
      default = null;
    };
  };
in
{
  options.systemd = {
    package = mkOption {
      type = types.package;
      default = pkgs.systemd;
    };
    services = mkOption {
      default = { };
      type = types.attrsOf (
        types.submodule (
          { config, ... }:
          {
            options = commonUnitOptions // serviceOptions;
            config = {
              path = lib.mkAfter [
                pkgs.coreutils
                pkgs.findutils
                pkgs.gnugrep
                pkgs.gnused
                pkgs.systemd
              ];
              environment.PATH = "${lib.makeBinPath config.path}:${lib.makeSearchPathOutput "bin" "sbin" config.path}";
            };
          }
        )
      );
    };
    targets = mkOption {
      default = { };
      type = types.attrsOf (types.submodule { options = commonUnitOptions; });
    };
    tmpfiles.rules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
  };
}

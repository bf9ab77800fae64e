# boot.binfmt (nixos/modules/system/boot/binfmt.nix), declared as there: `registrations` with
# its submodule, `emulatedSystems` as an enum of the systems NixOS has binfmt magic for
# (nixos/lib/binfmt-magics.nix; the magic bytes here are made up), and its config: the bare
# `assert` that no emulated system is the machine's own (it throws while the registrations
# are read, before any assertion message), the fixBinary assertion, and Nix's extra-platforms
# and extra-sandbox-paths unless addEmulatedSystemsToNixSandbox is off. The QEMU
# interpreters are made-up paths.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkDefault mkOption types;
  cfg = config.boot.binfmt;
  known = [
    "armv6l-linux"
    "armv7l-linux"
    "aarch64-linux"
    "aarch64_be-linux"
    "i386-linux"
    "i486-linux"
    "i586-linux"
    "i686-linux"
    "x86_64-linux"
    "alpha-linux"
    "sparc64-linux"
    "sparc-linux"
    "powerpc-linux"
    "powerpc64-linux"
    "powerpc64le-linux"
    "mips-linux"
    "mipsel-linux"
    "mips64-linux"
    "mips64el-linux"
    "mips64-linuxabin32"
    "mips64el-linuxabin32"
    "riscv32-linux"
    "riscv64-linux"
    "loongarch64-linux"
    "wasm32-wasi"
    "wasm64-wasi"
    "s390x-linux"
    "x86_64-windows"
    "i686-windows"
  ];
  magics = lib.genAttrs known (system: {
    magicOrExtension = "\\x7fELF-${system}";
    mask = "\\xff";
  });
  isQemu = true;
in
{
  options.boot.binfmt = {
    registrations = mkOption {
      default = { };
      type = types.attrsOf (
        types.submodule (
          { config, ... }:
          {
            options = {
              recognitionType = mkOption {
                default = "magic";
                type = types.enum [
                  "magic"
                  "extension"
                ];
              };
              offset = mkOption {
                default = null;
                type = types.nullOr types.int;
              };
              magicOrExtension = mkOption { type = types.str; };
              mask = mkOption {
                default = null;
                type = types.nullOr types.str;
              };
              interpreter = mkOption { type = types.path; };
              preserveArgvZero = mkOption {
                default = false;
                type = types.bool;
              };
              openBinary = mkOption {
                default = config.matchCredentials;
                type = types.bool;
              };
              matchCredentials = mkOption {
                default = false;
                type = types.bool;
              };
              fixBinary = mkOption {
                default = false;
                type = types.bool;
              };
              wrapInterpreterInShell = mkOption {
                default = true;
                type = types.bool;
              };
              interpreterSandboxPath = mkOption {
                internal = true;
                default = null;
                type = types.nullOr types.path;
              };
            };
          }
        )
      );
    };
    emulatedSystems = mkOption {
      type = types.listOf (types.enum known);
      default = [ ];
    };
    addEmulatedSystemsToNixSandbox = mkOption {
      type = types.bool;
      default = true;
    };
    preferStaticEmulators = mkOption {
      type = types.bool;
      default = false;
    };
  };

  config = {
    assertions = lib.mapAttrsToList (name: reg: {
      assertion = reg.fixBinary -> !reg.wrapInterpreterInShell;
      message = "boot.binfmt.registrations.\"${name}\" cannot have fixBinary when the interpreter is invoked through a shell.";
    }) cfg.registrations;

    boot.binfmt.registrations = builtins.listToAttrs (
      map (
        system:
        assert system != pkgs.stdenv.hostPlatform.system;
        {
          name = system;
          value =
            { config, ... }:
            let
              interpreter = "/nix/store/00000000000000000000000000000000-qemu-binfmt-P/bin/qemu-${system}-binfmt-P";
            in
            {
              preserveArgvZero = mkDefault isQemu;
              interpreter = mkDefault interpreter;
              fixBinary = mkDefault false;
              wrapInterpreterInShell = mkDefault (!config.preserveArgvZero && !config.fixBinary);
              interpreterSandboxPath = mkDefault (dirOf (dirOf config.interpreter));
            }
            // magics.${system};
        }
      ) cfg.emulatedSystems
    );

    nix.settings = lib.mkIf (cfg.addEmulatedSystemsToNixSandbox && cfg.emulatedSystems != [ ]) {
      extra-platforms = cfg.emulatedSystems ++ lib.optional pkgs.stdenv.hostPlatform.isx86_64 "i686-linux";
      extra-sandbox-paths =
        let
          ruleFor = system: cfg.registrations.${system};
          hasWrappedRule = lib.any (system: (ruleFor system).wrapInterpreterInShell) cfg.emulatedSystems;
        in
        [ "/run/binfmt" ]
        ++ lib.optional hasWrappedRule "${pkgs.bash}"
        ++ map (system: (ruleFor system).interpreterSandboxPath) cfg.emulatedSystems;
    };
  };
}

# boot.binfmt.emulatedSystems (nixos/modules/system/boot/binfmt.nix): the systems NixOS has
# binfmt magic for (nixos/lib/binfmt-magics.nix) as its enum, the refusal of the machine's
# own system (NixOS throws), and what it does to Nix: the emulated systems (and i686-linux on
# x86_64) in extra-platforms, unless addEmulatedSystemsToNixSandbox is off. The registrations
# and the QEMU interpreters themselves are not modelled.
{ config, lib, ... }:
let
  inherit (lib) mkIf mkOption types;
  cfg = config.boot.binfmt;
  hostSystem = config.nixpkgs.hostPlatform.system;
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
in
{
  options.boot.binfmt = {
    emulatedSystems = mkOption {
      type = types.listOf (types.enum known);
      default = [ ];
    };
    addEmulatedSystemsToNixSandbox = mkOption {
      type = types.bool;
      default = true;
    };
  };

  config.nix.settings = mkIf (cfg.addEmulatedSystemsToNixSandbox && cfg.emulatedSystems != [ ]) {
    extra-platforms =
      map (
        system:
        if system == hostSystem then
          throw "binfmt: cannot emulate ${system}, the machine's own system"
        else
          system
      ) cfg.emulatedSystems
      ++ lib.optional (hostSystem == "x86_64-linux") "i686-linux";
  };
}

# A small stand-in package set for home-manager's real module list: nothing is built, every
# package is a derivation-shaped attribute set with a made-up store path, and the text of
# written files is kept so a test can read them. `stdenv.hostPlatform` is the real one
# (nixpkgs' lib.systems.elaborate), so home-manager's platform checks run as on a machine;
# `path` is a directory holding nixpkgs' lib and stand-ins for the two nixpkgs NixOS modules
# home-manager imports from it (nixos/modules/misc/{assertions,meta}.nix). `formats` keeps
# the generated value instead of writing a file.
{
  lib,
  # A directory with nixpkgs' lib/ and this directory's nixos/ (the test puts them together).
  path,
  system ? "x86_64-linux",
}:
let
  fake =
    name:
    let
      drv = {
        type = "derivation";
        inherit name;
        pname = name;
        version = "0";
        outPath = "/nix/store/00000000000000000000000000000000-${name}";
        drvPath = "/nix/store/00000000000000000000000000000000-${name}.drv";
        outputs = [ "out" ];
        out = drv;
        meta.mainProgram = name;
        passthru = { };
        override = _: drv;
        overrideAttrs = _: drv;
      };
    in
    drv;
  withText = name: text: fake name // { inherit text; };
  hostPlatform = lib.systems.elaborate system;
  atom = lib.types.nullOr (
    lib.types.oneOf [
      lib.types.bool
      lib.types.int
      lib.types.float
      lib.types.str
      lib.types.path
    ]
  );
  format = kind: _: {
    type = lib.types.anything;
    generate = name: value: fake name // { inherit kind value; };
    lib.types.atom = atom;
  };
  self =
    lib.genAttrs [
      "atuin"
      "atuin-bootstrap"
      "bash"
      "bashInteractive"
      "coreutils"
      "findutils"
      "git"
      "gnugrep"
      "glibcLocales"
      "gnused"
      "home-manager"
      "neovim"
      "neovim-unwrapped"
      "nix"
      "openssh"
      "zsh"
    ] fake
    // {
      inherit lib path;
      stdenv = {
        inherit hostPlatform;
        buildPlatform = hostPlatform;
        targetPlatform = hostPlatform;
        inherit (hostPlatform) isLinux isDarwin;
        shell = "/bin/sh";
        mkDerivation = args: fake (args.name or args.pname or "derivation");
      };
      stdenvNoCC = self.stdenv;
      buildPackages = self;
      writeText = withText;
      writeTextDir = withText;
      writeScript = withText;
      writeShellScript = withText;
      writeShellScriptBin = withText;
      writeTextFile = { name, text, ... }: withText name text;
      runCommand = name: _: _: fake name;
      runCommandLocal = name: _: _: fake name;
      symlinkJoin = args: fake args.name;
      buildEnv = args: fake args.name;
      callPackage = file: _: fake "callPackage-${baseNameOf file}";
      # What home-manager's neovim module asks of nixpkgs' neovim wrapper.
      vimPlugins = { };
      neovimUtils = {
        makeVimPackageInfo = _: {
          pluginPython3Packages = [ ];
        };
        makeNeovimConfig = args: {
          wrapperArgs = [ ];
          neovimRcContent = args.customRC or "";
        };
        packDir = _: fake "vim-pack-dir";
      };
      wrapNeovimUnstable =
        _: _:
        let
          wrapped = fake "neovim" // {
            luaRcContent = "";
            initRc = "";
            overrideAttrs = _: wrapped;
          };
        in
        wrapped;
      formats = lib.genAttrs [
        "ini"
        "iniWithGlobalSection"
        "json"
        "keyValue"
        "toml"
        "yaml"
        "yaml_1_1"
        "yaml_1_2"
      ] format;
    };
in
self

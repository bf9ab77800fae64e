# The atuin-bootstrap binary, with its applet links (bt, bs, bl, bootstrap-new-machine),
# shell completions and man page. Called by the flake as `pkgs.callPackage ./nix/package.nix { }`
# (and `pkgs.pkgsStatic.callPackage …` for the static musl build); the NixOS and home-manager
# modules call it the same way with the machine's own nixpkgs.
{
  lib,
  stdenv,
  rustPlatform,
  installShellFiles,
  cmake,
  perl,
}:

let
  cargoToml = lib.importTOML ../Cargo.toml;
  canRun = stdenv.buildPlatform.canExecute stdenv.hostPlatform;
  root = ../.;
  # The root package (src/), its four wings (each a crate of the workspace) and the templates.
  keptDirs = [
    "src"
    "nix-core"
    "common"
    "server"
    "host"
    "templates"
  ];
  kept = [
    "Cargo.toml"
    "Cargo.lock"
  ] ++ keptDirs;
  # The names the one binary also answers to (the applet table of docs/reference.md).
  applets = [
    "bt"
    "bs"
    "bl"
    "bootstrap-new-machine"
  ];
in
rustPlatform.buildRustPackage {
  pname = cargoToml.package.name;
  inherit (cargoToml.package) version;

  # Only what cargo needs: the manifest, the lock file, the sources and the templates, which
  # the wizard embeds with include_str! (host/src/wizard/templates.rs); editing the README, the tests or
  # the examples does not rebuild the binary. (A plain source filter rather than lib.fileset,
  # so that it also evaluates with Nix versions older than 2.14.)
  src = lib.cleanSourceWith {
    name = "atuin-bootstrap-source";
    src = root;
    filter =
      path: _type:
      let
        relative = lib.removePrefix (toString root + "/") (toString path);
      in
      lib.elem relative kept || lib.any (dir: lib.hasPrefix "${dir}/" relative) keptDirs;
  };

  cargoLock.lockFile = ../Cargo.lock;

  nativeBuildInputs = [
    installShellFiles
    # aws-lc-sys (rustls' crypto provider, for gix's https fetches) builds its C code with
    # `cc` on Linux, and falls back to CMake and Perl for targets its cc build does not cover
    # (and for some musl setups). Both are cheap to have; the CMake setup hook is switched
    # off below because this is a cargo build, not a CMake project. SQLite (rusqlite's
    # "bundled"), zstd-sys, bzip2-sys and, in the static musl build only, libmimalloc-sys
    # (its allocator, see src/main.rs) build with `cc` and need nothing more.
    cmake
    perl
  ];
  dontUseCmakeConfigure = true;

  # The test suite needs what a sandboxed build does not have: a real Nix store and a running
  # nix-daemon (the cache is tested with `nix copy`, the build server with `nix build` of
  # fleet flakes), git, a pseudo-terminal and loopback HTTP servers. It runs in CI instead
  # (`.ci/run`: cargo test --locked).
  doCheck = false;

  # One binary, many names: the applets choose their mode from argv[0]. `completions SHELL`
  # prints the completions of `atuin-bootstrap` and of every applet, one script after the
  # other. Shells load completions lazily, by command name, so each name must find them:
  # - zsh autoloads `_NAME` from site-functions and reads only its first `#compdef` line, so
  #   the output is split at each `#compdef NAME` into one file per command;
  # - bash-completion loads `completions/NAME.bash` and fish `vendor_completions.d/NAME.fish`
  #   on the first <Tab> after NAME, so each applet name links to the one file (per shell)
  #   that registers them all.
  # (Generating them runs the binary, which a cross build cannot; the static musl build runs
  # on the build machine, so it gets them too.)
  postInstall =
    ''
      for applet in ${lib.concatStringsSep " " applets}; do
        ln -s atuin-bootstrap "$out/bin/$applet"
      done
    ''
    + lib.optionalString canRun ''
      "$out/bin/atuin-bootstrap" completions bash > atuin-bootstrap.bash
      "$out/bin/atuin-bootstrap" completions fish > atuin-bootstrap.fish
      mkdir zsh-completions
      "$out/bin/atuin-bootstrap" completions zsh \
        | (cd zsh-completions && awk '/^#compdef / { file = "_" $2 } { print > file }')
      installShellCompletion --cmd atuin-bootstrap \
        --bash atuin-bootstrap.bash --fish atuin-bootstrap.fish
      installShellCompletion --zsh zsh-completions/_*
      for applet in ${lib.concatStringsSep " " applets}; do
        ln -s atuin-bootstrap.bash "$out/share/bash-completion/completions/$applet.bash"
        ln -s atuin-bootstrap.fish "$out/share/fish/vendor_completions.d/$applet.fish"
      done

      "$out/bin/atuin-bootstrap" man > atuin-bootstrap.1
      installManPage atuin-bootstrap.1
    '';

  meta = {
    description = cargoToml.package.description;
    longDescription = ''
      One always-on build box for a personal NixOS fleet: it builds the fleet's flake on
      every push and serves its Nix store to every other machine as a signed binary cache.
      `atuin-bootstrap serve` on the box; `bt`, `bs`, `bl` to queue builds, see the queue
      and follow logs from any machine; `bootstrap-new-machine` to join a fresh one.
    '';
    license = lib.licenses.mit;
    mainProgram = "atuin-bootstrap";
    platforms = lib.platforms.linux;
  };
}

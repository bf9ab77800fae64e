# A fake package set: every package is a derivation-shaped attribute set with a made-up store
# path, so option types that want a package accept it and nothing is ever built. writeText
# keeps its text, so a test can read the files a module renders.
let
  fake = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
  };
  packages = builtins.listToAttrs (
    map (name: {
      inherit name;
      value = fake name;
    }) [
      "atuin"
      "atuin-bootstrap"
      "bash"
      "bashInteractive"
      "coreutils"
      "git"
      "nix"
      "openssh"
      "shadow"
      "syncthing"
      "systemd"
      "tailscale"
      "zsh"
    ]
  );
in
packages
// {
  writeText = name: text: fake name // { inherit text; };
  writeTextFile = { name, text, ... }: fake name // { inherit text; };
  callPackage = path: _args: fake "callPackage-${baseNameOf path}";
  formats.toml = _: {
    generate = name: value: fake name // { inherit value; };
  };
}

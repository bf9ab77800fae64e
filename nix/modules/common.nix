# Helpers shared by the NixOS and home-manager modules (not a module itself).
{ lib }:
let
  storePrefix = "${builtins.storeDir}/";
in
rec {
  # The fleet's helpers (toTOML, renderServerConfig, syncthingDevices, …).
  abLib = import ../lib;

  # The package, unless the machine's nixpkgs already has one (through this flake's overlay):
  # built from this flake's source with the machine's own nixpkgs, so a fleet whose flake
  # input follows its nixpkgs gets the very derivation the build box built and cached.
  defaultPackage = pkgs: pkgs.atuin-bootstrap or (pkgs.callPackage ../package.nix { });
  defaultPackageText = lib.literalExpression ''pkgs.atuin-bootstrap or (pkgs.callPackage "''${atuin-bootstrap}/nix/package.nix" { })'';

  # A secret is named by its runtime path, as a string. A Nix path literal (./secret) is
  # refused by the option types (types.str), and a string that points into the Nix store
  # ("${./secret}" copies the file there, readable by every user) by this assertion.
  notInStore = option: value: {
    assertion = value == null || !(lib.hasPrefix storePrefix value);
    message = ''
      ${option} = "${toString value}" is in the Nix store, where every user can read it.
      Give the runtime path of the secret as a string ("/var/lib/…", "/run/secrets/…"),
      never a Nix path (./file) or an interpolated one ("''${./file}").
    '';
  };

  # "http://buildbox:8780/x" -> "buildbox" (also "[::1]" for bracketed IPv6 hosts).
  hostOfUrl = url:
    let found = builtins.match "[A-Za-z][A-Za-z0-9+.-]*://([^/@]*@)?(\\[[^]]*]|[^]/:?#[]+).*" url;
    in if found == null then null else builtins.elemAt found 1;

  # The documented default Atuin sync address: the build server's host, port 8888.
  atuinSyncAddressFor = serverUrl:
    let host = hostOfUrl serverUrl;
    in if host == null then null else "http://${host}:8888";

  # atuin-bootstrap's config.toml for a client: the [client] section, and [deploy] when this
  # host follows the box (`deploy` is that section's attributes, or null).
  clientConfig = { server, tokenFile, deploy ? null }:
    abLib.toTOML {
      client = {
        inherit server;
        token_file = tokenFile;
      };
      inherit deploy;
    };

  # A duration as the config file takes it: "90s", "5m", "1h", or a number of seconds.
  durationType = lib.types.either (lib.types.strMatching "([0-9]+ ?[a-z]*)+") lib.types.ints.unsigned;

  # The network interface tailnet traffic arrives on: services.tailscale.interfaceName, which a
  # host may rename. With userspace networking there is none: tailscaled hands each tailnet
  # connection to the local service over loopback, which the NixOS firewall always accepts,
  # so no port needs opening (null).
  tailscaleInterface = config:
    let name = config.services.tailscale.interfaceName or "tailscale0";
    in if name == "userspace-networking" then null else name;
  tailscaleInterfaceText = lib.literalExpression
    ''config.services.tailscale.interfaceName, or null for "userspace-networking"'';

  # Cache key "name:base64" (what `atuin-bootstrap cache public-key` prints).
  publicKeyType = lib.types.strMatching "[^:[:space:]]+:[A-Za-z0-9+/]+={0,2}";
  # An http(s) URL.
  urlType = lib.types.strMatching "https?://[^[:space:]/]+(/[^[:space:]]*)?";

  # Nix settings that make the box's cache a substituter that never blocks a rebuild: a
  # sleeping or unreachable box costs a 3 s connection attempt, then Nix builds or fetches
  # elsewhere (fallback); a path the box did not have yet is asked for again after a minute.
  substituterSettings = { serverUrl, publicKey }: {
    extra-substituters = [ serverUrl ];
    extra-trusted-public-keys = [ publicKey ];
    fallback = lib.mkDefault true;
    connect-timeout = lib.mkDefault 3;
    narinfo-cache-negative-ttl = lib.mkDefault 60;
  };
}

# Host discovery for the fleet flake: every directory under hosts/ that has a default.nix is
# a host, named after its directory — adding a machine is adding a folder.
let
  inherit (builtins) attrNames filter listToAttrs pathExists readDir;
in
{
  discoverHosts = hostsDir:
    let
      entries = if pathExists hostsDir then readDir hostsDir else { };
      isHost = name: entries.${name} == "directory" && pathExists (hostsDir + "/${name}/default.nix");
    in
    listToAttrs (map (name: { inherit name; value = hostsDir + "/${name}"; })
      (filter isHost (attrNames entries)));
}

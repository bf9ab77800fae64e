# The fleet-wide Syncthing mesh: each host keeps its (public) device id in
# hosts/<name>/syncthing-device-id, and every host learns every other host's id from there.
let
  inherit (builtins) attrNames filter head listToAttrs match pathExists readDir readFile;

  trim = text:
    let found = match "[[:space:]]*([^[:space:]]+)[[:space:]]*" text;
    in if found == null then throw "syncthing-device-id: expected one device id, got: ${text}" else head found;
in
{
  # { <other host> = { id = "<device id>"; }; } for every other host that has an id.
  syncthingDevices = hostsDir: hostName:
    let
      entries = if pathExists hostsDir then readDir hostsDir else { };
      idFile = name: hostsDir + "/${name}/syncthing-device-id";
      peers = filter (name: name != hostName && entries.${name} == "directory" && pathExists (idFile name))
        (attrNames entries);
    in
    listToAttrs (map (name: { inherit name; value = { id = trim (readFile (idFile name)); }; }) peers);
}

# Rendering TOML from Nix values: the server's config.toml from the module's settings, in the
# exact shape `atuin-bootstrap config show` accepts (sections of keys; null means unset).
let
  inherit (builtins)
    attrNames concatStringsSep filter isAttrs isBool isFloat isInt isList isString
    replaceStrings toString typeOf;

  escape = s: replaceStrings [ "\\" "\"" "\n" "\t" "\r" ] [ "\\\\" "\\\"" "\\n" "\\t" "\\r" ] s;

  value = v:
    if isString v then "\"${escape v}\""
    else if isBool v then (if v then "true" else "false")
    else if isInt v then toString v
    else if isFloat v then toString v
    else if isList v then "[" + concatStringsSep ", " (map value v) + "]"
    else throw "toTOML: cannot write a ${typeOf v} as a TOML value";

  present = set: filter (name: set.${name} != null) (attrNames set);

  keyLines = set: map (name: "${name} = ${value set.${name}}")
    (filter (name: !(isAttrs set.${name})) (present set));

  section = name: set:
    let lines = keyLines set;
    in if lines == [ ] then "" else "[${name}]\n" + concatStringsSep "\n" lines + "\n";

  # Top-level scalars first, then one [section] per attribute set, both sorted by name.
  toTOML = set:
    let
      top = keyLines set;
      tables = filter (name: isAttrs set.${name}) (present set);
      rendered = filter (s: s != "") (map (name: section name set.${name}) tables);
    in
    concatStringsSep "\n" ((if top == [ ] then [ ] else [ (concatStringsSep "\n" top + "\n") ]) ++ rendered);

  # The server's configuration: sections server, cache, repo, build, client.
  renderServerConfig = settings: toTOML settings;
in
{
  inherit toTOML renderServerConfig;
}

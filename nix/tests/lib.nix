# Tests of nix/lib, run by `nix-instantiate --eval --strict nix/tests/lib.nix` (the Rust
# integration tests do): evaluates to true, or throws naming the failed check.
let
  lib = import ../lib;
  check = name: actual: expected:
    if actual == expected then true
    else throw "${name}: expected ${builtins.toJSON expected}, got ${builtins.toJSON actual}";
  hosts = ./fixtures/hosts;
  all = builtins.all (x: x) [
    (check "discoverHosts finds every dir with a default.nix"
      (builtins.attrNames (lib.discoverHosts hosts)) [ "alpha" "beta" "gamma" ])
    (check "discoverHosts gives each host's directory"
      (lib.discoverHosts hosts).alpha (hosts + "/alpha"))
    (check "discoverHosts of a missing dir is empty"
      (lib.discoverHosts ./fixtures/nonexistent) { })
    (check "syncthingDevices lists the other hosts with ids, trimmed"
      (lib.syncthingDevices hosts "alpha")
      { beta = { id = "BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB"; }; })
    (check "syncthingDevices from a host without an id sees both others"
      (builtins.attrNames (lib.syncthingDevices hosts "gamma")) [ "alpha" "beta" ])
    (check "toTOML renders sections, skips nulls and empty sections, escapes strings"
      (lib.toTOML {
        server = { listen = "0.0.0.0:8780"; state_dir = null; };
        cache = { priority = 30; secret_key_files = [ "/run/a" "/run/\"b\"" ]; };
        build = { };
        repo = { url = "ssh://git@host/fleet"; poll = true; };
      })
      ''
        [cache]
        priority = 30
        secret_key_files = ["/run/a", "/run/\"b\""]

        [repo]
        poll = true
        url = "ssh://git@host/fleet"

        [server]
        listen = "0.0.0.0:8780"
      '')
  ];
in
all

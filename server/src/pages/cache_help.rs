//! The cache section of the status page: the public keys, a `nix.conf` snippet to copy,
//! and how a host uses the cache (the client module on NixOS, the wizard on a new machine).
//! The URL in the snippets is the one the browser used to reach this server.

use std::fmt::Write;

use super::Site;
use super::html::Escaped;

pub(super) fn write(out: &mut String, keys: &[String], site: &Site) {
    let base = Escaped(&site.base_url);
    let _ = write!(
        out,
        "<section id=\"cache\"><h2>Binary cache</h2><p>Signed with {}:</p><pre id=\"cache-keys\">{}</pre>",
        if keys.len() == 1 {
            "this key"
        } else {
            "these keys"
        },
        Escaped(&keys.join("\n")),
    );
    let _ = write!(
        out,
        "<p>Any machine with Nix: add to <code>/etc/nix/nix.conf</code>, then restart \
         <code>nix-daemon</code> <button type=\"button\" data-copy=\"nix-conf\" hidden>Copy</button></p>\
         <pre id=\"nix-conf\">extra-substituters = {base}\nextra-trusted-public-keys = {keys}</pre>",
        keys = Escaped(&keys.join(" ")),
    );
    let _ = write!(
        out,
        "<p>A NixOS host of the fleet flake (the client module): \
         <button type=\"button\" data-copy=\"nixos-conf\" hidden>Copy</button></p>\
         <pre id=\"nixos-conf\">services.atuin-bootstrap.client = {{\n  enable = true;\n  \
         serverUrl = \"{base}\";\n  publicKey = \"{key}\";\n}};</pre>\
         <p>A new machine: <code>bootstrap-new-machine --server {base}</code> does both. \
         Check from a host: <code>nix store ping --store {base}</code>.</p></section>\n",
        key = Escaped(keys.first().map(String::as_str).unwrap_or("")),
    );
}

//! Fixture flakes with no inputs, built by real `nix build`. Each call makes new store paths
//! (a nonce goes into every derivation), so tests may delete or sign them freely.

use std::path::Path;

use super::nix;

/// Paths of the standard fixture: `tree` has executables, symlinks, nested and empty
/// directories and depends on `lib`, which depends on `base`.
pub(crate) struct Fixture {
    pub _dir: tempfile::TempDir,
    pub tree: String,
    pub lib: String,
    pub base: String,
}

impl Fixture {
    pub(crate) fn build() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        write_mk_flake(dir.path(), FIXTURE);
        let tree = nix::build(dir.path(), "tree");
        let closure = nix::closure(&tree);
        Fixture {
            lib: path_ending(&closure, "-fixture-lib"),
            base: path_ending(&closure, "-fixture-base"),
            tree,
            _dir: dir,
        }
    }

    /// Copies the closure into `store` (a store URL: `local?root=…`) and deletes it from the
    /// machine's store: only that store has it then, as only a laptop has what it built.
    pub(crate) fn move_to(&self, store: &str) {
        nix::run_ok(
            nix::nix("")
                .args(["copy", "--no-check-sigs", "--to", store])
                .arg(&self.tree),
        );
        nix::run_ok(
            std::process::Command::new("nix-store")
                .args(["--delete", &self.tree, &self.lib, &self.base]),
        );
    }

    /// The `.drv` of `tree`, whose build log says "building the fixture tree".
    pub(crate) fn tree_drv(&self) -> String {
        nix::path_info(&self.tree)["deriver"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// The `let` binding the fixture flakes start with: `mk name script extra`, a derivation that
/// runs `script` with PATH set and carries a nonce.
const MK: &str = r#"    mk = name: script: extra: derivation ({
      inherit name;
      system = "x86_64-linux";
      builder = "/bin/sh";
      nonce = "@NONCE@";
      args = [ "-c" ("PATH=/bin:/usr/bin\n" + script) ];
    } // extra);
"#;

/// Writes `dir/flake.nix`: its `let` binds `mk` (see `MK`) with a new nonce, so every call
/// makes new store paths, then holds `body` (more bindings, then `in { … };`).
pub(crate) fn write_mk_flake(dir: &Path, body: &str) {
    let mk = MK.replace("@NONCE@", &super::nonce());
    let flake = ["{\n  outputs = { self }: let\n", &mk, body, "}\n"].concat();
    std::fs::write(dir.join("flake.nix"), flake).unwrap();
}

/// The path of `closure` whose name ends in `suffix`.
pub(crate) fn path_ending(closure: &[String], suffix: &str) -> String {
    closure
        .iter()
        .find(|p| p.ends_with(suffix))
        .unwrap_or_else(|| panic!("no {suffix} in {closure:?}"))
        .clone()
}

/// The standard fixture, after `mk`.
const FIXTURE: &str = r#"    base = mk "fixture-base" ''
      echo "building the fixture base"
      mkdir -p $out
      echo base > $out/base.txt
    '' {};
    lib = mk "fixture-lib" ''
      mkdir -p $out/lib
      echo "$base" > $out/lib/base-path
      printf 'x%.0s' $(seq 1 5000) > $out/lib/big.txt
    '' { inherit base; };
    tree = mk "fixture-tree" ''
      echo "building the fixture tree"
      mkdir -p $out/bin $out/share/empty $out/share/deep/er/still
      printf '#!/bin/sh\necho hello\n' > $out/bin/hello
      chmod +x $out/bin/hello
      ln -s hello $out/bin/hi
      ln -s /nonexistent/target $out/dangling
      echo "$lib" > $out/share/lib-path
      : > $out/share/empty-file
      printf 'abc' > $out/share/deep/er/still/odd-length
      head -c 70000 /dev/zero > $out/share/zeros
      head -c 3145739 /dev/urandom > $out/share/large.bin
    '' { inherit lib; };
  in {
    packages.x86_64-linux = { inherit base lib tree; };
    tree = tree;
  };
"#;

/// A flake with one package `attr` whose builder runs `script` (with PATH set); new paths on
/// every call.
pub(crate) fn single_package_flake(attr: &str, script: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let flake = format!(
        r#"{{ outputs = {{ self }}: {{ packages.x86_64-linux.{attr} = derivation {{
  name = "{attr}"; system = "x86_64-linux"; builder = "/bin/sh"; nonce = "{}";
  args = [ "-c" "PATH=/bin:/usr/bin; {script}" ];
}}; }}; }}"#,
        super::nonce()
    );
    std::fs::write(dir.path().join("flake.nix"), flake).unwrap();
    dir
}

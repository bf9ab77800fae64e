//! Finds the build log Nix kept for a derivation (`<log dir>/drvs/ab/cdef….drv`, plain or
//! bzip2-compressed) and opens it as plain text. Not for the server's own job logs.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::store_path::is_valid_basename;

/// Opens the plain-text log of the derivation with base name `drv` (`<hash>-name.drv`), or
/// `None` when Nix kept none. A name that is not a derivation's base name is `None` too.
pub fn open(log_dir: &Path, drv: &str) -> io::Result<Option<Box<dyn Read + Send>>> {
    if !drv.ends_with(".drv") || !is_valid_basename(drv) {
        return Ok(None);
    }
    let base: PathBuf = log_dir.join("drvs").join(&drv[..2]).join(&drv[2..]);
    match File::open(&base) {
        Ok(file) => return Ok(Some(Box::new(file))),
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let mut compressed = base.into_os_string();
    compressed.push(".bz2");
    match File::open(&compressed) {
        Ok(file) => Ok(Some(Box::new(bzip2::read::MultiBzDecoder::new(file)))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

//! What both sides of the fleet share: the configuration (file, environment, flags), the
//! protocol between hosts and the box (host reports, status), exit codes, the process
//! environment, the applet names, the state directory's files, lock files and small OS helpers.

pub mod ansi;
pub mod applet;
pub mod config;
pub mod credentials;
pub mod exit;
pub mod file_lock;
pub mod os;
pub mod process;
pub mod protocol;
pub mod state_dir;
pub mod timestamp;

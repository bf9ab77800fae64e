//! The commands of `atuin-bootstrap` that are not a client or the wizard: `serve` itself, and
//! the administrative ones that run without a server (cache keys, API tokens, GC roots, which
//! work on the state directory the server uses: `--state-dir` or `server.state_dir`), and
//! completions.

pub mod cache;
pub mod completions;
pub mod gc;
pub mod serve;
pub mod token;

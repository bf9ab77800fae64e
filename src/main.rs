//! Entry point: gathers the process environment, sets up logging, runs the invocation and maps
//! its outcome to an exit code. The only place that reads `std::env` or touches stdio.

use std::io::Write;

mod app;
mod cli;
mod completions;

use common::{exit, process::Process};

// The static build links musl, whose malloc serialises every thread on one lock: the cache
// answered 0.85× the glibc build's narinfo requests/s with it and 0.95× with mimalloc, which
// keeps a heap per thread (bench/static-bench.sh, README "One static binary"). The glibc
// build keeps glibc's malloc, which is already per-thread.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let vars: std::collections::BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let filter = vars
        .get("ATUIN_BOOTSTRAP_LOG")
        .cloned()
        .unwrap_or_else(|| "info".to_string());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr()) && !vars.contains_key("NO_COLOR"),
        )
        .with_target(false)
        .init();
    let dirs = directories::ProjectDirs::from("", "", "atuin-bootstrap");
    let debug = filter.contains("debug") || filter.contains("trace");
    let process = Process {
        args: std::env::args_os().collect(),
        vars,
        user_config_dir: dirs.as_ref().map(|d| d.config_dir().to_path_buf()),
        user_data_dir: dirs.as_ref().map(|d| d.data_dir().to_path_buf()),
        current_exe: std::env::current_exe().ok(),
        stdout: Box::new(std::io::stdout()),
        stderr: Box::new(std::io::stderr()),
        stdout_is_terminal: std::io::IsTerminal::is_terminal(&std::io::stdout()),
        stderr_is_terminal: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let code = match app::run(process) {
        Ok(()) => 0,
        Err(error) => {
            let code = exit::code_of(&error);
            let broken_pipe = error.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            });
            // An empty message: the mode has already said what happened (deploy's summary).
            let said = error.to_string().is_empty();
            if code != 0 && !broken_pipe && !said {
                let mut stderr = std::io::stderr();
                if debug {
                    let _ = writeln!(stderr, "error: {error:?}");
                } else {
                    let _ = writeln!(stderr, "error: {error:#}");
                }
            }
            if broken_pipe { 0 } else { code }
        }
    };
    std::process::exit(code);
}

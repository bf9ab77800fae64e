//! Where a deploy tells what it does (stderr, so the journal keeps it under the agent's
//! service): one shared writer that the agent's own lines and the output of the commands it
//! runs (activation, checks, Nix) both go to, from any thread.

use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub(super) struct Log {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl Log {
    pub(super) fn new(out: Box<dyn Write + Send>) -> Log {
        Log {
            out: Arc::new(Mutex::new(out)),
        }
    }

    /// One line about what the deploy does.
    pub(super) fn line(&self, text: &str) {
        let mut out = self.out.lock().expect("log lock");
        let _ = writeln!(out, "deploy: {text}");
        let _ = out.flush();
    }

    /// A writer for a command's output.
    pub(super) fn boxed(&self) -> Box<dyn Write + Send> {
        Box::new(self.clone())
    }
}

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.lock().expect("log lock").write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.lock().expect("log lock").flush()
    }
}

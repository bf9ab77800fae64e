//! What the operating system says about this process and machine: whether we are root,
//! whether a path is writable for us, the host name. The few `libc` calls, in one place.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Running as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid() has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether this process may write `path` (by `access(2)`, which honours the real uid).
pub fn is_writable(path: &Path) -> bool {
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access() reads a NUL-terminated path and touches no memory of ours.
    unsafe { libc::access(c_path.as_ptr(), libc::W_OK) == 0 }
}

/// The machine's host name as the kernel has it; `None` when it has none.
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(0);
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    (ok && !name.is_empty()).then_some(name)
}

/// Raises this process's soft limit of open files to its hard limit, so a server with over a
/// thousand clients (each a socket, many reading a file) does not run out at Debian's 1024.
pub fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Holds a socket's kernel send buffer at `bytes` (the kernel doubles it for its bookkeeping)
/// instead of letting it grow to `net.ipv4.tcp_wmem`'s maximum (4 MiB by default).
pub fn cap_send_buffer(socket: &impl std::os::fd::AsRawFd, bytes: usize) {
    let size = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt reads `size` for its length; the fd is open for the call.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Whether a process with this pid exists (signal 0: nothing is sent).
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: kill() with signal 0 only checks that the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

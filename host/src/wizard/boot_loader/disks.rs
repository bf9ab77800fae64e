//! Which disk holds `/`: the mount table, then sysfs down through partitions and
//! device-mapper layers (LUKS, LVM on one disk) to the whole disk, named by a stable
//! `/dev/disk/by-id` link when there is one. Everything is read under a root directory.

use std::path::{Path, PathBuf};

pub(super) struct Mount {
    pub point: String,
    pub fs_type: String,
    pub source: String,
}

/// `/proc/self/mountinfo`: `id parent major:minor root POINT options… - TYPE SOURCE options`.
pub(super) fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let point = left.split(' ').nth(4)?;
            let mut right = right.split(' ');
            Some(Mount {
                point: point.replace("\\040", " "),
                fs_type: right.next()?.to_string(),
                source: right.next()?.to_string(),
            })
        })
        .collect()
}

/// The whole disk under the block device `source` (a partition, or LUKS/LVM on one disk), by
/// its stable name when `/dev/disk/by-id` has one. `None` for anything else.
pub(super) fn disk_of(root: &Path, source: &str) -> Option<String> {
    let relative = source.strip_prefix("/dev/")?;
    let device = std::fs::canonicalize(root.join("dev").join(relative)).ok()?;
    let mut name = device.file_name()?.to_string_lossy().into_owned();
    // Down through device-mapper layers (LUKS, LVM) while each sits on one device.
    for _ in 0..8 {
        let class = root.join("sys/class/block").join(&name);
        let slaves: Vec<String> = std::fs::read_dir(class.join("slaves"))
            .map(|dir| {
                dir.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        match slaves.as_slice() {
            [] => break,
            [one] => name = one.clone(),
            _ => return None,
        }
    }
    let class = root.join("sys/class/block").join(&name);
    if !class.exists() {
        return None;
    }
    let disk = if class.join("partition").exists() {
        let real = std::fs::canonicalize(&class).ok()?;
        real.parent()?.file_name()?.to_string_lossy().into_owned()
    } else {
        name
    };
    Some(stable_name(root, &disk).unwrap_or_else(|| format!("/dev/{disk}")))
}

/// `/dev/disk/by-id/<link>` for the disk `name`, the first in sorted order.
fn stable_name(root: &Path, name: &str) -> Option<String> {
    let dir = root.join("dev/disk/by-id");
    let mut links: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    links.sort();
    links
        .into_iter()
        .find(|link| {
            std::fs::canonicalize(link)
                .ok()
                .and_then(|real| real.file_name().map(|n| n == name))
                .unwrap_or(false)
        })
        .map(|link| {
            format!(
                "/dev/disk/by-id/{}",
                link.file_name().unwrap_or_default().to_string_lossy()
            )
        })
}

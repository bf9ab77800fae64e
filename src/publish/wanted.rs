//! What the bucket should hold: the closure of every build output the box keeps as a GC root
//! (`<state>/gcroots/<target>/<job>`), so the bucket follows the box's retention. Pushed
//! paths are left out: they are not the box's builds, and the bucket is signed by the build
//! key. Then the plan (pure): what to upload, and what leaves the bucket, in the order that
//! never shows a reader a narinfo whose references are gone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::record::Published;
use crate::builds::jobs::roots::Roots;
use crate::nix::store_path::HASH_PART_LEN;

/// The paths the bucket should hold, by hash part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    pub paths: BTreeMap<String, String>,
    /// The newest job with a kept root.
    pub newest_job: Option<u64>,
    /// The kept roots and where they point, one line each: unchanged roots, unchanged closure.
    pub roots: String,
}

/// The kept roots of the state dir (no closure yet: see `closure`).
pub fn roots(state_dir: &Path) -> Result<(Vec<String>, Option<u64>, String)> {
    let mut outputs = Vec::new();
    let mut newest = None;
    let mut lines = Vec::new();
    for root in Roots::new(state_dir).list()? {
        // A root whose link is gone was dropped as it was read.
        let Ok(target) = std::fs::read_link(&root.link) else {
            continue;
        };
        let target = target.to_string_lossy().into_owned();
        lines.push(format!("{} {} {target}", root.target, root.job));
        newest = newest.max(Some(root.job));
        outputs.push(target);
    }
    lines.sort();
    outputs.sort();
    outputs.dedup();
    Ok((outputs, newest, lines.join("\n")))
}

/// Everything the kept roots need.
pub fn compute(state_dir: &Path) -> Result<Wanted> {
    let (outputs, newest_job, roots) = roots(state_dir)?;
    Ok(Wanted {
        paths: closure(&outputs)?,
        newest_job,
        roots,
    })
}

/// The closure of `paths` (`nix-store -qR`), by hash part.
fn closure(paths: &[String]) -> Result<BTreeMap<String, String>> {
    let mut all = BTreeMap::new();
    // Bounded argument lists: a box keeps a few roots per target, but many targets.
    for batch in paths.chunks(500) {
        let output = Command::new("nix-store")
            .arg("--query")
            .arg("--requisites")
            .args(batch)
            .stdin(std::process::Stdio::null())
            .output()
            .context("failed to run nix-store --query --requisites")?;
        if !output.status.success() {
            bail!(
                "nix-store --query --requisites failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            if let Some(hash) = hash_part(line) {
                all.insert(hash.to_string(), line.to_string());
            }
        }
    }
    Ok(all)
}

/// The hash part of a full store path.
pub fn hash_part(path: &str) -> Option<&str> {
    let base = path.rsplit('/').next()?;
    (base.len() > HASH_PART_LEN + 1).then(|| &base[..HASH_PART_LEN])
}

/// What a round does.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Wanted and not live in the bucket (hash parts).
    pub upload: Vec<String>,
    /// Live in the bucket and no longer wanted: referrers before what they refer to.
    pub retire: Vec<String>,
}

pub fn plan(wanted: &BTreeMap<String, String>, record: &BTreeMap<String, Published>) -> Plan {
    let upload = wanted
        .keys()
        .filter(|hash| !record.get(*hash).is_some_and(Published::is_live))
        .cloned()
        .collect();
    let leaving: BTreeSet<&str> = record
        .values()
        .filter(|row| row.is_live() && !wanted.contains_key(&row.hash))
        .map(|row| row.hash.as_str())
        .collect();
    Plan {
        upload,
        retire: referrers_first(&leaving, record),
    }
}

/// `leaving`, each after every path of `leaving` that refers to it.
fn referrers_first(leaving: &BTreeSet<&str>, record: &BTreeMap<String, Published>) -> Vec<String> {
    // Referrers of each leaving path, among the leaving.
    let mut waiting_on: BTreeMap<&str, usize> = leaving.iter().map(|h| (*h, 0)).collect();
    for hash in leaving {
        for reference in &record[*hash].refs {
            if reference != hash {
                if let Some(count) = waiting_on.get_mut(reference.as_str()) {
                    *count += 1;
                }
            }
        }
    }
    let mut ready: Vec<&str> = waiting_on
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(h, _)| *h)
        .collect();
    let mut order = Vec::with_capacity(leaving.len());
    while let Some(hash) = ready.pop() {
        order.push(hash.to_string());
        for reference in &record[hash].refs {
            if reference == hash {
                continue;
            }
            if let Some(count) = waiting_on.get_mut(reference.as_str()) {
                *count -= 1;
                if *count == 0 {
                    ready.push(reference.as_str());
                }
            }
        }
    }
    // A cycle cannot happen in a store; if the record says otherwise, the rest go last.
    for hash in leaving {
        if !order.iter().any(|h| h == hash) {
            order.push(hash.to_string());
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(hash: &str, refs: &[&str], live: bool) -> (String, Published) {
        (
            hash.to_string(),
            Published {
                hash: hash.into(),
                path: format!("/nix/store/{hash}-x"),
                nar_key: format!("nar/{hash}.nar"),
                nar_size: 10,
                file_size: 10,
                refs: refs.iter().map(|r| r.to_string()).collect(),
                published_at: 0,
                nar_delete_after: (!live).then_some(5),
            },
        )
    }

    #[test]
    fn plans_uploads_and_retires_referrers_first() {
        // top -> mid -> base; other -> base; a retired path wanted again is uploaded again.
        let record: BTreeMap<_, _> = [
            row("base", &[], true),
            row("mid", &["base", "mid"], true),
            row("top", &["mid"], true),
            row("other", &["base"], true),
            row("old", &[], false),
        ]
        .into();
        let wanted: BTreeMap<_, _> = ["base", "other", "old", "new"]
            .iter()
            .map(|h| (h.to_string(), format!("/nix/store/{h}-x")))
            .collect();
        let plan = plan(&wanted, &record);
        assert_eq!(plan.upload, vec!["new".to_string(), "old".to_string()]);
        assert_eq!(plan.retire, vec!["top".to_string(), "mid".to_string()]);

        // Nothing wanted: all live ones leave, every referrer before its references.
        let plan = super::plan(&BTreeMap::new(), &record);
        let at = |h: &str| plan.retire.iter().position(|x| x == h).unwrap();
        assert_eq!(plan.retire.len(), 4);
        assert!(at("top") < at("mid") && at("mid") < at("base") && at("other") < at("base"));
    }

    #[test]
    fn hash_parts_of_store_paths() {
        assert_eq!(
            hash_part("/nix/store/nqlm07bgzi39r04yqlan58b7csfb2ywj-hello"),
            Some("nqlm07bgzi39r04yqlan58b7csfb2ywj")
        );
        assert_eq!(hash_part("/nix/store/short"), None);
    }
}

//! What the bucket should hold: the closure of every build output the box keeps as a GC root
//! (`<state>/gcroots/<target>/<job>`), and every pushed path the box keeps (`cache.pushed_ttl`)
//! with what it refers to, so the bucket follows the box's retention. A pushed path the store
//! lacks is published from the pushed area (signed by the push key only, as the box serves
//! it); one the store has, from the store. A pushed path whose references the box no longer
//! has is left out, as its narinfo would name paths no reader finds. Then the plan (pure):
//! what to upload, and what leaves the bucket, in the order that never shows a reader a
//! narinfo whose references are gone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::record::Published;
use crate::builds::jobs::roots::Roots;
use crate::cache::pushed_area::{PushedArea, PushedPath};
use nix_core::command;
use nix_core::store_path::HASH_PART_LEN;

/// The paths the bucket should hold, by hash part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Wanted {
    pub paths: BTreeMap<String, String>,
    /// Of `paths`, those published from the pushed area, with their records.
    pub pushed: BTreeMap<String, PushedPath>,
    /// The newest job with a kept root.
    pub newest_job: Option<u64>,
    /// The kept roots and where they point, one line each, and when the pushed paths last
    /// changed: unchanged roots, unchanged closure.
    pub roots: String,
}

/// The kept roots of the state dir (no closure yet: see `closure`).
pub(super) fn roots(state_dir: &Path) -> Result<(Vec<String>, Option<u64>, String)> {
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
    // Any push or drop renames a record in or out of `pushed/paths/`.
    let pushed_changed = std::fs::metadata(state_dir.join("pushed").join("paths"))
        .and_then(|m| m.modified())
        .ok();
    lines.push(format!("pushed {pushed_changed:?}"));
    outputs.sort();
    outputs.dedup();
    Ok((outputs, newest, lines.join("\n")))
}

/// Everything the kept roots and the pushed paths need.
pub(super) fn compute(state_dir: &Path) -> Result<Wanted> {
    let (mut outputs, newest_job, roots) = roots(state_dir)?;
    let records: BTreeMap<String, PushedPath> = PushedArea::new(state_dir)
        .list()?
        .into_iter()
        .map(|(hash, _, record)| (hash, record))
        .collect();
    let mut asked: Vec<String> = records
        .values()
        .flat_map(|r| std::iter::once(&r.path).chain(&r.references))
        .cloned()
        .collect();
    asked.sort();
    asked.dedup();
    let invalid = invalid(&asked)?;
    let (from_store, pushed) = split_pushed(records, |path| !invalid.contains(path));
    outputs.extend(from_store);
    outputs.sort();
    outputs.dedup();
    let mut paths = closure(&outputs)?;
    for (hash, record) in &pushed {
        paths.insert(hash.clone(), record.path.clone());
    }
    Ok(Wanted {
        paths,
        pushed,
        newest_job,
        roots,
    })
}

/// Splits the pushed paths into the store paths to publish from the store (pushed paths the
/// store has, and what pushed paths refer to in the store) and the pushed paths to publish
/// from the pushed area: those the store lacks whose references are all in the store or
/// among them.
fn split_pushed(
    records: BTreeMap<String, PushedPath>,
    in_store: impl Fn(&str) -> bool,
) -> (Vec<String>, BTreeMap<String, PushedPath>) {
    let (stored, mut pushed): (BTreeMap<_, _>, BTreeMap<_, _>) = records
        .into_iter()
        .partition(|(_, record)| in_store(&record.path));
    // Drop, until none is dropped, those referring to what is neither.
    loop {
        let names: BTreeSet<String> = pushed.values().map(|r| r.path.clone()).collect();
        let before = pushed.len();
        pushed.retain(|_, record: &mut PushedPath| {
            record
                .references
                .iter()
                .all(|r| *r == record.path || names.contains(r) || in_store(r))
        });
        if pushed.len() == before {
            break;
        }
    }
    let mut from_store: Vec<String> = stored.into_values().map(|r| r.path).collect();
    for record in pushed.values() {
        from_store.extend(
            record
                .references
                .iter()
                .filter(|r| **r != record.path && in_store(r))
                .cloned(),
        );
    }
    (from_store, pushed)
}

/// Which of `paths` the store does not have (`nix-store --check-validity --print-invalid`).
fn invalid(paths: &[String]) -> Result<BTreeSet<String>> {
    let mut invalid = BTreeSet::new();
    for batch in paths.chunks(500) {
        let output = command::print_invalid(batch)
            .command()
            .stdin(std::process::Stdio::null())
            .output()
            .context("failed to run nix-store --check-validity")?;
        if !output.status.success() {
            bail!(
                "nix-store --check-validity failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        invalid.extend(
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .map(str::to_string),
        );
    }
    Ok(invalid)
}

/// The closure of `paths` (`nix-store -qR`), by hash part.
fn closure(paths: &[String]) -> Result<BTreeMap<String, String>> {
    let mut all = BTreeMap::new();
    // Bounded argument lists: a box keeps a few roots per target, but many targets.
    for batch in paths.chunks(500) {
        let output = command::requisites(batch)
            .command()
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
pub(super) fn hash_part(path: &str) -> Option<&str> {
    let base = path.rsplit('/').next()?;
    (base.len() > HASH_PART_LEN + 1).then(|| &base[..HASH_PART_LEN])
}

/// What a round does.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Plan {
    /// Wanted and not live in the bucket (hash parts).
    pub upload: Vec<String>,
    /// Live in the bucket and no longer wanted: referrers before what they refer to.
    pub retire: Vec<String>,
}

/// `pushed`: the wanted paths published from the pushed area; a path published from there
/// that the store now has is put again, from the store.
pub(super) fn plan(
    wanted: &BTreeMap<String, String>,
    pushed: &BTreeMap<String, PushedPath>,
    record: &BTreeMap<String, Published>,
) -> Plan {
    let upload = wanted
        .keys()
        .filter(|hash| {
            !record.get(*hash).is_some_and(|row| {
                row.is_live() && (pushed.contains_key(*hash) || !row.is_pushed_copy())
            })
        })
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
            if reference != hash
                && let Some(count) = waiting_on.get_mut(reference.as_str())
            {
                *count += 1;
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
        let plan = plan(&wanted, &BTreeMap::new(), &record);
        assert_eq!(plan.upload, vec!["new".to_string(), "old".to_string()]);
        assert_eq!(plan.retire, vec!["top".to_string(), "mid".to_string()]);

        // Nothing wanted: all live ones leave, every referrer before its references.
        let plan = super::plan(&BTreeMap::new(), &BTreeMap::new(), &record);
        let at = |h: &str| plan.retire.iter().position(|x| x == h).unwrap();
        assert_eq!(plan.retire.len(), 4);
        assert!(at("top") < at("mid") && at("mid") < at("base") && at("other") < at("base"));
    }

    fn pushed(hash: &str, refs: &[&str]) -> (String, PushedPath) {
        let path = |h: &str| format!("/nix/store/{h}-x");
        (
            hash.to_string(),
            PushedPath {
                path: path(hash),
                deriver: None,
                nar_hash: String::new(),
                nar_size: 1,
                references: refs.iter().map(|r| path(r)).collect(),
                ca: None,
                compression: "none".into(),
                file_hash: String::new(),
                file_size: 1,
                file: format!("{hash}.nar"),
                token: None,
                pushed_at: String::new(),
            },
        )
    }

    #[test]
    fn pushed_paths_go_from_the_store_when_it_has_them_and_never_with_a_reference_missing() {
        // app -> lib -> base (in the store); built is pushed but the box has it; orphan refers
        // to a path nobody has, and needs_orphan to orphan.
        let records: BTreeMap<_, _> = [
            pushed("app", &["lib", "app"]),
            pushed("lib", &["base"]),
            pushed("built", &["base"]),
            pushed("orphan", &["gone"]),
            pushed("needs_orphan", &["orphan"]),
        ]
        .into();
        let store = ["/nix/store/base-x", "/nix/store/built-x"];
        let (from_store, pushed) = split_pushed(records, |p| store.contains(&p));
        assert_eq!(pushed.keys().collect::<Vec<_>>(), ["app", "lib"]);
        let mut from_store = from_store;
        from_store.sort();
        from_store.dedup();
        assert_eq!(from_store, store.map(str::to_string));
    }

    #[test]
    fn a_pushed_copy_the_store_now_has_is_put_again_from_the_store() {
        let mut copy = row("p", &[], true);
        copy.1.nar_key = "nar/pushed/p.nar.zst".into();
        let record: BTreeMap<_, _> = [copy].into();
        let wanted: BTreeMap<_, _> = [("p".to_string(), "/nix/store/p-x".to_string())].into();
        let from_area: BTreeMap<_, _> = [pushed("p", &[])].into();
        assert!(plan(&wanted, &from_area, &record).upload.is_empty());
        assert_eq!(plan(&wanted, &BTreeMap::new(), &record).upload, ["p"]);
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

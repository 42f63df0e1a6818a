//! Shard folders through object storage: a run's `--results-to s3://BUCKET/PREFIX/`
//! uploads its folder to `PREFIX/shard-I-of-N/` and then the marker
//! `PREFIX/shard-I-of-N.done`; a merge from `s3://` waits for the markers, downloads the
//! shard folders and uploads the merged one to `PREFIX/merged/`.
//!
//! Owns the object layout under the prefix. Goes through the scenario's storage target
//! with the admin client (setup traffic, never measured).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};

use super::shards::{Mismatch, missing, missing_text};
use crate::client::Admin;
use crate::plan::{Plan, TargetKind};

/// How often a merge looks for new markers.
pub const POLL_EVERY: Duration = Duration::from_secs(2);

/// Folder under the prefix that receives the merged results.
pub const MERGED: &str = "merged";

/// `s3://BUCKET/PREFIX/`: where shard folders travel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    /// Empty, or ending in `/`.
    pub prefix: String,
}

impl FromStr for Location {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Location> {
        let Some(rest) = text.strip_prefix("s3://") else {
            bail!("{text:?} is not s3://BUCKET/PREFIX/");
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.len() < 3 {
            bail!("{text:?}: the bucket name needs at least 3 characters");
        }
        let prefix = prefix.trim_matches('/');
        Ok(Location {
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        })
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// `shard-I-of-N`: a shard's folder under the prefix (its marker adds `.done`).
pub fn shard_name(index: u32, count: u32) -> String {
    format!("shard-{index}-of-{count}")
}

/// The index and count of a marker key directly under `prefix`.
fn marker_of(prefix: &str, key: &str) -> Option<(u32, u32)> {
    let name = key.strip_prefix(prefix)?.strip_suffix(".done")?;
    let (index, count) = name.strip_prefix("shard-")?.split_once("-of-")?;
    Some((index.parse().ok()?, count.parse().ok()?))
}

/// The admin client of `plan`'s target `target`, or of its first s3 target: where
/// results travel. Embedded and gateway targets cannot hold them.
pub fn admin(plan: &Plan, target: Option<&str>) -> anyhow::Result<Admin> {
    let endpoint = match target {
        Some(name) => match plan.targets.iter().find(|t| t.name == name) {
            Some(t) => match &t.kind {
                TargetKind::S3(ep) => ep,
                _ => bail!("target {name} is not an s3 target: results travel through one"),
            },
            None => bail!("the scenario has no target {name}"),
        },
        None => plan
            .targets
            .iter()
            .find_map(|t| match &t.kind {
                TargetKind::S3(ep) => Some(ep),
                _ => None,
            })
            .context("the scenario has no s3 target to move results through")?,
    };
    crate::run::setup::admin(plan, endpoint)
}

/// Uploads the folder `dir` of shard `index` of `count` to `PREFIX/shard-I-of-N/`
/// (creating the bucket if missing), then its marker; returns how many files.
pub async fn publish(
    admin: &Admin,
    to: &Location,
    dir: &Path,
    index: u32,
    count: u32,
) -> anyhow::Result<usize> {
    admin
        .ensure_buckets(std::slice::from_ref(&to.bucket))
        .await?;
    let name = shard_name(index, count);
    let n = upload(admin, to, dir, &name, None).await?;
    let marker = format!("{}{name}.done", to.prefix);
    admin
        .put_bytes(&to.bucket, &marker, format!("{n} files\n").into_bytes())
        .await?;
    Ok(n)
}

/// Uploads every file under `dir` (but not under `skip`) to `PREFIX/<under>/…`;
/// returns how many.
pub async fn upload(
    admin: &Admin,
    to: &Location,
    dir: &Path,
    under: &str,
    skip: Option<&Path>,
) -> anyhow::Result<usize> {
    let files = files_under(dir, skip)?;
    for rel in &files {
        let path = dir.join(rel);
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let key = format!("{}{under}/{}", to.prefix, key_path(rel));
        admin.put_bytes(&to.bucket, &key, bytes).await?;
    }
    Ok(files.len())
}

/// A relative path as the `/`-separated part of a key.
fn key_path(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Every file under `dir` (not under `skip`), relative, sorted.
fn files_under(dir: &Path, skip: Option<&Path>) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries =
            std::fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))?;
        for entry in entries {
            let path = entry?.path();
            if Some(path.as_path()) == skip {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                out.push(rel.to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Waits (polling every [`POLL_EVERY`], at most `wait`) until every shard's marker is
/// under the prefix; `count` from `shards` or the first marker's name. `say` hears which
/// shards are still missing whenever that changes. Returns the count; on timeout, an
/// error naming the missing shards.
pub async fn wait_for_markers(
    admin: &Admin,
    from: &Location,
    shards: Option<u32>,
    wait: Duration,
    say: impl Fn(&str),
) -> anyhow::Result<u32> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut last_said = String::new();
    loop {
        let markers = markers(admin, from).await?;
        let count = shards.or_else(|| markers.first().map(|m| m.1));
        if let Some(&(index, other)) = markers.iter().find(|m| Some(m.1) != count) {
            return Err(Mismatch(format!(
                "{from}: the marker of shard {index} says {other} shards, not {}",
                count.unwrap_or_default()
            ))
            .into());
        }
        let present: Vec<u32> = markers.iter().map(|m| m.0).collect();
        let state = match count {
            Some(n) if missing(&present, n).is_empty() => return Ok(n),
            Some(n) => missing_text(&missing(&present, n), n),
            None => "no shard has finished yet".to_string(),
        };
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "{state} after waiting {} for their markers under {from}",
                humantime::format_duration(wait)
            );
        }
        if state != last_said {
            say(&format!("waiting under {from}: {state}"));
            last_said = state;
        }
        tokio::time::sleep(POLL_EVERY.min(deadline - tokio::time::Instant::now())).await;
    }
}

/// The (index, count) of every marker under the prefix; none while the bucket does not
/// exist yet.
async fn markers(admin: &Admin, from: &Location) -> anyhow::Result<Vec<(u32, u32)>> {
    let keys = admin.list_keys(&from.bucket, &from.prefix).await?;
    let mut out: Vec<(u32, u32)> = keys
        .iter()
        .filter_map(|k| marker_of(&from.prefix, k))
        .collect();
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Downloads the folders of shards `0..count` into `into/shard-I/`; returns them.
pub async fn download(
    admin: &Admin,
    from: &Location,
    count: u32,
    into: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for index in 0..count {
        let prefix = format!("{}{}/", from.prefix, shard_name(index, count));
        let dir = into.join(format!("shard-{index}"));
        for key in admin.list_keys(&from.bucket, &prefix).await? {
            let Some(rel) = key.strip_prefix(&prefix) else {
                continue;
            };
            if rel
                .split('/')
                .any(|part| part.is_empty() || part == "." || part == "..")
            {
                bail!("{from}: refusing the key {key}: not a plain relative path");
            }
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            let bytes = admin
                .get_bytes(&from.bucket, &key)
                .await?
                .with_context(|| format!("{from}: {key} vanished while it was downloaded"))?;
            std::fs::write(&path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        dirs.push(dir);
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_marker_names_parse() {
        let loc: Location = "s3://bench-results/runs/r1".parse().unwrap();
        assert_eq!(loc.bucket, "bench-results");
        assert_eq!(loc.prefix, "runs/r1/");
        assert_eq!(loc.to_string(), "s3://bench-results/runs/r1/");
        let bare: Location = "s3://bench-results".parse().unwrap();
        assert_eq!(bare.prefix, "");
        assert!("http://x/y".parse::<Location>().is_err());
        assert!("s3://ab/".parse::<Location>().is_err());

        assert_eq!(shard_name(2, 4), "shard-2-of-4");
        assert_eq!(
            marker_of("runs/r1/", "runs/r1/shard-2-of-4.done"),
            Some((2, 4))
        );
        assert_eq!(
            marker_of("runs/r1/", "runs/r1/shard-2-of-4/summary.json"),
            None
        );
        assert_eq!(marker_of("runs/r1/", "runs/r2/shard-2-of-4.done"), None);
        assert_eq!(
            key_path(Path::new("charts/latency.svg")),
            "charts/latency.svg"
        );
    }
}

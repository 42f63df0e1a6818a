//! Before and after the load: opening targets, creating buckets and seeding the read set
//! once per storage, and deleting this run's objects at the end.
//!
//! A storage is a direct target (s3 or embedded); a gateway target is set up and cleaned
//! up through the direct target named in its `setup_via`.

use std::time::Duration;

use tokio::sync::watch;

use crate::client::{Admin, KeySpace, OpenTarget};
use crate::plan::{Plan, TargetKind};
use crate::progress::Display;
use crate::shared::S3Endpoint;

/// The index of the target whose storage target `index` reads and writes.
pub fn storage_of(plan: &Plan, index: usize) -> usize {
    match &plan.targets[index].kind {
        TargetKind::Gateway(gw) => position(plan, &gw.setup_via).unwrap_or(index),
        TargetKind::EmbeddedGateway(eg) => position(plan, &eg.setup_via).unwrap_or(index),
        _ => index,
    }
}

fn position(plan: &Plan, name: &str) -> Option<usize> {
    plan.targets.iter().position(|t| t.name == name)
}

/// The distinct storages of the plan's targets, in target order.
pub fn storages(plan: &Plan) -> Vec<usize> {
    let mut out: Vec<usize> = (0..plan.targets.len())
        .map(|i| storage_of(plan, i))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Creates the buckets and seeds the read set in storage `index`.
pub async fn prepare(
    plan: &Plan,
    keys: &KeySpace,
    open: &OpenTarget,
    display: &Display,
) -> anyhow::Result<()> {
    let Some(endpoint) = &open.storage else {
        anyhow::bail!("not a storage target");
    };
    let admin = admin(plan, endpoint)?;
    admin.ensure_buckets(&plan.data.buckets).await?;
    let objects = keys.seed_objects(plan)?;
    if !objects.is_empty() {
        let bytes: u64 = objects.iter().map(|o| o.2).sum();
        display.line(&format!(
            "seeding {} objects ({}) under {} at {}",
            objects.len(),
            bytesize::ByteSize(bytes),
            keys.run_prefix(),
            endpoint.endpoint
        ));
        admin.put_objects(objects).await?;
    }
    Ok(())
}

/// Deletes this run's objects from a storage (within the setup budget), unless asked to
/// keep them; `abandon` turning true (a second Ctrl-C) leaves them where they are.
pub async fn clean_up(
    plan: &Plan,
    keys: &KeySpace,
    open: &OpenTarget,
    keep: bool,
    abandon: &watch::Receiver<bool>,
    display: &Display,
) {
    let Some(endpoint) = &open.storage else {
        return;
    };
    let prefix = keys.run_prefix();
    let at = &endpoint.endpoint;
    if keep {
        display.line(&format!("kept objects under {prefix} at {at}"));
        return;
    }
    let work = async {
        let admin = admin(plan, endpoint)?;
        let uploads = admin.abort_uploads(&plan.data.buckets, prefix).await?;
        let objects = admin.delete_prefix(&plan.data.buckets, prefix).await?;
        Ok((objects, uploads))
    };
    match within(plan.limits.setup_timeout, abandon, work).await {
        Some(Ok((n, 0))) => display.line(&format!("cleaned up {n} objects under {prefix} at {at}")),
        Some(Ok((n, uploads))) => display.line(&format!(
            "cleaned up {n} objects and {uploads} incomplete uploads under {prefix} at {at}"
        )),
        Some(Err(e)) => display.line(&format!(
            "warning: clean-up at {at} incomplete, objects may remain under {prefix}: {e:#}"
        )),
        None => display.line(&format!(
            "clean-up abandoned: objects may remain under {prefix} at {at}"
        )),
    }
}

/// The least time a setup or clean-up request may take: creating a bucket (a pool, the
/// first time) takes RGW well over the short request timeouts some scenarios measure with.
const SETUP_REQUEST_FLOOR: Duration = Duration::from_secs(10);

/// The admin client of a storage: each request bounded by the scenario's request
/// timeout, but never by less than [`SETUP_REQUEST_FLOOR`].
pub(crate) fn admin(plan: &Plan, endpoint: &S3Endpoint) -> anyhow::Result<Admin> {
    Admin::new(
        endpoint,
        plan.limits.request_timeout.max(SETUP_REQUEST_FLOOR),
    )
}

/// Runs a setup or clean-up step: an error once `budget` has passed, `None` if
/// `cancel` turns true first (the step is dropped at once).
pub async fn within<T>(
    budget: Duration,
    cancel: &watch::Receiver<bool>,
    work: impl Future<Output = anyhow::Result<T>>,
) -> Option<anyhow::Result<T>> {
    let mut cancel = cancel.clone();
    tokio::select! {
        r = tokio::time::timeout(budget, work) => Some(r.unwrap_or_else(|_| {
            Err(anyhow::anyhow!(
                "not done within {} (run.setup_timeout)",
                humantime::format_duration(budget)
            ))
        })),
        _ = crate::engine::stopped(&mut cancel) => None,
    }
}

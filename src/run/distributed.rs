//! One shard of a distributed run (`--shard I/N`): the shared run id, who seeds, the
//! instant all shards begin, how far this machine's clock is off, and who cleans up.
//!
//! Shards talk to each other only through small marker objects in the storage under
//! test, under the run's key prefix (so the run's clean-up removes them): shard 0 seeds
//! the read set and then writes `start` (the agreed start instant); the other shards
//! wait for it. At the end every other shard writes `done-I`, and shard 0 cleans up
//! once all are there (or leaves the objects, saying so, when they do not come).

use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::client::{Admin, S3Call, S3Client};
use crate::engine::stopped;
use crate::plan::Shard;
use crate::progress::Display;
use crate::results::shards::ShardRecord;
use crate::results::{self, timestamp_millis};

/// Where the markers live, under the run's key prefix.
const MARKERS: &str = ".gatebench/";

/// How often a shard looks for a marker it waits for.
const POLL: Duration = Duration::from_millis(500);

/// Longest the clock measurement sends requests for (the reference's `Date` must turn
/// over once, which takes at most a second).
const CLOCK_BUDGET: Duration = Duration::from_millis(2_500);

/// Gap between the clock measurement's requests: its resolution, with the round trip.
const CLOCK_STEP: Duration = Duration::from_millis(10);

/// What the command line says of this process's part in a distributed run.
#[derive(Debug, Clone)]
pub struct Distributed {
    pub shard: Shard,
    /// The id all shards share: their key prefix and their summaries' `run_id`.
    pub run_id: String,
    /// The agreed start (`--start-at`); `None`: shard 0 picks it after seeding.
    pub start_at: Option<SystemTime>,
    /// With no `start_at`: how long after seeding shard 0 sets the start.
    pub start_grace: Duration,
    /// Largest clock offset accepted without a flag.
    pub max_clock_offset: Duration,
    /// Measure the clock against this NTP server (`HOST[:PORT]`) rather than the first
    /// target's `Date` header.
    pub ntp_server: Option<String>,
    /// Milliseconds added to this machine's clock: a test hook simulating a skewed clock.
    pub clock_skew_ms: i64,
}

/// The `start` marker's body.
#[derive(Debug, Serialize, Deserialize)]
struct StartMarker {
    start_at: String,
}

/// A clock offset as measured against a reference.
#[derive(Debug, Clone)]
pub struct ClockOffset {
    /// This clock minus the reference's, ms.
    pub ms: f64,
    /// What it was measured against, with its resolution.
    pub reference: String,
}

impl Distributed {
    /// This machine's wall clock (shifted by the test hook's skew).
    pub fn now(&self) -> SystemTime {
        shift(SystemTime::now(), self.clock_skew_ms)
    }

    /// The shard record before the load: who this shard is.
    pub fn record(&self, began: SystemTime, offset: Option<&ClockOffset>) -> ShardRecord {
        ShardRecord {
            index: self.shard.index,
            count: self.shard.count,
            run_id: self.run_id.clone(),
            host: results::host_name(),
            start_at: self.start_at.map(timestamp_millis),
            began_at: timestamp_millis(began),
            clock_offset_ms: offset.map(|o| (o.ms * 1e3).round() / 1e3),
            clock_reference: offset.map(|o| o.reference.clone()),
            max_clock_offset_ms: self.max_clock_offset.as_secs_f64() * 1e3,
            cpu_seconds: None,
            peak_rss_bytes: None,
        }
    }

    /// Shard 0, after seeding: publishes the start (the agreed one, or now plus the
    /// grace) and returns it.
    pub async fn publish_start(
        &mut self,
        admin: &Admin,
        bucket: &str,
        run_prefix: &str,
    ) -> anyhow::Result<SystemTime> {
        // A lone shard has nobody to wait for.
        let grace = if self.shard.is_sharded() {
            self.start_grace
        } else {
            Duration::ZERO
        };
        // On a whole second: the shards' per-second intervals begin there.
        let start = self
            .start_at
            .unwrap_or_else(|| whole_second_after(self.now() + grace));
        let body = serde_json::to_vec(&StartMarker {
            start_at: timestamp_millis(start),
        })?;
        admin
            .put_bytes(bucket, &marker(run_prefix, "start"), body)
            .await?;
        self.start_at = Some(start);
        Ok(start)
    }

    /// Any other shard: waits (up to `budget`) until shard 0 has seeded and published the
    /// start, and returns it.
    pub async fn await_start(
        &mut self,
        admin: &Admin,
        bucket: &str,
        run_prefix: &str,
        budget: Duration,
    ) -> anyhow::Result<SystemTime> {
        let key = marker(run_prefix, "start");
        let deadline = Instant::now() + budget;
        loop {
            if let Some(body) = admin.get_bytes(bucket, &key).await? {
                let m: StartMarker = serde_json::from_slice(&body)
                    .with_context(|| format!("{bucket}/{key} is not a start marker"))?;
                let start = humantime::parse_rfc3339(&m.start_at)
                    .with_context(|| format!("{bucket}/{key}: bad start time {}", m.start_at))?;
                self.start_at = Some(start);
                return Ok(start);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "shard 0 did not seed and publish the start within {} (no {bucket}/{key}): \
                 is shard 0 running with the same --run-id {}?",
                humantime::format_duration(budget),
                self.run_id
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Any other shard, after its load: tells shard 0 it is done.
    pub async fn publish_done(
        &self,
        admin: &Admin,
        bucket: &str,
        run_prefix: &str,
    ) -> anyhow::Result<()> {
        let key = marker(run_prefix, &format!("done-{}", self.shard.index));
        admin.put_bytes(bucket, &key, Vec::new()).await
    }

    /// Shard 0, before clean-up: waits (up to `budget`) for every other shard's `done`
    /// marker; the shards still missing (empty: all done).
    pub async fn await_done(
        &self,
        admin: &Admin,
        bucket: &str,
        run_prefix: &str,
        budget: Duration,
        abandon: &watch::Receiver<bool>,
    ) -> anyhow::Result<Vec<u32>> {
        let deadline = Instant::now() + budget;
        let mut missing: Vec<u32> = (1..self.shard.count).collect();
        loop {
            let mut still = Vec::new();
            for &i in &missing {
                let key = marker(run_prefix, &format!("done-{i}"));
                if admin.get_bytes(bucket, &key).await?.is_none() {
                    still.push(i);
                }
            }
            missing = still;
            if missing.is_empty() || Instant::now() >= deadline || *abandon.borrow() {
                return Ok(missing);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sleeps until `start` by this machine's clock; false if `stop` came first.
    pub async fn sleep_until(&self, start: SystemTime, stop: &watch::Receiver<bool>) -> bool {
        let wait = start.duration_since(self.now()).unwrap_or_default();
        let mut stop = stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(wait) => true,
            _ = stopped(&mut stop) => false,
        }
    }

    /// This machine's clock against the NTP server if one is named, else (or if it does
    /// not answer) against the `Date` header of `client`'s answers to `call`; says on
    /// `display` what was measured and whether the shard will be flagged for it.
    pub async fn measure_clock(
        &self,
        client: &S3Client,
        address: &str,
        call: &S3Call,
        display: &Display,
    ) -> Option<ClockOffset> {
        let offset = match &self.ntp_server {
            Some(server) => match self.ntp_offset(server).await {
                Ok(o) => Some(o),
                Err(e) => {
                    display.line(&format!(
                        "warning: {e:#}: measuring against {address} instead"
                    ));
                    self.clock_offset(client, address, call).await
                }
            },
            None => self.clock_offset(client, address, call).await,
        };
        let flagged = self.record(self.now(), offset.as_ref()).clock_flagged();
        display.line(&match (&offset, flagged) {
            (Some(o), false) => format!("clock offset {:+.1} ms against the {}", o.ms, o.reference),
            (Some(o), true) => format!(
                "clock offset {:+.1} ms against the {} — over the {} bound: this shard will be flagged",
                o.ms,
                o.reference,
                humantime::format_duration(self.max_clock_offset)
            ),
            (None, _) => format!(
                "warning: could not measure this machine's clock offset against {address} \
                 (no Date header that turned over): this shard will be flagged"
            ),
        });
        offset
    }

    /// This machine's clock against the `Date` header of `client`'s answers to `call`
    /// (`client` reaching `address`):
    /// requests go out every [`CLOCK_STEP`] until the reference's second turns over,
    /// which places the turn (and so the offset) within about half a step plus the
    /// round trip. `None` if the reference sends no usable `Date` or never turns over.
    async fn clock_offset(
        &self,
        client: &S3Client,
        address: &str,
        call: &S3Call,
    ) -> Option<ClockOffset> {
        let mut conn = client.connection(0);
        let deadline = Instant::now() + CLOCK_BUDGET;
        let mut last: Option<(SystemTime, SystemTime)> = None;
        while Instant::now() < deadline {
            let sent = self.now();
            let resp = client.send_keeping_details(&mut conn, call).await;
            let received = self.now();
            let date = resp
                .details
                .as_ref()
                .and_then(|d| d.headers.get(hyper::header::DATE))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| httpdate::parse_http_date(v).ok())?;
            let mid = sent + received.duration_since(sent).unwrap_or_default() / 2;
            if let Some((last_mid, last_date)) = last
                && date > last_date
            {
                // The reference's clock read `date` at an instant between the two
                // requests: take the middle.
                let gap = mid.duration_since(last_mid).unwrap_or_default();
                let turn = last_mid + gap / 2;
                return Some(ClockOffset {
                    ms: signed_ms(turn, date),
                    reference: format!(
                        "Date header of {address} (±{:.0} ms)",
                        gap.as_secs_f64() * 1e3 / 2.0
                    ),
                });
            }
            last = Some((mid, date));
            tokio::time::sleep(CLOCK_STEP).await;
        }
        None
    }
}

impl Distributed {
    /// This machine's clock against NTP server `server` (`HOST[:PORT]`, port 123 by
    /// default): one SNTP exchange, its offset corrected for the round trip.
    async fn ntp_offset(&self, server: &str) -> anyhow::Result<ClockOffset> {
        let address = if server.contains(':') {
            server.to_string()
        } else {
            format!("{server}:123")
        };
        let client =
            rsntp::AsyncSntpClient::with_config(rsntp::Config::default().timeout(NTP_TIMEOUT));
        let result = client
            .synchronize(address.as_str())
            .await
            .with_context(|| format!("NTP query to {address}"))?;
        // rsntp's offset is what to add to the real clock; this clock may carry the skew.
        let ms = -result.clock_offset().as_secs_f64() * 1e3 + self.clock_skew_ms as f64;
        Ok(ClockOffset {
            ms,
            reference: format!(
                "NTP server {address} (round trip {:.1} ms)",
                result.round_trip_delay().as_secs_f64() * 1e3
            ),
        })
    }
}

/// Longest wait for an NTP answer.
const NTP_TIMEOUT: Duration = Duration::from_secs(3);

/// The key of marker `name` of the run under `run_prefix`.
fn marker(run_prefix: &str, name: &str) -> String {
    format!("{run_prefix}{MARKERS}{name}")
}

/// `t` moved by `ms` milliseconds (either way).
fn shift(t: SystemTime, ms: i64) -> SystemTime {
    let by = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 { t + by } else { t - by }
}

/// The first whole second (of the Unix epoch) at or after `t`.
fn whole_second_after(t: SystemTime) -> SystemTime {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() + u64::from(since.subsec_nanos() > 0);
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// `a - b` in milliseconds, negative when `a` is earlier.
fn signed_ms(a: SystemTime, b: SystemTime) -> f64 {
    match a.duration_since(b) {
        Ok(d) => d.as_secs_f64() * 1e3,
        Err(e) => -e.duration().as_secs_f64() * 1e3,
    }
}

/// Reports a start that lies in the past, or how long until it.
pub fn describe_start(start: SystemTime, now: SystemTime) -> String {
    let at = timestamp_millis(start);
    match start.duration_since(now) {
        Ok(d) => format!("starting at {at} (in {:.1} s)", d.as_secs_f64()),
        Err(e) => format!(
            "the agreed start {at} passed {:.1} s ago: starting now, late",
            e.duration().as_secs_f64()
        ),
    }
}

/// Prints where this shard stands.
pub fn announce(display: &Display, d: &Distributed) {
    display.line(&format!(
        "shard {} of distributed run {}",
        d.shard, d.run_id
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_signed_and_shifts_go_both_ways() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(signed_ms(shift(t, 250), t), 250.0);
        assert_eq!(signed_ms(shift(t, -40), t), -40.0);
        assert_eq!(marker("p/run-1/", "done-3"), "p/run-1/.gatebench/done-3");
        let second = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(whole_second_after(second), second);
        assert_eq!(whole_second_after(shift(second, 1)), shift(second, 1_000));
    }
}

//! Journeys on goose: one goose scenario per journey, one goose transaction per step.
//!
//! goose starts the users (`hatch_rate`), gives them journeys by weight, runs each
//! user's journey `iterations` times with its think time between steps, and writes its
//! own HTML report. Every request goes through gatebench's client on the user's own
//! [`Connection`] (user index → worker) and the shared request path
//! ([`Exec::send`]), so steps are signed, timed and recorded exactly like the native
//! engine's requests (op = the step's op); each finished journey adds one
//! [`OpKind::Journey`] sample (first request's start to last answer, think times
//! included). Keys come from [`KeyChoice`], seeded per user × iteration.
//!
//! goose is a closed loop: a user waits for each answer, so a slow server lowers the
//! rate rather than lengthening the tail. goose would take Ctrl-C for itself
//! ([`keep_ctrl_c`]); the run's stop and `run.duration` end goose through its
//! killswitch.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use goose::config::GooseConfiguration;
use goose::goose::{GooseUser, Scenario, Transaction, TransactionFunction};
use goose::{GooseAttack, trigger_killswitch};
use tokio::sync::{Mutex, watch};

use super::{Due, EngineReport, Exec, stopped};
use crate::client::listing::listed_keys;
use crate::client::s3::Response;
use crate::client::{Connection, KeySpace, S3Client};
use crate::plan::OpKind;
use crate::plan::journey::{JourneyDraw, JourneyLoad, KeyChoice, StepKeys};
use crate::record::trace::RequestTrace;
use crate::record::{CacheClass, OutcomeClass, Phase, RecordHandle, Sample, SeriesKey};

/// What one target's journeys need besides the client.
#[derive(Debug, Clone)]
pub struct JourneySettings {
    /// Index of the target in the plan.
    pub target: usize,
    pub load: JourneyLoad,
    pub choice: KeyChoice,
    pub warmup: Duration,
    /// A cap on the whole run (warm-up excluded); goose ends on `iterations` first.
    pub duration: Option<Duration>,
    /// goose's `--host` (shown in its report): the target's address.
    pub host: String,
    /// Where goose writes its HTML report.
    pub report: PathBuf,
    pub trace: Option<Arc<RequestTrace>>,
}

/// One user's connection and the journey it is in.
struct User {
    conn: Connection,
    /// Journeys this user has finished.
    finished: u64,
    current: Option<InJourney>,
}

/// A journey under way.
struct InJourney {
    started: Instant,
    phase: Phase,
    draw: JourneyDraw,
    /// The keys the last LIST returned, and its bucket.
    listed: Vec<String>,
    class: OutcomeClass,
    bytes_up: u64,
    bytes_down: u64,
}

/// State shared by all users of one target's journeys.
struct Journeys {
    exec: Arc<Exec>,
    load: JourneyLoad,
    choice: KeyChoice,
    users: Vec<Mutex<User>>,
    steady_start: Instant,
    /// Set when `run.duration` ran out: no journey starts after it.
    ended: AtomicBool,
    stop: watch::Receiver<bool>,
    steady_issued: AtomicU64,
    cancelled: AtomicU64,
}

/// Runs `settings.load` against `client` with goose until every user has run its
/// iterations, the duration cap is reached or `stop` turns true.
pub async fn run(
    settings: JourneySettings,
    client: Arc<S3Client>,
    keys: Arc<KeySpace>,
    recorder: &RecordHandle,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<EngineReport> {
    let exec = Arc::new(Exec {
        target: settings.target,
        client: client.clone(),
        keys,
        lanes: recorder.lanes(),
        expected_interval: None,
        trace: settings.trace.clone(),
        by_client: client.identities() > 1,
        parts: Default::default(),
    });
    let started = Instant::now();
    let steady_start = started + settings.warmup;
    let state = Arc::new(Journeys {
        exec,
        users: (0..settings.load.users)
            .map(|u| {
                Mutex::new(User {
                    conn: client.connection(u),
                    finished: 0,
                    current: None,
                })
            })
            .collect(),
        load: settings.load.clone(),
        choice: settings.choice.clone(),
        steady_start,
        ended: AtomicBool::new(false),
        stop: stop.clone(),
        steady_issued: AtomicU64::new(0),
        cancelled: AtomicU64::new(0),
    });
    keep_ctrl_c();
    let mut attack = GooseAttack::initialize_with_config(configuration(&settings))?;
    for (j, journey) in settings.load.journeys.iter().enumerate() {
        let mut scenario = Scenario::new(&journey.name).set_weight(journey.weight as usize)?;
        if !journey.think_time.max.is_zero() {
            scenario = scenario.set_wait_time(journey.think_time.min, journey.think_time.max)?;
        }
        for (s, step) in journey.steps.iter().enumerate() {
            let transaction = Transaction::new(step_function(state.clone(), j, s))
                .set_name(&format!("{} {}", s + 1, step.op));
            scenario = scenario.register_transaction(transaction);
        }
        attack = attack.register_scenario(scenario);
    }
    // The run's stop and the duration cap end goose through its killswitch (goose
    // resets it when it starts an attack).
    let cap = settings.duration.map(|d| steady_start + d);
    let watcher = {
        let state = state.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let capped = async {
                match cap {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stopped(&mut stop) => {}
                _ = capped => {}
            }
            state.ended.store(true, Ordering::Relaxed);
            trigger_killswitch("gatebench: run stopped or run.duration reached");
        })
    };
    let result = attack.execute().await;
    watcher.abort();
    result?;
    Ok(EngineReport {
        steady_elapsed: Instant::now().saturating_duration_since(steady_start),
        steady_issued: state.steady_issued.load(Ordering::Relaxed),
        cancelled: state.cancelled.load(Ordering::Relaxed),
        schedule: None,
    })
}

/// Keeps Ctrl-C with the run. goose sets a Ctrl-C handler of its own at every attack
/// (`ctrlc::set_handler`, which replaces any other and cannot be configured away), so
/// gatebench sets the process's one ctrlc handler first: goose's attempt then fails
/// harmlessly, and ours passes the interrupt on as SIGTERM, which the run treats like
/// Ctrl-C (stop and clean up; again: skip clean-up; a third time: exit).
fn keep_ctrl_c() {
    // A second call (a later target) fails with `MultipleHandlers`: ours is in place.
    let _ = ctrlc::set_handler(|| {
        // SAFETY: kill(2) on our own pid with a valid signal number.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGTERM);
        }
    });
}

/// goose's settings: users, hatch rate and iterations; no controllers, its report at
/// `settings.report`, its log quiet.
fn configuration(settings: &JourneySettings) -> GooseConfiguration {
    let mut config = GooseConfiguration::default();
    config.host = Some(settings.host.clone());
    config.users = Some(settings.load.users);
    config.increase_rate = Some(settings.load.hatch_rate.to_string());
    config.iterations = Some(settings.load.iterations as usize);
    config.no_telnet = true;
    config.quiet = 1;
    config.no_print_metrics = true;
    config.report_file = vec![settings.report.display().to_string()];
    config
}

/// The goose transaction of step `step` of journey `journey`.
fn step_function(state: Arc<Journeys>, journey: usize, step: usize) -> TransactionFunction {
    Arc::new(move |user: &mut GooseUser| {
        let state = state.clone();
        let index = user.weighted_users_index;
        Box::pin(async move {
            state.step(index, journey, step).await;
            Ok(())
        })
    })
}

impl Journeys {
    /// Runs step `step` of journey `journey` for user `user`: starts the journey at its
    /// first step, records it after its last.
    async fn step(&self, user: usize, journey: usize, step: usize) {
        let Some(slot) = self.users.get(user % self.users.len().max(1)) else {
            return;
        };
        let mut guard = slot.lock().await;
        let User {
            conn,
            finished,
            current,
        } = &mut *guard;
        let steps = &self.load.journeys[journey].steps;
        if step == 0 {
            *current = None;
            if *self.stop.borrow() || self.ended.load(Ordering::Relaxed) {
                return;
            }
            let started = Instant::now();
            *current = Some(InJourney {
                started,
                phase: self.phase_at(started),
                draw: self.choice.journey(user as u64, *finished),
                listed: Vec::new(),
                class: OutcomeClass::Ok,
                bytes_up: 0,
                bytes_down: 0,
            });
        }
        let Some(cur) = current.as_mut() else {
            return;
        };
        let spec = &steps[step];
        let mut stop = self.stop.clone();
        for _ in 0..spec.count {
            let op = cur.draw.op(&self.choice, spec);
            let call = match spec.keys {
                StepKeys::Listed => match cur.draw.listed(cur.listed.len()) {
                    Some(i) => self.exec.keys.listed_call(&op, &cur.listed[i]),
                    None => {
                        // Nothing listed: nothing to read, and the journey failed.
                        cur.class = worse(cur.class, OutcomeClass::ClientError);
                        continue;
                    }
                },
                _ => self.exec.keys.call(&op),
            };
            let due = Due {
                at: Instant::now(),
                phase: cur.phase,
                offset: None,
            };
            let keep_body = spec.op == OpKind::List;
            let sent = self
                .exec
                .send(user, conn, &op, &call, due, &mut stop, keep_body)
                .await;
            let Some(resp) = sent else {
                self.cancelled.fetch_add(1, Ordering::Relaxed);
                *current = None;
                return;
            };
            if cur.phase == Phase::Steady {
                self.steady_issued.fetch_add(1, Ordering::Relaxed);
            }
            cur.account(&resp);
            if keep_body {
                cur.listed = resp
                    .details
                    .as_ref()
                    .map(|d| listed_keys(&d.error_body))
                    .unwrap_or_default();
            }
        }
        if step + 1 == steps.len()
            && let Some(done) = current.take()
        {
            *finished += 1;
            self.record(user, done);
        }
    }

    /// Warm-up or steady, by when a journey started.
    fn phase_at(&self, at: Instant) -> Phase {
        if at < self.steady_start {
            Phase::Warmup
        } else {
            Phase::Steady
        }
    }

    /// Records a finished journey as one `journey` sample.
    fn record(&self, user: usize, done: InJourney) {
        let completed_at = Instant::now();
        let took = completed_at - done.started;
        self.exec.lanes.record(
            user,
            &Sample {
                key: SeriesKey {
                    target: self.exec.target,
                    op: OpKind::Journey,
                    class: done.class,
                    cache: CacheClass::None,
                    phase: done.phase,
                },
                completed_at,
                latency: took,
                service: took,
                expected_interval: None,
                ttfb: None,
                connect: None,
                tls: None,
                bytes_up: done.bytes_up,
                bytes_down: done.bytes_down,
                status: None,
                transport: None,
                retry_after: None,
                server_timing: Default::default(),
                client: None,
            },
        );
    }
}

impl InJourney {
    /// Adds a step's answer to the journey.
    fn account(&mut self, resp: &Response) {
        self.class = worse(self.class, resp.class);
        self.bytes_up += resp.bytes_up;
        self.bytes_down += resp.bytes_down;
    }
}

/// A journey's class: ok until a request fails, then the first failure's class.
fn worse(so_far: OutcomeClass, next: OutcomeClass) -> OutcomeClass {
    if so_far == OutcomeClass::Ok {
        next
    } else {
        so_far
    }
}

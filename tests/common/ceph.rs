//! One real Ceph RGW per test process, started with `deploy/ceph/ceph-up.sh` on first use
//! and stopped with `ceph-down.sh` when the process exits.
//!
//! Fault tests kill and restart an [`ExtraRgw`]: a second radosgw of their own against
//! the same cluster, never the shared one other tests are using.
//!
//! The shared RGW also serves https (beast `ssl_endpoint`, `CEPH_TLS_DIR`) with a test CA
//! that `gatebench certs` writes: `Rgw::tls`.
//!
//! `GATEBENCH_RGW_ENDPOINT` (+ `_ACCESS_KEY`, `_SECRET_KEY`, optionally `_TLS_ENDPOINT`,
//! `_CA_FILE` and `_DNS_NAME`, its `rgw_dns_name`) points the tests at an RGW that is already running instead (fault tests then skip, with a printed reason: they
//! need the cluster's files). `GATEBENCH_SKIP_RGW=1` skips the RGW tests, with a printed
//! reason; nothing else does.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where and how to reach the test RGW.
#[derive(Debug, Clone)]
pub struct Rgw {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    /// `https://127.0.0.1:PORT` and the PEM CA that signed its certificate.
    pub tls: Option<(String, PathBuf)>,
    /// RGW's `rgw_dns_name` (`localhost` from ceph-up.sh): `Host: BUCKET.<name>` is a
    /// virtual-hosted-style request (`None`: an outside RGW that did not say).
    pub dns_name: Option<String>,
}

impl Rgw {
    /// The environment a scenario using `${RGW_*}` needs.
    pub fn env(&self) -> [(&'static str, String); 3] {
        [
            ("RGW_ENDPOINT", self.endpoint.clone()),
            ("RGW_ACCESS_KEY", self.access_key.clone()),
            ("RGW_SECRET_KEY", self.secret_key.clone()),
        ]
    }
}

/// Ports of the test cluster, away from the defaults a developer's own cluster uses.
const TEST_RGW_PORT: &str = "17480";
const TEST_MON_PORT: &str = "13300";
const TEST_RGW_TLS_PORT: &str = "17443";

static RGW: OnceLock<Result<Rgw, String>> = OnceLock::new();
static CLUSTER_DIR: OnceLock<PathBuf> = OnceLock::new();

/// The shared RGW, or `None` (with the reason printed) when skipping was asked for.
/// Panics with the bootstrap's output if the cluster cannot be started.
pub fn rgw() -> Option<Rgw> {
    if std::env::var("GATEBENCH_SKIP_RGW").is_ok_and(|v| v == "1") {
        eprintln!("skipped: GATEBENCH_SKIP_RGW=1 (this test needs a real Ceph RGW)");
        return None;
    }
    match RGW.get_or_init(start) {
        Ok(r) => Some(r.clone()),
        Err(e) => panic!("cannot start the test Ceph cluster:\n{e}"),
    }
}

fn start() -> Result<Rgw, String> {
    if let Ok(endpoint) = std::env::var("GATEBENCH_RGW_ENDPOINT") {
        let key = |k: &str| {
            std::env::var(k).map_err(|_| format!("{k} must be set with GATEBENCH_RGW_ENDPOINT"))
        };
        let tls = match std::env::var("GATEBENCH_RGW_TLS_ENDPOINT") {
            Ok(url) => Some((url, PathBuf::from(key("GATEBENCH_RGW_CA_FILE")?))),
            Err(_) => None,
        };
        return Ok(Rgw {
            endpoint,
            access_key: key("GATEBENCH_RGW_ACCESS_KEY")?,
            secret_key: key("GATEBENCH_RGW_SECRET_KEY")?,
            tls,
            dns_name: std::env::var("GATEBENCH_RGW_DNS_NAME").ok(),
        });
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ceph-test-cluster");
    // A cluster left by a killed earlier run would hold the ports.
    let _ = Command::new("bash")
        .arg(repo.join("deploy/ceph/ceph-down.sh"))
        .arg(&dir)
        .output();
    let out = Command::new("bash")
        .arg(repo.join("deploy/ceph/ceph-up.sh"))
        .arg(&dir)
        .env("RGW_PORT", TEST_RGW_PORT)
        .env("CEPH_MON_PORT", TEST_MON_PORT)
        .env("CEPH_TLS_DIR", dir.join("tls"))
        .env("RGW_TLS_PORT", TEST_RGW_TLS_PORT)
        .env("GATEBENCH_BIN", env!("CARGO_BIN_EXE_gatebench"))
        .output()
        .map_err(|e| format!("cannot run ceph-up.sh: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "ceph-up.sh failed ({:?}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let _ = CLUSTER_DIR.set(dir);
    // SAFETY: registers a plain extern "C" function with no captured state.
    unsafe {
        libc::atexit(stop_cluster);
    }
    let var = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .map(|v| v.trim().to_string())
            .ok_or_else(|| format!("ceph-up.sh printed no {name}:\n{stdout}"))
    };
    Ok(Rgw {
        endpoint: var("RGW_ENDPOINT")?,
        access_key: var("RGW_ACCESS_KEY")?,
        secret_key: var("RGW_SECRET_KEY")?,
        tls: Some((var("RGW_TLS_ENDPOINT")?, PathBuf::from(var("RGW_CA_FILE")?))),
        dns_name: Some(var("RGW_DNS_NAME")?),
    })
}

extern "C" fn stop_cluster() {
    if let Some(dir) = CLUSTER_DIR.get() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ceph/ceph-down.sh");
        let _ = Command::new("bash").arg(script).arg(dir).output();
    }
}

/// The cephx name the bootstrap gives its radosgw (`RGW_NAME` in ceph-up.sh).
const RGW_NAME: &str = "client.rgw.gatebench";

/// How long a (re)started radosgw may take to answer.
const RGW_START_TIMEOUT: Duration = Duration::from_secs(60);

/// A radosgw of one test's own on a free loopback port, against the shared test cluster
/// (same `ceph.conf` and keyring as the shared one, its own log and admin socket). The
/// test may kill and restart it; it is killed when dropped.
pub struct ExtraRgw {
    port: u16,
    conf: PathBuf,
    log_dir: PathBuf,
    process: Option<Child>,
}

impl ExtraRgw {
    /// Starts one and waits until it answers, or `None` (with the reason printed) when
    /// the tests use an RGW they did not start.
    pub fn start() -> Option<ExtraRgw> {
        rgw()?;
        let Some(dir) = CLUSTER_DIR.get() else {
            eprintln!(
                "skipped: GATEBENCH_RGW_ENDPOINT given; killing radosgw needs the test cluster"
            );
            return None;
        };
        let mut extra = ExtraRgw {
            port: super::free_port(),
            conf: dir.join("ceph.conf"),
            log_dir: dir.join("log"),
            process: None,
        };
        extra.restart();
        Some(extra)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it with SIGKILL (by its pid) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.kill();
        let name = format!("rgw-{}", self.port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_dir.join(format!("{name}.out")))
            .expect("radosgw output file");
        let child = Command::new("radosgw")
            .arg("-f")
            .arg("-c")
            .arg(&self.conf)
            .args(["-n", RGW_NAME, "--rgw-frontends"])
            .arg(format!(
                "beast endpoint=127.0.0.1:{} tcp_nodelay=1",
                self.port
            ))
            .arg("--admin-socket")
            .arg(self.log_dir.join(format!("{name}.asok")))
            .arg("--log-file")
            .arg(self.log_dir.join(format!("{name}.log")))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("radosgw output file"))
            .stderr(log)
            .spawn()
            .expect("radosgw starts");
        self.process = Some(child);
        let deadline = Instant::now() + RGW_START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(status))) = self.process.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "radosgw on port {} exited at start ({status}); see {}",
                    self.port,
                    self.log_dir.display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "radosgw on port {} did not answer within {RGW_START_TIMEOUT:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ExtraRgw {
    fn drop(&mut self) {
        self.kill();
    }
}

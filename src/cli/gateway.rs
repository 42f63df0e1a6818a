//! `gatebench gateway`: its options, the gateway configuration they make, and the
//! foreground run (until Ctrl-C or SIGTERM, then a clean shutdown that removes the
//! embedded backend's folder).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

use super::serve_tls::ServeTlsArgs;
use super::{ExitStatus, async_runtime};
use crate::gateway::policy::LoadOptions;
use crate::gateway::{GatewayConfig, RunningGateway, STATS_PATH};
use crate::shared::embedded_s3::EmbeddedS3;
use crate::shared::latency::AddedLatency;
use crate::shared::{S3Endpoint, Secret, TlsSpec};

/// Help text after the options.
pub const GATEWAY_HELP: &str = "\
A local stand-in for Azure API Management in front of S3 (RGW). Clients send path-style
S3 requests under the API prefix (e.g. GET /storage/BUCKET/KEY) with
'Authorization: Bearer <JWT>' and 'Ocp-Apim-Subscription-Key: <KEY>'; the gateway
applies the APIM policy file and re-signs each request to the backend with its own keys
(SigV4, UNSIGNED-PAYLOAD, bodies streamed). Unsupported policy elements or attributes
are startup errors. GET /__gatebench/stats returns counters (stand-in only).

Examples:
  # against RGW, with the local idp (gatebench idp) issuing tokens
  export GATEBENCH_BACKEND_ACCESS_KEY=... GATEBENCH_BACKEND_SECRET_KEY=...
  gatebench gateway --policy deploy/apim/policy.local.xml \\
      --backend-endpoint http://127.0.0.1:7480 --subscription-key bench=devkey \\
      --openid-config-url http://127.0.0.1:8081/.well-known/openid-configuration

  # the real-APIM policy, with its named values filled in
  gatebench gateway --policy deploy/apim/policy.xml --embedded-backend \\
      --subscription-key bench=devkey \\
      --openid-config-url http://127.0.0.1:8081/.well-known/openid-configuration \\
      --named-value tenant-id=local --named-value storage-app-id-uri=api://gatebench-storage \\
      --named-value storage-client-id=00000000-0000-4000-8000-0000000000a1 \\
      --named-value rgw-base-url=http://127.0.0.1:7480

  # imitate a remote APIM
  gatebench gateway --policy deploy/apim/policy.local.xml --embedded-backend \\
      --subscription-key bench=devkey --added-latency lognormal:median=2ms,p99=20ms

  # over TLS (HTTP/1.1 and HTTP/2) with a generated test CA; clients trust certs/ca.pem;
  # an https idp and RGW trusted through the same CA (see docs/tls.md)
  gatebench gateway --policy deploy/apim/policy.local.xml --tls-self-signed certs \\
      --backend-endpoint https://127.0.0.1:7443 --backend-ca certs/ca.pem \\
      --openid-config-url https://127.0.0.1:8081/.well-known/openid-configuration \\
      --openid-ca certs/ca.pem --subscription-key bench=devkey

  # mTLS: clients must present a certificate from certs/ca.pem (e.g. certs/client.pem)
  gatebench gateway ... --tls-self-signed certs --tls-client-ca certs/ca.pem";

/// `gatebench gateway` options.
#[derive(Debug, clap::Args)]
pub struct GatewayArgs {
    /// APIM policy XML file.
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// OpenAPI file of the API's operations; requests matching none get APIM's 404
    /// (default: deploy/apim/storage-api.openapi.yaml when it exists, else the same table
    /// built in).
    #[arg(long, value_name = "FILE")]
    pub openapi: Option<PathBuf>,
    /// Path prefix of the API (APIM's API URL suffix).
    #[arg(long, default_value = "/storage")]
    pub api_prefix: String,
    /// S3 backend, http(s)://HOST:PORT (set-backend-service in the policy overrides it).
    #[arg(
        long,
        env = "GATEBENCH_BACKEND_ENDPOINT",
        required_unless_present = "embedded_backend"
    )]
    pub backend_endpoint: Option<String>,
    /// Start an in-process S3 server (temporary folder) as the backend and print its keys.
    #[arg(long, conflicts_with = "backend_endpoint")]
    pub embedded_backend: bool,
    /// PEM CA(s) to trust for an https backend instead of the platform's roots.
    #[arg(long, value_name = "PEM")]
    pub backend_ca: Option<PathBuf>,
    /// SigV4 region of the backend.
    #[arg(long, default_value = "us-east-1")]
    pub backend_region: String,
    /// The gateway's access key for the backend.
    #[arg(long, env = "GATEBENCH_BACKEND_ACCESS_KEY", hide_env_values = true)]
    pub backend_access_key: Option<String>,
    /// The gateway's secret key for the backend (prefer the environment variable).
    #[arg(long, env = "GATEBENCH_BACKEND_SECRET_KEY", hide_env_values = true)]
    pub backend_secret_key: Option<String>,
    /// A subscription as NAME=KEY; repeat for more (env: space-separated). None: no
    /// subscription key required.
    #[arg(
        long = "subscription-key",
        value_name = "NAME=KEY",
        env = "GATEBENCH_SUBSCRIPTION_KEYS",
        value_delimiter = ' ',
        hide_env_values = true
    )]
    pub subscription_keys: Vec<String>,
    /// Replace the url of every <openid-config> (e.g. the local idp's discovery URL).
    #[arg(long, value_name = "URL")]
    pub openid_config_url: Option<String>,
    /// PEM CA(s) to trust for https openid-config and JWKS URLs instead of the
    /// platform's roots.
    #[arg(long, value_name = "PEM")]
    pub openid_ca: Option<PathBuf>,
    /// Least time between two fetches of the signing keys when a token names an unknown
    /// `kid` (APIM caches its openid-config keys; lower it when restarting a local idp).
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub jwks_refetch_floor: humantime::Duration,
    /// A value for a {{NAME}} placeholder in the policy; repeat for more.
    #[arg(long = "named-value", value_name = "NAME=VALUE")]
    pub named_values: Vec<String>,
    /// Delay added to every request: 5ms, or lognormal:median=2ms,p99=20ms.
    #[arg(long, value_name = "SPEC", value_parser = AddedLatency::parse)]
    pub added_latency: Option<AddedLatency>,
    /// Close a connection whose request headers are not complete within this time, or
    /// that sits idle this long between requests.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub header_read_timeout: humantime::Duration,
    /// Write one JSON line per answered request (refusals too) to FILE: time, caller,
    /// subscription name, operation, status, cache, backend and total time, request ids.
    /// Never a token, key or query value.
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    #[command(flatten)]
    pub tls: ServeTlsArgs,
}

fn pairs(values: &[String], flag: &str) -> Result<Vec<(String, String)>, String> {
    values
        .iter()
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.split_once('=')
                .filter(|(k, v)| !k.is_empty() && !v.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("{flag}: expected NAME=VALUE"))
        })
        .collect()
}

/// How long a stopping gateway waits for the requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Installs the Ctrl-C and SIGTERM handlers now; the future resolves at the first.
fn stop_signals() -> std::io::Result<impl Future<Output = ()>> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Runs the gateway in the foreground until Ctrl-C or SIGTERM.
pub fn serve(args: GatewayArgs) -> ExitStatus {
    let (subscription_keys, named_values) = match (
        pairs(&args.subscription_keys, "--subscription-key"),
        pairs(&args.named_values, "--named-value"),
    ) {
        (Ok(s), Ok(n)) => (s, n.into_iter().collect::<HashMap<_, _>>()),
        (Err(e), _) | (_, Err(e)) => return ExitStatus::Invalid.with_error(e),
    };
    let runtime = match async_runtime() {
        Ok(r) => r,
        Err(status) => return status,
    };
    runtime.block_on(async move {
        let (backend, embedded) = match backend(&args).await {
            Ok(b) => b,
            Err(status) => return status,
        };
        if subscription_keys.is_empty() {
            eprintln!("warning: no --subscription-key given: no subscription key is required");
        }
        let tls = match args.tls.server_config() {
            Ok(t) => t,
            Err(e) => return ExitStatus::Invalid.with_error(format!("{e:#}")),
        };
        let config = GatewayConfig {
            listen: args.listen,
            policy: args.policy,
            load: LoadOptions {
                openid_config_url: args.openid_config_url,
                named_values,
                jwks_refetch_floor: Some(args.jwks_refetch_floor.into()),
            },
            api_prefix: args.api_prefix,
            openapi: args.openapi,
            backend: backend.clone(),
            subscription_keys,
            added_latency: args.added_latency,
            header_read_timeout: args.header_read_timeout.into(),
            tls,
            openid_tls: TlsSpec {
                ca_file: args.openid_ca,
                ..Default::default()
            },
            audit_log: args.audit_log,
        };
        let gateway = match crate::gateway::start(config).await {
            Ok(g) => g,
            Err(e) => return ExitStatus::Invalid.with_error(format!("{e:#}")),
        };
        // Installed before the address is printed: a SIGTERM right after start is clean.
        let stop = match stop_signals() {
            Ok(s) => s,
            Err(e) => {
                return ExitStatus::Failed
                    .with_error(format!("cannot install signal handlers: {e}"));
            }
        };
        announce(&gateway, embedded.as_ref().map(|_| &backend));
        stop.await;
        eprintln!(
            "stopping: finishing requests in flight (at most {}s)",
            SHUTDOWN_GRACE.as_secs()
        );
        let mut gateway = gateway;
        gateway.shutdown(SHUTDOWN_GRACE).await;
        // The embedded backend's folder goes with it.
        drop(embedded);
        ExitStatus::Success
    })
}

/// The backend the options name, or an embedded one started now (kept running while
/// the returned server lives).
async fn backend(args: &GatewayArgs) -> Result<(S3Endpoint, Option<EmbeddedS3>), ExitStatus> {
    if args.embedded_backend {
        return match EmbeddedS3::start().await {
            Ok(e) => Ok((e.endpoint.clone(), Some(e))),
            Err(e) => Err(ExitStatus::Failed.with_error(format!("embedded backend: {e:#}"))),
        };
    }
    let (Some(access_key), Some(secret_key)) = (&args.backend_access_key, &args.backend_secret_key)
    else {
        return Err(ExitStatus::Invalid.with_error(
            "set GATEBENCH_BACKEND_ACCESS_KEY and GATEBENCH_BACKEND_SECRET_KEY \
             (or --backend-access-key/--backend-secret-key)",
        ));
    };
    let backend = S3Endpoint {
        endpoint: args.backend_endpoint.clone().unwrap_or_default(),
        region: args.backend_region.clone(),
        access_key: access_key.clone(),
        secret_key: Secret::new(secret_key.clone()),
        tls: TlsSpec {
            ca_file: args.backend_ca.clone(),
            ..Default::default()
        },
    };
    Ok((backend, None))
}

/// Says what is serving where: the stand-in's caveat, replaced policy blocks, the
/// embedded backend's keys, the gateway and stats URLs.
fn announce(gateway: &RunningGateway, embedded_backend: Option<&S3Endpoint>) {
    eprintln!("gatebench gateway: a local APIM stand-in, not APIM");
    for (block, line) in &gateway.native_blocks {
        eprintln!("policy line {line}: `{block}` block replaced by the stand-in's native {block}");
    }
    if let Some(backend) = embedded_backend {
        println!("embedded backend: {}", backend.endpoint);
        println!("  GATEBENCH_BACKEND_ACCESS_KEY={}", backend.access_key);
        println!(
            "  GATEBENCH_BACKEND_SECRET_KEY={}",
            backend.secret_key.expose()
        );
    }
    println!("gateway:  {}", gateway.base_url());
    println!(
        "stats:    {}://{}{STATS_PATH}",
        gateway.scheme, gateway.addr
    );
}

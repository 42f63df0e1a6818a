//! The `embedded-gateway` target: gatebench's APIM stand-in and a development token
//! issuer, started in-process on free loopback ports in front of a direct target, so the
//! gateway path can be measured with nothing installed.

use std::net::SocketAddr;
use std::time::Duration;

use rand::distr::{Alphanumeric, SampleString};

use crate::gateway::policy::LoadOptions;
use crate::gateway::{self, AddedLatency, GatewayConfig, RunningGateway};
use crate::idp::{self, IdpClient, IdpConfig, IdpCredential, RunningIdp};
use crate::plan::{
    ClientCredential, EmbeddedGateway, GatewayTarget, OAuth2Config, S3Endpoint, Secret,
};

/// The issuer and audience `deploy/apim/policy.local.xml` expects.
const ISSUER: &str = "http://127.0.0.1:8081";
const AUDIENCE: &str = "api://gatebench-storage";
/// The client gatebench uses with the embedded idp.
const CLIENT_ID: &str = "gatebench";
/// Tokens live long enough for a normal run; the refresher renews them anyway.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Starts an idp and a gateway in front of `backend`; returns how to reach the gateway.
pub async fn start(
    config: &EmbeddedGateway,
    backend: &S3Endpoint,
) -> anyhow::Result<(GatewayTarget, RunningIdp, RunningGateway)> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let secret = Alphanumeric.sample_string(&mut rand::rng(), 32);
    let subscription_key = Alphanumeric.sample_string(&mut rand::rng(), 32);
    let idp = idp::start(IdpConfig {
        public_url: None,
        listen: loopback,
        issuer: Some(ISSUER.into()),
        clients: vec![IdpClient {
            id: CLIENT_ID.into(),
            credential: IdpCredential::Secret(Secret::new(secret.clone())),
            roles: vec!["storage.read".into(), "storage.write".into()],
            audience: AUDIENCE.into(),
        }],
        token_lifetime: TOKEN_LIFETIME,
        key_pem: None,
    })
    .await?;
    let added_latency = config
        .added_latency
        .as_deref()
        .map(AddedLatency::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let running = gateway::start(GatewayConfig {
        listen: loopback,
        policy: config.policy.clone(),
        load: LoadOptions {
            openid_config_url: Some(idp.openid_config_url()),
            named_values: Default::default(),
        },
        api_prefix: "/storage".into(),
        backend: backend.clone(),
        subscription_keys: vec![(CLIENT_ID.into(), subscription_key.clone())],
        added_latency,
        header_read_timeout: gateway::DEFAULT_HEADER_READ_TIMEOUT,
    })
    .await?;
    let target = GatewayTarget {
        base_url: running.base_url(),
        subscription_key: Some(Secret::new(subscription_key)),
        subscription_header: "Ocp-Apim-Subscription-Key".into(),
        oauth2: Some(OAuth2Config {
            token_url: idp.token_url(),
            client_id: CLIENT_ID.into(),
            credential: ClientCredential::Secret(Secret::new(secret)),
            scope: None,
        }),
        setup_via: config.setup_via.clone(),
        tls: Default::default(),
    };
    Ok((target, idp, running))
}

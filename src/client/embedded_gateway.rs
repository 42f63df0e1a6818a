//! The `embedded-gateway` target: gatebench's APIM stand-in and a development token
//! issuer, started in-process on free loopback ports in front of a direct target, so the
//! gateway path can be measured with nothing installed. With `tls = true` both serve
//! https with a test CA generated into a temporary folder that lives as long as they do.

use std::net::SocketAddr;
use std::time::Duration;

use rand::distr::{Alphanumeric, SampleString};
use tempfile::TempDir;

use crate::gateway::policy::LoadOptions;
use crate::gateway::{self, GatewayConfig, RunningGateway};
use crate::idp::{self, IdpClient, IdpConfig, IdpCredential, RunningIdp};
use crate::plan::{ClientCredential, EmbeddedGateway, GatewayClient, GatewayTarget, OAuth2Config};
use crate::shared::latency::AddedLatency;
use crate::shared::{S3Endpoint, Secret, TlsSpec};
use crate::tls::generate::{LeafOptions, SelfSigned};
use crate::tls::server::server_config;

/// The issuer and audience `deploy/apim/policy.local.xml` expects (also over TLS: the
/// issuer is a name, not where the idp is).
const ISSUER: &str = "http://127.0.0.1:8081";
const AUDIENCE: &str = "api://gatebench-storage";
/// The client gatebench uses with the embedded idp.
const CLIENT_ID: &str = "gatebench";
/// Tokens live long enough for a normal run; the refresher renews them anyway.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// One client the embedded gateway and idp know: an idp client and a subscription.
struct Identity {
    client_id: String,
    secret: String,
    /// The subscription's name (`context.Subscription.Id`).
    subscription: String,
    key: String,
}

impl Identity {
    /// One identity per name, each with fresh random secrets (one named `gatebench`
    /// when `names` is empty).
    fn make(names: &[String]) -> Vec<Identity> {
        let random = || Alphanumeric.sample_string(&mut rand::rng(), 32);
        let one = [CLIENT_ID.to_string()];
        let names = if names.is_empty() { &one[..] } else { names };
        names
            .iter()
            .map(|name| Identity {
                client_id: match name == CLIENT_ID {
                    true => CLIENT_ID.into(),
                    false => format!("{CLIENT_ID}-{name}"),
                },
                secret: random(),
                subscription: name.clone(),
                key: random(),
            })
            .collect()
    }
}

/// What runs in-process for an embedded gateway; it all stops when dropped.
pub struct RunningEmbeddedGateway {
    _gateway: RunningGateway,
    _idp: RunningIdp,
    /// The test CA and certificates of a TLS gateway and idp.
    _certs: Option<TempDir>,
}

/// Starts an idp and a gateway in front of `backend`; returns how to reach the gateway.
pub async fn start(
    config: &EmbeddedGateway,
    backend: &S3Endpoint,
) -> anyhow::Result<(GatewayTarget, RunningEmbeddedGateway)> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let (certs, server_tls, client_tls) = if config.tls {
        let dir = tempfile::Builder::new()
            .prefix("gatebench-tls-")
            .tempdir()?;
        let files = SelfSigned::write(dir.path(), &LeafOptions::default())?;
        let server = server_config(&files.cert, &files.key, None)?;
        let client = TlsSpec {
            ca_file: Some(files.ca),
            ..Default::default()
        };
        (Some(dir), Some(server), client)
    } else {
        (None, None, TlsSpec::default())
    };
    let identities = Identity::make(&config.clients);
    let idp = idp::start(IdpConfig {
        public_url: None,
        listen: loopback,
        issuer: Some(ISSUER.into()),
        clients: identities
            .iter()
            .map(|i| IdpClient {
                id: i.client_id.clone(),
                credential: IdpCredential::Secret(Secret::new(i.secret.clone())),
                roles: vec!["storage.read".into(), "storage.write".into()],
                audience: AUDIENCE.into(),
            })
            .collect(),
        token_lifetime: TOKEN_LIFETIME,
        key_pem: None,
        tokens: Default::default(),
        tls: server_tls.clone(),
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
        load: LoadOptions {
            openid_config_url: Some(idp.openid_config_url()),
            ..Default::default()
        },
        subscription_keys: identities
            .iter()
            .map(|i| (i.subscription.clone(), i.key.clone()))
            .collect(),
        added_latency,
        tls: server_tls,
        openid_tls: client_tls.clone(),
        ..GatewayConfig::local(config.policy.clone(), backend.clone())
    })
    .await?;
    let grant = |i: &Identity| OAuth2Config {
        token_url: idp.token_url(),
        client_id: i.client_id.clone(),
        credential: ClientCredential::Secret(Secret::new(i.secret.clone())),
        scope: None,
    };
    let mut target = GatewayTarget {
        base_url: running.base_url(),
        subscription_key: None,
        subscription_header: "Ocp-Apim-Subscription-Key".into(),
        oauth2: None,
        setup_via: config.setup_via.clone(),
        tls: client_tls,
        clients: Vec::new(),
    };
    match (config.clients.is_empty(), identities.first()) {
        (true, Some(one)) => {
            target.subscription_key = Some(Secret::new(one.key.clone()));
            target.oauth2 = Some(grant(one));
        }
        _ => {
            target.clients = identities
                .iter()
                .map(|i| GatewayClient {
                    label: i.subscription.clone(),
                    subscription_key: Some(Secret::new(i.key.clone())),
                    oauth2: Some(grant(i)),
                })
                .collect();
        }
    }
    let running = RunningEmbeddedGateway {
        _gateway: running,
        _idp: idp,
        _certs: certs,
    };
    Ok((target, running))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{Method, Request, StatusCode, Version};
    use http_body_util::{BodyExt, Full};

    use super::*;
    use crate::shared::embedded_s3::EmbeddedS3;
    use crate::tls::server::test_client::https;

    /// With `tls = true` the token, the gateway and (behind it) the keys are fetched over
    /// https trusting the generated CA; a PUT and a GET of an object go through over HTTP/2.
    #[tokio::test]
    async fn tls_gateway_and_idp_serve_https_end_to_end() {
        let backend = EmbeddedS3::start().await.unwrap();
        let config = EmbeddedGateway {
            policy: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("deploy/apim/policy.local.xml"),
            setup_via: "s3".into(),
            added_latency: None,
            tls: true,
            clients: Vec::new(),
        };
        let (target, running) = start(&config, &backend.endpoint).await.unwrap();
        let ca = target
            .tls
            .ca_file
            .clone()
            .expect("the target trusts the generated CA");
        assert!(ca.is_file());
        let oauth2 = target.oauth2.as_ref().unwrap();
        assert!(
            target.base_url.starts_with("https://"),
            "{}",
            target.base_url
        );
        assert!(
            oauth2.token_url.starts_with("https://"),
            "{}",
            oauth2.token_url
        );

        let ClientCredential::Secret(secret) = &oauth2.credential else {
            panic!("a client secret");
        };
        let client = https(&target.tls, true);
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            oauth2.client_id,
            secret.expose()
        );
        let resp = client
            .request(
                Request::post(&oauth2.token_url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Full::new(Bytes::from(form)))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let token: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
        let key = target
            .subscription_key
            .as_ref()
            .unwrap()
            .expose()
            .to_string();

        let send = |method: Method, path: &str, body: &'static str| {
            Request::builder()
                .method(method)
                .uri(format!("{}{path}", target.base_url))
                .header("authorization", &bearer)
                .header(&target.subscription_header, &key)
                .body(Full::new(Bytes::from(body)))
                .unwrap()
        };
        for (method, path, body) in [
            (Method::PUT, "/tls-e2e", ""),
            (Method::PUT, "/tls-e2e/object", "over TLS"),
        ] {
            let resp = client.request(send(method, path, body)).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
        }
        let resp = client
            .request(send(Method::GET, "/tls-e2e/object", ""))
            .await
            .unwrap();
        assert_eq!(
            (resp.status(), resp.version()),
            (StatusCode::OK, Version::HTTP_2)
        );
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"over TLS");

        drop(running);
        assert!(!ca.exists(), "the CA folder goes with the gateway");
    }
}

//! `gatebench idp`: its options, the idp configuration they make, and the foreground
//! run (until Ctrl-C).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::builder::PossibleValue;

use super::serve_tls::ServeTlsArgs;
use super::{ExitStatus, async_runtime};
use crate::idp::{self, IdpClient, IdpConfig, IdpCredential, TokenShape, TokenVersion};
use crate::shared::Secret;

/// Help text after the options.
pub const IDP_HELP: &str = "\
FOR LOCAL DEVELOPMENT AND TESTS ONLY: no users, secrets on the command line. Serves
plain HTTP, or HTTPS with --tls-cert/--tls-key or a generated test CA (--tls-self-signed);
its issuer and URLs are then https://.

Endpoints:
  POST /token                              client_credentials grant (form or HTTP Basic)
  GET  /.well-known/openid-configuration   discovery document
  GET  /jwks  (also /discovery/keys)       public keys (RS256)

Examples:
  gatebench idp --client bench:devsecret:storage.read,storage.write
  gatebench idp --client-certificate bench:client.pem:storage.read
  gatebench idp --listen 127.0.0.1:8081 --client reader:r3ad:storage.read \\
      --client writer:wr1te:storage.read,storage.write --token-lifetime 5m
  GATEBENCH_IDP_CLIENTS='bench:devsecret:storage.read' gatebench idp --key key.pem

  curl -s -d grant_type=client_credentials -u bench:devsecret http://127.0.0.1:8081/token

  # over TLS, with the gateway's test CA (see docs/tls.md)
  gatebench idp --client bench:devsecret --tls-self-signed certs
  curl -s --cacert certs/ca.pem -d grant_type=client_credentials -u bench:devsecret \\
      https://127.0.0.1:8081/token";

/// `gatebench idp` options.
#[derive(Debug, clap::Args)]
pub struct IdpArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// A client as ID:SECRET[:ROLE,ROLE…] (no ':' in ID or SECRET); repeat for more
    /// (env: space-separated).
    #[arg(
        long = "client",
        value_name = "ID:SECRET[:ROLES]",
        env = "GATEBENCH_IDP_CLIENTS",
        value_delimiter = ' ',
        hide_env_values = true,
        required_unless_present = "client_certificates"
    )]
    pub clients: Vec<String>,
    /// A client that authenticates with a certificate, as ID:CERT.pem[:ROLE,ROLE…]: its
    /// token requests carry a `client_assertion` JWT signed with the certificate's RSA key
    /// (Entra ID's certificate credential); repeat for more.
    #[arg(long = "client-certificate", value_name = "ID:CERT.pem[:ROLES]")]
    pub client_certificates: Vec<String>,
    /// The API's Application ID URI: the `aud` of v1 tokens.
    #[arg(long, default_value = "api://gatebench-storage")]
    pub audience: String,
    /// The API's application (client) id: the `aud` of v2 tokens.
    #[arg(long, default_value = idp::DEFAULT_API_CLIENT_ID)]
    pub api_client_id: String,
    /// Entra ID access-token version to imitate: 1 (iss https://sts.windows.net/TENANT/,
    /// appid) or 2 (iss http(s)://LISTEN-ADDRESS/TENANT/v2.0, azp).
    #[arg(long, value_enum, default_value = "2")]
    pub token_version: TokenVersion,
    /// The `tid` claim and tenant part of the default issuer.
    #[arg(long, default_value = idp::DEFAULT_TENANT_ID)]
    pub tenant_id: String,
    /// The `iss` claim (default: by --token-version).
    #[arg(long)]
    pub issuer: Option<String>,
    /// How clients reach this idp, for the discovery document's URLs (default:
    /// http(s)://LISTEN-ADDRESS); e.g. http://idp:8081 in docker compose.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Token lifetime (e.g. 30s, 1h).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub token_lifetime: Duration,
    /// RSA private key PEM (PKCS#8 or PKCS#1); default: a new key at every start.
    #[arg(long, value_name = "PEM")]
    pub key: Option<PathBuf>,
    #[command(flatten)]
    pub tls: ServeTlsArgs,
}

/// Parses `ID:SECRET[:ROLE,ROLE…]`.
fn parse_client(s: &str, audience: &str) -> Result<IdpClient, String> {
    parse_with(s, "--client", "SECRET", audience, |secret| {
        Ok(IdpCredential::Secret(Secret::new(secret)))
    })
}

/// Parses `ID:CERT.pem[:ROLE,ROLE…]`, reading the certificate.
fn parse_client_certificate(s: &str, audience: &str) -> Result<IdpClient, String> {
    parse_with(s, "--client-certificate", "CERT.pem", audience, |path| {
        let certs = crate::tls::load_certs(Path::new(path)).map_err(|e| format!("{e:#}"))?;
        Ok(IdpCredential::Certificate(certs[0].to_vec()))
    })
}

/// Parses `ID:CREDENTIAL[:ROLES]` of option `option`, the credential by `credential`.
fn parse_with(
    s: &str,
    option: &str,
    what: &str,
    audience: &str,
    credential: impl FnOnce(&str) -> Result<IdpCredential, String>,
) -> Result<IdpClient, String> {
    let mut parts = s.splitn(3, ':');
    let (Some(id), Some(value)) = (parts.next(), parts.next()) else {
        return Err(format!(
            "{option} `{}`: expected ID:{what}[:ROLES]",
            s.split(':').next().unwrap_or("")
        ));
    };
    if id.is_empty() || value.is_empty() {
        return Err(format!("{option}: ID and {what} must not be empty"));
    }
    Ok(IdpClient {
        id: id.to_string(),
        credential: credential(value).map_err(|e| format!("{option} {id}: {e}"))?,
        roles: parts
            .next()
            .map(|r| {
                r.split(',')
                    .filter(|r| !r.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        audience: audience.to_string(),
    })
}

impl clap::ValueEnum for TokenVersion {
    fn value_variants<'a>() -> &'a [Self] {
        &[TokenVersion::V1, TokenVersion::V2]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            TokenVersion::V1 => PossibleValue::new("1").help(
                "`iss` `https://sts.windows.net/{tid}/`, `aud` the Application ID URI (the \
                 client's `audience`), caller in `appid`/`appidacr`, `ver` `1.0`",
            ),
            TokenVersion::V2 => PossibleValue::new("2").help(
                "`iss` `{base}/{tid}/v2.0`, `aud` the API's client id, caller in \
                 `azp`/`azpacr`, `ver` `2.0`",
            ),
        })
    }
}

/// Runs the idp in the foreground until Ctrl-C.
pub fn serve(args: IdpArgs) -> ExitStatus {
    let with_secret = args
        .clients
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| parse_client(c, &args.audience));
    let with_certificate = args
        .client_certificates
        .iter()
        .map(|c| parse_client_certificate(c, &args.audience));
    let clients = match with_secret
        .chain(with_certificate)
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(c) => c,
        Err(e) => return ExitStatus::Invalid.with_error(e),
    };
    let tls = match args.tls.server_config() {
        Ok(t) => t,
        Err(e) => return ExitStatus::Invalid.with_error(format!("{e:#}")),
    };
    let config = IdpConfig {
        public_url: args.public_url.clone(),
        listen: args.listen,
        issuer: args.issuer,
        tokens: TokenShape {
            version: args.token_version,
            tenant_id: args.tenant_id,
            api_client_id: args.api_client_id,
        },
        clients,
        token_lifetime: args.token_lifetime,
        key_pem: args.key,
        tls,
    };
    let runtime = match async_runtime() {
        Ok(r) => r,
        Err(status) => return status,
    };
    runtime.block_on(async {
        let idp = match idp::start(config).await {
            Ok(i) => i,
            Err(e) => return ExitStatus::Failed.with_error(format!("{e:#}")),
        };
        eprintln!("gatebench idp: DEVELOPMENT TOKEN ISSUER, FOR LOCAL RUNS ONLY");
        println!("issuer:         {}", idp.issuer);
        println!("token endpoint: {}", idp.token_url());
        println!("openid-config:  {}", idp.openid_config_url());
        let _ = tokio::signal::ctrl_c().await;
        ExitStatus::Success
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_specs() {
        let c = parse_client("r:x:storage.read,storage.write", "aud").unwrap();
        let IdpCredential::Secret(secret) = &c.credential else {
            panic!("{c:?}")
        };
        assert_eq!((c.id.as_str(), secret.expose()), ("r", "x"));
        assert_eq!(c.roles, vec!["storage.read", "storage.write"]);
        assert!(parse_client("r:x", "a").unwrap().roles.is_empty());
        assert!(parse_client("nosecret", "a").is_err());
        let missing = parse_client_certificate("c:/nonexistent.pem", "a").unwrap_err();
        assert!(missing.contains("/nonexistent.pem"), "{missing}");
    }
}

//! `gatebench idp` command-line options and the foreground run (until Ctrl-C).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::{IdpClient, IdpConfig};
use crate::plan::Secret;
use crate::tls::server::ServeTlsArgs;

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
        required = true
    )]
    pub clients: Vec<String>,
    /// The `aud` claim of every token.
    #[arg(long, default_value = "api://gatebench-storage")]
    pub audience: String,
    /// The `iss` claim (default: http(s)://LISTEN-ADDRESS).
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
    let mut parts = s.splitn(3, ':');
    let (Some(id), Some(secret)) = (parts.next(), parts.next()) else {
        return Err(format!(
            "--client `{}`: expected ID:SECRET[:ROLES]",
            s.split(':').next().unwrap_or("")
        ));
    };
    if id.is_empty() || secret.is_empty() {
        return Err("--client: ID and SECRET must not be empty".into());
    }
    Ok(IdpClient {
        id: id.to_string(),
        secret: Secret::new(secret),
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

/// Runs the idp in the foreground until Ctrl-C.
pub fn run(args: IdpArgs) -> ExitCode {
    let clients = match args
        .clients
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| parse_client(c, &args.audience))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let tls = match args.tls.server_config() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let config = IdpConfig {
        public_url: args.public_url.clone(),
        listen: args.listen,
        issuer: args.issuer,
        clients,
        token_lifetime: args.token_lifetime,
        key_pem: args.key,
        tls,
    };
    let runtime = match crate::cli::async_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let idp = match super::start(config).await {
            Ok(i) => i,
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(1);
            }
        };
        eprintln!("gatebench idp: DEVELOPMENT TOKEN ISSUER, FOR LOCAL RUNS ONLY");
        println!("issuer:         {}", idp.issuer);
        println!("token endpoint: {}", idp.token_url());
        println!("openid-config:  {}", idp.openid_config_url());
        let _ = tokio::signal::ctrl_c().await;
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_specs() {
        let c = parse_client("r:x:storage.read,storage.write", "aud").unwrap();
        assert_eq!((c.id.as_str(), c.secret.expose()), ("r", "x"));
        assert_eq!(c.roles, vec!["storage.read", "storage.write"]);
        assert!(parse_client("r:x", "a").unwrap().roles.is_empty());
        assert!(parse_client("nosecret", "a").is_err());
    }
}

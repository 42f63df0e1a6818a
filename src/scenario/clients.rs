//! `clients = [...]` and `clients_from = "file.toml"` of gateway targets: several
//! identities (subscription key and/or OAuth2 client credentials each), validated into
//! [`GatewayClient`]s. A `clients_from` file is read relative to the scenario file, and
//! its errors name that file, its line and the field.

use std::path::Path;

use serde::Deserialize;
use serde_spanned::Spanned;

use super::file::{OAuth2Section, TargetSection};
use super::{Checked, Validator, deserialize, interpolate};
use crate::plan::clients::default_label;
use crate::plan::{ClientCredential, GatewayClient, OAuth2Config};
use crate::shared::Secret;

/// Most identities one target may have.
const MAX_CLIENTS: usize = 1000;

/// Longest client name, characters.
const MAX_CLIENT_NAME: usize = 64;

/// One entry of `clients`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSection {
    /// A label for results (never secret); default `client-N`.
    pub name: Option<Spanned<String>>,
    pub subscription_key: Option<Spanned<String>>,
    /// Its OAuth2 client id (token URL and scope come from the target's `oauth2`).
    pub client_id: Option<Spanned<String>>,
    pub client_secret: Option<Spanned<String>>,
}

/// A `clients_from` file: the `clients` array and nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientsFile {
    clients: Spanned<Vec<Spanned<ClientSection>>>,
}

type ClientList = Spanned<Vec<Spanned<ClientSection>>>;

/// What every client of a target shares: the token URL and scope of its `oauth2`.
struct SharedGrant {
    token_url: String,
    scope: Option<String>,
}

impl Validator<'_> {
    /// A `kind = "gateway"` target's identities (empty: none listed, so the target's
    /// own `subscription_key` and `oauth2` are its one identity).
    pub(super) fn gateway_clients(
        &self,
        s: &Spanned<TargetSection>,
        field: &str,
    ) -> Checked<Vec<GatewayClient>> {
        let t = s.get_ref();
        let (list, from) = match (&t.clients, &t.clients_from) {
            (None, None) => return Ok(Vec::new()),
            (Some(_), Some(f)) => {
                return Err(self.err(
                    f.span(),
                    &format!("{field}.clients_from"),
                    "give `clients` or `clients_from`, not both",
                ));
            }
            (Some(list), None) => (Some(list), None),
            (None, Some(from)) => (None, Some(from)),
        };
        if let Some(key) = &t.subscription_key {
            return Err(self.err(
                key.span(),
                &format!("{field}.subscription_key"),
                "with `clients`, each client has its own subscription_key",
            ));
        }
        let grant = match &t.oauth2 {
            Some(o) => Some(self.shared_grant(o, &format!("{field}.oauth2"))?),
            None => None,
        };
        match (list, from) {
            (Some(list), _) => self.identities(list, &format!("{field}.clients"), grant.as_ref()),
            (_, Some(from)) => self.clients_from(from, &format!("{field}.clients_from"), grant),
            (None, None) => Ok(Vec::new()),
        }
    }

    /// An `embedded-gateway`'s client names (it makes their keys and secrets itself).
    pub(super) fn embedded_clients(&self, t: &TargetSection, field: &str) -> Checked<Vec<String>> {
        let Some(list) = &t.clients else {
            return Ok(Vec::new());
        };
        let f = format!("{field}.clients");
        for (i, c) in list.get_ref().iter().enumerate() {
            let e = c.get_ref();
            let secret = [&e.subscription_key, &e.client_id, &e.client_secret]
                .into_iter()
                .flatten()
                .next();
            if let Some(v) = secret {
                return Err(self.err(
                    v.span(),
                    &format!("{f}[{i}]"),
                    "an embedded-gateway makes each client's subscription key and idp client itself: give only `name`",
                ));
            }
        }
        self.labels(list, &f)
    }

    /// The target's `oauth2` when it serves `clients`: token URL and scope only.
    fn shared_grant(&self, o: &Spanned<OAuth2Section>, f: &str) -> Checked<SharedGrant> {
        let sec = o.get_ref();
        let own = sec.client_id.is_some()
            || sec.client_secret.is_some()
            || sec.client_secret_file.is_some()
            || sec.client_certificate.is_some();
        if own {
            return Err(self.err(
                o.span(),
                f,
                "with `clients`, oauth2 gives token_url and scope only; each client has its own client_id and client_secret",
            ));
        }
        let expand = |v: &str| interpolate(v, self.env).map_err(|why| self.err(o.span(), f, why));
        let token_url = expand(&sec.token_url)?;
        if let Err(why) = super::check_url(&token_url, true) {
            return Err(self.err(o.span(), &format!("{f}.token_url"), why));
        }
        Ok(SharedGrant {
            token_url,
            scope: sec.scope.as_deref().map(expand).transpose()?,
        })
    }

    /// `clients_from`: the file (relative to the scenario's folder) and its clients,
    /// whose errors name that file.
    fn clients_from(
        &self,
        from: &Spanned<String>,
        f: &str,
        grant: Option<SharedGrant>,
    ) -> Checked<Vec<GatewayClient>> {
        let name =
            interpolate(from.get_ref(), self.env).map_err(|why| self.err(from.span(), f, why))?;
        let path = self.path.parent().unwrap_or(Path::new("")).join(&name);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            self.err(
                from.span(),
                f,
                format!(
                    "cannot read {} ({e}; the path is relative to the scenario's folder)",
                    path.display()
                ),
            )
        })?;
        let file: ClientsFile = deserialize(&path, &text)?;
        let inner = Validator {
            path: &path,
            text: &text,
            env: self.env,
        };
        inner.identities(&file.clients, "clients", grant.as_ref())
    }

    /// Each listed client as an identity: a label, and a subscription key and/or client
    /// credentials.
    fn identities(
        &self,
        list: &ClientList,
        f: &str,
        grant: Option<&SharedGrant>,
    ) -> Checked<Vec<GatewayClient>> {
        let labels = self.labels(list, f)?;
        let mut out = Vec::new();
        for ((i, c), label) in list.get_ref().iter().enumerate().zip(labels) {
            let fi = format!("{f}[{i}]");
            let e = c.get_ref();
            let value = |name: &str, v: &Option<Spanned<String>>| -> Checked<Option<String>> {
                v.as_ref()
                    .map(|v| {
                        interpolate(v.get_ref(), self.env)
                            .map_err(|why| self.err(v.span(), &format!("{fi}.{name}"), why))
                    })
                    .transpose()
            };
            let subscription_key = value("subscription_key", &e.subscription_key)?.map(Secret::new);
            let oauth2 = match (&e.client_id, &e.client_secret) {
                (None, None) => None,
                (Some(id), None) => {
                    return Err(self.err(
                        id.span(),
                        &format!("{fi}.client_secret"),
                        "a client_id needs its client_secret",
                    ));
                }
                (None, Some(secret)) => {
                    return Err(self.err(
                        secret.span(),
                        &format!("{fi}.client_id"),
                        "a client_secret needs its client_id",
                    ));
                }
                (Some(id), Some(_)) => {
                    let Some(grant) = grant else {
                        return Err(self.err(
                            id.span(),
                            &format!("{fi}.client_id"),
                            "the target needs oauth2 = { token_url = \"…\" } for clients with a client_id",
                        ));
                    };
                    Some(OAuth2Config {
                        token_url: grant.token_url.clone(),
                        client_id: value("client_id", &e.client_id)?.unwrap_or_default(),
                        credential: ClientCredential::Secret(Secret::new(
                            value("client_secret", &e.client_secret)?.unwrap_or_default(),
                        )),
                        scope: grant.scope.clone(),
                    })
                }
            };
            if subscription_key.is_none() && oauth2.is_none() {
                return Err(self.err(
                    c.span(),
                    &fi,
                    "a client needs a subscription_key, a client_id (with its client_secret), or both",
                ));
            }
            out.push(GatewayClient {
                label,
                subscription_key,
                oauth2,
            });
        }
        Ok(out)
    }

    /// The clients' labels: 1 to `MAX_CLIENTS` of them, names checked and unique.
    fn labels(&self, list: &ClientList, f: &str) -> Checked<Vec<String>> {
        let n = list.get_ref().len();
        if !(1..=MAX_CLIENTS).contains(&n) {
            return Err(self.err(list.span(), f, format!("list 1 to {MAX_CLIENTS} clients")));
        }
        let mut labels: Vec<String> = Vec::new();
        for (i, c) in list.get_ref().iter().enumerate() {
            let fi = format!("{f}[{i}].name");
            let (label, span) = match &c.get_ref().name {
                Some(name) => {
                    let v = name.get_ref();
                    let ok = !v.is_empty()
                        && v.chars().count() <= MAX_CLIENT_NAME
                        && v.chars()
                            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch));
                    if !ok {
                        return Err(self.err(
                            name.span(),
                            &fi,
                            format!("use 1 to {MAX_CLIENT_NAME} letters, digits, '-', '_' or '.'"),
                        ));
                    }
                    (v.clone(), name.span())
                }
                None => (default_label(i), c.span()),
            };
            if labels.contains(&label) {
                return Err(self.err(span, &fi, format!("{label:?} names two clients")));
            }
            labels.push(label);
        }
        Ok(labels)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::plan::{Plan, TargetKind};
    use crate::scenario::{ScenarioError, parse};

    /// A scenario whose gateway target `gw` ends with `tail`.
    fn scenario(tail: &str) -> String {
        format!(
            "name = \"t\"\n[run]\nduration = \"5s\"\n[load]\nexecutor = \"closed-loop\"\n\
             concurrency = 4\n[data]\nbuckets = [\"bench\"]\nsize = \"4KiB\"\n[mix]\nget = 1\n\
             [targets.direct]\nkind = \"embedded\"\n[targets.gw]\nkind = \"gateway\"\n\
             base_url = \"http://127.0.0.1:8080/storage\"\n{tail}"
        )
    }

    fn env(name: &str) -> Option<String> {
        (name == "KEY_B").then(|| "key-of-b".to_string())
    }

    fn check_at(path: &Path, tail: &str) -> Result<Plan, ScenarioError> {
        parse(path, &scenario(tail), &env)
    }

    fn check(tail: &str) -> Result<Plan, ScenarioError> {
        check_at(Path::new("s.toml"), tail)
    }

    fn clients(plan: &Plan) -> &[crate::plan::GatewayClient] {
        match &plan.targets[1].kind {
            TargetKind::Gateway(gw) => &gw.clients,
            _ => panic!("a gateway"),
        }
    }

    #[test]
    fn clients_become_labelled_identities_sharing_the_token_url() {
        let plan = check(
            "oauth2 = { token_url = \"http://127.0.0.1:8081/token\", scope = \"storage/.default\" }\n\
             clients = [\n  { name = \"tenant-a\", subscription_key = \"key-a\" },\n  \
             { subscription_key = \"${KEY_B}\", client_id = \"app-b\", client_secret = \"s-b\" },\n  \
             { client_id = \"app-c\", client_secret = \"s-c\" },\n]\n",
        )
        .unwrap();
        let c = clients(&plan);
        let labels: Vec<&str> = c.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["tenant-a", "client-2", "client-3"]);
        assert_eq!(c[0].subscription_key.as_ref().unwrap().expose(), "key-a");
        assert!(c[0].oauth2.is_none());
        assert_eq!(c[1].subscription_key.as_ref().unwrap().expose(), "key-of-b");
        let grant = c[2].oauth2.as_ref().unwrap();
        assert_eq!(
            (grant.token_url.as_str(), grant.client_id.as_str()),
            ("http://127.0.0.1:8081/token", "app-c")
        );
        assert_eq!(grant.scope.as_deref(), Some("storage/.default"));
        assert!(c[2].subscription_key.is_none());
        let TargetKind::Gateway(gw) = &plan.targets[1].kind else {
            panic!()
        };
        assert!(gw.oauth2.is_none() && gw.subscription_key.is_none());
        for shown in [format!("{plan:?}"), toml::to_string(&plan).unwrap()] {
            for secret in ["key-a", "key-of-b", "s-b", "s-c"] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
        }
    }

    #[test]
    fn broken_client_lists_are_refused_with_line_and_field() {
        let key = |name: &str| format!("{{ name = \"{name}\", subscription_key = \"k\" }}");
        let cases = [
            (
                format!("clients = [\n{},\n{},\n]\n", key("a"), key("a")),
                "targets.gw.clients[1].name",
                "names two clients",
            ),
            (
                // An unnamed second client is `client-2`, which the third names again.
                format!(
                    "clients = [\n{},\n{{ subscription_key = \"k\" }},\n{},\n]\n",
                    key("a"),
                    key("client-2")
                ),
                "targets.gw.clients[2].name",
                "names two clients",
            ),
            (
                "clients = [\n{ name = \"a\" },\n]\n".into(),
                "targets.gw.clients[0]",
                "needs a subscription_key, a client_id",
            ),
            (
                "clients = [\n{ client_secret = \"s\" },\n]\n".into(),
                "targets.gw.clients[0].client_id",
                "needs its client_id",
            ),
            (
                "clients = [\n{ client_id = \"app\", client_secret = \"s\" },\n]\n".into(),
                "targets.gw.clients[0].client_id",
                "token_url",
            ),
            ("clients = [\n]\n".into(), "targets.gw.clients", "1 to 1000"),
            (
                format!("subscription_key = \"k\"\nclients = [\n{}\n]\n", key("a")),
                "targets.gw.subscription_key",
                "its own subscription_key",
            ),
            (
                format!(
                    "oauth2 = {{ token_url = \"http://127.0.0.1:1/t\", client_id = \"x\", client_secret = \"y\" }}\nclients = [\n{}\n]\n",
                    key("a")
                ),
                "targets.gw.oauth2",
                "token_url and scope only",
            ),
            (
                format!("clients = [\n{}\n]\nclients_from = \"c.toml\"\n", key("a")),
                "targets.gw.clients_from",
                "not both",
            ),
            (
                "clients = [\n{ name = \"a b\", subscription_key = \"k\" },\n]\n".into(),
                "targets.gw.clients[0].name",
                "letters, digits",
            ),
        ];
        for (tail, field, says) in cases {
            let e = check(&tail).unwrap_err();
            assert_eq!(e.field, field, "{e}\n{tail}");
            assert!(e.message.contains(says), "{e}");
            assert!(
                e.line.is_some_and(|l| l >= 16),
                "a line in the gateway target: {e}"
            );
        }
        // Without clients, the target's own oauth2 still needs its client_id.
        let e = check("oauth2 = { token_url = \"http://127.0.0.1:1/t\", client_secret = \"y\" }\n")
            .unwrap_err();
        assert_eq!(e.field, "targets.gw.oauth2.client_id", "{e}");
    }

    #[test]
    fn clients_from_reads_a_file_beside_the_scenario_and_names_it_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let scenario_path = dir.path().join("s.toml");
        std::fs::write(
            dir.path().join("tenants.toml"),
            "clients = [\n  { name = \"a\", subscription_key = \"ka\" },\n  { name = \"b\", subscription_key = \"${KEY_B}\" },\n]\n",
        )
        .unwrap();
        let plan = check_at(&scenario_path, "clients_from = \"tenants.toml\"\n").unwrap();
        let c = clients(&plan);
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].subscription_key.as_ref().unwrap().expose(), "key-of-b");

        let broken = dir.path().join("broken.toml");
        std::fs::write(
            &broken,
            "# tenants\nclients = [\n  { name = \"a\", subscription_key = \"k\" },\n  { name = \"a\", subscription_key = \"k\" },\n]\n",
        )
        .unwrap();
        let e = check_at(&scenario_path, "clients_from = \"broken.toml\"\n").unwrap_err();
        assert_eq!(e.path, broken, "{e}");
        assert_eq!(
            (e.line, e.field.as_str()),
            (Some(4), "clients[1].name"),
            "{e}"
        );

        std::fs::write(
            &broken,
            "clients = [\n  { name = \"a\", key = \"k\" },\n]\n",
        )
        .unwrap();
        let e = check_at(&scenario_path, "clients_from = \"broken.toml\"\n").unwrap_err();
        assert_eq!(
            (e.path.as_path(), e.line),
            (broken.as_path(), Some(2)),
            "{e}"
        );
        assert!(e.message.contains("unknown field"), "{e}");

        let e = check_at(&scenario_path, "clients_from = \"missing.toml\"\n").unwrap_err();
        assert_eq!(e.path, scenario_path, "{e}");
        assert_eq!(e.field, "targets.gw.clients_from", "{e}");
        assert!(e.message.contains("missing.toml"), "{e}");
    }

    #[test]
    fn an_embedded_gateway_takes_client_names_only() {
        let text = |clients: &str| {
            format!(
                "name = \"t\"\n[run]\nduration = \"5s\"\n[load]\nexecutor = \"closed-loop\"\n\
                 concurrency = 4\n[data]\nbuckets = [\"bench\"]\nsize = \"4KiB\"\n[mix]\nget = 1\n\
                 [targets.direct]\nkind = \"embedded\"\n[targets.gw]\nkind = \"embedded-gateway\"\n\
                 policy = \"{}/deploy/apim/policy.tenants.local.xml\"\nclients = {clients}\n",
                env!("CARGO_MANIFEST_DIR")
            )
        };
        let plan = parse(Path::new("s.toml"), &text("[{ name = \"a\" }, {}]"), &env).unwrap();
        let TargetKind::EmbeddedGateway(eg) = &plan.targets[1].kind else {
            panic!()
        };
        assert_eq!(eg.clients, ["a", "client-2"]);
        let e = parse(
            Path::new("s.toml"),
            &text("[{ name = \"a\", subscription_key = \"k\" }]"),
            &env,
        )
        .unwrap_err();
        assert_eq!(e.field, "targets.gw.clients[0]", "{e}");
        assert!(e.message.contains("give only `name`"), "{e}");
    }
}

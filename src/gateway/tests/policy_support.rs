//! The APIM policy support table of `docs/gateway.md` (between its `policy-support`
//! markers): one entry per element the stand-in implements, the sections it is accepted
//! in, the attributes it takes and how it differs from APIM.
//!
//! The table cannot drift from the implementation: `table_matches_the_parser` feeds the
//! parser every element of APIM's policy reference in every section, and every listed
//! attribute plus an unknown one, and fails when the parser accepts something the table
//! does not list or refuses something it does; `docs_table_is_this_table` fails when the
//! docs differ from `markdown()` (`GATEBENCH_BLESS=1` rewrites them).

use crate::gateway::policy::{LoadOptions, parse};

/// One APIM policy element as the stand-in treats it.
struct ElementSupport {
    /// The element's name, e.g. `rate-limit-by-key`.
    name: &'static str,
    /// The sections it is accepted in (`inbound`, `backend`, `outbound`, `on-error`).
    sections: &'static [&'static str],
    /// The attributes it takes; any other is a startup error.
    attributes: &'static [&'static str],
    /// Children and notes, and how the stand-in differs from APIM.
    notes: &'static str,
}

const ALL: &[&str] = &["inbound", "backend", "outbound", "on-error"];
const INBOUND: &[&str] = &["inbound"];
/// Where the stand-in runs `cache-*-value` (APIM also allows `backend`).
const VALUE_CACHE: &[&str] = &["inbound", "outbound", "on-error"];

/// Every element the stand-in implements, in the order of the docs table.
const SUPPORTED: &[ElementSupport] = &[
    ElementSupport {
        name: "base",
        sections: ALL,
        attributes: &[],
        notes: "no-op (the stand-in has no outer scopes)",
    },
    ElementSupport {
        name: "validate-jwt",
        sections: INBOUND,
        attributes: &[
            "header-name",
            "failed-validation-httpcode",
            "failed-validation-error-message",
            "require-expiration-time",
            "require-scheme",
            "require-signed-tokens",
            "clock-skew",
        ],
        notes: "children `openid-config url` (replaced by `--openid-config-url`; the discovery \
                document's `issuer` is valid besides `<issuers>`), \
                `issuer-signing-keys/key` (RSA: `n`+`e`, or PEM; `id` = kid), \
                `audiences/audience`, `issuers/issuer`, \
                `required-claims/claim[@name, @match, @separator]/value`; \
                `require-signed-tokens=\"false\"` and `decryption-keys` are refused",
    },
    ElementSupport {
        name: "validate-azure-ad-token",
        sections: INBOUND,
        attributes: &[
            "tenant-id",
            "header-name",
            "failed-validation-httpcode",
            "failed-validation-error-message",
        ],
        notes: "children `client-application-ids/application-id` (the token's `azp` or \
                `appid` must be one), `backend-application-ids/application-id` (audiences: \
                the id and `api://{id}`), `audiences/audience`, `required-claims/claim`; \
                v1 and v2 issuers of the tenant; keys from its discovery document \
                (replaced by `--openid-config-url`); `Bearer` scheme; \
                `query-parameter-name`, `token-value`, `output-token-variable-name` and \
                `decryption-keys` are refused",
    },
    ElementSupport {
        name: "choose",
        sections: &["inbound", "outbound", "on-error"],
        attributes: &[],
        notes: "`when[@condition]`, `otherwise`; any bool expression (below); in outbound and \
                on-error conditions may read `context.Response`; `cache-store` may not be \
                inside a `choose`",
    },
    ElementSupport {
        name: "rate-limit",
        sections: INBOUND,
        attributes: &[
            "calls",
            "renewal-period",
            "retry-after-header-name",
            "remaining-calls-header-name",
            "total-calls-header-name",
        ],
        notes: "keyed on the subscription, and only calls with a subscription key count \
                (without one, the call passes it); `retry-after-header-name` replaces \
                `Retry-After`; `renewal-period` ≤ 300 s; exact counters in one process (APIM's are distributed and \"never completely accurate\"); \
                `api`/`operation` children are refused",
    },
    ElementSupport {
        name: "rate-limit-by-key",
        sections: INBOUND,
        attributes: &[
            "calls",
            "renewal-period",
            "counter-key",
            "increment-condition",
            "increment-count",
            "remaining-calls-variable-name",
            "retry-after-header-name",
            "remaining-calls-header-name",
            "total-calls-header-name",
        ],
        notes: "exact counters in one process; `counter-key`, `increment-condition` and \
                `increment-count` take expressions (an expression `increment-count` is \
                counted after the response, as APIM does)",
    },
    ElementSupport {
        name: "quota-by-key",
        sections: INBOUND,
        attributes: &[
            "calls",
            "bandwidth",
            "renewal-period",
            "counter-key",
            "increment-condition",
            "first-period-start",
        ],
        notes: "`bandwidth` in KB, counted from request and response `Content-Length`; \
                `renewal-period` 0 (never renews) or ≥ 300 s; windows aligned to \
                `first-period-start` (default `0001-01-01T00:00:00Z`)",
    },
    ElementSupport {
        name: "quota",
        sections: INBOUND,
        attributes: &["calls", "bandwidth", "renewal-period"],
        notes: "per subscription, and only for calls that carry one; `api`/`operation` \
                children are refused",
    },
    ElementSupport {
        name: "cache-lookup",
        sections: INBOUND,
        attributes: &[
            "vary-by-developer",
            "vary-by-developer-groups",
            "allow-private-response-caching",
            "downstream-caching-type",
            "must-revalidate",
            "caching-type",
        ],
        notes: "GET only; an internal cache of 256 MiB (entries ≤ 2 MiB); children \
                `vary-by-header`, `vary-by-query-parameter`; `downstream-caching-type` \
                other than `none` and `caching-type=\"external\"` are refused",
    },
    ElementSupport {
        name: "cache-store",
        sections: &["outbound"],
        attributes: &["duration", "cache-response"],
        notes: "`duration` in seconds; `cache-response=\"true\"` caches any status, else \
                200 only; on a hit, outbound resumes after `cache-store`",
    },
    ElementSupport {
        name: "cache-lookup-value",
        sections: VALUE_CACHE,
        attributes: &["key", "variable-name", "default-value", "caching-type"],
        notes: "a value cache of its own (100,000 entries), shared by all requests; on a \
                miss the variable gets `default-value`, or stays unset without one; \
                `caching-type=\"external\"` is refused; not in `backend`",
    },
    ElementSupport {
        name: "cache-store-value",
        sections: VALUE_CACHE,
        attributes: &["key", "value", "duration", "caching-type"],
        notes: "keeps the expression's value (not only strings); `duration` in whole seconds \
                (> 0, no expression); not in `backend`",
    },
    ElementSupport {
        name: "cache-remove-value",
        sections: VALUE_CACHE,
        attributes: &["key", "caching-type"],
        notes: "forgets the key at once (e.g. on PUT to invalidate a value kept by GETs); \
                not in `backend`",
    },
    ElementSupport {
        name: "set-header",
        sections: &["inbound", "outbound", "on-error"],
        attributes: &["name", "exists-action"],
        notes: "`<value>`s, literal or expression; several are joined with `,` into one \
                line (except `Set-Cookie`, dates and the others APIM keeps apart); null or \
                empty values are skipped; `Connection`, `Content-Length`, `Keep-Alive`, \
                `Transfer-Encoding` are refused; inbound edits the backend request, \
                outbound and on-error the response",
    },
    ElementSupport {
        name: "set-query-parameter",
        sections: INBOUND,
        attributes: &["name", "exists-action"],
        notes: "as `set-header`, each `<value>` one `name=value` pair",
    },
    ElementSupport {
        name: "set-variable",
        sections: &["inbound", "outbound", "on-error"],
        attributes: &["name", "value"],
        notes: "a literal string or an expression, read as `context.Variables`",
    },
    ElementSupport {
        name: "set-status",
        sections: &["outbound", "on-error"],
        attributes: &["code", "reason"],
        notes: "",
    },
    ElementSupport {
        name: "return-response",
        sections: &["inbound", "outbound", "on-error"],
        attributes: &[],
        notes: "children `set-status`, `set-header`, `set-body` (literal or expression); in \
                inbound answers at once, skipping the backend and outbound; elsewhere it \
                replaces the response; `response-variable-name` is refused",
    },
    ElementSupport {
        name: "rewrite-uri",
        sections: INBOUND,
        attributes: &["template", "copy-unmatched-params"],
        notes: "a literal path with the template parameters `{bucket}` and `{key}` only \
                (the first path segment and the rest), or an expression giving a path",
    },
    ElementSupport {
        name: "set-backend-service",
        sections: INBOUND,
        attributes: &["base-url"],
        notes: "`base-url` only (no `backend-id`)",
    },
    ElementSupport {
        name: "forward-request",
        sections: &["backend"],
        attributes: &[
            "timeout",
            "buffer-request-body",
            "buffer-response",
            "fail-on-error-status-code",
            "follow-redirects",
        ],
        notes: "`timeout` (s, default 300) → 504 `Gateway Timeout`; unreachable backend → \
                500; `fail-on-error-status-code` sends 4xx/5xx to on-error; \
                `buffer-response` is accepted but responses always stream; \
                `follow-redirects=\"true\"` is refused",
    },
    ElementSupport {
        name: "ip-filter",
        sections: INBOUND,
        attributes: &["action"],
        notes: "children `address`, `address-range[@from, @to]`; 403 with APIM's \
                CallerIpNotAllowed / CallerIpBlocked messages; literal addresses only",
    },
    ElementSupport {
        name: "cors",
        sections: INBOUND,
        attributes: &["allow-credentials", "terminate-unmatched-request"],
        notes: "children `allowed-origins/origin`, `allowed-methods[@preflight-result-max-age]/method`, \
                `allowed-headers/header`, `expose-headers/header`; preflights under the API \
                are answered by the gateway (only the first top-level `cors` runs for them); \
                literal values only",
    },
    ElementSupport {
        name: "limit-concurrency",
        sections: &["backend"],
        attributes: &["key", "max-count"],
        notes: "backend only, around `forward-request` or `retry`; over `max-count` → 429 \
                at once; the slot is held until the response headers arrive",
    },
    ElementSupport {
        name: "retry",
        sections: &["backend"],
        attributes: &[
            "condition",
            "count",
            "interval",
            "max-interval",
            "delta",
            "first-fast-retry",
        ],
        notes: "backend only, around `forward-request`; the request body is buffered to be \
                sent again; fixed, linear and exponential waits as documented, without \
                the ±20 % randomisation of the exponential `delta`",
    },
    ElementSupport {
        name: "emit-metric",
        sections: ALL,
        attributes: &["name", "namespace", "value"],
        notes: "accepted, nothing is emitted (no Application Insights)",
    },
    ElementSupport {
        name: "trace",
        sections: ALL,
        attributes: &["source", "severity"],
        notes: "accepted, nothing is traced",
    },
];

/// The elements of APIM's policy reference (learn.microsoft.com, api-management-policies),
/// supported here or not: the test feeds each of them to the parser.
const APIM_ELEMENTS: &[&str] = &[
    "authentication-basic",
    "authentication-certificate",
    "authentication-managed-identity",
    "base",
    "cache-lookup",
    "cache-lookup-value",
    "cache-remove-value",
    "cache-store",
    "cache-store-value",
    "check-header",
    "choose",
    "cors",
    "cross-domain",
    "emit-metric",
    "find-and-replace",
    "forward-request",
    "get-authorization-context",
    "include-fragment",
    "invoke-dapr-binding",
    "ip-filter",
    "json-to-xml",
    "jsonp",
    "limit-concurrency",
    "log-to-eventhub",
    "mock-response",
    "proxy",
    "publish-to-dapr",
    "quota",
    "quota-by-key",
    "rate-limit",
    "rate-limit-by-key",
    "redirect-content-urls",
    "retry",
    "return-response",
    "rewrite-uri",
    "send-one-way-request",
    "send-request",
    "set-backend-service",
    "set-body",
    "set-header",
    "set-method",
    "set-query-parameter",
    "set-status",
    "set-variable",
    "trace",
    "validate-azure-ad-token",
    "validate-client-certificate",
    "validate-content",
    "validate-headers",
    "validate-jwt",
    "validate-odata-request",
    "validate-parameters",
    "validate-status-code",
    "wait",
    "xml-to-json",
    "xsl-transform",
];

/// The support table as Markdown: supported elements, then the refused ones.
fn markdown() -> String {
    let mut out = String::from(
        "| Element | Sections | Attributes | Notes, and where the stand-in differs from APIM |\n\
         |---|---|---|---|\n",
    );
    for e in SUPPORTED {
        let attributes = if e.attributes.is_empty() {
            "—".to_string()
        } else {
            e.attributes
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!(
            "| `{}` | {} | {attributes} | {} |\n",
            e.name,
            e.sections.join(", "),
            e.notes
        ));
    }
    let refused: Vec<String> = APIM_ELEMENTS
        .iter()
        .filter(|n| !SUPPORTED.iter().any(|e| e.name == **n))
        .map(|n| format!("`{n}`"))
        .collect();
    out.push_str(&format!(
        "\nRefused at startup (not implemented): {}.\n",
        refused.join(", ")
    ));
    out
}

/// The parser's error for one element (with one attribute) in one section.
fn parse_error(section: &str, element: &str, attribute: Option<&str>) -> String {
    let attr = attribute.map_or(String::new(), |a| format!(" {a}=\"1\""));
    let xml = format!("<policies><{section}><{element}{attr} /></{section}></policies>");
    let opts = LoadOptions {
        openid_config_url: Some("http://127.0.0.1:9/.well-known/openid-configuration".into()),
        ..LoadOptions::default()
    };
    match parse(&xml, "t.xml", &opts) {
        Ok(_) => String::new(),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn table_matches_the_parser() {
    for name in APIM_ELEMENTS {
        let listed = SUPPORTED.iter().find(|e| e.name == *name);
        for section in ALL {
            let refused_here = format!("element <{name}> in <{section}> is not supported");
            let err = parse_error(section, name, None);
            let accepted = !err.contains(&refused_here);
            let documented = listed.is_some_and(|e| e.sections.contains(section));
            assert_eq!(
                accepted,
                documented,
                "<{name}> in <{section}>: the parser {} it, the table {} ({err})",
                if accepted { "accepts" } else { "refuses" },
                if documented { "lists it" } else { "does not" }
            );
        }
    }
    for e in SUPPORTED {
        assert!(
            APIM_ELEMENTS.contains(&e.name),
            "{} is not an APIM element",
            e.name
        );
        let section = e.sections[0];
        for attribute in e.attributes.iter().chain(Some(&"gatebench-no-such")) {
            let err = parse_error(section, e.name, Some(attribute));
            let refused = err.contains(&format!("attribute `{attribute}` is not supported"));
            let documented = e.attributes.contains(attribute);
            assert_eq!(
                refused, !documented,
                "<{}> attribute {attribute}: ({err})",
                e.name
            );
        }
    }
}

#[test]
fn docs_table_is_this_table() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/gateway.md");
    let docs = std::fs::read_to_string(&path).unwrap();
    let begin = "<!-- policy-support begin: src/gateway/tests/policy_support.rs -->\n";
    let end = "<!-- policy-support end -->";
    let start = docs.find(begin).expect("begin marker in docs/gateway.md") + begin.len();
    let stop = docs.find(end).expect("end marker in docs/gateway.md");
    if docs[start..stop] == markdown() {
        return;
    }
    if std::env::var_os("GATEBENCH_BLESS").is_some() {
        let fresh = format!("{}{}{}", &docs[..start], markdown(), &docs[stop..]);
        std::fs::write(&path, fresh).unwrap();
        return;
    }
    panic!(
        "docs/gateway.md's policy table differs from src/gateway/tests/policy_support.rs; \
         rerun with GATEBENCH_BLESS=1 to rewrite it"
    );
}

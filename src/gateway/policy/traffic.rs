//! Parsing of the elements that decide whether and how a request reaches the backend:
//! `ip-filter`, `cors`, `limit-concurrency`, `retry`, `forward-request`, and the
//! telemetry no-ops `emit-metric` and `trace`.
//!
//! Owns their attributes, defaults and startup errors; the run-time side lives in
//! `gateway::traffic` and `gateway::cors`, the request flow in `gateway::pipeline`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use roxmltree::Node;

use super::{ForwardRequest, Parser, Step};
use crate::gateway::cors::Cors;
use crate::gateway::traffic::{ConcurrencyLimit, IpFilter, RetryDelays};

/// APIM's default `forward-request` timeout, in seconds (forward-request-policy.md).
pub const DEFAULT_FORWARD_TIMEOUT: u64 = 300;

impl<'a, 'i> Parser<'a, 'i> {
    /// `ip-filter action="allow|forbid"` with `address` and `address-range from to`.
    pub(super) fn ip_filter(&self, el: Node<'a, 'i>) -> anyhow::Result<Step> {
        self.attrs(el, &["action"])?;
        let allow = match self.req_attr(el, "action")?.as_str() {
            "allow" => true,
            "forbid" => false,
            _ => bail!(self.err(el, "`action` must be allow or forbid")),
        };
        let ip = |node: Node, text: &str| -> anyhow::Result<IpAddr> {
            text.trim().parse().map_err(|_| {
                anyhow::anyhow!(self.err(node, &format!("`{text}` is not an IP address")))
            })
        };
        let mut ranges = Vec::new();
        for child in self.children(el)? {
            match child.tag_name().name() {
                "address" => {
                    self.attrs(child, &[])?;
                    let a = ip(child, &self.text(child)?)?;
                    ranges.push((a, a));
                }
                "address-range" => {
                    self.attrs(child, &["from", "to"])?;
                    self.no_children(child)?;
                    let from = ip(child, &self.req_attr(child, "from")?)?;
                    let to = ip(child, &self.req_attr(child, "to")?)?;
                    if from.is_ipv4() != to.is_ipv4() || from > to {
                        bail!(self.err(child, "`from` must not be above `to` (same family)"));
                    }
                    ranges.push((from, to));
                }
                other => return Err(self.unsupported(child, &format!("<{other}> in <ip-filter>"))),
            }
        }
        if ranges.is_empty() {
            bail!(self.err(el, "needs at least one <address> or <address-range>"));
        }
        Ok(Step::IpFilter(IpFilter { allow, ranges }))
    }

    /// `cors` with its origin, method and header lists (cors-policy.md).
    pub(super) fn cors(&self, el: Node<'a, 'i>) -> anyhow::Result<Step> {
        self.attrs(el, &["allow-credentials", "terminate-unmatched-request"])?;
        let mut cors = Cors {
            allow_credentials: self.bool_attr(el, "allow-credentials", false)?,
            terminate_unmatched_request: self.bool_attr(el, "terminate-unmatched-request", true)?,
            origins: Vec::new(),
            methods: Vec::new(),
            preflight_max_age: None,
            headers: Vec::new(),
            expose_headers: Vec::new(),
        };
        for list in self.children(el)? {
            let (item, out) = match list.tag_name().name() {
                "allowed-origins" => ("origin", &mut cors.origins),
                "allowed-methods" => ("method", &mut cors.methods),
                "allowed-headers" => ("header", &mut cors.headers),
                "expose-headers" => ("header", &mut cors.expose_headers),
                other => return Err(self.unsupported(list, &format!("<{other}> in <cors>"))),
            };
            if item == "method" {
                self.attrs(list, &["preflight-result-max-age"])?;
                cors.preflight_max_age = self.num_attr(list, "preflight-result-max-age")?;
            } else {
                self.attrs(list, &[])?;
            }
            for child in self.children(list)? {
                if child.tag_name().name() != item {
                    return Err(
                        self.unsupported(child, &format!("this element (<{item}> expected)"))
                    );
                }
                self.attrs(child, &[])?;
                out.push(self.text(child)?);
            }
        }
        if cors.origins.is_empty() {
            bail!(self.err(el, "needs <allowed-origins> with at least one <origin>"));
        }
        if cors.allow_credentials && cors.origins.iter().any(|o| o == "*") {
            bail!(self.err(
                el,
                "allow-credentials=\"true\" cannot be used with the origin *"
            ));
        }
        Ok(Step::Cors(cors))
    }

    /// `limit-concurrency key max-count` around the policies it encloses.
    pub(super) fn limit_concurrency(
        &self,
        el: Node<'a, 'i>,
        section: &str,
    ) -> anyhow::Result<Step> {
        self.attrs(el, &["key", "max-count"])?;
        let key = self.text_of(el, "key", &self.req_attr(el, "key")?)?;
        let max = self
            .num_attr(el, "max-count")?
            .filter(|m| *m > 0)
            .ok_or_else(|| anyhow::anyhow!(self.err(el, "`max-count` (> 0) is required")))?;
        Ok(Step::LimitConcurrency {
            limit: Arc::new(ConcurrencyLimit::new(max)),
            key,
            steps: self.steps(el, section)?,
        })
    }

    /// `retry condition count interval [max-interval delta first-fast-retry]` around the
    /// policies it encloses.
    pub(super) fn retry(&self, el: Node<'a, 'i>, section: &str) -> anyhow::Result<Step> {
        self.attrs(
            el,
            &[
                "condition",
                "count",
                "interval",
                "max-interval",
                "delta",
                "first-fast-retry",
            ],
        )?;
        let condition = self
            .condition(el, "condition")?
            .ok_or_else(|| anyhow::anyhow!(self.err(el, "`condition` is required")))?;
        let count = self
            .num_attr(el, "count")?
            .filter(|c| (1..=50).contains(c))
            .ok_or_else(|| anyhow::anyhow!(self.err(el, "`count` (1..=50) is required")))?;
        let secs = |name| -> anyhow::Result<Option<Duration>> {
            Ok(self.num_attr(el, name)?.map(Duration::from_secs))
        };
        let interval = secs("interval")?
            .ok_or_else(|| anyhow::anyhow!(self.err(el, "`interval` is required")))?;
        let (max_interval, delta) = (secs("max-interval")?, secs("delta")?);
        if max_interval.is_some() && delta.is_none() {
            bail!(self.err(
                el,
                "`max-interval` needs `delta` (the exponential schedule)"
            ));
        }
        Ok(Step::Retry {
            condition,
            delays: RetryDelays {
                count: count as u32,
                interval,
                max_interval,
                delta,
                first_fast_retry: self.bool_attr(el, "first-fast-retry", false)?,
            },
            steps: self.steps(el, section)?,
        })
    }

    /// `forward-request` with the attributes the stand-in honours.
    pub(super) fn forward_request(&self, el: Node<'a, 'i>) -> anyhow::Result<Step> {
        self.attrs(
            el,
            &[
                "timeout",
                "buffer-request-body",
                "buffer-response",
                "fail-on-error-status-code",
                "follow-redirects",
            ],
        )?;
        self.no_children(el)?;
        if self.bool_attr(el, "follow-redirects", false)? {
            return Err(self.unsupported(el, "follow-redirects=\"true\""));
        }
        Ok(Step::ForwardRequest(ForwardRequest {
            timeout: Duration::from_secs(
                self.num_attr(el, "timeout")?
                    .unwrap_or(DEFAULT_FORWARD_TIMEOUT),
            ),
            buffer_request_body: self.bool_attr(el, "buffer-request-body", false)?,
            buffer_response: self.bool_attr(el, "buffer-response", true)?,
            fail_on_error_status_code: self.bool_attr(el, "fail-on-error-status-code", false)?,
        }))
    }

    /// `emit-metric` and `trace`: checked, then accepted as no-ops (the stand-in has no
    /// Application Insights or trace sink).
    pub(super) fn telemetry(&self, el: Node<'a, 'i>) -> anyhow::Result<Step> {
        let (attrs, children): (&[&str], &[&str]) = match el.tag_name().name() {
            "emit-metric" => (&["name", "namespace", "value"], &["dimension"]),
            _ => (&["source", "severity"], &["message", "metadata"]),
        };
        self.attrs(el, attrs)?;
        for child in self.children(el)? {
            let name = child.tag_name().name();
            if !children.contains(&name) {
                return Err(
                    self.unsupported(child, &format!("<{name}> in <{}>", el.tag_name().name()))
                );
            }
        }
        Ok(Step::Telemetry)
    }
}

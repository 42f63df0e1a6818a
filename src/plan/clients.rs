//! The identities of a gateway target that sends as several clients (`clients = [...]`
//! or `clients_from = "file.toml"`): each with its own subscription key and/or OAuth2
//! client credentials, and a label that results may show (never a key or secret).
//!
//! Owns the identity as plain data and the rule that spreads workers over identities;
//! sending with them is `client`'s job, counting per identity `record`'s.

use serde::Serialize;

use super::{OAuth2Config, TargetKind};
use crate::shared::Secret;

/// One identity of a gateway target with several.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayClient {
    /// What results call it: its `name`, else `client-N` (N from 1, in file order).
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_key: Option<Secret>,
    /// Its client-credentials grant (token URL and scope are the target's `oauth2`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Config>,
}

/// The label of the identity at `index` (from 0) that has no name: `client-1`, ….
pub fn default_label(index: usize) -> String {
    format!("client-{}", index + 1)
}

/// The labels of a target's identities, in identity order; empty when it has one.
pub fn labels(kind: &TargetKind) -> Vec<String> {
    match kind {
        TargetKind::Gateway(gw) => gw.clients.iter().map(|c| c.label.clone()).collect(),
        TargetKind::EmbeddedGateway(eg) => eg.clients.clone(),
        TargetKind::Embedded | TargetKind::S3(_) => Vec::new(),
    }
}

/// The identity (of `identities`) that worker `worker` sends as: round-robin, so
/// worker w is identity w mod n, the same in every run.
pub fn identity_of_worker(worker: usize, identities: usize) -> usize {
    worker % identities.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_are_spread_round_robin_over_identities() {
        let of = |n| {
            (0..10)
                .map(|w| identity_of_worker(w, n))
                .collect::<Vec<_>>()
        };
        assert_eq!(of(4), [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]);
        assert_eq!(of(3), [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(of(1), [0; 10]);
        // No identity list at all counts as one identity.
        assert_eq!(of(0), [0; 10]);
        // 64 workers over 4 identities: 16 each.
        let mut per = [0; 4];
        (0..64).for_each(|w| per[identity_of_worker(w, 4)] += 1);
        assert_eq!(per, [16; 4]);
    }

    #[test]
    fn unnamed_identities_are_numbered_from_one() {
        assert_eq!(default_label(0), "client-1");
        assert_eq!(default_label(3), "client-4");
    }
}

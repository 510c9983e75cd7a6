//! RPC message types shared by both sides of the peer surface. Only messages with a documented
//! meaning live here; the pairing messages are in [`crate::pairing`].

use serde::{Deserialize, Serialize};

/// A way to move archive parts (SPEC §6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// Streamed GETs of parts with a signed ticket.
    Http,
    /// A directory both platforms see.
    SharedFs,
    /// Parts through signed `/rpc/` calls, for small archives.
    RpcInline,
    /// A transport this version does not know (advertised by a newer peer); never chosen.
    #[serde(other)]
    Unknown,
}

/// One category of a peer's visible tree, as `describe` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteCategory {
    /// The category's id on the peer.
    pub id: i64,
    /// The parent's id, `None` at the top.
    pub parent: Option<i64>,
    /// Display name.
    pub name: String,
    /// The category's idnumber (may be empty).
    pub idnumber: String,
    /// Path of ids from the top, e.g. `/1/4/9`.
    pub path: String,
}

/// The answer to `describe` (SPEC §6.2): who the peer is and what it offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribeResponse {
    /// The peer's short name.
    pub name: String,
    /// The peer's role name (kept as text: the network page shows an unknown role as an error
    /// instead of failing the scan; parse it with `pf_domain::platform::PlatformRole`).
    pub role: String,
    /// The peer's software version.
    pub version: String,
    /// The peer's public base URL.
    pub url: String,
    /// Transports the peer accepts.
    pub transports: Vec<Transport>,
    /// The visible category tree, all levels.
    pub categories: Vec<RemoteCategory>,
}

impl DescribeResponse {
    /// The role, if it is one this version knows.
    pub fn parsed_role(&self) -> Option<pf_domain::platform::PlatformRole> {
        serde_json::from_value(serde_json::Value::String(self.role.clone())).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_round_trips_and_tolerates_unknown_roles_and_transports() {
        let json = serde_json::json!({
            "name": "catalog", "role": "catalog", "version": "0.1.0", "url": "https://catalog.example",
            "transports": ["http", "rpc-inline", "carrier-pigeon"],
            "categories": [{"id": 1, "parent": null, "name": "Top", "idnumber": "", "path": "/1"},
                           {"id": 4, "parent": 1, "name": "Maths", "idnumber": "MATHS", "path": "/1/4"}]
        });
        let d: DescribeResponse = serde_json::from_value(json).unwrap();
        assert_eq!(
            d.transports,
            [Transport::Http, Transport::RpcInline, Transport::Unknown]
        );
        assert_eq!(
            d.parsed_role(),
            Some(pf_domain::platform::PlatformRole::Catalog)
        );
        assert_eq!(d.categories[1].parent, Some(1));
        let back: DescribeResponse =
            serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
        let odd = DescribeResponse {
            role: "teapot".into(),
            ..d
        };
        assert_eq!(odd.parsed_role(), None);
        assert_eq!(
            serde_json::to_value(Transport::SharedFs).unwrap(),
            "shared-fs"
        );
    }
}

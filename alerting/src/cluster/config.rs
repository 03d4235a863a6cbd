//! `[cluster]`: how edge nodes share the cameras and how centers share the violations — validated
//! with every problem's key path.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sharpeyes_ingest::Problem;

/// `[cluster]`: how edge nodes share the cameras and how centers share the violations.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ClusterConfig {
    /// This node's name (default: `--node`, else `$SHARPEYES_NODE`, else the host name). It names the
    /// node's MQTT sessions, so keep it stable across restarts.
    pub node: Option<String>,
    /// The edge nodes that share the cameras (rendezvous hashing); empty: this node takes them all.
    #[serde(default)]
    pub edges: Vec<String>,
    /// Instead of `edges`: the replica count of the edge StatefulSet, whose pods are `<set>-0..N-1`
    /// (taken from this node's name).
    pub edge_replicas: Option<u32>,
    /// MQTT v5 share group of the centers: each violation goes to one center of the group.
    pub share_group: Option<String>,
    /// Where an edge node keeps violations the broker has not acknowledged (default `data_dir/spool`).
    pub spool_dir: Option<PathBuf>,
    /// Environment variable holding the key that edges sign violation messages with and centers
    /// check (HMAC-SHA256): a center then files nothing another broker client made up.
    pub relay_secret_env: Option<String>,
    /// Where the centers reach an edge's API (its cameras' frames and previews for the tuning view),
    /// `{node}` standing for the node's name: `"http://{node}.sharpeyes-edge:8080"`. Default:
    /// `http://` and `server.listen`, the node's name in place of an unspecified address.
    pub advertise_api: Option<String>,
}

impl ClusterConfig {
    /// The relay's signing key, from `relay_secret_env`.
    pub fn relay_key(&self) -> Option<Vec<u8>> {
        self.relay_secret_env.as_ref().and_then(|name| std::env::var(name).ok()).map(String::into_bytes)
    }
}

impl ClusterConfig {
    /// Every problem of `[cluster]`, by key path: node and group names fit for MQTT topics, one way of
    /// naming the edges, the relay key's variable set.
    pub fn validate(&self) -> Vec<Problem> {
        let cluster = self;
        let mut problems = Vec::new();
        let mut report = |path: String, message: String| problems.push(Problem { path, message });
        let name_ok = |name: &str| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        };
        if let Some(node) = &cluster.node
            && !name_ok(node)
        {
            report("cluster.node".into(), format!("'{node}': use letters, digits, '-', '_' or '.'"));
        }
        for (i, edge) in cluster.edges.iter().enumerate() {
            if !name_ok(edge) {
                report(format!("cluster.edges[{i}]"), format!("'{edge}': use letters, digits, '-', '_' or '.'"));
            } else if cluster.edges[..i].contains(edge) {
                report(format!("cluster.edges[{i}]"), format!("'{edge}' is listed twice"));
            }
        }
        if let Some(replicas) = cluster.edge_replicas {
            if replicas == 0 {
                report("cluster.edge_replicas".into(), "must be at least 1".into());
            }
            if !cluster.edges.is_empty() {
                report("cluster.edge_replicas".into(), "give either edges or edge_replicas, not both".into());
            }
        }
        if let Some(name) = &cluster.relay_secret_env
            && std::env::var(name).map_or(true, |value| value.is_empty())
        {
            report("cluster.relay_secret_env".into(), format!("environment variable {name} is not set"));
        }
        if let Some(template) = &cluster.advertise_api {
            match url::Url::parse(&template.replace("{node}", "node")) {
                Ok(url) if url.scheme() == "http" || url.scheme() == "https" => {}
                Ok(url) => report(
                    "cluster.advertise_api".into(),
                    format!("'{template}': use http or https, not {}", url.scheme()),
                ),
                Err(error) => report("cluster.advertise_api".into(), format!("'{template}' is no URL: {error}")),
            }
        }
        if let Some(group) = &cluster.share_group
            && !name_ok(group)
        {
            report("cluster.share_group".into(), format!("'{group}': use letters, digits, '-', '_' or '.'"));
        }
        problems
    }
}

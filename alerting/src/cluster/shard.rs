//! Which edge node analyses which camera: rendezvous (highest random weight) hashing. Every node
//! computes the same answer from the camera id and the node list alone, with no coordinator; each
//! camera has exactly one owner; when a node joins or leaves, only the cameras it wins or held move
//! (about 1/N of them), the rest stay where their decoder and tracker state already are.
//!
//! Written here rather than taken from a crate: it is one hash and one `max_by_key`, and the weight
//! must stay stable across versions and platforms (SHA-256 of `node \n camera`), which a general
//! hashing crate does not promise.

use sha2::{Digest, Sha256};

/// The node (of `nodes`) that owns `camera`; `None` when there are no nodes.
pub fn owner<'a>(camera: &str, nodes: &'a [String]) -> Option<&'a str> {
    nodes.iter().max_by_key(|node| (weight(node, camera), node.as_str())).map(String::as_str)
}

/// The items (cameras, sensors) of `items` that `node` owns among `nodes`, each named by `id`; every
/// item when `nodes` is empty (one node takes all).
pub fn share_of<'a, T>(node: &str, nodes: &[String], items: &'a [T], id: impl Fn(&T) -> &str) -> Vec<&'a T> {
    items.iter().filter(|item| nodes.is_empty() || owner(id(item), nodes) == Some(node)).collect()
}

/// The node list of a StatefulSet of `replicas` pods, given one pod's name (`<set>-<ordinal>`).
pub fn stateful_set_nodes(pod: &str, replicas: u32) -> Option<Vec<String>> {
    let (set, ordinal) = pod.rsplit_once('-')?;
    ordinal.parse::<u32>().ok().filter(|o| *o < replicas)?;
    Some((0..replicas).map(|i| format!("{set}-{i}")).collect())
}

fn weight(node: &str, camera: &str) -> u64 {
    let digest = Sha256::new().chain_update(node).chain_update(b"\n").chain_update(camera).finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn nodes(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("edge-{i}")).collect()
    }

    fn assignment(cameras: &[String], nodes: &[String]) -> HashMap<String, String> {
        cameras.iter().map(|c| (c.clone(), owner(c, nodes).unwrap().to_owned())).collect()
    }

    #[test]
    fn three_nodes_to_four_moves_about_a_quarter_and_leaves_none_uncovered() {
        let cameras: Vec<String> = (0..1000).map(|i| format!("cam-{i:04}")).collect();
        let (three, four) = (nodes(3), nodes(4));
        for set in [&three, &four] {
            // Exactly once: the per-node lists partition the cameras.
            let mut seen: Vec<&String> = set.iter().flat_map(|node| share_of(node, set, &cameras, |c| c)).collect();
            seen.sort();
            assert_eq!(seen.len(), cameras.len());
            seen.dedup();
            assert_eq!(seen.len(), cameras.len(), "no camera owned twice");
            for node in set.iter() {
                let share = share_of(node, set, &cameras, |c| c).len() as f64 / cameras.len() as f64;
                assert!((share - 1.0 / set.len() as f64).abs() < 0.06, "{node} owns {share:.3}");
            }
        }
        let (before, after) = (assignment(&cameras, &three), assignment(&cameras, &four));
        let moved: Vec<&String> = cameras.iter().filter(|c| before[*c] != after[*c]).collect();
        let share = moved.len() as f64 / cameras.len() as f64;
        assert!((0.19..=0.31).contains(&share), "moved {share:.3}");
        assert!(moved.iter().all(|c| after[*c] == "edge-3"), "a camera only moves to the new node");
        // And back: removing the node returns exactly its cameras.
        assert_eq!(assignment(&cameras, &three), before);
    }

    #[test]
    fn the_assignment_is_deterministic_and_whole() {
        let cameras: Vec<String> = (0..50).map(|i| format!("c{i}")).collect();
        assert_eq!(assignment(&cameras, &nodes(5)), assignment(&cameras, &nodes(5)));
        assert_eq!(owner("c1", &[]), None);
        assert_eq!(share_of("anyone", &[], &cameras, |c| c).len(), 50, "no node list: all cameras");
        assert!(share_of("edge-9", &nodes(3), &cameras, |c| c).is_empty(), "not a member: none");
    }

    #[test]
    fn stateful_set_pods_name_their_peers() {
        assert_eq!(
            stateful_set_nodes("sharpeyes-edge-1", 3).unwrap(),
            ["sharpeyes-edge-0", "sharpeyes-edge-1", "sharpeyes-edge-2"]
        );
        assert_eq!(stateful_set_nodes("sharpeyes-edge-3", 3), None, "ordinal past the replicas");
        assert_eq!(stateful_set_nodes("edge", 3), None);
    }
}

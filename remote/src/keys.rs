//! The key layout. Every key starts with `zeta/<node>`:
//!
//! | key | what | who declares it |
//! |---|---|---|
//! | `zeta/<node>` | liveliness token: the node is up | the node, while open |
//! | `zeta/<node>/<actor>/tell` | tells (publications) | subscriber: the exporting node |
//! | `zeta/<node>/<actor>/ask` | asks (queries) | queryable: the exporting node |
//! | `zeta/<node>/<actor>/info` | protocol, version, end (queries) | queryable: the exporting node |
//! | `zeta/<node>/<actor>/down` | the actor ended (one publication) | subscribers: the nodes that looked it up |

/// Whether `name` can be one chunk of a key.
pub(crate) fn valid(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '*', '$', '?', '#']) && name.trim() == name
}

pub(crate) fn node(node: &str) -> String {
    format!("zeta/{node}")
}

pub(crate) fn actor(node: &str, actor: &str, what: &str) -> String {
    format!("zeta/{node}/{actor}/{what}")
}

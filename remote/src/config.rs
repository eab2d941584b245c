//! [`NodeConfig`]: a node's name, how it meets the others, and its limits.

use std::time::Duration;

/// How a node takes part in the zenoh network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Connects to other peers directly (the default): no router needed.
    #[default]
    Peer,
    /// Connects to a zenoh router (or a peer) and goes through it.
    Client,
}

/// A node's configuration.
///
/// By default a node is a zenoh peer that listens nowhere, connects nowhere and does
/// not scout: give it an endpoint to [`listen`](NodeConfig::listen) on and the
/// endpoints of nodes to [`connect`](NodeConfig::connect) to (`tcp/127.0.0.1:7447`),
/// or turn on [`multicast_scouting`](NodeConfig::multicast_scouting) to find peers on
/// the local network. Tests and the examples keep scouting off: two nodes meet only
/// the nodes they are told of.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zeta_remote::NodeConfig;
///
/// let config = NodeConfig::new("market")
///     .listen("tcp/127.0.0.1:7447")
///     .outbound_capacity(4096)
///     .ask_timeout(Duration::from_secs(2));
/// assert_eq!(config.name(), "market");
/// ```
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub(crate) name: String,
    pub(crate) mode: Mode,
    pub(crate) listen: Vec<String>,
    pub(crate) connect: Vec<String>,
    pub(crate) multicast_scouting: bool,
    pub(crate) outbound_capacity: usize,
    pub(crate) ask_timeout: Duration,
    pub(crate) lookup_timeout: Duration,
}

impl NodeConfig {
    /// A node called `name`: unique in the network, and part of every key its actors
    /// are reached under (so no `/`, `*`, `$`, `?` or `#`).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            mode: Mode::Peer,
            listen: Vec::new(),
            connect: Vec::new(),
            multicast_scouting: false,
            outbound_capacity: 1024,
            ask_timeout: Duration::from_secs(10),
            lookup_timeout: Duration::from_secs(5),
        }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Peer (the default) or client.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Listens on `endpoint` (zenoh's form: `tcp/127.0.0.1:7447`).
    pub fn listen(mut self, endpoint: impl Into<String>) -> Self {
        self.listen.push(endpoint.into());
        self
    }

    /// Connects to `endpoint`, and keeps trying until it answers.
    pub fn connect(mut self, endpoint: impl Into<String>) -> Self {
        self.connect.push(endpoint.into());
        self
    }

    /// Finds peers by multicast on the local network (off by default).
    pub fn multicast_scouting(mut self, on: bool) -> Self {
        self.multicast_scouting = on;
        self
    }

    /// Messages (tells and asks) that may wait to be sent to one node: beyond it,
    /// sends are handed back with [`Undelivered::Full`](crate::Undelivered::Full).
    /// 1024 by default; at least 1.
    pub fn outbound_capacity(mut self, capacity: usize) -> Self {
        self.outbound_capacity = capacity;
        self
    }

    /// How long an ask waits for its answer before it resolves with
    /// [`RemoteError::Timeout`](crate::RemoteError::Timeout) (10 s by default).
    pub fn ask_timeout(mut self, timeout: Duration) -> Self {
        self.ask_timeout = timeout;
        self
    }

    /// How long [`Node::lookup`](crate::Node::lookup) waits for the actor's node to
    /// answer (5 s by default).
    pub fn lookup_timeout(mut self, timeout: Duration) -> Self {
        self.lookup_timeout = timeout;
        self
    }

    /// The zenoh configuration this makes.
    pub(crate) fn zenoh(&self) -> Result<zenoh::Config, String> {
        let mut config = zenoh::Config::default();
        let set = |config: &mut zenoh::Config, key: &str, value: serde_json::Value| {
            config
                .insert_json5(key, &value.to_string())
                .map_err(|error| format!("{key} = {value}: {error}"))
        };
        let mode = match self.mode {
            Mode::Peer => "peer",
            Mode::Client => "client",
        };
        set(&mut config, "mode", mode.into())?;
        set(&mut config, "listen/endpoints", self.listen.clone().into())?;
        set(
            &mut config,
            "connect/endpoints",
            self.connect.clone().into(),
        )?;
        set(
            &mut config,
            "scouting/multicast/enabled",
            self.multicast_scouting.into(),
        )?;
        Ok(config)
    }
}

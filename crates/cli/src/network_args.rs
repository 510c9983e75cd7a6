//! The network commands' arguments (`peer …`, `network …`, `keys …`), as `../shared/CLI.md`
//! "Network" defines them. PEER is the id `peer list` prints, or a unique peer name.

use clap::Subcommand;

/// `peer …`
#[derive(Debug, Subcommand)]
pub enum PeerCommand {
    /// Issue a one-time pairing code, valid one hour.
    Invite,
    /// Pair with the platform at URL using a code it issued.
    Add {
        /// The other platform's base URL.
        url: String,
        /// The code it issued.
        #[arg(long)]
        code: String,
    },
    /// List paired peers.
    List,
    /// Change a peer's grants or status.
    Set {
        /// The peer.
        peer: String,
        /// Grants, any of publish,deploy,retrofit,sessions ("" for none).
        #[arg(long)]
        grant: Option<String>,
        /// Accept its requests again.
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Refuse its requests (its data is kept).
        #[arg(long)]
        disable: bool,
    },
    /// Remove a peer (its courses, lineage and audit stay; its roaming accounts are disabled).
    Remove {
        /// The peer.
        peer: String,
    },
    /// The peer's synced category tree.
    Categories {
        /// The peer.
        peer: String,
    },
    /// Link a remote identity (USERNAME of PEER) to a local account, explicitly.
    Link {
        /// The peer.
        peer: String,
        /// The username on the peer.
        username: String,
        /// The local account.
        #[arg(long = "to")]
        local: String,
    },
}

/// `network …`
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Describe every active peer (or one) and keep its role and category tree.
    Scan {
        /// Only this peer.
        #[arg(long)]
        peer: Option<String>,
    },
}

/// `keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// This platform's key id and fingerprint.
    Show,
}

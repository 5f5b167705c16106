//! The sync protocol: signed changes, the binary wire format, and replicas that exchange
//! them in one round trip.

mod change;
mod replica;
pub mod wire;

pub use change::{Change, signing_key};
pub use replica::{
    Replica, SyncError, SyncOutcome, changes_len, choose_payload, snapshot_worth_pricing,
};
pub use wire::{DocKey, Payload, SyncRequest, SyncResponse, WireError};

//! The sync protocol: signed changes, the binary wire format, the rule deciding whether
//! changes may be applied ([`check_changes`], [`apply_changes`]), and replicas that exchange
//! them in one round trip.

mod accept;
mod admit;
pub mod audit;
mod change;
mod register;
mod replica;
pub mod wire;

pub use accept::{
    Applied, ChangeTarget, EMPTY_CHANGE, OVERLAPPING_CHANGE, UNKNOWN_OPERATION, apply_changes,
    apply_checked, check_changes,
};
pub use admit::{NOT_A_TASK, admit_changes, admit_op};
pub use change::{Change, signing_key};
pub use register::{
    REGISTRATION_DOMAIN, registration_message, sign_registration, verify_registration,
};
pub use replica::{
    Replica, SyncError, SyncOutcome, changes_len, choose_payload, snapshot_worth_pricing,
};
pub use wire::{DocKey, Payload, SyncRequest, SyncResponse, WireError};

//! taskforce's pure core, shared by the phones (through `bindings/`) and the server.
//!
//! Nothing in this crate does I/O: the directive model and importer, the unit catalogue, the
//! CRDT unit documents, the sync protocol and the progress rules are all pure functions of
//! their inputs, so a phone offline and the server compute exactly the same results.

pub mod cdr;
#[cfg(feature = "client")]
pub mod client;
pub mod directive;
pub mod doc;
pub mod progress;
#[cfg(feature = "store")]
pub mod store;
pub mod sync;

pub use directive::{
    Assignment, Catalogue, Clause, ClauseKind, Directive, DirectiveError, Role, Signer, Unit,
    UnitKind,
};

//! A change: consecutive operations of one device on one document, signed once.
//!
//! The signature (ed25519, 64 bytes) covers the document's fingerprint, the actor, the first
//! sequence number and the operations, so the server and any auditor can check who wrote
//! every operation, and a change cannot be replayed into another document.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::doc::{ActorId, Op};

const DOMAIN: &[u8] = b"taskforce/change/v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub actor: ActorId,
    /// Sequence number of the first operation; the others follow without gaps.
    pub start: u64,
    pub ops: Vec<Op>,
    /// ed25519 signature, as two halves (serde has no 64-byte arrays).
    pub signature: ([u8; 32], [u8; 32]),
}

/// What is signed: everything but the signature, bound to the document.
#[derive(Serialize)]
struct Signed<'a> {
    domain: &'a [u8],
    doc: u64,
    actor: ActorId,
    start: u64,
    ops: &'a [Op],
}

fn message(doc: u64, actor: ActorId, start: u64, ops: &[Op]) -> Vec<u8> {
    postcard::to_stdvec(&Signed {
        domain: DOMAIN,
        doc,
        actor,
        start,
        ops,
    })
    .unwrap_or_default()
}

impl Change {
    /// Seal operations into a change signed by the device's key. `doc` is the document's
    /// fingerprint ([`crate::doc::DocHeader::fingerprint`]).
    pub fn sign(doc: u64, actor: ActorId, start: u64, ops: Vec<Op>, key: &SigningKey) -> Self {
        let sig = key.sign(&message(doc, actor, start, &ops)).to_bytes();
        let mut halves = ([0u8; 32], [0u8; 32]);
        halves.0.copy_from_slice(&sig[..32]);
        halves.1.copy_from_slice(&sig[32..]);
        Self {
            actor,
            start,
            ops,
            signature: halves,
        }
    }

    pub fn verify(&self, doc: u64, key: &VerifyingKey) -> bool {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&self.signature.0);
        bytes[32..].copy_from_slice(&self.signature.1);
        let sig = Signature::from_bytes(&bytes);
        // Strict: no small-order key, no non-canonical signature (RFC 8032's malleable forms).
        key.verify_strict(&message(doc, self.actor, self.start, &self.ops), &sig)
            .is_ok()
    }

    /// A change without a signature, for tests of rules that do not look at signatures.
    #[cfg(test)]
    pub(crate) fn unsigned(actor: ActorId, start: u64, ops: Vec<Op>) -> Self {
        Self {
            actor,
            start,
            ops,
            signature: ([0; 32], [0; 32]),
        }
    }

    /// Sequence number of the last operation.
    pub fn end(&self) -> u64 {
        self.start + (self.ops.len() as u64).saturating_sub(1)
    }
}

/// A device key pair from 32 secret bytes (made on the device from the OS's randomness).
pub fn signing_key(secret: &[u8; 32]) -> SigningKey {
    SigningKey::from_bytes(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by reading (issue 18, point 11): with a small-order key (here the identity
    /// point) and the signature (R = identity, S = 0), `verify` accepts any message: a device
    /// registered with such a key could pass off anything as signed.
    #[test]
    fn a_small_order_key_verifies_nothing() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let Ok(key) = VerifyingKey::from_bytes(&identity) else {
            panic!("the identity point decodes");
        };
        let change = Change {
            actor: 7,
            start: 1,
            ops: Vec::new(),
            signature: (identity, [0u8; 32]),
        };
        assert!(!change.verify(42, &key));
    }

    #[test]
    fn an_honest_signature_verifies_and_binds_the_document() {
        let key = signing_key(&[9u8; 32]);
        let change = Change::sign(42, 7, 1, Vec::new(), &key);
        assert!(change.verify(42, &key.verifying_key()));
        assert!(!change.verify(43, &key.verifying_key()));
    }
}

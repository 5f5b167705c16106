//! Helpers shared by the core's integration tests.
#![allow(dead_code)]

use ed25519_dalek::SigningKey;
use taskforce_core::{
    directive::Role,
    doc::{BoundedDocument, DocHeader, HeaderTask, Op, OpId, UnitDocument},
    sync::{Change, SyncError, signing_key},
};

/// A server's lean copy (bodies shed from the start), fed every operation `made` actor by
/// actor, holds the same registers, confirmation states and urges as `doc`, the whole
/// document that took them as they came, once its bodies are shed too.
pub fn assert_lean_copy_equals(made: &[(OpId, Op)], doc: &UnitDocument) {
    let mut lean = BoundedDocument::new(UnitDocument::new(doc.header().clone()));
    lean.shed_bodies();
    let mut made: Vec<&(OpId, Op)> = made.iter().collect();
    made.sort_by_key(|(id, _)| (id.actor, id.seq));
    for (id, op) in made {
        let applied = lean.apply_ops(id.actor, id.seq, std::slice::from_ref(op));
        assert!(
            matches!(applied, Ok(1)),
            "{id} not applied to the lean copy: {applied:?}"
        );
    }
    let mut shed = BoundedDocument::new(doc.clone());
    shed.shed_bodies();
    assert!(lean == shed, "the lean copy differs from the document");
}

/// A header with `n` tasks (`C0` … `Cn-1`), led by the unit.
pub fn header(n: usize) -> DocHeader {
    DocHeader {
        directive: "5-ct-btttt".into(),
        unit: "cuc-vt".into(),
        tasks: (0..n)
            .map(|i| HeaderTask {
                clause: format!("C{i}"),
                role: Role::Lead,
            })
            .collect(),
    }
}

/// A device key made from its actor id (tests only; devices use the OS's randomness).
pub fn key(actor: u32) -> SigningKey {
    let mut secret = [7u8; 32];
    secret[..4].copy_from_slice(&actor.to_le_bytes());
    signing_key(&secret)
}

/// The server's check: each change is signed by its actor's key.
pub fn verify(fingerprint: u64) -> impl Fn(&Change) -> Result<(), SyncError> {
    move |c: &Change| {
        if c.verify(fingerprint, &key(c.actor).verifying_key()) {
            Ok(())
        } else {
            Err(SyncError::BadSignature {
                actor: c.actor,
                start: c.start,
            })
        }
    }
}

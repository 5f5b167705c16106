//! Helpers shared by the core's integration tests.
#![allow(dead_code)]

use ed25519_dalek::SigningKey;
use taskforce_core::{
    directive::Role,
    doc::{DocHeader, HeaderTask},
    sync::{Change, SyncError, signing_key},
};

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

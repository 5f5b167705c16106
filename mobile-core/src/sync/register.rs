//! Proof of possession at device registration: the device signs a challenge the server issued,
//! bound to the user, the public key and the device name, with the private key of the public
//! key it registers. The server checks it with [`verify_registration`] (strictly), the phone
//! makes it with [`sign_registration`]; both build the same bytes with
//! [`registration_message`].

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

/// Separates registration signatures from every other signature a device key makes (a
/// change's is over `taskforce/change/v1`, postcard-encoded): no registration message is a
/// change message, nor the reverse.
pub const REGISTRATION_DOMAIN: &[u8] = b"taskforce/device-registration/v1";

/// What a device signs to register `public_key` for `username`:
///
/// ```text
/// "taskforce/device-registration/v1"  32 bytes, then one 0 byte
/// challenge                           32 bytes, as the server issued them
/// len(username)                       8 bytes, big-endian, then the username's UTF-8
/// public_key                          32 bytes
/// len(device_name)                    8 bytes, big-endian, then the device name's UTF-8
/// ```
///
/// Every variable part carries its length, so no two different registrations make the same
/// bytes.
pub fn registration_message(
    challenge: &[u8; 32],
    username: &str,
    public_key: &[u8; 32],
    device_name: &str,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(
        REGISTRATION_DOMAIN.len() + 1 + 32 + 8 + username.len() + 32 + 8 + device_name.len(),
    );
    m.extend_from_slice(REGISTRATION_DOMAIN);
    m.push(0);
    m.extend_from_slice(challenge);
    m.extend_from_slice(&(username.len() as u64).to_be_bytes());
    m.extend_from_slice(username.as_bytes());
    m.extend_from_slice(public_key);
    m.extend_from_slice(&(device_name.len() as u64).to_be_bytes());
    m.extend_from_slice(device_name.as_bytes());
    m
}

/// The device's signature over [`registration_message`] for its own public key.
pub fn sign_registration(
    key: &SigningKey,
    challenge: &[u8; 32],
    username: &str,
    device_name: &str,
) -> [u8; 64] {
    let public_key = key.verifying_key().to_bytes();
    key.sign(&registration_message(
        challenge,
        username,
        &public_key,
        device_name,
    ))
    .to_bytes()
}

/// Whether `signature` was made by the private key of `public_key` over this registration.
/// Strict (no small-order key, no non-canonical signature), like changes' signatures.
pub fn verify_registration(
    public_key: &VerifyingKey,
    challenge: &[u8; 32],
    username: &str,
    device_name: &str,
    signature: &[u8; 64],
) -> bool {
    let message = registration_message(challenge, username, &public_key.to_bytes(), device_name);
    public_key
        .verify_strict(&message, &Signature::from_bytes(signature))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::signing_key;

    #[test]
    fn the_message_is_the_documented_layout() {
        let challenge = [0xc1; 32];
        let key = [0x4b; 32];
        let m = registration_message(&challenge, "cucvt.a", &key, "máy A");
        let mut expected = b"taskforce/device-registration/v1\0".to_vec();
        expected.extend_from_slice(&[0xc1; 32]);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7]);
        expected.extend_from_slice(b"cucvt.a");
        expected.extend_from_slice(&[0x4b; 32]);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 6]);
        expected.extend_from_slice("máy A".as_bytes());
        assert_eq!(m, expected);
    }

    /// Moving bytes from the username into the device name changes the message: the lengths
    /// keep the parts apart.
    #[test]
    fn the_parts_cannot_be_shifted_into_each_other() {
        let c = [1; 32];
        let k = [2; 32];
        assert_ne!(
            registration_message(&c, "ab", &k, "c"),
            registration_message(&c, "a", &k, "bc")
        );
    }

    #[test]
    fn a_signature_verifies_only_for_what_it_binds() {
        let key = signing_key(&[3; 32]);
        let public = key.verifying_key();
        let challenge = [5; 32];
        let sig = sign_registration(&key, &challenge, "cucvt.a", "phone");
        assert!(verify_registration(
            &public, &challenge, "cucvt.a", "phone", &sig
        ));
        assert!(!verify_registration(
            &public, &[6; 32], "cucvt.a", "phone", &sig
        ));
        assert!(!verify_registration(
            &public, &challenge, "cucvt.b", "phone", &sig
        ));
        assert!(!verify_registration(
            &public, &challenge, "cucvt.a", "other", &sig
        ));
        let other = signing_key(&[4; 32]).verifying_key();
        assert!(!verify_registration(
            &other, &challenge, "cucvt.a", "phone", &sig
        ));
    }
}

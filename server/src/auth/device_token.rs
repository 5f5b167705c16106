//! Device tokens (OWASP's "device cookie"): after a successful login the server gives the
//! client `1:<username>:<nonce>:<mac>`, the MAC an HMAC-SHA256 under a secret every replica
//! shares, over the username and a random nonce. A client that presents one for the name it
//! logs in with is a device that has signed in to that account before (the login limiter
//! lets it through an account's back-off, `limiter`).
//!
//! The secret: `login_secret` from the configuration, else a random one stored once in the
//! database's `settings` table by the first replica to start, which every other replica reads
//! (a secret made per process would make replicas refuse each other's tokens).

use ring::hmac;
use sea_orm::ConnectionTrait;

/// The `settings` row that holds the generated secret.
pub const SECRET_SETTING: &str = "login_secret";
/// The shortest configured secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 16;
/// The longest token looked at: `1:` + a 64-character name + the nonce and MAC.
const MAX_TOKEN_LEN: usize = 2 + 64 + 1 + 32 + 1 + 64;

/// A device token that checked out: its nonce (what its failures count under) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceToken {
    pub nonce: [u8; 16],
    pub text: String,
}

/// The key device tokens are signed with.
pub struct DeviceKey(Option<hmac::Key>);

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceKey(…)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceKeyError {
    #[error("login_secret must be at least {MIN_SECRET_LEN} bytes")]
    TooShort,
    #[error("no randomness for the login secret: {0}")]
    Random(getrandom::Error),
    #[error("the login secret in the database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn signed(username: &str, nonce: &str) -> String {
    format!("taskforce device token 1\n{username}\n{nonce}")
}

impl DeviceKey {
    pub fn from_secret(secret: &[u8]) -> Self {
        DeviceKey(Some(hmac::Key::new(hmac::HMAC_SHA256, secret)))
    }

    /// A key of this process only; without randomness, no key: no token is issued or accepted.
    pub fn random() -> Self {
        let mut secret = [0u8; 32];
        match getrandom::fill(&mut secret) {
            Ok(()) => Self::from_secret(&secret),
            Err(_) => DeviceKey(None),
        }
    }

    /// A new token naming `username` (normalised) with a fresh nonce.
    pub fn issue(&self, username: &str) -> Result<String, DeviceKeyError> {
        let key = self
            .0
            .as_ref()
            .ok_or(DeviceKeyError::Random(getrandom::Error::UNSUPPORTED))?;
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(DeviceKeyError::Random)?;
        let nonce = hex(&nonce);
        let mac = hmac::sign(key, signed(username, &nonce).as_bytes());
        Ok(format!("1:{username}:{nonce}:{}", hex(mac.as_ref())))
    }

    /// The token if it is one this key signed for `username` (normalised).
    pub fn verify(&self, text: &str, username: &str) -> Option<DeviceToken> {
        let key = self.0.as_ref()?;
        if text.len() > MAX_TOKEN_LEN {
            return None;
        }
        let mut parts = text.split(':');
        let (Some("1"), Some(name), Some(nonce_hex), Some(mac), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        if name != username {
            return None;
        }
        let nonce = unhex::<16>(nonce_hex)?;
        let mac = unhex::<32>(mac)?;
        hmac::verify(key, signed(name, nonce_hex).as_bytes(), &mac).ok()?;
        Some(DeviceToken {
            nonce,
            text: text.to_string(),
        })
    }
}

/// The key every replica signs with: `configured` (the `login_secret` setting) if given, else
/// the one in the database, made now if no replica has made it yet (the first insert wins;
/// everyone reads what was stored).
pub async fn shared_key(
    db: &impl ConnectionTrait,
    configured: Option<&str>,
) -> Result<DeviceKey, DeviceKeyError> {
    if let Some(secret) = configured {
        if secret.len() < MIN_SECRET_LEN {
            return Err(DeviceKeyError::TooShort);
        }
        return Ok(DeviceKey::from_secret(secret.as_bytes()));
    }
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(DeviceKeyError::Random)?;
    let stored = crate::db::shared_setting(db, SECRET_SETTING, || secret.to_vec()).await?;
    Ok(DeviceKey::from_secret(&stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_checks_out_for_its_user_and_key_only() {
        let key = DeviceKey::from_secret(b"a secret of sixteen+ bytes");
        let t = key.issue("cucvt.a").unwrap_or_else(|e| panic!("{e}"));
        assert!(key.verify(&t, "cucvt.a").is_some(), "{t}");
        assert!(key.verify(&t, "cucvt.b").is_none());
        let other = DeviceKey::from_secret(b"another secret, also long");
        assert!(other.verify(&t, "cucvt.a").is_none());
        let mut tampered = t.clone();
        let last = tampered
            .pop()
            .map_or('0', |c| if c == '0' { '1' } else { '0' });
        tampered.push(last);
        assert!(key.verify(&tampered, "cucvt.a").is_none());
        for junk in ["", "1", "1:cucvt.a", "2:cucvt.a:00:00", &format!("{t}:x")] {
            assert!(key.verify(junk, "cucvt.a").is_none(), "{junk}");
        }
        assert_ne!(key.issue("cucvt.a").ok(), Some(t), "a new nonce each time");
    }
}

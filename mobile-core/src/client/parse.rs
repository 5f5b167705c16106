//! Parsing helpers: text to values (dates, SHA-256 digests, the directive's clause index) and
//! base64 for the device key.

use std::collections::BTreeMap;

use super::{ClientError, ClientResult};

pub(super) fn clause_index(json: &serde_json::Value) -> BTreeMap<String, (Option<String>, String)> {
    fn walk(v: &serde_json::Value, out: &mut BTreeMap<String, (Option<String>, String)>) {
        for c in v.as_array().into_iter().flatten() {
            if let Some(id) = c["id"].as_str() {
                let heading = c["heading"].as_str().map(str::to_string);
                out.insert(
                    id.to_string(),
                    (heading, c["text"].as_str().unwrap_or_default().to_string()),
                );
            }
            walk(&c["children"], out);
        }
    }
    let mut out = BTreeMap::new();
    walk(&json["clauses"], &mut out);
    out
}

pub(super) fn parse_date(s: &str) -> ClientResult<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| ClientError::InvalidInput(format!("{s:?} is not a date (YYYY-MM-DD)")))
}

pub(super) fn parse_sha256(s: &str) -> ClientResult<[u8; 32]> {
    let bad = || ClientError::InvalidInput("sha256 is 64 hexadecimal digits".into());
    if s.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte =
            u8::from_str_radix(s.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

pub(super) fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

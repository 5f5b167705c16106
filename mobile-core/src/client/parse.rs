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
    // Digits only: `from_str_radix` would take a `+` sign too.
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_is_exactly_64_hexadecimal_digits() {
        let good = "00ff".repeat(16);
        let mut expected = [0u8; 32];
        for pair in expected.chunks_mut(2) {
            pair[1] = 0xff;
        }
        assert_eq!(parse_sha256(&good), Ok(expected));
        assert_eq!(parse_sha256(&good.to_uppercase()), Ok(expected));
        // Signs are not digits, though `from_str_radix` takes a leading `+`.
        for bad in [
            "+f".repeat(32),
            "0".repeat(63),
            "0".repeat(65),
            "g".repeat(64),
        ] {
            assert_eq!(
                parse_sha256(&bad),
                Err(ClientError::InvalidInput(
                    "sha256 is 64 hexadecimal digits".into()
                )),
                "{bad}"
            );
        }
        // 64 bytes, but not 64 digits: no slicing inside a character.
        let wide = format!("é{}", "0".repeat(62));
        assert!(parse_sha256(&wide).is_err());
    }

    #[test]
    fn a_date_that_does_not_read_says_what_a_date_looks_like() {
        assert_eq!(
            parse_date("2020-02-15").map(|d| d.to_string()),
            Ok("2020-02-15".to_string())
        );
        for bad in ["15/02/2020", "2020-02-30", "", "ngày mai"] {
            assert_eq!(
                parse_date(bad),
                Err(ClientError::InvalidInput(format!(
                    "{bad:?} is not a date (YYYY-MM-DD)"
                ))),
            );
        }
    }
}

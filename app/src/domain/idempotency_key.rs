//! The `Idempotency-Key` of `POST /orders`, validated: what a client names one order with so
//! that a retry cannot buy twice (the semantics are `db::idempotency`'s and docs/service.md's).

use contract::orders::{IDEMPOTENCY_KEY_HEADER, MAX_IDEMPOTENCY_KEY_CHARS};

use super::validation::{ValidationError, Validator};

/// 1 to [`MAX_IDEMPOTENCY_KEY_CHARS`] visible ASCII characters (0x21-0x7E): what every
/// database compares byte for byte, and what a client can send in a header unchanged (no
/// spaces a proxy might fold or trim, no encodings to agree on). A UUID fits; so does
/// `fault-<run>-<customer>-<n>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key from every value the request sent for it: `None` when it sent none; a
    /// [`ValidationError`] naming the header when a value is not a valid key, or when it
    /// sent more than one (which one the client meant is a guess).
    pub fn from_values<'a>(
        values: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Option<Self>, ValidationError> {
        let mut values = values.into_iter();
        let Some(raw) = values.next() else {
            return Ok(None);
        };
        let mut v = Validator::default();
        if values.next().is_some() {
            v.reject(IDEMPOTENCY_KEY_HEADER, "must be sent at most once");
            return Err(v.into_error());
        }
        match problem(raw) {
            None => Ok(Some(Self(raw.iter().copied().map(char::from).collect()))),
            Some(problem) => {
                v.reject(IDEMPOTENCY_KEY_HEADER, problem);
                Err(v.into_error())
            }
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What is wrong with a raw key, if anything.
fn problem(raw: &[u8]) -> Option<String> {
    if raw.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if raw.len() > MAX_IDEMPOTENCY_KEY_CHARS {
        return Some(format!(
            "must be at most {MAX_IDEMPOTENCY_KEY_CHARS} characters"
        ));
    }
    if !raw.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Some(
            "must be visible ASCII characters only (0x21-0x7E: no spaces, control characters \
             or non-ASCII)"
                .to_owned(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(values: &[&[u8]]) -> Result<Option<IdempotencyKey>, ValidationError> {
        IdempotencyKey::from_values(values.iter().copied())
    }

    #[test]
    fn a_key_is_1_to_255_visible_ascii_characters_sent_once() {
        assert_eq!(key(&[]), Ok(None));
        let uuid = b"0b7c4a5e-3f1d-4a8e-9c2b-7d6e5f4a3b2c";
        assert_eq!(
            key(&[uuid]).unwrap().unwrap().as_str(),
            "0b7c4a5e-3f1d-4a8e-9c2b-7d6e5f4a3b2c"
        );
        assert!(key(&[b"!~"]).unwrap().is_some(), "both ends of the range");
        assert!(key(&[&[b'k'; 255]]).unwrap().is_some());
        let bad: [&[u8]; 7] = [
            b"",
            &[b'k'; 256],
            b"a b",
            b"a\tb",
            b"a\x7fb",
            b"a\x01b",
            "clé".as_bytes(),
        ];
        for raw in bad {
            let err = key(&[raw]).unwrap_err();
            assert_eq!(
                err.fields().keys().collect::<Vec<_>>(),
                ["Idempotency-Key"],
                "{raw:?}"
            );
        }
        let twice = key(&[b"a", b"a"]).unwrap_err();
        assert_eq!(
            twice.fields()["Idempotency-Key"],
            "must be sent at most once"
        );
    }
}

//! A customer's fields: the body of `POST /customers` and `PUT /customers/{id}`, validated.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::validation::{ValidationError, Validator};

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_EMAIL_CHARS: usize = 254;

/// Body of `POST /customers` and `PUT /customers/{id}`. Unknown fields are rejected (422).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    /// 1 to 200 characters, stored as sent.
    #[schema(value_type = String, required = true, example = "Lea Santos", min_length = 1, max_length = 200)]
    pub name: Option<Value>,
    /// A plausible address, at most 254 characters; stored lower-cased and unique.
    #[schema(value_type = String, required = true, example = "lea@example.com", min_length = 3, max_length = 254)]
    pub email: Option<Value>,
}

/// A plausible email address (`local@domain.tld`, no spaces), lower-cased so that uniqueness
/// ignores case on every backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// The address, trimmed and lower-cased; `Err` says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim();
        if email.chars().count() > MAX_EMAIL_CHARS {
            return Err(format!("must be at most {MAX_EMAIL_CHARS} characters"));
        }
        let plausible = match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
                    && !email.chars().any(|c| c.is_whitespace() || c == '\0')
            }
            None => false,
        };
        if !plausible {
            return Err("must be an email address such as name@example.com".to_owned());
        }
        Ok(Self(email.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated name and email (create and full replace).
#[derive(Debug, Clone)]
pub struct CustomerFields {
    name: String,
    email: Email,
}

impl CustomerFields {
    /// 1 to [`MAX_NAME_CHARS`] characters, not blank, exactly as sent.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn email(&self) -> &Email {
        &self.email
    }
}

impl TryFrom<CustomerInput> for CustomerFields {
    type Error = ValidationError;

    /// Validates every field, naming each one that is wrong.
    fn try_from(input: CustomerInput) -> Result<Self, ValidationError> {
        let mut v = Validator::default();
        let name = v.text("name", input.name, MAX_NAME_CHARS);
        let email =
            v.text("email", input.email, MAX_EMAIL_CHARS)
                .and_then(|raw| match Email::parse(&raw) {
                    Ok(email) => Some(email),
                    Err(problem) => {
                        v.reject("email", problem);
                        None
                    }
                });
        match (name, email) {
            (Some(name), Some(email)) if v.is_empty() => Ok(Self { name, email }),
            _ => Err(v.into_error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(body: Value) -> CustomerInput {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let fields = CustomerFields::try_from(input(
            json!({"name": " Lea ", "email": " Lea@Example.COM "}),
        ))
        .unwrap();
        assert_eq!(fields.name(), " Lea ", "names are stored as sent");
        assert_eq!(fields.email().as_str(), "lea@example.com");
    }

    #[test]
    fn implausible_emails_are_rejected() {
        for bad in [
            "lea",
            "@example.com",
            "lea@example",
            "lea@.example.com",
            "lea@example.com.",
            "lea@ex@ample.com",
            "le a@example.com",
            "lea@exa\0mple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(MAX_EMAIL_CHARS));
        assert!(Email::parse(&long).is_err());
        assert!(Email::parse("a@b.c").is_ok());
    }

    #[test]
    fn every_bad_field_is_named_once() {
        let err =
            CustomerFields::try_from(input(json!({"name": "  ", "email": "nope"}))).unwrap_err();
        assert_eq!(err.fields()["name"], "must not be blank");
        assert_eq!(
            err.fields()["email"],
            "must be an email address such as name@example.com"
        );
        let err = CustomerFields::try_from(input(json!({}))).unwrap_err();
        let fields: Vec<&str> = err.fields().keys().map(String::as_str).collect();
        assert_eq!(fields, ["email", "name"]);
        assert!(err.fields().values().all(|p| p == "is required"));
    }
}

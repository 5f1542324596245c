//! Field-by-field validation that reports every problem at once.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;

use serde_json::Value;

/// Input that could not be accepted: each offending field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    fields: BTreeMap<String, String>,
}

impl ValidationError {
    /// Field name to problem, sorted by field name.
    pub fn fields(&self) -> &BTreeMap<String, String> {
        &self.fields
    }

    pub fn into_fields(self) -> BTreeMap<String, String> {
        self.fields
    }

    /// One error naming the fields of both (a body and a header checked apart).
    pub fn merge(mut self, other: ValidationError) -> Self {
        for (field, problem) in other.fields {
            self.fields.entry(field).or_insert(problem);
        }
        self
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.fields.keys().map(String::as_str).collect();
        write!(f, "invalid value for: {}", names.join(", "))
    }
}

impl std::error::Error for ValidationError {}

/// Collects field problems so that one error names every offending field. Each parser returns
/// `None` after recording why; the caller builds its value only when every part is `Some`.
#[derive(Debug, Default)]
pub(crate) struct Validator {
    problems: BTreeMap<String, String>,
}

impl Validator {
    fn fail(&mut self, field: &str, problem: impl Into<String>) {
        self.problems
            .entry(field.to_owned())
            .or_insert_with(|| problem.into());
    }

    /// A required JSON string of 1..=`max_chars` characters, not blank, without NUL bytes.
    /// Stored exactly as sent (quotes, SQL-looking text and all).
    pub fn text(&mut self, field: &str, value: Option<Value>, max_chars: usize) -> Option<String> {
        let text = match value {
            Some(Value::String(text)) => text,
            None | Some(Value::Null) => {
                self.fail(field, "is required");
                return None;
            }
            Some(_) => {
                self.fail(field, "must be a string");
                return None;
            }
        };
        if text.trim().is_empty() {
            self.fail(field, "must not be blank");
            return None;
        }
        if text.chars().count() > max_chars {
            self.fail(field, format!("must be at most {max_chars} characters"));
            return None;
        }
        if text.contains('\0') {
            self.fail(field, "must not contain NUL characters");
            return None;
        }
        Some(text)
    }

    /// A required JSON integer within `range` (floats, strings and huge numbers are rejected).
    pub fn int(
        &mut self,
        field: &str,
        value: Option<Value>,
        range: RangeInclusive<i64>,
    ) -> Option<i64> {
        let problem = format!(
            "must be an integer from {} to {}",
            range.start(),
            range.end()
        );
        match value {
            None | Some(Value::Null) => {
                self.fail(field, "is required");
                None
            }
            Some(Value::Number(n)) => match n.as_i64().filter(|n| range.contains(n)) {
                Some(n) => Some(n),
                None => {
                    self.fail(field, problem);
                    None
                }
            },
            Some(_) => {
                self.fail(field, problem);
                None
            }
        }
    }

    /// An integer query parameter within `range`.
    pub fn query_int(&mut self, field: &str, raw: &str, range: RangeInclusive<i64>) -> Option<i64> {
        match raw.trim().parse::<i64>().ok().filter(|n| range.contains(n)) {
            Some(n) => Some(n),
            None => {
                self.fail(
                    field,
                    format!(
                        "must be an integer from {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    /// A boolean query parameter (`true`/`false`, `1`/`0`).
    pub fn query_bool(&mut self, field: &str, raw: &str) -> Option<bool> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => {
                self.fail(field, "must be true or false");
                None
            }
        }
    }

    /// A text query parameter of 1..=`max_chars` characters, lower-cased for matching.
    pub fn query_text(&mut self, field: &str, raw: &str, max_chars: usize) -> Option<String> {
        if raw.is_empty() || raw.chars().count() > max_chars || raw.contains('\0') {
            self.fail(field, format!("must be 1 to {max_chars} characters"));
            return None;
        }
        Some(raw.to_lowercase())
    }

    /// Records a problem found by a cross-field rule.
    pub fn reject(&mut self, field: &str, problem: impl Into<String>) {
        self.fail(field, problem);
    }

    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// The error naming every problem recorded.
    pub fn into_error(self) -> ValidationError {
        ValidationError {
            fields: self.problems,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let mut v = Validator::default();
        assert_eq!(v.text("title", Some(json!("")), 10), None);
        assert_eq!(v.text("artist", Some(json!(5)), 10), None);
        assert_eq!(v.int("year", Some(json!(1.5)), 0..=10), None);
        assert_eq!(v.int("stock", Some(json!(1e300)), 0..=10), None);
        assert_eq!(v.int("price", None, 0..=10), None);
        let err = v.into_error();
        let fields: Vec<&str> = err.fields().keys().map(String::as_str).collect();
        assert_eq!(fields, ["artist", "price", "stock", "title", "year"]);
    }

    #[test]
    fn text_is_kept_verbatim() {
        let mut v = Validator::default();
        let sql = "Robert'); DROP TABLE disks;--";
        assert_eq!(v.text("title", Some(json!(sql)), 100).as_deref(), Some(sql));
        assert!(v.is_empty());
    }

    #[test]
    fn the_first_problem_of_a_field_is_the_one_reported() {
        let mut v = Validator::default();
        assert_eq!(v.query_int("limit", "x", 1..=100), None);
        v.reject("limit", "a later problem");
        assert_eq!(
            v.into_error().fields()["limit"],
            "must be an integer from 1 to 100"
        );
    }
}

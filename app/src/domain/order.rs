//! An order request: the body of `POST /orders`, validated.

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::validation::{ValidationError, Validator};

/// Most units one order may take.
pub const MAX_QUANTITY: i64 = 100;

/// Body of `POST /orders`. Unknown fields are rejected (422).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    #[schema(value_type = i64, required = true, example = 1, minimum = 1)]
    pub customer_id: Option<Value>,
    #[schema(value_type = i64, required = true, example = 1, minimum = 1)]
    pub disk_id: Option<Value>,
    /// Units to buy, 1 to 100.
    #[schema(value_type = i32, required = true, example = 2, minimum = 1, maximum = 100)]
    pub quantity: Option<Value>,
}

/// A validated order request: positive ids and 1 to [`MAX_QUANTITY`] units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewOrder {
    customer_id: i64,
    disk_id: i64,
    quantity: i32,
}

impl NewOrder {
    pub fn customer_id(&self) -> i64 {
        self.customer_id
    }

    pub fn disk_id(&self) -> i64 {
        self.disk_id
    }

    pub fn quantity(&self) -> i32 {
        self.quantity
    }
}

impl TryFrom<OrderInput> for NewOrder {
    type Error = ValidationError;

    /// Validates every field, naming each one that is wrong.
    fn try_from(input: OrderInput) -> Result<Self, ValidationError> {
        let mut v = Validator::default();
        let customer_id = v.int("customer_id", input.customer_id, 1..=i64::MAX);
        let disk_id = v.int("disk_id", input.disk_id, 1..=i64::MAX);
        let quantity = v
            .int("quantity", input.quantity, 1..=MAX_QUANTITY)
            .and_then(|q| i32::try_from(q).ok());
        match (customer_id, disk_id, quantity) {
            (Some(customer_id), Some(disk_id), Some(quantity)) if v.is_empty() => Ok(Self {
                customer_id,
                disk_id,
                quantity,
            }),
            _ => Err(v.into_error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(body: Value) -> OrderInput {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn quantity_is_bounded_and_ids_are_positive() {
        let order = NewOrder::try_from(input(
            json!({"customer_id": 1, "disk_id": 2, "quantity": 100}),
        ))
        .unwrap();
        assert_eq!(
            (order.customer_id(), order.disk_id(), order.quantity()),
            (1, 2, 100)
        );
        let err = NewOrder::try_from(input(
            json!({"customer_id": 0, "disk_id": "2", "quantity": 101}),
        ))
        .unwrap_err();
        assert_eq!(
            err.fields().keys().map(String::as_str).collect::<Vec<_>>(),
            ["customer_id", "disk_id", "quantity"]
        );
        assert_eq!(err.fields()["quantity"], "must be an integer from 1 to 100");
    }
}

//! `/disks`: create, search, read, replace and delete disks for sale.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use sqlx::error::ErrorKind;
use utoipa::{IntoParams, ToSchema};

use super::{created, JsonObject, Page, Paged, Validator};
use crate::db::disks::{Disk, DiskFields, DiskFilter};
use crate::db::{self, Db};
use crate::error::{ApiError, ErrorBody};

/// Body of `POST /disks` and `PUT /disks/{id}` (a full replacement). Unknown fields are
/// rejected (422).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiskInput {
    /// 1 to 200 characters.
    #[schema(value_type = String, required = true, example = "Kind of Blue", min_length = 1, max_length = 200)]
    pub title: Option<Value>,
    /// 1 to 200 characters.
    #[schema(value_type = String, required = true, example = "Miles Davis", min_length = 1, max_length = 200)]
    pub artist: Option<Value>,
    /// 1 to 50 characters.
    #[schema(value_type = String, required = true, example = "jazz", min_length = 1, max_length = 50)]
    pub genre: Option<Value>,
    /// 1850 to 2100.
    #[schema(value_type = i32, required = true, example = 1959, minimum = 1850, maximum = 2100)]
    pub year: Option<Value>,
    /// Integer cents, 0 to 100,000,000.
    #[schema(value_type = i64, required = true, example = 2990, minimum = 0, maximum = 100_000_000)]
    pub price_cents: Option<Value>,
    /// Units in stock, 0 to 1,000,000,000.
    #[schema(value_type = i64, required = true, example = 12, minimum = 0, maximum = 1_000_000_000)]
    pub stock: Option<Value>,
}

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_ARTIST_CHARS: usize = 200;
pub const MAX_GENRE_CHARS: usize = 50;
pub const YEARS: std::ops::RangeInclusive<i64> = 1850..=2100;
pub const MAX_PRICE_CENTS: i64 = 100_000_000;
pub const MAX_STOCK: i64 = 1_000_000_000;

impl DiskFields {
    /// Validates every field, naming each one that is wrong.
    pub fn parse(input: DiskInput) -> Result<Self, ApiError> {
        let mut v = Validator::default();
        let title = v.text("title", input.title, MAX_TITLE_CHARS);
        let artist = v.text("artist", input.artist, MAX_ARTIST_CHARS);
        let genre = v.text("genre", input.genre, MAX_GENRE_CHARS);
        let year = v
            .int("year", input.year, YEARS)
            .and_then(|y| i32::try_from(y).ok());
        let price_cents = v.int("price_cents", input.price_cents, 0..=MAX_PRICE_CENTS);
        let stock = v.int("stock", input.stock, 0..=MAX_STOCK);
        match (title, artist, genre, year, price_cents, stock) {
            (
                Some(title),
                Some(artist),
                Some(genre),
                Some(year),
                Some(price_cents),
                Some(stock),
            ) if v.is_empty() => Ok(Self {
                title,
                artist,
                genre,
                year,
                price_cents,
                stock,
            }),
            _ => Err(v.into_error()),
        }
    }
}

/// `GET /disks` query string as received. Unknown parameters are rejected (422).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiskQuery {
    /// Case-insensitive substring of the artist.
    pub artist: Option<String>,
    /// Case-insensitive substring of the title.
    pub title: Option<String>,
    /// Genre, case-insensitive exact match.
    pub genre: Option<String>,
    /// Lowest price in cents (inclusive).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub min_price_cents: Option<String>,
    /// Highest price in cents (inclusive).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub max_price_cents: Option<String>,
    /// `true`: only disks with stock; `false`: only sold-out disks.
    #[param(value_type = Option<bool>)]
    pub in_stock: Option<String>,
    /// Items per page, 1 to 100 (default 20). Out of range is a 422, not a clamp.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// Items to skip (default 0).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub offset: Option<String>,
}

impl DiskQuery {
    /// Validates every parameter, naming each one that is wrong.
    fn parse(&self) -> Result<(DiskFilter, Page), ApiError> {
        let mut v = Validator::default();
        let page = Page::parse(self.limit.as_deref(), self.offset.as_deref(), &mut v);
        let text = |v: &mut Validator, field, raw: &Option<String>, max| match raw {
            None => Some(None),
            Some(raw) => v.query_text(field, raw, max).map(Some),
        };
        let price = |v: &mut Validator, field, raw: &Option<String>| match raw {
            None => Some(None),
            Some(raw) => v.query_int(field, raw, 0..=MAX_PRICE_CENTS).map(Some),
        };
        let artist = text(&mut v, "artist", &self.artist, MAX_ARTIST_CHARS);
        let title = text(&mut v, "title", &self.title, MAX_TITLE_CHARS);
        let genre = text(&mut v, "genre", &self.genre, MAX_GENRE_CHARS);
        let min_price_cents = price(&mut v, "min_price_cents", &self.min_price_cents);
        let max_price_cents = price(&mut v, "max_price_cents", &self.max_price_cents);
        let in_stock = match &self.in_stock {
            None => Some(None),
            Some(raw) => v.query_bool("in_stock", raw).map(Some),
        };
        if let (Some(Some(min)), Some(Some(max))) = (min_price_cents, max_price_cents) {
            if min > max {
                v.reject("min_price_cents", "must not exceed max_price_cents");
            }
        }
        match (
            page,
            artist,
            title,
            genre,
            min_price_cents,
            max_price_cents,
            in_stock,
        ) {
            (
                Some(page),
                Some(artist),
                Some(title),
                Some(genre),
                Some(min_price_cents),
                Some(max_price_cents),
                Some(in_stock),
            ) if v.is_empty() => Ok((
                DiskFilter {
                    artist,
                    title,
                    genre,
                    min_price_cents,
                    max_price_cents,
                    in_stock,
                },
                page,
            )),
            _ => Err(v.into_error()),
        }
    }
}

/// Add a disk for sale.
#[utoipa::path(post, path = "/disks", tag = "disks",
    request_body = DiskInput,
    responses(
        (status = 201, description = "Created", body = Disk),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid or unknown fields", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn create(
    db: web::Data<Db>,
    body: JsonObject<DiskInput>,
) -> Result<HttpResponse, ApiError> {
    let fields = DiskFields::parse(body.into_inner().0)?;
    let disk = db
        .insert_disk(fields)
        .await
        .map_err(|err| db::failure("creating a disk", err))?;
    Ok(created(format!("/disks/{}", disk.id), &disk))
}

/// Search disks, a page at a time, by id.
#[utoipa::path(get, path = "/disks", tag = "disks",
    params(DiskQuery),
    responses(
        (status = 200, description = "One page", body = Paged<Disk>),
        (status = 422, description = "Bad filter, `limit` or `offset`, or unknown parameter", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn list(
    db: web::Data<Db>,
    query: web::Query<DiskQuery>,
) -> Result<HttpResponse, ApiError> {
    let (filter, page) = query.parse()?;
    let (items, total) = db
        .list_disks(&filter, page.limit, page.offset)
        .await
        .map_err(|err| db::failure("listing disks", err))?;
    Ok(HttpResponse::Ok().json(Paged::new(items, page, total)))
}

/// Read one disk.
#[utoipa::path(get, path = "/disks/{id}", tag = "disks",
    params(("id" = i64, Path, description = "Disk id")),
    responses(
        (status = 200, description = "The disk", body = Disk),
        (status = 404, description = "No such disk", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn get(db: web::Data<Db>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let disk = db
        .find_disk(id)
        .await
        .map_err(|err| db::failure("reading a disk", err))?
        .ok_or_else(|| ApiError::not_found("disk", id))?;
    Ok(HttpResponse::Ok().json(disk))
}

/// Replace every field of a disk (stock included).
#[utoipa::path(put, path = "/disks/{id}", tag = "disks",
    params(("id" = i64, Path, description = "Disk id")),
    request_body = DiskInput,
    responses(
        (status = 200, description = "The updated disk", body = Disk),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such disk", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid or unknown fields", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn replace(
    db: web::Data<Db>,
    id: web::Path<i64>,
    body: JsonObject<DiskInput>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let fields = DiskFields::parse(body.into_inner().0)?;
    let disk = db
        .update_disk(id, fields)
        .await
        .map_err(|err| db::failure("updating a disk", err))?
        .ok_or_else(|| ApiError::not_found("disk", id))?;
    Ok(HttpResponse::Ok().json(disk))
}

/// Delete a disk that has no orders.
#[utoipa::path(delete, path = "/disks/{id}", tag = "disks",
    params(("id" = i64, Path, description = "Disk id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such disk", body = ErrorBody),
        (status = 409, description = "`has_orders`: the disk has orders", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn delete(db: web::Data<Db>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let deleted = db
        .delete_disk(id)
        .await
        .map_err(|err| match db::violation(&err) {
            Some(ErrorKind::ForeignKeyViolation) => ApiError::conflict(
                "has_orders",
                format!("disk {id} has orders and cannot be deleted"),
            ),
            _ => db::failure("deleting a disk", err),
        })?;
    if !deleted {
        return Err(ApiError::not_found("disk", id));
    }
    Ok(HttpResponse::NoContent().finish())
}

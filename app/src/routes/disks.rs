//! `/disks`: create, search, read, replace and delete disks for sale.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use sqlx::error::ErrorKind;
use utoipa::ToSchema;

use super::body::{created, DatabaseUnavailable, JsonBodyRejected, JsonObject, Paged};
use crate::db::rows::DiskRow;
use crate::db::Db;
use crate::domain::{DiskFields, DiskInput, DiskQuery, DiskSearch};
use crate::error::{ApiError, DbContext, ErrorBody, OnViolation};

/// A disk for sale.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Disk {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = "Kind of Blue")]
    pub title: String,
    #[schema(example = "Miles Davis")]
    pub artist: String,
    #[schema(example = "jazz")]
    pub genre: String,
    #[schema(example = 1959)]
    pub year: i32,
    /// Price in integer cents (never a float).
    #[schema(example = 2990)]
    pub price_cents: i64,
    /// Units in stock; never negative.
    #[schema(example = 12)]
    pub stock: i64,
}

impl From<DiskRow> for Disk {
    fn from(row: DiskRow) -> Self {
        Self {
            id: row.id,
            title: row.title,
            artist: row.artist,
            genre: row.genre,
            year: row.year,
            price_cents: row.price_cents,
            stock: row.stock,
        }
    }
}

/// Add a disk for sale.
#[utoipa::path(post, path = "/disks", tag = "disks",
    request_body = DiskInput,
    responses(
        JsonBodyRejected,
        DatabaseUnavailable,
        (status = 201, description = "Created", body = Disk),
        (status = 422, description = "Invalid or unknown fields", body = ErrorBody),
    ))]
pub async fn create(
    db: web::Data<Db>,
    body: JsonObject<DiskInput>,
) -> Result<HttpResponse, ApiError> {
    let fields = DiskFields::try_from(body.into_inner().0)?;
    let disk: Disk = db
        .insert_disk(&fields)
        .await
        .context("creating a disk")?
        .into();
    Ok(created(format!("/disks/{}", disk.id), &disk))
}

/// Search disks, a page at a time, by id.
#[utoipa::path(get, path = "/disks", tag = "disks",
    params(DiskQuery),
    responses(
        DatabaseUnavailable,
        (status = 200, description = "One page", body = Paged<Disk>),
        (status = 422, description = "Bad filter, `limit`, `offset`, `after` or `total`, or unknown parameter", body = ErrorBody),
    ))]
pub async fn list(
    db: web::Data<Db>,
    query: web::Query<DiskQuery>,
) -> Result<HttpResponse, ApiError> {
    let search = DiskSearch::try_from(&*query)?;
    let listed = db
        .list_disks(search.filter(), search.page())
        .await
        .context("listing disks")?;
    Ok(HttpResponse::Ok().json(Paged::<Disk>::new(listed, search.page())))
}

/// Read one disk.
#[utoipa::path(get, path = "/disks/{id}", tag = "disks",
    params(("id" = i64, Path, description = "Disk id")),
    responses(
        DatabaseUnavailable,
        (status = 200, description = "The disk", body = Disk),
        (status = 404, description = "No such disk", body = ErrorBody),
    ))]
pub async fn get(db: web::Data<Db>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let disk: Disk = db
        .find_disk(id)
        .await
        .context("reading a disk")?
        .ok_or_else(|| ApiError::not_found("disk", id))?
        .into();
    Ok(HttpResponse::Ok().json(disk))
}

/// Replace every field of a disk (stock included).
#[utoipa::path(put, path = "/disks/{id}", tag = "disks",
    params(("id" = i64, Path, description = "Disk id")),
    request_body = DiskInput,
    responses(
        JsonBodyRejected,
        DatabaseUnavailable,
        (status = 200, description = "The updated disk", body = Disk),
        (status = 404, description = "No such disk", body = ErrorBody),
        (status = 422, description = "Invalid or unknown fields", body = ErrorBody),
    ))]
pub async fn replace(
    db: web::Data<Db>,
    id: web::Path<i64>,
    body: JsonObject<DiskInput>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let fields = DiskFields::try_from(body.into_inner().0)?;
    let disk: Disk = db
        .update_disk(id, &fields)
        .await
        .context("updating a disk")?
        .ok_or_else(|| ApiError::not_found("disk", id))?
        .into();
    Ok(HttpResponse::Ok().json(disk))
}

/// Delete a disk that has no orders.
#[utoipa::path(delete, path = "/disks/{id}", tag = "disks",
    params(("id" = i64, Path, description = "Disk id")),
    responses(
        DatabaseUnavailable,
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such disk", body = ErrorBody),
        (status = 409, description = "`has_orders`: the disk has orders", body = ErrorBody),
    ))]
pub async fn delete(db: web::Data<Db>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let deleted = db
        .delete_disk(id)
        .await
        .context("deleting a disk")
        .on_violation(ErrorKind::ForeignKeyViolation, || {
            ApiError::conflict(
                "has_orders",
                format!("disk {id} has orders and cannot be deleted"),
            )
        })?;
    if !deleted {
        return Err(ApiError::not_found("disk", id));
    }
    Ok(HttpResponse::NoContent().finish())
}

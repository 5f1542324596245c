-- Indexes for the list and search queries as the API runs them (`app explain` prints their
-- plans; docs/explain/postgres.md has them for the default seed).
-- Substring filters compare LOWER(column) LIKE '%text%': a B-tree cannot serve a leading
-- wildcard, a trigram GIN index can (pg_trgm ships with Postgres; it is a trusted extension,
-- so a database owner may create it).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX disks_artist_trgm_idx ON disks USING gin (LOWER(artist) gin_trgm_ops);
CREATE INDEX disks_title_trgm_idx ON disks USING gin (LOWER(title) gin_trgm_ops);
-- The genre filter is LOWER(genre) = ?, and every list is ordered by id: (LOWER(genre), id)
-- serves both, and a keyset cursor (id > ?) seeks inside it.
CREATE INDEX disks_genre_lower_id_idx ON disks (LOWER(genre), id);
-- These served no query (no filter compares the bare columns, no list sorts by them) and cost
-- every insert and update.
DROP INDEX disks_artist_idx;
DROP INDEX disks_title_idx;
DROP INDEX disks_genre_idx;
-- Orders update a disk's stock. Postgres writes a new row version per update; when the page
-- has room and no indexed column changed, the update is HOT: no index entry is written at all
-- (the trigram GIN indexes above would otherwise take a dozen entries per update). Leaving 30%
-- of each page free at insert time (the seed's rows too) keeps room for those versions, which
-- later reads prune in place.
ALTER TABLE disks SET (fillfactor = 70);

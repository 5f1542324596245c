-- Indexes for the list and search queries as the API runs them (`app explain` prints their
-- plans; docs/explain/sqlite.md has them for the default seed).
-- The genre filter is LOWER(genre) = ?, and every list is ordered by id: an expression index
-- on (LOWER(genre), id) serves both, and a keyset cursor (id > ?) seeks inside it.
CREATE INDEX disks_genre_lower_id_idx ON disks (LOWER(genre), id);
-- Substring filters (LOWER(column) LIKE '%text%') scan the table in id order and stop after a
-- page of matches: no B-tree serves a leading wildcard. FTS5's trigram tokenizer could, but it
-- needs a shadow table kept in step by triggers; a SQLite lab database is small enough that
-- the scan is the honest trade. These indexes served no query:
DROP INDEX disks_artist_idx;
DROP INDEX disks_title_idx;
DROP INDEX disks_genre_idx;

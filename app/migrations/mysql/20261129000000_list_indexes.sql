-- Indexes for the list and search queries as the API runs them (`app explain` prints their
-- plans; docs/explain/mysql.md has them for the default seed).
-- On MySQL/MariaDB the filters compare the bare columns: the case-insensitive collation
-- already ignores case. `genre = ?` uses disks_genre_idx, whose InnoDB entries end in the
-- primary key, so it also serves ORDER BY id and a keyset cursor (id > ?).
-- Substring filters (column LIKE '%text%') cannot use a B-tree (leading wildcard): they scan
-- in id order and stop after a page of matches. FULLTEXT (even with the ngram parser) matches
-- tokens, not arbitrary substrings, so it would change what a search returns. These two
-- indexes served no query and cost every insert and update:
DROP INDEX disks_artist_idx ON disks;
DROP INDEX disks_title_idx ON disks;

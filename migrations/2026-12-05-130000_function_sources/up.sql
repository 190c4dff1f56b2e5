-- Which definition of each foreman_dlm function the database has: the checksum of its source
-- file (src/storage/sql/functions/NAME.sql) when `migrate` last applied it. Functions live in
-- those files from now on; migrations keep DDL and data moves.
CREATE TABLE foreman_dlm_function_sources (
    name text PRIMARY KEY,
    checksum text NOT NULL,
    applied_at timestamp without time zone NOT NULL
);

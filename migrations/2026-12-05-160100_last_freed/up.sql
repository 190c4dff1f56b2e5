-- When each lock last freed a slot (a release, a force release, a lapsed lease), for its
-- cooldown (foreman_dlm_cooling_until). A host's own release writes it only on a lock that has a
-- cooldown, so that the hot path pays nothing for a rule it does not use; lapses and an admin's
-- releases are rare and always write it.
CREATE TABLE foreman_dlm_last_freed (
    dlmlock_id integer PRIMARY KEY REFERENCES dlmlocks (id) ON DELETE CASCADE,
    freed_at timestamp without time zone NOT NULL
);

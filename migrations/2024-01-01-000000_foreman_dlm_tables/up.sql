-- The foreman_dlm plugin's tables, exactly as its Rails migrations create them (names, types,
-- NULLs, defaults, indexes, foreign-key names), created only where they are missing: a database the
-- plugin already used keeps its tables and rows untouched.
--
-- Rails facts behind the types: dlmlocks comes from a Migration[4.2] (serial id, nullable
-- timestamps); dlmlock_events and dlm_facets from Migration[5.1] (bigserial id, NOT NULL
-- timestamps, t.references = bigint). The plugin passed `unique: true` as a column option, which
-- Rails ignores, so neither dlmlocks.name nor dlm_facets.host_id has a unique index. Unnamed
-- foreign keys are named fk_rails_<first 10 hex of sha256("<table>_<column>_fk")>.

CREATE TABLE IF NOT EXISTS dlmlocks (
    id serial PRIMARY KEY,
    name character varying NOT NULL,
    type character varying,
    enabled boolean DEFAULT true NOT NULL,
    host_id integer,
    created_at timestamp without time zone,
    updated_at timestamp without time zone
);
CREATE INDEX IF NOT EXISTS index_dlmlocks_on_type ON dlmlocks (type);
CREATE INDEX IF NOT EXISTS index_dlmlocks_on_enabled ON dlmlocks (enabled);
CREATE INDEX IF NOT EXISTS index_dlmlocks_on_host_id ON dlmlocks (host_id);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'dlmlocks'::regclass AND contype = 'f' AND conname = 'fk_rails_c39bf90b8c') THEN
        ALTER TABLE dlmlocks ADD CONSTRAINT fk_rails_c39bf90b8c FOREIGN KEY (host_id) REFERENCES hosts (id);
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS dlmlock_events (
    id bigserial PRIMARY KEY,
    dlmlock_id integer NOT NULL,
    event_type character varying,
    host_id integer,
    user_id integer,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL
);
CREATE INDEX IF NOT EXISTS index_dlmlock_events_on_dlmlock_id ON dlmlock_events (dlmlock_id);
CREATE INDEX IF NOT EXISTS index_dlmlock_events_on_event_type ON dlmlock_events (event_type);
CREATE INDEX IF NOT EXISTS index_dlmlock_events_on_host_id ON dlmlock_events (host_id);

CREATE TABLE IF NOT EXISTS dlm_facets (
    id bigserial PRIMARY KEY,
    host_id bigint NOT NULL,
    last_checkin_at timestamp without time zone,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL
);
CREATE INDEX IF NOT EXISTS index_dlm_facets_on_host_id ON dlm_facets (host_id);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'dlm_facets'::regclass AND contype = 'f' AND conname = 'fk_rails_6b98afcbf2') THEN
        ALTER TABLE dlm_facets ADD CONSTRAINT fk_rails_6b98afcbf2 FOREIGN KEY (host_id) REFERENCES hosts (id);
    END IF;
END
$$;

-- foreman-dlm's one addition: hosts address locks by name on every request, and the plugin's table
-- has no index on it. Not unique, because a site may already hold duplicate names (see README).
CREATE INDEX IF NOT EXISTS index_dlmlocks_on_name ON dlmlocks (name);

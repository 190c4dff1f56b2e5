DROP INDEX IF EXISTS foreman_dlm_unique_facet_hosts;
DROP INDEX IF EXISTS foreman_dlm_unique_lock_names;

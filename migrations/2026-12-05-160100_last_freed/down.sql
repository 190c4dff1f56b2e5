DROP TABLE IF EXISTS foreman_dlm_last_freed;

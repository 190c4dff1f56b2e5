DROP TABLE IF EXISTS foreman_dlm_sessions;

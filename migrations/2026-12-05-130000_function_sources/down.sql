DROP TABLE IF EXISTS foreman_dlm_function_sources;

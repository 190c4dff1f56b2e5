-- Nothing to undo here: the previous release's `migrate` recreates the three functions from its
-- own source files, because their rows in foreman_dlm_function_sources are gone.
SELECT 1;

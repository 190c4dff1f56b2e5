-- The plugin's tables may predate foreman-dlm and hold a site's locks and history: reverting this
-- migration removes only what foreman-dlm added, never the tables or their rows.
DROP INDEX IF EXISTS index_dlmlocks_on_name;

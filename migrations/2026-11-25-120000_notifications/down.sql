DROP TRIGGER IF EXISTS foreman_dlm_notify ON dlmlock_events;
DROP FUNCTION IF EXISTS foreman_dlm_notify_event();
DROP FUNCTION IF EXISTS foreman_dlm_enqueue(text, integer, integer, integer, timestamp);
DROP TABLE IF EXISTS foreman_dlm_notifications;
DROP TABLE IF EXISTS foreman_dlm_destinations;

-- Delivered and failed notifications are deleted after their retention
-- (notifications.keep_delivered_days, notifications.keep_failed_days). These indexes let the
-- deletion walk each kind oldest first, from where its previous batch stopped, and let the
-- metrics count the failed ones without reading the table.
CREATE INDEX foreman_dlm_notifications_delivered ON foreman_dlm_notifications (delivered_at, id)
    WHERE delivered_at IS NOT NULL;
CREATE INDEX foreman_dlm_notifications_failed ON foreman_dlm_notifications (failed_at, id)
    WHERE failed_at IS NOT NULL;

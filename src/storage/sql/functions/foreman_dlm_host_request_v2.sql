-- The current definition of foreman_dlm_host_request_v2: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_host_request_v2(operation text, lookup text, subject text, want_id integer, want_name text, verdict boolean, clock timestamp without time zone, pattern_max_holders integer, pattern_lease_seconds integer, pattern_windows jsonb, opt_out_parameter text, allowed_values jsonb, denied_values jsonb, max_created_per_hour integer, max_held integer, OUT caller_id integer, OUT caller_name character varying, OUT allowed boolean, OUT opt_out_value text, OUT lock_id integer, OUT done boolean, OUT outcome text, OUT next_window_at timestamp without time zone, OUT id integer, OUT name character varying, OUT lock_type character varying, OUT enabled boolean, OUT created_at timestamp without time zone, OUT updated_at timestamp without time zone, OUT max_holders integer, OUT lease_seconds integer, OUT windows text, OUT holders text, OUT retry_at timestamp without time zone)
 RETURNS record
 LANGUAGE plpgsql
AS $function$
BEGIN
    -- 0.2.0's entry point, kept for its instances during a rolling upgrade. 0.2.0 knows neither
    -- the settings' new policy values nor the alert gate, so through it no host becomes a new
    -- holder (fail closed); refreshes, releases and shows work, under this release's rules. It
    -- has no words for the new refusals: they reach 0.2.0's hosts as the lock being taken (412
    -- all the same), and the hosts retry, through an upgraded instance sooner or later.
    SELECT r.caller_id, r.caller_name, r.allowed, r.opt_out_value, r.lock_id, r.done,
           CASE WHEN r.outcome IN ('halted', 'cooling_down', 'blocked', 'ask_gate')
                THEN CASE WHEN r.max_holders = 1 THEN 'held' ELSE 'full' END
                ELSE r.outcome END,
           r.next_window_at, r.id, r.name, r.lock_type, r.enabled, r.created_at, r.updated_at,
           r.max_holders, r.lease_seconds, r.windows, r.holders,
           CASE WHEN r.outcome = 'too_many_created' THEN r.retry_at END
      INTO caller_id, caller_name, allowed, opt_out_value, lock_id, done, outcome,
           next_window_at, id, name, lock_type, enabled, created_at, updated_at, max_holders,
           lease_seconds, windows, holders, retry_at
      FROM foreman_dlm_host_request_v3(operation, lookup, subject, want_id, want_name, verdict,
                                       clock, pattern_max_holders, pattern_lease_seconds,
                                       pattern_windows, opt_out_parameter, allowed_values,
                                       denied_values, max_created_per_hour, max_held, NULL, NULL,
                                       NULL, false, NULL, false) r;
END
$function$;

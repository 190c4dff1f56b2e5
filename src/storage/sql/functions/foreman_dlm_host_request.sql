-- The current definition of foreman_dlm_host_request: `migrate` applies it whenever this file changes.
CREATE OR REPLACE FUNCTION public.foreman_dlm_host_request(operation text, lookup text, subject text, want_id integer, want_name text, verdict boolean, clock timestamp without time zone, pattern_max_holders integer, pattern_lease_seconds integer, pattern_windows jsonb, opt_out_parameter text, allowed_values jsonb, denied_values jsonb, OUT caller_id integer, OUT caller_name character varying, OUT allowed boolean, OUT opt_out_value text, OUT lock_id integer, OUT done boolean, OUT outcome text, OUT next_window_at timestamp without time zone, OUT id integer, OUT name character varying, OUT lock_type character varying, OUT enabled boolean, OUT created_at timestamp without time zone, OUT updated_at timestamp without time zone, OUT max_holders integer, OUT lease_seconds integer, OUT windows text, OUT holders text)
 RETURNS record
 LANGUAGE plpgsql
AS $function$
BEGIN
    SELECT r.caller_id, r.caller_name, r.allowed, r.opt_out_value, r.lock_id, r.done, r.outcome,
           r.next_window_at, r.id, r.name, r.lock_type, r.enabled, r.created_at, r.updated_at,
           r.max_holders, r.lease_seconds, r.windows, r.holders
      INTO caller_id, caller_name, allowed, opt_out_value, lock_id, done, outcome,
           next_window_at, id, name, lock_type, enabled, created_at, updated_at,
           max_holders, lease_seconds, windows, holders
      FROM foreman_dlm_host_request_v2(operation, lookup, subject, want_id, want_name, verdict,
                                       clock, pattern_max_holders, pattern_lease_seconds,
                                       pattern_windows, opt_out_parameter, allowed_values,
                                       denied_values, 0, 0) r;
END
$function$;

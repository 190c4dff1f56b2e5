//! Table definitions. The plugin's three tables are complete; Foreman's own tables list only the
//! columns foreman-dlm reads (Foreman's `hosts` is far wider), and foreman-dlm never alters them.

diesel::table! {
    dlmlocks (id) {
        id -> Integer,
        name -> Varchar,
        #[sql_name = "type"]
        lock_type -> Nullable<Varchar>,
        enabled -> Bool,
        host_id -> Nullable<Integer>,
        created_at -> Nullable<Timestamp>,
        updated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    dlmlock_events (id) {
        id -> BigInt,
        dlmlock_id -> Integer,
        event_type -> Nullable<Varchar>,
        host_id -> Nullable<Integer>,
        user_id -> Nullable<Integer>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    dlm_facets (id) {
        id -> BigInt,
        host_id -> BigInt,
        last_checkin_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Integer,
        login -> Nullable<Varchar>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(dlmlocks, dlmlock_events, dlm_facets, users);

//! Reads from Foreman's own tables: hosts, their parameters, and the hidden API user.
//! foreman-dlm only reads these tables; Foreman owns them.

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text, Varchar};

use super::schema::users;
use super::sql::sql;
use super::StorageError;

#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct HostRow {
    #[diesel(sql_type = Integer)]
    pub id: i32,
    #[diesel(sql_type = Varchar)]
    pub name: String,
}

/// The plugin's lookup is `hosts.certname = subject`, else `hosts.name = subject`; neither column
/// is unique in the database, so the lowest id wins among equals.
/// The host lookup and the host's check-in in one statement ($1 = certificate subject): every host
/// request does both. `checked_in` is false when the host has no `dlm_facets` row yet.
pub const FIND_HOST_AND_CHECK_IN_SQL: &str = "\
WITH host AS (
    SELECT id, name FROM hosts WHERE certname = $1 OR name = $1
     ORDER BY (certname = $1) IS TRUE DESC, id LIMIT 1
), touched AS (
    UPDATE dlm_facets f
       SET last_checkin_at = now() AT TIME ZONE 'UTC', updated_at = now() AT TIME ZONE 'UTC'
      FROM host WHERE f.host_id = host.id
 RETURNING f.id
)
SELECT host.id, host.name, EXISTS (SELECT 1 FROM touched) AS checked_in FROM host";

#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct CheckedInHost {
    #[diesel(sql_type = Integer)]
    pub id: i32,
    #[diesel(sql_type = Varchar)]
    pub name: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub checked_in: bool,
}

pub fn find_and_check_in(
    conn: &mut PgConnection,
    subject: &str,
) -> Result<Option<CheckedInHost>, StorageError> {
    sql(FIND_HOST_AND_CHECK_IN_SQL)
        .bind(subject)
        .get_result(conn)
        .optional()
        .map_err(StorageError::from)
}

/// Katello's mapping of a subscription-manager consumer (the CN of its identity certificate) to a
/// host. The uuid index is not unique; like Katello, the first facet wins.
pub fn find_by_subscription_uuid(
    conn: &mut PgConnection,
    uuid: &str,
) -> Result<Option<HostRow>, StorageError> {
    sql(
        "SELECT h.id, h.name FROM katello_subscription_facets f JOIN hosts h ON h.id = f.host_id \
         WHERE f.uuid = $1 ORDER BY f.id LIMIT 1",
    )
    .bind(uuid)
    .get_result(conn)
    .optional()
    .map_err(StorageError::from)
}

#[derive(QueryableByName)]
struct Present {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    present: bool,
}

/// Whether a table exists (in the connection's search path), e.g. Katello's on a Katello server.
pub fn table_exists(conn: &mut PgConnection, table: &str) -> Result<bool, StorageError> {
    sql("SELECT to_regclass($1) IS NOT NULL AS present")
        .bind(table)
        .get_result::<Present>(conn)
        .map(|row| row.present)
        .map_err(StorageError::from)
}

/// The hidden user Foreman runs certificate-authenticated API requests as; the plugin records its
/// id in `dlmlock_events.user_id` for host requests.
pub fn api_admin_user_id(conn: &mut PgConnection) -> Result<Option<i32>, StorageError> {
    users::table
        .filter(users::login.eq("foreman_api_admin"))
        .select(users::id)
        .order(users::id)
        .first(conn)
        .optional()
        .map_err(StorageError::from)
}

#[derive(QueryableByName)]
struct ParameterValue {
    #[diesel(sql_type = Nullable<Text>)]
    value: Option<String>,
}

/// The effective value of host parameter `name` for `host_id`, resolved the way Foreman resolves
/// host parameters; `None` when no level defines it (or its value is NULL). The value is returned
/// as stored (YAML).
///
/// Precedence, lowest first (Foreman's `host_inherited_params_objects`): global, organization
/// ancestors root→leaf then the organization, the same for the location, the primary interface's
/// domain, its IPv4 subnet, its IPv6 subnet, the operating system, host-group ancestors root→leaf
/// then the host group, and finally the host itself. Ancestry columns are `/`-separated id paths,
/// root first; a malformed segment is skipped rather than failing the request.
pub fn effective_parameter(
    conn: &mut PgConnection,
    host_id: i32,
    name: &str,
) -> Result<Option<String>, StorageError> {
    sql(EFFECTIVE_PARAMETER_SQL)
        .bind(host_id)
        .bind(name)
        .get_result::<ParameterValue>(conn)
        .optional()
        .map(|row| row.and_then(|r| r.value))
        .map_err(StorageError::from)
}

/// The effective-parameter statement: $1 = host id, $2 = parameter name.
pub const EFFECTIVE_PARAMETER_SQL: &str = "\
WITH host AS (
    SELECT id, organization_id, location_id, hostgroup_id, operatingsystem_id FROM hosts WHERE id = $1
), primary_nic AS (
    SELECT domain_id, subnet_id, subnet6_id FROM nics WHERE host_id = $1 AND \"primary\" ORDER BY id LIMIT 1
), chains AS (
    SELECT 'OrganizationParameter'::text AS ptype, 2 AS rank, t.id AS leaf_id, t.ancestry
      FROM host JOIN taxonomies t ON t.id = host.organization_id
    UNION ALL
    SELECT 'LocationParameter', 3, t.id, t.ancestry
      FROM host JOIN taxonomies t ON t.id = host.location_id
    UNION ALL
    SELECT 'GroupParameter', 8, g.id, g.ancestry
      FROM host JOIN hostgroups g ON g.id = host.hostgroup_id
), candidates AS (
    SELECT c.ptype, c.rank, a.depth, a.ref_id
      FROM chains c
     CROSS JOIN LATERAL (
           SELECT CASE WHEN u.segment ~ '^[0-9]{1,9}$' THEN u.segment::int END AS ref_id, u.depth::int AS depth
             FROM unnest(string_to_array(c.ancestry, '/')) WITH ORDINALITY AS u(segment, depth)
           UNION ALL
           SELECT c.leaf_id, 2147483647
     ) a
    UNION ALL SELECT 'DomainParameter', 4, 0, domain_id FROM primary_nic
    UNION ALL SELECT 'SubnetParameter', 5, 0, subnet_id FROM primary_nic
    UNION ALL SELECT 'SubnetParameter', 6, 0, subnet6_id FROM primary_nic
    UNION ALL SELECT 'OsParameter', 7, 0, operatingsystem_id FROM host
    UNION ALL SELECT 'HostParameter', 9, 0, id FROM host
), found AS (
    SELECT p.value, c.rank, c.depth
      FROM candidates c
      JOIN parameters p ON p.type = c.ptype AND p.reference_id = c.ref_id AND p.name = $2
    UNION ALL
    SELECT p.value, 1, 0
      FROM parameters p
     WHERE p.type = 'CommonParameter' AND p.name = $2
)
SELECT value FROM found ORDER BY rank DESC, depth DESC LIMIT 1";

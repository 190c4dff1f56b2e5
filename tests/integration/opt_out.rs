//! `can_acquire_update_locks`: Foreman's parameter inheritance and YAML values, end to end.

use serde_json::{json, Value};

use crate::common::{cert_header, pki, send, Server, TestApp, TestDb};

struct Env {
    db: TestDb,
    server: Server,
    host_id: i64,
}

impl Env {
    fn new() -> Env {
        let TestApp { db, server, .. } = TestApp::spawn();
        let host_id = db.add_host("web1.example.com");
        Env {
            db,
            server,
            host_id,
        }
    }

    fn param(&self, ptype: &str, reference: Option<i64>, yaml: &str) {
        let reference = reference.map_or("NULL".to_string(), |r| r.to_string());
        let yaml = yaml.replace('\'', "''");
        self.db.exec(&format!(
            "INSERT INTO parameters (name, value, reference_id, type, created_at, updated_at) \
             VALUES ('can_acquire_update_locks', E'{yaml}', {reference}, '{ptype}', now(), now())"
        ));
    }

    /// Inserts a row and returns its id; `sql` is an INSERT … RETURNING id.
    fn id(&self, sql: &str) -> i64 {
        self.db.insert_returning_id(sql)
    }

    async fn acquire(&self) -> u16 {
        let cert = pki::shared().host("web1.example.com");
        send(
            "PUT",
            &self.server.url("/api/dlmlocks/cluster/lock"),
            &cert_header(&cert),
        )
        .await
        .status
    }
}

#[actix_web::test]
async fn boolean_false_on_the_host_denies_without_event() {
    let env = Env::new();
    env.param("HostParameter", Some(env.host_id), "--- false\\n");

    assert_eq!(env.acquire().await, 412);
    // As in the plugin: the lock is auto-created, stays free, and no event is written.
    assert_eq!(
        env.db.rows("SELECT name, host_id FROM dlmlocks"),
        json!([{"name": "cluster", "host_id": null}])
    );
    assert_eq!(env.db.events(), json!([]));
}

#[actix_web::test]
async fn opted_out_host_can_still_release() {
    let env = Env::new();
    let lock = env.db.add_lock("cluster", Some(env.host_id), true);
    env.param("HostParameter", Some(env.host_id), r#"--- 'no'\n"#);
    let cert = pki::shared().host("web1.example.com");

    let answer = send(
        "DELETE",
        &env.server.url("/api/dlmlocks/cluster/lock"),
        &cert_header(&cert),
    )
    .await;

    assert_eq!(answer.status, 200);
    assert_eq!(
        env.db
            .scalar(&format!("SELECT host_id FROM dlmlocks WHERE id = {lock}")),
        Value::Null
    );
}

#[actix_web::test]
async fn host_value_overrides_hostgroup_which_overrides_global() {
    let env = Env::new();
    let parent =
        env.id("INSERT INTO hostgroups (name, title) VALUES ('base', 'base') RETURNING id");
    let child = env.id(&format!(
        "INSERT INTO hostgroups (name, title, ancestry) VALUES ('web', 'base/web', '{parent}') RETURNING id"
    ));
    env.db.exec(&format!(
        "UPDATE hosts SET hostgroup_id = {child} WHERE id = {}",
        env.host_id
    ));

    env.param("CommonParameter", None, "--- false\\n");
    assert_eq!(env.acquire().await, 412, "global false denies");

    env.param("GroupParameter", Some(parent), "--- true\\n");
    assert_eq!(env.acquire().await, 200, "host group root overrides global");

    env.param("GroupParameter", Some(child), "--- 'false'\\n");
    assert_eq!(
        env.acquire().await,
        412,
        "leaf host group overrides its parent"
    );

    env.param("HostParameter", Some(env.host_id), "--- 'yes'\\n");
    assert_eq!(env.acquire().await, 200, "the host's own value wins");
}

#[actix_web::test]
async fn taxonomy_domain_subnet_and_os_levels_in_order() {
    let env = Env::new();
    let org_root = env.id("INSERT INTO taxonomies (name, type, title) VALUES ('acme', 'Organization', 'acme') RETURNING id");
    let org = env.id(&format!(
        "INSERT INTO taxonomies (name, type, title, ancestry) VALUES ('ops', 'Organization', 'acme/ops', '{org_root}') RETURNING id"
    ));
    let location = env.id(
        "INSERT INTO taxonomies (name, type, title) VALUES ('dc1', 'Location', 'dc1') RETURNING id",
    );
    let domain = env.id("INSERT INTO domains (name) VALUES ('example.com') RETURNING id");
    let subnet = env.id("INSERT INTO subnets (name, network, mask) VALUES ('lan', '10.0.0.0', '255.255.255.0') RETURNING id");
    let os = env.id("INSERT INTO operatingsystems (name, major, title) VALUES ('Debian', '12', 'Debian 12') RETURNING id");
    env.db.exec(&format!(
        "UPDATE hosts SET organization_id = {org}, location_id = {location}, operatingsystem_id = {os} WHERE id = {h};
         INSERT INTO nics (host_id, domain_id, subnet_id, \"primary\", type, identifier) VALUES ({h}, {domain}, {subnet}, true, 'Nic::Managed', 'eth0');",
        h = env.host_id
    ));

    env.param("OrganizationParameter", Some(org_root), "--- false\\n");
    assert_eq!(env.acquire().await, 412, "parent organization");
    env.param("OrganizationParameter", Some(org), "--- true\\n");
    assert_eq!(
        env.acquire().await,
        200,
        "organization overrides its parent"
    );
    env.param("LocationParameter", Some(location), "--- false\\n");
    assert_eq!(env.acquire().await, 412, "location overrides organization");
    env.param("DomainParameter", Some(domain), "--- true\\n");
    assert_eq!(env.acquire().await, 200, "domain overrides location");
    env.param("SubnetParameter", Some(subnet), "--- 'off'\\n");
    assert_eq!(env.acquire().await, 412, "subnet overrides domain");
    env.param("OsParameter", Some(os), "--- 1\\n");
    assert_eq!(
        env.acquire().await,
        200,
        "operating system overrides subnet"
    );
}

#[actix_web::test]
async fn parameters_of_other_hosts_and_other_names_do_not_count() {
    let env = Env::new();
    let other = env.db.add_host("web2.example.com");
    env.param("HostParameter", Some(other), "--- false\\n");
    env.db.exec(&format!(
        "INSERT INTO parameters (name, value, reference_id, type) VALUES ('something_else', E'--- false\\n', {}, 'HostParameter')",
        env.host_id
    ));

    assert_eq!(env.acquire().await, 200);
}

#[actix_web::test]
async fn legacy_plain_text_and_blank_values() {
    let env = Env::new();
    env.param("HostParameter", Some(env.host_id), "");
    assert_eq!(env.acquire().await, 200, "blank allows");
    env.db.exec("UPDATE parameters SET value = 'false'");
    assert_eq!(env.acquire().await, 412, "legacy plain text is cast too");
}

//! JSON bodies shaped exactly like the plugin's rabl views.

use chrono::NaiveDateTime;
use serde::{Serialize, Serializer};

use crate::locks::model::{Holder, Lock, LockEvent};
use crate::locks::policy::{LeaseExpiry, Window};
use crate::locks::Caller;

/// `api/v2/dlmlocks/show`: base attributes, timestamps and the holder, then the policy and every
/// holder (foreman-dlm's additions; the plugin's clients ignore them).
#[derive(Debug, Serialize)]
pub struct LockBody {
    pub id: i32,
    /// The holder with one slot; the oldest holder with more.
    pub host_id: Option<i32>,
    pub name: String,
    pub enabled: bool,
    #[serde(rename = "type")]
    pub lock_type: Option<String>,
    #[serde(serialize_with = "foreman_time")]
    pub created_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "foreman_time")]
    pub updated_at: Option<NaiveDateTime>,
    pub host: Option<HolderBody>,
    pub max_holders: i32,
    pub lease_seconds: Option<i32>,
    pub windows: Vec<Window>,
    pub on_lease_expiry: LeaseExpiry,
    pub cooldown_seconds: i32,
    pub block_on_alerts: Option<String>,
    pub holders: Vec<HolderEntry>,
    pub halted: bool,
    #[serde(serialize_with = "foreman_time")]
    pub halted_at: Option<NaiveDateTime>,
    pub halt_reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct HolderBody {
    pub name: String,
    /// Only on show for a host caller: whether the caller holds the lock (with more than one
    /// slot, it may hold one without being the oldest holder named here).
    #[serde(rename = "self", skip_serializing_if = "Option::is_none")]
    pub is_self: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct HolderEntry {
    pub host_id: i32,
    pub host: HostName,
    #[serde(serialize_with = "foreman_time")]
    pub acquired_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "foreman_time")]
    pub refreshed_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "foreman_time")]
    pub expires_at: Option<NaiveDateTime>,
}

#[derive(Debug, Serialize)]
pub struct HostName {
    pub name: String,
}

impl From<Holder> for HolderEntry {
    fn from(h: Holder) -> HolderEntry {
        HolderEntry {
            host_id: h.host_id,
            host: HostName { name: h.name },
            acquired_at: Some(h.acquired_at),
            refreshed_at: Some(h.refreshed_at),
            expires_at: h.expires_at,
        }
    }
}

impl LockBody {
    /// `viewer` is the host that asked, when `self` should be shown (the plugin's show view).
    pub fn new(lock: Lock, viewer: Option<&Caller>) -> LockBody {
        let holds = |v: &Caller| lock.holders.iter().any(|h| h.host_id == v.id);
        let host = lock.holder().map(|oldest| HolderBody {
            name: oldest.name.clone(),
            is_self: viewer.map(holds),
        });
        LockBody {
            id: lock.id,
            host_id: lock.holder().map(|h| h.host_id),
            host,
            name: lock.name,
            enabled: lock.enabled,
            lock_type: lock.lock_type,
            created_at: lock.created_at,
            updated_at: lock.updated_at,
            max_holders: lock.policy.max_holders,
            lease_seconds: lock.policy.lease_seconds,
            windows: lock.policy.windows,
            on_lease_expiry: lock.policy.on_lease_expiry,
            cooldown_seconds: lock.policy.cooldown_seconds,
            block_on_alerts: lock.policy.block_on_alerts,
            holders: lock.holders.into_iter().map(HolderEntry::from).collect(),
            halted: lock.halt.is_some(),
            halted_at: lock.halt.as_ref().map(|h| h.halted_at),
            halt_reason: lock.halt.map(|h| h.reason),
        }
    }
}

/// The plugin's event view (id, event_type, timestamps) plus who: host and user ids.
#[derive(Debug, Serialize)]
pub struct EventBody {
    id: i64,
    event_type: Option<String>,
    host_id: Option<i32>,
    user_id: Option<i32>,
    #[serde(serialize_with = "foreman_time")]
    created_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "foreman_time")]
    updated_at: Option<NaiveDateTime>,
}

impl From<LockEvent> for EventBody {
    fn from(e: LockEvent) -> Self {
        EventBody {
            id: e.id,
            event_type: e.event_type,
            host_id: e.host_id,
            user_id: e.user_id,
            created_at: Some(e.created_at),
            updated_at: Some(e.updated_at),
        }
    }
}

/// Foreman renders UTC timestamps as `2021-11-26 08:27:28 UTC`.
pub(crate) fn foreman_time<S: Serializer>(
    value: &Option<NaiveDateTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use chrono::{Datelike, Timelike};
    match value {
        // Written out rather than with `format`, which parses its pattern on every call.
        Some(t) => s.collect_str(&format_args!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(host_id: Option<i32>, holder: Option<&str>) -> Lock {
        let created_at =
            NaiveDateTime::parse_from_str("2021-11-26 08:27:28.123456", "%Y-%m-%d %H:%M:%S%.f")
                .ok();
        let holders = match (host_id, holder, created_at) {
            (Some(host_id), Some(name), Some(at)) => vec![Holder {
                host_id,
                name: name.into(),
                acquired_at: at,
                refreshed_at: at,
                expires_at: None,
            }],
            _ => Vec::new(),
        };
        Lock {
            id: 3,
            name: "cluster-a".into(),
            lock_type: Some("ForemanDlm::Dlmlock::Update".into()),
            enabled: true,
            created_at,
            updated_at: None,
            policy: crate::locks::policy::Policy::default(),
            holders,
            halt: None,
        }
    }

    #[test]
    fn shapes_match_the_plugin() {
        let me = Caller {
            id: 5,
            name: "web1.example.com".into(),
        };
        let body = serde_json::to_value(LockBody::new(
            view(Some(5), Some("web1.example.com")),
            Some(&me),
        ))
        .expect("json");
        assert_eq!(
            body,
            serde_json::json!({
                "id": 3, "host_id": 5, "name": "cluster-a", "enabled": true,
                "type": "ForemanDlm::Dlmlock::Update",
                "created_at": "2021-11-26 08:27:28 UTC", "updated_at": null,
                "host": {"name": "web1.example.com", "self": true},
                "max_holders": 1, "lease_seconds": null, "windows": [],
                "on_lease_expiry": "halt", "cooldown_seconds": 0, "block_on_alerts": null,
                "holders": [{"host_id": 5, "host": {"name": "web1.example.com"},
                             "acquired_at": "2021-11-26 08:27:28 UTC",
                             "refreshed_at": "2021-11-26 08:27:28 UTC", "expires_at": null}],
                "halted": false, "halted_at": null, "halt_reason": null
            })
        );
        let body =
            serde_json::to_value(LockBody::new(view(Some(5), Some("web1.example.com")), None))
                .expect("json");
        assert_eq!(
            body["host"],
            serde_json::json!({"name": "web1.example.com"})
        );
        let body = serde_json::to_value(LockBody::new(view(None, None), Some(&me))).expect("json");
        assert!(body["host"].is_null());
    }
}

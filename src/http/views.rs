//! JSON bodies shaped exactly like the plugin's rabl views.

use chrono::NaiveDateTime;
use serde::{Serialize, Serializer};

use crate::locks::model::{Lock, LockEvent};
use crate::locks::Caller;

/// `api/v2/dlmlocks/show`: base attributes, timestamps and the holder.
#[derive(Debug, Serialize)]
pub struct LockBody {
    pub id: i32,
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
}

#[derive(Debug, Serialize)]
pub struct HolderBody {
    pub name: String,
    /// Only on show for a host caller: whether the caller is the holder.
    #[serde(rename = "self", skip_serializing_if = "Option::is_none")]
    pub is_self: Option<bool>,
}

impl LockBody {
    /// `viewer` is the host that asked, when `self` should be shown (the plugin's show view).
    pub fn new(lock: Lock, viewer: Option<&Caller>) -> LockBody {
        let host = match (lock.host_id, lock.holder_name) {
            (Some(holder_id), Some(name)) => Some(HolderBody {
                name,
                is_self: viewer.map(|v| v.id == holder_id),
            }),
            _ => None,
        };
        LockBody {
            id: lock.id,
            host_id: lock.host_id,
            name: lock.name,
            enabled: lock.enabled,
            lock_type: lock.lock_type,
            created_at: lock.created_at,
            updated_at: lock.updated_at,
            host,
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
        Lock {
            id: 3,
            name: "cluster-a".into(),
            lock_type: Some("ForemanDlm::Dlmlock::Update".into()),
            enabled: true,
            host_id,
            holder_name: holder.map(str::to_string),
            created_at: NaiveDateTime::parse_from_str(
                "2021-11-26 08:27:28.123456",
                "%Y-%m-%d %H:%M:%S%.f",
            )
            .ok(),
            updated_at: None,
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
                "host": {"name": "web1.example.com", "self": true}
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

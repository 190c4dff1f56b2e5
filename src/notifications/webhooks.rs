//! Webhooks in foreman_webhooks' conventions: a JSON body with `event_name` such as
//! `dlmlock_acquired.event.foreman`, the lock (`object`), the host, the acting user (`context`),
//! a timestamp and the notification's unique `id`; signed with HMAC-SHA256 when a secret is set.

use std::time::Duration;

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde_json::{json, Value};

use super::outbound::{client, judge, Identity};
use super::Delivery;
use crate::settings::WebhookSettings;
use crate::storage::notifications::NotificationRow;

/// The header a receiver checks: `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "X-Foreman-DLM-Signature";

pub struct WebhookClient {
    client: Result<awc::Client, String>,
    settings: WebhookSettings,
    destination: String,
}

impl WebhookClient {
    pub fn new(settings: &WebhookSettings) -> WebhookClient {
        let client = client(
            &Identity {
                certificate: None,
                key: None,
                ca_file: settings.ca_file.as_deref(),
            },
            Duration::from_secs(settings.timeout_seconds),
        );
        let destination = destination_name(&settings.url);
        if let Err(e) = &client {
            log::error!("webhook {} cannot be called: {e}", label_of(&settings.url));
        }
        WebhookClient {
            client,
            settings: settings.clone(),
            destination,
        }
    }

    pub fn destination(&self) -> &str {
        &self.destination
    }

    pub fn events(&self) -> Vec<String> {
        self.settings.events.clone()
    }

    pub fn label(&self) -> String {
        label_of(&self.settings.url)
    }

    pub async fn deliver(&self, row: &NotificationRow) -> Delivery {
        let client = match &self.client {
            Ok(client) => client,
            Err(e) => return Delivery::Retry(e.clone()),
        };
        let body = payload(row).to_string();
        let mut request = client
            .post(self.settings.url.trim())
            .insert_header(("Content-Type", "application/json"))
            .insert_header(("X-Foreman-DLM-Event", event_name(&row.event)))
            .insert_header(("X-Foreman-DLM-Delivery", row.uuid.as_str()));
        if let Some(secret) = &self.settings.secret {
            match signature(secret.expose().as_bytes(), body.as_bytes()) {
                Ok(signed) => request = request.insert_header((SIGNATURE_HEADER, signed)),
                Err(e) => return Delivery::Retry(e),
            }
        }
        match request.send_body(body).await {
            Ok(response) => judge(response.status(), "the webhook receiver"),
            // awc's error text can name the URL, which may carry a token: not repeated here.
            Err(e) => Delivery::Retry(format!("the webhook receiver: {}", error_kind(&e))),
        }
    }
}

/// The table name of a webhook: its URL may carry a token, so a digest stands in for it.
fn destination_name(url: &str) -> String {
    let digest = openssl::sha::sha256(url.trim().as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("webhook:{hex}")
}

/// `webhook https://chat.example.com/…`: the scheme and host only.
pub(super) fn label_of(url: &str) -> String {
    format!("webhook {}", crate::settings::redact_url_path(url))
}

fn error_kind(error: &awc::error::SendRequestError) -> &'static str {
    use awc::error::SendRequestError as E;
    match error {
        E::Connect(_) => "cannot connect",
        E::Timeout => "no answer in time",
        E::Send(_) | E::Response(_) => "the connection broke",
        _ => "the request failed",
    }
}

/// foreman_webhooks' event names: `dlmlock_acquired.event.foreman` and so on.
pub fn event_name(event: &str) -> String {
    let past = match event {
        "acquire" => "acquired",
        "release" => "released",
        "expire" => "expired",
        "fail" => "failed",
        "enable" => "enabled",
        "disable" => "disabled",
        "stale" => "stale",
        "force_release" => "force_released",
        "halt" => "halted",
        "resume" => "resumed",
        other => other,
    };
    format!("dlmlock_{past}.event.foreman")
}

/// The body of a notification.
pub fn payload(row: &NotificationRow) -> Value {
    let context = match row.user_id {
        Some(id) => json!({"user_id": id, "user_login": row.user_login}),
        None => json!({}),
    };
    json!({
        "event_name": event_name(&row.event),
        "id": row.uuid,
        "timestamp": row.occurred_at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "object": {"id": row.dlmlock_id, "name": row.lock_name},
        "host": row.host_id.map(|id| json!({"id": id, "name": row.host_name})),
        "context": context,
    })
}

/// `sha256=<hex>` of HMAC-SHA256(secret, body).
pub fn signature(secret: &[u8], body: &[u8]) -> Result<String, String> {
    let sign = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let key = PKey::hmac(secret)?;
        let mut signer = Signer::new(MessageDigest::sha256(), &key)?;
        signer.update(body)?;
        signer.sign_to_vec()
    };
    let mac = sign().map_err(|e| format!("cannot sign: {e}"))?;
    Ok(format!(
        "sha256={}",
        mac.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_in_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?").expect("signed"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn labels_and_names_hide_tokens() {
        assert_eq!(
            label_of("https://chat.example.com/hooks/s3cr3t?x=1"),
            "webhook https://chat.example.com/…"
        );
        assert_eq!(
            label_of("http://user:pw@hooks.example.com"),
            "webhook http://hooks.example.com/…"
        );
        let name = destination_name("https://chat.example.com/hooks/s3cr3t");
        assert!(name.starts_with("webhook:") && !name.contains("s3cr3t"));
        assert_eq!(
            event_name("force_release"),
            "dlmlock_force_released.event.foreman"
        );
    }
}

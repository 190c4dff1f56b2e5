use super::*;

fn window(json: serde_json::Value) -> Result<Window, String> {
    serde_json::from_value(json).map_err(|e| e.to_string())
}

#[test]
fn windows_are_parsed_once_and_normalised() {
    let parsed = window(
        serde_json::json!({"days": ["Mon", "tue", "mon"], "start": "22:00",
                                           "end": "04:00", "time_zone": "Europe/Berlin"}),
    )
    .expect("valid");
    assert_eq!(parsed.days, vec!["mon", "tue"]);
    assert_eq!(
        serde_json::to_value(&parsed).expect("json"),
        serde_json::json!({"days": ["mon", "tue"], "start": "22:00", "end": "04:00",
                           "time_zone": "Europe/Berlin"})
    );
    let every_day = window(serde_json::json!({"start": "01:00", "end": "02:30"})).expect("ok");
    assert!(every_day.days.is_empty());
    assert_eq!(every_day.time_zone, "UTC");
}

#[test]
fn bad_windows_say_what_is_wrong() {
    for (json, expected) in [
        (
            serde_json::json!({"days": ["monday"], "start": "01:00", "end": "02:00"}),
            "unknown day",
        ),
        (
            serde_json::json!({"start": "24:00", "end": "02:00"}),
            "start must be HH:MM",
        ),
        (
            serde_json::json!({"start": "1:00", "end": "02:00"}),
            "start must be HH:MM",
        ),
        (
            serde_json::json!({"start": "01:00", "end": "02:60"}),
            "end must be HH:MM",
        ),
        (serde_json::json!({"start": "01:00"}), "missing field `end`"),
        (
            serde_json::json!({"start": "01:00", "end": "02:00", "tz": "UTC"}),
            "unknown field",
        ),
        (
            serde_json::json!({"start": "01:00", "end": "02:00", "time_zone": "Berlin; DROP"}),
            "not an IANA time zone name",
        ),
    ] {
        let error = window(json.clone()).expect_err("invalid");
        assert!(error.contains(expected), "{json}: {error}");
    }
}

#[test]
fn name_patterns_become_like_patterns() {
    let like = |p: &str| {
        NamePattern::try_from(p.to_string())
            .expect("valid")
            .to_like()
    };
    assert_eq!(like("web-*"), "web-%");
    assert_eq!(like("db?"), "db_");
    assert_eq!(like("100%_done\\"), "100\\%\\_done\\\\");
    assert!(NamePattern::try_from(String::new()).is_err());
}

#[test]
fn patterns_read_in_plain_words() {
    let pattern: PolicyPattern = serde_json::from_value(serde_json::json!({
        "match": "web-*", "max_holders": 3, "lease_seconds": 7200,
        "windows": [{"days": ["mon", "tue"], "start": "22:00", "end": "04:00",
                     "time_zone": "Europe/Berlin"}]
    }))
    .expect("valid");
    assert_eq!(
        pattern.to_string(),
        "web-* → 3 holders at a time, a lease of 7200s, new holders only \
         mon,tue 22:00–04:00 Europe/Berlin; a lapsed lease halts the lock"
    );
    let pattern: PolicyPattern = serde_json::from_value(serde_json::json!({
        "match": "db-*", "lease_seconds": 600, "on_lease_expiry": "release",
        "cooldown_seconds": 300, "block_on_alerts": "ALERTS{cluster={lock}}"
    }))
    .expect("valid");
    assert_eq!(
        pattern.to_string(),
        "db-* → 1 holder at a time, a lease of 600s, any time; a lapsed lease only frees the \
         slot; 300s between one holder leaving and the next starting; no new holder while \
         Prometheus returns samples for ALERTS{cluster={lock}}"
    );
}

#[test]
fn api_bounds() {
    let changes = PolicyChanges {
        max_holders: Some(0),
        lease_seconds: Some(Some(0)),
        cooldown_seconds: Some(-1),
        block_on_alerts: Some(Some("up\u{7}".into())),
        ..PolicyChanges::default()
    };
    let fields: Vec<&str> = changes.check(50).iter().map(|(f, _)| *f).collect();
    assert_eq!(
        fields,
        [
            "max_holders",
            "lease_seconds",
            "cooldown_seconds",
            "block_on_alerts"
        ]
    );
    let fine = PolicyChanges {
        max_holders: Some(3),
        lease_seconds: Some(None),
        windows: Some(Vec::new()),
        on_lease_expiry: Some(LeaseExpiry::Release),
        cooldown_seconds: Some(0),
        block_on_alerts: Some(Some("ALERTS{alertstate=\"firing\"}\n".into())),
    };
    assert!(fine.check(50).is_empty());
    assert!(PolicyChanges::default().is_empty());
}

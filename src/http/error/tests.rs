use super::*;
use actix_web::body::MessageBody;

fn body_of(e: ApiError) -> (u16, Value) {
    let response = e.error_response();
    let status = response.status().as_u16();
    let bytes = response.into_body().try_into_bytes().expect("body");
    (status, serde_json::from_slice(&bytes).expect("json"))
}

#[test]
fn each_error_kind_has_its_status_and_a_json_body() {
    let cases = [
        (ApiError::Unauthorized { login: None }, 401),
        (ApiError::AccountDisabled, 401),
        (
            ApiError::ExternalAuthSource {
                login: "x".into(),
                source: "AuthSourceLdap".into(),
            },
            401,
        ),
        (
            ApiError::Forbidden {
                missing_permission: None,
                details: NEEDS_HOST_CERTIFICATE.into(),
            },
            403,
        ),
        (ApiError::NotFound { id: "x".into() }, 404),
        (
            ApiError::PreconditionFailed {
                lock_id: Some(7),
                refusal: Refusal::Held,
            },
            412,
        ),
        (ApiError::BadRequest("bad".into()), 400),
        (ApiError::UnsupportedMediaType, 415),
        (ApiError::PayloadTooLarge, 413),
        (ApiError::RequestTimeout, 408),
        (ApiError::RouteNotFound, 404),
        (ApiError::MethodNotAllowed, 405),
        (ApiError::Unavailable("connection refused".into()), 503),
        (
            ApiError::TooManyRequests {
                retry_after_seconds: 30,
            },
            429,
        ),
        (ApiError::Busy, 503),
        (ApiError::Framework(StatusCode::URI_TOO_LONG), 414),
        (
            ApiError::Internal("relation \"dlmlocks\" does not exist".into()),
            500,
        ),
    ];
    for (error, status) in cases {
        let (got, body) = body_of(error);
        assert_eq!(got, status);
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    let (status, body) = body_of(ApiError::BadJson("expected value".into()));
    assert_eq!(status, 400);
    assert!(body["error"]
        .as_str()
        .is_some_and(|e| e.contains("problem in the JSON")));
}

#[test]
fn internal_causes_never_reach_the_client() {
    let (_, body) = body_of(ApiError::Internal(
        "relation \"dlmlocks\" does not exist".into(),
    ));
    assert_eq!(body, json!({"error": {"message": "Internal server error"}}));
    let (_, body) = body_of(ApiError::Unavailable(
        "could not connect to 10.0.0.5".into(),
    ));
    assert!(!body.to_string().contains("10.0.0.5"));
}

#[test]
fn foreman_bodies() {
    let (_, body) = body_of(ApiError::PreconditionFailed {
        lock_id: Some(7),
        refusal: Refusal::Held,
    });
    assert_eq!(
        body,
        json!({"error": {"id": 7, "message": PRECONDITION_FAILED, "reason": "held"}})
    );
    let next_window_at =
        chrono::NaiveDate::from_ymd_opt(2026, 12, 7).and_then(|d| d.and_hms_opt(21, 0, 0));
    let (_, body) = body_of(ApiError::PreconditionFailed {
        lock_id: Some(7),
        refusal: Refusal::OutsideWindow { next_window_at },
    });
    assert_eq!(
        body["error"],
        json!({"id": 7, "message": PRECONDITION_FAILED, "reason": "outside_window",
               "next_window_at": "2026-12-07T21:00:00Z"})
    );
    let (_, body) = body_of(ApiError::NotFound { id: "db".into() });
    assert_eq!(
        body,
        json!({"error": {"message": "Resource dlmlock not found by id 'db'"}})
    );
    let (_, body) = body_of(ApiError::Unauthorized {
        login: Some("web1.example.com".into()),
    });
    assert_eq!(
        body,
        json!({"error": {"message": "Unable to authenticate user web1.example.com"}})
    );
    let (_, body) = body_of(ApiError::Forbidden {
        missing_permission: Some("view_dlmlocks"),
        details: "Missing one of the required permissions: view_dlmlocks".into(),
    });
    assert_eq!(
        body,
        json!({"error": {"message": "Access denied",
                         "details": "Missing one of the required permissions: view_dlmlocks",
                         "missing_permissions": ["view_dlmlocks"]}})
    );
    let (_, body) = body_of(ApiError::Unprocessable {
        id: None,
        errors: vec![
            ("name", "has already been taken".into()),
            ("host_id", "does not match any host".into()),
        ],
    });
    assert_eq!(
        body,
        json!({"error": {
            "id": null,
            "errors": {
                "name": ["has already been taken"],
                "host_id": ["does not match any host"]
            },
            "full_messages": ["Name has already been taken", "Host does not match any host"]
        }})
    );
}

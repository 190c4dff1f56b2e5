use super::*;

#[test]
fn contrib_settings_file_documents_the_defaults() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contrib/settings.toml"
    ));
    let documented = Settings::load(Some(path)).expect("contrib/settings.toml loads");
    let defaults = Settings::from_defaults_and_env().expect("defaults");
    assert_eq!(documented.describe(), defaults.describe());
}

#[test]
fn describe_masks_the_database_password_and_parses_addresses_once() {
    let mut settings = Settings::from_defaults_and_env().expect("defaults");
    settings.database.url = Some(Secret::new("postgres://foreman:s3cret@db:5432/foreman"));
    let text = settings.describe();
    assert!(
        text.contains("postgres://foreman:********@db:5432/foreman"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
    assert!(
        text.contains("listen = \"unix:/run/foreman-dlm/http.sock\""),
        "{text}"
    );
    assert!(text.contains("socket_mode = \"0660\""), "{text}");
    assert!(!format!("{settings:?}").contains("s3cret"));
}

#[test]
fn describe_shows_prometheus_with_its_password_masked() {
    let mut settings = Settings::from_defaults_and_env().expect("defaults");
    settings.prometheus = Some(PrometheusSettings {
        url: "https://gate:pr0m-s3cret@prometheus.example.com:9090/prom".into(),
        ca_file: None,
        bearer_token_file: None,
        timeout_seconds: 5,
        cache_seconds: 15,
    });
    let text = settings.describe();
    assert!(
        text.contains(
            "[prometheus]\nurl = \"https://gate:********@prometheus.example.com:9090/prom\""
        ),
        "{text}"
    );
    assert!(!text.contains("pr0m-s3cret"), "{text}");
    assert!(!format!("{settings:?}").contains("pr0m-s3cret"));
}

#[test]
fn the_optional_keys_offered_as_suggestions_are_keys_the_parser_reads() {
    let text = "[database]\nurl = \"postgres://db/foreman\"\n\n\
                [tls]\nlisten = \"127.0.0.1:8443\"\ncert_file = \"/c\"\nkey_file = \"/k\"\n\
                chain_file = \"/ch\"\nmax_connections_per_address = 5\n\
                handshake_timeout_seconds = 3\n\n\
                [[webhooks]]\nurl = \"https://example.com/\"\nevents = [\"acquire\"]\n\
                secret = \"s\"\nca_file = \"/ca\"\n\n\
                [prometheus]\nurl = \"https://prometheus.example.com:9090\"\n\
                ca_file = \"/ca\"\nbearer_token_file = \"/t\"\ntimeout_seconds = 5\n\
                cache_seconds = 15\n";
    let file = unknown_keys::FileText {
        path: Path::new("settings.toml"),
        text,
    };
    let built = defaults::defaults()
        .expect("defaults")
        .add_source(File::from_str(text, FileFormat::Toml))
        .build();
    let loaded = Settings::from_config(built, Some(&file));
    assert!(loaded.is_ok(), "{:?}", loaded.err());
    for key in unknown_keys::OPTIONAL_KEYS {
        let (section, name) = key.split_once('.').expect("dotted");
        let header = if section == "webhooks" {
            "[[webhooks]]"
        } else {
            &format!("[{section}]")
        };
        let at = text.find(header).expect("section");
        assert!(
            text[at..].contains(&format!("\n{name} = ")),
            "{key} is not in the test"
        );
    }
}

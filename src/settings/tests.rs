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

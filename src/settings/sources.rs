//! Where settings come from besides the built-in defaults: the settings file, read so that every
//! failure names it, and the environment.

use std::path::Path;

use config::Environment;

use super::SettingsError;

/// The settings file's text, read here so that every way it can fail names the file: `None` for
/// an absent default file. A directory or a device is not a settings file.
pub(super) fn read_settings_file(
    path: &Path,
    required: bool,
) -> Result<Option<String>, SettingsError> {
    let invalid = |what: String| Err(SettingsError::Invalid(format!("the settings file {what}")));
    let shown = path.display();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return invalid(format!("{shown} does not exist"))
        }
        Err(e) => return invalid(format!("{shown} cannot be read: {e}")),
        Ok(meta) if meta.is_dir() => {
            return invalid(format!("{shown} is a directory; name the TOML file in it"))
        }
        Ok(meta) if !meta.is_file() => {
            return invalid(format!(
                "{shown} is not a regular file (a device or a socket)"
            ))
        }
        Ok(_) => {}
    }
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) => invalid(format!("{shown} cannot be read: {e}")),
    }
}

/// `FOREMAN_DLM__SECTION__KEY` variables; lists comma-separated.
pub(super) fn environment() -> Environment {
    Environment::with_prefix("FOREMAN_DLM")
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
        .list_separator(",")
        .with_list_parse_key("client_cert.ca_files")
        .with_list_parse_key("client_cert.katello_ca_files")
        .with_list_parse_key("client_cert.crl_files")
        .with_list_parse_key("client_cert.trusted_proxies")
}

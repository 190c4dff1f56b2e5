//! Foreman's own `/etc/foreman/settings.yaml`, for the few values foreman-dlm takes from it:
//! password hashing costs (they win over the settings table, as in Foreman) and the client
//! certificate Foreman presents to smart proxies.

use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

/// The parsed file; a missing or unreadable file reads as "nothing set there".
pub struct ForemanYml {
    doc: Yaml,
}

impl ForemanYml {
    pub fn load(path: &Path) -> ForemanYml {
        let doc = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| YamlLoader::load_from_str(&text).ok())
            .and_then(|docs| docs.into_iter().next())
            .unwrap_or(Yaml::BadValue);
        ForemanYml { doc }
    }

    /// A key as Foreman writes it (`:ssl_certificate:`, a Ruby symbol) or as a plain string.
    fn value(&self, key: &str) -> &Yaml {
        let symbol = &self.doc[format!(":{key}").as_str()];
        if symbol.is_badvalue() {
            &self.doc[key]
        } else {
            symbol
        }
    }

    pub fn string(&self, key: &str) -> Option<String> {
        self.value(key).as_str().map(str::to_string)
    }

    pub fn unsigned(&self, key: &str) -> Option<u32> {
        self.value(key).as_i64().and_then(|n| u32::try_from(n).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_and_strings_are_read_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("settings.yaml");
        std::fs::write(
            &path,
            "---\n:ssl_certificate: /etc/foreman/client_cert.pem\nbcrypt_cost: 12\n",
        )
        .expect("write");
        let yml = ForemanYml::load(&path);
        assert_eq!(
            yml.string("ssl_certificate").as_deref(),
            Some("/etc/foreman/client_cert.pem")
        );
        assert_eq!(yml.unsigned("bcrypt_cost"), Some(12));
        assert_eq!(yml.string("ssl_ca_file"), None);
        assert_eq!(
            ForemanYml::load(&dir.path().join("absent")).string("x"),
            None
        );
    }
}

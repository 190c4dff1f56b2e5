//! The `can_acquire_update_locks` host parameter: a host set to false never gets an update lock.

/// Decides from the parameter's stored value (YAML, as Foreman serialises it; `None` when no
/// level defines the parameter) whether the host may acquire.
///
/// Follows the plugin: a blank value allows, otherwise Foreman's boolean cast decides and anything
/// it cannot cast denies. One deliberate difference, the plugin's bug: a *boolean-typed* parameter
/// stored as `--- false` is Ruby `false`, which is "blank", so the plugin lets that host acquire;
/// here it denies, which is what the admin who set it meant.
pub fn may_acquire(stored: Option<&str>) -> bool {
    let Some(stored) = stored else {
        return true;
    };
    let value = match yaml_rust2::YamlLoader::load_from_str(stored) {
        Ok(docs) => docs.into_iter().next().unwrap_or(yaml_rust2::Yaml::Null),
        // Rails returns legacy rows that are not YAML as the plain string.
        Err(_) => yaml_rust2::Yaml::String(stored.to_string()),
    };
    use yaml_rust2::Yaml;
    match value {
        Yaml::Null | Yaml::BadValue => true,
        Yaml::Boolean(allowed) => allowed,
        Yaml::Integer(n) => n == 1,
        Yaml::String(text) => cast_string(&text),
        Yaml::Array(items) => items.is_empty(),
        Yaml::Hash(items) => items.is_empty(),
        // Foreman's cast has no rule for floats or aliases: nil, which denies.
        Yaml::Real(_) | Yaml::Alias(_) => false,
    }
}

/// Stored forms of the values admins set (every word Foreman's boolean cast knows, in the ways
/// Foreman and older versions of it write them, and the blank ones), each classified by
/// [`may_acquire`]: `(allowed, denied)`. The host statement decides these in SQL; any other value
/// it hands back to `may_acquire`, so this function stays the only definition of the rules.
pub fn classified_values() -> (Vec<String>, Vec<String>) {
    const WORDS: [&str; 12] = [
        "true", "t", "yes", "y", "on", "1", "false", "f", "no", "n", "off", "0",
    ];
    const FORMS: [&str; 7] = [
        "--- {}\n",
        "--- {}",
        "--- {}\n...\n",
        "--- '{}'\n",
        "--- \"{}\"\n",
        "{}",
        "--- '{}'",
    ];
    let mut candidates = vec![
        "--- ''\n".to_string(),
        "--- \n".to_string(),
        "---\n...\n".to_string(),
        String::new(),
    ];
    for word in WORDS {
        let mut title = word.to_string();
        title[..1].make_ascii_uppercase();
        for variant in [word.to_string(), title, word.to_ascii_uppercase()] {
            for form in FORMS {
                candidates.push(form.replace("{}", &variant));
            }
        }
    }
    candidates.sort();
    candidates.dedup();
    candidates
        .into_iter()
        .partition(|value| may_acquire(Some(value)))
}

fn cast_string(text: &str) -> bool {
    if text.trim().is_empty() {
        return true;
    }
    if text.contains("<%") {
        // Foreman would render ERB before using the value; a sidecar cannot. Denying is the safe
        // side for a host whose admin wrote logic into its opt-out.
        log::warn!(
            "can_acquire_update_locks contains ERB, which foreman-dlm cannot evaluate; denying"
        );
        return false;
    }
    let lower = text.to_ascii_lowercase();
    matches!(lower.as_str(), "true" | "t" | "yes" | "y" | "on" | "1")
}

#[cfg(test)]
mod tests {
    use super::{classified_values, may_acquire};

    #[test]
    fn classified_values_are_what_may_acquire_says() {
        let (allowed, denied) = classified_values();
        assert!(allowed.contains(&"--- true\n".to_string()));
        assert!(allowed.contains(&"--- 'Yes'\n".to_string()));
        assert!(allowed.contains(&String::new()));
        assert!(denied.contains(&"--- false\n".to_string()));
        assert!(denied.contains(&"--- \"OFF\"\n".to_string()));
        assert!(denied.contains(&"no".to_string()));
        assert!(allowed.iter().all(|v| may_acquire(Some(v))));
        assert!(denied.iter().all(|v| !may_acquire(Some(v))));
    }

    #[test]
    fn foreman_cast_rules() {
        assert!(may_acquire(None));
        for allowed in [
            "--- true\n",
            "--- 'true'\n",
            "--- \"yes\"\n",
            "--- 'Y'\n",
            "--- 'on'\n",
            "--- 1\n",
            "--- '1'\n",
            "--- ''\n",
            "--- \n",
            "--- ' '\n",
            "--- []\n",
            "--- {}\n",
            "---\n...\n",
            "--- true\n...\n",
            "true",
            "",
        ] {
            assert!(may_acquire(Some(allowed)), "{allowed:?} should allow");
        }
        for denied in [
            "--- false\n",
            "--- 'false'\n",
            "--- \"FALSE\"\n",
            "--- 'no'\n",
            "--- 'off'\n",
            "--- 0\n",
            "--- '0'\n",
            "--- f\n",
            "--- n\n",
            "--- maybe\n",
            "--- 2\n",
            "--- 1.0\n",
            "--- [a]\n",
            "--- \"<%= true %>\"\n",
            "false",
            "no",
        ] {
            assert!(!may_acquire(Some(denied)), "{denied:?} should deny");
        }
    }
}

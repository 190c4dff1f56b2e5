//! A misspelled setting is an error, never a silent default: `crl_file` for `crl_files` would
//! switch revocation checking off.

use std::process::Command;

use crate::common::{pki, TestDb};

#[test]
fn unknown_keys_are_errors_with_their_line_and_the_key_they_resemble() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("settings.toml");
    std::fs::write(
        &settings,
        format!(
            "[database]\nurl = \"{}\"\n\n[htpp]\nlisten = \"127.0.0.1:8090\"\n\n\
             [client_cert]\nca_files = [\"{}\"]\ncrl_file = [\"/tmp/crl.pem\"]\n\n\
             [http]\nlistne = \"127.0.0.1:8091\"\n\n\
             [[webhooks]]\nurl = \"https://example.com/hook\"\nevents = [\"acquire\"]\n\
             secrte = \"x\"\n\n\
             [tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\n\
             chain_fle = \"/chain.pem\"\n",
            db.url,
            pki::shared().ca_file.display()
        ),
    )
    .unwrap();
    let shown = settings.display();
    let expected = [
        format!("{shown}, line 4: unknown section htpp; did you mean http?"),
        format!("{shown}, line 9: unknown key client_cert.crl_file; did you mean crl_files?"),
        format!("{shown}, line 12: unknown key http.listne; did you mean listen?"),
        format!("{shown}, line 17: unknown key webhooks.0.secrte; did you mean secret?"),
        format!("{shown}, line 23: unknown key tls.chain_fle; did you mean chain_file?"),
        "FOREMAN_DLM__LOCKS__STALE_TIME_HOUR: unknown setting locks.stale_time_hour; \
         did you mean FOREMAN_DLM__LOCKS__STALE_TIME_HOURS?"
            .to_string(),
    ];
    for command in ["check-config", "serve"] {
        let output = Command::new(env!("CARGO_BIN_EXE_foreman-dlm"))
            .arg("--config")
            .arg(&settings)
            .arg(command)
            .env("FOREMAN_DLM__METRICS__LISTEN", "127.0.0.1:0")
            .env("FOREMAN_DLM__LOCKS__STALE_TIME_HOUR", "3")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{command}: {said}");
        for line in &expected {
            assert!(
                said.contains(line.as_str()),
                "{command} lacks {line}:\n{said}"
            );
        }
        assert!(!said.contains("configuration OK"), "{said}");
    }

    // Corrected, the same file is accepted.
    let crl = pki::shared().crl_file.display().to_string();
    let fixed = std::fs::read_to_string(&settings)
        .unwrap()
        .replace("[htpp]\nlisten = \"127.0.0.1:8090\"\n", "")
        .replace(
            "crl_file = [\"/tmp/crl.pem\"]",
            &format!("crl_files = [\"{crl}\"]"),
        )
        .replace("listne =", "listen =")
        .replace("secrte", "secret");
    let fixed = &fixed[..fixed.find("\n[tls]").unwrap()];
    std::fs::write(&settings, fixed).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_foreman-dlm"))
        .arg("--config")
        .arg(&settings)
        .arg("check-config")
        .env("FOREMAN_DLM__METRICS__LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}");
    assert!(said.contains(&format!("crl_files = [\"{crl}\"]")), "{said}");
}

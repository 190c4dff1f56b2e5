//! Property tests (proptest) for the parsers that see untrusted input first: the forwarded
//! certificate header, lock names from the URL, the search syntax and Basic credentials. They run
//! with `cargo test` and stand in for a fuzz target: arbitrary input never panics, and what is
//! accepted keeps its invariants.

use proptest::prelude::*;

use crate::demo::pki::{Authority, Validity};
use crate::identity::certificate::decode_forwarded_pem;
use crate::identity::users::BasicCredentials;
use crate::locks::name::{LockRef, MAX_NAME_CHARS};
use crate::locks::search::{parse_order, parse_search};

fn issued_pem() -> &'static str {
    static PEM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PEM.get_or_init(|| {
        let ca = Authority::new("proptest CA").expect("CA");
        ca.issue("web1.example.com", Validity::default())
            .expect("cert")
            .cert_pem()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn certificate_header_never_panics(input in any::<String>()) {
        let _ = decode_forwarded_pem(&input);
    }

    #[test]
    fn certificate_header_bytes_around_a_real_pem_never_panic(
        prefix in ".{0,40}",
        suffix in ".{0,40}",
        cut in 0usize..1200,
    ) {
        let pem = issued_pem();
        let cut = cut.min(pem.len());
        let _ = decode_forwarded_pem(&format!("{prefix}{}{suffix}", &pem[..cut]));
    }

    #[test]
    fn any_whitespace_mangling_of_a_pem_decodes_to_the_same_certificate(
        separator in "[ \t\r\n]{1,3}",
    ) {
        let pem = issued_pem();
        let mangled = pem.trim_end().replace('\n', &separator);
        let decoded = decode_forwarded_pem(&mangled).expect("decodes").expect("present");
        let original = openssl::x509::X509::from_pem(pem.as_bytes()).expect("pem");
        prop_assert_eq!(decoded.to_der().expect("der"), original.to_der().expect("der"));
    }

    #[test]
    fn lock_name_parsing_never_panics_and_accepted_names_are_clean(raw in any::<String>()) {
        if let Ok(lock_ref) = LockRef::parse(&raw) {
            let name = lock_ref.as_str();
            prop_assert!(!name.is_empty() && name.chars().count() <= MAX_NAME_CHARS);
            prop_assert!(!name.contains('/'));
            prop_assert!(!name.chars().any(char::is_control));
            prop_assert!(!name.trim().is_empty());
            prop_assert!(name != "." && name != "..");
        }
    }

    #[test]
    fn every_valid_name_survives_url_encoding(name in "[^/\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}]{1,60}") {
        prop_assume!(name != "." && name != ".." && !name.trim().is_empty());
        let encoded =
            percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let parsed = LockRef::parse(&encoded).expect("valid name");
        prop_assert_eq!(parsed.as_str(), name.as_str());
    }

    #[test]
    fn search_and_order_parsing_never_panic(search in any::<String>(), order in any::<String>()) {
        let _ = parse_search(&search, usize::MAX, usize::MAX);
        let _ = parse_order(&order);
    }

    #[test]
    fn basic_credentials_parsing_never_panics(
        header in any::<String>(),
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let _ = BasicCredentials::from_header(&header);
        let encoded = openssl::base64::encode_block(&bytes);
        let _ = BasicCredentials::from_header(&format!("Basic {encoded}"));
    }
}

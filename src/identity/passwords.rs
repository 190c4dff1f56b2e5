//! Foreman's password and personal-access-token hashing (app/services/foreman/password_hash.rb),
//! reproduced so that a Foreman user's credentials verify here exactly as in Foreman.
//!
//! The scheme is chosen by the stored salt: `$pbkdf2sha1$COST$SALT` → PBKDF2-HMAC-SHA1 (39 bytes,
//! base64), `$2…` → bcrypt, anything else → legacy SHA1 of password + salt (hex).

use openssl::hash::{hash, MessageDigest};

const PBKDF2_PREFIX: &str = "$pbkdf2sha1";
const PBKDF2_LENGTH: usize = 39;

/// The cost settings Foreman uses when it hashes a token (`bcrypt_cost`, `pbkdf2_cost`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCosts {
    pub bcrypt: u32,
    pub pbkdf2: u32,
}

impl Default for HashCosts {
    /// Foreman's code defaults; a seeded database normally stores a calibrated `bcrypt_cost`.
    fn default() -> Self {
        HashCosts {
            bcrypt: 4,
            pbkdf2: 50_000,
        }
    }
}

/// Whether `password` matches a user's stored `password_hash` / `password_salt`.
pub fn password_matches(password: &str, stored_hash: &str, stored_salt: &str) -> bool {
    let computed = if stored_salt.starts_with(PBKDF2_PREFIX) {
        pbkdf2_secret(password, stored_salt)
    } else if stored_salt.starts_with("$2") {
        // The stored bcrypt string embeds salt and cost: verifying against it is equivalent to
        // Foreman's hash_secret(password, salt) == password_hash.
        return bcrypt::verify(password, stored_hash).unwrap_or(false);
    } else {
        Some(sha1_hex(&format!("{password}{stored_salt}")))
    };
    computed.is_some_and(|c| constant_time_eq(c.as_bytes(), stored_hash.as_bytes()))
}

/// How Foreman hashes new passwords: its `password_hash` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PasswordScheme {
    #[default]
    Bcrypt,
    Pbkdf2Sha1,
    Sha1,
}

impl PasswordScheme {
    pub fn from_setting(value: &str) -> Option<PasswordScheme> {
        match value.trim() {
            "bcrypt" => Some(PasswordScheme::Bcrypt),
            "pbkdf2sha1" => Some(PasswordScheme::Pbkdf2Sha1),
            "sha1" => Some(PasswordScheme::Sha1),
            _ => None,
        }
    }
}

/// Spends as long as verifying a password hashed the way Foreman hashes new passwords now, for
/// logins that have no password to check (unknown users, system users), so that timing does not
/// tell them apart from the common case. Users whose hashes predate a change of scheme or cost
/// still take a different time: their hash says how long it takes.
pub fn waste_like_a_password_check(password: &str, scheme: PasswordScheme, costs: HashCosts) {
    match scheme {
        PasswordScheme::Bcrypt => {
            let _ = bcrypt::hash_with_salt(password, costs.bcrypt.clamp(4, 31), [0x5a; 16]);
        }
        PasswordScheme::Pbkdf2Sha1 => {
            let salt = format!(
                "{PBKDF2_PREFIX}${}$wastewastewastewastewastewastewaste",
                costs.pbkdf2
            );
            let _ = pbkdf2_secret(password, &salt);
        }
        PasswordScheme::Sha1 => {
            let _ = sha1_hex(password);
        }
    }
}

/// The three hashes Foreman compares a presented token against (PBKDF2, bcrypt, SHA1), each with
/// the deterministic per-user salt of `PersonalAccessToken.token_salt` and the current costs.
pub fn token_candidates(token: &str, user_id: i32, costs: HashCosts) -> Vec<String> {
    let user_salt = sha1_hex(&user_id.to_string());
    let mut candidates = Vec::with_capacity(3);
    if let Some(pbkdf2) = pbkdf2_secret(
        token,
        &format!("{PBKDF2_PREFIX}${}${user_salt}", costs.pbkdf2),
    ) {
        candidates.push(pbkdf2);
    }
    if let Some(bcrypt) = bcrypt_with_text_salt(token, costs.bcrypt, &user_salt) {
        candidates.push(bcrypt);
    }
    candidates.push(sha1_hex(&format!("{token}{user_salt}")));
    candidates
}

/// `<salt>$<base64(PBKDF2-HMAC-SHA1(secret, salt text after the 3rd '$', cost, 39))>`.
fn pbkdf2_secret(secret: &str, salt: &str) -> Option<String> {
    let mut parts = salt.splitn(4, '$');
    let (_, _, cost, clean_salt) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let iterations: usize = cost.parse().ok().filter(|n| *n > 0)?;
    let mut key = [0u8; PBKDF2_LENGTH];
    openssl::pkcs5::pbkdf2_hmac(
        secret.as_bytes(),
        clean_salt.as_bytes(),
        iterations,
        MessageDigest::sha1(),
        &mut key,
    )
    .ok()?;
    Some(format!("{salt}${}", openssl::base64::encode_block(&key)))
}

/// Ruby's `BCrypt::Engine.hash_secret(secret, "$2a$NN$" + text)`: bcrypt reads the first 22
/// characters of `text` as its salt (the last one only partly, hence the normalised output).
fn bcrypt_with_text_salt(secret: &str, cost: u32, text: &str) -> Option<String> {
    let salt = decode_bcrypt_salt(text.get(..22)?)?;
    let parts = bcrypt::hash_with_salt(secret, cost, salt).ok()?;
    Some(parts.format_for_version(bcrypt::Version::TwoA))
}

fn decode_bcrypt_salt(text: &str) -> Option<[u8; 16]> {
    const ALPHABET: &[u8] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = [0u8; 16];
    let (mut bits, mut acc, mut filled) = (0u32, 0u32, 0usize);
    for c in text.bytes() {
        let value = ALPHABET.iter().position(|a| *a == c)? as u32;
        acc = (acc << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            if filled < 16 {
                out[filled] = (acc >> bits) as u8;
                filled += 1;
            }
            acc &= (1 << bits) - 1;
        }
    }
    (filled == 16).then_some(out)
}

fn sha1_hex(text: &str) -> String {
    hash(MessageDigest::sha1(), text.as_bytes())
        .map(|digest| digest.iter().map(|b| format!("{b:02x}")).collect())
        .unwrap_or_default()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_passwords() {
        // sha1("secret" + "salt")
        let hash = sha1_hex("secretsalt");
        assert!(password_matches("secret", &hash, "salt"));
        assert!(!password_matches("Secret", &hash, "salt"));
    }

    #[test]
    fn pbkdf2_passwords_round_trip() {
        let salt = "$pbkdf2sha1$1000$abcdefghijABCDEFGHIJabcdefghijABCDEFGHIJ1234";
        let stored = pbkdf2_secret("changeme", salt).expect("hash");
        assert!(stored.starts_with(&format!("{salt}$")));
        assert!(password_matches("changeme", &stored, salt));
        assert!(!password_matches("changemE", &stored, salt));
        assert!(!password_matches(
            "changeme",
            &stored,
            "$pbkdf2sha1$x$broken"
        ));
    }

    #[test]
    fn bcrypt_passwords() {
        let stored = bcrypt::hash("changeme", 4).expect("bcrypt");
        let salt = &stored[..29];
        assert!(password_matches("changeme", &stored, salt));
        assert!(!password_matches("nope", &stored, salt));
    }

    #[test]
    fn bcrypt_text_salt_is_read_like_ruby() {
        // The salt text is hex (valid bcrypt base64); bcrypt keeps 22 characters of it.
        let text = sha1_hex("42");
        let hashed = bcrypt_with_text_salt("token", 4, &text).expect("bcrypt");
        assert!(hashed.starts_with("$2a$04$"));
        assert_eq!(
            &hashed[7..28],
            &text[..21],
            "the first 21 salt characters survive unchanged"
        );
        assert!(bcrypt::verify("token", &hashed).expect("verify"));
    }

    #[test]
    fn bcrypt_token_hashes_match_openwall_crypt_blowfish() {
        // Known answers from glibc/libxcrypt crypt(3) (Openwall crypt_blowfish, the code Ruby's
        // bcrypt gem wraps) for Foreman's token salt of user 42: "$2a$NN$" + sha1hex("42").
        let salt_text = sha1_hex("42");
        assert_eq!(salt_text, "92cfceb39d57d914ed8b14d0e37643de0797ae56");
        assert_eq!(
            bcrypt_with_text_salt("my-token-value", 4, &salt_text).as_deref(),
            Some("$2a$04$92cfceb39d57d914ed8b1u5HvMyoLT88Nj2Q/z72/HzK3hrvpJV.C")
        );
        assert_eq!(
            bcrypt_with_text_salt("my-token-value", 5, &salt_text).as_deref(),
            Some("$2a$05$92cfceb39d57d914ed8b1u57zBjsXtq7PkxBaDRM4Jw0Y2Xq/C0mG")
        );
    }

    #[test]
    fn token_candidates_match_independent_implementations() {
        // PBKDF2 and SHA1 answers from Python's hashlib for user 42, pbkdf2_cost 1000.
        let candidates = token_candidates(
            "my-token-value",
            42,
            HashCosts {
                bcrypt: 4,
                pbkdf2: 1000,
            },
        );
        assert_eq!(
            candidates,
            [
                concat!(
                    "$pbkdf2sha1$1000$92cfceb39d57d914ed8b14d0e37643de0797ae56$",
                    "tSUeMhQ5vLdEV5tLNFgmGaM6MD1hxQeLqveA2yx/uc+LIIdhffdP"
                ),
                "$2a$04$92cfceb39d57d914ed8b1u5HvMyoLT88Nj2Q/z72/HzK3hrvpJV.C",
                "e05029243ebceba72febcc362f746fc4c0ef7370",
            ]
        );
    }

    #[test]
    fn token_candidates_differ_per_user() {
        let costs = HashCosts {
            bcrypt: 4,
            pbkdf2: 10,
        };
        let first = token_candidates("tok", 1, costs);
        assert_eq!(first.len(), 3);
        assert!(first[0].starts_with("$pbkdf2sha1$10$"));
        assert_ne!(first, token_candidates("tok", 2, costs));
        assert_eq!(first, token_candidates("tok", 1, costs), "deterministic");
    }
}

//! Foreman users, groups, roles and tokens for the admin API tests, stored the way Foreman
//! stores them. Password hashes are computed here independently of foreman-dlm's own code.

use openssl::hash::{hash, MessageDigest};

use super::TestDb;
use foreman_dlm::identity::passwords::{token_candidates, HashCosts};

/// The fixture's costs (settings rows bcrypt_cost and pbkdf2_cost).
pub const COSTS: HashCosts = HashCosts {
    bcrypt: 4,
    pbkdf2: 1000,
};

#[derive(Clone, Copy, Debug)]
pub enum Scheme {
    Bcrypt,
    Pbkdf2,
    Sha1,
}

fn sha1_hex(text: &str) -> String {
    hash(MessageDigest::sha1(), text.as_bytes())
        .expect("sha1")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// (password_hash, password_salt) as Foreman's PasswordHash writes them.
pub fn password_columns(password: &str, scheme: Scheme) -> (String, String) {
    match scheme {
        Scheme::Bcrypt => {
            let hashed = bcrypt::hash(password, 4).expect("bcrypt");
            let salt = hashed[..29].to_string();
            (hashed, salt)
        }
        Scheme::Pbkdf2 => {
            let salt = "$pbkdf2sha1$1000$c2FsdHNhbHRzYWx0c2FsdHNhbHRzYWx0c2FsdHNhbHQx".to_string();
            let clean = salt.splitn(4, '$').nth(3).expect("salt text");
            let mut key = [0u8; 39];
            openssl::pkcs5::pbkdf2_hmac(
                password.as_bytes(),
                clean.as_bytes(),
                1000,
                MessageDigest::sha1(),
                &mut key,
            )
            .expect("pbkdf2");
            (
                format!("{salt}${}", openssl::base64::encode_block(&key)),
                salt,
            )
        }
        Scheme::Sha1 => {
            let salt = sha1_hex("some time and rand");
            (sha1_hex(&format!("{password}{salt}")), salt)
        }
    }
}

pub fn basic(login: &str, secret: &str) -> (&'static str, String) {
    (
        "Authorization",
        format!(
            "Basic {}",
            openssl::base64::encode_block(format!("{login}:{secret}").as_bytes())
        ),
    )
}

impl TestDb {
    /// An internal (AuthSourceInternal) Foreman user with the Default role, as Foreman creates one.
    pub fn add_user(&self, login: &str, password: &str, scheme: Scheme) -> i64 {
        let (hash, salt) = password_columns(password, scheme);
        let id = self.insert_returning_id(&format!(
            "INSERT INTO users (login, lower_login, firstname, lastname, mail, admin, auth_source_id, \
             password_hash, password_salt, created_at, updated_at) \
             VALUES ('{login}', lower('{login}'), 'Test', 'User', '{login}@example.com', false, 1, \
             '{hash}', '{salt}', now(), now()) RETURNING id"
        ));
        self.give_role(id, 1);
        id
    }

    pub fn make_admin(&self, user_id: i64) {
        self.exec(&format!(
            "UPDATE users SET admin = true WHERE id = {user_id}"
        ));
    }

    /// A role holding exactly `permissions` through one unlimited filter; returns its id.
    pub fn add_role(&self, name: &str, permissions: &[&str]) -> i64 {
        let role = self.insert_returning_id(&format!(
            "INSERT INTO roles (name, builtin) VALUES ('{name}', 0) RETURNING id"
        ));
        let filter = self.insert_returning_id(&format!(
            "INSERT INTO filters (role_id, created_at, updated_at) VALUES ({role}, now(), now()) RETURNING id"
        ));
        for permission in permissions {
            self.exec(&format!(
                "INSERT INTO filterings (filter_id, permission_id, created_at, updated_at) \
                 SELECT {filter}, id, now(), now() FROM permissions WHERE name = '{permission}'"
            ));
        }
        role
    }

    /// Assigns a role to a user directly (user_roles + Foreman's cache cached_user_roles).
    pub fn give_role(&self, user_id: i64, role_id: i64) {
        let user_role = self.insert_returning_id(&format!(
            "INSERT INTO user_roles (owner_id, role_id, owner_type) VALUES ({user_id}, {role_id}, 'User') RETURNING id"
        ));
        self.exec(&format!(
            "INSERT INTO cached_user_roles (user_id, role_id, user_role_id, created_at, updated_at) \
             VALUES ({user_id}, {role_id}, {user_role}, now(), now())"
        ));
    }

    /// A user group with a role, its member, and Foreman's caches of both.
    pub fn add_group(&self, name: &str, admin: bool, member: i64, role: Option<i64>) -> i64 {
        let group = self.insert_returning_id(&format!(
            "INSERT INTO usergroups (name, admin, created_at, updated_at) VALUES ('{name}', {admin}, now(), now()) RETURNING id"
        ));
        self.exec(&format!(
            "INSERT INTO usergroup_members (member_id, member_type, usergroup_id) VALUES ({member}, 'User', {group});
             INSERT INTO cached_usergroup_members (user_id, usergroup_id, created_at, updated_at) VALUES ({member}, {group}, now(), now());"
        ));
        if let Some(role) = role {
            let user_role = self.insert_returning_id(&format!(
                "INSERT INTO user_roles (owner_id, role_id, owner_type) VALUES ({group}, {role}, 'Usergroup') RETURNING id"
            ));
            self.exec(&format!(
                "INSERT INTO cached_user_roles (user_id, role_id, user_role_id, created_at, updated_at) \
                 VALUES ({member}, {role}, {user_role}, now(), now())"
            ));
        }
        group
    }

    /// A personal access token stored as Foreman stores it under `scheme`; returns its id.
    pub fn add_token(
        &self,
        user_id: i64,
        token: &str,
        scheme: Scheme,
        revoked: &str,
        expires: &str,
    ) -> i64 {
        let candidates = token_candidates(token, user_id as i32, COSTS);
        let stored = match scheme {
            Scheme::Pbkdf2 => &candidates[0],
            Scheme::Bcrypt => &candidates[1],
            Scheme::Sha1 => &candidates[2],
        };
        self.insert_returning_id(&format!(
            "INSERT INTO personal_access_tokens (token, name, user_id, revoked, expires_at, created_at, updated_at) \
             VALUES ('{stored}', 'token-{token}', {user_id}, {revoked}, {expires}, now(), now()) RETURNING id"
        ))
    }
}

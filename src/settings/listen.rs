//! Where a listener listens: parsed once when the settings load, so that nothing later has to
//! check an address string again.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};

/// `127.0.0.1:8090` (TCP) or `unix:/run/foreman-dlm/http.sock` (a Unix-domain socket).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum ListenAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Some(path) = text.strip_prefix("unix:") {
            let path = PathBuf::from(path);
            if !path.is_absolute() {
                return Err(format!(
                    "{text:?} is not a Unix socket path such as unix:/run/foreman-dlm/http.sock \
                     (it must be absolute)"
                ));
            }
            return Ok(ListenAddr::Unix(path));
        }
        text.parse().map(ListenAddr::Tcp).map_err(|_| {
            format!(
                "{text:?} is neither address:port (such as 127.0.0.1:8090) nor unix:/path/to.sock"
            )
        })
    }
}

impl TryFrom<String> for ListenAddr {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "{addr}"),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl Serialize for ListenAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// File permission bits written in octal, as in `chmod`: `"0660"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct FileMode(pub u32);

impl TryFrom<String> for FileMode {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        u32::from_str_radix(text.trim(), 8)
            .ok()
            .filter(|mode| *mode <= 0o777)
            .map(FileMode)
            .ok_or_else(|| format!("{text:?} is not an octal file mode such as \"0660\""))
    }
}

impl Serialize for FileMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:04o}", self.0))
    }
}

/// `client_cert.trusted_proxies`: networks, or single addresses (a /32 or /128). A wrong entry is
/// named in the error, which says what it is not.
pub(super) fn networks<'de, D>(deserializer: D) -> Result<Vec<ipnet::IpNet>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let entries = <Vec<String> as serde::Deserialize>::deserialize(deserializer)?;
    entries
        .iter()
        .map(|entry| {
            let entry = entry.trim();
            entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "{entry:?} is not an IP address or network (such as 127.0.0.1/32, \
                         10.0.0.0/8 or ::1/128)"
                    ))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_and_unix_addresses() {
        assert_eq!(
            "127.0.0.1:8090".parse(),
            Ok(ListenAddr::Tcp("127.0.0.1:8090".parse().expect("addr")))
        );
        assert_eq!(
            "unix:/run/foreman-dlm/http.sock".parse(),
            Ok(ListenAddr::Unix("/run/foreman-dlm/http.sock".into()))
        );
        assert!("unix:relative.sock".parse::<ListenAddr>().is_err());
        assert!("localhost".parse::<ListenAddr>().is_err());
        assert_eq!(
            ListenAddr::Unix("/run/x.sock".into()).to_string(),
            "unix:/run/x.sock"
        );
    }

    #[test]
    fn octal_modes() {
        assert_eq!(FileMode::try_from("0660".to_string()), Ok(FileMode(0o660)));
        assert_eq!(FileMode::try_from("600".to_string()), Ok(FileMode(0o600)));
        assert!(FileMode::try_from("0999".to_string()).is_err());
        assert!(FileMode::try_from("7777".to_string()).is_err());
        assert_eq!(
            serde_json::to_string(&FileMode(0o660)).expect("json"),
            "\"0660\""
        );
    }
}

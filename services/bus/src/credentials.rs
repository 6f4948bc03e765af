//! The store's credentials: one secret per part (every service, every barista station, every
//! POS terminal or kiosk, the operator), in one TOML file readable only by its owner and the
//! `milo` group. `milo credentials init` makes it; the broker's gate checks every CONNECT
//! against it, and each part takes its own entry to connect.
//!
//! ```toml
//! [services]
//! order = "3f5c…"
//! [stations]
//! bar-1 = "…"
//! [pos]
//! pos-1 = "…"
//! [operators]
//! operator = "…"
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use milo_contracts::policy::{Identity, Role, SERVICES};
use rand::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::{MqttConfig, Secret};

/// Why a credentials file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The file cannot be read or written.
    #[error("credentials file {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        error: std::io::Error,
    },
    /// The file is not valid.
    #[error("credentials file {path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        reason: String,
    },
    /// A name that cannot be a credential.
    #[error("{0}")]
    Name(String),
    /// No credential for a part.
    #[error("no credential for {role} {name:?} in {path}: add one with `milo credentials add {role} {name}`", role = role.as_str())]
    Missing {
        /// The part.
        name: String,
        /// Its role.
        role: Role,
        /// The file.
        path: PathBuf,
    },
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct File {
    services: BTreeMap<String, String>,
    stations: BTreeMap<String, String>,
    pos: BTreeMap<String, String>,
    operators: BTreeMap<String, String>,
}

/// Every credential of the store.
#[derive(Clone, Default)]
pub struct Credentials {
    entries: BTreeMap<String, (Role, Secret)>,
    path: PathBuf,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&String> = self.entries.keys().collect();
        f.debug_struct("Credentials")
            .field("path", &self.path)
            .field("names", &names)
            .finish()
    }
}

/// Checks that `name` can be a credential of `role`.
pub fn valid_name(name: &str, role: Role) -> Result<(), CredentialsError> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-');
    if !ok {
        return Err(CredentialsError::Name(format!(
            "{name:?} cannot be a credential name: 1 to 40 of a-z, 0-9 and '-', not starting with '-'"
        )));
    }
    if role == Role::Service && !SERVICES.contains(&name) {
        return Err(CredentialsError::Name(format!(
            "{name:?} is not a service; expected one of: {}",
            SERVICES.join(", ")
        )));
    }
    if role != Role::Service && (SERVICES.contains(&name) || name.starts_with("barista-device")) {
        return Err(CredentialsError::Name(format!(
            "{name:?} is a service's name: choose another for a {}",
            role.as_str()
        )));
    }
    if !matches!(
        role,
        Role::Service | Role::Station | Role::Pos | Role::Operator
    ) {
        return Err(CredentialsError::Name(format!(
            "a credential is for a service, station, pos or operator, not {}",
            role.as_str()
        )));
    }
    Ok(())
}

/// A fresh random secret: 32 hex digits (128 bits) from the operating system's generator.
pub fn fresh_secret() -> Secret {
    let mut bytes = [0u8; 16];
    rand::rngs::StdRng::from_entropy().fill_bytes(&mut bytes);
    Secret::new(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

impl Credentials {
    /// Credentials for every service, the operator, `stations` and `terminals`, with fresh
    /// secrets, to be written at `path`.
    pub fn generate(
        path: &Path,
        stations: &[String],
        terminals: &[String],
    ) -> Result<Self, CredentialsError> {
        let mut c = Credentials {
            entries: BTreeMap::new(),
            path: path.to_owned(),
        };
        for s in SERVICES {
            c.add(s, Role::Service)?;
        }
        c.add("operator", Role::Operator)?;
        for s in stations {
            c.add(s, Role::Station)?;
        }
        for t in terminals {
            c.add(t, Role::Pos)?;
        }
        Ok(c)
    }

    /// Reads the file at `path`.
    pub fn load(path: &Path) -> Result<Self, CredentialsError> {
        let text = std::fs::read_to_string(path).map_err(|error| CredentialsError::Io {
            path: path.to_owned(),
            error,
        })?;
        let invalid = |reason: String| CredentialsError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let file: File = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let mut entries = BTreeMap::new();
        let sections = [
            ("services", Role::Service, file.services),
            ("stations", Role::Station, file.stations),
            ("pos", Role::Pos, file.pos),
            ("operators", Role::Operator, file.operators),
        ];
        for (section, role, map) in sections {
            for (name, secret) in map {
                valid_name(&name, role).map_err(|e| invalid(format!("[{section}] {e}")))?;
                if secret.len() < 16 {
                    return Err(invalid(format!(
                        "[{section}] {name}: the secret is shorter than 16 characters"
                    )));
                }
                if entries
                    .insert(name.clone(), (role, Secret::new(secret)))
                    .is_some()
                {
                    return Err(invalid(format!("{name} appears in two sections")));
                }
            }
        }
        Ok(Credentials {
            entries,
            path: path.to_owned(),
        })
    }

    /// Reads the file at `path`, or makes it (every service, the operator, `stations` and
    /// `terminals`) if there is none. True in the second field when it was made.
    pub fn load_or_create(
        path: &Path,
        stations: &[String],
        terminals: &[String],
    ) -> Result<(Self, bool), CredentialsError> {
        if path.exists() {
            return Ok((Credentials::load(path)?, false));
        }
        let c = Credentials::generate(path, stations, terminals)?;
        c.write()?;
        Ok((c, true))
    }

    /// Adds a credential with a fresh secret; refuses a name already taken.
    pub fn add(&mut self, name: &str, role: Role) -> Result<&Secret, CredentialsError> {
        valid_name(name, role)?;
        if self.entries.contains_key(name) {
            return Err(CredentialsError::Name(format!(
                "{name:?} already has a credential"
            )));
        }
        let entry = self.entries.entry(name.to_owned());
        Ok(&entry.or_insert((role, fresh_secret())).1)
    }

    /// Removes a credential; false if there was none.
    pub fn remove(&mut self, name: &str) -> bool {
        self.entries.remove(name).is_some()
    }

    /// Writes the file (mode 0640, replaced atomically).
    pub fn write(&self) -> Result<(), CredentialsError> {
        let io = |error| CredentialsError::Io {
            path: self.path.clone(),
            error,
        };
        let mut file = File::default();
        for (name, (role, secret)) in &self.entries {
            let map = match role {
                Role::Service => &mut file.services,
                Role::Station => &mut file.stations,
                Role::Pos => &mut file.pos,
                _ => &mut file.operators,
            };
            map.insert(name.clone(), secret.expose().to_owned());
        }
        let body = toml::to_string(&file).unwrap_or_default();
        let text = format!(
            "# Milo's credentials: one secret per part. Keep this file readable only by root and\n\
             # the milo group (mode 0640). `milo credentials add ROLE NAME` adds one.\n{body}"
        );
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = self.path.with_extension("toml.new");
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o640)
                .open(&tmp)
                .map_err(io)?;
            f.write_all(text.as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every identity.
    pub fn identities(&self) -> impl Iterator<Item = Identity> + '_ {
        self.entries
            .iter()
            .map(|(name, (role, _))| Identity::new(name.clone(), *role))
    }

    /// The identity named `name`, if any.
    pub fn identity(&self, name: &str) -> Option<Identity> {
        self.entries
            .get(name)
            .map(|(role, _)| Identity::new(name, *role))
    }

    /// The secret of `name`, if any.
    pub fn secret(&self, name: &str) -> Option<&Secret> {
        self.entries.get(name).map(|(_, s)| s)
    }

    /// The identity whose name is `user` and secret `password` (compared in constant time).
    pub fn check(&self, user: &str, password: &[u8]) -> Option<Identity> {
        let (role, secret) = self.entries.get(user)?;
        let same: bool = secret.expose().as_bytes().ct_eq(password).into();
        same.then(|| Identity::new(user, *role))
    }

    /// The identity whose secret is `token` (an HTTP bearer token), compared in constant time
    /// against every secret.
    pub fn by_secret(&self, token: &[u8]) -> Option<Identity> {
        let mut found = None;
        for (name, (role, secret)) in &self.entries {
            let same: bool = secret.expose().as_bytes().ct_eq(token).into();
            if same {
                found = Some(Identity::new(name.clone(), *role));
            }
        }
        found
    }

    /// `base` with `name`'s username and password; an error naming the file when `name` (of
    /// `role`) has no credential.
    pub fn mqtt_for(
        &self,
        base: &MqttConfig,
        name: &str,
        role: Role,
    ) -> Result<MqttConfig, CredentialsError> {
        match self.entries.get(name) {
            Some((r, secret)) if *r == role => {
                let mut mqtt = base.clone();
                mqtt.username = Some(name.to_owned());
                mqtt.password = Some(secret.clone());
                Ok(mqtt)
            }
            _ => Err(CredentialsError::Missing {
                name: name.to_owned(),
                role,
                path: self.path.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_write_load_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.toml");
        let c = Credentials::generate(&path, &["bar-1".into()], &["pos-1".into()]).unwrap();
        c.write().unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        let back = Credentials::load(&path).unwrap();
        let secret = back.secret("payment").unwrap().expose().to_owned();
        assert_eq!(secret.len(), 32);
        assert_eq!(
            back.check("payment", secret.as_bytes()),
            Some(Identity::new("payment", Role::Service))
        );
        assert_eq!(back.check("payment", b"nope"), None);
        assert_eq!(back.check("order", secret.as_bytes()), None);
        assert_eq!(back.identity("bar-1").unwrap().role, Role::Station);
        assert_eq!(back.identity("pos-1").unwrap().role, Role::Pos);
        assert!(!format!("{back:?}").contains(&secret));
        let mqtt = back
            .mqtt_for(&MqttConfig::default(), "pos-1", Role::Pos)
            .unwrap();
        assert_eq!(mqtt.username.as_deref(), Some("pos-1"));
        let err = back
            .mqtt_for(&MqttConfig::default(), "pos-2", Role::Pos)
            .unwrap_err();
        assert!(err.to_string().contains("milo credentials add pos pos-2"));
    }

    #[test]
    fn bad_files_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[services]\ncoffee = \"0123456789abcdef0123\"\n").unwrap();
        let err = Credentials::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("[services]") && err.contains("coffee"),
            "{err}"
        );
        std::fs::write(&path, "[pos]\npos-1 = \"short\"\n").unwrap();
        let err = Credentials::load(&path).unwrap_err().to_string();
        assert!(err.contains("pos-1") && err.contains("shorter"), "{err}");
        std::fs::write(&path, "[cashiers]\na = \"x\"\n").unwrap();
        assert!(Credentials::load(&path).is_err());
        assert!(valid_name("Bar 1", Role::Station).is_err());
        assert!(valid_name("order", Role::Pos).is_err());
    }
}

//! `milo credentials init|add|remove|list|show`: the store's credentials file (one secret per
//! part). The broker reads it when it starts: restart it after a change
//! (`systemctl restart milo-broker`, or `milo up` again).
//!
//! `milo credentials cert` makes the broker's TLS certificate and key (`[security] tls`) if
//! they are missing; `init` makes them too when TLS is on.
//!
//! Exit codes: 0 done; 1 refused (file exists, name taken or unknown); 78 bad configuration.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use milo::MiloConfig;
use milo_bus::Credentials;
use milo_contracts::policy::Role;

/// Credentials commands.
#[derive(Subcommand)]
pub enum CredentialsCommand {
    /// Make the credentials file: every service, the operator, `security.stations` and
    /// `security.terminals` (plus `device.station` and `pos.terminal`), each with a fresh
    /// secret. Refuses to replace an existing file unless `--force`.
    Init {
        /// Replace an existing file (every part then needs its new secret).
        #[arg(long)]
        force: bool,
    },
    /// Add a credential with a fresh secret and print the part's own credentials file (copy it
    /// to the POS terminal or bar board as its `security.credentials`).
    Add {
        /// What kind of part.
        role: Kind,
        /// Its name (a station id such as bar-2, a terminal such as pos-3).
        name: String,
    },
    /// Remove a credential: that part can no longer connect (after the broker restarts).
    Remove {
        /// The name.
        name: String,
    },
    /// List names and roles (never secrets).
    List,
    /// Print one part's own credentials file (its secret included), to copy to that device.
    Show {
        /// The name.
        name: String,
    },
    /// Make the broker's TLS certificate (self-signed, `security.tls_cert`, mode 0644) and key
    /// (`security.tls_key`, mode 0640) unless both exist: with `localhost`, 127.0.0.1, ::1,
    /// this machine's host name and `security.tls_names` as its names. Prints the
    /// certificate's path: copy it to every board that runs a part (its `security.tls_cert`).
    Cert,
}

/// Kinds of part that get a credential.
#[derive(Clone, Copy, ValueEnum)]
pub enum Kind {
    /// A service (order, payment, ...).
    Service,
    /// A barista station.
    Station,
    /// A POS terminal or kiosk.
    Pos,
    /// An operator.
    Operator,
}

impl From<Kind> for Role {
    fn from(k: Kind) -> Role {
        match k {
            Kind::Service => Role::Service,
            Kind::Station => Role::Station,
            Kind::Pos => Role::Pos,
            Kind::Operator => Role::Operator,
        }
    }
}

/// Runs a credentials command.
pub fn run(command: CredentialsCommand, config: &MiloConfig) -> anyhow::Result<ExitCode> {
    let path = config.security.credentials_path(&config.data_dir);
    let refuse = |why: String| {
        eprintln!("milo credentials: {why}");
        Ok(ExitCode::FAILURE)
    };
    match command {
        CredentialsCommand::Init { force } => {
            if path.exists() && !force {
                return refuse(format!(
                    "{} exists; `--force` replaces it (every part then needs its new secret)",
                    path.display()
                ));
            }
            let mut stations = config.security.stations.clone();
            stations.push(config.device.station.clone());
            stations.sort();
            stations.dedup();
            let mut terminals = config.security.terminals.clone();
            terminals.push(config.pos.terminal.clone());
            terminals.sort();
            terminals.dedup();
            let c = Credentials::generate(&path, &stations, &terminals)?;
            c.write()?;
            println!("made {} (mode 0640):", path.display());
            list(&c);
            if config.security.tls {
                cert(config)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        CredentialsCommand::Cert => {
            cert(config)?;
            Ok(ExitCode::SUCCESS)
        }
        CredentialsCommand::Add { role, name } => {
            let mut c = Credentials::load(&path)?;
            if let Err(e) = c.add(&name, role.into()) {
                return refuse(e.to_string());
            }
            c.write()?;
            eprintln!(
                "added {name} to {}; restart the broker to admit it. Its credentials file:",
                path.display()
            );
            print!("{}", own_file(&c, &name));
            Ok(ExitCode::SUCCESS)
        }
        CredentialsCommand::Remove { name } => {
            let mut c = Credentials::load(&path)?;
            if !c.remove(&name) {
                return refuse(format!("no credential named {name:?}"));
            }
            c.write()?;
            println!(
                "removed {name}; restart the broker to shut it out ({})",
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        CredentialsCommand::List => {
            let c = Credentials::load(&path)?;
            println!("{}:", path.display());
            list(&c);
            Ok(ExitCode::SUCCESS)
        }
        CredentialsCommand::Show { name } => {
            let c = Credentials::load(&path)?;
            if c.identity(&name).is_none() {
                return refuse(format!("no credential named {name:?}"));
            }
            print!("{}", own_file(&c, &name));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Makes the TLS certificate and key if missing; says which.
fn cert(config: &MiloConfig) -> anyhow::Result<()> {
    let made = config.security.ensure_tls(&config.data_dir)?;
    let (cert, key) = config.security.tls_paths(&config.data_dir);
    let what = if made { "made" } else { "kept" };
    println!(
        "{what} {} (mode 0644) and {} (mode 0640)",
        cert.display(),
        key.display()
    );
    Ok(())
}

fn list(c: &Credentials) {
    for id in c.identities() {
        println!("  {:<9} {}", id.role.as_str(), id.name);
    }
}

/// The credentials file of one part: its own entry alone.
fn own_file(c: &Credentials, name: &str) -> String {
    let (Some(id), Some(secret)) = (c.identity(name), c.secret(name)) else {
        return String::new();
    };
    let section = match id.role {
        Role::Service => "services",
        Role::Station => "stations",
        Role::Pos => "pos",
        _ => "operators",
    };
    format!(
        "# {name}'s credential for Milo: keep it readable only by root and milo (0640).\n[{section}]\n{name} = \"{}\"\n",
        secret.expose()
    )
}

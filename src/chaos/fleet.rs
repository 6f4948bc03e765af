//! The store as separate processes: start, SIGKILL, start again, stop.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::MiloConfig;

/// One part of the store and its process.
struct Proc {
    name: String,
    /// Another program than `milo --config FILE` (mosquitto as the broker).
    program: Option<PathBuf>,
    args: Vec<String>,
    child: Option<Child>,
}

/// Every part of the store, each in its own process.
pub(super) struct Fleet {
    exe: PathBuf,
    config: PathBuf,
    logs: PathBuf,
    procs: Vec<Proc>,
    /// Kills per part.
    pub kills: BTreeMap<String, usize>,
    /// When the last process was killed.
    pub last_kill: Option<Instant>,
    /// Where the analytics service answers HTTP.
    pub analytics_http: std::net::SocketAddr,
}

impl Proc {
    fn milo(name: &str, args: Vec<String>) -> Proc {
        Proc {
            name: name.to_owned(),
            program: None,
            args,
            child: None,
        }
    }
}

/// A mosquitto configuration for the store's broker port, with persistence in `dir` (saved
/// every second: a SIGKILL loses what it had not written, as a power cut would); its path.
fn mosquitto_conf(config: &MiloConfig, dir: &Path) -> std::io::Result<String> {
    let store = dir.join("mosquitto");
    std::fs::create_dir_all(&store)?;
    let text = format!(
        "listener {} 127.0.0.1\nallow_anonymous true\npersistence true\n\
         persistence_location {}/\nautosave_interval 1\nmax_queued_messages 100000\n",
        config.broker.listen.port(),
        store.display()
    );
    let path = dir.join("mosquitto.conf");
    std::fs::write(&path, text)?;
    Ok(path.display().to_string())
}

impl Fleet {
    /// Starts every part of `config` in `dir`; the broker is `mosquitto` when given.
    pub fn start(
        exe: &Path,
        config: &MiloConfig,
        dir: &Path,
        mosquitto: Option<&Path>,
    ) -> std::io::Result<Fleet> {
        let path = dir.join("milo.toml");
        std::fs::write(&path, config.to_toml())?;
        // The credentials before any part: as the package's postinst makes them before systemd
        // starts anything (a part started first would find none and stop).
        config
            .credentials(true)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut other_http = Vec::new();
        for _ in 0..2 {
            other_http.push(format!("127.0.0.1:{}", milo_config::free_loopback_port()?));
        }
        let broker = match mosquitto {
            Some(program) => Proc {
                name: "broker".into(),
                program: Some(program.to_owned()),
                args: vec!["-c".into(), mosquitto_conf(config, dir)?],
                child: None,
            },
            None => Proc::milo("broker", vec!["broker".into()]),
        };
        let mut parts: Vec<(String, Vec<String>)> = Vec::new();
        for s in crate::shop::services(config) {
            let mut args = vec!["service".to_owned(), s.to_owned()];
            // The order service keeps `http.listen`; the others serve theirs elsewhere.
            match s {
                "analytics" => args.extend(["--http".to_owned(), other_http[0].clone()]),
                "saga" => args.extend(["--http".to_owned(), other_http[1].clone()]),
                _ => {}
            }
            parts.push((s.to_owned(), args));
        }
        parts.push(("device".into(), vec!["barista".into()]));
        let mut fleet = Fleet {
            exe: exe.to_owned(),
            config: path,
            logs: dir.to_owned(),
            procs: std::iter::once(broker)
                .chain(
                    parts
                        .into_iter()
                        .map(|(name, args)| Proc::milo(&name, args)),
                )
                .collect(),
            kills: BTreeMap::new(),
            last_kill: None,
            analytics_http: other_http[0]
                .parse()
                .map_err(|e| std::io::Error::other(format!("{e}")))?,
        };
        for i in 0..fleet.procs.len() {
            fleet.spawn(i)?;
        }
        Ok(fleet)
    }

    fn spawn(&mut self, i: usize) -> std::io::Result<()> {
        let p = &mut self.procs[i];
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{}.log", p.name)))?;
        let mut cmd = match &p.program {
            Some(program) => Command::new(program),
            None => {
                let mut cmd = Command::new(&self.exe);
                cmd.arg("--config").arg(&self.config);
                cmd
            }
        };
        let child = cmd
            .args(&p.args)
            .env("RUST_LOG", "warn,rumqttd=off")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        p.child = Some(child);
        Ok(())
    }

    /// SIGKILLs one part at random and starts it again.
    pub fn kill_random(&mut self, rng: &mut impl Rng) -> std::io::Result<()> {
        let i = rng.gen_range(0..self.procs.len());
        if let Some(mut child) = self.procs[i].child.take() {
            child.kill()?;
            child.wait()?;
            *self.kills.entry(self.procs[i].name.clone()).or_default() += 1;
            self.last_kill = Some(Instant::now());
        }
        self.spawn(i)
    }

    /// Starts again any part that stopped by itself (e.g. the broker watchdog gave up).
    pub fn revive(&mut self) -> std::io::Result<()> {
        for i in 0..self.procs.len() {
            let exited = match &mut self.procs[i].child {
                Some(c) => c.try_wait()?.is_some(),
                None => true,
            };
            if exited {
                self.spawn(i)?;
            }
        }
        Ok(())
    }

    /// SIGTERM to every part, then waits (SIGKILL after 10 s).
    pub fn stop(&mut self) {
        for p in &self.procs {
            if let Some(c) = &p.child {
                let _ = Command::new("kill")
                    .args(["-TERM", &c.id().to_string()])
                    .status();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for p in &mut self.procs {
            let Some(mut c) = p.child.take() else {
                continue;
            };
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for p in &mut self.procs {
            if let Some(mut c) = p.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

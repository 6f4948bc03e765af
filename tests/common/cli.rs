//! The `milo` binary run as an operator runs it, for the tests of its commands.

use std::path::Path;
use std::process::Command;

use milo::MiloConfig;
use milo_testkit::{eventually, PATIENCE};

/// The binary under test.
pub const MILO: &str = env!("CARGO_BIN_EXE_milo");

/// What a `milo` run printed, and how it ended.
#[derive(Debug)]
pub struct Out {
    /// Exit code (-1: killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// `milo --config FILE ARGS` with `config` written to `data_dir/FILE` (no `RUST_LOG`).
pub async fn milo(config: &MiloConfig, file: &str, args: &[&str]) -> Out {
    let path = config.data_dir.join(file);
    std::fs::write(&path, config.to_toml()).unwrap();
    let mut cmd = Command::new(MILO);
    cmd.env_remove("RUST_LOG")
        .arg("--config")
        .arg(path)
        .args(args);
    output(cmd).await
}

/// Runs `cmd` off the runtime's threads; what it printed.
pub async fn output(mut cmd: Command) -> Out {
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Waits until no handle holds the store in `dir`: sled's flusher keeps a database dropped in
/// this process (and its file lock) alive for a moment.
pub async fn free(dir: &Path) {
    let db = dir.join("db");
    let free = || std::fs::File::open(&db).is_ok_and(|f| f.try_lock().is_ok());
    let freed = eventually(PATIENCE, || std::future::ready(free())).await;
    assert!(freed, "{} still held", dir.display());
}

//! Log lines as the journal and a log shipper get them: with stderr on a stream that
//! `JOURNAL_STREAM` names (as systemd sets it), a warning arrives with priority 4 in front and
//! no time; with `log.format = "json"`, one JSON object per line, and a line written while a
//! part handles an event names the order and the event.

mod common;

use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use common::cli::MILO;
use milo_testkit::{config_file, eventually, eventually_blocking, free_port, PATIENCE};
use serde_json::Value;
use uuid::Uuid;

/// A child `milo` whose stderr lines are collected; killed on drop.
struct Logged {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Logged {
    /// `milo --config FILE ARGS` with `env`, stderr on a pipe; with `journal`, `JOURNAL_STREAM`
    /// names that pipe as systemd names the journal's stream.
    fn start(file: &Path, args: &[&str], env: &[(&str, &str)], journal: bool) -> Logged {
        let (reader, writer) = std::io::pipe().unwrap();
        let writer = std::fs::File::from(OwnedFd::from(writer));
        let meta = writer.metadata().unwrap();
        let mut cmd = Command::new(MILO);
        cmd.arg("--config")
            .arg(file)
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("JOURNAL_STREAM")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::from(writer));
        if journal {
            cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
        }
        let child = cmd.spawn().unwrap();
        // Our copy of the write end is gone with `cmd`: the reader ends when the child does.
        drop(cmd);
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Logged { child, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits for a line `pred` accepts; that line.
    fn wait_line(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let found = eventually_blocking(PATIENCE, || self.lines().iter().any(|l| pred(l)));
        assert!(found, "no line {what}: {:#?}", self.lines());
        self.lines().into_iter().find(|l| pred(l)).unwrap()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn under_the_journal_a_warning_has_priority_4_and_no_time() {
    let dir = tempfile::tempdir().unwrap();
    let file = config_file(dir.path(), free_port(), free_port());
    // A NOTIFY_SOCKET that is not one: `milo broker` warns about it as it starts.
    let env = [("NOTIFY_SOCKET", "not-a-socket")];
    let broker = Logged::start(&file, &["broker"], &env, true);
    let warning = broker.wait_line("about NOTIFY_SOCKET", |l| l.contains("NOTIFY_SOCKET"));
    assert!(warning.starts_with("<4>"), "{warning}");
    assert!(
        warning[3..].trim_start().starts_with("WARN"),
        "no time first: {warning}"
    );
    for line in broker.lines() {
        let prefixed = ["<3>", "<4>", "<6>", "<7>"]
            .iter()
            .any(|p| line.starts_with(p));
        assert!(prefixed, "a line without its priority: {line}");
    }

    // The same process on a plain pipe (no JOURNAL_STREAM): time first, no prefix.
    let file = config_file(dir.path(), free_port(), free_port());
    let plain = Logged::start(&file, &["broker"], &env, false);
    let warning = plain.wait_line("about NOTIFY_SOCKET", |l| l.contains("NOTIFY_SOCKET"));
    assert!(!warning.starts_with('<'), "{warning}");
    assert!(warning.starts_with("20"), "a time first: {warning}");
    assert!(
        !warning.contains('\u{1b}'),
        "no colours off a terminal: {warning}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn json_lines_name_the_order_and_the_event_being_handled() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("MILO_LOG__FORMAT", "json"),
        ("RUST_LOG", "info,rumqttd=off"),
    ];
    // A free port may be taken before milo binds it: then it exits, and starts again.
    let deadline = std::time::Instant::now() + PATIENCE;
    let (milo, addr) = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "milo up never became ready"
        );
        let http = free_port();
        let file = config_file(dir.path(), free_port(), http);
        let mut milo = Logged::start(&file, &["up"], &env, false);
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], http).into();
        let ready = eventually(PATIENCE, || async {
            matches!(milo::http::client::get(addr, "/readyz").await, Ok((200, _)))
        })
        .await;
        if ready && matches!(milo.child.try_wait(), Ok(None)) {
            break (milo, addr);
        }
        let _ = milo.child.kill();
    };

    let id = Uuid::now_v7();
    let body = format!(r#"{{"order_id":"{id}","items":[{{"item":"espresso"}}],"customer":"Ana"}}"#);
    let (code, reply) = milo::http::client::post(addr, "/orders", &body)
        .await
        .unwrap();
    assert_eq!(code, 202, "{reply}");

    let about = |l: &str| -> bool {
        serde_json::from_str::<Value>(l)
            .is_ok_and(|v| v["span"]["order_id"] == id.to_string() && v["span"]["name"] == "event")
    };
    let found = eventually(PATIENCE, || {
        std::future::ready(milo.lines().iter().any(|l| about(l)))
    })
    .await;
    assert!(found, "no line names order {id}: {:#?}", milo.lines());
    for line in milo.lines() {
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["level"].is_string() && v["fields"]["message"].is_string(),
            "{line}"
        );
        if about(&line) {
            let event = v["span"]["event_id"].as_str().unwrap();
            assert!(event.parse::<Uuid>().is_ok(), "{line}");
        }
    }
}

//! TLS on the broker's listener (`[security] tls = true`): the real store, every part
//! connected with TLS and trusting the store's own certificate; Debian's `mosquitto_sub` with
//! `--cafile` as the operator; plain MQTT and a client that trusts another certificate refused.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::Ordering;

use common::rig::Rig;
use milo::MiloConfig;
use milo_contracts::{topics, SagaMode};
use milo_testkit::{eventually, Observer, PATIENCE};

const MILO: &str = env!("CARGO_BIN_EXE_milo");
const ESPRESSO: &str = r#"[{"item":"espresso","qty":1}]"#;

/// TLS on, with the certificate and key in the test's own data directory (made now).
fn tls_on(c: &mut MiloConfig) {
    c.security.tls = true;
    c.security.tls_cert = c.data_dir.join("tls-cert.pem");
    c.security.tls_key = c.data_dir.join("tls-key.pem");
    c.security.ensure_tls(&c.data_dir).unwrap();
}

fn cert_of(r: &Rig) -> PathBuf {
    r.config.security.tls_cert.clone()
}

/// `mosquitto_sub` as the operator against the store, with `extra` arguments.
fn mosquitto_sub(r: &Rig, host: &str, extra: &[&str]) -> Command {
    let (user, pass) = r.credential(milo_contracts::dead_letters::OPERATOR);
    let mut cmd = Command::new("mosquitto_sub");
    cmd.args(["-h", host, "-p", &r.mqtt_port().to_string()])
        .args(["-u", &user, "-P", &pass])
        .args(extra);
    cmd
}

fn run(mut cmd: Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("mosquitto_sub: {e} (.ci/install-deps installs it)"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_that_trust_the_certificate_complete_an_order_over_tls() {
    let r = Rig::full(SagaMode::Choreography, tls_on).await;
    let gate = r.gate.as_ref().expect("security on");
    // Every part connected through TLS (the gate speaks nothing else).
    assert!(gate.stats.connects.load(Ordering::Relaxed) >= 8);
    let operator = milo_testkit::mqtt_as(&r.config, milo_contracts::dead_letters::OPERATOR);
    assert_eq!(operator.tls.as_deref(), Some(cert_of(&r).as_path()));
    let watch = Observer::start(&operator, &[topics::ORDERS_PREPARED]).await;
    let id = r.place(ESPRESSO, None).await;
    r.wait_status(id, "prepared").await;
    let seen = eventually(PATIENCE, || {
        let got = watch.on(topics::ORDERS_PREPARED);
        std::future::ready(
            got.iter()
                .any(|p| String::from_utf8_lossy(p).contains(&id.to_string())),
        )
    })
    .await;
    assert!(seen, "the operator never saw {id} prepared over TLS");
    assert_eq!(gate.stats.refused_handshakes.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_sub_with_the_certificate_reads_and_without_it_does_not() {
    let r = Rig::full(SagaMode::Choreography, tls_on).await;
    let cert = cert_of(&r);
    let cafile = cert.to_str().unwrap();
    // By one of the certificate's names, as OpenSSL checks names.
    let mut cmd = mosquitto_sub(
        &r,
        "localhost",
        &[
            "--cafile",
            cafile,
            "-t",
            topics::ORDERS_CREATED,
            "-C",
            "1",
            "-W",
            "60",
        ],
    );
    let mut sub = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let got = r.place_until_heard(ESPRESSO, &mut sub).await;
    let status = sub.wait().unwrap();
    assert!(
        !got.is_empty() && status.success(),
        "mosquitto_sub --cafile read nothing: {status:?}"
    );
    assert!(got.contains("OrderCreated"), "{got}");

    // Plain MQTT to the TLS listener: no CONNACK, the connection is closed.
    let out = run(mosquitto_sub(
        &r,
        "127.0.0.1",
        &["-t", topics::ORDERS_CREATED, "-C", "1", "-W", "5"],
    ));
    assert!(!out.status.success(), "plain MQTT was admitted: {out:?}");
    let mut raw = TcpStream::connect(("127.0.0.1", r.mqtt_port())).unwrap();
    raw.set_read_timeout(Some(PATIENCE)).unwrap();
    // CONNECT, MQTT 3.1.1, clean session, keep-alive 10, client id "x".
    raw.write_all(&[
        0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 10, 0, 1, b'x',
    ])
    .unwrap();
    let mut reply = Vec::new();
    let _ = raw.read_to_end(&mut reply);
    assert!(
        !reply.starts_with(&[0x20]),
        "a plain client got a CONNACK: {reply:?}"
    );
    let gate = r.gate.as_ref().unwrap();
    let refused = eventually(PATIENCE, || {
        std::future::ready(gate.stats.refused_handshakes.load(Ordering::Relaxed) >= 2)
    })
    .await;
    assert!(
        refused,
        "the gate did not count the plain clients' failed handshakes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_trusts_another_certificate_is_refused() {
    let r = Rig::start(SagaMode::Choreography, &[], tls_on).await;
    let other = tempfile::tempdir().unwrap();
    let (cert, key) = (other.path().join("c.pem"), other.path().join("k.pem"));
    milo_bus::tls::ensure_certificate(&cert, &key, &[]).unwrap();

    // A Milo part given the wrong certificate never connects: rustls refuses the handshake.
    let mut mqtt = milo_testkit::mqtt_as(&r.config, milo_contracts::dead_letters::OPERATOR);
    mqtt.tls = Some(cert.clone());
    let opts = mqtt.options("test-wrong-cert").unwrap();
    let (_client, mut events) = rumqttc::AsyncClient::new(opts, 10);
    let first = tokio::time::timeout(PATIENCE, events.poll())
        .await
        .expect("an answer in time");
    let err = first.expect_err("connected while trusting another certificate");
    let text = format!("{err:?}");
    assert!(
        text.contains("InvalidCertificate") || text.contains("UnknownIssuer"),
        "{text}"
    );

    // mosquitto_sub with the wrong --cafile fails verification too.
    let out = run(mosquitto_sub(
        &r,
        "localhost",
        &[
            "--cafile",
            cert.to_str().unwrap(),
            "-t",
            "orders/created",
            "-C",
            "1",
            "-W",
            "5",
        ],
    ));
    assert!(!out.status.success(), "{out:?}");
    let gate = r.gate.as_ref().unwrap();
    let refused = eventually(PATIENCE, || {
        std::future::ready(gate.stats.refused_handshakes.load(Ordering::Relaxed) >= 2)
    })
    .await;
    assert!(refused, "the gate did not count the failed handshakes");
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// `milo credentials cert` makes the certificate and key once (0644, 0640) and keeps them;
/// `init` with TLS on makes them too.
#[test]
fn the_certificate_is_made_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let config = milo_testkit::config_file(dir.path(), 1, 2);
    let cert = dir.path().join("etc/tls-cert.pem");
    let key = dir.path().join("etc/tls-key.pem");
    let milo = |args: &[&str]| {
        let out = Command::new(MILO)
            .arg("--config")
            .arg(&config)
            .args(args)
            .env(
                "MILO_SECURITY__CREDENTIALS",
                dir.path().join("etc/credentials.toml"),
            )
            .env("MILO_SECURITY__TLS", "true")
            .output()
            .unwrap();
        assert!(out.status.success(), "milo {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let said = milo(&["credentials", "init"]);
    assert!(
        said.contains("made") && said.contains("tls-cert.pem"),
        "{said}"
    );
    assert_eq!((mode(&cert), mode(&key)), (0o644, 0o640));
    let first = (std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap());
    let said = milo(&["credentials", "cert"]);
    assert!(said.starts_with("kept"), "{said}");
    assert_eq!(
        (std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap()),
        first
    );
    assert_eq!((mode(&cert), mode(&key)), (0o644, 0o640));
}

//! The gate: the only door to the embedded broker. It listens where clients connect, and for
//! each client opens its own connection to rumqttd (which listens on a loopback port of its
//! own and admits only the gate, with a secret made at every start). rumqttd 0.20 has no topic
//! ACLs, so the gate reads every packet a client sends and applies Milo's policy
//! (`milo_contracts::policy`) before the broker sees it:
//!
//! - **CONNECT**: the credential is checked against the store's credentials (constant time);
//!   the client id must be the credential's own (`milo-<name>[-...]`), so nobody can take over
//!   a part's session; a last will must be a topic the credential may publish on. A refused
//!   CONNECT gets its CONNACK code and a WARN log with the reason and the peer. Keep-alive 0
//!   (MQTT 3.1.1: no keep-alive), which rumqttd refuses without a CONNACK, is passed on as the
//!   longest keep-alive MQTT can say.
//! - **PUBLISH**: the topic must be one the credential may publish on, and on an event topic
//!   the payload must be an envelope whose `type` the topic carries and whose `source` is the
//!   credential's own. A refused publish never reaches the broker: it is acknowledged (so a
//!   QoS 1 client does not resend it forever), logged, and kept in the broker's dead-letter
//!   store with the reason (`unauthorised: pos-1 (pos) may not publish on payments/completed`).
//! - **SUBSCRIBE**: every filter must be readable by the credential; otherwise the whole
//!   SUBSCRIBE is refused (SUBACK 0x80 for each filter) and logged.
//! - **Delivery to a POS terminal**: customers' names are taken out of the events of orders
//!   the terminal did not place.
//!
//! Everything else passes through unchanged, in order.
//!
//! With [`GateSettings::tls`] the gate speaks only TLS (the store's certificate, rustls with
//! the `ring` provider): a client that does not complete a TLS handshake within
//! [`CONNECT_TIMEOUT`] is closed before any MQTT is read.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use milo_bus::{Credentials, DeadLetter, Secret, Store, StoreConfig, StoreError};
use milo_contracts::policy::{self, Denied, Identity, Role};
use rumqttd::protocol::v4::{self, V4};
use rumqttd::protocol::{Packet, Protocol};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use frame::{encode_publish, parse_publish, read_frame, write_all};

mod frame;

/// How long a client has to send its CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Refused publishes logged and kept in the dead-letter store per minute at most (a flood is
/// counted, and said once a minute, not written).
const DEAD_LETTERS_PER_MINUTE: u32 = 600;
/// Orders whose placing terminal the gate remembers (to let a terminal see its own customers'
/// names).
const REMEMBERED_ORDERS: usize = 8192;
/// The longest keep-alive MQTT can say: what keep-alive 0 ("none") becomes for rumqttd.
const NO_KEEP_ALIVE: u16 = u16::MAX;

/// Which terminal placed each recent order (by order id), and the ids oldest first.
type Placed = (HashMap<String, Arc<str>>, VecDeque<String>);

/// What the gate needs to know.
pub struct GateSettings {
    /// The store's credentials.
    pub credentials: Arc<Credentials>,
    /// Admit clients without a credential as observers (read-only); a loopback-only store.
    pub anonymous: bool,
    /// The watchdog's own secret (made at every start).
    pub watchdog: Secret,
    /// Where refused publishes are kept, if anywhere: the broker's own store, opened only to
    /// write one (so `milo dlq --service broker` reads it while the broker runs, and a store
    /// started again in the same process finds it free).
    pub dead_letters: Option<(PathBuf, StoreConfig)>,
    /// TLS on the listener (the store's certificate and key): plain MQTT is then refused.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Counters of what the gate did since it started.
#[derive(Debug, Default)]
pub struct GateStats {
    /// Clients admitted.
    pub connects: AtomicU64,
    /// CONNECTs refused.
    pub refused_connects: AtomicU64,
    /// TLS handshakes that failed (plain MQTT on a TLS listener, a client that does not
    /// trust the store's certificate, a timeout).
    pub refused_handshakes: AtomicU64,
    /// PUBLISHes refused.
    pub refused_publishes: AtomicU64,
    /// SUBSCRIBEs refused.
    pub refused_subscribes: AtomicU64,
}

/// The gate in front of rumqttd.
pub struct Gate {
    settings: GateSettings,
    known: Vec<Identity>,
    upstream: SocketAddr,
    internal_user: String,
    internal_pass: Secret,
    max_packet: usize,
    /// Which terminal placed each recent order.
    placed_by: Mutex<Placed>,
    /// Dead letters written in the current minute.
    budget: Mutex<(Instant, u32)>,
    /// One opening of the dead-letter store at a time (sled locks it to one opener).
    writing: Mutex<()>,
    /// What it did.
    pub stats: GateStats,
}

impl Gate {
    /// A gate forwarding to rumqttd at `upstream`, which admits `internal_user`.
    pub fn new(
        settings: GateSettings,
        upstream: SocketAddr,
        internal_user: String,
        internal_pass: Secret,
        max_payload: usize,
    ) -> Gate {
        let known = settings.credentials.identities().collect();
        Gate {
            settings,
            known,
            upstream,
            internal_user,
            internal_pass,
            // Room for the topic and headers around the largest payload.
            max_packet: max_payload + 4096,
            placed_by: Mutex::new((HashMap::new(), VecDeque::new())),
            budget: Mutex::new((Instant::now(), 0)),
            writing: Mutex::new(()),
            stats: GateStats::default(),
        }
    }

    /// The refused publishes kept so far, oldest first (at most `limit`).
    pub fn refused(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let Some((dir, config)) = &self.settings.dead_letters else {
            return Ok(Vec::new());
        };
        if !dir.exists() {
            return Ok(Vec::new());
        }
        let _one = self.writing.lock();
        open_when_free(dir, config)?.dead_letters(0, limit)
    }

    /// Accepts clients on `listener` until the process ends.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let tls = self
            .settings
            .tls
            .clone()
            .map(tokio_rustls::TlsAcceptor::from);
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let gate = self.clone();
                    let _ = stream.set_nodelay(true);
                    match tls.clone() {
                        None => {
                            tokio::spawn(async move { gate.client(stream, peer).await });
                        }
                        Some(acceptor) => {
                            tokio::spawn(async move {
                                let shake =
                                    tokio::time::timeout(CONNECT_TIMEOUT, acceptor.accept(stream))
                                        .await;
                                match shake {
                                    Ok(Ok(stream)) => gate.client(stream, peer).await,
                                    Ok(Err(e)) => gate.refuse_handshake(peer, &e.to_string()),
                                    Err(_) => gate.refuse_handshake(peer, "no handshake in time"),
                                }
                            });
                        }
                    }
                }
                Err(e) => {
                    warn!(error = %e, "Gate: accept failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// A client whose TLS handshake failed: counted and logged.
    fn refuse_handshake(&self, peer: SocketAddr, why: &str) {
        self.stats
            .refused_handshakes
            .fetch_add(1, Ordering::Relaxed);
        warn!(%peer, reason = %why, "TLS handshake failed: connection closed.");
    }

    /// One client, from CONNECT to the end of its connection.
    async fn client<S>(self: Arc<Self>, mut client: S, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut buf = BytesMut::with_capacity(4096);
        let first = tokio::time::timeout(
            CONNECT_TIMEOUT,
            read_frame(&mut client, &mut buf, self.max_packet),
        )
        .await;
        let frame = match first {
            Ok(Ok(Some(f))) => f,
            Ok(Ok(None)) => return,
            Ok(Err(e)) => return debug!(%peer, error = %e, "Gate: unreadable first packet."),
            Err(_) => return debug!(%peer, "Gate: no CONNECT in time."),
        };
        let (who, connect) = match self.admit(frame, peer) {
            Ok(x) => x,
            Err((code, reason)) => {
                self.stats.refused_connects.fetch_add(1, Ordering::Relaxed);
                warn!(%peer, %reason, "MQTT login refused.");
                let _ = client.write_all(&[0x20, 0x02, 0x00, code]).await;
                return;
            }
        };
        let mut upstream = match TcpStream::connect(self.upstream).await {
            Ok(s) => s,
            Err(e) => {
                warn!(%peer, error = %e, "Gate: the broker is not reachable.");
                let _ = client.write_all(&[0x20, 0x02, 0x00, 3]).await;
                return;
            }
        };
        let _ = upstream.set_nodelay(true);
        if upstream.write_all(&connect).await.is_err() {
            return;
        }
        self.stats.connects.fetch_add(1, Ordering::Relaxed);
        debug!(%peer, %who, role = who.role.as_str(), "Gate: client admitted.");
        let (client_rx, client_tx) = tokio::io::split(client);
        let (up_rx, up_tx) = upstream.into_split();
        let (to_client, outgoing) = mpsc::channel::<Bytes>(256);
        let writer = tokio::spawn(write_all(client_tx, outgoing));
        let down = self
            .clone()
            .downstream(up_rx, to_client.clone(), who.clone());
        let up = self.upstream_loop(client_rx, buf, up_tx, to_client, &who, peer);
        // Whichever side ends first ends the other: the client sees the broker close it.
        tokio::select! {
            _ = down => {}
            _ = up => {}
        }
        let _ = writer.await;
    }

    /// Checks a CONNECT; returns the identity and the CONNECT to send to rumqttd, or the
    /// CONNACK code and the reason.
    fn admit(&self, frame: Bytes, peer: SocketAddr) -> Result<(Identity, Bytes), (u8, String)> {
        let mut b = BytesMut::from(&frame[..]);
        let (mut connect, will, login) = match V4.read_mut(&mut b, self.max_packet) {
            Ok(Packet::Connect(c, _, will, _, login)) => (c, will, login),
            Ok(_) => return Err((2, format!("first packet from {peer} is not a CONNECT"))),
            Err(e) => return Err((1, format!("unreadable CONNECT from {peer}: {e}"))),
        };
        let client_id = connect.client_id.clone();
        let who = match &login {
            Some(l) if l.username == policy::WATCHDOG => {
                let same: bool = subtle::ConstantTimeEq::ct_eq(
                    self.settings.watchdog.expose().as_bytes(),
                    l.password.as_bytes(),
                )
                .into();
                if !same {
                    return Err((4, format!("bad password for {:?} from {peer}", l.username)));
                }
                Identity::new(policy::WATCHDOG, Role::Broker)
            }
            Some(l) => self
                .settings
                .credentials
                .check(&l.username, l.password.as_bytes())
                .ok_or_else(|| {
                    let why = if self.settings.credentials.identity(&l.username).is_some() {
                        "wrong password"
                    } else {
                        "unknown user"
                    };
                    (
                        4,
                        format!(
                            "{why} {:?} (client id {client_id:?}) from {peer}",
                            l.username
                        ),
                    )
                })?,
            None if self.settings.anonymous => Identity::new("anonymous", Role::Observer),
            None => {
                return Err((
                    5,
                    format!(
                    "anonymous client {client_id:?} from {peer}: this store requires a credential"
                ),
                ))
            }
        };
        if who.role != Role::Broker {
            who.may_use_client_id(&client_id, &self.known)
                .map_err(|e| (2, format!("{e} (from {peer})")))?;
        }
        if let Some(w) = &will {
            let topic = String::from_utf8_lossy(&w.topic);
            self.check_publish(&who, &topic, &w.message)
                .map_err(|e| (5, format!("last will refused: {e} (from {peer})")))?;
        }
        if connect.keep_alive == 0 {
            connect.keep_alive = NO_KEEP_ALIVE;
        }
        let login = Some(rumqttd::protocol::Login {
            username: self.internal_user.clone(),
            password: self.internal_pass.expose().to_owned(),
        });
        let mut out = BytesMut::new();
        V4.write(Packet::Connect(connect, None, will, None, login), &mut out)
            .map_err(|e| (3, format!("cannot pass on the CONNECT: {e}")))?;
        Ok((who, out.freeze()))
    }

    /// Whether `who` may publish `payload` on `topic`; the envelope's head when it is one.
    fn check_publish(
        &self,
        who: &Identity,
        topic: &str,
        payload: &[u8],
    ) -> Result<Option<Head>, Denied> {
        let rule = who.may_publish(topic)?;
        // Not an event topic; or an empty retained payload, which erases (only the owner may)
        // and carries no envelope.
        if rule.types.is_empty() || payload.is_empty() {
            return Ok(None);
        }
        let head: Head = serde_json::from_slice(payload).map_err(|e| Denied::NotAnEnvelope {
            who: who.clone(),
            topic: topic.to_owned(),
            why: e.to_string(),
        })?;
        who.may_emit(rule, topic, &head.kind, &head.source)?;
        Ok(Some(head))
    }

    /// Client → broker: every packet checked, passed on or refused.
    async fn upstream_loop(
        self: &Arc<Self>,
        mut client: impl AsyncRead + Unpin,
        mut buf: BytesMut,
        mut upstream: tokio::net::tcp::OwnedWriteHalf,
        to_client: mpsc::Sender<Bytes>,
        who: &Identity,
        peer: SocketAddr,
    ) {
        loop {
            let frame = match read_frame(&mut client, &mut buf, self.max_packet).await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    debug!(%peer, %who, error = %e, "Gate: client sent a bad packet.");
                    break;
                }
            };
            let pass = match frame[0] >> 4 {
                3 => self.publish(&frame, who, peer, &to_client).await,
                8 => self.subscribe(&frame, who, peer, &to_client).await,
                _ => true,
            };
            if pass && upstream.write_all(&frame).await.is_err() {
                break;
            }
        }
        let _ = upstream.shutdown().await;
    }

    /// Checks a PUBLISH; false (after acknowledging it and recording why) when refused.
    async fn publish(
        self: &Arc<Self>,
        frame: &Bytes,
        who: &Identity,
        peer: SocketAddr,
        to_client: &mpsc::Sender<Bytes>,
    ) -> bool {
        let Some(p) = parse_publish(frame) else {
            // Malformed: the broker refuses it and closes the connection.
            return true;
        };
        let topic = String::from_utf8_lossy(&p.topic).into_owned();
        match self.check_publish(who, &topic, &p.payload) {
            Ok(head) => {
                if who.role == Role::Pos && topic == milo_contracts::topics::ORDERS_PLACED {
                    if let Some(head) = head {
                        self.remember_placed(who, head.correlation_id);
                    }
                }
                true
            }
            Err(denied) => {
                self.stats.refused_publishes.fetch_add(1, Ordering::Relaxed);
                if let Some(pkid) = p.pkid {
                    let ack = Bytes::from(vec![0x40, 0x02, (pkid >> 8) as u8, pkid as u8]);
                    let _ = to_client.send(ack).await;
                }
                if self.within_budget() {
                    warn!(%peer, %who, %topic, reason = %denied, "Publish refused.");
                    self.dead_letter(topic, p.payload, denied.to_string());
                }
                false
            }
        }
    }

    /// Checks a SUBSCRIBE; false (after refusing it) when any filter is not readable.
    async fn subscribe(
        &self,
        frame: &Bytes,
        who: &Identity,
        peer: SocketAddr,
        to_client: &mpsc::Sender<Bytes>,
    ) -> bool {
        let mut b = BytesMut::from(&frame[..]);
        let Ok(Packet::Subscribe(sub, _)) = V4.read_mut(&mut b, self.max_packet) else {
            return true;
        };
        let refused: Vec<&str> = sub
            .filters
            .iter()
            .map(|f| f.path.as_str())
            .filter(|f| !who.may_subscribe(f))
            .collect();
        if refused.is_empty() {
            return true;
        }
        self.stats
            .refused_subscribes
            .fetch_add(1, Ordering::Relaxed);
        warn!(%peer, %who, role = who.role.as_str(), filters = %refused.join(" "), "Subscribe refused: not readable by this credential.");
        let mut ack = BytesMut::new();
        ack.put_u8(0x90);
        let len = 2 + sub.filters.len();
        // Remaining length as a variable byte integer (a SUBACK is small).
        let _ = v4::write_remaining_length(&mut ack, len);
        ack.put_u16(sub.pkid);
        for _ in &sub.filters {
            ack.put_u8(0x80);
        }
        let _ = to_client.send(ack.freeze()).await;
        false
    }

    /// Broker → client: passed on in order; to a POS terminal, other terminals' customers'
    /// names are taken out.
    async fn downstream(
        self: Arc<Self>,
        mut upstream: tokio::net::tcp::OwnedReadHalf,
        to_client: mpsc::Sender<Bytes>,
        who: Identity,
    ) {
        let mut buf = BytesMut::with_capacity(8192);
        let redact = who.role == Role::Pos;
        loop {
            // The broker's packets are not limited by the client's limit.
            let frame = match read_frame(&mut upstream, &mut buf, usize::MAX >> 4).await {
                Ok(Some(f)) => f,
                _ => break,
            };
            let frame = if redact && frame[0] >> 4 == 3 {
                self.redact(frame, &who)
            } else {
                frame
            };
            if to_client.send(frame).await.is_err() {
                break;
            }
        }
    }

    /// Records which terminal placed an order.
    fn remember_placed(&self, who: &Identity, order_id: String) {
        let Ok(mut placed) = self.placed_by.lock() else {
            return;
        };
        let (map, order) = &mut *placed;
        if map
            .insert(order_id.clone(), Arc::from(who.name.as_str()))
            .is_none()
        {
            order.push_back(order_id);
        }
        while order.len() > REMEMBERED_ORDERS {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    /// A PUBLISH to a POS terminal, without the customer's name unless the terminal placed
    /// the order.
    fn redact(&self, frame: Bytes, who: &Identity) -> Bytes {
        let Some(p) = parse_publish(&frame) else {
            return frame;
        };
        let Ok(mut env) = serde_json::from_slice::<serde_json::Value>(&p.payload) else {
            return frame;
        };
        let order = env
            .get("correlation_id")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_owned();
        let own = self
            .placed_by
            .lock()
            .ok()
            .and_then(|m| m.0.get(&order).cloned())
            .is_some_and(|t| *t == *who.name);
        let Some(customer) = env.get_mut("data").and_then(|d| d.get_mut("customer")) else {
            return frame;
        };
        if own || customer.is_null() {
            return frame;
        }
        *customer = serde_json::Value::Null;
        let payload = serde_json::to_vec(&env).unwrap_or_default();
        encode_publish(frame[0], &p.topic, p.pkid, &payload)
    }

    /// True while this minute's refusals are within [`DEAD_LETTERS_PER_MINUTE`]: each is then
    /// logged and kept; past it a flood is only counted, and said once a minute.
    fn within_budget(&self) -> bool {
        let Ok(mut b) = self.budget.lock() else {
            return false;
        };
        if b.0.elapsed() > Duration::from_secs(60) {
            if b.1 > DEAD_LETTERS_PER_MINUTE {
                warn!(
                    refused = b.1,
                    kept = DEAD_LETTERS_PER_MINUTE,
                    "Refused publishes in the last minute: only the first ones were logged and kept."
                );
            }
            *b = (Instant::now(), 0);
        }
        b.1 += 1;
        b.1 <= DEAD_LETTERS_PER_MINUTE
    }

    /// Keeps a refused publish in the dead-letter store (opened for it, then closed; one at a
    /// time).
    fn dead_letter(self: &Arc<Self>, topic: String, payload: Bytes, reason: String) {
        if self.settings.dead_letters.is_none() {
            return;
        }
        let gate = self.clone();
        tokio::task::spawn_blocking(move || {
            let Some((dir, config)) = &gate.settings.dead_letters else {
                return;
            };
            let _one = gate.writing.lock();
            let kept = open_when_free(dir, config)
                .and_then(|store| store.record_dead_letter(&topic, &payload, &reason));
            if let Err(e) = kept {
                warn!(error = %e, "Cannot keep a refused publish.");
            }
        });
    }
}

/// How long the gate waits for its dead-letter store to be free (sled releases a closed
/// store's lock a moment after the last handle goes; `milo dlq` may be reading it).
const STORE_WAIT: Duration = Duration::from_secs(5);

/// Opens the dead-letter store, waiting up to [`STORE_WAIT`] while it is locked.
fn open_when_free(dir: &std::path::Path, config: &StoreConfig) -> Result<Store, StoreError> {
    let deadline = Instant::now() + STORE_WAIT;
    loop {
        match Store::open(dir, config) {
            Err(StoreError::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// The part of an envelope the gate reads.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: String,
    source: String,
    #[serde(default)]
    correlation_id: String,
}

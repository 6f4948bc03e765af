//! The web screens in a real browser: Debian's headless Chromium, driven over the DevTools
//! protocol (`headless_chrome`), against the whole store running in this process on loopback.
//! Every wait is a condition with a deadline; each test saves a screenshot under
//! `<target>/screenshots/` for a person to look at.

mod common;

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{open_with, TestShop};
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use milo::http::client;
use milo_bus::{Secret, ShutdownTrigger};
use milo_contracts::topics;
use milo_testkit::{eventually, Observer, PATIENCE};
use serde_json::Value;
use uuid::Uuid;

/// The browser: `MILO_CHROMIUM` or Debian's `chromium`.
fn browser(width: u32, height: u32) -> Browser {
    let path = std::env::var_os("MILO_CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into());
    let args: Vec<&OsStr> = vec![OsStr::new("--disable-dev-shm-usage")];
    let options = LaunchOptions::default_builder()
        .path(Some(PathBuf::from(path)))
        .headless(true)
        // Tests run as root in CI, where Chromium's own sandbox cannot start.
        .sandbox(false)
        .window_size(Some((width, height)))
        .idle_browser_timeout(PATIENCE * 3)
        .args(args)
        .build()
        .expect("launch options");
    Browser::new(options).expect("start chromium (Debian package `chromium`)")
}

/// Runs a blocking browser call off the async runtime.
async fn off<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("browser call")
}

/// Opens `path` of the store's HTTP server in a new tab.
async fn open(browser: &Browser, shop: &TestShop, path: &str) -> Arc<Tab> {
    open_at(browser, shop.shop.http, path).await
}

/// Opens `path` of the HTTP server at `http` in a new tab.
async fn open_at(browser: &Browser, http: SocketAddr, path: &str) -> Arc<Tab> {
    let tab = browser.new_tab().expect("tab");
    let url = format!("http://{http}{path}");
    let t = tab.clone();
    off(move || {
        t.set_default_timeout(PATIENCE);
        t.navigate_to(&url)
            .and_then(|t| t.wait_until_navigated())
            .map(|_| ())
    })
    .await
    .expect("page loads");
    tab
}

/// The string a JavaScript expression gives in the page.
async fn eval(tab: &Arc<Tab>, js: &str) -> String {
    let (t, js) = (tab.clone(), format!("String({js})"));
    let out = off(move || t.evaluate(&js, false)).await.expect("evaluate");
    match out.value {
        Some(Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

/// Waits until `js` gives a string `pred` accepts; returns it and how long it took.
async fn page_until(tab: &Arc<Tab>, js: &str, what: &str, pred: impl Fn(&str) -> bool) -> Duration {
    let start = Instant::now();
    let last = std::sync::Mutex::new(String::new());
    let ok = eventually(PATIENCE, || async {
        let v = eval(tab, js).await;
        let done = pred(&v);
        *last.lock().unwrap() = v;
        done
    })
    .await;
    assert!(
        ok,
        "page never showed {what}; last: {}",
        last.lock().unwrap()
    );
    start.elapsed()
}

/// Saves a PNG of the tab as `<target>/screenshots/<name>.png`.
async fn screenshot(tab: &Arc<Tab>, name: &str) -> PathBuf {
    let t = tab.clone();
    let png =
        off(move || t.capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true))
            .await
            .expect("screenshot");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
    path
}

/// The text of the element with `id`.
fn text_of(id: &str) -> String {
    format!("document.getElementById('{id}').innerText")
}

/// `#` and the last four hex digits of the order id, as the screens show it.
fn short(id: Uuid) -> String {
    let s = id.simple().to_string();
    format!("#{}", s[s.len() - 4..].to_uppercase())
}

/// The operator's broker connection (the gate admits no anonymous reader here).
fn operator(shop: &TestShop) -> milo_bus::MqttConfig {
    milo_testkit::mqtt_as(&shop.config, "operator")
}

const TOKEN: &str = "bar-tablet-token-0123456789";

/// POST with the bar's token.
async fn post(shop: &TestShop, path: &str, body: &str) -> client::FullReply {
    post_at(shop.shop.http, path, body).await
}

async fn post_at(http: SocketAddr, path: &str, body: &str) -> client::FullReply {
    let auth = format!("Bearer {TOKEN}");
    let headers = [("authorization", auth.as_str())];
    let body = Some(body.as_bytes());
    client::send(http, "POST", path, &headers, body)
        .await
        .unwrap()
}

/// Places an order over HTTP for `customer`; its id.
async fn http_order(shop: &TestShop, customer: &str) -> Uuid {
    order_at(shop.shop.http, customer).await
}

async fn order_at(http: SocketAddr, customer: &str) -> Uuid {
    let body = format!(r#"{{"items":[{{"item":"latte"}}],"customer":"{customer}"}}"#);
    let reply = post_at(http, "/orders", &body).await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    reply.body["order_id"].as_str().unwrap().parse().unwrap()
}

/// A store whose drinks wait on the rail for a bump, with a token for the bar's tablet.
async fn manual_bar() -> TestShop {
    open_with(|c| {
        c.device.auto_bump = false;
        c.http.tokens.insert("bar-1".into(), Secret::new(TOKEN));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pickup_board_shows_orders_preparing_then_ready() {
    let shop = manual_bar().await;
    let prepared = Observer::start(&operator(&shop), &[topics::ORDERS_PREPARED]).await;
    let browser = browser(1280, 720);
    let board = open(&browser, &shop, "/board").await;
    page_until(
        &board,
        "document.getElementById('conn').className",
        "live",
        |s| s.contains("live"),
    )
    .await;

    // One order through a real POS client (it reports until the drink is made), one over HTTP.
    let pos_config = (
        milo_testkit::mqtt_as(&shop.config, &shop.config.pos.terminal),
        shop.config.pos.clone(),
    );
    let ana = Uuid::now_v7();
    let request = milo_pos::Request {
        order_id: ana,
        items: vec![common::line("latte", Some("oat"), 1)],
        customer: Some("Ana Lopez".into()),
        payment: Default::default(),
    };
    let sd = shop.shutdown();
    let pos = tokio::spawn(async move {
        milo_pos::place(pos_config.0, pos_config.1, request, |_| {}, sd).await
    });
    let bo = http_order(&shop, "Bo").await;
    page_until(&board, &text_of("preparing"), "Ana and Bo preparing", |s| {
        s.contains("Ana") && s.contains("Bo")
    })
    .await;
    let shown = eval(&board, "document.body.innerText").await;
    assert!(!shown.contains("Lopez"), "only first names: {shown}");
    assert!(!shown.contains(&ana.to_string()), "no ids: {shown}");
    screenshot(&board, "board-preparing").await;

    // Each bump makes the oldest made drink ready (whichever reached the bar first): the board
    // follows each one.
    let names = [(ana, "Ana"), (bo, "Bo")];
    let mut ready: Vec<Uuid> = Vec::new();
    for round in 1..=names.len() {
        wait_made(&shop, round).await;
        let reply = post(&shop, "/bar/bar-1/bump", "").await;
        assert_eq!(reply.status, 202, "{:?}", reply.body);
        let heard = || {
            let seen = prepared.on(topics::ORDERS_PREPARED);
            let text: Vec<String> = seen
                .iter()
                .map(|p| String::from_utf8_lossy(p).into())
                .collect();
            names
                .iter()
                .filter(|(id, _)| text.iter().any(|t| t.contains(&id.to_string())))
                .map(|(id, _)| *id)
                .collect::<Vec<Uuid>>()
        };
        let now_ready = eventually(PATIENCE, || std::future::ready(heard().len() >= round));
        assert!(now_ready.await, "orders/prepared after bump {round}");
        let (id, name) = *names
            .iter()
            .find(|(id, _)| heard().contains(id) && !ready.contains(id))
            .unwrap();
        ready.push(id);
        let took = page_until(&board, &text_of("ready"), name, |s| s.contains(name)).await;
        eprintln!("{name} on the board as ready {took:?} after orders/prepared was seen");
        let js = format!(
            "document.querySelector('#ready [data-no=\"{}\"]') !== null",
            short(id)
        );
        page_until(&board, &js, "the short number", |s| s == "true").await;
    }
    let highlighted = "document.querySelectorAll('#ready .order.new').length";
    page_until(&board, highlighted, "a highlighted ready order", |s| {
        s != "0"
    })
    .await;
    screenshot(&board, "board-ready").await;
    let done = tokio::time::timeout(PATIENCE, pos).await;
    assert!(
        matches!(done, Ok(Ok(Ok(_)))),
        "the POS heard its order made"
    );
}

/// Waits until the bar's rail holds `n` made tickets in all (made ones not bumped yet, plus
/// those bumped before).
async fn wait_made(shop: &TestShop, n: usize) {
    let device = shop.shop.store("barista-device-bar-1").unwrap().clone();
    let ok = eventually(PATIENCE, || {
        let d = device.clone();
        async move {
            let jobs = d
                .scan::<milo_barista_device::Job>("job/", None, 100)
                .unwrap_or_default();
            let made = jobs.iter().filter(|(_, j)| {
                use milo_barista_device::JobState::{Made, Rail};
                matches!(j.state, Rail | Made)
            });
            made.count() >= n
        }
    });
    assert!(ok.await, "{n} drinks made at bar-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bar_tablet_bumps_and_recalls_like_the_cli() {
    let shop = manual_bar().await;
    let seen = Observer::start(&operator(&shop), &["tickets/#", topics::ORDERS_PREPARED]).await;
    let (status, body) = shop.get("/bar/nope").await;
    assert_eq!((status, body["error"].is_string()), (404, true), "{body}");
    let (status, _) = shop.post("/bar/bar-1/bump", "").await;
    assert_eq!(status, 401, "a bump needs the bar's token");
    let (status, body) = shop.get("/bar/bar-1/bump").await;
    assert_eq!((status, body["error"].is_string()), (405, true), "{body}");
    let (status, body) = shop.get("/web/../Cargo.toml").await;
    assert_eq!((status, body["error"].is_string()), (404, true), "{body}");

    let browser = browser(1024, 768);
    let bar = open(&browser, &shop, &format!("/bar/bar-1?token={TOKEN}")).await;
    let cy = http_order(&shop, "Cy").await;
    let ticket = format!("#queue [data-no=\"{}\"]", short(cy));
    let state = format!("(document.querySelector('{ticket}') || {{dataset: {{}}}}).dataset.state");
    page_until(&bar, &state, "Cy's drink made, on the rail", |s| {
        s == "made"
    })
    .await;
    let lines = eval(&bar, &text_of("queue")).await;
    assert!(lines.contains("Cy") && lines.contains("latte"), "{lines}");
    let url = eval(&bar, "window.location.href").await;
    assert!(
        !url.contains("token"),
        "the token leaves the address bar: {url}"
    );
    screenshot(&bar, "bar-made").await;

    eval(&bar, "document.getElementById('bump').click()").await;
    shop.wait_json(&format!("/orders/{cy}"), |o| o["status"] == "prepared")
        .await;
    page_until(
        &bar,
        &format!("document.querySelector('{ticket}') === null"),
        "the ticket gone",
        |s| s == "true",
    )
    .await;

    eval(&bar, "document.getElementById('recall').click()").await;
    let recalled = |kind: &'static str| {
        let seen = &seen;
        async move {
            eventually(PATIENCE, || async {
                seen.seen()
                    .iter()
                    .any(|(t, p)| t == kind && String::from_utf8_lossy(p).contains(&cy.to_string()))
            })
            .await
        }
    };
    assert!(
        recalled(topics::TICKETS_RECALLED).await,
        "tickets/recalled for Cy"
    );
    page_until(&bar, &state, "Cy's drink back on the rail", |s| s == "made").await;
    screenshot(&bar, "bar-recalled").await;
    eval(&bar, "document.getElementById('bump').click()").await;
    assert!(
        recalled(topics::TICKETS_BUMPED).await,
        "tickets/bumped for Cy"
    );
    page_until(&bar, &text_of("said"), "the answer", |s| {
        s.contains("bump sent")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_counts_todays_orders_and_revenue() {
    let shop = common::open().await;
    let mut ids = Vec::new();
    for who in ["Dee", "Eli"] {
        let (id, update) = shop.pos_order("latte", Some("oat"), who).await;
        assert!(update.is_final(), "{update:?}");
        ids.push(id);
    }
    ids.push(http_order(&shop, "Flo").await);
    let mut total = 0;
    for id in &ids {
        let o = shop
            .wait_json(&format!("/orders/{id}"), |o| o["status"] == "prepared")
            .await;
        total += o["total_cents"].as_i64().unwrap();
    }
    let day = shop
        .wait_json("/analytics/summary?day=today", |d| {
            d["day"]["orders"]["total"] == 3 && d["day"]["revenue_cents"] == total
        })
        .await;
    eprintln!("today: {}", day["day"]);

    let desktop = browser(1366, 1900);
    let dash = open(&desktop, &shop, "/").await;
    let value = |id: &str| format!("document.getElementById('{id}').dataset.value");
    page_until(&dash, &value("orders-today"), "3 orders today", |s| {
        s == "3"
    })
    .await;
    page_until(&dash, &value("revenue-today"), "today's revenue", |s| {
        s == total.to_string()
    })
    .await;
    let revenue = eval(&dash, &text_of("revenue-today")).await;
    assert_eq!(revenue, format!("{:.2}", total as f64 / 100.0));
    page_until(
        &dash,
        "document.querySelectorAll('#chart-orders rect').length",
        "a bar",
        |s| s != "0",
    )
    .await;
    page_until(&dash, &text_of("parts"), "parts online", |s| {
        s.contains("order: online")
    })
    .await;
    page_until(&dash, &text_of("stations"), "bar-1", |s| {
        s.contains("bar-1")
    })
    .await;
    screenshot(&dash, "dashboard").await;

    // On a phone: the same screens, nothing wider than the screen.
    let phone = browser(390, 844);
    for (path, name) in [("/", "dashboard-phone"), ("/board", "board-phone")] {
        let tab = open(&phone, &shop, path).await;
        let conn = "document.getElementById('conn').className";
        page_until(&tab, conn, "live", |s| s.contains("live")).await;
        let fits = "document.documentElement.scrollWidth <= window.innerWidth";
        assert_eq!(
            eval(&tab, fits).await,
            "true",
            "{path} fits a phone's width"
        );
        screenshot(&tab, name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_reconnects_by_itself_after_the_store_restarts() {
    let (scratch, again) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut config = milo_testkit::config(scratch.path());
    config.device.auto_bump = false;
    let trigger = ShutdownTrigger::new().0;
    let shop = common::start_shop(&config, &trigger).await.unwrap();
    let http = shop.http;
    let browser = browser(800, 480);
    let board = open_at(&browser, http, "/board").await;
    order_at(http, "Gus").await;
    page_until(&board, &text_of("preparing"), "Gus", |s| s.contains("Gus")).await;

    trigger.trigger();
    shop.run(&trigger).await.unwrap();
    let conn = "document.getElementById('conn').className";
    page_until(&board, conn, "the stream down", |s| s.contains("down")).await;

    // The same data and HTTP address; a new broker (the embedded one of this process keeps
    // its port), as after a power cut.
    let mut second = milo_testkit::config(again.path());
    second.data_dir = config.data_dir.clone();
    second.http.listen = http;
    second.device.auto_bump = false;
    let trigger = ShutdownTrigger::new().0;
    let start = || common::start_shop(&second, &trigger);
    let shop = milo_testkit::when_unlocked_async(start).await.unwrap();
    page_until(&board, conn, "the stream back", |s| s.contains("live")).await;
    page_until(&board, &text_of("preparing"), "Gus again", |s| {
        s.contains("Gus")
    })
    .await;
    order_at(shop.http, "Hal").await;
    page_until(&board, &text_of("preparing"), "Hal", |s| s.contains("Hal")).await;
    screenshot(&board, "board-after-restart").await;
    trigger.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_screens_follow_the_broker_away_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let (port, http) = (milo_testkit::free_port(), milo_testkit::free_port());
    let file = milo_testkit::config_file(dir.path(), port, http);
    let broker = common::broker::Broker::start(&file, port);
    let shop = open_with(|c| {
        c.broker.embedded = false;
        c.mqtt.address = format!("127.0.0.1:{port}");
        c.broker.listen = ([127, 0, 0, 1], port).into();
        c.http.tokens.insert("bar-1".into(), Secret::new(TOKEN));
    })
    .await;
    let browser = browser(1280, 800);
    let board = open(&browser, &shop, "/board").await;
    let dashboard = open(&browser, &shop, "/").await;
    let broker_state = text_of("broker");
    page_until(&dashboard, &broker_state, "the broker connected", |s| {
        s == "broker: connected"
    })
    .await;
    http_order(&shop, "Ivy").await;
    page_until(&board, &text_of("ready"), "Ivy ready", |s| {
        s.contains("Ivy")
    })
    .await;

    // The broker alone goes (the store's HTTP server and its page stay up).
    broker.kill();
    page_until(&dashboard, &broker_state, "the broker gone", |s| {
        s == "broker: unreachable"
    })
    .await;
    let parts = text_of("parts");
    page_until(&dashboard, &parts, "presence as last seen", |s| {
        s.contains("order: online (last seen)")
    })
    .await;
    eval(
        &dashboard,
        "document.getElementById('parts').scrollIntoView()",
    )
    .await;
    screenshot(&dashboard, "dashboard-broker-away").await;
    // What the customers see stays as it was.
    assert!(eval(&board, &text_of("ready")).await.contains("Ivy"));

    // A new broker, empty: the screens' link comes back by itself, the parts say they are
    // online again, and a new order goes over the board as before.
    let _broker = common::broker::Broker::start(&file, port);
    page_until(&dashboard, &broker_state, "the broker back", |s| {
        s == "broker: connected"
    })
    .await;
    page_until(&dashboard, &parts, "presence anew", |s| {
        s.contains("order: online") && !s.contains("last seen")
    })
    .await;
    let order = http_order(&shop, "Jo").await;
    page_until(&board, &text_of("ready"), "Jo ready", |s| s.contains("Jo")).await;
    assert!(eval(&board, &text_of("ready"))
        .await
        .contains(&short(order)));
    screenshot(&board, "board-after-broker-restart").await;
}

/// Places a latte for `customer` with the order id `id`.
async fn order_with_id(shop: &TestShop, id: Uuid, customer: &str) {
    let body =
        format!(r#"{{"order_id":"{id}","items":[{{"item":"latte"}}],"customer":"{customer}"}}"#);
    let reply = post(shop, "/orders", &body).await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
}

/// The dashboard follows the card processor (the retained `payments/gateway`): online, then
/// offline with what is queued during an outage (queue mode), online again once it is back;
/// and a charge the processor declines when it is captured is listed with its customer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_card_payments_offline_and_the_declines_after_the_fact() {
    use milo_contracts::payments::WhenOffline;
    use milo_payment::{BreakerConfig, SimulatedGateway};
    let cut = tempfile::tempdir().unwrap();
    let switch = cut.path().join("processor-cut");
    let s = switch.clone();
    let shop = open_with(move |c| {
        c.http.tokens.insert("bar-1".into(), Secret::new(TOKEN));
        c.payment.when_offline = WhenOffline::Queue;
        c.payment.outage_switch = Some(s);
        c.payment.success_rate = 0.5;
        c.payment.breaker = BreakerConfig {
            failures: 2,
            window_ms: 60_000,
            cool_down_ms: 300,
            probes: 2,
            timeout_ms: 300,
        };
    })
    .await;
    // One order the seeded processor will decline, one it will approve.
    let sim = SimulatedGateway::new(shop.config.payment.clone());
    let pick = |approve: bool| loop {
        let id = Uuid::now_v7();
        if sim.would_approve(id) == approve {
            return id;
        }
    };
    let (declined, approved) = (pick(false), pick(true));

    let desktop = browser(1366, 1900);
    let dash = open(&desktop, &shop, "/").await;
    let cards = text_of("cards");
    page_until(&dash, &cards, "card payments online", |s| {
        s == "card payments online"
    })
    .await;

    std::fs::write(&switch, b"").unwrap();
    order_with_id(&shop, declined, "Gus Declined").await;
    order_with_id(&shop, approved, "Hal").await;
    page_until(&dash, &cards, "card payments offline, 2 queued", |s| {
        s.starts_with("card payments offline")
            && s.contains("2 queued")
            && s.contains("of 200.00 limit")
    })
    .await;
    let alert = "document.getElementById('cards').className";
    assert!(eval(&dash, alert).await.contains("alert"));
    for id in [declined, approved] {
        shop.wait_json(&format!("/orders/{id}"), |o| o["status"] == "prepared")
            .await;
    }
    screenshot(&dash, "dashboard-cards-offline").await;

    std::fs::remove_file(&switch).unwrap();
    page_until(&dash, &cards, "card payments online again", |s| {
        s == "card payments online"
    })
    .await;
    let rows = "Array.from(document.querySelectorAll('#declined-offline tr.declined')).map(r => r.dataset.order + ' ' + r.innerText).join('\\n')";
    page_until(&dash, rows, "the declined charge listed", |s| {
        s.contains(&declined.to_string())
    })
    .await;
    let listed = eval(&dash, rows).await;
    assert!(
        listed.contains(&short(declined)) && listed.contains("Gus Declined"),
        "{listed}"
    );
    assert!(listed.contains("declined"), "{listed}");
    assert!(!listed.contains(&approved.to_string()), "{listed}");
    let count = "document.getElementById('declined-offline-count').dataset.value";
    assert_eq!(eval(&dash, count).await, "1");
    // Analytics took it out of today's money: the latte approved is all the card money.
    let day = shop
        .wait_json("/analytics/summary?day=today", |d| {
            d["day"]["declined_offline"] == 1
        })
        .await;
    let latte = shop
        .wait_json(&format!("/orders/{approved}"), |o| {
            o["status"] == "prepared"
        })
        .await["total_cents"]
        .clone();
    assert_eq!(day["day"]["card_cents"], latte, "{day}");
    assert_eq!(day["day"]["declined_offline_cents"], latte, "{day}");
    eval(
        &dash,
        "document.getElementById('declined-offline').scrollIntoView()",
    )
    .await;
    screenshot(&dash, "dashboard-declined-offline").await;
}

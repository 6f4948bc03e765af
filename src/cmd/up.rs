//! `milo up`'s opening: wait until every part is connected and subscribed, then say where the
//! store listens and how to place a first order from wherever `milo` was started.

use std::net::SocketAddr;
use std::time::Duration;

use milo::shop::Shop;
use milo::MiloConfig;
use milo_bus::ShutdownTrigger;
use tracing::{info, warn};

/// The POS's MQTT address when nothing says otherwise (config/milo.toml).
const DEFAULT_MQTT: &str = "127.0.0.1:1883";

/// How often `milo up` names the parts it is still waiting for.
const NAG: Duration = Duration::from_secs(10);

/// Waits until every part is connected and subscribed, naming the stragglers every 10 s.
/// False if the store is shutting down first; true as soon as a part has ended, so that
/// [`Shop::run`] reports why.
pub async fn wait_open(shop: &Shop, trigger: &ShutdownTrigger) -> bool {
    let mut shutdown = trigger.subscribe();
    loop {
        tokio::select! {
            ready = shop.wait_ready(NAG) => if ready { return true },
            _ = shutdown.wait() => return false,
        }
        if shop.parts.iter().any(|p| p.task.is_finished()) {
            return true;
        }
        let waiting: Vec<&str> = shop
            .parts
            .iter()
            .filter(|p| !*p.ready.borrow())
            .map(|p| p.name.as_str())
            .collect();
        warn!(waiting = %waiting.join(", "), "Not open yet: parts not connected and subscribed.");
    }
}

/// What `milo up` prints once open: where it listens, and a first order that works from here.
pub fn open_banner(config: &MiloConfig, http: SocketAddr) -> String {
    let mode = config.saga.mode.as_str();
    info!(mqtt = %config.mqtt.address, %http, saga = mode, "Milo is open.");
    let exe = std::env::current_exe().ok();
    let milo = milo_command(exe.as_deref());
    let mut order = format!("{milo} pos order latte");
    if config.mqtt.address != DEFAULT_MQTT {
        order.push_str(&format!(" --mqtt {}", config.mqtt.address));
    }
    format!(
        "Milo is open. MQTT on {}, HTTP on http://{http}\nPlace an order: {order}   (Ctrl-C to close)",
        config.mqtt.address
    )
}

/// How to run `milo` again from this shell: `cargo run --release --` from a source checkout
/// (nothing put `milo` on the PATH), else `milo`.
fn milo_command(exe: Option<&std::path::Path>) -> &'static str {
    let in_target = exe.is_some_and(|e| {
        let s = e.to_string_lossy();
        s.contains("/target/release/") || s.contains("/target/debug/")
    });
    match exe {
        Some(e) if in_target && e.to_string_lossy().contains("/debug/") => "cargo run --",
        Some(_) if in_target => "cargo run --release --",
        _ => "milo",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_hint_works_from_a_checkout_and_from_an_install() {
        let release = Path::new("/home/ana/milo/target/release/milo");
        assert_eq!(milo_command(Some(release)), "cargo run --release --");
        let debug = Path::new("/home/ana/milo/target/debug/milo");
        assert_eq!(milo_command(Some(debug)), "cargo run --");
        assert_eq!(milo_command(Some(Path::new("/usr/bin/milo"))), "milo");
        assert_eq!(milo_command(None), "milo");
    }
}

//! Which parts a trace reads and which topics each one consumes: the parts of the configured
//! saga mode plus every barista device (the configured station's and any other whose store
//! is in the data directory), each asked its own `Service::subscriptions` and `is_raw`, so
//! the table cannot drift from what the parts really subscribe to.

use std::path::Path;
use std::sync::Arc;

use milo_barista_device::{Ageing, DeviceService, MemoryDisplay, SimulatedMachine};
use milo_bus::{Service, ShutdownTrigger};
use milo_config::{ConfigError, MiloConfig};
use milo_contracts::dead_letters::valid_part;
use milo_contracts::policy::topic_matches;
use milo_contracts::Menu;
use milo_payment::SimulatedGateway;

/// A part of the store and what it consumes through its inbox.
pub struct Reader {
    /// The part's name: its store's directory and its request topic.
    pub part: String,
    reads: Box<dyn Fn(&str) -> bool>,
}

impl Reader {
    /// True when the part subscribes to `topic` and takes it through its inbox (a topic it
    /// reads raw, like the order service's `orders/placed`, leaves no inbox record).
    pub fn reads(&self, topic: &str) -> bool {
        (self.reads)(topic)
    }

    fn of<S: Service>(part: String, service: S) -> Reader {
        let filters = service.subscriptions();
        let reads = move |topic: &str| {
            !service.is_raw(topic) && filters.iter().any(|f| topic_matches(f, topic))
        };
        Reader {
            part,
            reads: Box::new(reads),
        }
    }
}

/// Every part of `config`'s store, services first, then barista devices; their stores are
/// in `data_dir`.
pub fn readers(config: &MiloConfig, data_dir: &Path) -> Result<Vec<Reader>, ConfigError> {
    let menu = Arc::new(config.menu()?);
    let mut readers: Vec<Reader> = crate::shop::services(config)
        .map(|name| service(config, &menu, name))
        .collect();
    for station in stations(config, data_dir) {
        readers.push(device(config, &menu, &station));
    }
    Ok(readers)
}

fn service(config: &MiloConfig, menu: &Arc<Menu>, name: &str) -> Reader {
    let (mode, part, menu) = (config.saga.mode, name.to_owned(), menu.clone());
    match name {
        "order" => Reader::of(
            part,
            milo_order::OrderService::new(config.order.clone(), menu, mode),
        ),
        "payment" => {
            let gateway = Arc::new(SimulatedGateway::new(config.payment.clone()));
            let payment = milo_payment::PaymentService::new(gateway, mode, &config.payment);
            Reader::of(part, payment)
        }
        "inventory" => Reader::of(
            part,
            milo_inventory::InventoryService::new(config.inventory.clone(), mode, menu),
        ),
        "barista" => Reader::of(
            part,
            milo_barista::BaristaService::new(config.barista.clone(), mode, menu),
        ),
        "notification" => Reader::of(
            part,
            milo_notification::NotificationService::new(config.notification.clone()),
        ),
        "saga" => Reader::of(part, milo_saga::Coordinator::new(config.saga.retry.clone())),
        _ => Reader::of(
            part,
            milo_analytics::AnalyticsService::new(milo_analytics::Zone::utc()),
        ),
    }
}

fn device(config: &MiloConfig, menu: &Arc<Menu>, station: &str) -> Reader {
    let mut device = config.device.clone();
    device.station = station.to_owned();
    let machine = SimulatedMachine::new(&device);
    let ageing = Ageing {
        warn_secs: config.barista.warn_secs,
        late_secs: config.barista.late_secs,
    };
    let shutdown = ShutdownTrigger::new().1;
    let service = DeviceService::new(
        device,
        ageing,
        menu.clone(),
        machine,
        MemoryDisplay::default(),
        shutdown,
    );
    Reader::of(milo_barista_device::service_name(station), service)
}

/// The configured station, then every other one with a store in `data_dir`, by name.
fn stations(config: &MiloConfig, data_dir: &Path) -> Vec<String> {
    let prefix = milo_barista_device::service_name("");
    let mut found: Vec<String> = std::fs::read_dir(data_dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| valid_part(name))
        .filter_map(|name| name.strip_prefix(&prefix).map(str::to_owned))
        .filter(|s| !s.is_empty() && *s != config.device.station)
        .collect();
    found.sort();
    found.insert(0, config.device.station.clone());
    found
}

//! `milo pos …`: the POS terminal at the counter. Orders go through the POS's durable queue
//! (`[pos] queue_dir`, default `<data_dir>/pos`): taken while the store is unreachable, they
//! are sent when it is back, by this run or the next.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use milo::MiloConfig;
use milo_bus::Shutdown;
use milo_contracts::events::OrderLine;
use milo_contracts::payments::PaymentMethod;
use milo_contracts::policy::Role;
use milo_pos::menu_view::line_text;
use milo_pos::{describe, unreachable_note, Followed, Pos, PosError, Settings, Update};
use uuid::Uuid;

use crate::signals;

/// Rejected, canceled, refused: the order will not be made (`cancel`: the cancellation was
/// refused, or the order is unknown).
const FAILED: u8 = 1;
/// The POS itself could not work: queue in use by another POS, its store failed.
const POS_ERROR: u8 = 2;
/// The store did not answer in time: the order stays queued for the next `milo pos` run
/// (`cancel`: nothing was decided).
const QUEUED: u8 = 3;
/// The store has the order, but it was not prepared in time.
const UNFINISHED: u8 = 4;

/// How long `order` waits for the broker before taking the order without availability.
const CONNECT_WAIT: Duration = Duration::from_secs(2);
/// How long `order` waits for the retained `menu/availability` once connected.
const AVAILABILITY_WAIT: Duration = Duration::from_millis(500);

#[derive(Subcommand)]
pub enum PosCommand {
    /// Take orders interactively at the counter (end of input, Ctrl-D, ends the session).
    ///
    /// Shows the menu (what the shop cannot make now marked 86'd), asks item, size, milk,
    /// extra shots, syrups, iced, quantity, more drinks and the customer's name, confirms
    /// the total and places the order; status and estimated ready times are printed as they
    /// come. With the store unreachable orders are queued and sent when it is back.
    Shell {
        /// Broker address.
        #[arg(long)]
        mqtt: Option<String>,
    },
    /// Take one order and follow it until it is prepared, estimated ready time included.
    ///
    /// Exit 0 once prepared; 1 rejected, canceled, or refused because the shop cannot make
    /// it now; 2 the POS cannot work (queue in use by another milo pos...); 3 the store did
    /// not answer within [pos] timeout_secs: the order stays queued and the next `milo pos`
    /// run sends it; 4 taken by the store but not prepared in time.
    Order(OrderArgs),
    /// Send the queued orders and wait for the store's answers.
    ///
    /// Exit 0 once the queue is empty, 3 if orders are still queued after [pos] timeout_secs.
    Sync {
        /// Broker address.
        #[arg(long)]
        mqtt: Option<String>,
    },
    /// List the orders waiting in the queue for the store's answer.
    Queue,
    /// The customer collected an order: take it off the pickup board.
    ///
    /// Publishes `orders/collected`, confirmed by the broker. Exit 3 if the broker cannot be
    /// reached within [pos] timeout_secs.
    Pickup {
        /// The order id.
        order_id: Uuid,
        /// Broker address.
        #[arg(long)]
        mqtt: Option<String>,
    },
    /// Ask to cancel an order and print the store's answer, which comes at once.
    ///
    /// Exit 0 canceled and refunded (also when it already was: the same outcome again); 1
    /// refused, with the reason printed (the drink is being made or made, the order was
    /// rejected, unknown order); 2 the POS cannot work (bad broker address...); 3 no answer
    /// within [pos] timeout_secs (broker unreachable, store down).
    Cancel {
        /// The order id.
        order_id: Uuid,
        /// Why, for the record.
        #[arg(long)]
        reason: Option<String>,
        /// Broker address.
        #[arg(long)]
        mqtt: Option<String>,
    },
}

/// What `milo pos order` takes.
#[derive(clap::Args)]
pub struct OrderArgs {
    /// Menu item, e.g. latte.
    item: String,
    /// Size, e.g. large.
    #[arg(long)]
    size: Option<String>,
    /// Milk, e.g. oat.
    #[arg(long)]
    milk: Option<String>,
    /// How many.
    #[arg(long, default_value_t = 1)]
    qty: i64,
    /// A modifier (extra_shot, vanilla, caramel, iced...); repeat for more.
    #[arg(long = "extra")]
    extras: Vec<String>,
    /// Name to call out at pickup.
    #[arg(long)]
    customer: Option<String>,
    /// Paid in cash at the till: recorded as paid without the card processor (taken even
    /// while card payments are offline).
    #[arg(long)]
    cash: bool,
    /// Order id (UUID) to use; placing the same id twice makes one order.
    #[arg(long)]
    order_id: Option<Uuid>,
    /// Broker address.
    #[arg(long)]
    mqtt: Option<String>,
}

impl OrderArgs {
    fn request(self) -> milo_pos::Request {
        milo_pos::Request {
            order_id: self.order_id.unwrap_or_else(Uuid::now_v7),
            items: vec![OrderLine {
                item: self.item,
                size: self.size,
                milk: self.milk,
                qty: self.qty,
                modifiers: self.extras,
            }],
            customer: self.customer,
            payment: if self.cash {
                PaymentMethod::Cash
            } else {
                PaymentMethod::Card
            },
        }
    }
}

/// Runs a POS command.
pub async fn run(command: PosCommand, mut config: MiloConfig) -> anyhow::Result<ExitCode> {
    let address = match &command {
        PosCommand::Shell { mqtt }
        | PosCommand::Sync { mqtt }
        | PosCommand::Pickup { mqtt, .. }
        | PosCommand::Cancel { mqtt, .. } => mqtt.clone(),
        PosCommand::Order(args) => args.mqtt.clone(),
        PosCommand::Queue => None,
    };
    if let Some(m) = address {
        config.mqtt.address = m;
    }
    // The terminal connects with its own credential (when the store checks them).
    config.mqtt = config.mqtt_as(&config.pos.terminal, Role::Pos)?;
    let sd: Shutdown = signals()?.subscribe();
    let timeout = Duration::from_secs(config.pos.timeout_secs);
    match command {
        PosCommand::Order(args) => {
            let request = args.request();
            with_pos(&config, sd.clone(), |pos| order(pos, request, timeout, sd)).await
        }
        PosCommand::Shell { .. } => {
            let open = sd.clone();
            let shell =
                |pos| async move { milo_pos::shell(pos, sd).await.map(|_| ExitCode::SUCCESS) };
            with_pos(&config, open, shell).await
        }
        PosCommand::Sync { .. } => {
            with_pos(&config, sd.clone(), |pos| sync(pos, timeout, sd)).await
        }
        PosCommand::Queue => list(&config).await,
        PosCommand::Pickup { order_id, .. } => Ok(pickup(&config, order_id, timeout, sd).await),
        PosCommand::Cancel {
            order_id, reason, ..
        } => cancel(order_id, reason, config, sd).await,
    }
}

async fn pickup(config: &MiloConfig, id: Uuid, timeout: Duration, sd: Shutdown) -> ExitCode {
    match milo_pos::pickup(&config.mqtt, &config.pos.terminal, id, timeout, sd).await {
        Ok(()) => {
            println!("order {id} collected: off the pickup board");
            ExitCode::SUCCESS
        }
        Err(e @ PosError::Unreachable(_)) => {
            eprintln!("milo pos: {e}");
            ExitCode::from(QUEUED)
        }
        Err(e) => pos_error(&e),
    }
}

fn settings(config: &MiloConfig) -> anyhow::Result<Settings> {
    Ok(Settings {
        pos: config.pos.clone(),
        mqtt: config.mqtt.clone(),
        store: config.store.clone(),
        queue_dir: config.pos.queue_path(&config.data_dir),
        menu: Arc::new(config.menu()?),
    })
}

fn pos_error(e: &PosError) -> ExitCode {
    eprintln!("milo pos: {e}");
    ExitCode::from(POS_ERROR)
}

/// Opens the POS, runs `f` with it, then closes it (the queue stays on disk).
async fn with_pos<F, Fut>(config: &MiloConfig, shutdown: Shutdown, f: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(Arc<Pos>) -> Fut,
    Fut: std::future::Future<Output = Result<ExitCode, PosError>>,
{
    let pos = match Pos::open(settings(config)?, shutdown).await {
        Ok(pos) => Arc::new(pos),
        Err(e) => return Ok(pos_error(&e)),
    };
    let code = f(pos.clone()).await.unwrap_or_else(|e| pos_error(&e));
    if let Ok(pos) = Arc::try_unwrap(pos) {
        pos.close().await;
    }
    Ok(code)
}

async fn order(
    pos: Arc<Pos>,
    request: milo_pos::Request,
    timeout: Duration,
    shutdown: Shutdown,
) -> Result<ExitCode, PosError> {
    let id = request.order_id;
    println!("order {id}");
    // Availability is retained: right after connecting it is known, if inventory published it.
    let connected = pos.wait_connected(CONNECT_WAIT).await;
    if connected {
        pos.wait_availability(AVAILABILITY_WAIT).await;
    }
    // Said before the customer pays (retained, like availability).
    if connected && pos.wait_cards(AVAILABILITY_WAIT).await {
        match pos.cards_note() {
            // Queue mode: card orders are still taken, authorized offline up to the limits.
            Some(note) if pos.cards_refused(PaymentMethod::Card).is_none() => println!("{note}"),
            _ => println!("card payments offline: take cash (--cash) or try again"),
        }
    }
    let mut updates = pos.updates();
    match pos.take_order(request).await {
        Err(PosError::Refused(why)) => {
            println!("refused: {why}");
            return Ok(ExitCode::from(FAILED));
        }
        other => other?,
    }
    if !*pos.connected().borrow() {
        println!("{}", unreachable_note(*pos.queue_len().borrow()));
    }
    let show = |u: &Update| println!("{}", describe(u));
    let followed = milo_pos::follow_order(&pos, &mut updates, id, timeout, show, shutdown).await?;
    let kept = || {
        println!(
            "the store did not answer within {}s: order {id} is kept in the queue ({}) and \
             will be sent by the next `milo pos` run",
            timeout.as_secs(),
            pos.queue_dir().display()
        );
        ExitCode::from(QUEUED)
    };
    Ok(match followed {
        Followed::Done(Update::Prepared { .. }) => ExitCode::SUCCESS,
        Followed::Done(_) => ExitCode::from(FAILED),
        Followed::StillQueued => kept(),
        Followed::Interrupted if pos.is_queued(id)? => kept(),
        Followed::Unfinished | Followed::Interrupted => {
            println!(
                "order {id} is in the store but not prepared yet: GET /orders/{id} follows it"
            );
            ExitCode::from(UNFINISHED)
        }
    })
}

async fn sync(pos: Arc<Pos>, timeout: Duration, shutdown: Shutdown) -> Result<ExitCode, PosError> {
    let queued = pos.queued()?.len();
    println!("{queued} queued");
    if queued == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    if !pos.wait_connected(CONNECT_WAIT).await {
        println!("{}", unreachable_note(queued));
    }
    let show = |id: Uuid, u: &Update| println!("order {id}: {}", describe(u));
    let left = milo_pos::sync(&pos, timeout, show, shutdown).await?;
    if left == 0 {
        println!("queue empty: the store has every order");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{left} still queued: the next `milo pos` run sends them");
    Ok(ExitCode::from(QUEUED))
}

async fn list(config: &MiloConfig) -> anyhow::Result<ExitCode> {
    let dir = config.pos.queue_path(&config.data_dir);
    let wait = Duration::from_secs(config.pos.lock_wait_secs);
    let menu = config.menu()?;
    let queue = match milo_pos::queue::open(&dir, &config.store, wait).await {
        Ok(q) => q,
        Err(e) => return Ok(pos_error(&e)),
    };
    let queued = milo_pos::queue::list(&queue.store)?;
    println!("{} queued in {}", queued.len(), dir.display());
    for q in queued {
        let lines: Vec<String> = q.placed.items.iter().map(|l| line_text(&menu, l)).collect();
        let at = q
            .queued_at
            .format(&time::format_description::well_known::Rfc3339)?;
        let who = q.placed.customer.as_deref().unwrap_or("-");
        println!("{}  {at}  {who}  {}", q.placed.order_id, lines.join("; "));
    }
    Ok(ExitCode::SUCCESS)
}

async fn cancel(
    order_id: Uuid,
    reason: Option<String>,
    config: MiloConfig,
    shutdown: Shutdown,
) -> anyhow::Result<ExitCode> {
    let show = |u: &Update| println!("{}", describe(u));
    let (mqtt, pos) = (config.mqtt.clone(), config.pos.clone());
    match milo_pos::cancel(mqtt, pos, order_id, reason, show, shutdown).await {
        Ok(Update::Canceled { .. }) => Ok(ExitCode::SUCCESS),
        Ok(_) => Ok(ExitCode::from(FAILED)),
        Err(e @ (PosError::Unreachable(_) | PosError::TimedOut(_) | PosError::Interrupted)) => {
            eprintln!("milo pos: {e}");
            Ok(ExitCode::from(QUEUED))
        }
        Err(e) => Ok(pos_error(&e)),
    }
}

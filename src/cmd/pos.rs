//! `milo pos …`: the POS terminal at the counter.

use std::process::ExitCode;

use clap::Subcommand;
use milo::MiloConfig;
use milo_bus::Shutdown;
use milo_contracts::events::OrderLine;
use milo_pos::Update;

use crate::signals;

#[derive(Subcommand)]
pub enum PosCommand {
    /// Place an order and follow it until it is prepared (exit 0) or fails (exit 1).
    Order {
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
        /// Order id (UUID) to use; placing the same id twice makes one order.
        #[arg(long)]
        order_id: Option<uuid::Uuid>,
        /// Broker address.
        #[arg(long)]
        mqtt: Option<String>,
    },
    /// Ask to cancel an order: canceled and refunded (exit 0) or refused because the drink is
    /// already being made (exit 1).
    Cancel {
        /// The order id.
        order_id: uuid::Uuid,
        /// Why, for the record.
        #[arg(long)]
        reason: Option<String>,
        /// Broker address.
        #[arg(long)]
        mqtt: Option<String>,
    },
}

/// Runs a POS command.
pub async fn run(command: PosCommand, mut config: MiloConfig) -> anyhow::Result<ExitCode> {
    let (item, size, milk, qty, extras, customer, order_id, mqtt) = match command {
        PosCommand::Order {
            item,
            size,
            milk,
            qty,
            extras,
            customer,
            order_id,
            mqtt,
        } => (item, size, milk, qty, extras, customer, order_id, mqtt),
        PosCommand::Cancel {
            order_id,
            reason,
            mqtt,
        } => return pos_cancel(order_id, reason, mqtt, config).await,
    };
    if let Some(m) = mqtt {
        config.mqtt.address = m;
    }
    let request = milo_pos::Request {
        order_id: order_id.unwrap_or_else(uuid::Uuid::now_v7),
        items: vec![OrderLine {
            item,
            size,
            milk,
            qty,
            modifiers: extras,
        }],
        customer,
    };
    println!("order {}", request.order_id);
    let shutdown: Shutdown = signals()?.subscribe();
    let show = |u: &Update| println!("{}", describe(u));
    match milo_pos::place(
        config.mqtt.clone(),
        config.pos.clone(),
        request,
        show,
        shutdown,
    )
    .await
    {
        Ok(Update::Prepared { .. }) => Ok(ExitCode::SUCCESS),
        Ok(_) => Ok(ExitCode::from(1)),
        Err(e) => {
            eprintln!("milo pos: {e}");
            Ok(ExitCode::from(3))
        }
    }
}

async fn pos_cancel(
    order_id: uuid::Uuid,
    reason: Option<String>,
    mqtt: Option<String>,
    mut config: MiloConfig,
) -> anyhow::Result<ExitCode> {
    if let Some(m) = mqtt {
        config.mqtt.address = m;
    }
    let shutdown: Shutdown = signals()?.subscribe();
    let show = |u: &Update| println!("{}", describe(u));
    let (mqtt, pos) = (config.mqtt.clone(), config.pos.clone());
    match milo_pos::cancel(mqtt, pos, order_id, reason, show, shutdown).await {
        Ok(Update::Canceled { .. }) => Ok(ExitCode::SUCCESS),
        Ok(_) => Ok(ExitCode::from(1)),
        Err(e) => {
            eprintln!("milo pos: {e}");
            Ok(ExitCode::from(3))
        }
    }
}

fn describe(u: &Update) -> String {
    match u {
        Update::Created { total_cents } => {
            format!(
                "created: total {}.{:02}",
                total_cents / 100,
                total_cents % 100
            )
        }
        Update::Paid => "paid".into(),
        Update::Reserved => "stock reserved".into(),
        Update::Ready => "ready: being made".into(),
        Update::Prepared { station } => format!("prepared at {station}: ready for pickup"),
        Update::Rejected { reason } => format!("rejected: {reason}"),
        Update::Failed { reason } => format!("failed: {reason}; undoing what was done"),
        Update::Canceled {
            reason,
            refunded_cents,
        } => format!(
            "canceled: {reason} (refunded {}.{:02})",
            refunded_cents / 100,
            refunded_cents % 100
        ),
        Update::CancelRefused { reason } => format!("cancellation refused: {reason}"),
        Update::Declined { reason } => format!("problem: {reason}"),
    }
}

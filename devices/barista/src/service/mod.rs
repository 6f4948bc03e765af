//! The device's handlers: tickets, moves and withdrawals from `devices/<id>/tickets`,
//! commands from `devices/<id>/commands`, and the worker's requests.
//!
//! Handlers only record tickets; the worker makes them one after another, in arrival order.
//! Before each drink it asks [`Command::Begin`]: the first yes records the job started and
//! announces `orders/started`, so from then on a withdrawal is refused. A finished job comes
//! back as [`Command::Done`] (bumped at once, or put on the rail), a job the machine could
//! not make as [`Command::Stopped`] (`tickets/returned`). A stopped machine hands back every
//! queued job, and every ticket that arrives until it is ready again. After a restart, the
//! jobs left queued or started are handed back, never resumed. A ticket or withdrawal seen
//! again is answered with the recorded outcome, byte for byte.
//!
//! # Layout
//! - `tickets`: tickets, moves and withdrawals.
//! - `station`: the worker's reports, hand-backs and telemetry.
//! - `rail`: bump, recall and the operator's machine commands.

mod rail;
mod station;
mod tickets;

use std::sync::Arc;

use milo_bus::{Commands, Rejection, Service, Shutdown, Store, Tx};
use milo_contracts::bar::{DeviceCommand, TicketMoved};
use milo_contracts::events::TicketAssigned;
use milo_contracts::saga::WithdrawTicket;
use milo_contracts::{topics, Menu, RawEnvelope};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::config::{Ageing, Config};
use crate::display::Display;
use crate::job::{job_key, Board, Command, Job, ToWorker};
use crate::machine::EspressoMachine;
use crate::worker::{Inputs, Worker};

/// The barista device.
pub struct DeviceService<M, D> {
    config: Config,
    ageing: Ageing,
    menu: Arc<Menu>,
    hardware: Option<(M, D)>,
    worker: Option<mpsc::UnboundedSender<ToWorker>>,
    store: Option<Store>,
    /// Why the machine is stopped, while it is (from the worker's last report).
    down: Option<String>,
    shutdown: Shutdown,
}

fn load(tx: &Tx, order_id: Uuid) -> Result<Option<Job>, Rejection> {
    Ok(tx.get::<Job>(&job_key(order_id))?.map(Job::normalized))
}

/// The queue and the rail as committed in `store`.
fn board(store: &Store) -> Board {
    // Keys only: this runs after every commit, with the whole queue in the store.
    let count = |prefix| store.count(prefix);
    let next = store
        .scan::<Uuid>("rail/", None, 1)
        .ok()
        .and_then(|r| r.into_iter().next())
        .and_then(|(_, id)| store.get::<Job>(&job_key(id)).ok().flatten());
    Board {
        queue: u32::try_from(count("queued/")).unwrap_or(u32::MAX),
        rail: u32::try_from(count("rail/")).unwrap_or(u32::MAX),
        next,
    }
}

impl<M: EspressoMachine, D: Display> DeviceService<M, D> {
    /// A device as `config` describes it, with its machine and display; ticket ages are
    /// flagged by `ageing`.
    pub fn new(
        config: Config,
        ageing: Ageing,
        menu: Arc<Menu>,
        machine: M,
        display: D,
        shutdown: Shutdown,
    ) -> Self {
        DeviceService {
            config,
            ageing,
            menu,
            hardware: Some((machine, display)),
            worker: None,
            store: None,
            down: None,
            shutdown,
        }
    }

    fn station(&self) -> &str {
        &self.config.station
    }

    /// Sends `msg` to the worker once `tx` is durable.
    fn tell(&self, tx: &mut Tx, msg: ToWorker) {
        if let Some(worker) = self.worker.clone() {
            tx.after_commit(move || {
                let _ = worker.send(msg);
            });
        }
    }

    /// Shows the queue and the rail as they are once `tx` is durable.
    fn refresh(&self, tx: &mut Tx) {
        if let (Some(worker), Some(store)) = (self.worker.clone(), self.store.clone()) {
            tx.after_commit(move || {
                let _ = worker.send(ToWorker::Board(board(&store)));
            });
        }
    }

    /// Refuses what names another station.
    fn ours(&self, station: &str, what: &str) -> Result<(), Rejection> {
        if station == self.station() {
            return Ok(());
        }
        Err(Rejection::Invalid(format!(
            "{what} for station {station:?} arrived at {:?}",
            self.station()
        )))
    }
}

impl<M: EspressoMachine, D: Display> Service for DeviceService<M, D> {
    type Command = Command;

    fn name(&self) -> String {
        crate::service_name(self.station())
    }

    fn subscriptions(&self) -> Vec<String> {
        vec![
            topics::device_tickets(self.station()),
            topics::device_commands(self.station()),
        ]
    }

    fn on_event(&mut self, tx: &mut Tx, topic: &str, env: &RawEnvelope) -> Result<(), Rejection> {
        if topics::device_of_commands(topic).is_some() {
            let cmd = env.decode::<DeviceCommand>()?;
            return self.command(tx, cmd, env.id);
        }
        if env.is::<TicketAssigned>() {
            self.ticket(tx, env.decode()?, env.id)
        } else if env.is::<TicketMoved>() {
            self.moved(tx, env.decode()?)
        } else if env.is::<WithdrawTicket>() {
            let order_id = env.decode::<WithdrawTicket>()?.order_id;
            self.withdraw(tx, order_id, env.id)
        } else {
            Err(env.unexpected().into())
        }
    }

    fn on_command(&mut self, tx: &mut Tx, cmd: Command) -> Result<(), Rejection> {
        match cmd {
            Command::Begin {
                order_id,
                drink,
                reply,
            } => {
                let go = self.begin(tx, order_id, drink)?;
                // "Started" is durable before the drink begins.
                tx.after_commit(move || {
                    let _ = reply.send(go);
                });
                Ok(())
            }
            Command::Done { order_id, prep_ms } => self.done(tx, order_id, prep_ms),
            Command::Stopped {
                order_id,
                reason,
                station_down,
                stages_done,
            } => self.stopped(tx, order_id, reason, station_down, stages_done),
            Command::Status(report) => self.status(tx, report),
            Command::Restarted(ids) => self.restarted(tx, ids),
        }
    }

    fn on_start(&mut self, store: &Store, commands: &Commands<Command>) -> Result<(), Rejection> {
        self.store = Some(store.clone());
        // Whatever was queued or started before is handed back, never resumed: the barista
        // service may have moved it meanwhile. on_start has no Tx: the loop does it.
        let left: Vec<Uuid> = store
            .scan::<serde_json::Value>("queued/", None, usize::MAX)?
            .into_iter()
            .filter_map(|(id, _)| id.parse().ok())
            .collect();
        let me = commands.clone();
        tokio::spawn(async move { me.send(Command::Restarted(left)).await });
        let (worker, inbox) = mpsc::unbounded_channel();
        if let Some((machine, display)) = self.hardware.take() {
            let w = Worker::new(
                &self.config,
                self.ageing,
                self.menu.clone(),
                machine,
                display,
                commands.clone(),
            );
            tokio::spawn(w.run(Inputs::new(inbox, self.shutdown.clone())));
        }
        self.worker = Some(worker);
        Ok(())
    }
}

#[cfg(test)]
mod tests;

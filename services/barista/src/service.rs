//! The barista service: event routing, the stations' presence and telemetry, and the tick.
//!
//! Store layout: see [`crate::ticket`].

use std::sync::{Arc, Mutex};

use milo_bus::{retry, Alarm, Commands, Rejection, Service, Store, Tx};
use milo_contracts::bar::{Telemetry, TicketBumped, TicketRecalled, TicketReturned};
use milo_contracts::events::{OrderPrepared, OrderReady};
use milo_contracts::saga::{
    OrderStarted, PrepareOrder, SagaMode, TicketFailed, TicketWithdrawn, WithdrawTicket,
};
use milo_contracts::{topics, Menu, RawEnvelope};
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::eta;
use crate::station::Bar;
use crate::ticket::WAITING_PREFIX;
use crate::{Command, Config};

/// The barista service.
#[derive(Debug)]
pub struct BaristaService {
    pub(crate) mode: SagaMode,
    pub(crate) config: Config,
    pub(crate) menu: Arc<Menu>,
    /// The stations and queues as the last successful handler left them. A handler takes it
    /// (or loads it from the store) and puts it back with [`BaristaService::keep`] as its last
    /// step, so a handler that fails leaves no cache and the next one reads the store. This
    /// keeps a long queue (a rush) from being read from the store on every message.
    cache: Mutex<Option<Bar>>,
    /// When the next tick is due: a ticket to age, tickets waiting for a station.
    pub(crate) alarm: Alarm,
}

impl BaristaService {
    /// A barista service for `mode` (in choreography it makes what `orders/ready` announces,
    /// in orchestration what `commands/barista/prepare` asks for), with `config` and the menu
    /// its time model reads the drinks' stages from.
    pub fn new(config: Config, mode: SagaMode, menu: Arc<Menu>) -> Self {
        BaristaService {
            mode,
            config,
            menu,
            cache: Mutex::new(None),
            alarm: Alarm::default(),
        }
    }

    /// A view of the stations for one handler: the cached one, or read from the store.
    pub(crate) fn bar(&self, tx: &Tx) -> Result<Bar, Rejection> {
        let cached = self.cache.lock().unwrap_or_else(|e| e.into_inner()).take();
        match cached {
            Some(mut bar) => {
                bar.begin();
                Ok(bar)
            }
            None => Bar::load(tx, self.config.assumed_speed()),
        }
    }

    /// After `station`'s queue moved: publishes the estimates that moved enough (see
    /// [`eta::refresh`]).
    pub(crate) fn refresh_eta(
        &self,
        tx: &mut Tx,
        bar: &mut Bar,
        station: &str,
        cause: Uuid,
    ) -> Result<(), Rejection> {
        eta::refresh(tx, bar, station, self.config.eta_step_secs, Some(cause))
    }

    /// Writes the station records `bar` changed and keeps it for the next handler. Only as
    /// the last step of a handler that succeeds.
    pub(crate) fn keep(&self, tx: &mut Tx, bar: Bar) {
        for (station, n) in bar.queue_lengths() {
            metrics::gauge!("milo_station_queue", "station" => station.to_owned()).set(n as f64);
        }
        bar.save(tx);
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
    }

    /// `devices/<id>/status`: a station came online (it gets waiting tickets) or went away
    /// (its tickets move).
    fn presence(&self, tx: &mut Tx, station: &str, online: bool) -> Result<(), Rejection> {
        let mut bar = self.bar(tx)?;
        let before = bar.station(station);
        if before.online == online {
            return Ok(());
        }
        bar.station_mut(station).online = online;
        if online {
            info!(
                station,
                accepting = before.accepting,
                "Barista station online."
            );
            self.drain(tx, &mut bar, None)?;
        } else {
            warn!(station, "Barista station offline; its tickets move.");
            self.evacuate(tx, &mut bar, station, None)?;
        }
        self.keep(tx, bar);
        Ok(())
    }

    /// `devices/<id>/telemetry`: only whether the station accepts tickets matters here.
    fn telemetry(&self, tx: &mut Tx, station: &str, payload: &[u8]) -> Result<(), Rejection> {
        let t: Telemetry = serde_json::from_slice(payload)
            .map_err(|e| Rejection::Invalid(format!("telemetry is not a Telemetry: {e}")))?;
        if t.station != station {
            return Err(Rejection::Invalid(format!(
                "telemetry of station {:?} on the topic of {station:?}",
                t.station
            )));
        }
        let mut bar = self.bar(tx)?;
        let before = bar.station(station);
        let accepting = t.accepting();
        if accepting == before.accepting {
            return Ok(());
        }
        if accepting && before.down_since.is_some_and(|down| t.at <= down) {
            debug!(
                station,
                "Telemetry from before the station went down; ignored."
            );
            return Ok(());
        }
        let s = bar.station_mut(station);
        s.accepting = accepting;
        if accepting {
            s.down_since = None;
            info!(station, "Barista station accepts tickets again.");
            self.drain(tx, &mut bar, None)?;
        } else {
            let fault = t.fault.as_deref().unwrap_or("");
            warn!(station, fault, "Barista station takes no tickets.");
            if t.fault.is_some() {
                let labels = [("station", station.to_owned())];
                metrics::counter!("milo_machine_faults_total", &labels).increment(1);
            }
        }
        self.keep(tx, bar);
        Ok(())
    }

    /// The tick: ageing, and waiting tickets for stations usable now.
    fn tick(&self, tx: &mut Tx) -> Result<(), Rejection> {
        self.age(tx)?;
        let mut bar = self.bar(tx)?;
        self.drain(tx, &mut bar, None)?;
        self.keep(tx, bar);
        // Waiting tickets are looked at every `tick_ms` (a station may have room by then).
        let waiting = !tx.scan::<()>(WAITING_PREFIX, 1)?.is_empty();
        let again = waiting.then(|| retry::now_ms() + self.config.tick_ms as i64);
        self.alarm
            .next(again.into_iter().chain(self.next_age(tx)?).min());
        Ok(())
    }
}

impl Service for BaristaService {
    type Command = Command;

    fn name(&self) -> String {
        "barista".into()
    }

    fn subscriptions(&self) -> Vec<String> {
        let make = match self.mode {
            SagaMode::Choreography => topics::ORDERS_READY,
            SagaMode::Orchestration => topics::COMMANDS_BARISTA_PREPARE,
        };
        vec![
            make.into(),
            topics::ORDERS_STARTED.into(),
            topics::ORDERS_PREPARED.into(),
            topics::device_status("+"),
            topics::DEVICE_TELEMETRY_ALL.into(),
            topics::COMMANDS_BARISTA_WITHDRAW.into(),
            topics::TICKETS_RETURNED.into(),
            topics::TICKETS_FAILED.into(),
            topics::TICKETS_WITHDRAWN.into(),
            topics::TICKETS_BUMPED.into(),
            topics::TICKETS_RECALLED.into(),
        ]
    }

    fn is_raw(&self, topic: &str) -> bool {
        topics::device_of_status(topic).is_some() || topics::device_of_telemetry(topic).is_some()
    }

    fn on_raw(&mut self, tx: &mut Tx, topic: &str, payload: &[u8]) -> Result<(), Rejection> {
        if let Some(station) = topics::device_of_telemetry(topic) {
            return self.telemetry(tx, station, payload);
        }
        let station = topics::device_of_status(topic).unwrap_or_default();
        match payload {
            b"online" => self.presence(tx, station, true),
            b"offline" => self.presence(tx, station, false),
            _ => Err(Rejection::Invalid(
                "presence must be `online` or `offline`".into(),
            )),
        }
    }

    fn on_event(&mut self, tx: &mut Tx, topic: &str, env: &RawEnvelope) -> Result<(), Rejection> {
        let cause = env.id;
        match topic {
            topics::ORDERS_READY => self.ready(tx, env.decode()?, cause),
            topics::COMMANDS_BARISTA_PREPARE => {
                let p: PrepareOrder = env.decode()?;
                let ready = OrderReady {
                    order_id: p.order_id,
                    lines: p.lines,
                    customer: p.customer,
                };
                self.ready(tx, ready, cause)
            }
            topics::ORDERS_STARTED => self.started(tx, env.decode::<OrderStarted>()?),
            topics::ORDERS_PREPARED => self.prepared(tx, env.decode::<OrderPrepared>()?, cause),
            topics::COMMANDS_BARISTA_WITHDRAW => {
                Self::withdraw(tx, env.decode::<WithdrawTicket>()?.order_id, cause)
            }
            topics::TICKETS_RETURNED => {
                let e: TicketReturned = env.decode()?;
                self.returned(tx, e, cause, env.occurred_at)
            }
            topics::TICKETS_WITHDRAWN => {
                self.withdrawn(tx, env.decode::<TicketWithdrawn>()?, cause)
            }
            topics::TICKETS_FAILED => self.failed(tx, env.decode::<TicketFailed>()?, cause),
            topics::TICKETS_BUMPED => self.bumped(tx, env.decode::<TicketBumped>()?, cause),
            topics::TICKETS_RECALLED => self.recalled(tx, env.decode::<TicketRecalled>()?, cause),
            _ => Err(env.unexpected().into()),
        }
    }

    fn on_command(&mut self, tx: &mut Tx, cmd: Command) -> Result<(), Rejection> {
        match cmd {
            Command::Tick => self.tick(tx),
        }
    }

    fn on_start(&mut self, _store: &Store, commands: &Commands<Command>) -> Result<(), Rejection> {
        self.alarm
            .start(commands.clone(), self.config.tick_ms, || Command::Tick);
        Ok(())
    }
}

//! The worker's side that does not touch the machine: the display, the jobs waiting, the
//! board from the service loop, and the machine reports sent as telemetry.
//!
//! It is a separate struct so that it can redraw and report while a stage holds the machine.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use milo_bus::Commands;
use milo_contracts::Menu;
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::config::{Ageing, Config};
use crate::display::{drink_label, render, Display, Making, Screen, TicketLine, View};
use crate::job::{Board, Command, Job, Report, ToWorker};
use crate::machine::{Condition, MachineStatus, Maintenance};

/// How long a lost drink stays on the display.
const LOST_SHOWN: Duration = Duration::from_secs(3);

/// A drink at the machine, as the display shows it.
#[derive(Debug, Clone)]
pub(super) struct AtMachine {
    pub job: Job,
    pub drink: String,
    /// Which drink (from 1) of how many.
    pub n: usize,
    pub m: usize,
    pub stage: String,
    pub step: usize,
    pub steps: usize,
}

/// What the display is showing.
#[derive(Debug, Clone)]
enum Showing {
    /// The machine's own state: warming, idle, stopped, or a ticket to bump.
    Machine,
    Making(AtMachine),
    Lost {
        reason: String,
        at: AtMachine,
        until: Instant,
    },
}

/// Display, queue and reports of one station.
pub(super) struct Panel<D> {
    station: String,
    ageing: Ageing,
    telemetry: Duration,
    menu: Arc<Menu>,
    display: D,
    commands: Commands<Command>,
    /// Jobs to make, in arrival order.
    pub pending: VecDeque<Job>,
    /// Operator actions that arrived while a stage held the machine.
    pub held: Vec<Maintenance>,
    board: Board,
    status: Option<MachineStatus>,
    making: bool,
    reported: Option<(Condition, Instant)>,
    showing: Showing,
}

impl<D: Display> Panel<D> {
    pub fn new(
        config: &Config,
        ageing: Ageing,
        menu: Arc<Menu>,
        display: D,
        commands: Commands<Command>,
    ) -> Self {
        Panel {
            station: config.station.clone(),
            ageing,
            telemetry: Duration::from_secs(config.telemetry_secs.max(1)),
            menu,
            display,
            commands,
            pending: VecDeque::new(),
            held: Vec::new(),
            board: Board::default(),
            status: None,
            making: false,
            reported: None,
            showing: Showing::Machine,
        }
    }

    /// Sends a command to the service loop; false if it has stopped.
    pub async fn send(&mut self, cmd: Command) -> bool {
        self.commands.send(cmd).await
    }

    pub fn menu(&self) -> &Menu {
        &self.menu
    }

    /// Takes a message from the service loop.
    pub fn take(&mut self, msg: ToWorker) {
        match msg {
            ToWorker::Job(job) => self.pending.push_back(job),
            ToWorker::Drop(id) => self.pending.retain(|j| j.order_id != id),
            ToWorker::Board(board) => self.board = board,
            ToWorker::Maintain(action) => self.held.push(action),
        }
    }

    /// Records the machine's state and reports it at once if its condition changed (warmed,
    /// stopped, cleared, refilled); false if the service loop has stopped.
    pub async fn observe(&mut self, status: MachineStatus) -> bool {
        let changed = self.reported.is_none_or(|(c, _)| c != status.condition);
        self.status = Some(status);
        !changed || self.report().await
    }

    /// Once a second: redraw (ticket ages move) and send telemetry when due.
    pub async fn heartbeat(&mut self) -> bool {
        self.redraw();
        let due = self
            .reported
            .is_none_or(|(_, at)| at.elapsed() >= self.telemetry);
        !due || self.report().await
    }

    async fn report(&mut self) -> bool {
        let Some(status) = self.status.clone() else {
            return true;
        };
        self.reported = Some((status.condition, Instant::now()));
        let report = Report {
            status,
            making: self.making,
        };
        self.commands.send(Command::Status(report)).await
    }

    /// Shows the machine's own screen (the end of a lost drink's notice aside).
    pub fn show_machine(&mut self) {
        self.making = false;
        if !matches!(&self.showing, Showing::Lost { until, .. } if Instant::now() < *until) {
            self.showing = Showing::Machine;
        }
        self.redraw();
    }

    /// Shows a drink at the machine.
    pub fn show_making(&mut self, at: AtMachine) {
        self.making = true;
        self.showing = Showing::Making(at);
        self.redraw();
    }

    /// Shows that the drink at the machine was lost.
    pub fn show_lost(&mut self, reason: &str) {
        if let Showing::Making(at) = &self.showing {
            self.showing = Showing::Lost {
                reason: reason.to_owned(),
                at: at.clone(),
                until: Instant::now() + LOST_SHOWN,
            };
        }
        self.redraw();
    }

    /// The label of a drink.
    pub fn label(&self, line: &milo_contracts::events::PricedLine) -> String {
        drink_label(&self.menu, line)
    }

    fn redraw(&mut self) {
        let Some(status) = &self.status else { return };
        let now = OffsetDateTime::now_utc();
        let stop = match status.condition {
            Condition::Stopped(stop) => Some(stop),
            _ => None,
        };
        let screen = match &self.showing {
            Showing::Making(at) => Screen::Making(Making {
                drink: at.drink.clone(),
                stage: at.stage.clone(),
                step: at.step,
                steps: at.steps,
                ticket: self.ticket(&at.job, format!("{}/{}", at.n, at.m), now),
            }),
            Showing::Lost { reason, at, .. } => Screen::Lost {
                reason: reason.clone(),
                ticket: self.ticket(&at.job, format!("{}/{}", at.n, at.m), now),
            },
            Showing::Machine => self.machine_screen(status.condition, now),
        };
        let view = View {
            station: self.station.clone(),
            queue: self.board.queue,
            rail: self.board.rail,
            boiler_c: status.boiler_c,
            stop,
            screen,
        };
        self.display.show(&render(&view));
    }

    fn machine_screen(&self, condition: Condition, now: OffsetDateTime) -> Screen {
        match (condition, &self.board.next) {
            (Condition::Warming, _) => Screen::Warming,
            (Condition::Stopped(stop), _) => Screen::Stopped(stop),
            (Condition::Ready, Some(job)) => {
                let drinks = job.drinks().count();
                let count = if drinks > 1 {
                    format!("x{drinks}")
                } else {
                    String::new()
                };
                Screen::Bump {
                    drink: job.lines.first().map(|l| self.label(l)).unwrap_or_default(),
                    ticket: self.ticket(job, count, now),
                }
            }
            (Condition::Ready, None) => Screen::Idle,
        }
    }

    fn ticket(&self, job: &Job, count: String, now: OffsetDateTime) -> TicketLine {
        let age_secs = job.age_secs(now);
        TicketLine {
            order_id: job.order_id,
            count,
            customer: job.customer.clone(),
            age_secs,
            level: self.ageing.level(age_secs),
        }
    }
}

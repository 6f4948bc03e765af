//! Payment gateways: the trait a real terminal integration implements, and a simulation.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::ledger::Ledger;
use crate::outage::{self, utc_clock, LocalClock, Outages};
use crate::{Config, Latency};

/// A gateway's answer to a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeResult {
    /// Charged.
    Approved {
        /// The gateway's transaction id.
        transaction_id: String,
    },
    /// Not charged.
    Declined {
        /// Why.
        reason: String,
    },
}

/// Boxed future returned by gateways.
pub type GatewayFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A payment gateway. `order_id` is the idempotency key: asking twice charges once.
pub trait Gateway: Send + Sync + 'static {
    /// Charges an order.
    fn charge(&self, order_id: Uuid, amount_cents: u64) -> GatewayFuture<ChargeResult>;
    /// Refunds a charge; resolves once refunded.
    fn refund(
        &self,
        order_id: Uuid,
        transaction_id: String,
        amount_cents: u64,
    ) -> GatewayFuture<()>;
    /// Cancels a charge in flight with this idempotency key; once it resolves, that charge
    /// will never be taken (whether or not the charge itself ever answers).
    fn void(&self, order_id: Uuid) -> GatewayFuture<()>;
    /// Asks whether the processor is reachable (a health check, no money moves): true if it
    /// answered well. The circuit breaker's probes.
    fn probe(&self) -> GatewayFuture<bool>;
}

/// The reason a simulated charge gives when it was voided before it ended.
pub const VOIDED_REASON: &str = "voided";

/// A seeded simulation: the same seed and order id always give the same outcome and delay.
///
/// Clones share its [`Ledger`] of charges taken and keys voided (in memory, and on disk with
/// [`SimulatedGateway::with_ledger`]): a key charges once, and never once voided. During an
/// outage ([`Outages`]) it answers nothing: every call hangs, as behind a dead internet line.
#[derive(Debug, Clone)]
pub struct SimulatedGateway {
    config: Config,
    ledger: Arc<Ledger>,
    outages: Arc<Outages>,
}

/// What the simulation will do with one order, drawn from the seed and the order id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    approved: bool,
    hangs: bool,
    delay: Duration,
}

impl SimulatedGateway {
    /// A simulation with these settings, its outage windows read in UTC (windows that do not
    /// read are left out: configuration is validated before).
    pub fn new(config: Config) -> Self {
        Self::with_clock(config, utc_clock())
    }

    /// A simulation with these settings, its outage windows read in the local time `clock`
    /// gives (the shop's time zone).
    pub fn with_clock(config: Config, clock: LocalClock) -> Self {
        let windows = outage::windows(&config.outages).unwrap_or_default();
        let outages = Outages::new(windows, config.outage_switch.clone(), clock);
        SimulatedGateway {
            config,
            ledger: Arc::new(Ledger::in_memory()),
            outages: Arc::new(outages),
        }
    }

    /// The same simulation remembering its charges and voids in the file `path`
    /// (`payment.ledger`), read back first.
    pub fn with_ledger(mut self, path: &Path) -> std::io::Result<Self> {
        self.ledger = Arc::new(Ledger::open(path)?);
        Ok(self)
    }

    /// True if a charge of `order_id` would be approved (unless voided): the seeded plan,
    /// for tests and demos that want a chosen order declined.
    pub fn would_approve(&self, order_id: Uuid) -> bool {
        self.plan(order_id).approved
    }

    /// True while the simulated processor is cut.
    pub fn in_outage(&self) -> bool {
        self.outages.now()
    }

    /// `answer` unless the processor is cut now: then a call that never ends.
    fn reachable<T: Send + 'static>(
        &self,
        answer: impl Future<Output = T> + Send + 'static,
    ) -> GatewayFuture<T> {
        if self.in_outage() {
            return Box::pin(std::future::pending());
        }
        Box::pin(answer)
    }

    fn plan(&self, order_id: Uuid) -> Plan {
        let (hi, lo) = order_id.as_u64_pair();
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.config.seed ^ hi ^ lo.rotate_left(17));
        let approved = rng.gen::<f64>() < self.config.success_rate;
        let hangs = rng.gen::<f64>() < self.config.hang_rate;
        let delay = self.delay(&mut rng);
        Plan {
            approved,
            hangs,
            delay,
        }
    }

    fn delay(&self, rng: &mut impl Rng) -> Duration {
        let (lo, hi) = (
            self.config.min_latency_ms,
            self.config.max_latency_ms.max(self.config.min_latency_ms),
        );
        if hi == 0 {
            return Duration::ZERO;
        }
        let ms = match self.config.latency {
            Latency::Uniform => rng.gen_range(lo..=hi),
            Latency::Exponential => {
                let mean = (lo as f64 + hi as f64) / 2.0;
                // 1 - u is in (0, 1]: its logarithm is finite and not positive.
                let x = -mean * (1.0 - rng.gen::<f64>()).ln();
                // Float to int casts saturate; the clamp keeps it within the bounds anyway.
                (x.round() as u64).clamp(lo, hi)
            }
        };
        Duration::from_millis(ms)
    }
}

async fn wait(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

impl Gateway for SimulatedGateway {
    fn charge(&self, order_id: Uuid, amount_cents: u64) -> GatewayFuture<ChargeResult> {
        let plan = self.plan(order_id);
        let this = self.clone();
        self.reachable(async move {
            if plan.hangs {
                return std::future::pending().await;
            }
            wait(plan.delay).await;
            let voided = ChargeResult::Declined {
                reason: VOIDED_REASON.into(),
            };
            if this.ledger.voided(order_id) {
                voided
            } else if plan.approved {
                let id = format!("sim-{}", order_id.simple());
                match this.ledger.charge(order_id, id, amount_cents) {
                    Ok(Some(transaction_id)) => ChargeResult::Approved { transaction_id },
                    Ok(None) => voided,
                    Err(e) => {
                        // A processor that cannot keep its books does not answer.
                        tracing::warn!(order_id = %order_id, error = %e, "Simulated processor: ledger not written.");
                        std::future::pending().await
                    }
                }
            } else {
                ChargeResult::Declined {
                    reason: "card declined by the (simulated) issuer".into(),
                }
            }
        })
    }

    fn refund(
        &self,
        order_id: Uuid,
        _transaction_id: String,
        _amount_cents: u64,
    ) -> GatewayFuture<()> {
        self.reachable(wait(self.plan(order_id).delay))
    }

    fn void(&self, order_id: Uuid) -> GatewayFuture<()> {
        // Voided as soon as asked (unless cut): a charge whose delay ends from now on declines.
        if !self.in_outage() {
            if let Err(e) = self.ledger.void(order_id) {
                tracing::warn!(order_id = %order_id, error = %e, "Simulated processor: ledger not written.");
                return Box::pin(std::future::pending());
            }
        }
        self.reachable(wait(self.plan(order_id).delay))
    }

    fn probe(&self) -> GatewayFuture<bool> {
        self.reachable(async { true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(min_latency_ms: u64, max_latency_ms: u64) -> Config {
        Config {
            success_rate: 1.0,
            hang_rate: 0.0,
            min_latency_ms,
            max_latency_ms,
            latency: Latency::Uniform,
            seed: 3,
            ..Config::default()
        }
    }

    #[tokio::test]
    async fn same_seed_same_outcome_and_rate_roughly_holds() {
        let g = SimulatedGateway::new(Config {
            success_rate: 0.5,
            ..config(0, 0)
        });
        let mut approved = 0;
        for _ in 0..400 {
            let id = Uuid::now_v7();
            let a = g.charge(id, 100).await;
            assert_eq!(a, g.charge(id, 100).await);
            approved += usize::from(matches!(a, ChargeResult::Approved { .. }));
        }
        assert!((120..280).contains(&approved), "approved {approved} of 400");
    }

    #[tokio::test]
    async fn hang_rate_picks_deterministically() {
        let c = Config {
            hang_rate: 0.5,
            ..config(0, 0)
        };
        let (g, again) = (SimulatedGateway::new(c.clone()), SimulatedGateway::new(c));
        let ids: Vec<Uuid> = (0..400).map(|_| Uuid::now_v7()).collect();
        let hangs: Vec<bool> = ids.iter().map(|id| g.plan(*id).hangs).collect();
        assert_eq!(
            hangs,
            ids.iter()
                .map(|id| again.plan(*id).hangs)
                .collect::<Vec<_>>()
        );
        let n = hangs.iter().filter(|h| **h).count();
        assert!((120..280).contains(&n), "{n} of 400 hang");
        for (id, hangs) in ids.iter().zip(&hangs).take(20) {
            let answer = tokio::time::timeout(Duration::from_millis(30), g.charge(*id, 1)).await;
            assert_eq!(answer.is_err(), *hangs, "order {id}");
        }
        let none = SimulatedGateway::new(config(0, 0));
        assert!(ids.iter().all(|id| !none.plan(*id).hangs));
    }

    #[tokio::test]
    async fn void_makes_a_pending_charge_decline() {
        let g = SimulatedGateway::new(config(60, 60));
        let (voided, kept) = (Uuid::now_v7(), Uuid::now_v7());
        let pending = tokio::spawn(g.charge(voided, 100));
        let other = tokio::spawn(g.charge(kept, 100));
        // The charges start their 60 ms; on this one-thread runtime they cannot end before
        // the void below is taken (it is, as soon as asked), however loaded the machine: a
        // sleep here could outlast them.
        tokio::task::yield_now().await;
        g.void(voided).await;
        let declined = ChargeResult::Declined {
            reason: VOIDED_REASON.into(),
        };
        assert_eq!(pending.await.ok(), Some(declined.clone()));
        assert!(matches!(
            other.await.ok(),
            Some(ChargeResult::Approved { .. })
        ));
        // A repeat of the voided charge never takes it either.
        assert_eq!(g.charge(voided, 100).await, declined);
    }

    #[tokio::test]
    async fn with_a_ledger_a_key_charges_once_across_a_restart() {
        let dir = std::env::temp_dir().join(format!("milo-sim-ledger-{}", Uuid::now_v7()));
        let path = dir.join("ledger.jsonl");
        let (charged, voided) = (Uuid::now_v7(), Uuid::now_v7());
        let first = SimulatedGateway::new(config(0, 0))
            .with_ledger(&path)
            .unwrap();
        let answer = first.charge(charged, 300).await;
        first.void(voided).await;
        let again = SimulatedGateway::new(config(0, 0))
            .with_ledger(&path)
            .unwrap();
        assert_eq!(again.charge(charged, 300).await, answer);
        let declined = ChargeResult::Declined {
            reason: VOIDED_REASON.into(),
        };
        assert_eq!(again.charge(voided, 300).await, declined);
        let charges = crate::ledger::charges(&path).unwrap();
        assert_eq!(
            (charges.get(&charged), charges.get(&voided)),
            (Some(&1), None)
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn exponential_stays_within_bounds() {
        let g = SimulatedGateway::new(Config {
            latency: Latency::Exponential,
            ..config(20, 300)
        });
        let delays: Vec<u64> = (0..2000)
            .map(|_| g.plan(Uuid::now_v7()).delay.as_millis() as u64)
            .collect();
        assert!(delays.iter().all(|d| (20..=300).contains(d)), "{delays:?}");
        let inside = delays.iter().filter(|d| **d > 20 && **d < 300).count();
        assert!(
            inside > 1000,
            "only {inside} of 2000 strictly inside the bounds"
        );
        let id = Uuid::now_v7();
        assert_eq!(g.plan(id), g.plan(id));
        let mean = delays.iter().sum::<u64>() / 2000;
        assert!((60..200).contains(&mean), "mean {mean} ms");
    }
}

//! Payment gateways: the trait a real terminal integration implements, and a simulation.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::Config;

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
}

/// A seeded simulation: the same seed and order id always give the same outcome and delay.
#[derive(Debug, Clone)]
pub struct SimulatedGateway {
    config: Config,
}

impl SimulatedGateway {
    /// A simulation with these settings.
    pub fn new(config: Config) -> Self {
        SimulatedGateway { config }
    }

    fn rng(&self, order_id: Uuid) -> rand::rngs::StdRng {
        let (hi, lo) = order_id.as_u64_pair();
        rand::rngs::StdRng::seed_from_u64(self.config.seed ^ hi ^ lo.rotate_left(17))
    }

    fn delay(&self, rng: &mut impl Rng) -> Duration {
        let (lo, hi) = (
            self.config.min_latency_ms,
            self.config.max_latency_ms.max(self.config.min_latency_ms),
        );
        Duration::from_millis(if hi == 0 { 0 } else { rng.gen_range(lo..=hi) })
    }
}

impl Gateway for SimulatedGateway {
    fn charge(&self, order_id: Uuid, _amount_cents: u64) -> GatewayFuture<ChargeResult> {
        let mut rng = self.rng(order_id);
        let approved = rng.gen::<f64>() < self.config.success_rate;
        let delay = self.delay(&mut rng);
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if approved {
                ChargeResult::Approved {
                    transaction_id: format!("sim-{}", order_id.simple()),
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
        let delay = self.delay(&mut self.rng(order_id));
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn same_seed_same_outcome_and_rate_roughly_holds() {
        let config = Config {
            success_rate: 0.5,
            min_latency_ms: 0,
            max_latency_ms: 0,
            seed: 3,
        };
        let g = SimulatedGateway::new(config);
        let mut approved = 0;
        for _ in 0..400 {
            let id = Uuid::now_v7();
            let a = g.charge(id, 100).await;
            assert_eq!(a, g.charge(id, 100).await);
            approved += usize::from(matches!(a, ChargeResult::Approved { .. }));
        }
        assert!((120..280).contains(&approved), "approved {approved} of 400");
    }
}

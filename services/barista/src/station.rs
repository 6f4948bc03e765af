//! The stations as this service knows them ([`Station`], `station/<id>`), and `Bar`, one
//! handler's view of them and of their queues.
//!
//! A handler loads a `Bar`, decides with it (every hand-out and removal updates both the view
//! and the `Tx`, since a `Tx` does not read back its own staged writes), and saves the station
//! records it changed. Queues are read per station, when first needed.

use std::collections::{BTreeMap, BTreeSet};

use milo_bus::{Rejection, StoreError, Tx};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::warn;
use uuid::Uuid;

use crate::model::{self, Candidate};
use crate::ticket::{queue_key, queue_prefix, station_key, Slot, STATION_PREFIX};

/// A station (`station/<id>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Station {
    /// Its presence says `online`.
    pub online: bool,
    /// It takes tickets: its telemetry says so, and no hand-back said it is down since.
    #[serde(default = "yes")]
    pub accepting: bool,
    /// When (the device's clock, from the hand-back) it was last marked down: telemetry
    /// measured before then is stale and does not make it accept again.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub down_since: Option<OffsetDateTime>,
    /// Its learned speed factor; until a drink is timed, the assumed one (`barista.speed`,
    /// by default `device.speed`).
    #[serde(default)]
    pub factor: Option<f64>,
    /// Drinks timed.
    #[serde(default)]
    pub timed: u32,
    /// Tickets handed to it so far (orders its queue).
    #[serde(default)]
    pub handed: u64,
}

fn yes() -> bool {
    true
}

impl Default for Station {
    fn default() -> Self {
        Station {
            online: false,
            accepting: true,
            down_since: None,
            factor: None,
            timed: 0,
            handed: 0,
        }
    }
}

impl Station {
    /// Reads a record; a plain `true`/`false` is a record from before telemetry (presence
    /// only).
    fn read(key: &str, value: serde_json::Value) -> Result<Station, StoreError> {
        match value {
            serde_json::Value::Bool(online) => Ok(Station {
                online,
                ..Station::default()
            }),
            v => serde_json::from_value(v).map_err(|e| StoreError::Corrupt {
                key: key.to_owned(),
                reason: e.to_string(),
            }),
        }
    }

    /// Online and accepting tickets.
    pub fn usable(&self) -> bool {
        self.online && self.accepting
    }
}

/// One handler's view of the stations and their queues.
#[derive(Debug)]
pub(crate) struct Bar {
    /// "Now" for every estimate of this handler, ms since the epoch.
    pub now_ms: i64,
    speed: f64,
    stations: BTreeMap<String, Station>,
    queues: BTreeMap<String, Vec<(Uuid, Slot)>>,
    changed: BTreeSet<String>,
}

impl Bar {
    /// Loads every station record; `speed` is the factor of a station never timed.
    pub fn load(tx: &Tx, speed: f64) -> Result<Bar, Rejection> {
        let mut stations = BTreeMap::new();
        for (id, value) in tx.scan::<serde_json::Value>(STATION_PREFIX, usize::MAX)? {
            let station = Station::read(&station_key(&id), value)?;
            stations.insert(id, station);
        }
        Ok(Bar {
            now_ms: milo_bus::retry::now_ms(),
            speed,
            stations,
            queues: BTreeMap::new(),
            changed: BTreeSet::new(),
        })
    }

    /// Each station's queue as this view loaded it: station and tickets.
    pub fn queue_lengths(&self) -> impl Iterator<Item = (&str, usize)> {
        self.queues.iter().map(|(id, q)| (id.as_str(), q.len()))
    }

    /// Makes a kept view current for the next handler: its "now", nothing changed yet.
    pub fn begin(&mut self) {
        self.now_ms = milo_bus::retry::now_ms();
        self.changed.clear();
    }

    /// A station's record (a default one if never seen).
    pub fn station(&self, id: &str) -> Station {
        self.stations.get(id).cloned().unwrap_or_default()
    }

    /// A station's record to change; saved by [`Bar::save`].
    pub fn station_mut(&mut self, id: &str) -> &mut Station {
        self.changed.insert(id.to_owned());
        self.stations.entry(id.to_owned()).or_default()
    }

    /// Writes the station records changed.
    pub fn save(&self, tx: &mut Tx) {
        for id in &self.changed {
            if let Some(s) = self.stations.get(id) {
                tx.put(&station_key(id), s);
            }
        }
    }

    /// A station's speed factor.
    pub fn factor(&self, id: &str) -> f64 {
        self.stations
            .get(id)
            .and_then(|s| s.factor)
            .unwrap_or(self.speed)
    }

    /// The fastest known factor: the estimate of a ticket waiting for any station.
    pub fn best_factor(&self) -> f64 {
        self.stations
            .values()
            .filter_map(|s| s.factor)
            .fold(self.speed, f64::min)
    }

    /// Whether any station is usable.
    pub fn any_usable(&self) -> bool {
        self.stations.values().any(Station::usable)
    }

    /// A station's open tickets in making order, read from the store the first time.
    pub fn queue(&mut self, tx: &Tx, id: &str) -> Result<&[(Uuid, Slot)], Rejection> {
        Ok(self.queue_mut(tx, id)?.as_slice())
    }

    fn queue_mut(&mut self, tx: &Tx, id: &str) -> Result<&mut Vec<(Uuid, Slot)>, Rejection> {
        if !self.queues.contains_key(id) {
            let mut queue = Vec::new();
            for (tail, slot) in tx.scan::<Slot>(&queue_prefix(id), usize::MAX)? {
                match tail.parse::<Uuid>() {
                    Ok(order) => queue.push((order, slot)),
                    Err(_) => warn!(station = id, key = %tail, "Queue key without an order id."),
                }
            }
            model::sort(&mut queue);
            self.queues.insert(id.to_owned(), queue);
        }
        Ok(self.queues.entry(id.to_owned()).or_default())
    }

    /// The usable station (other than `exclude`) that would make a ticket of `base_ms`
    /// soonest.
    pub fn best(
        &mut self,
        tx: &Tx,
        base_ms: u64,
        exclude: Option<&str>,
    ) -> Result<Option<String>, Rejection> {
        let ids: Vec<String> = self
            .stations
            .iter()
            .filter(|(id, s)| s.usable() && Some(id.as_str()) != exclude)
            .map(|(id, _)| id.clone())
            .collect();
        let mut loads = Vec::with_capacity(ids.len());
        for id in &ids {
            let factor = self.factor(id);
            let now = self.now_ms;
            let queue = self.queue(tx, id)?;
            let ready = model::finish_ms(queue, factor, now)
                .saturating_add(model::estimate_ms(base_ms, factor));
            loads.push((ready, queue.len()));
        }
        let candidates = ids
            .iter()
            .zip(&loads)
            .map(|(id, (ready_ms, tickets))| Candidate {
                station: id,
                ready_ms: *ready_ms,
                tickets: *tickets,
            });
        Ok(model::pick(candidates).map(str::to_owned))
    }

    /// Puts a ticket at the end of a station's queue (a started one at its head).
    pub fn push(
        &mut self,
        tx: &mut Tx,
        id: &str,
        order: Uuid,
        base_ms: u64,
        started_ms: Option<i64>,
    ) -> Result<Slot, Rejection> {
        let station = self.station_mut(id);
        let slot = Slot {
            seq: station.handed,
            base_ms,
            started_ms,
            eta_ms: None,
        };
        station.handed += 1;
        let queue = self.queue_mut(tx, id)?;
        queue.retain(|(o, _)| *o != order);
        queue.push((order, slot));
        model::sort(queue);
        tx.put(&queue_key(id, order), &slot);
        Ok(slot)
    }

    /// Takes a ticket off a station's queue; its slot if it was there.
    pub fn take(&mut self, tx: &mut Tx, id: &str, order: Uuid) -> Result<Option<Slot>, Rejection> {
        let queue = self.queue_mut(tx, id)?;
        let at = queue.iter().position(|(o, _)| *o == order);
        let slot = at.map(|i| queue.remove(i).1);
        if slot.is_some() {
            tx.remove(&queue_key(id, order));
        }
        Ok(slot)
    }

    /// Changes a slot in place (started, ETA published).
    pub fn update(
        &mut self,
        tx: &mut Tx,
        id: &str,
        order: Uuid,
        change: impl FnOnce(&mut Slot),
    ) -> Result<(), Rejection> {
        let queue = self.queue_mut(tx, id)?;
        if let Some((_, slot)) = queue.iter_mut().find(|(o, _)| *o == order) {
            change(slot);
            tx.put(&queue_key(id, order), slot);
            model::sort(queue);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_presence_only_record_still_reads() {
        let s = Station::read("station/a", serde_json::Value::Bool(true)).unwrap();
        assert!(s.online && s.accepting && s.factor.is_none());
        let json = serde_json::to_value(Station {
            factor: Some(0.2),
            ..Station::default()
        })
        .unwrap();
        assert_eq!(Station::read("k", json).unwrap().factor, Some(0.2));
        assert!(Station::read("k", serde_json::json!({"nope": 1})).is_err());
    }

    #[test]
    fn usable_means_online_and_accepting() {
        let mut s = Station::default();
        assert!(!s.usable());
        s.online = true;
        assert!(s.usable());
        s.accepting = false;
        assert!(!s.usable());
    }
}

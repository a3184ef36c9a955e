//! Counters behind srvr/stat/mntr/cons.

use std::time::Duration;

/// Request latency in ms, as ZooKeeper's min/avg/max.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    pub count: u64,
    pub total_ms: f64,
    pub min_ms: Option<f64>,
    pub max_ms: f64,
}

impl Latency {
    pub fn record(&mut self, d: Duration) {
        let ms = d.as_secs_f64() * 1000.0;
        self.count += 1;
        self.total_ms += ms;
        self.min_ms = Some(self.min_ms.map_or(ms, |m| m.min(ms)));
        self.max_ms = self.max_ms.max(ms);
    }
    pub fn min(&self) -> f64 {
        self.min_ms.unwrap_or(0.0)
    }
    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.total_ms / self.count as f64
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ServerStats {
    pub packets_received: u64,
    pub packets_sent: u64,
    pub latency: Latency,
}

impl ServerStats {
    pub fn record_latency(&mut self, d: Duration) {
        self.latency.record(d);
    }
}

/// Per-connection counters for `cons`/`stat`.
#[derive(Debug, Clone)]
pub struct ConnStats {
    pub received: u64,
    pub sent: u64,
    pub session: i64,
    pub timeout_ms: i32,
    pub last_op: i32,
    pub last_zxid: i64,
    pub established_ms: i64,
    pub latency: Latency,
}

impl ConnStats {
    pub fn new(established_ms: i64) -> Self {
        ConnStats {
            received: 0,
            sent: 0,
            session: 0,
            timeout_ms: 0,
            last_op: 0,
            last_zxid: -1,
            established_ms,
            latency: Latency::default(),
        }
    }
    pub fn record_latency(&mut self, d: Duration) {
        self.latency.record(d);
    }
    pub fn reset(&mut self) {
        self.received = 0;
        self.sent = 0;
        self.latency = Latency::default();
    }
}

//! Session expiry, driven by a clock the caller passes in (milliseconds since
//! an arbitrary start). Which sessions exist is replicated state
//! ([`crate::state::KeeperState::sessions`]); when they expire is not.

use std::collections::HashMap;

/// Deadlines of live sessions.
#[derive(Debug, Default)]
pub struct SessionTracker {
    deadlines: HashMap<i64, Deadline>,
}

#[derive(Debug, Clone, Copy)]
struct Deadline {
    at_ms: u64,
    timeout_ms: u64,
}

impl SessionTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts (or restarts) tracking a session; it expires `timeout_ms` after `now`.
    pub fn add(&mut self, session: i64, timeout_ms: i32, now: u64) {
        let timeout_ms = timeout_ms.max(0) as u64;
        self.deadlines.insert(
            session,
            Deadline {
                at_ms: now + timeout_ms,
                timeout_ms,
            },
        );
    }

    /// Any packet from the client renews the session. False if it is unknown.
    pub fn touch(&mut self, session: i64, now: u64) -> bool {
        match self.deadlines.get_mut(&session) {
            Some(d) => {
                d.at_ms = now + d.timeout_ms;
                true
            }
            None => false,
        }
    }

    pub fn remove(&mut self, session: i64) {
        self.deadlines.remove(&session);
    }

    pub fn contains(&self, session: i64) -> bool {
        self.deadlines.contains_key(&session)
    }

    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }

    /// Sessions whose deadline has passed. They stay tracked until the close
    /// transaction is applied and calls [`Self::remove`], so they are reported once
    /// more only if that is lost; callers de-duplicate with their pending set.
    pub fn expired(&self, now: u64) -> Vec<i64> {
        let mut out: Vec<i64> = self
            .deadlines
            .iter()
            .filter(|(_, d)| d.at_ms <= now)
            .map(|(s, _)| *s)
            .collect();
        out.sort_unstable();
        out
    }
}

/// Hands out session ids as ZooKeeper does: server id in the high byte, the
/// start time in the middle bits, then a counter.
#[derive(Debug)]
pub struct SessionIdGen {
    next: i64,
}

impl SessionIdGen {
    pub fn new(server_id: u8, now_unix_ms: i64) -> Self {
        let base = ((now_unix_ms << 24) as u64 >> 8) as i64;
        SessionIdGen {
            next: base | ((server_id as i64) << 56),
        }
    }

    pub fn next_id(&mut self) -> i64 {
        self.next += 1;
        self.next
    }
}

/// Clamps a requested timeout into `[min, max]`, as the handshake negotiates it.
pub fn negotiate_timeout(requested: i32, min: i32, max: i32) -> i32 {
    requested.clamp(min, max.max(min))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_unless_touched() {
        let mut t = SessionTracker::new();
        t.add(1, 1000, 0);
        t.add(2, 5000, 0);
        assert!(t.expired(999).is_empty());
        assert!(t.touch(1, 900));
        assert!(t.expired(1500).is_empty());
        assert_eq!(t.expired(1900), vec![1]);
        t.remove(1);
        assert_eq!(t.expired(6000), vec![2]);
        assert!(!t.touch(1, 0));
    }

    #[test]
    fn ids_carry_server_id_and_are_unique() {
        let mut gen = SessionIdGen::new(3, 1_700_000_000_000);
        let a = gen.next_id();
        let b = gen.next_id();
        assert_ne!(a, b);
        assert_eq!((a >> 56) & 0xff, 3);
    }

    #[test]
    fn timeout_is_clamped() {
        assert_eq!(negotiate_timeout(1000, 4000, 40000), 4000);
        assert_eq!(negotiate_timeout(100000, 4000, 40000), 40000);
        assert_eq!(negotiate_timeout(10000, 4000, 40000), 10000);
    }
}

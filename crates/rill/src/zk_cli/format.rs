//! Output formatting that must match zkCli.sh byte for byte: stat blocks, Java
//! `Date.toString()` timestamps, Java `List.toString()` lists and watch events.
//! People diff and grep zkCli output, so "close enough" is not good enough here.

use zookeeper_client::{EventType, SessionState, Stat, WatchedEvent};

/// The stat block zkCli's `StatPrinter` prints, one `name = value` per line.
pub fn format_stat(stat: &Stat) -> String {
    format!(
        "cZxid = 0x{:x}\nctime = {}\nmZxid = 0x{:x}\nmtime = {}\npZxid = 0x{:x}\n\
         cversion = {}\ndataVersion = {}\naclVersion = {}\nephemeralOwner = 0x{:x}\n\
         dataLength = {}\nnumChildren = {}",
        // Java's Long.toHexString prints the two's complement of negatives.
        stat.czxid as u64,
        java_date(stat.ctime),
        stat.mzxid as u64,
        java_date(stat.mtime),
        stat.pzxid as u64,
        stat.cversion,
        stat.version,
        stat.aversion,
        stat.ephemeral_owner as u64,
        stat.data_length,
        stat.num_children,
    )
}

/// Java's `new Date(millis).toString()` in UTC: `Sat Nov 21 06:01:02 UTC 2026`.
///
/// Java uses the JVM's default zone; we always print UTC because computing local
/// zone names needs the tz database (a dependency, or unsafe libc calls). On the
/// usual UTC servers and containers the output is identical.
pub fn java_date(millis: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = millis.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let secs_of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[days.rem_euclid(7) as usize], // 1970-01-01 was a Thursday
        MONTHS[(month - 1) as usize],
        day,
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60,
        year
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), using
/// Howard Hinnant's `civil_from_days` algorithm (exact for all i64 inputs we
/// can get from a millisecond timestamp).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Java's `AbstractCollection.toString()`: `[a, b, c]`, `[]` when empty.
pub fn java_list<S: AsRef<str>>(items: &[S]) -> String {
    let joined: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!("[{}]", joined.join(", "))
}

/// The block zkCli's default watcher prints for every event it receives:
/// a blank line, `WATCHER::`, a blank line, then `WatchedEvent ...`.
pub fn watcher_block(event_line: &str) -> String {
    format!("\nWATCHER::\n\n{event_line}\n")
}

/// Java's `WatchedEvent.toString()` for a node event.
pub fn node_event_line(event: &WatchedEvent) -> String {
    let kind = match event.event_type {
        EventType::Session => return session_event_line(event.session_state),
        EventType::NodeCreated => "NodeCreated",
        EventType::NodeDeleted => "NodeDeleted",
        EventType::NodeDataChanged => "NodeDataChanged",
        EventType::NodeChildrenChanged => "NodeChildrenChanged",
    };
    format!(
        "WatchedEvent state:SyncConnected type:{kind} path:{}",
        event.path
    )
}

/// Java's `WatchedEvent.toString()` for a session state change (type `None`,
/// path `null`).
pub fn session_event_line(state: SessionState) -> String {
    format!(
        "WatchedEvent state:{} type:None path:null",
        keeper_state_name(state)
    )
}

/// Java's `Watcher.Event.KeeperState` names.
pub fn keeper_state_name(state: SessionState) -> &'static str {
    match state {
        SessionState::Disconnected => "Disconnected",
        SessionState::SyncConnected => "SyncConnected",
        SessionState::AuthFailed => "AuthFailed",
        SessionState::ConnectedReadOnly => "ConnectedReadOnly",
        SessionState::Expired => "Expired",
        SessionState::Closed => "Closed",
    }
}

/// Java's `ZooKeeper.States` names, which the shell prompt shows.
pub fn client_state_name(state: Option<SessionState>) -> &'static str {
    match state {
        Some(SessionState::SyncConnected) => "CONNECTED",
        Some(SessionState::ConnectedReadOnly) => "CONNECTEDREADONLY",
        Some(SessionState::Disconnected) => "CONNECTING",
        Some(SessionState::AuthFailed) => "AUTH_FAILED",
        Some(SessionState::Expired) | Some(SessionState::Closed) | None => "CLOSED",
    }
}

/// The shell prompt, `[zk: host:port(CONNECTED) 3] `.
pub fn prompt(host: &str, state: Option<SessionState>, count: usize) -> String {
    format!("[zk: {host}({}) {count}] ", client_state_name(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_date_matches_java() {
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        // Values checked against zkCli.sh output on a UTC machine.
        assert_eq!(java_date(1_795_240_709_000), "Sat Nov 21 05:58:29 UTC 2026");
        assert_eq!(java_date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
        assert_eq!(java_date(1_709_251_199_999), "Thu Feb 29 23:59:59 UTC 2024");
        // Before the epoch Java rounds towards negative infinity.
        assert_eq!(java_date(-1), "Wed Dec 31 23:59:59 UTC 1969");
    }

    #[test]
    fn stat_block_matches_statprinter() {
        let stat = Stat {
            czxid: 2,
            mzxid: 0x15,
            pzxid: 9,
            ctime: 1_795_240_709_000,
            mtime: 0,
            version: 1,
            cversion: 2,
            aversion: 0,
            ephemeral_owner: -1,
            data_length: 5,
            num_children: 2,
        };
        assert_eq!(
            format_stat(&stat),
            "cZxid = 0x2\nctime = Sat Nov 21 05:58:29 UTC 2026\nmZxid = 0x15\n\
             mtime = Thu Jan 01 00:00:00 UTC 1970\npZxid = 0x9\ncversion = 2\n\
             dataVersion = 1\naclVersion = 0\nephemeralOwner = 0xffffffffffffffff\n\
             dataLength = 5\nnumChildren = 2"
        );
    }

    #[test]
    fn lists_like_java() {
        assert_eq!(java_list::<&str>(&[]), "[]");
        assert_eq!(java_list(&["a", "zookeeper"]), "[a, zookeeper]");
    }

    #[test]
    fn events_like_java() {
        assert_eq!(
            session_event_line(SessionState::SyncConnected),
            "WatchedEvent state:SyncConnected type:None path:null"
        );
        assert_eq!(watcher_block("x"), "\nWATCHER::\n\nx\n",);
        assert_eq!(
            prompt("h:1", Some(SessionState::SyncConnected), 3),
            "[zk: h:1(CONNECTED) 3] "
        );
        assert_eq!(prompt("h:1", None, 0), "[zk: h:1(CLOSED) 0] ");
    }
}

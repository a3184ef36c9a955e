//! Consumer groups: the classic group protocol and committed offsets,
//! kept in the internal topic `__consumer_offsets` in Kafka's own schema.
//!
//! `coordinator` is the pure state machine; `runtime` connects it to the
//! broker (the offsets topic as its journal, waiting requests, timers).

pub mod classic;
pub mod coordinator;
pub mod records;
pub mod runtime;

#[cfg(test)]
mod tests;

/// The internal topic, named as in Kafka.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Kafka's mapping of a group to its `__consumer_offsets` partition:
/// `Utils.abs(groupId.hashCode) % partitions`, with Java's String.hashCode.
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let hash = group_id
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    // Kafka's Utils.abs maps Integer.MIN_VALUE to 0.
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod partition_tests {
    use super::*;

    #[test]
    fn groups_land_on_kafkas_partitions() {
        // Expected values computed with Java's String.hashCode and Kafka's Utils.abs.
        assert_eq!(partition_for("test-group", 50), 12); // hash 627841412
        assert_eq!(partition_for("my-group", 50), 12); // hash -1906497762
        assert_eq!(partition_for("polygenelubricants", 50), 0); // Integer.MIN_VALUE
        assert_eq!(partition_for("é", 50), 33); // UTF-16 code unit 233
        assert_eq!(partition_for("\u{1F600}g", 50), 22); // surrogate pair
        assert_eq!(partition_for("", 50), 0);
    }
}

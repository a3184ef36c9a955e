//! The tables `rill consumer-groups` prints, laid out exactly as Kafka 3.x's
//! ConsumerGroupCommand prints them (scripts parse these columns). Pure
//! functions over plain rows, so the layout is tested without a broker.

use crate::kafka_client::data::TopicPartition;

/// Kafka prints `-` for a value it does not have.
pub const MISSING: &str = "-";

/// One row of `--describe` (the offsets view).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetRow {
    pub group: String,
    pub topic: Option<String>,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    pub log_end_offset: Option<i64>,
    pub consumer_id: Option<String>,
    pub host: Option<String>,
    pub client_id: Option<String>,
}

impl OffsetRow {
    pub fn lag(&self) -> Option<i64> {
        match (self.offset, self.log_end_offset) {
            (Some(o), Some(end)) if o >= 0 => Some(end - o),
            _ => None,
        }
    }
}

fn or_missing<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| MISSING.to_string(), T::to_string)
}

/// Left-aligned in `width` (Java's `%-Ns`: never truncates).
fn pad(s: &str, width: usize) -> String {
    format!("{s:<width$}")
}

/// `--describe`: a blank line, the header, one line per row.
pub fn offsets_table(rows: &[OffsetRow]) -> String {
    let width =
        |f: &dyn Fn(&OffsetRow) -> String| rows.iter().map(|r| f(r).len()).fold(15, usize::max);
    let g = width(&|r| r.group.clone());
    let t = width(&|r| or_missing(&r.topic));
    let c = width(&|r| or_missing(&r.consumer_id));
    let h = width(&|r| or_missing(&r.host));
    let line = |cols: [&str; 9]| {
        format!(
            "\n{} {} {} {} {} {} {} {} {}",
            pad(cols[0], g),
            pad(cols[1], t),
            pad(cols[2], 10),
            pad(cols[3], 15),
            pad(cols[4], 15),
            pad(cols[5], 15),
            pad(cols[6], c),
            pad(cols[7], h),
            cols[8]
        )
    };
    let mut out = line([
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ]);
    for r in rows {
        out.push_str(&line([
            &r.group,
            &or_missing(&r.topic),
            &or_missing(&r.partition),
            &or_missing(&r.offset),
            &or_missing(&r.log_end_offset),
            &or_missing(&r.lag()),
            &or_missing(&r.consumer_id),
            &or_missing(&r.host),
            &or_missing(&r.client_id),
        ]));
    }
    out.push('\n');
    out
}

/// One member for `--members`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRow {
    pub group: String,
    pub consumer_id: String,
    pub group_instance_id: Option<String>,
    pub host: String,
    pub client_id: String,
    pub assignment: Vec<TopicPartition>,
}

/// `t1(0,1), t2(0)`, or `-` when nothing is assigned.
pub fn assignment_text(assignment: &[TopicPartition]) -> String {
    if assignment.is_empty() {
        return MISSING.into();
    }
    let mut by_topic: std::collections::BTreeMap<&str, Vec<i32>> = Default::default();
    for (t, p) in assignment {
        by_topic.entry(t).or_default().push(*p);
    }
    by_topic
        .into_iter()
        .map(|(t, mut ps)| {
            ps.sort_unstable();
            let ps: Vec<String> = ps.iter().map(i32::to_string).collect();
            format!("{t}({})", ps.join(","))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `--describe --members [--verbose]`.
pub fn members_table(rows: &[MemberRow], verbose: bool) -> String {
    let width =
        |min: usize, f: &dyn Fn(&MemberRow) -> usize| rows.iter().map(f).fold(min, usize::max);
    let g = width(15, &|r| r.group.len());
    let c = width(15, &|r| r.consumer_id.len());
    let i = width(17, &|r| {
        r.group_instance_id.as_deref().unwrap_or(MISSING).len()
    });
    let h = width(15, &|r| r.host.len());
    let l = width(15, &|r| r.client_id.len());
    let with_instance = rows.iter().any(|r| r.group_instance_id.is_some());
    let line = |group: &str, id: &str, instance: &str, host: &str, client: &str, n: &str| {
        let mut s = format!("{} {} ", pad(group, g), pad(id, c));
        if with_instance {
            s.push_str(&format!("{} ", pad(instance, i)));
        }
        s.push_str(&format!(
            "{} {} {} ",
            pad(host, h),
            pad(client, l),
            pad(n, 15)
        ));
        s
    };
    let mut out = String::from("\n");
    out.push_str(&line(
        "GROUP",
        "CONSUMER-ID",
        "GROUP-INSTANCE-ID",
        "HOST",
        "CLIENT-ID",
        "#PARTITIONS",
    ));
    if verbose {
        out.push_str("ASSIGNMENT");
    }
    out.push('\n');
    for r in rows {
        out.push_str(&line(
            &r.group,
            &r.consumer_id,
            r.group_instance_id.as_deref().unwrap_or(MISSING),
            &r.host,
            &r.client_id,
            &r.assignment.len().to_string(),
        ));
        if verbose {
            out.push_str(&assignment_text(&r.assignment));
        }
        out.push('\n');
    }
    out
}

/// `--describe --state`.
pub fn state_table(
    group: &str,
    coordinator: &str,
    strategy: &str,
    state: &str,
    members: usize,
) -> String {
    let g = group.len().max(15);
    let c = coordinator.len().max(25);
    let strategy = if strategy.is_empty() {
        MISSING
    } else {
        strategy
    };
    let line = |a: &str, b: &str, s: &str, st: &str, n: &str| {
        format!(
            "\n{} {} {} {} {n}",
            pad(a, g),
            pad(b, c),
            pad(s, 20),
            pad(st, 20)
        )
    };
    let mut out = line(
        "GROUP",
        "COORDINATOR (ID)",
        "ASSIGNMENT-STRATEGY",
        "STATE",
        "#MEMBERS",
    );
    out.push_str(&line(
        group,
        coordinator,
        strategy,
        state,
        &members.to_string(),
    ));
    out.push('\n');
    out
}

/// `--list --state`: group ids with their states.
pub fn list_with_states(groups: &[(String, String)]) -> String {
    let g = groups
        .iter()
        .map(|(g, _)| g.len().max(15))
        .max()
        .unwrap_or(15)
        + 10;
    let mut out = format!("{} {}\n", pad("GROUP", g), "STATE");
    for (group, state) in groups {
        out.push_str(&format!("{} {state}\n", pad(group, g)));
    }
    out
}

/// `--reset-offsets`: the offsets that were (or would be) committed.
pub fn reset_table(rows: &[(String, TopicPartition, i64)]) -> String {
    let line = |a: &str, b: &str, c: &str, d: &str| {
        format!("\n{} {} {} {}", pad(a, 30), pad(b, 30), pad(c, 10), d)
    };
    let mut out = String::new();
    if !rows.is_empty() {
        out.push_str(&line("GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"));
    }
    for (group, (topic, partition), offset) in rows {
        out.push_str(&line(
            group,
            topic,
            &partition.to_string(),
            &offset.to_string(),
        ));
    }
    out.push('\n');
    out
}

/// `--delete-offsets`: one status per partition.
pub fn delete_offsets_table(rows: &[(TopicPartition, Option<String>)]) -> String {
    let t = rows.iter().map(|((t, _), _)| t.len()).fold(15, usize::max);
    let line = |a: &str, b: &str, c: &str| format!("\n{} {} {c}", pad(a, t), pad(b, 10));
    let mut out = line("TOPIC", "PARTITION", "STATUS");
    for ((topic, partition), error) in rows {
        let status = match error {
            None => "Successful".to_string(),
            Some(e) => format!("Error: {e}"),
        };
        out.push_str(&line(topic, &partition.to_string(), &status));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expected text lives beside the Python suite, which compares the
    /// live command's output with the same file.
    const GOLDEN: &str =
        include_str!("../../../../tests/python/golden/consumer_groups_describe.txt");

    #[test]
    fn describe_table_matches_the_golden_file() {
        let row = |topic: &str, p: i32, offset: Option<i64>, end: i64, member: bool| OffsetRow {
            group: "billing".into(),
            topic: Some(topic.into()),
            partition: Some(p),
            offset,
            log_end_offset: Some(end),
            consumer_id: Some(
                if member {
                    "console-consumer-3f1c2a9e-8d5b-4c61-a0f4-2b7e9d1c6a55"
                } else {
                    MISSING
                }
                .into(),
            ),
            host: Some(if member { "/127.0.0.1" } else { MISSING }.into()),
            client_id: Some(if member { "console-consumer" } else { MISSING }.into()),
        };
        let rows = vec![
            row("orders", 0, Some(3), 5, true),
            row("orders", 1, None, 4, true),
            row("payments-eu", 0, Some(10), 10, false),
        ];
        assert_eq!(offsets_table(&rows), GOLDEN);
    }

    #[test]
    fn members_and_state_tables() {
        let m = MemberRow {
            group: "g".into(),
            consumer_id: "c-1".into(),
            group_instance_id: None,
            host: "/127.0.0.1".into(),
            client_id: "cli".into(),
            assignment: vec![("t".into(), 1), ("t".into(), 0), ("a".into(), 2)],
        };
        let text = members_table(std::slice::from_ref(&m), true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "");
        assert_eq!(
            lines[1],
            "GROUP           CONSUMER-ID     HOST            CLIENT-ID       #PARTITIONS     ASSIGNMENT"
        );
        assert_eq!(
            lines[2],
            "g               c-1             /127.0.0.1      cli             3               a(2), t(0,1)"
        );
        let state = state_table("g", "127.0.0.1:9092  (1)", "range", "Stable", 1);
        assert_eq!(
            state,
            "\nGROUP           COORDINATOR (ID)          ASSIGNMENT-STRATEGY  STATE                #MEMBERS\n\
             g               127.0.0.1:9092  (1)       range                Stable               1\n"
        );
        assert_eq!(assignment_text(&[]), "-");
    }

    #[test]
    fn reset_and_delete_tables() {
        let text = reset_table(&[("g".into(), ("t".into(), 0), 42)]);
        assert!(text.starts_with("\nGROUP                          TOPIC                          PARTITION  NEW-OFFSET\n"));
        assert!(text.ends_with(
            "g                              t                              0          42\n"
        ));
        let text = delete_offsets_table(&[
            (("t".into(), 0), None),
            (("t".into(), 1), Some("UNKNOWN_TOPIC_OR_PARTITION".into())),
        ]);
        assert!(text.contains("\nt               0          Successful"));
        assert!(text.contains("Error: UNKNOWN_TOPIC_OR_PARTITION"));
        assert_eq!(
            list_with_states(&[("g".into(), "Empty".into())]),
            format!("{:<25} STATE\n{:<25} Empty\n", "GROUP", "g")
        );
    }
}

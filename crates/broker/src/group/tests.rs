//! The coordinator driven without sockets: joins, syncs, leaves, expiry,
//! static members, offsets and replay.

use bytes::Bytes;
use kafka_protocol::ResponseError as E;

use super::classic::GroupState;
use super::coordinator::*;
use super::records::OffsetsRecord;

#[derive(Default)]
struct MemJournal {
    records: Vec<OffsetsRecord>,
    fail: Option<E>,
}

impl Journal for MemJournal {
    fn append(&mut self, _group: &str, records: &[OffsetsRecord]) -> Result<(), E> {
        if let Some(e) = self.fail {
            return Err(e);
        }
        self.records.extend_from_slice(records);
        Ok(())
    }
}

fn coordinator(initial_delay: i32) -> GroupCoordinator {
    GroupCoordinator::new(CoordinatorConfig {
        initial_rebalance_delay_ms: initial_delay,
        ..Default::default()
    })
}

fn join_req(member: &str, instance: Option<&str>, protocols: &[&str]) -> JoinRequest {
    JoinRequest {
        group_id: "g".into(),
        member_id: member.into(),
        instance_id: instance.map(Into::into),
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|p| (p.to_string(), Bytes::from(format!("meta-{p}"))))
            .collect(),
        require_known_member_id: true,
    }
}

/// A dynamic member's two-step join (MEMBER_ID_REQUIRED, then with its id).
fn join_new(
    c: &mut GroupCoordinator,
    j: &mut MemJournal,
    now: i64,
) -> (String, Answer<JoinResult>, Completions) {
    let (a, _) = c.join(join_req("", None, &["range"]), now, j);
    let Answer::Now(r) = a else {
        panic!("first join answers at once")
    };
    assert_eq!(r.error, Some(E::MemberIdRequired));
    let (a, done) = c.join(join_req(&r.member_id, None, &["range"]), now, j);
    (r.member_id, a, done)
}

fn sync_req(member: &str, generation: i32, assignments: &[(&str, &str)]) -> SyncRequest {
    SyncRequest {
        group_id: "g".into(),
        member_id: member.into(),
        instance_id: None,
        generation,
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments: assignments
            .iter()
            .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
            .collect(),
    }
}

fn now_answer<T: std::fmt::Debug>(a: Answer<T>) -> T {
    match a {
        Answer::Now(t) => t,
        Answer::Wait(_) => panic!("expected an immediate answer"),
    }
}

/// Two members in a stable generation: (leader, follower, generation).
fn stable_pair(c: &mut GroupCoordinator, j: &mut MemJournal) -> (String, String, i32) {
    let (a, ans_a, done) = join_new(c, j, 0);
    // Alone and without an initial delay, the first member completes the join at once.
    let ra = now_or_completed(ans_a, Some(&done), &a);
    assert_eq!(ra.generation, 1);
    let sa = now_answer(c.sync(sync_req(&a, 1, &[(&a, "A")]), 0, j).0);
    assert_eq!(sa.assignment, Bytes::from("A"));
    let (b, ans_b, _) = join_new(c, j, 1);
    assert!(
        matches!(ans_b, Answer::Wait(_)),
        "the second member waits for the first to rejoin"
    );
    let (ans_a, done) = c.join(join_req(&a, None, &["range"]), 2, j);
    assert!(matches!(ans_a, Answer::Wait(_)));
    let r_b = completed_join(&done, &b);
    let r_a = completed_join(&done, &a);
    assert_eq!(r_a.generation, 2);
    assert_eq!(r_a.leader, a);
    assert_eq!(r_a.members.len(), 2, "the leader gets every member");
    assert!(r_b.members.is_empty());
    assert_eq!(r_b.protocol_name.as_deref(), Some("range"));
    let (ans, _) = c.sync(sync_req(&b, 2, &[]), 3, j);
    assert!(
        matches!(ans, Answer::Wait(_)),
        "the follower waits for the leader"
    );
    let (ans, done) = c.sync(sync_req(&a, 2, &[(&a, "A2"), (&b, "B2")]), 3, j);
    assert_eq!(now_answer(ans).assignment, Bytes::from("A2"));
    let ((_, m), sb) = &done.syncs[0];
    assert_eq!(
        (m.as_str(), &sb.assignment),
        (b.as_str(), &Bytes::from("B2"))
    );
    assert_eq!(c.group("g").unwrap().state, GroupState::Stable);
    (a, b, 2)
}

fn now_or_completed(a: Answer<JoinResult>, done: Option<&Completions>, member: &str) -> JoinResult {
    match a {
        Answer::Now(r) => r,
        Answer::Wait(_) => completed_join(done.expect("completions"), member),
    }
}

fn completed_join(done: &Completions, member: &str) -> JoinResult {
    done.joins
        .iter()
        .find(|((_, m), _)| m == member)
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| panic!("no join completion for {member}: {done:?}"))
}

#[test]
fn two_members_form_a_generation_and_get_their_assignments() {
    let mut c = coordinator(0);
    let mut j = MemJournal::default();
    stable_pair(&mut c, &mut j);
    let stored = j
        .records
        .iter()
        .filter(|r| matches!(r, OffsetsRecord::Group { value: Some(_), .. }))
        .count();
    assert_eq!(
        stored, 2,
        "group metadata stored once per completed generation"
    );
}

#[test]
fn first_member_joins_in_one_step_before_kip_394() {
    let mut c = coordinator(0);
    let mut j = MemJournal::default();
    let mut req = join_req("", None, &["range"]);
    req.require_known_member_id = false;
    let (ans, done) = c.join(req, 0, &mut j);
    assert!(matches!(ans, Answer::Wait(_)));
    assert_eq!(done.joins.len(), 1);
    assert_eq!(done.joins[0].1.generation, 1);
}

#[test]
fn leaving_member_triggers_a_rebalance_and_the_rest_carry_on() {
    let mut c = coordinator(0);
    let mut j = MemJournal::default();
    let (a, b, gen) = stable_pair(&mut c, &mut j);
    let (res, _) = c.leave("g", &[(b.clone(), None)], 10, &mut j);
    assert_eq!(res, vec![Ok(())]);
    assert_eq!(c.group("g").unwrap().state, GroupState::PreparingRebalance);
    assert_eq!(
        c.heartbeat("g", &a, None, gen, 11),
        Err(E::RebalanceInProgress)
    );
    let (ans, done) = c.join(join_req(&a, None, &["range"]), 12, &mut j);
    let r = now_or_completed(ans, Some(&done), &a);
    assert_eq!(r.generation, gen + 1);
    assert_eq!(r.members.len(), 1);
    assert_eq!(
        c.heartbeat("g", &b, None, gen + 1, 13),
        Err(E::UnknownMemberId)
    );
}

#[test]
fn missed_heartbeats_remove_a_member() {
    let mut c = coordinator(0);
    let mut j = MemJournal::default();
    let (a, b, gen) = stable_pair(&mut c, &mut j);
    assert_eq!(c.heartbeat("g", &a, None, gen, 9_000), Ok(()));
    c.tick(12_000, &mut j); // b's last sign of life was at 3
    let g = c.group("g").unwrap();
    assert!(!g.members.contains_key(&b));
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(
        c.heartbeat("g", &a, None, gen + 5, 12_001),
        Err(E::IllegalGeneration)
    );
}

#[test]
fn members_that_do_not_rejoin_in_time_are_dropped() {
    let mut c = coordinator(0);
    let mut j = MemJournal::default();
    let (a, b, gen) = stable_pair(&mut c, &mut j);
    assert!(matches!(
        c.join(join_req(&a, None, &["range"]), 10, &mut j).0,
        Answer::Wait(_)
    ));
    // b keeps heartbeating but never rejoins; the rebalance timeout (30 s) ends the wait.
    assert_eq!(
        c.heartbeat("g", &b, None, gen, 5_000),
        Err(E::RebalanceInProgress)
    );
    let done = c.tick(30_010, &mut j);
    let r = completed_join(&done, &a);
    assert_eq!((r.generation, r.members.len()), (gen + 1, 1));
}

#[test]
fn static_member_restart_keeps_the_generation() {
    let mut c = coordinator(0);
    let mut j = MemJournal::default();
    let (ans, done) = c.join(join_req("", Some("i1"), &["range"]), 0, &mut j);
    assert!(matches!(ans, Answer::Wait(_)));
    let first = done.joins[0].1.clone();
    let old = first.member_id.clone();
    now_answer(c.sync(sync_req(&old, 1, &[(&old, "A")]), 0, &mut j).0);
    // The process restarts: a new JoinGroup without member id, same instance id.
    let (ans, _) = c.join(join_req("", Some("i1"), &["range"]), 5, &mut j);
    let r = now_answer(ans);
    assert_eq!(r.error, None);
    assert_eq!(r.generation, 1, "no rebalance");
    assert_ne!(r.member_id, old);
    let s = now_answer(c.sync(sync_req(&r.member_id, 1, &[]), 6, &mut j).0);
    assert_eq!(s.assignment, Bytes::from("A"), "the assignment is kept");
    assert_eq!(c.group("g").unwrap().state, GroupState::Stable);
    assert_eq!(
        c.heartbeat("g", &old, Some("i1"), 1, 7),
        Err(E::FencedInstanceId),
        "the old incarnation is fenced"
    );
}

#[test]
fn inconsistent_protocols_are_refused() {
    let mut c = coordinator(0);
    let mut j = MemJournal::default();
    stable_pair(&mut c, &mut j);
    let (ans, _) = c.join(join_req("", None, &["roundrobin"]), 5, &mut j);
    assert_eq!(now_answer(ans).error, Some(E::InconsistentGroupProtocol));
    let mut bad = join_req("", None, &["range"]);
    bad.session_timeout_ms = 1;
    assert_eq!(
        now_answer(c.join(bad, 5, &mut j).0).error,
        Some(E::InvalidSessionTimeout)
    );
}

#[test]
fn protocol_with_most_first_votes_wins() {
    let mut c = coordinator(0);
    let mut j = MemJournal::default();
    let mut req = join_req("", None, &["roundrobin", "range"]);
    req.require_known_member_id = false;
    let (_, done) = c.join(req, 0, &mut j);
    assert_eq!(done.joins[0].1.protocol_name.as_deref(), Some("roundrobin"));
}

#[test]
fn initial_delay_waits_for_more_members() {
    let mut c = coordinator(3_000);
    let mut j = MemJournal::default();
    let (a, ans, _) = join_new(&mut c, &mut j, 0);
    assert!(matches!(ans, Answer::Wait(_)));
    assert!(c.tick(2_999, &mut j).joins.is_empty());
    let (b, ans, _) = join_new(&mut c, &mut j, 1_000);
    assert!(matches!(ans, Answer::Wait(_)));
    // A member arrived during the delay: it is extended once more.
    assert!(c.tick(3_000, &mut j).joins.is_empty());
    let done = c.tick(6_000, &mut j);
    assert_eq!(completed_join(&done, &a).generation, 1);
    assert_eq!(completed_join(&done, &b).generation, 1);
}

#[test]
fn offsets_commit_replay_and_fetch() {
    let mut c = coordinator(0);
    let mut j = MemJournal::default();
    let standalone = Committer {
        member_id: String::new(),
        instance_id: None,
        generation: -1,
    };
    let commit = |topic: &str, offset| OffsetCommit {
        topic: topic.into(),
        partition: 0,
        offset,
        leader_epoch: -1,
        metadata: Some("m".into()),
        expire_timestamp: None,
    };
    let res = c.commit_offsets("solo", &standalone, vec![commit("t", 5)], 100, &mut j);
    assert_eq!(res, vec![Ok(())]);
    assert_eq!(c.committed("solo", "t", 0).unwrap().offset, 5);
    // Replaying the journal into a fresh coordinator rebuilds the same state.
    let mut fresh = coordinator(0);
    for r in j.records.clone() {
        fresh.replay(r, 200, true);
    }
    assert_eq!(fresh.committed("solo", "t", 0).unwrap().offset, 5);
    assert_eq!(fresh.committed("solo", "t", 0).unwrap().metadata, "m");

    let mut huge = commit("t", 6);
    huge.metadata = Some("x".repeat(5000));
    let res = c.commit_offsets("solo", &standalone, vec![huge, commit("u", 1)], 101, &mut j);
    assert_eq!(res, vec![Err(E::OffsetMetadataTooLarge), Ok(())]);

    let member = Committer {
        member_id: "nobody".into(),
        instance_id: None,
        generation: 3,
    };
    let res = c.commit_offsets("unknown", &member, vec![commit("t", 1)], 102, &mut j);
    assert_eq!(res, vec![Err(E::IllegalGeneration)]);

    j.fail = Some(E::NotCoordinator);
    let res = c.commit_offsets("solo", &standalone, vec![commit("t", 9)], 103, &mut j);
    assert_eq!(res, vec![Err(E::NotCoordinator)]);
    assert_eq!(
        c.committed("solo", "t", 0).unwrap().offset,
        5,
        "a failed write changes nothing"
    );
}

#[test]
fn members_commit_with_their_generation() {
    let mut c = coordinator(0);
    let mut j = MemJournal::default();
    let (a, _, gen) = stable_pair(&mut c, &mut j);
    let commit = vec![OffsetCommit {
        topic: "t".into(),
        partition: 1,
        offset: 10,
        leader_epoch: 0,
        metadata: None,
        expire_timestamp: None,
    }];
    let who = |generation| Committer {
        member_id: a.clone(),
        instance_id: None,
        generation,
    };
    assert_eq!(
        c.commit_offsets("g", &who(gen), commit.clone(), 5, &mut j),
        vec![Ok(())]
    );
    assert_eq!(
        c.commit_offsets("g", &who(gen - 1), commit.clone(), 5, &mut j),
        vec![Err(E::IllegalGeneration)]
    );
    let outsider = Committer {
        member_id: String::new(),
        instance_id: None,
        generation: -1,
    };
    assert_eq!(
        c.commit_offsets("g", &outsider, commit, 5, &mut j),
        vec![Err(E::UnknownMemberId)],
        "a standalone commit into an active group is refused"
    );
}

#[test]
fn loading_restores_groups_and_their_members() {
    let mut c = coordinator(0);
    let mut j = MemJournal::default();
    let (a, b, gen) = stable_pair(&mut c, &mut j);
    let mut loaded = coordinator(0);
    for r in j.records.clone() {
        loaded.replay(r, 1_000, true);
    }
    let g = loaded.group("g").unwrap();
    assert_eq!((g.state, g.generation), (GroupState::Stable, gen));
    assert_eq!(g.leader.as_deref(), Some(a.as_str()));
    assert_eq!(g.members[&b].assignment, Bytes::from("B2"));
    assert_eq!(loaded.heartbeat("g", &b, None, gen, 1_001), Ok(()));
    let summary = loaded.describe("g");
    assert_eq!(summary.state, "Stable");
    assert_eq!(summary.protocol, "range");
    assert_eq!(summary.members.len(), 2);
}

#[test]
fn delete_group_only_when_empty() {
    let mut c = coordinator(0);
    let mut j = MemJournal::default();
    let (a, b, _) = stable_pair(&mut c, &mut j);
    assert_eq!(c.delete_group("g", 5, &mut j), Err(E::NonEmptyGroup));
    assert_eq!(c.delete_group("nope", 5, &mut j), Err(E::GroupIdNotFound));
    c.leave("g", &[(a, None), (b, None)], 6, &mut j);
    // The rebalance completes with nobody left: the group is empty.
    c.tick(6, &mut j);
    assert_eq!(c.group("g").unwrap().state, GroupState::Empty);
    assert_eq!(c.delete_group("g", 7, &mut j), Ok(()));
    assert!(c.group("g").is_none());
    assert!(matches!(
        j.records.last(),
        Some(OffsetsRecord::Group { value: None, .. })
    ));
    assert_eq!(c.describe("g").state, "Dead");
}

#[test]
fn offsets_expire_after_retention_once_the_group_is_empty() {
    let mut c = GroupCoordinator::new(CoordinatorConfig {
        offsets_retention_ms: 1_000,
        ..Default::default()
    });
    let mut j = MemJournal::default();
    let who = Committer {
        member_id: String::new(),
        instance_id: None,
        generation: -1,
    };
    let commit = OffsetCommit {
        topic: "t".into(),
        partition: 0,
        offset: 1,
        leader_epoch: -1,
        metadata: None,
        expire_timestamp: None,
    };
    c.commit_offsets("solo", &who, vec![commit], 0, &mut j);
    c.expire_offsets(999, &mut j);
    assert!(c.committed("solo", "t", 0).is_some());
    c.expire_offsets(1_000, &mut j);
    assert!(c.group("solo").is_none(), "nothing left: the group goes");
}

#[test]
fn offset_delete_refuses_subscribed_topics() {
    let mut c = coordinator(0);
    let mut j = MemJournal::default();
    // A consumer subscribed to topic "t" (ConsumerProtocolSubscription v0).
    let mut meta = vec![0u8, 0, 0, 0, 0, 1, 0, 1, b't'];
    meta.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // null user data
    let mut req = join_req("", None, &["range"]);
    req.require_known_member_id = false;
    req.protocols = vec![("range".into(), Bytes::from(meta))];
    let (_, done) = c.join(req, 0, &mut j);
    let a = done.joins[0].1.member_id.clone();
    now_answer(c.sync(sync_req(&a, 1, &[]), 0, &mut j).0);
    let who = Committer {
        member_id: a,
        instance_id: None,
        generation: 1,
    };
    let commit = |topic: &str| OffsetCommit {
        topic: topic.into(),
        partition: 0,
        offset: 1,
        leader_epoch: -1,
        metadata: None,
        expire_timestamp: None,
    };
    c.commit_offsets("g", &who, vec![commit("t"), commit("old")], 1, &mut j);
    let res = c
        .delete_offsets("g", &[("t".into(), 0), ("old".into(), 0)], 2, &mut j)
        .unwrap();
    assert_eq!(res, vec![Err(E::GroupSubscribedToTopic), Ok(())]);
    assert!(c.committed("g", "old", 0).is_none());
    assert!(c.committed("g", "t", 0).is_some());
    assert_eq!(
        c.delete_offsets("nope", &[], 2, &mut j),
        Err(E::GroupIdNotFound)
    );
}

#[test]
fn failed_assignment_store_answers_everyone_and_rebalances() {
    let mut c = coordinator(0);
    let mut j = MemJournal::default();
    let mut req = join_req("", None, &["range"]);
    req.require_known_member_id = false;
    let (_, done) = c.join(req, 0, &mut j);
    let a = done.joins[0].1.member_id.clone();
    j.fail = Some(E::NotCoordinator);
    let r = now_answer(c.sync(sync_req(&a, 1, &[(&a, "A")]), 0, &mut j).0);
    assert_eq!(r.error, Some(E::NotCoordinator));
    assert_eq!(c.group("g").unwrap().state, GroupState::PreparingRebalance);
}

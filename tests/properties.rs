//! Property tests where the rules combine: random sequences of valid and invalid commands and
//! reads, with restarts and time passing. After every sequence:
//! - the incrementally maintained projections (and the persisted views) equal a replay from zero;
//! - no read returned content without a basis valid at its entry (rule 8's proof finds none);
//! - every allowed read by someone other than the person is logged, and every refusal too.

mod common;

use std::sync::Arc;

use common::world::{open_service, T0};
use common::TestClock;
use proptest::prelude::*;
use withus::domain::event::Grantee;
use withus::domain::types::*;
use withus::domain::Command;
use withus::service::{replay, Call, Service, ServiceError};

const SUBJECTS: [&str; 2] = ["su-sam", "su-ola"];
const WORKERS: [&str; 2] = ["pw-amara", "pw-ben"];
const READERS: [&str; 8] = [
    "su-sam", "su-ola", "pw-amara", "pw-ben", "ct-cho", "ct-dev", "sg-lee", "au-ida",
];
const TEAMS: [&str; 2] = ["cmht-north", "cmht-south"];

#[derive(Debug, Clone)]
enum Op {
    Refer {
        sid: u8,
        subject: u8,
        worker: u8,
    },
    Offer {
        sid: u8,
    },
    Accept {
        sid: u8,
        by_person: bool,
    },
    Decline {
        sid: u8,
    },
    End {
        sid: u8,
        by_person: bool,
    },
    Meeting {
        mid: u8,
        sid: u8,
    },
    Draft {
        nid: u8,
        mid: u8,
    },
    Revise {
        nid: u8,
        by_person: bool,
        drop_first: bool,
    },
    Propose {
        nid: u8,
        pid: u8,
        seg: u8,
        by_person: bool,
    },
    AgreeRedaction {
        nid: u8,
        pid: u8,
        by_person: bool,
    },
    DeclineRedaction {
        nid: u8,
        pid: u8,
        by_person: bool,
        reason: bool,
    },
    AgreeNote {
        nid: u8,
        by_person: bool,
        stale: bool,
    },
    Grant {
        subject: u8,
        cid: u8,
        team: u8,
        expires_min: Option<u16>,
    },
    Revoke {
        subject: u8,
        cid: u8,
    },
    Raise {
        kid: u8,
        subject: u8,
        worker: u8,
    },
    Ack {
        kid: u8,
    },
    Withhold {
        subject: u8,
        kid: u8,
    },
    Release {
        subject: u8,
        kid: u8,
    },
    Read {
        reader: u8,
        subject: u8,
    },
    Advance {
        minutes: u16,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3u8, 0..2u8, 0..2u8).prop_map(|(sid, subject, worker)| Op::Refer { sid, subject, worker }),
        2 => (0..3u8).prop_map(|sid| Op::Offer { sid }),
        3 => (0..3u8, any::<bool>()).prop_map(|(sid, by_person)| Op::Accept { sid, by_person }),
        1 => (0..3u8).prop_map(|sid| Op::Decline { sid }),
        1 => (0..3u8, any::<bool>()).prop_map(|(sid, by_person)| Op::End { sid, by_person }),
        3 => (0..4u8, 0..3u8).prop_map(|(mid, sid)| Op::Meeting { mid, sid }),
        2 => (0..3u8, 0..4u8).prop_map(|(nid, mid)| Op::Draft { nid, mid }),
        2 => (0..3u8, any::<bool>(), any::<bool>()).prop_map(|(nid, by_person, drop_first)| Op::Revise { nid, by_person, drop_first }),
        4 => (0..3u8, 0..3u8, 0..3u8, any::<bool>()).prop_map(|(nid, pid, seg, by_person)| Op::Propose { nid, pid, seg, by_person }),
        4 => (0..3u8, 0..3u8, any::<bool>()).prop_map(|(nid, pid, by_person)| Op::AgreeRedaction { nid, pid, by_person }),
        1 => (0..4u8, 0..3u8, any::<bool>(), any::<bool>()).prop_map(|(nid, pid, by_person, reason)| Op::DeclineRedaction { nid, pid, by_person, reason }),
        5 => (0..3u8, any::<bool>(), prop::bool::weighted(0.2)).prop_map(|(nid, by_person, stale)| Op::AgreeNote { nid, by_person, stale }),
        3 => (0..2u8, 0..3u8, 0..2u8, prop::option::of(1..180u16)).prop_map(|(subject, cid, team, expires_min)| Op::Grant { subject, cid, team, expires_min }),
        2 => (0..2u8, 0..3u8).prop_map(|(subject, cid)| Op::Revoke { subject, cid }),
        1 => (0..2u8, 0..2u8, 0..2u8).prop_map(|(kid, subject, worker)| Op::Raise { kid, subject, worker }),
        1 => (0..2u8).prop_map(|kid| Op::Ack { kid }),
        1 => (0..2u8, 0..2u8).prop_map(|(subject, kid)| Op::Withhold { subject, kid }),
        1 => (0..2u8, 0..2u8).prop_map(|(subject, kid)| Op::Release { subject, kid }),
        6 => (0..8u8, 0..2u8).prop_map(|(reader, subject)| Op::Read { reader, subject }),
        2 => (1..120u16).prop_map(|minutes| Op::Advance { minutes }),
        1 => Just(Op::Reopen),
    ]
}

struct Run {
    dir: tempfile::TempDir,
    clock: Arc<TestClock>,
    svc: Option<Service>,
    n: u64,
    /// Reads by someone other than the person that returned a view.
    allowed_other_reads: u64,
    /// Reads refused with an `access.denied`.
    denied_reads: u64,
}

impl Run {
    fn svc(&self) -> &Service {
        self.svc.as_ref().unwrap()
    }

    fn now(&self) -> Time {
        Time(self.clock.0.load(std::sync::atomic::Ordering::SeqCst))
    }

    async fn exec(&mut self, caller: &str, cmd: Command) {
        self.n += 1;
        let call = Call::id(&format!("p-{}", self.n));
        match self.svc().execute(caller, call, cmd).await {
            Ok(_) | Err(ServiceError::Refused(_)) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    /// The note's person or author (or a bystander when the note does not exist).
    fn note_party(&self, nid: &str, by_person: bool) -> String {
        let p = self.svc().projections().unwrap();
        match p.notes.get(nid) {
            Some(n) if by_person => n.subject.clone(),
            Some(n) => n.author.clone(),
            None => "su-sam".into(),
        }
    }

    fn support_party(&self, sid: &str, by_person: bool) -> String {
        let p = self.svc().projections().unwrap();
        match p.supports.get(sid) {
            Some(s) if by_person => s.subject.clone(),
            Some(s) => s.worker.clone(),
            None => "su-sam".into(),
        }
    }

    async fn apply(&mut self, op: &Op) {
        let sid = |i: u8| format!("sp-{i}");
        let nid = |i: u8| format!("n-{i}");
        match op.clone() {
            Op::Refer {
                sid: s,
                subject,
                worker,
            } => {
                self.exec(
                    "ct-cho",
                    Command::ReferSupport {
                        support_id: sid(s),
                        subject: SUBJECTS[subject as usize].into(),
                        worker: WORKERS[worker as usize].into(),
                        source: ReferralSource::CareTeam,
                    },
                )
                .await
            }
            Op::Offer { sid: s } => {
                let w = self.support_party(&sid(s), false);
                self.exec(&w, Command::OfferSupport { support_id: sid(s) })
                    .await
            }
            Op::Accept { sid: s, by_person } => {
                let c = self.support_party(&sid(s), by_person);
                self.exec(&c, Command::AcceptSupport { support_id: sid(s) })
                    .await
            }
            Op::Decline { sid: s } => {
                let c = self.support_party(&sid(s), true);
                self.exec(&c, Command::DeclineSupport { support_id: sid(s) })
                    .await
            }
            Op::End { sid: s, by_person } => {
                let c = self.support_party(&sid(s), by_person);
                self.exec(
                    &c,
                    Command::EndSupport {
                        support_id: sid(s),
                        reason: EndReason::Other,
                    },
                )
                .await
            }
            Op::Meeting { mid, sid: s } => {
                let w = self.support_party(&sid(s), false);
                let detail = Some(Passage::new("place", "the café"));
                let at = self.now();
                self.exec(
                    &w,
                    Command::RecordMeeting {
                        meeting_id: format!("m-{mid}"),
                        support_id: sid(s),
                        kind: MeetingKind::OneToOne,
                        group_id: None,
                        goals: vec![],
                        activities: vec![],
                        mode: MeetingMode::InPerson,
                        place: Place::Community,
                        place_detail: detail,
                        occurred_at: at,
                        minutes: 30,
                    },
                )
                .await
            }
            Op::Draft { nid: n, mid } => {
                let w = {
                    let p = self.svc().projections().unwrap();
                    p.meetings
                        .get(&format!("m-{mid}"))
                        .map(|m| m.worker.clone())
                        .unwrap_or_else(|| "pw-amara".into())
                };
                let segs = (0..3)
                    .map(|i| Passage::new(format!("s{i}"), format!("words {i} of note {n}")))
                    .collect();
                self.exec(
                    &w,
                    Command::DraftNote {
                        note_id: nid(n),
                        meeting_id: format!("m-{mid}"),
                        segments: segs,
                    },
                )
                .await
            }
            Op::Revise {
                nid: n,
                by_person,
                drop_first,
            } => {
                let c = self.note_party(&nid(n), by_person);
                let from = if drop_first { 1 } else { 0 };
                let segs = (from..3)
                    .map(|i| Passage::new(format!("s{i}"), format!("revised words {i}")))
                    .collect();
                self.exec(
                    &c,
                    Command::ReviseNote {
                        note_id: nid(n),
                        segments: segs,
                    },
                )
                .await
            }
            Op::Propose {
                nid: n,
                pid,
                seg,
                by_person,
            } => {
                let c = self.note_party(&nid(n), by_person);
                self.exec(
                    &c,
                    Command::ProposeRedaction {
                        note_id: nid(n),
                        proposal_id: format!("r-{pid}"),
                        segments: vec![format!("s{seg}")],
                        reason: RedactionReason::NotWanted,
                    },
                )
                .await
            }
            Op::AgreeRedaction {
                nid: n,
                pid,
                by_person,
            } => {
                let c = self.note_party(&nid(n), by_person);
                self.exec(
                    &c,
                    Command::AgreeRedaction {
                        note_id: nid(n),
                        proposal_id: format!("r-{pid}"),
                    },
                )
                .await
            }
            Op::DeclineRedaction {
                nid: n,
                pid,
                by_person,
                reason,
            } => {
                let c = self.note_party(&nid(n), by_person);
                let r = reason.then(|| Passage::new("why", "because"));
                self.exec(
                    &c,
                    Command::DeclineRedaction {
                        note_id: nid(n),
                        proposal_id: format!("r-{pid}"),
                        reason: r,
                    },
                )
                .await
            }
            Op::AgreeNote {
                nid: n,
                by_person,
                stale,
            } => {
                let c = self.note_party(&nid(n), by_person);
                let rev = self
                    .svc()
                    .projections()
                    .unwrap()
                    .notes
                    .get(&nid(n))
                    .map_or(1, |x| x.revision);
                let revision = if stale { rev.saturating_sub(1) } else { rev };
                self.exec(
                    &c,
                    Command::AgreeNote {
                        note_id: nid(n),
                        revision,
                    },
                )
                .await
            }
            Op::Grant {
                subject,
                cid,
                team,
                expires_min,
            } => {
                let s = SUBJECTS[subject as usize];
                let exp = expires_min.map(|m| self.now().plus(u64::from(m) * Time::MINUTE));
                self.exec(
                    s,
                    Command::GrantConsent {
                        subject: s.into(),
                        consent_id: format!("c-{cid}"),
                        scope: Scope::ShareWithCareTeam,
                        grantee: Some(Grantee::Team(TEAMS[team as usize].into())),
                        expires_at: exp,
                    },
                )
                .await
            }
            Op::Revoke { subject, cid } => {
                let s = SUBJECTS[subject as usize];
                self.exec(
                    s,
                    Command::RevokeConsent {
                        subject: s.into(),
                        consent_id: format!("c-{cid}"),
                    },
                )
                .await
            }
            Op::Raise {
                kid,
                subject,
                worker,
            } => {
                let summary = vec![Passage::new("k", "a worry")];
                self.exec(
                    WORKERS[worker as usize],
                    Command::RaiseConcern {
                        concern_id: format!("k-{kid}"),
                        subject: SUBJECTS[subject as usize].into(),
                        category: ConcernCategory::Other,
                        urgency: Urgency::SameDay,
                        summary,
                    },
                )
                .await
            }
            Op::Ack { kid } => {
                self.exec(
                    "sg-lee",
                    Command::AcknowledgeConcern {
                        concern_id: format!("k-{kid}"),
                    },
                )
                .await
            }
            Op::Withhold { subject, kid } => {
                let j = Passage::new("j", "serious harm");
                let review_by = self.now().plus(Time::DAY);
                self.exec(
                    "sg-lee",
                    Command::Withhold {
                        subject: SUBJECTS[subject as usize].into(),
                        target_stream: format!("concern:k-{kid}"),
                        exemption: Exemption::SeriousHarm,
                        justification: j,
                        review_by,
                    },
                )
                .await
            }
            Op::Release { subject, kid } => {
                self.exec(
                    "sg-lee",
                    Command::Release {
                        subject: SUBJECTS[subject as usize].into(),
                        target_stream: format!("concern:k-{kid}"),
                    },
                )
                .await
            }
            Op::Read { reader, subject } => {
                let (r, s) = (READERS[reader as usize], SUBJECTS[subject as usize]);
                match self.svc().read_record(r, s, None).await {
                    Ok(read) => {
                        if r != s {
                            self.allowed_other_reads += 1;
                            assert_eq!(read.receipts.len(), 1, "{r} reading {s} was not logged");
                        } else {
                            assert!(read.receipts.is_empty());
                        }
                        // Nothing removed by agreement is ever shown.
                        for n in &read.view.notes {
                            for p in &n.passages {
                                assert!(p.removed.is_none() || p.text.is_none());
                            }
                        }
                    }
                    Err(ServiceError::AccessDenied { receipts, .. }) => {
                        assert_eq!(receipts.len(), 1);
                        self.denied_reads += 1;
                    }
                    Err(e) => panic!("{r} reading {s}: {e}"),
                }
            }
            Op::Advance { minutes } => self
                .clock
                .set(self.now().0 + u64::from(minutes) * Time::MINUTE),
            Op::Reopen => {
                let svc = self.svc.take().unwrap();
                svc.close().unwrap();
                self.svc = Some(open_service(self.dir.path(), self.clock.clone()));
            }
        }
    }
}

async fn check(ops: Vec<Op>) {
    let world = common::world::World::new().await;
    let common::world::World {
        dir, clock, svc, ..
    } = world;
    let mut run = Run {
        dir,
        clock,
        svc: Some(svc),
        n: 0,
        allowed_other_reads: 0,
        denied_reads: 0,
    };
    // Given: each person has an accepted relationship, a meeting and a drafted note; Sam has a
    // consent for one care team and a concern raised. The random ops start from there.
    let prelude = [
        Op::Refer {
            sid: 0,
            subject: 0,
            worker: 0,
        },
        Op::Offer { sid: 0 },
        Op::Accept {
            sid: 0,
            by_person: true,
        },
        Op::Refer {
            sid: 1,
            subject: 1,
            worker: 1,
        },
        Op::Offer { sid: 1 },
        Op::Accept {
            sid: 1,
            by_person: false,
        },
        Op::Meeting { mid: 0, sid: 0 },
        Op::Meeting { mid: 1, sid: 1 },
        Op::Draft { nid: 0, mid: 0 },
        Op::Draft { nid: 1, mid: 1 },
        Op::Grant {
            subject: 0,
            cid: 0,
            team: 0,
            expires_min: None,
        },
        Op::Raise {
            kid: 0,
            subject: 0,
            worker: 0,
        },
    ];
    for op in &prelude {
        run.apply(op).await;
    }
    for op in &ops {
        run.apply(op).await;
    }
    let svc = run.svc();
    let incremental = svc.projections().unwrap();
    let full = replay(svc.store(), svc.store().size()).unwrap();
    assert!(
        incremental.same_state(&full),
        "incremental state (including what is not persisted) differs from a full replay"
    );
    assert_eq!(
        incremental.encode_all(),
        full.encode_all(),
        "incremental projections differ from a full replay"
    );
    assert!(
        full.invalid_reads.is_empty(),
        "a read without a valid basis: {:?}",
        full.invalid_reads
    );
    // Every logged read and refusal is one the test saw, and vice versa.
    let (mut accessed, mut denied) = (0, 0);
    for e in svc.store().entries(0, svc.store().size()) {
        let e = e.unwrap();
        let v = e.view().unwrap();
        match v.event_type.as_ref() {
            "record.accessed" => accessed += 1,
            "access.denied" => denied += 1,
            _ => {}
        }
    }
    assert_eq!(
        (accessed, denied),
        (run.allowed_other_reads, run.denied_reads)
    );
    // The persisted views equal a rebuild, byte for byte.
    svc.flush_views().unwrap();
    let before = svc.store().views_digest().unwrap().unwrap();
    let after = withus::service::rebuild_views(svc.store()).unwrap();
    assert_eq!(before, after);
    assert!(T0 <= run.now().0);
    if std::env::var_os("WITHUS_PROP_STATS").is_some() {
        let p = &full;
        let agreed = p
            .notes
            .values()
            .filter(|n| n.status == withus::domain::projection::NoteStatus::Agreed)
            .count();
        let removed: usize = p.notes.values().map(|n| n.removed.len()).sum();
        eprintln!(
            "ops {} entries {} notes {} agreed {agreed} removed {removed} reads {}/{} denied",
            ops.len(),
            svc.store().size(),
            p.notes.len(),
            run.allowed_other_reads,
            run.denied_reads
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn projections_equal_a_rebuild_and_every_read_has_a_logged_valid_basis(ops in prop::collection::vec(op(), 1..120)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(check(ops));
    }
}

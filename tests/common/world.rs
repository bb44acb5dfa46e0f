//! A small world for domain tests: a command service on a real store in a temporary directory,
//! a movable clock, and the seeds' cast registered.
#![allow(dead_code)]

use std::sync::Arc;

use withus::domain::types::*;
use withus::domain::Command;
use withus::service::{Call, Service, ServiceError};
use withus::store::{Receipt, StoreConfig};

use super::TestClock;

/// 2026-11-23T09:00:00.000Z
pub const T0: u64 = 1_795_424_400_000;

pub struct World {
    pub dir: tempfile::TempDir,
    pub clock: Arc<TestClock>,
    pub svc: Service,
    /// Makes command ids unique within a world.
    next_command: std::sync::atomic::AtomicU64,
}

pub fn open_service(dir: &std::path::Path, clock: Arc<TestClock>) -> Service {
    let mut cfg = StoreConfig::new(dir);
    cfg.clock = clock;
    Service::open(cfg).expect("open service")
}

impl World {
    /// An empty system with only the first admin.
    pub async fn empty() -> World {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(TestClock::default());
        clock.set(T0);
        let svc = open_service(dir.path(), clock.clone());
        svc.bootstrap_admin("admin", "Ada Admin").await.unwrap();
        World {
            dir,
            clock,
            svc,
            next_command: Default::default(),
        }
    }

    /// The cast: two people, two peer workers, two care team members of different teams, a
    /// safeguarding lead and an auditor.
    pub async fn new() -> World {
        let w = World::empty().await;
        for (id, role, team) in [
            ("su-sam", Role::ServiceUser, None),
            ("su-ola", Role::ServiceUser, None),
            ("pw-amara", Role::PeerWorker, Some("peer-team")),
            ("pw-ben", Role::PeerWorker, Some("peer-team")),
            ("ct-cho", Role::CareTeam, Some("cmht-north")),
            ("ct-dev", Role::CareTeam, Some("cmht-south")),
            ("sg-lee", Role::SafeguardingLead, None),
            ("au-ida", Role::Auditor, None),
        ] {
            let display = Passage::new("display", format!("Display name of {id}"));
            w.ok(
                "admin",
                Command::RegisterActor {
                    id: id.into(),
                    role,
                    team: team.map(Into::into),
                    display,
                },
            )
            .await;
        }
        w
    }

    pub fn now(&self) -> Time {
        Time(self.clock.0.load(std::sync::atomic::Ordering::SeqCst))
    }

    pub fn advance(&self, ms: u64) {
        self.clock.set(self.now().0 + ms);
    }

    pub fn call(&self) -> Call {
        let n = self
            .next_command
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Call::id(&format!("cmd-{n}"))
    }

    pub async fn run(&self, caller: &str, cmd: Command) -> Result<Vec<Receipt>, ServiceError> {
        self.svc.execute(caller, self.call(), cmd).await
    }

    pub async fn ok(&self, caller: &str, cmd: Command) -> Vec<Receipt> {
        let what = format!("{cmd:?}");
        self.run(caller, cmd)
            .await
            .unwrap_or_else(|e| panic!("{caller} {what}: {e}"))
    }

    /// `worker` refers, offers, and `subject` accepts support `id`.
    pub async fn accepted_support(&self, id: &str, subject: &str, worker: &str) {
        self.ok(
            worker,
            Command::ReferSupport {
                support_id: id.into(),
                subject: subject.into(),
                worker: worker.into(),
                source: ReferralSource::CareTeam,
            },
        )
        .await;
        self.ok(
            worker,
            Command::OfferSupport {
                support_id: id.into(),
            },
        )
        .await;
        self.ok(
            subject,
            Command::AcceptSupport {
                support_id: id.into(),
            },
        )
        .await;
    }

    pub async fn meeting(&self, id: &str, support: &str, worker: &str) {
        self.ok(
            worker,
            Command::RecordMeeting {
                meeting_id: id.into(),
                support_id: support.into(),
                kind: MeetingKind::OneToOne,
                group_id: None,
                goals: vec![],
                activities: vec![],
                mode: MeetingMode::InPerson,
                place: Place::Clinic,
                place_detail: None,
                occurred_at: self.now(),
                minutes: 45,
            },
        )
        .await;
    }

    /// Drafts note `id` of `meeting` with the given `(segment id, text)` pairs.
    pub async fn draft(
        &self,
        id: &str,
        meeting: &str,
        worker: &str,
        segs: &[(&str, &str)],
    ) -> Vec<SegmentRef> {
        let segments: Vec<Passage> = segs.iter().map(|(i, s)| Passage::new(*i, *s)).collect();
        self.ok(
            worker,
            Command::DraftNote {
                note_id: id.into(),
                meeting_id: meeting.into(),
                segments,
            },
        )
        .await;
        // The service made the commitments (with salts it drew): the recorded note says them.
        self.svc.projections().unwrap().notes[id].revisions[0]
            .segments
            .clone()
    }

    pub fn size(&self) -> u64 {
        self.svc.store().size()
    }

    /// Closes and reopens the service on the same directory (projections load from sled).
    pub fn reopen(self) -> World {
        let World {
            dir,
            clock,
            svc,
            next_command,
        } = self;
        svc.close().unwrap();
        let svc = open_service(dir.path(), clock.clone());
        World {
            dir,
            clock,
            svc,
            next_command,
        }
    }
}

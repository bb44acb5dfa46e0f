//! A pure world for the decision targets: projections built by deciding commands and applying
//! what they emit, as the command service does (`service.rs`: `decide`, then `build` gives each
//! event its stream version, the store stamps `seq` and `at`, and the entry read back is applied)
//! — without a store. Also the generators of commands, callers and times those targets use.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::value::RawValue;
use withus::domain::discussions::DiscussionBasis;
use withus::domain::event::{Activity, DiscussedWith, Grantee};
use withus::domain::projection::ActorRec;
use withus::domain::types::*;
use withus::domain::{
    decide, decide_bootstrap, Command, Commit, Decision, Event, Projections, Recorded,
};
use withus::format::{self, Actor, EntryFields, EntryView, Hash};

use super::Input;

/// 2026-11-23T09:00:00.000Z, the tests' T0.
pub const T0: u64 = 1_795_424_400_000;
/// The last millisecond an entry's `at` can say (the store clamps to it).
pub const MAX_AT: u64 = 253_402_300_799_999;

pub const ACTORS: &[&str] = &[
    "admin", "su-sam", "su-ola", "pw-amara", "pw-ben", "ct-cho", "ct-dev", "sg-lee", "au-ida",
    "x-new",
];
pub const TEAMS: &[&str] = &["peer-team", "cmht-north", "cmht-south"];
pub const SUPPORTS: &[&str] = &["sp-0", "sp-1", "sp-2"];
pub const MEETINGS: &[&str] = &["m-0", "m-1", "m-2", "m-3"];
pub const NOTES: &[&str] = &["n-0", "n-1", "n-2"];
pub const PROPOSALS: &[&str] = &["p-0", "p-1", "p-2"];
pub const CONSENTS: &[&str] = &["c-0", "c-1", "c-2"];
pub const CONCERNS: &[&str] = &["k-0", "k-1"];
pub const SARS: &[&str] = &["r-0", "r-1"];
pub const SEGMENTS: &[&str] = &["s-0", "s-1", "s-2", "s-3"];
pub const GROUPS: &[&str] = &["g-0", "g-1"];
pub const DISCUSSIONS: &[&str] = &["d-0", "d-1"];
pub const STATEMENTS: &[&str] = &["st-0", "st-1"];
pub const GOALS: &[&str] = &["goal-0", "goal-1"];
pub const AUTHORITIES: &[&str] = &["au-0", "au-1"];
/// Representatives (registered by a random `RegisterActor` with that role, or not at all).
pub const REPRESENTATIVES: &[&str] = &["rp-kim", "rp-lou"];
pub const HOLDS: &[&str] = &["h-0", "h-1"];
pub const DATES: &[&str] = &[
    "1990-05-17",
    "2009-02-28",
    "2008-02-29",
    "2026-11-20",
    "2099-01-01",
    "2007-02-29",
    "x",
];

/// The cast of `tests/common/world.rs`, registered by the first admin.
const CAST: &[(&str, Role, Option<&str>)] = &[
    ("su-sam", Role::ServiceUser, None),
    ("su-ola", Role::ServiceUser, None),
    ("pw-amara", Role::PeerWorker, Some("peer-team")),
    ("pw-ben", Role::PeerWorker, Some("peer-team")),
    ("ct-cho", Role::CareTeam, Some("cmht-north")),
    ("ct-dev", Role::CareTeam, Some("cmht-south")),
    ("sg-lee", Role::SafeguardingLead, None),
    ("au-ida", Role::Auditor, None),
];

/// Projections and a clock, advanced only by accepted decisions.
#[derive(Debug, Clone)]
pub struct World {
    pub p: Projections,
    /// What the service's clock says: passed to `decide` as `now`.
    pub now: Time,
    /// The last entry's `at` (the store never lets it go backwards).
    pub last_at: u64,
    /// Entry bytes of everything applied, when kept (seeds for the entry target).
    pub entries: Option<Vec<Vec<u8>>>,
    /// Whether actors may be deactivated: off while growing a shared world, which would
    /// otherwise soon have nobody left who may act.
    pub deactivations: bool,
    commands: u64,
}

fn hash_of(tag: &str) -> Hash {
    *blake3::hash(tag.as_bytes()).as_bytes()
}

/// A recorded segment (for records built directly, not through a command).
fn seg(id: &str, chars: u64) -> SegmentRef {
    SegmentRef {
        id: id.to_string(),
        commit: HexHash(hash_of(id)),
        chars,
    }
}

/// A passage of `chars` characters, for a command.
fn passage(id: &str, chars: u64) -> Passage {
    Passage::new(id, "x".repeat(chars as usize))
}

/// The fuzz worlds' committer: deterministic (the BLAKE3 hash of the text), as the service's is
/// not; what matters here is that every text a decision holds went through it.
pub struct FuzzCommit;

impl Commit for FuzzCommit {
    fn commit(&mut self, passage: &Passage) -> SegmentRef {
        SegmentRef {
            id: passage.id.clone(),
            commit: HexHash(hash_of(&passage.text)),
            chars: passage.text.chars().count() as u64,
        }
    }
}

impl World {
    /// Nothing but the first admin.
    pub fn empty() -> World {
        let mut w = World {
            p: Projections::new(),
            now: Time(T0),
            last_at: 0,
            entries: None,
            deactivations: true,
            commands: 0,
        };
        let d = decide_bootstrap(&w.p, "admin", &passage("display", 10), &mut FuzzCommit)
            .expect("bootstrap");
        let admin = Actor {
            id: "admin".into(),
            role: "admin".into(),
        };
        w.append(&admin, &d);
        w
    }

    /// The first admin and the cast, shared (clone it).
    pub fn cast() -> &'static World {
        static CAST_WORLD: OnceLock<World> = OnceLock::new();
        CAST_WORLD.get_or_init(|| {
            let mut w = World::empty();
            for (id, role, team) in CAST {
                let cmd = Command::RegisterActor {
                    id: id.to_string(),
                    role: *role,
                    team: team.map(str::to_string),
                    display: passage("display", 12),
                };
                let admin = w.p.actor("admin").cloned().expect("admin");
                w.step(&admin, &cmd, w.now).expect("the cast registers");
            }
            w
        })
    }

    /// The cast after a few thousand random steps from a fixed seed: supports, meetings,
    /// notes, consents, concerns and SARs in every state, shared (clone it).
    pub fn grown() -> &'static World {
        static GROWN: OnceLock<World> = OnceLock::new();
        GROWN.get_or_init(|| {
            let mut w = World::cast().clone();
            w.deactivations = false;
            w.script();
            let mut rng = super::Rng::new(11);
            for _ in 0..40 {
                let bytes = rng.input(4096);
                let mut u = Input::new(&bytes);
                while !u.is_empty() {
                    let _ = w.random_step(&mut u);
                }
            }
            w
        })
    }

    /// Entry bytes of the grown world's log.
    pub fn entries() -> &'static [Vec<u8>] {
        static ENTRIES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
        ENTRIES.get_or_init(|| {
            let mut w = World::cast().clone();
            w.entries = Some(Vec::new());
            w.deactivations = false;
            w.script();
            let mut rng = super::Rng::new(12);
            for _ in 0..10 {
                let bytes = rng.input(4096);
                let mut u = Input::new(&bytes);
                while !u.is_empty() {
                    let _ = w.random_step(&mut u);
                }
            }
            w.entries.unwrap_or_default()
        })
    }

    /// The happy paths, so a grown world has each kind of record: two accepted supports with a
    /// meeting and a note each, a redaction proposed, a consent, a concern and a SAR.
    fn script(&mut self) {
        let support = |sid: &str, subject: &str, worker: &str| {
            [
                (
                    worker.to_string(),
                    Command::ReferSupport {
                        support_id: sid.into(),
                        subject: subject.into(),
                        worker: worker.into(),
                        source: ReferralSource::CareTeam,
                    },
                ),
                (
                    worker.to_string(),
                    Command::OfferSupport {
                        support_id: sid.into(),
                    },
                ),
                (
                    subject.to_string(),
                    Command::AcceptSupport {
                        support_id: sid.into(),
                    },
                ),
            ]
        };
        let meeting = |mid: &str, sid: &str, worker: &str, now: Time| {
            (
                worker.to_string(),
                Command::RecordMeeting {
                    meeting_id: mid.into(),
                    support_id: sid.into(),
                    kind: MeetingKind::OneToOne,
                    group_id: None,
                    goals: vec![],
                    activities: vec![],
                    mode: MeetingMode::InPerson,
                    place: Place::Clinic,
                    place_detail: None,
                    occurred_at: Time(now.0 - Time::HOUR),
                    minutes: 50,
                },
            )
        };
        let note = |nid: &str, mid: &str, worker: &str| {
            (
                worker.to_string(),
                Command::DraftNote {
                    note_id: nid.into(),
                    meeting_id: mid.into(),
                    segments: vec![passage("s-0", 40), passage("s-1", 20)],
                },
            )
        };
        let now = self.now;
        let mut script: Vec<(String, Command)> = Vec::new();
        script.extend(support("sp-0", "su-sam", "pw-amara"));
        script.extend(support("sp-1", "su-ola", "pw-ben"));
        script.push(meeting("m-0", "sp-0", "pw-amara", now));
        script.push(meeting("m-1", "sp-1", "pw-ben", now));
        script.push(note("n-0", "m-0", "pw-amara"));
        script.push(note("n-1", "m-1", "pw-ben"));
        script.push((
            "su-sam".into(),
            Command::ProposeRedaction {
                note_id: "n-0".into(),
                proposal_id: "p-0".into(),
                segments: vec!["s-1".into()],
                reason: RedactionReason::NotWanted,
            },
        ));
        script.push((
            "su-sam".into(),
            Command::GrantConsent {
                subject: "su-sam".into(),
                consent_id: "c-0".into(),
                scope: Scope::ShareWithCareTeam,
                grantee: Some(Grantee::Team("cmht-north".into())),
                expires_at: None,
            },
        ));
        script.push((
            "pw-amara".into(),
            Command::RaiseConcern {
                concern_id: "k-0".into(),
                subject: "su-sam".into(),
                category: ConcernCategory::SelfNeglect,
                urgency: Urgency::SameDay,
                summary: vec![passage("s-0", 30)],
            },
        ));
        script.push((
            "su-ola".into(),
            Command::RequestSar {
                sar_id: "r-0".into(),
                subject: "su-ola".into(),
                via: SarVia::App,
            },
        ));
        for (caller, cmd) in script {
            self.now = self.now.plus(Time::MINUTE);
            if let Some(a) = self.p.actor(&caller).cloned() {
                // A step the rules now refuse only makes the world poorer; the test
                // `the_grown_world_has_records_of_every_kind` notices.
                let _ = self.step(&a, &cmd, self.now);
            }
        }
    }

    /// One random step: time passes (or a probe at an arbitrary time), a caller — often one the
    /// command plausibly needs — decides a random command, and an accepted decision is applied.
    /// Returns what `decide` answered.
    pub fn random_step(&mut self, u: &mut Input<'_>) -> Result<Decision, withus::domain::Refusal> {
        let probe = u.chance(1, 16);
        let now = if probe {
            Time(u.number())
        } else {
            self.now = self.now.plus(advance(u));
            self.now
        };
        // Times in commands that are applied stay within what an entry can say (as the gRPC
        // layer's parsing guarantees); a probe's may be anything.
        let max = if probe { u64::MAX } else { MAX_AT };
        let mut cmd = command(u, now, max);
        // Ends: past the input's end the command is a RegisterActor.
        while !self.deactivations && matches!(cmd, Command::DeactivateActor { .. }) {
            cmd = command(u, now, max);
        }
        let caller = self.caller(u, &cmd);
        if probe {
            // An arbitrary `now` (past 9999, or before the last entry) is decided, never
            // applied: the service's clock is the store's.
            let r = decide(&self.p, &caller, &cmd, now, &mut FuzzCommit);
            check_decision(&r);
            r
        } else {
            self.step(&caller, &cmd, now)
        }
    }

    /// Decides `cmd`, checks the answer's shape and applies an accepted decision.
    pub fn step(
        &mut self,
        caller: &ActorRec,
        cmd: &Command,
        now: Time,
    ) -> Result<Decision, withus::domain::Refusal> {
        let r = decide(&self.p, caller, cmd, now, &mut FuzzCommit);
        check_decision(&r);
        if let Ok(d) = &r {
            let who = Actor {
                id: caller.id.clone(),
                role: caller.role.as_str().to_string(),
            };
            self.append(&who, d);
        }
        r
    }

    /// Appends a decision's events as the service and store would, reads each entry back and
    /// applies it. Asserts that every event reads back as itself and fits the state.
    fn append(&mut self, actor: &Actor, d: &Decision) {
        self.commands += 1;
        let command = format!("c-{}", self.commands);
        let at = self.last_at.max(self.now.0.min(MAX_AT));
        self.last_at = at;
        let at_text = format::format_millis(at);
        // Versions as `service::build` gives them: from the projections before the decision.
        let mut next: BTreeMap<String, u64> = BTreeMap::new();
        let prev = format::to_hex(&format::ZERO_HASH);
        for e in &d.events {
            let v = next
                .entry(e.stream.clone())
                .or_insert_with(|| self.p.stream_version(&e.stream));
            let version = *v;
            *v += 1;
            let data = serde_json::to_string(&e.event.data()).expect("event data serialises");
            assert!(
                data.len() <= withus::store::MAX_DATA_BYTES,
                "an accepted {} has {} bytes of data, over the store's limit",
                e.event.event_type(),
                data.len()
            );
            let raw = RawValue::from_string(data).expect("event data is JSON");
            let bytes = EntryFields {
                seq: self.p.applied,
                prev: &prev,
                at: &at_text,
                event_type: e.event.event_type(),
                v: Event::V,
                stream: &e.stream,
                version,
                subject: e.subject.as_deref(),
                subject_prev: None,
                actor,
                command: Some(&command),
                data: &raw,
            }
            .to_bytes();
            let view = EntryView::parse(&bytes).expect("an entry the service writes parses");
            let rec = Recorded::from_entry(&view).expect("an accepted event reads back");
            assert_eq!(rec.event, e.event, "the event changed through the log");
            let skipped = self.p.skipped;
            self.p.apply(&rec);
            assert_eq!(
                self.p.skipped,
                skipped,
                "an accepted {} did not fit the state it was decided against",
                e.event.event_type()
            );
            if let Some(entries) = &mut self.entries {
                entries.push(bytes);
            }
        }
        // Every word recorded about a person is erased with their record when its retention
        // period ends: retention finds each one (a new area that forgets to tell it fails here).
        for e in &d.events {
            let Some(subject) = &e.subject else { continue };
            let erasable = withus::domain::retention::record_segments(&self.p, subject);
            for s in e.event.segments() {
                assert!(
                    erasable.contains(&s.commit),
                    "segment {} of an accepted {} about {subject} is not erased with their record",
                    s.id,
                    e.event.event_type()
                );
            }
        }
    }

    /// Who asks: usually a registered actor the command plausibly needs, else any registered
    /// actor, sometimes one the projections do not know or a deactivated one.
    pub fn caller(&self, u: &mut Input<'_>, cmd: &Command) -> ActorRec {
        let pick = u.below(16);
        if pick < 9 {
            let want = plausible(&self.p, cmd);
            if let Some(id) = want.get(u.below(want.len().max(1))) {
                if let Some(a) = self.p.actor(id) {
                    return a.clone();
                }
            }
        }
        if pick < 15 && !self.p.actors.is_empty() {
            let i = u.below(self.p.actors.len());
            if let Some(a) = self.p.actors.values().nth(i) {
                return a.clone();
            }
        }
        ActorRec {
            id: id(u, ACTORS),
            role: *u.choose(Role::ALL),
            team: u.bool().then(|| u.choose(TEAMS).to_string()),
            display: seg("display", 1),
            active: u.bool(),
            registered_at: Time(u.number()),
            deactivated_at: None,
            version: u.number(),
            identities: Default::default(),
        }
    }
}

/// Asserts what every answer of `decide` must be: a refusal names its rule and field; a decision
/// emits at least one event, each on a `<kind>:<id>` stream and about a well-formed subject, as
/// the store's append checks require.
pub fn check_decision(r: &Result<Decision, withus::domain::Refusal>) {
    match r {
        Err(refusal) => {
            assert!(
                !refusal.rule.is_empty(),
                "a refusal without a rule: {refusal:?}"
            );
            assert!(
                !refusal.field.is_empty(),
                "a refusal without a field: {refusal:?}"
            );
            assert!(
                !refusal.message.is_empty(),
                "a refusal without a message: {refusal:?}"
            );
        }
        Ok(d) => {
            assert!(
                !d.events.is_empty(),
                "an accepted decision emits nothing: {d:?}"
            );
            for e in &d.events {
                let ok = matches!(e.stream.split_once(':'),
                    Some((kind, id)) if !kind.is_empty() && !id.is_empty()
                        && format::is_name(&e.stream));
                assert!(ok, "event stream {:?} is not <kind>:<id>", e.stream);
                if let Some(s) = &e.subject {
                    assert!(format::is_name(s), "event subject {s:?} is not a name");
                }
            }
            for s in &d.depends {
                assert!(s.contains(':'), "a dependency {s:?} is not a stream");
            }
        }
    }
}

/// Actor ids the command is likely to need as its caller.
fn plausible(p: &Projections, cmd: &Command) -> Vec<String> {
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let support = |id: &str| {
        p.supports
            .get(id)
            .map(|s| vec![s.subject.clone(), s.worker.clone()])
            .unwrap_or_else(|| ids(&["pw-amara", "pw-ben"]))
    };
    let note = |id: &str| {
        p.notes
            .get(id)
            .map(|n| vec![n.subject.clone(), n.author.clone()])
            .unwrap_or_else(|| ids(&["pw-amara", "pw-ben"]))
    };
    match cmd {
        Command::RegisterActor { .. }
        | Command::DeactivateActor { .. }
        | Command::IssueToken { .. }
        | Command::RevokeToken { .. }
        | Command::LinkIdentity { .. }
        | Command::UnlinkIdentity { .. } => ids(&["admin"]),
        Command::IssueSignInCode { actor, .. } => {
            vec![actor.clone(), "admin".into(), "pw-amara".into()]
        }
        Command::ReferSupport { subject, .. } => {
            vec![subject.clone(), "pw-amara".into(), "ct-cho".into()]
        }
        Command::OfferSupport { support_id }
        | Command::AcceptSupport { support_id }
        | Command::DeclineSupport { support_id }
        | Command::EndSupport { support_id, .. }
        | Command::RecordMeeting { support_id, .. }
        | Command::PlanMeeting { support_id, .. }
        | Command::SetGoal { support_id, .. } => support(support_id),
        Command::ProposePlace { meeting_id, .. }
        | Command::AgreePlace { meeting_id, .. }
        | Command::CancelMeeting { meeting_id, .. }
        | Command::MarkNotAttended { meeting_id }
        | Command::HoldMeeting { meeting_id, .. } => p
            .meetings
            .get(meeting_id)
            .map(|m| vec![m.worker.clone(), m.subject.clone()])
            .unwrap_or_else(|| ids(&["pw-amara", "su-sam"])),
        Command::FormGroup { .. } => ids(&["admin", "pw-amara", "pw-ben"]),
        Command::ReviewGoal { goal_id, .. } | Command::CloseGoal { goal_id, .. } => p
            .goals
            .get(goal_id)
            .map(|g| vec![g.subject.clone(), "pw-amara".into(), "pw-ben".into()])
            .unwrap_or_else(|| ids(&["su-sam", "pw-amara"])),
        Command::DraftNote { meeting_id, .. } => p
            .meetings
            .get(meeting_id)
            .map(|m| vec![m.worker.clone(), m.subject.clone()])
            .unwrap_or_else(|| ids(&["pw-amara"])),
        Command::ReviseNote { note_id, .. }
        | Command::ProposeRedaction { note_id, .. }
        | Command::AgreeRedaction { note_id, .. }
        | Command::DeclineRedaction { note_id, .. }
        | Command::WithdrawRedaction { note_id, .. }
        | Command::AgreeNote { note_id, .. }
        | Command::CloseNote { note_id, .. }
        | Command::AddAddendum { note_id, .. } => note(note_id),
        Command::GrantConsent { subject, .. } | Command::RevokeConsent { subject, .. } => {
            vec![subject.clone(), "pw-amara".into(), "pw-ben".into()]
        }
        Command::RaiseConcern { .. } => ids(&["pw-amara", "pw-ben", "ct-cho", "sg-lee"]),
        Command::AcknowledgeConcern { .. }
        | Command::RecordOutcome { .. }
        | Command::InformSubject { .. }
        | Command::Withhold { .. }
        | Command::Release { .. } => ids(&["sg-lee"]),
        Command::RequestSar { subject, .. } => vec![subject.clone(), "pw-amara".into()],
        Command::FulfilSar { .. } => ids(&["admin", "sg-lee"]),
        Command::RecordDiscussion { subject, .. } => {
            vec![
                subject.clone(),
                "pw-amara".into(),
                "ct-cho".into(),
                "sg-lee".into(),
            ]
        }
        Command::AddStatement { .. } => ids(&["su-sam", "su-ola"]),
        Command::GrantAuthority { subject, .. } => vec![subject.clone(), "admin".into()],
        Command::EndAuthority { authority_id, .. } => p
            .authorities
            .get(authority_id)
            .map(|a| vec![a.subject.clone(), a.representative.clone(), "admin".into()])
            .unwrap_or_else(|| ids(&["su-sam", "admin"])),
        Command::ProposeTransfer { support_id, .. } => {
            let mut v = support(support_id);
            v.push("admin".into());
            v
        }
        Command::AnswerTransfer { support_id, .. } => support(support_id),
        Command::RecordRetentionDate { .. } => ids(&["admin", "sg-lee"]),
        Command::PlaceLegalHold { .. } | Command::LiftLegalHold { .. } => {
            ids(&["admin", "sg-lee", "au-ida"])
        }
    }
}

/// How far the clock moves before a step: mostly a little, sometimes days or months.
pub fn advance(u: &mut Input<'_>) -> u64 {
    match u.below(8) {
        0 | 1 => 0,
        2 => 1,
        3 | 4 => u.below(120) as u64 * Time::MINUTE,
        5 => u.below(48) as u64 * Time::HOUR,
        6 => u.below(60) as u64 * Time::DAY,
        _ => u.u32() as u64,
    }
}

/// An id: mostly from `alphabet` (so ids collide with existing ones), sometimes new or invalid.
pub fn id(u: &mut Input<'_>, alphabet: &[&str]) -> String {
    match u.below(64) {
        0 => String::new(),
        1 => "has space".into(),
        2 => "x".repeat(128 + u.below(3)),
        3 => "é-unicode".into(),
        4 => u.text(12),
        5 => format!("new-{}", u.below(4)),
        _ => u.choose(alphabet).to_string(),
    }
}

/// A time relative to `now`: just before or after, far ahead, or arbitrary; at most `max`.
pub fn time(u: &mut Input<'_>, now: Time, max: u64) -> Time {
    let t = match u.below(8) {
        0 => Time(now.0.saturating_sub(u.below(1000) as u64 * Time::MINUTE)),
        1 => now,
        2 | 3 => now.plus(1 + u.below(1000) as u64 * Time::MINUTE),
        4 => now.plus(u.below(800) as u64 * Time::DAY),
        5 => Time(MAX_AT + u.below(2) as u64),
        _ => Time(u.number()),
    };
    Time(t.0.min(max))
}

/// What token and bundle hashes are made of, so they collide.
const TOKENS: &[&str] = &["t-0", "t-1", "t-2", "b-0"];

/// OpenID Connect issuers links name (and one that is not a URL a link accepts).
const ISSUERS: &[&str] = &["https://idp.example", "https://login.example", "not a url"];

fn hash(u: &mut Input<'_>) -> Hash {
    if u.chance(3, 4) {
        let tag: &&str = u.choose(TOKENS);
        hash_of(tag)
    } else {
        let mut h = [0u8; 32];
        for b in &mut h {
            *b = u.u8();
        }
        h
    }
}

/// A passage: usually short text, sometimes empty or over the size limit of a segment.
pub fn segment(u: &mut Input<'_>) -> Passage {
    let sid = id(u, SEGMENTS);
    let text = match u.below(16) {
        0 => String::new(),
        1 => "y".repeat(withus::content::MAX_SEGMENT_BYTES + 1),
        _ => u.text(200),
    };
    Passage::new(sid, text)
}

/// Segments: usually distinct ids in order, sometimes anything (duplicates, empty, too many).
pub fn segments(u: &mut Input<'_>) -> Vec<Passage> {
    match u.below(8) {
        0 => Vec::new(),
        1 => (0..u.below(80)).map(|_| segment(u)).collect(),
        2 => (0..65).map(|i| passage(&format!("s-{i}"), 1)).collect(),
        _ => (0..1 + u.below(4))
            .map(|i| passage(SEGMENTS[i], 1 + u.below(100) as u64))
            .collect(),
    }
}

fn segment_ids(u: &mut Input<'_>) -> Vec<String> {
    (0..u.below(4)).map(|_| id(u, SEGMENTS)).collect()
}

fn opt<T>(u: &mut Input<'_>, f: impl FnOnce(&mut Input<'_>) -> T) -> Option<T> {
    u.bool().then(|| f(u))
}

fn stream(u: &mut Input<'_>) -> String {
    match u.below(6) {
        0 => format!("note:{}", id(u, NOTES)),
        1 => format!("concern:{}", id(u, CONCERNS)),
        2 => format!("meeting:{}", id(u, MEETINGS)),
        3 if u.bool() => format!("discussion:{}", id(u, DISCUSSIONS)),
        3 => u.text(16),
        _ => format!("note:{}", u.choose(NOTES)),
    }
}

fn minutes(u: &mut Input<'_>) -> u32 {
    if u.chance(3, 4) {
        u.below(200) as u32
    } else {
        u.u32()
    }
}

fn goal_ids(u: &mut Input<'_>) -> Vec<String> {
    (0..u.below(3)).map(|_| id(u, GOALS)).collect()
}

fn activities(u: &mut Input<'_>) -> Vec<Activity<Passage>> {
    (0..u.below(3))
        .map(|_| Activity {
            kind: *u.choose(ActivityKind::ALL),
            detail: opt(u, segment),
        })
        .collect()
}

/// Any command, every variant, from the small alphabets.
pub fn command(u: &mut Input<'_>, now: Time, max: u64) -> Command {
    let v = |u: &mut Input<'_>| *u.choose(&[0u64, 1, 2, 3]);
    match u.below(52) {
        0 => Command::RegisterActor {
            id: id(u, ACTORS),
            role: *u.choose(Role::ALL),
            team: opt(u, |u| id(u, TEAMS)),
            display: segment(u),
        },
        1 => Command::DeactivateActor {
            id: id(u, ACTORS),
            reason: *u.choose(DeactivationReason::ALL),
        },
        2 => Command::IssueToken {
            actor: id(u, ACTORS),
            token_hash: hash(u),
            expires_at: opt(u, |u| time(u, now, max)),
        },
        3 => Command::RevokeToken {
            token_hash: hash(u),
        },
        4 => Command::ReferSupport {
            support_id: id(u, SUPPORTS),
            subject: id(u, &ACTORS[1..3]),
            worker: id(u, &ACTORS[3..5]),
            source: *u.choose(ReferralSource::ALL),
        },
        5 => Command::OfferSupport {
            support_id: id(u, SUPPORTS),
        },
        6 => Command::AcceptSupport {
            support_id: id(u, SUPPORTS),
        },
        7 => Command::DeclineSupport {
            support_id: id(u, SUPPORTS),
        },
        8 => Command::EndSupport {
            support_id: id(u, SUPPORTS),
            reason: *u.choose(EndReason::ALL),
        },
        9 => Command::RecordMeeting {
            meeting_id: id(u, MEETINGS),
            support_id: id(u, SUPPORTS),
            kind: *u.choose(MeetingKind::ALL),
            group_id: opt(u, |u| id(u, GROUPS)),
            mode: *u.choose(MeetingMode::ALL),
            place: *u.choose(Place::ALL),
            place_detail: opt(u, segment),
            occurred_at: time(u, now, max),
            minutes: minutes(u),
            goals: goal_ids(u),
            activities: activities(u),
        },
        10 => Command::DraftNote {
            note_id: id(u, NOTES),
            meeting_id: id(u, MEETINGS),
            segments: segments(u),
        },
        11 => Command::ReviseNote {
            note_id: id(u, NOTES),
            segments: segments(u),
        },
        12 => Command::ProposeRedaction {
            note_id: id(u, NOTES),
            proposal_id: id(u, PROPOSALS),
            segments: segment_ids(u),
            reason: *u.choose(RedactionReason::ALL),
        },
        13 => Command::AgreeRedaction {
            note_id: id(u, NOTES),
            proposal_id: id(u, PROPOSALS),
        },
        14 => Command::DeclineRedaction {
            note_id: id(u, NOTES),
            proposal_id: id(u, PROPOSALS),
            reason: opt(u, segment),
        },
        15 => Command::WithdrawRedaction {
            note_id: id(u, NOTES),
            proposal_id: id(u, PROPOSALS),
        },
        16 => Command::AgreeNote {
            note_id: id(u, NOTES),
            revision: if u.chance(7, 8) { v(u) } else { u.number() },
        },
        17 => Command::CloseNote {
            note_id: id(u, NOTES),
            reason: *u.choose(CloseReason::ALL),
        },
        18 => Command::AddAddendum {
            note_id: id(u, NOTES),
            segments: segments(u),
        },
        19 => Command::GrantConsent {
            subject: id(u, &ACTORS[1..3]),
            consent_id: id(u, CONSENTS),
            scope: *u.choose(Scope::ALL),
            grantee: match u.below(3) {
                0 => None,
                1 => Some(Grantee::Team(id(u, TEAMS))),
                _ => Some(Grantee::Person(segment(u))),
            },
            expires_at: opt(u, |u| time(u, now, max)),
        },
        20 => Command::RevokeConsent {
            subject: id(u, &ACTORS[1..3]),
            consent_id: id(u, CONSENTS),
        },
        21 => Command::RaiseConcern {
            concern_id: id(u, CONCERNS),
            subject: id(u, &ACTORS[1..3]),
            category: *u.choose(ConcernCategory::ALL),
            urgency: *u.choose(Urgency::ALL),
            summary: segments(u),
        },
        22 => Command::AcknowledgeConcern {
            concern_id: id(u, CONCERNS),
        },
        23 => Command::RecordOutcome {
            concern_id: id(u, CONCERNS),
            outcome: *u.choose(ConcernOutcome::ALL),
            detail: segment(u),
        },
        24 => Command::InformSubject {
            concern_id: id(u, CONCERNS),
            how: *u.choose(InformedHow::ALL),
        },
        25 => Command::Withhold {
            subject: id(u, &ACTORS[1..3]),
            target_stream: stream(u),
            exemption: *u.choose(Exemption::ALL),
            justification: segment(u),
            review_by: time(u, now, max),
        },
        26 => Command::Release {
            subject: id(u, &ACTORS[1..3]),
            target_stream: stream(u),
        },
        27 => Command::RequestSar {
            sar_id: id(u, SARS),
            subject: id(u, &ACTORS[1..3]),
            via: *u.choose(SarVia::ALL),
        },
        28 => Command::FulfilSar {
            sar_id: id(u, SARS),
            bundle_hash: hash(u),
            tree_size: u.number(),
            withheld: u.number(),
        },
        29 => Command::RecordDiscussion {
            discussion_id: id(u, DISCUSSIONS),
            subject: id(u, &ACTORS[1..3]),
            setting: *u.choose(DiscussionSetting::ALL),
            with: match u.below(3) {
                0 => DiscussedWith::Role(*u.choose(Role::ALL)),
                _ => DiscussedWith::Team(id(u, TEAMS)),
            },
            held_at: time(u, now, max),
            basis: match u.below(3) {
                0 => DiscussionBasis::Present,
                1 => DiscussionBasis::Consent(id(u, CONSENTS)),
                _ => DiscussionBasis::Concern(id(u, CONCERNS)),
            },
            summary: segments(u),
        },
        30 => Command::AddStatement {
            statement_id: id(u, STATEMENTS),
            target_stream: stream(u),
            segments: segments(u),
        },
        31 => Command::PlanMeeting {
            meeting_id: id(u, MEETINGS),
            support_id: id(u, SUPPORTS),
            mode: *u.choose(MeetingMode::ALL),
            place: *u.choose(Place::ALL),
            place_detail: opt(u, segment),
            planned_for: time(u, now, max),
            minutes: minutes(u),
        },
        32 => Command::ProposePlace {
            meeting_id: id(u, MEETINGS),
            place: *u.choose(Place::ALL),
            place_detail: opt(u, segment),
            on_behalf: u.bool(),
        },
        33 => Command::AgreePlace {
            meeting_id: id(u, MEETINGS),
            on_behalf: u.bool(),
        },
        34 => Command::CancelMeeting {
            meeting_id: id(u, MEETINGS),
            by: *u.choose(Party::ALL),
        },
        35 => Command::MarkNotAttended {
            meeting_id: id(u, MEETINGS),
        },
        36 => Command::HoldMeeting {
            meeting_id: id(u, MEETINGS),
            occurred_at: time(u, now, max),
            minutes: minutes(u),
            goals: goal_ids(u),
            activities: activities(u),
        },
        37 => Command::FormGroup {
            group_id: id(u, GROUPS),
            name: segment(u),
            facilitators: (0..u.below(4)).map(|_| id(u, &ACTORS[3..6])).collect(),
        },
        38 => Command::SetGoal {
            goal_id: id(u, GOALS),
            support_id: id(u, SUPPORTS),
            words: segments(u),
            co_produced: u.bool(),
        },
        39 => Command::ReviewGoal {
            goal_id: id(u, GOALS),
            words: segments(u),
        },
        40 => Command::CloseGoal {
            goal_id: id(u, GOALS),
            outcome: *u.choose(GoalOutcome::ALL),
            words: segments(u),
        },
        41 => Command::GrantAuthority {
            subject: id(u, &ACTORS[1..3]),
            authority_id: id(u, AUTHORITIES),
            representative: id(u, REPRESENTATIVES),
            relation: *u.choose(Relation::ALL),
            basis: *u.choose(AuthorityBasis::ALL),
            scope: match u.below(4) {
                0 => Vec::new(),
                1 => vec![AuthorityScope::ReadRecord],
                2 => vec![AuthorityScope::SubjectAccess],
                _ => AuthorityScope::ALL.to_vec(),
            },
            expires_at: opt(u, |u| time(u, now, max)),
            evidence: opt(u, segment),
        },
        42 => Command::EndAuthority {
            authority_id: id(u, AUTHORITIES),
            reason: *u.choose(AuthorityEndReason::ALL),
        },
        43 => Command::ProposeTransfer {
            support_id: id(u, SUPPORTS),
            to_worker: id(u, &ACTORS[3..5]),
        },
        44 => Command::AnswerTransfer {
            support_id: id(u, SUPPORTS),
            accept: u.below(2) == 0,
        },
        45 => Command::RecordRetentionDate {
            subject: id(u, &ACTORS[1..3]),
            kind: *u.choose(DateKind::ALL),
            date: id(u, DATES),
        },
        46 => Command::PlaceLegalHold {
            subject: id(u, &ACTORS[1..3]),
            hold_id: id(u, HOLDS),
            reason: *u.choose(HoldReason::ALL),
        },
        47 => Command::LiftLegalHold {
            subject: id(u, &ACTORS[1..3]),
            hold_id: id(u, HOLDS),
        },
        48 => Command::LinkIdentity {
            actor: id(u, ACTORS),
            issuer: u.choose(ISSUERS).to_string(),
            identity: hash(u),
        },
        49 => Command::UnlinkIdentity {
            actor: id(u, ACTORS),
            issuer: u.choose(ISSUERS).to_string(),
        },
        50 => Command::IssueSignInCode {
            actor: id(u, ACTORS),
            code_digest: hash(u),
            expires_at: time(u, now, max),
        },
        // The commands that make the state interesting, twice as often.
        _ => match u.below(3) {
            0 => Command::AcceptSupport {
                support_id: id(u, SUPPORTS),
            },
            1 => Command::AgreeNote {
                note_id: id(u, NOTES),
                revision: v(u),
            },
            _ => Command::OfferSupport {
                support_id: id(u, SUPPORTS),
            },
        },
    }
}

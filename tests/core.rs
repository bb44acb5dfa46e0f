//! Given / when / then on the pure domain core: no sled, no service, no clock.
//!
//! `given(events)` folds entries into `Projections`; `.when(caller, command, now)` calls
//! `decide`; `.then_events(..)`, `.then_emits(..)`, `.then_decision(..)` or
//! `.then_refused(code, rule, field)` assert the outcome; `.and_apply()` folds an accepted
//! decision and carries on. The access functions (`decide_read`, `decide_audit`,
//! `decide_access_log`, `decide_sar_read`) are asked directly of the folded state.
//!
//! One test per rule and refusal of `src/domain/decide.rs` and `src/domain/access.rs`, by area:
//! actors and tokens, support, meetings, notes, redaction, ended relationships, no-basis
//! answers, consent, safeguarding and withholding, subject access, reads. `tests/rules.rs`
//! covers the same rules end to end through the service on a real store; this file shows the
//! core alone decides them, in milliseconds. Commands carry plain passages; a counting fake
//! committer turns them into `SegmentRef`s with fixed commitments, and every refusal is checked to
//! have committed nothing.

use std::collections::BTreeMap;

use withus::domain::access::{
    self, decide_access_log, decide_audit, decide_read, decide_sar_read, AuditRead, ReadDecision,
    SarRead,
};
use withus::domain::discussions::DiscussionBasis;
use withus::domain::event::*;
use withus::domain::projection::{ActorRec, NoteStatus};
use withus::domain::types::*;
use withus::domain::{
    decide, decide_bootstrap, Code, Command, Commit, Decision, Projections, Refusal,
};

// ---- harness ---------------------------------------------------------------------------------

/// 2026-01-01T00:00:00Z: the given entries are stamped from here, one second apart.
const T0: Time = Time(1_767_225_600_000);

/// A moment after every given entry of these tests.
fn now() -> Time {
    T0.plus(Time::DAY)
}

/// One entry to fold: stream, subject, actor, event.
type Ev = (String, Option<String>, String, Event);

fn ev(stream: &str, subject: Option<&str>, actor: &str, event: Event) -> Ev {
    (stream.into(), subject.map(Into::into), actor.into(), event)
}

/// The state folded from the given entries.
#[derive(Clone)]
struct Given {
    p: Projections,
    seq: u64,
    at: Time,
    versions: BTreeMap<String, u64>,
}

fn given(events: Vec<Ev>) -> Given {
    let mut g = Given {
        p: Projections::new(),
        seq: 0,
        at: Time(0),
        versions: BTreeMap::new(),
    };
    for e in events {
        g.record(e, None);
    }
    g
}

impl Given {
    /// Appends one entry: seq from 0, `at` increasing, versions per stream.
    fn record(&mut self, (stream, subject, actor, event): Ev, at: Option<Time>) {
        let at = at.unwrap_or(T0.plus(self.seq * 1_000)).max(self.at.plus(1));
        let v = self.versions.entry(stream.clone()).or_insert(0);
        let actor_role = self
            .p
            .actors
            .get(&actor)
            .map_or("admin", |a| a.role.as_str())
            .to_string();
        self.p.apply(&Recorded {
            seq: self.seq,
            at,
            stream,
            version: *v,
            subject,
            actor_id: actor,
            actor_role,
            command: None,
            event,
        });
        *v += 1;
        self.seq += 1;
        self.at = at;
    }

    /// More entries on top.
    fn and(mut self, events: Vec<Ev>) -> Given {
        for e in events {
            self.record(e, None);
        }
        self
    }

    /// A registered actor; an unknown id is a mistake in the test's setup.
    fn actor(&self, id: &str) -> ActorRec {
        self.p
            .actors
            .get(id)
            .unwrap_or_else(|| panic!("test setup: {id} is not a registered actor"))
            .clone()
    }

    fn when(self, caller: &str, cmd: Command, now: Time) -> When {
        let who = self.actor(caller);
        let mut commit = FakeCommit::default();
        let out = decide(&self.p, &who, &cmd, now, &mut commit);
        When {
            g: self,
            caller: caller.into(),
            what: format!("{caller} {cmd:?}"),
            now,
            out,
            commits: commit.calls,
        }
    }

    fn read(&self, reader: &str, subject: &str, now: Time) -> ReadDecision {
        decide_read(&self.p, &self.actor(reader), subject, now)
    }
}

/// A decision, to assert on.
struct When {
    g: Given,
    caller: String,
    what: String,
    now: Time,
    out: Result<Decision, Refusal>,
    /// How many passages the decision committed.
    commits: usize,
}

impl When {
    fn decision(&self) -> &Decision {
        match &self.out {
            Ok(d) => d,
            Err(r) => panic!("{}: expected a decision, refused: {r}", self.what),
        }
    }

    fn refusal(&self) -> Refusal {
        match &self.out {
            Err(r) => r.clone(),
            Ok(d) => panic!("{}: expected a refusal, got {d:?}", self.what),
        }
    }

    /// Then: exactly these events, in order.
    fn then_events(self, expected: &[Event]) -> When {
        let got: Vec<&Event> = self.decision().events.iter().map(|e| &e.event).collect();
        let want: Vec<&Event> = expected.iter().collect();
        assert_eq!(got, want, "{}", self.what);
        self
    }

    /// Then: exactly these events, with their streams and subjects.
    fn then_emits(self, expected: &[(&str, Option<&str>, Event)]) -> When {
        let got: Vec<(&str, Option<&str>, &Event)> = self
            .decision()
            .events
            .iter()
            .map(|e| (e.stream.as_str(), e.subject.as_deref(), &e.event))
            .collect();
        let want: Vec<(&str, Option<&str>, &Event)> =
            expected.iter().map(|(s, sub, e)| (*s, *sub, e)).collect();
        assert_eq!(got, want, "{}", self.what);
        self
    }

    /// Then: a custom check of the accepted decision (depends, erase, ...).
    fn then_decision(self, f: impl FnOnce(&Decision)) -> When {
        f(self.decision());
        self
    }

    /// Then: refused with this code, rule and field, and a message. The state is unchanged, and
    /// no text was committed (so the service seals and stores none).
    fn then_refused(self, code: Code, rule: &str, field: &str) -> Given {
        let r = self.refusal();
        assert_eq!(
            (r.code, r.rule, r.field.as_str()),
            (code, rule, field),
            "{}: {r}",
            self.what
        );
        assert!(!r.message.is_empty(), "{}: empty message", self.what);
        assert_eq!(
            self.commits, 0,
            "{}: a refused command committed text",
            self.what
        );
        self.g
    }

    /// Carries on from the state before the accepted decision, without folding it.
    fn and_not_apply(self) -> Given {
        let _ = self.decision();
        self.g
    }

    /// Folds the accepted decision's events (by the caller, at `now`) and carries on.
    fn and_apply(self) -> Given {
        let d = self.decision().clone();
        let mut g = self.g;
        for e in d.events {
            g.record(
                (e.stream, e.subject, self.caller.clone(), e.event),
                Some(self.now),
            );
        }
        g
    }
}

// ---- worlds ----------------------------------------------------------------------------------

/// The words of passage number `n`: ten characters, which [`FakeCommit`] commits to `[n; 32]`.
fn words(n: u8) -> String {
    format!("passage{n:03}")
}

/// A segment reference as recorded: what [`FakeCommit`] makes of `text(id, n)`.
fn seg(id: &str, n: u8) -> SegmentRef {
    SegmentRef {
        id: id.into(),
        commit: HexHash([n; 32]),
        chars: 10,
    }
}

fn segs(list: &[(&str, u8)]) -> Vec<SegmentRef> {
    list.iter().map(|(id, n)| seg(id, *n)).collect()
}

/// A passage a command carries: the text that becomes `seg(id, n)` when committed.
fn text(id: &str, n: u8) -> Passage {
    Passage::new(id, words(n))
}

fn texts(list: &[(&str, u8)]) -> Vec<Passage> {
    list.iter().map(|(id, n)| text(id, *n)).collect()
}

/// The core's committer in these tests: deterministic (`words(n)` → `[n; 32]`, any other text
/// → its BLAKE3 hash), counting its calls so a refusal can be shown to have committed nothing.
#[derive(Default)]
struct FakeCommit {
    calls: usize,
}

impl Commit for FakeCommit {
    fn commit(&mut self, passage: &Passage) -> SegmentRef {
        self.calls += 1;
        let numbered = passage
            .text
            .strip_prefix("passage")
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| words(*n) == passage.text);
        let commit = match numbered {
            Some(n) => [n; 32],
            None => *blake3::hash(passage.text.as_bytes()).as_bytes(),
        };
        SegmentRef {
            id: passage.id.clone(),
            commit: HexHash(commit),
            chars: passage.text.chars().count() as u64,
        }
    }
}

fn registered(id: &str, role: Role, team: Option<&str>) -> Ev {
    ev(
        &format!("actor:{id}"),
        (role == Role::ServiceUser).then_some(id),
        "admin",
        Event::ActorRegistered(ActorRegistered {
            id: id.into(),
            role,
            team: team.map(Into::into),
            display: seg("display", 0),
        }),
    )
}

/// The cast: two people, two peer workers, two care team members of different teams, a
/// safeguarding lead, an auditor and the admin.
fn cast() -> Vec<Ev> {
    vec![
        registered("admin", Role::Admin, None),
        registered("su-sam", Role::ServiceUser, None),
        registered("su-ola", Role::ServiceUser, None),
        registered("pw-amara", Role::PeerWorker, Some("peer")),
        registered("pw-ben", Role::PeerWorker, Some("peer")),
        registered("ct-cho", Role::CareTeam, Some("cmht")),
        registered("ct-dev", Role::CareTeam, Some("crisis")),
        registered("sg-lee", Role::SafeguardingLead, None),
        registered("au-ida", Role::Auditor, None),
    ]
}

fn support_ev(sp: &str, subject: &str, actor: &str, event: Event) -> Ev {
    ev(&format!("support:{sp}"), Some(subject), actor, event)
}

fn referred(sp: &str, subject: &str, worker: &str) -> Ev {
    support_ev(
        sp,
        subject,
        worker,
        Event::SupportReferred(SupportReferred {
            support_id: sp.into(),
            worker: worker.into(),
            source: ReferralSource::CareTeam,
        }),
    )
}

fn offered(sp: &str, subject: &str, worker: &str) -> Ev {
    support_ev(
        sp,
        subject,
        worker,
        Event::SupportOffered(SupportOffered {}),
    )
}

fn accepted(sp: &str, subject: &str) -> Ev {
    support_ev(
        sp,
        subject,
        subject,
        Event::SupportAccepted(SupportAccepted { on_behalf: false }),
    )
}

fn ended(sp: &str, subject: &str, by: &str) -> Ev {
    support_ev(
        sp,
        subject,
        by,
        Event::SupportEnded(SupportEnded {
            reason: EndReason::GoalsMet,
        }),
    )
}

fn accepted_support(sp: &str, subject: &str, worker: &str) -> Vec<Ev> {
    vec![
        referred(sp, subject, worker),
        offered(sp, subject, worker),
        accepted(sp, subject),
    ]
}

fn meeting_recorded(m: &str, sp: &str, worker: &str, occurred_at: Time) -> MeetingRecorded {
    MeetingRecorded {
        meeting_id: m.into(),
        support_id: sp.into(),
        worker: worker.into(),
        kind: MeetingKind::OneToOne,
        group_id: None,
        goals: vec![],
        activities: vec![],
        mode: MeetingMode::InPerson,
        place: Place::Clinic,
        place_detail: None,
        occurred_at,
        minutes: 30,
    }
}

fn meeting(m: &str, sp: &str, subject: &str, worker: &str) -> Ev {
    ev(
        &format!("meeting:{m}"),
        Some(subject),
        worker,
        Event::MeetingRecorded(meeting_recorded(m, sp, worker, T0)),
    )
}

fn note_ev(n: &str, subject: &str, by: &str, event: Event) -> Ev {
    ev(&format!("note:{n}"), Some(subject), by, event)
}

fn drafted(n: &str, m: &str, subject: &str, worker: &str) -> Ev {
    note_ev(
        n,
        subject,
        worker,
        Event::NoteDrafted(NoteDrafted {
            note_id: n.into(),
            meeting_id: m.into(),
            segments: segs(&[("s1", 1), ("s2", 2)]),
        }),
    )
}

fn note_agreed(n: &str, subject: &str, by: &str, revision: u64) -> Ev {
    note_ev(n, subject, by, Event::NoteAgreed(NoteAgreed { revision }))
}

fn proposed(n: &str, subject: &str, by: &str, pid: &str, ids: &[&str]) -> Ev {
    note_ev(
        n,
        subject,
        by,
        Event::RedactionProposed(RedactionProposed {
            proposal_id: pid.into(),
            segments: ids.iter().map(|s| s.to_string()).collect(),
            reason: RedactionReason::NotWanted,
        }),
    )
}

/// The cast, and Sam's accepted support `sp` with Amara.
fn with_support() -> Vec<Ev> {
    let mut e = cast();
    e.extend(accepted_support("sp", "su-sam", "pw-amara"));
    e
}

/// ... and a meeting `m` of it.
fn with_meeting() -> Vec<Ev> {
    let mut e = with_support();
    e.push(meeting("m", "sp", "su-sam", "pw-amara"));
    e
}

/// ... and Amara's draft note `n` of it, segments s1 and s2 (revision 1).
fn with_draft() -> Vec<Ev> {
    let mut e = with_meeting();
    e.push(drafted("n", "m", "su-sam", "pw-amara"));
    e
}

/// ... agreed by both at revision 1.
fn with_agreed() -> Vec<Ev> {
    let mut e = with_draft();
    e.push(note_agreed("n", "su-sam", "su-sam", 1));
    e.push(note_agreed("n", "su-sam", "pw-amara", 1));
    e
}

/// Ola's own support `sp-o` with Ben, meeting `m-o` and note `n-o`: foreign to Sam and Amara.
fn olas_record() -> Vec<Ev> {
    let mut e = accepted_support("sp-o", "su-ola", "pw-ben");
    e.push(meeting("m-o", "sp-o", "su-ola", "pw-ben"));
    e.push(drafted("n-o", "m-o", "su-ola", "pw-ben"));
    e
}

fn consent_granted(subject: &str, by: &str, c: ConsentGranted) -> Ev {
    ev(
        &format!("consent:{subject}"),
        Some(subject),
        by,
        Event::ConsentGranted(c),
    )
}

fn team_consent(id: &str, team: &str, expires_at: Option<Time>) -> ConsentGranted {
    ConsentGranted {
        consent_id: id.into(),
        scope: Scope::ShareWithCareTeam,
        grantee: Some(Grantee::Team(team.into())),
        expires_at,
        on_behalf: false,
    }
}

fn consent_revoked(subject: &str, by: &str, id: &str) -> Ev {
    ev(
        &format!("consent:{subject}"),
        Some(subject),
        by,
        Event::ConsentRevoked(ConsentRevoked {
            consent_id: id.into(),
            on_behalf: false,
        }),
    )
}

fn raised(c: &str, subject: &str, by: &str) -> Ev {
    ev(
        &format!("concern:{c}"),
        Some(subject),
        by,
        Event::SafeguardingRaised(SafeguardingRaised {
            concern_id: c.into(),
            category: ConcernCategory::SelfNeglect,
            urgency: Urgency::SameDay,
            summary: vec![seg("c1", 9)],
        }),
    )
}

fn withheld(subject: &str, target: &str) -> Ev {
    ev(
        &format!("disclosure:{subject}"),
        Some(subject),
        "sg-lee",
        Event::DisclosureWithheld(DisclosureWithheld {
            target_stream: target.into(),
            exemption: Exemption::SeriousHarm,
            justification: seg("j", 7),
            review_by: now().plus(30 * Time::DAY),
        }),
    )
}

fn sar_requested(sar: &str, subject: &str) -> Ev {
    ev(
        &format!("sar:{sar}"),
        Some(subject),
        subject,
        Event::SarRequested(SarRequested {
            sar_id: sar.into(),
            via: SarVia::App,
        }),
    )
}

fn token_issued(actor: &str, subject: Option<&str>, hash: u8) -> Ev {
    ev(
        &format!("actor:{actor}"),
        subject,
        "admin",
        Event::TokenIssued(TokenIssued {
            actor: actor.into(),
            token_hash: HexHash([hash; 32]),
            expires_at: None,
        }),
    )
}

// ---- commands --------------------------------------------------------------------------------

fn register(id: &str, role: Role, team: Option<&str>) -> Command {
    Command::RegisterActor {
        id: id.into(),
        role,
        team: team.map(Into::into),
        display: text("display", 0),
    }
}

fn refer(sp: &str, subject: &str, worker: &str, source: ReferralSource) -> Command {
    Command::ReferSupport {
        support_id: sp.into(),
        subject: subject.into(),
        worker: worker.into(),
        source,
    }
}

fn offer(sp: &str) -> Command {
    Command::OfferSupport {
        support_id: sp.into(),
    }
}
fn accept(sp: &str) -> Command {
    Command::AcceptSupport {
        support_id: sp.into(),
    }
}
fn decline(sp: &str) -> Command {
    Command::DeclineSupport {
        support_id: sp.into(),
    }
}
fn end(sp: &str) -> Command {
    Command::EndSupport {
        support_id: sp.into(),
        reason: EndReason::PersonChose,
    }
}

fn record_meeting(m: &str, sp: &str) -> Command {
    Command::RecordMeeting {
        meeting_id: m.into(),
        support_id: sp.into(),
        kind: MeetingKind::OneToOne,
        group_id: None,
        goals: vec![],
        activities: vec![],
        mode: MeetingMode::Phone,
        place: Place::Online,
        place_detail: None,
        occurred_at: T0,
        minutes: 45,
    }
}

fn with_meeting_fields(cmd: Command, f: impl FnOnce(&mut Command)) -> Command {
    let mut cmd = cmd;
    f(&mut cmd);
    cmd
}

fn draft(n: &str, m: &str, segments: Vec<Passage>) -> Command {
    Command::DraftNote {
        note_id: n.into(),
        meeting_id: m.into(),
        segments,
    }
}
fn revise(n: &str, segments: Vec<Passage>) -> Command {
    Command::ReviseNote {
        note_id: n.into(),
        segments,
    }
}
fn addendum(n: &str, segments: Vec<Passage>) -> Command {
    Command::AddAddendum {
        note_id: n.into(),
        segments,
    }
}
fn agree(n: &str, revision: u64) -> Command {
    Command::AgreeNote {
        note_id: n.into(),
        revision,
    }
}
fn close(n: &str) -> Command {
    Command::CloseNote {
        note_id: n.into(),
        reason: CloseReason::PersonUnavailable,
    }
}
fn propose(n: &str, pid: &str, ids: &[&str]) -> Command {
    Command::ProposeRedaction {
        note_id: n.into(),
        proposal_id: pid.into(),
        segments: ids.iter().map(|s| s.to_string()).collect(),
        reason: RedactionReason::Inaccurate,
    }
}
fn agree_redaction(n: &str, pid: &str) -> Command {
    Command::AgreeRedaction {
        note_id: n.into(),
        proposal_id: pid.into(),
    }
}
fn decline_redaction(n: &str, pid: &str, reason: Option<Passage>) -> Command {
    Command::DeclineRedaction {
        note_id: n.into(),
        proposal_id: pid.into(),
        reason,
    }
}
fn withdraw(n: &str, pid: &str) -> Command {
    Command::WithdrawRedaction {
        note_id: n.into(),
        proposal_id: pid.into(),
    }
}

fn grant(subject: &str, c: &str, scope: Scope, grantee: Option<Grantee<Passage>>) -> Command {
    Command::GrantConsent {
        subject: subject.into(),
        consent_id: c.into(),
        scope,
        grantee,
        expires_at: None,
    }
}
fn grant_team(subject: &str, c: &str, team: &str) -> Command {
    grant(
        subject,
        c,
        Scope::ShareWithCareTeam,
        Some(Grantee::Team(team.into())),
    )
}
fn revoke(subject: &str, c: &str) -> Command {
    Command::RevokeConsent {
        subject: subject.into(),
        consent_id: c.into(),
    }
}

fn raise(c: &str, subject: &str) -> Command {
    Command::RaiseConcern {
        concern_id: c.into(),
        subject: subject.into(),
        category: ConcernCategory::SelfHarm,
        urgency: Urgency::Immediate,
        summary: vec![text("c1", 9)],
    }
}
fn acknowledge(c: &str) -> Command {
    Command::AcknowledgeConcern {
        concern_id: c.into(),
    }
}
fn outcome(c: &str) -> Command {
    Command::RecordOutcome {
        concern_id: c.into(),
        outcome: ConcernOutcome::AdviceGiven,
        detail: text("d", 8),
    }
}
fn withhold(subject: &str, target: &str, review_by: Time) -> Command {
    Command::Withhold {
        subject: subject.into(),
        target_stream: target.into(),
        exemption: Exemption::ThirdParty,
        justification: text("j", 7),
        review_by,
    }
}
fn release(subject: &str, target: &str) -> Command {
    Command::Release {
        subject: subject.into(),
        target_stream: target.into(),
    }
}
fn request_sar(sar: &str, subject: &str) -> Command {
    Command::RequestSar {
        sar_id: sar.into(),
        subject: subject.into(),
        via: SarVia::Letter,
    }
}
fn fulfil_sar(sar: &str) -> Command {
    Command::FulfilSar {
        sar_id: sar.into(),
        bundle_hash: [5; 32],
        tree_size: 42,
        withheld: 1,
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

// ---- actors and tokens -----------------------------------------------------------------------

#[test]
fn an_admin_registers_a_person_on_their_own_stream_with_them_as_subject() {
    given(cast())
        .when("admin", register("su-new", Role::ServiceUser, None), now())
        .then_emits(&[(
            "actor:su-new",
            Some("su-new"),
            Event::ActorRegistered(ActorRegistered {
                id: "su-new".into(),
                role: Role::ServiceUser,
                team: None,
                display: seg("display", 0),
            }),
        )]);
}

#[test]
fn a_staff_registration_has_no_subject() {
    given(cast())
        .when(
            "admin",
            register("pw-new", Role::PeerWorker, Some("peer")),
            now(),
        )
        .then_decision(|d| {
            assert_eq!(d.events.len(), 1);
            assert_eq!(d.events[0].stream, "actor:pw-new");
            assert_eq!(d.events[0].subject, None);
        });
}

#[test]
fn only_an_admin_registers_actors() {
    for caller in ["su-sam", "pw-amara", "ct-cho", "sg-lee", "au-ida"] {
        given(cast())
            .when(caller, register("x", Role::ServiceUser, None), now())
            .then_refused(Code::PermissionDenied, "role", "caller");
    }
}

#[test]
fn a_peer_worker_or_care_team_member_needs_a_team() {
    for role in [Role::PeerWorker, Role::CareTeam] {
        given(cast())
            .when("admin", register("x", role, None), now())
            .then_refused(Code::InvalidArgument, "actor.team", "team");
    }
}

#[test]
fn an_actor_id_is_registered_once() {
    given(cast())
        .when("admin", register("su-sam", Role::ServiceUser, None), now())
        .then_refused(Code::AlreadyExists, "unique_id", "id");
}

#[test]
fn identifiers_are_printable_ascii_without_spaces() {
    given(cast())
        .when("admin", register("su new", Role::ServiceUser, None), now())
        .then_refused(Code::InvalidArgument, "identifier", "id")
        .when("admin", register("", Role::ServiceUser, None), now())
        .then_refused(Code::InvalidArgument, "identifier", "id")
        .when(
            "admin",
            register("pw-x", Role::PeerWorker, Some("a team")),
            now(),
        )
        .then_refused(Code::InvalidArgument, "identifier", "team");
    let mut cmd = register("su-x", Role::ServiceUser, None);
    if let Command::RegisterActor { display, .. } = &mut cmd {
        display.id = "dis play".into();
    }
    given(cast()).when("admin", cmd, now()).then_refused(
        Code::InvalidArgument,
        "identifier",
        "display.id",
    );
}

#[test]
fn an_admin_deactivates_another_actor_and_a_deactivated_one_cannot_act() {
    given(cast())
        .when(
            "admin",
            Command::DeactivateActor {
                id: "su-sam".into(),
                reason: DeactivationReason::Duplicate,
            },
            now(),
        )
        .then_emits(&[(
            "actor:su-sam",
            Some("su-sam"),
            Event::ActorDeactivated(ActorDeactivated {
                id: "su-sam".into(),
                reason: DeactivationReason::Duplicate,
            }),
        )])
        .and_apply()
        .when("su-sam", request_sar("sar", "su-sam"), now())
        .then_refused(Code::Unauthenticated, "actor.active", "caller")
        .when(
            "admin",
            Command::DeactivateActor {
                id: "su-sam".into(),
                reason: DeactivationReason::Other,
            },
            now(),
        )
        .then_refused(Code::FailedPrecondition, "actor.active", "id");
}

#[test]
fn an_admin_cannot_deactivate_themselves() {
    given(cast())
        .when(
            "admin",
            Command::DeactivateActor {
                id: "admin".into(),
                reason: DeactivationReason::Other,
            },
            now(),
        )
        .then_refused(Code::FailedPrecondition, "actor.self", "id");
}

#[test]
fn only_an_admin_deactivates_and_only_a_registered_actor() {
    let cmd = |id: &str| Command::DeactivateActor {
        id: id.into(),
        reason: DeactivationReason::LeftOrganisation,
    };
    given(cast())
        .when("au-ida", cmd("su-sam"), now())
        .then_refused(Code::PermissionDenied, "role", "caller")
        .when("admin", cmd("nobody"), now())
        .then_refused(Code::NotFound, "exists", "id");
}

#[test]
fn an_admin_issues_a_token_recording_only_its_hash_once() {
    let issue = |h: u8, expires_at: Option<Time>| Command::IssueToken {
        actor: "su-sam".into(),
        token_hash: [h; 32],
        expires_at,
    };
    given(cast())
        .when("admin", issue(3, Some(now().plus(1))), now())
        .then_emits(&[(
            "actor:su-sam",
            Some("su-sam"),
            Event::TokenIssued(TokenIssued {
                actor: "su-sam".into(),
                token_hash: HexHash([3; 32]),
                expires_at: Some(now().plus(1)),
            }),
        )])
        .and_apply()
        .when("admin", issue(3, None), now())
        .then_refused(Code::AlreadyExists, "unique_id", "token_hash")
        .when("admin", issue(4, Some(now())), now())
        .then_refused(Code::InvalidArgument, "time.future", "expires_at")
        .when("pw-amara", issue(4, None), now())
        .then_refused(Code::PermissionDenied, "role", "caller")
        .when(
            "admin",
            Command::IssueToken {
                actor: "nobody".into(),
                token_hash: [4; 32],
                expires_at: None,
            },
            now(),
        )
        .then_refused(Code::NotFound, "exists", "actor");
}

#[test]
fn an_admin_revokes_a_token_once() {
    let revoke = |h: u8| Command::RevokeToken {
        token_hash: [h; 32],
    };
    let mut e = cast();
    e.push(token_issued("pw-amara", None, 3));
    given(e)
        .when("admin", revoke(3), now())
        .then_emits(&[(
            "actor:pw-amara",
            None,
            Event::TokenRevoked(TokenRevoked {
                token_hash: HexHash([3; 32]),
            }),
        )])
        .and_apply()
        .when("admin", revoke(3), now())
        .then_refused(Code::FailedPrecondition, "token.revoked", "token_hash")
        .when("admin", revoke(9), now())
        .then_refused(Code::NotFound, "exists", "token_hash")
        .when("su-sam", revoke(3), now())
        .then_refused(Code::PermissionDenied, "role", "caller");
}

#[test]
fn an_admin_links_an_identity_to_one_actor_once_per_issuer_and_unlinks_it() {
    const IDP: &str = "https://idp.example";
    let link = |actor: &str, h: u8| Command::LinkIdentity {
        actor: actor.into(),
        issuer: IDP.into(),
        identity: [h; 32],
    };
    let unlink = |actor: &str| Command::UnlinkIdentity {
        actor: actor.into(),
        issuer: IDP.into(),
    };
    let linked = |actor: &str, h: u8| IdentityLinked {
        actor: actor.into(),
        issuer: IDP.into(),
        identity: HexHash([h; 32]),
    };
    given(cast())
        .when("su-sam", link("su-sam", 1), now())
        .then_refused(Code::PermissionDenied, "role", "caller")
        .when("admin", link("nobody", 1), now())
        .then_refused(Code::NotFound, "exists", "actor")
        .when(
            "admin",
            Command::LinkIdentity {
                actor: "su-sam".into(),
                issuer: "not a url".into(),
                identity: [1; 32],
            },
            now(),
        )
        .then_refused(Code::InvalidArgument, "identity.issuer", "issuer")
        .when("admin", unlink("su-sam"), now())
        .then_refused(Code::NotFound, "exists", "issuer")
        .when("admin", link("su-sam", 1), now())
        .then_emits(&[(
            "actor:su-sam",
            Some("su-sam"),
            Event::IdentityLinked(linked("su-sam", 1)),
        )])
        .and_apply()
        // One actor per identity, one identity per issuer per actor.
        .when("admin", link("pw-amara", 1), now())
        .then_refused(Code::AlreadyExists, "identity.linked", "subject")
        .when("admin", link("su-sam", 2), now())
        .then_refused(Code::FailedPrecondition, "identity.one_per_issuer", "actor")
        .when("pw-amara", unlink("su-sam"), now())
        .then_refused(Code::PermissionDenied, "role", "caller")
        .when("admin", unlink("su-sam"), now())
        .then_emits(&[(
            "actor:su-sam",
            Some("su-sam"),
            Event::IdentityUnlinked(IdentityUnlinked {
                actor: "su-sam".into(),
                issuer: IDP.into(),
                identity: HexHash([1; 32]),
            }),
        )])
        .and_apply()
        // Once cut, the identity may be linked to anyone (a worker: no subject).
        .when("admin", link("pw-amara", 1), now())
        .then_emits(&[(
            "actor:pw-amara",
            None,
            Event::IdentityLinked(linked("pw-amara", 1)),
        )]);
}

#[test]
fn the_first_admin_is_created_only_on_an_empty_log() {
    let d = decide_bootstrap(
        &Projections::new(),
        "admin",
        &text("display", 0),
        &mut FakeCommit::default(),
    )
    .unwrap();
    assert_eq!(
        d.events
            .iter()
            .map(|e| (e.stream.as_str(), e.subject.clone(), e.event.clone()))
            .collect::<Vec<_>>(),
        vec![(
            "actor:admin",
            None,
            Event::ActorRegistered(ActorRegistered {
                id: "admin".into(),
                role: Role::Admin,
                team: None,
                display: seg("display", 0),
            })
        )]
    );
    let r = decide_bootstrap(
        &given(cast()).p,
        "admin2",
        &text("display", 0),
        &mut FakeCommit::default(),
    )
    .unwrap_err();
    assert_eq!(
        (r.code, r.rule, r.field.as_str()),
        (Code::FailedPrecondition, "bootstrap.once", "id")
    );
    let r = decide_bootstrap(
        &Projections::new(),
        "ad min",
        &text("display", 0),
        &mut FakeCommit::default(),
    )
    .unwrap_err();
    assert_eq!((r.rule, r.field.as_str()), ("identifier", "id"));
}

// ---- support: opt-in -------------------------------------------------------------------------

#[test]
fn a_person_refers_themselves_with_source_self() {
    given(cast())
        .when(
            "su-sam",
            refer("sp", "su-sam", "pw-amara", ReferralSource::SelfReferral),
            now(),
        )
        .then_emits(&[(
            "support:sp",
            Some("su-sam"),
            Event::SupportReferred(SupportReferred {
                support_id: "sp".into(),
                worker: "pw-amara".into(),
                source: ReferralSource::SelfReferral,
            }),
        )])
        .then_decision(|d| assert_eq!(d.depends, strings(&["actor:pw-amara", "actor:su-sam"])));
}

#[test]
fn a_person_refers_only_themselves_and_only_as_self() {
    given(cast())
        .when(
            "su-sam",
            refer("sp", "su-ola", "pw-amara", ReferralSource::SelfReferral),
            now(),
        )
        .then_refused(Code::PermissionDenied, "own_record", "caller")
        .when(
            "su-sam",
            refer("sp", "su-sam", "pw-amara", ReferralSource::Gp),
            now(),
        )
        .then_refused(Code::InvalidArgument, "support.self_referral", "source");
}

#[test]
fn a_care_team_member_or_peer_worker_refers_a_person() {
    for caller in ["ct-cho", "pw-ben"] {
        given(cast())
            .when(
                caller,
                refer("sp", "su-sam", "pw-amara", ReferralSource::Ward),
                now(),
            )
            .then_events(&[Event::SupportReferred(SupportReferred {
                support_id: "sp".into(),
                worker: "pw-amara".into(),
                source: ReferralSource::Ward,
            })]);
    }
}

#[test]
fn only_people_peer_workers_and_care_team_refer() {
    for caller in ["sg-lee", "au-ida", "admin"] {
        given(cast())
            .when(
                caller,
                refer("sp", "su-sam", "pw-amara", ReferralSource::Gp),
                now(),
            )
            .then_refused(Code::PermissionDenied, "role", "caller");
    }
}

#[test]
fn a_referral_is_of_a_registered_service_user() {
    given(cast())
        .when(
            "ct-cho",
            refer("sp", "pw-ben", "pw-amara", ReferralSource::Gp),
            now(),
        )
        .then_refused(Code::InvalidArgument, "subject.role", "subject")
        .when(
            "ct-cho",
            refer("sp", "su-nobody", "pw-amara", ReferralSource::Gp),
            now(),
        )
        .then_refused(Code::NotFound, "exists", "subject");
}

#[test]
fn the_named_worker_is_an_active_peer_worker() {
    let mut e = cast();
    e.push(ev(
        "actor:pw-ben",
        None,
        "admin",
        Event::ActorDeactivated(ActorDeactivated {
            id: "pw-ben".into(),
            reason: DeactivationReason::LeftOrganisation,
        }),
    ));
    given(e)
        .when(
            "ct-cho",
            refer("sp", "su-sam", "ct-dev", ReferralSource::Gp),
            now(),
        )
        .then_refused(Code::InvalidArgument, "support.worker", "worker")
        .when(
            "ct-cho",
            refer("sp", "su-sam", "pw-ben", ReferralSource::Gp),
            now(),
        )
        .then_refused(Code::FailedPrecondition, "actor.active", "worker")
        .when(
            "ct-cho",
            refer("sp", "su-sam", "pw-nobody", ReferralSource::Gp),
            now(),
        )
        .then_refused(Code::NotFound, "exists", "worker");
}

#[test]
fn a_support_id_is_used_once() {
    given(with_support())
        .when(
            "ct-cho",
            refer("sp", "su-ola", "pw-ben", ReferralSource::Gp),
            now(),
        )
        .then_refused(Code::AlreadyExists, "unique_id", "support_id");
}

#[test]
fn one_open_relationship_per_person_and_worker_and_a_new_one_after_it_ended() {
    given(with_support())
        .when(
            "ct-cho",
            refer("sp2", "su-sam", "pw-amara", ReferralSource::Gp),
            now(),
        )
        .then_refused(Code::FailedPrecondition, "support.one_open", "worker")
        .when(
            "ct-cho",
            refer("sp2", "su-sam", "pw-ben", ReferralSource::Gp),
            now(),
        )
        .then_decision(|d| assert_eq!(d.events.len(), 1))
        .g
        .and(vec![ended("sp", "su-sam", "su-sam")])
        .when(
            "ct-cho",
            refer("sp2", "su-sam", "pw-amara", ReferralSource::Gp),
            now(),
        )
        .then_decision(|d| assert_eq!(d.events[0].stream, "support:sp2"));
}

#[test]
fn only_the_named_worker_offers_and_only_a_referral() {
    let mut e = cast();
    e.push(referred("sp", "su-sam", "pw-amara"));
    given(e)
        .when("su-sam", offer("sp"), now())
        .then_refused(Code::PermissionDenied, "support.worker", "caller")
        .when("pw-amara", offer("sp"), now())
        .then_emits(&[(
            "support:sp",
            Some("su-sam"),
            Event::SupportOffered(SupportOffered {}),
        )])
        .and_apply()
        .when("pw-amara", offer("sp"), now())
        .then_refused(Code::FailedPrecondition, "support.state", "support_id");
}

#[test]
fn the_person_accepts_an_offer_or_the_worker_records_it_on_their_behalf() {
    let mut e = cast();
    e.push(referred("sp", "su-sam", "pw-amara"));
    e.push(offered("sp", "su-sam", "pw-amara"));
    given(e.clone())
        .when("su-sam", accept("sp"), now())
        .then_emits(&[(
            "support:sp",
            Some("su-sam"),
            Event::SupportAccepted(SupportAccepted { on_behalf: false }),
        )]);
    given(e)
        .when("pw-amara", accept("sp"), now())
        .then_events(&[Event::SupportAccepted(SupportAccepted { on_behalf: true })]);
}

#[test]
fn acceptance_is_only_from_offered() {
    let mut e = cast();
    e.push(referred("sp", "su-sam", "pw-amara"));
    given(e).when("su-sam", accept("sp"), now()).then_refused(
        Code::FailedPrecondition,
        "support.state",
        "support_id",
    );
    given(with_support())
        .when("su-sam", accept("sp"), now())
        .then_refused(Code::FailedPrecondition, "support.state", "support_id");
}

#[test]
fn a_person_declines_a_referral_or_an_offer_but_not_an_accepted_relationship() {
    let mut e = cast();
    e.push(referred("sp", "su-sam", "pw-amara"));
    given(e.clone())
        .when("su-sam", decline("sp"), now())
        .then_events(&[Event::SupportDeclined(SupportDeclined { on_behalf: false })]);
    e.push(offered("sp", "su-sam", "pw-amara"));
    given(e)
        .when("pw-amara", decline("sp"), now())
        .then_events(&[Event::SupportDeclined(SupportDeclined { on_behalf: true })]);
    given(with_support())
        .when("su-sam", decline("sp"), now())
        .then_refused(Code::FailedPrecondition, "support.state", "support_id");
}

#[test]
fn either_party_ends_an_accepted_relationship_once() {
    for by in ["su-sam", "pw-amara"] {
        given(with_support())
            .when(by, end("sp"), now())
            .then_emits(&[(
                "support:sp",
                Some("su-sam"),
                Event::SupportEnded(SupportEnded {
                    reason: EndReason::PersonChose,
                }),
            )])
            .and_apply()
            .when(by, end("sp"), now())
            .then_refused(Code::FailedPrecondition, "support.state", "support_id");
    }
}

#[test]
fn nobody_outside_a_relationship_offers_accepts_declines_or_ends_it() {
    for caller in ["pw-ben", "su-ola", "ct-cho", "sg-lee"] {
        for cmd in [offer("sp"), accept("sp"), decline("sp"), end("sp")] {
            given(with_support()).when(caller, cmd, now()).then_refused(
                Code::PermissionDenied,
                "no_basis",
                "support_id",
            );
        }
    }
}

// ---- meetings --------------------------------------------------------------------------------

#[test]
fn the_worker_records_a_meeting_of_an_accepted_relationship() {
    given(with_support())
        .when("pw-amara", record_meeting("m", "sp"), now())
        .then_decision(|d| {
            assert_eq!(d.events[0].stream, "meeting:m");
            assert_eq!(d.events[0].subject.as_deref(), Some("su-sam"));
            assert_eq!(d.depends, strings(&["support:sp"]));
        })
        .and_apply()
        .when("pw-amara", record_meeting("m", "sp"), now())
        .then_refused(Code::AlreadyExists, "unique_id", "meeting_id")
        .when("su-sam", record_meeting("m2", "sp"), now())
        .then_refused(Code::PermissionDenied, "support.worker", "caller")
        .and(vec![ended("sp", "su-sam", "su-sam")])
        .when("pw-amara", record_meeting("m2", "sp"), now())
        .then_refused(Code::FailedPrecondition, "support.accepted", "support_id");
}

#[test]
fn a_group_meeting_has_a_group_id_and_a_one_to_one_none() {
    let group = with_meeting_fields(record_meeting("m", "sp"), |c| {
        if let Command::RecordMeeting { kind, .. } = c {
            *kind = MeetingKind::Group;
        }
    });
    let one = with_meeting_fields(record_meeting("m", "sp"), |c| {
        if let Command::RecordMeeting { group_id, .. } = c {
            *group_id = Some("g".into());
        }
    });
    given(with_support())
        .when("pw-amara", group, now())
        .then_refused(Code::InvalidArgument, "meeting.group", "group_id")
        .when("pw-amara", one, now())
        .then_refused(Code::InvalidArgument, "meeting.group", "group_id");
}

#[test]
fn a_meeting_is_recorded_after_it_happened_for_1_to_1440_minutes() {
    let at = |t: Time, mins: u32| {
        with_meeting_fields(record_meeting("m", "sp"), |c| {
            if let Command::RecordMeeting {
                occurred_at,
                minutes,
                ..
            } = c
            {
                *occurred_at = t;
                *minutes = mins;
            }
        })
    };
    given(with_support())
        .when("pw-amara", at(now().plus(1), 30), now())
        .then_refused(Code::InvalidArgument, "meeting.past", "occurred_at")
        .when("pw-amara", at(now(), 0), now())
        .then_refused(Code::InvalidArgument, "meeting.minutes", "minutes")
        .when("pw-amara", at(now(), 1441), now())
        .then_refused(Code::InvalidArgument, "meeting.minutes", "minutes")
        .when("pw-amara", at(now(), 1440), now())
        .then_decision(|d| assert_eq!(d.events.len(), 1));
}

// ---- notes: co-production --------------------------------------------------------------------

#[test]
fn the_worker_who_met_the_person_drafts_the_note() {
    given(with_meeting())
        .when("pw-amara", draft("n", "m", texts(&[("s1", 1)])), now())
        .then_emits(&[(
            "note:n",
            Some("su-sam"),
            Event::NoteDrafted(NoteDrafted {
                note_id: "n".into(),
                meeting_id: "m".into(),
                segments: segs(&[("s1", 1)]),
            }),
        )])
        .then_decision(|d| assert_eq!(d.depends, strings(&["support:sp", "meeting:m"])))
        .and_apply()
        .when("pw-amara", draft("n", "m", texts(&[("s1", 1)])), now())
        .then_refused(Code::AlreadyExists, "unique_id", "note_id")
        .when("su-sam", draft("n2", "m", texts(&[("s1", 1)])), now())
        .then_refused(Code::PermissionDenied, "note.author", "caller")
        .and(vec![ended("sp", "su-sam", "su-sam")])
        .when("pw-amara", draft("n2", "m", texts(&[("s1", 1)])), now())
        .then_refused(Code::FailedPrecondition, "support.accepted", "meeting_id");
}

#[test]
fn a_note_has_1_to_64_segments_with_unique_ids() {
    let many: Vec<Passage> = (0..65).map(|i| text(&format!("s{i}"), 1)).collect();
    given(with_meeting())
        .when("pw-amara", draft("n", "m", vec![]), now())
        .then_refused(Code::InvalidArgument, "segments", "segments")
        .when("pw-amara", draft("n", "m", many), now())
        .then_refused(Code::ResourceExhausted, "segments", "segments")
        .when(
            "pw-amara",
            draft("n", "m", texts(&[("s1", 1), ("s1", 2)])),
            now(),
        )
        .then_refused(Code::InvalidArgument, "segments", "segments[1].id")
        .when("pw-amara", draft("n", "m", texts(&[("s 1", 1)])), now())
        .then_refused(Code::InvalidArgument, "identifier", "segments[0].id");
}

#[test]
fn either_party_revises_an_open_note_and_a_revision_clears_agreement() {
    given(with_draft())
        .when("su-sam", agree("n", 1), now())
        .then_events(&[Event::NoteAgreed(NoteAgreed { revision: 1 })])
        .and_apply()
        .when(
            "pw-amara",
            revise("n", texts(&[("s1", 1), ("s3", 3)])),
            now(),
        )
        .then_events(&[Event::NoteRevised(NoteRevised {
            segments: segs(&[("s1", 1), ("s3", 3)]),
        })])
        .then_decision(|d| assert_eq!(d.depends, strings(&["support:sp"])))
        .and_apply()
        .when("su-sam", agree("n", 1), now())
        .then_refused(Code::FailedPrecondition, "note.latest_revision", "revision")
        .when("su-sam", revise("n", texts(&[("s1", 4)])), now())
        .then_events(&[Event::NoteRevised(NoteRevised {
            segments: segs(&[("s1", 4)]),
        })]);
}

#[test]
fn an_agreed_or_closed_note_is_not_revised() {
    given(with_agreed())
        .when("su-sam", revise("n", texts(&[("s1", 4)])), now())
        .then_refused(Code::FailedPrecondition, "note.open", "note_id");
    given(with_draft())
        .when("pw-amara", close("n"), now())
        .and_apply()
        .when("su-sam", revise("n", texts(&[("s1", 4)])), now())
        .then_refused(Code::FailedPrecondition, "note.open", "note_id");
}

#[test]
fn a_note_is_agreed_when_both_agree_its_latest_revision_once_with_no_pending_redaction() {
    let g = given(with_draft())
        .when("su-sam", agree("n", 1), now())
        .and_apply()
        .when("su-sam", agree("n", 1), now())
        .then_refused(Code::FailedPrecondition, "note.agreed_once", "revision")
        .when("pw-amara", agree("n", 2), now())
        .then_refused(Code::FailedPrecondition, "note.latest_revision", "revision")
        .when("pw-amara", agree("n", 1), now())
        .then_emits(&[(
            "note:n",
            Some("su-sam"),
            Event::NoteAgreed(NoteAgreed { revision: 1 }),
        )])
        .and_apply();
    assert_eq!(g.p.notes["n"].status, NoteStatus::Agreed);
    assert_eq!(g.p.notes["n"].agreed_revision, Some(1));
    g.when("su-sam", agree("n", 1), now()).then_refused(
        Code::FailedPrecondition,
        "note.open",
        "note_id",
    );
    let mut e = with_draft();
    e.push(proposed("n", "su-sam", "su-sam", "r", &["s2"]));
    given(e)
        .when("pw-amara", agree("n", 1), now())
        .then_refused(
            Code::FailedPrecondition,
            "note.no_pending_redaction",
            "note_id",
        );
}

#[test]
fn an_addendum_is_added_by_either_party_to_an_agreed_note_with_new_ids_and_agreed_again() {
    given(with_draft())
        .when("su-sam", addendum("n", texts(&[("a1", 5)])), now())
        .then_refused(
            Code::FailedPrecondition,
            "note.addendum_after_agreement",
            "note_id",
        );
    let g = given(with_agreed())
        .when("su-sam", addendum("n", texts(&[("s1", 5)])), now())
        .then_refused(Code::AlreadyExists, "segments", "segments[0].id")
        .when("su-sam", addendum("n", vec![]), now())
        .then_refused(Code::InvalidArgument, "segments", "segments")
        .when("pw-amara", addendum("n", texts(&[("a1", 5)])), now())
        .then_emits(&[(
            "note:n",
            Some("su-sam"),
            Event::NoteAddendum(NoteAddendum {
                segments: segs(&[("a1", 5)]),
            }),
        )])
        .and_apply();
    assert_eq!(g.p.notes["n"].revision, 2);
    let g = g
        .when("su-sam", agree("n", 2), now())
        .and_apply()
        .when("pw-amara", agree("n", 2), now())
        .and_apply();
    assert_eq!(g.p.notes["n"].agreed_revision, Some(2));
}

#[test]
fn only_the_author_closes_a_note_and_only_one_never_agreed() {
    given(with_draft())
        .when("su-sam", close("n"), now())
        .then_refused(Code::PermissionDenied, "note.author", "caller")
        .when("pw-amara", close("n"), now())
        .then_events(&[Event::NoteClosed(NoteClosed {
            reason: CloseReason::PersonUnavailable,
        })]);
    given(with_agreed())
        .when("pw-amara", close("n"), now())
        .then_refused(Code::FailedPrecondition, "note.open", "note_id");
}

// ---- redaction (rule 4) ----------------------------------------------------------------------

#[test]
fn either_party_proposes_removing_segments_of_the_current_text() {
    for by in ["su-sam", "pw-amara"] {
        given(with_draft())
            .when(by, propose("n", "r", &["s2"]), now())
            .then_emits(&[(
                "note:n",
                Some("su-sam"),
                Event::RedactionProposed(RedactionProposed {
                    proposal_id: "r".into(),
                    segments: strings(&["s2"]),
                    reason: RedactionReason::Inaccurate,
                }),
            )]);
    }
}

#[test]
fn a_proposal_names_current_segments_once_and_one_pending_proposal_per_segment() {
    let mut e = with_draft();
    e.push(proposed("n", "su-sam", "su-sam", "r", &["s2"]));
    given(e)
        .when("su-sam", propose("n", "r", &["s1"]), now())
        .then_refused(Code::AlreadyExists, "unique_id", "proposal_id")
        .when("su-sam", propose("n", "r2", &[]), now())
        .then_refused(Code::InvalidArgument, "redaction.segments", "segments")
        .when("su-sam", propose("n", "r2", &["s1", "s1"]), now())
        .then_refused(Code::InvalidArgument, "redaction.segments", "segments[1]")
        .when("su-sam", propose("n", "r2", &["s9"]), now())
        .then_refused(Code::NotFound, "exists", "segments[0]")
        .when("pw-amara", propose("n", "r2", &["s2"]), now())
        .then_refused(
            Code::FailedPrecondition,
            "redaction.one_pending",
            "segments[0]",
        )
        .when("pw-amara", agree_redaction("n", "r"), now())
        .and_apply()
        .when("su-sam", propose("n", "r3", &["s2"]), now())
        .then_refused(Code::FailedPrecondition, "redaction.once", "segments[0]");
}

#[test]
fn the_other_party_agrees_and_the_passage_is_erased_in_every_revision() {
    let mut e = with_draft();
    e.push(note_ev(
        "n",
        "su-sam",
        "su-sam",
        Event::NoteRevised(NoteRevised {
            segments: segs(&[("s1", 1), ("s2", 3)]),
        }),
    ));
    e.push(proposed("n", "su-sam", "su-sam", "r", &["s2"]));
    given(e)
        .when("su-sam", agree_redaction("n", "r"), now())
        .then_refused(Code::PermissionDenied, "redaction.other_party", "caller")
        .when("pw-amara", agree_redaction("n", "r"), now())
        .then_events(&[Event::RedactionAgreed(RedactionAgreed {
            proposal_id: "r".into(),
        })])
        .then_decision(|d| assert_eq!(d.erase, vec![[2; 32], [3; 32]]))
        .and_apply()
        .when("pw-amara", agree_redaction("n", "r"), now())
        .then_refused(Code::FailedPrecondition, "redaction.pending", "proposal_id")
        .when("pw-amara", agree_redaction("n", "r-none"), now())
        .then_refused(Code::NotFound, "exists", "proposal_id");
}

#[test]
fn a_removed_segment_cannot_come_back_under_its_id() {
    let mut e = with_draft();
    e.push(proposed("n", "su-sam", "su-sam", "r", &["s2"]));
    given(e)
        .when("pw-amara", agree_redaction("n", "r"), now())
        .and_apply()
        .when(
            "pw-amara",
            revise("n", texts(&[("s1", 1), ("s2", 6)])),
            now(),
        )
        .then_refused(
            Code::FailedPrecondition,
            "redaction.stays_removed",
            "segments[1]",
        );
}

/// A command's text is committed only once every check has passed: a revision refused at its
/// last check (a removed id in its last segment) has committed none of its passages, and an
/// accepted one commits each exactly once.
#[test]
fn a_refused_command_commits_no_text() {
    let mut e = with_draft();
    e.push(proposed("n", "su-sam", "su-sam", "r", &["s2"]));
    let g = given(e)
        .when("pw-amara", agree_redaction("n", "r"), now())
        .and_apply();
    let refused = g.when(
        "pw-amara",
        revise("n", texts(&[("s1", 1), ("s3", 3), ("s2", 6)])),
        now(),
    );
    assert!(refused.out.is_err());
    assert_eq!(refused.commits, 0);
    let accepted = refused.g.when(
        "pw-amara",
        revise("n", texts(&[("s1", 1), ("s3", 3)])),
        now(),
    );
    assert!(accepted.out.is_ok());
    assert_eq!(accepted.commits, 2);
}

#[test]
fn a_worker_declines_a_persons_proposal_only_with_a_reason() {
    let mut e = with_draft();
    e.push(proposed("n", "su-sam", "su-sam", "r", &["s2"]));
    given(e)
        .when("pw-amara", decline_redaction("n", "r", None), now())
        .then_refused(Code::InvalidArgument, "redaction.decline_reason", "reason")
        .when("su-sam", decline_redaction("n", "r", None), now())
        .then_refused(Code::PermissionDenied, "redaction.other_party", "caller")
        .when(
            "pw-amara",
            decline_redaction("n", "r", Some(text("why", 4))),
            now(),
        )
        .then_events(&[Event::RedactionDeclined(RedactionDeclined {
            proposal_id: "r".into(),
            reason: Some(seg("why", 4)),
        })]);
}

#[test]
fn a_person_declines_a_workers_proposal_without_a_reason() {
    let mut e = with_draft();
    e.push(proposed("n", "su-sam", "pw-amara", "r", &["s1"]));
    given(e)
        .when("su-sam", decline_redaction("n", "r", None), now())
        .then_events(&[Event::RedactionDeclined(RedactionDeclined {
            proposal_id: "r".into(),
            reason: None,
        })]);
}

#[test]
fn only_the_proposer_withdraws_a_proposal() {
    let mut e = with_draft();
    e.push(proposed("n", "su-sam", "su-sam", "r", &["s2"]));
    given(e)
        .when("pw-amara", withdraw("n", "r"), now())
        .then_refused(Code::PermissionDenied, "redaction.proposer", "caller")
        .when("su-sam", withdraw("n", "r"), now())
        .then_events(&[Event::RedactionWithdrawn(RedactionWithdrawn {
            proposal_id: "r".into(),
        })])
        .and_apply()
        .when("su-sam", withdraw("n", "r"), now())
        .then_refused(Code::FailedPrecondition, "redaction.pending", "proposal_id");
}

#[test]
fn redaction_stays_possible_after_agreement_and_after_closing() {
    given(with_agreed())
        .when("su-sam", propose("n", "r", &["s1"]), now())
        .then_decision(|d| assert_eq!(d.events.len(), 1));
    given(with_draft())
        .when("pw-amara", close("n"), now())
        .and_apply()
        .when("su-sam", propose("n", "r", &["s1"]), now())
        .then_decision(|d| assert_eq!(d.events.len(), 1));
}

// ---- after the relationship ended ------------------------------------------------------------

/// Sam's draft, a proposal of each party pending (r-p by Sam on s1, r-w by Amara on s2), and
/// then the relationship ended.
fn ended_with_proposals() -> Vec<Ev> {
    let mut e = with_draft();
    e.push(proposed("n", "su-sam", "su-sam", "r-p", &["s1"]));
    e.push(proposed("n", "su-sam", "pw-amara", "r-w", &["s2"]));
    e.push(ended("sp", "su-sam", "su-sam"));
    e
}

#[test]
fn a_worker_whose_relationship_ended_may_no_longer_act_on_the_note() {
    let refused = |e: Vec<Ev>, cmd: Command| {
        given(e).when("pw-amara", cmd, now()).then_refused(
            Code::PermissionDenied,
            "support.accepted",
            "caller",
        );
    };
    let mut draft_ended = with_draft();
    draft_ended.push(ended("sp", "su-sam", "pw-amara"));
    let mut agreed_ended = with_agreed();
    agreed_ended.push(ended("sp", "su-sam", "pw-amara"));
    refused(draft_ended.clone(), revise("n", texts(&[("s1", 4)])));
    refused(draft_ended.clone(), agree("n", 1));
    refused(draft_ended.clone(), close("n"));
    refused(draft_ended, propose("n", "r", &["s1"]));
    refused(agreed_ended, addendum("n", texts(&[("a1", 5)])));
    refused(
        ended_with_proposals(),
        decline_redaction("n", "r-p", Some(text("why", 4))),
    );
    refused(ended_with_proposals(), withdraw("n", "r-w"));
}

#[test]
fn the_person_still_acts_on_the_note_after_the_relationship_ended() {
    let mut draft_ended = with_draft();
    draft_ended.push(ended("sp", "su-sam", "pw-amara"));
    let mut agreed_ended = with_agreed();
    agreed_ended.push(ended("sp", "su-sam", "pw-amara"));
    let ok = |e: Vec<Ev>, cmd: Command| {
        given(e).when("su-sam", cmd, now()).then_decision(|d| {
            assert_eq!(d.events.len(), 1);
            assert!(d.depends.is_empty());
        });
    };
    ok(draft_ended.clone(), revise("n", texts(&[("s1", 4)])));
    ok(draft_ended.clone(), agree("n", 1));
    ok(draft_ended, propose("n", "r", &["s1"]));
    ok(agreed_ended, addendum("n", texts(&[("a1", 5)])));
    ok(ended_with_proposals(), decline_redaction("n", "r-w", None));
    ok(ended_with_proposals(), agree_redaction("n", "r-w"));
    ok(ended_with_proposals(), withdraw("n", "r-p"));
}

#[test]
fn the_author_may_still_agree_a_redaction_the_person_proposed_after_the_relationship_ended() {
    given(ended_with_proposals())
        .when("pw-amara", agree_redaction("n", "r-p"), now())
        .then_events(&[Event::RedactionAgreed(RedactionAgreed {
            proposal_id: "r-p".into(),
        })])
        .then_decision(|d| {
            assert_eq!(d.erase, vec![[1; 32]]);
            assert!(d.depends.is_empty());
        });
}

// ---- no basis: the same answer for unknown and foreign ids -----------------------------------

/// The refusal of `cmd` by `caller` with Ola's record present, and without it.
fn foreign_and_unknown(caller: &str, cmd: Command) -> (Refusal, Refusal) {
    let mut with_ola = with_draft();
    with_ola.extend(olas_record());
    let foreign = given(with_ola).when(caller, cmd.clone(), now()).refusal();
    let unknown = given(with_draft()).when(caller, cmd, now()).refusal();
    (foreign, unknown)
}

#[test]
fn a_foreign_support_id_is_answered_exactly_as_an_unknown_one() {
    for caller in ["pw-amara", "su-sam"] {
        for cmd in [
            offer("sp-o"),
            accept("sp-o"),
            decline("sp-o"),
            end("sp-o"),
            record_meeting("m9", "sp-o"),
        ] {
            let (foreign, unknown) = foreign_and_unknown(caller, cmd);
            assert_eq!(foreign, unknown);
            assert_eq!(
                (foreign.code, foreign.rule, foreign.field.as_str()),
                (Code::PermissionDenied, "no_basis", "support_id")
            );
        }
    }
}

#[test]
fn a_foreign_meeting_id_is_answered_exactly_as_an_unknown_one() {
    for caller in ["pw-amara", "su-sam"] {
        let (foreign, unknown) =
            foreign_and_unknown(caller, draft("n9", "m-o", texts(&[("s1", 1)])));
        assert_eq!(foreign, unknown);
        assert_eq!(
            (foreign.code, foreign.rule, foreign.field.as_str()),
            (Code::PermissionDenied, "no_basis", "meeting_id")
        );
    }
}

#[test]
fn a_foreign_note_id_is_answered_exactly_as_an_unknown_one() {
    for caller in ["pw-amara", "su-sam"] {
        for cmd in [
            revise("n-o", texts(&[("s1", 4)])),
            addendum("n-o", texts(&[("a1", 4)])),
            agree("n-o", 1),
            close("n-o"),
            propose("n-o", "r", &["s1"]),
            agree_redaction("n-o", "r"),
            decline_redaction("n-o", "r", None),
            withdraw("n-o", "r"),
        ] {
            let (foreign, unknown) = foreign_and_unknown(caller, cmd);
            assert_eq!(foreign, unknown);
            assert_eq!(
                (foreign.code, foreign.rule, foreign.field.as_str()),
                (Code::PermissionDenied, "no_basis", "note_id")
            );
        }
    }
}

// ---- consent (rule 6) ------------------------------------------------------------------------

#[test]
fn the_person_grants_consent_or_their_worker_records_it_on_their_behalf() {
    given(with_support())
        .when("su-sam", grant_team("su-sam", "c", "cmht"), now())
        .then_emits(&[(
            "consent:su-sam",
            Some("su-sam"),
            Event::ConsentGranted(team_consent("c", "cmht", None)),
        )]);
    given(with_support())
        .when("pw-amara", grant_team("su-sam", "c", "cmht"), now())
        .then_events(&[Event::ConsentGranted(ConsentGranted {
            on_behalf: true,
            ..team_consent("c", "cmht", None)
        })])
        .then_decision(|d| assert_eq!(d.depends, strings(&["support:sp"])));
}

#[test]
fn nobody_else_grants_a_persons_consent() {
    given(with_support())
        .when("su-ola", grant_team("su-sam", "c", "cmht"), now())
        .then_refused(Code::PermissionDenied, "own_record", "caller")
        .when("pw-ben", grant_team("su-sam", "c", "cmht"), now())
        .then_refused(Code::PermissionDenied, "support.accepted", "caller")
        .when("ct-cho", grant_team("su-sam", "c", "cmht"), now())
        .then_refused(Code::PermissionDenied, "role", "caller");
}

#[test]
fn a_consents_grantee_follows_its_scope_and_its_expiry_is_in_the_future() {
    let person = Some(Grantee::Person(text("gp-name", 3)));
    let team = Some(Grantee::Team("cmht".into()));
    given(cast())
        .when(
            "su-sam",
            grant("su-sam", "c", Scope::ShareWithCareTeam, None),
            now(),
        )
        .then_refused(Code::InvalidArgument, "consent.grantee", "grantee")
        .when(
            "su-sam",
            grant("su-sam", "c", Scope::ShareWithPerson, team.clone()),
            now(),
        )
        .then_refused(Code::InvalidArgument, "consent.grantee", "grantee")
        .when(
            "su-sam",
            grant("su-sam", "c", Scope::ShareWithGp, team),
            now(),
        )
        .then_refused(Code::InvalidArgument, "consent.grantee", "grantee")
        .when(
            "su-sam",
            grant("su-sam", "c", Scope::ShareWithPerson, person),
            now(),
        )
        .then_decision(|d| assert_eq!(d.events.len(), 1))
        .g
        .when(
            "su-sam",
            grant("su-sam", "c", Scope::DiscussInSupervision, None),
            now(),
        )
        .then_decision(|d| assert_eq!(d.events.len(), 1))
        .g
        .when(
            "su-sam",
            Command::GrantConsent {
                subject: "su-sam".into(),
                consent_id: "c".into(),
                scope: Scope::ShareWithGp,
                grantee: None,
                expires_at: Some(now()),
            },
            now(),
        )
        .then_refused(Code::InvalidArgument, "time.future", "expires_at");
}

#[test]
fn a_consent_id_is_used_once_and_revoked_once() {
    let mut e = with_support();
    e.push(consent_granted(
        "su-sam",
        "su-sam",
        team_consent("c", "cmht", None),
    ));
    given(e)
        .when("su-sam", grant_team("su-sam", "c", "cmht"), now())
        .then_refused(Code::AlreadyExists, "unique_id", "consent_id")
        .when("su-sam", revoke("su-sam", "c-none"), now())
        .then_refused(Code::NotFound, "exists", "consent_id")
        .when("pw-amara", revoke("su-sam", "c"), now())
        .then_emits(&[(
            "consent:su-sam",
            Some("su-sam"),
            Event::ConsentRevoked(ConsentRevoked {
                consent_id: "c".into(),
                on_behalf: true,
            }),
        )])
        .g
        .when("su-sam", revoke("su-sam", "c"), now())
        .then_events(&[Event::ConsentRevoked(ConsentRevoked {
            consent_id: "c".into(),
            on_behalf: false,
        })])
        .and_apply()
        .when("su-sam", revoke("su-sam", "c"), now())
        .then_refused(Code::FailedPrecondition, "consent.revoked", "consent_id")
        .when("su-ola", revoke("su-sam", "c"), now())
        .then_refused(Code::PermissionDenied, "own_record", "caller");
}

// ---- safeguarding and withholding (rule 7) ---------------------------------------------------

#[test]
fn a_worker_who_has_or_had_an_accepted_relationship_or_a_lead_raises_a_concern() {
    let mut e = with_support();
    e.push(ended("sp", "su-sam", "su-sam"));
    given(e)
        .when("pw-amara", raise("c", "su-sam"), now())
        .then_emits(&[(
            "concern:c",
            Some("su-sam"),
            Event::SafeguardingRaised(SafeguardingRaised {
                concern_id: "c".into(),
                category: ConcernCategory::SelfHarm,
                urgency: Urgency::Immediate,
                summary: vec![seg("c1", 9)],
            }),
        )])
        .then_decision(|d| assert_eq!(d.depends, strings(&["support:sp"])))
        .g
        .when("sg-lee", raise("c", "su-ola"), now())
        .then_decision(|d| assert!(d.depends.is_empty()))
        .g
        .when("pw-ben", raise("c", "su-sam"), now())
        .then_refused(Code::PermissionDenied, "support.accepted", "caller")
        .when("ct-cho", raise("c", "su-sam"), now())
        .then_refused(Code::PermissionDenied, "role", "caller")
        .when("sg-lee", raise("c", "pw-ben"), now())
        .then_refused(Code::InvalidArgument, "subject.role", "subject");
}

#[test]
fn a_concern_id_is_used_once_and_its_summary_has_segments() {
    let mut e = cast();
    e.push(raised("c", "su-sam", "sg-lee"));
    let empty = Command::RaiseConcern {
        concern_id: "c2".into(),
        subject: "su-sam".into(),
        category: ConcernCategory::Other,
        urgency: Urgency::Routine,
        summary: vec![],
    };
    given(e)
        .when("sg-lee", raise("c", "su-sam"), now())
        .then_refused(Code::AlreadyExists, "unique_id", "concern_id")
        .when("sg-lee", empty, now())
        .then_refused(Code::InvalidArgument, "segments", "summary");
}

#[test]
fn a_lead_acknowledges_once_then_records_the_outcome_and_informs_the_person() {
    let mut e = cast();
    e.push(raised("c", "su-sam", "sg-lee"));
    given(e)
        .when("sg-lee", outcome("c"), now())
        .then_refused(
            Code::FailedPrecondition,
            "concern.acknowledged_first",
            "concern_id",
        )
        .when("pw-amara", acknowledge("c"), now())
        .then_refused(Code::PermissionDenied, "role", "caller")
        .when("sg-lee", acknowledge("c-none"), now())
        .then_refused(Code::NotFound, "exists", "concern_id")
        .when("sg-lee", acknowledge("c"), now())
        .then_emits(&[(
            "concern:c",
            Some("su-sam"),
            Event::SafeguardingAcknowledged(SafeguardingAcknowledged {}),
        )])
        .and_apply()
        .when("sg-lee", acknowledge("c"), now())
        .then_refused(
            Code::FailedPrecondition,
            "concern.acknowledged_once",
            "concern_id",
        )
        .when("sg-lee", outcome("c"), now())
        .then_events(&[Event::SafeguardingOutcome(SafeguardingOutcome {
            outcome: ConcernOutcome::AdviceGiven,
            detail: seg("d", 8),
        })])
        .g
        .when(
            "sg-lee",
            Command::InformSubject {
                concern_id: "c".into(),
                how: InformedHow::Letter,
            },
            now(),
        )
        .then_events(&[Event::SubjectInformed(SubjectInformed {
            how: InformedHow::Letter,
        })])
        .g
        .when(
            "au-ida",
            Command::InformSubject {
                concern_id: "c".into(),
                how: InformedHow::Letter,
            },
            now(),
        )
        .then_refused(Code::PermissionDenied, "role", "caller");
}

#[test]
fn a_lead_withholds_a_note_or_concern_about_the_person_reviewed_within_366_days() {
    let mut e = with_draft();
    e.extend(olas_record());
    e.push(raised("c", "su-sam", "sg-lee"));
    let soon = now().plus(Time::DAY);
    given(e)
        .when("sg-lee", withhold("su-sam", "note:n", soon), now())
        .then_emits(&[(
            "disclosure:su-sam",
            Some("su-sam"),
            Event::DisclosureWithheld(DisclosureWithheld {
                target_stream: "note:n".into(),
                exemption: Exemption::ThirdParty,
                justification: seg("j", 7),
                review_by: soon,
            }),
        )])
        .g
        .when(
            "sg-lee",
            withhold("su-sam", "concern:c", now().plus(366 * Time::DAY)),
            now(),
        )
        .then_decision(|d| assert_eq!(d.events.len(), 1))
        .g
        .when(
            "sg-lee",
            withhold("su-sam", "concern:c", now().plus(366 * Time::DAY + 1)),
            now(),
        )
        .then_refused(Code::InvalidArgument, "disclosure.review", "review_by")
        .when("sg-lee", withhold("su-sam", "note:n", now()), now())
        .then_refused(Code::InvalidArgument, "time.future", "review_by")
        .when("sg-lee", withhold("su-sam", "meeting:m", soon), now())
        .then_refused(Code::InvalidArgument, "disclosure.target", "target_stream")
        .when("sg-lee", withhold("su-sam", "note:n-o", soon), now())
        .then_refused(Code::InvalidArgument, "disclosure.target", "target_stream")
        .when("sg-lee", withhold("su-sam", "note:n-none", soon), now())
        .then_refused(Code::NotFound, "exists", "target_stream")
        .when("pw-amara", withhold("su-sam", "note:n", soon), now())
        .then_refused(Code::PermissionDenied, "role", "caller");
}

#[test]
fn an_item_is_withheld_once_and_released_by_a_lead() {
    let mut e = with_draft();
    e.push(withheld("su-sam", "note:n"));
    given(e)
        .when("sg-lee", withhold("su-sam", "note:n", now().plus(1)), now())
        .then_refused(Code::FailedPrecondition, "disclosure.once", "target_stream")
        .when("pw-amara", release("su-sam", "note:n"), now())
        .then_refused(Code::PermissionDenied, "role", "caller")
        .when("sg-lee", release("su-sam", "note:n"), now())
        .then_emits(&[(
            "disclosure:su-sam",
            Some("su-sam"),
            Event::DisclosureReleased(DisclosureReleased {
                target_stream: "note:n".into(),
            }),
        )])
        .and_apply()
        .when("sg-lee", release("su-sam", "note:n"), now())
        .then_refused(
            Code::FailedPrecondition,
            "disclosure.withheld",
            "target_stream",
        );
}

// ---- subject access --------------------------------------------------------------------------

#[test]
fn the_person_or_their_worker_requests_their_data_and_an_auditor_fulfils_it_once() {
    given(with_support())
        .when("pw-amara", request_sar("sar", "su-sam"), now())
        .then_decision(|d| assert_eq!(d.depends, strings(&["support:sp"])))
        .g
        .when("su-ola", request_sar("sar", "su-sam"), now())
        .then_refused(Code::PermissionDenied, "own_record", "caller")
        .when("su-sam", request_sar("sar", "su-sam"), now())
        .then_emits(&[(
            "sar:sar",
            Some("su-sam"),
            Event::SarRequested(SarRequested {
                sar_id: "sar".into(),
                via: SarVia::Letter,
            }),
        )])
        .and_apply()
        .when("su-sam", request_sar("sar", "su-sam"), now())
        .then_refused(Code::AlreadyExists, "unique_id", "sar_id")
        .when("admin", fulfil_sar("sar"), now())
        .then_refused(Code::PermissionDenied, "role", "caller")
        .when("au-ida", fulfil_sar("sar-none"), now())
        .then_refused(Code::NotFound, "exists", "sar_id")
        .when("au-ida", fulfil_sar("sar"), now())
        .then_events(&[Event::SarFulfilled(SarFulfilled {
            sar_id: "sar".into(),
            bundle_hash: HexHash([5; 32]),
            tree_size: 42,
            withheld: 1,
        })])
        .then_decision(|d| assert_eq!(d.depends, strings(&["disclosure:su-sam"])))
        .and_apply()
        .when("au-ida", fulfil_sar("sar"), now())
        .then_refused(Code::FailedPrecondition, "sar.once", "sar_id");
}

// ---- reads (src/domain/access.rs) ------------------------------------------------------------

#[test]
fn the_person_reads_their_own_record_unlogged() {
    assert_eq!(
        given(cast()).read("su-sam", "su-sam", now()),
        ReadDecision::Own
    );
}

#[test]
fn a_peer_worker_reads_on_an_accepted_relationship_only() {
    let g = given(with_support());
    assert_eq!(
        g.read("pw-amara", "su-sam", now()),
        ReadDecision::Allowed {
            basis: "support:sp".into(),
            scope: access::Scope::Support {
                worker: "pw-amara".into(),
                support_ids: ["sp".to_string()].into_iter().collect(),
            },
            depends: strings(&["support:sp"]),
            deadline: None,
        }
    );
    assert_eq!(
        g.read("pw-ben", "su-sam", now()),
        ReadDecision::Denied {
            reason: DenialReason::NoSupportRelationship,
            depends: strings(&["support:sp"]),
        }
    );
    let g = g.and(vec![ended("sp", "su-sam", "su-sam")]);
    assert_eq!(
        g.read("pw-amara", "su-sam", now()),
        ReadDecision::Denied {
            reason: DenialReason::NoSupportRelationship,
            depends: strings(&["support:sp"]),
        }
    );
}

#[test]
fn a_care_team_member_reads_under_a_consent_naming_their_team_in_force_at_the_read() {
    let expires = now().plus(Time::HOUR);
    let mut e = cast();
    e.push(consent_granted(
        "su-sam",
        "su-sam",
        team_consent("c", "cmht", Some(expires)),
    ));
    let g = given(e);
    assert_eq!(
        g.read("ct-cho", "su-sam", now()),
        ReadDecision::Allowed {
            basis: "consent:c".into(),
            scope: access::Scope::CareTeam,
            depends: strings(&["consent:su-sam"]),
            deadline: Some(expires),
        }
    );
    let no_consent = ReadDecision::Denied {
        reason: DenialReason::NoConsent,
        depends: strings(&["consent:su-sam"]),
    };
    assert_eq!(g.read("ct-cho", "su-sam", expires), no_consent, "expired");
    assert_eq!(
        g.read("ct-dev", "su-sam", now()),
        no_consent,
        "another team"
    );
    let g = g.and(vec![consent_revoked("su-sam", "su-sam", "c")]);
    assert_eq!(g.read("ct-cho", "su-sam", now()), no_consent, "revoked");
}

#[test]
fn a_safeguarding_lead_reads_on_the_persons_latest_concern_only() {
    let mut e = cast();
    e.push(raised("c1", "su-sam", "sg-lee"));
    e.push(raised("c2", "su-sam", "sg-lee"));
    let g = given(e);
    assert_eq!(
        g.read("sg-lee", "su-sam", now()),
        ReadDecision::Allowed {
            basis: "concern:c2".into(),
            scope: access::Scope::Safeguarding,
            depends: strings(&["concern:c2"]),
            deadline: None,
        }
    );
    assert_eq!(
        g.read("sg-lee", "su-ola", now()),
        ReadDecision::Denied {
            reason: DenialReason::OutOfScope,
            depends: vec![],
        }
    );
}

#[test]
fn auditors_and_admins_never_read_content_and_another_person_has_no_basis() {
    let g = given(with_support());
    for (reader, reason) in [
        ("au-ida", DenialReason::MetadataOnlyRole),
        ("admin", DenialReason::MetadataOnlyRole),
        ("su-ola", DenialReason::NoBasis),
    ] {
        assert_eq!(
            g.read(reader, "su-sam", now()),
            ReadDecision::Denied {
                reason,
                depends: vec![],
            },
            "{reader}"
        );
    }
}

#[test]
fn a_read_about_an_unknown_person_is_refused_for_every_role() {
    let g = given(with_support());
    for (reader, reason, depends) in [
        ("su-sam", DenialReason::NoBasis, vec![]),
        ("pw-amara", DenialReason::NoSupportRelationship, vec![]),
        (
            "ct-cho",
            DenialReason::NoConsent,
            strings(&["consent:su-nobody"]),
        ),
        ("sg-lee", DenialReason::OutOfScope, vec![]),
        ("au-ida", DenialReason::MetadataOnlyRole, vec![]),
        ("admin", DenialReason::MetadataOnlyRole, vec![]),
    ] {
        assert_eq!(
            g.read(reader, "su-nobody", now()),
            ReadDecision::Denied { reason, depends },
            "{reader}"
        );
    }
}

const EVERYONE: [&str; 6] = ["su-sam", "pw-amara", "ct-cho", "sg-lee", "au-ida", "admin"];

#[test]
fn audit_side_reads_are_reserved_to_auditors_and_some_to_admins() {
    let g = given(cast());
    for (what, allowed) in [
        (AuditRead::RecordMetadata, &["au-ida"][..]),
        (AuditRead::ComplianceFlags, &["au-ida"][..]),
        (AuditRead::FulfilSar, &["au-ida"][..]),
        (AuditRead::ListEntries, &["au-ida", "admin"][..]),
        (AuditRead::Verify, &["au-ida", "admin"][..]),
        (AuditRead::Subscribe, &["au-ida", "admin"][..]),
        (AuditRead::ListActors, &["au-ida", "admin"][..]),
    ] {
        for reader in EVERYONE {
            match decide_audit(&g.actor(reader), what) {
                Ok(()) => assert!(allowed.contains(&reader), "{what:?} {reader}"),
                Err(r) => {
                    assert!(!allowed.contains(&reader), "{what:?} {reader}");
                    assert_eq!(
                        (r.code, r.rule, r.field.as_str()),
                        (Code::PermissionDenied, "role", "caller")
                    );
                    assert!(!r.message.is_empty());
                }
            }
        }
    }
}

#[test]
fn the_access_log_is_the_persons_and_the_auditors() {
    let g = given(cast());
    let expected = [
        ("su-sam", Ok(())),
        ("au-ida", Ok(())),
        ("admin", Err(DenialReason::MetadataOnlyRole)),
        ("su-ola", Err(DenialReason::NoBasis)),
        ("pw-amara", Err(DenialReason::NoBasis)),
        ("ct-cho", Err(DenialReason::NoBasis)),
        ("sg-lee", Err(DenialReason::NoBasis)),
    ];
    for (reader, want) in expected {
        assert_eq!(
            decide_access_log(&g.actor(reader), "su-sam"),
            want,
            "{reader}"
        );
    }
    assert_eq!(
        decide_access_log(&g.actor("pw-amara"), "su-nobody"),
        Err(DenialReason::NoBasis)
    );
}

#[test]
fn a_subject_access_requests_status_is_for_the_person_their_worker_and_auditors_and_its_bundle_for_the_person(
) {
    let mut e = with_support();
    e.push(sar_requested("sar", "su-sam"));
    let g = given(e);
    let sar = g.p.sars["sar"].clone();
    let expected = [
        ("su-sam", Ok(()), Ok(())),
        ("pw-amara", Ok(()), Err(DenialReason::NoBasis)),
        (
            "pw-ben",
            Err(DenialReason::NoSupportRelationship),
            Err(DenialReason::NoBasis),
        ),
        ("au-ida", Ok(()), Err(DenialReason::MetadataOnlyRole)),
        (
            "admin",
            Err(DenialReason::MetadataOnlyRole),
            Err(DenialReason::MetadataOnlyRole),
        ),
        (
            "su-ola",
            Err(DenialReason::NoBasis),
            Err(DenialReason::NoBasis),
        ),
        (
            "ct-cho",
            Err(DenialReason::NoBasis),
            Err(DenialReason::NoBasis),
        ),
        (
            "sg-lee",
            Err(DenialReason::NoBasis),
            Err(DenialReason::NoBasis),
        ),
    ];
    for (reader, status, bundle) in expected {
        let a = g.actor(reader);
        assert_eq!(
            decide_sar_read(&g.p, &a, &sar, SarRead::Status),
            status,
            "{reader}"
        );
        assert_eq!(
            decide_sar_read(&g.p, &a, &sar, SarRead::Bundle),
            bundle,
            "{reader}"
        );
    }
    let g = g.and(vec![ended("sp", "su-sam", "su-sam")]);
    assert_eq!(
        decide_sar_read(&g.p, &g.actor("pw-amara"), &sar, SarRead::Status),
        Err(DenialReason::NoSupportRelationship)
    );
}

// ---- discussions: "we won't discuss you" without you or your permission ----------------------

fn discuss(
    id: &str,
    subject: &str,
    setting: DiscussionSetting,
    with: DiscussedWith,
    held_at: Time,
    basis: DiscussionBasis,
) -> Command {
    Command::RecordDiscussion {
        discussion_id: id.into(),
        subject: subject.into(),
        setting,
        with,
        held_at,
        basis,
        summary: vec![text("ds1", 20)],
    }
}

fn team(t: &str) -> DiscussedWith {
    DiscussedWith::Team(t.into())
}

fn by_consent(id: &str) -> DiscussionBasis {
    DiscussionBasis::Consent(id.into())
}

/// Sam's support with Amara, and his consent `c-mdt` for the `cmht` team (the 13th entry,
/// granted at T0+12s).
fn with_mdt_consent() -> Vec<Ev> {
    let mut e = with_support();
    e.push(consent_granted(
        "su-sam",
        "su-sam",
        team_consent("c-mdt", "cmht", None),
    ));
    e
}

#[test]
fn a_discussion_is_recorded_only_on_a_basis_that_held_when_it_took_place() {
    let held = now().plus(0).0 - Time::HOUR;
    let held = Time(held);
    let mdt = |id: &str, t: &str, at: Time, basis| {
        discuss(id, "su-sam", DiscussionSetting::Mdt, team(t), at, basis)
    };
    given(with_mdt_consent())
        .when(
            "ct-cho",
            mdt("d1", "cmht", held, by_consent("c-mdt")),
            now(),
        )
        .then_emits(&[(
            "discussion:d1",
            Some("su-sam"),
            Event::DiscussionRecorded(DiscussionRecorded {
                discussion_id: "d1".into(),
                setting: DiscussionSetting::Mdt,
                with: team("cmht"),
                held_at: held,
                basis: "consent:c-mdt".into(),
                summary: segs(&[("ds1", 20)]),
            }),
        )])
        .then_decision(|d| assert_eq!(d.depends, vec!["consent:su-sam".to_string()]))
        .g
        // The consent names cmht, not crisis.
        .when(
            "ct-dev",
            mdt("d1", "crisis", held, by_consent("c-mdt")),
            now(),
        )
        .then_refused(Code::PermissionDenied, "discussion.basis", "basis")
        // A care team member records their own team's discussions.
        .when(
            "ct-cho",
            mdt("d1", "crisis", held, by_consent("c-mdt")),
            now(),
        )
        .then_refused(Code::PermissionDenied, "discussion.own_team", "caller")
        // Before the consent was given there was no basis: consent is not retroactive.
        .when("ct-cho", mdt("d1", "cmht", T0, by_consent("c-mdt")), now())
        .then_refused(Code::PermissionDenied, "discussion.basis", "basis")
        .when(
            "ct-cho",
            mdt("d1", "cmht", now().plus(1), by_consent("c-mdt")),
            now(),
        )
        .then_refused(Code::InvalidArgument, "discussion.past", "held_at")
        // With the person there, no consent is needed.
        .when(
            "ct-dev",
            mdt("d2", "crisis", held, DiscussionBasis::Present),
            now(),
        )
        .then_decision(|d| assert_eq!(d.events.len(), 1))
        .g
        .when(
            "au-ida",
            mdt("d1", "cmht", held, DiscussionBasis::Present),
            now(),
        )
        .then_refused(Code::PermissionDenied, "role", "caller")
        .when(
            "su-sam",
            mdt("d1", "cmht", held, DiscussionBasis::Present),
            now(),
        )
        .then_refused(Code::PermissionDenied, "role", "caller");
}

#[test]
fn a_refused_discussion_says_nothing_about_whether_the_person_or_their_consent_exists() {
    let held = T0.plus(Time::HOUR);
    let g = given(with_mdt_consent());
    let refusal = |g: Given, subject: &str, basis| {
        let r = g
            .when(
                "ct-cho",
                discuss(
                    "d1",
                    subject,
                    DiscussionSetting::Mdt,
                    team("cmht"),
                    held,
                    basis,
                ),
                now(),
            )
            .refusal();
        (
            r.code,
            r.rule,
            r.field,
            r.message.replace(subject, "<subject>"),
        )
    };
    let g2 = given(with_mdt_consent());
    let g3 = given(with_mdt_consent());
    let unknown_person = refusal(g, "su-nobody", DiscussionBasis::Present);
    let no_consent = refusal(g2, "su-ola", by_consent("c-mdt"));
    let unknown_concern = refusal(g3, "su-ola", DiscussionBasis::Concern("k-none".into()));
    assert_eq!(unknown_person, no_consent);
    assert_eq!(no_consent, unknown_concern);
    assert_eq!(unknown_person.1, "discussion.basis");
}

#[test]
fn supervision_rests_on_discuss_in_supervision_and_a_worker_discusses_only_people_they_support() {
    let held = now().plus(0);
    let held = Time(held.0 - Time::MINUTE);
    let sup = |basis| {
        discuss(
            "d-sup",
            "su-sam",
            DiscussionSetting::Supervision,
            DiscussedWith::Role(Role::PeerWorker),
            held,
            basis,
        )
    };
    let mut e = with_mdt_consent();
    e.push(consent_granted(
        "su-sam",
        "su-sam",
        ConsentGranted {
            consent_id: "c-sup".into(),
            scope: Scope::DiscussInSupervision,
            grantee: None,
            expires_at: None,
            on_behalf: false,
        },
    ));
    given(e)
        // A care-team consent does not cover supervision.
        .when("pw-amara", sup(by_consent("c-mdt")), now())
        .then_refused(Code::PermissionDenied, "discussion.basis", "basis")
        .when("pw-ben", sup(by_consent("c-sup")), now())
        .then_refused(Code::PermissionDenied, "support.accepted", "caller")
        .when("pw-amara", sup(by_consent("c-sup")), now())
        .then_decision(|d| {
            assert_eq!(
                d.depends,
                vec!["support:sp".to_string(), "consent:su-sam".to_string()]
            )
        })
        .g
        .when(
            "pw-amara",
            discuss(
                "d-x",
                "su-sam",
                DiscussionSetting::Mdt,
                DiscussedWith::Role(Role::ServiceUser),
                held,
                DiscussionBasis::Present,
            ),
            now(),
        )
        .then_refused(Code::InvalidArgument, "discussion.with", "with.role");
}

#[test]
fn an_open_safeguarding_concern_is_a_basis_until_its_outcome() {
    let mut e = cast();
    e.push(raised("k", "su-sam", "sg-lee"));
    let raised_at = T0.plus(9 * 1_000);
    let with_lead = |at: Time| {
        discuss(
            "d-k",
            "su-sam",
            DiscussionSetting::Mdt,
            team("cmht"),
            at,
            DiscussionBasis::Concern("k".into()),
        )
    };
    let g = given(e)
        .when("sg-lee", with_lead(raised_at.plus(1)), now())
        .then_decision(|d| assert_eq!(d.depends, vec!["concern:k".to_string()]))
        .g
        .when("sg-lee", with_lead(Time(raised_at.0 - 1)), now())
        .then_refused(Code::PermissionDenied, "discussion.basis", "basis")
        .when("sg-lee", acknowledge("k"), now())
        .and_apply()
        .when("sg-lee", outcome("k"), now())
        .and_apply();
    // The outcome was recorded a moment after `now()`.
    g.when("sg-lee", with_lead(now().plus(5)), now().plus(10))
        .then_refused(Code::PermissionDenied, "discussion.basis", "basis");
}

#[test]
fn a_discussion_recorded_after_its_basis_lapsed_is_accepted_and_flagged_late() {
    let held = T0.plus(20 * 1_000);
    let g = given(with_mdt_consent())
        .and(vec![consent_revoked("su-sam", "su-sam", "c-mdt")])
        .when(
            "ct-cho",
            discuss(
                "d1",
                "su-sam",
                DiscussionSetting::WardRound,
                team("cmht"),
                held,
                by_consent("c-mdt"),
            ),
            now(),
        )
        .then_refused(Code::PermissionDenied, "discussion.basis", "basis");
    // Held while the consent stood (granted at T0+12s, revoked at T0+13s).
    let held = T0.plus(12_500);
    let g = g
        .when(
            "ct-cho",
            discuss(
                "d1",
                "su-sam",
                DiscussionSetting::WardRound,
                team("cmht"),
                held,
                by_consent("c-mdt"),
            ),
            now(),
        )
        .and_apply();
    let flags = withus::domain::view::compliance_flags(&g.p, now());
    let late: Vec<_> = flags
        .iter()
        .filter(|f| f.kind == withus::domain::view::FlagKind::DiscussionRecordedLate)
        .collect();
    assert_eq!(late.len(), 1, "{flags:?}");
    assert_eq!(late[0].item, "discussion:d1");
    assert_eq!(late[0].done_at, Some(now()));
    assert_eq!(late[0].due_at, T0.plus(13_000));
}

#[test]
fn the_person_sees_every_discussion_a_worker_those_they_recorded_and_withholding_hides_one() {
    use withus::domain::access::Scope as ReadScope;
    let held = T0.plus(Time::HOUR);
    let g = given(with_mdt_consent())
        .when(
            "ct-cho",
            discuss(
                "d1",
                "su-sam",
                DiscussionSetting::Mdt,
                team("cmht"),
                held,
                by_consent("c-mdt"),
            ),
            now(),
        )
        .and_apply()
        .when(
            "pw-amara",
            discuss(
                "d2",
                "su-sam",
                DiscussionSetting::Handover,
                team("peer"),
                held,
                DiscussionBasis::Present,
            ),
            now(),
        )
        .and_apply();
    let ids = |scope: Option<&ReadScope>, g: &Given| -> Vec<String> {
        withus::domain::view::record(&g.p, "su-sam", scope)
            .discussions
            .iter()
            .map(|d| d.discussion_id.clone())
            .collect()
    };
    assert_eq!(ids(Some(&ReadScope::Own), &g), ["d1", "d2"]);
    assert_eq!(ids(None, &g), ["d1", "d2"]);
    let amara = ReadScope::Support {
        worker: "pw-amara".into(),
        support_ids: ["sp".to_string()].into(),
    };
    assert_eq!(ids(Some(&amara), &g), ["d2"]);
    assert!(ids(Some(&ReadScope::CareTeam), &g).is_empty());
    let view = withus::domain::view::record(&g.p, "su-sam", Some(&ReadScope::Own));
    assert!(view.streams().contains(&"discussion:d1".to_string()));
    let g = g
        .when(
            "sg-lee",
            withhold("su-sam", "discussion:d1", now().plus(Time::DAY)),
            now(),
        )
        .and_apply();
    assert_eq!(ids(Some(&ReadScope::Own), &g), ["d2"]);
}

// ---- the person's statements (UK GDPR Art. 16) -----------------------------------------------

fn statement(id: &str, target: &str) -> Command {
    Command::AddStatement {
        statement_id: id.into(),
        target_stream: target.into(),
        segments: vec![text("st1", 30)],
    }
}

#[test]
fn only_the_person_adds_a_statement_to_an_item_of_their_own_record_they_can_see() {
    let mut e = with_agreed();
    e.extend(olas_record());
    e.push(raised("k", "su-sam", "sg-lee"));
    e.push(withheld("su-sam", "concern:k"));
    given(e)
        .when("su-sam", statement("st-1", "note:n"), now())
        .then_emits(&[(
            "statement:st-1",
            Some("su-sam"),
            Event::StatementAdded(StatementAdded {
                statement_id: "st-1".into(),
                target_stream: "note:n".into(),
                segments: segs(&[("st1", 30)]),
            }),
        )])
        .then_decision(|d| assert_eq!(d.depends, vec!["note:n".to_string()]))
        .and_apply()
        .when("su-sam", statement("st-1", "meeting:m"), now())
        .then_refused(Code::AlreadyExists, "unique_id", "statement_id")
        .when("su-sam", statement("st-2", "meeting:m"), now())
        .then_decision(|d| assert_eq!(d.events.len(), 1))
        .g
        .when("su-sam", statement("st-2", "support:sp"), now())
        .then_decision(|d| assert_eq!(d.events.len(), 1))
        .g
        // Staff cannot write the person's statement, not even their worker.
        .when("pw-amara", statement("st-2", "note:n"), now())
        .then_refused(Code::PermissionDenied, "statement.own", "caller")
        .when("sg-lee", statement("st-2", "note:n"), now())
        .then_refused(Code::PermissionDenied, "statement.own", "caller")
        // Another person's note, a withheld concern and a note that does not exist: one answer.
        .when("su-sam", statement("st-2", "note:n-o"), now())
        .then_refused(Code::NotFound, "exists", "target_stream")
        .when("su-sam", statement("st-2", "concern:k"), now())
        .then_refused(Code::NotFound, "exists", "target_stream")
        .when("su-sam", statement("st-2", "note:nope"), now())
        .then_refused(Code::NotFound, "exists", "target_stream")
        .when("su-sam", statement("st-2", "consent:su-sam"), now())
        .then_refused(Code::NotFound, "exists", "target_stream")
        .when("su-sam", statement("st-2", "not a stream"), now())
        .then_refused(Code::InvalidArgument, "statement.target", "target_stream")
        .when(
            "su-sam",
            Command::AddStatement {
                statement_id: "st-2".into(),
                target_stream: "note:n".into(),
                segments: vec![],
            },
            now(),
        )
        .then_refused(Code::InvalidArgument, "segments", "segments");
}

#[test]
fn whoever_is_shown_an_item_is_shown_the_persons_statement_with_it_and_nobody_else() {
    use withus::domain::access::Scope as ReadScope;
    let mut e = with_agreed();
    e.push(raised("k", "su-sam", "sg-lee"));
    let g = given(e)
        .when("su-sam", statement("st-n", "note:n"), now())
        .and_apply()
        .when("su-sam", statement("st-k", "concern:k"), now())
        .and_apply();
    let shown = |scope: &ReadScope, g: &Given| -> Vec<String> {
        withus::domain::view::record(&g.p, "su-sam", Some(scope))
            .statements
            .iter()
            .map(|s| s.statement_id.clone())
            .collect()
    };
    assert_eq!(shown(&ReadScope::Own, &g), ["st-k", "st-n"]);
    // The care team sees the agreed note, so its statement; not the concern, nor its statement.
    assert_eq!(shown(&ReadScope::CareTeam, &g), ["st-n"]);
    assert_eq!(shown(&ReadScope::Safeguarding, &g), ["st-k"]);
    let care = withus::domain::view::record(&g.p, "su-sam", Some(&ReadScope::CareTeam));
    assert!(care.streams().contains(&"statement:st-n".to_string()));
    assert!(!care.streams().contains(&"statement:st-k".to_string()));
    // Withheld from the person, the concern takes its statement with it.
    let g = g
        .when(
            "sg-lee",
            withhold("su-sam", "concern:k", now().plus(Time::DAY)),
            now(),
        )
        .and_apply();
    assert_eq!(shown(&ReadScope::Own, &g), ["st-n"]);
}

// ---- notes after agreement, and the person told about a concern -------------------------------

#[test]
fn a_care_team_sees_the_agreed_revision_while_an_addendum_awaits_agreement_and_late_addenda_are_flagged(
) {
    use withus::domain::access::Scope as ReadScope;
    use withus::domain::view::{compliance_flags, record, FlagKind};
    let g = given(with_agreed())
        .when("pw-amara", addendum("n", texts(&[("a1", 5)])), now())
        .and_apply();
    let care = record(&g.p, "su-sam", Some(&ReadScope::CareTeam));
    assert_eq!(care.notes.len(), 1, "the agreed note stays visible");
    let n = &care.notes[0];
    assert_eq!((n.revision, n.status), (1, NoteStatus::Agreed));
    let ids: Vec<&str> = n.passages.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        ["s1", "s2"],
        "the addendum awaiting agreement is not shown"
    );
    // The person and the worker see the addendum.
    let own = record(&g.p, "su-sam", Some(&ReadScope::Own));
    assert_eq!(own.notes[0].passages.len(), 3);
    let late = |g: &Given, at: Time| {
        compliance_flags(&g.p, at)
            .into_iter()
            .filter(|f| f.kind == FlagKind::AddendumNotAgreed)
            .collect::<Vec<_>>()
    };
    assert!(late(&g, now().plus(13 * Time::DAY)).is_empty());
    let flags = late(&g, now().plus(14 * Time::DAY));
    assert_eq!(flags.len(), 1);
    assert_eq!(
        (flags[0].item.as_str(), flags[0].done_at),
        ("note:n#2", None)
    );
    let agreed_at = now().plus(20 * Time::DAY);
    let g = g
        .when("su-sam", agree("n", 2), agreed_at)
        .and_apply()
        .when("pw-amara", agree("n", 2), agreed_at)
        .and_apply();
    let flags = late(&g, agreed_at);
    // Agreed (by the second party, a moment later) past due: it stays on the record.
    assert!(
        flags[0].done_at.is_some_and(|t| t >= agreed_at),
        "{flags:?}"
    );
    let care = record(&g.p, "su-sam", Some(&ReadScope::CareTeam));
    assert_eq!(care.notes[0].passages.len(), 3);
}

#[test]
fn the_person_is_recorded_as_told_about_a_concern_only_after_a_lead_took_it_on_and_once() {
    let mut e = cast();
    e.push(raised("k", "su-sam", "sg-lee"));
    let inform = || Command::InformSubject {
        concern_id: "k".into(),
        how: InformedHow::InPerson,
    };
    given(e)
        .when("sg-lee", inform(), now())
        .then_refused(
            Code::FailedPrecondition,
            "concern.acknowledged",
            "concern_id",
        )
        .when("sg-lee", acknowledge("k"), now())
        .and_apply()
        .when("sg-lee", inform(), now())
        .and_apply()
        .when("sg-lee", inform(), now())
        .then_refused(
            Code::FailedPrecondition,
            "concern.informed_once",
            "concern_id",
        );
}

// ---- meetings as they happen, groups, recovery goals (issue 14, items 3 and 4) -------------

fn plan(m: &str, sp: &str, planned_for: Time) -> Command {
    Command::PlanMeeting {
        meeting_id: m.into(),
        support_id: sp.into(),
        mode: MeetingMode::InPerson,
        place: Place::Clinic,
        place_detail: Some(text("place", 5)),
        planned_for,
        minutes: 60,
    }
}

fn propose_place(m: &str, on_behalf: bool) -> Command {
    Command::ProposePlace {
        meeting_id: m.into(),
        place: Place::Community,
        place_detail: Some(text("place", 6)),
        on_behalf,
    }
}

fn agree_place(m: &str, on_behalf: bool) -> Command {
    Command::AgreePlace {
        meeting_id: m.into(),
        on_behalf,
    }
}

fn hold(m: &str, goals: &[&str], activities: Vec<Activity<Passage>>) -> Command {
    Command::HoldMeeting {
        meeting_id: m.into(),
        occurred_at: now(),
        minutes: 50,
        goals: strings(goals),
        activities,
    }
}

fn set_goal(g: &str, sp: &str, co_produced: bool) -> Command {
    Command::SetGoal {
        goal_id: g.into(),
        support_id: sp.into(),
        words: texts(&[("w1", 40)]),
        co_produced,
    }
}

fn goal_set(g: &str, sp: &str, subject: &str) -> Ev {
    ev(
        &format!("goal:{g}"),
        Some(subject),
        subject,
        Event::GoalSet(GoalSet {
            goal_id: g.into(),
            support_id: sp.into(),
            words: segs(&[("w1", 40)]),
            co_produced: false,
            on_behalf: false,
        }),
    )
}

fn goal_closed(g: &str, subject: &str) -> Ev {
    ev(
        &format!("goal:{g}"),
        Some(subject),
        subject,
        Event::GoalClosed(GoalClosed {
            outcome: GoalOutcome::Achieved,
            words: vec![],
            on_behalf: false,
        }),
    )
}

fn accompanied(detail: u8) -> Activity<Passage> {
    Activity {
        kind: ActivityKind::Accompanying,
        detail: Some(text("activity-1", detail)),
    }
}

fn signposted(detail: Option<u8>) -> Activity<Passage> {
    Activity {
        kind: ActivityKind::Signposting,
        detail: detail.map(|n| text("activity-2", n)),
    }
}

fn with_planned() -> Given {
    given(with_support())
        .when("pw-amara", plan("pm", "sp", now().plus(Time::DAY)), now())
        .and_apply()
}

#[test]
fn only_the_worker_plans_a_meeting_ahead_of_time_in_an_accepted_relationship() {
    given(with_support())
        .when("pw-amara", plan("pm", "sp", now().plus(Time::HOUR)), now())
        .then_emits(&[(
            "meeting:pm",
            Some("su-sam"),
            Event::MeetingPlanned(MeetingPlanned {
                meeting_id: "pm".into(),
                support_id: "sp".into(),
                worker: "pw-amara".into(),
                mode: MeetingMode::InPerson,
                place: Place::Clinic,
                place_detail: Some(seg("place", 5)),
                planned_for: now().plus(Time::HOUR),
                minutes: 60,
            }),
        )])
        .then_decision(|d| assert_eq!(d.depends, strings(&["support:sp"])))
        .and_not_apply()
        .when("su-sam", plan("pm", "sp", now().plus(Time::HOUR)), now())
        .then_refused(Code::PermissionDenied, "support.worker", "caller")
        .when("pw-ben", plan("pm", "sp", now().plus(Time::HOUR)), now())
        .then_refused(Code::PermissionDenied, "no_basis", "support_id")
        .when("pw-amara", plan("pm", "sp", now()), now())
        .then_refused(Code::InvalidArgument, "time.future", "planned_for")
        .and(vec![ended("sp", "su-sam", "su-sam")])
        .when("pw-amara", plan("pm", "sp", now().plus(Time::HOUR)), now())
        .then_refused(Code::FailedPrecondition, "support.accepted", "support_id");
}

#[test]
fn a_planned_meetings_place_is_agreed_by_the_party_who_did_not_propose_it() {
    let g = with_planned()
        // The worker proposed the clinic: the worker cannot agree it, the person can.
        .when("pw-amara", agree_place("pm", false), now())
        .then_refused(
            Code::FailedPrecondition,
            "meeting.place_other_party",
            "meeting_id",
        )
        .when("su-sam", agree_place("pm", true), now())
        .then_refused(Code::InvalidArgument, "on_behalf", "on_behalf")
        .when("su-sam", agree_place("pm", false), now())
        .and_apply();
    assert!(g.p.meetings["pm"].place_agreed);
    let g = g
        .when("su-sam", agree_place("pm", false), now())
        .then_refused(
            Code::FailedPrecondition,
            "meeting.place_agreed",
            "meeting_id",
        )
        // The person changes it: now the worker must agree, and the person cannot.
        .when("su-sam", propose_place("pm", false), now())
        .and_apply();
    let m = &g.p.meetings["pm"];
    assert_eq!(
        (m.place, m.place_proposed_by, m.place_agreed),
        (Place::Community, Party::Person, false)
    );
    let g = g
        .when("su-sam", agree_place("pm", false), now())
        .then_refused(
            Code::FailedPrecondition,
            "meeting.place_other_party",
            "meeting_id",
        )
        .when("pw-ben", agree_place("pm", false), now())
        .then_refused(Code::PermissionDenied, "no_basis", "meeting_id")
        .when("pw-amara", agree_place("pm", false), now())
        .and_apply();
    assert!(g.p.meetings["pm"].place_agreed);
    // The worker records a change the person asked for in person: the person's proposal.
    let g = g
        .when("pw-amara", propose_place("pm", true), now())
        .and_apply();
    assert_eq!(g.p.meetings["pm"].place_proposed_by, Party::Person);
}

#[test]
fn a_planned_meeting_is_held_cancelled_or_not_attended_and_then_no_longer_planned() {
    let g = with_planned()
        .when(
            "pw-amara",
            Command::MarkNotAttended {
                meeting_id: "pm".into(),
            },
            now(),
        )
        .then_refused(
            Code::FailedPrecondition,
            "meeting.time_passed",
            "meeting_id",
        )
        .when(
            "su-sam",
            Command::CancelMeeting {
                meeting_id: "pm".into(),
                by: Party::Worker,
            },
            now(),
        )
        .then_refused(Code::PermissionDenied, "meeting.cancel", "caller")
        .when("su-sam", hold("pm", &[], vec![]), now())
        .then_refused(Code::PermissionDenied, "meeting.worker", "caller")
        .when("pw-amara", draft("n", "pm", texts(&[("s1", 1)])), now())
        .then_refused(Code::FailedPrecondition, "meeting.held", "meeting_id");
    // Cancelled by the person: who cancelled is recorded; it cannot then be held.
    let cancelled = g.p.clone();
    let g2 = Given {
        p: cancelled,
        seq: g.seq,
        at: g.at,
        versions: g.versions.clone(),
    }
    .when(
        "su-sam",
        Command::CancelMeeting {
            meeting_id: "pm".into(),
            by: Party::Person,
        },
        now(),
    )
    .and_apply();
    let m = &g2.p.meetings["pm"];
    assert_eq!(
        (m.status, m.cancelled_by),
        (MeetingStatus::Cancelled, Some(Party::Person))
    );
    g2.when("pw-amara", hold("pm", &[], vec![]), now())
        .then_refused(Code::FailedPrecondition, "meeting.planned", "meeting_id");
    // Missed once its time has come.
    let later = now().plus(2 * Time::DAY);
    let missed = Given {
        p: g.p.clone(),
        seq: g.seq,
        at: g.at,
        versions: g.versions.clone(),
    }
    .when(
        "pw-amara",
        Command::MarkNotAttended {
            meeting_id: "pm".into(),
        },
        later,
    )
    .and_apply();
    assert_eq!(missed.p.meetings["pm"].status, MeetingStatus::NotAttended);
    // Held: then a note can be drafted of it.
    let held = g
        .when("pw-amara", hold("pm", &[], vec![]), now())
        .and_apply();
    assert_eq!(held.p.meetings["pm"].status, MeetingStatus::Held);
    held.when("pw-amara", draft("n", "pm", texts(&[("s1", 1)])), now())
        .then_decision(|d| assert_eq!(d.events[0].stream, "note:n"));
}

#[test]
fn a_goal_is_the_persons_own_set_by_them_or_co_produced_and_agreed_in_person() {
    given(with_support())
        .when("su-sam", set_goal("g", "sp", false), now())
        .then_emits(&[(
            "goal:g",
            Some("su-sam"),
            Event::GoalSet(GoalSet {
                goal_id: "g".into(),
                support_id: "sp".into(),
                words: segs(&[("w1", 40)]),
                co_produced: false,
                on_behalf: false,
            }),
        )])
        .then_decision(|d| assert_eq!(d.depends, strings(&["support:sp"])))
        .and_not_apply()
        .when("pw-amara", set_goal("g", "sp", false), now())
        .then_refused(Code::PermissionDenied, "goal.person_agreed", "caller")
        .when("pw-amara", set_goal("g", "sp", true), now())
        .then_decision(|d| {
            let Event::GoalSet(e) = &d.events[0].event else {
                panic!("not goal.set: {d:?}")
            };
            assert!(e.co_produced && e.on_behalf);
        })
        .and_not_apply()
        .when("pw-ben", set_goal("g", "sp", true), now())
        .then_refused(Code::PermissionDenied, "no_basis", "support_id")
        .when("su-ola", set_goal("g", "sp", false), now())
        .then_refused(Code::PermissionDenied, "no_basis", "support_id")
        .when("ct-cho", set_goal("g", "sp", true), now())
        .then_refused(Code::PermissionDenied, "no_basis", "support_id")
        .when(
            "su-sam",
            Command::SetGoal {
                goal_id: "g".into(),
                support_id: "sp".into(),
                words: vec![],
                co_produced: false,
            },
            now(),
        )
        .then_refused(Code::InvalidArgument, "segments", "words")
        .and(vec![goal_set("g", "sp", "su-sam")])
        .when("su-sam", set_goal("g", "sp", false), now())
        .then_refused(Code::AlreadyExists, "unique_id", "goal_id")
        .and(vec![ended("sp", "su-sam", "su-sam")])
        .when("su-sam", set_goal("g2", "sp", false), now())
        .then_refused(Code::FailedPrecondition, "support.accepted", "support_id");
}

#[test]
fn a_goal_is_reviewed_and_closed_only_while_open_by_the_person_or_for_them() {
    let mut e = with_support();
    e.push(goal_set("g", "sp", "su-sam"));
    let review = |n: u8| Command::ReviewGoal {
        goal_id: "g".into(),
        words: texts(&[("r1", n)]),
    };
    let close = || Command::CloseGoal {
        goal_id: "g".into(),
        outcome: GoalOutcome::LetGo,
        words: vec![],
    };
    let g = given(e)
        .when("su-sam", review(41), now())
        .and_apply()
        .when("pw-amara", review(42), now())
        .then_decision(|d| {
            assert_eq!(
                d.events[0].event,
                Event::GoalReviewed(GoalReviewed {
                    words: segs(&[("r1", 42)]),
                    on_behalf: true
                })
            )
        })
        .and_not_apply()
        .when("pw-ben", review(42), now())
        .then_refused(Code::PermissionDenied, "no_basis", "goal_id")
        .when("su-ola", close(), now())
        .then_refused(Code::PermissionDenied, "no_basis", "goal_id")
        .when("su-sam", close(), now())
        .and_apply();
    let goal = &g.p.goals["g"];
    assert_eq!(goal.reviews.len(), 1);
    assert_eq!(
        goal.closed.as_ref().map(|c| c.outcome),
        Some(GoalOutcome::LetGo)
    );
    g.when("su-sam", review(43), now())
        .then_refused(Code::FailedPrecondition, "goal.open", "goal_id")
        .when("su-sam", close(), now())
        .then_refused(Code::FailedPrecondition, "goal.open", "goal_id");
}

#[test]
fn a_meeting_names_open_goals_of_its_relationship_and_what_was_done_in_words() {
    let mut e = with_support();
    e.extend(accepted_support("sp-ola", "su-ola", "pw-amara"));
    e.push(goal_set("g", "sp", "su-sam"));
    e.push(goal_set("g-ola", "sp-ola", "su-ola"));
    e.push(goal_set("g-done", "sp", "su-sam"));
    e.push(goal_closed("g-done", "su-sam"));
    let with_work = |goals: &[&str], activities: Vec<Activity<Passage>>| {
        with_meeting_fields(record_meeting("m", "sp"), |c| {
            if let Command::RecordMeeting {
                goals: g,
                activities: a,
                ..
            } = c
            {
                *g = strings(goals);
                *a = activities;
            }
        })
    };
    given(e)
        .when(
            "pw-amara",
            with_work(&["g"], vec![accompanied(50), signposted(Some(51))]),
            now(),
        )
        .then_decision(|d| {
            let Event::MeetingRecorded(m) = &d.events[0].event else {
                panic!("not meeting.recorded: {d:?}")
            };
            assert_eq!(m.goals, strings(&["g"]));
            assert_eq!(
                m.activities,
                vec![
                    Activity {
                        kind: ActivityKind::Accompanying,
                        detail: Some(seg("activity-1", 50)),
                    },
                    Activity {
                        kind: ActivityKind::Signposting,
                        detail: Some(seg("activity-2", 51)),
                    },
                ]
            );
            assert_eq!(d.depends, strings(&["support:sp", "goal:g"]));
        })
        .and_not_apply()
        .when("pw-amara", with_work(&[], vec![signposted(None)]), now())
        .then_refused(
            Code::InvalidArgument,
            "meeting.signposting",
            "activities.detail",
        )
        .when("pw-amara", with_work(&["g-ola"], vec![]), now())
        .then_refused(Code::PermissionDenied, "no_basis", "goals")
        .when("pw-amara", with_work(&["g-done"], vec![]), now())
        .then_refused(Code::FailedPrecondition, "goal.open", "goals")
        .when("pw-amara", with_work(&["g", "g"], vec![]), now())
        .then_refused(Code::InvalidArgument, "meeting.goals", "goals");
}

#[test]
fn goals_are_seen_by_the_person_and_their_worker_and_not_by_the_care_team() {
    use withus::domain::access::Scope as ReadScope;
    use withus::domain::view::record;
    let mut e = with_support();
    e.push(goal_set("g", "sp", "su-sam"));
    let g = given(e);
    let goals = |scope: &ReadScope| -> Vec<String> {
        record(&g.p, "su-sam", Some(scope))
            .goals
            .into_iter()
            .map(|x| x.goal_id)
            .collect()
    };
    assert_eq!(goals(&ReadScope::Own), ["g"]);
    let amara = ReadScope::Support {
        worker: "pw-amara".into(),
        support_ids: ["sp".to_string()].into(),
    };
    assert_eq!(goals(&amara), ["g"]);
    let other = ReadScope::Support {
        worker: "pw-ben".into(),
        support_ids: ["sp-other".to_string()].into(),
    };
    assert!(goals(&other).is_empty());
    assert!(goals(&ReadScope::CareTeam).is_empty());
    assert!(goals(&ReadScope::Safeguarding).is_empty());
    // The person may state their disagreement with how a goal is recorded.
    g.when(
        "su-sam",
        Command::AddStatement {
            statement_id: "st".into(),
            target_stream: "goal:g".into(),
            segments: texts(&[("x", 7)]),
        },
        now(),
    )
    .then_decision(|d| assert_eq!(d.depends, strings(&["goal:g"])));
}

fn form_group(id: &str, facilitators: &[&str]) -> Command {
    Command::FormGroup {
        group_id: id.into(),
        name: text("name", 60),
        facilitators: strings(facilitators),
    }
}

#[test]
fn a_group_is_formed_by_an_admin_or_a_peer_worker_who_facilitates_it() {
    given(cast())
        .when("admin", form_group("grp", &["pw-amara", "pw-ben"]), now())
        .then_emits(&[(
            "group:grp",
            None,
            Event::GroupFormed(GroupFormed {
                group_id: "grp".into(),
                name: seg("name", 60),
                facilitators: strings(&["pw-amara", "pw-ben"]),
            }),
        )])
        .and_not_apply()
        .when("pw-amara", form_group("grp", &["pw-ben"]), now())
        .then_refused(Code::PermissionDenied, "group.facilitator", "caller")
        .when("ct-cho", form_group("grp", &["pw-amara"]), now())
        .then_refused(Code::PermissionDenied, "role", "caller")
        .when("admin", form_group("grp", &["ct-cho"]), now())
        .then_refused(Code::InvalidArgument, "group.facilitators", "facilitators")
        .when("admin", form_group("grp", &[]), now())
        .then_refused(Code::InvalidArgument, "group.facilitators", "facilitators")
        .when("admin", form_group("grp", &["pw-amara", "pw-amara"]), now())
        .then_refused(Code::InvalidArgument, "group.facilitators", "facilitators")
        .when("pw-amara", form_group("grp", &["pw-amara"]), now())
        .and_apply()
        .when("admin", form_group("grp", &["pw-amara"]), now())
        .then_refused(Code::AlreadyExists, "unique_id", "group_id");
}

#[test]
fn a_group_session_is_an_entry_about_each_participant_alone_naming_neither_group_nor_others() {
    use withus::domain::access::Scope as ReadScope;
    use withus::domain::view::record;
    let mut e = with_support();
    e.extend(accepted_support("sp-ola", "su-ola", "pw-amara"));
    e.extend(accepted_support("sp-ben", "su-ola", "pw-ben"));
    let session = |m: &str, sp: &str, group: &str| {
        with_meeting_fields(record_meeting(m, sp), |c| {
            if let Command::RecordMeeting { kind, group_id, .. } = c {
                *kind = MeetingKind::Group;
                *group_id = Some(group.into());
            }
        })
    };
    let g = given(e)
        .when("admin", form_group("grp-voices", &["pw-amara"]), now())
        .and_apply()
        .when("pw-amara", session("m-sam", "sp", "grp-voices"), now())
        .then_decision(|d| {
            let Event::MeetingRecorded(m) = &d.events[0].event else {
                panic!("not meeting.recorded: {d:?}")
            };
            assert_eq!((m.kind, &m.group_id), (MeetingKind::Group, &None));
            assert_eq!(d.events[0].subject.as_deref(), Some("su-sam"));
            assert_eq!(d.depends, strings(&["support:sp", "group:grp-voices"]));
        })
        .and_apply()
        .when("pw-amara", session("m-ola", "sp-ola", "grp-voices"), now())
        .and_apply()
        // Not a facilitator; a group that does not exist.
        .when("pw-ben", session("m-x", "sp-ben", "grp-voices"), now())
        .then_refused(Code::PermissionDenied, "group.facilitator", "caller")
        .when("pw-amara", session("m-x", "sp", "grp-none"), now())
        .then_refused(Code::NotFound, "exists", "group_id");
    // Sam's record, as Sam and as Amara see it, names neither the group nor Ola.
    for scope in [
        ReadScope::Own,
        ReadScope::Support {
            worker: "pw-amara".into(),
            support_ids: ["sp".to_string()].into(),
        },
    ] {
        let json = serde_json::to_string(&record(&g.p, "su-sam", Some(&scope))).unwrap();
        assert!(json.contains("m-sam"), "{json}");
        for other in ["grp-voices", "su-ola", "m-ola", "sp-ola"] {
            assert!(!json.contains(other), "{other} in Sam's record: {json}");
        }
    }
}

#[test]
fn the_actor_list_pages_by_id_and_counts_only_usable_tokens_never_showing_one() {
    use withus::domain::view::actors;
    let mut e = cast();
    e.push(token_issued("su-sam", Some("su-sam"), 1));
    e.push(token_issued("su-sam", Some("su-sam"), 2));
    e.push(ev(
        "actor:su-sam",
        Some("su-sam"),
        "admin",
        Event::TokenRevoked(TokenRevoked {
            token_hash: HexHash([2; 32]),
        }),
    ));
    let mut expired = token_issued("pw-amara", None, 3);
    if let Event::TokenIssued(t) = &mut expired.3 {
        t.expires_at = Some(T0.plus(Time::HOUR));
    }
    e.push(expired);
    let g = given(e);
    let (first, more) = actors(&g.p, None, 3, now());
    let ids: Vec<&str> = first.iter().map(|a| a.id.as_str()).collect();
    assert_eq!((ids, more), (vec!["admin", "au-ida", "ct-cho"], true));
    let (rest, more) = actors(&g.p, Some("ct-cho"), 100, now());
    assert!(!more);
    assert_eq!(first.len() + rest.len(), g.p.actors.len());
    let count = |id: &str| rest.iter().find(|a| a.id == id).map(|a| a.usable_tokens);
    // One revoked, one expired: neither is usable.
    assert_eq!((count("su-sam"), count("pw-amara")), (Some(1), Some(0)));
    let json = serde_json::to_string(&rest).unwrap();
    assert!(
        !json.contains(&"01".repeat(32)) && !json.contains("display"),
        "{json}"
    );
}
// ---- representatives: acting for the person under a recorded authority -----------------------

/// The cast with a carer and an attorney registered as representatives.
fn with_representatives() -> Vec<Ev> {
    let mut e = with_support();
    e.push(registered("rp-kim", Role::Representative, None));
    e.push(registered("rp-lou", Role::Representative, None));
    e
}

fn grant_authority(
    id: &str,
    subject: &str,
    rep: &str,
    basis: AuthorityBasis,
    scope: &[AuthorityScope],
    expires_at: Option<Time>,
    evidence: Option<Passage>,
) -> Command {
    Command::GrantAuthority {
        subject: subject.into(),
        authority_id: id.into(),
        representative: rep.into(),
        relation: match basis {
            AuthorityBasis::Consent => Relation::Carer,
            AuthorityBasis::LastingPowerOfAttorney => Relation::Attorney,
            AuthorityBasis::ParentalResponsibility => Relation::Parent,
        },
        basis,
        scope: scope.to_vec(),
        expires_at,
        evidence,
    }
}

const BOTH: &[AuthorityScope] = &[AuthorityScope::ReadRecord, AuthorityScope::SubjectAccess];

/// Sam's carer Kim under Sam's consent: both scopes, no expiry.
fn carer(id: &str) -> Command {
    grant_authority(
        id,
        "su-sam",
        "rp-kim",
        AuthorityBasis::Consent,
        BOTH,
        None,
        None,
    )
}

fn lpa(id: &str, evidence: Option<Passage>) -> Command {
    grant_authority(
        id,
        "su-sam",
        "rp-lou",
        AuthorityBasis::LastingPowerOfAttorney,
        &[AuthorityScope::SubjectAccess],
        None,
        evidence,
    )
}

fn end_authority(id: &str, reason: AuthorityEndReason) -> Command {
    Command::EndAuthority {
        authority_id: id.into(),
        reason,
    }
}

#[test]
fn a_person_grants_their_carer_an_authority_on_their_own_consent() {
    given(with_representatives())
        .when("su-sam", carer("a1"), now())
        .then_emits(&[(
            "authority:a1",
            Some("su-sam"),
            Event::AuthorityGranted(AuthorityGranted {
                authority_id: "a1".into(),
                representative: "rp-kim".into(),
                relation: Relation::Carer,
                basis: AuthorityBasis::Consent,
                scope: BOTH.to_vec(),
                expires_at: None,
                evidence: None,
            }),
        )])
        .then_decision(|d| {
            assert!(d.depends.contains(&"actor:rp-kim".to_string()));
        });
}

#[test]
fn only_the_person_grants_an_authority_on_their_consent() {
    given(with_representatives())
        .when("admin", carer("a1"), now())
        .then_refused(Code::PermissionDenied, "authority.granter", "caller")
        .when("pw-amara", carer("a1"), now())
        .then_refused(Code::PermissionDenied, "authority.granter", "caller")
        .when("su-ola", carer("a1"), now())
        .then_refused(Code::PermissionDenied, "authority.granter", "caller")
        .when("rp-kim", carer("a1"), now())
        .then_refused(Code::PermissionDenied, "authority.granter", "caller");
}

#[test]
fn an_admin_records_a_lasting_power_of_attorney_having_seen_the_document() {
    given(with_representatives())
        .when("admin", lpa("a2", Some(text("doc", 7))), now())
        .then_decision(|d| match &d.events[0].event {
            Event::AuthorityGranted(a) => {
                assert_eq!(a.basis, AuthorityBasis::LastingPowerOfAttorney);
                assert_eq!(a.evidence, Some(seg("doc", 7)));
            }
            e => panic!("{e:?}"),
        })
        .and_apply()
        // The person cannot record one (the document decides, and an admin has seen it), and
        // an admin must say which document was seen.
        .when("su-sam", lpa("a3", Some(text("doc", 7))), now())
        .then_refused(Code::PermissionDenied, "authority.granter", "caller")
        .when("admin", lpa("a3", None), now())
        .then_refused(Code::InvalidArgument, "authority.evidence", "evidence")
        .when(
            "pw-amara",
            grant_authority(
                "a3",
                "su-sam",
                "rp-lou",
                AuthorityBasis::ParentalResponsibility,
                BOTH,
                None,
                Some(text("doc", 8)),
            ),
            now(),
        )
        .then_refused(Code::PermissionDenied, "authority.granter", "caller");
}

#[test]
fn an_authority_names_a_registered_representative_a_scope_and_a_future_expiry_once() {
    let g = given(with_representatives())
        .when(
            "su-sam",
            grant_authority(
                "a1",
                "su-sam",
                "rp-nobody",
                AuthorityBasis::Consent,
                BOTH,
                None,
                None,
            ),
            now(),
        )
        .then_refused(Code::NotFound, "exists", "representative")
        .when(
            "su-sam",
            grant_authority(
                "a1",
                "su-sam",
                "pw-amara",
                AuthorityBasis::Consent,
                BOTH,
                None,
                None,
            ),
            now(),
        )
        .then_refused(
            Code::InvalidArgument,
            "authority.representative",
            "representative",
        )
        .when(
            "su-sam",
            grant_authority(
                "a1",
                "su-sam",
                "rp-kim",
                AuthorityBasis::Consent,
                &[],
                None,
                None,
            ),
            now(),
        )
        .then_refused(Code::InvalidArgument, "authority.scope", "scope")
        .when(
            "su-sam",
            grant_authority(
                "a1",
                "su-sam",
                "rp-kim",
                AuthorityBasis::Consent,
                &[AuthorityScope::ReadRecord, AuthorityScope::ReadRecord],
                None,
                None,
            ),
            now(),
        )
        .then_refused(Code::InvalidArgument, "authority.scope", "scope")
        .when(
            "su-sam",
            grant_authority(
                "a1",
                "su-sam",
                "rp-kim",
                AuthorityBasis::Consent,
                BOTH,
                Some(T0),
                None,
            ),
            now(),
        )
        .then_refused(Code::InvalidArgument, "time.future", "expires_at")
        .when("su-sam", carer("a1"), now())
        .and_apply();
    g.when("su-sam", carer("a1"), now()).then_refused(
        Code::AlreadyExists,
        "unique_id",
        "authority_id",
    );
}

#[test]
fn the_person_ends_a_consent_based_authority_an_admin_any_and_a_representative_steps_down() {
    let g = given(with_representatives())
        .when("su-sam", carer("a1"), now())
        .and_apply()
        .when("admin", lpa("a2", Some(text("doc", 7))), now())
        .and_apply();
    // Someone who is not a party learns nothing, not even whether it exists.
    let g = g
        .when(
            "pw-amara",
            end_authority("a1", AuthorityEndReason::Other),
            now(),
        )
        .then_refused(Code::PermissionDenied, "no_basis", "authority_id")
        .when(
            "pw-amara",
            end_authority("a9", AuthorityEndReason::Other),
            now(),
        )
        .then_refused(Code::PermissionDenied, "no_basis", "authority_id")
        .when(
            "rp-lou",
            end_authority("a1", AuthorityEndReason::Other),
            now(),
        )
        .then_refused(Code::PermissionDenied, "no_basis", "authority_id")
        // The person cannot end one that rests on a document.
        .when(
            "su-sam",
            end_authority("a2", AuthorityEndReason::PersonWithdrew),
            now(),
        )
        .then_refused(Code::PermissionDenied, "authority.end", "caller");
    g.clone()
        .when(
            "su-sam",
            end_authority("a1", AuthorityEndReason::PersonWithdrew),
            now(),
        )
        .then_emits(&[(
            "authority:a1",
            Some("su-sam"),
            Event::AuthorityEnded(AuthorityEnded {
                reason: AuthorityEndReason::PersonWithdrew,
            }),
        )])
        .and_apply()
        .when(
            "su-sam",
            end_authority("a1", AuthorityEndReason::PersonWithdrew),
            now(),
        )
        .then_refused(Code::FailedPrecondition, "authority.state", "authority_id");
    g.clone()
        .when(
            "rp-lou",
            end_authority("a2", AuthorityEndReason::SteppedDown),
            now(),
        )
        .then_events(&[Event::AuthorityEnded(AuthorityEnded {
            reason: AuthorityEndReason::SteppedDown,
        })]);
    g.when(
        "admin",
        end_authority("a2", AuthorityEndReason::NoLongerValid),
        now(),
    )
    .then_events(&[Event::AuthorityEnded(AuthorityEnded {
        reason: AuthorityEndReason::NoLongerValid,
    })]);
}

#[test]
fn a_representative_reads_the_record_only_under_an_authority_in_force_with_read_record() {
    let g = given(with_representatives());
    // No authority: the same refusal as anyone without a basis, whether or not the person
    // exists.
    assert_eq!(
        g.read("rp-kim", "su-sam", now()),
        ReadDecision::Denied {
            reason: DenialReason::NoBasis,
            depends: Vec::new()
        }
    );
    assert_eq!(
        g.read("rp-kim", "su-sam", now()),
        g.read("rp-kim", "su-nobody", now())
    );
    let soon = now().plus(Time::DAY);
    let g = g
        .when(
            "su-sam",
            grant_authority(
                "a1",
                "su-sam",
                "rp-kim",
                AuthorityBasis::Consent,
                BOTH,
                Some(soon),
                None,
            ),
            now(),
        )
        .and_apply()
        .when("admin", lpa("a2", Some(text("doc", 7))), now())
        .and_apply();
    assert_eq!(
        g.read("rp-kim", "su-sam", now()),
        ReadDecision::Allowed {
            basis: "authority:a1".into(),
            scope: access::Scope::Representative {
                representative: "rp-kim".into()
            },
            depends: vec!["authority:a1".into()],
            deadline: Some(soon),
        }
    );
    // Only about the person it names.
    assert!(matches!(
        g.read("rp-kim", "su-ola", now()),
        ReadDecision::Denied { .. }
    ));
    // Expiry is checked at every use.
    assert!(matches!(
        g.read("rp-kim", "su-sam", soon),
        ReadDecision::Denied {
            reason: DenialReason::NoBasis,
            ..
        }
    ));
    // An authority for subject access alone is no basis to read the record.
    assert!(matches!(
        g.read("rp-lou", "su-sam", now()),
        ReadDecision::Denied {
            reason: DenialReason::NoBasis,
            ..
        }
    ));
    // Ended: refused from the next entry on.
    let g = g
        .when(
            "su-sam",
            end_authority("a1", AuthorityEndReason::PersonWithdrew),
            now(),
        )
        .and_apply();
    assert!(matches!(
        g.read("rp-kim", "su-sam", now()),
        ReadDecision::Denied { .. }
    ));
    // Nor does a representative read who else looked at the record.
    assert_eq!(
        decide_access_log(&g.actor("rp-kim"), "su-sam"),
        Err(DenialReason::NoBasis)
    );
}

#[test]
fn a_representative_sees_what_the_person_sees_with_only_their_own_authority() {
    let mut e = with_representatives();
    e.push(meeting("m", "sp", "su-sam", "pw-amara"));
    e.push(drafted("n", "m", "su-sam", "pw-amara"));
    e.push(drafted("n2", "m", "su-sam", "pw-amara"));
    e.push(withheld("su-sam", "note:n2"));
    let g = given(e)
        .when("su-sam", carer("a1"), now())
        .and_apply()
        .when("admin", lpa("a2", Some(text("doc", 7))), now())
        .and_apply();
    let ReadDecision::Allowed { scope, .. } = g.read("rp-kim", "su-sam", now()) else {
        panic!("allowed");
    };
    let rep = withus::domain::view::record(&g.p, "su-sam", Some(&scope));
    let own = withus::domain::view::record(&g.p, "su-sam", Some(&access::Scope::Own));
    let notes = |v: &withus::domain::view::RecordView| {
        v.notes
            .iter()
            .map(|n| n.note_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(notes(&rep), ["n"], "nothing withheld from the person");
    assert_eq!(notes(&rep), notes(&own));
    assert_eq!(rep.meetings, own.meetings);
    let ids = |v: &withus::domain::view::RecordView| {
        v.authorities
            .iter()
            .map(|a| a.authority_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&own), ["a1", "a2"], "the person sees every authority");
    assert_eq!(ids(&rep), ["a1"], "a representative sees only their own");
    assert!(rep.streams().contains(&"authority:a1".to_string()));
    // Other readers do not see who acts for the person.
    let ReadDecision::Allowed { scope, .. } = g.read("pw-amara", "su-sam", now()) else {
        panic!("allowed");
    };
    assert!(withus::domain::view::record(&g.p, "su-sam", Some(&scope))
        .authorities
        .is_empty());
}

fn accessed_by(subject: &str, reader: &str, basis: &str, streams: &[&str]) -> Ev {
    ev(
        &format!("access:{subject}"),
        Some(subject),
        reader,
        Event::RecordAccessed(RecordAccessed {
            streams: strings(streams),
            basis: basis.into(),
        }),
    )
}

#[test]
fn a_read_on_an_authority_is_proven_valid_at_its_entry_or_flagged() {
    let g = given(with_representatives())
        .when("su-sam", carer("a1"), now())
        .and_apply()
        .when("admin", lpa("a2", Some(text("doc", 7))), now())
        .and_apply()
        .and(vec![
            accessed_by("su-sam", "rp-kim", "authority:a1", &["support:sp"]),
            accessed_by("su-sam", "rp-lou", "authority:a2", &["sar:r1"]),
        ]);
    assert!(g.p.invalid_reads.is_empty(), "{:?}", g.p.invalid_reads);
    let g = g
        .and(vec![
            // Lou's authority is for subject access only; Kim's is not Lou's.
            accessed_by("su-sam", "rp-lou", "authority:a2", &["support:sp"]),
            accessed_by("su-sam", "rp-lou", "authority:a1", &["support:sp"]),
        ])
        .when(
            "su-sam",
            end_authority("a1", AuthorityEndReason::PersonWithdrew),
            now(),
        )
        .and_apply()
        .and(vec![accessed_by(
            "su-sam",
            "rp-kim",
            "authority:a1",
            &["support:sp"],
        )]);
    let why: Vec<&str> = g.p.invalid_reads.values().map(|r| r.why.as_str()).collect();
    assert_eq!(why.len(), 3, "{why:?}");
    assert!(why[0].contains("does not include read_record"), "{why:?}");
    assert!(why[1].contains("is not rp-lou's"), "{why:?}");
    assert!(why[2].contains("not in force"), "{why:?}");
}

#[test]
fn a_representative_with_subject_access_requests_it_for_the_person_and_reads_it_logged() {
    let g = given(with_representatives());
    // Without an authority: the one no-basis answer, whether or not the person exists.
    let g = g
        .when("rp-lou", request_sar("r1", "su-sam"), now())
        .then_refused(Code::PermissionDenied, "no_basis", "subject")
        .when("rp-lou", request_sar("r1", "su-nobody"), now())
        .then_refused(Code::PermissionDenied, "no_basis", "subject")
        .when("admin", lpa("a2", Some(text("doc", 7))), now())
        .and_apply()
        .when("su-sam", carer("a1"), now())
        .and_apply()
        .when(
            "rp-kim",
            grant_authority(
                "a3",
                "su-sam",
                "rp-kim",
                AuthorityBasis::Consent,
                &[AuthorityScope::ReadRecord],
                None,
                None,
            ),
            now(),
        )
        .then_refused(Code::PermissionDenied, "authority.granter", "caller");
    let g = g
        .when("rp-lou", request_sar("r1", "su-sam"), now())
        .then_emits(&[(
            "sar:r1",
            Some("su-sam"),
            Event::SarRequested(SarRequested {
                sar_id: "r1".into(),
                via: SarVia::Letter,
            }),
        )])
        .then_decision(|d| assert_eq!(d.depends, ["authority:a2"]))
        .and_apply();
    let sar = g.p.sars["r1"].clone();
    assert_eq!(sar.subject, "su-sam");
    assert_eq!(
        access::decide_sar_access(&g.p, &g.actor("rp-lou"), &sar, SarRead::Bundle, now()),
        Ok(access::SarAccess::Logged {
            basis: "authority:a2".into(),
            depends: vec!["authority:a2".into()],
            deadline: None,
        })
    );
    // The person reads their own request as a party (not logged).
    assert_eq!(
        access::decide_sar_access(&g.p, &g.actor("su-sam"), &sar, SarRead::Bundle, now()),
        Ok(access::SarAccess::Party)
    );
    let g = g
        .when(
            "admin",
            end_authority("a2", AuthorityEndReason::NoLongerValid),
            now(),
        )
        .and_apply();
    assert_eq!(
        access::decide_sar_access(&g.p, &g.actor("rp-lou"), &sar, SarRead::Bundle, now()),
        Err(DenialReason::NoBasis)
    );
    // Kim's consent-based authority includes subject access too.
    assert!(matches!(
        access::decide_sar_access(&g.p, &g.actor("rp-kim"), &sar, SarRead::Status, now()),
        Ok(access::SarAccess::Logged { .. })
    ));
    assert_eq!(
        decide_sar_read(&g.p, &g.actor("rp-kim"), &sar, SarRead::Status),
        Err(DenialReason::NoBasis),
        "only decide_sar_access knows authorities"
    );
}

#[test]
fn a_representative_may_do_nothing_else() {
    let g = given(with_representatives())
        .when("su-sam", carer("a1"), now())
        .and_apply();
    g.when("rp-kim", grant_team("su-sam", "c1", "cmht"), now())
        .then_refused(Code::PermissionDenied, "role", "caller")
        .when("rp-kim", raise("k1", "su-sam"), now())
        .then_refused(Code::PermissionDenied, "role", "caller")
        .when(
            "rp-kim",
            refer("sp2", "su-sam", "pw-ben", ReferralSource::CareTeam),
            now(),
        )
        .then_refused(Code::PermissionDenied, "role", "caller")
        .when("rp-kim", accept("sp"), now())
        .then_refused(Code::PermissionDenied, "no_basis", "support_id");
}

// ---- worker cover: a relationship moves only when the person accepts -------------------------

fn propose_transfer(sp: &str, to: &str) -> Command {
    Command::ProposeTransfer {
        support_id: sp.into(),
        to_worker: to.into(),
    }
}

fn answer_transfer(sp: &str, accept: bool) -> Command {
    Command::AnswerTransfer {
        support_id: sp.into(),
        accept,
    }
}

#[test]
fn the_worker_or_an_admin_proposes_cover_by_another_peer_worker() {
    let g = given(with_support());
    g.clone()
        .when("pw-amara", propose_transfer("sp", "pw-ben"), now())
        .then_emits(&[(
            "support:sp",
            Some("su-sam"),
            Event::SupportTransferProposed(SupportTransferProposed {
                to_worker: "pw-ben".into(),
            }),
        )]);
    g.clone()
        .when("admin", propose_transfer("sp", "pw-ben"), now())
        .then_events(&[Event::SupportTransferProposed(SupportTransferProposed {
            to_worker: "pw-ben".into(),
        })]);
    g.when("su-sam", propose_transfer("sp", "pw-ben"), now())
        .then_refused(Code::PermissionDenied, "support.transfer_by", "caller")
        .when("pw-ben", propose_transfer("sp", "pw-ben"), now())
        .then_refused(Code::PermissionDenied, "no_basis", "support_id")
        .when("ct-cho", propose_transfer("sp", "pw-ben"), now())
        .then_refused(Code::PermissionDenied, "no_basis", "support_id")
        .when("pw-amara", propose_transfer("sp", "ct-cho"), now())
        .then_refused(Code::InvalidArgument, "support.worker", "to_worker")
        .when("pw-amara", propose_transfer("sp", "pw-amara"), now())
        .then_refused(Code::InvalidArgument, "support.transfer_to", "to_worker")
        .when("pw-amara", propose_transfer("sp", "pw-nobody"), now())
        .then_refused(Code::NotFound, "exists", "to_worker")
        .when("admin", propose_transfer("sp-nope", "pw-ben"), now())
        .then_refused(Code::NotFound, "exists", "support_id");
    // Only an accepted relationship moves.
    let mut e = cast();
    e.push(referred("sp", "su-sam", "pw-amara"));
    given(e)
        .when("pw-amara", propose_transfer("sp", "pw-ben"), now())
        .then_refused(Code::FailedPrecondition, "support.state", "support_id");
}

#[test]
fn only_when_the_person_accepts_does_the_relationship_and_its_reads_move_to_the_new_worker() {
    let g = given(with_support())
        .when("pw-amara", propose_transfer("sp", "pw-ben"), now())
        .and_apply();
    // Proposed: nothing has moved.
    assert!(matches!(
        g.read("pw-amara", "su-sam", now()),
        ReadDecision::Allowed { .. }
    ));
    assert!(matches!(
        g.read("pw-ben", "su-sam", now()),
        ReadDecision::Denied {
            reason: DenialReason::NoSupportRelationship,
            ..
        }
    ));
    // The proposed worker cannot answer for the person: they have no basis yet.
    let g = g
        .when("pw-ben", answer_transfer("sp", true), now())
        .then_refused(Code::PermissionDenied, "no_basis", "support_id");
    let declined = g
        .clone()
        .when("su-sam", answer_transfer("sp", false), now())
        .then_events(&[Event::SupportTransferDeclined(SupportTransferDeclined {
            on_behalf: false,
        })])
        .and_apply();
    assert_eq!(declined.p.supports["sp"].worker, "pw-amara");
    declined
        .when("su-sam", answer_transfer("sp", true), now())
        .then_refused(
            Code::FailedPrecondition,
            "support.transfer_pending",
            "support_id",
        );
    let g = g
        .when("su-sam", answer_transfer("sp", true), now())
        .then_events(&[Event::SupportTransferAccepted(SupportTransferAccepted {
            on_behalf: false,
        })])
        .and_apply();
    let s = &g.p.supports["sp"];
    assert_eq!(s.worker, "pw-ben");
    assert_eq!(s.previous_workers.len(), 1);
    assert_eq!(s.previous_workers[0].0, "pw-amara");
    assert!(g.p.caseloads["pw-ben"].contains("sp"));
    assert_eq!(
        g.read("pw-ben", "su-sam", now()),
        ReadDecision::Allowed {
            basis: "support:sp".into(),
            scope: access::Scope::Support {
                worker: "pw-ben".into(),
                support_ids: ["sp".to_string()].into(),
            },
            depends: vec!["support:sp".into()],
            deadline: None,
        }
    );
    assert!(matches!(
        g.read("pw-amara", "su-sam", now()),
        ReadDecision::Denied {
            reason: DenialReason::NoSupportRelationship,
            ..
        }
    ));
    // The old worker's read from now on would not be proven valid.
    let g = g.and(vec![accessed_by(
        "su-sam",
        "pw-amara",
        "support:sp",
        &["support:sp"],
    )]);
    assert_eq!(g.p.invalid_reads.len(), 1);
}

#[test]
fn the_current_worker_records_the_persons_answer_given_in_person() {
    given(with_support())
        .when("pw-amara", propose_transfer("sp", "pw-ben"), now())
        .and_apply()
        .when("pw-amara", answer_transfer("sp", true), now())
        .then_events(&[Event::SupportTransferAccepted(SupportTransferAccepted {
            on_behalf: true,
        })]);
}

#[test]
fn a_transfer_is_not_proposed_to_a_worker_who_already_has_an_open_relationship_with_the_person() {
    let mut e = with_support();
    e.push(referred("sp2", "su-sam", "pw-ben"));
    given(e)
        .when("pw-amara", propose_transfer("sp", "pw-ben"), now())
        .then_refused(Code::FailedPrecondition, "support.one_open", "to_worker");
}

// ---- retention --------------------------------------------------------------------------------

use withus::domain::retention::{self, PlanState, Policy};

/// The first millisecond of a UTC day.
fn day(s: &str) -> Time {
    Time::parse(&format!("{s}T00:00:00.000Z")).unwrap()
}

fn record_date(subject: &str, kind: DateKind, date: &str) -> Command {
    Command::RecordRetentionDate {
        subject: subject.into(),
        kind,
        date: date.into(),
    }
}

fn place_hold(subject: &str, hold: &str) -> Command {
    Command::PlaceLegalHold {
        subject: subject.into(),
        hold_id: hold.into(),
        reason: HoldReason::Inquest,
    }
}

fn lift_hold(subject: &str, hold: &str) -> Command {
    Command::LiftLegalHold {
        subject: subject.into(),
        hold_id: hold.into(),
    }
}

/// Sam's agreed note, and the relationship ended (on 2026-01-01): care has ended.
fn with_care_ended() -> Vec<Ev> {
    let mut e = with_agreed();
    e.push(ended("sp", "su-sam", "su-sam"));
    e
}

/// The live commitments of Sam's record in these worlds: their name ([0; 32]) and the note's
/// two passages.
fn sams_text() -> Vec<HexHash> {
    vec![HexHash([0; 32]), HexHash([1; 32]), HexHash([2; 32])]
}

fn erase(g: &Given, subject: &str, at: Time) -> Result<Decision, Refusal> {
    retention::erase_due(&g.p, &Policy::default(), subject, at)
}

/// Folds an erasure as the system actor would append it.
fn erased(mut g: Given, d: Decision, at: Time) -> Given {
    for e in d.events {
        g.record(
            (
                e.stream,
                e.subject,
                retention::RETENTION_ACTOR.into(),
                e.event,
            ),
            Some(at),
        );
    }
    g
}

fn refused_with(out: Result<Decision, Refusal>, code: Code, rule: &str) {
    match out {
        Err(r) => assert_eq!((r.code, r.rule), (code, rule), "{r}"),
        Ok(d) => panic!("expected a refusal under {rule}, got {d:?}"),
    }
}

#[test]
fn an_adults_record_is_erased_20_years_after_the_end_of_care_and_not_a_day_before() {
    let g = given(with_care_ended());
    refused_with(
        erase(&g, "su-sam", day("2045-12-31").plus(Time::DAY - 1)),
        Code::FailedPrecondition,
        "retention.due",
    );
    let d = erase(&g, "su-sam", day("2046-01-01")).unwrap();
    assert_eq!(
        d.events
            .iter()
            .map(|e| (e.stream.as_str(), e.subject.as_deref(), &e.event))
            .collect::<Vec<_>>(),
        vec![(
            "retention:su-sam",
            Some("su-sam"),
            &Event::RetentionErased(RetentionErased {
                rule: RetentionRule::AdultEndOfCare,
                basis: "2026-01-01".into(),
                due: "2046-01-01".into(),
                segments: sams_text(),
            })
        )]
    );
    // Erased exactly as an agreed redaction erases: in the same durable step.
    assert_eq!(d.erase, vec![[0; 32], [1; 32], [2; 32]]);
    // Decided again if any of the record's streams moves meanwhile (a note revised).
    for s in [
        "note:n",
        "meeting:m",
        "support:sp",
        "actor:su-sam",
        "consent:su-sam",
    ] {
        assert!(d.depends.iter().any(|x| x == s), "{s} in {:?}", d.depends);
    }
    // Ola's record is not touched, and her care has not ended.
    let g = given(with_care_ended()).and(olas_record());
    refused_with(
        erase(&g, "su-ola", day("2090-01-01")),
        Code::FailedPrecondition,
        "retention.due",
    );
    let run = retention::run(&g.p, &Policy::default(), day("2046-01-01"));
    assert_eq!(run.len(), 1);
    assert_eq!(run[0].0, "su-sam");
}

#[test]
fn a_second_run_erases_nothing_more_and_the_plan_says_it_was_erased() {
    let g = given(with_care_ended());
    let at = day("2046-01-02");
    let d = erase(&g, "su-sam", at).unwrap();
    let g = erased(g, d, at);
    let r = &g.p.retention["su-sam"];
    assert_eq!(r.erased.len(), 3);
    assert_eq!(r.erased_at(&HexHash([1; 32])), Some(at));
    assert!(retention::live_segments(&g.p, "su-sam").is_empty());
    refused_with(
        erase(&g, "su-sam", at.plus(Time::DAY)),
        Code::FailedPrecondition,
        "retention.nothing_left",
    );
    assert!(retention::run(&g.p, &Policy::default(), at.plus(Time::DAY)).is_empty());
    let plan = retention::plan(&g.p, &Policy::default(), at);
    let sam = plan.iter().find(|e| e.subject == "su-sam").unwrap();
    assert_eq!((sam.state, sam.segments), (PlanState::Erased, 0));
    assert_eq!(sam.erased_at, Some(at));
}

#[test]
fn care_ends_with_the_latest_relationship_and_only_once_none_is_open() {
    // Still accepted: no due date, whatever the time.
    let g = given(with_agreed());
    refused_with(
        erase(&g, "su-sam", day("2200-01-01")),
        Code::FailedPrecondition,
        "retention.due",
    );
    let plan = retention::plan_entry(&g.p, &Policy::default(), "su-sam", day("2200-01-01"));
    assert_eq!(plan.state, PlanState::NotScheduled);
    assert!(plan.why.unwrap().contains("still open"));
    // A second relationship, declined a year later, moves the end of care.
    let mut later = with_care_ended();
    later.push(referred("sp2", "su-sam", "pw-ben"));
    let mut g = given(later);
    g.record(
        support_ev(
            "sp2",
            "su-sam",
            "su-sam",
            Event::SupportDeclined(SupportDeclined { on_behalf: false }),
        ),
        Some(day("2027-03-04")),
    );
    let s = retention::schedule(&g.p, &Policy::default(), "su-sam").unwrap();
    assert_eq!(
        (s.basis.as_str(), s.due.as_str()),
        ("2027-03-04", "2047-03-04")
    );
}

#[test]
fn a_record_is_erased_10_years_after_death_when_that_is_sooner_even_with_care_open() {
    let g = given(with_agreed())
        .when(
            "admin",
            record_date("su-sam", DateKind::Death, "2030-03-10"),
            day("2030-04-01"),
        )
        .then_emits(&[(
            "retention:su-sam",
            Some("su-sam"),
            Event::RetentionDateRecorded(RetentionDateRecorded {
                kind: DateKind::Death,
                date: "2030-03-10".into(),
            }),
        )])
        .and_apply();
    refused_with(
        erase(&g, "su-sam", day("2040-03-09")),
        Code::FailedPrecondition,
        "retention.due",
    );
    let d = erase(&g, "su-sam", day("2040-03-10")).unwrap();
    let Event::RetentionErased(e) = &d.events[0].event else {
        panic!("{d:?}")
    };
    assert_eq!(
        (e.rule, e.basis.as_str(), e.due.as_str()),
        (RetentionRule::Death, "2030-03-10", "2040-03-10")
    );
    // The adult rule, when it comes sooner, wins: care ended 2026, death in 2045.
    let g = given(with_care_ended())
        .when(
            "admin",
            record_date("su-sam", DateKind::Death, "2045-01-01"),
            day("2045-02-01"),
        )
        .then_events(&[Event::RetentionDateRecorded(RetentionDateRecorded {
            kind: DateKind::Death,
            date: "2045-01-01".into(),
        })])
        .and_apply();
    let s = retention::schedule(&g.p, &Policy::default(), "su-sam").unwrap();
    assert_eq!(
        (s.rule, s.due.as_str()),
        (RetentionRule::AdultEndOfCare, "2046-01-01")
    );
    // An organisation on the earlier code (8 years after death) sets it in its policy.
    let eight = Policy::parse("years_after_death = 8").unwrap();
    let s = retention::schedule(&g.p, &eight, "su-sam").unwrap();
    assert_eq!(
        (s.rule, s.due.as_str()),
        (RetentionRule::AdultEndOfCare, "2046-01-01")
    );
    let g = given(with_agreed())
        .when(
            "admin",
            record_date("su-sam", DateKind::Death, "2030-03-10"),
            day("2030-04-01"),
        )
        .then_events(&[Event::RetentionDateRecorded(RetentionDateRecorded {
            kind: DateKind::Death,
            date: "2030-03-10".into(),
        })])
        .and_apply();
    let s = retention::schedule(&g.p, &eight, "su-sam").unwrap();
    assert_eq!(
        (s.rule, s.due.as_str()),
        (RetentionRule::Death, "2038-03-10")
    );
}

#[test]
fn a_childs_record_is_kept_until_their_25th_birthday_or_26th_if_17_at_the_end_of_care() {
    let at = day("2026-06-01");
    let schedule = |birth: &str| {
        let g = given(with_care_ended())
            .when("admin", record_date("su-sam", DateKind::Birth, birth), at)
            .then_events(&[Event::RetentionDateRecorded(RetentionDateRecorded {
                kind: DateKind::Birth,
                date: birth.into(),
            })])
            .and_apply();
        let s = retention::schedule(&g.p, &Policy::default(), "su-sam").unwrap();
        (s.rule, s.basis, s.due)
    };
    // 15 at the end of care (2026-01-01): until the 25th birthday.
    assert_eq!(
        schedule("2010-05-01"),
        (
            RetentionRule::ChildBirthday,
            "2010-05-01".into(),
            "2035-05-01".into()
        )
    );
    // 17 at the end of care: until the 26th.
    assert_eq!(
        schedule("2008-06-01"),
        (
            RetentionRule::Child17Birthday,
            "2008-06-01".into(),
            "2034-06-01".into()
        )
    );
    // A leap-day birthday falls on 28 February in a year without one.
    assert_eq!(
        schedule("2008-02-29"),
        (
            RetentionRule::Child17Birthday,
            "2008-02-29".into(),
            "2034-02-28".into()
        )
    );
    // 18 on the day care ended: an adult's record.
    assert_eq!(
        schedule("2008-01-01"),
        (
            RetentionRule::AdultEndOfCare,
            "2026-01-01".into(),
            "2046-01-01".into()
        )
    );
    // The child's record is erased on the birthday, not before.
    let g = given(with_care_ended())
        .when(
            "admin",
            record_date("su-sam", DateKind::Birth, "2010-05-01"),
            at,
        )
        .then_events(&[Event::RetentionDateRecorded(RetentionDateRecorded {
            kind: DateKind::Birth,
            date: "2010-05-01".into(),
        })])
        .and_apply();
    refused_with(
        erase(&g, "su-sam", day("2035-04-30")),
        Code::FailedPrecondition,
        "retention.due",
    );
    assert_eq!(
        erase(&g, "su-sam", day("2035-05-01")).unwrap().erase.len(),
        3
    );
}

#[test]
fn a_legal_hold_stops_erasure_and_lifting_it_lets_it_run() {
    let at = day("2046-02-01");
    let g = given(with_care_ended())
        .when("sg-lee", place_hold("su-sam", "h-1"), now())
        .then_emits(&[(
            "retention:su-sam",
            Some("su-sam"),
            Event::LegalHoldPlaced(LegalHoldPlaced {
                hold_id: "h-1".into(),
                reason: HoldReason::Inquest,
            }),
        )])
        .and_apply()
        .when("admin", place_hold("su-sam", "h-2"), now())
        .then_events(&[Event::LegalHoldPlaced(LegalHoldPlaced {
            hold_id: "h-2".into(),
            reason: HoldReason::Inquest,
        })])
        .and_apply();
    refused_with(
        erase(&g, "su-sam", at),
        Code::FailedPrecondition,
        "legal_hold.in_force",
    );
    assert!(retention::run(&g.p, &Policy::default(), at).is_empty());
    let plan = retention::plan_entry(&g.p, &Policy::default(), "su-sam", at);
    assert_eq!(
        (plan.state, plan.holds.clone()),
        (PlanState::Held, vec!["h-1".to_string(), "h-2".to_string()])
    );
    assert_eq!(plan.segments, 3);
    // One hold lifted: the other still holds it.
    let g = g
        .when("admin", lift_hold("su-sam", "h-1"), now())
        .then_events(&[Event::LegalHoldLifted(LegalHoldLifted {
            hold_id: "h-1".into(),
        })])
        .and_apply();
    refused_with(
        erase(&g, "su-sam", at),
        Code::FailedPrecondition,
        "legal_hold.in_force",
    );
    let g = g
        .when("sg-lee", lift_hold("su-sam", "h-2"), now())
        .then_events(&[Event::LegalHoldLifted(LegalHoldLifted {
            hold_id: "h-2".into(),
        })])
        .and_apply();
    assert_eq!(
        retention::plan_entry(&g.p, &Policy::default(), "su-sam", at).state,
        PlanState::Due
    );
    assert_eq!(erase(&g, "su-sam", at).unwrap().erase.len(), 3);
}

#[test]
fn passages_removed_by_agreement_are_not_erased_again() {
    let mut e = with_agreed();
    e.push(proposed("n", "su-sam", "su-sam", "r", &["s1"]));
    e.push(note_ev(
        "n",
        "su-sam",
        "pw-amara",
        Event::RedactionAgreed(RedactionAgreed {
            proposal_id: "r".into(),
        }),
    ));
    e.push(ended("sp", "su-sam", "su-sam"));
    let g = given(e);
    let d = erase(&g, "su-sam", day("2046-01-01")).unwrap();
    assert_eq!(d.erase, vec![[0; 32], [2; 32]]);
}

#[test]
fn every_kind_of_text_in_the_record_is_erased() {
    let mut e = with_care_ended();
    e.push(raised("k", "su-sam", "sg-lee"));
    e.push(ev(
        "statement:st",
        Some("su-sam"),
        "su-sam",
        Event::StatementAdded(StatementAdded {
            statement_id: "st".into(),
            target_stream: "note:n".into(),
            segments: segs(&[("w", 11)]),
        }),
    ));
    e.push(consent_granted(
        "su-sam",
        "su-sam",
        ConsentGranted {
            consent_id: "c-p".into(),
            scope: Scope::ShareWithPerson,
            grantee: Some(Grantee::Person(seg("who", 12))),
            expires_at: None,
            on_behalf: false,
        },
    ));
    let mut m = meeting_recorded("m2", "sp", "pw-amara", T0);
    m.place_detail = Some(seg("place", 13));
    e.push(ev(
        "meeting:m2",
        Some("su-sam"),
        "pw-amara",
        Event::MeetingRecorded(m),
    ));
    e.push(withheld("su-sam", "concern:k"));
    e.push(ev(
        "discussion:d",
        Some("su-sam"),
        "ct-cho",
        Event::DiscussionRecorded(DiscussionRecorded {
            discussion_id: "d".into(),
            setting: DiscussionSetting::Mdt,
            with: DiscussedWith::Team("cmht".into()),
            held_at: T0,
            basis: "present".into(),
            summary: segs(&[("ds", 14)]),
        }),
    ));
    e.push(proposed("n", "su-sam", "su-sam", "r", &["s2"]));
    e.push(note_ev(
        "n",
        "su-sam",
        "pw-amara",
        Event::RedactionDeclined(RedactionDeclined {
            proposal_id: "r".into(),
            reason: Some(seg("why", 15)),
        }),
    ));
    let g = given(e);
    assert_eq!(g.p.skipped, 0, "every given entry fits the state");
    let d = erase(&g, "su-sam", day("2046-01-01")).unwrap();
    let mut want: Vec<[u8; 32]> = [0u8, 1, 2, 7, 9, 11, 12, 13, 14, 15]
        .iter()
        .map(|n| [*n; 32])
        .collect();
    want.sort();
    assert_eq!(d.erase, want);
}

#[test]
fn retention_dates_are_recorded_by_an_admin_and_must_be_real_past_dates() {
    let at = day("2026-06-01");
    given(with_care_ended())
        .when(
            "pw-amara",
            record_date("su-sam", DateKind::Birth, "2000-01-01"),
            at,
        )
        .then_refused(Code::PermissionDenied, "role", "caller")
        .when(
            "sg-lee",
            record_date("su-sam", DateKind::Death, "2026-01-01"),
            at,
        )
        .then_refused(Code::PermissionDenied, "role", "caller")
        .when(
            "su-sam",
            record_date("su-sam", DateKind::Birth, "2000-01-01"),
            at,
        )
        .then_refused(Code::PermissionDenied, "role", "caller")
        .when(
            "admin",
            record_date("su-nobody", DateKind::Birth, "2000-01-01"),
            at,
        )
        .then_refused(Code::NotFound, "exists", "subject")
        .when(
            "admin",
            record_date("pw-amara", DateKind::Birth, "2000-01-01"),
            at,
        )
        .then_refused(Code::NotFound, "exists", "subject")
        .when(
            "admin",
            record_date("su-sam", DateKind::Birth, "2000-02-30"),
            at,
        )
        .then_refused(Code::InvalidArgument, "retention.date", "date")
        .when(
            "admin",
            record_date("su-sam", DateKind::Birth, "01/02/2000"),
            at,
        )
        .then_refused(Code::InvalidArgument, "retention.date", "date")
        .when(
            "admin",
            record_date("su-sam", DateKind::Death, "2026-06-02"),
            at,
        )
        .then_refused(Code::InvalidArgument, "retention.date_past", "date")
        .when(
            "admin",
            record_date("su-sam", DateKind::Birth, "2000-01-01"),
            at,
        )
        .then_events(&[Event::RetentionDateRecorded(RetentionDateRecorded {
            kind: DateKind::Birth,
            date: "2000-01-01".into(),
        })])
        .and_apply()
        .when(
            "admin",
            record_date("su-sam", DateKind::Death, "1999-12-31"),
            at,
        )
        .then_refused(Code::InvalidArgument, "retention.death_after_birth", "date");
}

#[test]
fn legal_holds_are_placed_and_lifted_by_admins_and_safeguarding_leads_only() {
    let g = given(with_care_ended());
    let mut g = g;
    for who in ["su-sam", "pw-amara", "ct-cho", "au-ida"] {
        g = g.when(who, place_hold("su-sam", "h"), now()).then_refused(
            Code::PermissionDenied,
            "role",
            "caller",
        );
    }
    let g = g
        .when("admin", place_hold("su-nobody", "h"), now())
        .then_refused(Code::NotFound, "exists", "subject")
        .when("admin", place_hold("su-sam", "has space"), now())
        .then_refused(Code::InvalidArgument, "identifier", "hold_id")
        .when("admin", lift_hold("su-sam", "h"), now())
        .then_refused(Code::NotFound, "exists", "hold_id")
        .when("admin", place_hold("su-sam", "h"), now())
        .then_events(&[Event::LegalHoldPlaced(LegalHoldPlaced {
            hold_id: "h".into(),
            reason: HoldReason::Inquest,
        })])
        .and_apply()
        .when("sg-lee", place_hold("su-sam", "h"), now())
        .then_refused(Code::AlreadyExists, "unique_id", "hold_id")
        .when("au-ida", lift_hold("su-sam", "h"), now())
        .then_refused(Code::PermissionDenied, "role", "caller")
        .when("sg-lee", lift_hold("su-sam", "h"), now())
        .then_events(&[Event::LegalHoldLifted(LegalHoldLifted {
            hold_id: "h".into(),
        })])
        .and_apply();
    g.when("admin", lift_hold("su-sam", "h"), now())
        .then_refused(Code::FailedPrecondition, "legal_hold.in_force", "hold_id");
}

#[test]
fn only_an_admin_runs_the_retention_schedule_and_nobody_erases_by_command() {
    let g = given(with_care_ended());
    assert!(retention::may_run(&g.actor("admin")).is_ok());
    for who in ["su-sam", "pw-amara", "ct-cho", "sg-lee", "au-ida"] {
        let r = retention::may_run(&g.actor(who)).unwrap_err();
        assert_eq!((r.code, r.rule), (Code::PermissionDenied, "role"), "{who}");
    }
    // Nobody can be registered as the system actor.
    let g = g
        .when(
            "admin",
            Command::RegisterActor {
                id: retention::RETENTION_ACTOR.into(),
                role: Role::Admin,
                team: None,
                display: text("display", 3),
            },
            now(),
        )
        .then_refused(Code::InvalidArgument, "actor.reserved_id", "id");
    // An erasure is not a command: the only way to one is the schedule's own decision.
    refused_with(
        erase(&g, "su-nobody", day("2046-01-01")),
        Code::NotFound,
        "exists",
    );
}

#[test]
fn retention_erases_goals_what_was_done_in_meetings_and_every_place_proposed() {
    let mut e = with_support();
    e.push(goal_set("g", "sp", "su-sam"));
    let g = given(e)
        .when("pw-amara", plan("pm", "sp", now().plus(Time::DAY)), now())
        .and_apply()
        .when("su-sam", propose_place("pm", false), now())
        .and_apply()
        .when("pw-amara", hold("pm", &["g"], vec![accompanied(50)]), now())
        .and_apply();
    let all = retention::record_segments(&g.p, "su-sam");
    for n in [40u8, 5, 6, 50] {
        assert!(
            all.contains(&HexHash([n; 32])),
            "passage {n} is not erased with the record"
        );
    }
}

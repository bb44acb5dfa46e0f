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
//! core alone decides them, in milliseconds. Text never reaches the core: segments are
//! `SegmentRef`s with fixed fake commitments.
//!
//! Work in progress (issue 11): the actor, token, support and meeting rules are written; the
//! world builders for notes, consent, safeguarding and reads are here for the tests still to
//! come, hence the allowances below, to be removed when they are used.
#![allow(dead_code, unused_imports)]

use std::collections::BTreeMap;

use withus::domain::access::{
    self, decide_access_log, decide_audit, decide_read, decide_sar_read, AuditRead, ReadDecision,
    SarRead,
};
use withus::domain::event::*;
use withus::domain::projection::{ActorRec, NoteStatus};
use withus::domain::types::*;
use withus::domain::{decide, decide_bootstrap, Code, Command, Decision, Projections, Refusal};

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
        let out = decide(&self.p, &who, &cmd, now);
        When {
            g: self,
            caller: caller.into(),
            what: format!("{caller} {cmd:?}"),
            now,
            out,
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

    /// Then: refused with this code, rule and field, and a message. The state is unchanged.
    fn then_refused(self, code: Code, rule: &str, field: &str) -> Given {
        let r = self.refusal();
        assert_eq!(
            (r.code, r.rule, r.field.as_str()),
            (code, rule, field),
            "{}: {r}",
            self.what
        );
        assert!(!r.message.is_empty(), "{}: empty message", self.what);
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

fn acknowledged(c: &str, subject: &str) -> Ev {
    ev(
        &format!("concern:{c}"),
        Some(subject),
        "sg-lee",
        Event::SafeguardingAcknowledged(SafeguardingAcknowledged {}),
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
        display: seg("display", 0),
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

fn draft(n: &str, m: &str, segments: Vec<SegmentRef>) -> Command {
    Command::DraftNote {
        note_id: n.into(),
        meeting_id: m.into(),
        segments,
    }
}
fn revise(n: &str, segments: Vec<SegmentRef>) -> Command {
    Command::ReviseNote {
        note_id: n.into(),
        segments,
    }
}
fn addendum(n: &str, segments: Vec<SegmentRef>) -> Command {
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
fn decline_redaction(n: &str, pid: &str, reason: Option<SegmentRef>) -> Command {
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

fn grant(subject: &str, c: &str, scope: Scope, grantee: Option<Grantee>) -> Command {
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
        summary: vec![seg("c1", 9)],
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
        detail: seg("d", 8),
    }
}
fn withhold(subject: &str, target: &str, review_by: Time) -> Command {
    Command::Withhold {
        subject: subject.into(),
        target_stream: target.into(),
        exemption: Exemption::ThirdParty,
        justification: seg("j", 7),
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
fn the_first_admin_is_created_only_on_an_empty_log() {
    let d = decide_bootstrap(&Projections::new(), "admin", seg("display", 0)).unwrap();
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
    let r = decide_bootstrap(&given(cast()).p, "admin2", seg("display", 0)).unwrap_err();
    assert_eq!(
        (r.code, r.rule, r.field.as_str()),
        (Code::FailedPrecondition, "bootstrap.once", "id")
    );
    let r = decide_bootstrap(&Projections::new(), "ad min", seg("display", 0)).unwrap_err();
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

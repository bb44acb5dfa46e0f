//! Retention: a person's record is kept for the organisation's retention period, then its content
//! is erased exactly as an agreed redaction erases it (salts wiped; entries and proofs intact),
//! unless a legal hold is in force.
//!
//! Owns: `retention.date_recorded`, `legal_hold.placed`, `legal_hold.lifted` and
//! `retention.erased` (all on stream `retention:<subject>`), the [`Policy`] (with its TOML form),
//! the schedule of each person ([`schedule`]), the DPO's [`plan`], the decision to erase
//! ([`erase_due`], [`run`]) and [`RetentionRec`]. Must not touch: I/O or clocks (`now` is passed
//! in; the service runs it daily and on demand), other areas' records except to read which
//! segments and relationships are the person's.
//!
//! Rules (DOMAIN.md "Retention"):
//! - the period follows the NHS Records Management Code of Practice 2021 for mental-health
//!   records by default: 20 years after the end of care, or 10 years after death if sooner;
//!   a child's record (under 18 at the end of care) until their 25th birthday, or 26th if they
//!   were 17 at the end of care, or 10 years after death if sooner;
//! - the end of care is the latest end (ended or declined) of the person's support
//!   relationships, once none is still referred, offered or accepted;
//! - erasure is by the system actor [`RETENTION_ACTOR`], never by a person; a legal hold in force
//!   stops it; what is erased never comes back, and a second run erases nothing more.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::actors::ActorRec;
use super::calendar::{civil_from_days, days_from_civil, days_in_month};
use super::checks::*;
use super::decide::Decision;
use super::event::*;
use super::projection::{Key, Projections};
use super::stream::Stream;
use super::support::SupportStatus;
use super::types::*;

/// The system actor whose entries erase under the retention period. It is not registered and
/// has no token: nobody can act as it; only the server's schedule (or an admin's "run now")
/// makes its entries.
pub const RETENTION_ACTOR: &str = "withus-retention";
/// The role its entries record.
pub const RETENTION_ROLE: &str = "system";

/// The retention periods, in years. The default is the NHS Records Management Code of Practice
/// 2021 for mental-health records (earlier codes said 8 years after death).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// An adult's record: years after the end of care.
    pub adult_years_after_end_of_care: u32,
    /// Years after death, when that comes sooner than the other rule.
    pub years_after_death: u32,
    /// A child's record (under 18 at the end of care): until this birthday.
    pub child_until_birthday: u32,
    /// A child who was 17 at the end of care: until this birthday.
    pub child_17_until_birthday: u32,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            adult_years_after_end_of_care: 20,
            years_after_death: 10,
            child_until_birthday: 25,
            child_17_until_birthday: 26,
        }
    }
}

/// The age below which a person at the end of care is a child.
pub const ADULT_AGE: i64 = 18;
/// Longest period a policy may set, in years.
pub const MAX_YEARS: u32 = 150;

impl Policy {
    /// Reads a policy file (`retention.example.toml` documents it); a key left out keeps its
    /// default. The error names the line and column, or the key.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let p: Policy = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| line_column(text, s.start))
                .unwrap_or((1, 1));
            format!("line {line}, column {column}: {}", e.message().trim())
        })?;
        p.check()?;
        Ok(p)
    }

    /// Each period is 1 to [`MAX_YEARS`] years; a child's birthdays are adult ages, the
    /// 17-year-old's no earlier than the other child's.
    pub fn check(&self) -> Result<(), String> {
        for (key, v) in [
            (
                "adult_years_after_end_of_care",
                self.adult_years_after_end_of_care,
            ),
            ("years_after_death", self.years_after_death),
            ("child_until_birthday", self.child_until_birthday),
            ("child_17_until_birthday", self.child_17_until_birthday),
        ] {
            if v == 0 || v > MAX_YEARS {
                return Err(format!("{key}: {v} is not between 1 and {MAX_YEARS} years"));
            }
        }
        if i64::from(self.child_until_birthday) < ADULT_AGE {
            return Err(format!(
                "child_until_birthday: {} is before the child is an adult ({ADULT_AGE})",
                self.child_until_birthday
            ));
        }
        if self.child_17_until_birthday < self.child_until_birthday {
            return Err(format!(
                "child_17_until_birthday: {} is before child_until_birthday ({})",
                self.child_17_until_birthday, self.child_until_birthday
            ));
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of byte `at` of `text`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let mut cut = at.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let before = &text[..cut];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A calendar date (UTC, proleptic Gregorian), `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub y: i64,
    pub m: u32,
    pub d: u32,
}

/// Earliest year a recorded date may have.
pub const MIN_YEAR: i64 = 1850;

impl Date {
    /// `YYYY-MM-DD`, a real date from [`MIN_YEAR`] to 9999.
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| {
            b.get(r.clone())
                .filter(|x| x.iter().all(u8::is_ascii_digit))
                .and_then(|_| s.get(r))
        };
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let y: i64 = digits(0..4)?.parse().ok()?;
        let m: u32 = digits(5..7)?.parse().ok()?;
        let d: u32 = digits(8..10)?.parse().ok()?;
        if y < MIN_YEAR || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        Some(Date { y, m, d })
    }

    /// The UTC date of `t`.
    pub fn of(t: Time) -> Date {
        let days = i64::try_from(t.0 / Time::DAY).unwrap_or(i64::MAX / 2);
        let (y, m, d) = civil_from_days(days);
        Date { y, m, d }
    }

    /// The same date `n` years later; 29 February becomes 28 February in a year without one.
    pub fn plus_years(self, n: u32) -> Date {
        let y = self.y + i64::from(n);
        Date {
            y,
            m: self.m,
            d: self.d.min(days_in_month(y, self.m)),
        }
    }

    /// The first millisecond of the date (0 for a date before 1970).
    pub fn start(self) -> Time {
        let days = days_from_civil(self.y, self.m, self.d);
        Time(u64::try_from(days).unwrap_or(0).saturating_mul(Time::DAY))
    }

    /// Whole years from `self` (a birth date) to `to`.
    pub fn age_on(self, to: Date) -> i64 {
        let before_birthday = (to.m, to.d) < (self.m, self.d);
        to.y - self.y - i64::from(before_birthday)
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.y, self.m, self.d)
    }
}

/// A legal hold on a person's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRec {
    pub hold_id: String,
    pub reason: HoldReason,
    pub placed_by: String,
    pub placed_at: Time,
    pub lifted_by: Option<String>,
    pub lifted_at: Option<Time>,
}

/// One run's erasure of a person's content (the entries of one append, merged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureRec {
    pub at: Time,
    pub rule: RetentionRule,
    pub basis: String,
    pub due: String,
    /// How many segments it erased.
    pub segments: u64,
}

/// A person's retention (stream `retention:<subject>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionRec {
    pub birth: Option<String>,
    pub death: Option<String>,
    pub holds: BTreeMap<String, HoldRec>,
    pub erasures: Vec<ErasureRec>,
    /// Every commitment erased under the retention period, and when.
    pub erased: BTreeMap<HexHash, Time>,
    pub version: u64,
}

impl RetentionRec {
    /// The ids of the holds in force.
    pub fn holds_in_force(&self) -> Vec<&str> {
        self.holds
            .values()
            .filter(|h| h.lifted_at.is_none())
            .map(|h| h.hold_id.as_str())
            .collect()
    }

    /// When `commit` was erased under the retention period, if it was.
    pub fn erased_at(&self, commit: &HexHash) -> Option<Time> {
        self.erased.get(commit).copied()
    }
}

/// When a person's content is due for erasure, and under which rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schedule {
    pub rule: RetentionRule,
    /// The date counted from: the end of care, the death or the birth.
    pub basis: String,
    /// The first day the content is no longer kept.
    pub due: String,
    #[serde(skip)]
    pub due_at: Time,
}

/// Where a person's care stands, for retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Care {
    /// No support relationship was ever recorded.
    None,
    /// A relationship is still referred, offered or accepted.
    Open,
    /// Every relationship ended or was declined; the latest of those times.
    Ended(Time),
}

/// The end of care: the latest end (ended or declined) of the person's relationships, once none
/// is open.
pub fn care(p: &Projections, subject: &str) -> Care {
    let Some(person) = p.people.get(subject) else {
        return Care::None;
    };
    let mut end: Option<Time> = None;
    for s in person.supports.iter().filter_map(|id| p.supports.get(id)) {
        match s.status {
            SupportStatus::Referred | SupportStatus::Offered | SupportStatus::Accepted => {
                return Care::Open
            }
            SupportStatus::Ended | SupportStatus::Declined => {
                let t = s.ended_at.or(s.declined_at).unwrap_or(s.referred_at);
                end = Some(end.map_or(t, |e| e.max(t)));
            }
        }
    }
    end.map_or(Care::None, Care::Ended)
}

/// The person's schedule under `policy`, or why they have none.
pub fn schedule(p: &Projections, policy: &Policy, subject: &str) -> Result<Schedule, &'static str> {
    let rec = p.retention.get(subject);
    let birth = rec.and_then(|r| r.birth.as_deref()).and_then(Date::parse);
    let death = rec.and_then(|r| r.death.as_deref()).and_then(Date::parse);
    let mut candidates: Vec<(RetentionRule, Date, Date)> = Vec::new();
    let care = care(p, subject);
    if let Care::Ended(t) = care {
        let end = Date::of(t);
        match birth {
            Some(b) if b.age_on(end) < ADULT_AGE => {
                let (rule, age) = if b.age_on(end) == ADULT_AGE - 1 {
                    (
                        RetentionRule::Child17Birthday,
                        policy.child_17_until_birthday,
                    )
                } else {
                    (RetentionRule::ChildBirthday, policy.child_until_birthday)
                };
                candidates.push((rule, b, b.plus_years(age)));
            }
            _ => candidates.push((
                RetentionRule::AdultEndOfCare,
                end,
                end.plus_years(policy.adult_years_after_end_of_care),
            )),
        }
    }
    if let Some(d) = death {
        candidates.push((
            RetentionRule::Death,
            d,
            d.plus_years(policy.years_after_death),
        ));
    }
    let (rule, basis, due) = candidates
        .into_iter()
        .min_by_key(|(_, _, due)| *due)
        .ok_or(match care {
            Care::Open => "care has not ended: a support relationship is still open",
            _ => "no support relationship has been recorded and no date of death",
        })?;
    Ok(Schedule {
        rule,
        basis: basis.to_string(),
        due: due.to_string(),
        due_at: due.start(),
    })
}

/// Every commitment of text in the person's record: their registration's name, meetings' place
/// details, every revision of every note and the reasons given for declining a redaction,
/// consents' named people, concerns' summaries and outcomes, withholdings' justifications,
/// discussions' summaries, their statements, their goals (words, reviews, closing words), what
/// was done in meetings (activities' words, every place proposed), and the evidence of
/// authorities to act for them.
pub fn record_segments(p: &Projections, subject: &str) -> BTreeSet<HexHash> {
    let mut out = BTreeSet::new();
    if let Some(a) = p.actors.get(subject) {
        out.insert(a.display.commit);
    }
    // Not only under the person's item index: a consent or a withholding can exist before any
    // item does (found by the decision fuzzer's check that retention finds every word).
    if let Some(l) = p.consents.get(subject) {
        for c in l.consents.values() {
            if let Some(Grantee::Person(s)) = &c.grantee {
                out.insert(s.commit);
            }
        }
    }
    if let Some(l) = p.disclosures.get(subject) {
        out.extend(l.items.iter().map(|w| w.justification.commit));
    }
    let Some(person) = p.people.get(subject) else {
        return out;
    };
    for m in person.meetings.iter().filter_map(|id| p.meetings.get(id)) {
        out.extend(m.place_detail.iter().map(|s| s.commit));
        out.extend(m.earlier_place_details.iter().map(|s| s.commit));
        out.extend(
            m.activities
                .iter()
                .filter_map(|a| a.detail.as_ref().map(|s| s.commit)),
        );
    }
    for g in person.goals.iter().filter_map(|id| p.goals.get(id)) {
        out.extend(g.words.iter().map(|s| s.commit));
        for r in &g.reviews {
            out.extend(r.words.iter().map(|s| s.commit));
        }
        if let Some(c) = &g.closed {
            out.extend(c.words.iter().map(|s| s.commit));
        }
    }
    for a in person
        .authorities
        .iter()
        .filter_map(|id| p.authorities.get(id))
    {
        out.extend(a.evidence.iter().map(|s| s.commit));
    }
    for n in person.notes.iter().filter_map(|id| p.notes.get(id)) {
        for r in &n.revisions {
            out.extend(r.segments.iter().map(|s| s.commit));
        }
        for pr in n.proposals.values() {
            out.extend(pr.decline_reason.iter().map(|s| s.commit));
        }
    }
    for c in person.concerns.iter().filter_map(|id| p.concerns.get(id)) {
        out.extend(c.summary.iter().map(|s| s.commit));
        out.extend(c.outcome_detail.iter().map(|s| s.commit));
    }
    for d in person
        .discussions
        .iter()
        .filter_map(|id| p.discussions.get(id))
    {
        out.extend(d.summary.iter().map(|s| s.commit));
    }
    for s in person
        .statements
        .iter()
        .filter_map(|id| p.statements.get(id))
    {
        out.extend(s.segments.iter().map(|s| s.commit));
    }
    out
}

/// The segments of the person's record whose content still exists: not removed by an agreed
/// redaction, not already erased under the retention period.
pub fn live_segments(p: &Projections, subject: &str) -> Vec<HexHash> {
    let mut all = record_segments(p, subject);
    if let Some(person) = p.people.get(subject) {
        for n in person.notes.iter().filter_map(|id| p.notes.get(id)) {
            let removed: Vec<String> = n.removed.keys().cloned().collect();
            for c in n.commits_of(&removed) {
                all.remove(&c);
            }
        }
    }
    if let Some(r) = p.retention.get(subject) {
        all.retain(|c| !r.erased.contains_key(c));
    }
    all.into_iter().collect()
}

/// The streams of the person's record: what an erasure relies on (a note revised while it is
/// decided is decided again, so its new text is not missed).
fn record_streams(p: &Projections, subject: &str) -> Vec<Stream> {
    let mut out = vec![
        Stream::actor(subject),
        Stream::consent(subject),
        Stream::disclosure(subject),
    ];
    if let Some(person) = p.people.get(subject) {
        out.extend(person.supports.iter().map(|id| Stream::support(id)));
        out.extend(person.meetings.iter().map(|id| Stream::meeting(id)));
        out.extend(person.notes.iter().map(|id| Stream::note(id)));
        out.extend(person.concerns.iter().map(|id| Stream::concern(id)));
        out.extend(person.discussions.iter().map(|id| Stream::discussion(id)));
        out.extend(person.statements.iter().map(|id| Stream::statement(id)));
        out.extend(person.goals.iter().map(|id| Stream::goal(id)));
        out.extend(person.authorities.iter().map(|id| Stream::authority(id)));
    }
    out
}

crate::domain::types::vocabulary!(
    /// What a person's plan says.
    PlanState {
        /// The next run erases it.
        Due = "due",
        /// Kept until the due date.
        Waiting = "waiting",
        /// Due, but a legal hold is in force.
        Held = "held",
        /// No due date yet (care has not ended, or nothing to count from).
        NotScheduled = "not_scheduled",
        /// Erased; nothing of it is left to erase.
        Erased = "erased",
    }
);

/// One person in the DPO's plan: what would be erased and when. Names no content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanEntry {
    pub subject: String,
    pub state: PlanState,
    pub rule: Option<RetentionRule>,
    pub basis: Option<String>,
    pub due: Option<String>,
    /// Why there is no due date, when there is none.
    pub why: Option<String>,
    /// The legal holds in force.
    pub holds: Vec<String>,
    /// How many segments of text would be erased.
    pub segments: usize,
    /// When content was last erased under the retention period.
    pub erased_at: Option<Time>,
}

/// One person's plan entry at `now`.
pub fn plan_entry(p: &Projections, policy: &Policy, subject: &str, now: Time) -> PlanEntry {
    let rec = p.retention.get(subject);
    let holds: Vec<String> = rec
        .map(|r| r.holds_in_force().into_iter().map(str::to_string).collect())
        .unwrap_or_default();
    let live = live_segments(p, subject).len();
    let erased_at = rec.and_then(|r| r.erasures.last()).map(|e| e.at);
    let (s, why) = match schedule(p, policy, subject) {
        Ok(s) => (Some(s), None),
        Err(w) => (None, Some(w.to_string())),
    };
    let state = match &s {
        None => PlanState::NotScheduled,
        Some(s) if now < s.due_at => PlanState::Waiting,
        Some(_) if live == 0 && erased_at.is_some() => PlanState::Erased,
        Some(_) if !holds.is_empty() => PlanState::Held,
        Some(_) => PlanState::Due,
    };
    PlanEntry {
        subject: subject.to_string(),
        state,
        rule: s.as_ref().map(|s| s.rule),
        basis: s.as_ref().map(|s| s.basis.clone()),
        due: s.as_ref().map(|s| s.due.clone()),
        why,
        holds,
        segments: live,
        erased_at,
    }
}

/// The plan for every person (service user), in id order.
pub fn plan(p: &Projections, policy: &Policy, now: Time) -> Vec<PlanEntry> {
    p.actors
        .values()
        .filter(|a| a.role == Role::ServiceUser)
        .map(|a| plan_entry(p, policy, &a.id, now))
        .collect()
}

/// The erasure of `subject`'s live content, if it is due at `now` and no hold is in force.
pub fn erase_due(p: &Projections, policy: &Policy, subject: &str, now: Time) -> R<Decision> {
    check_id("subject", subject)?;
    if !p.is_person(subject) {
        return Err(Refusal::not_found("subject", format!("person {subject}")));
    }
    let s = schedule(p, policy, subject).map_err(|why| {
        precondition(
            "retention.due",
            "subject",
            format!("{subject}'s record has no due date: {why}"),
        )
    })?;
    if now < s.due_at {
        return Err(precondition(
            "retention.due",
            "subject",
            format!("{subject}'s record is kept until {} ({:?})", s.due, s.rule),
        ));
    }
    let rec = p.retention.get(subject);
    if let Some(h) = rec.map(|r| r.holds_in_force()).filter(|h| !h.is_empty()) {
        return Err(precondition(
            "legal_hold.in_force",
            "subject",
            format!(
                "{subject}'s record is under legal hold ({}); it is kept until every hold is lifted",
                h.join(", ")
            ),
        ));
    }
    let live = live_segments(p, subject);
    if live.is_empty() {
        return Err(precondition(
            "retention.nothing_left",
            "subject",
            format!("nothing of {subject}'s record is left to erase"),
        ));
    }
    let events = live
        .chunks(MAX_ERASED_PER_EVENT)
        .map(|chunk| super::decide::Emit {
            stream: Stream::retention(subject).name(),
            subject: Some(subject.to_string()),
            event: Event::RetentionErased(RetentionErased {
                rule: s.rule,
                basis: s.basis.clone(),
                due: s.due.clone(),
                segments: chunk.to_vec(),
            }),
        })
        .collect();
    Ok(Decision {
        events,
        erase: live.iter().map(|h| h.0).collect(),
        depends: Vec::new(),
    }
    .depending(record_streams(p, subject)))
}

/// Every erasure due at `now`: one decision per person, in id order.
pub fn run(p: &Projections, policy: &Policy, now: Time) -> Vec<(String, Decision)> {
    p.actors
        .values()
        .filter(|a| a.role == Role::ServiceUser)
        .filter_map(|a| {
            erase_due(p, policy, &a.id, now)
                .ok()
                .map(|d| (a.id.clone(), d))
        })
        .collect()
}

/// Who may run the retention schedule now rather than wait for its daily run: an admin.
pub fn may_run(caller: &ActorRec) -> R<()> {
    if !caller.active {
        return Err(Refusal::new(
            Code::Unauthenticated,
            "actor.active",
            "caller",
            format!("actor {} has been deactivated", caller.id),
        ));
    }
    role(caller, &[Role::Admin], "run the retention schedule")
}

/// The person `subject`, whatever their state (a person who died may have been deactivated).
fn person<'a>(p: &'a Projections, subject: &str) -> R<&'a ActorRec> {
    check_id("subject", subject)?;
    match p.actors.get(subject) {
        Some(a) if a.role == Role::ServiceUser => Ok(a),
        _ => Err(Refusal::not_found("subject", format!("person {subject}"))),
    }
}

pub(super) fn record_date(
    p: &Projections,
    caller: &ActorRec,
    subject: &str,
    kind: &DateKind,
    date: &str,
    now: Time,
) -> R<Decision> {
    role(
        caller,
        &[Role::Admin],
        "record a date the retention period counts from",
    )?;
    person(p, subject)?;
    let d = Date::parse(date).ok_or_else(|| {
        invalid(
            "retention.date",
            "date",
            format!("{date:?} is not a date of the form YYYY-MM-DD from {MIN_YEAR}"),
        )
    })?;
    if d > Date::of(now) {
        return Err(invalid(
            "retention.date_past",
            "date",
            format!("{date} is in the future; record a {kind} once it has happened"),
        ));
    }
    let rec = p.retention.get(subject);
    let other = match kind {
        DateKind::Birth => rec.and_then(|r| r.death.as_deref()),
        DateKind::Death => rec.and_then(|r| r.birth.as_deref()),
    };
    if let Some(o) = other.and_then(Date::parse) {
        let (birth, death) = match kind {
            DateKind::Birth => (d, o),
            DateKind::Death => (o, d),
        };
        if death < birth {
            return Err(invalid(
                "retention.death_after_birth",
                "date",
                format!("a death on {death} would be before the birth on {birth}"),
            ));
        }
    }
    Ok(Decision::one(
        Stream::retention(subject),
        Some(subject.to_string()),
        Event::RetentionDateRecorded(RetentionDateRecorded {
            kind: *kind,
            date: d.to_string(),
        }),
    )
    .depending([Stream::actor(subject)]))
}

const HOLDERS: &[Role] = &[Role::Admin, Role::SafeguardingLead];

pub(super) fn place_hold(
    p: &Projections,
    caller: &ActorRec,
    subject: &str,
    hold_id: &str,
    reason: &HoldReason,
) -> R<Decision> {
    role(caller, HOLDERS, "place a legal hold")?;
    person(p, subject)?;
    check_id("hold_id", hold_id)?;
    if p.retention
        .get(subject)
        .is_some_and(|r| r.holds.contains_key(hold_id))
    {
        return Err(exists("hold_id", format!("legal hold {hold_id}")));
    }
    Ok(Decision::one(
        Stream::retention(subject),
        Some(subject.to_string()),
        Event::LegalHoldPlaced(LegalHoldPlaced {
            hold_id: hold_id.to_string(),
            reason: *reason,
        }),
    ))
}

pub(super) fn lift_hold(
    p: &Projections,
    caller: &ActorRec,
    subject: &str,
    hold_id: &str,
) -> R<Decision> {
    role(caller, HOLDERS, "lift a legal hold")?;
    person(p, subject)?;
    check_id("hold_id", hold_id)?;
    let h = p
        .retention
        .get(subject)
        .and_then(|r| r.holds.get(hold_id))
        .ok_or_else(|| Refusal::not_found("hold_id", format!("legal hold {hold_id}")))?;
    if h.lifted_at.is_some() {
        return Err(precondition(
            "legal_hold.in_force",
            "hold_id",
            format!("legal hold {hold_id} was already lifted"),
        ));
    }
    Ok(Decision::one(
        Stream::retention(subject),
        Some(subject.to_string()),
        Event::LegalHoldLifted(LegalHoldLifted {
            hold_id: hold_id.to_string(),
        }),
    ))
}

/// Folds a retention event.
/// Returns false when the entry does not fit the state (it is then counted as skipped).
pub(super) fn apply(p: &mut Projections, r: &Recorded, next: u64) -> bool {
    let Some(subject) = Projections::stream_id(&r.stream, "retention") else {
        return false;
    };
    if r.subject.as_deref() != Some(subject.as_str()) {
        return false;
    }
    let rec = p.retention.entry(subject.clone()).or_default();
    match &r.event {
        Event::RetentionDateRecorded(e) => match e.kind {
            DateKind::Birth => rec.birth = Some(e.date.clone()),
            DateKind::Death => rec.death = Some(e.date.clone()),
        },
        Event::LegalHoldPlaced(e) => {
            rec.holds.insert(
                e.hold_id.clone(),
                HoldRec {
                    hold_id: e.hold_id.clone(),
                    reason: e.reason,
                    placed_by: r.actor_id.clone(),
                    placed_at: r.at,
                    lifted_by: None,
                    lifted_at: None,
                },
            );
        }
        Event::LegalHoldLifted(e) => {
            let Some(h) = rec.holds.get_mut(&e.hold_id) else {
                return false;
            };
            h.lifted_by = Some(r.actor_id.clone());
            h.lifted_at = Some(r.at);
        }
        Event::RetentionErased(e) => {
            rec.erased.extend(e.segments.iter().map(|c| (*c, r.at)));
            let n = e.segments.len() as u64;
            match rec.erasures.last_mut() {
                Some(last) if last.at == r.at && last.rule == e.rule && last.due == e.due => {
                    last.segments += n;
                }
                _ => rec.erasures.push(ErasureRec {
                    at: r.at,
                    rule: e.rule,
                    basis: e.basis.clone(),
                    due: e.due.clone(),
                    segments: n,
                }),
            }
        }
        _ => return false,
    }
    rec.version = next;
    p.dirty.insert(Key::Retention(subject));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_add_years_and_count_ages() {
        let d = Date::parse("2008-02-29").unwrap();
        assert_eq!(d.plus_years(25).to_string(), "2033-02-28");
        assert_eq!(d.plus_years(4).to_string(), "2012-02-29");
        for bad in [
            "2008-2-29",
            "2007-02-29",
            "1800-01-01",
            "2008-13-01",
            "２００８-01-01",
            "",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
        let b = Date::parse("2000-06-15").unwrap();
        assert_eq!(b.age_on(Date::parse("2017-06-14").unwrap()), 16);
        assert_eq!(b.age_on(Date::parse("2017-06-15").unwrap()), 17);
        assert_eq!(Date::parse("1970-01-02").unwrap().start(), Time(Time::DAY));
    }

    #[test]
    fn a_policy_reads_from_toml_with_defaults_and_names_its_errors() {
        assert_eq!(Policy::parse("").unwrap(), Policy::default());
        let p = Policy::parse("years_after_death = 8\n").unwrap();
        assert_eq!(p.years_after_death, 8);
        assert_eq!(p.adult_years_after_end_of_care, 20);
        assert!(Policy::parse("\nyears = 8\n")
            .unwrap_err()
            .starts_with("line 2"));
        assert!(Policy::parse("years_after_death = \"8\"")
            .unwrap_err()
            .starts_with("line 1"));
        assert!(Policy::parse("years_after_death = 0")
            .unwrap_err()
            .contains("years_after_death"));
        assert!(Policy::parse("child_17_until_birthday = 24")
            .unwrap_err()
            .contains("child_17_until_birthday"));
        let example = include_str!("../../retention.example.toml");
        assert_eq!(Policy::parse(example).unwrap(), Policy::default());
    }
}

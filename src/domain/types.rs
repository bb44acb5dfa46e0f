//! Value types of the domain: roles, enumerations, identifiers, times and segment references.
//!
//! Owns: the closed vocabularies of domain.md (every enumerated value the log may hold) and the
//! JSON shape of each. Must not touch: I/O, clocks, randomness.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::format::{self, Hash};

/// Most characters of an identifier (domain.md: 1–128 printable ASCII without spaces).
pub const MAX_ID_LEN: usize = 128;

/// What an identifier must be, as refusals say it.
pub const ID_RULE: &str = "must be 1-128 printable ASCII characters without spaces";

/// Is `s` an identifier as domain.md defines it?
pub fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_ID_LEN && s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// A time, as milliseconds since the Unix epoch; in JSON the log's `at` form
/// (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub u64);

impl Time {
    pub const MINUTE: u64 = 60_000;
    pub const HOUR: u64 = 60 * Self::MINUTE;
    pub const DAY: u64 = 24 * Self::HOUR;

    pub fn plus(self, ms: u64) -> Time {
        Time(self.0.saturating_add(ms))
    }

    pub fn parse(s: &str) -> Option<Time> {
        format::parse_millis(s).map(Time)
    }
}

impl std::fmt::Display for Time {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format::format_millis(self.0))
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format::format_millis(self.0))
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        let s = String::deserialize(d)?;
        Time::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{s:?} is not a time of the form YYYY-MM-DDTHH:MM:SS.mmmZ"
            ))
        })
    }
}

/// A 32-byte hash, hex in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HexHash(pub Hash);

impl Serialize for HexHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format::to_hex(&self.0))
    }
}

impl<'de> Deserialize<'de> for HexHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<HexHash, D::Error> {
        let s = String::deserialize(d)?;
        format::parse_hex(&s)
            .map(HexHash)
            .ok_or_else(|| serde::de::Error::custom("expected 64 lowercase hex digits"))
    }
}

/// A passage of text as a command carries it, before anything is recorded: its id (unique within
/// its note or event; it names the passage in redaction proposals) and the words. The service
/// commits it (a fresh salt, `BLAKE3-keyed(salt, text)`) and seals it only once the decision
/// accepts the command; the events hold the [`SegmentRef`] that results, never the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Passage {
    pub id: String,
    pub text: String,
}

impl Passage {
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Passage {
        Passage {
            id: id.into(),
            text: text.into(),
        }
    }
}

impl std::fmt::Debug for Passage {
    /// Never the words: a command may be logged, and what a person said is content.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passage")
            .field("id", &self.id)
            .field("chars", &self.text.chars().count())
            .finish()
    }
}

/// A segment reference (log-format.md §4): the log's only trace of a piece of text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentRef {
    /// Unique within its note (or event); names the passage in redaction proposals.
    pub id: String,
    /// `BLAKE3-keyed(salt, text)`; the text itself is in the content store.
    pub commit: HexHash,
    /// Length in Unicode scalar values, shown where the text has been removed.
    pub chars: u64,
}

impl From<crate::content::Segment> for SegmentRef {
    fn from(s: crate::content::Segment) -> SegmentRef {
        SegmentRef {
            id: s.id,
            commit: HexHash(s.commit),
            chars: s.chars,
        }
    }
}

/// A closed vocabulary: every value, each with its one `snake_case` name (the name the log and
/// the views hold). Implemented by [`vocabulary!`]; the wire layer maps each to its proto enum
/// through this trait alone, so a value added here either gets its wire name or fails the
/// bijection test there.
pub trait Vocabulary: Sized + Copy + PartialEq + std::fmt::Debug + 'static {
    /// Every value, in declaration order.
    fn all() -> &'static [Self];
    /// The value's name.
    fn name(self) -> &'static str;
    /// The value of a name; `None` for any other string.
    fn from_name(name: &str) -> Option<Self>;
}

/// Declares a closed vocabulary: a `snake_case` JSON string enum with `as_str`, `parse` and
/// `ALL`, so every value the log may hold is listed in exactly one place.
macro_rules! vocabulary {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ::serde::Serialize, ::serde::Deserialize,
        )]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $variant),+
        }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($s => Some($name::$variant),)+ _ => None }
            }
            /// The accepted values, for refusal messages.
            pub fn expected() -> String {
                [$($s),+].join(", ")
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl $crate::domain::types::Vocabulary for $name {
            fn all() -> &'static [Self] {
                Self::ALL
            }
            fn name(self) -> &'static str {
                self.as_str()
            }
            fn from_name(name: &str) -> Option<Self> {
                Self::parse(name)
            }
        }
    };
}
pub(crate) use vocabulary;

vocabulary!(
    /// Who an actor is, which decides what they may do (domain.md, "Actors and roles").
    Role {
        /// The person a record is about; their actor id is their subject id.
        ServiceUser = "service_user",
        PeerWorker = "peer_worker",
        CareTeam = "care_team",
        SafeguardingLead = "safeguarding_lead",
        Auditor = "auditor",
        Admin = "admin",
        /// Someone acting for the person (a carer, a parent, an attorney) under a recorded
        /// authority (`authority.granted`); reads only within that authority's scope.
        Representative = "representative",
    }
);

vocabulary!(
    /// Why an actor was deactivated.
    DeactivationReason {
        LeftOrganisation = "left_organisation",
        RoleChanged = "role_changed",
        Duplicate = "duplicate",
        Other = "other",
    }
);

vocabulary!(
    /// Where a referral to peer support came from.
    ReferralSource {
        SelfReferral = "self",
        CareTeam = "care_team",
        Gp = "gp",
        Ward = "ward",
        OtherService = "other_service",
    }
);

vocabulary!(
    /// Why a support relationship ended.
    EndReason {
        PersonChose = "person_chose",
        GoalsMet = "goals_met",
        WorkerUnavailable = "worker_unavailable",
        MovedService = "moved_service",
        NoContact = "no_contact",
        Other = "other",
    }
);

vocabulary!(MeetingKind { OneToOne = "one_to_one", Group = "group" });

vocabulary!(
    /// Where a meeting is in its life: planned, then held, cancelled, or not attended. A meeting
    /// recorded after the fact (`meeting.recorded`) is held.
    MeetingStatus {
        Planned = "planned",
        Held = "held",
        Cancelled = "cancelled",
        NotAttended = "not_attended",
    }
);

vocabulary!(
    /// One side of a support relationship: who proposed a place, who cancelled.
    Party {
        Person = "person",
        Worker = "worker",
    }
);

vocabulary!(
    /// What was done in a meeting (the seeds' "what peer support workers do").
    ActivityKind {
        EmotionalSupport = "emotional_support",
        SharedExperience = "shared_experience",
        PracticalHelp = "practical_help",
        /// Going with the person to an appointment or activity.
        Accompanying = "accompanying",
        /// Pointing the person to a resource, group or service (which one, in words).
        Signposting = "signposting",
    }
);

vocabulary!(
    /// How a personal recovery goal ended, in the person's terms.
    GoalOutcome {
        Achieved = "achieved",
        /// The person moved on to a different goal.
        Changed = "changed",
        /// The person chose to let it go.
        LetGo = "let_go",
    }
);

vocabulary!(MeetingMode {
    InPerson = "in_person",
    Phone = "phone",
    Video = "video",
    Text = "text",
});

vocabulary!(Place {
    Clinic = "clinic",
    Home = "home",
    Community = "community",
    Online = "online",
    Other = "other",
});

vocabulary!(
    /// Why a redaction was proposed (the words, if any, stay with the people; the log holds the
    /// kind of reason).
    RedactionReason {
        NotWanted = "not_wanted",
        Inaccurate = "inaccurate",
        ThirdParty = "third_party",
        Other = "other",
    }
);

vocabulary!(
    /// Why a note was closed without agreement.
    CloseReason {
        PersonUnavailable = "person_unavailable",
        PersonDeclined = "person_declined",
        SupportEnded = "support_ended",
        Other = "other",
    }
);

vocabulary!(
    /// What a consent allows (domain.md, "Consent").
    Scope {
        /// Care team members of the named team may read the person's agreed notes.
        ShareWithCareTeam = "share_with_care_team",
        DiscussInSupervision = "discuss_in_supervision",
        ShareWithGp = "share_with_gp",
        /// A named person (grantee is a segment: the name is content).
        ShareWithPerson = "share_with_person",
    }
);

vocabulary!(ConcernCategory {
    SelfHarm = "self_harm",
    SelfNeglect = "self_neglect",
    HarmToOthers = "harm_to_others",
    Abuse = "abuse",
    DomesticAbuse = "domestic_abuse",
    Exploitation = "exploitation",
    Other = "other",
});

vocabulary!(
    /// How fast a concern must be acknowledged (rule 8: 1 hour, 24 hours, 7 days).
    Urgency {
        Immediate = "immediate",
        SameDay = "same_day",
        Routine = "routine",
    }
);

impl Urgency {
    /// How long a safeguarding lead has to acknowledge a concern of this urgency.
    pub fn acknowledge_within_ms(self) -> u64 {
        match self {
            Urgency::Immediate => Time::HOUR,
            Urgency::SameDay => Time::DAY,
            Urgency::Routine => 7 * Time::DAY,
        }
    }
}

vocabulary!(ConcernOutcome {
    NoFurtherAction = "no_further_action",
    AdviceGiven = "advice_given",
    ReferredToLocalAuthority = "referred_to_local_authority",
    ReferredToPolice = "referred_to_police",
    CarePlanUpdated = "care_plan_updated",
    Other = "other",
});

vocabulary!(InformedHow {
    InPerson = "in_person",
    Phone = "phone",
    Video = "video",
    Letter = "letter",
    Other = "other",
});

vocabulary!(
    /// Why an item is withheld from the person's own view (rule 7).
    Exemption {
        /// Disclosure would be likely to cause serious harm to the person or someone else.
        SeriousHarm = "serious_harm",
        /// The item would disclose information about another person who has not consented.
        ThirdParty = "third_party",
    }
);

vocabulary!(SarVia {
    App = "app",
    InPerson = "in_person",
    Letter = "letter",
    Email = "email",
    Phone = "phone",
});

vocabulary!(
    /// Why a read was refused (`access.denied`).
    DenialReason {
        /// The reader's role never sees content (auditor, admin).
        MetadataOnlyRole = "metadata_only_role",
        /// No accepted support relationship with this reader.
        NoSupportRelationship = "no_support_relationship",
        /// No consent in force that names this reader's team.
        NoConsent = "no_consent",
        /// The item is not the reader's to see (another worker's, or not a concern).
        OutOfScope = "out_of_scope",
        /// The reader's role has no basis for this read at all.
        NoBasis = "no_basis",
        /// The reader made too many refused attempts in a short time: this one, and those after
        /// it until their allowance refills, are not logged one by one (the next logged refusal
        /// counts them in `suppressed`).
        RateLimited = "rate_limited",
    }
);

vocabulary!(
    /// Where a person was discussed outside their presence (`discussion.recorded`).
    DiscussionSetting {
        /// A multidisciplinary team meeting.
        Mdt = "mdt",
        WardRound = "ward_round",
        /// Passing care on between shifts or services.
        Handover = "handover",
        /// A worker's supervision (covered by `discuss_in_supervision`).
        Supervision = "supervision",
        /// Peer workers reflecting together on their practice (covered by
        /// `discuss_in_supervision`, as supervision is).
        CoReflection = "co_reflection",
    }
);

impl DiscussionSetting {
    /// Supervision and co-reflection are what a `discuss_in_supervision` consent covers; the
    /// other settings are care-team settings, covered by `share_with_care_team` naming the team.
    pub fn is_supervision(self) -> bool {
        matches!(
            self,
            DiscussionSetting::Supervision | DiscussionSetting::CoReflection
        )
    }
}

vocabulary!(
    /// How a representative is related to the person (`authority.granted`).
    Relation {
        Carer = "carer",
        /// A parent (children's services).
        Parent = "parent",
        /// An attorney under a lasting power of attorney.
        Attorney = "attorney",
        Other = "other",
    }
);

vocabulary!(
    /// Which date about a person a retention period is counted from.
    DateKind {
        Birth = "birth",
        Death = "death",
    }
);

vocabulary!(
    /// Why a legal hold keeps a person's record past its retention period.
    HoldReason {
        /// Litigation, actual or reasonably expected (a claim, a complaint heading to court).
        Litigation = "litigation",
        /// A coroner's inquest.
        Inquest = "inquest",
        /// A safeguarding adults review, child safeguarding practice review or serious incident
        /// investigation.
        SafeguardingReview = "safeguarding_review",
        /// A public inquiry asked that records be kept.
        PublicInquiry = "public_inquiry",
        /// A regulator's (CQC, ICO) investigation.
        RegulatorInvestigation = "regulator_investigation",
        Other = "other",
    }
);

vocabulary!(
    /// What an authority to act for the person rests on, which decides who may record it.
    AuthorityBasis {
        /// The person's own consent: granted, and ended, by the person.
        Consent = "consent",
        /// A lasting power of attorney for health and welfare: recorded by an admin who has
        /// seen the document.
        LastingPowerOfAttorney = "lasting_power_of_attorney",
        /// Parental responsibility for a child: recorded by an admin who has seen the evidence.
        ParentalResponsibility = "parental_responsibility",
    }
);

vocabulary!(
    /// What a representative may do for the person under an authority.
    AuthorityScope {
        /// Read the person's record (as the person sees it; logged).
        ReadRecord = "read_record",
        /// Request subject access for the person and fetch the bundle (logged).
        SubjectAccess = "subject_access",
    }
);

vocabulary!(
    /// Why an authority ended (`authority.ended`).
    AuthorityEndReason {
        /// The person withdrew their consent.
        PersonWithdrew = "person_withdrew",
        /// The representative no longer acts for the person.
        SteppedDown = "stepped_down",
        /// The document no longer holds (revoked, the child came of age, capacity regained).
        NoLongerValid = "no_longer_valid",
        Other = "other",
    }
);

vocabulary!(
    /// The rule of the retention policy under which a record's content was erased.
    RetentionRule {
        /// An adult's record: years after the end of care.
        AdultEndOfCare = "adult_end_of_care",
        /// Years after the person's death (when that comes sooner).
        Death = "death",
        /// A child's record: until a birthday.
        ChildBirthday = "child_birthday",
        /// A child who was 17 at the end of care: until a later birthday.
        Child17Birthday = "child_17_birthday",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_round_trip_through_json() {
        for r in Role::ALL {
            let j = serde_json::to_string(r).unwrap();
            assert_eq!(j, format!("\"{}\"", r.as_str()));
            assert_eq!(serde_json::from_str::<Role>(&j).unwrap(), *r);
            assert_eq!(Role::parse(r.as_str()), Some(*r));
        }
        assert!(serde_json::from_str::<Role>("\"root\"").is_err());
    }

    #[test]
    fn ids_follow_the_domain_rule() {
        assert!(is_id("n-01"));
        assert!(!is_id(""));
        assert!(!is_id("a b"));
        assert!(!is_id(&"x".repeat(129)));
        assert!(is_id(&"x".repeat(128)));
        assert!(!is_id("é"));
    }
}

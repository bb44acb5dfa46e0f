//! Stream names: the aggregate each event belongs to — `<kind>:<id>` in an entry's `stream`
//! (log-format.md §1). Built and parsed here only, so no other module spells a kind.
//!
//! Owns: the kinds and their spelling. Must not touch: anything else (pure data).

use std::fmt;

/// A stream: its kind and the id of the aggregate (for `consent`, `disclosure`, `access` and
/// `retention`, the person's id: one ledger per person).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stream {
    Actor(String),
    Support(String),
    Meeting(String),
    Note(String),
    Consent(String),
    Concern(String),
    Disclosure(String),
    Access(String),
    Sar(String),
    Discussion(String),
    Statement(String),
    /// A personal recovery goal (subject: the person).
    Goal(String),
    /// A peer support group and its facilitators (no subject: it is about nobody).
    Group(String),
    Authority(String),
    Retention(String),
}

impl Stream {
    pub fn actor(id: &str) -> Stream {
        Stream::Actor(id.to_string())
    }
    pub fn support(id: &str) -> Stream {
        Stream::Support(id.to_string())
    }
    pub fn meeting(id: &str) -> Stream {
        Stream::Meeting(id.to_string())
    }
    pub fn note(id: &str) -> Stream {
        Stream::Note(id.to_string())
    }
    /// The consent ledger of a person.
    pub fn consent(subject: &str) -> Stream {
        Stream::Consent(subject.to_string())
    }
    pub fn concern(id: &str) -> Stream {
        Stream::Concern(id.to_string())
    }
    /// The withholdings of a person.
    pub fn disclosure(subject: &str) -> Stream {
        Stream::Disclosure(subject.to_string())
    }
    /// Who read a person's record, and who was refused.
    pub fn access(subject: &str) -> Stream {
        Stream::Access(subject.to_string())
    }
    pub fn sar(id: &str) -> Stream {
        Stream::Sar(id.to_string())
    }
    pub fn discussion(id: &str) -> Stream {
        Stream::Discussion(id.to_string())
    }
    /// A person's statement about an item of their record.
    pub fn statement(id: &str) -> Stream {
        Stream::Statement(id.to_string())
    }
    pub fn goal(id: &str) -> Stream {
        Stream::Goal(id.to_string())
    }
    pub fn group(id: &str) -> Stream {
        Stream::Group(id.to_string())
    }
    /// An authority for a representative to act for a person.
    pub fn authority(id: &str) -> Stream {
        Stream::Authority(id.to_string())
    }
    /// A person's retention: the dates it is counted from, legal holds, erasures.
    pub fn retention(subject: &str) -> Stream {
        Stream::Retention(subject.to_string())
    }

    /// The kind, as spelt before the colon.
    pub fn kind(&self) -> &'static str {
        match self {
            Stream::Actor(_) => "actor",
            Stream::Support(_) => "support",
            Stream::Meeting(_) => "meeting",
            Stream::Note(_) => "note",
            Stream::Consent(_) => "consent",
            Stream::Concern(_) => "concern",
            Stream::Disclosure(_) => "disclosure",
            Stream::Access(_) => "access",
            Stream::Sar(_) => "sar",
            Stream::Discussion(_) => "discussion",
            Stream::Statement(_) => "statement",
            Stream::Goal(_) => "goal",
            Stream::Group(_) => "group",
            Stream::Authority(_) => "authority",
            Stream::Retention(_) => "retention",
        }
    }

    /// The id after the colon.
    pub fn id(&self) -> &str {
        match self {
            Stream::Actor(id)
            | Stream::Support(id)
            | Stream::Meeting(id)
            | Stream::Note(id)
            | Stream::Consent(id)
            | Stream::Concern(id)
            | Stream::Disclosure(id)
            | Stream::Access(id)
            | Stream::Sar(id)
            | Stream::Discussion(id)
            | Stream::Statement(id)
            | Stream::Goal(id)
            | Stream::Group(id)
            | Stream::Authority(id)
            | Stream::Retention(id) => id,
        }
    }

    /// `<kind>:<id>` back into a stream; `None` for a kind withus does not write, or no id.
    pub fn parse(name: &str) -> Option<Stream> {
        let (kind, id) = name.split_once(':')?;
        if id.is_empty() {
            return None;
        }
        let id = id.to_string();
        Some(match kind {
            "actor" => Stream::Actor(id),
            "support" => Stream::Support(id),
            "meeting" => Stream::Meeting(id),
            "note" => Stream::Note(id),
            "consent" => Stream::Consent(id),
            "concern" => Stream::Concern(id),
            "disclosure" => Stream::Disclosure(id),
            "access" => Stream::Access(id),
            "sar" => Stream::Sar(id),
            "discussion" => Stream::Discussion(id),
            "statement" => Stream::Statement(id),
            "goal" => Stream::Goal(id),
            "group" => Stream::Group(id),
            "authority" => Stream::Authority(id),
            "retention" => Stream::Retention(id),
            _ => return None,
        })
    }

    /// The name as entries spell it.
    pub fn name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.id())
    }
}

impl From<Stream> for String {
    fn from(s: Stream) -> String {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_and_unknown_kinds_do_not_parse() {
        for s in [
            Stream::actor("a"),
            Stream::support("sp-1"),
            Stream::meeting("m-1"),
            Stream::note("n-1"),
            Stream::consent("su-sam"),
            Stream::concern("cn-1"),
            Stream::disclosure("su-sam"),
            Stream::access("su-sam"),
            Stream::sar("sar-1"),
            Stream::discussion("d-1"),
            Stream::statement("st-1"),
            Stream::goal("g-1"),
            Stream::group("grp-1"),
            Stream::authority("au-1"),
            Stream::retention("su-sam"),
        ] {
            assert_eq!(Stream::parse(&s.name()), Some(s.clone()));
        }
        // An id may itself hold a colon: only the first one separates the kind.
        assert_eq!(Stream::parse("actor::a"), Some(Stream::actor(":a")));
        assert_eq!(Stream::parse("goals:g-1"), None);
        assert_eq!(Stream::parse("note:"), None);
        assert_eq!(Stream::parse("note"), None);
    }
}

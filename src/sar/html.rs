//! The person's record in plain words, for the subject access page ([`super::page`]): what was
//! recorded about them, by whom and when; their notes and how they were written together; their
//! consents; safeguarding concerns; who looked at their record, when and why, and who was
//! refused; what is withheld and what they can do about it; their requests for their record; and
//! the facts a subject access answer must give (`sar-bundle.md` §6).
//!
//! Owns: reading a bundle's shown entries (with `format::EntryView` and `Recorded`), its actor
//! entries (the names) and its openings (the texts), and saying them as HTML in which every value
//! is escaped. Must not touch: I/O, a clock (the bundle's `produced_at` stands for "now"), the
//! checks (the page's verifier makes them; this says what the entries say), the ids the page
//! reserves (`bundle`, `vkey`, `key-fingerprint`, `check-*`: every id here starts `record`).
//! Never fails: an entry it cannot read is shown as "an entry of type X".
//!
//! Names come only from `actor.registered` entries of staff and of the person; anyone else who
//! uses the service is named by id only. Times are UTC, in words ("21 November 2026, 10:15")
//! inside `<time datetime>`. A segment without an opening was removed by agreement (when a
//! shown `redaction.agreed` names it) or is not in the copy: its length is shown, never a guess.

use std::collections::HashMap;

use serde_json::Value;

use super::bundle::{Bundle, BundleEntry};
use super::page::{self, escape_html as esc};
use crate::domain::calendar::one_month_after;
use crate::domain::event::{
    Activity, AuthorityGranted, ConsentGranted, DiscussedWith, Event, Grantee, Recorded,
};
use crate::domain::stream::Stream;
use crate::domain::types::*;
use crate::format::{format_millis, parse_millis, to_hex, EntryView};

/// The whole subject access page for `bundle`: the record's sections ([`record_sections`]) and
/// the page's "Check it yourself", titled "Your record — <name> (<subject>)".
/// `bundle_json` is the bundle's text as the person received it (the page checks that text);
/// `vkey` the log's verifier key.
pub fn page(bundle: &Bundle, bundle_json: &str, vkey: &str) -> String {
    let record = Record::read(bundle);
    let title = format!("Your record — {}", record.person_label());
    page::render(&title, &record.sections(), bundle_json, vkey)
}

/// The record's sections as trusted HTML (every value escaped), for `page::render`'s
/// `content_html`: one `<div id="record">` holding a `<section>` per part, each with its `<h2>`.
pub fn record_sections(bundle: &Bundle) -> String {
    Record::read(bundle).sections()
}

/// One part of the record, for the person's own page (`crate::http::person`), which shows some
/// sections on pages of their own, in the same words as the whole record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// "Who looked at your record" (reads and refusals, from the access stream).
    Access,
    /// "Who talked about you, and why".
    Discussions,
    /// "Your requests for your record".
    Requests,
}

/// One section of the record as trusted HTML (every value escaped), as [`record_sections`]
/// renders it.
pub fn record_part(bundle: &Bundle, part: Part) -> String {
    let record = Record::read(bundle);
    let mut out = String::new();
    match part {
        Part::Access => record.access(&mut out),
        Part::Discussions => record.discussions(&mut out),
        Part::Requests => record.requests(&mut out),
    }
    out
}

/// A shown entry's envelope, when its bytes are an entry at all.
struct Head {
    at: Option<Time>,
    at_raw: String,
    event_type: String,
    v: u32,
    stream: String,
    /// The person the entry is about; null for a staff member's registration.
    subject: Option<String>,
    actor_id: String,
    actor_role: String,
}

/// One shown entry as this page reads it.
struct Item {
    seq: u64,
    head: Option<Head>,
    /// The event, when this page knows its type and version and its data fits the schema.
    event: Option<Event>,
    /// The data as plain JSON (`Null` when unreadable), for the one loose reading below.
    data: Value,
}

impl Item {
    fn read(seq: u64, bytes: &str) -> Item {
        let Ok(view) = EntryView::parse(bytes.as_bytes()) else {
            return Item {
                seq,
                head: None,
                event: None,
                data: Value::Null,
            };
        };
        let event = Recorded::from_entry(&view).ok().map(|r| r.event);
        Item {
            seq,
            head: Some(Head {
                at: Time::parse(&view.at),
                at_raw: view.at.to_string(),
                event_type: view.event_type.to_string(),
                v: view.v,
                stream: view.stream.to_string(),
                subject: view.subject.as_deref().map(str::to_string),
                actor_id: view.actor_id.to_string(),
                actor_role: view.actor_role.to_string(),
            }),
            event,
            data: serde_json::from_str(view.data).unwrap_or(Value::Null),
        }
    }

    fn stream(&self) -> Option<Stream> {
        self.head.as_ref().and_then(|h| Stream::parse(&h.stream))
    }

    fn at(&self) -> Option<Time> {
        self.head.as_ref().and_then(|h| h.at)
    }

    /// Reads of the record and refused attempts, listed in their own section.
    fn is_access(&self) -> bool {
        matches!(
            self.event,
            Some(Event::RecordAccessed(_)) | Some(Event::AccessDenied(_))
        )
    }
}

/// Someone named in the record, from their proven `actor.registered` entry.
struct Person {
    name: Option<String>,
    role: Role,
}

/// A proposal to remove passages: its segment ids.
type Proposals = HashMap<(String, String), Vec<String>>;

struct Record<'b> {
    bundle: &'b Bundle,
    subject: &'b str,
    /// Commit (hex) → text, from the bundle's openings.
    texts: HashMap<&'b str, &'b str>,
    people: HashMap<String, Person>,
    items: Vec<Item>,
    withheld: u64,
    /// (note stream, proposal id) → segment ids.
    proposals: Proposals,
    /// Note stream → its number on the page (`record-note-<n>`), in order of first entry.
    notes: Vec<String>,
    /// Commit (hex) → when a shown `retention.erased` erased it.
    retained: HashMap<String, Option<Time>>,
}

impl<'b> Record<'b> {
    fn read(bundle: &'b Bundle) -> Record<'b> {
        let texts = bundle
            .content
            .iter()
            .map(|o| (o.commit.as_str(), o.text.as_str()))
            .collect();
        let mut items = Vec::new();
        let mut withheld = 0u64;
        for e in &bundle.entries {
            match e {
                BundleEntry::Shown { seq, entry, .. } => items.push(Item::read(*seq, entry)),
                BundleEntry::Withheld { .. } => withheld += 1,
            }
        }
        let mut record = Record {
            bundle,
            subject: &bundle.subject,
            texts,
            people: HashMap::new(),
            items,
            withheld,
            proposals: HashMap::new(),
            notes: Vec::new(),
            retained: HashMap::new(),
        };
        for item in &record.items {
            if let Some(Event::RetentionErased(d)) = &item.event {
                for c in &d.segments {
                    record.retained.insert(to_hex(&c.0), item.at());
                }
            }
        }
        let actors: Vec<Item> = bundle
            .actors
            .iter()
            .map(|a| Item::read(a.seq, &a.entry))
            .collect();
        for item in actors.iter().chain(&record.items) {
            let (Some(Event::ActorRegistered(d)), Some(head)) = (&item.event, &item.head) else {
                continue;
            };
            // sar-bundle.md §4: only staff (a registration with no subject) and the person (their
            // own registration) are named; another service user, by id only, whatever the bundle
            // holds.
            let own = head.subject.as_deref() == Some(record.subject) && d.id == record.subject;
            if head.subject.is_some() && !own {
                continue;
            }
            if record.people.contains_key(&d.id) {
                continue;
            }
            let name = record.text(&d.display).map(str::to_string);
            record
                .people
                .insert(d.id.clone(), Person { name, role: d.role });
        }
        for item in &record.items {
            let Some(Stream::Note(_)) = item.stream() else {
                continue;
            };
            let stream = item
                .head
                .as_ref()
                .map(|h| h.stream.clone())
                .unwrap_or_default();
            if !record.notes.contains(&stream) {
                record.notes.push(stream.clone());
            }
            if let Some((id, segments)) = proposal_of(item) {
                record.proposals.insert((stream, id), segments);
            }
        }
        record
    }

    fn text(&self, s: &SegmentRef) -> Option<&'b str> {
        self.texts.get(to_hex(&s.commit.0).as_str()).copied()
    }

    fn about(&self, key: &str) -> Option<&'b str> {
        self.bundle.about.get(key).map(String::as_str)
    }

    /// Plain text (not escaped): the person's name and id, or the id.
    fn person_label(&self) -> String {
        match self
            .people
            .get(self.subject)
            .and_then(|p| p.name.as_deref())
        {
            Some(name) => format!("{name} ({})", self.subject),
            None => self.subject.to_string(),
        }
    }

    /// Who an actor is, in words (HTML): "you", a registered name, else their role in words and
    /// id. Another service user has no registration here ([`Record::read`]): by id only.
    fn who(&self, id: &str, role: &str) -> String {
        if id == self.subject {
            return "you".into();
        }
        if id == crate::domain::retention::RETENTION_ACTOR
            && role == crate::domain::retention::RETENTION_ROLE
        {
            return "withus' retention schedule, automatically".into();
        }
        match self.people.get(id) {
            Some(Person {
                name: Some(name), ..
            }) => esc(name),
            Some(p) => format!("{} (their id: {})", role_words(p.role.as_str()), esc(id)),
            None => format!("{} (their id: {})", role_words(role), esc(id)),
        }
    }

    fn by(&self, item: &Item) -> String {
        match &item.head {
            Some(h) => self.who(&h.actor_id, &h.actor_role),
            None => "someone this page cannot name".into(),
        }
    }

    fn note_link(&self, stream: &str) -> String {
        match self.notes.iter().position(|s| s == stream) {
            Some(i) => format!("; <a href=\"#record-note-{}\">see the note</a>", i + 1),
            None => String::new(),
        }
    }

    fn removed_count(&self, stream: &str, proposal_id: &str) -> Option<usize> {
        self.proposals
            .get(&(stream.to_string(), proposal_id.to_string()))
            .map(Vec::len)
    }

    /// The consent with this id, as granted (its entry's time and data).
    fn consent(&self, id: &str) -> Option<(Option<Time>, &ConsentGranted)> {
        self.items.iter().find_map(|i| match &i.event {
            Some(Event::ConsentGranted(c)) if c.consent_id == id => Some((i.at(), c)),
            _ => None,
        })
    }

    /// The authority with this id, as granted (its entry's time and data).
    fn authority(&self, id: &str) -> Option<(Option<Time>, &AuthorityGranted)> {
        self.items.iter().find_map(|i| match &i.event {
            Some(Event::AuthorityGranted(a)) if a.authority_id == id => Some((i.at(), a)),
            _ => None,
        })
    }

    /// Who may act for the person: each authority, who recorded it, on what, for what, until
    /// when, and whether it ended.
    fn representatives(&self, out: &mut String) {
        open(out, "representatives", "Who may act for you");
        out.push_str(
            "<p>A carer, a parent or an attorney can act for you only under an authority that \
             is recorded: your own agreement, a lasting power of attorney for health and \
             welfare, or parental responsibility. Whatever they look at is listed under <a \
             href=\"#record-access\">who looked at your record</a>. You can end an authority \
             you agreed to at any time.</p>\n",
        );
        let granted: Vec<(&Item, &AuthorityGranted)> = self
            .items
            .iter()
            .filter_map(|i| match &i.event {
                Some(Event::AuthorityGranted(a)) => Some((i, a)),
                _ => None,
            })
            .collect();
        if granted.is_empty() {
            out.push_str("<p>Nobody has been given authority to act for you in this copy.</p>\n");
            close(out);
            return;
        }
        let now = Time::parse(&self.bundle.produced_at);
        out.push_str("<ul class=\"representatives\">\n");
        for (item, a) in granted {
            let stream = Stream::authority(&a.authority_id).name();
            let ended = self.items.iter().find_map(|i| match (&i.event, &i.head) {
                (Some(Event::AuthorityEnded(e)), Some(h)) if h.stream == stream => {
                    Some((i, e.reason))
                }
                _ => None,
            });
            let evidence = match a.evidence.as_ref() {
                Some(s) => match self.text(s) {
                    Some(t) => format!(" The document seen: “{}”.", esc(t)),
                    None => " The description of the document is not in this copy.".into(),
                },
                None => String::new(),
            };
            let state = match (ended, a.expires_at) {
                (Some((i, reason)), _) => format!(
                    "It ended{} ({}), recorded by {}.",
                    i.at()
                        .map(|t| format!(" on {}", time_el(t)))
                        .unwrap_or_default(),
                    authority_end_words(reason),
                    self.by(i)
                ),
                (None, Some(t)) if now.is_some_and(|n| t <= n) => {
                    format!("It ended on {}.", time_el(t))
                }
                (None, Some(t)) => {
                    format!("It lasts until {}, unless it is ended sooner.", time_el(t))
                }
                (None, None) => "It lasts until it is ended.".into(),
            };
            out.push_str(&format!(
                "<li><p><strong>{} may act for you as your {}.</strong></p><p>{}, {}. Recorded \
                 {}by {}.{evidence} {state}</p></li>\n",
                cap(&self.who(&a.representative, Role::Representative.as_str())),
                relation_words(a.relation),
                cap(&authority_scope_words(&a.scope)),
                authority_basis_words(a.basis),
                item.at()
                    .map(|t| format!("on {} ", time_el(t)))
                    .unwrap_or_default(),
                self.by(item)
            ));
        }
        out.push_str("</ul>\n");
        close(out);
    }

    fn sections(&self) -> String {
        let mut out = String::from("<div id=\"record\" class=\"record\">\n");
        self.summary(&mut out);
        self.timeline(&mut out);
        self.notes_section(&mut out);
        self.consents(&mut out);
        self.concerns(&mut out);
        self.access(&mut out);
        self.discussions(&mut out);
        self.statements(&mut out);
        self.representatives(&mut out);
        self.withheld_section(&mut out);
        self.requests(&mut out);
        self.about_section(&mut out);
        out.push_str("</div>\n");
        out
    }

    fn summary(&self, out: &mut String) {
        open(out, "summary", "Your record at a glance");
        let controller = self
            .about("controller")
            .map(esc)
            .unwrap_or_else(|| "the organisation".into());
        let name = match self
            .people
            .get(self.subject)
            .and_then(|p| p.name.as_deref())
        {
            Some(n) => format!("{} ({})", esc(n), esc(self.subject)),
            None => esc(self.subject),
        };
        out.push_str(&format!(
            "<p>This is the record of {name}: what {controller} has written down about you, \
             as it was when this copy was made on {}.</p>\n<ul>\n",
            time_or_raw(&self.bundle.produced_at)
        ));
        let total = self.items.len() as u64 + self.withheld;
        out.push_str(&format!(
            "<li>{} about you: {} shown on this page, {} withheld \
             (see <a href=\"#record-withheld\">what is not shown</a>).</li>\n",
            cap(&count(total, "entry", "entries")),
            number_or_none(self.items.len() as u64),
            number_or_none(self.withheld)
        ));
        let mut staff: Vec<(&String, &Person)> = self
            .people
            .iter()
            .filter(|(id, _)| id.as_str() != self.subject)
            .collect();
        staff.sort_by(|a, b| a.0.cmp(b.0));
        if !staff.is_empty() {
            let names: Vec<String> = staff
                .iter()
                .map(|(id, p)| self.who(id, p.role.as_str()))
                .collect();
            out.push_str(&format!(
                "<li>People named in it: {}.</li>\n",
                names.join("; ")
            ));
        }
        let looks = self.looks().len() as u64;
        let refused = self
            .items
            .iter()
            .filter(|i| matches!(i.event, Some(Event::AccessDenied(_))))
            .count() as u64;
        out.push_str(&format!(
            "<li>{}, {} and {}.</li>\n",
            cap(&count(self.notes.len() as u64, "note", "notes")),
            count(self.consent_ids().len() as u64, "consent", "consents"),
            count(
                self.concern_streams().len() as u64,
                "safeguarding concern",
                "safeguarding concerns"
            )
        ));
        let looked = if looks == 0 {
            "Nobody other than you has looked at your record".to_string()
        } else {
            let times = match looks {
                1 => "once".to_string(),
                2 => "twice".to_string(),
                n => count(n, "time", "times"),
            };
            format!("Someone other than you looked at your record {times}")
        };
        out.push_str(&format!(
            "<li>{looked}; {} refused (see <a href=\"#record-access\">who looked at your \
             record</a>).</li>\n</ul>\n",
            count(refused, "attempt was", "attempts were")
        ));
        out.push_str(
            "<p>Times are in UTC, which is UK time in winter. In summer (British Summer Time) \
             UK time is one hour later.</p>\n",
        );
        out.push_str(
            "<nav aria-labelledby=\"record-contents-h\"><h3 id=\"record-contents-h\">On this page</h3>\n<ul>\n",
        );
        for (id, title) in SECTIONS {
            out.push_str(&format!("<li><a href=\"#record-{id}\">{title}</a></li>\n"));
        }
        out.push_str("<li><a href=\"#check\">Check it yourself</a></li>\n</ul>\n</nav>\n");
        close(out);
    }

    fn timeline(&self, out: &mut String) {
        open(out, "timeline", "What was recorded, in order");
        out.push_str(
            "<p>Each entry below was written into your record at the time shown, by the person \
             named. When someone looked at your record, or was refused, that is listed under \
             <a href=\"#record-access\">who looked at your record</a>.</p>\n",
        );
        let items: Vec<&Item> = self.items.iter().filter(|i| !i.is_access()).collect();
        if items.is_empty() {
            out.push_str("<p>Nothing else is recorded about you in this copy.</p>\n");
        } else {
            out.push_str("<ol class=\"timeline\">\n");
            for item in items {
                match &item.head {
                    Some(_) => out.push_str(&format!(
                        "<li>{}: {}. <span class=\"by\">Recorded by {}.</span> {}</li>\n",
                        at_el(item),
                        cap(&self.what(item)),
                        self.by(item),
                        seq_note(item.seq)
                    )),
                    None => out.push_str(&format!(
                        "<li>{}: this page cannot read this entry. The check at the end of the \
                         page says whether it is as first recorded.</li>\n",
                        cap(&seq_words(item.seq))
                    )),
                }
            }
            out.push_str("</ol>\n");
        }
        close(out);
    }

    /// What an entry records, as a clause (HTML, not capitalised, no final stop).
    fn what(&self, item: &Item) -> String {
        let Some(head) = &item.head else {
            return "an entry this page cannot read".into();
        };
        let Some(event) = &item.event else {
            return self.unreadable(item, head);
        };
        let stream = head.stream.as_str();
        match event {
            Event::ActorRegistered(d) if d.id == self.subject => {
                "you were registered on the system as a person who uses the service".into()
            }
            Event::ActorRegistered(d) => format!(
                "{} was registered as {}",
                self.who(&d.id, d.role.as_str()),
                role_words(d.role.as_str())
            ),
            Event::ActorDeactivated(d) if d.id == self.subject => {
                format!("your account was closed ({})", deactivation_words(d.reason))
            }
            Event::ActorDeactivated(d) => format!(
                "the account of {} was closed ({})",
                self.who(&d.id, ""),
                deactivation_words(d.reason)
            ),
            Event::TokenIssued(d) => {
                let until = match d.expires_at {
                    Some(t) => format!(", valid until {}", time_el(t)),
                    None => String::new(),
                };
                format!(
                    "a sign-in key was issued for {}{until}",
                    self.who(&d.actor, "")
                )
            }
            Event::TokenRevoked(_) => "a sign-in key was withdrawn".into(),
            Event::SignInCodeIssued(d) => {
                format!(
                "{} gave out a one-time code to sign in to {} own page as {}, usable once until {}",
                self.who(&head.actor_id, &head.actor_role),
                if d.actor == self.subject { "your" } else { "their" },
                self.who(&d.actor, ""),
                time_el(d.expires_at)
            )
            }
            Event::IdentityLinked(d) => format!(
                "{} can now sign in through an identity provider ({})",
                self.who(&d.actor, ""),
                esc(&d.issuer)
            ),
            Event::IdentityUnlinked(d) => format!(
                "{} can no longer sign in through an identity provider ({})",
                self.who(&d.actor, ""),
                esc(&d.issuer)
            ),
            Event::SupportReferred(d) => format!(
                "you were referred for peer support with {} ({})",
                self.who(&d.worker, Role::PeerWorker.as_str()),
                referral_words(d.source)
            ),
            Event::SupportOffered(_) => {
                "peer support was offered to you; it is your choice whether to take it up".into()
            }
            Event::SupportAccepted(d) => {
                format!(
                    "you chose to work with peer support{}",
                    on_behalf(d.on_behalf)
                )
            }
            Event::SupportDeclined(d) => format!(
                "you chose not to work with peer support{}",
                on_behalf(d.on_behalf)
            ),
            Event::SupportEnded(d) => format!("peer support ended: {}", end_words(d.reason)),
            Event::MeetingRecorded(d) => {
                let detail = self.quoted_opt(d.place_detail.as_ref());
                format!(
                    "you had {} with {} {}, {}{detail}, on {}, for {}{}",
                    kind_words(d.kind),
                    self.who(&d.worker, Role::PeerWorker.as_str()),
                    mode_words(d.mode),
                    place_words(d.place),
                    time_el(d.occurred_at),
                    count(u64::from(d.minutes), "minute", "minutes"),
                    self.work_words(&d.goals, &d.activities)
                )
            }
            Event::MeetingPlanned(d) => format!(
                "a meeting with {} was planned {}, {}{}, for {}, for {} (the place was \
                 proposed by your peer support worker: you can agree it or propose another)",
                self.who(&d.worker, Role::PeerWorker.as_str()),
                mode_words(d.mode),
                place_words(d.place),
                self.quoted_opt(d.place_detail.as_ref()),
                time_el(d.planned_for),
                count(u64::from(d.minutes), "minute", "minutes"),
            ),
            Event::MeetingPlaceProposed(d) => format!(
                "another place was proposed for a planned meeting: {}{}{}",
                place_words(d.place),
                self.quoted_opt(d.place_detail.as_ref()),
                on_behalf(d.on_behalf)
            ),
            Event::MeetingPlaceAgreed(d) => format!(
                "the place of a planned meeting was agreed{}",
                on_behalf(d.on_behalf)
            ),
            Event::MeetingCancelled(d) => format!(
                "a planned meeting was cancelled by {}",
                match d.by {
                    Party::Person => "you",
                    Party::Worker => "your peer support worker",
                }
            ),
            Event::MeetingNotAttended(_) => {
                "a planned meeting did not happen: it was recorded that you did not come".into()
            }
            Event::MeetingHeld(d) => format!(
                "a planned meeting took place on {}, for {}{}",
                time_el(d.occurred_at),
                count(u64::from(d.minutes), "minute", "minutes"),
                self.work_words(&d.goals, &d.activities)
            ),
            Event::GroupFormed(_) => "a peer support group was formed".into(),
            Event::GoalSet(d) => format!(
                "you set a recovery goal{}: {}{}",
                if d.co_produced {
                    ", worked out with your peer support worker"
                } else {
                    ""
                },
                self.quoted(&d.words),
                on_behalf(d.on_behalf)
            ),
            Event::GoalReviewed(d) => format!(
                "you looked at how your goal is going: {}{}",
                self.quoted(&d.words),
                on_behalf(d.on_behalf)
            ),
            Event::GoalClosed(d) => format!(
                "your goal was closed: {}{}{}",
                match d.outcome {
                    GoalOutcome::Achieved => "you achieved it",
                    GoalOutcome::Changed => "you changed it for another",
                    GoalOutcome::LetGo => "you chose to let it go",
                },
                if d.words.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", self.quoted(&d.words))
                },
                on_behalf(d.on_behalf)
            ),
            Event::NoteDrafted(d) => format!(
                "a note was written, with {}{}",
                count(d.segments.len() as u64, "passage", "passages"),
                self.note_link(stream)
            ),
            Event::NoteRevised(d) => format!(
                "a note was revised; it now has {}{}",
                count(d.segments.len() as u64, "passage", "passages"),
                self.note_link(stream)
            ),
            Event::RedactionProposed(d) => format!(
                "a request was made to remove {} of a note ({}){}",
                count(d.segments.len() as u64, "passage", "passages"),
                redaction_words(d.reason),
                self.note_link(stream)
            ),
            Event::RedactionAgreed(d) => {
                let removed = match self.removed_count(stream, &d.proposal_id) {
                    Some(n) => format!(
                        ", and {} removed",
                        count(n as u64, "passage was", "passages were")
                    ),
                    None => String::new(),
                };
                format!(
                    "the request to remove passages was agreed{removed}{}",
                    self.note_link(stream)
                )
            }
            Event::RedactionDeclined(d) => format!(
                "the request to remove passages was declined{}{}",
                self.decline_reason(d.reason.as_ref()),
                self.note_link(stream)
            ),
            Event::RedactionWithdrawn(_) => format!(
                "the request to remove passages was withdrawn{}",
                self.note_link(stream)
            ),
            Event::NoteAgreed(d) => format!(
                "a note was agreed, at version {}{}",
                d.revision,
                self.note_link(stream)
            ),
            Event::NoteClosed(d) => format!(
                "a note was closed without agreement: {}{}",
                close_words(d.reason),
                self.note_link(stream)
            ),
            Event::NoteAddendum(d) => format!(
                "something was added to an agreed note ({}){}",
                count(d.segments.len() as u64, "passage", "passages"),
                self.note_link(stream)
            ),
            Event::ConsentGranted(d) => format!(
                "you gave consent: {}{}{}",
                self.scope_words(d.scope, d.grantee.as_ref()),
                match d.expires_at {
                    Some(t) => format!(", until {}", time_el(t)),
                    None => ", until you take it back".into(),
                },
                on_behalf(d.on_behalf)
            ),
            Event::ConsentRevoked(d) => match self.consent(&d.consent_id) {
                Some((_, c)) => format!(
                    "you took back your consent that {}{}",
                    self.scope_words(c.scope, c.grantee.as_ref()),
                    on_behalf(d.on_behalf)
                ),
                None => format!("you took back a consent{}", on_behalf(d.on_behalf)),
            },
            Event::SafeguardingRaised(d) => format!(
                "a safeguarding concern was raised: {} ({})",
                category_words(d.category),
                urgency_words(d.urgency)
            ),
            Event::SafeguardingAcknowledged(_) => "a safeguarding lead took the concern on".into(),
            Event::SafeguardingOutcome(d) => format!(
                "the outcome of the safeguarding concern was recorded: {}",
                outcome_words(d.outcome)
            ),
            Event::SubjectInformed(d) => format!(
                "you were told about the safeguarding concern {}",
                informed_words(d.how)
            ),
            Event::DisclosureWithheld(d) => format!(
                "part of your record ({}) was withheld from your own view, because {}; the \
                 decision is to be reviewed by {}",
                stream_words(&d.target_stream),
                exemption_words(d.exemption),
                date_el(d.review_by)
            ),
            Event::DisclosureReleased(d) => format!(
                "part of your record ({}) that was withheld from you was released to you",
                stream_words(&d.target_stream)
            ),
            Event::RecordAccessed(d) => {
                format!("{} looked at {}", self.by(item), streams_words(&d.streams))
            }
            Event::AccessDenied(d) => format!(
                "{} was refused a look at {}",
                self.by(item),
                what_words(&d.what)
            ),
            Event::SarRequested(d) => {
                format!("you asked for a copy of your record {}", via_words(d.via))
            }
            Event::SarFulfilled(d) => format!(
                "a copy of your record was made for your request, covering the first {} of \
                 the log, with {} withheld",
                count(d.tree_size, "entry", "entries"),
                count(d.withheld, "item", "items")
            ),
            Event::DiscussionRecorded(d) => format!(
                "you were discussed {} on {}, {} (see <a href=\"#record-discussions\">who \
                 talked about you</a>)",
                self.discussed_with_words(&d.with, d.setting),
                time_el(d.held_at),
                self.discussion_basis_words(&d.basis)
            ),
            Event::StatementAdded(d) => format!(
                "you added your own statement about {} (see <a href=\"#record-statements\">what \
                 you have said</a>)",
                stream_words(&d.target_stream)
            ),
            Event::AuthorityGranted(d) => format!(
                "{} was given authority to act for you as your {}: {}, {}{} (see <a \
                 href=\"#record-representatives\">who may act for you</a>)",
                self.who(&d.representative, Role::Representative.as_str()),
                relation_words(d.relation),
                authority_scope_words(&d.scope),
                authority_basis_words(d.basis),
                match d.expires_at {
                    Some(t) => format!(", until {}", time_el(t)),
                    None => ", until it is ended".into(),
                }
            ),
            Event::AuthorityEnded(d) => format!(
                "an authority for someone to act for you ended: {}",
                authority_end_words(d.reason)
            ),
            Event::SupportTransferProposed(d) => format!(
                "it was proposed that {} take over your peer support; nothing changes unless you \
                 accept",
                self.who(&d.to_worker, Role::PeerWorker.as_str())
            ),
            Event::SupportTransferAccepted(d) => format!(
                "you accepted the new peer worker proposed for your peer support{}",
                on_behalf(d.on_behalf)
            ),
            Event::SupportTransferDeclined(d) => format!(
                "you chose to keep your peer worker, declining the change proposed{}",
                on_behalf(d.on_behalf)
            ),
            Event::RetentionDateRecorded(d) => match d.kind {
                DateKind::Birth => format!(
                    "your date of birth ({}) was recorded, to count how long your record is kept",
                    day_el(&d.date)
                ),
                DateKind::Death => format!(
                    "a date of death ({}) was recorded, to count how long the record is kept",
                    day_el(&d.date)
                ),
            },
            Event::LegalHoldPlaced(d) => format!(
                "a legal hold was placed on your record ({}): while it is in force nothing of \
                 your record is erased at the end of the period it is kept for",
                hold_words(d.reason)
            ),
            Event::LegalHoldLifted(_) => "a legal hold on your record was lifted".into(),
            Event::RetentionErased(d) => format!(
                "the period your record is kept for ended on {} ({}, counted from {}), and the \
                 words of {} were erased; that these things happened, and when, stays recorded",
                day_el(&d.due),
                retention_rule_words(d.rule),
                day_el(&d.basis),
                count(d.segments.len() as u64, "passage", "passages")
            ),
        }
    }

    /// A passage erased at the end of the retention period (HTML).
    fn retention_words(&self, s: &SegmentRef) -> String {
        let when = match self.retained.get(&to_hex(&s.commit.0)) {
            Some(Some(t)) => format!(" on {}", date_el(*t)),
            _ => String::new(),
        };
        format!(
            "The words of this passage were erased at the end of the period your record is kept \
             for{when}, {}.",
            count(s.chars, "character", "characters")
        )
    }

    /// An entry whose event this page does not read: known types (at version 1) get what they
    /// are in words; anything else is "an entry of type X".
    fn unreadable(&self, item: &Item, head: &Head) -> String {
        if let Some((n, reason)) = self.loose_proposal(item) {
            return format!(
                "a request was made to remove {} of a note{reason}{}",
                count(n as u64, "passage", "passages"),
                self.note_link(&head.stream)
            );
        }
        if head.v == Event::V {
            if let Some(phrase) = type_phrase(&head.event_type) {
                return format!("{phrase} (this page cannot show the details of this entry)");
            }
        }
        let version = if head.v == Event::V {
            String::new()
        } else {
            format!(", version {}", head.v)
        };
        format!(
            "an entry of type “{}”{version}, which this page cannot show",
            esc(&head.event_type)
        )
    }

    /// Words in quotes (HTML), or that they are not in this copy.
    fn quoted(&self, segments: &[SegmentRef]) -> String {
        let texts: Vec<&str> = segments.iter().filter_map(|s| self.text(s)).collect();
        if texts.is_empty() {
            return "(the words are not in this copy)".into();
        }
        format!("“{}”", esc(&texts.join(" ")))
    }

    /// ` (“words”)` for optional words that are in this copy; nothing otherwise.
    fn quoted_opt(&self, segment: Option<&SegmentRef>) -> String {
        match segment.and_then(|s| self.text(s)) {
            Some(t) => format!(" (“{}”)", esc(t)),
            None => String::new(),
        }
    }

    /// What a meeting worked on and did, as a clause starting with "; " (or nothing).
    fn work_words(&self, goals: &[String], activities: &[Activity]) -> String {
        let mut parts: Vec<String> = Vec::new();
        for a in activities {
            let detail = a.detail.as_ref().and_then(|s| self.text(s)).map(esc);
            parts.push(match (a.kind, detail) {
                (ActivityKind::EmotionalSupport, _) => "emotional support".into(),
                (ActivityKind::SharedExperience, _) => "sharing experience".into(),
                (ActivityKind::PracticalHelp, Some(t)) => format!("practical help (“{t}”)"),
                (ActivityKind::PracticalHelp, None) => "practical help".into(),
                (ActivityKind::Accompanying, Some(t)) => format!("going with you to “{t}”"),
                (ActivityKind::Accompanying, None) => {
                    "going with you to an appointment or activity".into()
                }
                (ActivityKind::Signposting, Some(t)) => format!("pointing you to “{t}”"),
                (ActivityKind::Signposting, None) => {
                    "pointing you to somewhere that could help".into()
                }
            });
        }
        let mut out = String::new();
        if !parts.is_empty() {
            out.push_str(&format!("; what was done: {}", parts.join(", ")));
        }
        if !goals.is_empty() {
            out.push_str(&format!(
                "; it worked on {} of yours",
                count(goals.len() as u64, "recovery goal", "recovery goals")
            ));
        }
        out
    }

    fn decline_reason(&self, reason: Option<&SegmentRef>) -> String {
        match reason {
            Some(s) => match self.text(s) {
                Some(t) => format!(". The reason given: “{}”", esc(t)),
                None => ". The written reason is not in this copy".into(),
            },
            None => String::new(),
        }
    }

    /// What a consent allows, as a clause (HTML).
    fn scope_words(&self, scope: Scope, grantee: Option<&Grantee>) -> String {
        let person = |g: Option<&Grantee>| match g {
            Some(Grantee::Person(s)) => match self.text(s) {
                Some(name) => esc(name),
                None => "a person you named (their name is not in this copy)".into(),
            },
            Some(Grantee::Team(t)) => format!("the {} team", team_name(t)),
            None => "a person you named".into(),
        };
        match (scope, grantee) {
            (Scope::ShareWithCareTeam, Some(Grantee::Team(t))) => format!(
                "the {} care team may read your agreed notes and meetings",
                team_name(t)
            ),
            (Scope::ShareWithCareTeam, _) => {
                "a care team may read your agreed notes and meetings".into()
            }
            (Scope::DiscussInSupervision, _) => {
                "your peer worker may talk about your support with their supervisor".into()
            }
            (Scope::ShareWithGp, _) => "your notes may be shared with your GP".into(),
            (Scope::ShareWithPerson, g) => {
                format!("your notes may be shared with {}", person(g))
            }
        }
    }

    fn notes_section(&self, out: &mut String) {
        open(out, "notes", "Your notes");
        out.push_str(
            "<p>Notes are written together with you: you and your peer worker both agree what \
             they say. If something is in a note that you do not want there, you can ask for it \
             to be removed; once you both agree, the words are deleted for good and only their \
             length is kept.</p>\n",
        );
        if self.notes.is_empty() {
            out.push_str("<p>There are no notes in this copy.</p>\n");
        }
        for (i, stream) in self.notes.iter().enumerate() {
            self.note(out, i + 1, stream);
        }
        close(out);
    }

    fn note(&self, out: &mut String, n: usize, stream: &str) {
        let items: Vec<&Item> = self
            .items
            .iter()
            .filter(|i| i.head.as_ref().is_some_and(|h| h.stream == stream))
            .collect();
        let fold = NoteFold::of(self, stream, &items);
        let heading = match (fold.meeting_at(self), fold.drafted_at) {
            (Some(t), _) => format!("Note of your meeting on {}", date_el(t)),
            (None, Some(t)) => format!("Note written on {}", date_el(t)),
            (None, None) => "A note".into(),
        };
        out.push_str(&format!(
            "<article class=\"note\" id=\"record-note-{n}\" aria-labelledby=\"record-note-{n}-h\">\n\
             <h3 id=\"record-note-{n}-h\">{heading}</h3>\n<p class=\"note-status\">{}</p>\n",
            fold.status(self)
        ));
        if !fold.revisions.is_empty() {
            out.push_str("<h4>What the note says now</h4>\n<ul class=\"passages\">\n");
            for (s, added) in fold.current() {
                let label = if added {
                    "<span class=\"label\">Added after agreement:</span> "
                } else {
                    ""
                };
                match (self.text(s), fold.removed.get(&s.id)) {
                    (Some(t), _) => {
                        out.push_str(&format!("<li class=\"passage\">{label}{}</li>\n", esc(t)))
                    }
                    (None, Some(Some(t))) => out.push_str(&format!(
                        "<li class=\"removed\">{label}This passage was removed by agreement on \
                         {}, {}.</li>\n",
                        date_el(*t),
                        count(s.chars, "character", "characters")
                    )),
                    (None, Some(None)) => out.push_str(&format!(
                        "<li class=\"removed\">{label}This passage was removed by agreement, \
                         {}.</li>\n",
                        count(s.chars, "character", "characters")
                    )),
                    (None, None) if self.retained.contains_key(&to_hex(&s.commit.0)) => out
                        .push_str(&format!(
                            "<li class=\"removed\">{label}{}</li>\n",
                            self.retention_words(s)
                        )),
                    (None, None) => out.push_str(&format!(
                        "<li class=\"missing\">{label}The words of this passage are not in this \
                         copy ({}).</li>\n",
                        count(s.chars, "character", "characters")
                    )),
                }
            }
            out.push_str("</ul>\n");
        }
        out.push_str("<h4>How it was written</h4>\n<ol class=\"history\">\n");
        let mut agreed = NoteAgreement::default();
        for item in &items {
            out.push_str(&format!(
                "<li>{}: {} {}</li>\n",
                at_el(item),
                self.history_line(item, &fold, &mut agreed),
                seq_note(item.seq)
            ));
        }
        out.push_str("</ol>\n</article>\n");
    }

    /// One step of a note's co-production, as a sentence (HTML).
    fn history_line(&self, item: &Item, fold: &NoteFold, agreed: &mut NoteAgreement) -> String {
        let who = cap(&self.by(item));
        let by_person = item
            .head
            .as_ref()
            .is_some_and(|h| h.actor_id == self.subject);
        let passages = |n: usize| count(n as u64, "passage", "passages");
        if let Some((n, reason)) = self.loose_proposal(item) {
            return format!("{who} asked for {} to be removed{reason}.", passages(n));
        }
        let Some(event) = &item.event else {
            return format!("{}.", cap(&self.what(item)));
        };
        match event {
            Event::NoteDrafted(d) => {
                agreed.revision = 1;
                format!(
                    "{who} wrote the first version, with {}.",
                    passages(d.segments.len())
                )
            }
            Event::NoteRevised(d) => {
                agreed.new_revision();
                format!(
                    "{who} revised it; it now has {}. A new version needs agreeing again.",
                    passages(d.segments.len())
                )
            }
            Event::NoteAddendum(d) => {
                agreed.new_revision();
                format!(
                    "{who} added to it after it was agreed ({}). The addition needs agreeing \
                     too.",
                    passages(d.segments.len())
                )
            }
            Event::RedactionProposed(d) => format!(
                "{who} asked for {} to be removed ({}).",
                passages(d.segments.len()),
                redaction_words(d.reason)
            ),
            Event::RedactionAgreed(d) => match self.removed_count(&fold.stream, &d.proposal_id) {
                Some(n) => format!(
                    "{who} agreed, so {} removed.",
                    count(n as u64, "passage was", "passages were")
                ),
                None => format!("{who} agreed to remove passages."),
            },
            Event::RedactionDeclined(d) => {
                let reason = self.decline_reason(d.reason.as_ref());
                format!("{who} declined to remove it{reason}{}", stop_after(&reason))
            }
            Event::RedactionWithdrawn(_) => format!("{who} withdrew the request to remove it."),
            Event::NoteAgreed(d) => {
                if by_person {
                    agreed.person = Some(d.revision);
                } else {
                    agreed.author = Some(d.revision);
                }
                let both = agreed.revision > 0
                    && agreed.person == Some(agreed.revision)
                    && agreed.author == Some(agreed.revision);
                let now = if both {
                    " Both of you have now agreed the note."
                } else {
                    ""
                };
                format!("{who} agreed version {}.{now}", d.revision)
            }
            Event::NoteClosed(d) => format!(
                "{who} closed it without agreement: {}.",
                close_words(d.reason)
            ),
            _ => format!("{}.", cap(&self.what(item))),
        }
    }

    fn consent_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = Vec::new();
        for i in &self.items {
            if let Some(Event::ConsentGranted(c)) = &i.event {
                if !ids.contains(&c.consent_id.as_str()) {
                    ids.push(&c.consent_id);
                }
            }
        }
        ids
    }

    fn consents(&self, out: &mut String) {
        open(out, "consents", "Your consents");
        out.push_str(
            "<p>A consent lets someone else see part of your record, or talk about your support. \
             You can take a consent back at any time: tell your peer worker or the \
             organisation.</p>\n",
        );
        let ids = self.consent_ids();
        if ids.is_empty() {
            out.push_str("<p>You have not given any consent in this copy.</p>\n");
        } else {
            out.push_str("<ul class=\"consents\">\n");
        }
        let now = Time::parse(&self.bundle.produced_at);
        for id in &ids {
            let Some((at, c)) = self.consent(id) else {
                continue;
            };
            let given = match at {
                Some(t) => format!("You gave this consent on {}", time_el(t)),
                None => "You gave this consent".into(),
            };
            let revoked = self.items.iter().find_map(|i| match &i.event {
                Some(Event::ConsentRevoked(r)) if r.consent_id == *id => Some(i.at()),
                _ => None,
            });
            let state = match (revoked, c.expires_at) {
                (Some(Some(t)), _) => format!("You took it back on {}.", time_el(t)),
                (Some(None), _) => "You took it back.".into(),
                (None, Some(t)) if now.is_some_and(|n| t <= n) => {
                    format!("It ended on {}.", time_el(t))
                }
                (None, Some(t)) => format!(
                    "It lasts until {}, unless you take it back sooner.",
                    time_el(t)
                ),
                (None, None) => "It lasts until you take it back.".into(),
            };
            out.push_str(&format!(
                "<li><p><strong>{}.</strong></p><p>{given}{}. {state}</p></li>\n",
                cap(&self.scope_words(c.scope, c.grantee.as_ref())),
                on_behalf(c.on_behalf)
            ));
        }
        if !ids.is_empty() {
            out.push_str("</ul>\n");
        }
        close(out);
    }

    fn concern_streams(&self) -> Vec<&str> {
        let mut streams: Vec<&str> = Vec::new();
        for i in &self.items {
            if let (Some(Stream::Concern(_)), Some(h)) = (i.stream(), &i.head) {
                if !streams.contains(&h.stream.as_str()) {
                    streams.push(&h.stream);
                }
            }
        }
        streams
    }

    fn concerns(&self, out: &mut String) {
        open(out, "concerns", "Safeguarding concerns");
        out.push_str(
            "<p>A safeguarding concern is raised when someone is worried about your safety or \
             someone else's. Staff have a duty of care to act on it, even without your consent. \
             It does not mean you did something wrong.</p>\n",
        );
        let streams = self.concern_streams();
        if streams.is_empty() {
            out.push_str("<p>There are no safeguarding concerns in this copy.</p>\n");
        }
        for (n, stream) in streams.iter().enumerate() {
            let n = n + 1;
            let items: Vec<&Item> = self
                .items
                .iter()
                .filter(|i| i.head.as_ref().is_some_and(|h| h.stream == *stream))
                .collect();
            let raised = items
                .iter()
                .find(|i| matches!(i.event, Some(Event::SafeguardingRaised(_))));
            let heading = match raised.and_then(|i| i.at()) {
                Some(t) => format!("A concern raised on {}", date_el(t)),
                None => "A concern".into(),
            };
            out.push_str(&format!(
                "<article class=\"concern\" aria-labelledby=\"record-concern-{n}-h\">\n\
                 <h3 id=\"record-concern-{n}-h\">{heading}</h3>\n<ul>\n"
            ));
            let mut acknowledged = false;
            for item in &items {
                let who = cap(&self.by(item));
                let line = match &item.event {
                    Some(Event::SafeguardingRaised(d)) => {
                        let mut line = format!(
                            "{who} raised it. What it is about: {}. How urgent: {}.",
                            category_words(d.category),
                            urgency_words(d.urgency)
                        );
                        let texts: Vec<String> = d
                            .summary
                            .iter()
                            .map(|s| match self.text(s) {
                                Some(t) => format!("<li class=\"passage\">{}</li>", esc(t)),
                                None => format!(
                                    "<li class=\"missing\">The words of this passage are not in \
                                     this copy ({}).</li>",
                                    count(s.chars, "character", "characters")
                                ),
                            })
                            .collect();
                        if !texts.is_empty() {
                            line.push_str(&format!(
                                " What was written:<ul class=\"passages\">{}</ul>",
                                texts.concat()
                            ));
                        }
                        line
                    }
                    Some(Event::SafeguardingAcknowledged(_)) => {
                        acknowledged = true;
                        format!("{who} took it on, as safeguarding lead.")
                    }
                    Some(Event::SafeguardingOutcome(d)) => {
                        let detail = match self.text(&d.detail) {
                            Some(t) => format!(" In their words: “{}”", esc(t)),
                            None => " The words written about it are not in this copy.".into(),
                        };
                        format!(
                            "{who} recorded what happened: {}.{detail}",
                            outcome_words(d.outcome)
                        )
                    }
                    Some(Event::SubjectInformed(d)) => {
                        format!("You were told about it {}.", informed_words(d.how))
                    }
                    _ => format!("{}.", cap(&self.what(item))),
                };
                out.push_str(&format!(
                    "<li>{}: {line} {}</li>\n",
                    at_el(item),
                    seq_note(item.seq)
                ));
            }
            out.push_str("</ul>\n");
            if !acknowledged {
                out.push_str(
                    "<p>This copy does not show a safeguarding lead taking it on yet.</p>\n",
                );
            }
            out.push_str("</article>\n");
        }
        close(out);
    }

    /// The passages of an entry as a list (HTML): the words, or their length when the words are
    /// not in this copy.
    fn passages_html(&self, segments: &[SegmentRef]) -> String {
        let texts: Vec<String> = segments
            .iter()
            .map(|s| match self.text(s) {
                Some(t) => format!("<li class=\"passage\">{}</li>", esc(t)),
                None => format!(
                    "<li class=\"missing\">The words of this passage are not in this copy \
                     ({}).</li>",
                    count(s.chars, "character", "characters")
                ),
            })
            .collect();
        format!("<ul class=\"passages\">{}</ul>", texts.concat())
    }

    /// "in an MDT meeting of the Riverside care team" (HTML).
    fn discussed_with_words(&self, with: &DiscussedWith, setting: DiscussionSetting) -> String {
        let whom = match with {
            DiscussedWith::Team(t) => format!("the {} team", team_name(t)),
            DiscussedWith::Role(r) => role_words(r.as_str()).to_string(),
        };
        let setting = match setting {
            DiscussionSetting::Mdt => "in a team meeting (MDT) with",
            DiscussionSetting::WardRound => "on a ward round with",
            DiscussionSetting::Handover => "at a handover with",
            DiscussionSetting::Supervision => "in supervision with",
            DiscussionSetting::CoReflection => "in a reflective practice session with",
        };
        format!("{setting} {whom}")
    }

    /// Why a discussion was allowed, in words (HTML).
    fn discussion_basis_words(&self, basis: &str) -> String {
        if basis == "present" {
            return "with you there".into();
        }
        match Stream::parse(basis) {
            Some(Stream::Consent(id)) => match self.consent(&id) {
                Some((at, c)) => format!(
                    "under the consent you gave{} ({})",
                    at.map(|t| format!(" on {}", date_el(t)))
                        .unwrap_or_default(),
                    self.scope_words(c.scope, c.grantee.as_ref())
                ),
                None => format!("under a consent you gave (consent {})", esc(&id)),
            },
            Some(Stream::Concern(_)) => {
                "because of an open safeguarding concern (staff have a duty of care)".into()
            }
            _ => format!("on the basis “{}”", esc(basis)),
        }
    }

    fn discussions(&self, out: &mut String) {
        open(out, "discussions", "Who talked about you, and why");
        out.push_str(
            "<p>Staff promise not to discuss you unless you are there, you have given your \
             permission, or there is a safeguarding concern they have a duty to act on. Every \
             time you were discussed, it is written down here with the reason it was \
             allowed.</p>\n",
        );
        let found: Vec<&Item> = self
            .items
            .iter()
            .filter(|i| matches!(i.event, Some(Event::DiscussionRecorded(_))))
            .collect();
        if found.is_empty() {
            out.push_str("<p>No discussion about you is recorded in this copy.</p>\n");
        } else {
            out.push_str("<ul class=\"discussions\">\n");
            for item in found {
                let Some(Event::DiscussionRecorded(d)) = &item.event else {
                    continue;
                };
                out.push_str(&format!(
                    "<li>{}: you were discussed {}, {}. <span class=\"by\">Written down by {} \
                     on {}.</span> What was said:{} {}</li>\n",
                    time_el(d.held_at),
                    self.discussed_with_words(&d.with, d.setting),
                    self.discussion_basis_words(&d.basis),
                    self.by(item),
                    at_el(item),
                    self.passages_html(&d.summary),
                    seq_note(item.seq)
                ));
            }
            out.push_str("</ul>\n");
        }
        close(out);
    }

    fn statements(&self, out: &mut String) {
        open(out, "statements", "What you have said about your record");
        out.push_str(
            "<p>If you disagree with something in your record, you can add your own statement \
             to it, saying why. Staff cannot change or remove it, and anyone who is shown that \
             part of your record is shown your statement with it.</p>\n",
        );
        let found: Vec<&Item> = self
            .items
            .iter()
            .filter(|i| matches!(i.event, Some(Event::StatementAdded(_))))
            .collect();
        if found.is_empty() {
            out.push_str("<p>You have not added a statement.</p>\n");
        } else {
            out.push_str("<ul class=\"statements\">\n");
            for item in found {
                let Some(Event::StatementAdded(d)) = &item.event else {
                    continue;
                };
                out.push_str(&format!(
                    "<li>{}: about {}, you said:{} {}</li>\n",
                    at_el(item),
                    stream_words(&d.target_stream),
                    self.passages_html(&d.segments),
                    seq_note(item.seq)
                ));
            }
            out.push_str("</ul>\n");
        }
        close(out);
    }

    fn access(&self, out: &mut String) {
        open(out, "access", "Who looked at your record");
        out.push_str(
            "<p>Every time someone other than you looks at what your record says, it is written \
             down first, with the reason they were allowed. Every attempt that was refused is \
             written down too.</p>\n",
        );
        out.push_str("<h3 id=\"record-access-reads-h\">When someone looked, and why</h3>\n");
        let reads = self.looks();
        if reads.is_empty() {
            out.push_str("<p>Nobody other than you has looked at your record.</p>\n");
        } else {
            out.push_str("<ul class=\"reads\">\n");
            for (item, basis, streams) in &reads {
                out.push_str(&format!(
                    "<li>{}: <strong>{}</strong> looked at {}, as {}. {}</li>\n",
                    at_el(item),
                    cap(&self.by(item)),
                    streams_words(streams),
                    self.basis_words(basis),
                    seq_note(item.seq)
                ));
            }
            out.push_str("</ul>\n");
        }
        out.push_str("<h3 id=\"record-access-refused-h\">Attempts that were refused</h3>\n");
        let refused: Vec<&Item> = self
            .items
            .iter()
            .filter(|i| matches!(i.event, Some(Event::AccessDenied(_))))
            .collect();
        if refused.is_empty() {
            out.push_str("<p>Nobody was refused.</p>\n");
        } else {
            out.push_str("<ul class=\"refused\">\n");
            for item in refused {
                let Some(Event::AccessDenied(d)) = &item.event else {
                    continue;
                };
                let more = match d.suppressed {
                    Some(n) if n > 0 => format!(
                        " Before this they tried {} more; those attempts were refused too, and \
                         counted rather than listed one by one.",
                        count(n, "time", "times")
                    ),
                    _ => String::new(),
                };
                out.push_str(&format!(
                    "<li>{}: <strong>{}</strong> tried to see {} and was refused, because {}.{more} {}</li>\n",
                    at_el(item),
                    cap(&self.by(item)),
                    what_words(&d.what),
                    denial_words(d.reason),
                    seq_note(item.seq)
                ));
            }
            out.push_str("</ul>\n");
        }
        close(out);
    }

    /// Each look at the record: its first entry, its basis and the streams read. One look at a
    /// long record is several entries at the same moment, by the same reader, on the same basis:
    /// one look here.
    fn looks(&self) -> Vec<(&Item, &str, Vec<&str>)> {
        let mut looks: Vec<(&Item, &str, Vec<&str>)> = Vec::new();
        for item in &self.items {
            let Some(Event::RecordAccessed(d)) = &item.event else {
                continue;
            };
            if let Some(last) = looks.last_mut() {
                let same = match (&last.0.head, &item.head) {
                    (Some(x), Some(y)) => x.at_raw == y.at_raw && x.actor_id == y.actor_id,
                    _ => false,
                };
                if same && last.1 == d.basis {
                    last.2.extend(d.streams.iter().map(String::as_str));
                    continue;
                }
            }
            looks.push((
                item,
                &d.basis,
                d.streams.iter().map(String::as_str).collect(),
            ));
        }
        looks
    }

    /// A `redaction.proposed` whose data is not in today's shape, read loosely: how many
    /// passages it names and its reason in words (HTML).
    fn loose_proposal(&self, item: &Item) -> Option<(usize, String)> {
        if item.event.is_some() {
            return None;
        }
        let (_, segments) = proposal_of(item)?;
        let reason = item.data["reason"]
            .as_str()
            .map(|r| format!(" (reason given: {})", esc(&r.replace('_', " "))))
            .unwrap_or_default();
        Some((segments.len(), reason))
    }

    /// Why a look was allowed, as what follows "as" (HTML).
    fn basis_words(&self, basis: &str) -> String {
        match Stream::parse(basis) {
            Some(Stream::Support(_)) => "your peer worker, because you chose peer support".into(),
            Some(Stream::Consent(id)) => match self.consent(&id) {
                Some((at, c)) => {
                    let when = at
                        .map(|t| format!(" on {}", date_el(t)))
                        .unwrap_or_default();
                    match &c.grantee {
                        Some(Grantee::Team(t)) if c.scope == Scope::ShareWithCareTeam => format!(
                            "a member of the {} care team, under the consent you gave{when}",
                            team_name(t)
                        ),
                        _ => format!(
                            "the consent you gave{when} allows ({})",
                            self.scope_words(c.scope, c.grantee.as_ref())
                        ),
                    }
                }
                None => format!("a consent you gave (consent {})", esc(&id)),
            },
            Some(Stream::Authority(id)) => match self.authority(&id) {
                Some((_, a)) => format!(
                    "{}, acting for you as your {} ({})",
                    self.who(&a.representative, Role::Representative.as_str()),
                    relation_words(a.relation),
                    authority_basis_words(a.basis)
                ),
                None => format!("someone acting for you (authority {})", esc(&id)),
            },
            Some(Stream::Concern(id)) => {
                let raised = self.items.iter().find_map(|i| match (&i.event, &i.head) {
                    (Some(Event::SafeguardingRaised(_)), Some(h))
                        if h.stream == Stream::concern(&id).name() =>
                    {
                        i.at()
                    }
                    _ => None,
                });
                match raised {
                    Some(t) => format!(
                        "a safeguarding lead, under their duty of care, because of the concern \
                         raised on {}",
                        date_el(t)
                    ),
                    None => "a safeguarding lead, under their duty of care, because of a \
                             safeguarding concern"
                        .into(),
                }
            }
            Some(Stream::Sar(_)) => "part of answering your subject access request".into(),
            _ if basis.starts_with("audit") => "part of the data protection officer's audit".into(),
            _ => format!("the reason recorded as “{}”", esc(basis)),
        }
    }

    fn withheld_section(&self, out: &mut String) {
        open(out, "withheld", "What is not shown in this copy");
        if self.withheld == 0 {
            out.push_str(
                "<p>Nothing about you is withheld: every entry about you is shown in this \
                 copy.</p>\n",
            );
        } else {
            out.push_str(&format!(
                "<p><strong>{} about you {} withheld from this copy.</strong></p>\n",
                cap(&count(self.withheld, "entry", "entries")),
                if self.withheld == 1 { "is" } else { "are" }
            ));
            out.push_str(
                "<p>An organisation may hold back part of a record for a while: for example when \
                 seeing it now could cause serious harm to you or to someone else, or when it \
                 would tell you about another person who has not agreed. What is withheld is \
                 still counted, and the check at the end of this page includes it: it has not \
                 been hidden or deleted.</p>\n",
            );
        }
        let released: Vec<&str> = self
            .items
            .iter()
            .filter_map(|i| match &i.event {
                Some(Event::DisclosureReleased(d)) => Some(d.target_stream.as_str()),
                _ => None,
            })
            .collect();
        let reviews: Vec<Time> = self
            .items
            .iter()
            .filter_map(|i| match &i.event {
                Some(Event::DisclosureWithheld(d))
                    if !released.contains(&d.target_stream.as_str()) =>
                {
                    Some(d.review_by)
                }
                _ => None,
            })
            .collect();
        if self.withheld > 0 || !reviews.is_empty() {
            let controller = self
                .about("controller")
                .map(esc)
                .unwrap_or_else(|| "the organisation".into());
            let review = match reviews.iter().min() {
                Some(t) => format!("The decision is to be reviewed by {}.", date_el(*t)),
                None => "A decision to withhold must be reviewed by a date the organisation \
                         sets; you can ask for that date."
                    .into(),
            };
            out.push_str(&format!(
                "<h3 id=\"record-withheld-do-h\">What you can do</h3>\n<ul>\n\
                 <li>Ask your peer worker, or the data protection officer (DPO) at {controller}, \
                 why it is withheld and when that will be looked at again.</li>\n\
                 <li>{review}</li>\n\
                 <li>If you are not happy with the answer, you can complain to the regulator \
                 (see <a href=\"#record-about\">about this record</a>).</li>\n</ul>\n"
            ));
        }
        close(out);
    }

    fn requests(&self, out: &mut String) {
        open(out, "requests", "Your requests for your record");
        out.push_str(
            "<p>A subject access request is your right to ask for a copy of everything an \
             organisation holds about you. The organisation must answer within one calendar \
             month.</p>\n",
        );
        let made = time_or_raw(&self.bundle.produced_at);
        match &self.bundle.sar_id {
            Some(id) => out.push_str(&format!(
                "<p>This copy was made on {made}, in answer to your request “{}”.</p>\n",
                esc(id)
            )),
            None => out.push_str(&format!(
                "<p>This copy was made on {made}, when you asked to see your record.</p>\n"
            )),
        }
        let mut ids: Vec<&str> = Vec::new();
        for i in &self.items {
            if let (Some(Stream::Sar(_)), Some(h)) = (i.stream(), &i.head) {
                if !ids.contains(&h.stream.as_str()) {
                    ids.push(&h.stream);
                }
            }
        }
        if ids.is_empty() {
            out.push_str("<p>There is no entry of a subject access request in this copy.</p>\n");
        } else {
            out.push_str("<ul class=\"requests\">\n");
        }
        for stream in &ids {
            let items: Vec<&Item> = self
                .items
                .iter()
                .filter(|i| i.head.as_ref().is_some_and(|h| h.stream == *stream))
                .collect();
            let requested = items.iter().find_map(|i| match &i.event {
                Some(Event::SarRequested(d)) => Some((i.at(), d)),
                _ => None,
            });
            let fulfilled = items.iter().find_map(|i| match &i.event {
                Some(Event::SarFulfilled(d)) => Some((i.at(), d)),
                _ => None,
            });
            let mut line = String::new();
            let mut due = None;
            match requested {
                Some((Some(t), d)) => {
                    let (day, end) = one_month_after(t);
                    due = Some(end);
                    line.push_str(&format!(
                        "You asked for a copy of your record on {} {}. The answer was due by {}.",
                        time_el(t),
                        via_words(d.via),
                        day_el(&day)
                    ));
                }
                Some((None, d)) => line.push_str(&format!(
                    "You asked for a copy of your record {}.",
                    via_words(d.via)
                )),
                None => line.push_str("A request for a copy of your record."),
            }
            match fulfilled {
                Some((at, d)) => {
                    let when = at
                        .map(|t| format!(" on {}", time_el(t)))
                        .unwrap_or_default();
                    let late = match (at, due) {
                        (Some(t), Some(end)) if t < end => " (on time)",
                        (Some(_), Some(_)) => " (later than it should have been)",
                        _ => "",
                    };
                    line.push_str(&format!(
                        " It was answered{when}{late}: that copy covered the first {} of the \
                         log, with {} withheld.",
                        count(d.tree_size, "entry", "entries"),
                        count(d.withheld, "item", "items")
                    ));
                }
                None => line.push_str(" This copy does not show it answered yet."),
            }
            out.push_str(&format!("<li>{line}</li>\n"));
        }
        if !ids.is_empty() {
            out.push_str("</ul>\n");
        }
        close(out);
    }

    fn about_section(&self, out: &mut String) {
        open(out, "about", "About this record");
        if self.bundle.about.is_empty() {
            out.push_str("<p>This copy does not say more about the record.</p>\n");
            close(out);
            return;
        }
        out.push_str("<dl class=\"about\">\n");
        let mut keys: Vec<&str> = ABOUT.iter().map(|(k, _)| *k).collect();
        keys.extend(
            self.bundle
                .about
                .keys()
                .map(String::as_str)
                .filter(|k| !ABOUT.iter().any(|(a, _)| a == k)),
        );
        for key in keys {
            let Some(value) = self.about(key) else {
                continue;
            };
            let label = ABOUT
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, l)| (*l).to_string())
                .unwrap_or_else(|| cap(&esc(&key.replace('_', " "))));
            out.push_str(&format!("<dt>{label}</dt>\n<dd>{}</dd>\n", esc(value)));
        }
        out.push_str(
            "</dl>\n<p>These facts come with the copy from the organisation; the check at the \
             end of the page does not cover them.</p>\n",
        );
        close(out);
    }
}

/// The sections, by id (after `record-`) and heading, for the page's contents.
const SECTIONS: [(&str, &str); 11] = [
    ("timeline", "What was recorded, in order"),
    ("notes", "Your notes"),
    ("consents", "Your consents"),
    ("concerns", "Safeguarding concerns"),
    ("access", "Who looked at your record"),
    ("discussions", "Who talked about you, and why"),
    ("statements", "What you have said about your record"),
    ("representatives", "Who may act for you"),
    ("withheld", "What is not shown in this copy"),
    ("requests", "Your requests for your record"),
    ("about", "About this record"),
];

/// The facts of `sar-bundle.md` §6 in the order shown, with their headings.
const ABOUT: [(&str, &str); 6] = [
    ("controller", "Who holds your record"),
    ("purposes", "Why it is kept"),
    ("recipients", "Who sees it"),
    ("retention", "How long it is kept"),
    ("source", "Where the information comes from"),
    ("rights", "Your rights"),
];

fn open(out: &mut String, id: &str, title: &str) {
    out.push_str(&format!(
        "<section id=\"record-{id}\" aria-labelledby=\"record-{id}-h\">\n\
         <h2 id=\"record-{id}-h\">{title}</h2>\n"
    ));
}

fn close(out: &mut String) {
    out.push_str("</section>\n");
}

/// A note's agreement as its history is read in order (domain rule 5).
#[derive(Default)]
struct NoteAgreement {
    revision: u64,
    person: Option<u64>,
    author: Option<u64>,
}

impl NoteAgreement {
    fn new_revision(&mut self) {
        if self.revision > 0 {
            self.revision += 1;
        }
        self.person = None;
        self.author = None;
    }
}

/// A note's state from its shown entries, as `domain::notes` folds it.
struct NoteFold<'r> {
    stream: String,
    author: Option<(&'r str, &'r str)>,
    drafted_at: Option<Time>,
    meeting_id: Option<&'r str>,
    /// (added after agreement, segments), in order.
    revisions: Vec<(bool, &'r [SegmentRef])>,
    agreement: NoteAgreement,
    agreed_at: Option<Time>,
    closed: Option<(Option<Time>, CloseReason)>,
    /// Segment id → when its removal was agreed.
    removed: HashMap<String, Option<Time>>,
}

impl<'r> NoteFold<'r> {
    fn of(record: &Record<'_>, stream: &str, items: &[&'r Item]) -> NoteFold<'r> {
        let mut f = NoteFold {
            stream: stream.to_string(),
            author: None,
            drafted_at: None,
            meeting_id: None,
            revisions: Vec::new(),
            agreement: NoteAgreement::default(),
            agreed_at: None,
            closed: None,
            removed: HashMap::new(),
        };
        for item in items {
            let (Some(event), Some(head)) = (&item.event, &item.head) else {
                continue;
            };
            match event {
                Event::NoteDrafted(d) => {
                    f.author = Some((head.actor_id.as_str(), head.actor_role.as_str()));
                    f.drafted_at = head.at;
                    f.meeting_id = Some(&d.meeting_id);
                    f.revisions = vec![(false, &d.segments)];
                    f.agreement.revision = 1;
                }
                Event::NoteRevised(d) => {
                    f.revisions.push((false, &d.segments));
                    f.agreement.new_revision();
                    f.agreed_at = None;
                }
                Event::NoteAddendum(d) => {
                    f.revisions.push((true, &d.segments));
                    f.agreement.new_revision();
                    f.agreed_at = None;
                }
                Event::NoteAgreed(d) => {
                    if head.actor_id == record.subject {
                        f.agreement.person = Some(d.revision);
                    } else {
                        f.agreement.author = Some(d.revision);
                    }
                    if f.agreed() {
                        f.agreed_at = head.at;
                    }
                }
                Event::NoteClosed(d) => f.closed = Some((head.at, d.reason)),
                Event::RedactionAgreed(d) => {
                    let key = (stream.to_string(), d.proposal_id.clone());
                    for s in record.proposals.get(&key).into_iter().flatten() {
                        f.removed.insert(s.clone(), head.at);
                    }
                }
                _ => {}
            }
        }
        f
    }

    fn agreed(&self) -> bool {
        let a = &self.agreement;
        a.revision > 0 && a.person == Some(a.revision) && a.author == Some(a.revision)
    }

    fn meeting_at(&self, record: &Record<'_>) -> Option<Time> {
        let id = self.meeting_id?;
        record.items.iter().find_map(|i| match &i.event {
            Some(Event::MeetingRecorded(m)) if m.meeting_id == id => Some(m.occurred_at),
            _ => None,
        })
    }

    /// The note's text now: the latest body revision, then each addendum (marked `true`).
    fn current(&self) -> Vec<(&'r SegmentRef, bool)> {
        let mut out = Vec::new();
        if let Some((_, body)) = self.revisions.iter().rev().find(|(added, _)| !added) {
            out.extend(body.iter().map(|s| (s, false)));
        }
        for (_, segments) in self.revisions.iter().filter(|(added, _)| *added) {
            out.extend(segments.iter().map(|s| (s, true)));
        }
        out
    }

    fn status(&self, record: &Record<'_>) -> String {
        let author = match self.author {
            Some((id, role)) => record.who(id, role),
            None => "the person who wrote it".into(),
        };
        if let Some((at, reason)) = self.closed {
            let when = at
                .map(|t| format!(" on {}", date_el(t)))
                .unwrap_or_default();
            return format!(
                "This note was closed without agreement{when}: {}.",
                close_words(reason)
            );
        }
        if self.revisions.is_empty() {
            return "This copy shows only part of this note's history: how it began is not in \
                    it, so its words are not shown here."
                .into();
        }
        let author_is_person = self.author.is_some_and(|(id, _)| id == record.subject);
        if self.agreed() {
            let when = self
                .agreed_at
                .map(|t| format!(" on {}", time_el(t)))
                .unwrap_or_default();
            return if author_is_person {
                format!("You agreed this note{when}.")
            } else {
                format!("You and {author} both agreed this note{when}.")
            };
        }
        let a = &self.agreement;
        let mut missing = Vec::new();
        if a.person != Some(a.revision) {
            missing.push("you".to_string());
        }
        if a.author != Some(a.revision) && !author_is_person {
            missing.push(author);
        }
        format!(
            "This note is not agreed yet: it still needs agreeing by {}.",
            missing.join(" and by ")
        )
    }
}

/// A redaction proposal's id and segment ids: typed, or read loosely from an entry whose data
/// does not fit today's schema (the spec's vectors hold such a proposal), since a removal's date
/// is found through it.
fn proposal_of(item: &Item) -> Option<(String, Vec<String>)> {
    match &item.event {
        Some(Event::RedactionProposed(d)) => Some((d.proposal_id.clone(), d.segments.clone())),
        Some(_) => None,
        None => {
            let head = item.head.as_ref()?;
            if head.event_type != "redaction.proposed" || head.v != Event::V {
                return None;
            }
            let id = item.data["proposal_id"].as_str()?.to_string();
            let segments = item.data["segments"]
                .as_array()?
                .iter()
                .map(|s| s.as_str().map(str::to_string))
                .collect::<Option<Vec<String>>>()?;
            Some((id, segments))
        }
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// "21 November 2026" and "10:15" (UTC).
fn date_and_clock(t: Time) -> (String, String) {
    let iso = format_millis(t.0);
    let month = iso[5..7]
        .parse::<usize>()
        .ok()
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("");
    let day = iso[8..10].trim_start_matches('0');
    (
        format!("{day} {month} {}", &iso[0..4]),
        iso[11..16].to_string(),
    )
}

/// `<time datetime="…">21 November 2026, 10:15</time>`.
fn time_el(t: Time) -> String {
    let (date, clock) = date_and_clock(t);
    format!(
        "<time datetime=\"{}\">{date}, {clock}</time>",
        format_millis(t.0)
    )
}

/// `<time datetime="…">21 November 2026</time>`.
fn date_el(t: Time) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        format_millis(t.0),
        date_and_clock(t).0
    )
}

/// A `YYYY-MM-DD` day as `<time>` in words.
fn day_el(day: &str) -> String {
    match parse_millis(&format!("{day}T00:00:00.000Z")) {
        Some(ms) => format!(
            "<time datetime=\"{}\">{}</time>",
            esc(day),
            date_and_clock(Time(ms)).0
        ),
        None => esc(day),
    }
}

/// A time given as text: in words if it is a log time, else as it is.
fn time_or_raw(s: &str) -> String {
    match Time::parse(s) {
        Some(t) => time_el(t),
        None => esc(s),
    }
}

fn at_el(item: &Item) -> String {
    match &item.head {
        Some(Head { at: Some(t), .. }) => time_el(*t),
        Some(h) => esc(&h.at_raw),
        None => "At a time this page cannot read".into(),
    }
}

fn seq_words(seq: u64) -> String {
    format!("entry {seq}")
}

/// The entry's number, which the check names if it fails.
fn seq_note(seq: u64) -> String {
    format!("<span class=\"seq\">(Entry {seq}.)</span>")
}

/// "none", "one", … for a count standing alone.
fn number_or_none(n: u64) -> String {
    if n == 0 {
        "none".into()
    } else {
        number(n)
    }
}

fn number(n: u64) -> String {
    const WORDS: [&str; 10] = [
        "no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    usize::try_from(n)
        .ok()
        .and_then(|i| WORDS.get(i))
        .map(|w| (*w).to_string())
        .unwrap_or_else(|| n.to_string())
}

/// "one passage", "three passages", "no passages", "43 characters".
fn count(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("one {one}")
    } else {
        format!("{} {many}", number(n))
    }
}

/// A full stop after a clause, unless it already ends in a quoted sentence's own.
fn stop_after(clause: &str) -> &'static str {
    let quoted = clause.trim_end_matches('”');
    if quoted.len() < clause.len() && quoted.ends_with(['.', '!', '?']) {
        ""
    } else {
        "."
    }
}

/// The first letter in capitals.
fn cap(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A team id in words (HTML): `team-rushcliffe` → "Rushcliffe".
fn team_name(id: &str) -> String {
    let core = id
        .strip_prefix("team-")
        .or_else(|| id.strip_prefix("team_"))
        .unwrap_or(id);
    let core = core
        .strip_suffix("-team")
        .or_else(|| core.strip_suffix("_team"))
        .unwrap_or(core);
    let words: Vec<String> = core
        .split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(cap)
        .collect();
    if words.is_empty() {
        esc(id)
    } else {
        esc(&words.join(" "))
    }
}

fn on_behalf(yes: bool) -> &'static str {
    if yes {
        " (you said so in person, and it was recorded for you)"
    } else {
        ""
    }
}

fn role_words(role: &str) -> String {
    match Role::parse(role) {
        // The person is "you"; a service user named otherwise is someone else.
        Some(Role::ServiceUser) => "another person who uses the service",
        Some(Role::PeerWorker) => "a peer worker",
        Some(Role::CareTeam) => "a member of a care team",
        Some(Role::SafeguardingLead) => "a safeguarding lead",
        Some(Role::Auditor) => "an information governance auditor",
        Some(Role::Admin) => "a system administrator",
        Some(Role::Representative) => "someone acting for a person who uses the service",
        None if role.is_empty() => "someone",
        None => return format!("someone with the role “{}”", esc(role)),
    }
    .into()
}

fn deactivation_words(r: DeactivationReason) -> &'static str {
    match r {
        DeactivationReason::LeftOrganisation => "they left the organisation",
        DeactivationReason::RoleChanged => "their role changed",
        DeactivationReason::Duplicate => "it was a duplicate",
        DeactivationReason::Other => "another reason",
    }
}

fn referral_words(s: ReferralSource) -> &'static str {
    match s {
        ReferralSource::SelfReferral => "you referred yourself",
        ReferralSource::CareTeam => "the referral came from your care team",
        ReferralSource::Gp => "the referral came from your GP",
        ReferralSource::Ward => "the referral came from a ward",
        ReferralSource::OtherService => "the referral came from another service",
    }
}

fn end_words(r: EndReason) -> &'static str {
    match r {
        EndReason::PersonChose => "you chose to end it",
        EndReason::GoalsMet => "you had reached your goals",
        EndReason::WorkerUnavailable => "the peer worker was no longer available",
        EndReason::MovedService => "you moved to another service",
        EndReason::NoContact => "there had been no contact for a while",
        EndReason::Other => "for another reason",
    }
}

fn kind_words(k: MeetingKind) -> &'static str {
    match k {
        MeetingKind::OneToOne => "a one-to-one meeting",
        MeetingKind::Group => "a group session",
    }
}

fn mode_words(m: MeetingMode) -> &'static str {
    match m {
        MeetingMode::InPerson => "in person",
        MeetingMode::Phone => "by phone",
        MeetingMode::Video => "by video call",
        MeetingMode::Text => "by text messages",
    }
}

fn place_words(p: Place) -> &'static str {
    match p {
        Place::Clinic => "at a clinic",
        Place::Home => "at your home",
        Place::Community => "out in the community",
        Place::Online => "online",
        Place::Other => "somewhere else",
    }
}

fn redaction_words(r: RedactionReason) -> &'static str {
    match r {
        RedactionReason::NotWanted => "not wanted in the notes",
        RedactionReason::Inaccurate => "not accurate",
        RedactionReason::ThirdParty => "it is about someone else",
        RedactionReason::Other => "another reason",
    }
}

fn close_words(r: CloseReason) -> &'static str {
    match r {
        CloseReason::PersonUnavailable => "you were not available to agree it",
        CloseReason::PersonDeclined => "you chose not to agree it",
        CloseReason::SupportEnded => "peer support had ended",
        CloseReason::Other => "for another reason",
    }
}

fn category_words(c: ConcernCategory) -> &'static str {
    match c {
        ConcernCategory::SelfHarm => "a worry that you might hurt yourself",
        ConcernCategory::SelfNeglect => "a worry that you were not able to look after yourself",
        ConcernCategory::HarmToOthers => "a worry that someone else might be harmed",
        ConcernCategory::Abuse => "a worry that you might be being abused",
        ConcernCategory::DomesticAbuse => "a worry about abuse at home",
        ConcernCategory::Exploitation => "a worry that someone might be taking advantage of you",
        ConcernCategory::Other => "another worry about safety",
    }
}

fn urgency_words(u: Urgency) -> &'static str {
    match u {
        Urgency::Immediate => "it needed a response within an hour",
        Urgency::SameDay => "it needed a response the same day",
        Urgency::Routine => "it needed a response within a week",
    }
}

fn outcome_words(o: ConcernOutcome) -> &'static str {
    match o {
        ConcernOutcome::NoFurtherAction => "no further action was needed",
        ConcernOutcome::AdviceGiven => "advice was given",
        ConcernOutcome::ReferredToLocalAuthority => {
            "it was passed to the local council's safeguarding team"
        }
        ConcernOutcome::ReferredToPolice => "it was passed to the police",
        ConcernOutcome::CarePlanUpdated => "your care plan was updated",
        ConcernOutcome::Other => "something else was done",
    }
}

fn informed_words(h: InformedHow) -> &'static str {
    match h {
        InformedHow::InPerson => "in person",
        InformedHow::Phone => "by phone",
        InformedHow::Video => "by video call",
        InformedHow::Letter => "by letter",
        InformedHow::Other => "in another way",
    }
}

fn exemption_words(e: Exemption) -> &'static str {
    match e {
        Exemption::SeriousHarm => "seeing it now could cause serious harm to you or someone else",
        Exemption::ThirdParty => "it is about another person who has not agreed to it being shown",
    }
}

fn via_words(v: SarVia) -> &'static str {
    match v {
        SarVia::App => "in the app",
        SarVia::InPerson => "in person",
        SarVia::Letter => "by letter",
        SarVia::Email => "by email",
        SarVia::Phone => "by phone",
    }
}

fn denial_words(r: DenialReason) -> &'static str {
    match r {
        DenialReason::MetadataOnlyRole => {
            "their role never allows them to read what your record says"
        }
        DenialReason::NoSupportRelationship => "they are not working with you in peer support",
        DenialReason::NoConsent => "you have not given a consent that covers them",
        DenialReason::OutOfScope => "that part of your record is not theirs to see",
        DenialReason::NoBasis => "they have no reason to see your record",
        DenialReason::RateLimited => "they had tried too many times in a short time",
    }
}

fn hold_words(r: HoldReason) -> &'static str {
    match r {
        HoldReason::Litigation => "because of a legal claim",
        HoldReason::Inquest => "for a coroner's inquest",
        HoldReason::SafeguardingReview => "for a safeguarding review",
        HoldReason::PublicInquiry => "for a public inquiry",
        HoldReason::RegulatorInvestigation => "for a regulator's investigation",
        HoldReason::Other => "for another legal reason",
    }
}

fn retention_rule_words(r: RetentionRule) -> &'static str {
    match r {
        RetentionRule::AdultEndOfCare => "the period after the end of your care",
        RetentionRule::Death => "the period after a death",
        RetentionRule::ChildBirthday => "kept until a birthday, as a child's record",
        RetentionRule::Child17Birthday => {
            "kept until a birthday, as the record of someone who was 17 when their care ended"
        }
    }
}

/// A part of the record, named by its stream (HTML).
fn stream_words(stream: &str) -> String {
    match Stream::parse(stream) {
        Some(s) => stream_kind_words(&s, 1),
        None => format!("“{}”", esc(stream)),
    }
}

fn stream_kind_words(s: &Stream, n: u64) -> String {
    let (one, many) = match s {
        Stream::Actor(_) => ("your registration", "registrations"),
        Stream::Support(_) => ("your peer support", "peer support relationships"),
        Stream::Meeting(_) => ("a meeting", "meetings"),
        Stream::Note(_) => ("a note", "notes"),
        Stream::Consent(_) => ("your consents", "consent records"),
        Stream::Concern(_) => ("a safeguarding concern", "safeguarding concerns"),
        Stream::Disclosure(_) => ("what is withheld from you", "withholdings"),
        Stream::Access(_) => ("the list of who looked at your record", "access lists"),
        Stream::Sar(_) => ("a request for your record", "requests for your record"),
        Stream::Discussion(_) => ("a discussion about you", "discussions about you"),
        Stream::Statement(_) => ("a statement of yours", "statements of yours"),
        Stream::Goal(_) => ("a recovery goal of yours", "recovery goals of yours"),
        Stream::Group(_) => ("a peer support group", "peer support groups"),
        Stream::Authority(_) => (
            "an authority for someone to act for you",
            "authorities for people to act for you",
        ),
        Stream::Retention(_) => ("how long your record is kept", "retention records"),
    };
    if n == 1 {
        one.into()
    } else {
        format!("{} {many}", number(n))
    }
}

/// Several streams read at once, by kind: "two notes, a meeting and your consents".
fn streams_words<S: AsRef<str>>(streams: &[S]) -> String {
    let mut kinds: Vec<(String, Option<Stream>, u64)> = Vec::new();
    for s in streams {
        let parsed = Stream::parse(s.as_ref());
        let kind = parsed
            .as_ref()
            .map(|p| p.kind().to_string())
            .unwrap_or_else(|| s.as_ref().to_string());
        match kinds.iter_mut().find(|(k, _, _)| *k == kind) {
            Some(entry) => entry.2 += 1,
            None => kinds.push((kind, parsed, 1)),
        }
    }
    let parts: Vec<String> = kinds
        .iter()
        .map(|(kind, parsed, n)| match parsed {
            Some(p) => stream_kind_words(p, *n),
            None => format!("“{}”", esc(kind)),
        })
        .collect();
    match parts.len() {
        0 => "your record (nothing in it at the time)".into(),
        1 => parts[0].clone(),
        n => format!("{} and {}", parts[..n - 1].join(", "), parts[n - 1]),
    }
}

fn relation_words(r: Relation) -> &'static str {
    match r {
        Relation::Carer => "carer",
        Relation::Parent => "parent",
        Relation::Attorney => "attorney",
        Relation::Other => "representative",
    }
}

fn authority_basis_words(b: AuthorityBasis) -> &'static str {
    match b {
        AuthorityBasis::Consent => "because you agreed to it",
        AuthorityBasis::LastingPowerOfAttorney => {
            "under a lasting power of attorney for health and welfare"
        }
        AuthorityBasis::ParentalResponsibility => "because they have parental responsibility",
    }
}

fn authority_scope_words(scope: &[AuthorityScope]) -> String {
    let parts: Vec<&str> = scope
        .iter()
        .map(|s| match s {
            AuthorityScope::ReadRecord => "read your record",
            AuthorityScope::SubjectAccess => "ask for a copy of your record",
        })
        .collect();
    match parts.as_slice() {
        [] => "nothing".into(),
        [one] => format!("they may {one}"),
        [init @ .., last] => format!("they may {} and {last}", init.join(", ")),
    }
}

fn authority_end_words(r: AuthorityEndReason) -> &'static str {
    match r {
        AuthorityEndReason::PersonWithdrew => "you took your agreement back",
        AuthorityEndReason::SteppedDown => "they no longer act for you",
        AuthorityEndReason::NoLongerValid => "the document it rested on no longer holds",
        AuthorityEndReason::Other => "another reason",
    }
}

/// What a refused reader asked for (`access.denied.what`), in words.
fn what_words(what: &str) -> String {
    match what {
        "record" => "your record".into(),
        "access_log" => "the list of who looked at your record".into(),
        w if w.starts_with("record@") => "your record as it was at an earlier time".into(),
        w => stream_words(w),
    }
}

/// What each known event type is, in words, for an entry whose details this page cannot read.
fn type_phrase(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "actor.registered" => "someone was registered on the system",
        "actor.deactivated" => "an account was closed",
        "token.issued" => "a sign-in key was issued",
        "token.revoked" => "a sign-in key was withdrawn",
        "signin.code_issued" => "a one-time code to sign in to your own page was given out",
        "identity.linked" => "a sign-in through an identity provider was set up",
        "identity.unlinked" => "a sign-in through an identity provider was removed",
        "support.referred" => "you were referred for peer support",
        "support.offered" => "peer support was offered to you",
        "support.accepted" => "you chose to work with peer support",
        "support.declined" => "you chose not to work with peer support",
        "support.ended" => "peer support ended",
        "meeting.recorded" => "a meeting was recorded",
        "note.drafted" => "a note was written",
        "note.revised" => "a note was revised",
        "redaction.proposed" => "a request was made to remove passages of a note",
        "redaction.agreed" => "passages of a note were removed by agreement",
        "redaction.declined" => "a request to remove passages of a note was declined",
        "redaction.withdrawn" => "a request to remove passages of a note was withdrawn",
        "note.agreed" => "a note was agreed",
        "note.closed_without_agreement" => "a note was closed without agreement",
        "note.addendum" => "something was added to a note",
        "consent.granted" => "you gave a consent",
        "consent.revoked" => "you took back a consent",
        "safeguarding.raised" => "a safeguarding concern was raised",
        "safeguarding.acknowledged" => "a safeguarding lead took a concern on",
        "safeguarding.outcome" => "the outcome of a safeguarding concern was recorded",
        "safeguarding.subject_informed" => "you were told about a safeguarding concern",
        "disclosure.withheld" => "part of your record was withheld from your own view",
        "disclosure.released" => "part of your record that was withheld was released to you",
        "record.accessed" => "someone looked at your record",
        "access.denied" => "someone was refused a look at your record",
        "sar.requested" => "you asked for a copy of your record",
        "sar.fulfilled" => "a copy of your record was made",
        "discussion.recorded" => "you were discussed",
        "statement.added" => "you added a statement about your record",
        "meeting.planned" => "a meeting was planned",
        "meeting.place_proposed" => "a place was proposed for a planned meeting",
        "meeting.place_agreed" => "the place of a planned meeting was agreed",
        "meeting.cancelled" => "a planned meeting was cancelled",
        "meeting.not_attended" => "a planned meeting did not happen",
        "meeting.held" => "a planned meeting took place",
        "group.formed" => "a peer support group was formed",
        "goal.set" => "you set a recovery goal",
        "goal.reviewed" => "you looked at how a recovery goal is going",
        "goal.closed" => "a recovery goal was closed",
        "authority.granted" => "someone was given authority to act for you",
        "authority.ended" => "an authority for someone to act for you ended",
        "support.transfer_proposed" => "a new peer worker was proposed for your peer support",
        "support.transfer_accepted" => "you accepted a new peer worker",
        "support.transfer_declined" => "you chose to keep your peer worker",
        "retention.date_recorded" => "a date was recorded to count how long your record is kept",
        "legal_hold.placed" => "a legal hold was placed on your record",
        "legal_hold.lifted" => "a legal hold on your record was lifted",
        "retention.erased" => "the words of your record were erased at the end of its period",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(name: &str) -> Bundle {
        let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).expect("vector file");
        Bundle::parse(text.as_bytes()).expect("a bundle")
    }

    /// The HTML's text: tags removed, entities undone, white space collapsed.
    fn text(html: &str) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => {
                    in_tag = false;
                    out.push(' ');
                }
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        let out = out
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&");
        let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
        // Tags between a word and its punctuation leave a space: take it out again.
        collapsed
            .replace(" .", ".")
            .replace(" ,", ",")
            .replace(" :", ":")
            .replace(" )", ")")
            .replace(" ;", ";")
    }

    /// An entry's bytes for a made-up bundle (this module reads them; it does not check hashes).
    fn entry(
        seq: u64,
        at: &str,
        ty: &str,
        stream: &str,
        actor: (&str, &str),
        data: &str,
    ) -> BundleEntry {
        entry_about(Some("su-sam"), seq, at, ty, stream, actor, data)
    }

    /// An entry's bytes, about `subject` (null: a staff registration).
    fn entry_about(
        subject: Option<&str>,
        seq: u64,
        at: &str,
        ty: &str,
        stream: &str,
        actor: (&str, &str),
        data: &str,
    ) -> BundleEntry {
        let subject = subject.map_or("null".to_string(), |s| format!("\"{s}\""));
        let zero = "0".repeat(64);
        BundleEntry::Shown {
            seq,
            entry: format!(
                "{{\"seq\":{seq},\"prev\":\"{zero}\",\"at\":\"{at}\",\"type\":\"{ty}\",\"v\":1,\
                 \"stream\":\"{stream}\",\"version\":0,\"subject\":{subject},\
                 \"subject_prev\":null,\"actor\":{{\"id\":\"{}\",\"role\":\"{}\"}},\
                 \"command\":null,\"data\":{data}}}",
                actor.0, actor.1
            ),
            proof: Vec::new(),
        }
    }

    #[test]
    fn the_bundle_vector_in_plain_words() {
        let html = record_sections(&vector("bundle.json"));
        let t = text(&html);
        // The names, from the proven actor entries and their openings.
        assert!(t.contains("This is the record of Sam (su-sam)"), "{t}");
        assert!(
            t.contains("Recorded by Amara, peer worker, Rushcliffe team."),
            "{t}"
        );
        assert!(
            t.contains("People named in it: Amara, peer worker, Rushcliffe team."),
            "{t}"
        );
        // When, in words, inside <time datetime>.
        assert!(html.contains(
            "<time datetime=\"2026-11-21T10:15:00.000Z\">21 November 2026, 10:15</time>"
        ));
        // The note: what it says, the removed passage with its length and date, its history.
        assert!(t.contains("We talked about getting back to the allotment on Saturdays."));
        assert!(t.contains("Sam said the walking group helped and wants to try it again."));
        assert!(
            t.contains("This passage was removed by agreement on 21 November 2026, 43 characters."),
            "{t}"
        );
        assert!(
            t.contains(
                "Amara, peer worker, Rushcliffe team wrote the first version, with three passages."
            ),
            "{t}"
        );
        assert!(t.contains("You asked for one passage to be removed"), "{t}");
        assert!(
            t.contains("Amara, peer worker, Rushcliffe team agreed, so one passage was removed."),
            "{t}"
        );
        assert!(t.contains(
            "This note is not agreed yet: it still needs agreeing by you and by Amara, peer worker, Rushcliffe team."
        ), "{t}");
        // A consent line.
        assert!(
            t.contains(
                "The Rushcliffe care team may read your agreed notes and meetings. You gave this \
             consent on 21 November 2026, 10:22. It lasts until you take it back."
            ),
            "{t}"
        );
        // Peer support, though its data is in the vectors' older shape.
        assert!(t.contains("You chose to work with peer support"), "{t}");
        // Nothing withheld; nobody else looked; the request; the facts of §6.
        assert!(t.contains("Nothing about you is withheld"), "{t}");
        assert!(
            t.contains("Six entries about you: six shown on this page, none withheld"),
            "{t}"
        );
        assert!(t.contains("Nobody other than you has looked at your record."));
        assert!(t.contains("in answer to your request “sar-1”"), "{t}");
        assert!(
            t.contains("Who holds your record Example NHS Trust (test vectors)"),
            "{t}"
        );
        assert!(
            t.contains(
                "Your rights Rectification, erasure, restriction, objection; complaint to the ICO."
            ),
            "{t}"
        );
        // Sam's own registration, and not the admin's name (it has none in the bundle).
        assert!(t.contains("You were registered on the system as a person who uses the service. Recorded by a system administrator (their id: admin-1)."), "{t}");
    }

    #[test]
    fn the_withheld_vector_counts_what_it_hides_and_shows_none_of_it() {
        let full = vector("bundle.json");
        let html = record_sections(&vector("bundle-withheld.json"));
        let t = text(&html);
        assert!(
            t.contains("One entry about you is withheld from this copy."),
            "{t}"
        );
        assert!(
            t.contains("Six entries about you: five shown on this page, one withheld"),
            "{t}"
        );
        assert!(
            t.contains("(reason given: not wanted in record); see the note."),
            "{t}"
        );
        assert!(
            t.contains("the data protection officer (DPO) at Example NHS Trust (test vectors)"),
            "{t}"
        );
        // No text of the withheld entry (seq 3, the note's draft), though the full vector has it.
        let BundleEntry::Shown { entry, .. } = &full.entries[2] else {
            panic!("seq 3 is shown in bundle.json");
        };
        let Some(Event::NoteDrafted(d)) = Item::read(3, entry).event else {
            panic!("seq 3 is a note.drafted");
        };
        let record = Record::read(&full);
        for s in &d.segments {
            if let Some(words) = record.text(s) {
                assert!(!t.contains(words), "withheld text shown: {words}");
            }
        }
        assert!(!t.contains("allotment") && !t.contains("walking group"));
        assert!(
            t.contains("how it began is not in it, so its words are not shown here"),
            "{t}"
        );
        // What is still shown of the note: the agreed removal, its date.
        assert!(t.contains("agreed, so one passage was removed"), "{t}");
        assert!(t.contains("The Rushcliffe care team may read your agreed notes and meetings"));
    }

    #[test]
    fn every_text_and_name_is_escaped() {
        let mut b = vector("bundle.json");
        for o in &mut b.content {
            if o.text.starts_with("We talked") {
                o.text = "<script>alert(1)</script> & \"more\"".into();
            }
            if o.text.starts_with("Amara") {
                o.text = "<b>Amara</b> & co".into();
            }
        }
        b.about
            .insert("controller".into(), "<i>Trust</i> & co".into());
        b.sar_id = Some("<sar>".into());
        let html = record_sections(&b);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<b>") && !html.contains("<i>") && !html.contains("<sar>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;more&quot;"));
        assert!(html.contains("&lt;b&gt;Amara&lt;/b&gt; &amp; co"));
        assert!(html.contains("&lt;i&gt;Trust&lt;/i&gt; &amp; co"));
        // The whole page's title too.
        let page = page(&b, "{}", "k");
        assert!(page.contains("<title>Your record — Sam (su-sam)</title>"));
    }

    #[test]
    fn no_id_the_page_reserves_is_used() {
        for name in ["bundle.json", "bundle-withheld.json"] {
            let html = record_sections(&vector(name));
            for reserved in [
                "id=\"bundle\"",
                "id=\"vkey\"",
                "id=\"key-fingerprint\"",
                "id=\"check",
            ] {
                assert!(!html.contains(reserved), "{name}: {reserved}");
            }
            let ids = html.matches(" id=\"").count();
            assert_eq!(ids, html.matches(" id=\"record").count(), "{name}");
            // No void elements: every element the sections open, they close.
            for void in ["<br", "<hr", "<img", "<input", "<wbr"] {
                assert!(!html.contains(void), "{name}: {void}");
            }
        }
    }

    #[test]
    fn what_it_cannot_read_is_an_entry_of_its_type() {
        let mut b = vector("bundle.json");
        let BundleEntry::Shown { entry, .. } = &mut b.entries[5] else {
            panic!("shown");
        };
        *entry = entry.replace(
            "\"type\":\"consent.granted\"",
            "\"type\":\"consent.widened\"",
        );
        let BundleEntry::Shown { entry, .. } = &mut b.entries[3] else {
            panic!("shown");
        };
        *entry = entry.replace("\"v\":1", "\"v\":2");
        let BundleEntry::Shown { entry, .. } = &mut b.entries[1] else {
            panic!("shown");
        };
        *entry = "not an entry".into();
        let t = text(&record_sections(&b));
        assert!(
            t.contains("An entry of type “consent.widened”, which this page cannot show"),
            "{t}"
        );
        assert!(
            t.contains(
                "An entry of type “redaction.proposed”, version 2, which this page cannot show"
            ),
            "{t}"
        );
        assert!(
            t.contains("Entry 2: this page cannot read this entry."),
            "{t}"
        );
        assert!(t.contains("You have not given any consent in this copy."));
    }

    #[test]
    fn every_known_type_has_words() {
        for t in Event::TYPES {
            assert!(type_phrase(t).is_some(), "{t}");
        }
    }

    /// Who looked, when and why; who was refused — another service user by id only, never by
    /// the name their registration holds, even when a bundle carries it.
    #[test]
    fn looks_and_refusals_say_who_when_and_why() {
        let mut b = vector("bundle.json");
        let c = |n: u8| format!("{n:02x}").repeat(32);
        // Another service user's registration (its subject is them), and one that claims to be
        // about Sam: neither may name them.
        register(
            &mut b,
            Some("su-other"),
            "su-other",
            "service_user",
            "null",
            &c(0x09),
            "Otto Other",
        );
        register(
            &mut b,
            Some("su-sam"),
            "su-other",
            "service_user",
            "null",
            &c(0x0a),
            "Otto Again",
        );
        register(
            &mut b,
            None,
            "ct-chris",
            "care_team",
            "\"team-rushcliffe\"",
            &c(0x08),
            "Chris, care team",
        );
        b.entries.extend([
            entry(
                7,
                "2026-11-21T11:00:00.000Z",
                "record.accessed",
                "access:su-sam",
                ("pw-amara", "peer_worker"),
                "{\"streams\":[\"note:n-1\",\"meeting:m-1\"],\"basis\":\"support:sp-1\"}",
            ),
            entry(
                8,
                "2026-11-21T11:00:00.000Z",
                "record.accessed",
                "access:su-sam",
                ("pw-amara", "peer_worker"),
                "{\"streams\":[\"note:n-2\"],\"basis\":\"support:sp-1\"}",
            ),
            entry(
                9,
                "2026-11-22T09:30:00.000Z",
                "record.accessed",
                "access:su-sam",
                ("ct-chris", "care_team"),
                "{\"streams\":[\"note:n-1\"],\"basis\":\"consent:cn-1\"}",
            ),
            entry(
                10,
                "2026-11-22T09:45:00.000Z",
                "access.denied",
                "access:su-sam",
                ("su-other", "service_user"),
                "{\"what\":\"record\",\"reason\":\"no_basis\",\"suppressed\":3}",
            ),
            entry(
                11,
                "2026-11-23T14:05:00.000Z",
                "access.denied",
                "access:su-sam",
                ("au-ida", "auditor"),
                "{\"what\":\"note:n-1\",\"reason\":\"metadata_only_role\"}",
            ),
        ]);
        let t = text(&record_sections(&b));
        assert!(t.contains(
            "21 November 2026, 11:00: Amara, peer worker, Rushcliffe team looked at two notes and a meeting, as your peer worker, because you chose peer support."
        ), "{t}");
        assert!(t.contains(
            "22 November 2026, 09:30: Chris, care team looked at a note, as a member of the Rushcliffe care team, under the consent you gave on 21 November 2026."
        ), "{t}");
        assert!(t.contains(
            "22 November 2026, 09:45: Another person who uses the service (their id: su-other) tried to see your record and was refused, because they have no reason to see your record. Before this they tried three times more"
        ), "{t}");
        assert!(t.contains(
            "23 November 2026, 14:05: An information governance auditor (their id: au-ida) tried to see a note and was refused, because their role never allows them to read what your record says."
        ), "{t}");
        assert!(!t.contains("Otto"), "another service user named: {t}");
        // The looks are not repeated in the timeline.
        assert!(!t.contains("Recorded by Chris"));
    }

    /// A registration (about `subject`; null for staff) for a made-up bundle, with its name
    /// opened in `content`.
    fn register(
        b: &mut Bundle,
        subject: Option<&str>,
        id: &str,
        role: &str,
        team: &str,
        commit: &str,
        name: &str,
    ) {
        let data = format!(
            "{{\"id\":\"{id}\",\"role\":\"{role}\",\"team\":{team},\"display\":\
             {{\"id\":\"d\",\"commit\":\"{commit}\",\"chars\":5}}}}"
        );
        let BundleEntry::Shown { entry, .. } = entry_about(
            subject,
            0,
            "2026-11-21T08:00:00.000Z",
            "actor.registered",
            &format!("actor:{id}"),
            ("admin-1", "admin"),
            &data,
        ) else {
            unreachable!()
        };
        b.actors.push(crate::sar::bundle::ActorItem {
            seq: 0,
            entry,
            proof: Vec::new(),
        });
        open_text(b, commit, name);
    }

    fn open_text(b: &mut Bundle, commit: &str, text: &str) {
        b.content.push(crate::sar::bundle::Opening {
            commit: commit.into(),
            salt: "00".repeat(32),
            text: text.into(),
        });
    }

    fn seg(id: &str, commit: &str, chars: u64) -> String {
        format!("{{\"id\":\"{id}\",\"commit\":\"{commit}\",\"chars\":{chars}}}")
    }

    /// Every part of the record the vectors do not reach, from events in today's schema.
    #[test]
    fn a_whole_story_in_plain_words() {
        let c = |n: u8| format!("{n:02x}").repeat(32);
        let mut b = vector("bundle.json");
        register(
            &mut b,
            None,
            "sl-lee",
            "safeguarding_lead",
            "null",
            &c(0x30),
            "Lee, safeguarding lead",
        );
        for (n, words) in [
            (0x31, "the café by the park"),
            (0x32, "First words."),
            (0x33, "Second words."),
            (0x34, "It is what you told me."),
            (0x35, "Sam has not been eating."),
            (0x36, "Talked with Sam about meals."),
        ] {
            open_text(&mut b, &c(n), words);
        }
        let pw = ("pw-amara", "peer_worker");
        let sam = ("su-sam", "service_user");
        let lee = ("sl-lee", "safeguarding_lead");
        b.entries.extend([
            entry(10, "2026-11-25T15:00:00.000Z", "meeting.recorded", "meeting:m-2", pw, &format!(
                "{{\"meeting_id\":\"m-2\",\"support_id\":\"sp-1\",\"worker\":\"pw-amara\",\
                 \"kind\":\"one_to_one\",\"group_id\":null,\"mode\":\"in_person\",\
                 \"place\":\"community\",\"place_detail\":{},\
                 \"occurred_at\":\"2026-11-25T14:00:00.000Z\",\"minutes\":50}}", seg("p", &c(0x31), 20))),
            entry(11, "2026-11-25T15:10:00.000Z", "note.drafted", "note:n-2", pw, &format!(
                "{{\"note_id\":\"n-2\",\"meeting_id\":\"m-2\",\"segments\":[{}]}}", seg("a", &c(0x32), 12))),
            entry(12, "2026-11-25T15:20:00.000Z", "note.revised", "note:n-2", pw, &format!(
                "{{\"segments\":[{},{}]}}", seg("a", &c(0x32), 12), seg("b", &c(0x33), 13))),
            entry(13, "2026-11-25T16:00:00.000Z", "redaction.proposed", "note:n-2", sam,
                "{\"proposal_id\":\"p-2\",\"segments\":[\"b\"],\"reason\":\"inaccurate\"}"),
            entry(14, "2026-11-25T16:30:00.000Z", "redaction.declined", "note:n-2", pw, &format!(
                "{{\"proposal_id\":\"p-2\",\"reason\":{}}}", seg("r", &c(0x34), 23))),
            entry(15, "2026-11-26T08:00:00.000Z", "note.agreed", "note:n-2", sam, "{\"revision\":2}"),
            entry(16, "2026-11-26T08:05:00.000Z", "note.agreed", "note:n-2", pw, "{\"revision\":2}"),
            entry(17, "2026-11-26T08:30:00.000Z", "consent.revoked", "consent:su-sam", sam,
                "{\"consent_id\":\"cn-1\",\"on_behalf\":false}"),
            entry(18, "2026-11-26T09:00:00.000Z", "safeguarding.raised", "concern:k-1", pw, &format!(
                "{{\"concern_id\":\"k-1\",\"category\":\"self_neglect\",\"urgency\":\"same_day\",\
                 \"summary\":[{}]}}", seg("s", &c(0x35), 24))),
            entry(19, "2026-11-26T09:40:00.000Z", "safeguarding.acknowledged", "concern:k-1", lee, "{}"),
            entry(20, "2026-11-26T09:45:00.000Z", "record.accessed", "access:su-sam", lee,
                "{\"streams\":[\"concern:k-1\"],\"basis\":\"concern:k-1\"}"),
            entry(21, "2026-11-27T11:00:00.000Z", "safeguarding.outcome", "concern:k-1", lee, &format!(
                "{{\"outcome\":\"advice_given\",\"detail\":{}}}", seg("o", &c(0x36), 28))),
            entry(22, "2026-11-27T12:00:00.000Z", "safeguarding.subject_informed", "concern:k-1", lee,
                "{\"how\":\"phone\"}"),
            entry(23, "2026-11-28T09:00:00.000Z", "sar.requested", "sar:sar-2", sam,
                "{\"sar_id\":\"sar-2\",\"via\":\"letter\"}"),
            entry(24, "2026-12-01T12:00:00.000Z", "sar.fulfilled", "sar:sar-2", ("au-ida", "auditor"), &format!(
                "{{\"sar_id\":\"sar-2\",\"bundle_hash\":\"{}\",\"tree_size\":24,\"withheld\":0}}", c(0x37))),
        ]);
        let t = text(&record_sections(&b));
        for want in [
            "You had a one-to-one meeting with Amara, peer worker, Rushcliffe team in person, out in the community (“the café by the park”), on 25 November 2026, 14:00, for 50 minutes.",
            "Note of your meeting on 25 November 2026",
            "You and Amara, peer worker, Rushcliffe team both agreed this note on 26 November 2026, 08:05.",
            "First words. Second words.",
            "Amara, peer worker, Rushcliffe team revised it; it now has two passages. A new version needs agreeing again.",
            "You asked for one passage to be removed (not accurate).",
            "Amara, peer worker, Rushcliffe team declined to remove it. The reason given: “It is what you told me.”",
            "You agreed version 2.",
            "Amara, peer worker, Rushcliffe team agreed version 2. Both of you have now agreed the note.",
            "You took it back on 26 November 2026, 08:30.",
            "You took back your consent that the Rushcliffe care team may read your agreed notes and meetings.",
            "A concern raised on 26 November 2026",
            "Amara, peer worker, Rushcliffe team raised it. What it is about: a worry that you were not able to look after yourself. How urgent: it needed a response the same day. What was written: Sam has not been eating.",
            "Lee, safeguarding lead took it on, as safeguarding lead.",
            "Lee, safeguarding lead recorded what happened: advice was given. In their words: “Talked with Sam about meals.”",
            "You were told about it by phone.",
            "26 November 2026, 09:45: Lee, safeguarding lead looked at a safeguarding concern, as a safeguarding lead, under their duty of care, because of the concern raised on 26 November 2026.",
            "You asked for a copy of your record on 28 November 2026, 09:00 by letter. The answer was due by 28 December 2026. It was answered on 1 December 2026, 12:00 (on time): that copy covered the first 24 entries of the log, with no items withheld.",
            "Someone other than you looked at your record once; no attempts were refused",
            "Two notes, one consent and one safeguarding concern.",
        ] {
            assert!(t.contains(want), "missing: {want}\n{t}");
        }
        assert!(!t.contains("This copy does not show a safeguarding lead taking it on"));
    }

    #[test]
    fn dates_are_in_words() {
        let t = Time::parse("2027-01-05T08:07:00.000Z").expect("time");
        assert_eq!(
            time_el(t),
            "<time datetime=\"2027-01-05T08:07:00.000Z\">5 January 2027, 08:07</time>"
        );
        assert_eq!(
            day_el("2026-12-21"),
            "<time datetime=\"2026-12-21\">21 December 2026</time>"
        );
        assert_eq!(team_name("team-rushcliffe"), "Rushcliffe");
        assert_eq!(team_name("lets-live-well_team"), "Lets Live Well");
        assert_eq!(count(1, "entry", "entries"), "one entry");
        assert_eq!(count(0, "entry", "entries"), "no entries");
        assert_eq!(count(43, "character", "characters"), "43 characters");
    }
}

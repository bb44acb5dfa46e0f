//! Composing a subject access bundle v1 (`../shared/spec/sar-bundle.md`) from the store: the
//! person's entries among the first `N` (their chain, from the store's index), each with its
//! inclusion proof at `N`; the checkpoint and the signed subject-head statement at `N`; the
//! registrations of the actors they name; the openings of every live segment; `about`.
//!
//! Owns: which bytes a bundle holds. Must not touch: who may have one (the service asks
//! `domain::access` before calling [`compose`]), or what is withheld (the caller passes the
//! streams withheld from the person *now*); the verifier (`sar::verify`) shares nothing with
//! this file but the wire types and `format`, `merkle`, `checkpoint`, `content`.

use std::collections::{BTreeMap, BTreeSet};

use super::bundle::{ActorItem, Bundle, BundleEntry, Opening, FORMAT};
use crate::domain::event::{Event, Recorded};
use crate::domain::stream::Stream;
use crate::format::{to_hex, Hash};
use crate::store::{LogStore, StoreError, StoredEntry};

/// The plain-language facts a subject access answer must give (sar-bundle.md §6): the
/// server's configuration (`withus serve --about FILE`, a JSON object of these fields), with
/// defaults a Trust replaces with its own words. `recipients` is not configured: it is read
/// from the person's access entries each time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct About {
    /// Who holds the record (the data controller) and how to reach them.
    pub controller: String,
    /// Why it is kept.
    pub purposes: String,
    /// How long it is kept.
    pub retention: String,
    /// Where the information came from.
    pub source: String,
    /// The person's rights and how to use them.
    pub rights: String,
}

impl Default for About {
    fn default() -> About {
        About {
            controller: "The NHS trust that runs this peer support service is the data \
                         controller. Its data protection officer answers questions about \
                         this record."
                .into(),
            purposes: "To provide peer support you chose, to keep the notes you and your \
                       peer worker agreed, to share what you consented to share, and to keep \
                       you or others safe when there is a duty of care."
                .into(),
            retention: "Kept for 20 years after your care with the service ends, or 10 years \
                        after death if that is sooner; a child's record until their 25th \
                        birthday, or 26th if they were 17 when care ended (the NHS Records \
                        Management Code of Practice 2021 for mental-health records). Then the \
                        words are erased; that things happened, and when, stays recorded. A \
                        legal hold keeps a record longer."
                .into(),
            source: "You, your peer worker, and the staff named in this record.".into(),
            rights: "You can ask for anything wrong to be corrected (rectification), for \
                     things to be deleted (erasure) or used less (restriction), and you can \
                     object to how it is used. You can complain to the Information \
                     Commissioner's Office (ico.org.uk, 0303 123 1113)."
                .into(),
        }
    }
}

/// What the bundle is composed for.
pub struct Request<'a> {
    /// The person.
    pub subject: &'a str,
    /// The request it answers, or `None` for an on-demand copy.
    pub sar_id: Option<&'a str>,
    /// `N`: the bundle covers the first `tree_size` entries.
    pub tree_size: u64,
    /// When it is composed (the server's time), `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub produced_at: String,
    /// Streams withheld from the person now (rule 7): their entries, and the entries that
    /// withhold them, are shown by leaf only.
    pub withheld: &'a BTreeSet<String>,
    /// The configured facts.
    pub about: &'a About,
}

/// Composes the bundle (sar-bundle.md §1–§6).
pub fn compose(store: &LogStore, req: &Request<'_>) -> Result<Bundle, StoreError> {
    let n = req.tree_size;
    let checkpoint = store.checkpoint_at(n)?;
    let mut seqs = store.subject_seqs(req.subject)?;
    seqs.retain(|&seq| seq < n);
    // The chain's items are independent: read and prove them on every core, in order.
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get().min(4));
    let part = seqs.len().div_ceil(threads).max(64);
    let parts: Vec<Result<Vec<Item>, StoreError>> = std::thread::scope(|scope| {
        let running: Vec<_> = seqs
            .chunks(part)
            .map(|chunk| scope.spawn(move || items(store, chunk, n, req.withheld)))
            .collect();
        running
            .into_iter()
            .map(|t| {
                t.join().unwrap_or_else(|_| {
                    Err(StoreError::Failed("composing a bundle panicked".into()))
                })
            })
            .collect()
    });
    let mut entries = Vec::with_capacity(seqs.len());
    let mut shown_actor_ids: BTreeSet<String> = BTreeSet::new();
    let mut commits: BTreeSet<Hash> = BTreeSet::new();
    let mut readers: BTreeSet<String> = BTreeSet::new();
    let mut last: Option<(u64, Hash)> = None;
    for part in parts {
        for item in part? {
            last = Some((item.entry.seq(), item.leaf));
            shown_actor_ids.extend(item.actor);
            readers.extend(item.reader);
            commits.extend(item.commits);
            entries.push(item.entry);
        }
    }
    let count = entries.len() as u64;
    let head = store.subject_head(req.subject, n, count, last)?;

    // §4: the registration of each actor a shown entry names — staff, or the person — proven.
    // The readers' registrations also say who they are, for `about.recipients`.
    let mut actors = Vec::new();
    let mut recipients: BTreeSet<String> = BTreeSet::new();
    for id in &shown_actor_ids {
        let Some(&seq) = store.stream_seqs(&Stream::actor(id).name())?.first() else {
            continue;
        };
        if seq >= n {
            continue;
        }
        let stored = entry(store, seq)?;
        let view = stored.view()?;
        let own_or_staff = view.subject.as_deref().is_none_or(|s| s == req.subject);
        if view.event_type != "actor.registered" || !own_or_staff {
            continue; // another service user is named by id only
        }
        if let Ok(r) = Recorded::from_entry(&view) {
            commits.extend(r.event.segments().into_iter().map(|s| s.commit.0));
            if let Event::ActorRegistered(a) = &r.event {
                if readers.contains(&a.id) {
                    let role = a.role.as_str().replace('_', " ");
                    recipients.insert(match &a.team {
                        Some(team) => format!("{role} ({team})"),
                        None => role,
                    });
                }
            }
        }
        actors.push(ActorItem {
            seq,
            entry: entry_text(&stored)?,
            proof: proof_hex(store, seq, n)?,
        });
    }

    // §5: the openings of live segments (erased ones have none).
    let mut content = Vec::new();
    for commit in &commits {
        if let Some(c) = store.content(commit)? {
            content.push(Opening {
                commit: to_hex(&c.commit),
                salt: to_hex(&c.salt),
                text: c.text,
            });
        }
    }

    let mut about = BTreeMap::new();
    about.insert("controller".to_string(), req.about.controller.clone());
    about.insert("purposes".to_string(), req.about.purposes.clone());
    let recipients = if recipients.is_empty() {
        "Nobody but you has read this record.".to_string()
    } else {
        recipients.into_iter().collect::<Vec<_>>().join("; ")
    };
    about.insert("recipients".to_string(), recipients);
    about.insert("retention".to_string(), req.about.retention.clone());
    about.insert("source".to_string(), req.about.source.clone());
    about.insert("rights".to_string(), req.about.rights.clone());

    Ok(Bundle {
        format: FORMAT.to_string(),
        subject: req.subject.to_string(),
        sar_id: req.sar_id.map(str::to_string),
        produced_at: req.produced_at.clone(),
        tree_size: n,
        checkpoint,
        head,
        entries,
        actors,
        content,
        about,
    })
}

/// One item of `entries`, with what the rest of the bundle needs from it.
struct Item {
    entry: BundleEntry,
    leaf: Hash,
    /// The actor a shown entry names.
    actor: Option<String>,
    /// Who read the record, when the entry is a `record.accessed` by someone else.
    reader: Option<String>,
    /// The commitments a shown entry holds.
    commits: Vec<Hash>,
}

/// The items of `seqs` (ascending, all below `n`): each entry shown or withheld, with its proof.
fn items(
    store: &LogStore,
    seqs: &[u64],
    n: u64,
    withheld: &BTreeSet<String>,
) -> Result<Vec<Item>, StoreError> {
    let proofs = store.inclusion_proofs(seqs, n)?;
    let mut out = Vec::with_capacity(seqs.len());
    for (&seq, proof) in seqs.iter().zip(proofs) {
        let stored = entry(store, seq)?;
        let leaf = stored.leaf_hash();
        let proof: Vec<String> = proof.iter().map(to_hex).collect();
        let view = stored.view()?;
        let recorded = Recorded::from_entry(&view).ok();
        if is_withheld(recorded.as_ref(), withheld) {
            out.push(Item {
                entry: BundleEntry::Withheld {
                    seq,
                    leaf: to_hex(&leaf),
                    proof,
                },
                leaf,
                actor: None,
                reader: None,
                commits: Vec::new(),
            });
            continue;
        }
        let commits = match &recorded {
            Some(r) => r.event.segments().into_iter().map(|s| s.commit.0).collect(),
            None => Vec::new(),
        };
        let reader = recorded
            .as_ref()
            .filter(|r| matches!(r.event, Event::RecordAccessed(_)))
            .filter(|r| view.subject.as_deref() != Some(r.actor_id.as_str()))
            .map(|r| r.actor_id.clone());
        out.push(Item {
            reader,
            actor: Some(view.actor_id.into_owned()),
            entry: BundleEntry::Shown {
                seq,
                entry: entry_text(&stored)?,
                proof,
            },
            leaf,
            commits,
        });
    }
    Ok(out)
}

/// Rule 7 as sar-bundle.md §3 states it: the entries of a withheld item, and the entries that
/// withhold it, while the withholding stands.
fn is_withheld(recorded: Option<&Recorded>, withheld: &BTreeSet<String>) -> bool {
    let Some(r) = recorded else {
        return false;
    };
    if withheld.contains(&r.stream) {
        return true;
    }
    // A statement belongs with its item (whoever is shown the item is shown the statement, and
    // nobody else): while the item is withheld, so is the statement that names it.
    matches!(&r.event, Event::DisclosureWithheld(d) if withheld.contains(&d.target_stream))
        || matches!(&r.event, Event::StatementAdded(d) if withheld.contains(&d.target_stream))
}

fn entry(store: &LogStore, seq: u64) -> Result<StoredEntry, StoreError> {
    store
        .entry(seq)?
        .ok_or_else(|| StoreError::corrupt(seq, "an indexed entry is missing from the log"))
}

/// An entry's exact bytes as the JSON string the bundle carries (entries are UTF-8 JSON).
fn entry_text(stored: &StoredEntry) -> Result<String, StoreError> {
    String::from_utf8(stored.bytes.clone())
        .map_err(|_| StoreError::corrupt(stored.seq, "entry bytes are not UTF-8"))
}

fn proof_hex(store: &LogStore, seq: u64, n: u64) -> Result<Vec<String>, StoreError> {
    Ok(store.inclusion_proof(seq, n)?.iter().map(to_hex).collect())
}

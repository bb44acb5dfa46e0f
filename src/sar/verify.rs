//! The offline bundle verifier (`../shared/spec/sar-bundle.md` §7.1–§7.8, and §7.9 given the
//! log's export): what `withus sar verify` runs, with no server and no store.
//!
//! Owns: every check a person's verifier makes, and the plain account of what passing proved.
//! Must not touch: the composer (`sar::compose`), the store, the domain. It reads the wire types
//! of `sar::bundle` and uses only `format`, `merkle`, `checkpoint` and `content`, so a fault in
//! composing cannot hide itself by being made twice.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::bundle::{Bundle, BundleEntry, FulfilmentFile, FORMAT};
use crate::checkpoint::NoteVerifier;
use crate::content;
use crate::format::{leaf_hash, parse_hex, to_hex, EntryView, Hash};
use crate::merkle::verify_inclusion;

/// Which check of sar-bundle.md §7 failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// §7.1: the format and the exact fields.
    Shape,
    /// §7.2: the checkpoint's signature, size and origin.
    Checkpoint,
    /// §7.3: the subject-head statement.
    Head,
    /// §7.4: each entry's bytes, seq, subject, leaf and inclusion proof.
    Entry,
    /// §7.5: the person's chain of `subject_prev`.
    Chain,
    /// §7.6: the actor registrations.
    Actor,
    /// §7.7: the openings of content.
    Content,
    /// §7.9: the head against the log's export.
    Export,
    /// The request's `sar.fulfilled` entry (withus's companion file): in the log, and recording
    /// this bundle.
    Fulfilment,
}

impl Check {
    /// The spec's section and a few words, as a report names it.
    pub fn name(self) -> &'static str {
        match self {
            Check::Shape => "§7.1 shape",
            Check::Checkpoint => "§7.2 checkpoint",
            Check::Head => "§7.3 subject head",
            Check::Entry => "§7.4 entry",
            Check::Chain => "§7.5 chain",
            Check::Actor => "§7.6 actor",
            Check::Content => "§7.7 content",
            Check::Export => "§7.9 export",
            Check::Fulfilment => "fulfilment",
        }
    }
}

/// A failed check: which, at which item (`seq`) when it is about one, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub check: Check,
    pub seq: Option<u64>,
    pub message: String,
}

impl Failure {
    /// A file that is not a bundle (§7.1).
    pub fn shape(message: String) -> Failure {
        fail(Check::Shape, None, message)
    }

    /// A fulfilment file that cannot be read.
    pub fn fulfilment(message: String) -> Failure {
        fail(Check::Fulfilment, None, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "{} at seq {seq}: {}", self.check.name(), self.message),
            None => write!(f, "{}: {}", self.check.name(), self.message),
        }
    }
}

impl std::error::Error for Failure {}

fn fail(check: Check, seq: Option<u64>, message: impl Into<String>) -> Failure {
    Failure {
        check,
        seq,
        message: message.into(),
    }
}

/// What a bundle that passes §7.1–§7.8 proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proven {
    /// The log the checkpoint and head are signed for (the key name).
    pub origin: String,
    pub subject: String,
    pub sar_id: Option<String>,
    /// `N`.
    pub tree_size: u64,
    /// Entries about the person among the first `N`, shown and withheld.
    pub entries: u64,
    pub shown: u64,
    pub withheld: u64,
    /// The actors whose registration is proven, by id.
    pub actors: Vec<String>,
    /// Texts checked against their commitments.
    pub openings: u64,
    /// Segments of shown entries with no opening (erased, or kept back).
    pub unopened: u64,
    /// §7.8, what `sar.fulfilled.bundle_hash` records for this request.
    pub bundle_hash: Hash,
}

impl Proven {
    /// What passing proved, in plain words.
    pub fn describe(&self) -> String {
        let request = match &self.sar_id {
            Some(id) => format!("subject access request {id}"),
            None => "a copy of the record on demand".to_string(),
        };
        format!(
            "Verified: the record of {subject} ({request}) against the log {origin}, signed at \
             {n} entries.\n\
             - {entries} entries are about {subject}; {shown} are shown byte for byte as first \
             recorded and {withheld} are withheld, counted and proven without their contents.\n\
             - Every entry is in the signed log (its inclusion proof checks against the \
             checkpoint's root), and {subject}'s chain runs unbroken from their first entry to \
             the last one the log signed for: none is left out.\n\
             - {actors} people who acted on the record are named by proven registrations.\n\
             - {openings} texts are exactly the texts committed to; {unopened} passages have no \
             text here (removed by agreement, or withheld).\n\
             - Bundle hash {hash} (what the log records when it answers the request).",
            subject = self.subject,
            origin = self.origin,
            n = self.tree_size,
            entries = self.entries,
            shown = self.shown,
            withheld = self.withheld,
            actors = self.actors.len(),
            openings = self.openings,
            unopened = self.unopened,
            hash = to_hex(&self.bundle_hash),
        )
    }
}

/// Reads `bytes` as a bundle and makes every check of §7.1–§7.8 with `vkey`, a key the person
/// got from a source they trust (never from the bundle).
pub fn verify(bytes: &[u8], vkey: &str) -> Result<Proven, Failure> {
    let bundle = Bundle::parse(bytes).map_err(|e| fail(Check::Shape, None, e))?;
    verify_bundle(&bundle, vkey)
}

/// §7.1–§7.8 on a bundle already read.
pub fn verify_bundle(bundle: &Bundle, vkey: &str) -> Result<Proven, Failure> {
    if bundle.format != FORMAT {
        return Err(fail(
            Check::Shape,
            None,
            format!("format is {:?}, not {FORMAT:?}", bundle.format),
        ));
    }
    let verifier = NoteVerifier::from_vkey(vkey)
        .map_err(|e| fail(Check::Checkpoint, None, format!("the key given: {e}")))?;
    let n = bundle.tree_size;

    // §7.2
    let checkpoint = verifier
        .open(&bundle.checkpoint)
        .map_err(|e| fail(Check::Checkpoint, None, e.to_string()))?;
    if checkpoint.size != n {
        return Err(fail(
            Check::Checkpoint,
            None,
            format!(
                "it is signed at size {}, the bundle says {n}",
                checkpoint.size
            ),
        ));
    }
    let root = checkpoint.root;

    // §7.4, then §7.5 over the leaves it found.
    let mut leaves: Vec<(u64, Hash)> = Vec::with_capacity(bundle.entries.len());
    let mut actor_ids: BTreeSet<String> = BTreeSet::new();
    let mut commits: BTreeMap<Hash, u64> = BTreeMap::new();
    let mut previous: Option<Hash> = None;
    let (mut shown, mut withheld) = (0u64, 0u64);
    for item in &bundle.entries {
        let seq = item.seq();
        if seq >= n {
            return Err(fail(
                Check::Entry,
                Some(seq),
                format!("not among the first {n} entries"),
            ));
        }
        if let Some(&(last, _)) = leaves.last() {
            if seq <= last {
                return Err(fail(
                    Check::Entry,
                    Some(seq),
                    format!("seqs must strictly increase; it follows {last}"),
                ));
            }
        }
        let leaf = match item {
            BundleEntry::Shown { entry, .. } => {
                shown += 1;
                let view = EntryView::parse(entry.as_bytes())
                    .map_err(|e| fail(Check::Entry, Some(seq), e))?;
                if view.seq != seq {
                    return Err(fail(
                        Check::Entry,
                        Some(seq),
                        format!("the entry's own seq is {}", view.seq),
                    ));
                }
                if view.subject.as_deref() != Some(bundle.subject.as_str()) {
                    return Err(fail(
                        Check::Entry,
                        Some(seq),
                        format!(
                            "its subject is {:?}, not {:?}",
                            view.subject, bundle.subject
                        ),
                    ));
                }
                let expected_prev = previous;
                if view.subject_prev != expected_prev {
                    return Err(fail(
                        Check::Chain,
                        Some(seq),
                        match expected_prev {
                            None => "the first entry about the person must have subject_prev \
                                     null"
                                .to_string(),
                            Some(_) => "its subject_prev is not the leaf hash of the item \
                                        before it: an entry is missing or out of place"
                                .to_string(),
                        },
                    ));
                }
                actor_ids.insert(view.actor_id.to_string());
                collect_segments(&view, seq, Check::Entry, &mut commits)?;
                leaf_hash(entry.as_bytes())
            }
            BundleEntry::Withheld { leaf, .. } => {
                withheld += 1;
                parse_hex(leaf).ok_or_else(|| {
                    fail(
                        Check::Entry,
                        Some(seq),
                        "leaf is not 64 lowercase hex digits",
                    )
                })?
            }
        };
        let proof = parse_proof(item.proof(), seq, Check::Entry)?;
        if !verify_inclusion(&leaf, seq, n, &proof, &root) {
            return Err(fail(
                Check::Entry,
                Some(seq),
                "its inclusion proof does not reach the checkpoint's root",
            ));
        }
        previous = Some(leaf);
        leaves.push((seq, leaf));
    }

    // §7.3
    let head = verifier
        .open_subject_head(&bundle.head)
        .map_err(|e| fail(Check::Head, None, e.to_string()))?;
    if head.origin != checkpoint.origin {
        return Err(fail(
            Check::Head,
            None,
            "its origin is not the checkpoint's",
        ));
    }
    if head.subject != bundle.subject || head.tree_size != n {
        return Err(fail(
            Check::Head,
            None,
            format!(
                "it is about {} at {}, the bundle about {} at {n}",
                head.subject, head.tree_size, bundle.subject
            ),
        ));
    }
    if head.count != leaves.len() as u64 {
        return Err(fail(
            Check::Head,
            None,
            format!(
                "the log signed for {} entries about the person, the bundle has {}",
                head.count,
                leaves.len()
            ),
        ));
    }
    if head.last != leaves.last().copied() {
        return Err(fail(
            Check::Head,
            leaves.last().map(|l| l.0),
            "the last entry the log signed for is not the bundle's last",
        ));
    }

    // §7.6
    let mut proven_actors: BTreeSet<String> = BTreeSet::new();
    for item in &bundle.actors {
        let seq = item.seq;
        let bad = |m: &str| fail(Check::Actor, Some(seq), m.to_string());
        if seq >= n {
            return Err(bad("not among the first N entries"));
        }
        let view = EntryView::parse(item.entry.as_bytes())
            .map_err(|e| fail(Check::Actor, Some(seq), e))?;
        if view.seq != seq {
            return Err(bad("the entry's own seq differs from the item's"));
        }
        if view.event_type != "actor.registered" {
            return Err(bad("not an actor.registered entry"));
        }
        if view.subject.as_deref().is_some_and(|s| s != bundle.subject) {
            return Err(bad("the registration of another person"));
        }
        let id = serde_json::from_str::<serde_json::Value>(view.data)
            .ok()
            .and_then(|d| d.get("id").and_then(|v| v.as_str()).map(str::to_string))
            .ok_or_else(|| bad("its data has no string id"))?;
        if !actor_ids.contains(&id) {
            return Err(bad("it names an actor no shown entry names"));
        }
        if !proven_actors.insert(id) {
            return Err(bad("a second registration of the same actor"));
        }
        let proof = parse_proof(&item.proof, seq, Check::Actor)?;
        if !verify_inclusion(&leaf_hash(item.entry.as_bytes()), seq, n, &proof, &root) {
            return Err(bad(
                "its inclusion proof does not reach the checkpoint's root",
            ));
        }
        collect_segments(&view, seq, Check::Actor, &mut commits)?;
    }

    // §7.7
    let mut opened: BTreeSet<Hash> = BTreeSet::new();
    for opening in &bundle.content {
        let commit = parse_hex(&opening.commit).ok_or_else(|| {
            fail(
                Check::Content,
                None,
                "a commit is not 64 lowercase hex digits",
            )
        })?;
        let bad = |m: String| {
            fail(
                Check::Content,
                None,
                format!("opening {}: {m}", opening.commit),
            )
        };
        let salt =
            parse_hex(&opening.salt).ok_or_else(|| bad("salt is not 32 bytes of hex".into()))?;
        if content::commit(&salt, &opening.text) != commit {
            return Err(bad("the text and salt do not make this commitment".into()));
        }
        let Some(&chars) = commits.get(&commit) else {
            return Err(bad("no segment of a shown entry commits to it".into()));
        };
        let count = content::chars(&opening.text);
        if count != chars {
            return Err(bad(format!(
                "the segment says {chars} characters, the text has {count}"
            )));
        }
        opened.insert(commit);
    }

    Ok(Proven {
        origin: checkpoint.origin,
        subject: bundle.subject.clone(),
        sar_id: bundle.sar_id.clone(),
        tree_size: n,
        entries: leaves.len() as u64,
        shown,
        withheld,
        actors: proven_actors.into_iter().collect(),
        openings: bundle.content.len() as u64,
        unopened: commits.keys().filter(|c| !opened.contains(*c)).count() as u64,
        bundle_hash: bundle_hash(&bundle.subject, n, &leaves),
    })
}

/// §7.9, for whoever holds the log's export (`withus log export`): the head is true. Among the
/// export's lines `0..N-1`, those with the bundle's subject number the head's count, and the last
/// is at that seq with that leaf. `export` is the export's bytes; each line's subject is read
/// with log-format §1's parser. The export's first `N` lines must first be the log the
/// bundle's checkpoint signs (their tree hash is its root): any other file proves nothing.
pub fn check_head_against_export(
    bundle: &Bundle,
    vkey: &str,
    export: &[u8],
) -> Result<(), Failure> {
    let verifier = NoteVerifier::from_vkey(vkey)
        .map_err(|e| fail(Check::Export, None, format!("the key given: {e}")))?;
    let head = verifier
        .open_subject_head(&bundle.head)
        .map_err(|e| fail(Check::Head, None, e.to_string()))?;
    let checkpoint = verifier
        .open(&bundle.checkpoint)
        .map_err(|e| fail(Check::Checkpoint, None, e.to_string()))?;
    let mut tree = crate::merkle::MemoryTree::new();
    let mut count = 0u64;
    let mut last: Option<(u64, Hash)> = None;
    let mut lines = 0u64;
    for (i, line) in export.split(|b| *b == b'\n').enumerate() {
        let seq = i as u64;
        if seq >= head.tree_size {
            break;
        }
        let view = EntryView::parse(line).map_err(|e| fail(Check::Export, Some(seq), e))?;
        if view.seq != seq {
            return Err(fail(Check::Export, Some(seq), "line and seq differ"));
        }
        lines += 1;
        tree.push(leaf_hash(line));
        if view.subject.as_deref() == Some(head.subject.as_str()) {
            count += 1;
            last = Some((seq, leaf_hash(line)));
        }
    }
    if lines < head.tree_size {
        return Err(fail(
            Check::Export,
            None,
            format!(
                "the export has {lines} entries, fewer than the head's {}",
                head.tree_size
            ),
        ));
    }
    if head.tree_size != checkpoint.size || tree.root() != checkpoint.root {
        return Err(fail(
            Check::Export,
            None,
            "the export's first N entries are not the log the bundle's checkpoint signs, so \
             they cannot show the head false",
        ));
    }
    if count != head.count || last != head.last {
        return Err(fail(
            Check::Export,
            last.map(|l| l.0),
            format!(
                "the log holds {count} entries about {} in its first {}, last at {}; the signed \
                 head says {}, last at {}: the statement is false",
                head.subject,
                head.tree_size,
                last.map_or("-".to_string(), |l| l.0.to_string()),
                head.count,
                head.last.map_or("-".to_string(), |l| l.0.to_string()),
            ),
        ));
    }
    Ok(())
}

/// Checks the companion file of a fulfilled request against a bundle that passed
/// [`verify_bundle`]: its checkpoint verifies with `vkey`; its entry is a `sar.fulfilled` of the
/// bundle's request about the bundle's subject, in that checkpoint's tree; and it records this
/// bundle's tree size and hash. Passing proves the log recorded, when it answered the request,
/// exactly the entries this bundle covers.
pub fn check_fulfilment(
    bundle: &Bundle,
    proven: &Proven,
    file: &FulfilmentFile,
    vkey: &str,
) -> Result<(), Failure> {
    let seq = Some(file.seq);
    let bad = |m: String| fail(Check::Fulfilment, seq, m);
    let verifier = NoteVerifier::from_vkey(vkey).map_err(|e| bad(format!("the key given: {e}")))?;
    let checkpoint = verifier
        .open(&file.checkpoint)
        .map_err(|e| bad(format!("its checkpoint: {e}")))?;
    let view = EntryView::parse(file.entry.as_bytes()).map_err(bad)?;
    if view.seq != file.seq || view.event_type != "sar.fulfilled" {
        return Err(bad(format!(
            "the entry is a {} at seq {}, not the sar.fulfilled the file names",
            view.event_type, view.seq
        )));
    }
    if view.subject.as_deref() != Some(bundle.subject.as_str()) {
        return Err(bad("the entry is about someone else".into()));
    }
    let proof = parse_proof(&file.proof, file.seq, Check::Fulfilment)?;
    let leaf = leaf_hash(file.entry.as_bytes());
    if !verify_inclusion(&leaf, file.seq, checkpoint.size, &proof, &checkpoint.root) {
        return Err(bad(
            "its inclusion proof does not reach the checkpoint's root".into(),
        ));
    }
    let data: serde_json::Value =
        serde_json::from_str(view.data).map_err(|e| bad(format!("its data: {e}")))?;
    if bundle.sar_id.is_none()
        || data.get("sar_id").and_then(|v| v.as_str()) != bundle.sar_id.as_deref()
    {
        return Err(bad("it answers another request than the bundle's".into()));
    }
    if data.get("tree_size").and_then(|v| v.as_u64()) != Some(bundle.tree_size) {
        return Err(bad(format!(
            "it records a tree size other than the bundle's {}",
            bundle.tree_size
        )));
    }
    let recorded = data
        .get("bundle_hash")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    if recorded != to_hex(&proven.bundle_hash) {
        return Err(bad(format!(
            "it records bundle hash {recorded}, the bundle's is {}",
            to_hex(&proven.bundle_hash)
        )));
    }
    Ok(())
}

/// §7.8, computed here from the spec rather than shared with the side that records it
/// (`sar::bundle_hash`), so that a fault there cannot be confirmed by itself.
fn bundle_hash(subject: &str, tree_size: u64, items: &[(u64, Hash)]) -> Hash {
    let mut text = format!("withus-sar-v1\n{subject}\n{tree_size}\n");
    for (seq, leaf) in items {
        text.push_str(&format!("{seq} {}\n", to_hex(leaf)));
    }
    *blake3::hash(text.as_bytes()).as_bytes()
}

fn parse_proof(proof: &[String], seq: u64, check: Check) -> Result<Vec<Hash>, Failure> {
    proof
        .iter()
        .map(|h| {
            parse_hex(h).ok_or_else(|| {
                fail(
                    check,
                    Some(seq),
                    "a proof hash is not 64 lowercase hex digits",
                )
            })
        })
        .collect()
}

/// The commitments (with their `chars`) of every segment in `view`'s data.
fn collect_segments(
    view: &EntryView<'_>,
    seq: u64,
    check: Check,
    commits: &mut BTreeMap<Hash, u64>,
) -> Result<(), Failure> {
    let segments = content::segments_in(view.data)
        .ok_or_else(|| fail(check, Some(seq), "its data is not JSON"))?;
    for s in segments {
        commits.insert(s.commit, s.chars);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const VKEY: &str =
        "withus.example/vectors+daf1465e+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";

    fn vector(name: &str) -> String {
        let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).expect("vector file")
    }

    #[test]
    fn both_vectors_verify_with_the_published_hash() {
        for (name, withheld) in [("bundle.json", 0), ("bundle-withheld.json", 1)] {
            let proven = verify(vector(name).as_bytes(), VKEY).expect(name);
            assert_eq!(proven.entries, 6, "{name}");
            assert_eq!(proven.withheld, withheld, "{name}");
            assert_eq!(
                to_hex(&proven.bundle_hash),
                "6e4407af38f5250aad96fcf7db22f47cf5dec5859cad7d956787f329897abfd3"
            );
        }
    }
}

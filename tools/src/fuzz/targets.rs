//! The targets. Each reads its input through [`Input`] and asserts; see ARCHITECTURE.md
//! ("Fuzzing") for what each one checks.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::value::RawValue;
use serde_json::Value;
use withus::checkpoint::{NoteSigner, NoteVerifier};
use withus::domain::event::{DiscussedWith, Grantee};
use withus::domain::types::{Passage, Role, Time};
use withus::domain::{Command, Event, Projections, Recorded};
use withus::format::{self, Actor, EntryFields, EntryView};
use withus::store::index::{self, Decoder, Index, Posting};
use withus::store::views_codec as vc;

use super::templates::{mutate_value, templates, value};
use super::world::{self, World, MAX_AT, T0};
use super::{mutate, Input};

const VECTORS_LOG: &str = include_str!("../../../tests/vectors/log.jsonl");
const VECTORS_CHECKPOINT: &str = include_str!("../../../tests/vectors/checkpoint.txt");

/// Real entries to mutate: the test vectors' log and the entries of a grown world (every kind of
/// event the decisions emit).
fn entry_seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut s: Vec<Vec<u8>> = VECTORS_LOG
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.as_bytes().to_vec())
            .collect();
        s.extend(World::entries().iter().cloned());
        s
    })
}

/// Entry bytes of `view` as the writer would serialise them.
fn serialise(view: &EntryView<'_>) -> Vec<u8> {
    let data = RawValue::from_string(view.data.to_string()).expect("accepted data is JSON");
    let prev = format::to_hex(&view.prev);
    let subject_prev = view.subject_prev.as_ref().map(format::to_hex);
    let actor = Actor {
        id: view.actor_id.to_string(),
        role: view.actor_role.to_string(),
    };
    EntryFields {
        seq: view.seq,
        prev: &prev,
        at: &view.at,
        event_type: &view.event_type,
        v: view.v,
        stream: &view.stream,
        version: view.version,
        subject: view.subject.as_deref(),
        subject_prev: subject_prev.as_deref(),
        actor: &actor,
        command: view.command.as_deref(),
        data: &data,
    }
    .to_bytes()
}

/// `EntryView::parse` of arbitrary bytes or a mutated real entry. Never panics; an accepted
/// entry serialised again by the writer's code parses to the same view, and those bytes are a
/// fixpoint; an unmutated seed serialises to exactly its own bytes. Accepted entries go on
/// through `Recorded::from_entry` and `Projections::apply`.
pub fn entry(data: &[u8]) {
    let mut u = Input::new(data);
    let (bytes, pristine) = match u.below(4) {
        0 => (u.rest().to_vec(), false),
        1 => (u.choose(entry_seeds()).clone(), true),
        _ => {
            let seed = u.choose(entry_seeds()).clone();
            (mutate(seed, &mut u), false)
        }
    };
    let Ok(view) = EntryView::parse(&bytes) else {
        assert!(!pristine, "a real entry does not parse");
        return;
    };
    let again = serialise(&view);
    if pristine {
        assert_eq!(
            again, bytes,
            "a real entry does not serialise to its own bytes"
        );
    }
    let view2 = EntryView::parse(&again).expect("a re-serialised accepted entry parses");
    assert_eq!(
        view2, view,
        "an accepted entry changed through serialisation"
    );
    assert_eq!(serialise(&view2), again, "serialisation is not a fixpoint");
    if let Ok(rec) = Recorded::from_entry(&view) {
        let mut p = if u.bool() {
            Projections::new()
        } else {
            World::cast().p.clone()
        };
        p.apply(&rec);
    }
}

/// A name as the store allows one (1..=160 printable ASCII).
fn name(u: &mut Input<'_>) -> String {
    match u.below(4) {
        0 => "x".repeat(1 + u.below(160)),
        1 => (0..1 + u.below(24))
            .map(|_| char::from(0x21 + (u.u8() % 94)))
            .collect(),
        _ => u
            .choose(&["note:n-1", "su-sam", "c-1", "access:su-sam", "a"])
            .to_string(),
    }
}

/// The postings `Decoder` (and `Index::add_record`) over arbitrary or mutated records never
/// panic, and always end; postings encoded then decoded come back equal, and a record cut short
/// is an error or a prefix of them.
pub fn postings(data: &[u8]) {
    let mut u = Input::new(data);
    if u.chance(1, 3) {
        let rec = u.rest();
        decode_all(rec);
        let _ = Index::default().add_record(0, rec);
        return;
    }
    let n = u.below(9);
    type Parts = (String, u64, Option<String>, Option<(String, String)>);
    let parts: Vec<Parts> = (0..n)
        .map(|_| {
            let stream = name(&mut u);
            let version = u.number();
            let subject = u.bool().then(|| name(&mut u));
            // A posting names its actor exactly when it has a command.
            let command = u.bool().then(|| (name(&mut u), name(&mut u)));
            (stream, version, subject, command)
        })
        .collect();
    let all: Vec<Posting<'_>> = parts
        .iter()
        .map(|(stream, version, subject, command)| Posting {
            stream,
            version: *version,
            subject: subject.as_deref(),
            command: command.as_ref().map(|(c, _)| c.as_str()),
            actor: command.as_ref().map(|(_, a)| a.as_str()),
        })
        .collect();
    let mut rec = Vec::new();
    for p in &all {
        index::encode(&mut rec, p);
    }
    let back: Vec<Posting<'_>> = Decoder::new(&rec)
        .collect::<Result<_, _>>()
        .expect("encoded postings decode");
    assert_eq!(back, all, "postings changed through their record");
    let cut = u.below(rec.len() + 1);
    if let Ok(prefix) = Decoder::new(&rec[..cut]).collect::<Result<Vec<_>, _>>() {
        assert_eq!(
            prefix[..],
            all[..prefix.len()],
            "a cut record reads as other postings"
        );
    }
    let _ = Index::default().add_record(u.number(), &rec);
    let mutated = mutate(rec, &mut u);
    decode_all(&mutated);
    let _ = Index::default().add_record(0, &mutated);
}

/// Decodes every posting; the iterator must end soon after the bytes do.
fn decode_all(rec: &[u8]) {
    let mut d = Decoder::new(rec);
    let mut n = 0usize;
    for p in d.by_ref() {
        n += 1;
        // A posting takes at least 11 bytes, and an error ends the iteration.
        assert!(n <= rec.len() / 11 + 1, "the decoder does not end");
        if p.is_err() {
            break;
        }
    }
    assert!(d.next().is_none(), "the decoder goes on after an error");
}

/// Records to persist: short keys and values, sometimes one over a chunk's size.
fn view_records(u: &mut Input<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..u.below(8))
        .map(|_| {
            let k = if u.bool() {
                format!("note/n-{}", u.below(4)).into_bytes()
            } else {
                u.bytes(8).to_vec()
            };
            let v = if u.chance(1, 64) {
                vec![u.u8(); 64 * 1024 + u.below(16)]
            } else {
                u.bytes(24).to_vec()
            };
            (k, v)
        })
        .collect()
}

/// The views tree's formats: the marker decodes without panicking and re-encodes to its bytes;
/// chunks of records read back as those records (later ones winning), and a chunk cut short is
/// an error; deltas written as a save writes them read back with the marker's chain, and after
/// any mutation reading never panics and, whenever the chain still matches, gives the same
/// records (the chain vouches for the deltas).
pub fn views(data: &[u8]) {
    let mut u = Input::new(data);
    match u.below(4) {
        0 => {
            let b = u.rest();
            match vc::decode_marker(b) {
                Ok(Some(m)) => assert_eq!(&vc::encode_marker(&m)[..], b, "marker round trip"),
                Ok(None) => assert!(matches!(b.len(), 12 | 24), "only old markers read as none"),
                Err(_) => {}
            }
        }
        1 => {
            let mut into = BTreeMap::new();
            let _ = vc::read_chunk(u.rest(), &mut into);
        }
        2 => {
            let records = view_records(&mut u);
            let parts = vc::chunks(&records);
            let mut back = BTreeMap::new();
            for p in &parts {
                vc::read_chunk(p, &mut back).expect("a chunk reads back");
            }
            let want: BTreeMap<Vec<u8>, Vec<u8>> = records.into_iter().collect();
            assert_eq!(back, want, "records changed through chunks");
            if let Some(p) = parts.first() {
                assert!(
                    vc::read_chunk(&p[..p.len() - 1], &mut BTreeMap::new()).is_err(),
                    "a chunk cut short reads"
                );
                let _ = vc::read_chunk(&mutate(p.clone(), &mut u), &mut BTreeMap::new());
            }
        }
        _ => deltas(&mut u),
    }
}

/// Writes deltas as `save_views` does into a map standing for the tree, then (maybe) damages
/// them and reads them back as `load_views` does.
fn deltas(u: &mut Input<'_>) {
    let base = u.below(4) as u64;
    let mut tree: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut want: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut chain = [0u8; 32];
    let mut seq = base;
    for _ in 0..u.below(5) {
        seq += 1 + u.below(3) as u64;
        let records = view_records(u);
        let parts = vc::chunks(&records);
        let count = parts.len() as u32;
        let values: Vec<Vec<u8>> = parts
            .iter()
            .map(|p| [&count.to_be_bytes()[..], p].concat())
            .collect();
        if !values.is_empty() {
            chain = vc::link(&chain, seq, &values);
        }
        for (i, v) in (0u32..).zip(values) {
            tree.insert(vc::delta_key(seq, i).to_vec(), v);
        }
        want.extend(records);
    }
    let applied = seq + u.below(2) as u64;
    let damaged = u.bool();
    if damaged {
        for _ in 0..1 + u.below(3) {
            damage(&mut tree, u, applied);
        }
    }
    let (from, to) = vc::delta_range(base, applied);
    let mut got = BTreeMap::new();
    // sled's range is empty when its bounds cross (no deltas since the snapshot); BTreeMap's
    // would panic.
    let items: Vec<(&[u8], &[u8])> = if from <= to {
        tree.range(from.to_vec()..=to.to_vec())
            .map(|(k, v)| (&k[..], &v[..]))
            .collect()
    } else {
        Vec::new()
    };
    let r = vc::read_deltas(items, &mut got);
    match r {
        Ok((c, _)) if c == chain => assert_eq!(got, want, "deltas the chain vouches for differ"),
        Ok(_) => assert!(damaged, "undamaged deltas do not match their chain"),
        Err(e) => assert!(damaged, "undamaged deltas do not read: {e}"),
    }
}

fn damage(tree: &mut BTreeMap<Vec<u8>, Vec<u8>>, u: &mut Input<'_>, applied: u64) {
    let keys: Vec<Vec<u8>> = tree.keys().cloned().collect();
    let pick = |u: &mut Input<'_>| keys.get(u.below(keys.len())).cloned();
    match u.below(7) {
        0 => {
            if let Some(k) = pick(u) {
                let v = tree.remove(&k).unwrap_or_default();
                tree.insert(k, mutate(v, u));
            }
        }
        1 => {
            if let Some(k) = pick(u) {
                tree.remove(&k);
            }
        }
        2 => {
            // A chunk left over from an interrupted save, at a seq of its own or beside a delta.
            let seq = u.below(applied as usize + 2) as u64;
            let v = [&u.u32().to_be_bytes()[..], u.bytes(16)].concat();
            tree.insert(vc::delta_key(seq, u.below(4) as u32).to_vec(), v);
        }
        3 => {
            // A key of the wrong length inside the range.
            let mut k = vc::delta_key(u.below(applied as usize + 1) as u64, 0).to_vec();
            k.truncate(1 + u.below(12));
            tree.insert(k, u.bytes(8).to_vec());
        }
        4 => {
            if let Some(k) = pick(u) {
                if let Some(v) = tree.get(&k).cloned() {
                    let other =
                        vc::delta_key(u.below(applied as usize + 2) as u64, u.below(3) as u32);
                    tree.insert(other.to_vec(), v);
                }
            }
        }
        5 => {
            if let Some(k) = pick(u) {
                if let Some(v) = tree.get_mut(&k) {
                    v.truncate(u.below(v.len() + 1));
                }
            }
        }
        _ => {
            if let Some(k) = pick(u) {
                let v = tree.remove(&k).unwrap_or_default();
                tree.insert(mutate(k, u), v);
            }
        }
    }
}

/// Every record kind, so garbage can be told from a record of a known kind.
const KINDS: &[&str] = &[
    "actor",
    "token",
    "support",
    "meeting",
    "note",
    "consents",
    "concern",
    "disclosures",
    "sar",
    "person",
    "caseload",
    "invalid",
    "stats",
    "retention",
];

fn grown_records() -> &'static [(Vec<u8>, Vec<u8>)] {
    static RECORDS: OnceLock<Vec<(Vec<u8>, Vec<u8>)>> = OnceLock::new();
    RECORDS.get_or_init(|| World::grown().p.encode_all())
}

/// `Projections::load` of arbitrary records is an `Err` whenever a record has an unknown kind
/// or a value that is not JSON; of mutated real records it never panics, and what it accepts
/// encodes to records that load to the same records again (the persisted form is a fixpoint).
pub fn load(data: &[u8]) {
    let mut u = Input::new(data);
    let applied = u.number();
    if u.chance(1, 3) {
        let records: Vec<(Vec<u8>, Vec<u8>)> = (0..1 + u.below(4))
            .map(|_| {
                let k = if u.bool() {
                    format!("{}/{}", u.choose(KINDS), u.text(6)).into_bytes()
                } else {
                    u.bytes(12).to_vec()
                };
                (k, u.bytes(32).to_vec())
            })
            .collect();
        let garbage = records.iter().any(|(k, v)| {
            let key = String::from_utf8_lossy(k);
            let known = key
                .split_once('/')
                .is_some_and(|(kind, _)| KINDS.contains(&kind));
            !known || serde_json::from_slice::<Value>(v).is_err()
        });
        let r = Projections::load(applied, records);
        assert!(!garbage || r.is_err(), "garbage loaded: {r:?}");
        return;
    }
    let mut records: Vec<(Vec<u8>, Vec<u8>)> = grown_records().to_vec();
    for _ in 0..1 + u.below(4) {
        if records.is_empty() {
            break;
        }
        let i = u.below(records.len());
        match u.below(4) {
            0 => {
                let v = std::mem::take(&mut records[i].1);
                records[i].1 = mutate(v, &mut u);
            }
            1 => {
                let k = std::mem::take(&mut records[i].0);
                records[i].0 = mutate(k, &mut u);
            }
            2 => {
                records.remove(i);
            }
            _ => {
                if let Ok(mut v) = serde_json::from_slice::<Value>(&records[i].1) {
                    mutate_value(&mut v, &mut u, 0);
                    records[i].1 = serde_json::to_vec(&v).unwrap_or_default();
                }
            }
        }
    }
    if let Ok(p) = Projections::load(applied, records) {
        let once = p.encode_all();
        let q = Projections::load(applied, once.clone()).expect("encoded records load");
        assert_eq!(q.encode_all(), once, "loading encoded records changed them");
    }
}

/// Signers and the vectors' note, made once.
struct Notes {
    signers: Vec<NoteSigner>,
    verifiers: Vec<NoteVerifier>,
}

fn notes() -> &'static Notes {
    static NOTES: OnceLock<Notes> = OnceLock::new();
    NOTES.get_or_init(|| {
        let signers: Vec<NoteSigner> = [
            ("withus.example/vectors", [7u8; 32]),
            ("withus.example/team-log", [1u8; 32]),
            ("a", [2u8; 32]),
        ]
        .iter()
        .map(|(n, s)| NoteSigner::new(n, s).expect("signer"))
        .collect();
        let verifiers = signers
            .iter()
            .map(|s| NoteVerifier::from_vkey(&s.vkey()).expect("own vkey"))
            .collect();
        Notes { signers, verifiers }
    })
}

/// `NoteVerifier::from_vkey` and `open` never panic on arbitrary or mutated vkeys and notes; a
/// signed note opens as what was signed, and a mutated one never opens as a different origin,
/// size or root — nor does any note under a mutated key.
pub fn checkpoint(data: &[u8]) {
    let mut u = Input::new(data);
    let n = notes();
    let i = u.below(n.signers.len());
    let (signer, verifier) = (&n.signers[i], &n.verifiers[i]);
    match u.below(5) {
        0 => {
            let s = u.text(512);
            let _ = NoteVerifier::from_vkey(&s);
            assert!(verifier.open(&s).is_err(), "an arbitrary note verified");
            let _ = verifier.open(VECTORS_CHECKPOINT);
        }
        _ => {
            let size = u.number();
            let mut root = [0u8; 32];
            for b in &mut root {
                *b = u.u8();
            }
            let note = signer.sign(size, &root);
            let c = verifier.open(&note).expect("a signed note opens");
            assert_eq!(
                (c.origin.as_str(), c.size, c.root),
                (signer.name(), size, root)
            );
            let (verifier, note) = if u.chance(1, 4) {
                let vkey = mutate(signer.vkey().into_bytes(), &mut u);
                match NoteVerifier::from_vkey(&String::from_utf8_lossy(&vkey)) {
                    Ok(v) => (v, note),
                    Err(_) => return,
                }
            } else {
                let m = mutate(note.into_bytes(), &mut u);
                (verifier.clone(), String::from_utf8_lossy(&m).into_owned())
            };
            if let Ok(c) = verifier.open(&note) {
                assert_eq!(
                    (c.origin.as_str(), c.size, c.root),
                    (signer.name(), size, root),
                    "a mutated note or key verified as another checkpoint"
                );
            }
        }
    }
}

/// `decide` over a random sequence of commands, each accepted one applied as the service would:
/// no panic; every refusal names a rule, a field and a message; every decision emits events on
/// `<kind>:<id>` streams that the store would accept, read back from their entries as
/// themselves and fit the state (none is skipped). At the end the projections persist and load
/// back to the same state.
pub fn decide(data: &[u8]) {
    let mut u = Input::new(data);
    let mut w = match u.below(4) {
        0 => World::empty(),
        1 => World::cast().clone(),
        _ => World::grown().clone(),
    };
    w.entries = None;
    let mut steps = 0;
    while !u.is_empty() && steps < 256 {
        let _ = w.random_step(&mut u);
        steps += 1;
    }
    let records = w.p.encode_all();
    let back = Projections::load(w.p.applied, records).expect("the projections load back");
    assert!(
        back.same_state(&w.p),
        "the projections changed through their records"
    );
}

/// One entry with arbitrary fields, its `data` a mutated template of its type or arbitrary.
fn random_view<'a>(u: &mut Input<'_>, p: &Projections, text: &'a mut String) -> EntryView<'a> {
    let t = templates();
    let (ty, kind, mut v) = t[u.below(t.len())].clone();
    let event_type: Cow<'static, str> = match u.below(16) {
        0 => Cow::Owned(u.text(24)),
        1 => Cow::Borrowed(*u.choose(Event::TYPES)),
        _ => Cow::Borrowed(ty),
    };
    *text = match u.below(8) {
        0 => u.text(64),
        1 => serde_json::to_string(&value(u, 0)).unwrap_or_default(),
        2 => serde_json::to_string(&v).unwrap_or_default(),
        3 => String::from_utf8_lossy(&mutate(serde_json::to_vec(&v).unwrap_or_default(), u))
            .into_owned(),
        _ => {
            mutate_value(&mut v, u, 0);
            serde_json::to_string(&v).unwrap_or_default()
        }
    };
    let kind = if u.chance(1, 8) {
        *u.choose(&["actor", "note", "support", "access", "x", ""])
    } else {
        kind
    };
    let id = match u.below(4) {
        0 => world::id(u, world::ACTORS),
        1 => world::id(u, world::NOTES),
        _ => match kind {
            "actor" | "consent" | "access" | "disclosure" | "retention" => {
                u.choose(world::ACTORS).to_string()
            }
            "support" => u.choose(world::SUPPORTS).to_string(),
            "meeting" => u.choose(world::MEETINGS).to_string(),
            "note" => u.choose(world::NOTES).to_string(),
            "concern" => u.choose(world::CONCERNS).to_string(),
            _ => u.choose(world::SARS).to_string(),
        },
    };
    let at = match u.below(8) {
        0 => u.text(24),
        1 => format::format_millis(u.number()),
        _ => format::format_millis(T0 + u.below(1 << 20) as u64 * 1000),
    };
    let seq = match u.below(8) {
        0 => u.number(),
        1 => p.applied.saturating_sub(1),
        _ => p.applied,
    };
    EntryView {
        seq,
        prev: format::ZERO_HASH,
        at: Cow::Owned(at),
        event_type,
        v: if u.chance(15, 16) { 1 } else { u.u32() },
        stream: Cow::Owned(format!("{kind}:{id}")),
        version: if u.chance(3, 4) {
            p.stream_version(&format!("{kind}:{id}"))
        } else {
            u.number()
        },
        subject: u
            .chance(3, 4)
            .then(|| Cow::Owned(world::id(u, &world::ACTORS[1..3]))),
        subject_prev: None,
        actor_id: Cow::Owned(world::id(u, world::ACTORS)),
        actor_role: Cow::Owned(
            u.choose(withus::domain::types::Role::ALL)
                .as_str()
                .to_string(),
        ),
        command: None,
        data: {
            let text: &'a String = text;
            text.as_str()
        },
    }
}

/// `Recorded::from_entry` then `Projections::apply` of entries no decision made: arbitrary
/// types, mutated or arbitrary `data`, odd streams, seqs, versions and times, on a grown world.
/// `apply` is total (never panics), `applied` never goes backwards, and the state reached still
/// persists and loads back to the same records.
pub fn apply(data: &[u8]) {
    let mut u = Input::new(data);
    let mut p = if u.chance(1, 4) {
        World::cast().p.clone()
    } else {
        World::grown().p.clone()
    };
    for _ in 0..1 + u.below(12) {
        let mut text = String::new();
        let view = random_view(&mut u, &p, &mut text);
        if let Ok(rec) = Recorded::from_entry(&view) {
            assert!(rec.at.0 <= MAX_AT);
            let before = p.applied;
            p.apply(&rec);
            assert!(p.applied >= before, "applied went backwards");
        }
    }
    let once = p.encode_all();
    let q = Projections::load(p.applied, once.clone()).expect("applied state loads back");
    assert_eq!(
        q.encode_all(),
        once,
        "the state changed through its records"
    );
}

/// Strings a request's fields are drawn from: the worlds' ids, every vocabulary word a request
/// may carry, times at the edges, and nothing at all.
fn request_words() -> &'static [String] {
    static WORDS: OnceLock<Vec<String>> = OnceLock::new();
    WORDS.get_or_init(|| {
        use withus::domain::types::*;
        let mut w: Vec<String> = [
            world::ACTORS,
            world::TEAMS,
            world::SUPPORTS,
            world::MEETINGS,
            world::NOTES,
            world::PROPOSALS,
            world::CONSENTS,
            world::CONCERNS,
            world::SARS,
            world::SEGMENTS,
            world::GROUPS,
        ]
        .concat()
        .iter()
        .map(|s| s.to_string())
        .collect();
        macro_rules! words {
            ($($ty:ident),*) => { $( w.extend($ty::ALL.iter().map(|v| v.as_str().to_string())); )* };
        }
        words!(
            ReferralSource, EndReason, MeetingKind, MeetingMode, Place, RedactionReason,
            CloseReason, Scope, ConcernCategory, Urgency, ConcernOutcome, InformedHow, Exemption,
            SarVia, DeactivationReason
        );
        w.extend(
            [
                "",
                "2026-05-01T10:00:00.000Z",
                "2030-01-01T00:00:00.000Z",
                "9999-12-31T23:59:59.999Z",
                "note:n-0",
                "concern:k-0",
                "some words of a note",
            ]
            .map(String::from),
        );
        w.push(format!("{:064x}", 7));
        w
    })
}

/// A protobuf message built field by field: field numbers 1–12 with any wire type, strings from
/// [`request_words`] (or arbitrary), varints at the edges, nested `CallOptions` and segments as
/// length-delimited bytes — so every request type of [`METHODS`] gets messages that decode, and
/// many that do not.
fn request_body(u: &mut Input<'_>, depth: u8) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let mut out = Vec::new();
    for _ in 0..u.below(12) {
        let field = 1 + u.below(12) as u64;
        match u.below(8) {
            0 => {
                varint(&mut out, field << 3);
                varint(&mut out, u.number());
            }
            1 if depth < 2 => {
                let inner = request_body(u, depth + 1);
                varint(&mut out, (field << 3) | 2);
                varint(&mut out, inner.len() as u64);
                out.extend(inner);
            }
            2 => out.extend(u.bytes(8)),
            _ => {
                let text = if u.chance(1, 8) {
                    u.text(64)
                } else {
                    u.choose(request_words()).clone()
                };
                varint(&mut out, (field << 3) | 2);
                varint(&mut out, text.len() as u64);
                out.extend(text.as_bytes());
            }
        }
    }
    out
}

/// Every mutating gRPC request through the decision path: arbitrary (or field-built) bytes
/// decoded as the request of a method from `grpc::commands::METHODS`, translated to a command
/// exactly as the handler does, and decided (and applied when accepted) by an actor of a grown
/// world. No panic; a translation error is a status, a decision is well-formed.
pub fn grpc(data: &[u8]) {
    use withus::grpc::commands::{decode_command, METHODS};
    let mut u = Input::new(data);
    let mut w = World::grown().clone();
    w.entries = None;
    let mut steps = 0;
    while !u.is_empty() && steps < 32 {
        let (method, body) = match u.below(4) {
            // A world command as a client would send it, its bytes mutated or not.
            0 | 1 => {
                let cmd = world::command(&mut u, w.now, MAX_AT);
                let (method, body) = request_of(&cmd);
                let body = if u.bool() { mutate(body, &mut u) } else { body };
                (method, body)
            }
            2 => (*u.choose(METHODS), request_body(&mut u, 0)),
            _ => (*u.choose(METHODS), u.bytes(256).to_vec()),
        };
        let translated = decode_command(method, &body);
        let Some(Ok(cmd)) = translated else {
            assert!(
                translated.is_some(),
                "{method} is in METHODS but not decoded"
            );
            steps += 1;
            continue;
        };
        let caller = w.caller(&mut u, &cmd);
        w.now = w.now.plus(1_000);
        let now = w.now;
        let _ = w.step(&caller, &cmd, now);
        steps += 1;
    }
}

/// Whether `data`, read as the `grpc` target reads a request body, decodes into a command for
/// `method` (for the test that every request type is reached).
pub fn request_decodes(method: &str, data: &[u8]) -> bool {
    let mut u = Input::new(data);
    let cmd = world::command(&mut u, Time(T0), MAX_AT);
    let (encoded_for, body) = request_of(&cmd);
    if encoded_for != method {
        return false;
    }
    matches!(
        withus::grpc::commands::decode_command(method, &body),
        Some(Ok(_))
    )
}

/// The request a client would send for `cmd` (the inverse of `grpc::commands`), with its
/// method: so the `grpc` target starts from requests that decode, then mutates their bytes.
fn request_of(cmd: &Command) -> (&'static str, Vec<u8>) {
    use prost::Message as _;
    use withus::grpc::convert::{self, ToWire as _};
    use withus::grpc::pb;
    fn segments(list: &[Passage]) -> Vec<pb::TextSegment> {
        list.iter()
            .map(|p| pb::TextSegment {
                id: p.id.clone(),
                text: p.text.clone(),
            })
            .collect()
    }
    fn text(p: &Option<Passage>) -> String {
        p.as_ref().map(|p| p.text.clone()).unwrap_or_default()
    }
    fn activities(list: &[withus::domain::event::Activity<Passage>]) -> Vec<pb::Activity> {
        list.iter()
            .map(|a| pb::Activity {
                kind: a.kind.to_wire(),
                detail: text(&a.detail),
            })
            .collect()
    }
    fn time(t: &Option<Time>) -> Option<prost_types::Timestamp> {
        t.map(convert::timestamp)
    }
    match cmd {
        Command::RegisterActor {
            id,
            role,
            team,
            display,
        } => {
            let role = match role {
                Role::ServiceUser => pb::Role::ServiceUser,
                Role::PeerWorker => pb::Role::PeerWorker,
                Role::CareTeam => pb::Role::CareTeam,
                Role::SafeguardingLead => pb::Role::SafeguardingLead,
                Role::Auditor => pb::Role::Auditor,
                Role::Admin => pb::Role::Admin,
                Role::Representative => pb::Role::Representative,
            };
            (
                "withus.v1.Admin/RegisterActor",
                pb::RegisterActorRequest {
                    id: id.clone(),
                    role: role as i32,
                    team: team.clone().unwrap_or_default(),
                    display_name: display.text.clone(),
                    ..Default::default()
                }
                .encode_to_vec(),
            )
        }
        Command::DeactivateActor { id, reason } => (
            "withus.v1.Admin/DeactivateActor",
            pb::DeactivateActorRequest {
                id: id.clone(),
                reason: reason.to_wire(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::RecordDiscussion {
            discussion_id,
            subject,
            setting,
            with,
            held_at,
            basis,
            summary,
        } => {
            let (with_team, with_role) = match with {
                DiscussedWith::Team(t) => (t.clone(), 0),
                DiscussedWith::Role(r) => (String::new(), r.to_wire()),
            };
            (
                "withus.v1.Discussions/Record",
                pb::RecordDiscussionRequest {
                    discussion_id: discussion_id.clone(),
                    subject: subject.clone(),
                    setting: setting.to_wire(),
                    with_team,
                    with_role,
                    held_at: Some(convert::timestamp(*held_at)),
                    basis: basis.name(),
                    summary: segments(summary),
                    ..Default::default()
                }
                .encode_to_vec(),
            )
        }
        Command::AddStatement {
            statement_id,
            target_stream,
            segments: list,
        } => (
            "withus.v1.Statements/Add",
            pb::AddStatementRequest {
                statement_id: statement_id.clone(),
                target_stream: target_stream.clone(),
                segments: segments(list),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::GrantAuthority {
            subject,
            authority_id,
            representative,
            relation,
            basis,
            scope,
            expires_at,
            evidence,
        } => (
            "withus.v1.Authorities/Grant",
            pb::GrantAuthorityRequest {
                authority_id: authority_id.clone(),
                subject: subject.clone(),
                representative: representative.clone(),
                relation: relation.to_wire(),
                basis: basis.to_wire(),
                scope: scope.iter().map(|s| s.to_wire()).collect(),
                expires_at: time(expires_at),
                evidence: text(evidence),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::EndAuthority {
            authority_id,
            reason,
        } => (
            "withus.v1.Authorities/End",
            pb::EndAuthorityRequest {
                authority_id: authority_id.clone(),
                reason: reason.to_wire(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::ProposeTransfer {
            support_id,
            to_worker,
        } => (
            "withus.v1.Support/ProposeTransfer",
            pb::ProposeTransferRequest {
                support_id: support_id.clone(),
                to_worker: to_worker.clone(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::AnswerTransfer { support_id, accept } => (
            "withus.v1.Support/RespondTransfer",
            pb::RespondTransferRequest {
                support_id: support_id.clone(),
                accept: *accept,
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::RecordRetentionDate {
            subject,
            kind,
            date,
        } => (
            "withus.v1.Retention/RecordDate",
            pb::RecordRetentionDateRequest {
                subject: subject.clone(),
                kind: kind.to_wire(),
                date: date.clone(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::PlaceLegalHold {
            subject,
            hold_id,
            reason,
        } => (
            "withus.v1.Retention/PlaceHold",
            pb::PlaceLegalHoldRequest {
                subject: subject.clone(),
                hold_id: hold_id.clone(),
                reason: reason.to_wire(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::LiftLegalHold { subject, hold_id } => (
            "withus.v1.Retention/LiftHold",
            pb::LiftLegalHoldRequest {
                subject: subject.clone(),
                hold_id: hold_id.clone(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::UnlinkIdentity { actor, issuer } => (
            "withus.v1.Admin/UnlinkIdentity",
            pb::UnlinkIdentityRequest {
                actor: actor.clone(),
                issuer: issuer.clone(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::IssueToken { .. }
        | Command::RevokeToken { .. }
        | Command::FulfilSar { .. }
        | Command::LinkIdentity { .. }
        | Command::IssueSignInCode { .. } => {
            // Not commands a client builds: tokens, bundles, identity and code digests are made
            // by the service.
            (
                "withus.v1.Admin/RevokeToken",
                pb::RevokeTokenRequest {
                    token_hash: format!("{:064x}", 7),
                    ..Default::default()
                }
                .encode_to_vec(),
            )
        }
        Command::ReferSupport {
            support_id,
            subject,
            worker,
            source,
        } => (
            "withus.v1.Support/Refer",
            pb::ReferRequest {
                support_id: support_id.clone(),
                subject: subject.clone(),
                worker: worker.clone(),
                source: source.to_wire(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::OfferSupport { support_id } => (
            "withus.v1.Support/Offer",
            pb::SupportRequest {
                support_id: support_id.clone(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::AcceptSupport { support_id } => (
            "withus.v1.Support/Accept",
            pb::SupportRequest {
                support_id: support_id.clone(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::DeclineSupport { support_id } => (
            "withus.v1.Support/Decline",
            pb::SupportRequest {
                support_id: support_id.clone(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::EndSupport { support_id, reason } => (
            "withus.v1.Support/End",
            pb::EndSupportRequest {
                support_id: support_id.clone(),
                reason: reason.to_wire(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::RecordMeeting {
            meeting_id,
            support_id,
            kind,
            group_id,
            mode,
            place,
            place_detail,
            occurred_at,
            minutes,
            goals,
            activities: done,
        } => (
            "withus.v1.Meetings/Record",
            pb::RecordMeetingRequest {
                meeting_id: meeting_id.clone(),
                support_id: support_id.clone(),
                kind: kind.to_wire(),
                group_id: group_id.clone().unwrap_or_default(),
                mode: mode.to_wire(),
                place: place.to_wire(),
                place_detail: text(place_detail),
                occurred_at: Some(convert::timestamp(*occurred_at)),
                minutes: *minutes,
                goals: goals.clone(),
                activities: activities(done),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::PlanMeeting {
            meeting_id,
            support_id,
            mode,
            place,
            place_detail,
            planned_for,
            minutes,
        } => (
            "withus.v1.Meetings/Plan",
            pb::PlanMeetingRequest {
                meeting_id: meeting_id.clone(),
                support_id: support_id.clone(),
                mode: mode.to_wire(),
                place: place.to_wire(),
                place_detail: text(place_detail),
                planned_for: Some(convert::timestamp(*planned_for)),
                minutes: *minutes,
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::ProposePlace {
            meeting_id,
            place,
            place_detail,
            on_behalf,
        } => (
            "withus.v1.Meetings/ProposePlace",
            pb::ProposePlaceRequest {
                meeting_id: meeting_id.clone(),
                place: place.to_wire(),
                place_detail: text(place_detail),
                on_behalf: *on_behalf,
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::AgreePlace {
            meeting_id,
            on_behalf,
        } => (
            "withus.v1.Meetings/AgreePlace",
            pb::AgreePlaceRequest {
                meeting_id: meeting_id.clone(),
                on_behalf: *on_behalf,
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::CancelMeeting { meeting_id, by } => (
            "withus.v1.Meetings/Cancel",
            pb::CancelMeetingRequest {
                meeting_id: meeting_id.clone(),
                by: by.to_wire(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::MarkNotAttended { meeting_id } => (
            "withus.v1.Meetings/RecordNotAttended",
            pb::MeetingRequest {
                meeting_id: meeting_id.clone(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::HoldMeeting {
            meeting_id,
            occurred_at,
            minutes,
            goals,
            activities: done,
        } => (
            "withus.v1.Meetings/RecordHeld",
            pb::HoldMeetingRequest {
                meeting_id: meeting_id.clone(),
                occurred_at: Some(convert::timestamp(*occurred_at)),
                minutes: *minutes,
                goals: goals.clone(),
                activities: activities(done),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::FormGroup {
            group_id,
            name,
            facilitators,
        } => (
            "withus.v1.Groups/Form",
            pb::FormGroupRequest {
                group_id: group_id.clone(),
                name: name.text.clone(),
                facilitators: facilitators.clone(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::SetGoal {
            goal_id,
            support_id,
            words,
            co_produced,
        } => (
            "withus.v1.Goals/Set",
            pb::SetGoalRequest {
                goal_id: goal_id.clone(),
                support_id: support_id.clone(),
                words: segments(words),
                co_produced: *co_produced,
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::ReviewGoal { goal_id, words } => (
            "withus.v1.Goals/Review",
            pb::ReviewGoalRequest {
                goal_id: goal_id.clone(),
                words: segments(words),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::CloseGoal {
            goal_id,
            outcome,
            words,
        } => (
            "withus.v1.Goals/Close",
            pb::CloseGoalRequest {
                goal_id: goal_id.clone(),
                outcome: outcome.to_wire(),
                words: segments(words),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::DraftNote {
            note_id,
            meeting_id,
            segments: s,
        } => (
            "withus.v1.Notes/Draft",
            pb::DraftNoteRequest {
                note_id: note_id.clone(),
                meeting_id: meeting_id.clone(),
                segments: segments(s),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::ReviseNote {
            note_id,
            segments: s,
        } => (
            "withus.v1.Notes/Revise",
            pb::NoteTextRequest {
                note_id: note_id.clone(),
                segments: segments(s),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::AddAddendum {
            note_id,
            segments: s,
        } => (
            "withus.v1.Notes/AddAddendum",
            pb::NoteTextRequest {
                note_id: note_id.clone(),
                segments: segments(s),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::ProposeRedaction {
            note_id,
            proposal_id,
            segments,
            reason,
        } => (
            "withus.v1.Notes/ProposeRedaction",
            pb::ProposeRedactionRequest {
                note_id: note_id.clone(),
                proposal_id: proposal_id.clone(),
                segments: segments.clone(),
                reason: reason.to_wire(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::AgreeRedaction {
            note_id,
            proposal_id,
        } => (
            "withus.v1.Notes/AgreeRedaction",
            pb::ProposalRequest {
                note_id: note_id.clone(),
                proposal_id: proposal_id.clone(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::WithdrawRedaction {
            note_id,
            proposal_id,
        } => (
            "withus.v1.Notes/WithdrawRedaction",
            pb::ProposalRequest {
                note_id: note_id.clone(),
                proposal_id: proposal_id.clone(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::DeclineRedaction {
            note_id,
            proposal_id,
            reason,
        } => (
            "withus.v1.Notes/DeclineRedaction",
            pb::DeclineRedactionRequest {
                note_id: note_id.clone(),
                proposal_id: proposal_id.clone(),
                reason: text(reason),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::AgreeNote { note_id, revision } => (
            "withus.v1.Notes/Agree",
            pb::AgreeNoteRequest {
                note_id: note_id.clone(),
                revision: *revision,
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::CloseNote { note_id, reason } => (
            "withus.v1.Notes/Close",
            pb::CloseNoteRequest {
                note_id: note_id.clone(),
                reason: reason.to_wire(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::GrantConsent {
            subject,
            consent_id,
            scope,
            grantee,
            expires_at,
        } => (
            "withus.v1.Consent/Grant",
            pb::GrantConsentRequest {
                subject: subject.clone(),
                consent_id: consent_id.clone(),
                scope: scope.to_wire(),
                grantee: match grantee {
                    None => String::new(),
                    Some(Grantee::Team(t)) => t.clone(),
                    Some(Grantee::Person(p)) => p.text.clone(),
                },
                expires_at: time(expires_at),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::RevokeConsent {
            subject,
            consent_id,
        } => (
            "withus.v1.Consent/Revoke",
            pb::RevokeConsentRequest {
                subject: subject.clone(),
                consent_id: consent_id.clone(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::RaiseConcern {
            concern_id,
            subject,
            category,
            urgency,
            summary,
        } => (
            "withus.v1.Safeguarding/Raise",
            pb::RaiseConcernRequest {
                concern_id: concern_id.clone(),
                subject: subject.clone(),
                category: category.to_wire(),
                urgency: urgency.to_wire(),
                summary: segments(summary),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::AcknowledgeConcern { concern_id } => (
            "withus.v1.Safeguarding/Acknowledge",
            pb::ConcernRequest {
                concern_id: concern_id.clone(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::RecordOutcome {
            concern_id,
            outcome,
            detail,
        } => (
            "withus.v1.Safeguarding/RecordOutcome",
            pb::OutcomeRequest {
                concern_id: concern_id.clone(),
                outcome: outcome.to_wire(),
                detail: detail.text.clone(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::InformSubject { concern_id, how } => (
            "withus.v1.Safeguarding/InformSubject",
            pb::InformRequest {
                concern_id: concern_id.clone(),
                how: how.to_wire(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::Withhold {
            subject,
            target_stream,
            exemption,
            justification,
            review_by,
        } => (
            "withus.v1.Safeguarding/Withhold",
            pb::WithholdRequest {
                subject: subject.clone(),
                target_stream: target_stream.clone(),
                exemption: exemption.to_wire(),
                justification: justification.text.clone(),
                review_by: Some(convert::timestamp(*review_by)),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::Release {
            subject,
            target_stream,
        } => (
            "withus.v1.Safeguarding/Release",
            pb::ReleaseRequest {
                subject: subject.clone(),
                target_stream: target_stream.clone(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        Command::RequestSar {
            sar_id,
            subject,
            via,
        } => (
            "withus.v1.SubjectAccess/Request",
            pb::SarRequest {
                sar_id: sar_id.clone(),
                subject: subject.clone(),
                via: via.to_wire(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
    }
}

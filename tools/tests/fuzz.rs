//! The bounded pass of the fuzz targets (issue 11), for CI: proptest feeds each target of
//! `withus_tools::fuzz` arbitrary bytes and shrinks any failure to a small input. Case counts
//! keep the whole file well under 30 s on two cores; `PROPTEST_CASES` overrides them all. The
//! long runs are the `fuzz` binary's (see ARCHITECTURE.md, "Fuzzing").

use proptest::prelude::*;
use withus_tools::fuzz;

/// `default` cases, or `PROPTEST_CASES` if set.
fn cases(default: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(n)
}

fn input(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

proptest! {
    #![proptest_config(cases(20000))]
    #[test]
    fn entry(data in input(1024)) {
        fuzz::entry(&data);
    }
}

proptest! {
    #![proptest_config(cases(20000))]
    #[test]
    fn postings(data in input(1024)) {
        fuzz::postings(&data);
    }
}

proptest! {
    #![proptest_config(cases(10000))]
    #[test]
    fn views(data in input(1024)) {
        fuzz::views(&data);
    }
}

proptest! {
    #![proptest_config(cases(10000))]
    #[test]
    fn load(data in input(1024)) {
        fuzz::load(&data);
    }
}

proptest! {
    #![proptest_config(cases(2000))]
    #[test]
    fn checkpoint(data in input(512)) {
        fuzz::checkpoint(&data);
    }
}

proptest! {
    #![proptest_config(cases(3000))]
    #[test]
    fn decide(data in input(2048)) {
        fuzz::decide(&data);
    }
}

proptest! {
    #![proptest_config(cases(3000))]
    #[test]
    fn apply(data in input(2048)) {
        fuzz::apply(&data);
    }
}

proptest! {
    #![proptest_config(cases(1000))]
    #[test]
    fn grpc(data in input(2048)) {
        fuzz::grpc(&data);
    }
}

/// The `grpc` target reaches the decision with every mutating request type: for each method,
/// some input of a fixed series decodes and translates into a command.
#[test]
fn every_grpc_request_type_reaches_the_decision() {
    let mut rng = fuzz::Rng::new(11);
    for method in withus::grpc::commands::METHODS {
        let reached = (0..20_000).any(|_| fuzz::request_decodes(method, &rng.input(512)));
        assert!(reached, "no input decoded into a command for {method}");
    }
}

/// The templates the `apply` target mutates are valid events of every type, so it starts from
/// what the parser accepts (this fails when an event's schema changes without them).
#[test]
fn every_event_type_has_a_valid_template() {
    let t = fuzz::templates();
    let types: Vec<&str> = t.iter().map(|(ty, _, _)| *ty).collect();
    assert_eq!(types, withus::domain::Event::TYPES);
    for (ty, _, data) in t {
        withus::domain::Event::parse(ty, 1, &data.to_string())
            .unwrap_or_else(|e| panic!("template of {ty}: {e}"));
    }
}

/// The worlds the decision targets start from are rich: most kinds of record exist.
#[test]
fn the_grown_world_has_records_of_every_kind() {
    let p = &fuzz::world::World::grown().p;
    let counts = [
        ("actors", p.actors.len()),
        ("supports", p.supports.len()),
        ("meetings", p.meetings.len()),
        ("notes", p.notes.len()),
        ("consents", p.consents.len()),
        ("concerns", p.concerns.len()),
        ("sars", p.sars.len()),
    ];
    for (what, n) in counts {
        assert!(n > 0, "the grown world has no {what}: {counts:?}");
    }
}

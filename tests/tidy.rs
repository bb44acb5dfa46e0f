//! Boundaries the code map promises, checked by reading the source (as rust-analyzer's tidy
//! tests do): who may do what is decided in `src/domain/` alone; only `src/store/` uses sled;
//! only `src/grpc/` (and the binary, which parses wire enums) uses tonic or prost;
//! only `src/http/` and `src/grpc/` use axum or hyper; every declaration of the wire contract
//! (`proto/withus/v1/`) carries a comment. A failure names the file and line.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every line of every `.rs` file under `src/`, with its path relative to the crate, skipping
/// comments (a doc comment may well say "a role check").
fn source_lines() -> Vec<(String, usize, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut lines = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(root)
            .expect("under the crate")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&f).expect("read source");
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            lines.push((rel.clone(), i + 1, line.to_string()));
        }
    }
    lines
}

/// A comparison of an actor's role, or a check against a list of roles: a permission decided
/// on the spot.
fn compares_a_role(line: &str) -> bool {
    let squeezed: String = line.split_whitespace().collect::<Vec<_>>().join(" ");
    let patterns = [
        ".role ==",
        ".role !=",
        "== Role::",
        "!= Role::",
        "contains(&a.role)",
        "contains(&reader.role)",
        "contains(&caller.role)",
    ];
    patterns.iter().any(|p| squeezed.contains(p))
        || (squeezed.contains("matches!(") && squeezed.contains(".role"))
}

#[test]
fn roles_are_compared_only_in_the_domain() {
    let found: Vec<String> = source_lines()
        .into_iter()
        .filter(|(path, _, line)| !path.starts_with("src/domain/") && compares_a_role(line))
        .map(|(path, n, line)| format!("{path}:{n}: {}", line.trim()))
        .collect();
    assert!(
        found.is_empty(),
        "role checks outside src/domain/ (ask domain::access or the projections instead):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_role_check_detector_sees_the_usual_shapes() {
    // The scan must be able to fail: these are the shapes it exists to catch.
    for line in [
        "if reader.role != Role::Auditor {",
        "let own = reader.role == Role::ServiceUser && reader.id == subject;",
        "if roles.contains(&a.role) {",
        "matches!(caller.role, Role::Admin | Role::Auditor)",
    ] {
        assert!(compares_a_role(line), "{line}");
    }
    assert!(!compares_a_role("role: Role::Admin.as_str().to_string(),"));
}

#[test]
fn only_the_store_uses_sled() {
    let found: Vec<String> = source_lines()
        .into_iter()
        .filter(|(path, _, line)| !path.starts_with("src/store/") && line.contains("sled::"))
        .map(|(path, n, line)| format!("{path}:{n}: {}", line.trim()))
        .collect();
    assert!(
        found.is_empty(),
        "sled outside src/store/:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_http_port_and_the_grpc_layer_use_axum() {
    let found: Vec<String> = source_lines()
        .into_iter()
        .filter(|(path, _, line)| {
            !path.starts_with("src/http/")
                && !path.starts_with("src/grpc/")
                && (line.contains("axum::") || line.contains("hyper::"))
        })
        .map(|(path, n, line)| format!("{path}:{n}: {}", line.trim()))
        .collect();
    assert!(
        found.is_empty(),
        "HTTP server types outside src/http/ and src/grpc/:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_grpc_layer_and_the_binary_use_tonic_or_prost() {
    let found: Vec<String> = source_lines()
        .into_iter()
        .filter(|(path, _, line)| {
            !path.starts_with("src/grpc/")
                && path != "src/main.rs"
                && (line.contains("tonic::") || line.contains("prost::"))
        })
        .map(|(path, n, line)| format!("{path}:{n}: {}", line.trim()))
        .collect();
    assert!(
        found.is_empty(),
        "tonic or prost outside src/grpc/:\n{}",
        found.join("\n")
    );
}

/// The pure core's layering: deciding a read before it happens (`access`) and folding what was
/// recorded (`projection` and the area slices, `reads` among them) do not depend on each other's
/// decisions — `access` reads projections; nothing that folds imports `access`.
#[test]
fn nothing_that_folds_the_log_imports_the_read_decisions() {
    let folding = [
        "projection",
        "reads",
        "actors",
        "support",
        "meetings",
        "notes",
        "consent",
        "safeguarding",
        "sar",
        "checks",
    ];
    let found: Vec<String> = source_lines()
        .into_iter()
        .filter(|(path, _, line)| {
            folding
                .iter()
                .any(|m| path == &format!("src/domain/{m}.rs"))
                && (line.contains("super::access") || line.contains("domain::access"))
        })
        .map(|(path, n, line)| format!("{path}:{n}: {}", line.trim()))
        .collect();
    assert!(
        found.is_empty(),
        "a fold step imports access:\n{}",
        found.join("\n")
    );
}

/// The offline verifier shares no code path with the composer (or the store, the domain, the
/// service): it may use only the bundle's wire types and the contract modules, so a fault in
/// composing cannot pass by being made twice.
#[test]
fn the_bundle_verifier_uses_only_the_contract_modules() {
    let allowed = [
        "super::bundle",
        "super::*",
        "crate::format",
        "crate::merkle",
        "crate::checkpoint",
        "crate::content",
        "std::",
        "serde_json",
    ];
    let found: Vec<String> = source_lines()
        .into_iter()
        .filter(|(path, _, line)| {
            path == "src/sar/verify.rs" && {
                let l = line.trim();
                let names = ["crate::", "super::", "withus::"];
                let uses: Vec<&str> = names
                    .iter()
                    .flat_map(|n| l.match_indices(n).map(|(i, _)| &l[i..]))
                    .collect();
                uses.iter()
                    .any(|u| !allowed.iter().any(|a| u.starts_with(a)))
                    && !l.starts_with("//")
            }
        })
        .map(|(path, n, line)| format!("{path}:{n}: {}", line.trim()))
        .collect();
    assert!(
        found.is_empty(),
        "the verifier reaches beyond the contract modules:\n{}",
        found.join("\n")
    );
}

/// A field declaration of a `.proto` file (`[repeated|optional] Type name = N;`), trimmed.
/// Enum values (`UPPER_CASE = N;`) are not fields.
fn is_proto_field(line: &str) -> bool {
    let Some(decl) = line.strip_suffix(';') else {
        return false;
    };
    let Some((left, number)) = decl.split_once(" = ") else {
        return false;
    };
    let words: Vec<&str> = left.split_whitespace().collect();
    let words = match words.first() {
        Some(&"repeated") | Some(&"optional") => &words[1..],
        _ => &words[..],
    };
    let name_is_a_field = |name: &str| {
        name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    words.len() == 2
        && name_is_a_field(words[1])
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
}

/// A message, enum, service or rpc declaration of a `.proto` file, trimmed.
fn is_proto_declaration(line: &str) -> bool {
    ["message ", "enum ", "service ", "rpc "]
        .iter()
        .any(|k| line.starts_with(k))
}

/// The declarations of one `.proto` file's text that lack a comment, as (line, declaration):
/// a message, enum, service or rpc whose line above is not a `//` comment, or a field whose
/// nearest line above that is not a field (a run of fields may share one comment) is not one.
fn uncommented_proto_declarations(text: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let field = is_proto_field(line);
        if !field && !is_proto_declaration(line) {
            continue;
        }
        let mut above = lines[..i].iter().rev();
        let nearest = if field {
            above.find(|l| !is_proto_field(l))
        } else {
            above.next()
        };
        if !nearest.is_some_and(|l| l.starts_with("//")) {
            found.push((i + 1, line.to_string()));
        }
    }
    found
}

/// Issue 15: a client developer reads the contract, so every message, enum, service, rpc and
/// field of `proto/withus/v1/` says what it is (enum values may stay bare).
#[test]
fn every_proto_field_message_enum_and_rpc_is_commented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("proto/withus/v1");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read proto/withus/v1")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "proto"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .proto files under {}", dir.display());
    let mut found = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(root)
            .expect("under the crate")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&f).expect("read proto");
        for (n, line) in uncommented_proto_declarations(&text) {
            found.push(format!("{rel}:{n}: {line}"));
        }
    }
    assert!(
        found.is_empty(),
        "proto declarations without a comment directly above:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_proto_comment_check_sees_the_usual_shapes() {
    // The scan must be able to fail: each shape it exists to catch, and what it lets pass.
    let text = "\
// A thing.
message Thing {
  // The thing's id and its size.
  string id = 1;
  uint64 size = 2;

  repeated google.protobuf.Timestamp at = 3;
  optional uint64 count = 4;
}
message Bare {}
enum Kind {
  KIND_UNSPECIFIED = 0;
}
service Things {
  rpc Get(Thing) returns (Thing);
  // Lists them.
  rpc List(Thing) returns (stream Thing);
}
";
    let lines: Vec<usize> = uncommented_proto_declarations(text)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(lines, vec![7, 8, 10, 11, 14, 15]);
}

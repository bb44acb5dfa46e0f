//! What a client can make the server hold, and what the server does when its own store fails,
//! end to end over loopback (issue 11); and the files that hold secrets: the salt file is
//! owner-only.

use std::os::unix::fs::PermissionsExt as _;

use withus::store::{LogStore, StoreConfig};

// ---------------------------------------------------------------------------------------------
// 4. Files.

/// The salt file is owner-only: created so even under a permissive umask, and an existing
/// looser one is made so on open.
#[test]
fn the_salt_file_is_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // umask is per process: create the store in a child that sets it to 000.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 000 && exec \"$0\" log checkpoint --data \"$1\"")
        .arg(env!("CARGO_BIN_EXE_withus"))
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let salts = data.join("salts");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&salts), 0o600, "created under umask 000");
    std::fs::set_permissions(&salts, std::fs::Permissions::from_mode(0o644)).unwrap();
    LogStore::open(StoreConfig::new(&data))
        .unwrap()
        .close()
        .unwrap();
    assert_eq!(
        mode(&salts),
        0o600,
        "an existing looser salt file is fixed on open"
    );
}

//! `withus backup`, `withus restore`, and `withus log export|verify --server`. Thin: the stream
//! is the gRPC client's, the file format and the restore `withus::backup`'s; this file reads
//! arguments and files, writes the backup file atomically, and prints.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter, Write as _};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use withus::backup::restore::{self, Keys, RestoreError};
use withus::backup::BackupError;
use withus::format::to_hex;
use withus::store::StoreConfig;

use super::{client_exit, runtime, EXIT_OK, EXIT_USAGE, EXIT_VERIFY_FAILED};

/// A passphrase file's text, less one trailing line break.
fn read_passphrase(path: &Path) -> anyhow::Result<String> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read --passphrase-file {}", path.display()))?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(text.strip_suffix('\r').unwrap_or(text).to_string())
}

fn fsync_parent(path: &Path) -> anyhow::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", parent.display()))
}

/// `withus backup`: the stream goes to `FILE.partial` (owner-only), which is fsynced and then
/// renamed to FILE; a failed or interrupted backup leaves no FILE.
pub fn backup(
    server: String,
    token: String,
    out: PathBuf,
    with_keys: bool,
    passphrase_file: Option<PathBuf>,
    force: bool,
) -> anyhow::Result<u8> {
    if out.exists() && !force {
        eprintln!(
            "withus: {} exists; choose another --out, or add --force to replace it",
            out.display()
        );
        return Ok(EXIT_USAGE);
    }
    let passphrase = match (with_keys, passphrase_file) {
        (true, Some(p)) => read_passphrase(&p)?,
        (true, None) => {
            eprintln!("withus: --with-keys needs --passphrase-file FILE to seal the keys to");
            return Ok(EXIT_USAGE);
        }
        (false, Some(_)) => {
            eprintln!("withus: --passphrase-file is only for --with-keys");
            return Ok(EXIT_USAGE);
        }
        (false, None) => String::new(),
    };
    let mut tmp_name = out.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".partial");
    let tmp = out.with_file_name(tmp_name);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| {
            format!(
                "cannot create {} (if an earlier backup left it, remove it)",
                tmp.display()
            )
        })?;
    let result = runtime()?.block_on(async {
        let c = withus::grpc::client::Client::connect(&server, &token).await?;
        let mut w = BufWriter::with_capacity(1 << 20, &file);
        let got = c.backup(with_keys, &passphrase, &mut w).await?;
        w.flush()
            .map_err(|e| withus::grpc::client::ClientError::Bad(format!("writing: {e}")))?;
        Ok::<_, withus::grpc::client::ClientError>(got)
    });
    let (size, bytes) = match result {
        Ok(got) => got,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return client_exit(e);
        }
    };
    file.sync_all()
        .with_context(|| format!("cannot sync {}", tmp.display()))?;
    drop(file);
    fs::rename(&tmp, &out).with_context(|| format!("cannot rename to {}", out.display()))?;
    fsync_parent(&out)?;
    println!(
        "backup of {size} entries{} written to {} ({bytes} bytes); keep it as safe as the data \
         directory: it holds everyone's content",
        if with_keys {
            ", with the signing key sealed to the passphrase,"
        } else {
            " (without key material: keep a copy of checkpoint.key too)"
        },
        out.display()
    );
    Ok(EXIT_OK)
}

/// `withus restore`.
pub fn restore(
    file: PathBuf,
    data: PathBuf,
    passphrase_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    erasures_from: Option<PathBuf>,
) -> anyhow::Result<u8> {
    let keys = match (passphrase_file, key_file) {
        (Some(p), _) => Keys::Passphrase(read_passphrase(&p)?),
        (None, Some(k)) => Keys::KeyFile(k),
        (None, None) => Keys::None,
    };
    let backup = BufReader::with_capacity(
        1 << 20,
        File::open(&file).with_context(|| format!("cannot open {}", file.display()))?,
    );
    let mut export = match &erasures_from {
        Some(p) => Some(BufReader::with_capacity(
            1 << 20,
            File::open(p)
                .with_context(|| format!("cannot open --erasures-from {}", p.display()))?,
        )),
        None => None,
    };
    let result = restore::restore(
        backup,
        keys,
        export.as_mut().map(|e| e as &mut dyn std::io::BufRead),
        StoreConfig::new(&data),
    );
    match result {
        Ok(r) => {
            println!(
                "restored {} entries of {} into {}: root {} (the backup checkpoint's), vkey {}",
                r.entries,
                r.origin,
                data.display(),
                to_hex(&r.root),
                r.vkey
            );
            println!(
                "content: {} segments restored; {} erasures re-applied ({} segments of the backup not written{})",
                r.contents,
                r.erasures,
                r.erased_skipped,
                match r.export_entries {
                    Some(n) => format!(", from its log and the later export of {n} entries"),
                    None => ", from its log".into(),
                }
            );
            println!(
                "ok: verified {} entries; {} content segments",
                r.verify.entries, r.verify.contents
            );
            if r.export_entries.is_none() {
                println!(
                    "note: erasures recorded after the backup was taken ({}) are not applied; \
                     unless this backup is newer than every erasure, restore again with \
                     --erasures-from a later `withus log export` of the live log (README: \
                     \"Restoring after an erasure\")",
                    r.taken_at
                );
            }
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("withus: restore {}: {e}", file.display());
            Ok(match e {
                RestoreError::Keys(_)
                | RestoreError::Store(withus::store::StoreError::Invalid { .. }) => EXIT_USAGE,
                RestoreError::Backup(BackupError::Io(_)) | RestoreError::Store(_) => {
                    super::EXIT_ERROR
                }
                RestoreError::Backup(_) | RestoreError::Export(_) | RestoreError::Check(_) => {
                    EXIT_VERIFY_FAILED
                }
            })
        }
    }
}

/// Where `withus log export` writes (`--data` or `--server`): the `--out` file, owner-only (an
/// export lists every person's event metadata), or standard output.
pub fn export_output(out: Option<&Path>) -> anyhow::Result<Box<dyn std::io::Write>> {
    Ok(match out {
        Some(p) => Box::new(
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(p)
                .with_context(|| format!("cannot create {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    })
}

/// `withus log export --server`: the same bytes as `log export --data` of the same store.
pub fn export(server: String, token: String, out: Option<PathBuf>) -> anyhow::Result<u8> {
    let mut w = export_output(out.as_deref())?;
    let mut w = BufWriter::with_capacity(1 << 20, &mut w);
    let result = runtime()?.block_on(async {
        let c = withus::grpc::client::Client::connect(&server, &token).await?;
        c.export_log(&mut |_, e| {
            w.write_all(e)
                .and_then(|_| w.write_all(b"\n"))
                .map_err(|e| withus::grpc::client::ClientError::Bad(format!("writing: {e}")))
        })
        .await
    });
    match result {
        Ok((n, _)) => {
            w.flush()?;
            if out.is_some() {
                eprintln!("exported {n} entries");
            }
            Ok(EXIT_OK)
        }
        Err(e) => client_exit(e),
    }
}

/// `withus log verify --server --vkey`.
pub fn verify(server: String, token: String, vkey: String) -> anyhow::Result<u8> {
    let result = runtime()?.block_on(async {
        let c = withus::grpc::client::Client::connect(&server, &token).await?;
        c.verify_log(&vkey).await
    });
    match result {
        Ok(check) => match check.failure {
            None => {
                println!(
                    "ok: verified {} entries against the server's checkpoint (signed by the vkey given); root {}",
                    check.entries,
                    to_hex(&check.root)
                );
                Ok(EXIT_OK)
            }
            Some(f) => {
                println!("FAILED: {f}");
                Ok(EXIT_VERIFY_FAILED)
            }
        },
        Err(e) => client_exit(e),
    }
}

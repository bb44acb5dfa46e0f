//! `withus sar …`: a person's subject access bundle — fetched from a server, checked offline,
//! turned into a page they can read. Thin: every check is `withus::sar::verify`'s, every fetch
//! the gRPC client's; this file reads arguments and files and prints.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use withus::sar::bundle::{Bundle, FulfilmentFile};
use withus::sar::verify;

use super::{client_exit, runtime, EXIT_OK, EXIT_VERIFY_FAILED};

#[derive(Subcommand)]
pub enum SarCommand {
    /// Fetch a bundle from a running server: a fulfilled request's (--sar-id; the person only)
    /// or the caller's own record now (--mine; service users). For a request it also writes the
    /// `sar.fulfilled` entry with its proof beside the bundle, as FILE.fulfilment.json.
    Fetch {
        /// The server's URL.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        server: String,
        /// The person's bearer token.
        #[arg(long)]
        token: String,
        /// The subject access request whose bundle to fetch.
        #[arg(long, conflicts_with = "mine", required_unless_present = "mine")]
        sar_id: Option<String>,
        /// Fetch a bundle of the caller's own record now instead ("check my record").
        #[arg(long)]
        mine: bool,
        /// Where to write the bundle (conventionally NAME.withus-sar.json).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a bundle offline, with no server (sar-bundle.md §7.1–§7.8): exit 0 and say in plain
    /// words what it proved, or exit 1 naming the check and the entry (seq) that failed.
    Verify {
        /// The bundle file.
        file: PathBuf,
        /// The log's verifier key, from a source you trust (the organisation publishes it; not
        /// from the bundle).
        #[arg(long)]
        vkey: String,
        /// Also check the request's `sar.fulfilled` entry (the FILE.fulfilment.json `fetch`
        /// writes): it is in the log and recorded this bundle's hash. Defaults to that file when
        /// it exists beside the bundle.
        #[arg(long)]
        fulfilment: Option<PathBuf>,
    },
    /// Write the page a person reads: their record in plain words and a "check it yourself"
    /// section that verifies the bundle in the browser, offline. One self-contained HTML file.
    Html {
        /// The bundle file.
        file: PathBuf,
        /// The verifier key the page checks with, and whose fingerprint it shows.
        #[arg(long)]
        vkey: String,
        /// Where to write the page.
        #[arg(long)]
        out: PathBuf,
    },
    /// For an auditor holding the log's export (`withus log export`): check that the bundle's
    /// signed subject head is true (§7.9). Exit 0 if it is, 1 if the log signed a false one.
    CheckHead {
        /// The bundle file.
        file: PathBuf,
        /// The log's verifier key.
        #[arg(long)]
        vkey: String,
        /// The log's export (JSON Lines, line i = entry i).
        #[arg(long)]
        export: PathBuf,
    },
}

pub fn run(command: SarCommand) -> anyhow::Result<u8> {
    match command {
        SarCommand::Fetch {
            server,
            token,
            sar_id,
            mine: _,
            out,
        } => fetch(&server, &token, sar_id.as_deref(), &out),
        SarCommand::Verify {
            file,
            vkey,
            fulfilment,
        } => verify_file(&file, &vkey, fulfilment),
        SarCommand::Html { file, vkey, out } => html(&file, &vkey, &out),
        SarCommand::CheckHead { file, vkey, export } => check_head(&file, &vkey, &export),
    }
}

fn fetch(server: &str, token: &str, sar_id: Option<&str>, out: &Path) -> anyhow::Result<u8> {
    runtime()?.block_on(async move {
        let client = match withus::grpc::client::Client::connect(server, token).await {
            Ok(c) => c,
            Err(e) => return client_exit(e),
        };
        let (bytes, recorded) = match client.bundle(sar_id).await {
            Ok(b) => b,
            Err(e) => return client_exit(e),
        };
        std::fs::write(out, &bytes).with_context(|| format!("cannot write {}", out.display()))?;
        println!("wrote {} ({} bytes)", out.display(), bytes.len());
        if let Some(id) = sar_id {
            println!("bundle hash recorded when {id} was fulfilled: {recorded}");
            let file = match client.fulfilment(id).await {
                Ok(f) => f,
                Err(e) => return client_exit(e),
            };
            let path = fulfilment_path(out);
            std::fs::write(&path, file.to_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!(
                "wrote {} (the sar.fulfilled entry, seq {}, with its proof)",
                path.display(),
                file.seq
            );
        }
        println!(
            "check it with: withus sar verify {} --vkey <the published key>",
            out.display()
        );
        Ok(EXIT_OK)
    })
}

/// Where `fetch` puts a bundle's fulfilment file.
fn fulfilment_path(bundle: &Path) -> PathBuf {
    let mut name = bundle.as_os_str().to_owned();
    name.push(".fulfilment.json");
    PathBuf::from(name)
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn verify_file(file: &Path, vkey: &str, fulfilment: Option<PathBuf>) -> anyhow::Result<u8> {
    let bytes = read(file)?;
    let bundle = match Bundle::parse(&bytes) {
        Ok(b) => b,
        Err(e) => return Ok(not_verified(&verify::Failure::shape(e))),
    };
    let proven = match verify::verify_bundle(&bundle, vkey) {
        Ok(p) => p,
        Err(f) => return Ok(not_verified(&f)),
    };
    let fulfilment = fulfilment.or_else(|| Some(fulfilment_path(file)).filter(|p| p.exists()));
    if let Some(path) = &fulfilment {
        let file = match FulfilmentFile::parse(&read(path)?) {
            Ok(f) => f,
            Err(e) => return Ok(not_verified(&verify::Failure::fulfilment(e))),
        };
        if let Err(f) = verify::check_fulfilment(&bundle, &proven, &file, vkey) {
            return Ok(not_verified(&f));
        }
    }
    println!("{}", proven.describe());
    if let Ok(fingerprint) = withus::sar::page::key_fingerprint(vkey) {
        println!(
            "- Checked with the key whose fingerprint is {fingerprint}: compare it with the one \
             the organisation publishes."
        );
    }
    if let Some(path) = fulfilment {
        println!(
            "- The log recorded this bundle's hash when it answered {} ({}, proven in its \
             signed log).",
            bundle.sar_id.as_deref().unwrap_or("the request"),
            path.display()
        );
    }
    Ok(EXIT_OK)
}

fn not_verified(failure: &verify::Failure) -> u8 {
    println!("Not verified: {failure}");
    EXIT_VERIFY_FAILED
}

fn html(file: &Path, vkey: &str, out: &Path) -> anyhow::Result<u8> {
    let bytes = read(file)?;
    let text = String::from_utf8(bytes).context("the bundle is not UTF-8")?;
    let bundle = Bundle::parse(text.as_bytes()).map_err(anyhow::Error::msg)?;
    let page = withus::sar::html::page(&bundle, &text, vkey);
    std::fs::write(out, page).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "wrote {}: open it in a browser; its \"Check my record\" works offline",
        out.display()
    );
    Ok(EXIT_OK)
}

fn check_head(file: &Path, vkey: &str, export: &Path) -> anyhow::Result<u8> {
    let bundle = Bundle::parse(&read(file)?).map_err(anyhow::Error::msg)?;
    match verify::check_head_against_export(&bundle, vkey, &read(export)?) {
        Ok(()) => {
            println!(
                "The subject head is true: the log's first {} entries hold exactly the entries \
                 about {} that the signed head counts, ending where it says.",
                bundle.tree_size, bundle.subject
            );
            Ok(EXIT_OK)
        }
        Err(f) => Ok(not_verified(&f)),
    }
}

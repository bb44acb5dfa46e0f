//! The salt slot file: fixed-size slots that hold each content segment's salt outside sled, so
//! that erasure can overwrite a salt in place and make its sealed text unrecoverable.
//!
//! Owns: the file `salts` in the data directory and its slot format.
//! Must not touch: sled, or which slot belongs to which record (the store decides that).
//!
//! Slot format (80 bytes): used(1) ‖ zero(7) ‖ commit(32) ‖ salt(32) ‖ check(8), where check is
//! the first 8 bytes of BLAKE3 over the first 72. An erased or never-written slot is all zeros.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::format::Hash;

pub const SLOT_LEN: u64 = 80;

/// One slot's content as read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Free,
    Used {
        commit: Hash,
        salt: [u8; 32],
    },
    /// Neither all zeros nor a slot with a valid check: torn write or tampering.
    Damaged,
}

pub struct SlotFile {
    /// Positional reads and writes (`pread`/`pwrite`) need no lock: slots never overlap.
    file: File,
}

impl SlotFile {
    /// Opens the slot file; with `create` (read-write), creates it if missing and makes it
    /// owner-only (0600) whatever it was: a salt lets anyone with the sealed text read it.
    pub fn open(path: &Path, create: bool) -> io::Result<SlotFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(create)
            .create(create)
            .mode(0o600)
            .open(path)?;
        if create && file.metadata()?.permissions().mode() & 0o777 != 0o600 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(SlotFile { file })
    }

    /// How many slots the file holds (a torn trailing partial slot is not counted).
    pub fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len() / SLOT_LEN)
    }

    pub fn encode(commit: &Hash, salt: &[u8; 32]) -> [u8; SLOT_LEN as usize] {
        let mut b = [0u8; SLOT_LEN as usize];
        b[0] = 1;
        b[8..40].copy_from_slice(commit);
        b[40..72].copy_from_slice(salt);
        let check = blake3::hash(&b[..72]);
        b[72..].copy_from_slice(&check.as_bytes()[..8]);
        b
    }

    pub fn decode(b: &[u8]) -> Slot {
        if b.iter().all(|&x| x == 0) {
            return Slot::Free;
        }
        if b.len() != SLOT_LEN as usize
            || b[0] != 1
            || blake3::hash(&b[..72]).as_bytes()[..8] != b[72..]
        {
            return Slot::Damaged;
        }
        let mut commit = [0u8; 32];
        let mut salt = [0u8; 32];
        commit.copy_from_slice(&b[8..40]);
        salt.copy_from_slice(&b[40..72]);
        Slot::Used { commit, salt }
    }

    pub fn read(&self, index: u64) -> io::Result<Slot> {
        let mut b = [0u8; SLOT_LEN as usize];
        match self.file.read_exact_at(&mut b, offset(index)?) {
            Ok(()) => Ok(Self::decode(&b)),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(Slot::Free),
            Err(e) => Err(e),
        }
    }

    /// Reads every slot (for reconciliation on open and for verification).
    pub fn read_all(&self) -> io::Result<Vec<Slot>> {
        let n = self.len()?;
        let mut buf = vec![0u8; usize::try_from(n * SLOT_LEN).map_err(io::Error::other)?];
        self.file.read_exact_at(&mut buf, 0)?;
        Ok(buf
            .chunks_exact(SLOT_LEN as usize)
            .map(Self::decode)
            .collect())
    }

    pub fn write(&self, index: u64, commit: &Hash, salt: &[u8; 32]) -> io::Result<()> {
        self.file
            .write_all_at(&Self::encode(commit, salt), offset(index)?)
    }

    /// Overwrites a slot with zeros, in place.
    pub fn wipe(&self, index: u64) -> io::Result<()> {
        self.file
            .write_all_at(&[0u8; SLOT_LEN as usize], offset(index)?)
    }

    /// `fdatasync`: the writes above reach the device before anything that depends on them.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

fn offset(index: u64) -> io::Result<u64> {
    index
        .checked_mul(SLOT_LEN)
        .ok_or_else(|| io::Error::other("slot index overflows the file offset"))
}

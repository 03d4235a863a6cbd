//! The edge node's disk spool: every violation message is written here (synced) before it is
//! published, and removed when the broker has acknowledged it. What the broker has not acknowledged
//! survives a broker outage and a restart of the node, and is sent in order when the broker is back.
//!
//! One file per message, `<sequence>.json`, written to a temporary name and renamed: a crash leaves
//! either the whole message or none. (A queue crate would hide the same three calls behind more
//! machinery; a directory is also what an operator can inspect and empty by hand.)

use std::{
    collections::BTreeMap,
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use crate::{Error, Result};

/// Messages waiting for the broker's acknowledgement, oldest first.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    /// Sequence number → size in bytes.
    waiting: BTreeMap<u64, u64>,
    next: u64,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, with what a previous run left there.
    pub fn open(dir: &Path) -> Result<Self> {
        let io = |source| Error::Io { path: dir.into(), source };
        fs::create_dir_all(dir).map_err(io)?;
        // The messages hold camera frames: only this service's user may read them.
        fs::set_permissions(dir, <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o700))
            .map_err(io)?;
        let mut waiting = BTreeMap::new();
        for entry in fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(sequence) = name.strip_suffix(".json").and_then(|s| s.parse::<u64>().ok()) {
                waiting.insert(sequence, entry.metadata().map_err(io)?.len());
            } else if name.ends_with(".tmp") {
                // A write cut short by a crash: its violation was never acknowledged upstream.
                let _ = fs::remove_file(entry.path());
            }
        }
        let next = waiting.keys().next_back().map_or(0, |last| last + 1);
        Ok(Self { dir: dir.to_path_buf(), waiting, next })
    }

    /// Stores `message` durably and returns its sequence number.
    pub fn push(&mut self, message: &[u8]) -> Result<u64> {
        let sequence = self.next;
        let path = self.path(sequence);
        let temporary = path.with_extension("tmp");
        let io = |source| Error::Io { path: temporary.clone(), source };
        let mut file = fs::File::create(&temporary).map_err(io)?;
        file.write_all(message).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&temporary, &path).map_err(|source| Error::Io { path: path.clone(), source })?;
        self.next += 1;
        self.waiting.insert(sequence, message.len() as u64);
        Ok(sequence)
    }

    /// The oldest waiting message.
    pub fn oldest(&self) -> Result<Option<(u64, Vec<u8>)>> {
        let Some(&sequence) = self.waiting.keys().next() else {
            return Ok(None);
        };
        let path = self.path(sequence);
        let bytes = fs::read(&path).map_err(|source| Error::Io { path, source })?;
        Ok(Some((sequence, bytes)))
    }

    /// Forgets message `sequence` (acknowledged by the broker).
    pub fn remove(&mut self, sequence: u64) -> Result<()> {
        if self.waiting.remove(&sequence).is_some() {
            let path = self.path(sequence);
            fs::remove_file(&path).map_err(|source| Error::Io { path, source })?;
        }
        Ok(())
    }

    /// How many messages wait, and their bytes.
    pub fn backlog(&self) -> (usize, u64) {
        (self.waiting.len(), self.waiting.values().sum())
    }

    fn path(&self, sequence: u64) -> PathBuf {
        self.dir.join(format!("{sequence:020}.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_wait_in_order_across_a_reopen_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        assert!(spool.oldest().unwrap().is_none());
        let first = spool.push(b"one").unwrap();
        let second = spool.push(b"two").unwrap();
        assert_eq!(spool.backlog(), (2, 6));
        // A crash mid-write leaves a temporary file, which the next start discards.
        fs::write(dir.path().join("00000000000000000009.tmp"), b"partial").unwrap();
        drop(spool);

        let mut spool = Spool::open(dir.path()).unwrap();
        assert_eq!(spool.oldest().unwrap(), Some((first, b"one".to_vec())));
        spool.remove(first).unwrap();
        assert_eq!(spool.oldest().unwrap(), Some((second, b"two".to_vec())));
        let third = spool.push(b"three").unwrap();
        assert!(third > second, "numbers keep growing after a reopen");
        spool.remove(second).unwrap();
        spool.remove(second).unwrap();
        assert_eq!(spool.backlog(), (1, 5));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777, 0o700, "frames are private");
    }
}

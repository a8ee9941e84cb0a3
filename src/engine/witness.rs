//! What a run saw of the file system, so that a later run can tell, by looking again, that
//! nothing it depended on changed.
//!
//! A warm `check` of an unchanged tree replays the report the last run stored (see
//! `Engine::check`), after one `stat` of every path that run looked at: each folder it walked
//! (an entry added, removed or renamed changes the folder's modification time), each file it
//! read or listed (an edit changes its size or time), and each file whose presence or absence
//! decided something (a configuration, a project marker, an `__init__.py`, an ignore file).
//!
//! The probes below are what the engine calls instead of `Path::is_file` and friends. They
//! cost what those cost; while a run is recorded ([`Recording`]) they also note what they saw.
//! A run's record is kept only when every path seen was last changed more than a second before
//! it started (a change within the clock's resolution could keep a time). A change after a
//! probe needs no check at the run's end: the path is then no longer as it was seen, and the
//! next run, looking again, does not replay.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// A path as seen: absent, or a file or folder as its size and modification time tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seen {
    Absent,
    File { len: u64, modified_ns: u128 },
    Folder { modified_ns: u128 },
}

impl Seen {
    fn of(meta: Option<&std::fs::Metadata>) -> Seen {
        match meta {
            None => Seen::Absent,
            Some(meta) => {
                let modified_ns = super::cache::modified_ns(meta).unwrap_or(0);
                if meta.is_dir() {
                    Seen::Folder { modified_ns }
                } else {
                    Seen::File {
                        len: meta.len(),
                        modified_ns,
                    }
                }
            }
        }
    }

    /// The path as it is now.
    pub fn now(path: &Path) -> Seen {
        Seen::of(std::fs::metadata(path).ok().as_ref())
    }

    fn modified_ns(self) -> Option<u128> {
        match self {
            Seen::Absent => None,
            Seen::File { modified_ns, .. } | Seen::Folder { modified_ns } => Some(modified_ns),
        }
    }
}

/// Whether a run is being recorded (one at a time: a second one asking is not recorded).
static RECORDING: AtomicBool = AtomicBool::new(false);
/// What the recorded run saw, in the order seen (a path may be seen more than once: the first
/// sight counts). A list: the walk's workers note thousands of paths, and a push is the least
/// they can hold the lock for.
static SIGHTS: Mutex<Option<Vec<(PathBuf, Seen)>>> = Mutex::new(None);

/// A run being recorded; dropped without [`Recording::finish`], it records nothing.
pub struct Recording {
    started: std::time::SystemTime,
}

impl Recording {
    /// Starts recording, unless another run is (an editor's runs overlapping a scan).
    pub fn start() -> Option<Recording> {
        if RECORDING.swap(true, Ordering::AcqRel) {
            return None;
        }
        *SIGHTS.lock().unwrap() = Some(Vec::new());
        Some(Recording {
            started: std::time::SystemTime::now(),
        })
    }

    /// What the run saw, when all of it had settled before the run started; `None` otherwise
    /// (the run is then not to be replayed).
    pub fn finish(self) -> Option<Vec<(PathBuf, Seen)>> {
        let mut sights = SIGHTS.lock().unwrap().take().unwrap_or_default();
        RECORDING.store(false, Ordering::Release);
        let settled_before = self
            .started
            .checked_sub(std::time::Duration::from_secs(1))?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos();
        let unsettled = sights.iter().find(|(_, seen)| {
            seen.modified_ns()
                .is_some_and(|modified| modified > settled_before)
        });
        if let Some((path, _)) = unsettled {
            // A development aid, as the cache's other `UNBLOCK_CACHE_DEBUG` lines.
            if std::env::var_os("UNBLOCK_CACHE_DEBUG").is_some() {
                eprintln!(
                    "cache: the run's report is not kept: {} changed within a second of it",
                    path.display()
                );
            }
            return None;
        }
        // By bytes (a path's own order compares component by component: tens of thousands of
        // paths made that a tenth of the run); stable, so that of one path's sights the first
        // stays.
        let bytes = |path: &Path| path.as_os_str().as_encoded_bytes().to_vec();
        sights.sort_by_cached_key(|(path, _)| bytes(path));
        sights.dedup_by(|later, first| later.0 == first.0);
        // An absent path in a folder that is seen too is told by the folder's time (creating
        // a file there changes it): one `stat` fewer for each replay.
        let folders: std::collections::HashSet<Vec<u8>> = sights
            .iter()
            .filter(|(_, seen)| matches!(seen, Seen::Folder { .. }))
            .map(|(path, _)| bytes(path))
            .collect();
        sights.retain(|(path, seen)| {
            *seen != Seen::Absent || !path.parent().is_some_and(|p| folders.contains(&bytes(p)))
        });
        // The most recently changed first: what changed last is what changes next (the file
        // being edited), and a replay that does not hold stops at the first path that differs.
        sights.sort_by_key(|(_, seen)| std::cmp::Reverse(seen.modified_ns()));
        Some(sights)
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if SIGHTS.lock().unwrap().take().is_some() {
            RECORDING.store(false, Ordering::Release);
        }
    }
}

/// A path that is not as it was seen, if any: the first one found (sights are stored newest
/// first, so usually the file just edited). The stats are spread over the cores (a large tree
/// has tens of thousands), each worker taking every n-th path from the front, and all stop at
/// the first that differs.
pub fn first_difference(sights: &[(PathBuf, Seen)]) -> Option<&Path> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    if sights.len() < 512 || workers < 2 {
        return sights
            .iter()
            .find(|(path, seen)| Seen::now(path) != *seen)
            .map(|(path, _)| path.as_path());
    }
    let differs = AtomicBool::new(false);
    let found: Mutex<Option<&Path>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for worker in 0..workers {
            let (differs, found) = (&differs, &found);
            scope.spawn(move || {
                for (path, seen) in sights.iter().skip(worker).step_by(workers) {
                    if differs.load(Ordering::Relaxed) {
                        return;
                    }
                    if Seen::now(path) != *seen {
                        differs.store(true, Ordering::Relaxed);
                        found.lock().unwrap().get_or_insert(path.as_path());
                        return;
                    }
                }
            });
        }
    });
    found.into_inner().unwrap()
}

/// Whether a run is being recorded (probes beyond what the run needs are then worth taking).
pub fn recording() -> bool {
    RECORDING.load(Ordering::Acquire)
}

/// Notes what `path` looked like to the run being recorded, if any.
pub fn saw(path: &Path, meta: Option<&std::fs::Metadata>) {
    if !RECORDING.load(Ordering::Acquire) {
        return;
    }
    let seen = Seen::of(meta);
    let path = path.to_path_buf();
    if let Some(sights) = SIGHTS.lock().unwrap().as_mut() {
        sights.push((path, seen));
    }
}

/// `std::fs::metadata`, seen.
pub fn metadata(path: &Path) -> Option<std::fs::Metadata> {
    let meta = std::fs::metadata(path).ok();
    saw(path, meta.as_ref());
    meta
}

/// `Path::is_file`, seen.
pub fn is_file(path: &Path) -> bool {
    metadata(path).is_some_and(|m| m.is_file())
}

/// `Path::is_dir`, seen.
pub fn is_dir(path: &Path) -> bool {
    metadata(path).is_some_and(|m| m.is_dir())
}

/// `Path::exists`, seen.
pub fn exists(path: &Path) -> bool {
    metadata(path).is_some()
}

/// `std::fs::read`, seen (its size and time taken before the read: an edit during it leaves
/// the file unlike its sight, and the next run does not replay).
pub fn read(path: &Path) -> Option<Vec<u8>> {
    // Only a recorded run pays for the `stat`: module reads are on the engine's hot path.
    if recording() {
        metadata(path)?;
    }
    std::fs::read(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test for the recorder: it is global, and tests run in parallel.
    #[test]
    fn a_record_holds_until_something_seen_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.py");
        std::fs::write(&file, "x = 1\n").unwrap();
        let absent = dir.path().join("pyproject.toml");
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(5);
        let set_old = |p: &Path| {
            std::fs::File::options()
                .write(true)
                .open(p)
                .or_else(|_| std::fs::File::open(p))
                .unwrap()
                .set_modified(old)
                .unwrap()
        };
        set_old(&file);
        set_old(dir.path());

        let recording = Recording::start().expect("no other run recorded");
        assert!(Recording::start().is_none(), "one recorded run at a time");
        assert!(is_file(&file));
        assert!(!exists(&absent));
        assert!(is_dir(dir.path()));
        let sights = recording.finish().expect("settled, unchanged");
        // The absent configuration is told by its folder's time.
        assert_eq!(sights.len(), 2);
        assert_eq!(first_difference(&sights), None);

        // Creating the file changes the folder's time.
        std::fs::write(&absent, "[project]\n").unwrap();
        assert!(first_difference(&sights).is_some());
        std::fs::remove_file(&absent).unwrap();
        set_old(dir.path());
        assert_eq!(first_difference(&sights), None);
        // An edit changes the file's time: the file is the difference found.
        std::fs::write(&file, "x = 2\n").unwrap();
        assert!(first_difference(&sights).is_some());
        assert_eq!(first_difference(&sights), Some(file.as_path()));

        // A path changed within a second of the run is not trusted to show a later change.
        let recording = Recording::start().unwrap();
        assert!(is_file(&file));
        assert!(recording.finish().is_none());
    }
}

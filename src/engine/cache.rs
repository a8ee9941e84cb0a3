//! The summary cache: what a run derived from each file, kept on disk so that the next run
//! parses only what changed.
//!
//! Three kinds of entries, each the result of one stage for its inputs:
//! - **a checked file** (`Engine::check_file`): its direct findings, the call-graph
//!   candidates waiting on other files, its diagnostics and its definitions. Keyed by the
//!   file's content hash, how the run names it (path shown, module), and the settings that
//!   apply to it.
//! - **the call graph's answers** (`callgraph::analyse`): which candidate callees block and
//!   how, keyed by the project layout, each answer with the modules it was derived from, so
//!   that only the answers that read a changed module are asked again (`graph_cache`).
//! - **a whole run's report** (`check` alone): replayed while every path the run looked at is
//!   as it saw it (see [`super::witness`]), without reading any other entry.
//!
//! A result may depend on other files too: the project model reads other modules for what
//! their names hold (`db = firestore.Client()` elsewhere), the call graph reads every module
//! the candidates reach. Every such read is noted while a stage runs ([`traced`], [`note`]),
//! and stored with the entry as its dependencies: the content hash of each file read, the
//! layout of each project asked (module names to files), and, for the constructor arguments
//! found by reading a class's callers, a digest of the whole project. An entry is used only
//! when its own key matches and every dependency still holds, so a run with the cache finds
//! exactly what a run without it finds.
//!
//! Content hashes are xxh3 (a fast non-cryptographic hash: the cache guards against edits, not
//! against an attacker who can already write the project's files). A file's hash is taken
//! from its size and modification time when those match what an earlier run stamped, else by
//! reading it.
//!
//! On disk: one file per entry under `<cache dir>/v<FORMAT>/`, named by a hash of what it is
//! for, so a file's entry is replaced as it changes rather than piling up. Each file is an
//! xxh3 checksum followed by the entry in postcard (serde's compact binary format: small,
//! fast, stable for a given set of types; the format number changes with them). Entries are
//! written to a temporary file and renamed into place, so concurrent runs never see half an
//! entry; an entry that does not decode, fails its checksum or was written by another version
//! is ignored and rewritten.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use super::witness::Seen;
use super::{CheckedFile, Diagnostic, Report, Severity};
use crate::finding::{Arguments, ChainLink, Edit, Finding, FixInfo, PassedCallable, Position};

/// Changes whenever the entries' types or meaning change: older folders are left alone.
const FORMAT: u32 = 1;

/// The folder's name at a project root when no other is configured.
pub const DEFAULT_DIR: &str = ".unblock_cache";

/// The content hash of some bytes.
pub fn content_hash(bytes: &[u8]) -> u64 {
    xxh3_64(bytes)
}

/// A hash of several parts, each length-prefixed so that no two lists of parts collide by
/// concatenation.
pub fn fingerprint<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut hasher = Xxh3::new();
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.digest()
}

/// Something a result was derived from besides its own file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Dep {
    /// A file's content (`None`: it could not be read).
    File { path: PathBuf, hash: Option<u64> },
    /// A project's layout: its source roots and which file each module is.
    Layout { root: PathBuf, fingerprint: u64 },
    /// Every file of a project, by content (a class's callers were looked for in all of them).
    Project { root: PathBuf, digest: u64 },
    /// What a project module's names hold and its functions return (the project model's
    /// values), by digest: an edit of the module that changes none of them changes nothing
    /// that used them.
    Values { module: String, digest: u64 },
}

pub type Deps = BTreeSet<Dep>;

thread_local! {
    /// The dependencies being collected on this thread, innermost stage last.
    static TRACE: RefCell<Vec<Deps>> = const { RefCell::new(Vec::new()) };
}

/// Runs `stage`, collecting what it notes; what is collected also counts for any stage this
/// one runs inside.
pub fn traced<T>(stage: impl FnOnce() -> T) -> (T, Deps) {
    TRACE.with(|t| t.borrow_mut().push(Deps::new()));
    let out = stage();
    let deps = TRACE.with(|t| t.borrow_mut().pop()).unwrap_or_default();
    note_all(&deps);
    (out, deps)
}

/// Runs `f` without noting anything it reads for the stages around it (checking whether a
/// stored entry holds is not part of what a result depends on).
pub fn untraced<T>(f: impl FnOnce() -> T) -> T {
    TRACE.with(|t| t.borrow_mut().push(Deps::new()));
    let out = f();
    TRACE.with(|t| t.borrow_mut().pop());
    out
}

/// Runs `stage`, collecting what it notes, for the caller alone to decide what the stages
/// around it depend on (the result of the stage rather than what it read).
pub fn captured<T>(stage: impl FnOnce() -> T) -> (T, Deps) {
    TRACE.with(|t| t.borrow_mut().push(Deps::new()));
    let out = stage();
    let deps = TRACE.with(|t| t.borrow_mut().pop()).unwrap_or_default();
    (out, deps)
}

/// Notes one dependency for the stages running on this thread (none: nothing to do).
pub fn note(dep: Dep) {
    TRACE.with(|t| {
        if let Some(top) = t.borrow_mut().last_mut() {
            top.insert(dep);
        }
    });
}

/// Notes dependencies collected earlier (a remembered answer reused).
pub fn note_all(deps: &Deps) {
    if deps.is_empty() {
        return;
    }
    TRACE.with(|t| {
        if let Some(top) = t.borrow_mut().last_mut() {
            top.extend(deps.iter().cloned());
        }
    });
}

/// Notes that a file's bytes were read.
pub fn note_file(path: &Path, bytes: Option<&[u8]>) {
    if TRACE.with(|t| t.borrow().is_empty()) {
        return;
    }
    note(Dep::File {
        path: path.to_path_buf(),
        hash: bytes.map(content_hash),
    });
}

/// The current value of a dependency, asked of whoever knows layouts and project digests.
pub trait Witness: Sync {
    fn layout(&self, root: &Path) -> u64;
    fn project_digest(&self, root: &Path, cache: &Cache) -> u64;
    /// The digest of a module's values now (`None`: they cannot be told).
    fn values_digest(&self, module: &str) -> Option<u64>;
}

/// What a run knows about a file it stamped: size and modification time when hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    len: u64,
    modified_ns: u128,
    hash: u64,
}

/// A file the walk read and found holding no `async def`, as it was then: while its size and
/// modification time are the same, the walk need not read it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Quiet {
    len: u64,
    modified_ns: u128,
    /// Whether it changes `sys.path` (the walk reports those files).
    edits_sys_path: bool,
}

/// The cache of one run.
pub struct Cache {
    /// `<cache dir>/v<FORMAT>`.
    dir: PathBuf,
    /// The tool's identity (version and build), part of every key.
    tool: u64,
    /// Content hashes taken this run (every dependency is checked against one snapshot).
    hashes: Mutex<HashMap<PathBuf, Option<u64>>>,
    /// Stamps from earlier runs, and the ones taken this run.
    old_stamps: HashMap<PathBuf, Stamp>,
    new_stamps: Mutex<HashMap<PathBuf, Stamp>>,
    /// Files without a coroutine, from earlier runs (of this build) and this one.
    old_quiet: HashMap<PathBuf, Quiet>,
    new_quiet: Mutex<HashMap<PathBuf, Quiet>>,
    /// Project digests computed this run.
    digests: Mutex<HashMap<PathBuf, u64>>,
    /// Layouts and module values as witnessed this run (thousands of entries name the same
    /// few), by the dependency's subject.
    witnessed: Mutex<HashMap<(bool, String), Option<u64>>>,
    /// When the run started: a file modified within a second of it is not stamped (it may
    /// change again within the clock's resolution).
    started: std::time::SystemTime,
    pub stats: Stats,
}

/// What the cache did in a run (shown with `UNBLOCK_TIMINGS`, asserted by tests).
#[derive(Debug, Default)]
pub struct Stats {
    pub hits: AtomicUsize,
    pub misses: AtomicUsize,
    pub stale: AtomicUsize,
    pub written: AtomicUsize,
    pub graph_hit: AtomicUsize,
    pub listings_reused: AtomicUsize,
}

impl Stats {
    pub fn summary(&self) -> String {
        format!(
            "cache: {} files reused, {} checked ({} of them stale or unreadable entries), {} entries written, call graph {}, {} project listings reused",
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
            self.stale.load(Ordering::Relaxed),
            self.written.load(Ordering::Relaxed),
            if self.graph_hit.load(Ordering::Relaxed) > 0 {
                "reused"
            } else {
                "built"
            },
            self.listings_reused.load(Ordering::Relaxed)
        )
    }
}

/// The header every entry starts with: what it is for and what it was derived from.
#[derive(Serialize, Deserialize)]
struct Entry<T> {
    format: u32,
    tool: u64,
    /// The entry's own key (its file's content, how it was named, its settings).
    key: u64,
    deps: Vec<Dep>,
    payload: T,
}

impl Cache {
    /// Opens (creating it if needed) the cache folder `root`; `None` when it cannot be made
    /// (a read-only tree): the run goes on without a cache.
    pub fn open(root: &Path) -> Option<Cache> {
        let dir = root.join(format!("v{FORMAT}"));
        std::fs::create_dir_all(&dir).ok()?;
        // As `.ruff_cache` does: the folder says it is not to be committed.
        let ignore = root.join(".gitignore");
        if !ignore.exists() {
            let _ = std::fs::write(&ignore, b"# Automatically created by unblock.\n*\n");
        }
        let tag = root.join("CACHEDIR.TAG");
        if !tag.exists() {
            let _ = std::fs::write(
                &tag,
                b"Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by unblock.\n",
            );
        }
        let old_stamps = std::fs::read(dir.join("stamps"))
            .ok()
            .and_then(|bytes| decode::<HashMap<PathBuf, Stamp>>(&bytes))
            .unwrap_or_default();
        let tool = tool_identity();
        // What the walk's scan finds in a file is the build's business: another build's table
        // is not trusted.
        let old_quiet = std::fs::read(dir.join("quiet"))
            .ok()
            .and_then(|bytes| decode::<(u64, HashMap<PathBuf, Quiet>)>(&bytes))
            .filter(|(written_by, _)| *written_by == tool)
            .map(|(_, quiet)| quiet)
            .unwrap_or_default();
        Some(Cache {
            dir,
            tool,
            hashes: Mutex::default(),
            old_stamps,
            new_stamps: Mutex::default(),
            old_quiet,
            new_quiet: Mutex::default(),
            digests: Mutex::default(),
            witnessed: Mutex::default(),
            started: std::time::SystemTime::now(),
            stats: Stats::default(),
        })
    }

    /// The folder for `config_root` (where the configuration was found, else the project
    /// root): `UNBLOCK_CACHE_DIR`, else the configuration's `cache-dir` (relative to its
    /// folder), else `.unblock_cache` there.
    pub fn location(configured: Option<&Path>, config_root: &Path) -> PathBuf {
        if let Some(dir) = std::env::var_os("UNBLOCK_CACHE_DIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        match configured {
            Some(dir) => config_root.join(dir),
            None => config_root.join(DEFAULT_DIR),
        }
    }

    /// The content hash of a file now (`None`: unreadable), taken once per run.
    pub fn hash_of(&self, path: &Path) -> Option<u64> {
        if let Some(known) = self.hashes.lock().unwrap().get(path) {
            return *known;
        }
        let hash = self.stamped_hash(path);
        self.hashes.lock().unwrap().insert(path.to_path_buf(), hash);
        hash
    }

    /// Records the hash of bytes just read for `path` (the walk's), for this run's checks.
    pub fn saw(&self, path: &Path, hash: u64) {
        self.hashes
            .lock()
            .unwrap()
            .entry(path.to_path_buf())
            .or_insert(Some(hash));
    }

    fn stamped_hash(&self, path: &Path) -> Option<u64> {
        let meta = super::witness::metadata(path);
        let stamp_of = |meta: &std::fs::Metadata| {
            Some((meta.len(), modified_ns(meta)?, meta.modified().ok()?))
        };
        let now = meta.as_ref().and_then(stamp_of);
        if let (Some((len, ns, _)), Some(old)) = (now, self.old_stamps.get(path)) {
            if old.len == len && old.modified_ns == ns {
                return Some(old.hash);
            }
        }
        let bytes = std::fs::read(path).ok()?;
        let hash = content_hash(&bytes);
        if let Some((len, ns, modified)) = now {
            let settled = self
                .started
                .duration_since(modified)
                .is_ok_and(|age| age.as_secs() >= 1);
            if settled && len == bytes.len() as u64 {
                self.new_stamps.lock().unwrap().insert(
                    path.to_path_buf(),
                    Stamp {
                        len,
                        modified_ns: ns,
                        hash,
                    },
                );
            }
        }
        Some(hash)
    }

    /// A project's digest (every file's path and content), computed once per run.
    pub fn project_digest(&self, root: &Path, files: impl FnOnce() -> Vec<PathBuf>) -> u64 {
        if let Some(known) = self.digests.lock().unwrap().get(root) {
            return *known;
        }
        let files = files();
        let mut sorted: Vec<&PathBuf> = files.iter().collect();
        sorted.sort();
        let mut hasher = Xxh3::new();
        for file in sorted {
            hasher.update(file.as_os_str().as_encoded_bytes());
            hasher.update(&self.hash_of(file).unwrap_or(0).to_le_bytes());
        }
        let digest = hasher.digest();
        self.digests
            .lock()
            .unwrap()
            .insert(root.to_path_buf(), digest);
        digest
    }

    /// Whether a dependency of an entry no longer holds (counted; with `UNBLOCK_CACHE_DEBUG`,
    /// a development aid, said with the one that broke).
    fn is_stale(&self, deps: &[Dep], witness: &dyn Witness, kind: &str, name: u64) -> bool {
        let Some(dep) = self.broken(deps, witness) else {
            return false;
        };
        self.stats.stale.fetch_add(1, Ordering::Relaxed);
        if std::env::var_os("UNBLOCK_CACHE_DEBUG").is_some() {
            eprintln!("cache: {kind} entry {name:016x} is stale: {dep:?} changed");
        }
        true
    }

    /// The first dependency that no longer holds, if any.
    fn broken<'d>(&self, deps: &'d [Dep], witness: &dyn Witness) -> Option<&'d Dep> {
        deps.iter().find(|dep| match dep {
            Dep::File { path, hash } => self.hash_of(path) != *hash,
            Dep::Layout { root, fingerprint } => {
                let key = (false, root.to_string_lossy().into_owned());
                self.witness(key, || Some(witness.layout(root))) != Some(*fingerprint)
            }
            Dep::Project { root, digest } => witness.project_digest(root, self) != *digest,
            Dep::Values { module, digest } => {
                self.witness((true, module.clone()), || witness.values_digest(module))
                    != Some(*digest)
            }
        })
    }

    /// A layout or values digest, asked of the witness once per run.
    fn witness(&self, key: (bool, String), ask: impl FnOnce() -> Option<u64>) -> Option<u64> {
        if let Some(known) = self.witnessed.lock().unwrap().get(&key) {
            return *known;
        }
        let answer = ask();
        self.witnessed.lock().unwrap().insert(key, answer);
        answer
    }

    fn entry_path(&self, kind: &str, name: u64) -> PathBuf {
        self.dir.join(kind).join(format!("{name:016x}"))
    }

    /// The payload stored for `(kind, name)` when it was made with `key` and its dependencies
    /// still hold, with those dependencies (a result made from it depends on them too).
    pub(crate) fn load_entry<T: DeserializeOwned>(
        &self,
        kind: &str,
        name: u64,
        key: u64,
        witness: &dyn Witness,
    ) -> Option<(T, Deps)> {
        let bytes = std::fs::read(self.entry_path(kind, name)).ok()?;
        let entry: Entry<T> = decode(&bytes)?;
        if entry.format != FORMAT || entry.tool != self.tool || entry.key != key {
            return None;
        }
        if self.is_stale(&entry.deps, witness, kind, name) {
            return None;
        }
        Some((entry.payload, entry.deps.into_iter().collect()))
    }

    pub(crate) fn store_entry<T: Serialize>(
        &self,
        kind: &str,
        name: u64,
        key: u64,
        deps: Deps,
        payload: &T,
    ) {
        self.store(kind, name, key, deps, payload);
    }

    fn store<T: Serialize>(&self, kind: &str, name: u64, key: u64, deps: Deps, payload: &T) {
        let entry = Entry {
            format: FORMAT,
            tool: self.tool,
            key,
            deps: deps.into_iter().collect(),
            payload,
        };
        let path = self.entry_path(kind, name);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if write_atomically(&path, &encode(&entry)).is_ok() {
            self.stats.written.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A checked file's result, if an earlier run stored it for the same inputs.
    pub fn load_checked(
        &self,
        file: &Path,
        key: u64,
        witness: &dyn Witness,
    ) -> Option<CheckedFile> {
        self.look_up_checked(file, key, witness).0
    }

    /// [`Cache::load_checked`], and, when an earlier run of this build stored an entry for
    /// the file, whether it held settled findings, not only candidates (when the result cannot
    /// be reused: the file changed, or what it depends on; a file that had findings likely has
    /// some again, and can be judged by CPython while it is checked again).
    pub fn look_up_checked(
        &self,
        file: &Path,
        key: u64,
        witness: &dyn Witness,
    ) -> (Option<CheckedFile>, Option<bool>) {
        let name = fingerprint([b"check".as_slice(), file.as_os_str().as_encoded_bytes()]);
        let entry = std::fs::read(self.entry_path("check", name))
            .ok()
            .and_then(|bytes| decode::<Entry<CachedCheck>>(&bytes))
            .filter(|e| e.format == FORMAT && e.tool == self.tool);
        let mut had_findings = None;
        let cached = entry.and_then(|entry| {
            had_findings = Some(entry.payload.findings.iter().any(CachedFinding::is_settled));
            if entry.key != key {
                return None;
            }
            if self.is_stale(&entry.deps, witness, "check", name) {
                return None;
            }
            Some(entry.payload)
        });
        if cached.is_none() && std::env::var_os("UNBLOCK_CACHE_DEBUG").is_some() {
            eprintln!("cache: no entry for {}", file.display());
        }
        let checked = cached.and_then(CachedCheck::restore);
        match &checked {
            Some(_) => self.stats.hits.fetch_add(1, Ordering::Relaxed),
            None => self.stats.misses.fetch_add(1, Ordering::Relaxed),
        };
        (checked, had_findings)
    }

    pub fn store_checked(&self, file: &Path, key: u64, deps: Deps, checked: &CheckedFile) {
        let name = fingerprint([b"check".as_slice(), file.as_os_str().as_encoded_bytes()]);
        self.store("check", name, key, deps, &CachedCheck::from(checked));
    }

    /// The call graph's answers an earlier run stored under `name` (the run's projects and
    /// settings) for `key` (the layout), when what no single module accounts for still
    /// holds; each answer is then reused or asked again by its own modules
    /// (`Engine::analyse_cached`).
    pub fn load_answers(
        &self,
        name: u64,
        key: u64,
        witness: &dyn Witness,
    ) -> Option<RememberedAnswers> {
        let (cached, global): (CachedAnswers, Deps) =
            self.load_entry("graph", name, key, witness)?;
        Some(RememberedAnswers {
            analysis: cached.analysis.restore()?,
            sources: super::callgraph::AnswerSources {
                modules: cached
                    .modules
                    .into_iter()
                    .map(|(module, deps)| (module, deps.into_iter().collect()))
                    .collect(),
                sets: cached.sets,
                of_candidate: cached.asked.into_iter().collect(),
            },
            global,
        })
    }

    pub fn store_answers(&self, name: u64, key: u64, answers: &RememberedAnswers) {
        let mut asked: Vec<(String, u32)> = answers
            .sources
            .of_candidate
            .iter()
            .map(|(name, set)| (name.clone(), *set))
            .collect();
        asked.sort_unstable();
        let cached = CachedAnswers {
            analysis: CachedAnalysis::from(&answers.analysis),
            modules: answers
                .sources
                .modules
                .iter()
                .map(|(module, deps)| (module.clone(), deps.iter().cloned().collect()))
                .collect(),
            sets: answers.sources.sets.clone(),
            asked,
        };
        self.store("graph", name, key, answers.global.clone(), &cached);
    }

    /// Whether every dependency still holds (not counted as a stale entry: a module's part
    /// of the call graph's answers).
    pub fn holds(&self, deps: &Deps, witness: &dyn Witness) -> bool {
        let deps: Vec<Dep> = deps.iter().cloned().collect();
        self.broken(&deps, witness).is_none()
    }

    /// Notes that the call graph's answers were all reused.
    pub fn graph_reused(&self) {
        self.stats.graph_hit.fetch_add(1, Ordering::Relaxed);
    }

    /// The report a run stored under `name`, when nothing it saw changed since.
    /// The report an earlier run stored under `name`, when nothing it looked at changed; else
    /// a path that changed, if that is why (see [`super::witness::first_difference`]).
    pub fn load_run(&self, name: u64) -> Result<Report, Option<PathBuf>> {
        let bytes = std::fs::read(self.entry_path("run", name)).map_err(|_| None)?;
        let entry: Entry<CachedRun> = decode(&bytes).ok_or(None)?;
        if entry.format != FORMAT || entry.tool != self.tool || entry.key != name {
            return Err(None);
        }
        if let Some(changed) = super::witness::first_difference(&entry.payload.sights) {
            if std::env::var_os("UNBLOCK_CACHE_DEBUG").is_some() {
                eprintln!(
                    "cache: the last run's report does not hold: {} changed",
                    changed.display()
                );
            }
            return Err(Some(changed.to_path_buf()));
        }
        entry.payload.restore().ok_or(None)
    }

    /// Stores a run's report with what the run saw (see [`super::witness`]).
    pub fn store_run(&self, name: u64, sights: Vec<(PathBuf, Seen)>, report: &Report) {
        let run = CachedRun::of(sights, report);
        self.store("run", name, name, Deps::new(), &run);
    }

    /// The files an earlier run under `name` (its settings and the paths given) reported
    /// findings in. A file changed since is judged by CPython while it is checked again when
    /// it was one of them: a helper whose findings all come from the call graph has only
    /// candidates in its entry, yet likely keeps findings.
    pub fn load_reported(&self, name: u64) -> HashSet<PathBuf> {
        std::fs::read(self.entry_path("reported", name))
            .ok()
            .and_then(|bytes| decode::<Entry<HashSet<PathBuf>>>(&bytes))
            .filter(|e| e.format == FORMAT && e.tool == self.tool && e.key == name)
            .map(|e| e.payload)
            .unwrap_or_default()
    }

    pub fn store_reported(&self, name: u64, files: &HashSet<PathBuf>) {
        self.store("reported", name, name, Deps::new(), files);
    }

    /// CPython's verdicts on sources, by the interpreter's identity: content hash to verdict.
    pub fn load_verdicts(&self, judge: u64) -> HashMap<u64, CachedVerdict> {
        std::fs::read(self.entry_path("judge", judge))
            .ok()
            .and_then(|bytes| decode::<Entry<HashMap<u64, CachedVerdict>>>(&bytes))
            .filter(|e| e.format == FORMAT && e.tool == self.tool && e.key == judge)
            .map(|e| e.payload)
            .unwrap_or_default()
    }

    pub fn store_verdicts(&self, judge: u64, verdicts: &HashMap<u64, CachedVerdict>) {
        self.store("judge", judge, judge, Deps::new(), verdicts);
    }

    /// The interpreter an earlier run found its candidate to run, for the same `selection`
    /// (what decides which interpreter a launcher such as a pyenv shim picks).
    pub fn load_interpreter(&self, selection: u64) -> Option<InterpreterFile> {
        std::fs::read(self.entry_path("python", selection))
            .ok()
            .and_then(|bytes| decode::<Entry<InterpreterFile>>(&bytes))
            .filter(|e| e.format == FORMAT && e.tool == self.tool && e.key == selection)
            .map(|e| e.payload)
    }

    pub fn store_interpreter(&self, selection: u64, interpreter: &InterpreterFile) {
        self.store("python", selection, selection, Deps::new(), interpreter);
    }

    /// Writes the stamps taken this run (merged with the earlier ones still true).
    pub fn finish(&self) {
        let new = std::mem::take(&mut *self.new_stamps.lock().unwrap());
        if !new.is_empty() {
            let mut all = self.old_stamps.clone();
            all.extend(new);
            let _ = write_atomically(&self.dir.join("stamps"), &encode(&all));
        }
        let new = std::mem::take(&mut *self.new_quiet.lock().unwrap());
        if !new.is_empty() {
            let mut all = self.old_quiet.clone();
            all.extend(new);
            let _ = write_atomically(&self.dir.join("quiet"), &encode(&(self.tool, all)));
        }
    }

    /// Whether the file or folder of `meta` was last changed more than a second before the
    /// run started (a change after it would change its modification time).
    pub fn settled_before_run(&self, meta: &std::fs::Metadata) -> bool {
        meta.modified()
            .ok()
            .and_then(|modified| self.started.duration_since(modified).ok())
            .is_some_and(|age| age.as_secs() >= 1)
    }

    /// Whether `meta` was taken long enough before the run started that an edit after it
    /// changes the modification time (a file changed within the clock's resolution of a
    /// stamp could keep it): its size and modification time, then.
    fn settled(&self, meta: &std::fs::Metadata) -> Option<(u64, u128)> {
        let age = self.started.duration_since(meta.modified().ok()?).ok()?;
        (age.as_secs() >= 1).then_some((meta.len(), modified_ns(meta)?))
    }
}

/// A file's modification time in nanoseconds since the epoch: the stamp every cache table
/// compares.
pub(crate) fn modified_ns(meta: &std::fs::Metadata) -> Option<u128> {
    let since = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH);
    Some(since.ok()?.as_nanos())
}

/// The walk skips reading a file an earlier run found without a coroutine, while its size and
/// modification time are the ones seen then (most files of a tree: a warm run otherwise reads
/// every source only to find it has no `async def`).
impl super::walk::Recall for Cache {
    fn without_coroutine(&self, absolute: &Path, meta: &std::fs::Metadata) -> Option<bool> {
        let old = self.old_quiet.get(absolute)?;
        (old.len == meta.len() && old.modified_ns == modified_ns(meta)?)
            .then_some(old.edits_sys_path)
    }

    fn saw_without_coroutine(
        &self,
        absolute: &Path,
        meta: &std::fs::Metadata,
        bytes_read: usize,
        edits_sys_path: bool,
    ) {
        let Some((len, modified_ns)) = self.settled(meta) else {
            return;
        };
        if len != bytes_read as u64 {
            return;
        }
        let quiet = Quiet {
            len,
            modified_ns,
            edits_sys_path,
        };
        if self.old_quiet.get(absolute) != Some(&quiet) {
            self.new_quiet
                .lock()
                .unwrap()
                .insert(absolute.to_path_buf(), quiet);
        }
    }
}

/// The tool's identity: its version and, so that a rebuilt binary never trusts what another
/// build wrote, the size and modification time of the executable.
fn tool_identity() -> u64 {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| format!("{}:{}", m.len(), modified_ns(&m).unwrap_or(0)))
        .unwrap_or_default();
    fingerprint([env!("CARGO_PKG_VERSION").as_bytes(), exe.as_bytes()])
}

/// Checksum, then the postcard bytes.
fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let body = postcard::to_stdvec(value).unwrap_or_default();
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&content_hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let (sum, body) = bytes.split_at_checked(8)?;
    if sum != content_hash(body).to_le_bytes() {
        return None;
    }
    postcard::from_bytes(body).ok()
}

/// Writes a file whole or not at all: a temporary file beside it, renamed over it.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temporary = tempfile::NamedTempFile::new_in(dir)?;
    temporary.write_all(bytes)?;
    temporary.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A `&'static str` for a string read back: the same pointer for the same text, made once.
fn intern(text: String) -> &'static str {
    static INTERNED: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut interned = INTERNED.lock().unwrap();
    if let Some(known) = interned.get(text.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(text.into_boxed_str());
    interned.insert(leaked);
    leaked
}

// The stored forms. The engine's own types carry `&'static str`s and serde attributes made
// for the JSON output (fix edits are not shown there), so the cache keeps its own copies,
// complete, and converts.

/// A whole run: what it saw, and what its report shows.
#[derive(Serialize, Deserialize)]
struct CachedRun {
    sights: Vec<(PathBuf, Seen)>,
    findings: Vec<CachedFinding>,
    diagnostics: Vec<(String, String, bool)>,
    files_scanned: usize,
    files_parsed: usize,
    unreadable: usize,
    unfollowed: std::collections::BTreeMap<String, usize>,
    sys_path_edits: Vec<PathBuf>,
    non_utf8_names: std::collections::BTreeMap<String, Option<PathBuf>>,
}

impl CachedRun {
    fn of(sights: Vec<(PathBuf, Seen)>, report: &Report) -> CachedRun {
        CachedRun {
            sights,
            findings: report.findings.iter().map(CachedFinding::from).collect(),
            diagnostics: report.diagnostics.iter().map(store_diagnostic).collect(),
            files_scanned: report.files_scanned,
            files_parsed: report.files_parsed,
            unreadable: report.unreadable,
            unfollowed: report.unfollowed.clone(),
            sys_path_edits: report.sys_path_edits.clone(),
            non_utf8_names: report.non_utf8_names.clone(),
        }
    }

    fn restore(self) -> Option<Report> {
        Some(Report {
            findings: restore_findings(self.findings)?,
            diagnostics: restore_diagnostics(self.diagnostics),
            files_scanned: self.files_scanned,
            files_parsed: self.files_parsed,
            unreadable: self.unreadable,
            unfollowed: self.unfollowed,
            sys_path_edits: self.sys_path_edits,
            non_utf8_names: self.non_utf8_names,
            project: Default::default(),
        })
    }
}

#[derive(Serialize, Deserialize)]
struct CachedCheck {
    findings: Vec<CachedFinding>,
    diagnostics: Vec<(String, String, bool)>,
    definitions: Vec<(String, bool)>,
}

impl From<&CheckedFile> for CachedCheck {
    fn from(checked: &CheckedFile) -> Self {
        CachedCheck {
            findings: checked.findings.iter().map(CachedFinding::from).collect(),
            diagnostics: checked.diagnostics.iter().map(store_diagnostic).collect(),
            definitions: checked.definitions.clone(),
        }
    }
}

impl CachedCheck {
    fn restore(self) -> Option<CheckedFile> {
        Some(CheckedFile {
            findings: restore_findings(self.findings)?,
            diagnostics: restore_diagnostics(self.diagnostics),
            definitions: self.definitions,
        })
    }
}

/// Stored findings read back; `None` when one cannot be.
fn restore_findings(stored: Vec<CachedFinding>) -> Option<Vec<Finding>> {
    stored.into_iter().map(CachedFinding::restore).collect()
}

fn restore_diagnostics(stored: Vec<(String, String, bool)>) -> Vec<Diagnostic> {
    stored.into_iter().map(restore_diagnostic).collect()
}

fn store_diagnostic(d: &Diagnostic) -> (String, String, bool) {
    (
        d.path.clone(),
        d.message.clone(),
        d.severity == Severity::Error,
    )
}

fn restore_diagnostic((path, message, error): (String, String, bool)) -> Diagnostic {
    Diagnostic {
        path,
        message,
        severity: if error {
            Severity::Error
        } else {
            Severity::Warning
        },
    }
}

type CachedLink = (String, usize, String);

fn store_link(link: &ChainLink) -> CachedLink {
    (link.path.clone(), link.line, link.name.clone())
}

fn restore_link((path, line, name): CachedLink) -> ChainLink {
    ChainLink { path, line, name }
}

#[derive(Serialize, Deserialize)]
struct CachedFinding {
    path: String,
    recipe: String,
    indirect: bool,
    bytes: (usize, usize),
    positions: (usize, usize, usize, usize),
    message: String,
    reason: String,
    fix: Option<CachedFix>,
    not_fixable: Option<String>,
    chain: Vec<CachedLink>,
    sinks: Vec<CachedLink>,
    noqa_codes: Vec<String>,
    covers: Vec<usize>,
    requires_async_callee: Option<String>,
    requires_blocking_callee: Option<String>,
    passed_arguments: Option<CachedArguments>,
}

#[derive(Serialize, Deserialize)]
struct CachedFix {
    unsafe_: bool,
    note: String,
    edits: Vec<(usize, usize, String)>,
    imports: Vec<String>,
    claims: Vec<(usize, usize)>,
    releases: Vec<String>,
    released_locals: Vec<String>,
    preludes: Vec<(String, String, String)>,
}

type CachedArguments = (
    Vec<String>,
    usize,
    bool,
    Vec<(Option<usize>, Option<String>, String)>,
);

impl From<&Finding> for CachedFinding {
    fn from(f: &Finding) -> Self {
        CachedFinding {
            path: f.path.clone(),
            recipe: f.recipe.to_string(),
            indirect: f.kind == crate::finding::Kind::Indirect,
            bytes: (f.start_byte, f.end_byte),
            positions: (f.start.line, f.start.column, f.end.line, f.end.column),
            message: f.message.clone(),
            reason: f.reason.clone(),
            fix: f.fix.as_ref().map(|fix| CachedFix {
                unsafe_: fix.safety == crate::finding::Safety::Unsafe,
                note: fix.note.clone(),
                edits: fix
                    .edits
                    .iter()
                    .map(|e| (e.start, e.end, e.text.clone()))
                    .collect(),
                imports: fix.imports.iter().map(|s| s.to_string()).collect(),
                claims: fix.claims.clone(),
                releases: fix.releases.clone(),
                released_locals: fix.released_locals.clone(),
                preludes: fix
                    .preludes
                    .iter()
                    .map(|p| {
                        (
                            p.name.to_string(),
                            p.statement.to_string(),
                            p.after_import.to_string(),
                        )
                    })
                    .collect(),
            }),
            not_fixable: f.not_fixable.clone(),
            chain: f.chain.iter().map(store_link).collect(),
            sinks: f.sinks.iter().map(store_link).collect(),
            noqa_codes: f.noqa_codes.clone(),
            covers: f.covers.clone(),
            requires_async_callee: f.requires_async_callee.clone(),
            requires_blocking_callee: f.requires_blocking_callee.clone(),
            passed_arguments: f.passed_arguments.as_ref().map(|a| {
                (
                    a.keywords.clone(),
                    a.positional,
                    a.spread,
                    a.callables
                        .iter()
                        .map(|c| (c.position, c.keyword.clone(), c.name.clone()))
                        .collect(),
                )
            }),
        }
    }
}

impl CachedFinding {
    /// As [`Finding::is_settled`], without restoring it.
    fn is_settled(&self) -> bool {
        self.requires_async_callee.is_none() && self.requires_blocking_callee.is_none()
    }

    fn restore(self) -> Option<Finding> {
        // The same build wrote it (the tool's identity is part of every key): its recipe ids
        // are this build's.
        let recipe = intern(self.recipe);
        Some(Finding {
            path: self.path,
            recipe,
            kind: if self.indirect {
                crate::finding::Kind::Indirect
            } else {
                crate::finding::Kind::Direct
            },
            start_byte: self.bytes.0,
            end_byte: self.bytes.1,
            start: Position {
                line: self.positions.0,
                column: self.positions.1,
            },
            end: Position {
                line: self.positions.2,
                column: self.positions.3,
            },
            message: self.message,
            reason: self.reason,
            fix: self.fix.map(|fix| FixInfo {
                safety: if fix.unsafe_ {
                    crate::finding::Safety::Unsafe
                } else {
                    crate::finding::Safety::Safe
                },
                note: fix.note,
                edits: fix
                    .edits
                    .into_iter()
                    .map(|(start, end, text)| Edit { start, end, text })
                    .collect(),
                imports: fix.imports.into_iter().map(intern).collect(),
                claims: fix.claims,
                releases: fix.releases,
                released_locals: fix.released_locals,
                preludes: fix
                    .preludes
                    .into_iter()
                    .map(|(name, statement, after_import)| crate::finding::Prelude {
                        name: intern(name),
                        statement: intern(statement),
                        after_import: intern(after_import),
                    })
                    .collect(),
            }),
            not_fixable: self.not_fixable,
            chain: self.chain.into_iter().map(restore_link).collect(),
            sinks: self.sinks.into_iter().map(restore_link).collect(),
            noqa_codes: self.noqa_codes,
            covers: self.covers,
            requires_async_callee: self.requires_async_callee,
            requires_blocking_callee: self.requires_blocking_callee,
            passed_arguments: self.passed_arguments.map(
                |(keywords, positional, spread, callables)| Arguments {
                    keywords,
                    positional,
                    spread,
                    callables: callables
                        .into_iter()
                        .map(|(position, keyword, name)| PassedCallable {
                            position,
                            keyword,
                            name,
                        })
                        .collect(),
                },
            ),
        })
    }
}

/// The call graph's answers with what each was derived from (see
/// `callgraph::AnswerSources`), and what no single module accounts for.
pub struct RememberedAnswers {
    pub analysis: super::callgraph::Analysis,
    pub sources: super::callgraph::AnswerSources,
    pub global: Deps,
}

#[derive(Serialize, Deserialize)]
struct CachedAnswers {
    analysis: CachedAnalysis,
    modules: Vec<(String, Vec<Dep>)>,
    sets: Vec<Vec<u32>>,
    asked: Vec<(String, u32)>,
}

#[derive(Serialize, Deserialize)]
struct CachedAnalysis {
    indirect: Vec<(String, CachedIndirect)>,
    parameter_calls: Vec<(String, CachedLink, String, Vec<String>)>,
}

#[derive(Serialize, Deserialize)]
struct CachedIndirect {
    function: String,
    chain: Vec<CachedLink>,
    unsafe_because: Option<String>,
    generator: bool,
    context_manager: bool,
    positional: Vec<String>,
    reasons: Vec<(super::callgraph::Guards, Vec<CachedLink>)>,
    sinks: Vec<(u8, Vec<CachedLink>)>,
}

const COSTS: [crate::catalogue::Cost; 5] = [
    crate::catalogue::Cost::Network,
    crate::catalogue::Cost::Process,
    crate::catalogue::Cost::Wait,
    crate::catalogue::Cost::File,
    crate::catalogue::Cost::Metadata,
];

impl From<&super::callgraph::Analysis> for CachedAnalysis {
    fn from(analysis: &super::callgraph::Analysis) -> Self {
        let mut indirect: Vec<(String, CachedIndirect)> = analysis
            .indirect
            .iter()
            .map(|(name, info)| {
                (
                    name.clone(),
                    CachedIndirect {
                        function: info.function.clone(),
                        chain: info.chain.iter().map(store_link).collect(),
                        unsafe_because: info.unsafe_because.clone(),
                        generator: info.generator,
                        context_manager: info.context_manager,
                        positional: info.positional.clone(),
                        reasons: info
                            .reasons
                            .iter()
                            .map(|r| (r.guards.clone(), r.chain.iter().map(store_link).collect()))
                            .collect(),
                        sinks: info
                            .sinks
                            .iter()
                            .map(|(cost, chain)| {
                                let class = COSTS.iter().position(|c| c == cost).unwrap_or(0);
                                (class as u8, chain.iter().map(store_link).collect())
                            })
                            .collect(),
                    },
                )
            })
            .collect();
        indirect.sort_by(|a, b| a.0.cmp(&b.0));
        let mut parameter_calls: Vec<_> = analysis
            .parameter_calls
            .iter()
            .map(|(name, call)| {
                (
                    name.clone(),
                    store_link(&call.link),
                    call.parameter.clone(),
                    call.positional.clone(),
                )
            })
            .collect();
        parameter_calls.sort_by(|a, b| a.0.cmp(&b.0));
        CachedAnalysis {
            indirect,
            parameter_calls,
        }
    }
}

impl CachedAnalysis {
    fn restore(self) -> Option<super::callgraph::Analysis> {
        let mut indirect = HashMap::new();
        for (name, info) in self.indirect {
            let mut sinks = Vec::new();
            for (class, chain) in info.sinks {
                let cost = *COSTS.get(usize::from(class))?;
                sinks.push((cost, chain.into_iter().map(restore_link).collect()));
            }
            indirect.insert(
                name,
                super::callgraph::IndirectInfo {
                    function: info.function,
                    chain: info.chain.into_iter().map(restore_link).collect(),
                    unsafe_because: info.unsafe_because,
                    generator: info.generator,
                    context_manager: info.context_manager,
                    positional: info.positional,
                    reasons: info
                        .reasons
                        .into_iter()
                        .map(|(guards, chain)| super::callgraph::Reason {
                            guards,
                            chain: chain.into_iter().map(restore_link).collect(),
                        })
                        .collect(),
                    sinks,
                },
            );
        }
        let parameter_calls = self
            .parameter_calls
            .into_iter()
            .map(|(name, link, parameter, positional)| {
                (
                    name,
                    super::callgraph::ParameterCall {
                        link: restore_link(link),
                        parameter,
                        positional,
                    },
                )
            })
            .collect();
        Some(super::callgraph::Analysis {
            indirect,
            parameter_calls,
            sources: None,
        })
    }
}

/// An interpreter's executable (`sys.executable`) and its file as it was when seen: a
/// remembered path is run only while its file is still that one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterpreterFile {
    pub path: PathBuf,
    pub len: u64,
    pub modified_ns: u128,
}

impl InterpreterFile {
    /// The file at `path` now (symbolic links followed: the binary that runs).
    pub fn at(path: &Path) -> Option<InterpreterFile> {
        let meta = std::fs::metadata(path).ok()?;
        if !meta.is_file() {
            return None;
        }
        Some(InterpreterFile {
            path: path.to_path_buf(),
            len: meta.len(),
            modified_ns: modified_ns(&meta)?,
        })
    }

    /// Whether the file at the path is still the one seen.
    pub fn unchanged(&self) -> bool {
        InterpreterFile::at(&self.path).as_ref() == Some(self)
    }
}

/// CPython's verdict on a source, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CachedVerdict {
    Accepted,
    TooNew(usize, String),
    Rejected(usize, String),
}

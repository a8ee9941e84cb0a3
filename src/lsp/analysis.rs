//! The analysis thread: each document's newest version, its direct findings first, then the
//! call graph's refinement; and the open documents whose findings go through a module that
//! changed (an edit, saved or not, of another open document), refined again.
//!
//! An open document's text stands for its file wherever the engine reads modules (the project
//! model's open texts), so the call graph follows what the editor shows, not what is on disk.
//! Each call-graph answer is kept with what it read (the summary cache's dependency notes), and
//! each open document with what its own check read and which callees it asked about: a change
//! to one module forgets only the answers that read it and refines only the documents that
//! used them.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use lsp_types::{PublishDiagnosticsParams, Uri};

use crate::engine::cache::{self, Dep, Deps};
use crate::engine::index::{self, ProjectIndex};
use crate::engine::project::ProjectModel;
use crate::engine::source::SourceFile;
use crate::engine::{candidate_callees, Engine};
use crate::finding::Finding;

use super::diagnostics::{diagnostic, path_and_module};
use super::server::Event;
use super::text::{uri_to_path, LineIndex};

/// What the main loop hands the analysis thread.
pub(super) enum Work {
    Analyse(Job),
    /// What the workspace scan found defined on disk (`None`: not scanned, each file is
    /// settled against its own project's modules).
    Workspace(Option<Arc<ProjectIndex>>),
    /// The configuration was read again: the engine to analyse with from now on (everything
    /// learnt with the last one is dropped).
    Reconfigure(Arc<Engine>),
    /// The document was closed: its file on disk stands for it again.
    Close(String),
    /// Files no document stands for changed on disk (another program wrote them, a branch
    /// was checked out).
    FilesChanged(Vec<PathBuf>),
}

/// One version of one document to analyse.
#[derive(Clone)]
pub(super) struct Job {
    pub(super) key: String,
    pub(super) uri: Uri,
    pub(super) text: Arc<str>,
    pub(super) version: Option<i32>,
    pub(super) generation: u64,
    pub(super) latest: Arc<AtomicU64>,
    /// This generation's direct findings are out: only the refinement is due (after a scan,
    /// or a change to a module its findings go through).
    pub(super) refine_only: bool,
}

impl Job {
    pub(super) fn is_outdated(&self) -> bool {
        self.latest.load(Ordering::Acquire) != self.generation
    }
}

/// The index the analysis thread settles against, as last updated: the main loop's code
/// actions settle against it too.
pub(super) type SharedIndex = Arc<Mutex<Arc<ProjectIndex>>>;

/// The analysis thread: each document's newest version, direct findings first, then the
/// call graph's refinement. One at a time: two cores are shared with the workspace scan.
pub(super) fn analysis_thread(
    engine: Arc<Engine>,
    root: &Path,
    jobs: &crossbeam_channel::Receiver<Work>,
    events: &crossbeam_channel::Sender<Event>,
    shared: SharedIndex,
) {
    let mut analyser = Analyser::new(engine, root.to_path_buf(), shared);
    while let Ok(first) = jobs.recv() {
        // Of what queued up while the last job ran, only each document's newest version is
        // worth analysing.
        let mut queued: Vec<Job> = Vec::new();
        for work in std::iter::once(first).chain(jobs.try_iter()) {
            match work {
                Work::Workspace(index) => analyser.scanned(index.as_deref()),
                Work::Reconfigure(new) => {
                    let shared = analyser.shared.clone();
                    analyser = Analyser::new(new, root.to_path_buf(), shared);
                }
                Work::Close(key) => {
                    queued.retain(|q| q.key != key);
                    analyser.close(&key, events);
                }
                Work::FilesChanged(paths) => analyser.files_changed(&paths, events),
                Work::Analyse(job) => {
                    if let Some(at) = queued.iter().position(|q| q.key == job.key) {
                        let older = queued.remove(at);
                        // The version whose direct findings are not out yet still gets them
                        // first, even when a refinement of it was asked for since.
                        let refine_only = job.refine_only
                            && (older.generation != job.generation || older.refine_only);
                        queued.push(Job { refine_only, ..job });
                    } else {
                        queued.push(job);
                    }
                }
            }
        }
        for job in queued {
            if !job.is_outdated() {
                analyser.analyse(job, events);
            }
        }
    }
}

/// An open document, as last analysed.
struct Open {
    job: Job,
    /// Its file (absolute), when it is one.
    path: Option<PathBuf>,
    module: String,
    /// The scan's definitions of its file are left out (its text differed from the file's).
    left_out_of_scan: bool,
    /// The functions this version defines.
    definitions: Vec<(String, bool)>,
    /// What its own check read besides its text (other modules' values).
    check_read: Deps,
    /// The callees its findings asked the call graph about, and the functions they need to
    /// be `async def`.
    asked: HashSet<String>,
}

struct Analyser {
    engine: Arc<Engine>,
    root: PathBuf,
    /// The call graph's answers so far, and the functions the project defines: the scan's
    /// (from disk), each open document's own in place of its file's.
    index: ProjectIndex,
    shared: SharedIndex,
    /// What the call graph read to answer about each callee (one question asks about all the
    /// callees of a version not asked about before: they share what it read).
    answers_read: HashMap<String, Arc<Deps>>,
    /// The definitions the scan found on disk, without those of the files open documents
    /// stand for.
    scanned: (HashSet<String>, HashSet<String>),
    open: HashMap<String, Open>,
    /// Callees whose answers were forgotten and not asked about again yet.
    stale: HashSet<String>,
}

impl Analyser {
    fn new(engine: Arc<Engine>, root: PathBuf, shared: SharedIndex) -> Analyser {
        let index = ProjectIndex {
            model: engine.project.clone(),
            ..Default::default()
        };
        *shared.lock().unwrap() = Arc::new(index.clone());
        Analyser {
            engine,
            root,
            index,
            shared,
            answers_read: HashMap::new(),
            scanned: Default::default(),
            open: HashMap::new(),
            stale: HashSet::new(),
        }
    }

    /// The workspace scan's definitions, from now on (its call-graph answers are not taken:
    /// they were read from disk, and what each read is not known).
    fn scanned(&mut self, index: Option<&ProjectIndex>) {
        let Some(index) = index else {
            return;
        };
        self.scanned = (index.async_functions.clone(), index.sync_functions.clone());
        // The projects the scan read are followed from any document (an untitled buffer too).
        for project in index.model.projects() {
            self.engine.project.project_of(&project.root);
        }
        let differing: Vec<String> = self
            .open
            .iter()
            .filter(|(_, open)| {
                open.path.as_ref().is_some_and(|path| {
                    std::fs::read(path).ok().as_deref() != Some(open.job.text.as_bytes())
                })
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in differing {
            if let Some(open) = self.open.get_mut(&key) {
                open.left_out_of_scan = true;
                let (path, module) = (open.path.clone(), open.module.clone());
                if let Some(path) = path {
                    self.leave_out_of_scanned(&path, &module);
                }
            }
        }
        self.gather_definitions();
    }

    /// The definitions of the file on disk are not the open document's: left out of the
    /// scan's.
    fn leave_out_of_scanned(&mut self, path: &Path, module: &str) {
        self.set_scanned(&disk_definitions(path, module), false);
    }

    /// Adds definitions to the scan's (`present`), or takes them out.
    fn set_scanned(&mut self, definitions: &[(String, bool)], present: bool) {
        for (name, is_async) in definitions {
            let set = if *is_async {
                &mut self.scanned.0
            } else {
                &mut self.scanned.1
            };
            if present {
                set.insert(name.clone());
            } else {
                set.remove(name);
            }
        }
    }

    /// The index's definitions: the scan's, and each open document's.
    fn gather_definitions(&mut self) {
        let (mut sync, mut asynchronous) = (self.scanned.1.clone(), self.scanned.0.clone());
        for open in self.open.values() {
            for (name, is_async) in &open.definitions {
                if *is_async {
                    asynchronous.insert(name.clone());
                } else {
                    sync.insert(name.clone());
                }
            }
        }
        self.index.async_functions = asynchronous;
        self.index.sync_functions = sync;
        self.share();
    }

    /// Asks the call graph about callees, each answer kept with what the question read.
    fn ask(&mut self, callees: Vec<String>) {
        let asked: HashSet<String> = callees.iter().cloned().collect();
        let ((), read) = cache::captured(|| self.engine.ask_call_graph(&mut self.index, asked));
        let read = Arc::new(read);
        for callee in callees {
            self.answers_read.insert(callee, read.clone());
        }
        self.share();
    }

    fn share(&self) {
        *self.shared.lock().unwrap() = Arc::new(self.index.clone());
    }

    /// The module at `path` now holds the text hashed `now` (`module` is its name): the
    /// call-graph answers that read another text of it, or what its names hold, are forgotten,
    /// and the other open documents whose findings used them, or whose check read it, are
    /// returned.
    fn forget_what_read(
        &mut self,
        path: &Path,
        module: &str,
        now: Option<u64>,
        changed: &str,
    ) -> Vec<String> {
        let stale: HashSet<String> = self
            .answers_read
            .iter()
            .filter(|(_, read)| reads(&self.engine.project, read, path, module, now))
            .map(|(callee, _)| callee.clone())
            .collect();
        for callee in &stale {
            self.answers_read.remove(callee);
            self.index.indirect.remove(callee);
            self.index.not_blocking.remove(callee);
            self.index.parameter_calls.remove(callee);
        }
        if !stale.is_empty() {
            self.share();
        }
        // Asked again in one question for every document that used them (each asking for its
        // own would load the same modules again), with the changed document's refinement.
        self.stale.extend(stale.iter().cloned());
        self.open
            .iter()
            .filter(|(key, open)| {
                key.as_str() != changed
                    && (reads(&self.engine.project, &open.check_read, path, module, now)
                        || open.asked.iter().any(|c| stale.contains(c)))
            })
            .map(|(key, _)| key.clone())
            .collect()
    }

    fn analyse(&mut self, job: Job, events: &crossbeam_channel::Sender<Event>) {
        let dependents = self.analyse_one(&job, events);
        if dependents.is_empty() {
            return;
        }
        let mut refreshed = Vec::new();
        for key in dependents {
            let Some(open) = self.open.get(&key) else {
                continue;
            };
            let job = Job {
                refine_only: true,
                ..open.job.clone()
            };
            if job.is_outdated() {
                continue;
            }
            refreshed.push(shown(&self.root, &job.uri));
            self.analyse_one(&job, events);
        }
        let _ = events.send(Event::Log(format!(
            "unblock: {} changed: {} refined again",
            shown(&self.root, &job.uri),
            refreshed.join(", ")
        )));
    }

    /// Analyses one version of a document and publishes its findings; the other open
    /// documents whose findings may have changed with it.
    fn analyse_one(&mut self, job: &Job, events: &crossbeam_channel::Sender<Event>) -> Vec<String> {
        let root = self.root.clone();
        let publish = |findings: &[Finding], direct: bool| {
            let lines = LineIndex::new(&job.text);
            let params = PublishDiagnosticsParams {
                uri: job.uri.clone(),
                diagnostics: findings
                    .iter()
                    .map(|f| diagnostic(&root, f, &job.text, &lines))
                    .collect(),
                version: job.version,
            };
            let _ = events.send(Event::Analysed {
                key: job.key.clone(),
                generation: job.generation,
                direct,
                params,
            });
        };
        let (shown_path, module, project_followed) = path_and_module(&self.engine, &job.uri);
        let path = uri_to_path(job.uri.as_str()).map(|p| self.engine.project.absolute(&p));
        if let Some(path) = path.as_ref().filter(|_| project_followed) {
            // The project the call graph follows (a buffer not saved yet has one too).
            self.engine.project.project_of(path);
        }
        // Whether this version changes what the other documents are checked against: its
        // first (what was read of the file may be an older text: it may have been saved
        // since), or another text than the last.
        let (changed, left_out_of_scan, before) = match (self.open.get(&job.key), &path) {
            (Some(open), _) => (
                *open.job.text != *job.text,
                open.left_out_of_scan,
                Some(open.definitions.clone()),
            ),
            (None, Some(path)) => {
                let differs = std::fs::read(path).ok().as_deref() != Some(job.text.as_bytes());
                let mut before = None;
                if differs {
                    before = Some(disk_definitions(path, &module));
                    self.leave_out_of_scanned(path, &module);
                }
                (true, differs, before)
            }
            (None, None) => (false, false, None),
        };
        let mut dependents = Vec::new();
        if let (true, Some(path)) = (changed, &path) {
            self.engine
                .project
                .set_open_text(path, &module, Some(job.text.as_bytes()));
            let now = Some(cache::content_hash(job.text.as_bytes()));
            dependents = self.forget_what_read(path, &module, now, &job.key);
        }
        let Ok(file) = SourceFile::parse(shown_path, job.text.as_bytes().to_vec(), module.clone())
        else {
            publish(&[], true);
            return dependents;
        };
        let (checked, check_read) = cache::captured(|| self.engine.check_file(&file));
        let mut own = ProjectIndex::default();
        own.add(checked.definitions.clone());
        // A function made or unmade `async def` changes the un-awaited calls elsewhere (the
        // file's own, as the scan read them, when this is its first version).
        let before = before.or_else(|| Some(checked.definitions.clone()));
        let definitions_changed =
            before.as_ref() != Some(&checked.definitions) || !self.open.contains_key(&job.key);
        let asked = self
            .open
            .get(&job.key)
            .map(|o| o.asked.clone())
            .unwrap_or_default();
        self.open.insert(
            job.key.clone(),
            Open {
                job: job.clone(),
                path: path.clone(),
                module,
                left_out_of_scan,
                definitions: checked.definitions.clone(),
                check_read,
                asked,
            },
        );
        if definitions_changed {
            let toggled =
                toggled_between(before.as_deref().unwrap_or_default(), &checked.definitions);
            self.gather_definitions();
            for (key, open) in &self.open {
                if *key != job.key
                    && !dependents.contains(key)
                    && open.asked.iter().any(|c| toggled.contains(c))
                {
                    dependents.push(key.clone());
                }
            }
        }
        let by_position = |findings: &mut Vec<Finding>| {
            findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        };
        if !job.refine_only || !project_followed {
            // Settled against the file alone: what needs another file waits for the call
            // graph, which has nothing to follow when the file is in no project.
            let mut direct = checked.findings.clone();
            own.settle(&mut direct);
            by_position(&mut direct);
            publish(&direct, true);
            if job.is_outdated() || !project_followed {
                return dependents;
            }
        }
        let mut findings = checked.findings;
        let mut asked = candidate_callees(&findings);
        let mut missing: Vec<String> = asked
            .iter()
            .filter(|c| {
                !self.index.indirect.contains_key(*c) && !self.index.not_blocking.contains(*c)
            })
            .cloned()
            .collect();
        missing.extend(
            std::mem::take(&mut self.stale)
                .into_iter()
                .filter(|c| !asked.contains(c)),
        );
        if !missing.is_empty() {
            self.ask(missing);
        }
        asked.extend(
            findings
                .iter()
                .filter_map(|f| f.requires_async_callee.clone()),
        );
        if let Some(open) = self.open.get_mut(&job.key) {
            open.asked = asked;
        }
        own.settle_within(Some(&self.index), &mut findings);
        by_position(&mut findings);
        publish(&findings, false);
        dependents
    }

    /// A document was closed: its file on disk stands for it again, and the open documents
    /// that went through its text are refined against the file.
    fn close(&mut self, key: &str, events: &crossbeam_channel::Sender<Event>) {
        let Some(open) = self.open.remove(key) else {
            return;
        };
        let Some(path) = open.path else {
            self.gather_definitions();
            return;
        };
        self.engine.project.set_open_text(&path, &open.module, None);
        let on_disk = std::fs::read(&path).ok();
        let now = on_disk.as_deref().map(cache::content_hash);
        let dependents = self.forget_what_read(&path, &open.module, now, key);
        if open.left_out_of_scan {
            self.set_scanned(&disk_definitions(&path, &open.module), true);
        }
        self.gather_definitions();
        self.refine_dependents(dependents, &async_names(&open.definitions), events);
    }

    /// Files changed on disk that no open document stands for: what was learnt from their
    /// old text is forgotten, the scan's definitions of them read again, and the open
    /// documents whose findings went through them refined again.
    fn files_changed(&mut self, paths: &[PathBuf], events: &crossbeam_channel::Sender<Event>) {
        let mut dependents = Vec::new();
        let mut toggled = HashSet::new();
        for path in paths {
            let path = self.engine.project.absolute(path);
            let module = self.engine.project.module_name(&path);
            // Memos of the project model that read the file go.
            self.engine.project.set_open_text(&path, &module, None);
            let now = std::fs::read(&path).ok().map(|b| cache::content_hash(&b));
            for key in self.forget_what_read(&path, &module, now, "") {
                if !dependents.contains(&key) {
                    dependents.push(key);
                }
            }
            let before = self.scanned_definitions_of(&module);
            let after = disk_definitions(&path, &module);
            self.set_scanned(&before, false);
            self.set_scanned(&after, true);
            toggled.extend(toggled_between(&before, &after));
        }
        self.gather_definitions();
        let changed: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let refreshed = dependents.len();
        self.refine_dependents(dependents, &toggled, events);
        let _ = events.send(Event::Log(format!(
            "unblock: changed on disk: {}; {refreshed} open documents refined again",
            changed.join(", ")
        )));
    }

    /// The definitions the scan found for `module`: the names under it that no longer module
    /// name claims (`pkg.mod.sub.f` is `pkg.mod.sub`'s when that is a module).
    fn scanned_definitions_of(&self, module: &str) -> Vec<(String, bool)> {
        let modules = self.engine.project.modules();
        let owner = |name: &str| -> bool {
            let Some(rest) = name.strip_prefix(module).and_then(|r| r.strip_prefix('.')) else {
                return false;
            };
            // Every longer prefix that is a module takes the name from `module`.
            let mut prefix = module.to_string();
            for part in rest.split('.') {
                prefix.push('.');
                prefix.push_str(part);
                if prefix.len() < name.len() && modules.contains_key(&prefix) {
                    return false;
                }
            }
            true
        };
        let (asynchronous, sync) = &self.scanned;
        asynchronous
            .iter()
            .filter(|n| owner(n))
            .map(|n| (n.clone(), true))
            .chain(sync.iter().filter(|n| owner(n)).map(|n| (n.clone(), false)))
            .collect()
    }

    /// Refines again the documents whose findings used what changed, and those that asked
    /// about a function made or unmade `async def` (`toggled`), after asking the call graph
    /// again about the callees whose answers were forgotten.
    fn refine_dependents(
        &mut self,
        mut dependents: Vec<String>,
        toggled: &HashSet<String>,
        events: &crossbeam_channel::Sender<Event>,
    ) {
        for (other, document) in &self.open {
            if !dependents.contains(other) && document.asked.iter().any(|c| toggled.contains(c)) {
                dependents.push(other.clone());
            }
        }
        let stale: Vec<String> = std::mem::take(&mut self.stale).into_iter().collect();
        if !stale.is_empty() {
            self.ask(stale);
        }
        for other in dependents {
            if let Some(document) = self.open.get(&other) {
                let job = Job {
                    refine_only: true,
                    ..document.job.clone()
                };
                if !job.is_outdated() {
                    self.analyse_one(&job, events);
                }
            }
        }
    }
}

/// Whether a result read the module at `path` (named `module`) as another text than the one
/// hashed `now`, or what its names hold, or every file of its project. The paths noted are as
/// the project model spells them (relative to the working directory when below it); `path` is
/// absolute.
fn reads(model: &ProjectModel, read: &Deps, path: &Path, module: &str, now: Option<u64>) -> bool {
    read.iter().any(|dep| match dep {
        Dep::File { path: file, hash } => *hash != now && model.absolute(file) == path,
        Dep::Values { module: m, .. } => m == module,
        Dep::Project { root, .. } => path.starts_with(model.absolute(root)),
        Dep::Layout { .. } => false,
    })
}

/// The `async def`s among definitions.
fn async_names(definitions: &[(String, bool)]) -> HashSet<String> {
    definitions
        .iter()
        .filter(|(_, is_async)| *is_async)
        .map(|(name, _)| name.clone())
        .collect()
}

/// The functions made or unmade `async def` between two versions' definitions.
fn toggled_between(before: &[(String, bool)], after: &[(String, bool)]) -> HashSet<String> {
    let (before, after) = (async_names(before), async_names(after));
    before.symmetric_difference(&after).cloned().collect()
}

/// The functions the file on disk defines.
fn disk_definitions(path: &Path, module: &str) -> Vec<(String, bool)> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    SourceFile::parse(path.display().to_string(), bytes, module.to_string())
        .map(|file| index::definitions(&file))
        .unwrap_or_default()
}

/// A document's path relative to the first workspace folder, for the log.
fn shown(root: &Path, uri: &Uri) -> String {
    match uri_to_path(uri.as_str()) {
        Some(path) => path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string(),
        None => uri.as_str().to_string(),
    }
}

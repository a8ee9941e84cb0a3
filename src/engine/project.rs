//! The project model: which project a file belongs to, what module it is, and which file a
//! module is. Every stage asks here (the walk naming the files it parses, the call graph
//! finding the modules a name reaches, `--propagate`, the fixer, the language server), so the
//! same file gets the same module name whatever paths a command was given.
//!
//! - **Project root**: the nearest directory upward from a file holding `pyproject.toml`,
//!   `setup.cfg`, `setup.py` or `.git`, and not itself a package (a `setup.py` inside a package
//!   is a module of it, as in langflow's `initial_setup/setup.py`). A file with no such
//!   directory above it belongs to the working directory when it is below it, else to the
//!   directory holding its outermost package (its own directory for a loose script).
//! - **Source roots** (the directories Python would have on `sys.path`): the `src = [...]`
//!   setting when the configuration gives one; otherwise the project root, its `src/` folder,
//!   and the directory holding each top-level regular package (`backend/` for
//!   `backend/open_webui/__init__.py`), as found in the project's files.
//! - **Module name**: the file's path below the deepest source root holding it, dotted.
//!   Folders without `__init__.py` are namespace portions (PEP 420), inside regular packages
//!   too: `backend/utils/conversations/location.py` is `utils.conversations.location`.
//!
//! The files of a project are listed once, on first use (names only: nothing is read), with the
//! walk's exclusions; a module name claimed by two files is resolved the way Python would for
//! one source root (a package before a module), else by the shallower source root, and said once.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::cache;
use super::parsed::ParsedFile;
use super::resolve::{Globals, Passed, Resolver, Value};
use super::scope::{Origin, Scopes, MODULE_SCOPE};
use super::source::SourceFile;
use super::syntax::Field;
use super::witness;
use super::{Diagnostic, Severity};
use crate::catalogue::Catalogue;

/// Files whose presence makes a directory a project root.
const ROOT_MARKERS: &[&str] = &["pyproject.toml", "setup.cfg", "setup.py", ".git"];

/// One project: its root, its source roots, and every module it defines.
#[derive(Debug)]
pub struct Project {
    pub root: PathBuf,
    /// Deepest first, so that the first one holding a file names it.
    pub source_roots: Vec<PathBuf>,
    /// Module name to file (absolute, normalised).
    pub modules: BTreeMap<String, PathBuf>,
    /// The other way round, for every file listed.
    names: HashMap<PathBuf, String>,
    /// Module names two files claim: `(name, the file used, the file ignored)`.
    pub clashes: Vec<(String, PathBuf, PathBuf)>,
    /// A fingerprint of the layout (source roots, module names and their files): what a
    /// cached result that asked which file a module is depends on.
    pub layout: u64,
}

impl Project {
    /// Every Python file of the project, sorted.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.names.keys().cloned().collect();
        files.sort();
        files
    }

    fn note_layout(&self) {
        cache::note(cache::Dep::Layout {
            root: self.root.clone(),
            fingerprint: self.layout,
        });
    }
}

/// Every project the run has touched, found and listed lazily, safe to share between the
/// walk's workers.
#[derive(Debug)]
pub struct ProjectModel {
    cwd: PathBuf,
    /// `src = [...]` from the command's configuration, relative to the configuration's folder.
    configured_src: Option<Vec<PathBuf>>,
    /// Exclude globs of the configuration, applied to the listing as to the walk.
    excludes: Vec<String>,
    root_of_dir: Mutex<HashMap<PathBuf, PathBuf>>,
    projects: Mutex<HashMap<PathBuf, Arc<Project>>>,
    /// Listings under way or done, by root: a project is listed once, by the first worker to
    /// ask, while the others wait for it (listing a large tree is the longest step of a warm
    /// run, and every worker asks for it at its first file).
    listings: Mutex<HashMap<PathBuf, Arc<std::sync::OnceLock<Arc<Project>>>>>,
    /// How the walk spelled each file it named (`./shop/net.py`, `../corpus/app.py`): a file is
    /// shown the same way in a finding and in the chains through it.
    spelled: Mutex<HashMap<PathBuf, PathBuf>>,
    /// The instances module-level names of project modules hold, as asked for (see
    /// [`Globals`]).
    instances: Mutex<HashMap<String, Arc<ModuleValues>>>,
    /// What calling each name asked about returns (see [`Globals::returns_of`]): asked for
    /// every call a resolver cannot type itself, so remembered by name, unknown ones included.
    returns: Mutex<HashMap<String, (Option<Value>, cache::Deps)>>,
    /// Per project root: the files that call each name (`Store(` in the text), for finding
    /// a constructor's callers without parsing the project. Built on the first question.
    callers: Mutex<HashMap<PathBuf, Arc<CallerIndex>>>,
    /// What the callers of a constructor pass for a parameter, by `function#parameter`.
    arguments: Mutex<HashMap<String, (Option<Passed>, cache::Deps)>>,
    /// Files parsed whole, for those answers (see [`ParsedFiles`]).
    parsed: Mutex<ParsedFiles>,
    /// The summary cache, when the run has one: each module's values are stored there, and
    /// what used them depends on the values, not on the module's text (an edit that changes
    /// no value invalidates nothing that read them).
    remembered: std::sync::OnceLock<RememberedValues>,
    /// Parses one reader of a file made for another (see [`SharedParses`]).
    shared_parses: Mutex<SharedParses>,
    /// Texts that stand for files on disk (an editor's unsaved buffers), by absolute path:
    /// every read of a module the model or the call graph makes goes through them.
    open_texts: std::sync::RwLock<HashMap<PathBuf, Arc<[u8]>>>,
}

/// A file changed since the last run is wanted twice: its module's values are read again (the
/// files that used them depend on them), and the walk checks it again. Both read it with
/// `SourceFile::parse_for_check`, on different threads and in either order; whichever parses
/// it first leaves the parse here for the other (taken once, by absolute path and the hash of
/// the bytes parsed). Only with the summary cache, and at most [`SHARED_PARSES_BUDGET`] bytes
/// of source held: a parse nobody takes is dropped at the end of the run.
#[derive(Default)]
struct SharedParses {
    parses: HashMap<PathBuf, (u64, super::source::SourceFile)>,
    held: usize,
    /// Files the walk has come to (reused or parsed): their parses are not left for it.
    walked: std::collections::HashSet<PathBuf>,
}

const SHARED_PARSES_BUDGET: usize = 8 << 20;

impl std::fmt::Debug for SharedParses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} shared parses", self.parses.len())
    }
}

/// Where module values are remembered, under which settings, and the catalogue they are
/// read with when a dependency on them is checked.
struct RememberedValues {
    cache: Arc<cache::Cache>,
    run: u64,
    catalogue: Catalogue,
}

impl std::fmt::Debug for RememberedValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RememberedValues")
    }
}

/// The files of one project in which a name is followed by `(`, by name; and the digest of
/// every file read to find them (see [`cache::Dep::Project`]).
type CallerIndex = (HashMap<String, Vec<PathBuf>>, u64);

/// Files parsed whole (with their scopes), newest last, by absolute path, while they hold at
/// most `PARSED_FILES_BUDGET` bytes of source: a class's callers are read once for each
/// parameter of its constructor asked about (requests' 108 kB test module was parsed whole
/// four times for one `unblock graph`, besides the graph's own parse of it). A file is reused
/// only when its text and module name are the ones parsed, so an edited file is parsed again.
struct ParsedFiles {
    files: std::collections::VecDeque<(PathBuf, Arc<ParsedFile>)>,
    bytes: usize,
}

/// A tree and its scopes take about 50 bytes per byte of source: some 100 MB at most.
const PARSED_FILES_BUDGET: usize = 2 << 20;

impl std::fmt::Debug for ParsedFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ParsedFiles({} files)", self.files.len())
    }
}

impl ParsedFiles {
    fn find(&self, absolute: &Path, module: &str, bytes: &[u8]) -> Option<Arc<ParsedFile>> {
        self.files
            .iter()
            .rev()
            .find(|(path, parsed)| {
                let file = parsed.file();
                path == absolute && file.module == module && file.bytes == bytes
            })
            .map(|(_, parsed)| parsed.clone())
    }

    fn keep(&mut self, absolute: PathBuf, parsed: Arc<ParsedFile>) {
        let size = parsed.file().bytes.len();
        if size > PARSED_FILES_BUDGET {
            return;
        }
        self.bytes += size;
        self.files.push_back((absolute, parsed));
        while self.bytes > PARSED_FILES_BUDGET {
            let Some((_, oldest)) = self.files.pop_front() else {
                break;
            };
            self.bytes -= oldest.file().bytes.len();
        }
    }
}

/// A constructor called from more files than this is a library's public type, built in
/// places the project does not show: its arguments are not guessed from a sample.
const MAX_CALLER_FILES: usize = 32;

impl Default for ProjectModel {
    fn default() -> Self {
        ProjectModel::new(None, Vec::new())
    }
}

impl ProjectModel {
    /// `configured_src`: the configuration's `src` entries, already made absolute.
    pub fn new(configured_src: Option<Vec<PathBuf>>, excludes: Vec<String>) -> ProjectModel {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        ProjectModel {
            configured_src: configured_src.map(|v| v.iter().map(|p| normalise(&cwd, p)).collect()),
            cwd,
            excludes,
            root_of_dir: Mutex::new(HashMap::new()),
            projects: Mutex::new(HashMap::new()),
            listings: Mutex::new(HashMap::new()),
            spelled: Mutex::new(HashMap::new()),
            instances: Mutex::new(HashMap::new()),
            returns: Mutex::new(HashMap::new()),
            callers: Mutex::new(HashMap::new()),
            arguments: Mutex::new(HashMap::new()),
            parsed: Mutex::new(ParsedFiles {
                files: std::collections::VecDeque::new(),
                bytes: 0,
            }),
            remembered: std::sync::OnceLock::new(),
            shared_parses: Mutex::default(),
            open_texts: Default::default(),
        }
    }

    /// Leaves a parse of the file at `absolute` for its other reader (see [`SharedParses`]):
    /// `for_walk`, for the walk's check (not if the walk came to it already), else for the
    /// reading of its module's values (not if they were read already).
    pub fn offer_parse(&self, absolute: &Path, file: &SourceFile, for_walk: bool) {
        if self.remembered.get().is_none() {
            return;
        }
        if !for_walk {
            let module = &file.module;
            if self.instances.lock().unwrap().contains_key(module) {
                return;
            }
        }
        let mut shared = self.shared_parses.lock().unwrap();
        if (for_walk && shared.walked.contains(absolute))
            || shared.held + file.bytes.len() > SHARED_PARSES_BUDGET
        {
            return;
        }
        shared.held += file.bytes.len();
        let hash = cache::content_hash(&file.bytes);
        let copy = file.copy_named(file.path.clone(), file.module.clone());
        if let Some((_, replaced)) = shared.parses.insert(absolute.to_path_buf(), (hash, copy)) {
            shared.held -= replaced.bytes.len();
        }
    }

    /// The parse of `bytes` (the file at `absolute`) another reader left, named for this one.
    pub fn take_parse(
        &self,
        absolute: &Path,
        bytes: &[u8],
        path: String,
        module: String,
    ) -> Option<SourceFile> {
        let mut shared = self.shared_parses.lock().unwrap();
        let (hash, file) = shared.parses.remove(absolute)?;
        shared.held -= file.bytes.len();
        drop(shared);
        (hash == cache::content_hash(bytes)).then(|| file.copy_named(path, module))
    }

    /// The walk came to the file at `absolute`: what it did not find left for it, it parses
    /// itself.
    pub fn walked(&self, absolute: &Path) {
        if self.remembered.get().is_some() {
            let mut shared = self.shared_parses.lock().unwrap();
            shared.walked.insert(absolute.to_path_buf());
        }
    }

    /// Drops the parses nobody took (the run is over).
    pub fn forget_parses(&self) {
        *self.shared_parses.lock().unwrap() = SharedParses::default();
    }

    /// Stores and reuses module values in `cache` from now on (once per model).
    pub fn remember_values(&self, cache: Arc<cache::Cache>, run: u64, catalogue: &Catalogue) {
        let _ = self.remembered.set(RememberedValues {
            cache,
            run,
            catalogue: catalogue.clone(),
        });
    }

    /// From now on `text` stands for the file at `path` (module `module`) wherever the model
    /// or the call graph reads it (`None`: the file on disk again). What the model derived
    /// from the module (the values its names hold, what its functions return, the callers of
    /// constructors in its project) is read again when next asked.
    pub fn set_open_text(&self, path: &Path, module: &str, text: Option<&[u8]>) {
        let path = self.absolute(path);
        let mut open = self.open_texts.write().unwrap();
        match text {
            Some(text) => open.insert(path.clone(), Arc::from(text)),
            None => open.remove(&path),
        };
        drop(open);
        let used = |deps: &cache::Deps| {
            deps.iter().any(|dep| match dep {
                cache::Dep::File { path: file, .. } => self.absolute(file) == path,
                cache::Dep::Values { module: m, .. } => m == module,
                cache::Dep::Project { root, .. } => path.starts_with(self.absolute(root)),
                cache::Dep::Layout { .. } => false,
            })
        };
        self.instances
            .lock()
            .unwrap()
            .retain(|m, values| m != module && !used(&values.reads));
        self.returns
            .lock()
            .unwrap()
            .retain(|_, (_, deps)| !used(deps));
        self.arguments
            .lock()
            .unwrap()
            .retain(|_, (_, deps)| !used(deps));
        self.callers
            .lock()
            .unwrap()
            .retain(|root, _| !path.starts_with(self.absolute(root)));
    }

    /// A file's bytes: the text that stands for it, else what is on disk.
    fn bytes_of(&self, path: &Path) -> Option<Vec<u8>> {
        let open = self.open_texts.read().unwrap();
        if !open.is_empty() {
            if let Some(text) = open.get(&self.absolute(path)) {
                return Some(text.to_vec());
            }
        }
        drop(open);
        witness::read(path)
    }

    /// [`ProjectModel::bytes_of`], noted as read for the summary cache.
    fn read(&self, path: &Path) -> Option<Vec<u8>> {
        let bytes = self.bytes_of(path);
        cache::note_file(path, bytes.as_deref());
        bytes
    }

    /// The absolute, lexically normalised form of a path (symlinks are kept: a symlinked
    /// package is named where it is linked, as Python imports it).
    pub fn absolute(&self, path: &Path) -> PathBuf {
        normalise(&self.cwd, path)
    }

    /// How a file is shown: as the walk spelled it, else relative to the working directory
    /// when below it.
    pub fn display(&self, path: &Path) -> PathBuf {
        if let Some(spelled) = self.spelled.lock().unwrap().get(path) {
            return spelled.clone();
        }
        path.strip_prefix(&self.cwd)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| path.to_path_buf())
    }

    /// Remembers how the walk spelled a file (the first spelling wins); its absolute path.
    pub fn spell(&self, path: &Path) -> PathBuf {
        let absolute = self.absolute(path);
        self.spelled
            .lock()
            .unwrap()
            .entry(absolute.clone())
            .or_insert_with(|| path.to_path_buf());
        absolute
    }

    /// The project root of a file or directory.
    pub fn root_of(&self, path: &Path) -> PathBuf {
        let absolute = self.absolute(path);
        let start = if witness::is_dir(&absolute) {
            absolute.clone()
        } else {
            absolute
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or(absolute.clone())
        };
        if let Some(root) = self.root_of_dir.lock().unwrap().get(&start) {
            return root.clone();
        }
        let mut found = None;
        let mut dir = Some(start.as_path());
        while let Some(d) = dir {
            let is_package = witness::is_file(&d.join("__init__.py"));
            if !is_package && ROOT_MARKERS.iter().any(|m| witness::exists(&d.join(m))) {
                found = Some(d.to_path_buf());
                break;
            }
            dir = d.parent();
        }
        let root = found.unwrap_or_else(|| {
            // The working directory stands for the project (as it does for ruff and pyright),
            // unless it is the file system's root or the home folder: those are no project, and
            // listing them would read every Python file on the machine.
            let home = std::env::var_os("HOME").map(PathBuf::from);
            let cwd_is_a_project =
                self.cwd.parent().is_some() && home.as_deref() != Some(self.cwd.as_path());
            if cwd_is_a_project && start.starts_with(&self.cwd) {
                return self.cwd.clone();
            }
            // No marker (an unpacked wheel, a vendored tree): the folder holding the
            // outermost package, so that `langflow/api/v1/x.py` is `langflow.api.v1.x`.
            let mut root = start.as_path();
            while witness::is_file(&root.join("__init__.py")) {
                match root.parent() {
                    Some(parent) => root = parent,
                    None => break,
                }
            }
            root.to_path_buf()
        });
        self.root_of_dir.lock().unwrap().insert(start, root.clone());
        root
    }

    /// The project a path belongs to, listed on first use.
    pub fn project_of(&self, path: &Path) -> Arc<Project> {
        let root = self.root_of(path);
        if let Some(project) = self.projects.lock().unwrap().get(&root) {
            return project.clone();
        }
        // Listed outside the projects' lock, once.
        let listing = self
            .listings
            .lock()
            .unwrap()
            .entry(root.clone())
            .or_default()
            .clone();
        let project = listing.get_or_init(|| Arc::new(self.list(&root))).clone();
        self.projects
            .lock()
            .unwrap()
            .entry(root)
            .or_insert(project)
            .clone()
    }

    /// The module a file defines.
    pub fn module_name(&self, path: &Path) -> String {
        let absolute = self.spell(path);
        let project = self.project_of(&absolute);
        if let Some(name) = project.names.get(&absolute) {
            return name.clone();
        }
        name_below(&project.source_roots, &absolute)
    }

    /// Every module of every project touched so far: name to the file, shown relative to the
    /// working directory. A name two projects define is the first project's (by root).
    pub fn modules(&self) -> HashMap<String, PathBuf> {
        let projects = self.projects.lock().unwrap();
        let mut roots: Vec<&PathBuf> = projects.keys().collect();
        roots.sort();
        let mut out = HashMap::new();
        for root in roots {
            for (name, file) in &projects[root].modules {
                out.entry(name.clone())
                    .or_insert_with(|| self.display(file));
            }
        }
        out
    }

    /// The longest prefix of a dotted name that is a project module.
    fn module_of_name(&self, name: &str) -> Option<String> {
        let projects = self.projects.lock().unwrap();
        projects.values().for_each(|p| p.note_layout());
        let mut end = name.rfind('.')?;
        loop {
            let module = &name[..end];
            if projects.values().any(|p| p.modules.contains_key(module)) {
                return Some(module.to_string());
            }
            end = module.rfind('.')?;
        }
    }

    /// The file of a project module, among the projects touched so far.
    pub fn module_file(&self, module: &str) -> Option<PathBuf> {
        let projects = self.projects.lock().unwrap();
        projects.values().for_each(|p| p.note_layout());
        let mut roots: Vec<&PathBuf> = projects.keys().collect();
        roots.sort();
        roots
            .into_iter()
            .find_map(|root| projects[root].modules.get(module).cloned())
    }

    /// Every Python file of every project touched so far, shown relative to the working
    /// directory, sorted.
    pub fn python_files(&self) -> Vec<PathBuf> {
        let projects = self.projects.lock().unwrap();
        let mut out: Vec<PathBuf> = projects
            .values()
            .flat_map(|p| p.names.keys().map(|f| self.display(f)))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The projects touched so far, by root.
    pub fn projects(&self) -> Vec<Arc<Project>> {
        let projects = self.projects.lock().unwrap();
        let mut out: Vec<Arc<Project>> = projects.values().cloned().collect();
        out.sort_by(|a, b| a.root.cmp(&b.root));
        out
    }

    /// What the user should know about the layout: module names claimed twice. In a project
    /// without a marker, only the clashes of files under the paths given (none given:
    /// anywhere): such a project is rooted at the working directory, which may hold unrelated
    /// scratch trees whose clashes change nothing about the files checked and would bury the
    /// findings under warnings.
    pub fn diagnostics(&self, paths: &[PathBuf]) -> Vec<Diagnostic> {
        let given: Vec<PathBuf> = paths.iter().map(|p| self.absolute(p)).collect();
        let mut out = Vec::new();
        for project in self.projects() {
            let marked = ROOT_MARKERS
                .iter()
                .any(|m| witness::exists(&project.root.join(m)));
            let concerns = |file: &Path| {
                marked || given.is_empty() || given.iter().any(|g| file.starts_with(g))
            };
            for (name, used, ignored) in &project.clashes {
                if !concerns(used) && !concerns(ignored) {
                    continue;
                }
                out.push(Diagnostic {
                    path: self.display(ignored).display().to_string(),
                    message: format!(
                        "defines module `{name}`, as `{}` does, which is the one followed",
                        self.display(used).display()
                    ),
                    severity: Severity::Warning,
                });
            }
        }
        out
    }

    fn list(&self, root: &Path) -> Project {
        let files = self.listed_files(root);
        self.project_from(root, files)
    }

    /// The Python files of the project at `root`, from the summary cache while no folder of
    /// it changed (see [`StoredListing`]), else walked (and stored).
    fn listed_files(&self, root: &Path) -> Vec<PathBuf> {
        let Some(remembered) = self.remembered.get() else {
            return self.walk_project(root, None);
        };
        let name = cache::fingerprint(
            [
                b"listing".as_slice(),
                root.as_os_str().as_encoded_bytes(),
                self.cwd.as_os_str().as_encoded_bytes(),
            ]
            .into_iter()
            .chain(self.excludes.iter().map(|e| e.as_bytes()))
            .chain([b"|".as_slice()])
            .chain(super::walk::DEFAULT_EXCLUDES.iter().map(|e| e.as_bytes()))
            .chain(ROOT_MARKERS.iter().map(|m| m.as_bytes())),
        );
        let stored: Option<(StoredListing, cache::Deps)> =
            remembered.cache.load_entry("listing", name, name, self);
        if let Some((listing, _)) = stored {
            if listing.holds(root) {
                let stats = &remembered.cache.stats;
                stats
                    .listings_reused
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return listing.files.iter().map(|f| root.join(f)).collect();
            }
        }
        let mut folders = Vec::new();
        let files = self.walk_project(root, Some(&mut folders));
        if let Some(listing) = StoredListing::of(root, folders, &files, &remembered.cache) {
            remembered
                .cache
                .store_entry("listing", name, name, cache::Deps::new(), &listing);
        }
        files
    }

    /// Walks the project at `root` for its Python files (sorted), not into nested projects;
    /// the folders walked go to `folders` when asked for.
    fn walk_project(&self, root: &Path, mut folders: Option<&mut Vec<PathBuf>>) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut builder = ignore::WalkBuilder::new(root);
        builder.require_git(false).follow_links(true);
        let mut overrides = ignore::overrides::OverrideBuilder::new(root);
        for pattern in &self.excludes {
            let _ = overrides.add(&format!("!{pattern}"));
        }
        if let Ok(overrides) = overrides.build() {
            builder.overrides(overrides);
        }
        let root_owned = root.to_path_buf();
        // Nested projects left out: their folders decide it (an `__init__.py` or a marker
        // added there), so they are stamped too.
        let left_out: Arc<Mutex<Vec<PathBuf>>> = Arc::default();
        let record = folders.is_some().then(|| left_out.clone());
        builder.filter_entry(move |entry| {
            if entry.depth() == 0 || !entry.file_type().is_some_and(|t| t.is_dir()) {
                return true;
            }
            let name = entry.file_name().to_str().unwrap_or("");
            if super::walk::DEFAULT_EXCLUDES.contains(&name) {
                return false;
            }
            // A nested project is a project of its own.
            let path = entry.path();
            let inside = path == root_owned
                || path.join("__init__.py").is_file()
                || !ROOT_MARKERS.iter().any(|m| path.join(m).exists());
            if let (false, Some(record)) = (inside, &record) {
                record.lock().unwrap().push(path.to_path_buf());
            }
            inside
        });
        for entry in builder.build().flatten() {
            if entry.file_type().is_some_and(|t| t.is_file())
                && entry.path().extension().is_some_and(|e| e == "py")
            {
                files.push(normalise(&self.cwd, entry.path()));
            } else if entry.file_type().is_some_and(|t| t.is_dir()) {
                if let Some(folders) = folders.as_mut() {
                    folders.push(entry.path().to_path_buf());
                }
            }
        }
        files.sort();
        if let Some(folders) = folders {
            folders.extend(std::mem::take(&mut *left_out.lock().unwrap()));
        }
        files
    }

    /// The project at `root` with these files.
    fn project_from(&self, root: &Path, files: Vec<PathBuf>) -> Project {
        let source_roots = self.source_roots(root, &files);
        let mut modules: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut names = HashMap::new();
        let mut clashes = Vec::new();
        for file in files {
            let name = name_below(&source_roots, &file);
            if name.is_empty() {
                continue;
            }
            names.insert(file.clone(), name.clone());
            match modules.get(&name) {
                None => {
                    modules.insert(name, file);
                }
                // No import statement can spell `0001_initial` (Django's migrations): which
                // file holds such a name changes nothing an import reaches, and saying so
                // buries the clashes that matter.
                Some(_) if !name.split('.').all(is_identifier) => {}
                Some(existing) => {
                    let rank = |f: &Path| {
                        let depth = source_roots
                            .iter()
                            .filter(|s| f.starts_with(s))
                            .map(|s| s.components().count())
                            .max()
                            .unwrap_or(0);
                        // A shallower source root first (nearer the front of sys.path in the
                        // usual layouts), then a package before a module.
                        (depth, !f.ends_with("__init__.py"))
                    };
                    if rank(&file) < rank(existing) {
                        let old = modules.insert(name.clone(), file.clone()).unwrap();
                        clashes.push((name, file, old));
                    } else {
                        clashes.push((name, existing.clone(), file));
                    }
                }
            }
        }
        let layout = cache::fingerprint(
            source_roots
                .iter()
                .map(|r| r.as_os_str().as_encoded_bytes())
                .chain(modules.iter().flat_map(|(name, file)| {
                    [name.as_bytes(), file.as_os_str().as_encoded_bytes()]
                })),
        );
        Project {
            root: root.to_path_buf(),
            source_roots,
            modules,
            names,
            clashes,
            layout,
        }
    }

    fn source_roots(&self, root: &Path, files: &[PathBuf]) -> Vec<PathBuf> {
        let mut roots: Vec<PathBuf> = vec![root.to_path_buf()];
        let configured: Vec<&PathBuf> = self
            .configured_src
            .iter()
            .flatten()
            .filter(|s| s.starts_with(root))
            .collect();
        if !configured.is_empty() {
            roots.extend(configured.into_iter().cloned());
        } else {
            let src = root.join("src");
            if witness::is_dir(&src) && !witness::is_file(&src.join("__init__.py")) {
                roots.push(src);
            }
            // The folder above each top-level regular package.
            for init in files.iter().filter(|f| f.ends_with("__init__.py")) {
                let mut top = None;
                let mut dir = init.parent();
                while let Some(d) = dir.filter(|d| d.starts_with(root) && *d != root) {
                    if witness::is_file(&d.join("__init__.py")) {
                        top = Some(d);
                    }
                    dir = d.parent();
                }
                if let Some(parent) = top.and_then(Path::parent) {
                    roots.push(parent.to_path_buf());
                }
            }
        }
        roots.sort_by_key(|r| std::cmp::Reverse(r.components().count()));
        roots.dedup();
        roots
    }
}

/// A project's listing as the summary cache keeps it: its Python files (relative to the root),
/// with what decides them. The walk reads each folder's entries and the ignore files; a folder's
/// modification time changes whenever an entry is added to it, removed or renamed (a file, a
/// subfolder, an `__init__.py`, a marker, an ignore file), so the listing holds while every
/// folder walked or left out as a nested project has the time it had, and every ignore file
/// that applies (in those folders, in the root's parents, the user's global ones) has its size
/// and time, or is still absent. A listing is stored only when every folder is older than a
/// second before the run (a change within the clock's resolution could keep a folder's time).
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredListing {
    files: Vec<PathBuf>,
    /// Relative to the root ("" for the root itself).
    folders: Vec<(PathBuf, u128)>,
    /// Ignore files (absolute), with their size and time; `None`: absent then.
    ignore_files: Vec<(PathBuf, Option<(u64, u128)>)>,
}

impl StoredListing {
    fn of(
        root: &Path,
        folders: Vec<PathBuf>,
        files: &[PathBuf],
        cache: &cache::Cache,
    ) -> Option<StoredListing> {
        let mut stamped = Vec::with_capacity(folders.len());
        let mut ignore_files = Vec::new();
        // The parents' ignore files apply too; their folders' times are not followed (a
        // shared parent such as /tmp changes all the time), so their absence is stamped.
        for file in ignore_files_above(root) {
            let stamp = file_stamp(&file);
            ignore_files.push((file, stamp));
        }
        for folder in folders {
            let meta = witness::metadata(&folder)?;
            if !cache.settled_before_run(&meta) {
                return None;
            }
            for name in [".gitignore", ".ignore", ".git/info/exclude"] {
                let file = folder.join(name);
                // An absent one's appearance changes the folder's time (`.git/info/exclude`:
                // not that folder's, so it is stamped absent too).
                let stamp = file_stamp(&file);
                if stamp.is_some()
                    || name == ".git/info/exclude" && witness::exists(&folder.join(".git"))
                {
                    ignore_files.push((file, stamp));
                }
            }
            let relative = folder.strip_prefix(root).ok()?.to_path_buf();
            stamped.push((relative, modified_ns(&meta)));
        }
        for global in global_ignore_files() {
            let stamp = file_stamp(&global);
            ignore_files.push((global, stamp));
        }
        let files = files
            .iter()
            .map(|f| f.strip_prefix(root).map(Path::to_path_buf).ok())
            .collect::<Option<Vec<_>>>()?;
        Some(StoredListing {
            files,
            folders: stamped,
            ignore_files,
        })
    }

    /// Whether nothing the listing was made from changed.
    fn holds(&self, root: &Path) -> bool {
        self.folders.iter().all(|(folder, modified)| {
            witness::metadata(&root.join(folder))
                .is_some_and(|meta| modified_ns(&meta) == *modified)
        }) && self
            .ignore_files
            .iter()
            .all(|(file, stamp)| file_stamp(file) == *stamp)
    }
}

fn modified_ns(meta: &std::fs::Metadata) -> u128 {
    cache::modified_ns(meta).unwrap_or(0)
}

fn file_stamp(file: &Path) -> Option<(u64, u128)> {
    let meta = witness::metadata(file)?;
    Some((meta.len(), modified_ns(&meta)))
}

/// The ignore files a walk of `root` applies from its parents' folders (present or not).
pub(crate) fn ignore_files_above(root: &Path) -> impl Iterator<Item = PathBuf> + '_ {
    root.ancestors().skip(1).flat_map(|parent| {
        [".gitignore", ".ignore", ".git/info/exclude"].map(|name| parent.join(name))
    })
}

/// The user's global git ignore files and configurations (the walk applies them): the
/// configurations are stamped too, as they name `core.excludesFile`.
pub(crate) fn global_ignore_files() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    let mut files: Vec<PathBuf> = Vec::new();
    if let Some(config) = &config {
        files.push(config.join("git/config"));
        files.push(config.join("git/ignore"));
    }
    if let Some(home) = &home {
        files.push(home.join(".gitconfig"));
    }
    let configured: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|line| {
                    let (key, value) = line.split_once('=')?;
                    key.trim()
                        .eq_ignore_ascii_case("excludesfile")
                        .then(|| value.trim().trim_matches('"').to_string())
                })
                .collect::<Vec<_>>()
        })
        .map(|value| match (value.strip_prefix("~/"), &home) {
            (Some(rest), Some(home)) => home.join(rest),
            _ => PathBuf::from(value),
        })
        .collect();
    files.extend(configured);
    files
}

thread_local! {
    /// The modules this thread is reading for their values, and the constructor parameters
    /// whose callers it is reading (`function#parameter`), innermost last.
    static READING: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
    /// A read met a module this thread was already reading (an import cycle).
    static CYCLE_HIT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// What a project module's module-level names hold, and what its functions return, as far
/// as the module says (instances, return annotations).
#[derive(Debug, Default)]
struct ModuleValues {
    instances: HashMap<String, Value>,
    returns: HashMap<String, Value>,
    /// What reading them depended on: the module's file and whatever its names took from
    /// other modules (noted again for every question answered from them).
    reads: cache::Deps,
}

impl ProjectModel {
    /// The values of a project module, read once; `None` for a module outside the projects.
    ///
    /// The walk's threads ask at once, so a module being read by another thread is read again
    /// here rather than seen half-done: every thread gets the same answer. A module asked about
    /// while this thread is reading it (an import cycle) has no values for that read, and what
    /// such a read found is not remembered (it depends on where the cycle was entered).
    fn values_of(&self, module: &str, catalogue: &Catalogue) -> Option<Arc<ModuleValues>> {
        let known = self.instances.lock().unwrap().get(module).cloned();
        if let Some(values) = known {
            cache::note_all(&values.reads);
            return Some(values);
        }
        if READING.with(|r| r.borrow().iter().any(|m| m == module)) {
            CYCLE_HIT.with(|c| c.set(true));
            return None;
        }
        let (file, layout) = cache::traced(|| self.module_file(module));
        let Some(file) = file else {
            self.instances.lock().unwrap().insert(
                module.to_string(),
                Arc::new(ModuleValues {
                    reads: layout,
                    ..ModuleValues::default()
                }),
            );
            return None;
        };
        READING.with(|r| r.borrow_mut().push(module.to_string()));
        let outer = CYCLE_HIT.with(|c| c.replace(false));
        let remembered = self.remembered.get();
        let entry = remembered.map(|r| values_entry(r.run, module, &file));
        // Checking what the stored values read may read other modules: not this question's
        // dependencies.
        // A cycle met while checking them is not one of this read's.
        let stored = remembered.zip(entry).and_then(|(r, (name, key))| {
            let stored = cache::untraced(|| {
                r.cache
                    .load_entry::<StoredValues>("values", name, key, self)
            });
            CYCLE_HIT.with(|c| c.set(false));
            stored
        });
        let (mut values, mut read) = match stored {
            Some((stored, _)) => (stored.restore(), cache::Deps::new()),
            None => cache::captured(|| values_in(self, &file, module, catalogue)),
        };
        let cycle = CYCLE_HIT.with(|c| c.replace(outer));
        READING.with(|r| r.borrow_mut().pop());
        if !cycle {
            // What reads them depends on the values themselves (and the layout).
            let stored = StoredValues::from(&values);
            if let (Some(r), Some((name, key)), false) = (remembered, entry, read.is_empty()) {
                r.cache
                    .store_entry("values", name, key, read.clone(), &stored);
            }
            // What asks depends on the values, not on what reading them read.
            read = cache::Deps::from([cache::Dep::Values {
                module: module.to_string(),
                digest: stored.digest(),
            }]);
        }
        cache::note_all(&read);
        read.extend(layout);
        values.reads = read;
        let values = Arc::new(values);
        if cycle {
            CYCLE_HIT.with(|c| c.set(true));
        } else {
            self.instances
                .lock()
                .unwrap()
                .entry(module.to_string())
                .or_insert_with(|| values.clone());
        }
        Some(values)
    }
}

impl Globals for ProjectModel {
    fn read_source(&self, path: &Path) -> Option<Vec<u8>> {
        self.read(path)
    }

    /// Reads the module that defines the name once (its module-level code only, as a check
    /// would parse it) and resolves every module-level name there, other modules included:
    /// `db = firestore.Client()` is an instance of `google.cloud.firestore.Client`. A module
    /// asked about while it is being read (an import cycle) has no instances yet.
    fn instance_of(&self, qualified: &str, catalogue: &Catalogue) -> Option<Value> {
        let (module, name) = qualified.rsplit_once('.')?;
        self.values_of(module, catalogue)?
            .instances
            .get(name)
            .cloned()
    }

    /// The function's module is the longest prefix that is a project module (`app.db.Store.get`
    /// is in `app.db`).
    fn returns_of(&self, qualified: &str, catalogue: &Catalogue) -> Option<Value> {
        if let Some((known, reads)) = self.returns.lock().unwrap().get(qualified) {
            cache::note_all(reads);
            return known.clone();
        }
        let outer = CYCLE_HIT.with(|c| c.replace(false));
        let (value, reads) = cache::traced(|| {
            self.module_of_name(qualified).and_then(|module| {
                self.values_of(&module, catalogue)?
                    .returns
                    .get(qualified)
                    .cloned()
            })
        });
        let cycle = CYCLE_HIT.with(|c| c.replace(outer));
        if cycle {
            CYCLE_HIT.with(|c| c.set(true));
        } else {
            self.returns
                .lock()
                .unwrap()
                .insert(qualified.to_string(), (value.clone(), reads));
        }
        value
    }

    /// Read once per constructor parameter; a question met again while it is being answered
    /// (a constructor whose callers pass what it stores) is unknown for that answer, and
    /// such answers are not remembered (as for [`ProjectModel::values_of`]).
    fn arguments_of(
        &self,
        function: &str,
        name: &str,
        position: Option<usize>,
        catalogue: &Catalogue,
    ) -> Option<Passed> {
        let key = format!("{function}#{name}");
        if let Some((known, reads)) = self.arguments.lock().unwrap().get(&key) {
            cache::note_all(reads);
            return known.clone();
        }
        if READING.with(|r| r.borrow().contains(&key)) {
            CYCLE_HIT.with(|c| c.set(true));
            return None;
        }
        READING.with(|r| r.borrow_mut().push(key.clone()));
        let outer = CYCLE_HIT.with(|c| c.replace(false));
        let (passed, reads) = cache::traced(|| self.passed_to(function, name, position, catalogue));
        let cycle = CYCLE_HIT.with(|c| c.replace(outer));
        READING.with(|r| r.borrow_mut().pop());
        if cycle {
            CYCLE_HIT.with(|c| c.set(true));
        } else {
            self.arguments
                .lock()
                .unwrap()
                .insert(key, (passed.clone(), reads));
        }
        passed
    }
}

impl ProjectModel {
    /// The callers of a constructor and what they pass for `name`: every file of the class's
    /// project whose text calls the class's name is parsed whole, and each call that resolves
    /// to the class gives its argument (by keyword, else by `position`) or leaves the default.
    fn passed_to(
        &self,
        function: &str,
        name: &str,
        position: Option<usize>,
        catalogue: &Catalogue,
    ) -> Option<Passed> {
        let class = function.strip_suffix(".__init__")?;
        let class_name = class.rsplit('.').next()?;
        let module = self.module_of_name(class)?;
        let project = self.project_of(&self.module_file(&module)?);
        let files = self.caller_index(&project).0.get(class_name)?.clone();
        if files.len() > MAX_CALLER_FILES {
            return None;
        }
        let mut value: Option<Value> = None;
        let mut default_used = false;
        let mut calls = 0;
        for file in files {
            let bytes = self.read(&file)?;
            // Named without `module_name`, which would record this (absolute) spelling of
            // the file for every report, ahead of the walk's if this runs first.
            let module = project
                .names
                .get(&file)
                .cloned()
                .unwrap_or_else(|| name_below(&project.source_roots, &file));
            let parsed = self.parsed_caller(&file, bytes, module)?;
            let (source, scopes) = (parsed.file(), parsed.scopes());
            let resolver = Resolver::new(source, scopes, catalogue).with_globals(Some(self));
            for call in &scopes.calls {
                let Some(callee) = call.node.field("function") else {
                    continue;
                };
                let last = match callee.kind() {
                    "attribute" => callee.field("attribute"),
                    _ => Some(callee),
                };
                if last.map(|n| source.text(n)) != Some(class_name)
                    || resolver.callee(call.node, call.scope).as_deref() != Some(class)
                {
                    continue;
                }
                calls += 1;
                match argument_for(source, call.node, name, position)? {
                    None => default_used = true,
                    Some(expr) => {
                        let passed = resolver.infer(expr, call.scope, 0)?;
                        if value.as_ref().is_some_and(|v| *v != passed) {
                            return None;
                        }
                        value = Some(passed);
                    }
                }
            }
        }
        (calls > 0).then_some(Passed {
            value,
            default_used,
        })
    }

    /// `file` parsed whole, or as it was parsed before (here or by [`Self::keep_parsed`]) if
    /// its text is the same. A text with `\r` is parsed again (its tree holds its text with
    /// `\n` line ends).
    fn parsed_caller(
        &self,
        file: &Path,
        bytes: Vec<u8>,
        module: String,
    ) -> Option<Arc<ParsedFile>> {
        let known = self.parsed.lock().unwrap().find(file, &module, &bytes);
        if known.is_some() {
            return known;
        }
        let source = SourceFile::parse(file.display().to_string(), bytes, module).ok()?;
        let parsed = Arc::new(ParsedFile::of(source));
        self.keep_parsed(file.to_path_buf(), parsed.clone());
        Some(parsed)
    }

    /// Offers a file parsed whole (`SourceFile::parse`) at `absolute` to later questions
    /// about what a constructor's callers pass; kept while the budget allows.
    pub fn keep_parsed(&self, absolute: PathBuf, parsed: Arc<ParsedFile>) {
        self.parsed.lock().unwrap().keep(absolute, parsed);
    }

    /// Which files of a project call each capitalised name, read once per project.
    /// The answer depends on every file of the project, noted as its digest.
    fn caller_index(&self, project: &Project) -> Arc<CallerIndex> {
        let known = self.callers.lock().unwrap().get(&project.root).cloned();
        let index = known.unwrap_or_else(|| {
            let mut index = HashMap::<String, Vec<PathBuf>>::new();
            // The same digest as `Cache::project_digest` makes of the files as they are.
            let mut digest = xxhash_rust::xxh3::Xxh3::new();
            for file in project.files() {
                let bytes = self.bytes_of(&file);
                digest.update(file.as_os_str().as_encoded_bytes());
                digest.update(
                    &bytes
                        .as_deref()
                        .map_or(0, cache::content_hash)
                        .to_le_bytes(),
                );
                for name in called_class_names(bytes.as_deref().unwrap_or_default()) {
                    index.entry(name).or_default().push(file.clone());
                }
            }
            self.callers
                .lock()
                .unwrap()
                .entry(project.root.clone())
                .or_insert_with(|| Arc::new((index, digest.digest())))
                .clone()
        });
        cache::note(cache::Dep::Project {
            root: project.root.clone(),
            digest: index.1,
        });
        index
    }
}

/// The argument a call passes for a parameter: `Some(Some(expr))` when given (by keyword or
/// at `position`), `Some(None)` when left to its default, `None` when a `*args` or
/// `**kwargs` may hold it.
fn argument_for<'t>(
    source: &'t SourceFile,
    call: tree_sitter::Node<'t>,
    name: &str,
    position: Option<usize>,
) -> Option<Option<tree_sitter::Node<'t>>> {
    let arguments = call.field("arguments")?;
    if arguments.kind() != "argument_list" {
        // `Store(x for x in y)`: one generator argument.
        return Some((position == Some(0)).then_some(arguments));
    }
    let mut spread = false;
    let mut index = 0;
    let mut cursor = arguments.walk();
    for argument in arguments.named_children(&mut cursor) {
        match argument.kind() {
            "keyword_argument" => {
                if argument.field("name").map(|n| source.text(n)) == Some(name) {
                    return Some(argument.field("value"));
                }
            }
            "list_splat" | "dictionary_splat" => spread = true,
            "comment" => {}
            _ => {
                if !spread && position == Some(index) {
                    return Some(Some(argument));
                }
                index += 1;
            }
        }
    }
    (!spread).then_some(None)
}

/// The capitalised names a file's text calls (`Store(`, `Store (`): classes by convention.
fn called_class_names(bytes: &[u8]) -> std::collections::HashSet<String> {
    let is_name = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = std::collections::HashSet::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_uppercase() || (i > 0 && is_name(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_name(bytes[i]) {
            i += 1;
        }
        let mut next = i;
        while next < bytes.len() && bytes[next] == b' ' {
            next += 1;
        }
        if bytes.get(next) == Some(&b'(') {
            if let Ok(name) = std::str::from_utf8(&bytes[start..i]) {
                out.insert(name.to_string());
            }
        }
    }
    out
}

/// The module-level names of a module that hold instances, and what its annotated
/// functions return.
fn values_in(
    model: &ProjectModel,
    file: &Path,
    module: &str,
    catalogue: &Catalogue,
) -> ModuleValues {
    let Some(bytes) = model.read(file) else {
        return ModuleValues::default();
    };
    let shown = file.display().to_string();
    let source = match model.take_parse(file, &bytes, shown.clone(), module.to_string()) {
        Some(source) => source,
        None => {
            let with_coroutine = super::chunks::has_async_def(&bytes);
            let Ok(source) = SourceFile::parse_for_check(shown, bytes, module.to_string()) else {
                return ModuleValues::default();
            };
            // The walk parses files with a coroutine (only those) the same way.
            if with_coroutine {
                model.offer_parse(file, &source, true);
            }
            source
        }
    };
    let scopes = Scopes::build(&source);
    let resolver = Resolver::new(&source, &scopes, catalogue).with_globals(Some(model));
    let mut out = HashMap::new();
    for (name, origins) in &scopes.get(MODULE_SCOPE).bindings {
        // Definitions and classes are names, not instances: not worth resolving.
        if origins
            .iter()
            .all(|o| matches!(o, Origin::Def(_) | Origin::Class(_)))
        {
            continue;
        }
        if let Some(value @ Value::Instance(_)) = resolver.lookup(name, MODULE_SCOPE, 0) {
            out.insert(name.to_string(), value);
        }
    }
    let mut returns = HashMap::new();
    let annotated = scopes
        .annotated_returns
        .keys()
        .chain(scopes.written_returns.keys())
        .chain(scopes.returned_calls.keys());
    for function in annotated {
        let called = Value::Name(function.clone());
        if let Some(value @ Value::Instance(_)) = resolver.call_result(&called, 0) {
            returns.insert(function.clone(), value);
        }
    }
    ModuleValues {
        instances: out,
        returns,
        reads: cache::Deps::new(),
    }
}

/// The name and key of a module's values entry: one per module file and settings.
fn values_entry(run: u64, module: &str, file: &Path) -> (u64, u64) {
    let run = run.to_le_bytes();
    let path = file.as_os_str().as_encoded_bytes();
    let name = cache::fingerprint([b"values".as_slice(), &run, path]);
    let key = cache::fingerprint([run.as_slice(), module.as_bytes(), path]);
    (name, key)
}

/// [`ModuleValues`] as stored, sorted (so that equal values have one digest).
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredValues {
    instances: Vec<(String, StoredValue)>,
    returns: Vec<(String, StoredValue)>,
}

#[derive(serde::Serialize, serde::Deserialize)]
enum StoredValue {
    Name(String),
    Instance(String),
    Member(String, String),
}

impl StoredValue {
    fn from(value: &Value) -> StoredValue {
        match value {
            Value::Name(n) => StoredValue::Name(n.clone()),
            Value::Instance(n) => StoredValue::Instance(n.clone()),
            Value::Member(t, a) => StoredValue::Member(t.clone(), a.clone()),
        }
    }

    fn restore(self) -> Value {
        match self {
            StoredValue::Name(n) => Value::Name(n),
            StoredValue::Instance(n) => Value::Instance(n),
            StoredValue::Member(t, a) => Value::Member(t, a),
        }
    }
}

impl From<&ModuleValues> for StoredValues {
    fn from(values: &ModuleValues) -> Self {
        let sorted = |map: &HashMap<String, Value>| {
            let mut out: Vec<(String, StoredValue)> = map
                .iter()
                .map(|(k, v)| (k.clone(), StoredValue::from(v)))
                .collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        };
        StoredValues {
            instances: sorted(&values.instances),
            returns: sorted(&values.returns),
        }
    }
}

impl StoredValues {
    fn digest(&self) -> u64 {
        cache::content_hash(&postcard::to_stdvec(self).unwrap_or_default())
    }

    fn restore(self) -> ModuleValues {
        ModuleValues {
            instances: self
                .instances
                .into_iter()
                .map(|(k, v)| (k, v.restore()))
                .collect(),
            returns: self
                .returns
                .into_iter()
                .map(|(k, v)| (k, v.restore()))
                .collect(),
            reads: cache::Deps::new(),
        }
    }
}

/// The dotted name of `file` below the deepest of `source_roots` that holds it; a file with a
/// part that is no Python name (`my-scripts/run.py`) is named by its stem, as a script.
fn name_below(source_roots: &[PathBuf], file: &Path) -> String {
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("")
        .to_string();
    let Some(below) = source_roots.iter().find_map(|s| file.strip_prefix(s).ok()) else {
        return stem;
    };
    let mut parts: Vec<&str> = Vec::new();
    if let Some(parent) = below.parent() {
        for component in parent.components() {
            match component.as_os_str().to_str() {
                Some(part) if is_identifier(part) => parts.push(part),
                _ => return stem,
            }
        }
    }
    if stem != "__init__" {
        if !is_identifier(&stem) {
            return stem;
        }
        parts.push(&stem);
    }
    parts.join(".")
}

fn is_identifier(part: &str) -> bool {
    part.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && part.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// `base.join(path)` with `.` and `..` taken out lexically.
fn normalise(base: &Path, path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

impl cache::Witness for ProjectModel {
    fn layout(&self, root: &Path) -> u64 {
        self.project_of(root).layout
    }

    fn project_digest(&self, root: &Path, cache: &cache::Cache) -> u64 {
        cache.project_digest(root, || self.project_of(root).files())
    }

    fn values_digest(&self, module: &str) -> Option<u64> {
        let remembered = self.remembered.get()?;
        let values = cache::untraced(|| self.values_of(module, &remembered.catalogue))?;
        // Values read through an import cycle are not remembered, nor depended on.
        Some(StoredValues::from(&*values).digest())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn touch(root: &Path, rel: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "").unwrap();
    }

    #[test]
    fn names_follow_source_roots_and_namespace_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for rel in [
            "pyproject.toml",
            "main.py",
            "backend/app.py",
            "backend/utils/__init__.py",
            "backend/utils/conversations/location.py",
            "src/lib/__init__.py",
            "src/lib/core.py",
            "scripts/run.py",
            "my-tools/x.py",
            "backend/utils/telemetry/__init__.py",
            "backend/utils/telemetry/setup.py",
        ] {
            touch(root, rel);
        }
        let model = ProjectModel::default();
        let name = |rel: &str| model.module_name(&root.join(rel));
        assert_eq!(name("main.py"), "main");
        assert_eq!(name("backend/app.py"), "app");
        assert_eq!(name("backend/utils/__init__.py"), "utils");
        assert_eq!(
            name("backend/utils/conversations/location.py"),
            "utils.conversations.location"
        );
        assert_eq!(name("src/lib/core.py"), "lib.core");
        assert_eq!(name("scripts/run.py"), "scripts.run");
        assert_eq!(name("my-tools/x.py"), "x");
        // A setup.py inside a package is a module, not a project root.
        assert_eq!(
            name("backend/utils/telemetry/setup.py"),
            "utils.telemetry.setup"
        );
        assert_eq!(model.root_of(&root.join("backend/utils")), root);
    }

    /// An unpacked wheel has no project marker: its packages are still named from the folder
    /// holding them, not from the folder of each file (`langflow/api/v1/voice_mode.py` was
    /// `voice_mode`, and no import of `langflow.api...` reached it).
    #[test]
    fn a_tree_without_markers_is_rooted_above_its_outermost_package() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for rel in [
            "langflow/__init__.py",
            "langflow/api/__init__.py",
            "langflow/api/v1/__init__.py",
            "langflow/api/v1/voice_mode.py",
            "loose/script.py",
        ] {
            touch(root, rel);
        }
        let model = ProjectModel::default();
        let name = |rel: &str| model.module_name(&root.join(rel));
        assert_eq!(
            name("langflow/api/v1/voice_mode.py"),
            "langflow.api.v1.voice_mode"
        );
        assert_eq!(model.root_of(&root.join("langflow/api/v1")), root);
        assert_eq!(name("loose/script.py"), "script");
    }

    #[test]
    fn the_same_file_gets_the_same_name_from_any_model() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for rel in [
            ".git/HEAD",
            "pkg/__init__.py",
            "pkg/ns/sub/__init__.py",
            "pkg/ns/sub/m.py",
        ] {
            touch(root, rel);
        }
        let file = root.join("pkg/ns/sub/m.py");
        assert_eq!(ProjectModel::default().module_name(&file), "pkg.ns.sub.m");
        let model = ProjectModel::default();
        model.project_of(root);
        assert_eq!(model.module_name(&file), "pkg.ns.sub.m");
    }

    #[test]
    fn configured_source_roots_replace_the_guess() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for rel in ["pyproject.toml", "backend/db.py", "backend/main.py"] {
            touch(root, rel);
        }
        assert_eq!(
            ProjectModel::default().module_name(&root.join("backend/db.py")),
            "backend.db"
        );
        let model = ProjectModel::new(Some(vec![root.join("backend")]), Vec::new());
        assert_eq!(model.module_name(&root.join("backend/db.py")), "db");
        assert_eq!(
            model.modules()["main"],
            model.display(&root.join("backend/main.py"))
        );
    }

    #[test]
    fn a_module_claimed_twice_is_said_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for rel in ["setup.py", "tool.py", "tool/__init__.py"] {
            touch(root, rel);
        }
        let model = ProjectModel::default();
        model.project_of(root);
        assert_eq!(
            model.modules()["tool"],
            model.display(&root.join("tool/__init__.py"))
        );
        let diagnostics = model.diagnostics(&[]);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert!(diagnostics[0].message.contains("`tool`"));
        // A project with a marker: its layout problems concern every check of it.
        touch(root, "other/job.py");
        assert_eq!(model.diagnostics(&[root.join("other")]).len(), 1);
        // Without one, checking another folder: that clash is not its concern.
        std::fs::remove_file(root.join("setup.py")).unwrap();
        let model = ProjectModel::default();
        model.project_of(root);
        assert!(model.diagnostics(&[root.join("other")]).is_empty());
        assert_eq!(model.diagnostics(&[root.join("tool")]).len(), 1);
    }

    #[test]
    fn names_no_import_can_spell_do_not_clash() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for rel in [
            "setup.py",
            "my-tools/0001_initial.py",
            "my-scripts/0001_initial.py",
            "a-b/run.py",
            "c-d/run.py",
        ] {
            touch(root, rel);
        }
        let model = ProjectModel::default();
        model.project_of(root);
        let diagnostics = model.diagnostics(&[]);
        // `run` (a script's stem) can be imported: said; `0001_initial` cannot: not said.
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert!(diagnostics[0].message.contains("`run`"));
    }
}

//! The engine: walk → parse → resolve names → find → (fix → verify, later) → report.
//!
//! Every front end (`check`, and later `diff`, `apply`, `lsp`) is a thin layer over
//! [`Engine::check`]. Stages live in their own modules:
//! - `walk`: which files, read in parallel; only files containing `async` are parsed.
//! - `source`: a file's bytes, tree and positions; the non-recursive tree walk.
//! - `scope`: pass 1 over a file, scopes and bindings.
//! - `resolve`: names and a little type inference, down to fully qualified callees.
//! - `index`: what the project defines across files (its `async def`s).
//! - this module: pass 2, matching calls in async context against the catalogue and handing
//!   them, and the file, to the recipes.
//! - `suppress`: `# unblock: ignore[...]` and `# noqa: ASYNCxxx` comments.

pub mod cache;
pub mod callgraph;
pub mod chunks;
pub mod concurrency;
pub mod cpython;
pub mod fix;
pub mod graph_cache;
pub mod graph_export;
pub mod imports;
pub mod index;
pub mod nested;
pub mod own_loop;
pub mod parsed;
pub mod project;
pub mod propagate;
pub mod recipe;
pub mod resolve;
pub mod rewrite;
pub mod scope;
pub mod source;
pub mod style;
pub mod suppress;
pub mod syntax;
pub mod walk;
pub mod witness;
pub mod work;

use std::collections::HashSet;
use std::path::PathBuf;

use tree_sitter::Node;

use crate::catalogue::{BlockingCall, Catalogue};
use crate::config::LoadedConfig;
use crate::finding::{Finding, FixInfo, Kind};
use index::ProjectIndex;
use resolve::Resolver;
use scope::{ScopeId, ScopeKind, Scopes};
use source::SourceFile;
use syntax::Field;

/// What to report: recipe selection as given by configuration and command line.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub select: Vec<String>,
    pub ignore: Vec<String>,
}

/// Entries are recipe ids or ruff / flake8-async codes (`ASYNC251`): a code stands for the
/// findings that carry it.
impl Selection {
    /// Whether a recipe may report anything: checked before it looks at a file. A selected code
    /// lets every recipe look; [`Selection::allows_finding`] then keeps what carries the code.
    pub fn allows(&self, recipe: &str) -> bool {
        (self.select.is_empty()
            || self
                .select
                .iter()
                .any(|s| s == recipe || recipe::is_code(s)))
            && !self.ignore.iter().any(|s| s == recipe)
    }

    /// Whether a finding is reported: its recipe or one of its codes selected, and neither
    /// ignored.
    pub fn allows_finding(&self, finding: &Finding) -> bool {
        let names = |s: &String| {
            s == finding.recipe || finding.noqa_codes.iter().any(|c| c.eq_ignore_ascii_case(s))
        };
        (self.select.is_empty() || self.select.iter().any(names)) && !self.ignore.iter().any(names)
    }
}

pub struct Engine {
    /// The recipes this engine runs, handed in by the front end (`recipes::builtin()`).
    pub recipes: recipe::Recipes,
    pub catalogue: Catalogue,
    pub config: LoadedConfig,
    pub selection: Selection,
    /// Show a progress bar on stderr (a terminal) for long runs.
    pub progress: bool,
    /// Parse only what direct findings need (see `chunks`); off in tests that compare.
    pub partial_parse: bool,
    /// `--target-version` from the command line (over the configuration's).
    pub target_version: Option<String>,
    /// `--propagate`: plan making blocking sync chains async (see `propagate`); their indirect
    /// findings are fixed that way, or say why not.
    pub propagate: bool,
    /// Handed the source of each file checked again (not reused from the cache) that holds a
    /// finding: `check` judges those with CPython after the run, and can start on them now.
    pub rechecked_with_findings: Option<SourceHandler>,
    /// Build the call graph and report indirect findings (`--no-indirect` turns it off).
    pub indirect: bool,
    /// `--unsafe-fixes`: the `--propagate` plan may count on unsafe fixes of the blocking
    /// calls inside the functions it makes async.
    pub unsafe_fixes: bool,
    /// Which module each file is, and which file each module: shared by every stage.
    pub project: std::sync::Arc<project::ProjectModel>,
    /// `--force-exclude`: the exclusions apply to the paths given too.
    pub force_exclude: bool,
    /// `--config FILE` was given: it applies to every file. Otherwise the nearest
    /// configuration above each file applies to it, as in ruff.
    pub explicit_config: bool,
    /// `--select` / `--ignore` as given on the command line (over every configuration).
    pub cli_selection: Selection,
    /// `--http-client` from the command line (over every configuration's).
    pub cli_http_client: Option<String>,
    /// The target version each folder's nearest `pyproject.toml` implies
    /// (`requires-python`), for files no configuration gives one.
    inferred_targets: std::sync::Mutex<std::collections::HashMap<PathBuf, Option<String>>>,
    /// The command's configuration's `per-file-ignores`.
    per_file_ignores: suppress::PerFileIgnores,
    /// Configurations below the command's that could not be read (the file, and the error
    /// with its line): said once each, and their folders checked with the next one up.
    broken_configs: std::sync::Mutex<std::collections::BTreeMap<PathBuf, String>>,
    /// The configurations other than `config` that files were found under, by folder.
    local_configs:
        std::sync::Mutex<std::collections::HashMap<PathBuf, Option<std::sync::Arc<LocalSettings>>>>,
    /// The summary cache (`check` without `--no-cache`): what earlier runs derived from each
    /// file, reused when nothing it depends on changed.
    pub cache: Option<std::sync::Arc<cache::Cache>>,
    /// Whether the caller wants only what a report shows (its findings and diagnostics, not
    /// the project index fixes need): then, with the cache, a run of a tree where nothing it
    /// looked at changed replays the report the last such run stored (see `witness`).
    pub replay_unchanged_runs: bool,
}

/// What a configuration other than the command's decides for the files below it.
#[derive(Debug)]
struct LocalSettings {
    catalogue: Catalogue,
    per_file_ignores: suppress::PerFileIgnores,
    selection: Selection,
    http_client: Option<String>,
    target_version: Option<String>,
    /// A hash of the configuration, for the summary cache's keys.
    fingerprint: u64,
}

/// The settings one file is checked with: the command's, or its own configuration's.
struct FileSettings<'e> {
    catalogue: &'e Catalogue,
    per_file_ignores: &'e suppress::PerFileIgnores,
    selection: &'e Selection,
    http_client: Option<&'e str>,
    target_version: Option<&'e str>,
    /// The local configuration's [`LocalSettings::fingerprint`]; 0 for the command's own.
    fingerprint: u64,
}

/// The qualified name of the innermost function whose body holds `byte`.
fn innermost_function(scopes: &Scopes, byte: usize) -> Option<String> {
    scopes
        .scopes
        .iter()
        .filter(|s| matches!(s.kind, ScopeKind::Function { .. }))
        .filter(|s| s.node.start_byte() <= byte && byte < s.node.end_byte())
        .min_by_key(|s| s.node.end_byte() - s.node.start_byte())
        .map(|s| s.qualname.clone())
}

/// A message about the run itself (unreadable file, syntax error), not a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: String,
    pub message: String,
    pub severity: Severity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub diagnostics: Vec<Diagnostic>,
    /// Python files looked at, and how many of those contained `async` and were parsed.
    pub files_scanned: usize,
    pub files_parsed: usize,
    /// Paths that could not be read at all (missing, unreadable).
    pub unreadable: usize,
    /// What the checked files define, for fixing them afterwards.
    pub project: ProjectIndex,
    /// Calls in coroutines the call graph could not follow, by the top-level module they go
    /// into: neither a project module, nor the standard library, nor a library the catalogue
    /// knows. An indirect all-clear says nothing about what runs behind them.
    pub unfollowed: std::collections::BTreeMap<String, usize>,
    /// Checked files that change `sys.path` (not followed: the imports it enables may be
    /// among the unfollowed modules).
    pub sys_path_edits: Vec<PathBuf>,
    /// Walked files whose names are not UTF-8, by how reports spell them (lossily): where
    /// `diff` and `apply` find them on disk. `None` when two names spell the same.
    pub non_utf8_names: std::collections::BTreeMap<String, Option<PathBuf>>,
}

impl Report {
    /// Where the file reports spell `path` is on disk.
    pub fn on_disk(&self, path: &str) -> Result<PathBuf, String> {
        match self.non_utf8_names.get(path) {
            Some(Some(file)) => Ok(file.clone()),
            Some(None) => Err(
                "its name is not UTF-8 and another file's name reads the same: not fixed (rename it)"
                    .into(),
            ),
            None => Ok(PathBuf::from(path)),
        }
    }
}

impl Engine {
    pub fn new(config: LoadedConfig, mut selection: Selection, recipes: recipe::Recipes) -> Engine {
        let cli_selection = selection.clone();
        let mut catalogue = Catalogue::builtin();
        catalogue.extend(&config.config.extend_blocking_calls);
        selection
            .select
            .extend(config.config.select.iter().cloned());
        selection
            .ignore
            .extend(config.config.ignore.iter().cloned());
        let config_for_model = config.clone();
        let per_file_ignores =
            suppress::PerFileIgnores::new(config.root.as_deref(), &config.config.per_file_ignores);
        Engine {
            recipes,
            per_file_ignores,
            catalogue,
            config,
            selection,
            progress: false,
            partial_parse: true,
            target_version: None,
            propagate: false,
            rechecked_with_findings: None,
            indirect: true,
            unsafe_fixes: false,
            project: std::sync::Arc::new(project_model(&config_for_model)),
            force_exclude: false,
            explicit_config: false,
            cli_selection,
            cli_http_client: None,
            inferred_targets: Default::default(),
            broken_configs: Default::default(),
            local_configs: Default::default(),
            cache: None,
            replay_unchanged_runs: false,
        }
    }

    /// The target version the command runs with (`--target-version`, else the configuration's).
    pub fn command_target_version(&self) -> Option<&str> {
        self.target_version
            .as_deref()
            .or(self.config.config.target_version.as_deref())
    }

    /// Restricts the recipes for the next runs (`apply --branch`, one recipe per commit), over
    /// every configuration.
    pub fn select_only(&mut self, selection: Selection) {
        self.cli_selection = selection.clone();
        self.selection = selection;
    }

    /// The settings for a file: those of the nearest configuration above it (the command's
    /// own when it is that one, or when `--config` was given).
    fn settings_for<'e>(
        &'e self,
        path: &str,
        holder: &'e mut Option<std::sync::Arc<LocalSettings>>,
    ) -> FileSettings<'e> {
        let own = FileSettings {
            catalogue: &self.catalogue,
            per_file_ignores: &self.per_file_ignores,
            selection: &self.selection,
            http_client: self.config.config.http_client.as_deref(),
            target_version: self.command_target_version(),
            fingerprint: 0,
        };
        let absolute = self.project.absolute(std::path::Path::new(path));
        let Some(dir) = absolute.parent().map(std::path::Path::to_path_buf) else {
            return own;
        };
        let own = FileSettings {
            target_version: own.target_version.or_else(|| self.inferred_target(&dir)),
            ..own
        };
        if self.explicit_config {
            return own;
        }
        let local = self.settings_in(&dir);
        *holder = local;
        match holder.as_deref() {
            None => own,
            Some(local) => FileSettings {
                catalogue: &local.catalogue,
                per_file_ignores: &local.per_file_ignores,
                selection: &local.selection,
                http_client: self
                    .cli_http_client
                    .as_deref()
                    .or(local.http_client.as_deref()),
                target_version: self
                    .target_version
                    .as_deref()
                    .or(local.target_version.as_deref())
                    .or_else(|| self.inferred_target(&dir)),
                fingerprint: local.fingerprint,
            },
        }
    }

    /// The target version the nearest `pyproject.toml` above `dir` implies through
    /// `requires-python`, remembered per folder.
    fn inferred_target(&self, dir: &std::path::Path) -> Option<&'static str> {
        let known = self.inferred_targets.lock().unwrap().get(dir).cloned();
        let target = match known {
            Some(target) => target,
            None => {
                // The nearest `pyproject.toml` decides: asked of the parent when this folder
                // has none, so every folder on the way up is remembered and each file is
                // read once (not once per folder below it).
                let own = dir.join("pyproject.toml");
                let target = if witness::is_file(&own) {
                    std::fs::read_to_string(own)
                        .ok()
                        .and_then(|text| crate::config::target_from_pyproject(&text))
                } else {
                    dir.parent()
                        .and_then(|parent| self.inferred_target(parent))
                        .map(str::to_string)
                };
                self.inferred_targets
                    .lock()
                    .unwrap()
                    .insert(dir.to_path_buf(), target.clone());
                target
            }
        };
        // Interned: the settings borrow it for the file's check.
        crate::config::TARGET_VERSIONS
            .iter()
            .copied()
            .find(|v| Some(*v) == target.as_deref())
    }

    /// The settings of the configuration nearest above `dir`, `None` when that is the
    /// command's own. Every folder on the way up is remembered, so a tree of thousands of
    /// folders reads each `pyproject.toml` once. A configuration that cannot be read there is
    /// passed over, and said in the report ([`Engine::configuration_diagnostics`]).
    fn settings_in(&self, dir: &std::path::Path) -> Option<std::sync::Arc<LocalSettings>> {
        if let Some(known) = self.local_configs.lock().unwrap().get(dir) {
            return known.clone();
        }
        let here = ["unblock.toml", "pyproject.toml"].iter().find_map(|name| {
            let candidate = dir.join(name);
            if !witness::is_file(&candidate) {
                return None;
            }
            let config = match crate::config::Config::from_file(&candidate) {
                Ok(config) => config?,
                Err(message) => {
                    self.broken_configs
                        .lock()
                        .unwrap()
                        .insert(candidate, message);
                    return None;
                }
            };
            Some((candidate, config, dir))
        });
        let settings = match here {
            Some((source, config, root)) => {
                let own = self
                    .config
                    .source
                    .as_ref()
                    .and_then(|s| std::fs::canonicalize(s).ok());
                if own.is_some() && std::fs::canonicalize(&source).ok() == own {
                    None
                } else {
                    Some(self.local_settings(config, Some(root)))
                }
            }
            None => match dir.parent() {
                Some(parent) => self.settings_in(parent),
                // No configuration above: the defaults, which are the command's own when it
                // found none either.
                None => self
                    .config
                    .source
                    .is_some()
                    .then(|| self.local_settings(crate::config::Config::default(), None)),
            },
        };
        self.local_configs
            .lock()
            .unwrap()
            .insert(dir.to_path_buf(), settings.clone());
        settings
    }

    fn local_settings(
        &self,
        config: crate::config::Config,
        root: Option<&std::path::Path>,
    ) -> std::sync::Arc<LocalSettings> {
        let fingerprint = cache::fingerprint([format!("{config:?}").as_bytes()]);
        let mut catalogue = Catalogue::builtin();
        catalogue.extend(&config.extend_blocking_calls);
        let mut selection = self.cli_selection.clone();
        selection.select.extend(config.select.iter().cloned());
        selection.ignore.extend(config.ignore.iter().cloned());
        std::sync::Arc::new(LocalSettings {
            catalogue,
            per_file_ignores: suppress::PerFileIgnores::new(root, &config.per_file_ignores),
            selection,
            http_client: config.http_client,
            target_version: config.target_version,
            fingerprint,
        })
    }

    /// What every key of a run's cache entries includes: the command's settings and where it
    /// runs from (project roots and module names of files without a marker above depend on
    /// it).
    fn run_fingerprint(&self) -> u64 {
        let settings = format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{}|{}",
            self.config.config,
            self.config.source,
            self.selection,
            self.cli_selection,
            self.target_version,
            self.cli_http_client,
            self.explicit_config,
            self.indirect,
            self.partial_parse
        );
        let cwd = std::env::current_dir().unwrap_or_default();
        cache::fingerprint([settings.as_bytes(), cwd.as_os_str().as_encoded_bytes()])
    }

    /// The key of a checked file's entry: its content, how it is named and shown, and the
    /// settings that apply to it. Its bytes' hash is also noted for this run's checks of
    /// what other entries read.
    fn file_key(
        &self,
        cache: &cache::Cache,
        run: u64,
        path: &std::path::Path,
        bytes: &[u8],
    ) -> u64 {
        let hash = cache::content_hash(bytes);
        cache.saw(&self.project.absolute(path), hash);
        let shown = path.display().to_string();
        let module = self.project.module_name(path);
        let mut holder = None;
        let settings = self.settings_for(&shown, &mut holder);
        let applied = format!("{:?}|{:?}", settings.http_client, settings.target_version);
        cache::fingerprint([
            run.to_le_bytes().as_slice(),
            shown.as_bytes(),
            module.as_bytes(),
            hash.to_le_bytes().as_slice(),
            settings.fingerprint.to_le_bytes().as_slice(),
            applied.as_bytes(),
        ])
    }

    /// [`Engine::check_file`] through the cache: the result is stored with what it read,
    /// under the key its bytes were looked up with (the bytes on disk: a parsed file's are
    /// read with universal newlines).
    fn check_file_cached(
        &self,
        cache: &cache::Cache,
        key: Option<u64>,
        file: &SourceFile,
        handed_over: bool,
    ) -> CheckedFile {
        let (checked, deps) = cache::traced(|| self.check_file(file));
        // Judged now only when it will have a finding: a file holding only candidates (most
        // of them dropped by the call graph) is judged at the end if one is kept.
        if let (false, Some(hand_over)) = (handed_over, &self.rechecked_with_findings) {
            if checked.findings.iter().any(Finding::is_settled) {
                hand_over(&file.bytes);
            }
        }
        if let Some(key) = key {
            let path = std::path::Path::new(&file.path);
            cache.store_checked(&self.project.absolute(path), key, deps, &checked);
        }
        checked
    }

    /// The call graph's answers, each from the cache while none of the modules it was
    /// derived from changed in the same layout (see `graph_cache`).
    fn analyse_cached(
        &self,
        run: Option<u64>,
        paths: &[PathBuf],
        modules: &std::collections::HashMap<String, PathBuf>,
        candidates: &HashSet<String>,
    ) -> callgraph::Analysis {
        let (Some(cache), Some(run)) = (self.cache.as_deref(), run) else {
            return callgraph::analyse(&self.catalogue, modules, Some(&*self.project), candidates);
        };
        // Chains name files as the walk spelled them: the paths given are part of the name.
        let name = run_with_paths(run, paths);
        let mut layout: Vec<(&String, &PathBuf)> = modules.iter().collect();
        layout.sort();
        let key =
            cache::fingerprint(layout.into_iter().flat_map(|(module, file)| {
                [module.as_bytes(), file.as_os_str().as_encoded_bytes()]
            }));
        graph_cache::analyse(
            &self.catalogue,
            modules,
            &*self.project,
            candidates,
            graph_cache::Stored {
                cache,
                run,
                name,
                key,
            },
        )
    }

    pub fn check(&self, paths: &[PathBuf]) -> Report {
        let started = std::time::Instant::now();
        let replay = match (self.replay_unchanged_runs, self.cache.as_deref()) {
            (true, Some(cache)) => Some((cache, self.whole_run_name(paths))),
            _ => None,
        };
        let mut changed = None;
        if let Some((cache, name)) = replay {
            match cache.load_run(name) {
                Ok(report) => return self.replayed(report, started),
                Err(path) => changed = path,
            }
        }
        let recording = replay.and_then(|_| witness::Recording::start());
        let report = self.check_afresh(paths, changed.as_deref());
        if let (Some((cache, name)), Some(recording)) = (replay, recording) {
            // A configuration that could not be read is said by the command from the engine,
            // not the report: such a run is not replayed.
            if let Some(sights) = recording.finish() {
                if self.configuration_diagnostics().is_empty() {
                    cache.store_run(name, sights, &report);
                }
            }
        }
        report
    }

    /// A stored report shown again (see [`Engine::check`]).
    fn replayed(&self, mut report: Report, started: std::time::Instant) -> Report {
        report.project.model = self.project.clone();
        if std::env::var_os("UNBLOCK_TIMINGS").is_some() {
            eprintln!("timings: {:?} in all", started.elapsed());
            eprintln!("cache: the last run's report replayed: nothing it looked at changed");
        }
        report
    }

    /// What names a whole run's stored report: the settings, the paths as given (reports
    /// spell files as the walk did), and the options that change what the report holds.
    fn whole_run_name(&self, paths: &[PathBuf]) -> u64 {
        // Where the home folder is decides which folder is no project, and where the user's
        // global ignore files are.
        let options = format!(
            "{paths:?}|{}|{}|{:?}|{:?}",
            self.propagate,
            self.force_exclude,
            std::env::var_os("HOME"),
            std::env::var_os("XDG_CONFIG_HOME")
        );
        cache::fingerprint([
            b"run".as_slice(),
            &self.run_fingerprint().to_le_bytes(),
            options.as_bytes(),
        ])
    }

    /// A run that reads the tree: `changed` is a file known to have changed since the last
    /// run (found while trying to replay it), which is judged by CPython at once if that run
    /// reported findings in it.
    fn check_afresh(&self, paths: &[PathBuf], changed_file: Option<&std::path::Path>) -> Report {
        let started = std::time::Instant::now();
        let cache = self.cache.as_deref();
        let run = cache.map(|_| self.run_fingerprint());
        if let (Some(cache), Some(run)) = (&self.cache, run) {
            self.project
                .remember_values(cache.clone(), run, &self.catalogue);
        }
        // A file whose entry still holds is not parsed at all; the others are checked under
        // the key they were looked up with.
        let keys: std::sync::Mutex<std::collections::HashMap<String, u64>> = Default::default();
        // Files handed to `rechecked_with_findings` before they were checked again.
        let handed_over: std::sync::Mutex<HashSet<String>> = Default::default();
        // Files an earlier run checked, checked again: their modules' values may be read
        // again too (see `ProjectModel::offer_parse`).
        let changed: std::sync::Mutex<HashSet<String>> = Default::default();
        let reported_name = run.map(|run| run_with_paths(run, paths));
        let reported_before = match (cache, reported_name) {
            (Some(cache), Some(name)) => cache.load_reported(name),
            _ => HashSet::new(),
        };
        // Started before the walk reaches it: CPython's start and its compile of a large
        // file took longer than the rest of such a run. The walk hands it over again, which
        // costs nothing (each source is judged once per run).
        if let (Some(file), Some(hand_over)) = (changed_file, &self.rechecked_with_findings) {
            if reported_before.contains(&self.project.absolute(file)) {
                if let Some(bytes) = witness::read(file) {
                    hand_over(&bytes);
                }
            }
        }
        let reuse = |path: &std::path::Path, bytes: &[u8]| -> Option<CheckedFile> {
            let (cache, run) = (cache?, run?);
            let key = self.file_key(cache, run, path, bytes);
            let absolute = self.project.absolute(path);
            let (found, had_findings) = cache.look_up_checked(&absolute, key, &*self.project);
            if found.is_none() {
                keys.lock().unwrap().insert(path.display().to_string(), key);
                // Judged while it is parsed and checked again: CPython's start and compile
                // took as long as the check of a changed file. (Its verdict waits unused if
                // the file has no finding any more.)
                let likely_findings =
                    had_findings == Some(true) || reported_before.contains(&absolute);
                if let (true, Some(hand_over)) = (likely_findings, &self.rechecked_with_findings) {
                    hand_over(bytes);
                    handed_over
                        .lock()
                        .unwrap()
                        .insert(path.display().to_string());
                }
                if had_findings.is_some() {
                    changed.lock().unwrap().insert(path.display().to_string());
                }
            }
            found
        };
        // Each file is checked on the worker that parsed it and dropped there: no tree outlives
        // its file's check, so memory stays flat and nothing waits for the whole walk.
        let walked = walk::read_tree(
            paths,
            &self.config,
            &self.project,
            walk::ReadOptions {
                progress: self.progress,
                partial_parse: self.partial_parse,
                force_exclude: self.force_exclude,
            },
            cache.map(|_| &reuse as walk::Reuse<CheckedFile>),
            cache.map(|cache| cache as &dyn walk::Recall),
            &|file: SourceFile| match cache {
                Some(cache) => {
                    let key = keys.lock().unwrap().remove(&file.path);
                    let handed = handed_over.lock().unwrap().remove(&file.path);
                    let checked = self.check_file_cached(cache, key, &file, handed);
                    if changed.lock().unwrap().remove(&file.path) {
                        let absolute = self.project.absolute(std::path::Path::new(&file.path));
                        self.project.offer_parse(&absolute, &file, false);
                    }
                    checked
                }
                None => self.check_file(&file),
            },
        );
        let mut report = Report {
            diagnostics: walked.diagnostics,
            files_scanned: walked.files_scanned,
            files_parsed: walked.results.len(),
            unreadable: walked.unreadable,
            sys_path_edits: walked.sys_path_edits,
            ..Report::default()
        };
        for path in walked.python_files.iter().filter(|p| p.to_str().is_none()) {
            report
                .non_utf8_names
                .entry(path.display().to_string())
                .and_modify(|known| *known = None)
                .or_insert_with(|| Some(path.clone()));
        }
        let mut project = ProjectIndex::default();
        for checked in walked.results {
            report.findings.extend(checked.findings);
            report.diagnostics.extend(checked.diagnostics);
            project.add(checked.definitions);
        }
        // The paths select what is reported, not what is understood: the projects they lie in
        // are all the call graph may follow (listed now for the paths whose files held no
        // coroutine).
        for path in paths.iter().filter(|p| witness::exists(p)) {
            self.project.project_of(path);
        }
        if paths.is_empty() {
            self.project.project_of(std::path::Path::new("."));
        }
        report.diagnostics.extend(self.project.diagnostics(paths));
        report.diagnostics.extend(self.configuration_diagnostics());
        let modules = self.project.modules();
        let candidates = candidate_callees(&report.findings);
        report.unfollowed = unfollowed_calls(&self.catalogue, &modules, &report.findings);
        let graph_started = std::time::Instant::now();
        let analysis = self.analyse_cached(run, paths, &modules, &candidates);
        project.indirect = analysis.indirect;
        project.parameter_calls = analysis.parameter_calls;
        if self.propagate {
            project.propagation = self.propagation_plan(&project.indirect);
        }
        let graph_time = graph_started.elapsed();
        project.settle(&mut report.findings);
        if let (Some(cache), Some(name)) = (cache, reported_name) {
            let reported: HashSet<PathBuf> = report
                .findings
                .iter()
                .map(|f| self.project.absolute(std::path::Path::new(&f.path)))
                .collect();
            if reported != reported_before {
                cache.store_reported(name, &reported);
            }
        }
        project.model = self.project.clone();
        report.project = project;
        report
            .findings
            .sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        report.diagnostics.sort_by(|a, b| a.path.cmp(&b.path));
        report.sys_path_edits.sort();
        // A development aid for the speed bar: where the time of a run goes.
        if std::env::var_os("UNBLOCK_TIMINGS").is_some() {
            eprintln!(
                "timings: {:?} in all ({:?} call graph, {} candidate callees), {} files scanned, {} parsed, {} bytes parsed in all",
                started.elapsed(),
                graph_time,
                candidates.len(),
                report.files_scanned,
                report.files_parsed,
                source::parse_counters().1
            );
            if let Some(cache) = cache {
                eprintln!("{}", cache.stats.summary());
            }
        }
        if let Some(cache) = cache {
            cache.finish();
        }
        self.project.forget_parses();
        report
    }

    /// Checks text that is not read from disk (`check -`: a file given on stdin) as the file
    /// at `path` would be checked: its configuration, its module name, and its project, whose
    /// files on disk the call graph follows.
    pub fn check_buffer(&self, path: &str, bytes: Vec<u8>) -> Report {
        let at = std::path::Path::new(path);
        self.project.project_of(at);
        let module = self.project.module_name(at);
        let mut report = Report {
            files_scanned: 1,
            ..Report::default()
        };
        match SourceFile::parse(path.to_string(), bytes, module) {
            Ok(file) => {
                report.files_parsed = 1;
                let checked = self.check_file(&file);
                report.diagnostics.extend(checked.diagnostics);
                let mut project = ProjectIndex {
                    model: self.project.clone(),
                    ..ProjectIndex::default()
                };
                project.add(checked.definitions);
                let mut findings = checked.findings;
                report.unfollowed =
                    unfollowed_calls(&self.catalogue, &self.project.modules(), &findings);
                self.extend_call_graph(&mut project, &findings);
                project.settle(&mut findings);
                findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
                report.findings = findings;
                report.project = project;
            }
            Err(message) => report.diagnostics.push(Diagnostic {
                path: path.to_string(),
                message,
                severity: Severity::Error,
            }),
        }
        report
            .diagnostics
            .extend(self.project.diagnostics(&[PathBuf::from(path)]));
        report
    }

    /// The configurations below the command's that could not be read, as errors (the files
    /// under them were checked with the next configuration up).
    pub fn configuration_diagnostics(&self) -> Vec<Diagnostic> {
        self.broken_configs
            .lock()
            .unwrap()
            .iter()
            .map(|(path, message)| {
                // `file:line:column: what` then the frame: the note goes after `what`.
                let (first, frame) = message.split_once('\n').unwrap_or((message, ""));
                let file = path.display().to_string();
                let rest = first.strip_prefix(&file).unwrap_or(first);
                let (place, what) = match rest.strip_prefix(':') {
                    Some(located) => {
                        let mut parts = located.splitn(3, ':');
                        match (parts.next(), parts.next(), parts.next()) {
                            (Some(line), Some(column), Some(what))
                                if line.chars().all(|c| c.is_ascii_digit())
                                    && column.chars().all(|c| c.is_ascii_digit()) =>
                            {
                                (format!("{file}:{line}:{column}"), what.trim_start())
                            }
                            _ => (file.clone(), located.trim_start()),
                        }
                    }
                    None => (file.clone(), rest),
                };
                let frame = if frame.is_empty() {
                    String::new()
                } else {
                    format!("\n{frame}")
                };
                Diagnostic {
                    path: place,
                    message: format!(
                        "{what} (this configuration is not used: the files below it are checked with the next one up){frame}"
                    ),
                    severity: Severity::Error,
                }
            })
            .collect()
    }

    /// Whether `force-exclude` leaves out a path named on the command line (or given as
    /// `--stdin-filename`).
    pub fn force_excluded(&self, path: &std::path::Path) -> bool {
        self.force_exclude && walk::ForcedExcludes::new(&self.config, &self.project).excludes(path)
    }

    /// Checks one in-memory file on its own (editor buffers, tests).
    pub fn check_text(
        &self,
        path: &str,
        module: &str,
        text: &str,
    ) -> (Vec<Finding>, Vec<Diagnostic>) {
        self.check_text_in(path, module, text, None)
    }

    /// Checks one in-memory file of a workspace already checked (an editor buffer): findings
    /// that depend on other files (indirect ones) are settled with the workspace's index.
    pub fn check_text_in(
        &self,
        path: &str,
        module: &str,
        text: &str,
        workspace: Option<&mut ProjectIndex>,
    ) -> (Vec<Finding>, Vec<Diagnostic>) {
        match SourceFile::parse(
            path.to_string(),
            text.as_bytes().to_vec(),
            module.to_string(),
        ) {
            Ok(file) => {
                let checked = self.check_file(&file);
                let mut project = ProjectIndex::default();
                project.add(checked.definitions);
                let mut findings = checked.findings;
                match workspace {
                    Some(workspace) => {
                        self.extend_call_graph(workspace, &findings);
                        project.settle_within(Some(workspace), &mut findings);
                    }
                    None => project.settle(&mut findings),
                }
                findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
                (findings, checked.diagnostics)
            }
            Err(message) => (
                Vec::new(),
                vec![Diagnostic {
                    path: path.to_string(),
                    message,
                    severity: Severity::Error,
                }],
            ),
        }
    }

    /// `--propagate`'s plan, settled: a function whose own blocking calls would have no fix
    /// once it is `async def` (`requests.post(..., stream=True)` read after the call) stays
    /// sync, since converting it would put that call straight on the loop where the default
    /// fix moved it to a thread; the plan is made again without it (and what needed it).
    fn propagation_plan(
        &self,
        indirect: &std::collections::HashMap<String, callgraph::IndirectInfo>,
    ) -> propagate::Plan {
        let mut kept_sync: std::collections::HashMap<String, String> = Default::default();
        // Each pass keeps at least one more function sync, and the plans only shrink.
        for _ in 0..8 {
            let plan = propagate::plan(&self.catalogue, &self.project, indirect, &kept_sync);
            let stranded = self.stranded_calls(&plan);
            if stranded.is_empty() {
                return plan;
            }
            kept_sync.extend(stranded);
        }
        propagate::plan(&self.catalogue, &self.project, indirect, &kept_sync)
    }

    /// The converted functions of `plan` that would hold a blocking call without a fix once
    /// async, each with why: every planned file is checked as the plan would leave it.
    fn stranded_calls(&self, plan: &propagate::Plan) -> std::collections::HashMap<String, String> {
        let mut stranded = std::collections::HashMap::new();
        for (path, edits) in &plan.edits {
            let Ok(original) = std::fs::read(path) else {
                continue;
            };
            let mut text = original.clone();
            for edit in edits.iter().rev() {
                if edit.start > text.len() || edit.end > text.len() || edit.start > edit.end {
                    continue;
                }
                text.splice(edit.start..edit.end, edit.text.bytes());
            }
            let module = self.project.module_name(std::path::Path::new(path));
            let Ok(file) = SourceFile::parse(path.clone(), text, module) else {
                continue;
            };
            let scopes = Scopes::build_every_call(&file);
            for finding in self.check_file(&file).findings {
                if finding.requires_blocking_callee.is_some()
                    || finding.requires_async_callee.is_some()
                {
                    continue;
                }
                let fixable = finding.fix.as_ref().is_some_and(|fix| {
                    !fix.edits.is_empty()
                        && (fix.safety == crate::finding::Safety::Safe || self.unsafe_fixes)
                });
                if fixable {
                    continue;
                }
                let Some(function) = innermost_function(&scopes, finding.start_byte) else {
                    continue;
                };
                if !plan.converted.contains(&function) {
                    continue;
                }
                let line = finding.start.line;
                let why = finding
                    .not_fixable
                    .clone()
                    .unwrap_or_else(|| "its fix is unsafe (--unsafe-fixes)".into());
                stranded.entry(function).or_insert_with(|| {
                    format!(
                        "makes a blocking call at line {line} that would have no fix in an `async def` ({why}): converted, it would block the loop"
                    )
                });
            }
        }
        stranded
    }

    /// `--target-version` / `target-version`: py38 and older have no `asyncio.to_thread`.
    fn has_to_thread(target: Option<&str>) -> bool {
        !matches!(target, Some("py35" | "py36" | "py37" | "py38"))
    }

    /// Findings that depend on other files (an un-awaited call of a project `async def`) are
    /// settled by [`ProjectIndex::settle`] once every file has been seen.
    pub fn check_file(&self, file: &SourceFile) -> CheckedFile {
        let mut diagnostics = Vec::new();
        if let Some(line) = file.first_error_line() {
            diagnostics.push(Diagnostic {
                path: file.path.clone(),
                message: format!(
                    "syntax error near line {line}; the parts that parse were checked"
                ),
                severity: Severity::Warning,
            });
        }
        let mut holder = None;
        let settings = self.settings_for(&file.path, &mut holder);
        let selection = settings.selection;
        let scopes = Scopes::build(file);
        let cx = FileContext {
            file,
            scopes: &scopes,
            resolver: Resolver::new(file, &scopes, settings.catalogue)
                .with_globals(Some(&*self.project)),
            catalogue: settings.catalogue,
            callees: Default::default(),
            function_names: Default::default(),
            calls_by_callee: Default::default(),
            block_facts: Default::default(),
            has_to_thread: Engine::has_to_thread(settings.target_version),
            other_framework: other_framework(&scopes),
            http_client: settings.http_client,
        };
        let mut findings = Vec::new();
        for recipe in self.recipes.all() {
            if selection.allows(recipe.id()) {
                recipe.find(&cx, &mut findings);
            }
        }
        let mut covered: HashSet<usize> = findings
            .iter()
            .flat_map(|f| f.covers.iter().copied())
            .collect();
        let mut sites = cx.blocking_calls();
        // `conn.execute(q).fetchone()`: two catalogue calls starting at one place are one site,
        // reported at the inner call (the outer's callee text contains the inner call).
        sites.sort_by_key(|s| (s.call.start_byte(), s.call.end_byte()));
        sites.dedup_by(|outer, inner| {
            outer.call.start_byte() == inner.call.start_byte()
                && outer.entry.recipe == inner.entry.recipe
        });
        for recipe in self.recipes.all() {
            covered.extend(recipe.covered_calls(&cx, &sites));
        }
        let catalogue_calls: HashSet<usize> = sites.iter().map(|s| s.call.start_byte()).collect();
        for site in sites {
            if covered.contains(&site.call.start_byte()) || !selection.allows(&site.entry.recipe) {
                continue;
            }
            let Some(recipe) = self.recipes.by_id(&site.entry.recipe) else {
                continue;
            };
            findings.extend(recipe.call_finding(&cx, &site));
        }
        self.project_call_candidates(&cx, selection, &catalogue_calls, &mut findings);
        let mut file_wide = suppress::FileSuppression::of(file);
        if !findings.is_empty() && !settings.per_file_ignores.is_empty() {
            let configured = settings
                .per_file_ignores
                .for_file(&self.project.absolute(std::path::Path::new(&file.path)));
            file_wide.names.extend(configured.names);
        }
        findings.retain(|f| {
            selection.allows_finding(f)
                && !file_wide.suppresses(f)
                && !suppress::is_suppressed(f, &cx)
        });
        concurrency::note_gathered_fixes(&cx, &mut findings);
        concurrency::mark_shared_state_fixes(&cx, &mut findings);
        concurrency::mark_cleanup_fixes(&cx, &mut findings);
        own_loop::note_own_loop_findings(&cx, &mut findings);
        // A fix described but not yet written as edits is not offered: say so instead.
        for finding in &mut findings {
            if finding.fix.as_ref().is_some_and(|fix| fix.edits.is_empty()) {
                let fix = finding.fix.take().expect("checked above");
                finding.not_fixable =
                    Some(format!("no automatic rewrite yet; by hand: {}", fix.note));
            }
        }
        CheckedFile {
            findings,
            diagnostics,
            definitions: index::definitions(file),
        }
    }
}

impl Engine {
    /// A buffer's candidate callees the workspace's call graph has not been asked about (it
    /// was built for the calls on disk): asked now, and remembered either way.
    pub fn extend_call_graph(&self, workspace: &mut ProjectIndex, findings: &[Finding]) {
        if !self.indirect {
            return;
        }
        let missing: HashSet<String> = candidate_callees(findings)
            .into_iter()
            .filter(|q| !workspace.indirect.contains_key(q) && !workspace.not_blocking.contains(q))
            .collect();
        self.ask_call_graph(workspace, missing);
    }

    /// Asks the call graph about `missing` callees in one question, and remembers each answer
    /// in the index (an editor asks again about the ones an edit made stale).
    pub fn ask_call_graph(&self, workspace: &mut ProjectIndex, missing: HashSet<String>) {
        if !self.indirect || missing.is_empty() {
            return;
        }
        let analysis = callgraph::analyse(
            &self.catalogue,
            &workspace.model.modules(),
            Some(&*workspace.model),
            &missing,
        );
        workspace.parameter_calls.extend(analysis.parameter_calls);
        let mut found = analysis.indirect;
        for callee in missing {
            match found.remove(&callee) {
                Some(info) => {
                    workspace.indirect.insert(callee, info);
                }
                None => {
                    workspace.not_blocking.insert(callee);
                }
            }
        }
    }

    /// Calls in async code to something outside the catalogue that may be a project sync
    /// function: indirect findings in waiting, kept by [`ProjectIndex::settle`] only when the
    /// call graph finds that the callee blocks.
    fn project_call_candidates(
        &self,
        cx: &FileContext,
        selection: &Selection,
        catalogue_calls: &HashSet<usize>,
        findings: &mut Vec<Finding>,
    ) {
        if !self.indirect || !selection.allows(recipe::INDIRECT_RECIPE) {
            return;
        }
        let Some(recipe) = self.recipes.by_id(recipe::INDIRECT_RECIPE) else {
            return;
        };
        for (call, function) in cx.async_calls() {
            // `await f()` is a candidate too: when `f` is a plain `def` returning an awaitable,
            // its sync body runs on the loop before anything is awaited (the call graph keeps
            // the candidate only for a project sync function).
            if call.nonblocking || catalogue_calls.contains(&call.node.start_byte()) {
                continue;
            }
            let Some(callee) = cx.callee(call.node, call.scope) else {
                findings.extend(self.dispatched_call_candidates(cx, recipe, call, function));
                continue;
            };
            if callee.starts_with("builtins.") || cx.catalogue.lookup(&callee).is_some() {
                continue;
            }
            if let Some(helper) = nested::nested_function(cx, &callee) {
                findings
                    .extend(self.nested_call_finding(cx, recipe, call, function, callee, helper));
                continue;
            }
            let mut candidate = recipe.project_call_finding(cx, call, function, callee);
            if let Some(arguments) = candidate.as_mut().and_then(|c| c.passed_arguments.as_mut()) {
                arguments.callables = passed_callables(cx, call.node, call.scope);
            }
            findings.extend(candidate);
        }
    }
}

/// What the call graph is asked about: the callees of the candidate calls, and the functions
/// those calls pass as arguments (a helper may call them).
/// What names a run's entries that depend on the paths given as well as the settings (reports
/// spell files as the walk did).
fn run_with_paths(run: u64, paths: &[PathBuf]) -> u64 {
    let given = format!("{paths:?}");
    cache::fingerprint([run.to_le_bytes().as_slice(), given.as_bytes()])
}

pub fn candidate_callees(findings: &[Finding]) -> HashSet<String> {
    let mut out = HashSet::new();
    for finding in findings {
        if let Some(callee) = &finding.requires_blocking_callee {
            out.insert(callee.clone());
            if let Some(arguments) = &finding.passed_arguments {
                out.extend(arguments.callables.iter().map(|c| c.name.clone()));
            }
        }
    }
    out
}

/// The functions a call passes as arguments (`call_with(fetch, url)`), by position or keyword:
/// names that resolve to a function or method, not values.
fn passed_callables(
    cx: &FileContext,
    call: Node,
    scope: ScopeId,
) -> Vec<crate::finding::PassedCallable> {
    let Some(list) = call
        .field("arguments")
        .filter(|l| l.kind() == "argument_list")
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut position = Some(0);
    let mut cursor = list.walk();
    for argument in list.named_children(&mut cursor) {
        let (slot, keyword, value) = match argument.kind() {
            "keyword_argument" => match (argument.field("name"), argument.field("value")) {
                (Some(name), Some(value)) => (None, Some(cx.text(name).to_string()), value),
                _ => continue,
            },
            "list_splat" | "dictionary_splat" => {
                position = None;
                continue;
            }
            "comment" => continue,
            _ => {
                let slot = position;
                position = position.map(|p| p + 1);
                (slot, None, argument)
            }
        };
        if slot.is_none() && keyword.is_none() {
            continue;
        }
        // A name, or a call that stands for a function (`functools.partial(fetch, url)`).
        if !matches!(value.kind(), "identifier" | "attribute" | "call") {
            continue;
        }
        if let Some(resolve::Value::Name(name)) = cx.resolver.infer(value, scope, 0) {
            if !name.starts_with("builtins.") {
                out.push(crate::finding::PassedCallable {
                    position: slot,
                    keyword,
                    name,
                });
            }
        }
    }
    out
}

/// [`Report::unfollowed`]: the candidate calls (indirect findings in waiting) whose callee
/// lies outside everything the call graph can read or the catalogue knows.
fn unfollowed_calls(
    catalogue: &Catalogue,
    modules: &std::collections::HashMap<String, PathBuf>,
    findings: &[Finding],
) -> std::collections::BTreeMap<String, usize> {
    let known: HashSet<&str> = catalogue
        .calls()
        .filter_map(|c| c.name.split('.').next())
        .collect();
    let in_project = |name: &str| {
        let mut prefix = name;
        loop {
            if modules.contains_key(prefix) {
                return true;
            }
            match prefix.rfind('.') {
                Some(end) => prefix = &prefix[..end],
                None => return false,
            }
        }
    };
    let mut out = std::collections::BTreeMap::new();
    for callee in findings
        .iter()
        .filter_map(|f| f.requires_blocking_callee.as_deref())
    {
        let top = callee.split('.').next().unwrap_or(callee);
        if in_project(callee) || callgraph::stdlib_modules().contains(top) || known.contains(top) {
            continue;
        }
        // Building an object of a library's class (`HTTPException(...)`, a pydantic model, a
        // response) is data, not I/O: counting those would drown the calls that may hide a
        // blocking one.
        let last = callee.rsplit('.').next().unwrap_or(callee);
        if last.starts_with(|c: char| c.is_ascii_uppercase()) {
            continue;
        }
        *out.entry(top.to_string()).or_insert(0) += 1;
    }
    out
}

/// The project model for a configuration: its `src` entries are relative to its folder.
fn project_model(config: &LoadedConfig) -> project::ProjectModel {
    let base = config
        .root
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    let src = (!config.config.src.is_empty())
        .then(|| config.config.src.iter().map(|s| base.join(s)).collect());
    project::ProjectModel::new(src, config.config.excludes())
}

/// A call whose callee is no one name but a value that travelled (`HANDLERS["get"](url)`,
/// a function read from a list): one candidate per named function the value flow says it may
/// be, each kept only if the call graph finds it blocks. More than a few means a dispatch
/// over a table the file does not pin down: none.
const MAX_DISPATCHED: usize = 4;

impl Engine {
    fn dispatched_call_candidates(
        &self,
        cx: &FileContext,
        recipe: &dyn recipe::Recipe,
        call: &scope::CallNode,
        function: ScopeId,
    ) -> Vec<Finding> {
        if call.node.field("function").map(|f| f.kind()) != Some("subscript") {
            return Vec::new();
        }
        let mut names: Vec<String> = Vec::new();
        for flowed in cx.resolver.flow().callees(call.node, call.scope) {
            match flowed {
                resolve::flow::Flowed::Value(value) => match value.qualified() {
                    Some(name) if !names.contains(&name) => names.push(name),
                    Some(_) => {}
                    None => return Vec::new(),
                },
                resolve::flow::Flowed::Lambda(_) => return Vec::new(),
            }
        }
        if names.len() > MAX_DISPATCHED {
            return Vec::new();
        }
        names
            .into_iter()
            .filter(|name| !name.starts_with("builtins.") && cx.catalogue.lookup(name).is_none())
            .filter_map(|name| recipe.project_call_finding(cx, call, function, name))
            .collect()
    }

    /// A call of a sync function nested in a function of this file: settled here from the
    /// helper's own body (see `nested`) when it blocks itself; otherwise one candidate per
    /// function it calls, through the helper, for the call graph to settle.
    fn nested_call_finding(
        &self,
        cx: &FileContext,
        recipe: &dyn recipe::Recipe,
        call: &scope::CallNode,
        function: ScopeId,
        callee: String,
        helper: ScopeId,
    ) -> Vec<Finding> {
        let helper_scope = cx.scopes.get(helper);
        // At its `def` while what it calls is not known yet; at the blocking call once it is.
        let mut helper_link = crate::finding::ChainLink {
            path: cx.file.path.clone(),
            line: cx.file.position(helper_scope.node.start_byte()).line,
            name: helper_scope.name.clone(),
        };
        let (sink, sink_name) = match nested::calls_of(cx, helper) {
            None => return Vec::new(),
            Some(nested::Calls::Blocking(sink, name)) => (sink, name),
            Some(nested::Calls::Maybe(callees)) => {
                return callees
                    .into_iter()
                    .filter_map(|inner| {
                        let mut candidate =
                            recipe.project_call_finding(cx, call, function, inner)?;
                        candidate.passed_arguments = None;
                        candidate.chain.push(helper_link.clone());
                        Some(candidate)
                    })
                    .collect();
            }
        };
        let Some(mut finding) = recipe.project_call_finding(cx, call, function, callee.clone())
        else {
            return Vec::new();
        };
        finding.requires_blocking_callee = None;
        finding.passed_arguments = None;
        helper_link.line = cx.file.position(sink.start_byte()).line;
        let chain = vec![
            helper_link,
            crate::finding::ChainLink {
                path: cx.file.path.clone(),
                line: cx.file.position(sink.start_byte()).line,
                name: sink_name,
            },
        ];
        let info = callgraph::IndirectInfo {
            function: callee,
            chain: chain.clone(),
            unsafe_because: None,
            generator: false,
            context_manager: false,
            positional: Vec::new(),
            reasons: Vec::new(),
            sinks: Vec::new(),
        };
        index::complete_indirect(&mut finding, &info, &chain);
        vec![finding]
    }
}

/// `trio` or `anyio` when the module imports either (anywhere at module level).
pub(crate) fn other_framework(scopes: &Scopes) -> Option<&'static str> {
    let module = scopes.get(scope::MODULE_SCOPE);
    module
        .bindings
        .values()
        .flatten()
        .find_map(|origin| match origin {
            scope::Origin::Import(name) if name == "trio" || name.starts_with("trio.") => {
                Some("trio")
            }
            scope::Origin::Import(name) if name == "anyio" || name.starts_with("anyio.") => {
                Some("anyio")
            }
            _ => None,
        })
}

/// What is handed a file's source (see `Engine::rechecked_with_findings`).
pub type SourceHandler = Box<dyn Fn(&[u8]) + Send + Sync>;

/// One file's contribution to a report.
pub struct CheckedFile {
    pub findings: Vec<Finding>,
    pub diagnostics: Vec<Diagnostic>,
    /// The functions it defines (`qualified name`, `is async`), for the project index.
    pub definitions: Vec<(String, bool)>,
}

/// A catalogue call in async context, as handed to its recipe.
pub struct CallSite<'a, 't> {
    pub call: Node<'t>,
    /// The scope the call is written in, and the async function it runs in.
    pub scope: ScopeId,
    pub function: ScopeId,
    pub qualified: String,
    pub entry: &'a BlockingCall,
    /// The node the call sits in (a `with_item`, an `await`, an argument list...).
    pub parent: Option<Node<'t>>,
    /// Inside a generator expression: `await` cannot be added there.
    pub in_generator: bool,
}

/// Everything a recipe may look at in one file.
pub struct FileContext<'a, 't> {
    pub file: &'t SourceFile,
    pub scopes: &'a Scopes<'t>,
    pub resolver: Resolver<'a, 't>,
    pub catalogue: &'a Catalogue,
    /// `asyncio.to_thread` exists on the target Python (3.9+); otherwise fixes use
    /// `run_in_executor(None, functools.partial(...))`.
    pub has_to_thread: bool,
    /// The module imports trio or anyio: its coroutines may run on no asyncio loop at all, so
    /// `asyncio.to_thread` / `asyncio.sleep` rewrites are not offered.
    pub other_framework: Option<&'static str>,
    /// The shared `httpx.AsyncClient` expression configured for the http-requests fix.
    pub http_client: Option<&'a str>,
    /// Resolved callees by call node id.
    callees: std::cell::RefCell<rustc_hash::FxHashMap<usize, Option<String>>>,
    /// Indices into `scopes.calls` by the name their callee resolves to, made on first use.
    calls_by_callee: std::cell::OnceCell<rustc_hash::FxHashMap<String, Vec<usize>>>,
    /// What each function reads, binds and yields, for blocks moved to a thread, made once.
    block_facts:
        std::cell::RefCell<rustc_hash::FxHashMap<ScopeId, std::rc::Rc<rewrite::facts::BlockFacts>>>,
    /// [`FunctionNames`] by function, each made once.
    function_names: std::cell::RefCell<rustc_hash::FxHashMap<ScopeId, std::rc::Rc<FunctionNames>>>,
}

/// What a function's code names, found in one walk of it (nested functions included): a
/// recipe that asks for every call in the function does not walk the function for each.
/// Byte ranges, not nodes: the cache must not tie the context to the tree's lifetime.
#[derive(Default)]
pub struct FunctionNames {
    /// Identifiers used as variables (not `x.attr`'s `attr`, not `f(key=1)`'s `key`), by name.
    pub variables: rustc_hash::FxHashMap<String, Vec<std::ops::Range<usize>>>,
    /// The `with` statements, in the order they start.
    pub with_statements: Vec<std::ops::Range<usize>>,
}

impl<'a, 't> FileContext<'a, 't> {
    /// The `async def` scopes of the file, for structural finders.
    pub fn async_functions(&self) -> impl Iterator<Item = ScopeId> + '_ {
        (0..self.scopes.scopes.len())
            .filter(|&id| self.scopes.get(id).kind == ScopeKind::Function { is_async: true })
    }

    /// What `function`'s body reads, binds and yields (see [`rewrite::facts`]).
    pub fn block_facts(&self, function: ScopeId) -> std::rc::Rc<rewrite::facts::BlockFacts> {
        if let Some(known) = self.block_facts.borrow().get(&function) {
            return known.clone();
        }
        let scope = self.scopes.get(function);
        let facts = std::rc::Rc::new(rewrite::facts::gather(self, scope.node, scope.body));
        self.block_facts
            .borrow_mut()
            .insert(function, facts.clone());
        facts
    }

    /// What `function`'s code names (see [`FunctionNames`]).
    pub fn function_names(&self, function: ScopeId) -> std::rc::Rc<FunctionNames> {
        if let Some(known) = self.function_names.borrow().get(&function) {
            return known.clone();
        }
        let mut names = FunctionNames::default();
        // The nodes entered and not left: `Node::parent` would walk down from the root again
        // for every identifier.
        let mut ancestors: Vec<Node<'t>> = Vec::new();
        source::walk_tree(self.scopes.get(function).node, |event| {
            let node = match event {
                source::Visit::Enter(node) => node,
                source::Visit::Leave(_) => {
                    ancestors.pop();
                    return true;
                }
            };
            match node.kind() {
                "with_statement" => names.with_statements.push(node.byte_range()),
                "identifier" if !ancestors.last().is_some_and(|&p| names_a_member(p, node)) => {
                    let name = self.file.text(node);
                    match names.variables.get_mut(name) {
                        Some(uses) => uses.push(node.byte_range()),
                        None => {
                            names
                                .variables
                                .insert(name.to_string(), vec![node.byte_range()]);
                        }
                    }
                }
                _ => {}
            }
            ancestors.push(node);
            true
        });
        let names = std::rc::Rc::new(names);
        self.function_names
            .borrow_mut()
            .insert(function, names.clone());
        names
    }

    /// The calls of the file (indices into `scopes.calls`) whose callee resolves to
    /// `qualname`: every call is resolved once for all the questions, not once per question.
    pub fn calls_of(&self, qualname: &str) -> &[usize] {
        let index = self.calls_by_callee.get_or_init(|| {
            let mut index: rustc_hash::FxHashMap<String, Vec<usize>> = Default::default();
            for (i, call) in self.scopes.calls.iter().enumerate() {
                if let Some(callee) = self.callee(call.node, call.scope) {
                    index.entry(callee).or_default().push(i);
                }
            }
            index
        });
        index.get(qualname).map_or(&[], Vec::as_slice)
    }

    /// The calls whose node lies within `range`: a slice found by binary search, since
    /// `scopes.calls` is in the order the walk met them, by start byte.
    pub fn calls_within(
        &self,
        range: std::ops::Range<usize>,
    ) -> impl Iterator<Item = &scope::CallNode<'t>> + '_ {
        let calls = &self.scopes.calls;
        let first = calls.partition_point(|c| c.node.start_byte() < range.start);
        calls[first..]
            .iter()
            .take_while(move |c| c.node.start_byte() < range.end)
            .filter(move |c| c.node.end_byte() <= range.end)
    }

    /// The fully qualified name a call's callee resolves to, seen from `scope`.
    pub fn callee(&self, call: Node<'t>, scope: ScopeId) -> Option<String> {
        // Counted: a loop over every call of the file for each finding shows up as work.
        work::count(1);
        // Several recipes ask about the same calls: resolve each once.
        if let Some(known) = self.callees.borrow().get(&call.id()) {
            return known.clone();
        }
        let resolved = self.resolver.callee(call, scope);
        self.callees
            .borrow_mut()
            .insert(call.id(), resolved.clone());
        resolved
    }

    /// `await db.exec(stmt)` where `db`'s type was inferred (an annotation, an assignment):
    /// the code awaits what the method returns, so the object is an async one whatever the
    /// inference says (langflow annotates an `AsyncSession` as `sqlmodel.Session`). Moving the
    /// call to a thread would hand back an un-awaited coroutine; it is no finding. A module
    /// function awaited (`await time.sleep(1)`) is still one: its module says what it is.
    fn awaited_method_of_an_inferred_object(
        &self,
        call: &scope::CallNode<'t>,
        qualified: &str,
    ) -> bool {
        let mut parent = call.parent;
        while let Some(p) = parent.filter(|p| p.kind() == "parenthesized_expression") {
            parent = p.parent();
        }
        if parent.is_none_or(|p| p.kind() != "await") {
            return false;
        }
        let Some(object) = call
            .node
            .field("function")
            .filter(|f| f.kind() == "attribute")
            .and_then(|f| f.field("object"))
        else {
            return false;
        };
        if !matches!(
            self.resolver.infer(object, call.scope, 0),
            Some(resolve::Value::Instance(_) | resolve::Value::Member(..))
        ) {
            return false;
        }
        // `client = requests.Session()` in the function: the catalogue built it, so its type
        // is certain and the `await` is the bug (the rewrite drops it).
        let built_by_the_catalogue = object.kind() == "identifier" && {
            let values = self
                .resolver
                .assigned_values(self.file.text(object), call.scope);
            !values.is_empty()
                && values.iter().all(|value| {
                    value.kind() == "call"
                        && value
                            .field("function")
                            .and_then(|f| self.resolver.infer(f, call.scope, 0))
                            .and_then(|v| v.qualified())
                            .is_some_and(|name| {
                                self.catalogue.returns(&name).is_some()
                                    || qualified.rsplit_once('.').map(|(class, _)| class)
                                        == Some(name.as_str())
                            })
                })
        };
        !built_by_the_catalogue
    }

    /// Every call in async context whose callee is in the catalogue (or the configuration).
    pub fn blocking_calls(&self) -> Vec<CallSite<'a, 't>> {
        let mut sites = Vec::new();
        for call in &self.scopes.calls {
            if call.nonblocking || !self.scopes.is_async_context(call.scope) {
                continue;
            }
            let Some(qualified) = self.callee(call.node, call.scope) else {
                continue;
            };
            if self.awaited_method_of_an_inferred_object(call, &qualified)
                || self
                    .resolver
                    .works_in_memory(call.node, call.scope, &qualified)
            {
                continue;
            }
            if let Some(entry) = self.catalogue.lookup(&qualified) {
                sites.push(CallSite {
                    call: call.node,
                    scope: call.scope,
                    function: self.scopes.executing_scope(call.scope),
                    qualified,
                    entry,
                    parent: call.parent,
                    in_generator: self.scopes.in_generator(call.scope),
                });
            }
        }
        sites
    }

    /// Calls that run in async functions: `(call, the async function's scope)`.
    pub fn async_calls(&self) -> impl Iterator<Item = (&scope::CallNode<'t>, ScopeId)> + '_ {
        self.scopes.calls.iter().filter_map(|call| {
            let function = self.scopes.executing_scope(call.scope);
            self.scopes
                .is_async_context(function)
                .then_some((call, function))
        })
    }

    /// Loops (`while`, `for`, comprehension clauses) that run in async functions.
    pub fn async_loops(&self) -> impl Iterator<Item = (Node<'t>, ScopeId)> + '_ {
        self.scopes.loops.iter().filter_map(|&(node, scope)| {
            let function = self.scopes.executing_scope(scope);
            self.scopes
                .is_async_context(function)
                .then_some((node, function))
        })
    }

    /// The name of the async function a scope runs in, for messages.
    pub fn function_name(&self, function: ScopeId) -> &str {
        &self.scopes.get(function).name
    }

    /// A finding at `node`, with positions filled in.
    pub fn finding(
        &self,
        recipe: &'static str,
        node: Node<'t>,
        message: String,
        reason: String,
    ) -> Finding {
        Finding {
            path: self.file.path.clone(),
            recipe,
            kind: Kind::Direct,
            start_byte: node.start_byte(),
            end_byte: node.end_byte(),
            start: self.file.position(node.start_byte()),
            end: self.file.position(node.end_byte()),
            message,
            reason,
            fix: None,
            not_fixable: None,
            chain: Vec::new(),
            sinks: Vec::new(),
            noqa_codes: Vec::new(),
            covers: Vec::new(),
            requires_async_callee: None,
            requires_blocking_callee: None,
            passed_arguments: None,
        }
    }

    /// How a call is written, with its resolved name when they differ: `` `rq.post` (requests.post) ``.
    pub fn describe_call(&self, site: &CallSite) -> String {
        let written = self.written_callee(site);
        if written == site.qualified {
            format!("`{}`", site.qualified)
        } else {
            format!("`{written}` ({})", site.qualified)
        }
    }

    /// The callee as written (`self.model.encode`), on one line, for messages and fix notes.
    pub fn written_callee(&self, site: &CallSite) -> String {
        site.call
            .field("function")
            .map(|f| {
                self.file
                    .text(f)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|text| !text.is_empty())
            .unwrap_or_else(|| site.qualified.clone())
    }

    /// The standard finding for a catalogue call: "`x` blocks the event loop in `async def f`".
    pub fn call_finding(
        &self,
        recipe: &'static str,
        site: &CallSite,
        plan: Result<Option<FixInfo>, String>,
    ) -> Finding {
        let what = if site.entry.configured {
            "configured blocking call"
        } else {
            "blocking call"
        };
        let message = format!(
            "{what} {} in `async def {}` blocks the event loop",
            self.describe_call(site),
            self.function_name(site.function)
        );
        self.call_finding_with_message(recipe, site, message, plan)
    }

    pub fn call_finding_with_message(
        &self,
        recipe: &'static str,
        site: &CallSite,
        message: String,
        plan: Result<Option<FixInfo>, String>,
    ) -> Finding {
        let mut finding = self.finding(recipe, site.call, message, site.entry.reason.clone());
        finding.noqa_codes = site.entry.noqa.clone();
        match plan {
            Ok(fix) => finding.fix = fix,
            Err(reason) => finding.not_fixable = Some(reason),
        }
        finding
    }

    pub fn text(&self, node: Node) -> &str {
        self.file.text(node)
    }
}

/// `identifier` names an attribute or a keyword under `parent`, not a variable (`x.client`,
/// `f(client=1)`).
pub fn names_a_member(parent: Node, identifier: Node) -> bool {
    (parent.kind() == "attribute" && parent.field("attribute") == Some(identifier))
        || (parent.kind() == "keyword_argument" && parent.field("name") == Some(identifier))
}

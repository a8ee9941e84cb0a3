//! Which files to look at, read in parallel on every core.
//!
//! `.gitignore` (and `.ignore`) are respected unless `respect-gitignore = false`, hidden
//! directories and the usual virtualenv and build folders skipped, `exclude` and
//! `extend-exclude` globs from the configuration applied: to the paths given too with
//! `force-exclude`. Python means `.py` and `.pyi` (stubs). Only files whose bytes
//! contain `async` are parsed: without the keyword a file holds no coroutine, so no direct
//! finding, and reading bytes is an order of magnitude cheaper than parsing.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ignore::overrides::OverrideBuilder;
use ignore::{WalkBuilder, WalkState};

use super::project::ProjectModel;
use super::source::SourceFile;
use super::witness;
use super::{Diagnostic, Severity};
use crate::config::LoadedConfig;

/// Folders never worth walking into (ruff skips the same kind of list).
pub(crate) const DEFAULT_EXCLUDES: &[&str] = &[
    ".bzr",
    ".direnv",
    ".eggs",
    ".git",
    ".hg",
    ".mypy_cache",
    ".nox",
    ".pants.d",
    ".pytype",
    ".ruff_cache",
    ".unblock_cache",
    ".svn",
    ".tox",
    ".venv",
    "__pypackages__",
    "_build",
    "buck-out",
    "dist",
    "node_modules",
    "site-packages",
    "venv",
    "__pycache__",
];

/// What a walk produced: one `R` per parsed file (whatever the caller's `on_file` made of it;
/// the file itself is dropped on the worker thread that parsed it).
/// The progress bar shows once this many files have been read (a few hundred: below that a
/// run is over before a bar would help).
const PROGRESS_AFTER_FILES: u64 = 300;

pub struct Walked<R> {
    pub results: Vec<R>,
    pub diagnostics: Vec<Diagnostic>,
    pub files_scanned: usize,
    pub unreadable: usize,
    /// Every Python file walked, parsed or not: where the call graph finds the project's
    /// modules.
    pub python_files: Vec<PathBuf>,
    /// Python files that change `sys.path`: imports that work only after such a change are
    /// not followed.
    pub sys_path_edits: Vec<PathBuf>,
}

/// How to read: whether to show progress, whether to parse only what direct findings need.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    pub progress: bool,
    pub partial_parse: bool,
    /// `--force-exclude`: the exclude globs and the skipped folders apply to the paths given
    /// too (pre-commit and editors name files one by one, excluded ones included).
    pub force_exclude: bool,
}

/// What a caller makes of a file that is to be parsed, given its bytes, before it is parsed:
/// a result remembered from an earlier run (the summary cache), or `None` to parse it.
pub type Reuse<'a, R> = &'a (dyn Fn(&Path, &[u8]) -> Option<R> + Sync);

/// What the walk remembers across runs of files it need not read (the summary cache):
/// a file found without a coroutine stays so while its size and modification time hold.
pub trait Recall: Sync {
    /// `Some(edits_sys_path)` when the file at `absolute`, as `meta` describes it now, was
    /// read before and held no `async def`.
    fn without_coroutine(&self, absolute: &Path, meta: &std::fs::Metadata) -> Option<bool>;
    /// The file at `absolute`, described by `meta` taken before `bytes_read` bytes were read,
    /// holds no `async def`.
    fn saw_without_coroutine(
        &self,
        absolute: &Path,
        meta: &std::fs::Metadata,
        bytes_read: usize,
        edits_sys_path: bool,
    );
}

pub fn read_tree<R: Send>(
    paths: &[PathBuf],
    config: &LoadedConfig,
    model: &ProjectModel,
    options: ReadOptions,
    reuse: Option<Reuse<R>>,
    recall: Option<&dyn Recall>,
    on_file: &(dyn Fn(SourceFile) -> R + Sync),
) -> Walked<R> {
    let progress = options.progress;
    let default = [PathBuf::from(".")];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let out = Mutex::new(Walked {
        results: Vec::new(),
        diagnostics: Vec::new(),
        files_scanned: 0,
        unreadable: 0,
        python_files: Vec::new(),
        sys_path_edits: Vec::new(),
    });
    let error = |out: &Mutex<Walked<R>>, path: &Path, message: String| {
        let mut out = out.lock().unwrap();
        out.unreadable += 1;
        out.diagnostics.push(Diagnostic {
            path: path.display().to_string(),
            message,
            severity: Severity::Error,
        });
    };

    let overrides = match excludes(config) {
        Ok(overrides) => Some(overrides),
        Err(message) => {
            error(&out, Path::new("configuration"), message);
            None
        }
    };
    let forced = options
        .force_exclude
        .then(|| ForcedExcludes::new(config, model));
    let mut roots = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if forced.as_ref().is_some_and(|f| f.excludes(path)) => {
                witness::saw(path, Some(&meta))
            }
            Ok(meta) => {
                witness::saw(path, Some(&meta));
                roots.push(path.clone());
            }
            Err(e) => {
                witness::saw(path, None);
                error(&out, path, describe_io(&e))
            }
        }
    }
    if witness::recording() {
        see_ignore_files_above(&roots, model);
    }
    let Some((first, rest)) = roots.split_first() else {
        return out.into_inner().unwrap();
    };

    let mut builder = WalkBuilder::new(first);
    for root in rest {
        builder.add(root);
    }
    let respect_gitignore = config.config.respect_gitignore.unwrap_or(true);
    builder
        .require_git(false)
        .git_ignore(respect_gitignore)
        .git_global(respect_gitignore)
        .git_exclude(respect_gitignore)
        .ignore(respect_gitignore)
        .threads(std::thread::available_parallelism().map_or(2, |n| n.get()));
    if let Some(overrides) = overrides {
        builder.overrides(overrides);
    }
    // Hidden entries are skipped here rather than by the walker: a recorded run must see the
    // ignore files among them (an edit in place changes no folder's time), and this way it
    // sees those that exist without asking after them in every folder.
    builder.hidden(false).filter_entry(|entry| {
        if entry.depth() == 0 {
            return true;
        }
        let name = entry.file_name().to_str().unwrap_or("");
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        if name.starts_with('.') {
            if witness::recording() {
                match name {
                    ".gitignore" | ".ignore" if !is_dir => {
                        witness::metadata(entry.path());
                    }
                    ".git" => {
                        witness::metadata(&entry.path().join("info/exclude"));
                    }
                    _ => {}
                }
            }
            return false;
        }
        !(is_dir && DEFAULT_EXCLUDES.contains(&name))
    });

    // Hidden until the tree turns out to be large: a small run prints nothing extra.
    let bar = progress.then(|| {
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::hidden());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} files scanned, {msg}")
                .expect("valid template"),
        );
        bar
    });

    builder.build_parallel().run(|| {
        let out = &out;
        let bar = bar.clone();
        // One read buffer per worker: most files are read, scanned and dropped, and a fresh
        // allocation for each would have the kernel zero new pages every time.
        let mut buffer: Vec<u8> = Vec::new();
        Box::new(move |entry| {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    let path = match &err {
                        ignore::Error::WithPath { path, .. } => path.clone(),
                        _ => PathBuf::from("."),
                    };
                    error(out, &path, err.to_string());
                    return WalkState::Continue;
                }
            };
            let is_file = entry.file_type().is_some_and(|t| t.is_file());
            if entry.file_type().is_some_and(|t| t.is_dir()) && witness::recording() {
                // Its time changes with every entry added, removed or renamed in it.
                witness::metadata(entry.path());
            }
            let given = entry.depth() == 0;
            let is_python = is_python(entry.path());
            if !is_file || !(is_python || given) {
                return WalkState::Continue;
            }
            let path = entry.path();
            let show_progress = || {
                if let Some(bar) = &bar {
                    bar.inc(1);
                    if bar.position() == PROGRESS_AFTER_FILES {
                        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                        bar.enable_steady_tick(std::time::Duration::from_millis(120));
                    }
                }
            };
            // Taken before the read: an edit during the read changes it, so what the read
            // finds is never remembered for a newer content.
            let remembered = recall
                .filter(|_| is_python)
                .and_then(|recall| Some((recall, model.absolute(path), witness::metadata(path)?)));
            if recall.is_none() && witness::recording() {
                witness::metadata(path);
            }
            if let Some((recall, absolute, meta)) = &remembered {
                if let Some(edits_sys_path) = recall.without_coroutine(absolute, meta) {
                    show_progress();
                    let mut out = out.lock().unwrap();
                    out.files_scanned += 1;
                    model.spell(path);
                    out.python_files.push(path.to_path_buf());
                    if edits_sys_path {
                        out.sys_path_edits.push(path.to_path_buf());
                    }
                    return WalkState::Continue;
                }
            }
            buffer.clear();
            if let Err(e) = std::fs::File::open(path)
                .and_then(|mut f| std::io::Read::read_to_end(&mut f, &mut buffer))
            {
                error(out, path, describe_io(&e));
                return WalkState::Continue;
            }
            show_progress();
            let edits_sys_path = is_python && edits_sys_path(&buffer);
            // The caller's work on the file runs here, on this worker, outside the lock. A bug
            // that panics on one file costs that file, named, not the whole run.
            let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                match scan(path, &mut buffer, options.partial_parse, model, reuse) {
                    Scan::Skipped => {
                        if let Some((recall, absolute, meta)) = &remembered {
                            recall.saw_without_coroutine(absolute, meta, buffer.len(), edits_sys_path);
                        }
                        (None, Vec::new(), None)
                    }
                    Scan::Reused(result, warnings) => (Some(result), warnings, None),
                    Scan::Parsed(file, warnings) => (Some(on_file(*file)), warnings, None),
                    Scan::Failed(diagnostic) => (None, Vec::new(), Some(diagnostic)),
                }
            }));
            let (result, warnings, failure) = checked.unwrap_or_else(|panic| {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let diagnostic = Diagnostic {
                    path: path.display().to_string(),
                    message: format!("internal error while checking this file, skipped (please report it): {why}"),
                    severity: Severity::Error,
                };
                (None, Vec::new(), Some(diagnostic))
            });
            let mut out = out.lock().unwrap();
            out.files_scanned += 1;
            if is_python {
                model.spell(path);
                out.python_files.push(path.to_path_buf());
            }
            if edits_sys_path {
                out.sys_path_edits.push(path.to_path_buf());
            }
            out.diagnostics.extend(warnings);
            out.diagnostics.extend(failure);
            if let Some(result) = result {
                out.results.push(result);
                if let Some(bar) = &bar {
                    bar.set_message(format!("{} parsed", out.results.len()));
                }
            }
            WalkState::Continue
        })
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    out.into_inner().unwrap()
}

/// The ignore files the walk applies from above the paths given: the parents' and the user's.
fn see_ignore_files_above(roots: &[PathBuf], model: &ProjectModel) {
    for root in roots {
        for file in super::project::ignore_files_above(&model.absolute(root)) {
            witness::metadata(&file);
        }
    }
    for file in super::project::global_ignore_files() {
        witness::metadata(&file);
    }
}

/// A Python source or stub file, by its name.
pub(crate) fn is_python(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "py" || e == "pyi")
}

/// `sys.path.insert(...)`, `.append`, `.extend`, `sys.path += ...`, `sys.path[...] = ...`.
fn edits_sys_path(bytes: &[u8]) -> bool {
    static FINDER: std::sync::OnceLock<memchr::memmem::Finder<'static>> =
        std::sync::OnceLock::new();
    let finder = FINDER.get_or_init(|| memchr::memmem::Finder::new(b"sys.path"));
    finder.find_iter(bytes).any(|at| {
        let rest = &bytes[at + b"sys.path".len()..];
        let rest = &rest[..rest.len().min(16)];
        [
            &b".insert("[..],
            b".append(",
            b".extend(",
            b" +=",
            b"+=",
            b"[",
        ]
        .iter()
        .any(|edit| rest.starts_with(edit))
    })
}

enum Scan<R> {
    Skipped,
    Reused(R, Vec<Diagnostic>),
    Parsed(Box<SourceFile>, Vec<Diagnostic>),
    Failed(Diagnostic),
}

/// Looks at the bytes in `buffer`, and takes them only when the file is parsed.
fn scan<R>(
    path: &Path,
    buffer: &mut Vec<u8>,
    partial_parse: bool,
    model: &ProjectModel,
    reuse: Option<Reuse<R>>,
) -> Scan<R> {
    let bytes = &buffer[..];
    let display = path.display().to_string();
    // Its NUL bytes would call it binary: it is text, in an encoding Python accepts only with
    // a coding declaration tree-sitter does not read.
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Scan::Failed(Diagnostic {
            path: display,
            message: "UTF-16 is not supported (save the file as UTF-8), skipped".into(),
            severity: Severity::Warning,
        });
    }
    let head = &bytes[..bytes.len().min(8192)];
    if memchr::memchr(0, head).is_some() {
        return Scan::Failed(Diagnostic {
            path: display,
            message: "binary file (contains NUL bytes), skipped".into(),
            severity: Severity::Warning,
        });
    }
    // Without `async def` a file holds no coroutine, so no direct finding.
    if !super::chunks::has_async_def(bytes) {
        return Scan::Skipped;
    }
    let mut warnings = Vec::new();
    if std::str::from_utf8(bytes).is_err() && !declares_encoding(bytes) {
        warnings.push(Diagnostic {
            path: display.clone(),
            message: "not valid UTF-8; checked as bytes, columns count bytes".into(),
            severity: Severity::Warning,
        });
    }
    let absolute = model.absolute(path);
    model.walked(&absolute);
    if let Some(result) = reuse.and_then(|reuse| reuse(path, bytes)) {
        return Scan::Reused(result, warnings);
    }
    let module = model.module_name(path);
    // Parsed already this run for its module's values (a file changed since the last run).
    if partial_parse {
        if let Some(file) = model.take_parse(&absolute, bytes, display.clone(), module.clone()) {
            return Scan::Parsed(Box::new(file), warnings);
        }
    }
    let bytes = std::mem::take(buffer);
    let parsed = if partial_parse {
        SourceFile::parse_for_check(display.clone(), bytes, module)
    } else {
        SourceFile::parse(display.clone(), bytes, module)
    };
    match parsed {
        Ok(file) => Scan::Parsed(Box::new(file), warnings),
        Err(message) => Scan::Failed(Diagnostic {
            path: display,
            message,
            severity: Severity::Error,
        }),
    }
}

/// A PEP 263 coding declaration (`# -*- coding: latin-1 -*-`) on the first or second line:
/// such a file is valid Python in another encoding, not a broken one.
fn declares_encoding(bytes: &[u8]) -> bool {
    bytes.split(|&b| b == b'\n').take(2).any(|line| {
        let text = String::from_utf8_lossy(line);
        let Some(comment) = text.trim_start().strip_prefix('#') else {
            return false;
        };
        comment.contains("coding:") || comment.contains("coding=")
    })
}

fn excludes(config: &LoadedConfig) -> Result<ignore::overrides::Override, String> {
    let root = config.root.clone().unwrap_or_else(|| PathBuf::from("."));
    let mut builder = OverrideBuilder::new(root);
    for pattern in &config.config.excludes() {
        // An override glob whitelists; `!` turns it into an ignore rule.
        builder
            .add(&format!("!{pattern}"))
            .map_err(|e| format!("exclude pattern `{pattern}`: {e}"))?;
    }
    builder.build().map_err(|e| e.to_string())
}

/// The exclusions `--force-exclude` applies to a path given on the command line, which the
/// walker itself never filters (a path it starts from is always walked).
pub(crate) struct ForcedExcludes<'m> {
    /// The configuration's folder, absolute: the globs are relative to it.
    root: PathBuf,
    /// The `exclude` globs, matched against absolute paths (`None` when a glob is invalid:
    /// the walk reports that already).
    globs: Option<ignore::overrides::Override>,
    model: &'m ProjectModel,
}

impl<'m> ForcedExcludes<'m> {
    pub(crate) fn new(config: &LoadedConfig, model: &'m ProjectModel) -> ForcedExcludes<'m> {
        let root = model.absolute(config.root.as_deref().unwrap_or(Path::new(".")));
        let mut builder = OverrideBuilder::new(&root);
        let mut valid = true;
        for pattern in &config.config.excludes() {
            valid &= builder.add(&format!("!{pattern}")).is_ok();
        }
        let globs = valid.then(|| builder.build().ok()).flatten();
        ForcedExcludes { root, globs, model }
    }

    /// Whether `path` or a folder above it (below the configuration's folder) is excluded by
    /// a glob or is one of the folders never walked (`.venv`, `node_modules`, ...).
    pub(crate) fn excludes(&self, path: &Path) -> bool {
        let absolute = self.model.absolute(path);
        let is_dir = absolute.is_dir();
        // Folders above the configuration's are not the project's business: a checkout under
        // `~/venv/` is not excluded. A path outside it is judged by its spelling.
        let inside: Vec<&Path> = match absolute.strip_prefix(&self.root) {
            Ok(_) => absolute
                .ancestors()
                .take_while(|a| a.starts_with(&self.root) && *a != self.root)
                .collect(),
            Err(_) => path
                .ancestors()
                .filter(|a| !a.as_os_str().is_empty())
                .collect(),
        };
        inside.iter().enumerate().any(|(i, candidate)| {
            let candidate_is_dir = i > 0 || is_dir;
            let name = candidate.file_name().and_then(|n| n.to_str()).unwrap_or("");
            (candidate_is_dir && DEFAULT_EXCLUDES.contains(&name))
                || self.globs.as_ref().is_some_and(|globs| {
                    globs
                        .matched(self.model.absolute(candidate), candidate_is_dir)
                        .is_ignore()
                })
        })
    }
}

fn describe_io(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => error.to_string(),
    }
}

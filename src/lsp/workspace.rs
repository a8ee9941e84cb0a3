//! The workspace scan: the whole workspace checked on disk on a thread of its own, in the
//! background of the editing session.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::engine::index::ProjectIndex;
use crate::engine::walk::DEFAULT_EXCLUDES;
use crate::engine::Engine;

use super::server::{Event, Scan, Server};
use super::settings::{configure, Settings};
use super::MAX_WORKSPACE_FILES;

impl Server {
    /// Scans the workspace on disk on a thread of its own (a whole-tree check: seconds on a
    /// million lines); its index is merged when it is ready.
    pub(super) fn start_scan(&mut self) {
        if let Scan::Running { again } = &mut self.scan {
            *again = true;
            return;
        }
        self.scan = Scan::Running { again: false };
        let settings = self.settings.clone();
        let folders = self.folders.clone();
        let limit = self
            .settings
            .max_workspace_files
            .unwrap_or(MAX_WORKSPACE_FILES);
        let events = self.events_sender.clone();
        let epoch = self.epoch;
        std::thread::Builder::new()
            .name("unblock-lsp-workspace".into())
            .spawn(move || {
                lower_this_threads_priority();
                let engine = scan_engine(&folders, &settings);
                let (index, summary) = scan_workspace(&engine, &folders, limit);
                let index = index.map(Box::new);
                let _ = events.send(Event::Scanned {
                    epoch,
                    index,
                    summary,
                });
            })
            .expect("spawn the workspace scan");
    }
}

/// The engine the scan checks the workspace with: the analysis thread's settings, with the
/// summary cache of `unblock check` (unless the client's `noCache` says not to), and a project
/// model of its own, which reads the files on disk (the analysis thread's reads the open
/// documents' texts instead).
fn scan_engine(folders: &[PathBuf], settings: &Settings) -> Engine {
    let (mut engine, _problems_shown_already) = configure(folders, settings, &[]);
    if !settings.no_cache {
        engine.cache = crate::cli::open_cache(&engine, folders).map(Arc::new);
    }
    engine
}

/// The workspace scan is background work: on a machine with few cores, the open file's
/// analysis (what the user waits for) goes first. Linux keeps the nice value per thread, and
/// the threads the scan's walk starts inherit it.
pub(super) fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its arguments; `0` is the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// Checks the workspace folders on disk, but those too large to: the index, and a line for
/// the client's log saying what was done.
pub(super) fn scan_workspace(
    engine: &Engine,
    folders: &[PathBuf],
    limit: usize,
) -> (Option<ProjectIndex>, String) {
    let mut skipped = Vec::new();
    let scanned: Vec<PathBuf> = folders
        .iter()
        .filter(|folder| {
            match no_project(folder).or_else(|| too_many_python_files(folder, limit)) {
                Some(why) => {
                    skipped.push(format!("{} not scanned ({why})", folder.display()));
                    false
                }
                None => true,
            }
        })
        .cloned()
        .collect();
    let skipped = skipped.join(", ");
    if scanned.is_empty() {
        let summary = format!(
            "unblock: workspace {skipped}: each open file is checked against its own project"
        );
        return (None, summary);
    }
    let started = Instant::now();
    // Named as `unblock check` run in the folder names them (relative to the working
    // directory), so that the summary cache it filled is the one read.
    let cwd = std::env::current_dir().unwrap_or_default();
    let scanned: Vec<PathBuf> = scanned
        .iter()
        .map(|folder| match folder.strip_prefix(&cwd) {
            Ok(inside) if inside.as_os_str().is_empty() => PathBuf::from("."),
            Ok(inside) => inside.to_path_buf(),
            Err(_) => folder.clone(),
        })
        .collect();
    let report = engine.check(&scanned);
    let mut summary = format!(
        "unblock: workspace scanned: {} Python files, {} with coroutines, in {:.1} s",
        report.files_scanned,
        report.files_parsed,
        started.elapsed().as_secs_f64()
    );
    if let Some(cache) = &engine.cache {
        summary.push_str(&format!("; {}", cache.stats.summary()));
    }
    if !skipped.is_empty() {
        summary.push_str(&format!(" ({skipped})"));
    }
    (Some(report.project), summary)
}

/// Why a folder is not walked whole although it may hold a project: it is the file-system
/// root or the home folder (an editor started outside any project), where a walk would go
/// through every disk or every project of the user.
pub(super) fn no_project(folder: &Path) -> Option<String> {
    let folder = std::fs::canonicalize(folder).unwrap_or_else(|_| folder.to_path_buf());
    if folder.parent().is_none() {
        return Some("it is the file-system root".into());
    }
    if std::env::var_os("HOME").is_some_and(|home| Path::new(&home) == folder) {
        return Some("it is the home folder".into());
    }
    None
}

/// More than `limit` Python files where the workspace scan walks: too many to parse in the
/// background of an editing session.
pub(super) fn too_many_python_files(folder: &Path, limit: usize) -> Option<String> {
    let mut walk = ignore::WalkBuilder::new(folder);
    walk.require_git(false).filter_entry(|entry| {
        !(entry.depth() > 0
            && entry.file_type().is_some_and(|t| t.is_dir())
            && entry
                .file_name()
                .to_str()
                .is_some_and(|name| DEFAULT_EXCLUDES.contains(&name)))
    });
    let python_files = walk
        .build()
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|e| e == "py"))
        .take(limit + 1)
        .count();
    (python_files > limit).then(|| format!("more than {limit} Python files"))
}

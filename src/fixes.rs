//! `unblock diff` and `unblock apply`: the engine's fixes rendered as a unified diff, or
//! written in place. Both are thin layers over [`Engine::check`] and [`Engine::fix_file`].

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anstyle::AnsiColor;

use crate::engine::cpython::{self, Judge, Original};
use crate::engine::fix::{FixOptions, FixedFile};
use crate::engine::{Diagnostic, Engine, Report, Severity};
use crate::finding::Safety;

/// Checks `paths` and computes the fixed text of every file with a finding. A file that cannot
/// be read again is named on stderr by [`unreadable_for_fixing`].
pub fn fix_paths(
    engine: &Engine,
    paths: &[PathBuf],
    options: FixOptions,
) -> (Report, Vec<FixedFile>) {
    let report = engine.check(paths);
    let fixed = fix_report(engine, &report, options);
    (report, fixed)
}

/// The fixed text of every file of `report` with a finding or a share of `--propagate`'s plan.
pub fn fix_report(engine: &Engine, report: &Report, options: FixOptions) -> Vec<FixedFile> {
    let plan = &report.project.propagation.edits;
    let mut files: Vec<&str> = report.findings.iter().map(|f| f.path.as_str()).collect();
    files.extend(plan.keys().map(String::as_str));
    files.sort_unstable();
    files.dedup();
    // Every original in one batch, before any file is fixed.
    let mut fixed: Vec<FixedFile> = read_and_judge(report, files, options.judge)
        .into_iter()
        .map(|(path, on_disk, bytes, before_fixes)| {
            let mut fixed = engine.fix_judged_file(
                path,
                &engine.project.module_name(&on_disk),
                bytes,
                before_fixes,
                &report.project,
                options,
            );
            fixed.file = on_disk;
            fixed
        })
        .collect();
    keep_the_plan_whole(plan, &mut fixed);
    fixed
}

/// `--propagate`'s plan holds together: a caller awaits a helper another file makes async. A
/// file that cannot take its share (unreadable, or it would not verify) leaves every file of
/// the plan as it was read.
fn keep_the_plan_whole(
    plan: &BTreeMap<String, Vec<crate::finding::Edit>>,
    fixed: &mut [FixedFile],
) {
    let refused: Vec<&str> = plan
        .keys()
        .map(String::as_str)
        .filter(|path| {
            fixed
                .iter()
                .find(|f| f.path == *path)
                .is_none_or(|f| f.propagation_refused)
        })
        .collect();
    if refused.is_empty() {
        return;
    }
    let reason = format!(
        "--propagate: {} could not take its part of the plan, so no file of the plan is changed (run without --propagate to move the calls to threads)",
        refused.join(", ")
    );
    for file in fixed.iter_mut().filter(|f| plan.contains_key(&f.path)) {
        file.fixed = file.original.clone();
        for applied in file.applied.drain(..) {
            file.not_fixed.push(crate::engine::fix::NotFixed {
                recipe: applied.recipe,
                line: applied.line,
                reason: reason.clone(),
            });
        }
    }
}

/// The files with findings that `fix_paths` could not read again, each with why.
pub fn unreadable_for_fixing(report: &Report, fixed: &[FixedFile]) -> Vec<(String, String)> {
    let mut paths: Vec<&str> = report.findings.iter().map(|f| f.path.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    paths
        .into_iter()
        .filter(|path| !fixed.iter().any(|f| f.path == *path))
        .filter_map(|path| {
            let why = match report.on_disk(path) {
                Err(why) => why,
                Ok(file) => std::fs::read(file)
                    .err()
                    .map(|e| format!("cannot read it again ({e}): not fixed"))?,
            };
            Some((path.to_string(), why))
        })
        .collect()
}

/// `check`'s word on the files with findings that do not compile although tree-sitter parsed
/// them without an error (a statement indented deeper than its block, `await await`): one
/// warning per file, like tree-sitter's syntax errors. Only files with findings are judged, in
/// one batch, so that a clean check starts no interpreter. Only whether a file compiles counts
/// here (one that needs a newer Python than the target is no fault), so `check`'s judge needs
/// no target version.
pub fn invalid_files_with_findings(report: &Report, judge: &Judge) -> Vec<Diagnostic> {
    let already_said: BTreeSet<&str> = report
        .diagnostics
        .iter()
        .filter(|d| d.message.starts_with("syntax error"))
        .map(|d| d.path.as_str())
        .collect();
    let mut paths: Vec<&str> = report
        .findings
        .iter()
        .map(|f| f.path.as_str())
        .filter(|path| !already_said.contains(path))
        .collect();
    paths.sort_unstable();
    paths.dedup();
    read_and_judge(report, paths, Some(judge))
        .into_iter()
        .filter_map(|(path, _, _, original)| match original {
            Original::Invalid(rejection, by) => Some(Diagnostic {
                path: path.to_string(),
                message: format!(
                    "syntax error at line {}: {} ({by}); the parts that parse were checked",
                    rejection.line, rejection.message
                ),
                severity: Severity::Warning,
            }),
            _ => None,
        })
        .collect()
}

/// Each file that can be read, with its bytes and how they were judged (in one batch).
fn read_and_judge<'p>(
    report: &Report,
    paths: Vec<&'p str>,
    judge: Option<&Judge>,
) -> Vec<(&'p str, PathBuf, Vec<u8>, Original)> {
    let read: Vec<(&str, PathBuf, Vec<u8>)> = paths
        .into_iter()
        .filter_map(|path| {
            // The file on disk (a name that is not UTF-8 is reported lossily).
            let on_disk = report.on_disk(path).ok()?;
            let bytes = std::fs::read(&on_disk).ok()?;
            Some((path, on_disk, bytes))
        })
        .collect();
    let sources: Vec<&[u8]> = read.iter().map(|(_, _, bytes)| bytes.as_slice()).collect();
    let judged = cpython::judge_originals(judge, &sources);
    read.into_iter()
        .zip(judged)
        .map(|((path, on_disk, bytes), original)| (path, on_disk, bytes, original))
        .collect()
}

/// A unified diff per changed file (GNU `diff -u` compatible, applies with `patch -p0` and
/// `git apply`), coloured when `colour` is set.
pub fn render_diff(files: &[FixedFile], colour: bool) -> String {
    let mut out = String::new();
    for file in files.iter().filter(|f| f.changed()) {
        let old = String::from_utf8_lossy(&file.original);
        let new = String::from_utf8_lossy(&file.fixed);
        let diff = similar::TextDiff::from_lines(old.as_ref(), new.as_ref());
        let text = diff
            .unified_diff()
            .context_radius(3)
            .header(&header_name(file), &header_name(file))
            .to_string();
        if !colour {
            out.push_str(&text);
            continue;
        }
        for line in text.split_inclusive('\n') {
            let style = if line.starts_with("+++") || line.starts_with("---") {
                anstyle::Style::new().bold()
            } else if line.starts_with('+') {
                AnsiColor::Green.on_default()
            } else if line.starts_with('-') {
                AnsiColor::Red.on_default()
            } else if line.starts_with("@@") {
                AnsiColor::Cyan.on_default()
            } else {
                anstyle::Style::new()
            };
            let body = line.trim_end_matches(['\n', '\r']);
            out.push_str(&format!("{style}{body}{style:#}{}", &line[body.len()..]));
        }
    }
    out
}

/// The file's name for a diff header: as reports spell it, or, for a name that is not UTF-8,
/// its bytes C-quoted as git writes them (`"caf\351.py"`), which `git apply` and `patch` read
/// back to the real name.
fn header_name(file: &FixedFile) -> String {
    use std::os::unix::ffi::OsStrExt;
    if file.file.to_str().is_some() {
        return file.path.clone();
    }
    let mut quoted = String::from("\"");
    for &byte in file.file.as_os_str().as_bytes() {
        match byte {
            b'"' | b'\\' => {
                quoted.push('\\');
                quoted.push(byte as char);
            }
            b' '..=b'~' => quoted.push(byte as char),
            _ => quoted.push_str(&format!("\\{byte:03o}")),
        }
    }
    quoted.push('"');
    quoted
}

/// Per recipe: fixed safe, fixed unsafe, and the reasons others were left alone.
pub fn render_summary(files: &[FixedFile], verb: &str) -> String {
    #[derive(Default)]
    struct Counts {
        safe: usize,
        unsafe_: usize,
        not_fixed: BTreeMap<String, usize>,
    }
    let mut by_recipe: BTreeMap<&str, Counts> = BTreeMap::new();
    for file in files {
        for applied in &file.applied {
            let counts = by_recipe.entry(applied.recipe).or_default();
            match applied.safety {
                Safety::Safe => counts.safe += 1,
                Safety::Unsafe => counts.unsafe_ += 1,
            }
        }
        for skipped in &file.not_fixed {
            *by_recipe
                .entry(skipped.recipe)
                .or_default()
                .not_fixed
                .entry(skipped.reason.clone())
                .or_default() += 1;
        }
    }
    let mut out = String::new();
    let changed = files.iter().filter(|f| f.changed()).count();
    let fixed: usize = files.iter().map(|f| f.applied.len()).sum();
    out.push_str(&format!(
        "{verb} {fixed} fix{} in {changed} file{}.\n",
        plural(fixed, "es"),
        plural(changed, "s")
    ));
    for (recipe, counts) in by_recipe {
        out.push_str(&format!(
            "  {recipe:<14} fixed {} safe, {} unsafe",
            counts.safe, counts.unsafe_
        ));
        let left: usize = counts.not_fixed.values().sum();
        if left > 0 {
            out.push_str(&format!("; {left} not fixed"));
        }
        out.push('\n');
        for (reason, n) in counts.not_fixed {
            out.push_str(&format!("      {n} × {reason}\n"));
        }
    }
    out
}

/// The lines after `Applied ...` for the changed files not written: how many fixes that
/// leaves out and which files (the errors above say why), and what an interruption left.
pub fn render_not_written(files: &[FixedFile], outcome: &Written) -> String {
    let mut out = String::new();
    if !outcome.not_written.is_empty() {
        let fixes: usize = outcome
            .not_written
            .iter()
            .filter_map(|(path, _)| files.iter().find(|f| f.path == *path))
            .map(|f| f.applied.len())
            .sum();
        let count = outcome.not_written.len();
        let names: Vec<&str> = outcome
            .not_written
            .iter()
            .map(|(p, _)| p.as_str())
            .collect();
        out.push_str(&format!(
            "Not written: {fixes} fix{} in {count} file{}: {}\n",
            plural(fixes, "es"),
            plural(count, "s"),
            names.join(", ")
        ));
    }
    if outcome.interrupted {
        let left = outcome.left_by_interrupt;
        out.push_str(&format!(
            "Interrupted: {left} more file{} left as they were; no temporary file is left.\n",
            plural(left, "s")
        ));
    }
    out
}

fn plural(n: usize, suffix: &'static str) -> &'static str {
    if n == 1 {
        ""
    } else {
        suffix
    }
}

/// What `apply` wrote, and what it did not and why.
#[derive(Debug, Default)]
pub struct Written {
    /// The files rewritten, as reports spell them.
    pub written: BTreeSet<String>,
    /// The changed files left as they were: path and reason.
    pub not_written: Vec<(String, String)>,
    /// A SIGINT or SIGTERM arrived: nothing more was renamed into place, and the temporary
    /// files not yet renamed were removed.
    pub interrupted: bool,
    /// The changed files left as they were because of the signal.
    pub left_by_interrupt: usize,
}

/// Writes each changed file in place: to a fresh temporary file beside it (created
/// exclusively, so a planted link is never followed), given the original's mode, owner and
/// group, then renamed over it. A file changed or deleted since it was read is left as it is.
///
/// The files in `linked` hold one fix spanning files (`--propagate`: a caller awaits a helper
/// made async in another file); they are written all or none, so that a failure never leaves a
/// caller awaiting a function that is still sync.
pub fn write_fixes(files: &[FixedFile], linked: &BTreeSet<String>) -> Written {
    let changed = files.iter().filter(|f| f.changed());
    let (together, alone): (Vec<&FixedFile>, Vec<&FixedFile>) =
        changed.partition(|f| linked.contains(&f.path));
    let mut units: Vec<Vec<&FixedFile>> = alone.into_iter().map(|f| vec![f]).collect();
    if !together.is_empty() {
        units.push(together);
    }
    let _signals = interrupt::Guard::install();
    let mut outcome = Written::default();
    for unit in units {
        if interrupt::requested() {
            outcome.left_by_interrupt += unit.len();
            continue;
        }
        write_unit(&unit, &mut outcome);
    }
    outcome.interrupted |= interrupt::requested();
    outcome
}

/// A file's new bytes, written to a temporary file beside it and not yet renamed over it.
struct Staged<'a> {
    file: &'a FixedFile,
    target: PathBuf,
    /// Closed (a unit may stage more files than a process may hold open); removed when
    /// dropped.
    temporary: tempfile::TempPath,
}

/// Writes every file of `unit` or none of them.
fn write_unit(unit: &[&FixedFile], outcome: &mut Written) {
    let mut staged = Vec::new();
    let mut failed = Vec::new();
    for file in unit {
        match stage(file) {
            Ok(ready) => staged.push(ready),
            Err(why) => failed.push((file.path.clone(), why)),
        }
    }
    // Checked last, as close to the renames as possible.
    if failed.is_empty() {
        for ready in &staged {
            if let Err(why) = unchanged_since_read(ready) {
                failed.push((ready.file.path.clone(), why));
            }
        }
    }
    if failed.is_empty() && interrupt::requested() {
        outcome.left_by_interrupt += unit.len();
        return;
    }
    if !failed.is_empty() {
        let culprits: Vec<&str> = failed.iter().map(|(path, _)| path.as_str()).collect();
        let culprits = culprits.join(", ");
        outcome.not_written.extend(failed.iter().cloned());
        for ready in staged {
            if !failed.iter().any(|(path, _)| *path == ready.file.path) {
                outcome.not_written.push((
                    ready.file.path.clone(),
                    format!("not written either: its fix spans files and {culprits} could not be written (such a fix is written whole or not at all)"),
                ));
            }
            // Dropping the temporary file removes it.
        }
        return;
    }
    for ready in staged {
        let path = ready.file.path.clone();
        // A rename that fails here (the folder vanished) cannot undo the ones before it.
        match ready.temporary.persist(&ready.target) {
            Ok(_) => {
                outcome.written.insert(path);
            }
            Err(e) => outcome.not_written.push((path, cannot_write(e.error))),
        }
    }
}

fn stage(file: &FixedFile) -> Result<Staged<'_>, String> {
    // Through a symlink, the file it points to is rewritten; the link stays a link.
    let given = file.file.as_path();
    let target = match std::fs::symlink_metadata(given) {
        Ok(m) if m.file_type().is_symlink() => {
            std::fs::canonicalize(given).map_err(|e| gone_or(e, "cannot follow the link"))?
        }
        Ok(_) => given.to_path_buf(),
        Err(e) => return Err(gone_or(e, "cannot read it again")),
    };
    let metadata = std::fs::metadata(&target).map_err(|e| gone_or(e, "cannot read it again"))?;
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let mut temporary = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".unblock.tmp")
        .tempfile_in(dir)
        .map_err(cannot_write)?;
    temporary
        .write_all(&file.fixed)
        .and_then(|()| temporary.flush())
        .map_err(cannot_write)?;
    keep_owner(temporary.as_file(), &metadata);
    // After the owner: chown clears the set-user-ID and set-group-ID bits.
    temporary
        .as_file()
        .set_permissions(metadata.permissions())
        .map_err(|e| format!("cannot keep its permissions: {e}"))?;
    Ok(Staged {
        file,
        target,
        temporary: temporary.into_temp_path(),
    })
}

/// Gives the new file the original's owner and group where we may (root may; another user may
/// at most change the group to one of their own); otherwise it stays ours, as any editor's
/// save-by-rename would leave it.
fn keep_owner(new: &std::fs::File, original: &std::fs::Metadata) {
    use std::os::unix::fs::MetadataExt;
    let Ok(ours) = new.metadata() else {
        return;
    };
    if (ours.uid(), ours.gid()) == (original.uid(), original.gid()) {
        return;
    }
    if std::os::unix::fs::fchown(new, Some(original.uid()), Some(original.gid())).is_err() {
        let _ = std::os::unix::fs::fchown(new, None, Some(original.gid()));
    }
}

fn unchanged_since_read(ready: &Staged) -> Result<(), String> {
    let current = std::fs::read(&ready.target).map_err(|e| gone_or(e, "cannot read it again"))?;
    if current != ready.file.original {
        return Err("changed since it was read; left alone (run again)".into());
    }
    Ok(())
}

/// The OS's reason alone: tempfile's errors also name the temporary file, which is gone.
fn cannot_write(error: std::io::Error) -> String {
    match error.raw_os_error() {
        Some(code) => format!(
            "cannot write it: {}",
            std::io::Error::from_raw_os_error(code)
        ),
        None => format!("cannot write it: {}", error.kind()),
    }
}

/// A file that vanished after it was read stays gone: renaming the fix into place would bring
/// back what someone deleted.
fn gone_or(error: std::io::Error, doing: &str) -> String {
    if error.kind() == std::io::ErrorKind::NotFound {
        "deleted since it was read; left deleted".into()
    } else {
        format!("{doing}: {error}")
    }
}

/// SIGINT and SIGTERM while files are written: the handler only records the signal; the writer
/// stops before its next rename and the temporary files left are removed as they are dropped.
/// Outside the writing, the default action (end the process) is back in place: nothing of ours
/// is on disk then.
mod interrupt {
    use std::sync::atomic::{AtomicBool, Ordering};

    static REQUESTED: AtomicBool = AtomicBool::new(false);

    extern "C" fn record(_signal: libc::c_int) {
        REQUESTED.store(true, Ordering::SeqCst);
    }

    pub fn requested() -> bool {
        REQUESTED.load(Ordering::SeqCst)
    }

    const SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

    /// The handlers in place while it lives; the previous ones come back when it is dropped.
    pub struct Guard {
        previous: Vec<(libc::c_int, libc::sigaction)>,
    }

    impl Guard {
        pub fn install() -> Guard {
            let mut previous = Vec::new();
            for signal in SIGNALS {
                // SAFETY: `record` only stores to an atomic, which is async-signal-safe; the
                // structs are zeroed C structs filled in before use.
                unsafe {
                    let mut action: libc::sigaction = std::mem::zeroed();
                    action.sa_sigaction = record as extern "C" fn(libc::c_int) as usize;
                    libc::sigemptyset(&mut action.sa_mask);
                    let mut old: libc::sigaction = std::mem::zeroed();
                    if libc::sigaction(signal, &action, &mut old) != 0 {
                        continue;
                    }
                    // Started with the signal ignored (nohup, a background job): it stays so.
                    if old.sa_sigaction == libc::SIG_IGN {
                        libc::sigaction(signal, &old, std::ptr::null_mut());
                        continue;
                    }
                    previous.push((signal, old));
                }
            }
            Guard { previous }
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            for (signal, old) in &self.previous {
                // SAFETY: restores an action sigaction itself returned.
                unsafe {
                    libc::sigaction(*signal, old, std::ptr::null_mut());
                }
            }
        }
    }
}

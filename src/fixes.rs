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

/// Checks `paths` and computes the fixed text of every file with a finding.
pub fn fix_paths(
    engine: &Engine,
    paths: &[PathBuf],
    options: FixOptions,
) -> (Report, Vec<FixedFile>) {
    let report = engine.check(paths);
    let mut files: Vec<&str> = report.findings.iter().map(|f| f.path.as_str()).collect();
    files.extend(report.project.propagation.edits.keys().map(String::as_str));
    files.sort_unstable();
    files.dedup();
    // Every original in one batch, before any file is fixed.
    let fixed = read_and_judge(files, options.judge)
        .into_iter()
        .map(|(path, bytes, before_fixes)| {
            engine.fix_judged_file(
                path,
                &engine.project.module_name(Path::new(path)),
                bytes,
                before_fixes,
                &report.project,
                options,
            )
        })
        .collect();
    (report, fixed)
}

/// `check`'s word on the files with findings that do not compile although tree-sitter parsed
/// them without an error (a statement indented deeper than its block, `await await`): one
/// warning per file, like tree-sitter's syntax errors. Only files with findings are judged, in
/// one batch, so that a clean check starts no interpreter.
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
    read_and_judge(paths, Some(judge))
        .into_iter()
        .filter_map(|(path, _, original)| match original {
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
    paths: Vec<&'p str>,
    judge: Option<&Judge>,
) -> Vec<(&'p str, Vec<u8>, Original)> {
    let read: Vec<(&str, Vec<u8>)> = paths
        .into_iter()
        .filter_map(|path| Some((path, std::fs::read(path).ok()?)))
        .collect();
    let sources: Vec<&[u8]> = read.iter().map(|(_, bytes)| bytes.as_slice()).collect();
    let judged = cpython::judge_originals(judge, &sources);
    read.into_iter()
        .zip(judged)
        .map(|((path, bytes), original)| (path, bytes, original))
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
            .header(&file.path, &file.path)
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

fn plural(n: usize, suffix: &'static str) -> &'static str {
    if n == 1 {
        ""
    } else {
        suffix
    }
}

/// Writes each changed file in place: to a temporary file beside it, then renamed over it,
/// keeping its permissions. A file whose bytes changed since they were read is left alone.
pub fn write_fixes(files: &[FixedFile], errors: &mut impl Write) -> usize {
    let mut failures = 0;
    for file in files.iter().filter(|f| f.changed()) {
        if let Err(message) = write_one(file) {
            failures += 1;
            let _ = writeln!(errors, "unblock: error: {}: {message}", file.path);
        }
    }
    failures
}

fn write_one(file: &FixedFile) -> Result<(), String> {
    // Through a symlink, the file it points to is rewritten; the link stays a link.
    let given = Path::new(&file.path);
    let resolved;
    let path = if std::fs::symlink_metadata(given).is_ok_and(|m| m.file_type().is_symlink()) {
        resolved =
            std::fs::canonicalize(given).map_err(|e| format!("cannot follow the link: {e}"))?;
        resolved.as_path()
    } else {
        given
    };
    let current = std::fs::read(path).map_err(|e| format!("cannot read it again: {e}"))?;
    if current != file.original {
        return Err("changed since it was read; left alone (run again)".into());
    }
    let metadata = std::fs::metadata(path).map_err(|e| e.to_string())?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("not a file name")?;
    let temporary = path.with_file_name(format!(".{name}.unblock-{}.tmp", std::process::id()));
    let result = (|| {
        std::fs::write(&temporary, &file.fixed)?;
        std::fs::set_permissions(&temporary, metadata.permissions())?;
        std::fs::rename(&temporary, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temporary);
        return Err(format!("cannot write it: {e}"));
    }
    Ok(())
}

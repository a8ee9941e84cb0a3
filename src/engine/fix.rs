//! Applying fixes: choose non-overlapping ones, edit the bytes, add imports, verify the result
//! parses and puts `await` only where it may go (and, with an interpreter, that CPython
//! compiles it: see `cpython`), and repeat until nothing changes (bounded).
//!
//! Untouched bytes stay identical: edits replace exact byte ranges, and an added import uses
//! the file's own line ending.

use std::collections::HashSet;
use std::path::PathBuf;

use tree_sitter::Node;

use super::cpython::{self, Judge, Original, Rejection, Verdict};
use super::index::ProjectIndex;
use super::source::{walk_tree, SourceFile, Visit};
use super::syntax::Field;
use super::{Diagnostic, Engine, Severity};
use crate::finding::{Edit, Finding, Prelude, Safety};

/// Rounds of check-and-fix per file beyond one per fix the first round offers: a fix that
/// enables another (nested calls) is picked up in the next round, and fixes that claim a whole
/// function (a `with` block moved to a thread) go one per function per round; a loop that
/// never settles is cut off.
const EXTRA_ROUNDS: usize = 8;

#[derive(Clone, Copy, Default)]
pub struct FixOptions<'j> {
    /// Also apply fixes whose safety is `unsafe`.
    pub unsafe_fixes: bool,
    /// `--fix-invalid`: rewrite a file that did not compile before, too.
    pub fix_invalid: bool,
    /// CPython, to judge each file before and after its rewrites. Without it (the language
    /// server's fix-all, for latency) the tree-sitter checks and [`cpython::lenient_spots`]
    /// are all.
    pub judge: Option<&'j Judge>,
}

/// A fix that was applied, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub recipe: &'static str,
    pub safety: Safety,
    pub line: usize,
}

/// A finding left as it was, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFixed {
    pub recipe: &'static str,
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct FixedFile {
    /// How reports spell the file (lossy for a name that is not UTF-8).
    pub path: String,
    /// Where it is on disk.
    pub file: PathBuf,
    pub original: Vec<u8>,
    pub fixed: Vec<u8>,
    pub applied: Vec<Applied>,
    pub not_fixed: Vec<NotFixed>,
    /// `--propagate`'s plan has edits for this file that could not be made: the plan's other
    /// files must not be changed either.
    pub propagation_refused: bool,
    /// What to tell about the file: it did not compile before, or CPython rejected a rewrite.
    pub diagnostics: Vec<Diagnostic>,
}

impl FixedFile {
    pub fn changed(&self) -> bool {
        self.original != self.fixed
    }
}

impl Engine {
    /// Fixes one file's findings. `project` settles findings that depend on other files.
    pub fn fix_file(
        &self,
        path: &str,
        module: &str,
        original: Vec<u8>,
        project: &ProjectIndex,
        options: FixOptions,
    ) -> FixedFile {
        let before_fixes = cpython::judge_originals(options.judge, &[&original]).remove(0);
        self.fix_judged_file(path, module, original, before_fixes, project, options)
    }

    /// [`Engine::fix_file`] for a file whose original was judged already (with the other
    /// files of the run, in one batch: [`cpython::judge_originals`]).
    pub fn fix_judged_file(
        &self,
        path: &str,
        module: &str,
        original: Vec<u8>,
        before_fixes: Original,
        project: &ProjectIndex,
        options: FixOptions,
    ) -> FixedFile {
        let mut diagnostics = Vec::new();
        let invalid = match &before_fixes {
            Original::Invalid(rejection, by) if !options.fix_invalid => {
                diagnostics.push(Diagnostic {
                    path: path.to_string(),
                    message: format!(
                        "does not compile as it is ({by}: {rejection}): nothing in it is rewritten (--fix-invalid rewrites it anyway)"
                    ),
                    severity: Severity::Warning,
                });
                // The same for every file, so that the summary counts them together.
                Some("the file does not compile as it is: nothing in it is rewritten")
            }
            _ => None,
        };
        // A file CPython rejects as it is would reject every rewrite too (`--fix-invalid`):
        // only the tree-sitter checks judge those.
        let cpython = options.judge.and_then(|judge| match before_fixes {
            Original::Valid => Some(Judging {
                judge,
                original_needs_newer_python: false,
            }),
            Original::NeedsNewerPython => Some(Judging {
                judge,
                original_needs_newer_python: true,
            }),
            Original::Invalid(..) => None,
        });
        // A compile per round would cost more than the rounds: they run with the tree-sitter
        // checks, CPython judges the result, and only a result it rejects is made again with
        // CPython judging each round, which drops just the fixes it rejects.
        let rounds = |cpython| {
            self.fix_in_rounds(path, module, &original, project, options, invalid, cpython)
        };
        let mut result = rounds(None);
        if let Some(cpython) = cpython.filter(|_| result.changed()) {
            if cpython.rejection(&result.fixed).is_some() {
                result = rounds(Some(cpython));
            }
        }
        diagnostics.append(&mut result.diagnostics);
        result.diagnostics = diagnostics;
        result
    }

    /// [`Engine::fix_file`]'s rounds, each result kept when it verifies (by CPython too when
    /// `cpython` is given); `invalid` says why nothing in the file is rewritten.
    #[allow(clippy::too_many_arguments)]
    fn fix_in_rounds(
        &self,
        path: &str,
        module: &str,
        original: &[u8],
        project: &ProjectIndex,
        options: FixOptions,
        invalid: Option<&'static str>,
        cpython: Option<Judging>,
    ) -> FixedFile {
        let mut result = FixedFile {
            path: path.to_string(),
            file: PathBuf::from(path),
            original: original.to_vec(),
            fixed: original.to_vec(),
            applied: Vec::new(),
            not_fixed: Vec::new(),
            propagation_refused: false,
            diagnostics: Vec::new(),
        };
        let mut rejected: HashSet<(usize, &'static str)> = HashSet::new();
        if let (Some(edits), None) = (project.propagation.edits.get(path), &invalid) {
            result.propagation_refused =
                !self.apply_propagation(&mut result, module, edits, cpython);
        }
        let mut budget = EXTRA_ROUNDS;
        let mut round = 0;
        while round < budget {
            round += 1;
            let Ok(file) =
                SourceFile::parse(path.to_string(), result.fixed.clone(), module.to_string())
            else {
                break;
            };
            let mut findings = self.check_file(&file).findings;
            project.settle(&mut findings);
            if round == 1 && (file.tree.root_node().has_error() || invalid.is_some()) {
                let reason =
                    invalid.unwrap_or("the file has syntax errors: nothing in it is rewritten");
                for f in &findings {
                    result.not_fixed.push(NotFixed {
                        recipe: f.recipe,
                        line: f.start.line,
                        reason: reason.into(),
                    });
                }
                break;
            }
            let mut candidates: Vec<&Finding> = Vec::new();
            for f in &findings {
                match &f.fix {
                    Some(fix) if fix.safety == Safety::Unsafe && !options.unsafe_fixes => {
                        if round == 1 {
                            result.not_fixed.push(NotFixed {
                                recipe: f.recipe,
                                line: f.start.line,
                                reason: format!(
                                    "unsafe fix, shown with --unsafe-fixes: {}",
                                    fix.note
                                ),
                            });
                        }
                    }
                    Some(fix)
                        if !fix.edits.is_empty()
                            && !rejected.contains(&(f.start_byte, f.recipe)) =>
                    {
                        candidates.push(f)
                    }
                    _ => {
                        if round == 1 {
                            let reason = f
                                .not_fixable
                                .clone()
                                .unwrap_or_else(|| "no automatic rewrite".into());
                            result.not_fixed.push(NotFixed {
                                recipe: f.recipe,
                                line: f.start.line,
                                reason,
                            });
                        }
                    }
                }
            }
            if candidates.is_empty() {
                break;
            }
            if round == 1 {
                budget += candidates.len();
            }
            let chosen = non_overlapping(&candidates);
            let verifier = Verifier::new(&file, cpython);
            match rewrite(&file, &chosen).map(|r| verifier.verify(r)) {
                Some(Ok(text)) => {
                    record(&mut result.applied, &chosen, &file);
                    result.fixed = text;
                }
                _ => {
                    // Together they do not verify: find the ones that do, one at a time.
                    for finding in chosen {
                        let single = [finding];
                        let line = file.position(finding.start_byte).line;
                        match rewrite(&file, &single).map(|r| verifier.verify(r)) {
                            Some(Ok(text)) => {
                                record(&mut result.applied, &single, &file);
                                result.fixed = text;
                                // Other findings' offsets refer to the old text: next round.
                                break;
                            }
                            failed => {
                                rejected.insert((finding.start_byte, finding.recipe));
                                let reason = match failed {
                                    Some(Err(Some(rejection))) => {
                                        result.diagnostics.push(Diagnostic {
                                            path: path.to_string(),
                                            // Named by its code: its line is in this
                                            // round's text, after the earlier fixes.
                                            message: format!(
                                                "the {} fix of `{}` was dropped: CPython rejects the file it writes ({rejection})",
                                                finding.recipe,
                                                first_line(&file, finding),
                                            ),
                                            severity: Severity::Warning,
                                        });
                                        "CPython rejects the rewrite: fix dropped".into()
                                    }
                                    _ => "the rewrite would not parse, would lose a comment, or would put `await` or `nonlocal` where Python rejects them: fix dropped".into(),
                                };
                                result.not_fixed.push(NotFixed {
                                    recipe: finding.recipe,
                                    line,
                                    reason,
                                });
                            }
                        }
                    }
                }
            }
        }
        if result.changed() {
            wrap_long_lines(&mut result, module);
        }
        result.fixed = super::source::restore_line_endings(&result.original, result.fixed);
        result
    }
}

/// Lines the fixes made longer than the project's line length, wrapped as its formatter
/// would; kept only if the file still parses as well as before.
fn wrap_long_lines(result: &mut FixedFile, module: &str) {
    let folder = std::path::Path::new(&result.path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let limit = super::style::line_length(folder);
    let wrapped = super::style::wrap_long_lines(&result.original, result.fixed.clone(), limit);
    let wrapped = super::style::drop_redundant_parentheses(&result.original, wrapped, limit);
    if wrapped == result.fixed {
        return;
    }
    let parses = |text: &[u8]| {
        SourceFile::parse(result.path.clone(), text.to_vec(), module.to_string())
            .is_ok_and(|f| !f.tree.root_node().has_error())
    };
    if parses(&wrapped) || !parses(&result.fixed) {
        result.fixed = wrapped;
    }
}

impl Engine {
    /// `--propagate`'s edits for this file (`async ` on definitions, `await ` on calls), which
    /// the project-wide plan decided together; the rounds that follow rewrite the blocking
    /// calls now in async context.
    /// False when they cannot be made (the file changed shape, or would not verify).
    fn apply_propagation(
        &self,
        result: &mut FixedFile,
        module: &str,
        edits: &[Edit],
        cpython: Option<Judging>,
    ) -> bool {
        let mut out = Vec::with_capacity(result.fixed.len() + edits.len() * 8);
        let mut at = 0;
        for edit in edits {
            if edit.start < at || edit.end > result.fixed.len() {
                return false;
            }
            out.extend_from_slice(&result.fixed[at..edit.start]);
            out.extend_from_slice(edit.text.as_bytes());
            at = edit.end;
        }
        out.extend_from_slice(&result.fixed[at..]);
        let Ok(before) = SourceFile::parse(
            result.path.clone(),
            result.fixed.clone(),
            module.to_string(),
        ) else {
            return false;
        };
        let Ok(out) = Verifier::new(&before, cpython).verify(out) else {
            for edit in edits {
                result.not_fixed.push(NotFixed {
                    recipe: super::recipe::INDIRECT_RECIPE,
                    line: before_line(&result.original, edit.start),
                    reason: "--propagate: the file would not parse with `async`/`await` added: left as it was".into(),
                });
            }
            return false;
        };
        for edit in edits.iter().filter(|e| e.text == "async ") {
            result.applied.push(Applied {
                recipe: super::recipe::INDIRECT_RECIPE,
                safety: Safety::Safe,
                line: before_line(&result.original, edit.start),
            });
        }
        result.fixed = out;
        true
    }
}

/// The first line of a finding's code, shortened: what names it in a message.
fn first_line(file: &SourceFile, finding: &Finding) -> String {
    let code = String::from_utf8_lossy(&file.bytes[finding.start_byte..finding.end_byte]);
    let line = code.lines().next().unwrap_or_default().trim_end();
    match line.char_indices().nth(60) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line.to_string(),
    }
}

/// The 1-based line of a byte offset.
fn before_line(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// Applies just these findings' fixes (edits and imports) to `file`, as one round of
/// [`Engine::fix_file`] would, and keeps the result only if it verifies (an editor's quick fix
/// for one finding). No CPython here: the editor asks on every cursor move, and starting an
/// interpreter would cost more than the whole check; the tree-sitter checks still apply.
pub fn apply_fixes(file: &SourceFile, findings: &[&Finding]) -> Option<Vec<u8>> {
    let verifier = Verifier::new(file, None);
    rewrite(file, findings).and_then(|r| verifier.verify(r).ok())
}

fn record(applied: &mut Vec<Applied>, chosen: &[&Finding], file: &SourceFile) {
    for f in chosen {
        if let Some(fix) = &f.fix {
            applied.push(Applied {
                recipe: f.recipe,
                safety: fix.safety,
                line: file.position(f.start_byte).line,
            });
        }
    }
}

/// The fixes whose edits overlap no earlier chosen edit: first those that claim a region
/// (a block moved to a thread), then the rest in file order; deterministic. A block move
/// goes first so that no call inside the block is wrapped before it: an `await` in the
/// block would keep the block (and the `open` in its header) on the loop.
fn non_overlapping<'f>(candidates: &[&'f Finding]) -> Vec<&'f Finding> {
    let mut sorted = candidates.to_vec();
    sorted.sort_by_key(|f| {
        let claims = f.fix.as_ref().is_some_and(|x| !x.claims.is_empty());
        (!claims, f.start_byte, f.end_byte, f.recipe)
    });
    let mut taken: Vec<(usize, usize)> = Vec::new();
    let mut chosen = Vec::new();
    for f in sorted {
        let fix = f.fix.as_ref().expect("candidates have fixes");
        let spans: Vec<(usize, usize)> = fix
            .edits
            .iter()
            .map(|e| (e.start, e.end))
            .chain(fix.claims.iter().copied())
            .collect();
        let overlaps = spans.iter().any(|&(start, end)| {
            taken
                .iter()
                .any(|&(s, t)| (start < t && s < end) || (start == end && s <= start && start <= t))
        });
        if !overlaps {
            taken.extend(spans);
            chosen.push(f);
        }
    }
    chosen
}

/// The file's bytes with the chosen fixes' edits and imports applied.
/// A file's text with fixes applied, before verification.
struct Rewritten {
    text: Vec<u8>,
    /// Comments removed on purpose, which the verification must not count as swallowed.
    comments_removed: usize,
}

/// Text that removes no comment on purpose.
impl From<Vec<u8>> for Rewritten {
    fn from(text: Vec<u8>) -> Rewritten {
        Rewritten {
            text,
            comments_removed: 0,
        }
    }
}

#[cfg(test)]
fn apply(file: &SourceFile, chosen: &[&Finding]) -> Option<Vec<u8>> {
    rewrite(file, chosen).map(|r| r.text)
}

fn rewrite(file: &SourceFile, chosen: &[&Finding]) -> Option<Rewritten> {
    let mut edits: Vec<&Edit> = chosen
        .iter()
        .flat_map(|f| f.fix.as_ref().map(|x| x.edits.iter()).into_iter().flatten())
        .collect();
    edits.sort_by_key(|e| (e.start, e.end));
    let mut out = Vec::with_capacity(file.bytes.len() + 64);
    let mut at = 0;
    for edit in edits {
        if edit.start < at || edit.end > file.bytes.len() {
            return None;
        }
        out.extend_from_slice(&file.bytes[at..edit.start]);
        out.extend_from_slice(edit.text.as_bytes());
        at = edit.end;
    }
    out.extend_from_slice(&file.bytes[at..]);
    let local_imports = LocalImports::of(file);
    let mut modules: Vec<&str> = Vec::new();
    for fix in chosen.iter().filter_map(|f| f.fix.as_ref()) {
        let at = fix.edits.first().map_or(0, |e| e.start);
        for module in &fix.imports {
            if !local_imports.cover(at, module) {
                modules.push(module);
            }
        }
    }
    modules.sort();
    modules.dedup();
    let imports = missing_imports(file, &modules);
    let (import_offset, newline) = import_position(file);
    // Text added outside the edits, at positions in the original's coordinates: the import
    // block first, then each prelude (an import and a prelude may share a position).
    let mut insertions: Vec<(usize, String)> = Vec::new();
    if !imports.is_empty() {
        match super::imports::insertions(file, &imports, newline) {
            Some(placed) => insertions.extend(placed),
            None => {
                let block: String = imports
                    .iter()
                    .map(|m| format!("import {m}{newline}"))
                    .collect();
                insertions.push((import_offset, block));
            }
        }
    }
    for prelude in missing_preludes(file, chosen) {
        let at = prelude_position(file, prelude.after_import, import_offset);
        // A blank line sets it apart from the imports; a last line without its line ending
        // gets one first.
        let mut text = String::new();
        if at > 0 && file.bytes[at - 1] != b'\n' {
            text.push_str(newline);
        }
        text.push_str(newline);
        for line in prelude.statement.lines() {
            text.push_str(line);
            text.push_str(newline);
        }
        // A class or function wants two blank lines after it (black, ruff format): those the
        // file has at that place count.
        let first = prelude.statement.trim_start();
        let defines = first.starts_with("def ") || first.starts_with("class ");
        if defines {
            let following = file.bytes[at..]
                .split(|&b| b == b'\n')
                .take_while(|line| line.iter().all(|b| b.is_ascii_whitespace()))
                .count()
                .min(2);
            for _ in following..2 {
                text.push_str(newline);
            }
        }
        insertions.push((at, text));
    }
    // Each position is in the original's coordinates: a line start that no edit spans. Text
    // an edit inserts at that very position goes after ours (a `def` made `async`).
    let shift = |pos: usize| -> usize {
        let mut delta: isize = 0;
        for f in chosen {
            for e in f
                .fix
                .as_ref()
                .map(|x| x.edits.as_slice())
                .unwrap_or_default()
            {
                if e.end <= pos && e.start < pos {
                    delta += e.text.len() as isize - (e.end - e.start) as isize;
                }
            }
        }
        (pos as isize + delta) as usize
    };
    // From the last to the first, so that one at the same position as a later one stays first.
    insertions.sort_by_key(|(at, _)| *at);
    for (at, text) in insertions.into_iter().rev() {
        let at = shift(at);
        out.splice(at..at, text.bytes());
    }
    let released: Vec<&str> = chosen
        .iter()
        .flat_map(|f| {
            f.fix
                .as_ref()
                .map(|x| x.releases.iter().map(String::as_str).collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect();
    let released_locals: Vec<&str> = chosen
        .iter()
        .filter_map(|f| f.fix.as_ref())
        .flat_map(|x| x.released_locals.iter().map(String::as_str))
        .collect();
    if !released_locals.is_empty() {
        out = drop_unread_loop_lookups(&file.path, &file.module, out, &released_locals);
    }
    if released.is_empty() || file.path.ends_with("__init__.py") {
        return Some(Rewritten {
            text: out,
            comments_removed: 0,
        });
    }
    let (text, comments_removed) = drop_unused_imports(&file.path, &file.module, out, &released);
    Some(Rewritten {
        text,
        comments_removed,
    })
}

/// The byte range of the whole lines a statement stands on, its line ending included.
fn statement_lines(bytes: &[u8], statement: Node) -> (usize, usize) {
    let start = bytes[..statement.start_byte()]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let end = bytes[statement.end_byte()..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| statement.end_byte() + i + 1);
    (start, end)
}

/// Removes `name = asyncio.get_event_loop()` (or `get_running_loop()`), `name` one of `names`,
/// when nothing else in its function reads `name` any more: the fix that rewrote
/// `name.run_in_executor(...)` removed its last use, and pyflakes would call it unused (F841).
/// The lookup has no side effect worth keeping, so only it goes, on its own line.
fn drop_unread_loop_lookups(path: &str, module: &str, text: Vec<u8>, names: &[&str]) -> Vec<u8> {
    let Ok(file) = SourceFile::parse(path.to_string(), text.clone(), module.to_string()) else {
        return text;
    };
    let lookups = ["asyncio.get_event_loop", "asyncio.get_running_loop"];
    let mut removals: Vec<(usize, usize)> = Vec::new();
    walk_tree(file.tree.root_node(), |event| {
        let Visit::Enter(node) = event else {
            return true;
        };
        if node.kind() != "function_definition" {
            return true;
        }
        let Some(body) = node.field("body") else {
            return true;
        };
        let mut cursor = body.walk();
        for statement in body.named_children(&mut cursor) {
            let Some(assignment) = statement
                .named_child(0)
                .filter(|a| statement.kind() == "expression_statement" && a.kind() == "assignment")
            else {
                continue;
            };
            let (Some(target), Some(value)) = (assignment.field("left"), assignment.field("right"))
            else {
                continue;
            };
            let name = file.text(target);
            let is_lookup = value.kind() == "call"
                && value
                    .field("function")
                    .is_some_and(|f| lookups.contains(&file.text(f)))
                && value
                    .field("arguments")
                    .is_some_and(|a| a.named_child_count() == 0);
            if target.kind() != "identifier" || !names.contains(&name) || !is_lookup {
                continue;
            }
            let mut reads = 0;
            walk_tree(node, |inner| {
                if let Visit::Enter(n) = inner {
                    if n.kind() == "identifier" && n != target && file.text(n) == name {
                        let member = n.parent().is_some_and(|p| {
                            (p.kind() == "attribute" && p.field("attribute") == Some(n))
                                || (p.kind() == "keyword_argument" && p.field("name") == Some(n))
                        });
                        reads += usize::from(!member);
                    }
                }
                true
            });
            if reads > 0 {
                continue;
            }
            let (start, end) = statement_lines(&file.bytes, statement);
            let alone = file.bytes[start..statement.start_byte()]
                .iter()
                .all(|b| matches!(b, b' ' | b'\t'))
                && file.bytes[statement.end_byte()..end]
                    .iter()
                    .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
            if alone {
                removals.push((start, end));
            }
        }
        true
    });
    let mut out = file.bytes.clone();
    removals.sort_unstable();
    for (start, end) in removals.into_iter().rev() {
        out.drain(start..end);
    }
    out
}

/// Removes a module-level import statement that binds exactly one of `names`, when nothing else
/// in the file uses that name any more. Statements binding several names are left as they are.
/// Returns the text and the number of trailing comments removed with their imports.
fn drop_unused_imports(
    path: &str,
    module: &str,
    text: Vec<u8>,
    names: &[&str],
) -> (Vec<u8>, usize) {
    let Ok(file) = SourceFile::parse(path.to_string(), text.clone(), module.to_string()) else {
        return (text, 0);
    };
    let mut comments_removed = 0;
    let root = file.tree.root_node();
    let mut uses: std::collections::HashMap<&str, usize> = names.iter().map(|n| (*n, 0)).collect();
    // The nodes entered and not yet left: `Node::parent` walks down from the root each time,
    // which is quadratic in a deeply nested literal.
    let mut ancestors: Vec<Node> = Vec::new();
    walk_tree(root, |event| {
        let node = match event {
            Visit::Enter(node) => node,
            Visit::Leave(node) => {
                if ancestors.last() == Some(&node) {
                    ancestors.pop();
                }
                return true;
            }
        };
        if matches!(
            node.kind(),
            "import_statement" | "import_from_statement" | "future_import_statement"
        ) {
            return false;
        }
        let parent = ancestors.last().copied();
        ancestors.push(node);
        // `client.post` is no use of a `post` binding; `f(post=1)` neither.
        let member_name = || {
            parent.is_some_and(|p| {
                (p.kind() == "attribute" && p.field("attribute") == Some(node))
                    || (p.kind() == "keyword_argument" && p.field("name") == Some(node))
            })
        };
        if node.kind() == "identifier" && !member_name() {
            if let Some(count) = uses.get_mut(file.text(node)) {
                *count += 1;
            }
        }
        // `__all__ = ["time"]` and the like re-export by string: keep those imports.
        if node.kind() == "string_content" {
            if let Some(count) = uses.get_mut(file.text(node)) {
                *count += 1;
            }
        }
        true
    });
    let mut removals: Vec<(usize, usize)> = Vec::new();
    let mut cursor = root.walk();
    for statement in root.named_children(&mut cursor) {
        if !matches!(
            statement.kind(),
            "import_statement" | "import_from_statement"
        ) {
            continue;
        }
        let mut c = statement.walk();
        let bound: Vec<String> = statement
            .children_by_field_name("name", &mut c)
            .map(|name| match name.kind() {
                "aliased_import" => name
                    .field("alias")
                    .map(|a| file.text(a).to_string())
                    .unwrap_or_default(),
                _ if statement.kind() == "import_statement" => file
                    .text(name)
                    .split('.')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                _ => file.text(name).to_string(),
            })
            .collect();
        let [only] = bound.as_slice() else { continue };
        if uses.get(only.as_str()) != Some(&0) {
            continue;
        }
        // The whole line(s) of the statement, when nothing else shares them.
        let (start, end) = statement_lines(&file.bytes, statement);
        let line = &file.bytes[start..end];
        // A trailing comment (`import functools  # for partial`) speaks of the import and
        // goes with it, as ruff's fix for an unused import removes it.
        let rest = &file.bytes[statement.end_byte()..end];
        let rest_is_a_comment = {
            let trimmed = rest.trim_ascii_start();
            trimmed.is_empty() || trimmed.starts_with(b"#")
        };
        let has_comment = rest.trim_ascii_start().starts_with(b"#");
        let own_line = file.bytes[start..statement.start_byte()]
            .iter()
            .all(|b| matches!(b, b' ' | b'\t'))
            && rest_is_a_comment;
        if own_line && !line.is_empty() {
            // The only import of its section: the blank lines around it become one run,
            // as isort would leave them, not two.
            let blank = |range: &[u8]| range.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'));
            let before = file.bytes[..start.saturating_sub(1)]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            let after_end = file.bytes[end..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| end + i);
            let blank_before = start > 0 && blank(&file.bytes[before..start - 1]);
            let blank_after = after_end.is_some_and(|e| blank(&file.bytes[end..e]));
            let start = if blank_before && blank_after {
                before
            } else {
                start
            };
            removals.push((start, end));
            comments_removed += usize::from(has_comment);
        }
    }
    let mut out = file.bytes.clone();
    for (start, end) in removals.into_iter().rev() {
        out.drain(start..end);
    }
    (out, comments_removed)
}

/// The `import m` statements inside functions: a fix in such a function (or in one nested in
/// it) after the import needs no module-level import, which would only repeat it. Read in one
/// walk of the file, so the cost does not grow with the number of fixes.
struct LocalImports {
    /// (function start, function end, module, import start).
    imports: Vec<(usize, usize, String, usize)>,
}

impl LocalImports {
    fn of(file: &SourceFile) -> LocalImports {
        let mut imports = Vec::new();
        let mut functions: Vec<Node> = Vec::new();
        walk_tree(file.tree.root_node(), |event| match event {
            Visit::Enter(node) => {
                match node.kind() {
                    "function_definition" => functions.push(node),
                    "import_statement" => {
                        if let Some(function) = functions.last() {
                            let mut c = node.walk();
                            for name in node.children_by_field_name("name", &mut c) {
                                if name.kind() == "dotted_name" {
                                    imports.push((
                                        function.start_byte(),
                                        function.end_byte(),
                                        file.text(name).to_string(),
                                        node.start_byte(),
                                    ));
                                }
                            }
                        }
                        return false;
                    }
                    _ => {}
                }
                true
            }
            Visit::Leave(node) => {
                if functions.last() == Some(&node) {
                    functions.pop();
                }
                true
            }
        });
        LocalImports { imports }
    }

    /// Whether a function around `offset` imports `module` before `offset`.
    fn cover(&self, offset: usize, module: &str) -> bool {
        self.imports.iter().any(|(start, end, m, at)| {
            *start <= offset && offset < *end && m == module && *at < offset
        })
    }
}

/// Modules among `modules` that the file does not import by that name at module level.
fn missing_imports<'m>(file: &SourceFile, modules: &[&'m str]) -> Vec<&'m str> {
    let root = file.tree.root_node();
    let mut cursor = root.walk();
    let imported: HashSet<String> = root
        .named_children(&mut cursor)
        .filter(|n| n.kind() == "import_statement")
        .flat_map(|n| {
            let mut c = n.walk();
            n.children_by_field_name("name", &mut c)
                .filter(|name| name.kind() == "dotted_name")
                .map(|name| file.text(name).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    modules
        .iter()
        .copied()
        .filter(|m| !imported.contains(*m))
        .collect()
}

/// The chosen fixes' preludes, each once, leaving out those whose name the module binds.
fn missing_preludes<'f>(file: &SourceFile, chosen: &[&'f Finding]) -> Vec<&'f Prelude> {
    let mut wanted: Vec<&Prelude> = Vec::new();
    for prelude in chosen
        .iter()
        .filter_map(|f| f.fix.as_ref())
        .flat_map(|fix| &fix.preludes)
    {
        if !wanted.iter().any(|w| w.name == prelude.name) {
            wanted.push(prelude);
        }
    }
    if wanted.is_empty() {
        return wanted;
    }
    let scopes = super::scope::Scopes::build(file);
    let module = scopes.get(super::scope::MODULE_SCOPE);
    wanted.retain(|p| !module.bindings.contains_key(p.name));
    wanted
}

/// Where a prelude that uses `module` goes: the line after the run of module-level imports
/// holding `import module`, or, when that import is being added at `import_offset`, after the
/// run that starts there (or right after the added import when no import follows it).
fn prelude_position(file: &SourceFile, module: &str, import_offset: usize) -> usize {
    let root = file.tree.root_node();
    let mut cursor = root.walk();
    let statements: Vec<Node> = root
        .named_children(&mut cursor)
        .filter(|n| n.kind() != "comment")
        .collect();
    let is_import = |n: &Node| {
        matches!(
            n.kind(),
            "import_statement" | "import_from_statement" | "future_import_statement"
        )
    };
    let imports_module = |n: &Node| {
        let mut c = n.walk();
        n.kind() == "import_statement"
            && n.children_by_field_name("name", &mut c)
                .any(|name| name.kind() == "dotted_name" && file.text(name) == module)
    };
    let first = statements.iter().position(imports_module).or_else(|| {
        statements
            .iter()
            .position(|n| n.start_byte() >= import_offset)
            .filter(|&i| is_import(&statements[i]))
    });
    let Some(first) = first else {
        return import_offset;
    };
    // The run goes on through imports behind `if TYPE_CHECKING:` and `try:` (an optional
    // dependency): the prelude is code, and goes after them as it would after any import.
    let only_imports = |block: Option<Node>| {
        block.is_some_and(|b| {
            let mut c = b.walk();
            let mut statements = b.named_children(&mut c).filter(|n| n.kind() != "comment");
            statements.all(|n| is_import(&n))
        })
    };
    let guarded_imports = |n: &Node| match n.kind() {
        "if_statement" => {
            let condition = n.field("condition").map(|c| file.text(c)).unwrap_or("");
            (condition == "TYPE_CHECKING" || condition.ends_with(".TYPE_CHECKING"))
                && n.field("alternative").is_none()
                && only_imports(n.field("consequence"))
        }
        "try_statement" => only_imports(n.field("body")),
        _ => false,
    };
    let last = statements[first..]
        .iter()
        .take_while(|n| is_import(n) || guarded_imports(n))
        .last()
        .unwrap_or(&statements[first]);
    let end = last.end_byte();
    file.bytes[end..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(file.bytes.len(), |i| end + i + 1)
}

/// Where new `import` lines go, and the file's line ending: before the first module-level
/// import that is not `from __future__`; else after the docstring and `__future__` imports;
/// else at the top (after a BOM, a shebang and coding lines).
fn import_position(file: &SourceFile) -> (usize, &'static str) {
    let newline = super::source::line_ending(&file.bytes);
    let root = file.tree.root_node();
    let mut cursor = root.walk();
    let statements: Vec<Node> = root
        .named_children(&mut cursor)
        .filter(|n| n.kind() != "comment")
        .collect();
    let line_start = |byte: usize| {
        file.bytes[..byte]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1)
    };
    let mut after_preamble = None;
    for (i, statement) in statements.iter().enumerate() {
        let is_docstring = i == 0
            && statement.kind() == "expression_statement"
            && statement
                .named_child(0)
                .is_some_and(|s| s.kind() == "string");
        match statement.kind() {
            "future_import_statement" => after_preamble = Some(*statement),
            _ if is_docstring => after_preamble = Some(*statement),
            "import_statement" | "import_from_statement" => {
                let start = line_start(statement.start_byte());
                return (start.max(bom_len(file)), newline);
            }
            _ => break,
        }
    }
    match after_preamble {
        Some(node) => {
            // The line after the preamble's last statement.
            let end = node.end_byte();
            let next = file.bytes[end..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(file.bytes.len(), |i| end + i + 1);
            (next, newline)
        }
        None => {
            // After a BOM, a shebang and coding-declaration comment lines.
            let mut at = bom_len(file);
            loop {
                let rest = &file.bytes[at..];
                let line_end = rest
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(rest.len(), |i| i + 1);
                let line = &rest[..line_end];
                let text = String::from_utf8_lossy(line);
                if text.starts_with("#!") || (text.starts_with('#') && text.contains("coding")) {
                    at += line_end;
                } else {
                    break;
                }
            }
            (at, newline)
        }
    }
}

fn bom_len(file: &SourceFile) -> usize {
    if file.bytes.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    }
}

/// What a text does wrong that tree-sitter does not mark as an error. A rewrite may add none:
/// what the file already did wrong is not held against it.
#[derive(Debug, Clone, Copy)]
struct Faults {
    /// `await` outside `async def`, in a lambda or in a generator expression.
    misplaced_awaits: usize,
    unbound_nonlocals: usize,
    /// `await await x`, inconsistent indentation.
    lenient_spots: usize,
    comments: usize,
}

impl Faults {
    fn of(file: &SourceFile) -> Faults {
        Faults {
            misplaced_awaits: misplaced_awaits(file),
            unbound_nonlocals: unbound_nonlocals(file),
            lenient_spots: cpython::lenient_spots(file).len(),
            // Counted by the file: comment lines left out of a whole parse count too.
            comments: file.comment_count(),
        }
    }

    /// `comments_removed`: the comments the rewrite removes on purpose (an unused import's
    /// trailing comment goes with it).
    fn no_worse_than(&self, before: &Faults, comments_removed: usize) -> bool {
        self.misplaced_awaits <= before.misplaced_awaits
            && self.unbound_nonlocals <= before.unbound_nonlocals
            && self.lenient_spots <= before.lenient_spots
            // A rewrite that swallows a comment (inside a replaced call) is not kept.
            && self.comments + comments_removed >= before.comments
    }
}

/// CPython judging one file's rewrites.
#[derive(Clone, Copy)]
struct Judging<'j> {
    judge: &'j Judge,
    /// The file as it was already needed a newer Python than the target version: its rewrites
    /// are not held to the target's grammar either.
    original_needs_newer_python: bool,
}

impl Judging<'_> {
    /// Why CPython rejects `text`, if it does. No answer (the interpreter stopped, which the
    /// front end says) rejects nothing.
    fn rejection(&self, text: &[u8]) -> Option<Rejection> {
        match self.judge.judge(text)? {
            Verdict::Accepted => None,
            Verdict::TooNew(_) if self.original_needs_newer_python => None,
            Verdict::TooNew(rejection) => Some(Rejection {
                message: format!("{} (the target version)", rejection.message),
                ..rejection
            }),
            Verdict::Rejected(rejection) => Some(rejection),
        }
    }
}

/// Judges the rewrites of one text: tree-sitter's checks, then CPython's when it judges this
/// file.
struct Verifier<'f, 'j> {
    file: &'f SourceFile,
    before: Faults,
    cpython: Option<Judging<'j>>,
}

impl<'f, 'j> Verifier<'f, 'j> {
    fn new(file: &'f SourceFile, cpython: Option<Judging<'j>>) -> Self {
        Verifier {
            file,
            before: Faults::of(file),
            cpython,
        }
    }

    /// The rewritten text back when it is kept; else CPython's reason when it was CPython that
    /// rejected it.
    fn verify(&self, rewritten: impl Into<Rewritten>) -> Result<Vec<u8>, Option<Rejection>> {
        let Rewritten {
            text,
            comments_removed,
        } = rewritten.into();
        let Ok(file) = SourceFile::parse(self.file.path.clone(), text, self.file.module.clone())
        else {
            return Err(None);
        };
        if file.tree.root_node().has_error()
            || !Faults::of(&file).no_worse_than(&self.before, comments_removed)
        {
            return Err(None);
        }
        match self
            .cpython
            .and_then(|cpython| cpython.rejection(&file.bytes))
        {
            None => Ok(file.bytes),
            rejection => Err(rejection),
        }
    }
}

/// `nonlocal x` statements with no enclosing function that binds `x`: tree-sitter accepts
/// them, CPython does not. A moved `with` block must never leave one behind.
pub fn unbound_nonlocals(file: &SourceFile) -> usize {
    // Most files have none: the scopes of a large file are not built for nothing.
    if memchr::memmem::find(&file.bytes, b"nonlocal").is_none() {
        return 0;
    }
    let scopes = super::scope::Scopes::build(file);
    let mut count = 0;
    walk_tree(file.tree.root_node(), |event| {
        let Visit::Enter(node) = event else {
            return true;
        };
        if node.kind() != "nonlocal_statement" {
            return true;
        }
        // The function the statement is in, then its enclosing functions.
        let mut function = node.parent();
        while let Some(f) = function.filter(|f| f.kind() != "function_definition") {
            function = f.parent();
        }
        let mut cursor = node.walk();
        for name in node
            .named_children(&mut cursor)
            .filter(|n| n.kind() == "identifier")
        {
            let name = file.text(name);
            let mut enclosing = function.and_then(|f| f.parent());
            let mut bound = false;
            while let Some(candidate) = enclosing {
                if candidate.kind() == "function_definition" {
                    let scope = candidate
                        .child_by_field_name("body")
                        .and_then(|b| scopes.by_node.get(&b.id()));
                    if scope.is_some_and(|&s| {
                        scopes.get(s).bindings.contains_key(name)
                            && !scopes.get(s).not_local.contains(name)
                    }) {
                        bound = true;
                        break;
                    }
                }
                enclosing = candidate.parent();
            }
            if !bound {
                count += 1;
            }
        }
        true
    });
    count
}

/// `await` expressions whose nearest function is not an `async def`, or that sit in a
/// generator expression below it.
pub fn misplaced_awaits(file: &SourceFile) -> usize {
    // Context stack: (node, allows await).
    let mut stack: Vec<(Node, bool)> = Vec::new();
    let mut count = 0;
    walk_tree(file.tree.root_node(), |event| {
        match event {
            Visit::Enter(node) => {
                let context = match node.kind() {
                    "function_definition" => {
                        Some(node.child(0).is_some_and(|c| c.kind() == "async"))
                    }
                    "lambda" | "generator_expression" | "class_definition" => Some(false),
                    _ => None,
                };
                if node.kind() == "await" && node.is_named() && !stack.last().is_some_and(|c| c.1) {
                    count += 1;
                }
                if let Some(allows) = context {
                    // A lambda's or a genexp's own body decides; the node itself is the marker.
                    stack.push((node, allows));
                }
            }
            Visit::Leave(node) => {
                if stack.last().is_some_and(|c| c.0 == node) {
                    stack.pop();
                }
            }
        }
        true
    });
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{FixInfo, Kind, Position};

    const PRELUDE: Prelude = Prelude {
        name: "_CONTEXT",
        statement: "# Built once.\n_CONTEXT = httpx.make()",
        after_import: "httpx",
    };

    /// A finding whose fix replaces the first `pass` with `use(_CONTEXT)`, imports `httpx`
    /// and asks for the prelude.
    fn finding(source: &str, nth_pass: usize) -> Finding {
        let start = source.match_indices("pass").nth(nth_pass).unwrap().0;
        let fix = FixInfo::new(
            Safety::Safe,
            "",
            vec![Edit {
                start,
                end: start + 4,
                text: "use(_CONTEXT)".into(),
            }],
            vec!["httpx"],
        )
        .with_prelude(PRELUDE);
        Finding {
            path: "m.py".into(),
            recipe: "test",
            kind: Kind::Direct,
            start_byte: start,
            end_byte: start + 4,
            start: Position::default(),
            end: Position::default(),
            message: String::new(),
            reason: String::new(),
            fix: Some(fix),
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

    fn parse(source: &str) -> SourceFile {
        SourceFile::parse("m.py".into(), source.as_bytes().to_vec(), "m".into()).unwrap()
    }

    /// Every `pass` fixed in one round, then the result as the engine would verify it.
    fn fixed(source: &str) -> String {
        let file = parse(source);
        let findings: Vec<Finding> = (0..source.matches("pass").count())
            .map(|n| finding(source, n))
            .collect();
        let chosen: Vec<&Finding> = findings.iter().collect();
        let text = apply_fixes(&file, &chosen).expect("the result verifies");
        String::from_utf8(text).unwrap()
    }

    /// `source` with its first `pass` rewritten to `text`, as a fix would write it.
    fn rewritten(source: &str, text: &str) -> Vec<u8> {
        let start = source.find("pass").unwrap();
        let mut rewrite = finding(source, 0);
        rewrite.fix = Some(FixInfo::new(
            Safety::Safe,
            "",
            vec![Edit {
                start,
                end: start + 4,
                text: text.into(),
            }],
            vec![],
        ));
        apply(&parse(source), &[&rewrite]).unwrap()
    }

    #[test]
    fn a_rewrite_python_rejects_is_caught_by_tree_sitter_checks_or_by_cpython() {
        let source = "async def f():\n    pass\n";
        let file = parse(source);
        let tree_sitter_only = Verifier::new(&file, None);
        // tree-sitter parses `await await x` without an error; the explicit check catches it.
        assert_eq!(
            tree_sitter_only.verify(rewritten(source, "await await x")),
            Err(None)
        );
        assert!(tree_sitter_only
            .verify(rewritten(source, "await (await x)"))
            .is_ok());
        // A keyword given twice: only the compiler says so.
        let twice = rewritten(source, "g(a=1, a=2)");
        assert!(tree_sitter_only.verify(twice.clone()).is_ok());
        let judge = Judge::from_environment(None);
        let with_cpython = Verifier::new(
            &file,
            Some(Judging {
                judge: &judge,
                original_needs_newer_python: false,
            }),
        );
        match with_cpython.verify(twice) {
            Err(Some(rejection)) => {
                assert_eq!(rejection.line, 2);
                assert!(
                    rejection.message.contains("keyword argument repeated"),
                    "{rejection}"
                );
            }
            other => panic!("CPython (python3 on PATH) rejects it: {other:?}"),
        }
        assert!(with_cpython
            .verify(rewritten(source, "await g(a=1)"))
            .is_ok());
    }

    #[test]
    fn a_prelude_goes_once_after_the_imports_holding_its_module() {
        let source = "import os\nimport httpx\nimport json\n\n\nasync def f():\n    pass\n\n\nasync def g():\n    pass\n";
        let text = fixed(source);
        assert_eq!(
            text,
            "import os\nimport httpx\nimport json\n\n# Built once.\n_CONTEXT = httpx.make()\n\n\nasync def f():\n    use(_CONTEXT)\n\n\nasync def g():\n    use(_CONTEXT)\n"
        );
        // Applied again (a later round, a second `apply`): the module binds the name already.
        let again = parse(&text);
        let mut second = finding(source, 0);
        second.fix.as_mut().unwrap().edits.clear();
        assert_eq!(apply(&again, &[&second]).unwrap(), text.as_bytes());
    }

    #[test]
    fn a_prelude_goes_after_imports_behind_type_checking_and_try() {
        // khoj's utils/helpers.py: the TLS context went between the imports and their
        // `if TYPE_CHECKING:` block.
        let source = "import httpx\nfrom typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from app.models import Model\n\ntry:\n    import orjson\nexcept ImportError:\n    orjson = None\n\nlog = 1\n\n\nasync def f():\n    pass\n";
        assert_eq!(
            fixed(source),
            "import httpx\nfrom typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from app.models import Model\n\ntry:\n    import orjson\nexcept ImportError:\n    orjson = None\n\n# Built once.\n_CONTEXT = httpx.make()\n\nlog = 1\n\n\nasync def f():\n    use(_CONTEXT)\n"
        );
        // A TYPE_CHECKING block with an `else`, or holding code, is code: the prelude goes
        // before it.
        let source = "import httpx\n\nif TYPE_CHECKING:\n    X = 1\n\n\nasync def f():\n    pass\n";
        assert_eq!(
            fixed(source),
            "import httpx\n\n# Built once.\n_CONTEXT = httpx.make()\n\nif TYPE_CHECKING:\n    X = 1\n\n\nasync def f():\n    use(_CONTEXT)\n"
        );
    }

    #[test]
    fn a_module_that_binds_the_name_gets_no_prelude() {
        let source = "import httpx\n\n_CONTEXT = httpx.other()\n\nasync def f():\n    pass\n";
        assert_eq!(
            fixed(source),
            "import httpx\n\n_CONTEXT = httpx.other()\n\nasync def f():\n    use(_CONTEXT)\n"
        );
    }

    #[test]
    fn a_prelude_follows_an_import_being_added_after_a_docstring_and_future_imports() {
        // The added import joins the existing run; the prelude closes the run.
        let source = "\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\n\nimport requests\n\nasync def f():\n    pass\n";
        assert_eq!(
            fixed(source),
            "\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\n\nimport httpx\nimport requests\n\n# Built once.\n_CONTEXT = httpx.make()\n\nasync def f():\n    use(_CONTEXT)\n"
        );
        // No other import: a section of its own after `__future__`, the prelude after it.
        let source =
            "\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\n\nasync def f():\n    pass\n";
        assert_eq!(
            fixed(source),
            "\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\n\nimport httpx\n\n# Built once.\n_CONTEXT = httpx.make()\n\nasync def f():\n    use(_CONTEXT)\n"
        );
    }

    #[test]
    fn a_prelude_keeps_the_files_line_endings_and_goes_before_text_inserted_at_its_place() {
        let source = "import httpx\r\nasync def f():\r\n    pass\r\n";
        assert_eq!(
            fixed(source),
            "import httpx\r\n\r\n# Built once.\r\n_CONTEXT = httpx.make()\r\nasync def f():\r\n    use(_CONTEXT)\r\n"
        );
        // An edit that inserts where the prelude goes (`async ` on the next definition).
        let source = "import httpx\ndef f():\n    pass\n";
        let file = parse(source);
        let mut one = finding(source, 0);
        one.fix.as_mut().unwrap().edits.push(Edit {
            start: 13,
            end: 13,
            text: "async ".into(),
        });
        let text = String::from_utf8(apply(&file, &[&one]).unwrap()).unwrap();
        assert_eq!(
            text,
            "import httpx\n\n# Built once.\n_CONTEXT = httpx.make()\nasync def f():\n    use(_CONTEXT)\n"
        );
        // The last line of the file, without a line ending.
        let source = "import httpx";
        let file = parse(source);
        let mut one = finding("pass", 0);
        one.fix.as_mut().unwrap().edits.clear();
        let text = String::from_utf8(apply(&file, &[&one]).unwrap()).unwrap();
        assert_eq!(
            text,
            "import httpx\n\n# Built once.\n_CONTEXT = httpx.make()\n"
        );
    }
}

//! Requests answered at once, and the code actions: a quick fix and a suppression comment per
//! finding, and the whole file's fix (`source.fixAll.unblock`).

use std::collections::HashMap;

use lsp_server::{ErrorCode, Request, Response};
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, HoverParams, Range,
    TextEdit, WorkspaceEdit,
};

use crate::engine::fix::{apply_fixes, FixOptions};
use crate::engine::index::ProjectIndex;
use crate::engine::source::SourceFile;
use crate::finding::{Finding, Safety};

use super::diagnostics::{diagnostic, finding_range, path_and_module};
use super::server::Server;
use super::text::LineIndex;
use super::FIX_ALL_KIND;

impl Server {
    pub(super) fn request(&self, request: Request) -> Response {
        match request.method.as_str() {
            "textDocument/codeAction" => {
                match serde_json::from_value::<CodeActionParams>(request.params) {
                    Ok(params) => Response::new_ok(request.id, self.code_actions(&params)),
                    Err(e) => Response::new_err(
                        request.id,
                        ErrorCode::InvalidParams as i32,
                        e.to_string(),
                    ),
                }
            }
            "textDocument/hover" => match serde_json::from_value::<HoverParams>(request.params) {
                Ok(params) => Response::new_ok(request.id, self.hover(&params)),
                Err(e) => {
                    Response::new_err(request.id, ErrorCode::InvalidParams as i32, e.to_string())
                }
            },
            method => Response::new_err(
                request.id,
                ErrorCode::MethodNotFound as i32,
                format!("unblock lsp does not handle {method}"),
            ),
        }
    }

    pub(super) fn code_actions(&self, params: &CodeActionParams) -> Vec<CodeActionOrCommand> {
        let uri = &params.text_document.uri;
        let Some(document) = self.documents.get(uri.as_str()) else {
            return Vec::new();
        };
        let wants = |kind: &str| {
            params.context.only.as_ref().is_none_or(|only| {
                only.iter()
                    .any(|k| kind == k.as_str() || kind.starts_with(&format!("{}.", k.as_str())))
            })
        };
        let (path, module, _) = path_and_module(&self.engine, uri);
        let text = &document.text;
        let Ok(file) = SourceFile::parse(path.clone(), text.as_bytes().to_vec(), module.clone())
        else {
            return Vec::new();
        };
        let checked = self.engine.check_file(&file);
        // The workspace's index (call graph included) with this buffer's definitions: the
        // fix-all below re-checks the buffer with it, indirect findings included.
        let shared = self.index.lock().unwrap().clone();
        let mut project = ProjectIndex::clone(&shared);
        project.add(checked.definitions);
        let mut findings = checked.findings;
        self.engine.extend_call_graph(&mut project, &findings);
        project.settle(&mut findings);
        findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        let lines = LineIndex::new(text);
        let edit_to = |fixed: &[u8]| WorkspaceEdit {
            changes: Some(HashMap::from([(
                uri.clone(),
                minimal_edits(text, &lines, &String::from_utf8_lossy(fixed)),
            )])),
            ..Default::default()
        };
        let mut fixes = Vec::new();
        let mut suppressions = Vec::new();
        for finding in &findings {
            let range = finding_range(finding, text, &lines);
            if range.end < params.range.start || range.start > params.range.end {
                continue;
            }
            let diagnostic = diagnostic(&self.root, finding, text, &lines);
            if let Some(fix) = finding.fix.as_ref().filter(|_| wants("quickfix")) {
                if let Some(fixed) = apply_fixes(&file, &[finding]) {
                    let is_safe = fix.safety == Safety::Safe;
                    // The whole note is in the diagnostic's message: a title is one short line.
                    let title = if is_safe {
                        format!("Fix: {}", short_title(&fix.note))
                    } else {
                        format!("Fix (unsafe): {}", short_title(&fix.note))
                    };
                    fixes.push((
                        !is_safe,
                        CodeAction {
                            title,
                            kind: Some(CodeActionKind::QUICKFIX),
                            diagnostics: Some(vec![diagnostic.clone()]),
                            edit: Some(edit_to(&fixed)),
                            is_preferred: Some(is_safe),
                            ..Default::default()
                        },
                    ));
                }
            }
            if wants("quickfix") {
                if let Some(edit) = suppression_edit(text, &lines, finding) {
                    suppressions.push(CodeAction {
                        title: format!("Suppress with `# unblock: ignore[{}]`", finding.recipe),
                        kind: Some(CodeActionKind::QUICKFIX),
                        diagnostics: Some(vec![diagnostic]),
                        edit: Some(WorkspaceEdit {
                            changes: Some(HashMap::from([(uri.clone(), vec![edit])])),
                            ..Default::default()
                        }),
                        ..Default::default()
                    });
                }
            }
        }
        // Safe fixes first (a stable sort keeps file order within each group).
        fixes.sort_by_key(|(is_unsafe, _)| *is_unsafe);
        let mut actions: Vec<CodeActionOrCommand> = fixes
            .into_iter()
            .map(|(_, action)| CodeActionOrCommand::CodeAction(action))
            .chain(
                suppressions
                    .into_iter()
                    .map(CodeActionOrCommand::CodeAction),
            )
            .collect();
        if wants(FIX_ALL_KIND) && findings.iter().any(|f| f.fix.is_some()) {
            // No CPython judge (`FixOptions::default()`): code actions are asked for on every
            // cursor move and an interpreter's round trips would delay them; the tree-sitter
            // checks still hold every rewrite, and `unblock apply` judges with CPython.
            let fixed = self.engine.fix_file(
                &path,
                &module,
                text.as_bytes().to_vec(),
                &project,
                FixOptions::default(),
            );
            if fixed.changed() {
                actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: "Fix all safe unblock findings".into(),
                    kind: Some(CodeActionKind::new(FIX_ALL_KIND)),
                    edit: Some(edit_to(&fixed.fixed)),
                    ..Default::default()
                }));
            }
        }
        actions
    }
}

/// The longest code action title, in characters: one short line in an editor's menu.
pub(super) const MAX_TITLE: usize = 60;

/// A fix note's first clause (up to `: `, `; ` or ` (` outside backquotes), cut at a word
/// before [`MAX_TITLE`] characters when longer.
pub(super) fn short_title(note: &str) -> String {
    let mut in_code = false;
    let mut end = note.len();
    for (i, c) in note.char_indices() {
        if c == '`' {
            in_code = !in_code;
        } else if !in_code && [": ", "; ", " ("].iter().any(|s| note[i..].starts_with(s)) {
            end = i;
            break;
        }
    }
    let clause = note[..end].trim();
    if clause.chars().count() <= MAX_TITLE {
        return clause.to_string();
    }
    // Room for a closing backquote and the ellipsis.
    let limit = clause
        .char_indices()
        .nth(MAX_TITLE - 2)
        .map_or(clause.len(), |(i, _)| i);
    let cut = clause[..limit].rfind(' ').unwrap_or(limit);
    let mut title = clause[..cut].trim_end().to_string();
    // A code span cut in two is closed, so that the title renders as it reads.
    if title.matches('`').count() % 2 == 1 {
        title.push('`');
    }
    title.push('…');
    title
}

/// The edits that turn `old` into `new`, one per run of changed lines (the fixed call, the
/// import a fix adds, the one it removes), instead of a replace of the whole document: an
/// editor then keeps the cursor and the folds, and undoes the fix as one small change.
pub(super) fn minimal_edits(old: &str, lines: &LineIndex, new: &str) -> Vec<TextEdit> {
    let diff = similar::TextDiff::from_lines(old, new);
    // Byte offsets of the diff's lines (it splits at `\r` too, so its line numbers are not
    // `LineIndex`'s): offset of line i is starts[i], the end of the text is the last entry.
    let starts = |slices: &[&str]| -> Vec<usize> {
        std::iter::once(0)
            .chain(slices.iter().scan(0, |at, line| {
                *at += line.len();
                Some(*at)
            }))
            .collect()
    };
    let old_starts = starts(diff.old_slices());
    let new_starts = starts(diff.new_slices());
    let mut changed: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> = Vec::new();
    for op in diff.ops() {
        if op.tag() == similar::DiffTag::Equal {
            continue;
        }
        let (old_lines, new_lines) = (op.old_range(), op.new_range());
        // A deletion next to an insertion is one replacement.
        match changed.last_mut() {
            Some((old_run, new_run)) if old_run.end == old_lines.start => {
                old_run.end = old_lines.end;
                new_run.end = new_lines.end;
            }
            _ => changed.push((old_lines, new_lines)),
        }
    }
    changed
        .into_iter()
        .map(|(old_lines, new_lines)| {
            let start = lines.position(old, old_starts[old_lines.start]);
            let end = lines.position(old, old_starts[old_lines.end]);
            let text = &new[new_starts[new_lines.start]..new_starts[new_lines.end]];
            TextEdit::new(Range::new(start, end), text.to_string())
        })
        .collect()
}

/// Appends `# unblock: ignore[<id>]` to the finding's first line, or adds the id to an
/// `# unblock: ignore[...]` already there.
pub(super) fn suppression_edit(
    text: &str,
    lines: &LineIndex,
    finding: &Finding,
) -> Option<TextEdit> {
    let line = finding.start.line.checked_sub(1)?;
    let start = *lines.starts.get(line)?;
    let end = lines.starts.get(line + 1).copied().unwrap_or(text.len());
    let content = text[start..end].trim_end_matches(['\n', '\r']);
    let line_end = start + content.len();
    let (at, insert) = match content.find("# unblock: ignore[") {
        Some(found) => {
            let close = content[found..].find(']')? + found;
            let before = content[found + "# unblock: ignore[".len()..close].trim();
            let separator = if before.is_empty() { "" } else { ", " };
            (start + close, format!("{separator}{}", finding.recipe))
        }
        None => (line_end, format!("  # unblock: ignore[{}]", finding.recipe)),
    };
    let position = lines.position(text, at);
    Some(TextEdit::new(Range::new(position, position), insert))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsp_types::Position;

    fn apply(text: &str, edits: &[TextEdit]) -> String {
        let lines = LineIndex::new(text);
        let mut out = text.to_string();
        let mut spans: Vec<(usize, usize, &str)> = edits
            .iter()
            .map(|e| {
                let start = lines.offset(text, e.range.start);
                (start, lines.offset(text, e.range.end), e.new_text.as_str())
            })
            .collect();
        spans.sort_by_key(|&(start, ..)| std::cmp::Reverse(start));
        for (start, end, new_text) in spans {
            out.replace_range(start..end, new_text);
        }
        out
    }

    #[test]
    fn minimal_edits_touch_only_changed_lines() {
        let old = "import os\nimport time\n\n\nasync def f():\n    time.sleep(1)\n    x = '€'\n";
        let new = "import asyncio\nimport os\nimport time\n\n\nasync def f():\n    await asyncio.sleep(1)\n    x = '€'\n";
        let edits = minimal_edits(old, &LineIndex::new(old), new);
        assert_eq!(
            edits,
            [
                TextEdit::new(
                    Range::new(Position::new(0, 0), Position::new(0, 0)),
                    "import asyncio\n".into()
                ),
                TextEdit::new(
                    Range::new(Position::new(5, 0), Position::new(6, 0)),
                    "    await asyncio.sleep(1)\n".into()
                ),
            ]
        );
        assert_eq!(apply(old, &edits), new);
        // No newline at the end, CRLF, a line removed: still exactly the new text.
        for (old, new) in [
            ("a\nb", "a\nc"),
            ("a\r\nb\r\nc\r\n", "a\r\nc\r\n"),
            ("", "x\n"),
            ("x\n", ""),
        ] {
            assert_eq!(
                apply(old, &minimal_edits(old, &LineIndex::new(old), new)),
                new
            );
        }
        assert!(minimal_edits(old, &LineIndex::new(old), old).is_empty());
    }

    #[test]
    fn titles_are_one_short_line() {
        assert_eq!(
            short_title("`await asyncio.sleep(...)`: same delay, the loop keeps running"),
            "`await asyncio.sleep(...)`"
        );
        let long = "`async with httpx.AsyncClient(verify=_HTTPX_TLS_CONTEXT) as client:` around \
                    the statement and `await client.get(...)`; the original has no timeout";
        let title = short_title(long);
        assert!(title.chars().count() <= MAX_TITLE, "{title}");
        assert!(title.ends_with("`…"), "{title}");
        assert!(!title.contains('\n'));
        let unbroken = format!("`{}`: the note", "x".repeat(90));
        let title = short_title(&unbroken);
        assert!(title.chars().count() <= MAX_TITLE, "{title}");
    }
}

//! Hover: the recipe's page (what `unblock explain` prints) over a finding or a suppression
//! comment.

use lsp_types::{
    Diagnostic, Hover, HoverContents, HoverParams, MarkupContent, MarkupKind, NumberOrString, Range,
};

use crate::engine::suppress::{self, DirectiveKind};
use crate::recipes;

use super::server::Server;
use super::text::LineIndex;

impl Server {
    /// The page of the recipe under the cursor (what `unblock explain` prints): of the
    /// suppression comment's id or code under it (of every one in the comment when it is
    /// elsewhere in it), else of the findings published at it.
    pub(super) fn hover(&self, params: &HoverParams) -> Option<Hover> {
        let position = params.text_document_position_params.position;
        let uri = &params.text_document_position_params.text_document.uri;
        let document = self.documents.get(uri.as_str())?;
        if document.is_configuration {
            return None;
        }
        let text = &document.text;
        let lines = LineIndex::new(text);
        let line = position.line as usize;
        let start = *lines.starts.get(line)?;
        let end = lines.starts.get(line + 1).copied().unwrap_or(text.len());
        let at = lines.offset(text, position) - start;
        let (ids, span) = match suppression_under(&text[start..end], at) {
            Some((ids, span)) => {
                let range = Range::new(
                    lines.position(text, start + span.start),
                    lines.position(text, start + span.end),
                );
                (ids, Some(range))
            }
            None => {
                let published = document.published.as_ref().map(|(_, d)| d.as_slice());
                let at_cursor: Vec<&Diagnostic> = published
                    .unwrap_or_default()
                    .iter()
                    .filter(|d| d.range.start <= position && position <= d.range.end)
                    .collect();
                let mut ids: Vec<&'static str> = Vec::new();
                for diagnostic in &at_cursor {
                    if let Some(NumberOrString::String(code)) = &diagnostic.code {
                        if let Some(recipe) = recipes::by_id(code) {
                            if !ids.contains(&recipe.id()) {
                                ids.push(recipe.id());
                            }
                        }
                    }
                }
                (ids, at_cursor.first().map(|d| d.range))
            }
        };
        if ids.is_empty() {
            return None;
        }
        let pages: Vec<&str> = ids
            .iter()
            .filter_map(|id| recipes::by_id(id))
            .map(|recipe| recipe.page().trim_end())
            .collect();
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: pages.join("\n\n---\n\n"),
            }),
            range: span,
        })
    }
}

/// The recipes a suppression comment on `line` names at byte `at`, and the span of what
/// names them: the id or code under the cursor, else the whole directive the cursor is in
/// (`# unblock: ignore[...]`, `# noqa: ASYNC...`). `None` outside such a comment.
pub(super) fn suppression_under(
    line: &str,
    at: usize,
) -> Option<(Vec<&'static str>, std::ops::Range<usize>)> {
    let comment = comment_start(line)?;
    if at < comment {
        return None;
    }
    // The engine's one reading of the directives (the check's and `--add-noqa`'s).
    let text = &line[comment..];
    let at = at - comment;
    let directive = suppress::directives(text)
        .into_iter()
        .find(|d| d.span.start <= at && at <= d.span.end)?;
    // Each named id or code with the recipes it names (E501 names none).
    let names: Vec<(Vec<&'static str>, std::ops::Range<usize>)> = directive
        .names
        .iter()
        .flatten()
        .filter_map(|name| {
            let word = &text[name.clone()];
            let found = match directive.kind {
                DirectiveKind::Ignore => recipes::by_id(word)
                    .map(|r| vec![r.id()])
                    .unwrap_or_default(),
                DirectiveKind::Noqa => recipes_for_code(word),
            };
            (!found.is_empty()).then(|| (found, name.clone()))
        })
        .collect();
    let shift = |span: std::ops::Range<usize>| comment + span.start..comment + span.end;
    if let Some((ids, span)) = names.iter().find(|(_, span)| span.contains(&at)) {
        return Some((ids.clone(), shift(span.clone())));
    }
    let mut all: Vec<&'static str> = Vec::new();
    for id in names.into_iter().flat_map(|(ids, _)| ids) {
        if !all.contains(&id) {
            all.push(id);
        }
    }
    (!all.is_empty()).then(|| (all, shift(directive.span)))
}

/// The recipes whose findings a ruff / flake8-async code (`ASYNC251`) covers, read from the
/// catalogue's `noqa` lists and the recipes' own codes (for structural findings).
pub(super) fn recipes_for_code(code: &str) -> Vec<&'static str> {
    // The one mapping `check --select`, `explain` and the suppressions use (the catalogue's
    // noqa lists and the recipes' own); a configured call carries no code.
    recipes::for_code(code)
        .iter()
        .map(|recipe| recipe.id())
        .collect()
}

/// Where the comment of a line of Python starts (a `#` outside string literals on the line).
pub(super) fn comment_start(line: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '#' => return Some(i),
            None if c == '"' || c == '\'' => quote = Some(c),
            None => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hover_names_the_recipes_of_suppression_comments() {
        let line = "    time.sleep(1)  # noqa: E501, ASYNC251  # unblock: ignore[sleep, file-io]\n";
        let at = |needle: &str| line.find(needle).unwrap();
        let under = |offset| suppression_under(line, offset);
        // On an id or a code: its recipe, the span of the word.
        let (ids, span) = under(at("file-io") + 2).unwrap();
        assert_eq!(ids, ["file-io"]);
        assert_eq!(&line[span], "file-io");
        let (ids, span) = under(at("ASYNC251")).unwrap();
        assert_eq!(ids, ["sleep"]);
        assert_eq!(&line[span], "ASYNC251");
        // Elsewhere in a directive: every recipe it names, the directive's span.
        let (ids, span) = under(at("unblock")).unwrap();
        assert_eq!(ids, ["sleep", "file-io"]);
        assert!(line[span].starts_with("# unblock: ignore["));
        // E501 is no recipe's; the code before the comment is not a comment.
        assert_eq!(under(at("noqa")).unwrap().0, ["sleep"]);
        assert_eq!(under(at("sleep(")), None);
        // A `#` inside a string starts no comment.
        let quoted = "x = '# noqa: ASYNC251'\n";
        assert_eq!(suppression_under(quoted, 8), None);
    }

    #[test]
    fn codes_map_to_the_recipes_of_their_catalogue_entries() {
        assert_eq!(recipes_for_code("ASYNC251"), ["sleep"]);
        assert_eq!(recipes_for_code("async110"), ["polling"]);
        assert!(recipes_for_code("ASYNC210").contains(&"http-requests"));
        assert!(recipes_for_code("E501").is_empty());
    }
}

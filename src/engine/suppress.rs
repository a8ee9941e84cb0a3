//! Suppression comments on the finding's first or last line:
//! `# unblock: ignore`, `# unblock: ignore[sleep, to-thread]`, and ruff's / flake8-async's
//! `# noqa: ASYNC251` for the codes that cover the finding (a bare `# noqa` silences every
//! linter on the line, as in ruff and flake8, so it silences unblock too).
//!
//! File-wide, on a comment line of their own anywhere in the file: `# unblock: ignore-file`
//! (`# unblock: ignore-file[sleep]`), ruff's `# ruff: noqa` / `# ruff: noqa: ASYNC210` and
//! flake8's `# flake8: noqa`.

use std::collections::{BTreeMap, BTreeSet};

use super::source::SourceFile;
use super::FileContext;
use crate::finding::Finding;

pub fn is_suppressed(finding: &Finding, cx: &FileContext) -> bool {
    let lines = [finding.start.line, finding.end.line];
    lines.iter().enumerate().any(|(i, line)| {
        if i == 1 && *line == lines[0] {
            return false;
        }
        cx.scopes.comments.get(line).is_some_and(|comments| {
            comments
                .iter()
                .any(|c| comment_suppresses(cx.text(*c), finding))
        })
    })
}

pub fn comment_suppresses(comment: &str, finding: &Finding) -> bool {
    directive_suppresses(comment, finding.recipe, &finding.noqa_codes)
}

/// Whether a comment silences a finding of `recipe` covered by `noqa_codes`.
pub fn directive_suppresses(comment: &str, recipe: &str, noqa_codes: &[String]) -> bool {
    directives(comment)
        .iter()
        .any(|directive| match &directive.names {
            None => true,
            Some(names) => names.iter().any(|name| match directive.kind {
                DirectiveKind::Ignore => comment[name.clone()] == *recipe,
                DirectiveKind::Noqa => noqa_codes
                    .iter()
                    .any(|code| code.eq_ignore_ascii_case(&comment[name.clone()])),
            }),
        })
}

/// A line suppression directive in a comment, with byte ranges into the comment's text: what
/// the check, `--add-noqa` and the editor's hover all read, so that they agree on what a
/// comment says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub kind: DirectiveKind,
    /// From the directive's `#` to the next `#` or the end of the comment.
    pub span: std::ops::Range<usize>,
    /// The ids (`ignore[sleep, file-io]`) or codes (`noqa: ASYNC251`) it names, each by its
    /// range; `None` for a bare `# unblock: ignore` or `# noqa`, which silences everything.
    pub names: Option<Vec<std::ops::Range<usize>>>,
    /// The inside of `ignore[...]`'s brackets (where `--add-noqa` adds ids).
    pub list: Option<std::ops::Range<usize>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectiveKind {
    /// `# unblock: ignore` / `# unblock: ignore[ids]`.
    Ignore,
    /// `# noqa` / `# noqa: CODES` (ruff's and flake8's).
    Noqa,
}

/// The directives of a comment, one per `#`-started part that opens with one, matched without
/// regard to case: `# noqa: E501  # unblock: ignore[sleep]` holds two. Prose mentioning them
/// (`# see noqa: X`) is none.
pub fn directives(comment: &str) -> Vec<Directive> {
    let hashes: Vec<usize> = comment.match_indices('#').map(|(i, _)| i).collect();
    let end_of_text = comment.trim_end_matches(['\n', '\r']).len();
    let mut out = Vec::new();
    for (n, &hash) in hashes.iter().enumerate() {
        let span = hash..hashes.get(n + 1).copied().unwrap_or(end_of_text);
        let part = &comment[hash + 1..span.end];
        let lead = part.len() - part.trim_start().len();
        let at = hash + 1 + lead;
        let text = &comment[at..span.end];
        if let Some(rest) = strip_prefix_ci(text, "unblock:") {
            let after_key = at + "unblock:".len() + (rest.len() - rest.trim_start().len());
            let Some(rest) = strip_prefix_ci(&comment[after_key..span.end], "ignore") else {
                continue;
            };
            // `ignore-file` is the file-wide directive, read elsewhere.
            if rest.starts_with(|c: char| c == '-' || c.is_alphanumeric()) {
                continue;
            }
            let after_ignore = after_key + "ignore".len();
            let blank = rest.len() - rest.trim_start().len();
            let (names, list) = if rest.trim_start().starts_with('[') {
                let open = after_ignore + blank + 1;
                let close = comment[open..span.end]
                    .find(']')
                    .map_or(span.end, |i| open + i);
                let names = words(comment, open..close, |_| true);
                (Some(names), Some(open..close))
            } else {
                (None, None)
            };
            out.push(Directive {
                kind: DirectiveKind::Ignore,
                span,
                names,
                list,
            });
        } else if let Some(rest) = strip_prefix_ci(text, "noqa") {
            let after_key = at + "noqa".len();
            let trimmed = rest.trim_start();
            // Bare `# noqa` (anything else after it is prose).
            let names = trimmed.strip_prefix(':').map(|_| {
                let codes = after_key + (rest.len() - trimmed.len()) + 1;
                let mut stop = false;
                words(comment, codes..span.end, |word| {
                    stop = stop || !is_rule_code(word);
                    !stop
                })
            });
            out.push(Directive {
                kind: DirectiveKind::Noqa,
                span,
                names,
                list: None,
            });
        }
    }
    out
}

/// A linter's rule code, letters then digits (`ASYNC251`, `E501`): the list of a `noqa` ends
/// at the first word that is none (prose after the codes).
fn is_rule_code(word: &str) -> bool {
    let digits = word.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    digits.len() < word.len() && !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

/// The words of `text[range]` separated by commas and blanks, as ranges of `text`, while
/// `keep` says so.
fn words(
    text: &str,
    range: std::ops::Range<usize>,
    mut keep: impl FnMut(&str) -> bool,
) -> Vec<std::ops::Range<usize>> {
    let inner = &text[range.clone()];
    inner
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|word| !word.is_empty())
        .map(|word| {
            let offset = word.as_ptr() as usize - inner.as_ptr() as usize;
            (
                word,
                range.start + offset..range.start + offset + word.len(),
            )
        })
        .take_while(|(word, _)| keep(word))
        .map(|(_, span)| span)
        .collect()
}

/// What the file-wide directives of one file silence.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FileSuppression {
    /// A blanket directive: nothing in the file is reported.
    pub everything: bool,
    /// Recipe ids and codes (upper case) silenced in the whole file.
    pub names: Vec<String>,
}

impl FileSuppression {
    /// Reads the directives from the file's comment lines. A byte scan rather than the
    /// comments of the syntax tree: the partial parse leaves parts of a file out, and a
    /// directive may sit in any of them. A line that the tree puts inside a string (a
    /// docstring quoting `# ruff: noqa`) is no comment.
    pub fn of(file: &SourceFile) -> FileSuppression {
        let bytes = &file.bytes[..];
        let mut found = FileSuppression::default();
        // Only files that mention one (in any case) are read line by line.
        let mentions = bytes.windows(4).any(|w| w.eq_ignore_ascii_case(b"noqa"))
            || memchr::memmem::find(bytes, b"ignore-file").is_some();
        if !mentions {
            return found;
        }
        let root = file.tree.root_node();
        let mut start = 0;
        for line in bytes.split(|&b| b == b'\n') {
            let line_start = start;
            start += line.len() + 1;
            let indent = line.iter().take_while(|b| b.is_ascii_whitespace()).count();
            if line.get(indent) != Some(&b'#') {
                continue;
            }
            let at = line_start + indent;
            let in_string =
                std::iter::successors(root.descendant_for_byte_range(at, at + 1), |n| n.parent())
                    .any(|n| matches!(n.kind(), "string" | "string_content"));
            if in_string {
                continue;
            }
            let text = String::from_utf8_lossy(&line[indent + 1..]);
            found.read_directive(text.trim());
        }
        found
    }

    fn read_directive(&mut self, directive: &str) {
        let names = |list: &str| -> Vec<String> {
            list.split(|c: char| c == ',' || c.is_whitespace())
                .map(|n| n.trim_matches(|c| c == '[' || c == ']'))
                .filter(|n| !n.is_empty())
                .map(|n| {
                    if super::recipe::is_code(n) {
                        n.to_ascii_uppercase()
                    } else {
                        n.to_string()
                    }
                })
                .collect()
        };
        if let Some(rest) = strip_prefix_ci(directive, "unblock:") {
            let Some(rest) = rest.trim_start().strip_prefix("ignore-file") else {
                return;
            };
            let rest = rest.trim_start();
            match rest.strip_prefix('[') {
                Some(ids) => self
                    .names
                    .extend(names(ids.split(']').next().unwrap_or(""))),
                None if rest.is_empty() => self.everything = true,
                None => {}
            }
            return;
        }
        let Some(rest) =
            strip_prefix_ci(directive, "ruff:").or_else(|| strip_prefix_ci(directive, "flake8:"))
        else {
            return;
        };
        let Some(rest) = strip_prefix_ci(rest.trim_start(), "noqa") else {
            return;
        };
        let rest = rest.trim_start();
        match rest.strip_prefix(':') {
            Some(codes) => {
                // Codes only: `# ruff: noqa: ASYNC210, E501  some prose` stops at the prose.
                let codes: Vec<String> = codes
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|c| !c.is_empty())
                    .take_while(|c| c.chars().all(|ch| ch.is_ascii_alphanumeric()))
                    .map(str::to_ascii_uppercase)
                    .collect();
                self.names.extend(codes);
            }
            None if rest.is_empty() => self.everything = true,
            // `# ruff: noqa-something`: not a directive.
            None => {}
        }
    }

    pub fn suppresses(&self, finding: &Finding) -> bool {
        self.everything
            || self
                .names
                .iter()
                .any(|name| name == finding.recipe || finding.noqa_codes.iter().any(|c| c == name))
    }
}

/// `per-file-ignores`: recipe ids and codes not reported in the files a glob matches.
#[derive(Debug, Default)]
pub struct PerFileIgnores {
    /// The configuration's folder: patterns are relative to it.
    root: std::path::PathBuf,
    rules: Vec<PerFileRule>,
}

#[derive(Debug)]
struct PerFileRule {
    /// Matched against the path relative to `root`.
    relative: globset::GlobMatcher,
    /// A pattern without `/` (`__init__.py`, `test_*.py`) also matches the file's name.
    name_only: bool,
    names: Vec<String>,
}

impl PerFileIgnores {
    /// The rules of one configuration; a pattern that is no glob is skipped (the front end
    /// reports it when it loads the configuration).
    pub fn new(
        root: Option<&std::path::Path>,
        table: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> PerFileIgnores {
        let root = root.map_or_else(|| std::path::PathBuf::from("."), |r| r.to_path_buf());
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        let rules = table
            .iter()
            .filter_map(|(pattern, names)| {
                let glob = globset::Glob::new(pattern.trim_start_matches("./")).ok()?;
                Some(PerFileRule {
                    relative: glob.compile_matcher(),
                    name_only: !pattern.contains('/'),
                    names: names.clone(),
                })
            })
            .collect();
        PerFileIgnores { root, rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// What the rules silence in the file at `path`.
    pub fn for_file(&self, path: &std::path::Path) -> FileSuppression {
        let mut found = FileSuppression::default();
        if self.rules.is_empty() {
            return found;
        }
        let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let relative = absolute.strip_prefix(&self.root).unwrap_or(&absolute);
        let name = absolute.file_name().map(std::path::Path::new);
        for rule in &self.rules {
            let hit = rule.relative.is_match(relative)
                || (rule.name_only && name.is_some_and(|n| rule.relative.is_match(n)));
            if hit {
                found.names.extend(rule.names.iter().map(|n| {
                    if super::recipe::is_code(n) {
                        n.to_ascii_uppercase()
                    } else {
                        n.clone()
                    }
                }));
            }
        }
        found
    }
}

/// What `--add-noqa` made of one file.
#[derive(Debug, Default)]
pub struct AddedComments {
    pub fixed: Vec<u8>,
    /// Lines given a new comment or new ids in their comment.
    pub lines: usize,
    /// Findings no comment could be put beside (each of their lines ends inside a string or
    /// with a `\` continuation), by line.
    pub skipped: Vec<usize>,
}

/// `--add-noqa`: `# unblock: ignore[ID]` at the end of the line of each finding (its first
/// line, else its last), so that a legacy code base starts from a clean baseline. A line with
/// an `# unblock: ignore[...]` comment gets the ids added to it; any other comment is kept and
/// the directive follows it. A second run adds nothing: the findings are then suppressed.
pub fn add_ignore_comments(file: &SourceFile, findings: &[&Finding]) -> AddedComments {
    let bytes = &file.bytes;
    let mut starts = vec![0];
    starts.extend(memchr::memchr_iter(b'\n', bytes).map(|i| i + 1));
    // Where a line's text ends: before its `\n` or `\r\n`.
    let line_end = |line: usize| -> Option<usize> {
        let start = *starts.get(line.checked_sub(1)?)?;
        let mut end = starts.get(line).map_or(bytes.len(), |next| next - 1);
        if end > start && bytes[end - 1] == b'\r' {
            end -= 1;
        }
        Some(end.max(start))
    };
    let root = file.tree.root_node();
    // The node the line's last character belongs to: a comment already there, a string that
    // goes on past the line (no comment can go inside it), or code.
    let last_node = |end: usize| {
        let start = end.checked_sub(1)?;
        root.descendant_for_byte_range(start, end)
    };
    let usable = |line: usize| -> bool {
        let Some(end) = line_end(line) else {
            return false;
        };
        let text = &bytes[starts[line - 1]..end];
        let trimmed = text.trim_ascii_end();
        if trimmed.is_empty() || trimmed.ends_with(b"\\") {
            return false;
        }
        let mut node = last_node(end);
        while let Some(n) = node {
            if n.kind() == "comment" {
                return true;
            }
            if matches!(n.kind(), "string" | "concatenated_string") && n.end_byte() > end {
                return false;
            }
            node = n.parent();
        }
        true
    };
    let mut by_line: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
    let mut skipped = Vec::new();
    for finding in findings {
        match [finding.start.line, finding.end.line]
            .into_iter()
            .find(|&line| usable(line))
        {
            Some(line) => {
                by_line.entry(line).or_default().insert(finding.recipe);
            }
            None => skipped.push(finding.start.line),
        }
    }
    let mut fixed = bytes.clone();
    let lines = by_line.len();
    // From the last line up, so that earlier offsets stay right.
    for (line, ids) in by_line.into_iter().rev() {
        let end = line_end(line).expect("a usable line exists");
        let comment = last_node(end)
            .into_iter()
            .flat_map(|n| std::iter::successors(Some(n), |n| n.parent()))
            .find(|n| n.kind() == "comment");
        if let Some(comment) = comment {
            let text = String::from_utf8_lossy(&bytes[comment.start_byte()..comment.end_byte()]);
            if let Some((at, listed)) = ignore_list(&text) {
                let mut all: Vec<String> = listed;
                for id in &ids {
                    if !all.iter().any(|known| known == id) {
                        all.push(id.to_string());
                    }
                }
                let start = comment.start_byte() + at.start;
                let stop = comment.start_byte() + at.end;
                fixed.splice(start..stop, all.join(", ").into_bytes());
                continue;
            }
        }
        let ids: Vec<&str> = ids.into_iter().collect();
        let directive = format!("  # unblock: ignore[{}]", ids.join(", "));
        let at = bytes[..end].trim_ascii_end().len();
        fixed.splice(at..end, directive.into_bytes());
    }
    AddedComments {
        fixed,
        lines,
        skipped,
    }
}

/// In a comment holding `unblock: ignore[a, b]`: the byte range of `a, b` and the ids.
fn ignore_list(comment: &str) -> Option<(std::ops::Range<usize>, Vec<String>)> {
    directives(comment).into_iter().find_map(|directive| {
        let list = directive.list?;
        let ids = directive
            .names?
            .into_iter()
            .map(|name| comment[name].to_string());
        Some((list, ids.collect()))
    })
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(recipe: &'static str, codes: &[&str]) -> Finding {
        Finding {
            noqa_codes: codes.iter().map(|c| c.to_string()).collect(),
            ..Finding::for_test(recipe, 0, 0)
        }
    }

    #[test]
    fn one_reading_of_directives_with_their_spans() {
        let comment =
            "# noqa: E501, ASYNC251 prose  # Unblock: Ignore [sleep, file-io]  # see noqa: X";
        let found = directives(comment);
        assert_eq!(found.len(), 2, "{found:?}");
        let names = |d: &Directive| -> Vec<&str> {
            d.names
                .iter()
                .flatten()
                .map(|r| &comment[r.clone()])
                .collect()
        };
        assert_eq!(found[0].kind, DirectiveKind::Noqa);
        assert_eq!(names(&found[0]), ["E501", "ASYNC251"]);
        assert!(comment[found[0].span.clone()].starts_with("# noqa"));
        assert_eq!(found[1].kind, DirectiveKind::Ignore);
        assert_eq!(names(&found[1]), ["sleep", "file-io"]);
        assert_eq!(&comment[found[1].list.clone().unwrap()], "sleep, file-io");
        // Bare forms silence everything; the file-wide directive is not a line's.
        assert_eq!(directives("# noqa")[0].names, None);
        assert_eq!(directives("#unblock: ignore")[0].names, None);
        assert!(directives("# unblock: ignore-file[sleep]").is_empty());
        assert!(directives("# not a noqa: ASYNC251").is_empty());
    }

    #[test]
    fn unblock_ignore_with_and_without_ids() {
        let f = finding("sleep", &["ASYNC251"]);
        assert!(comment_suppresses("# unblock: ignore", &f));
        assert!(comment_suppresses("# unblock: ignore[sleep]", &f));
        assert!(comment_suppresses(
            "# unblock: ignore[to-thread, sleep]",
            &f
        ));
        assert!(!comment_suppresses("# unblock: ignore[to-thread]", &f));
        assert!(!comment_suppresses("# unblock: check this", &f));
    }

    #[test]
    fn noqa_codes_must_cover_the_finding() {
        let f = finding("sleep", &["ASYNC251"]);
        assert!(comment_suppresses("# noqa: ASYNC251", &f));
        assert!(comment_suppresses("# noqa: E501, ASYNC251", &f));
        assert!(comment_suppresses(
            "# NOQA:ASYNC251 the NFS mount is slow",
            &f
        ));
        assert!(!comment_suppresses("# noqa: ASYNC210", &f));
        assert!(comment_suppresses("# noqa", &f));
        assert!(comment_suppresses("# type: ignore  # noqa: ASYNC251", &f));
    }

    /// `--add-noqa` on a snippet, with a finding of `recipe` on each of `lines`.
    fn add(text: &str, lines: &[(usize, usize, &'static str)]) -> (String, AddedComments) {
        let file = SourceFile::parse("m.py".into(), text.as_bytes().to_vec(), "m".into()).unwrap();
        let findings: Vec<Finding> = lines
            .iter()
            .map(|&(start, end, recipe)| Finding {
                start: crate::finding::Position {
                    line: start,
                    column: 1,
                },
                end: crate::finding::Position {
                    line: end,
                    column: 1,
                },
                ..Finding::for_test(recipe, 0, 0)
            })
            .collect();
        let refs: Vec<&Finding> = findings.iter().collect();
        let added = add_ignore_comments(&file, &refs);
        (String::from_utf8(added.fixed.clone()).unwrap(), added)
    }

    #[test]
    fn add_noqa_appends_merges_and_keeps_comments() {
        let text = "async def f():\n    time.sleep(1)\n    open(p)  # type: ignore\n    x = 1  # unblock: ignore[sleep]\r\n";
        let (fixed, added) = add(
            text,
            &[
                (2, 2, "sleep"),
                (2, 2, "file-io"),
                (3, 3, "file-io"),
                (4, 4, "to-thread"),
            ],
        );
        assert_eq!(
            fixed,
            "async def f():\n    time.sleep(1)  # unblock: ignore[file-io, sleep]\n    open(p)  # type: ignore  # unblock: ignore[file-io]\n    x = 1  # unblock: ignore[sleep, to-thread]\r\n"
        );
        assert_eq!(added.lines, 3);
    }

    #[test]
    fn add_noqa_never_writes_inside_a_string_or_after_a_continuation() {
        // The call starts on a line that ends inside a triple-quoted string: its last line.
        let text = "async def f():\n    requests.post(u, data=\"\"\"a\n b\"\"\")\n    x = \\\n        time.sleep(1)\n";
        let (fixed, added) = add(text, &[(2, 3, "http-requests"), (4, 5, "sleep")]);
        assert_eq!(
            fixed,
            "async def f():\n    requests.post(u, data=\"\"\"a\n b\"\"\")  # unblock: ignore[http-requests]\n    x = \\\n        time.sleep(1)  # unblock: ignore[sleep]\n"
        );
        assert!(added.skipped.is_empty());
    }

    #[test]
    fn file_wide_directives() {
        let sleep = finding("sleep", &["ASYNC251"]);
        let http = finding("http-requests", &["ASYNC210"]);
        let of = |text: &str| {
            let file =
                SourceFile::parse("m.py".into(), text.as_bytes().to_vec(), "m".into()).unwrap();
            FileSuppression::of(&file)
        };
        for blanket in [
            "# ruff: noqa\n",
            "# flake8: noqa\n",
            "x = 1\n# unblock: ignore-file\n",
            "  #Ruff: NoQA\n",
        ] {
            assert!(of(blanket).suppresses(&sleep), "{blanket}");
        }
        let codes = of("# ruff: noqa: ASYNC210, E501 the HTTP calls are in a worker\n");
        assert!(codes.suppresses(&http) && !codes.suppresses(&sleep));
        let ids = of("# unblock: ignore-file[sleep]\n");
        assert!(ids.suppresses(&sleep) && !ids.suppresses(&http));
        // Not directives: code after the comment's line start, other words, a line's own noqa.
        for not in [
            "x = 1  # ruff: noqa\n",
            "# ruff: noqa-later\n",
            "# unblock: ignore\n",
            "# noqa\n",
            "# unblock: ignore-filex\n",
            "def f():\n    \"\"\"Use it so:\n\n    # ruff: noqa\n    \"\"\"\n",
        ] {
            assert_eq!(of(not), FileSuppression::default(), "{not}");
        }
    }
}

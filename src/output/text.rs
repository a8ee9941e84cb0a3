//! Human output: one code frame per finding, in the manner of ruff and rustc.

use std::fmt::Write;

use anstyle::{AnsiColor, Style};

use crate::engine::Report;
use crate::finding::{Finding, Safety};

const BOLD: Style = Style::new().bold();
const PATH: Style = Style::new().bold();
const RECIPE: Style = AnsiColor::Red.on_default().bold();
const GUTTER: Style = AnsiColor::Blue.on_default().bold();
const CARET: Style = AnsiColor::Red.on_default().bold();
const NOTE: Style = AnsiColor::Cyan.on_default();

pub fn render_text(report: &Report, sources: &dyn Fn(&str) -> Option<Vec<u8>>) -> String {
    let mut out = render_text_findings(report, sources);
    render_text_summary(&mut out, report);
    out
}

/// The code frames alone (`--quiet`): no summary, no all-clear line.
pub fn render_text_findings(report: &Report, sources: &dyn Fn(&str) -> Option<Vec<u8>>) -> String {
    let mut out = String::new();
    // One source file at a time, with its line starts: findings come sorted by path.
    let mut cache: Option<(String, Option<Lines>)> = None;
    for f in &report.findings {
        if cache.as_ref().map(|c| &c.0) != Some(&f.path) {
            cache = Some((f.path.clone(), sources(&f.path).map(Lines::new)));
        }
        let source = cache.as_ref().and_then(|c| c.1.as_ref());
        render_finding(&mut out, f, source);
    }
    out
}

/// The last lines: how many findings, how many fixable, and what was not followed.
fn render_text_summary(out: &mut String, report: &Report) {
    let total = report.findings.len();
    if total == 0 {
        let _ = writeln!(
            out,
            "No blocking calls found ({} files, {} with async code).",
            report.files_scanned, report.files_parsed
        );
        render_unfollowed(out, report);
        return;
    }
    let safe = report
        .findings
        .iter()
        .filter(|f| f.fix.as_ref().is_some_and(|x| x.safety == Safety::Safe))
        .count();
    let unsafe_ = report
        .findings
        .iter()
        .filter(|f| f.fix.as_ref().is_some_and(|x| x.safety == Safety::Unsafe))
        .count();
    let files = report
        .findings
        .iter()
        .map(|f| &f.path)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let _ = writeln!(
        out,
        "{BOLD}Found {total} finding{} in {files} file{}{BOLD:#} ({safe} with a safe fix, {unsafe_} with an unsafe fix (--unsafe-fixes), {} not auto-fixable).",
        plural(total),
        plural(files),
        total - safe - unsafe_,
    );
    // Many findings through one helper read as unrelated call sites: say where one change
    // settles them.
    if let Some(top) = super::statistics::blocking_helpers(report)
        .into_iter()
        .next()
        .filter(|h| h.count >= HELPER_HINT_AT)
    {
        let _ = writeln!(
            out,
            "{} of them lead to one blocking call, `{}` in `{}`: fix it there once rather than at each call (`--statistics` lists such helpers).",
            top.count, top.call, top.helper
        );
    }
    render_unfollowed(out, report);
}

/// How many indirect findings through one helper the summary points out.
const HELPER_HINT_AT: usize = 10;

/// Says how many calls the call graph could not follow, so that an all-clear is never
/// silently partial.
fn render_unfollowed(out: &mut String, report: &Report) {
    if let Some(first) = report.sys_path_edits.first() {
        let n = report.sys_path_edits.len();
        let _ = writeln!(
            out,
            "{n} file{} change{} sys.path ({}{}): the imports that rely on it are not followed.",
            plural(n),
            if n == 1 { "s" } else { "" },
            first.display(),
            if n > 1 { ", ..." } else { "" },
        );
    }
    let calls: usize = report.unfollowed.values().sum();
    if calls == 0 {
        return;
    }
    let mut top: Vec<(&String, &usize)> = report.unfollowed.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let named: Vec<String> = top
        .iter()
        .take(5)
        .map(|(module, n)| format!("{module} {n}"))
        .collect();
    let more = if top.len() > 5 { ", ..." } else { "" };
    let _ = writeln!(
        out,
        "{calls} call{} in coroutines into {} module{} outside the project and the catalogue {} not followed ({}{more}): what runs behind them is not checked.",
        plural(calls),
        top.len(),
        plural(top.len()),
        if calls == 1 { "was" } else { "were" },
        named.join(", "),
    );
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn render_finding(out: &mut String, f: &Finding, source: Option<&Lines>) {
    let _ = writeln!(
        out,
        "{PATH}{}:{}:{}{PATH:#}: {RECIPE}{}{RECIPE:#}{} {}",
        f.path,
        f.start.line,
        f.start.column,
        f.recipe,
        super::codes_suffix(f),
        f.message
    );
    let Some(source) = source else {
        // No source to show (the file is gone): the notes alone.
        for (name, text) in notes(f) {
            let _ = writeln!(out, "  {NOTE}= {name}:{NOTE:#} {text}");
        }
        out.push('\n');
        return;
    };
    // annotate-snippets draws the frame: it measures what a terminal shows (a wide character
    // such as 日 takes two columns, a tab four), where counting characters put the carets
    // to the left of the call after wide text.
    let (shown, span) = framed_line(source, f);
    let notes = notes(f);
    let group = annotate_snippets::Group::with_level(annotate_snippets::Level::WARNING)
        .element(
            annotate_snippets::Snippet::source(shown.as_str())
                .line_start(f.start.line)
                .annotation(annotate_snippets::AnnotationKind::Primary.span(span)),
        )
        .elements(notes.iter().map(|(name, text)| {
            annotate_snippets::Level::NOTE
                .with_name(*name)
                .message(text.as_str())
        }));
    let frame = annotate_snippets::Renderer::styled()
        .line_num(GUTTER)
        // The carets take the group's level's style, the notes' names the emphasis.
        .warning(CARET)
        .emphasis(NOTE)
        // The line was already cut to a window around the finding (`framed_line`).
        .term_width(usize::MAX / 4)
        .render(&[group]);
    out.push_str(&frame);
    out.push_str("\n\n");
}

/// The notes under a finding's frame: why it blocks, the chain and what it blocks at
/// (indirect findings), and the fix or why there is none.
fn notes(f: &Finding) -> Vec<(&'static str, String)> {
    let mut notes = vec![("why", f.reason.clone())];
    if !f.chain.is_empty() {
        let chain: Vec<String> = f
            .chain
            .iter()
            .map(|l| format!("{} ({}:{})", l.name, l.path, l.line))
            .collect();
        notes.push(("chain", chain.join(" -> ")));
    }
    if f.sinks.len() > 1 {
        let sinks: Vec<String> = f
            .sinks
            .iter()
            .map(|l| format!("{} ({}:{})", l.name, l.path, l.line))
            .collect();
        notes.push(("blocks at", sinks.join(", ")));
    }
    match (&f.fix, &f.not_fixable) {
        (Some(fix), _) => {
            let name = match fix.safety {
                Safety::Safe => "fix (safe)",
                Safety::Unsafe => "fix (unsafe)",
            };
            notes.push((name, fix.note.clone()));
        }
        (None, Some(why)) => notes.push(("not auto-fixable", why.clone())),
        (None, None) => {}
    }
    notes
}

/// Lines longer than this many bytes are shown as a window around the finding, as ruff and
/// rustc cut long lines: a generated or minified line holding thousands of findings must not
/// be printed whole for each of them.
const LONG_LINE: usize = 200;
/// Bytes of such a line shown before the finding, and at most after its start.
const WINDOW_BEFORE: usize = 60;
const WINDOW_AFTER: usize = 120;
/// Marks where a long line was cut.
const CUT: &str = "...";

/// The finding's first line as shown (a window of a long line, cut ends marked) and the byte
/// range of the finding in it (to the end of the line when the finding goes on). Only the
/// window is decoded, so a finding costs the window, not the line.
fn framed_line(source: &Lines, f: &Finding) -> (String, std::ops::Range<usize>) {
    let (line_start, line_text) = source.line_with_start(f.start.line);
    let at = f.start_byte.saturating_sub(line_start).min(line_text.len());
    let end = if f.end.line == f.start.line {
        f.end_byte.saturating_sub(line_start).min(line_text.len())
    } else {
        line_text.len()
    };
    let (from, to, head, tail) = if line_text.len() <= LONG_LINE {
        (0, line_text.len(), "", "")
    } else {
        let from = char_boundary(line_text, at.saturating_sub(WINDOW_BEFORE));
        let to = char_boundary(line_text, (at + WINDOW_AFTER).min(line_text.len()));
        let head = if from > 0 { CUT } else { "" };
        let tail = if to < line_text.len() { CUT } else { "" };
        (from, to, head, tail)
    };
    let end = end.clamp(at, to.max(at));
    // Lossy decoding may change lengths (invalid UTF-8 becomes U+FFFD): offsets are measured
    // on the decoded pieces.
    let before = String::from_utf8_lossy(&line_text[from..at.max(from)]);
    let inside = String::from_utf8_lossy(&line_text[at.max(from)..end.max(from)]);
    let after = String::from_utf8_lossy(&line_text[end.max(from)..to]);
    let start = head.len() + before.len();
    let shown = format!("{head}{before}{inside}{after}{tail}");
    (shown, start..start + inside.len())
}

/// `at`, or the start of the UTF-8 character it falls inside.
fn char_boundary(bytes: &[u8], mut at: usize) -> usize {
    while at > 0 && at < bytes.len() && (bytes[at] & 0xC0) == 0x80 {
        at -= 1;
    }
    at
}

struct Lines {
    bytes: Vec<u8>,
    starts: Vec<usize>,
}

impl Lines {
    fn new(bytes: Vec<u8>) -> Lines {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', &bytes).map(|i| i + 1));
        Lines { bytes, starts }
    }

    /// Where a 1-based line starts, and its bytes without its line ending.
    fn line_with_start(&self, line: usize) -> (usize, &[u8]) {
        let Some(&start) = self.starts.get(line.wrapping_sub(1)) else {
            return (0, &[]);
        };
        let end = self.starts.get(line).copied().unwrap_or(self.bytes.len());
        let mut text = &self.bytes[start..end];
        while let [rest @ .., b'\n' | b'\r'] = text {
            text = rest;
        }
        (start, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Position;

    /// A finding of the `len` bytes at `start` of a one-line source.
    fn finding(source: &str, start: usize, len: usize) -> Finding {
        let column = |byte: usize| source[..byte].chars().count() + 1;
        Finding {
            start: Position {
                line: 1,
                column: column(start),
            },
            end: Position {
                line: 1,
                column: column(start + len),
            },
            ..Finding::for_test("sleep", start, start + len)
        }
    }

    fn frame(source: &str, start: usize, len: usize) -> (String, std::ops::Range<usize>) {
        framed_line(
            &Lines::new(source.as_bytes().to_vec()),
            &finding(source, start, len),
        )
    }

    /// The text output of one finding, without colour.
    fn rendered(source: &str, start: usize, len: usize) -> String {
        let mut out = String::new();
        let f = finding(source, start, len);
        render_finding(&mut out, &f, Some(&Lines::new(source.as_bytes().to_vec())));
        anstream::adapter::strip_str(&out).to_string()
    }

    #[test]
    fn a_short_line_is_shown_whole() {
        let source = "\tx = time.sleep(1)\n";
        let at = source.find("time").unwrap();
        assert_eq!(
            frame(source, at, 13),
            ("\tx = time.sleep(1)".to_string(), at..at + 13)
        );
        // Tabs are shown as four columns, and the carets follow.
        let out = rendered(source, at, 13);
        assert!(
            out.contains("1 |     x = time.sleep(1)\n  |         ^^^^^^^^^^^^^\n"),
            "{out}"
        );
    }

    #[test]
    fn carets_stay_under_the_call_after_wide_characters() {
        // Each of 日本語 takes two columns: counting characters put the carets six columns
        // to the left of the call.
        let source = "    x = \"日本語日本語\"; requests.get(x)\n";
        let at = source.find("requests").unwrap();
        let out = rendered(source, at, "requests.get(x)".len());
        let lines: Vec<&str> = out.lines().collect();
        let code = lines.iter().find(|l| l.starts_with("1 |")).unwrap();
        let carets = lines.iter().find(|l| l.contains('^')).unwrap();
        let width = |text: &str| {
            text.chars()
                .map(|c| {
                    if ('\u{3000}'..='\u{9fff}').contains(&c) {
                        2
                    } else {
                        1
                    }
                })
                .sum::<usize>()
        };
        let call_column = width(&code[..code.find("requests").unwrap()]);
        assert_eq!(
            carets.find('^').unwrap(),
            call_column,
            "the carets start under `requests`:\n{out}"
        );
        assert_eq!(
            carets.trim_end().matches('^').count(),
            "requests.get(x)".len()
        );
    }

    #[test]
    fn a_long_line_is_shown_as_a_window_around_the_finding() {
        let calls: Vec<String> = (0..1000).map(|i| format!("time.sleep({i})")).collect();
        let source = calls.join("; ");
        let call = "time.sleep(500)";
        let at = source.find(call).unwrap();
        let (shown, span) = frame(&source, at, call.len());
        assert!(shown.starts_with(CUT) && shown.ends_with(CUT), "{shown}");
        assert!(shown.len() <= WINDOW_BEFORE + WINDOW_AFTER + 2 * CUT.len());
        // The span still underlines the call.
        assert_eq!(&shown[span], call);
        // At the start of the line nothing is cut before it; multi-byte characters are not split.
        let wide = format!("time.sleep(0); {}", "é".repeat(300));
        let (shown, span) = frame(&wide, 0, 13);
        assert!(!shown.starts_with(CUT) && shown.ends_with(CUT));
        assert_eq!(span, 0..13);
    }
}

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
    render_unfollowed(out, report);
}

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
    if let Some(source) = source {
        let width = f.start.line.to_string().len();
        let pad = " ".repeat(width);
        let (shown, prefix_len, caret_len) = framed_line(source, f);
        let _ = writeln!(out, "{GUTTER}{pad} |{GUTTER:#}");
        let _ = writeln!(
            out,
            "{GUTTER}{} |{GUTTER:#} {}",
            f.start.line,
            shown.trim_end()
        );
        let _ = writeln!(
            out,
            "{GUTTER}{pad} |{GUTTER:#} {}{CARET}{}{CARET:#}",
            " ".repeat(prefix_len),
            "^".repeat(caret_len)
        );
        let _ = writeln!(out, "{GUTTER}{pad} |{GUTTER:#}");
        let _ = writeln!(out, "{pad} {NOTE}= why:{NOTE:#} {}", f.reason);
        render_tail(out, f, &pad);
    } else {
        let _ = writeln!(out, "  {NOTE}= why:{NOTE:#} {}", f.reason);
        render_tail(out, f, " ");
    }
    out.push('\n');
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

/// The finding's line as shown (tabs expanded; a window of a long line, cut ends marked), the
/// width before the finding's start, and the length of its caret underline.
fn framed_line(source: &Lines, f: &Finding) -> (String, usize, usize) {
    let (line_start, line_text) = source.line_with_start(f.start.line);
    if line_text.len() <= LONG_LINE {
        let shown = String::from_utf8_lossy(line_text).replace('\t', "    ");
        let prefix_len = String::from_utf8_lossy(line_text)
            .chars()
            .take(f.start.column - 1)
            .map(|c| if c == '\t' { 4 } else { 1 })
            .sum::<usize>();
        let caret_len = if f.end.line == f.start.line {
            f.end.column.saturating_sub(f.start.column).max(1)
        } else {
            shown.chars().count().saturating_sub(prefix_len).max(1)
        };
        return (shown.trim_end().to_string(), prefix_len, caret_len);
    }
    // Byte offsets in the line; only the window is decoded, so a finding costs the window,
    // not the line.
    let at = f.start_byte.saturating_sub(line_start).min(line_text.len());
    let from = char_boundary(line_text, at.saturating_sub(WINDOW_BEFORE));
    let to = char_boundary(line_text, (at + WINDOW_AFTER).min(line_text.len()));
    let expand = |bytes: &[u8]| String::from_utf8_lossy(bytes).replace('\t', "    ");
    let head = if from > 0 { CUT } else { "" };
    let before = expand(&line_text[from..at]);
    let rest = expand(&line_text[at..to]);
    let tail = if to < line_text.len() { CUT } else { "" };
    let prefix_len = head.len() + before.chars().count();
    let end = if f.end.line == f.start.line {
        f.end_byte.saturating_sub(line_start).min(to)
    } else {
        to
    };
    let caret_len = expand(&line_text[at..end.max(at)]).chars().count().max(1);
    (format!("{head}{before}{rest}{tail}"), prefix_len, caret_len)
}

/// `at`, or the start of the UTF-8 character it falls inside.
fn char_boundary(bytes: &[u8], mut at: usize) -> usize {
    while at > 0 && at < bytes.len() && (bytes[at] & 0xC0) == 0x80 {
        at -= 1;
    }
    at
}

fn render_tail(out: &mut String, f: &Finding, pad: &str) {
    if !f.chain.is_empty() {
        let chain: Vec<String> = f
            .chain
            .iter()
            .map(|l| format!("{} ({}:{})", l.name, l.path, l.line))
            .collect();
        let _ = writeln!(out, "{pad} {NOTE}= chain:{NOTE:#} {}", chain.join(" -> "));
    }
    if f.sinks.len() > 1 {
        let sinks: Vec<String> = f
            .sinks
            .iter()
            .map(|l| format!("{} ({}:{})", l.name, l.path, l.line))
            .collect();
        let _ = writeln!(out, "{pad} {NOTE}= blocks at:{NOTE:#} {}", sinks.join(", "));
    }
    match (&f.fix, &f.not_fixable) {
        (Some(fix), _) => {
            let _ = writeln!(
                out,
                "{pad} {NOTE}= fix ({}):{NOTE:#} {}",
                fix.safety.as_str(),
                fix.note
            );
        }
        (None, Some(why)) => {
            let _ = writeln!(out, "{pad} {NOTE}= not auto-fixable:{NOTE:#} {why}");
        }
        (None, None) => {}
    }
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
    fn frame(source: &str, start: usize, len: usize) -> (String, usize, usize) {
        let column = |byte: usize| source[..byte].chars().count() + 1;
        let finding = Finding {
            start: Position {
                line: 1,
                column: column(start),
            },
            end: Position {
                line: 1,
                column: column(start + len),
            },
            ..Finding::for_test("sleep", start, start + len)
        };
        framed_line(&Lines::new(source.as_bytes().to_vec()), &finding)
    }

    #[test]
    fn a_short_line_is_shown_whole() {
        let source = "\tx = time.sleep(1)\n";
        let at = source.find("time").unwrap();
        assert_eq!(
            frame(source, at, 13),
            ("    x = time.sleep(1)".to_string(), 8, 13)
        );
    }

    #[test]
    fn a_long_line_is_shown_as_a_window_around_the_finding() {
        let calls: Vec<String> = (0..1000).map(|i| format!("time.sleep({i})")).collect();
        let source = calls.join("; ");
        let call = "time.sleep(500)";
        let at = source.find(call).unwrap();
        let (shown, prefix, caret) = frame(&source, at, call.len());
        assert!(shown.starts_with(CUT) && shown.ends_with(CUT), "{shown}");
        assert!(shown.len() <= WINDOW_BEFORE + WINDOW_AFTER + 2 * CUT.len());
        // The caret still underlines the call.
        assert_eq!(&shown[prefix..prefix + caret], call);
        // At the start of the line nothing is cut before it; multi-byte characters are not split.
        let wide = format!("time.sleep(0); {}", "é".repeat(300));
        let (shown, prefix, caret) = frame(&wide, 0, 13);
        assert!(!shown.starts_with(CUT) && shown.ends_with(CUT));
        assert_eq!((prefix, caret), (0, 13));
    }
}

//! Human output: one code frame per finding, in the manner of ruff and rustc.

use std::collections::BTreeMap;
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
    let total = report.findings.len();
    if total == 0 {
        let _ = writeln!(
            out,
            "No blocking calls found ({} files, {} with async code).",
            report.files_scanned, report.files_parsed
        );
        render_unfollowed(&mut out, report);
        return out;
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
    render_unfollowed(&mut out, report);
    out
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
        "{PATH}{}:{}:{}{PATH:#}: {RECIPE}{}{RECIPE:#} {}",
        f.path, f.start.line, f.start.column, f.recipe, f.message
    );
    if let Some(source) = source {
        let line_text = source.line(f.start.line);
        let width = f.start.line.to_string().len();
        let pad = " ".repeat(width);
        let shown = String::from_utf8_lossy(line_text).replace('\t', "    ");
        let prefix_len = {
            let raw = String::from_utf8_lossy(line_text);
            raw.chars()
                .take(f.start.column - 1)
                .map(|c| if c == '\t' { 4 } else { 1 })
                .sum::<usize>()
        };
        let caret_len = if f.end.line == f.start.line {
            f.end.column.saturating_sub(f.start.column).max(1)
        } else {
            shown.chars().count().saturating_sub(prefix_len).max(1)
        };
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

    /// A 1-based line without its line ending.
    fn line(&self, line: usize) -> &[u8] {
        let Some(&start) = self.starts.get(line.wrapping_sub(1)) else {
            return &[];
        };
        let end = self.starts.get(line).copied().unwrap_or(self.bytes.len());
        let mut text = &self.bytes[start..end];
        while let [rest @ .., b'\n' | b'\r'] = text {
            text = rest;
        }
        text
    }
}

pub fn render_statistics(report: &Report) -> String {
    let mut counts: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for f in &report.findings {
        let entry = counts.entry(f.recipe).or_default();
        entry.0 += 1;
        match f.fix.as_ref().map(|x| x.safety) {
            Some(Safety::Safe) => entry.1 += 1,
            Some(Safety::Unsafe) => entry.2 += 1,
            None => {}
        }
    }
    let mut rows: Vec<_> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>6}  {:<14}  {:>5}  {:>7}",
        "count", "recipe", "safe", "unsafe"
    );
    for (recipe, (count, safe, unsafe_)) in rows {
        let _ = writeln!(out, "{count:>6}  {recipe:<14}  {safe:>5}  {unsafe_:>7}");
    }
    if !report.unfollowed.is_empty() {
        let _ = writeln!(out, "\n{:>6}  calls not followed, by module", "count");
        let mut rows: Vec<(&String, &usize)> = report.unfollowed.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (module, n) in rows {
            let _ = writeln!(out, "{n:>6}  {module}");
        }
    }
    out
}

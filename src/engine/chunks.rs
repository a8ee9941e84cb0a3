//! Which parts of a file need parsing for direct findings.
//!
//! A direct finding sits inside an `async def`, and resolving its names needs the module's
//! imports and assignments, the classes that hold async methods, and the `self.x = ...`
//! assignments of their methods. A top-level sync `def`, a class without an `async def`, or a
//! sync method that assigns no `self` attribute contributes nothing but its name: for a library
//! file with one coroutine among thirty functions, skipping them is most of the parse.
//! tree-sitter parses just the kept byte ranges (positions stay those of the whole file), and
//! the names of what was skipped are bound by the scope builder as if it had been parsed.
//!
//! The split is by logical lines (outside brackets, strings and backslash continuations) and
//! their indentation. A cheap scanner finds them; when in doubt, the whole file is kept.

use std::collections::HashSet;
use std::ops::Range;

/// What a partial parse left out but must still be bound: a function or class name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedDefinition {
    pub name: String,
    /// The enclosing top-level class, for a skipped method.
    pub class: Option<String>,
    pub kind: SkippedKind,
    /// A skipped function's return annotation as written (`Path`, `Optional[Path]`): what a
    /// call of it gives, for the methods called on the result.
    pub returns: Option<String>,
    /// Without an annotation, the callee its `return`s agree on, as written: `httpx.Client`
    /// for `return httpx.Client(...)` or `client = httpx.Client(...)` then `return client`.
    /// What calling that gives is what a call of the skipped function gives.
    pub returned_call: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkippedKind {
    Function,
    /// An `async def` (left out only by the call graph's outline parse).
    AsyncFunction,
    Class,
    /// A module-level name assigned a large literal (a table of data): bound, value unknown.
    Variable,
    /// A method of a class left out whole: only what calling it returns (its return
    /// annotation) is kept, so that `Helper.root() / name` has a type whichever parts of the
    /// file a run happened to parse.
    Signature,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relevant {
    pub ranges: Vec<Range<usize>>,
    pub skipped: Vec<SkippedDefinition>,
}

/// Kept byte ranges, in order, or `None` when the whole file should be parsed.
pub fn relevant_ranges(bytes: &[u8]) -> Option<Relevant> {
    let (lines, comment_lines) = logical_lines(bytes)?;
    let mut relevant = Relevant {
        ranges: Vec::new(),
        skipped: Vec::new(),
    };
    for TopLevel {
        start,
        end,
        def,
        kind,
    } in top_level(bytes, &lines)
    {
        let chunk = &bytes[start..end];
        match kind {
            Kind::SyncDef | Kind::Class if !has_async_def(chunk) => {
                if let Some(name) = definition_name(bytes, lines[def].start) {
                    if kind == Kind::Class {
                        relevant
                            .skipped
                            .extend(member_signatures(bytes, &lines, def, end, &name));
                    }
                    relevant.skipped.push(SkippedDefinition {
                        name,
                        class: None,
                        kind: if kind == Kind::Class {
                            SkippedKind::Class
                        } else {
                            SkippedKind::Function
                        },
                        returns: if kind == Kind::Class {
                            None
                        } else {
                            return_annotation(bytes, lines[def].start)
                        },
                        returned_call: if kind == Kind::Class {
                            None
                        } else {
                            returned_call(bytes, &lines, def, end)
                        },
                    });
                } else {
                    keep(&mut relevant.ranges, start..end);
                }
            }
            Kind::Class => {
                let class = definition_name(bytes, lines[def].start);
                keep(&mut relevant.ranges, start..lines[def].start);
                // Coroutines stay, and anything that is not a plain sync method.
                let stays = |_: usize, kind: Kind, _: Option<&str>, member: &[u8]| {
                    kind != Kind::SyncDef || has_async_def(member)
                };
                keep_class(bytes, &lines, def, end, class, &stays, &mut relevant);
            }
            Kind::Other => match large_literal_assignment(chunk) {
                Some(name) => relevant.skipped.push(SkippedDefinition {
                    name,
                    class: None,
                    kind: SkippedKind::Variable,
                    returns: None,
                    returned_call: None,
                }),
                None => keep(&mut relevant.ranges, start..end),
            },
            _ => keep(&mut relevant.ranges, start..end),
        }
    }
    if relevant.skipped.is_empty() && comment_lines.is_empty() {
        return None;
    }
    relevant.ranges = subtract(&relevant.ranges, &comment_lines);
    if relevant.ranges.is_empty() {
        return None;
    }
    Some(relevant)
}

/// Kept byte ranges for the call graph's summary of a module: everything but the bodies of
/// functions (top-level, and methods of top-level classes), except those `wanted(class, name)`
/// asks for. Imports, assignments, class headers and bases stay, so names still resolve; the
/// functions left out are bound by name. `None` when the whole file should be parsed.
///
/// With `classes_known` (the module was summarised before and only more bodies are asked for),
/// a class with no wanted method is left out whole: its bases and methods are known already.
pub fn outline_ranges(
    bytes: &[u8],
    wanted: &dyn Fn(Option<&str>, &str) -> bool,
    classes_known: bool,
) -> Option<Relevant> {
    let (lines, holes) = logical_lines(bytes)?;
    let mut relevant = Relevant {
        ranges: Vec::new(),
        skipped: Vec::new(),
    };
    for TopLevel {
        start,
        end,
        def,
        kind,
    } in top_level(bytes, &lines)
    {
        match kind {
            // A coroutine's body is never needed: the graph follows sync functions only.
            Kind::SyncDef | Kind::AsyncDef => {
                let name = any_definition_name(bytes, lines[def].start);
                match name.filter(|n| kind == Kind::AsyncDef || !wanted(None, n)) {
                    Some(name) => relevant.skipped.push(SkippedDefinition {
                        name,
                        class: None,
                        kind: function_kind(kind),
                        returns: return_annotation(bytes, lines[def].start),
                        returned_call: returned_call(bytes, &lines, def, end),
                    }),
                    None => keep(&mut relevant.ranges, start..end),
                }
            }
            Kind::Class => {
                let class = definition_name(bytes, lines[def].start);
                if let Some(name) = class.as_ref().filter(|_| classes_known) {
                    if !wants_a_method(bytes, &lines, def, end, name, wanted) {
                        relevant
                            .skipped
                            .extend(member_signatures(bytes, &lines, def, end, name));
                        relevant.skipped.push(SkippedDefinition {
                            name: name.clone(),
                            class: None,
                            kind: SkippedKind::Class,
                            returns: None,
                            returned_call: None,
                        });
                        continue;
                    }
                }
                keep(&mut relevant.ranges, start..lines[def].start);
                // A sync method stays when wanted, a coroutine never, anything else always.
                let stays = |_: usize, kind: Kind, name: Option<&str>, _: &[u8]| match kind {
                    Kind::AsyncDef => false,
                    Kind::SyncDef => match (&class, name) {
                        (Some(class), Some(name)) => wanted(Some(class), name),
                        _ => true,
                    },
                    _ => true,
                };
                keep_class(
                    bytes,
                    &lines,
                    def,
                    end,
                    class.clone(),
                    &stays,
                    &mut relevant,
                );
            }
            Kind::Other => match large_literal_assignment(&bytes[start..end]) {
                Some(name) => relevant.skipped.push(SkippedDefinition {
                    name,
                    class: None,
                    kind: SkippedKind::Variable,
                    returns: None,
                    returned_call: None,
                }),
                None => keep(&mut relevant.ranges, start..end),
            },
            _ => keep(&mut relevant.ranges, start..end),
        }
    }
    relevant.ranges = subtract(&relevant.ranges, &holes);
    if relevant.skipped.is_empty() || relevant.ranges.is_empty() {
        return None;
    }
    Some(relevant)
}

/// Whether `wanted` asks for one of the sync methods of the class defined at line `def`.
fn wants_a_method(
    bytes: &[u8],
    lines: &[Line],
    def: usize,
    end: usize,
    class: &str,
    wanted: &dyn Fn(Option<&str>, &str) -> bool,
) -> bool {
    let mut body = (def + 1..lines.len()).take_while(|&i| lines[i].begin < end);
    let Some(first) = body.next() else {
        return false;
    };
    let indent = lines[first].indent;
    std::iter::once(first)
        .chain(body)
        .filter(|&i| lines[i].indent == indent && lines[i].kind == Kind::SyncDef)
        .filter_map(|i| definition_name(bytes, lines[i].start))
        .any(|name| wanted(Some(class), &name))
}

fn function_kind(kind: Kind) -> SkippedKind {
    if kind == Kind::AsyncDef {
        SkippedKind::AsyncFunction
    } else {
        SkippedKind::Function
    }
}

/// The name of a `def`, `async def` or `class` starting at `start`.
fn any_definition_name(bytes: &[u8], start: usize) -> Option<String> {
    let line = &bytes[start..];
    match line.strip_prefix(b"async") {
        Some(rest) => {
            let blanks = rest
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t'))
                .count();
            definition_name(bytes, start + 5 + blanks)
        }
        None => definition_name(bytes, start),
    }
}

/// A top-level statement: its bytes (decorators included; the first one also takes what
/// precedes it, a BOM, comments, blank lines), its definition line and kind.
struct TopLevel {
    start: usize,
    end: usize,
    def: usize,
    kind: Kind,
}

fn top_level<'l>(bytes: &'l [u8], lines: &'l [Line]) -> impl Iterator<Item = TopLevel> + 'l {
    let top: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].indent == 0).collect();
    let mut k = 0;
    std::iter::from_fn(move || {
        let &i = top.get(k)?;
        let (def, kind) = definition_at(bytes, lines, i);
        // Decorators and their definition are one statement.
        while k + 1 < top.len() && top[k + 1] <= def {
            k += 1;
        }
        let start = if k == 0 { 0 } else { lines[i].begin };
        let end = top.get(k + 1).map_or(bytes.len(), |&n| lines[n].start);
        k += 1;
        Some(TopLevel {
            start,
            end,
            def,
            kind,
        })
    })
}

/// `ranges` less `holes` (both sorted, holes not overlapping one another).
fn subtract(ranges: &[Range<usize>], holes: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut out = Vec::with_capacity(ranges.len() + holes.len());
    let mut h = 0;
    for range in ranges {
        let mut start = range.start;
        while h < holes.len() && holes[h].end <= start {
            h += 1;
        }
        let mut k = h;
        while k < holes.len() && holes[k].start < range.end {
            if holes[k].start > start {
                out.push(start..holes[k].start);
            }
            start = start.max(holes[k].end);
            k += 1;
        }
        if start < range.end {
            out.push(start..range.end);
        }
    }
    out
}

/// Whether a class member stays in the parse: `(index in the body, kind, name, its bytes)`.
type MemberStays<'a> = dyn Fn(usize, Kind, Option<&str>, &[u8]) -> bool + 'a;

/// A kept class: its header and body, less the methods `stays(index, kind, name, bytes)`
/// lets go that assign no attribute of `self` the kept members read.
/// The annotated return types of the methods of a class left out whole (see
/// [`SkippedKind::Signature`]).
fn member_signatures(
    bytes: &[u8],
    lines: &[Line],
    def: usize,
    end: usize,
    class: &str,
) -> Vec<SkippedDefinition> {
    let body: Vec<usize> = (def + 1..lines.len())
        .take_while(|&i| lines[i].begin < end)
        .collect();
    let Some(body_indent) = body.first().map(|&i| lines[i].indent) else {
        return Vec::new();
    };
    body.iter()
        .filter(|&&i| {
            lines[i].indent == body_indent
                && matches!(lines[i].kind, Kind::SyncDef | Kind::AsyncDef)
        })
        .filter_map(|&i| {
            let returns = return_annotation(bytes, lines[i].start)?;
            Some(SkippedDefinition {
                name: any_definition_name(bytes, lines[i].start)?,
                class: Some(class.to_string()),
                kind: SkippedKind::Signature,
                returns: Some(returns),
                returned_call: None,
            })
        })
        .collect()
}

fn keep_class(
    bytes: &[u8],
    lines: &[Line],
    def: usize,
    end: usize,
    class: Option<String>,
    stays: &MemberStays,
    relevant: &mut Relevant,
) {
    let body: Vec<usize> = (def + 1..lines.len())
        .take_while(|&i| lines[i].begin < end)
        .collect();
    let Some(body_indent) = body.first().map(|&i| lines[i].indent) else {
        keep(&mut relevant.ranges, lines[def].start..end);
        return;
    };
    let members: Vec<usize> = body
        .iter()
        .copied()
        .filter(|&i| lines[i].indent == body_indent)
        .collect();
    // Members: (start, end, definition line), decorators included.
    let mut spans: Vec<(usize, usize, usize)> = Vec::new();
    let mut m = 0;
    while m < members.len() {
        let start = lines[members[m]].begin;
        let mut def_line = members[m];
        let mut n = m;
        while lines[def_line].kind == Kind::Decorator && n + 1 < members.len() {
            n += 1;
            def_line = members[n];
        }
        let member_end = members.get(n + 1).map_or(end, |&i| lines[i].begin);
        spans.push((start, member_end, def_line));
        m = n + 1;
    }
    // A method let go is still needed for the `self` attributes it assigns that kept code
    // reads: start from what the members that stay read, and follow the assignments
    // (`self.a = self.b.x` makes `b` needed too) until nothing changes.
    let mut keep_member: Vec<bool> = spans
        .iter()
        .enumerate()
        .map(|(index, &(start, end, def_line))| {
            let name = any_definition_name(bytes, lines[def_line].start);
            stays(
                index,
                lines[def_line].kind,
                name.as_deref(),
                &bytes[start..end],
            )
        })
        .collect();
    let mut needed: HashSet<&[u8]> = HashSet::new();
    for (span, kept) in spans.iter().zip(&keep_member) {
        if *kept {
            needed.extend(self_attributes_read(&bytes[span.0..span.1]));
        }
    }
    loop {
        let mut changed = false;
        for (i, span) in spans.iter().enumerate() {
            if keep_member[i] {
                continue;
            }
            let member = &bytes[span.0..span.1];
            if self_attributes_written(member)
                .iter()
                .any(|a| needed.contains(a))
            {
                keep_member[i] = true;
                needed.extend(self_attributes_read(member));
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // A class body is never empty: when every member goes, the shortest method stays as a
    // filler (nothing in it is resolved, so what it reads is not followed).
    if !keep_member.contains(&true) {
        let shortest = (0..spans.len())
            .filter(|&i| matches!(lines[spans[i].2].kind, Kind::SyncDef | Kind::AsyncDef))
            .min_by_key(|&i| spans[i].1 - spans[i].0);
        if let Some(shortest) = shortest {
            keep_member[shortest] = true;
        }
    }
    // The class keeps its header however its members go.
    let mut cursor = lines[def].start;
    for (span, kept) in spans.iter().zip(&keep_member) {
        if *kept {
            continue;
        }
        if let Some(name) = any_definition_name(bytes, lines[span.2].start) {
            keep(&mut relevant.ranges, cursor..span.0);
            relevant.skipped.push(SkippedDefinition {
                name,
                class: class.clone(),
                kind: function_kind(lines[span.2].kind),
                returns: return_annotation(bytes, lines[span.2].start),
                returned_call: returned_call(bytes, lines, span.2, span.1),
            });
            cursor = span.1;
        }
    }
    keep(&mut relevant.ranges, cursor..end);
}

fn keep(ranges: &mut Vec<Range<usize>>, range: Range<usize>) {
    if range.is_empty() {
        return;
    }
    match ranges.last_mut() {
        Some(last) if last.end == range.start => last.end = range.end,
        _ => ranges.push(range),
    }
}

/// The definition line a statement stands for (past its decorators), and its kind.
fn definition_at(_bytes: &[u8], lines: &[Line], i: usize) -> (usize, Kind) {
    let mut j = i;
    while lines[j].kind == Kind::Decorator
        && j + 1 < lines.len()
        && lines[j + 1].indent == lines[i].indent
    {
        j += 1;
    }
    (j, lines[j].kind)
}

/// Attribute names in `self.<name>` anywhere in the bytes.
pub(crate) fn self_attributes_read(bytes: &[u8]) -> Vec<&[u8]> {
    self_attributes(bytes).map(|(name, _)| name).collect()
}

/// Attribute names assigned as `self.<name> = ...` or `self.<name>: T = ...`.
fn self_attributes_assigned(bytes: &[u8]) -> Vec<&[u8]> {
    self_attributes(bytes)
        .filter(|(_, assigned)| *assigned)
        .map(|(name, _)| name)
        .collect()
}

/// Attributes a method assigns or puts into (`self.d[k] = v`, `self.d.update(...)`): a
/// producer the `polling` rewrite must see. Erring towards keeping costs only parse time.
fn self_attributes_written(bytes: &[u8]) -> Vec<&[u8]> {
    let mut written = self_attributes_assigned(bytes);
    for i in memchr::memmem::find_iter(bytes, b"self.") {
        let after = &bytes[i + 5..];
        let len = after
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        let tail = &after[len..];
        let puts = tail.starts_with(b"[")
            || [
                &b".update("[..],
                b".setdefault(",
                b".append(",
                b".extend(",
                b".add(",
                b".put(",
                b".put_nowait(",
            ]
            .iter()
            .any(|m| tail.starts_with(m));
        if len > 0 && puts {
            written.push(&after[..len]);
        }
    }
    written
}

/// The value after `=` is the literal `None` (and nothing more on the line but a comment).
fn assigns_none(value: &[u8]) -> bool {
    let value = &value[value
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count()..];
    let Some(rest) = value.strip_prefix(b"None") else {
        return false;
    };
    let rest = &rest[rest
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count()..];
    matches!(rest.first(), None | Some(b'\n' | b'\r' | b'#'))
}

/// Every `self.<name>`, with whether it is the target of an assignment.
fn self_attributes(bytes: &[u8]) -> impl Iterator<Item = (&[u8], bool)> {
    memchr::memmem::find_iter(bytes, b"self.").filter_map(move |i| {
        if i > 0
            && (bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b'.')
        {
            return None;
        }
        let after = &bytes[i + 5..];
        let len = after
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        if len == 0 {
            return None;
        }
        let tail = &after[len..];
        let blanks = tail
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        let assigned = match tail.get(blanks) {
            // `self.x = None` says nothing about what `x` is (pass 1 ignores it too).
            Some(b'=') => tail.get(blanks + 1) != Some(&b'=') && !assigns_none(&tail[blanks + 1..]),
            Some(b':') => true,
            _ => false,
        };
        Some((&after[..len], assigned))
    })
}

fn definition_name(bytes: &[u8], start: usize) -> Option<String> {
    let line = &bytes[start..];
    let rest = line
        .strip_prefix(b"def")
        .or_else(|| line.strip_prefix(b"class"))?;
    let rest = &rest[rest
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count()..];
    let len = rest
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count();
    (len > 0).then(|| String::from_utf8_lossy(&rest[..len]).into_owned())
}

/// `NAME = {...}` (or `[`, `(`, a string; `NAME: T = ...` too) spanning more than a few hundred
/// bytes: module-level data. Its name matters, its contents cannot hold a direct finding.
fn large_literal_assignment(statement: &[u8]) -> Option<String> {
    if statement.len() < 400 || memchr::memchr(b';', statement).is_some() {
        return None;
    }
    let name_len = statement
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count();
    if name_len == 0 || statement[0].is_ascii_digit() {
        return None;
    }
    let line_end = memchr::memchr(b'\n', statement).unwrap_or(statement.len());
    let first_line = &statement[name_len..line_end];
    // ` = ` or `: annotation = ` (the annotation holds no `=`).
    let equals = first_line.iter().position(|&b| b == b'=')?;
    let before = &first_line[..equals];
    let plain = before.iter().all(|b| matches!(b, b' ' | b'\t'));
    let annotated = before.iter().find(|b| !matches!(b, b' ' | b'\t')) == Some(&b':');
    if !(plain || annotated) || first_line.get(equals + 1) == Some(&b'=') {
        return None;
    }
    let value = &first_line[equals + 1..];
    let value = &value[value
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count()..];
    let prefix = value
        .iter()
        .take(2)
        .take_while(|b| matches!(b, b'r' | b'R' | b'b' | b'B' | b'u' | b'U'))
        .count();
    let opener = value.get(prefix)?;
    let literal =
        matches!(opener, b'{' | b'[' | b'(') && prefix == 0 || matches!(opener, b'"' | b'\'');
    literal.then(|| String::from_utf8_lossy(&statement[..name_len]).into_owned())
}

/// True when the bytes contain `async` followed by blanks and `def`.
pub fn has_async_def(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while let Some(i) = memchr::memmem::find(rest, b"async") {
        let after = &rest[i + 5..];
        let blanks = after
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t' | b'\\' | b'\n' | b'\r'))
            .count();
        if blanks > 0 && after[blanks..].starts_with(b"def") {
            return true;
        }
        rest = &rest[i + 5..];
    }
    false
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Decorator,
    SyncDef,
    AsyncDef,
    Class,
    Other,
}

/// The start of a logical line: its first non-blank byte, indentation and kind.
#[derive(Debug, Clone, Copy)]
struct Line {
    /// The first byte of the physical line (ranges cut here, indentation included).
    begin: usize,
    /// The first non-blank byte.
    start: usize,
    indent: usize,
    kind: Kind,
}

/// Bytes the logical-line scanner must look at; everything else is skipped in bulk.
const SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let special = b"\n#\\()[]{}'\"";
    let mut i = 0;
    while i < special.len() {
        table[special[i] as usize] = true;
        i += 1;
    }
    table
};

/// Logical lines (statements and clause headers) and the holes the parser need not see
/// (comment-only lines, docstrings); `None` if the scanner got lost (an unterminated triple
/// quote, say), so the caller parses everything.
fn logical_lines(bytes: &[u8]) -> Option<(Vec<Line>, Vec<Range<usize>>)> {
    let (lines, comment_lines, strings) = scan_lines(bytes)?;
    // A bare string statement can go when the next statement is in the same block (same
    // indentation, nothing in between): the block keeps a statement, and a docstring is no
    // call, binding or loop.
    let mut holes = comment_lines;
    for (index, range) in strings {
        if lines
            .get(index + 1)
            .is_some_and(|next| next.indent == lines[index].indent)
        {
            holes.push(range);
        }
    }
    holes.sort_by_key(|r| r.start);
    Some((lines, holes))
}

/// For each run of three or more lines holding nothing but a comment, indented alike (blank
/// lines between them allowed), the bytes from its second line to the end of its last but
/// one. A whole parse leaves them out: at every comment of a run tree-sitter-python's
/// indentation scanner reads ahead to the end of the run, so a run costs the square of its
/// length. The lines left out hold no code, and the tree keeps the run's first and last
/// comment where they were: comments indented alike all end up in the same block.
/// Also says how many comment lines the ranges hold.
pub fn comment_run_interiors(bytes: &[u8]) -> (Vec<Range<usize>>, usize) {
    let Some((_, comments, _)) = scan_lines(bytes) else {
        return (Vec::new(), 0);
    };
    let blank = |gap: &[u8]| {
        gap.iter()
            .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c'))
    };
    let indent = |line: &Range<usize>| {
        let text = &bytes[line.clone()];
        &text[..memchr::memchr(b'#', text).unwrap_or(text.len())]
    };
    let mut interiors = Vec::new();
    let mut hidden = 0;
    let mut run_start = 0;
    for i in 1..=comments.len() {
        let continues = i < comments.len()
            && blank(&bytes[comments[i - 1].end..comments[i].start])
            && indent(&comments[i - 1]) == indent(&comments[i]);
        if continues {
            continue;
        }
        if i - run_start >= 3 {
            interiors.push(comments[run_start + 1].start..comments[i - 2].end);
            hidden += i - run_start - 2;
        }
        run_start = i;
    }
    (interiors, hidden)
}

/// Logical lines, comment-only lines, and bare string statements (with the index of their
/// logical line); `None` if the scanner got lost.
#[allow(clippy::type_complexity)]
fn scan_lines(bytes: &[u8]) -> Option<(Vec<Line>, Vec<Range<usize>>, Vec<(usize, Range<usize>)>)> {
    let mut lines = Vec::new();
    // Lines holding nothing but a comment: the parser need not see them.
    let mut comment_lines = Vec::new();
    // Statements that are only a string (docstrings): candidates for the same.
    let mut strings: Vec<(usize, Range<usize>)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let mut line_start = true;
    let mut continued = false;
    while i < bytes.len() {
        if line_start {
            line_start = false;
            let indent = bytes[i..]
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t' | b'\x0c'))
                .count();
            let first = i + indent;
            if depth == 0
                && !continued
                && first < bytes.len()
                && !matches!(bytes[first], b'\r' | b'\n' | b'#')
            {
                lines.push(Line {
                    begin: i,
                    start: first,
                    indent,
                    kind: kind_of(&bytes[first..]),
                });
                if let Some(end) = bare_string_statement(bytes, first) {
                    strings.push((lines.len() - 1, i..end));
                }
            }
            if first < bytes.len() && bytes[first] == b'#' {
                let end = memchr::memchr(b'\n', &bytes[first..]).map_or(bytes.len(), |n| first + n);
                let end = if end > first && bytes[end - 1] == b'\r' {
                    end - 1
                } else {
                    end
                };
                comment_lines.push(i..end);
            }
            continued = false;
            i = first;
            continue;
        }
        match bytes[i] {
            b'\n' => {
                line_start = true;
                i += 1;
            }
            b'#' => {
                i += memchr::memchr(b'\n', &bytes[i..]).unwrap_or(bytes.len() - i);
            }
            b'\\' => {
                // A backslash before the line end joins the next line to this statement.
                let next = bytes.get(i + 1).copied();
                if next == Some(b'\n') || (next == Some(b'\r') && bytes.get(i + 2) == Some(&b'\n'))
                {
                    continued = true;
                }
                i += 2;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'\'' | b'"' => {
                i = skip_quoted(bytes, i)?;
            }
            _ => {
                // Runs of ordinary bytes are most of a file: skip them in one tight loop.
                i += 1;
                while i < bytes.len() && !SPECIAL[bytes[i] as usize] {
                    i += 1;
                }
            }
        }
    }
    Some((lines, comment_lines, strings))
}

/// The end of the string when the logical line at `start` is nothing but a string literal
/// (no f-string: those can hold calls), followed at most by blanks and a comment.
fn bare_string_statement(bytes: &[u8], start: usize) -> Option<usize> {
    let prefix = bytes[start..]
        .iter()
        .take(3)
        .take_while(|b| matches!(b, b'r' | b'R' | b'u' | b'U' | b'b' | b'B'))
        .count();
    let quote_at = start + prefix;
    bytes.get(quote_at).filter(|q| matches!(q, b'\'' | b'"'))?;
    let end = skip_quoted(bytes, quote_at)?;
    let rest = &bytes[end..];
    let line_end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
    let tail = &rest[..line_end];
    let code = tail
        .iter()
        .position(|&b| b == b'#')
        .map_or(tail, |hash| &tail[..hash]);
    code.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r'))
        .then_some(end)
}

/// The return annotation of the `def` at `start` (`-> Path:` gives `Path`), when it has one:
/// past the parameters' closing bracket, up to the colon that ends the header.
fn return_annotation(bytes: &[u8], start: usize) -> Option<String> {
    let open = start + memchr::memchr(b'(', &bytes[start..])?;
    // The parameters are closed: an annotation follows, or the colon.
    let close = closing_bracket(bytes, open)?;
    let rest = &bytes[close + 1..];
    let blanks = rest
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\\' | b'\r' | b'\n'))
        .count();
    if !rest[blanks..].starts_with(b"->") {
        return None;
    }
    let annotation_start = close + 1 + blanks + 2;
    let mut i = annotation_start;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => {
                i = skip_quoted(bytes, i)?;
                continue;
            }
            b'(' | b'[' | b'{' => i = closing_bracket(bytes, i)?,
            b':' => {
                let text = String::from_utf8_lossy(&bytes[annotation_start..i]);
                let text = text.trim().trim_matches(|c| c == '"' || c == '\'');
                return (!text.is_empty()).then(|| text.to_string());
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index of the bracket closing the one at `open`, strings skipped.
fn closing_bracket(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => {
                i = skip_quoted(bytes, i)?;
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The callee a function's `return` statements agree on, read from its text (the function is
/// not parsed): `return httpx.Client(timeout=5)`, or a local assigned only such calls and then
/// returned (`client = Client(...)` ... `return client`). A bare `return` or `return None` says
/// nothing; any other return (an attribute of the call, a parameter, a literal) makes it
/// unknown. Nested functions' returns are not the function's.
fn returned_call(bytes: &[u8], lines: &[Line], def: usize, end: usize) -> Option<String> {
    let body: Vec<usize> = (def + 1..lines.len())
        .take_while(|&i| lines[i].begin < end)
        .collect();
    let statement = |k: usize| {
        let i = body[k];
        let stop = body.get(k + 1).map_or(end, |&n| lines[n].begin).min(end);
        &bytes[lines[i].start..stop.max(lines[i].start)]
    };
    let mut nested_at: Option<usize> = None;
    let mut returned: Vec<&[u8]> = Vec::new();
    let mut assigned: Vec<(&[u8], Option<&[u8]>)> = Vec::new();
    for k in 0..body.len() {
        let line = lines[body[k]];
        if nested_at.is_some_and(|indent| line.indent > indent) {
            continue;
        }
        nested_at = None;
        if matches!(
            line.kind,
            Kind::SyncDef | Kind::AsyncDef | Kind::Class | Kind::Decorator
        ) {
            nested_at = Some(line.indent);
            continue;
        }
        let text = statement(k);
        if let Some(rest) = text.strip_prefix(b"return") {
            if rest
                .first()
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
            {
                continue; // `returned = ...`
            }
            let value = trim_statement(rest);
            if value.is_empty() || value == b"None" {
                continue;
            }
            returned.push(value);
        } else if let Some((name, value)) = simple_assignment(text) {
            assigned.push((name, sole_call(value)));
        }
    }
    let mut callees = returned.iter().map(|value| {
        if let Some(callee) = sole_call(value) {
            return Some(callee);
        }
        // A local returned: every assignment of it must be a call, of one callee.
        let mut calls = assigned.iter().filter(|(name, _)| name == value);
        let first = calls.next()?.1?;
        calls.all(|(_, call)| *call == Some(first)).then_some(first)
    });
    let first = callees.next()??;
    if !callees.all(|callee| callee == Some(first)) {
        return None;
    }
    Some(String::from_utf8_lossy(first).into_owned())
}

/// A statement's text without its trailing comment, newline and blanks.
fn trim_statement(text: &[u8]) -> &[u8] {
    let mut end = text.len();
    // A `#` outside brackets and strings would need a scan; a comment is rare after a return
    // of a call, and a value ending in one is simply not read as a call.
    while end > 0 && matches!(text[end - 1], b' ' | b'\t' | b'\r' | b'\n') {
        end -= 1;
    }
    let start = text[..end]
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count();
    &text[start..end]
}

/// `name = value` with a plain name on the left (no annotation, no augmented operator, one
/// target): the name and the value's text.
fn simple_assignment(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let name_end = text
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))?;
    if name_end == 0 || text[0].is_ascii_digit() {
        return None;
    }
    let rest = &text[name_end..];
    let blanks = rest.iter().take_while(|b| **b == b' ').count();
    let rest = rest[blanks..].strip_prefix(b"=")?;
    if rest.first() == Some(&b'=') {
        return None;
    }
    Some((&text[..name_end], trim_statement(rest)))
}

/// The callee of `dotted.name(...)` when the value is that one call and nothing after it.
fn sole_call(value: &[u8]) -> Option<&[u8]> {
    let callee_end = value
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.'))?;
    let callee = &value[..callee_end];
    if callee.is_empty()
        || callee[0].is_ascii_digit()
        || callee.starts_with(b".")
        || callee.ends_with(b".")
        || callee.windows(2).any(|w| w == b"..")
        || value[callee_end] != b'('
    {
        return None;
    }
    // The call's closing parenthesis must end the value.
    let close = closing_bracket(value, callee_end)?;
    (close + 1 == value.len()).then_some(callee)
}

/// [`skip_string`] for the quote at `start`, single or triple.
fn skip_quoted(bytes: &[u8], start: usize) -> Option<usize> {
    let quote = bytes[start];
    let triple = bytes.get(start + 1) == Some(&quote) && bytes.get(start + 2) == Some(&quote);
    skip_string(bytes, start, quote, triple)
}

/// The offset just past the string starting at `start`. Prefixes (`r`, `b`, `f`) need no care:
/// a backslash skips the next byte in every kind of string, raw ones included, as far as finding
/// the end goes.
fn skip_string(bytes: &[u8], start: usize, quote: u8, triple: bool) -> Option<usize> {
    let mut i = start + if triple { 3 } else { 1 };
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' if !triple => return Some(i), // unterminated: the tokenizer would stop here too
            q if q == quote => {
                if !triple {
                    return Some(i + 1);
                }
                if bytes.get(i + 1) == Some(&quote) && bytes.get(i + 2) == Some(&quote) {
                    return Some(i + 3);
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    if triple {
        None
    } else {
        Some(bytes.len())
    }
}

fn kind_of(line: &[u8]) -> Kind {
    let word_then_space = |word: &[u8]| {
        line.starts_with(word)
            && line
                .get(word.len())
                .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\\'))
    };
    if line.starts_with(b"@") {
        Kind::Decorator
    } else if word_then_space(b"def") {
        Kind::SyncDef
    } else if word_then_space(b"class") {
        Kind::Class
    } else if word_then_space(b"async") && has_async_def(&line[..line.len().min(64)]) {
        Kind::AsyncDef
    } else {
        Kind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(text: &str) -> Option<(String, Vec<SkippedDefinition>)> {
        relevant_ranges(text.as_bytes()).map(|r| {
            (
                r.ranges.iter().map(|r| &text[r.clone()]).collect(),
                r.skipped,
            )
        })
    }

    #[test]
    fn sync_functions_sync_classes_and_plain_methods_are_skipped_but_named() {
        let sync_body = "    x = 1\n".repeat(50);
        let method_body = "        y = 2\n".repeat(50);
        let text = format!(
            "import time\n\ndef helper():\n{sync_body}\nclass Plain:\n    def m(self):\n{sync_body}\n\
             @app.get('/')\nasync def route():\n    time.sleep(1)\n\n@dataclass\nclass Mixed:\n    limit = 3\n\n    def __init__(self):\n        self.s = 1\n\n    def unread(self):\n        self.cache = {{}}\n\n    @property\n    def plain(self):\n{method_body}\n    async def go(self):\n        return self.s\n"
        );
        let (kept, skipped) = kept(&text).expect("worth splitting");
        assert!(kept.starts_with("import time\n\n"));
        assert!(!kept.contains("def helper") && !kept.contains("class Plain"));
        assert!(kept.contains("@app.get('/')\nasync def route():\n    time.sleep(1)\n"));
        assert!(kept.contains("@dataclass\nclass Mixed:\n    limit = 3\n\n    def __init__(self):\n        self.s = 1\n\n"));
        assert!(!kept.contains("def plain") && !kept.contains("@property"));
        assert!(kept.ends_with("    async def go(self):\n        return self.s\n"));
        assert!(!kept.contains("def unread"));
        let names: Vec<_> = skipped
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.class.as_deref(),
                    s.kind == SkippedKind::Class,
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![
                ("helper", None, false),
                ("Plain", None, true),
                ("unread", Some("Mixed"), false),
                ("plain", Some("Mixed"), false)
            ]
        );
    }

    #[test]
    fn column_zero_text_inside_strings_and_brackets_is_not_a_statement() {
        let filler = "    x = 1\n".repeat(50);
        let text = format!(
            "def f():\n    s = '''\ndef not_a_def():\n'''\n    t = (\n1)\n{filler}async def g():\n    pass\n"
        );
        let (kept, _) = kept(&text).expect("worth splitting");
        assert_eq!(kept, "async def g():\n    pass\n");
    }

    #[test]
    fn nothing_to_skip_parses_everything() {
        assert_eq!(kept("import x\nasync def f():\n    pass\n"), None);
    }

    #[test]
    fn an_unterminated_triple_quote_parses_everything() {
        let filler = "    x = 1\n".repeat(50);
        assert_eq!(
            kept(&format!(
                "def f():\n{filler}\nasync def g():\n    '''oops\n"
            )),
            None
        );
    }

    #[test]
    fn async_def_and_self_assignment_detection() {
        assert!(has_async_def(b"x\nasync  def f(): pass"));
        assert!(!has_async_def(b"import asyncio\nasync with x: pass"));
        assert!(!has_async_def(b"asyncdef"));
        assert_eq!(
            self_attributes_assigned(b"    self.session = requests.Session()"),
            vec![b"session"]
        );
        assert_eq!(
            self_attributes_assigned(b"    self.session: Session = make()"),
            vec![b"session"]
        );
        assert!(self_attributes_assigned(b"    if self.session == other: self.go()").is_empty());
        assert!(
            self_attributes_assigned(b"    self.session = None  # set in connect()\n").is_empty()
        );
        assert_eq!(
            self_attributes_assigned(b"    self.session = None or make()\n"),
            vec![b"session"]
        );
        assert_eq!(self_attributes_read(b"x = self.a.b + myself.c"), vec![b"a"]);
    }

    #[test]
    fn large_module_level_literals_are_skipped_but_bound() {
        let table = format!("TABLE = {{\n{}}}\n", "    'key': 'value',\n".repeat(40));
        let text = format!("import time\n{table}\nasync def f():\n    time.sleep(TABLE['key'])\n");
        let (kept, skipped) = kept(&text).expect("worth splitting");
        assert!(!kept.contains("'key': 'value'"));
        assert!(kept.contains("async def f():"));
        assert_eq!(
            skipped,
            vec![SkippedDefinition {
                name: "TABLE".into(),
                class: None,
                kind: SkippedKind::Variable,
                returns: None,
                returned_call: None,
            }]
        );
        // Small, or with a second statement on the line: kept.
        assert_eq!(large_literal_assignment(b"X = [1, 2]\n"), None);
        let mut joined = table.clone();
        joined.insert_str(table.len() - 1, "; import os");
        assert_eq!(large_literal_assignment(joined.as_bytes()), None);
    }

    #[test]
    fn an_outline_keeps_names_classes_and_only_the_wanted_bodies() {
        let text = "\
import time


def helper():
    time.sleep(1)


async def handler():
    helper()


class Client:
    timeout = 5

    def __init__(self):
        self.conn = connect()

    def send(self):
        return self.conn.send()

    def close(self):
        time.sleep(2)
";
        let wanted = |class: Option<&str>, name: &str| class == Some("Client") && name == "send";
        let outline = outline_ranges(text.as_bytes(), &wanted, false).expect("an outline");
        let kept: String = outline.ranges.iter().map(|r| &text[r.clone()]).collect();
        assert!(kept.contains("import time"), "{kept}");
        // `send` is wanted, and `__init__` sets the attribute it reads.
        assert!(kept.contains("return self.conn.send()"), "{kept}");
        assert!(kept.contains("self.conn = connect()"), "{kept}");
        assert!(!kept.contains("time.sleep"), "{kept}");
        let skipped: Vec<(Option<&str>, &str, SkippedKind)> = outline
            .skipped
            .iter()
            .map(|s| (s.class.as_deref(), s.name.as_str(), s.kind))
            .collect();
        assert_eq!(
            skipped,
            vec![
                (None, "helper", SkippedKind::Function),
                (None, "handler", SkippedKind::AsyncFunction),
                (Some("Client"), "close", SkippedKind::Function),
            ]
        );
    }

    #[test]
    fn an_outline_never_keeps_a_coroutine_and_fills_an_emptied_class_with_its_shortest_method() {
        let table: String = (0..40).map(|i| format!("    'key{i}': {i},\n")).collect();
        let text = format!(
            "import os\n\nTABLE = {{\n{table}}}\n{}",
            "

async def fetch():
    await other()


class Pool:
    def __init__(self):
        self.size = compute_a_long_default_size_for_this_pool()

    def name(self):
        return 'p'

    async def acquire(self):
        self.size -= 1
"
        );
        let wanted = |_: Option<&str>, name: &str| name == "fetch" || name == "acquire";
        let outline = outline_ranges(text.as_bytes(), &wanted, false).expect("an outline");
        let kept: String = outline.ranges.iter().map(|r| &text[r.clone()]).collect();
        // Coroutines stay out even when asked for: the graph only follows sync functions.
        assert!(!kept.contains("await other()"), "{kept}");
        assert!(!kept.contains("self.size -= 1"), "{kept}");
        // No method is wanted: the shortest keeps the class body non-empty.
        assert!(kept.contains("return 'p'"), "{kept}");
        assert!(!kept.contains("compute_a_long_default"), "{kept}");
        // A table of data is bound by name, not parsed.
        assert!(!kept.contains("'key39': 39"), "{kept}");
        let skipped: Vec<(Option<&str>, &str, SkippedKind)> = outline
            .skipped
            .iter()
            .map(|s| (s.class.as_deref(), s.name.as_str(), s.kind))
            .collect();
        assert_eq!(
            skipped,
            vec![
                (None, "TABLE", SkippedKind::Variable),
                (None, "fetch", SkippedKind::AsyncFunction),
                (Some("Pool"), "__init__", SkippedKind::Function),
                (Some("Pool"), "acquire", SkippedKind::AsyncFunction),
            ]
        );
        // Loaded again for more bodies: a class none of whose methods is asked for is known
        // from the first load and left out whole.
        let again = outline_ranges(text.as_bytes(), &wanted, true).expect("an outline");
        let kept: String = again.ranges.iter().map(|r| &text[r.clone()]).collect();
        assert!(!kept.contains("class Pool"), "{kept}");
        assert!(again
            .skipped
            .iter()
            .any(|s| s.name == "Pool" && s.kind == SkippedKind::Class));
        let init = |class: Option<&str>, name: &str| class == Some("Pool") && name == "__init__";
        let again = outline_ranges(text.as_bytes(), &init, true).expect("an outline");
        let kept: String = again.ranges.iter().map(|r| &text[r.clone()]).collect();
        assert!(kept.contains("compute_a_long_default"), "{kept}");
    }

    #[test]
    fn the_callee_a_skipped_function_returns_is_read_from_its_text() {
        let read = |text: &str| {
            let (lines, _) = logical_lines(text.as_bytes()).unwrap();
            returned_call(text.as_bytes(), &lines, 0, text.len())
        };
        assert_eq!(
            read("def f():\n    return a.B(1, \")\")\n").as_deref(),
            Some("a.B")
        );
        assert_eq!(
            read("def f():\n    c = B(\n        x=1,\n    )\n    if c:\n        return None\n    return c\n").as_deref(),
            Some("B")
        );
        // A nested function's return is not the function's.
        assert_eq!(
            read("def f():\n    def g():\n        return C()\n    return B()\n").as_deref(),
            Some("B")
        );
        // Disagreeing returns, a call's attribute, a reassigned local, a name that is no call.
        assert_eq!(
            read("def f(x):\n    if x:\n        return B()\n    return C()\n"),
            None
        );
        assert_eq!(read("def f():\n    return B().attr\n"), None);
        assert_eq!(
            read("def f():\n    c = B()\n    c = 1\n    return c\n"),
            None
        );
        assert_eq!(read("def f(c):\n    return c\n"), None);
        assert_eq!(read("def f():\n    returned = B()\n    return\n"), None);
        assert_eq!(read("def f():\n    c == B()\n    return c\n"), None);
    }

    #[test]
    fn return_annotations_are_read_from_the_header() {
        let at = |text: &str| return_annotation(text.as_bytes(), 0);
        assert_eq!(
            at("def f(a, b) -> Path:\n    pass\n").as_deref(),
            Some("Path")
        );
        assert_eq!(
            at("def f(\n    a=\")->\",\n    b: int = (1),\n) -> Optional[pathlib.Path]:\n    pass\n")
                .as_deref(),
            Some("Optional[pathlib.Path]")
        );
        assert_eq!(
            at("def f() -> \"Path\": return x\n").as_deref(),
            Some("Path")
        );
        assert_eq!(at("def f(a: int):\n    return a\n"), None);
    }
}

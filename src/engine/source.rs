//! A Python file as read from disk: its bytes, its tree-sitter tree and line positions.
//!
//! Everything works on bytes, not `&str`: real code bases contain files that are not UTF-8
//! (Latin-1 with a coding cookie, stray bytes in comments) and they must still be checked.

use std::sync::atomic::AtomicUsize;

use tree_sitter::{Node, Parser, Point, Tree};

use crate::finding::Position;

pub struct SourceFile {
    /// The path as the user gave it, joined with the walked part: this is what reports show.
    pub path: String,
    pub bytes: Vec<u8>,
    pub tree: Tree,
    /// Fully qualified module name derived from the package layout (`app.workers.bus`).
    pub module: String,
    /// Only the parts that can hold or explain a direct finding were parsed (see `chunks`):
    /// top-level sync functions and classes without coroutines are not in the tree.
    pub partial: bool,
    /// For a partial parse: the definitions left out, whose names must still be bound.
    pub skipped: Vec<super::chunks::SkippedDefinition>,
    /// The whole file is valid UTF-8 (most are): node texts need no further check.
    utf8: bool,
    /// The whole file is ASCII: a column is a count of bytes.
    ascii: bool,
    /// Comment lines inside long runs of them, which a whole parse left out of the tree (a
    /// partial parse leaves out every comment line, uncounted).
    pub hidden_comments: usize,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Parses the whole file, but for the middle lines of long runs of comment lines (see
    /// `chunks::comment_run_interiors`; [`SourceFile::hidden_comments`] counts them).
    pub fn parse(path: String, bytes: Vec<u8>, module: String) -> Result<SourceFile, String> {
        let bytes = universal_newlines(bytes);
        let line_starts = line_starts(&bytes);
        let utf8 = std::str::from_utf8(&bytes).is_ok();
        let ascii = bytes.is_ascii();
        let (kept, hidden_comments) = whole_parse_ranges(&bytes);
        let tree = parse_ranges(&bytes, &line_starts, kept.as_deref())?;
        Ok(SourceFile {
            path,
            bytes,
            tree,
            module,
            partial: false,
            skipped: Vec::new(),
            line_starts,
            utf8,
            ascii,
            hidden_comments,
        })
    }

    /// Parses what direct findings need: the whole file, less the top-level sync functions and
    /// classes that hold no coroutine. A file whose partial tree has a syntax error is parsed
    /// again whole, so that errors are reported as they are in the file.
    pub fn parse_for_check(
        path: String,
        bytes: Vec<u8>,
        module: String,
    ) -> Result<SourceFile, String> {
        let bytes = universal_newlines(bytes);
        let relevant = super::chunks::relevant_ranges(&bytes);
        SourceFile::parse_relevant(path, bytes, module, relevant)
    }

    /// Parses what the call graph needs of a module: its outline (imports, assignments, class
    /// headers) and the bodies of the `wanted` functions (see `chunks::outline_ranges`, also for
    /// `classes_known`).
    pub fn parse_outline(
        path: String,
        bytes: Vec<u8>,
        module: String,
        wanted: &dyn Fn(Option<&str>, &str) -> bool,
        classes_known: bool,
    ) -> Result<SourceFile, String> {
        let bytes = universal_newlines(bytes);
        let relevant = super::chunks::outline_ranges(&bytes, wanted, classes_known);
        SourceFile::parse_relevant(path, bytes, module, relevant)
    }

    /// Parses the kept ranges, or the whole file when there are none or they do not parse.
    fn parse_relevant(
        path: String,
        bytes: Vec<u8>,
        module: String,
        relevant: Option<super::chunks::Relevant>,
    ) -> Result<SourceFile, String> {
        let line_starts = line_starts(&bytes);
        let utf8 = std::str::from_utf8(&bytes).is_ok();
        let ascii = bytes.is_ascii();
        if let Some(relevant) = relevant {
            let tree = parse_ranges(&bytes, &line_starts, Some(&relevant.ranges))?;
            if !tree.root_node().has_error() {
                let skipped = relevant.skipped;
                return Ok(SourceFile {
                    path,
                    bytes,
                    tree,
                    module,
                    partial: true,
                    skipped,
                    line_starts,
                    utf8,
                    ascii,
                    hidden_comments: 0,
                });
            }
            REDONE_WHOLE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        SourceFile::parse(path, bytes, module)
    }

    /// The same parse under another name (the tree is shared, not parsed again).
    pub fn copy_named(&self, path: String, module: String) -> SourceFile {
        SourceFile {
            path,
            bytes: self.bytes.clone(),
            tree: self.tree.clone(),
            module,
            partial: self.partial,
            skipped: self.skipped.clone(),
            utf8: self.utf8,
            ascii: self.ascii,
            hidden_comments: self.hidden_comments,
            line_starts: self.line_starts.clone(),
        }
    }

    pub fn text(&self, node: Node) -> &str {
        let bytes = &self.bytes[node.byte_range()];
        if self.utf8 {
            // SAFETY: the whole file is valid UTF-8 (checked once when it was read), and
            // tree-sitter node boundaries fall between code points.
            unsafe { std::str::from_utf8_unchecked(bytes) }
        } else {
            std::str::from_utf8(bytes).unwrap_or("")
        }
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// 1-based line and character column of a byte offset.
    pub fn position(&self, byte: usize) -> Position {
        let line_index = match self.line_starts.binary_search(&byte) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let line_start = self.line_starts[line_index];
        let prefix = &self.bytes[line_start..byte.min(self.bytes.len())];
        // Counting characters costs the prefix: on one long line holding thousands of
        // findings that is quadratic, so an ASCII file (most) counts bytes.
        let column = if self.ascii {
            prefix.len()
        } else {
            match std::str::from_utf8(prefix) {
                Ok(s) => s.chars().count(),
                Err(_) => prefix.len(),
            }
        };
        Position {
            line: line_index + 1,
            column: column + 1,
        }
    }

    /// The bytes of a 1-based line, without its line ending.
    pub fn line_bytes(&self, line: usize) -> &[u8] {
        let Some(&start) = self.line_starts.get(line.wrapping_sub(1)) else {
            return &[];
        };
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.bytes.len());
        let mut text = &self.bytes[start..end];
        while let [rest @ .., b'\n' | b'\r'] = text {
            text = rest;
        }
        text
    }

    /// The comments in the file: those in the tree and those the parse left out of it.
    pub fn comment_count(&self) -> usize {
        let mut count = self.hidden_comments;
        walk_tree(self.tree.root_node(), |event| {
            if let Visit::Enter(node) = event {
                count += usize::from(node.kind() == "comment");
            }
            true
        });
        count
    }

    /// The first syntax error tree-sitter found, as a 1-based line, if any.
    pub fn first_error_line(&self) -> Option<usize> {
        let root = self.tree.root_node();
        if !root.has_error() {
            return None;
        }
        // `has_error` marks the way down to most errors; some recoveries leave no mark on the
        // path, so the whole tree is searched when the marked path finds nothing.
        let mut first: Option<usize> = None;
        for follow_marks in [true, false] {
            walk_tree(root, |event| {
                let Visit::Enter(node) = event else {
                    return true;
                };
                if first.is_some() {
                    return false;
                }
                if node.is_error() || node.is_missing() {
                    first = Some(node.start_position().row + 1);
                    return false;
                }
                !follow_marks || node.has_error()
            });
            if first.is_some() {
                break;
            }
        }
        Some(first.unwrap_or(1))
    }
}

/// The bytes with CR-only line endings (classic Mac OS, which CPython still reads) made LF,
/// byte for byte, so every offset stays where it was; other files unchanged. Every line scan
/// in the engine looks for `\n`. See [`restore_line_endings`] for the way back.
pub fn universal_newlines(mut bytes: Vec<u8>) -> Vec<u8> {
    if uses_cr_only(&bytes) {
        for byte in &mut bytes {
            if *byte == b'\r' {
                *byte = b'\n';
            }
        }
    }
    bytes
}

/// `fixed`, made from a file with [`universal_newlines`], given the line endings of
/// `original` again.
pub fn restore_line_endings(original: &[u8], mut fixed: Vec<u8>) -> Vec<u8> {
    if uses_cr_only(original) {
        for byte in &mut fixed {
            if *byte == b'\n' {
                *byte = b'\r';
            }
        }
    }
    fixed
}

fn uses_cr_only(bytes: &[u8]) -> bool {
    memchr::memchr(b'\n', bytes).is_none() && memchr::memchr(b'\r', bytes).is_some()
}

/// The line ending for lines a fix adds: the file's own.
pub fn line_ending(bytes: &[u8]) -> &'static str {
    if memchr::memmem::find(bytes, b"\r\n").is_some() {
        "\r\n"
    } else {
        "\n"
    }
}

fn line_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(memchr::memchr_iter(b'\n', bytes).map(|i| i + 1));
    starts
}

/// What a whole parse hands to tree-sitter (`None`: everything), and how many comment lines
/// it leaves out.
fn whole_parse_ranges(bytes: &[u8]) -> (Option<Vec<std::ops::Range<usize>>>, usize) {
    let (hidden, hidden_comments) = super::chunks::comment_run_interiors(bytes);
    let kept = (!hidden.is_empty()).then(|| complement(&hidden, bytes.len()));
    (kept, hidden_comments)
}

/// The byte ranges of `0..len` outside `holes` (sorted, disjoint).
fn complement(holes: &[std::ops::Range<usize>], len: usize) -> Vec<std::ops::Range<usize>> {
    let mut kept = Vec::with_capacity(holes.len() + 1);
    let mut at = 0;
    for hole in holes {
        kept.push(at..hole.start);
        at = hole.end;
    }
    kept.push(at..len);
    kept
}

/// What was handed to tree-sitter so far: (parses, bytes, partial parses redone whole). A
/// development aid for the speed bar, printed with `UNBLOCK_TIMINGS`.
pub fn parse_counters() -> (usize, usize, usize) {
    use std::sync::atomic::Ordering::Relaxed;
    (
        PARSES.load(Relaxed),
        PARSED_BYTES.load(Relaxed),
        REDONE_WHOLE.load(Relaxed),
    )
}

static PARSES: AtomicUsize = AtomicUsize::new(0);
static PARSED_BYTES: AtomicUsize = AtomicUsize::new(0);
static REDONE_WHOLE: AtomicUsize = AtomicUsize::new(0);

fn parse_ranges(
    bytes: &[u8],
    line_starts: &[usize],
    ranges: Option<&[std::ops::Range<usize>]>,
) -> Result<Tree, String> {
    let size = ranges.map_or(bytes.len(), |r| r.iter().map(|r| r.len()).sum());
    PARSES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    PARSED_BYTES.fetch_add(size, std::sync::atomic::Ordering::Relaxed);
    parser_for(line_starts, ranges)?
        .parse(bytes, None)
        .ok_or_else(|| "the parser gave up on this file".to_string())
}

/// A Python parser that reads only `ranges` (all when `None`) of a text with these line starts.
fn parser_for(
    line_starts: &[usize],
    ranges: Option<&[std::ops::Range<usize>]>,
) -> Result<Parser, String> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .map_err(|e| format!("cannot load the Python grammar: {e}"))?;
    if let Some(ranges) = ranges {
        let point = |byte: usize| {
            let row = match line_starts.binary_search(&byte) {
                Ok(i) => i,
                Err(i) => i - 1,
            };
            Point {
                row,
                column: byte - line_starts[row],
            }
        };
        let ranges: Vec<tree_sitter::Range> = ranges
            .iter()
            .map(|r| tree_sitter::Range {
                start_byte: r.start,
                end_byte: r.end,
                start_point: point(r.start),
                end_point: point(r.end),
            })
            .collect();
        parser
            .set_included_ranges(&ranges)
            .map_err(|e| format!("cannot parse parts of the file: {e:?}"))?;
    }
    Ok(parser)
}

/// Depth-first visit without recursion: deeply nested expressions must not overflow the stack.
pub enum Visit<'t> {
    Enter(Node<'t>),
    Leave(Node<'t>),
}

pub fn walk_tree<'t>(root: Node<'t>, mut visit: impl FnMut(Visit<'t>) -> bool) {
    let mut cursor = root.walk();
    // Depth below `root`: cheaper than comparing the cursor's node with `root` at every step.
    let mut depth = 0usize;
    let mut entered = 0u64;
    loop {
        let node = cursor.node();
        entered += 1;
        let descend = visit(Visit::Enter(node));
        if descend && cursor.goto_first_child() {
            depth += 1;
            continue;
        }
        // A skipped subtree still gets its Leave, so callers can keep stacks balanced.
        visit(Visit::Leave(node));
        loop {
            if depth == 0 {
                super::work::count(entered);
                return;
            }
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                super::work::count(entered);
                return;
            }
            depth -= 1;
            visit(Visit::Leave(cursor.node()));
        }
    }
}

/// A nested `def`, `lambda` or `class` below `root`: its code does not run when `root`'s does.
fn runs_elsewhere(node: Node, root: Node) -> bool {
    node != root
        && matches!(
            node.kind(),
            "function_definition" | "lambda" | "class_definition"
        )
}

/// Like [`walk_same_function`], with each node's ancestors up to `root` (innermost last).
/// `Node::parent` re-walks the tree from its root, which is quadratic on a module with many
/// siblings; the ancestors collected on the way down cost nothing.
pub fn walk_same_function_with_ancestors<'t>(
    root: Node<'t>,
    mut visit: impl FnMut(Node<'t>, &[Node<'t>]),
) {
    let mut ancestors: Vec<Node<'t>> = Vec::new();
    walk_tree(root, |event| match event {
        Visit::Enter(node) => {
            if runs_elsewhere(node, root) {
                return false;
            }
            visit(node, &ancestors);
            ancestors.push(node);
            true
        }
        Visit::Leave(node) => {
            if ancestors.last() == Some(&node) {
                ancestors.pop();
            }
            true
        }
    });
}

/// Visits the nodes under `root` that run in the same function: nested `def`, `lambda` and
/// `class` bodies are skipped, because code there does not run when `root`'s code runs.
pub fn walk_same_function<'t>(root: Node<'t>, mut visit: impl FnMut(Node<'t>)) {
    walk_tree(root, |event| match event {
        Visit::Enter(node) => {
            if runs_elsewhere(node, root) {
                return false;
            }
            visit(node);
            true
        }
        Visit::Leave(_) => true,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SourceFile {
        SourceFile::parse("t.py".into(), text.as_bytes().to_vec(), "t".into()).unwrap()
    }

    /// The characters tree-sitter's lexer (its scanner included) steps over in a whole parse,
    /// read from the parser's log.
    fn lexer_steps(text: &str) -> usize {
        let bytes = text.as_bytes();
        let (ranges, _) = whole_parse_ranges(bytes);
        let mut parser = parser_for(&line_starts(bytes), ranges.as_deref()).unwrap();
        let steps = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = steps.clone();
        parser.set_logger(Some(Box::new(move |kind, message| {
            if kind == tree_sitter::LogType::Lex
                && (message.starts_with("skip character")
                    || message.starts_with("consume character"))
            {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })));
        assert!(parser.parse(bytes, None).is_some());
        steps.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[test]
    fn a_run_of_comment_lines_costs_the_parser_in_proportion_to_its_length() {
        // At each comment of a run, the grammar's indentation scanner reads to the end of the
        // run: the parse leaves the middle of the run out, or its cost is quadratic.
        let shape = |n: usize, indent: &str| {
            let run: String = (0..n).map(|i| format!("{indent}# comment {i}\n")).collect();
            format!("async def f():\n    x = 1\n{run}    y = 2\n")
        };
        for indent in ["", "    "] {
            let (small, large) = (
                lexer_steps(&shape(300, indent)),
                lexer_steps(&shape(1200, indent)),
            );
            assert!(small > 0);
            assert!(
                large as f64 <= 4.5 * small as f64,
                "{small} lexer steps for 300 comment lines, {large} for 1200"
            );
        }
    }

    #[test]
    fn comments_left_out_of_a_whole_parse_are_still_counted_and_keep_their_block() {
        let text = "async def f():\n    x = 1\n    # a\n\n    # b\n    # c\n    # d\n# e\ny = 2\n";
        let f = file(text);
        assert!(!f.tree.root_node().has_error());
        assert_eq!(f.hidden_comments, 2);
        assert_eq!(f.comment_count(), 5);
        // The run indented as the body stays in the function, as in a parse of every line.
        let function = f.tree.root_node().named_child(0).unwrap();
        let body_end = function.child_by_field_name("body").unwrap().end_byte();
        assert_eq!(body_end, text.find("# d").unwrap() + 3);
        // Comments indented differently are runs of their own.
        let mixed = file("x = 1\n# a\n    # b\n# c\n");
        assert_eq!((mixed.hidden_comments, mixed.comment_count()), (0, 3));
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        let f = file("x = 'é'; y = 1\n");
        let y = f.bytes.iter().position(|&b| b == b'y').unwrap();
        assert_eq!(
            f.position(y),
            Position {
                line: 1,
                column: 10
            }
        );
    }

    #[test]
    fn walk_visits_every_node_once_and_balances() {
        let f = file("def f(a):\n    return g(a, [b for b in c])\n");
        let (mut enters, mut leaves) = (0, 0);
        walk_tree(f.tree.root_node(), |e| {
            match e {
                Visit::Enter(_) => enters += 1,
                Visit::Leave(_) => leaves += 1,
            }
            true
        });
        assert_eq!(enters, leaves);
        assert!(enters > 10);
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let depth = 10_000;
        let text = format!("x = {}1{}\n", "(".repeat(depth), ")".repeat(depth));
        let f = file(&text);
        let mut n = 0;
        walk_tree(f.tree.root_node(), |_| {
            n += 1;
            true
        });
        assert!(n > depth);
    }

    #[test]
    fn cr_only_line_endings_are_lines_and_keep_every_offset() {
        let text = b"import time\r\rasync def f():\r    time.sleep(1)\r";
        let f = SourceFile::parse("t.py".into(), text.to_vec(), "t".into()).unwrap();
        assert!(!f.tree.root_node().has_error());
        assert_eq!(f.bytes.len(), text.len());
        let call = text.windows(10).position(|w| w == b"time.sleep").unwrap();
        assert_eq!(f.position(call), Position { line: 4, column: 5 });
        assert_eq!(restore_line_endings(text, f.bytes.clone()), text);
        // A file that has `\n` anywhere is left as it is.
        assert_eq!(universal_newlines(b"a\rb\n".to_vec()), b"a\rb\n");
    }

    #[test]
    fn line_bytes_strip_crlf() {
        let f = file("a = 1\r\nb = 2\r\n");
        assert_eq!(f.line_bytes(2), b"b = 2");
        assert_eq!(f.line_bytes(9), b"");
    }
}

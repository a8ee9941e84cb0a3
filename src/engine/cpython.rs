//! CPython as the judge of what the fixer writes and of the files it is about to rewrite.
//!
//! tree-sitter recovers from what CPython rejects (`await await x`, a statement indented deeper
//! than its block, `await` in a plain `def`), so a file it accepts may still not import. When a
//! Python 3 interpreter is found (`$UNBLOCK_PYTHON`, else `python3`, else `python`), one process
//! is started on first use and kept for the whole run; each source goes to it length-prefixed
//! on stdin and our script (`judge.py`) answers whether `compile` accepts it (and `ast.parse`
//! with the target version's `feature_version`). Without an interpreter the judge says so
//! once, and the fixer keeps its tree-sitter checks plus [`lenient_spots`], the explicit checks
//! for where tree-sitter is lenient.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use super::source::{walk_tree, SourceFile, Visit};

const SCRIPT: &str = include_str!("judge.py");

/// Why CPython rejects a source: its line (1-based; 0 when it gives none) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// Valid Python, but not for the target version the judge was made for.
    TooNew(Rejection),
    Rejected(Rejection),
}

/// The interpreter process, once started (or why there is none).
enum State {
    NotStarted,
    Running(Interpreter),
    Unavailable(String),
}

struct Interpreter {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    minor: u8,
}

pub struct Judge {
    /// Interpreters to try, in order.
    candidates: Vec<String>,
    /// The target version's minor (`py38` → 8): sources are also parsed with that
    /// `feature_version`, so that a rewrite cannot bring in syntax the target lacks.
    target_minor: Option<u8>,
    state: Mutex<State>,
    /// Verdicts remembered from earlier runs (the summary cache), by source hash.
    remembered: Option<Remembered>,
    /// Sources judged ahead, while the check still runs (see [`Judge::judge_ahead`]).
    ahead: Mutex<Option<Ahead>>,
}

/// The thread judging sources ahead, and the way to hand it more.
struct Ahead {
    sources: std::sync::mpsc::Sender<Vec<u8>>,
    worker: std::thread::JoinHandle<()>,
}

/// The summary cache's verdicts for this judge's interpreter and target.
struct Remembered {
    cache: std::sync::Arc<super::cache::Cache>,
    identity: u64,
    verdicts: Mutex<std::collections::HashMap<u64, super::cache::CachedVerdict>>,
    /// Verdicts were added this run: written back when the judge goes.
    added: std::sync::atomic::AtomicBool,
}

impl Judge {
    /// The judge with the interpreter the environment names: `$UNBLOCK_PYTHON` alone when it
    /// is set, else `python3`, then `python` on PATH. Nothing starts until the first source.
    pub fn from_environment(target_version: Option<&str>) -> Judge {
        let candidates = match std::env::var("UNBLOCK_PYTHON") {
            Ok(named) if !named.is_empty() => vec![named],
            _ => vec!["python3".into(), "python".into()],
        };
        Judge::with_candidates(candidates, target_version)
    }

    pub fn with_candidates(candidates: Vec<String>, target_version: Option<&str>) -> Judge {
        Judge {
            candidates,
            target_minor: target_version
                .and_then(|v| v.strip_prefix("py3"))
                .and_then(|minor| minor.parse().ok()),
            state: Mutex::new(State::NotStarted),
            remembered: None,
            ahead: Mutex::new(None),
        }
    }

    /// Remembers verdicts in the summary cache: a source judged by an earlier run with the
    /// same interpreter (found by name on PATH, the same file, size and modification time)
    /// and target is not sent again, and a run that needs no new verdict starts no
    /// interpreter. Without an interpreter to name, nothing is remembered.
    pub fn remembering(mut self, cache: std::sync::Arc<super::cache::Cache>) -> Judge {
        let mut parts: Vec<String> = vec![format!("{:?}", self.target_minor)];
        for program in &self.candidates {
            let found = if program.contains(std::path::MAIN_SEPARATOR) {
                Some(std::path::PathBuf::from(program))
            } else {
                std::env::var_os("PATH").and_then(|path| {
                    std::env::split_paths(&path)
                        .map(|dir| dir.join(program))
                        .find(|candidate| candidate.is_file())
                })
            };
            let Some(meta) = found
                .as_ref()
                .and_then(|f| std::fs::canonicalize(f).ok())
                .and_then(|f| Some((std::fs::metadata(&f).ok()?, f)))
            else {
                continue;
            };
            let modified = meta
                .0
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            parts.push(format!(
                "{program}={}:{}:{modified}",
                meta.1.display(),
                meta.0.len()
            ));
        }
        if parts.len() == 1 {
            return self;
        }
        let identity = super::cache::fingerprint(parts.iter().map(|p| p.as_bytes()));
        let verdicts = cache.load_verdicts(identity);
        self.remembered = Some(Remembered {
            cache,
            identity,
            verdicts: Mutex::new(verdicts),
            added: Default::default(),
        });
        self
    }

    /// Why CPython does not judge this run (no Python 3 found, or it stopped answering), once
    /// a source was asked about; `None` while it judges or before it was needed.
    pub fn unavailable(&self) -> Option<String> {
        match &*self.state.lock().unwrap() {
            State::Unavailable(why) => Some(why.clone()),
            _ => None,
        }
    }

    pub fn judge(&self, source: &[u8]) -> Option<Verdict> {
        self.judge_all(&[source]).map(|mut v| v.remove(0))
    }

    /// Judges `source` on a thread of its own while the run goes on, and remembers the
    /// verdict: a file the check found a finding in is judged afterwards, and starting CPython
    /// then was about half of a run after one file changed. Only with remembered verdicts
    /// (without them the verdict would be asked again); [`Judge::judge_all`] waits for these.
    pub fn judge_ahead(self: &std::sync::Arc<Self>, source: Vec<u8>) {
        if self.remembered.is_none() {
            return;
        }
        let mut ahead = self.ahead.lock().unwrap();
        let ahead = ahead.get_or_insert_with(|| {
            let (sender, receiver) = std::sync::mpsc::channel::<Vec<u8>>();
            // Weak: a judge nobody holds any more judges nothing ahead.
            let judge = std::sync::Arc::downgrade(self);
            let worker = std::thread::spawn(move || {
                for source in receiver {
                    let Some(judge) = judge.upgrade() else {
                        break;
                    };
                    judge.judge_remembering(&[&source]);
                }
            });
            Ahead {
                sources: sender,
                worker,
            }
        });
        let _ = ahead.sources.send(source);
    }

    /// Waits until the sources handed to [`Judge::judge_ahead`] are judged.
    fn wait_ahead(&self) {
        let ahead = self.ahead.lock().unwrap().take();
        if let Some(Ahead { sources, worker }) = ahead {
            drop(sources);
            if worker.thread().id() != std::thread::current().id() {
                let _ = worker.join();
            }
        }
    }

    /// CPython's verdict on each source, in order, from one process; `None` when there is no
    /// interpreter (see [`Judge::unavailable`]).
    pub fn judge_all(&self, sources: &[&[u8]]) -> Option<Vec<Verdict>> {
        self.wait_ahead();
        self.judge_remembering(sources)
    }

    /// [`Judge::judge_all`], not waiting for the sources judged ahead.
    fn judge_remembering(&self, sources: &[&[u8]]) -> Option<Vec<Verdict>> {
        let Some(remembered) = &self.remembered else {
            return self.judge_fresh(sources);
        };
        use super::cache::CachedVerdict;
        let hashes: Vec<u64> = sources
            .iter()
            .map(|s| super::cache::content_hash(s))
            .collect();
        let known = remembered.verdicts.lock().unwrap().clone();
        let unknown: Vec<&[u8]> = sources
            .iter()
            .zip(&hashes)
            .filter(|(_, h)| !known.contains_key(h))
            .map(|(s, _)| *s)
            .collect();
        let mut fresh = self.judge_fresh(&unknown)?.into_iter();
        let mut verdicts = remembered.verdicts.lock().unwrap();
        let mut out = Vec::with_capacity(sources.len());
        for hash in hashes {
            let verdict = match verdicts.get(&hash) {
                Some(CachedVerdict::Accepted) => Verdict::Accepted,
                Some(CachedVerdict::TooNew(line, message)) => Verdict::TooNew(Rejection {
                    line: *line,
                    message: message.clone(),
                }),
                Some(CachedVerdict::Rejected(line, message)) => Verdict::Rejected(Rejection {
                    line: *line,
                    message: message.clone(),
                }),
                None => {
                    let verdict = fresh.next()?;
                    let stored = match &verdict {
                        Verdict::Accepted => CachedVerdict::Accepted,
                        Verdict::TooNew(r) => CachedVerdict::TooNew(r.line, r.message.clone()),
                        Verdict::Rejected(r) => CachedVerdict::Rejected(r.line, r.message.clone()),
                    };
                    verdicts.insert(hash, stored);
                    remembered
                        .added
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    verdict
                }
            };
            out.push(verdict);
        }
        Some(out)
    }

    /// CPython's verdicts, asked of the interpreter.
    fn judge_fresh(&self, sources: &[&[u8]]) -> Option<Vec<Verdict>> {
        // A clean run starts no interpreter.
        if sources.is_empty() {
            return Some(Vec::new());
        }
        let mut state = self.state.lock().unwrap();
        if let State::NotStarted = *state {
            *state = self.start();
        }
        let State::Running(interpreter) = &mut *state else {
            return None;
        };
        let minor = self
            .target_minor
            .filter(|&target| target < interpreter.minor)
            .unwrap_or(0);
        match interpreter.exchange(sources, minor) {
            Ok(verdicts) => Some(verdicts),
            Err(why) => {
                let _ = interpreter.child.kill();
                let _ = interpreter.child.wait();
                *state = State::Unavailable(format!("the CPython judge stopped: {why}"));
                None
            }
        }
    }

    fn start(&self) -> State {
        let mut tried = Vec::new();
        for program in &self.candidates {
            match Interpreter::start(program) {
                Ok(interpreter) => return State::Running(interpreter),
                Err(why) => tried.push(format!("{program}: {why}")),
            }
        }
        State::Unavailable(format!(
            "no Python 3 interpreter for CPython to judge the files and rewrites ({}); tree-sitter's checks only",
            tried.join("; ")
        ))
    }
}

impl Drop for Judge {
    fn drop(&mut self) {
        self.wait_ahead();
        if let Some(remembered) = &self.remembered {
            if remembered.added.load(std::sync::atomic::Ordering::Relaxed) {
                remembered
                    .cache
                    .store_verdicts(remembered.identity, &remembered.verdicts.lock().unwrap());
            }
        }
        if let State::Running(interpreter) = &mut *self.state.lock().unwrap() {
            // Closing stdin ends its loop; kill in case it is stuck.
            let _ = interpreter.child.kill();
            let _ = interpreter.child.wait();
        }
    }
}

impl Interpreter {
    fn start(program: &str) -> Result<Interpreter, String> {
        // -I: no PYTHON* variables, user site or current folder on sys.path; -S: no site
        // import. The script needs only `ast` and starts faster.
        let mut child = Command::new(program)
            .args(["-I", "-S", "-c", SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdin = child.stdin.take().expect("piped");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut greeting = String::new();
        let read = stdout.read_line(&mut greeting);
        let minor = greeting
            .strip_prefix("unblock-judge 3 ")
            .and_then(|minor| minor.trim().parse().ok());
        match (read, minor) {
            (Ok(_), Some(minor)) => Ok(Interpreter {
                child,
                stdin,
                stdout,
                minor,
            }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                let said = greeting.trim();
                Err(if said.is_empty() {
                    "did not start the judge (Python 3.8 or newer needed)".into()
                } else {
                    format!("not Python 3 ({said})")
                })
            }
        }
    }

    /// Sends every source, then reads every answer. The sources are written from a second
    /// thread: the answers come while they are still being sent, and a full pipe either way
    /// must not stop both sides.
    fn exchange(&mut self, sources: &[&[u8]], minor: u8) -> Result<Vec<Verdict>, String> {
        let stdin = &mut self.stdin;
        let stdout = &mut self.stdout;
        std::thread::scope(|scope| {
            let writer = scope.spawn(move || -> std::io::Result<()> {
                for source in sources {
                    writeln!(stdin, "{minor} {}", source.len())?;
                    stdin.write_all(source)?;
                }
                stdin.flush()
            });
            let mut verdicts = Vec::with_capacity(sources.len());
            let mut line = String::new();
            for _ in sources {
                line.clear();
                match stdout.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => verdicts.push(parse_answer(&line)),
                }
            }
            let written = writer.join().expect("the writer does not panic");
            match (written, verdicts.len() == sources.len()) {
                (Ok(()), true) => Ok(verdicts),
                (Err(e), _) => Err(e.to_string()),
                (Ok(()), false) => Err("it exited before answering".into()),
            }
        })
    }
}

fn parse_answer(line: &str) -> Verdict {
    let line = line.trim_end();
    let mut parts = line.splitn(3, ' ');
    let kind = parts.next().unwrap_or_default();
    let mut rejection = || Rejection {
        line: parts.next().and_then(|n| n.parse().ok()).unwrap_or(0),
        message: parts.next().unwrap_or_default().to_string(),
    };
    match kind {
        "ok" => Verdict::Accepted,
        "newer" => Verdict::TooNew(rejection()),
        _ => Verdict::Rejected(rejection()),
    }
}

/// A file as it was before any fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Original {
    /// CPython compiles it, or, without an interpreter, no check finds a fault.
    Valid,
    /// CPython compiles it, but not with the target version's grammar: the file already needs
    /// a newer Python, so rewrites are not held to the target either.
    NeedsNewerPython,
    /// Why it does not compile, and who says so (`CPython` or `tree-sitter`).
    Invalid(Rejection, &'static str),
}

/// Each source as it is, judged in one batch by CPython when there is an interpreter, else
/// by tree-sitter: its first error, or the first of [`lenient_spots`].
pub fn judge_originals(judge: Option<&Judge>, sources: &[&[u8]]) -> Vec<Original> {
    if let Some(verdicts) = judge.and_then(|judge| judge.judge_all(sources)) {
        return verdicts
            .into_iter()
            .map(|verdict| match verdict {
                Verdict::Accepted => Original::Valid,
                Verdict::TooNew(_) => Original::NeedsNewerPython,
                Verdict::Rejected(rejection) => Original::Invalid(rejection, "CPython"),
            })
            .collect();
    }
    sources
        .iter()
        .map(|source| {
            let Ok(file) = SourceFile::parse(String::new(), source.to_vec(), String::new()) else {
                return Original::Valid;
            };
            let error = file.first_error_line().map(|line| Rejection {
                line,
                message: "invalid syntax".into(),
            });
            match error.or_else(|| lenient_spots(&file).into_iter().next()) {
                Some(rejection) => Original::Invalid(rejection, "tree-sitter"),
                None => Original::Valid,
            }
        })
        .collect()
}

/// What CPython rejects and tree-sitter recovers from without an error node, found without an
/// interpreter: `await await x` (CPython needs `await (await x)`), Python 2's `print` and
/// `exec` statements, and a statement indented
/// differently from the statements before it in its block (an unexpected indent or a dedent
/// to no outer level: tree-sitter keeps it in the block). By line.
pub fn lenient_spots(file: &SourceFile) -> Vec<Rejection> {
    let mut found: Vec<Rejection> = Vec::new();
    let root = file.tree.root_node();
    walk_tree(root, |event| {
        let Visit::Enter(node) = event else {
            return true;
        };
        match node.kind() {
            "await"
                if node.is_named()
                    && node
                        .named_child(0)
                        .is_some_and(|operand| operand.kind() == "await") =>
            {
                found.push(Rejection {
                    line: node.start_position().row + 1,
                    message: "invalid syntax (`await await`)".into(),
                });
            }
            // The grammar still reads Python 2's statements. `print >> f, x` and a bare
            // `print` are Python 3 expressions too.
            "print_statement" | "exec_statement" if python2_only(node) => {
                let name = if node.kind() == "print_statement" {
                    "print"
                } else {
                    "exec"
                };
                found.push(Rejection {
                    line: node.start_position().row + 1,
                    message: format!("Missing parentheses in call to '{name}' (Python 2)"),
                });
            }
            "block" | "module" => {
                if let Some(line) = inconsistent_indent(file, node) {
                    found.push(Rejection {
                        line,
                        message: "unexpected indent (or unindent to no outer level)".into(),
                    });
                }
            }
            _ => {}
        }
        true
    });
    found.sort_by_key(|r| r.line);
    found
}

fn python2_only(statement: tree_sitter::Node) -> bool {
    let mut cursor = statement.walk();
    let parts: Vec<&str> = statement
        .named_children(&mut cursor)
        .map(|n| n.kind())
        .filter(|kind| *kind != "comment")
        .collect();
    !parts.is_empty() && !parts.contains(&"chevron")
}

/// The line of the first statement of `block` that starts its line with other indentation
/// than the block's first such statement (the module's: none).
fn inconsistent_indent(file: &SourceFile, block: tree_sitter::Node) -> Option<usize> {
    let mut expected: Option<&[u8]> = (block.kind() == "module").then_some(b"".as_slice());
    let mut cursor = block.walk();
    for statement in block.named_children(&mut cursor) {
        if statement.kind() == "comment" {
            continue;
        }
        let start = statement.start_byte();
        let line_start = file.bytes[..start]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let indent = &file.bytes[line_start..start];
        // A statement after `;` or on its header's line (`if x: y`) has no indentation.
        if !indent
            .iter()
            .all(|&b| b == b' ' || b == b'\t' || b == b'\x0c')
        {
            continue;
        }
        // The BOM belongs to no indentation.
        let indent = indent.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(indent);
        match expected {
            None => expected = Some(indent),
            Some(expected) if expected != indent => {
                return Some(statement.start_position().row + 1)
            }
            Some(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(source: &str) -> SourceFile {
        SourceFile::parse("m.py".into(), source.as_bytes().to_vec(), "m".into()).unwrap()
    }

    fn judge() -> Judge {
        let judge = Judge::from_environment(None);
        assert!(
            judge.judge(b"x = 1\n").is_some(),
            "the tests need a Python 3 on PATH: {:?}",
            judge.unavailable()
        );
        judge
    }

    #[test]
    fn cpython_rejects_what_tree_sitter_accepts() {
        let judge = judge();
        let sources: [&[u8]; 5] = [
            b"async def f():\n    await await x\n",
            b"def f():\n    await x\n",
            b"async def f():\n    time.sleep(1)\n      time.sleep(2)\n",
            b"def f():\n    nonlocal y\n",
            b"async def f():\n    await (await x)\n",
        ];
        for source in &sources[..4] {
            assert!(
                !parse(std::str::from_utf8(source).unwrap())
                    .tree
                    .root_node()
                    .has_error(),
                "tree-sitter is lenient here"
            );
        }
        let verdicts = judge.judge_all(&sources).unwrap();
        let rejected = |line, message: &str| {
            Verdict::Rejected(Rejection {
                line,
                message: message.into(),
            })
        };
        assert_eq!(
            verdicts,
            vec![
                rejected(2, "invalid syntax"),
                rejected(2, "'await' outside async function"),
                rejected(3, "unexpected indent"),
                rejected(2, "no binding for nonlocal 'y' found"),
                Verdict::Accepted,
            ]
        );
        // The same process answers again.
        assert_eq!(judge.judge(b"pass\n"), Some(Verdict::Accepted));
    }

    #[test]
    fn a_target_version_tells_newer_syntax_from_errors() {
        let judge = Judge::from_environment(Some("py38"));
        let verdict = judge
            .judge(b"match x:\n    case 1:\n        pass\n")
            .unwrap();
        assert!(
            matches!(&verdict, Verdict::TooNew(r) if r.message.contains("3.10")),
            "{verdict:?}"
        );
        assert_eq!(judge.judge(b"(y := 1)\n"), Some(Verdict::Accepted));
    }

    #[test]
    fn sources_larger_than_a_pipe_buffer_go_in_one_batch() {
        let judge = judge();
        let big = "x = 1\n".repeat(40_000);
        let broken = format!("{big}def f(:\n");
        let verdicts = judge
            .judge_all(&[big.as_bytes(), broken.as_bytes(), big.as_bytes()])
            .unwrap();
        assert_eq!(verdicts[0], Verdict::Accepted);
        assert!(matches!(&verdicts[1], Verdict::Rejected(r) if r.line == 40_001));
        assert_eq!(verdicts[2], Verdict::Accepted);
    }

    #[test]
    fn no_interpreter_is_said_and_judges_nothing() {
        let judge = Judge::with_candidates(vec!["/nonexistent/python3".into()], None);
        assert_eq!(judge.judge_all(&[]), Some(Vec::new()));
        assert_eq!(
            judge.unavailable(),
            None,
            "nothing is started before a source"
        );
        assert_eq!(judge.judge(b"x = 1\n"), None);
        let why = judge.unavailable().unwrap();
        assert!(why.contains("/nonexistent/python3"), "{why}");
        // Something that is not Python at all.
        let judge = Judge::with_candidates(vec!["true".into()], None);
        assert_eq!(judge.judge(b"x = 1\n"), None);
        assert!(judge.unavailable().unwrap().contains("true:"));
    }

    #[test]
    fn lenient_spots_are_found_without_an_interpreter() {
        let spot = |source: &str| lenient_spots(&parse(source)).first().map(|r| r.line);
        assert_eq!(spot("async def f():\n    await await x\n"), Some(2));
        assert_eq!(spot("async def f():\n    await (await x)\n"), None);
        assert_eq!(
            spot("async def f():\n    time.sleep(1)\n      time.sleep(2)\n"),
            Some(3)
        );
        assert_eq!(spot("if x:\n        a()\n    b()\n"), Some(3));
        assert_eq!(spot("  x = 1\n"), Some(1));
        assert_eq!(spot("async def f():\n    print \"x\"\n"), Some(2));
        assert_eq!(spot("exec \"x = 1\"\n"), Some(1));
        assert_eq!(
            spot("print(\"x\")\nexec(\"x = 1\")\nprint >> sys.stderr, \"x\"\nprint\n"),
            None
        );
        // Consistent files, with the shapes that have no indentation of their own.
        assert_eq!(
            spot("\u{feff}import os\nif x: y()\nelse:\n    a(); b()\n    # c\n  # d\n    e = [\n  1]\n"),
            None
        );
        assert_eq!(spot("def f():\n\tif x:\n\t\tpass\n\treturn 1\n"), None);
    }
}

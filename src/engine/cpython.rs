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

use super::cache::InterpreterFile;
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
    /// The executable that answers (its `sys.executable`), when it names one.
    executable: Option<InterpreterFile>,
}

pub struct Judge {
    /// Interpreters to try, in order.
    candidates: Vec<String>,
    /// The target version's minor (`py38` → 8): sources are also parsed with that
    /// `feature_version`, so that a rewrite cannot bring in syntax the target lacks.
    target_minor: Option<u8>,
    state: Mutex<State>,
    /// Every verdict known, by source hash: given this run (a source is sent once), or
    /// remembered from earlier runs.
    verdicts: Mutex<std::collections::HashMap<u64, super::cache::CachedVerdict>>,
    /// Where verdicts are remembered between runs (the summary cache).
    remembered: Option<Remembered>,
    /// Sources judged ahead, while the check still runs (see [`Judge::judge_ahead`]).
    ahead: Mutex<Option<Ahead>>,
    /// When its work happened (see [`Judge::timeline`]).
    created: std::time::Instant,
    timeline: Mutex<Timeline>,
}

/// When the judge's work happened, from its creation: what a run after one changed file
/// waits for at its end.
#[derive(Default)]
struct Timeline {
    first_ahead: Option<std::time::Duration>,
    ready: Option<std::time::Duration>,
    last_verdict: Option<std::time::Duration>,
    sent: usize,
    bytes: usize,
}

/// The thread judging sources ahead, and the way to hand it more.
struct Ahead {
    sources: std::sync::mpsc::Sender<Vec<u8>>,
    worker: std::thread::JoinHandle<()>,
}

/// What the summary cache remembers for this judge: which interpreter its candidates ran, and
/// that interpreter's verdicts for the target.
struct Remembered {
    cache: std::sync::Arc<super::cache::Cache>,
    /// What decides which interpreter the candidates run (see [`selection`]).
    selection: u64,
    /// The interpreter an earlier run with the same selection found the candidates to run,
    /// its file unchanged since: started directly, not through a launcher.
    known: Option<InterpreterFile>,
    /// The key of the verdicts loaded ([`Judge::verdicts_key`]): `known`'s at the start,
    /// else, once an interpreter was started, the one that answers.
    loaded_for: Mutex<Option<u64>>,
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
            verdicts: Default::default(),
            remembered: None,
            ahead: Mutex::new(None),
            created: std::time::Instant::now(),
            timeline: Default::default(),
        }
    }

    /// Remembers verdicts in the summary cache, by the interpreter that gave them and the
    /// target: a source judged by an earlier run is not sent again, and a run that needs no
    /// new verdict starts no interpreter. Also remembers which interpreter the candidates ran
    /// (the `sys.executable` of a pyenv or asdf shim's choice), for as long as nothing that
    /// decides it changes ([`selection`]): a later run starts it directly, without the shim's
    /// start-up (tens of milliseconds, paid by every run that judges a file). Without a
    /// candidate to find, nothing is remembered.
    pub fn remembering(mut self, cache: std::sync::Arc<super::cache::Cache>) -> Judge {
        let Some(selection) = selection(&self.candidates) else {
            return self;
        };
        // A remembered interpreter whose file is gone or another is not run: the candidates
        // are, and they say again which one they run.
        let known = cache
            .load_interpreter(selection)
            .filter(InterpreterFile::unchanged);
        let loaded_for = known.as_ref().map(|file| self.verdicts_key(file));
        if let Some(key) = loaded_for {
            *self.verdicts.get_mut().unwrap() = cache.load_verdicts(key);
        }
        self.remembered = Some(Remembered {
            cache,
            selection,
            known,
            loaded_for: Mutex::new(loaded_for),
            added: Default::default(),
        });
        self
    }

    /// The key of the verdicts `interpreter` gives for this judge's target.
    fn verdicts_key(&self, interpreter: &InterpreterFile) -> u64 {
        super::cache::fingerprint([
            format!("{:?}", self.target_minor).as_bytes(),
            interpreter.path.as_os_str().as_encoded_bytes(),
            &interpreter.len.to_le_bytes(),
            &interpreter.modified_ns.to_le_bytes(),
        ])
    }

    /// Why CPython does not judge this run (no Python 3 found, or it stopped answering), once
    /// a source was asked about; `None` while it judges or before it was needed.
    pub fn unavailable(&self) -> Option<String> {
        match &*self.state.lock().unwrap() {
            State::Unavailable(why) => Some(why.clone()),
            _ => None,
        }
    }

    /// When this judge's work happened, from its creation (a development aid, printed with
    /// `UNBLOCK_TIMINGS`): the first source handed over ahead, the interpreter started, the
    /// last verdict; and how much it was sent.
    pub fn timeline(&self) -> String {
        let timeline = self.timeline.lock().unwrap();
        let at = |moment: Option<std::time::Duration>| {
            moment.map_or("-".to_string(), |d| {
                format!("{:.1} ms", d.as_secs_f64() * 1e3)
            })
        };
        format!(
            "judge: {} sources ({} bytes) sent; first handed ahead at {}, interpreter ready at {}, last verdict at {}",
            timeline.sent,
            timeline.bytes,
            at(timeline.first_ahead),
            at(timeline.ready),
            at(timeline.last_verdict)
        )
    }

    pub fn judge(&self, source: &[u8]) -> Option<Verdict> {
        self.judge_all(&[source]).map(|mut v| v.remove(0))
    }

    /// Judges `source` on a thread of its own while the run goes on, and keeps the verdict:
    /// a file the check found a finding in is judged afterwards, and starting CPython then was
    /// about half of a run after one file changed. [`Judge::judge_all`] waits for these.
    pub fn judge_ahead(self: &std::sync::Arc<Self>, source: Vec<u8>) {
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
                    judge.judge_each_once(&[&source]);
                }
            });
            Ahead {
                sources: sender,
                worker,
            }
        });
        let _ = ahead.sources.send(source);
        let mut timeline = self.timeline.lock().unwrap();
        timeline
            .first_ahead
            .get_or_insert_with(|| self.created.elapsed());
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
        self.judge_each_once(sources)
    }

    /// [`Judge::judge_all`], not waiting for the sources judged ahead: the interpreter is
    /// sent only the sources without a verdict yet, each once.
    fn judge_each_once(&self, sources: &[&[u8]]) -> Option<Vec<Verdict>> {
        use super::cache::CachedVerdict;
        let hashes: Vec<u64> = sources
            .iter()
            .map(|s| super::cache::content_hash(s))
            .collect();
        let unknown_hash = |hash: &u64| !self.verdicts.lock().unwrap().contains_key(hash);
        if let Some(remembered) = &self.remembered {
            let loaded = remembered.loaded_for.lock().unwrap().is_some();
            if !loaded && hashes.iter().any(unknown_hash) {
                // Which interpreter answers was not known (first run with these settings): it
                // is started, and the verdicts it gave in earlier runs are used.
                if let Some(key) = self.answering_key() {
                    let mut verdicts = self.verdicts.lock().unwrap();
                    for (hash, verdict) in remembered.cache.load_verdicts(key) {
                        verdicts.entry(hash).or_insert(verdict);
                    }
                    *remembered.loaded_for.lock().unwrap() = Some(key);
                }
            }
        }
        let mut sent = std::collections::HashSet::new();
        let unknown: Vec<(u64, &[u8])> = sources
            .iter()
            .zip(&hashes)
            .filter(|(_, hash)| unknown_hash(hash) && sent.insert(**hash))
            .map(|(source, hash)| (*hash, *source))
            .collect();
        let fresh = self.judge_fresh(&unknown.iter().map(|(_, s)| *s).collect::<Vec<_>>())?;
        let mut verdicts = self.verdicts.lock().unwrap();
        if let (Some(remembered), false) = (&self.remembered, fresh.is_empty()) {
            remembered
                .added
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        for ((hash, _), verdict) in unknown.into_iter().zip(fresh) {
            let kept = match verdict {
                Verdict::Accepted => CachedVerdict::Accepted,
                Verdict::TooNew(r) => CachedVerdict::TooNew(r.line, r.message),
                Verdict::Rejected(r) => CachedVerdict::Rejected(r.line, r.message),
            };
            verdicts.insert(hash, kept);
        }
        let out = hashes
            .iter()
            .map(|hash| match &verdicts[hash] {
                CachedVerdict::Accepted => Verdict::Accepted,
                CachedVerdict::TooNew(line, message) => Verdict::TooNew(Rejection {
                    line: *line,
                    message: message.clone(),
                }),
                CachedVerdict::Rejected(line, message) => Verdict::Rejected(Rejection {
                    line: *line,
                    message: message.clone(),
                }),
            })
            .collect();
        Some(out)
    }

    /// The verdicts' key of the interpreter that answers, started if need be.
    fn answering_key(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap();
        if let State::NotStarted = *state {
            *state = self.start();
        }
        match &*state {
            State::Running(interpreter) => interpreter
                .executable
                .as_ref()
                .map(|file| self.verdicts_key(file)),
            _ => None,
        }
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
        {
            let mut timeline = self.timeline.lock().unwrap();
            timeline.sent += sources.len();
            timeline.bytes += sources.iter().map(|s| s.len()).sum::<usize>();
        }
        let minor = self
            .target_minor
            .filter(|&target| target < interpreter.minor)
            .unwrap_or(0);
        let answered = interpreter.exchange(sources, minor);
        self.timeline.lock().unwrap().last_verdict = Some(self.created.elapsed());
        match answered {
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
        let state = self.start_first_that_answers();
        self.timeline.lock().unwrap().ready = Some(self.created.elapsed());
        state
    }

    fn start_first_that_answers(&self) -> State {
        let mut tried = Vec::new();
        let known = self.remembered.as_ref().and_then(|r| r.known.as_ref());
        if let Some(known) = known {
            // When it fails (removed since it was checked), the candidates are tried.
            if let Ok(interpreter) = Interpreter::start(known.path.as_os_str()) {
                return State::Running(interpreter);
            }
        }
        for program in &self.candidates {
            match Interpreter::start(program.as_ref()) {
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

/// A fingerprint of what decides which interpreter the candidates run; `None` when none of
/// them is found. A candidate is often a launcher that picks the interpreter on each start (a
/// pyenv or asdf shim reads `PYENV_VERSION`, `.python-version` or `.tool-versions` files from
/// the current folder up, a global version file, and what is installed); all of these are in
/// the fingerprint, with each candidate's file as found on `PATH`, `PATH` itself and the
/// current folder, so that a change of any of them makes the next run ask the candidate again.
fn selection(candidates: &[String]) -> Option<u64> {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let path = std::env::var_os("PATH");
    for program in candidates {
        let found = if program.contains(std::path::MAIN_SEPARATOR) {
            Some(std::path::PathBuf::from(program))
        } else {
            path.as_ref().and_then(|path| {
                std::env::split_paths(path)
                    .map(|dir| dir.join(program))
                    .find(|candidate| candidate.is_file())
            })
        };
        // The launcher's own file too: a pyenv update may change how it picks.
        let Some(file) = found
            .as_ref()
            .and_then(|found| std::fs::canonicalize(found).ok())
            .and_then(|real| InterpreterFile::at(&real))
        else {
            continue;
        };
        parts.push(program.as_bytes().to_vec());
        parts.push(
            found
                .unwrap_or_default()
                .into_os_string()
                .into_encoded_bytes(),
        );
        parts.push(file.path.into_os_string().into_encoded_bytes());
        parts.push(file.len.to_le_bytes().to_vec());
        parts.push(file.modified_ns.to_le_bytes().to_vec());
    }
    if parts.is_empty() {
        return None;
    }
    // The launchers' settings (`PYENV_VERSION`, `ASDF_PYTHON_VERSION`, `MISE_*`, an
    // activated virtual environment or conda environment, where they keep their files).
    const SETTINGS: [&str; 11] = [
        "PATH",
        "HOME",
        "XDG_",
        "PYENV",
        "ASDF",
        "MISE",
        "RTX",
        "PYTHON",
        "VIRTUAL_ENV",
        "CONDA",
        "UV_",
    ];
    let mut settings: Vec<(std::ffi::OsString, std::ffi::OsString)> = std::env::vars_os()
        .filter(|(name, _)| {
            let name = name.to_string_lossy();
            SETTINGS.iter().any(|prefix| name.starts_with(prefix))
        })
        .collect();
    settings.sort();
    for (name, value) in settings {
        parts.push(name.into_encoded_bytes());
        parts.push(value.into_encoded_bytes());
    }
    // Version files from the current folder up (the shim looks from where it is started,
    // and the judge is started here), then the global ones.
    const VERSION_FILES: [&str; 9] = [
        ".python-version",
        ".tool-versions",
        ".mise.toml",
        "mise.toml",
        ".mise.local.toml",
        "mise.local.toml",
        ".config/mise.toml",
        ".config/mise/config.toml",
        ".rtx.toml",
    ];
    let mut consulted: Vec<std::path::PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        parts.push(cwd.as_os_str().as_encoded_bytes().to_vec());
        for folder in cwd.ancestors() {
            consulted.extend(VERSION_FILES.iter().map(|name| folder.join(name)));
        }
    }
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let under = |variable: &str, default: &str| {
        std::env::var_os(variable)
            .map(std::path::PathBuf::from)
            .or_else(|| home.as_ref().map(|home| home.join(default)))
    };
    let pyenv = under("PYENV_ROOT", ".pyenv");
    let asdf = under("ASDF_DATA_DIR", ".asdf");
    let mise = under("MISE_DATA_DIR", ".local/share/mise");
    let config = under("XDG_CONFIG_HOME", ".config");
    for global in [
        pyenv.as_ref().map(|root| root.join("version")),
        pyenv.as_ref().map(|root| root.join("global")),
        pyenv.as_ref().map(|root| root.join("default")),
        home.as_ref().map(|home| home.join(".tool-versions")),
        config
            .as_ref()
            .map(|config| config.join("mise/config.toml")),
    ]
    .into_iter()
    .flatten()
    {
        consulted.push(global);
    }
    for file in consulted {
        if let Ok(text) = std::fs::read(&file) {
            parts.push(file.into_os_string().into_encoded_bytes());
            parts.push(text);
        }
    }
    // What is installed: pyenv and mise pick the newest installed version matching a prefix
    // (`3.11`), so an install changes their choice with no setting changed.
    for installs in [
        pyenv.map(|root| root.join("versions")),
        asdf.map(|root| root.join("installs/python")),
        mise.map(|root| root.join("installs/python")),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(modified) = std::fs::metadata(&installs)
            .ok()
            .and_then(|meta| super::cache::modified_ns(&meta))
        {
            parts.push(installs.into_os_string().into_encoded_bytes());
            parts.push(modified.to_le_bytes().to_vec());
        }
    }
    Some(super::cache::fingerprint(parts.iter().map(Vec::as_slice)))
}

impl Drop for Judge {
    fn drop(&mut self) {
        self.wait_ahead();
        let mut state = self.state.lock().unwrap();
        if let (Some(remembered), State::Running(interpreter)) = (&self.remembered, &*state) {
            // Verdicts are added only by an interpreter that ran: they are stored under the
            // one that answered (merged with what an earlier run stored for it, when it was
            // not known at the start of this run).
            if let Some(answering) = &interpreter.executable {
                if remembered.known.as_ref() != Some(answering) {
                    remembered
                        .cache
                        .store_interpreter(remembered.selection, answering);
                }
                if remembered.added.load(std::sync::atomic::Ordering::Relaxed) {
                    let key = self.verdicts_key(answering);
                    let mut verdicts = self.verdicts.lock().unwrap();
                    if *remembered.loaded_for.lock().unwrap() != Some(key) {
                        let earlier = remembered.cache.load_verdicts(key);
                        for (hash, verdict) in earlier {
                            verdicts.entry(hash).or_insert(verdict);
                        }
                    }
                    remembered.cache.store_verdicts(key, &verdicts);
                }
            }
        }
        if let State::Running(interpreter) = &mut *state {
            // Closing stdin ends its loop; kill in case it is stuck.
            let _ = interpreter.child.kill();
            let _ = interpreter.child.wait();
        }
    }
}

impl Interpreter {
    fn start(program: &std::ffi::OsStr) -> Result<Interpreter, String> {
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
        let mut greeting = Vec::new();
        let read = stdout.read_until(b'\n', &mut greeting);
        let greeting = greeting.strip_suffix(b"\n").unwrap_or(&greeting);
        // "unblock-judge 3 <minor> <sys.executable>"
        let mut parts = greeting
            .strip_prefix(b"unblock-judge 3 ")
            .map(|rest| rest.splitn(2, |&b| b == b' '));
        let minor = parts.as_mut().and_then(|parts| {
            std::str::from_utf8(parts.next()?)
                .ok()?
                .trim()
                .parse::<u8>()
                .ok()
        });
        let executable = parts
            .as_mut()
            .and_then(|parts| parts.next())
            .filter(|path| path.starts_with(b"/"))
            .and_then(|path| {
                use std::os::unix::ffi::OsStrExt;
                InterpreterFile::at(std::path::Path::new(std::ffi::OsStr::from_bytes(path)))
            });
        match (read, minor) {
            (Ok(_), Some(minor)) => Ok(Interpreter {
                child,
                stdin,
                stdout,
                minor,
                executable,
            }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                let greeting = String::from_utf8_lossy(greeting);
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

    /// What `ast.parse(source, feature_version=(3, minor))` says of each source, asked of the
    /// same interpreter: the judge's "newer" verdicts must be its, line and message.
    fn ast_parse_says(sources: &[&str], minor: u8) -> Vec<Option<(usize, String)>> {
        let script = format!(
            "import ast, json, sys\n\
             for source in json.load(sys.stdin):\n\
             \x20   try:\n\
             \x20       ast.parse(source, feature_version=(3, {minor}))\n\
             \x20       print('ok')\n\
             \x20   except SyntaxError as e:\n\
             \x20       print(e.lineno, ' '.join(str(e.msg).split()))\n"
        );
        let mut child = std::process::Command::new("python3")
            .args(["-I", "-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let json = format!(
            "[{}]",
            sources
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        child
            .stdin
            .take()
            .unwrap()
            .write_all(json.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|line| {
                let (number, message) = line.split_once(' ')?;
                Some((number.parse().unwrap(), message.to_string()))
            })
            .collect()
    }

    #[test]
    fn newer_syntax_is_what_ast_parse_with_the_feature_version_rejects() {
        let judge = Judge::from_environment(Some("py37"));
        let sources = [
            "(y := 1)\n",
            "def f(a, /):\n    pass\n",
            "with (open(a) as b,\n      open(c) as d):\n    pass\n",
            "@buttons[0].clicked.connect\ndef f():\n    pass\n",
            "x = 1\nmatch x:\n    case 1:\n        pass\n",
            "try:\n    pass\nexcept* ValueError:\n    pass\n",
            "async def f():\n    await g()\n",
        ];
        let expected = ast_parse_says(&sources, 7);
        let bytes: Vec<&[u8]> = sources.iter().map(|s| s.as_bytes()).collect();
        let verdicts = judge.judge_all(&bytes).unwrap();
        let State::Running(interpreter) = &*judge.state.lock().unwrap() else {
            panic!(
                "the tests need a Python 3 on PATH: {:?}",
                judge.unavailable()
            );
        };
        for ((source, verdict), expected) in sources.iter().zip(verdicts).zip(expected) {
            match (verdict, expected) {
                (Verdict::Accepted, None) => {}
                (Verdict::TooNew(r), Some((line, message))) => {
                    assert_eq!((r.line, r.message), (line, message), "{source:?}")
                }
                // Syntax newer than the interpreter itself: its compiler says so first.
                (Verdict::Rejected(_), Some(_)) if source.contains("except*") => {
                    assert!(interpreter.minor < 11)
                }
                (verdict, expected) => panic!("{source:?}: {verdict:?}, ast.parse: {expected:?}"),
            }
        }
    }

    #[test]
    fn what_the_compiler_rejects_is_an_error_whatever_the_target() {
        let judge = Judge::from_environment(Some("py38"));
        let rejected = |source: &str| match judge.judge(source.as_bytes()) {
            Some(Verdict::Rejected(r)) => (r.line, r.message),
            other => panic!("{source:?}: {other:?}"),
        };
        // Parsed by the grammar, rejected by the compiler: not "newer" even where the file
        // also holds syntax newer than the target.
        assert_eq!(
            rejected("def f():\n    await x\n"),
            (2, "'await' outside async function".into())
        );
        assert_eq!(
            rejected("match x:\n    case 1:\n        pass\ndef f():\n    nonlocal y\n"),
            (5, "no binding for nonlocal 'y' found".into())
        );
        assert_eq!(
            rejected("async def f():\n    yield 1\n    return 2\n").1,
            "'return' with value in async generator"
        );
        // Python 2.
        let (line, message) = rejected("import sys\nprint \"x\"\n");
        assert_eq!(line, 2);
        assert!(message.starts_with("Missing parentheses"), "{message}");
        rejected("x = 1\0\n");
    }

    /// A judge whose interpreter notes each source it is sent in `log` (NUL-terminated) and
    /// accepts it.
    fn noting_judge(dir: &std::path::Path, log: &std::path::Path) -> Judge {
        use std::os::unix::fs::PermissionsExt;
        let script = dir.join("noting.py");
        std::fs::write(
            &script,
            "import sys\n\
             log = open(sys.argv[1], 'ab')\n\
             sys.stdout.write('unblock-judge 3 11\\n')\n\
             sys.stdout.flush()\n\
             while True:\n\
             \x20   header = sys.stdin.buffer.readline()\n\
             \x20   if not header:\n\
             \x20       break\n\
             \x20   log.write(sys.stdin.buffer.read(int(header.split()[1])) + b'\\0')\n\
             \x20   log.flush()\n\
             \x20   sys.stdout.write('ok\\n')\n\
             \x20   sys.stdout.flush()\n",
        )
        .unwrap();
        let interpreter = dir.join("python");
        std::fs::write(
            &interpreter,
            format!(
                "#!/bin/sh\nexec python3 '{}' '{}'\n",
                script.display(),
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&interpreter, std::fs::Permissions::from_mode(0o755)).unwrap();
        Judge::with_candidates(vec![interpreter.display().to_string()], None)
    }

    #[test]
    fn each_source_is_sent_once_judged_ahead_or_not_without_a_cache() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sent");
        let judge = std::sync::Arc::new(noting_judge(dir.path(), &log));
        judge.judge_ahead(b"a = 1\n".to_vec());
        judge.judge_ahead(b"b = 2\n".to_vec());
        judge.judge_ahead(b"a = 1\n".to_vec());
        let sources: [&[u8]; 4] = [b"b = 2\n", b"c = 3\n", b"a = 1\n", b"c = 3\n"];
        assert_eq!(judge.judge_all(&sources), Some(vec![Verdict::Accepted; 4]));
        assert_eq!(judge.judge(b"a = 1\n"), Some(Verdict::Accepted));
        let mut sent: Vec<Vec<u8>> = std::fs::read(&log)
            .unwrap()
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        sent.sort();
        assert_eq!(sent, [b"a = 1\n", b"b = 2\n", b"c = 3\n"]);
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

//! Differential tests: run real Python before and after `unblock apply`.
//!
//! Each directory in `tests/python/scenarios/` is a small asyncio program (`main.py`, stdlib
//! only unless `expect.toml` says `requires`), an optional `pyproject.toml`, and `expect.toml`:
//!
//! | key | meaning |
//! |---|---|
//! | `recipes` | recipe ids the scenario exercises: each must be reported on the original |
//! | `same_output` | the rewritten program prints exactly what the original printed (default true) |
//! | `blocking_ms` | the stall the original must show (at least 80 % of it); 0: not measurable |
//! | `unsafe_fixes` | run `unblock apply --unsafe-fixes` (default false) |
//! | `propagate` | run `unblock apply --propagate`: blocking helper chains become async (default false) |
//! | `uses` | helper modules from `tests/python/shared/` the program imports (copied beside it) |
//! | `program_of` | another scenario whose files this one runs (its own files are laid over them) |
//! | `original_fails_with` | a string, or list of strings, the original's stderr must contain |
//! | `original_stdout` | what the original must print (optional) |
//! | `expected_stdout` | what the rewritten program must print (when `same_output = false`) |
//! | `requires` | Python modules the program needs from the test virtualenv (default none) |
//! | `not_slower` | the rewrite's time inside `asyncio.run` may not exceed the original's (default false) |
//!
//! For each scenario the test copies the directory to a temporary one, checks the recipes are
//! reported, runs the original under `tests/python/probe.py` (which measures the longest stall
//! of the event loop), runs `unblock apply .`, compiles every rewritten file with CPython, runs
//! the rewrite under the probe, compares, and runs `unblock apply .` again to check that nothing
//! changes (idempotence). Afterwards `unblock check` may only report findings without a fix
//! (`not_fixable`), or with an unsafe one when `--unsafe-fixes` was not given.
//!
//! Timing: no stall is compared with a fixed figure. The rewritten program's stall is compared
//! with the original's, measured in the same test on the same machine under the same load:
//! - a scenario about blocking (`blocking_ms > 0`) needs the original to stall at least
//!   [`MEANINGFUL_STALL_MS`] (else the comparison says nothing), and the rewrite to stall at
//!   most a third of it ([`STALL_RATIO`]);
//! - one whose original does not block measurably (`blocking_ms = 0`) needs the rewrite to add
//!   no stall of its own: at most three times the original's plus [`UNMEASURED_SLACK_MS`];
//! - with `not_slower`, the rewrite's total time inside `asyncio.run` may not exceed the
//!   original's by more than noise: [`SLOWER_RATIO`] times it plus [`SLOWER_SLACK_MS`] (a thread
//!   hop per call in a loop is several times slower, the measured regression this guards).
//!
//! A blocked loop shows up as hundreds of milliseconds or seconds (a sleep or a request that
//! load can only lengthen); a free one as a few, or tens on a loaded machine. Measured runs are
//! serialised (one probed Python program at a time: two of them on two cores would slow each
//! other), while the unblock runs and compilations of other scenarios go on beside them (cargo
//! test's two threads). A rewritten run over its limit is re-run up to twice: machine noise
//! only ever adds stall, so the best run is the one that says whether the loop itself still
//! blocks. A failure names both stalls, the limit and every run.
//!
//! Python comes from a virtualenv at `target/py-venv` (made once with `python3 -m venv`, or
//! `$UNBLOCK_PYTHON -m venv`, plus `pip install httpx aiofiles requests filelock` for the recipes that
//! need them). `UNBLOCK_BIN` runs another `unblock` binary instead of the one built here.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use common::copy_dir;
use serde::Deserialize;

/// Every directory in tests/python/scenarios, one `#[test]` each (checked by
/// `every_scenario_directory_has_a_test`).
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        const SCENARIOS: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                run_scenario(stringify!($name));
            }
        )*
    };
}

scenarios!(
    sleep_retry,
    subprocess_run,
    configured_cpu_call,
    file_io_pathlib,
    executor_partial,
    async_misuse_run,
    async_misuse_unawaited,
    mixed_traps,
    thread_fanout,
    thread_join_timeout,
    indirect_to_thread,
    indirect_propagate,
    polling_reply,
    http_requests_httpx,
    http_requests_concurrency,
    http_requests_concurrency_per_call,
    http_requests_stream,
    file_io_loop,
    blocking_enter_file_lock,
    moved_block_names,
);

/// Packages installed in the test virtualenv, and the modules they provide.
const VENV_PACKAGES: &[&str] = &["httpx", "aiofiles", "requests", "filelock"];
const VENV_MODULES: &str = "import httpx, aiofiles, requests, filelock";

const RUN_TIMEOUT: Duration = Duration::from_secs(60);
const RETRIES_AFTER: usize = 2;

/// A rewrite that unblocks the loop stalls it at most this many times less than the original.
const STALL_RATIO: f64 = 3.0;
/// The least stall an original about blocking must show for [`STALL_RATIO`] to mean something:
/// twenty probe intervals, above what a free loop shows even on a loaded machine.
const MEANINGFUL_STALL_MS: f64 = 100.0;
/// What a rewrite of a program that does not block measurably may add to three times the
/// original's stall (one-off imports, a TLS context, a loaded machine's scheduling).
const UNMEASURED_SLACK_MS: f64 = 200.0;
/// `not_slower`: the rewrite's total time may be this many times the original's ...
const SLOWER_RATIO: f64 = 1.5;
/// ... plus this much, for noise.
const SLOWER_SLACK_MS: f64 = 100.0;

/// The longest stall the rewritten program may show, given the original's.
fn stall_limit(expect: &Expect, before_ms: f64) -> f64 {
    if expect.blocking_ms > 0 {
        before_ms / STALL_RATIO
    } else {
        before_ms * STALL_RATIO + UNMEASURED_SLACK_MS
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    recipes: Vec<String>,
    #[serde(default = "yes")]
    same_output: bool,
    #[serde(default)]
    blocking_ms: u64,
    #[serde(default)]
    unsafe_fixes: bool,
    #[serde(default)]
    propagate: bool,
    #[serde(default)]
    uses: Vec<String>,
    #[serde(default)]
    program_of: Option<String>,
    #[serde(default)]
    original_fails_with: Option<OneOrMany>,
    #[serde(default)]
    original_stdout: Option<String>,
    #[serde(default)]
    expected_stdout: Option<String>,
    #[serde(default)]
    requires: Vec<String>,
    #[serde(default)]
    not_slower: bool,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn all(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

fn yes() -> bool {
    true
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn scenarios_dir() -> PathBuf {
    repo().join("tests/python/scenarios")
}

fn unblock_bin() -> PathBuf {
    std::env::var_os("UNBLOCK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_unblock")))
}

// ------------------------------------------------------------------------------ processes

struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn describe(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}--- stderr\n{}---",
            self.status.code(),
            self.stdout,
            self.stderr
        )
    }
}

/// Runs `cmd` to completion or `timeout`, with stdout and stderr captured through files (no
/// pipe to fill up).
fn run(mut cmd: Command, timeout: Duration, scratch: &Path) -> Result<Run, String> {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out_path = scratch.join(format!("run-{n}.stdout"));
    let err_path = scratch.join(format!("run-{n}.stderr"));
    let what = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).map_err(|e| e.to_string())?)
        .stderr(fs::File::create(&err_path).map_err(|e| e.to_string())?);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{what} did not finish within {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let read = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
    Ok(Run {
        status,
        stdout: read(&out_path),
        stderr: read(&err_path),
    })
}

// ------------------------------------------------------------------------------ virtualenv

/// The virtualenv's python, made once per checkout. A lock directory keeps test processes
/// from racing; within this process a `OnceLock` does.
fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(make_venv) {
        Ok(p) => p,
        Err(e) => panic!("cannot set up the Python virtualenv for the scenario tests: {e}"),
    }
}

fn venv_python_path(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts/python.exe")
    } else {
        venv.join("bin/python")
    }
}

fn make_venv() -> Result<PathBuf, String> {
    let target = repo().join("target");
    let venv = target.join("py-venv");
    let ready = venv.join(".unblock-ready");
    let python = venv_python_path(&venv);
    // The marker lists the packages installed: a virtualenv made for fewer gets the new ones.
    let wanted = VENV_PACKAGES.join("\n") + "\n";
    let is_ready = || fs::read_to_string(&ready).is_ok_and(|listed| listed == wanted);
    if is_ready() && python.exists() {
        return Ok(python);
    }
    fs::create_dir_all(&target).map_err(|e| e.to_string())?;
    let _lock = DirLock::acquire(&target.join("py-venv.lock"))?;
    if is_ready() && python.exists() {
        return Ok(python);
    }
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    if !python.exists() {
        let _ = fs::remove_dir_all(&venv);
        let base = std::env::var_os("UNBLOCK_PYTHON").unwrap_or_else(|| "python3".into());
        let mut cmd = Command::new(&base);
        cmd.arg("-m").arg("venv").arg(&venv);
        let out = run(cmd, Duration::from_secs(300), scratch.path())?;
        if !out.status.success() || !python.exists() {
            return Err(format!(
                "`{} -m venv {}` failed:\n{}",
                base.to_string_lossy(),
                venv.display(),
                out.describe()
            ));
        }
    }
    let mut probe = Command::new(&python);
    probe.args(["-c", VENV_MODULES]);
    if !run(probe, Duration::from_secs(60), scratch.path())?
        .status
        .success()
    {
        let mut pip = Command::new(&python);
        pip.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(VENV_PACKAGES);
        let out = run(pip, Duration::from_secs(600), scratch.path())?;
        if !out.status.success() {
            // Stdlib scenarios still run; one that `requires` a package fails with this message.
            eprintln!(
                "warning: pip install {} failed; scenarios that need them will fail:\n{}",
                VENV_PACKAGES.join(" "),
                out.describe()
            );
            return Ok(python);
        }
    }
    fs::write(&ready, wanted).map_err(|e| e.to_string())?;
    Ok(python)
}

/// A lock held by creating a directory (atomic on every file system); a lock left behind by a
/// killed run is taken over after ten minutes.
struct DirLock(PathBuf);

impl DirLock {
    fn acquire(path: &Path) -> Result<DirLock, String> {
        let start = Instant::now();
        loop {
            match fs::create_dir(path) {
                Ok(()) => return Ok(DirLock(path.to_path_buf())),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok());
                    if age.is_some_and(|a| a > Duration::from_secs(600)) {
                        let _ = fs::remove_dir(path);
                        continue;
                    }
                    if start.elapsed() > Duration::from_secs(900) {
                        return Err(format!("timed out waiting for {}", path.display()));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.0);
    }
}

// ------------------------------------------------------------------------------ one scenario

struct Probed {
    run: Run,
    max_stall_ms: f64,
    /// Time spent inside `asyncio.run`.
    total_ms: f64,
    loops: u64,
}

/// Runs `python probe.py main.py` in `dir`. Measured runs are serialised so that scenarios do
/// not load the machine for each other.
fn run_probed(dir: &Path, scratch: &Path, label: &str) -> Result<Probed, String> {
    static MEASURING: Mutex<()> = Mutex::new(());
    let out = scratch.join(format!("probe-{label}.json"));
    let _ = fs::remove_file(&out);
    let mut cmd = Command::new(python());
    cmd.arg(repo().join("tests/python/probe.py"))
        .arg("main.py")
        .current_dir(dir)
        .env("UNBLOCK_PROBE_OUT", &out)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONHASHSEED", "0")
        .env_remove("PYTHONWARNINGS")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONSTARTUP");
    let run = {
        let _one_at_a_time = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
        run(cmd, RUN_TIMEOUT, scratch)?
    };
    let json = fs::read_to_string(&out).map_err(|e| {
        format!(
            "the probe wrote no {} ({e})\n{}",
            out.display(),
            run.describe()
        )
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| format!("probe output {json:?}: {e}"))?;
    Ok(Probed {
        max_stall_ms: value["max_stall_ms"].as_f64().ok_or("no max_stall_ms")?,
        loops: value["runs"].as_u64().unwrap_or(0),
        total_ms: value["total_ms"].as_f64().unwrap_or(0.0),
        run,
    })
}

fn unblock(args: &[&str], dir: &Path, scratch: &Path) -> Result<Run, String> {
    let mut cmd = Command::new(unblock_bin());
    cmd.args(args).current_dir(dir);
    run(cmd, RUN_TIMEOUT, scratch)
}

/// Every file under `dir` (but `__pycache__`), by relative path.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                if entry.file_name() != "__pycache__" {
                    stack.push(path);
                }
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_path_buf();
                files.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn diff_files(before: &BTreeMap<PathBuf, Vec<u8>>, after: &BTreeMap<PathBuf, Vec<u8>>) -> String {
    let mut out = String::new();
    let paths: BTreeSet<&PathBuf> = before.keys().chain(after.keys()).collect();
    for path in paths {
        let old = before
            .get(path)
            .map(|b| String::from_utf8_lossy(b).into_owned());
        let new = after
            .get(path)
            .map(|b| String::from_utf8_lossy(b).into_owned());
        if old == new {
            continue;
        }
        let name = path.display().to_string();
        let diff = similar::TextDiff::from_lines(
            old.as_deref().unwrap_or(""),
            new.as_deref().unwrap_or(""),
        );
        let _ = write!(
            out,
            "{}",
            diff.unified_diff()
                .context_radius(2)
                .header(&format!("a/{name}"), &format!("b/{name}"))
        );
    }
    out
}

#[derive(Default)]
struct Outcome {
    failures: Vec<String>,
    before_ms: Option<f64>,
    after_ms: Vec<f64>,
    diff: String,
}

fn run_scenario(name: &str) {
    let source = scenarios_dir().join(name);
    let expect_text = fs::read_to_string(source.join("expect.toml"))
        .unwrap_or_else(|e| panic!("{name}/expect.toml: {e}"));
    let expect: Expect =
        toml::from_str(&expect_text).unwrap_or_else(|e| panic!("{name}/expect.toml: {e}"));
    let mut outcome = Outcome::default();
    if let Err(e) = check_scenario(name, &source, &expect, &mut outcome) {
        outcome.failures.push(e);
    }
    if !outcome.failures.is_empty() {
        panic!("{}", report(name, &expect, &outcome));
    }
    // Shown with `cargo test -- --nocapture`.
    eprintln!("{}", report(name, &expect, &outcome));
}

fn report(name: &str, expect: &Expect, outcome: &Outcome) -> String {
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} ms"));
    let after = if outcome.after_ms.is_empty() {
        "-".to_string()
    } else {
        outcome
            .after_ms
            .iter()
            .map(|v| format!("{v:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
            + " ms"
    };
    let wanted_before = if expect.blocking_ms > 0 {
        format!(">= {:.0} ms", 0.8 * expect.blocking_ms as f64)
    } else {
        "(not measured)".to_string()
    };
    let mut s = if outcome.failures.is_empty() {
        format!("scenario `{name}` passed:\n")
    } else {
        format!("scenario `{name}` failed:\n")
    };
    for f in &outcome.failures {
        let _ = writeln!(s, "  - {}", f.replace('\n', "\n    "));
    }
    let _ = writeln!(
        s,
        "\n  {:<24} {:>14} {:>22} {:>14} {:>14}",
        "scenario", "stall before", "stall after (runs)", "want before", "want after"
    );
    let _ = writeln!(
        s,
        "  {:<24} {:>14} {:>22} {:>14} {:>14}",
        name,
        ms(outcome.before_ms),
        after,
        wanted_before,
        outcome.before_ms.map_or("-".to_string(), |b| format!(
            "< {:.1} ms",
            stall_limit(expect, b)
        ))
    );
    if !outcome.diff.is_empty() && !outcome.failures.is_empty() {
        let _ = write!(s, "\nthe rewrite:\n{}", outcome.diff);
    }
    s
}

fn check_scenario(
    name: &str,
    source: &Path,
    expect: &Expect,
    outcome: &mut Outcome,
) -> Result<(), String> {
    let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let scratch = temp.path().join("scratch");
    fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let dir = temp.path().join(name);
    if let Some(base) = &expect.program_of {
        copy_dir(&scenarios_dir().join(base), &dir);
    }
    copy_dir(source, &dir);
    for helper in &expect.uses {
        fs::copy(
            repo().join("tests/python/shared").join(helper),
            dir.join(helper),
        )
        .map_err(|e| format!("tests/python/shared/{helper}: {e}"))?;
    }
    if !dir.join("main.py").exists() {
        return Err(format!("{name} has no main.py"));
    }

    for module in &expect.requires {
        let mut cmd = Command::new(python());
        cmd.args(["-c", &format!("import {module}")]);
        if !run(cmd, RUN_TIMEOUT, &scratch)?.status.success() {
            return Err(format!(
                "needs the Python module `{module}`, not installed in target/py-venv \
                 (delete target/py-venv to retry the install)"
            ));
        }
    }

    // 1. The recipes are reported on the original.
    let check = unblock(&["check", ".", "--output-format", "json"], &dir, &scratch)?;
    let findings: Vec<serde_json::Value> = serde_json::from_str(&check.stdout).map_err(|e| {
        format!(
            "`unblock check` printed no JSON ({e}):\n{}",
            check.describe()
        )
    })?;
    let reported: BTreeSet<&str> = findings
        .iter()
        .filter_map(|f| f["recipe"].as_str())
        .collect();
    for recipe in &expect.recipes {
        if !reported.contains(recipe.as_str()) {
            outcome.failures.push(format!(
                "recipe `{recipe}` is not reported on the original (reported: {reported:?})"
            ));
        }
    }

    // 2. The original, under the probe.
    let original = run_probed(&dir, &scratch, "original")?;
    outcome.before_ms = Some(original.max_stall_ms);
    if original.loops == 0 {
        outcome.failures.push(format!(
            "the probe saw no asyncio.run in the original\n{}",
            original.run.describe()
        ));
    }
    if expect.blocking_ms > 0 && original.max_stall_ms < 0.8 * expect.blocking_ms as f64 {
        outcome.failures.push(format!(
            "the original stalled the loop for {:.1} ms, expected at least 80 % of {} ms: the \
             scenario no longer shows the blocking it is about",
            original.max_stall_ms, expect.blocking_ms
        ));
    }
    if expect.blocking_ms > 0 && original.max_stall_ms < MEANINGFUL_STALL_MS {
        outcome.failures.push(format!(
            "the original stalled the loop for {:.1} ms only: under {MEANINGFUL_STALL_MS} ms a \
             third of it cannot tell a blocked loop from a busy machine; make it block longer",
            original.max_stall_ms
        ));
    }
    if let Some(needles) = &expect.original_fails_with {
        for needle in needles.all() {
            if !original.run.stderr.contains(needle) {
                outcome.failures.push(format!(
                    "the original's stderr lacks {needle:?}\n{}",
                    original.run.describe()
                ));
            }
        }
    }
    if let Some(want) = &expect.original_stdout {
        if &original.run.stdout != want {
            outcome.failures.push(format!(
                "the original printed something else than original_stdout:\n{}",
                original.run.describe()
            ));
        }
    }
    if expect.same_output && !original.run.status.success() && expect.original_fails_with.is_none()
    {
        outcome.failures.push(format!(
            "the original program failed\n{}",
            original.run.describe()
        ));
    }

    // 3. The rewrite.
    let before = snapshot(&dir);
    let mut args = vec!["apply", "."];
    if expect.unsafe_fixes {
        args.push("--unsafe-fixes");
    }
    if expect.propagate {
        args.push("--propagate");
    }
    let apply = unblock(&args, &dir, &scratch)?;
    let after = snapshot(&dir);
    outcome.diff = diff_files(&before, &after);
    // 1 says some finding was left unfixed (named on stderr); only 2 is a failure.
    if !matches!(apply.status.code(), Some(0 | 1)) {
        return Err(format!(
            "`unblock {}` failed:\n{}",
            args.join(" "),
            apply.describe()
        ));
    }
    if before == after {
        return Err(format!(
            "`unblock {}` changed nothing:\n{}",
            args.join(" "),
            apply.describe()
        ));
    }

    // 4. Every Python file still compiles with CPython.
    let py_files: Vec<&PathBuf> = after
        .keys()
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    let mut compile = Command::new(python());
    compile
        .args(["-m", "py_compile"])
        .args(&py_files)
        .current_dir(&dir)
        .env("PYTHONPYCACHEPREFIX", scratch.join("pycache"));
    let compiled = run(compile, RUN_TIMEOUT, &scratch)?;
    if !compiled.status.success() {
        return Err(format!(
            "the rewritten files do not compile:\n{}",
            compiled.describe()
        ));
    }

    // 5. The rewritten program, under the probe: same output, loop no longer blocked.
    let mut rewritten = run_probed(&dir, &scratch, "rewritten-0")?;
    outcome.after_ms.push(rewritten.max_stall_ms);
    let limit = stall_limit(expect, original.max_stall_ms);
    let total_limit = original.total_ms * SLOWER_RATIO + SLOWER_SLACK_MS;
    let mut best_total = rewritten.total_ms;
    let mut totals = vec![rewritten.total_ms];
    let too_slow = |total: f64| expect.not_slower && total > total_limit;
    let mut retries = 0;
    while (rewritten.max_stall_ms >= limit || too_slow(best_total)) && retries < RETRIES_AFTER {
        retries += 1;
        let again = run_probed(&dir, &scratch, &format!("rewritten-{retries}"))?;
        outcome.after_ms.push(again.max_stall_ms);
        totals.push(again.total_ms);
        best_total = best_total.min(again.total_ms);
        if again.max_stall_ms < rewritten.max_stall_ms {
            rewritten = again;
        }
    }
    if too_slow(best_total) {
        outcome.failures.push(format!(
            "the rewritten program is slower: {best_total:.1} ms inside asyncio.run at best \
             (runs: {totals:.1?}), against {:.1} ms before (limit {total_limit:.1} ms: \
             {SLOWER_RATIO} times it plus {SLOWER_SLACK_MS} ms)",
            original.total_ms
        ));
    }
    if expect.not_slower {
        eprintln!(
            "{name}: total inside asyncio.run {:.1} ms before, {best_total:.1} ms after",
            original.total_ms
        );
    }
    if rewritten.loops == 0 {
        outcome.failures.push(format!(
            "the probe saw no asyncio.run in the rewritten program\n{}",
            rewritten.run.describe()
        ));
    }
    if rewritten.max_stall_ms >= limit {
        let rule = if expect.blocking_ms > 0 {
            format!("a third of the original's {:.1} ms", original.max_stall_ms)
        } else {
            format!(
                "three times the original's {:.1} ms plus {UNMEASURED_SLACK_MS} ms",
                original.max_stall_ms
            )
        };
        outcome.failures.push(format!(
            "the rewritten program still stalls the loop: {:.1} ms at best in {} runs, against \
             {:.1} ms before (limit {limit:.1} ms: {rule})",
            rewritten.max_stall_ms,
            outcome.after_ms.len(),
            original.max_stall_ms
        ));
    }
    if expect.same_output {
        if rewritten.run.stdout != original.run.stdout
            || rewritten.run.status.code() != original.run.status.code()
        {
            outcome.failures.push(format!(
                "the rewritten program behaves differently\n--- original: {}\n--- rewritten: {}",
                original.run.describe(),
                rewritten.run.describe()
            ));
        }
    } else {
        match &expect.expected_stdout {
            Some(want) if &rewritten.run.stdout == want && rewritten.run.status.success() => {}
            Some(want) => outcome.failures.push(format!(
                "the rewritten program should print\n{want}but: {}",
                rewritten.run.describe()
            )),
            None => outcome
                .failures
                .push("same_output = false needs expected_stdout".to_string()),
        }
    }

    // 6. Idempotence: a second apply changes nothing.
    let again = unblock(&args, &dir, &scratch)?;
    let twice = snapshot(&dir);
    if !matches!(again.status.code(), Some(0 | 1)) || twice != after {
        outcome.failures.push(format!(
            "a second `unblock {}` is not a no-op:\n{}{}",
            args.join(" "),
            diff_files(&after, &twice),
            again.describe()
        ));
    }

    // 7. What is left is what apply may not fix.
    let check = unblock(&["check", ".", "--output-format", "json"], &dir, &scratch)?;
    let left: Vec<serde_json::Value> = serde_json::from_str(&check.stdout).map_err(|e| {
        format!(
            "`unblock check` printed no JSON ({e}):\n{}",
            check.describe()
        )
    })?;
    for finding in &left {
        let safety = finding["fix"]["safety"].as_str();
        let fixable = match safety {
            Some("unsafe") => expect.unsafe_fixes,
            Some(_) => true,
            None => false,
        };
        if fixable {
            outcome.failures.push(format!(
                "after apply, a fixable finding is left: {}:{} [{}] {}",
                finding["path"].as_str().unwrap_or("?"),
                finding["line"],
                finding["recipe"].as_str().unwrap_or("?"),
                finding["message"].as_str().unwrap_or("?")
            ));
        }
    }
    Ok(())
}

#[test]
fn every_scenario_directory_has_a_test() {
    let on_disk: BTreeSet<String> = fs::read_dir(scenarios_dir())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = SCENARIOS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        on_disk, listed,
        "tests/python/scenarios and the scenarios! list in tests/python_scenarios.rs differ"
    );
    for name in SCENARIOS {
        let text = fs::read_to_string(scenarios_dir().join(name).join("expect.toml")).unwrap();
        let expect: Expect =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{name}/expect.toml: {e}"));
        assert!(!expect.recipes.is_empty(), "{name}: recipes is empty");
        assert!(
            expect.same_output || expect.expected_stdout.is_some(),
            "{name}: same_output = false needs expected_stdout"
        );
    }
}

//! Seeded mutation fuzzing of `check`, `diff` and `apply` on the repository's own Python
//! (tests/fixtures, codemods): lines deleted, duplicated, swapped and re-indented, bytes
//! flipped, `await ` or a blocking statement inserted, files truncated. Every mutated file must be handled without a
//! panic and with exit code 0, 1 or 2; a fix may never turn a file CPython accepts into one it
//! rejects; and a second `apply` changes nothing.
//!
//! Deterministic: the cases come from a fixed seed (`UNBLOCK_FUZZ_SEED` picks another) and a
//! small hand-written generator. `UNBLOCK_FUZZ_CASES` sets how many mutated files (default 48,
//! a few seconds); `UNBLOCK_FUZZ_BIN` fuzzes another build (a release one, for long runs); a
//! failing case is kept under `target/fuzz-failures/` to reproduce it.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const DEFAULT_CASES: usize = 48;
const DEFAULT_SEED: u64 = 0x5EED_B10C;
/// Mutated files checked together in one directory, per run of each command.
const BATCH: usize = 48;

/// Statements the fixes rewrite, for the mutation that inserts one.
const BLOCKING: &[&str] = &[
    "time.sleep(1)\n",
    "data = open(path).read()\n",
    "with open(path) as handle:\n",
    "response = requests.get(url, timeout=5)\n",
    "subprocess.run(['ls'])\n",
    "import time, requests\n",
    "return requests.post(url, json={}).json()\n",
];

/// splitmix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    let value = value.trim();
    match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    }
}

fn python_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            python_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "py") {
            out.push(path);
        }
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    python_sources(&root.join("tests/fixtures"), &mut paths);
    python_sources(&root.join("codemods"), &mut paths);
    let sources: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(sources.len() > 20, "the fixtures are the fuzzer's seeds");
    sources
}

/// The text split after each line ending (the last piece may have none).
fn split_lines(text: &[u8]) -> Vec<Vec<u8>> {
    text.split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// One to three mutations of `source`.
fn mutate(source: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut text = source.to_vec();
    for _ in 0..1 + rng.below(3) {
        let mut lines = split_lines(&text);
        if lines.is_empty() {
            lines.push(b"\n".to_vec());
        }
        let at = rng.below(lines.len());
        match rng.below(9) {
            0 => {
                lines.remove(at);
            }
            1 => {
                let copy = lines[at].clone();
                lines.insert(at, copy);
            }
            2 => {
                let other = rng.below(lines.len());
                lines.swap(at, other);
            }
            3 => {
                // `await ` before the first non-blank byte of a line, or in the middle of it.
                let line = &lines[at];
                let indent = line
                    .iter()
                    .take_while(|b| matches!(b, b' ' | b'\t'))
                    .count();
                let position = if rng.below(2) == 0 {
                    indent
                } else {
                    indent + rng.below(line.len() - indent + 1)
                };
                lines[at].splice(position..position, b"await ".iter().copied());
            }
            4 => {
                // Indentation changed: four spaces more, four fewer, or a tab.
                let line = &mut lines[at];
                match rng.below(3) {
                    0 => {
                        line.splice(0..0, b"    ".iter().copied());
                    }
                    1 => {
                        let spaces = line.iter().take(4).take_while(|&&b| b == b' ').count();
                        line.drain(..spaces);
                    }
                    _ => {
                        line.insert(0, b'\t');
                    }
                }
            }
            5 => {
                // A byte flipped: one bit, or a byte Python treats specially.
                let line = &mut lines[at];
                if !line.is_empty() {
                    let i = rng.below(line.len());
                    line[i] = match rng.below(3) {
                        0 => line[i] ^ (1 << rng.below(8)),
                        1 => b"()[]{}:'\"#\\\r\n\t"[rng.below(14)],
                        _ => 0xC3,
                    };
                }
            }
            6 => {
                let whole: Vec<u8> = lines.concat();
                let cut = rng.below(whole.len() + 1);
                lines = vec![whole[..cut].to_vec()];
            }
            7 => {
                // A blocking statement where the line is, indented as it: more to fix.
                let indent: Vec<u8> = lines[at]
                    .iter()
                    .copied()
                    .take_while(|b| matches!(b, b' ' | b'\t'))
                    .collect();
                let statement = BLOCKING[rng.below(BLOCKING.len())];
                lines.insert(at, [&indent[..], statement.as_bytes()].concat());
            }
            _ => {
                // A line of another part of the same file moved here, re-indented.
                let other = lines[rng.below(lines.len())].clone();
                let trimmed: Vec<u8> = other
                    .iter()
                    .copied()
                    .skip_while(|b| matches!(b, b' ' | b'\t'))
                    .collect();
                let indent = lines[at]
                    .iter()
                    .take_while(|b| matches!(b, b' ' | b'\t'))
                    .count();
                let mut moved = lines[at][..indent].to_vec();
                moved.extend(trimmed);
                lines.insert(at, moved);
            }
        }
        text = lines.concat();
    }
    text
}

/// `unblock ARGS dir`: a problem when it panicked or exited other than 0, 1 or 2.
fn run(args: &[&str], dir: &Path) -> Result<(), String> {
    let binary = std::env::var_os("UNBLOCK_FUZZ_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_unblock").into());
    let out = Command::new(binary)
        .args(args)
        .arg(dir)
        .output()
        .expect("runs");
    let stderr = common::stderr(&out);
    match out.status.code() {
        Some(0..=2) if !stderr.contains("panicked") => Ok(()),
        code => Err(format!(
            "`unblock {}` exited with {code:?}: {}",
            args.join(" "),
            stderr.lines().rev().take(6).collect::<Vec<_>>().join(" | ")
        )),
    }
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut paths = Vec::new();
    python_sources(dir, &mut paths);
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// How many originals CPython accepts, and the files (among pairs of original and result)
/// where it accepts the original and rejects the result, from one Python process.
fn broken_by_fix(pairs: &[(PathBuf, PathBuf)]) -> (usize, Vec<PathBuf>) {
    let listing: String = pairs
        .iter()
        .map(|(before, after)| format!("{}\t{}\n", before.display(), after.display()))
        .collect();
    let script = r#"
import ast, sys, warnings
warnings.simplefilter("ignore")
def parses(path):
    try:
        ast.parse(open(path, "rb").read())
        return True
    except Exception:
        return False
valid, broken = 0, []
for line in sys.stdin.read().splitlines():
    before, after = line.split("\t")
    if parses(before):
        valid += 1
        if not parses(after):
            broken.append(after)
print(valid)
print("\n".join(broken))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(listing.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the Python judge failed");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.lines();
    let valid = lines.next().and_then(|n| n.parse().ok()).expect("a count");
    (
        valid,
        lines.filter(|l| !l.is_empty()).map(PathBuf::from).collect(),
    )
}

/// What a run covered, to tell a fuzzer that found nothing from one that tried nothing.
#[derive(Default)]
struct Coverage {
    /// Mutated files CPython accepts (an `apply` run over each is judged).
    valid: usize,
    /// Files an `apply` changed.
    changed: usize,
}

/// Keeps a failing case where a developer finds it, and says so.
fn keep(name: &Path, bytes: &[u8], problem: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name.file_name().unwrap());
    std::fs::write(&file, bytes).unwrap();
    format!("{problem} (case kept as {})", file.display())
}

/// One batch of mutated files through every command; the problems found.
fn fuzz_batch(cases: &[(String, Vec<u8>)], coverage: &mut Coverage) -> Vec<String> {
    let mut problems = Vec::new();
    let work = tempfile::tempdir().unwrap();
    let originals = work.path().join("originals");
    std::fs::create_dir_all(&originals).unwrap();
    for (name, bytes) in cases {
        std::fs::write(originals.join(name), bytes).unwrap();
    }
    // A command that fails on the batch is run on each file alone to name the culprit.
    let run_each = |args: &[&str], problems: &mut Vec<String>| {
        if run(args, &originals).is_ok() {
            return;
        }
        for (name, bytes) in cases {
            let alone = tempfile::tempdir().unwrap();
            std::fs::write(alone.path().join(name), bytes).unwrap();
            if let Err(problem) = run(args, alone.path()) {
                problems.push(keep(Path::new(name), bytes, &problem));
            }
        }
    };
    run_each(&["check", "--no-progress"], &mut problems);
    run_each(&["diff"], &mut problems);
    for (label, args) in [
        ("apply", &["apply"][..]),
        (
            "apply --propagate --unsafe-fixes",
            &["apply", "--propagate", "--unsafe-fixes"][..],
        ),
    ] {
        let dir = work.path().join(label.replace(' ', "_"));
        common::copy_dir(&originals, &dir);
        if let Err(problem) = run(args, &dir) {
            problems.push(format!("{problem} (on the batch of {} cases)", cases.len()));
            continue;
        }
        let once = snapshot(&dir);
        let pairs: Vec<(PathBuf, PathBuf)> = once
            .keys()
            .map(|fixed| (originals.join(fixed.file_name().unwrap()), fixed.clone()))
            .collect();
        let (valid, broken) = broken_by_fix(&pairs);
        coverage.valid += valid;
        coverage.changed += pairs
            .iter()
            .filter(|(original, fixed)| std::fs::read(original).ok() != once.get(fixed).cloned())
            .count();
        for broken in broken {
            let name = broken.file_name().unwrap();
            let original = std::fs::read(originals.join(name)).unwrap();
            problems.push(keep(
                Path::new(name),
                &original,
                &format!("`unblock {label}` made {name:?} invalid Python"),
            ));
        }
        if let Err(problem) = run(args, &dir) {
            problems.push(format!("second {problem}"));
            continue;
        }
        for (path, bytes) in snapshot(&dir) {
            if once.get(&path) != Some(&bytes) {
                let name = path.file_name().unwrap();
                let original = std::fs::read(originals.join(name)).unwrap();
                problems.push(keep(
                    Path::new(name),
                    &original,
                    &format!("a second `unblock {label}` changed {name:?} again"),
                ));
            }
        }
    }
    problems
}

#[test]
fn mutated_fixtures_never_crash_and_fixes_stay_valid_python() {
    let cases = env_number("UNBLOCK_FUZZ_CASES").map_or(DEFAULT_CASES, |n| n as usize);
    let mut rng = Rng(env_number("UNBLOCK_FUZZ_SEED").unwrap_or(DEFAULT_SEED));
    let sources = seeds();
    let mut problems = Vec::new();
    let mut coverage = Coverage::default();
    let mut done = 0;
    while done < cases {
        let batch: Vec<(String, Vec<u8>)> = (done..cases.min(done + BATCH))
            .map(|i| {
                let source = &sources[rng.below(sources.len())];
                (format!("case_{i}.py"), mutate(source, &mut rng))
            })
            .collect();
        done += batch.len();
        problems.extend(fuzz_batch(&batch, &mut coverage));
    }
    eprintln!(
        "fuzz: {cases} mutated files; over the two applies {} valid Python before, {} changed; {} problems",
        coverage.valid,
        coverage.changed,
        problems.len()
    );
    assert!(
        coverage.changed > 0,
        "no mutated file was fixed: the fuzzer tried nothing"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

//! CPython judges what `unblock apply` writes: every Python file of the repository (recipe
//! examples, fixtures, scenario programs), copied with its folders (the call graph follows a
//! file's project) and applied to with `--unsafe-fixes`, then on a fresh copy with
//! `--propagate --unsafe-fixes`, must still compile, and a second apply must change nothing.
//! And the judge's own word: a file that does not compile as it is, is said by `check` and
//! left alone by `apply` unless `--fix-invalid`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const ROOTS: [&str; 3] = ["codemods", "tests/fixtures", "tests/python"];

fn unblock(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_unblock"));
    command.args(args).current_dir(dir);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

/// Every file under the roots (configurations and package markers matter, not only `.py`),
/// relative to the repository.
fn repository_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = ROOTS.iter().map(PathBuf::from).collect();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn copy_of_the_repository_files(files: &[PathBuf]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in files {
        let target = dir.path().join(file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(file, &target).unwrap();
    }
    dir
}

/// For each file, `None` when CPython compiles it, else its error: one interpreter for all.
fn cpython_errors(dir: &Path, files: &[&PathBuf]) -> Vec<Option<String>> {
    let script = r#"
import ast, sys
for name in sys.stdin.read().splitlines():
    try:
        with open(name, "rb") as f:
            compile(ast.parse(f.read(), name), name, "exec", dont_inherit=True)
        print("ok")
    except SyntaxError as e:
        print("line %s: %s" % (e.lineno, e.msg))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs (the differential tests need it too)");
    let names: String = files.iter().map(|f| format!("{}\n", f.display())).collect();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(names.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let answers: Vec<Option<String>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| (line != "ok").then(|| line.to_string()))
        .collect();
    assert_eq!(answers.len(), files.len(), "one answer per file");
    answers
}

fn read_all(dir: &Path, files: &[&PathBuf]) -> Vec<Vec<u8>> {
    files
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect()
}

#[test]
fn every_rewrite_of_every_repository_file_compiles_and_a_second_apply_changes_nothing() {
    let files = repository_files();
    let python: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "py"))
        .collect();
    assert!(
        python.len() > 80,
        "the roots hold the examples and fixtures"
    );
    let originals = read_all(Path::new("."), &python);
    let invalid_before = cpython_errors(Path::new("."), &python);
    for args in [
        &["apply", "--unsafe-fixes", "."][..],
        &["apply", "--propagate", "--unsafe-fixes", "."][..],
    ] {
        let dir = copy_of_the_repository_files(&files);
        let out = unblock(dir.path(), args, &[]);
        // 1: some examples keep findings no fix can take (each says why); 2 is an error.
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("CPython rejects"),
            "{args:?}: a recipe wrote a rewrite CPython rejects (the judge dropped it):\n{stderr}"
        );
        let first = read_all(dir.path(), &python);
        let changed = first.iter().zip(&originals).filter(|(a, b)| a != b).count();
        assert!(
            changed > 20,
            "{args:?}: only {changed} files were rewritten"
        );
        let errors = cpython_errors(dir.path(), &python);
        for ((file, error), was_invalid) in python.iter().zip(&errors).zip(&invalid_before) {
            match (error, was_invalid) {
                (Some(error), None) => {
                    panic!(
                        "{args:?}: {} does not compile after apply: {error}",
                        file.display()
                    )
                }
                (_, Some(_)) => {
                    let index = python.iter().position(|f| f == file).unwrap();
                    assert_eq!(
                        first[index],
                        originals[index],
                        "{args:?}: {} did not compile before and was rewritten",
                        file.display()
                    );
                }
                (None, None) => {}
            }
        }
        for (file, text) in python.iter().zip(&first) {
            assert!(
                !String::from_utf8_lossy(text).contains("await await"),
                "{args:?}: {} holds `await await`",
                file.display()
            );
        }
        let out = unblock(dir.path(), args, &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}, second run");
        let second = read_all(dir.path(), &python);
        let changed_again: Vec<String> = python
            .iter()
            .zip(first.iter().zip(&second))
            .filter(|(_, (a, b))| a != b)
            .map(|(file, _)| file.display().to_string())
            .collect();
        assert!(
            changed_again.is_empty(),
            "{args:?}: a second apply changed {changed_again:?}"
        );
    }
}

const INVALID: &str = "tests/fixtures/invalid/inconsistent_indent.py";

fn copy_of_the_invalid_fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inconsistent_indent.py");
    std::fs::copy(INVALID, &path).unwrap();
    (dir, path)
}

/// With CPython (python3 on PATH) and without it (`UNBLOCK_PYTHON` naming nothing): the
/// explicit indentation check takes CPython's place.
#[test]
fn a_file_that_does_not_compile_is_said_by_check_and_left_alone_by_apply() {
    let without_cpython = [("UNBLOCK_PYTHON", "/nonexistent/python3")];
    for env in [&[][..], &without_cpython[..]] {
        let (dir, path) = copy_of_the_invalid_fixture();
        let original = std::fs::read(&path).unwrap();
        let judged_by = if env.is_empty() {
            "CPython"
        } else {
            "tree-sitter"
        };

        let out = unblock(dir.path(), &["check", "."], env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(
            stderr.matches("syntax error at line 6").count(),
            1,
            "said once: {stderr}"
        );
        assert!(stderr.contains(&format!("({judged_by})")), "{stderr}");
        assert_eq!(
            stderr.contains("no Python 3 interpreter"),
            !env.is_empty(),
            "{stderr}"
        );

        for command in ["diff", "apply"] {
            let out = unblock(dir.path(), &[command, "."], env);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(&format!(
                    "does not compile as it is ({judged_by}: line 6: unexpected indent"
                )),
                "{stderr}"
            );
            assert!(stderr.contains("fixed 0 safe"), "{stderr}");
            assert!(out.stdout.is_empty(), "no diff: {out:?}");
            assert_eq!(std::fs::read(&path).unwrap(), original, "{command}");
        }

        let out = unblock(dir.path(), &["apply", "--fix-invalid", "."], env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("Applied 2 fixes in 1 file."), "{stderr}");
        let fixed = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        assert!(
            fixed.contains("    await asyncio.sleep(1)\n      await asyncio.sleep(2)\n"),
            "{fixed}"
        );
    }
}

/// `apply --branch` judges too: nothing to commit from a file that does not compile.
#[test]
fn apply_branch_leaves_a_file_that_does_not_compile_alone() {
    let (dir, _) = copy_of_the_invalid_fixture();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "base"]);
    let out = unblock(dir.path(), &["apply", "--branch", "fixes"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stderr.contains("does not compile as it is (CPython: line 6"),
        "{stderr}"
    );
    assert!(stdout.contains("nothing to fix"), "{stdout}");
}

/// An interpreter that answers as the judge does, but rejects every source calling
/// `asyncio.sleep(2)`: the fix that writes it is dropped and said, the other one is kept.
const PICKY_JUDGE: &str = r#"
import sys
sys.stdout.write("unblock-judge 3 11\n")
sys.stdout.flush()
while True:
    header = sys.stdin.buffer.readline()
    if not header:
        break
    source = sys.stdin.buffer.read(int(header.split()[1]))
    lines = source.split(b"\n")
    picked = [n for n, line in enumerate(lines, 1) if b"asyncio.sleep(2)" in line]
    sys.stdout.write("error %d picky judge\n" % picked[0] if picked else "ok\n")
    sys.stdout.flush()
"#;

#[test]
fn a_fix_whose_result_cpython_rejects_is_dropped_and_said_and_the_others_kept() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("picky_judge.py"), PICKY_JUDGE).unwrap();
    let interpreter = dir.path().join("picky-python");
    std::fs::write(
        &interpreter,
        format!(
            "#!/bin/sh\nexec python3 {}\n",
            dir.path().join("picky_judge.py").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&interpreter, std::fs::Permissions::from_mode(0o755)).unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir(&code).unwrap();
    let path = code.join("two_sleeps.py");
    std::fs::write(
        &path,
        "import time\n\n\nasync def f():\n    time.sleep(1)\n    time.sleep(2)\n",
    )
    .unwrap();
    let out = unblock(
        &code,
        &["apply", "."],
        &[("UNBLOCK_PYTHON", interpreter.to_str().unwrap())],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "two_sleeps.py: the sleep fix of `time.sleep(2)` was dropped: CPython rejects the file it writes (line 6: picky judge)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("Applied 1 fix in 1 file."), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "import asyncio\nimport time\n\n\nasync def f():\n    await asyncio.sleep(1)\n    time.sleep(2)\n"
    );
}

/// `check` asks CPython only whether a file compiles: syntax newer than the target version is
/// no fault there, and the source is not parsed again with the target's `feature_version`
/// (the fixer still is: a rewrite must not bring in syntax the target lacks). The
/// interpreter is python3 behind a script that records what it is sent.
#[test]
fn check_asks_only_whether_a_file_compiles_and_the_fixer_asks_for_the_target_too() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sent.log");
    let interpreter = dir.path().join("recorded-python");
    std::fs::write(
        &interpreter,
        format!("#!/bin/sh\ntee -a '{}' | python3 \"$@\"\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&interpreter, std::fs::Permissions::from_mode(0o755)).unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir(&code).unwrap();
    std::fs::write(
        code.join("pyproject.toml"),
        "[tool.unblock]\ntarget-version = \"py37\"\n",
    )
    .unwrap();
    // Valid Python 3.8 (`:=`), newer than the target, with a finding.
    std::fs::write(
        code.join("newer.py"),
        "import time\n\n\nasync def f(x):\n    if (n := x):\n        time.sleep(n)\n",
    )
    .unwrap();
    // The compiler's rejection, with a finding.
    std::fs::write(
        code.join("broken.py"),
        "import time\n\n\nasync def f():\n    time.sleep(1)\n\n\ndef g():\n    await f()\n",
    )
    .unwrap();
    // The minors asked for ("<minor> <length>" headers; no line of the sources looks so).
    let asked = || -> Vec<String> {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        text.lines()
            .filter_map(|line| {
                let (minor, length) = line.split_once(' ')?;
                length.parse::<usize>().ok()?;
                minor.parse::<u8>().ok().map(|_| minor.to_string())
            })
            .collect()
    };
    let env = [("UNBLOCK_PYTHON", interpreter.to_str().unwrap())];
    let out = unblock(&code, &["check", "--no-cache", "."], &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "broken.py: syntax error at line 9: 'await' outside async function (CPython)"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("newer.py"), "{stderr}");
    assert_eq!(asked(), ["0", "0"], "check: compile only");

    let out = unblock(&code, &["diff", "newer.py"], &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("await asyncio.sleep(n)"),
        "{stdout}{stderr}"
    );
    let asked = asked();
    assert!(
        !asked.is_empty() && asked.iter().all(|minor| minor == "7"),
        "the fixer parses for the target too: {asked:?}"
    );
}

/// The judge starts only when a file has something to judge: a clean run without an
/// interpreter has nothing to say about it.
#[test]
fn a_clean_run_starts_no_interpreter_and_says_nothing_of_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clean.py"), "async def f():\n    pass\n").unwrap();
    for command in ["check", "diff", "apply"] {
        let out = unblock(
            dir.path(),
            &[command, "."],
            &[("UNBLOCK_PYTHON", "/nonexistent/python3")],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{command}: {stderr}");
        assert!(!stderr.contains("interpreter"), "{command}: {stderr}");
    }
}

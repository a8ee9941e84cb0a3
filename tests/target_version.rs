//! The Python the fixes must run on: `target-version`, checked, or else the oldest Python the
//! project's `requires-python` allows. Before 3.9 there is no `asyncio.to_thread`: single calls
//! and moved blocks go to the loop's default executor.

use std::path::Path;
use std::process::Command;

fn diff(dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_unblock"))
        .args(["diff", "--no-progress", "."])
        .current_dir(dir)
        .output()
        .expect("runs")
}

const PROGRAM: &str = "import os\n\n\nasync def f(config_path, names):\n    with open(config_path) as fh:\n        data = fh.read()\n    os.path.exists(config_path)\n    return data\n";

#[test]
fn requires_python_sets_the_target_and_blocks_move_to_the_executor_before_3_9() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"x\"\nrequires-python = \">=3.8\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("a.py"), PROGRAM).unwrap();
    let out = diff(dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("to_thread"), "{text}");
    assert!(
        text.contains(
            "+    data = await asyncio.get_running_loop().run_in_executor(None, _read_config)"
        ),
        "{text}"
    );
    assert!(
        text.contains("functools.partial(os.path.exists, config_path)"),
        "{text}"
    );

    // 3.10 and later: asyncio.to_thread.
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"x\"\nrequires-python = \">=3.10\"\n",
    )
    .unwrap();
    let text = String::from_utf8_lossy(&diff(dir.path()).stdout).into_owned();
    assert!(
        text.contains("await asyncio.to_thread(_read_config)"),
        "{text}"
    );
}

#[test]
fn a_target_version_unblock_does_not_know_is_an_error_with_the_spelling_it_wants() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[tool.unblock]\ntarget-version = \"3.8\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("a.py"), PROGRAM).unwrap();
    let out = diff(dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("write \"py38\""), "{stderr}");
}

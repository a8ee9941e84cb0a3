//! End-to-end tests of `unblock lsp`: `tests/lsp/test_lsp.py`, run with pytest-lsp against the
//! binary built here (`UNBLOCK_BIN`).
//!
//! Python comes from a virtualenv at `target/lsp-venv` (its own path, so that it never races
//! with `target/py-venv` of tests/python_scenarios.rs), made once with `python3 -m venv`
//! (`$UNBLOCK_PYTHON` instead of `python3` if set) plus `pip install pytest pytest-lsp`.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

fn venv() -> PathBuf {
    common::python_venv("lsp-venv", &["pytest", "pytest-lsp"], "pytest, pytest_lsp")
}

#[test]
fn language_server_end_to_end() {
    let venv = venv();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(venv.join("bin/python"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/lsp"])
        .current_dir(root)
        .env("UNBLOCK_BIN", env!("CARGO_BIN_EXE_unblock"))
        .output()
        .expect("run pytest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "pytest tests/lsp failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
}

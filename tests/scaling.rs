//! Cost that grows with the input, counted rather than timed (issue 18, point 12): each shape
//! that was once quadratic runs at N and at 4N, and the work the engine counts
//! (`UNBLOCK_TIMINGS`'s `work: N steps`: tree nodes visited, functions looked up) or the bytes
//! it prints may grow at most 4.5 times. A quadratic loop grows 16 times. The shapes are those
//! of benches/scaling.py, smaller; the tree-sitter scanner's share (comment runs) is counted in
//! a unit test of `engine::source`, where the parser's own log can be read.

mod common;

use std::path::Path;
use std::process::Command;

/// The work steps `unblock ARGS file` counted, and the bytes it printed on stdout.
fn work(args: &[&str], text: &str, dir: &Path, name: &str) -> (u64, usize) {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_unblock"))
        .args(args)
        .arg(&file)
        .env("UNBLOCK_TIMINGS", "1")
        .output()
        .expect("runs");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{args:?} {name}: {}",
        common::stderr(&out)
    );
    let stderr = common::stderr(&out);
    let steps = stderr
        .lines()
        .find_map(|l| l.strip_prefix("work: ")?.strip_suffix(" steps"))
        .unwrap_or_else(|| panic!("no work count in {stderr}"))
        .parse()
        .unwrap();
    (steps, out.stdout.len())
}

/// The shape at n and 4n: work and output grow at most 4.5 times.
fn grows_linearly(shape: &str, args: &[&str], n: usize, generate: impl Fn(usize) -> String) {
    let dir = tempfile::tempdir().unwrap();
    let (steps, printed) = work(args, &generate(n), dir.path(), "small.py");
    let (steps_4n, printed_4n) = work(args, &generate(4 * n), dir.path(), "large.py");
    assert!(steps > 0, "{shape}: nothing counted");
    assert!(
        steps_4n as f64 <= 4.5 * steps as f64,
        "{shape}: {steps} steps at N={n}, {steps_4n} at 4N"
    );
    assert!(
        printed_4n as f64 <= 4.5 * printed.max(1) as f64,
        "{shape}: {printed} bytes printed at N={n}, {printed_4n} at 4N"
    );
}

fn lines(n: usize, line: impl Fn(usize) -> String) -> String {
    (0..n).map(line).collect()
}

#[test]
fn each_shape_costs_in_proportion_to_its_size() {
    grows_linearly("comments", &["diff"], 500, |n| {
        format!(
            "import time\n\n\nasync def f():\n    time.sleep(1)\n\n\n{}",
            lines(n, |i| format!("# comment {i}\n"))
        )
    });
    // The http-requests fix looked at the whole coroutine for each call it rewrote, and
    // resolved every call of the file to find the coroutine's callers.
    grows_linearly("calls", &["check"], 100, |n| {
        format!(
            "import requests\n\n\nasync def f():\n{}",
            lines(n, |i| format!(
                "    requests.get('https://example.com/{i}')\n"
            ))
        )
    });
    // ... and looked at every call of the file for each call inside a `try`.
    grows_linearly("calls in try blocks", &["check"], 100, |n| {
        let guarded = |i| {
            format!("    try:\n        requests.get('https://example.com/{i}')\n    except ValueError:\n        pass\n")
        };
        format!("import requests\n\n\nasync def f():\n{}", lines(n, guarded))
    });
    // Dropping an unused import asked every node of the tree for its parent.
    grows_linearly("nested literal", &["diff"], 300, |n| {
        format!(
            "import time\n\nX = {}{}\n\n\nasync def f():\n    time.sleep(1)\n",
            "[".repeat(n),
            "]".repeat(n)
        )
    });
    // Each finding looked at every scope of the file for the function around it.
    grows_linearly(
        "coroutines",
        &["check", "--output-format", "json"],
        300,
        |n| {
            format!(
                "import time\n{}",
                lines(n, |i| format!(
                    "\n\nasync def f{i}():\n    time.sleep({i})\n"
                ))
            )
        },
    );
    grows_linearly("fixes in one coroutine", &["diff"], 100, |n| {
        format!(
            "import time\n\n\nasync def f():\n{}",
            lines(n, |i| format!("    time.sleep({i})\n"))
        )
    });
    // The text output printed each finding's whole line.
    grows_linearly("findings on one line", &["check"], 200, |n| {
        let calls: Vec<String> = (0..n).map(|i| format!("time.sleep({i})")).collect();
        format!(
            "import time\n\n\nasync def f():\n    {}\n",
            calls.join("; ")
        )
    });
}

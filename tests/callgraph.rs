//! The call graph end to end, on the project in `tests/fixtures/callgraph/`: indirect findings
//! with their chains for every way a coroutine reaches a blocking call through project sync
//! functions (re-exports, module aliases, relative imports, classes and their bases,
//! classmethods and staticmethods, `self` methods, cycles), and, with `--propagate`, which
//! chains become async and every reason one stays sync. The rewritten project must compile
//! and a second run must change nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::copy_dir;
use serde_json::Value;

const FIXTURE: &str = "tests/fixtures/callgraph";

fn unblock(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_unblock"))
        .args(args)
        .arg("--no-progress")
        .current_dir(dir)
        .output()
        .expect("runs")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One line per finding: where, what, the chain, and the fix (or why there is none).
fn summary(json: &[u8]) -> String {
    let findings: Vec<Value> = serde_json::from_slice(json).expect("JSON output");
    let mut out = String::new();
    for f in findings {
        let chain: Vec<String> = f["chain"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let path = l["path"].as_str().unwrap().trim_start_matches(FIXTURE);
                format!("{} ({path}:{})", l["name"].as_str().unwrap(), l["line"])
            })
            .collect();
        let fix = match &f["fix"] {
            Value::Null => format!("not fixed: {}", f["not_fixable"].as_str().unwrap_or("")),
            fix => format!(
                "{}: {}",
                fix["safety"].as_str().unwrap(),
                fix["note"].as_str().unwrap()
            ),
        };
        out.push_str(&format!(
            "{}:{} {} {}\n  chain: {}\n  {fix}\n",
            f["path"].as_str().unwrap().trim_start_matches(FIXTURE),
            f["line"],
            f["recipe"].as_str().unwrap(),
            f["kind"].as_str().unwrap(),
            chain.join(" -> "),
        ));
    }
    out
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false, omit_expression => true}, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn indirect_findings_carry_their_chains() {
    let output = unblock(&["check", FIXTURE, "--output-format", "json"], &root());
    assert_eq!(output.status.code(), Some(1), "{:?}", output);
    let text = summary(&output.stdout);
    // Calls that must not be findings: a suppressed blocking call, a helper that does not
    // block, a helper already handed to a thread, the sync script.
    for line in [":46 ", ":47 ", ":48 "] {
        assert!(
            !text.contains(&format!("handlers.py{line}")),
            "{line} reported:\n{text}"
        );
    }
    assert!(!text.contains("nightly.py"), "{text}");
    snapshot("callgraph__check", &text);
}

#[test]
fn propagate_says_which_chains_become_async_and_why_not() {
    let output = unblock(
        &["check", FIXTURE, "--output-format", "json", "--propagate"],
        &root(),
    );
    assert_eq!(output.status.code(), Some(1), "{:?}", output);
    snapshot("callgraph__check_propagate", &summary(&output.stdout));
}

#[test]
fn propagate_rewrites_compile_and_settle() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join(FIXTURE), dir.path());
    let diff = unblock(&["diff", ".", "--propagate"], dir.path());
    assert_eq!(diff.status.code(), Some(1), "{:?}", diff);
    snapshot(
        "callgraph__diff_propagate",
        &String::from_utf8_lossy(&diff.stdout),
    );

    let applied = unblock(&["apply", ".", "--propagate"], dir.path());
    // 1: the fixture keeps findings no fix can take (a generator, a context manager, anyio).
    assert_eq!(applied.status.code(), Some(1), "{:?}", applied);
    assert!(String::from_utf8_lossy(&applied.stderr).contains("4 not fixed"));
    let compiled = Command::new("python3")
        .args(["-m", "compileall", "-q", "."])
        .current_dir(dir.path())
        .output()
        .expect("python3 runs");
    assert!(compiled.status.success(), "{:?}", compiled);
    let again = unblock(&["diff", ".", "--propagate"], dir.path());
    assert_eq!(
        again.status.code(),
        Some(0),
        "a second run changes more:\n{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

/// `await f()` where `f` is a plain `def` returning an awaitable: its sync body runs on the loop
/// before the `await`, so a blocking call in it is reported (without a fix: `to_thread` would
/// hand back the awaitable unawaited). Its negative twin, `await` of an `async def` that
/// blocks, is the coroutine's own direct finding, not an indirect one at the call.
#[test]
fn an_awaited_plain_def_runs_its_sync_body_on_the_loop() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "jobs.py",
        "import asyncio\nimport time\n\n\ndef prepare(job):\n    time.sleep(0.2)\n    return asyncio.sleep(0)\n\n\nasync def pause(job):\n    time.sleep(0.1)\n\n\nasync def run(job):\n    await prepare(job)\n    await pause(job)\n",
    );
    let findings = check_json(dir.path());
    let lines: Vec<(u64, &str, &str)> = findings
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().unwrap(),
                f["recipe"].as_str().unwrap(),
                f["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![(11, "sleep", "direct"), (15, "to-thread", "indirect")],
        "{findings:#?}"
    );
    let awaited = &findings[1];
    assert!(awaited["fix"].is_null());
    assert!(awaited["not_fixable"]
        .as_str()
        .unwrap()
        .contains("`prepare` is a plain `def` whose result is awaited"));
}

/// A sync function nested in a coroutine and called there runs on the loop: its blocking call
/// is reported at the call, with the chain through it, and moved to a thread. Its negative
/// twins: a nested generator (its body runs when iterated), a nested helper that does not
/// block, and one that is never called.
#[test]
fn a_nested_helper_called_in_its_coroutine_blocks() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "nested.py",
        "import time\n\n\nasync def handler(n):\n    def pause():\n        time.sleep(0.5)\n\n    def ticks():\n        yield time.sleep(1)\n\n    def double():\n        return n * 2\n\n    def unused():\n        time.sleep(9)\n\n    pause()\n    for _ in ticks():\n        pass\n    return double()\n",
    );
    let findings = check_json(dir.path());
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(
        (f["line"].as_u64(), f["kind"].as_str()),
        (Some(17), Some("indirect"))
    );
    let chain: Vec<String> = f["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| format!("{}:{}", l["name"].as_str().unwrap(), l["line"]))
        .collect();
    assert_eq!(chain, vec!["handler:17", "pause:6", "time.sleep:6"]);
    assert_eq!(f["fix"]["safety"].as_str(), Some("safe"));

    let diff = unblock(&["diff", "."], dir.path());
    assert!(
        String::from_utf8_lossy(&diff.stdout).contains("+    await asyncio.to_thread(pause)"),
        "{}",
        String::from_utf8_lossy(&diff.stdout)
    );
}

/// A nested helper that blocks through a project function of another module: the call graph
/// settles it, and the chain goes coroutine -> helper -> function -> blocking call. Its twin
/// calls only a function that does not block.
#[test]
fn a_nested_helper_blocks_through_a_project_function() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "util.py",
        "import time\n\n\ndef slow(x):\n    time.sleep(x)\n\n\ndef quick(x):\n    return x + 1\n",
    );
    write_file(
        dir.path(),
        "app.py",
        "from util import quick, slow\n\n\nasync def handler(n):\n    def step():\n        quick(n)\n        slow(n)\n\n    def fine():\n        return quick(n)\n\n    step()\n    return fine()\n",
    );
    let findings = check_json(dir.path());
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let chain: Vec<&str> = findings[0]["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(chain, vec!["handler", "step", "slow", "time.sleep"]);
    assert_eq!(findings[0]["line"].as_u64(), Some(12));
    assert!(findings[0]["message"]
        .as_str()
        .unwrap()
        .contains("`step` is sync and calls `time.sleep` 2 calls down"));
}

/// Threads started and joined inside a sync helper: the helper waits for all of them, so a
/// coroutine calling it blocks. The threads come from a comprehension, from a list filled by
/// `append` in a loop, or from a `List[Thread]` parameter; the negative twin starts its
/// threads and never joins them.
#[test]
fn a_sync_helper_joining_its_threads_blocks() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "fanout.py",
        r#"import threading
from typing import List

import requests


def notify_all(urls):
    def _one(url):
        requests.post(url, timeout=10)

    threads = [threading.Thread(target=_one, args=(u,)) for u in urls]
    [t.start() for t in threads]
    [t.join() for t in threads]


def notify_loop(urls):
    threads = []
    for u in urls:
        t = threading.Thread(target=requests.post, args=(u,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()


def wait_for(threads: List[threading.Thread]):
    for t in threads:
        t.join()


def fire_and_forget(urls):
    threads = [threading.Thread(target=requests.post, args=(u,)) for u in urls]
    for t in threads:
        t.start()


async def on_event(urls):
    notify_all(urls)
    notify_loop(urls)
    wait_for([])
    fire_and_forget(urls)
"#,
    );
    let findings = check_json(dir.path());
    let got: Vec<(u64, String)> = findings
        .iter()
        .map(|f| {
            let chain: Vec<&str> = f["chain"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["name"].as_str().unwrap())
                .collect();
            (f["line"].as_u64().unwrap(), chain.join(" -> "))
        })
        .collect();
    // The chain goes on into the thread target, so the reader sees what the join waits for;
    // `wait_for` is given its threads, so what they run is not known there.
    let chain = |line: u64, links: &str| (line, format!("on_event -> {links}"));
    assert_eq!(
        got,
        vec![
            chain(
                38,
                "notify_all -> threading.Thread.join -> notify_all._one -> requests.post"
            ),
            chain(39, "notify_loop -> threading.Thread.join -> requests.post"),
            chain(40, "wait_for -> threading.Thread.join"),
        ]
    );
}

/// An object made at module level in one module and imported by another (`cache =
/// redis.Redis()` in `_client.py`, then `from app._client import cache`): its calls block in a
/// coroutine (a direct finding) and in a sync helper (an indirect one). The negative twin
/// imports an object of a class that blocks nowhere.
#[test]
fn a_module_level_object_keeps_its_type_across_imports() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| write_file(dir.path(), rel, text);
    write("pyproject.toml", "");
    write("app/__init__.py", "");
    write(
        "app/_client.py",
        "import redis\n\n\nclass Counter:\n    def get(self, key):\n        return 0\n\n\ncache = redis.Redis(host=\"localhost\")\ncounter = Counter()\n",
    );
    write(
        "app/routes.py",
        "from app._client import cache, counter\n\n\ndef cached_user(uid):\n    return cache.get(uid)\n\n\nasync def profile(uid):\n    counter.get(uid)\n    value = cache.get(uid)\n    return value or cached_user(uid)\n",
    );
    let findings = check_json(dir.path());
    let got: Vec<(u64, &str, &str)> = findings
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().unwrap(),
                f["kind"].as_str().unwrap(),
                f["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!((got[0].0, got[0].1), (10, "direct"));
    assert!(got[0].2.contains("redis.Redis.get"), "{}", got[0].2);
    assert_eq!((got[1].0, got[1].1), (11, "indirect"));
    assert!(got[1].2.contains("calls `redis.Redis.get`"), "{}", got[1].2);
}

/// A helper that sleeps, makes a directory, writes a file and posts: the finding names the
/// costliest blocking call (the network round-trip), its chain leads there, and every other
/// one is listed, costliest first.
#[test]
fn every_blocking_call_behind_a_finding_is_listed_costliest_first() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "app.py",
        r#"import os
import time

import requests


def post_json(url, data):
    return requests.post(url, json=data, timeout=5)


def sync_all(url, items, folder):
    time.sleep(0.1)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "log"), "a") as f:
        f.write("x")
    return post_json(url, items)


async def handler(url, items):
    return sync_all(url, items, "/tmp/x")
"#,
    );
    let findings = check_json(dir.path());
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let names = |key: &str| -> Vec<String> {
        findings[0][key]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| format!("{}:{}", l["name"].as_str().unwrap(), l["line"]))
            .collect()
    };
    assert_eq!(
        names("sinks"),
        vec![
            "requests.post:8",
            "time.sleep:12",
            "builtins.open:14",
            "io.TextIOWrapper.write:15",
            "os.makedirs:13",
        ]
    );
    assert_eq!(
        names("chain"),
        vec![
            "handler:20",
            "sync_all:16",
            "post_json:8",
            "requests.post:8"
        ]
    );
    assert!(findings[0]["message"]
        .as_str()
        .unwrap()
        .contains("calls `requests.post` 2 calls down"));
    let text = unblock(&["check", "."], dir.path());
    assert!(String::from_utf8_lossy(&text.stdout)
        .contains("= blocks at: requests.post (./app.py:8), time.sleep (./app.py:12)"));
}

/// Functions passed to a helper that calls them: `call_with(fetch, u)` blocks through `fetch`;
/// a retry wrapper that sleeps on failure is reported with the request that always runs, its
/// own sleep listed after it; the negative twin passes a function that does not block.
#[test]
fn a_function_passed_to_a_helper_that_calls_it() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "app.py",
        r#"import time

import httpx


def call_with(func, *args):
    return func(*args)


def with_retry(name, fn, attempts=3):
    for attempt in range(attempts):
        try:
            return fn()
        except OSError:
            time.sleep(1)
    raise RuntimeError(name)


def fetch(url):
    return httpx.get(url)


def fetch_profile():
    return httpx.get("https://example.com/me")


def pure(x):
    return x * 2


async def g(u):
    call_with(fetch, u)
    with_retry("profile", fetch_profile)
    call_with(pure, 3)
    with_retry("p", fn=fetch_profile)
"#,
    );
    let findings = check_json(dir.path());
    let got: Vec<(u64, String, Vec<String>)> = findings
        .iter()
        .map(|f| {
            let names = |key: &str| -> Vec<String> {
                f[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|l| l["name"].as_str().unwrap().to_string())
                    .collect()
            };
            (
                f["line"].as_u64().unwrap(),
                names("chain").join(" -> "),
                names("sinks"),
            )
        })
        .collect();
    let retry = (
        "g -> with_retry -> fetch_profile -> httpx.get".to_string(),
        vec!["httpx.get".to_string(), "time.sleep".to_string()],
    );
    assert_eq!(
        got,
        vec![
            (
                32,
                "g -> call_with -> fetch -> httpx.get".to_string(),
                vec!["httpx.get".to_string()]
            ),
            (33, retry.0.clone(), retry.1.clone()),
            (35, retry.0, retry.1),
        ]
    );
}

/// Types that come from elsewhere: the return annotation of a function in another module, an
/// awaited coroutine's return annotation, `x: T = make()` (the annotation wins over an unknown
/// value), and tuple unpacking. The twin `count()` returns an int: no finding.
#[test]
fn types_flow_through_returns_annotations_and_unpacking() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| write_file(dir.path(), rel, text);
    write("pyproject.toml", "");
    write("app/__init__.py", "");
    write(
        "app/net.py",
        "import socket\nfrom pathlib import Path\n\n\ndef open_socket(host) -> socket.socket:\n    return socket.socket()\n\n\nasync def open_async(host) -> socket.socket:\n    return socket.socket()\n\n\ndef data_dir() -> Path:\n    return Path(\"/srv\")\n\n\ndef count() -> int:\n    return 1\n",
    );
    write(
        "app/routes.py",
        "from pathlib import Path\n\nfrom app.net import count, data_dir, open_async, open_socket\n\n\nasync def handler(host, make_base):\n    sock = open_socket(host)\n    sock.recv(10)\n    s2 = await open_async(host)\n    s2.recv(10)\n    base: Path = make_base()\n    base.exists()\n    src, dst = Path(\"a\"), Path(\"b\")\n    src.read_text()\n    dst.write_text(\"x\")\n    data_dir().mkdir()\n    n = count()\n    n.bit_length()\n",
    );
    let out = unblock(
        &["check", "--output-format", "json", "app/routes.py"],
        dir.path(),
    );
    let findings: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let lines: Vec<u64> = findings
        .iter()
        .filter(|f| f["kind"] == "direct")
        .map(|f| f["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![8, 10, 12, 14, 15, 16], "{findings:#?}");
}

/// A factory without a return annotation gives what its `return`s build: `return
/// httpx.Client()`, or a local built then returned, in this module or another (the factory's
/// body is not parsed: the call is read from its text). The twins build an `AsyncClient`,
/// return something else on one path, or return an attribute of the call.
#[test]
fn unannotated_factories_give_what_they_return() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| write_file(dir.path(), rel, text);
    write("pyproject.toml", "");
    write("app/__init__.py", "");
    write(
        "app/clients.py",
        "import httpx\n\n\ndef make_client():\n    return httpx.Client(timeout=5)\n\n\ndef make_async():\n    return httpx.AsyncClient()\n\n\ndef make_local(token):\n    client = httpx.Client(\n        headers={\"a\": \")\"},\n    )\n\n    def unused():\n        return 1\n\n    return client\n\n\ndef make_either(fast):\n    if fast:\n        return httpx.AsyncClient()\n    return httpx.Client()\n\n\ndef make_wrapped():\n    return httpx.Client().headers\n\n\nasync def here():\n    return make_client().get(\"https://a\")\n",
    );
    write(
        "app/routes.py",
        "from app import clients\nfrom app.clients import make_async, make_either, make_local, make_wrapped\n\n\nasync def handler():\n    c = clients.make_client()\n    c.get(\"https://x\")\n    make_local(\"t\").post(\"https://y\")\n    a = make_async()\n    await a.get(\"https://z\")\n    make_either(True).get(\"https://w\")\n    make_wrapped().get(\"k\")\n",
    );
    let findings = check_json(dir.path());
    let got: Vec<(String, u64)> = findings
        .iter()
        .map(|f| {
            (
                f["path"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("./")
                    .to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("app/clients.py".to_string(), 34),
            ("app/routes.py".to_string(), 7),
            ("app/routes.py".to_string(), 8),
        ],
        "{findings:#?}"
    );
    assert!(findings
        .iter()
        .all(|f| f["message"].as_str().unwrap().contains("httpx.Client.")));
}

/// A module's one shared object is often named in capitals (`STORE = Store(...)`): it keeps its
/// type across imports as a lower-case name does, its constructor arguments included. The
/// twins: a constant that is no object, and a shared object whose method does not block.
#[test]
fn an_upper_case_module_object_keeps_its_type_across_imports() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| write_file(dir.path(), rel, text);
    write("pyproject.toml", "");
    write("app/__init__.py", "");
    write(
        "app/store.py",
        "import requests\n\n\nclass Embedder:\n    def __call__(self, text):\n        return requests.post(\"https://e\", json={\"t\": text})\n\n\nclass Store:\n    def __init__(self, embed_fn):\n        self.embed = embed_fn\n\n    def add(self, text):\n        return self.embed(text)\n\n\nclass Counter:\n    def add(self, n):\n        return n + 1\n\n\nSTORE = Store(embed_fn=Embedder())\nCOUNTER = Counter()\nLIMIT = 10\n",
    );
    write(
        "app/routes.py",
        "from app.store import COUNTER, LIMIT, STORE\n\n\nasync def handler(text):\n    COUNTER.add(LIMIT.bit_length())\n    return STORE.add(text)\n",
    );
    let findings = check_json(dir.path());
    let got = lines_and_messages(&findings);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].0, 6);
    assert!(got[0].1.contains("`Store.add` is sync"), "{}", got[0].1);
}

/// A file in no package is run as a script (or collected by pytest) with its folder first on
/// `sys.path`: `import helper` there is the sibling `helper.py`, whether the folder or the
/// project is checked, and a sibling package (`tools/`) too. The twins: a name with no sibling
/// is the project's top-level module, and a sibling folder without `__init__.py` does not hide
/// it (a namespace portion loses to a regular module).
#[test]
fn a_script_imports_its_siblings() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| write_file(dir.path(), rel, text);
    write("pyproject.toml", "");
    write(
        "scripts/helper.py",
        "import time\n\n\ndef pause():\n    time.sleep(1)\n",
    );
    write("scripts/tools/__init__.py", "");
    write(
        "scripts/tools/net.py",
        "import requests\n\n\ndef ping():\n    requests.get(\"https://x\")\n",
    );
    write("scripts/quiet/README.md", "");
    write(
        "quiet.py",
        "import os\n\n\ndef pause():\n    os.makedirs(\"x\")\n",
    );
    write("shared.py", "def pause():\n    return 2\n");
    write(
        "scripts/run.py",
        "import helper\nimport quiet\nfrom shared import pause\nfrom tools.net import ping\n\n\nasync def main():\n    helper.pause()\n    quiet.pause()\n    pause()\n    ping()\n",
    );
    for args in [
        &["check", "--output-format", "json", "."][..],
        &["check", "--output-format", "json", "scripts"],
    ] {
        let out = unblock(args, dir.path());
        let findings: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        let got = lines_and_messages(&findings);
        assert_eq!(got.len(), 3, "{args:?}: {got:#?}");
        assert_eq!(got[0].0, 8);
        assert!(got[0].1.contains("time.sleep"), "{}", got[0].1);
        assert_eq!(got[1].0, 9);
        assert!(got[1].1.contains("os.makedirs"), "{}", got[1].1);
        assert_eq!(got[2].0, 11);
        assert!(got[2].1.contains("requests.get"), "{}", got[2].1);
    }
}

/// A function read from a table (`HANDLERS["get"](url)`): the value flow says which functions
/// the item may be, and each that blocks is a finding. The twins: the item read is a function
/// that does not block, and a table of more functions than a dispatch is pinned down by.
#[test]
fn a_function_read_from_a_table_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "app.py",
        "import requests\n\n\ndef fetch(url):\n    return requests.get(url)\n\n\ndef quiet(url):\n    return url\n\n\nHANDLERS = {\"get\": fetch, \"quiet\": quiet}\nMANY = [fetch, quiet, str, repr, ascii]\n\n\nasync def handler(url, kind, n):\n    HANDLERS[\"get\"](url)\n    HANDLERS[\"quiet\"](url)\n    HANDLERS[kind](url)\n    MANY[n](url)\n",
    );
    let findings = check_json(dir.path());
    let got = lines_and_messages(&findings);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0].0, 17);
    assert_eq!(got[1].0, 19);
    assert!(
        got.iter().all(|(_, m)| m.contains("`fetch` is sync")),
        "{got:#?}"
    );
}

/// Calling an instance runs its class's `__call__`: a module-level `embed = Embedder()` that
/// sleeps in `__call__` blocks the coroutine calling it; the twin's `__call__` does not block.
#[test]
fn calling_an_instance_runs_its_dunder_call() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "app.py",
        "import time\n\n\nclass Embedder:\n    def __call__(self, text):\n        time.sleep(0.1)\n        return [0.0]\n\n\nclass Cheap:\n    def __call__(self, text):\n        return [1.0]\n\n\nembed = Embedder()\n\n\nasync def search(q):\n    cheap = Cheap()\n    cheap(q)\n    return embed(q)\n",
    );
    let findings = check_json(dir.path());
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["line"].as_u64(), Some(21));
    let chain: Vec<&str> = findings[0]["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(chain, vec!["search", "Embedder.__call__", "time.sleep"]);
}

/// Dispatch through a Protocol and an abstract base: `self.embedder.embed(q)` with `embedder:
/// Embedder` (a Protocol) may run every project class that defines `embed`, and
/// `self.store.save(v)` (an ABC) every subclass; the chain names the implementation that
/// blocks. The twins (`FakeEmbedder`, `MemoryStore`) block nowhere, and a Protocol with only
/// non-blocking implementations gives no finding.
#[test]
fn calls_through_protocols_and_abstract_bases_reach_their_implementations() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| write_file(dir.path(), rel, text);
    write("pyproject.toml", "");
    write("app/__init__.py", "");
    write(
        "app/embed.py",
        "from abc import ABC, abstractmethod\nfrom typing import Protocol\n\n\nclass Embedder(Protocol):\n    def embed(self, text: str) -> list:\n        ...\n\n\nclass Ranker(Protocol):\n    def rank(self, items: list) -> list:\n        ...\n\n\nclass Store(ABC):\n    @abstractmethod\n    def save(self, item):\n        raise NotImplementedError\n",
    );
    write(
        "app/impl.py",
        "import sqlite3\nimport time\n\nfrom app.embed import Store\n\n\nclass LocalEmbedder:\n    def embed(self, text):\n        time.sleep(0.2)\n        return [0.0]\n\n\nclass FakeEmbedder:\n    def embed(self, text):\n        return [1.0]\n\n\nclass SortRanker:\n    def rank(self, items):\n        return sorted(items)\n\n\nclass SqlStore(Store):\n    def save(self, item):\n        with sqlite3.connect(\"x.db\") as conn:\n            conn.execute(\"insert into t values (?)\", (item,))\n\n\nclass MemoryStore(Store):\n    def save(self, item):\n        return None\n",
    );
    write(
        "app/service.py",
        "from app.embed import Embedder, Ranker, Store\n\n\nclass Service:\n    def __init__(self, embedder: Embedder, store: Store, ranker: Ranker):\n        self.embedder = embedder\n        self.store = store\n        self.ranker = ranker\n\n    async def search(self, q):\n        vector = self.embedder.embed(q)\n        self.store.save(vector)\n        return self.ranker.rank([vector])\n",
    );
    let findings = check_json(dir.path());
    let got: Vec<(u64, String)> = findings
        .iter()
        .map(|f| {
            let chain: Vec<&str> = f["chain"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["name"].as_str().unwrap())
                .collect();
            (f["line"].as_u64().unwrap(), chain.join(" -> "))
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                11,
                "Service.search -> Embedder.embed -> LocalEmbedder.embed -> time.sleep".to_string()
            ),
            (
                12,
                "Service.search -> Store.save -> SqlStore.save -> sqlite3.connect".to_string()
            ),
        ]
    );
}

/// Each finding's line and message, in order.
fn lines_and_messages(findings: &[Value]) -> Vec<(u64, &str)> {
    findings
        .iter()
        .map(|f| (f["line"].as_u64().unwrap(), f["message"].as_str().unwrap()))
        .collect()
}

/// Writes `text` to `rel` below `dir`, making the folders on the way.
fn write_file(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The findings of `unblock check --output-format json .` run in `dir`.
fn check_json(dir: &Path) -> Vec<Value> {
    let out = unblock(&["check", "--output-format", "json", "."], dir);
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

/// Items of annotated containers: `sessions[name]` and `sessions.get(name)` on
/// `Dict[str, requests.Session]`, `pool[0]` on `List[requests.Session]`; the twin's values are
/// ints.
#[test]
fn items_of_annotated_containers_have_their_type() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "app.py",
        "from typing import Dict, List\n\nimport requests\n\n\nasync def handler(sessions: Dict[str, requests.Session], pool: List[requests.Session], name: str):\n    sessions[name].get(\"https://x\")\n    sessions.get(name).post(\"https://x\")\n    pool[0].get(\"https://y\")\n    counts: Dict[str, int] = {}\n    counts[name].bit_length()\n",
    );
    let findings = check_json(dir.path());
    let lines: Vec<u64> = findings
        .iter()
        .map(|f| f["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![7, 8, 9], "{findings:#?}");
}

/// `functools.partial(fetch, url)` called later, or passed to a helper that calls it, runs
/// `fetch`.
#[test]
fn a_partial_runs_its_function() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "app.py",
        "import functools\nfrom functools import partial\n\nimport httpx\n\n\ndef fetch(url):\n    return httpx.get(url)\n\n\ndef call_with(func):\n    return func()\n\n\nasync def g(u):\n    p = functools.partial(fetch, u)\n    p()\n    call_with(partial(fetch, u))\n    q = partial(fetch, u)\n    call_with(q)\n",
    );
    let findings = check_json(dir.path());
    let lines: Vec<u64> = findings
        .iter()
        .map(|f| f["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![17, 18, 20], "{findings:#?}");
}

/// A blocking call that is already the operand of `await` (`await time.sleep(1)`, `await
/// s.get(u)` on a sync session) is rewritten without a second `await`: CPython rejects
/// `await await ...` (tree-sitter does not). Seen on langflow: `await db.exec(stmt)`.
#[test]
fn an_awaited_blocking_call_gets_one_await() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "app.py",
        "import time\n\nimport requests\n\n\nasync def f(s: requests.Session):\n    await time.sleep(1)\n    r = await s.get(\"u\")\n    return r\n",
    );
    let out = unblock(&["apply", "."], dir.path());
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(dir.path().join("app.py")).unwrap();
    assert!(!text.contains("await await"), "{text}");
    assert!(text.contains("    await asyncio.sleep(1)\n"), "{text}");
    // A method awaited on an object typed by inference: the object is an async one whatever
    // the annotation says (langflow annotates an AsyncSession as a Session), so no finding
    // and no rewrite.
    assert!(text.contains("    r = await s.get(\"u\")\n"), "{text}");
}

/// What a constructor's callers pass is what `self.x = x` stores: `Store(requests.Session(),
/// embed_fn=embedder)` in another module makes `self.client.get` a `requests.Session.get`
/// and `self.embed(q)` a call of `embedder`. The twins: `Cache` is built with an
/// `httpx.AsyncClient` in one place and a dict in another (the callers disagree: unknown),
/// `Quiet` always gets an `httpx.AsyncClient` (its `get` returns a coroutine), and `Lazy`
/// stores a blocking function it never calls.
#[test]
fn constructor_arguments_give_stored_attributes_their_type() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| write_file(dir.path(), rel, text);
    write("pyproject.toml", "");
    write("app/__init__.py", "");
    write(
        "app/store.py",
        "class Store:\n    def __init__(self, client, embed_fn=None, *, retries=3):\n        self.client = client\n        self.embed = embed_fn\n        self.retries = retries\n\n    def search(self, q):\n        vector = self.embed(q)\n        return self.client.get(\"https://x\", params={\"v\": vector})\n\n\nclass Cache:\n    def __init__(self, backend):\n        self.backend = backend\n\n    def read(self, key):\n        return self.backend.get(key)\n\n\nclass Quiet:\n    def __init__(self, client):\n        self.client = client\n\n    def ping(self):\n        return self.client.get(\"https://x\")\n\n\nclass Lazy:\n    def __init__(self, loader):\n        self.loader = loader\n\n    def name(self):\n        return self.loader.__name__\n",
    );
    write(
        "app/main.py",
        "import time\n\nimport httpx\nimport requests\n\nfrom app.store import Cache, Lazy, Quiet, Store\n\n\ndef embedder(q):\n    time.sleep(0.1)\n    return [0.0]\n\n\nstore = Store(requests.Session(), embed_fn=embedder)\ncache_a = Cache(httpx.AsyncClient())\ncache_b = Cache(dict())\nquiet = Quiet(client=httpx.AsyncClient())\nlazy = Lazy(embedder)\n\n\nasync def handler(q):\n    store.search(q)\n    cache_a.read(q)\n    cache_b.read(q)\n    quiet.ping()\n    lazy.name()\n",
    );
    let findings = check_json(dir.path());
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["line"].as_u64(), Some(22));
    let sinks: Vec<&str> = findings[0]["sinks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(sinks, vec!["requests.Session.get", "time.sleep"]);

    let out = Command::new(env!("CARGO_BIN_EXE_unblock"))
        .args(["graph", "--output-format", "json", "."])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let graph: Value = serde_json::from_slice(&out.stdout).expect("graph JSON");
    assert_eq!(
        graph["app.store.Store.search"],
        serde_json::json!(["app.main.embedder", "requests.Session.get"])
    );
    assert_eq!(graph["app.store.Cache.read"], serde_json::json!([]));
    assert_eq!(graph["app.store.Lazy.name"], serde_json::json!([]));
}

/// A name assigned through `nonlocal` in a nested coroutine is the enclosing function's:
/// `sock = socket.create_connection(...)` there makes `sock.recv` in the outer coroutine a
/// socket read; the twin `count` is an int.
#[test]
fn a_nonlocal_assignment_types_the_enclosing_name() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "app.py",
        "import socket\n\n\nasync def serve():\n    sock = None\n    count = 0\n\n    async def connect():\n        nonlocal sock, count\n        sock = socket.create_connection((\"127.0.0.1\", 80))\n        count = 1\n\n    await connect()\n    sock.recv(10)\n    count.bit_length()\n",
    );
    let findings = check_json(dir.path());
    let lines: Vec<u64> = findings
        .iter()
        .map(|f| f["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![10, 14], "{findings:#?}");
}

/// A decorated function runs the wrapper its decorator returns: `@throttled` sleeps before
/// every call of `quick`, and `@retry(times=3)` (a factory) sleeps between attempts, listed
/// after the `httpx.get` the function itself makes. The twins: `@timed`'s wrapper only calls
/// through, `@register` returns the function itself, and `@in_thread`'s wrapper is a
/// coroutine (it blocks nothing when `cheap` is called; its sleep is awaited).
#[test]
fn a_decorated_function_runs_its_decorators_wrapper() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "app.py",
        r#"import asyncio
import functools
import time

import httpx

REGISTRY = []


def retry(times):
    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for _ in range(times):
                try:
                    return func(*args, **kwargs)
                except Exception:
                    time.sleep(1)
        return wrapper
    return decorator


def throttled(func):
    def wrapper(*args, **kwargs):
        time.sleep(0.5)
        return func(*args, **kwargs)
    return wrapper


def timed(func):
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)
    return wrapper


def register(func):
    REGISTRY.append(func)
    return func


def in_thread(func):
    async def wrapper(*args):
        await asyncio.sleep(0)
        return func(*args)
    return wrapper


@retry(times=3)
def fetch(u):
    return httpx.get(u)


@throttled
def quick(x):
    return x


@timed
def compute(x):
    return x * 2


@register
def named(x):
    return x


@in_thread
def cheap(x):
    return x


async def g(u):
    fetch(u)
    quick(1)
    compute(2)
    named(3)
    await cheap(4)
"#,
    );
    let findings = check_json(dir.path());
    let got: Vec<(u64, String, String)> = findings
        .iter()
        .map(|f| {
            let names = |key: &str| {
                f[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["name"].as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(" -> ")
            };
            (f["line"].as_u64().unwrap(), names("chain"), names("sinks"))
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                74,
                "g -> fetch -> httpx.get".to_string(),
                "httpx.get -> time.sleep".to_string()
            ),
            (
                75,
                "g -> quick -> throttled.wrapper -> time.sleep".to_string(),
                "time.sleep".to_string()
            ),
        ],
        "{findings:#?}"
    );
}

/// `--propagate` never makes a function async whose own blocking call would then have no fix:
/// `download`'s `requests.post(..., stream=True)` read after the call cannot be rewritten, so
/// as `async def` it would block the loop where the default fix had moved it to a thread. It
/// keeps its `to_thread` at the call and says why; `ping` is converted, and the summary has
/// no leftover note about awaiting a plain `def`.
#[test]
fn propagate_keeps_a_helper_sync_when_its_blocking_call_has_no_async_fix() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "app.py",
        "import requests\n\n\ndef download(url, dest):\n    r = requests.post(url, stream=True, timeout=10)\n    with open(dest, \"wb\") as f:\n        for chunk in r.iter_content(1024):\n            f.write(chunk)\n    return dest\n\n\ndef ping(url):\n    return requests.get(url, timeout=5).status_code\n\n\nasync def handler(url):\n    download(url, \"/tmp/x\")\n    return ping(url)\n",
    );
    let out = unblock(
        &["check", "--propagate", "--output-format", "json", "."],
        dir.path(),
    );
    let findings: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let note = |line: u64| {
        findings
            .iter()
            .find(|f| f["line"].as_u64() == Some(line))
            .map(|f| f["fix"]["note"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert!(
        note(17).contains(
            "not made async: `download` makes a blocking call at line 5 that would have no fix"
        ),
        "{}",
        note(17)
    );
    assert!(note(18).starts_with("(--propagate)"), "{}", note(18));

    let out = unblock(&["apply", "--propagate", "--unsafe-fixes", "."], dir.path());
    assert!(out.status.success(), "{out:?}");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(!summary.contains("not fixed"), "{summary}");
    let text = std::fs::read_to_string(dir.path().join("app.py")).unwrap();
    assert!(text.contains("\ndef download(url, dest):\n"), "{text}");
    assert!(text.contains("\nasync def ping(url):\n"), "{text}");
    assert!(
        text.contains("    await asyncio.to_thread(download, url, \"/tmp/x\")\n"),
        "{text}"
    );
    let again = unblock(&["apply", "--propagate", "--unsafe-fixes", "."], dir.path());
    assert!(again.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("app.py")).unwrap(),
        text,
        "a second run changes nothing"
    );
}

/// A helper that needs the running loop (`asyncio.create_task`) cannot go to a worker thread:
/// there it raises, so the finding has no fix and says why (langflow's `start_job` was given
/// an unsafe fix that failed on every call). A helper that only touches a loop object
/// (`asyncio.Queue()`) keeps its unsafe fix.
#[test]
fn a_helper_that_needs_the_running_loop_gets_no_thread_fix() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "app.py",
        "import asyncio\n\nimport requests\n\n\ndef start_job(url):\n    requests.get(url, timeout=5)\n    return asyncio.create_task(asyncio.sleep(1))\n\n\ndef make_queue(url):\n    requests.get(url, timeout=5)\n    return asyncio.Queue()\n\n\nasync def handler(url):\n    start_job(url)\n    make_queue(url)\n",
    );
    let findings = check_json(dir.path());
    let by_line = |line: u64| {
        findings
            .iter()
            .find(|f| f["line"].as_u64() == Some(line))
            .unwrap_or_else(|| panic!("no finding at {line}: {findings:#?}"))
    };
    let start = by_line(17);
    assert!(start["fix"].is_null(), "{start:#?}");
    assert!(
        start["not_fixable"]
            .as_str()
            .unwrap()
            .contains("raises on a worker thread"),
        "{start:#?}"
    );
    assert_eq!(by_line(18)["fix"]["safety"], "unsafe");
}

/// A pause of a millisecond in a constructor does not make every construction a blocking
/// call (chainlit's `Message.__init__` sleeps 1 ms: 57 constructions were moved to threads);
/// a real pause still does.
#[test]
fn a_millisecond_sleep_does_not_make_a_blocking_helper() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "app.py",
        "import time\n\n\nclass Message:\n    def __init__(self, text):\n        time.sleep(0.001)\n        self.text = text\n\n\nclass Retry:\n    def __init__(self):\n        time.sleep(0.5)\n\n\nasync def handler():\n    Message(\"hi\")\n    Retry()\n",
    );
    let findings = check_json(dir.path());
    let lines: Vec<u64> = findings
        .iter()
        .map(|f| f["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![17], "{findings:#?}");
}

/// A cached function that takes no argument runs its body once per process: what it does on
/// its first call is no blocking helper (openhands' `is_running_in_docker`). Its negative
/// twin: a cached function with a parameter blocks again for every new argument.
#[test]
fn a_cached_function_without_arguments_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "app.py",
        "import functools\nimport os\nfrom functools import lru_cache\n\n\n@lru_cache(maxsize=1)\ndef in_docker():\n    return os.path.exists(\"/.dockerenv\")\n\n\n@functools.cache\ndef settings():\n    with open(\"/etc/app.toml\") as fh:\n        return fh.read()\n\n\n@lru_cache(maxsize=128)\ndef user_file(name):\n    with open(name) as fh:\n        return fh.read()\n\n\nasync def handler(name):\n    if in_docker():\n        return settings()\n    return user_file(name)\n",
    );
    let findings = check_json(dir.path());
    let lines: Vec<(u64, &str)> = findings
        .iter()
        .map(|f| (f["line"].as_u64().unwrap(), f["message"].as_str().unwrap()))
        .collect();
    assert_eq!(lines.len(), 1, "{findings:#?}");
    assert_eq!(lines[0].0, 26);
    assert!(lines[0].1.contains("`user_file` is sync"), "{findings:#?}");
}

/// A lock built in one module, entered by a sync helper of another (through the module
/// global, and through a `self` attribute), called from coroutines of a third: each call is
/// an indirect finding whose chain ends at the `with`; the coroutine entering the imported
/// global itself is a direct one. The twin builds its lock with `timeout=0` (one attempt, no
/// wait).
#[test]
fn a_sync_helper_entering_a_file_lock_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| write_file(dir.path(), rel, text);
    write("pyproject.toml", "");
    write("app/__init__.py", "");
    write(
        "app/locks.py",
        "from filelock import FileLock\n\nSTARTUP_LOCK = FileLock(\"/tmp/startup.lock\")\nTRY_LOCK = FileLock(\"/tmp/try.lock\", timeout=0)\n",
    );
    write(
        "app/setup.py",
        "from filelock import FileLock\n\nfrom app.locks import STARTUP_LOCK\n\n\ndef seed():\n    with STARTUP_LOCK:\n        return 1\n\n\nclass Migrator:\n    def __init__(self, path):\n        self.lock = FileLock(path, timeout=30)\n        self.once = FileLock(path, timeout=0)\n\n    def migrate(self):\n        with self.lock:\n            return 2\n\n    def migrate_once(self):\n        with self.once:\n            return 3\n",
    );
    write(
        "app/main.py",
        "from app.locks import STARTUP_LOCK\nfrom app.setup import Migrator, seed\n\n\nasync def startup(path):\n    seed()\n    migrator = Migrator(path)\n    migrator.migrate()\n    migrator.migrate_once()\n    with STARTUP_LOCK:\n        pass\n",
    );
    let findings = check_json(dir.path());
    let got: Vec<(u64, &str, Vec<String>)> = findings
        .iter()
        .map(|f| {
            let chain = f["chain"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| format!("{}:{}", l["name"].as_str().unwrap(), l["line"]))
                .collect();
            (
                f["line"].as_u64().unwrap(),
                f["kind"].as_str().unwrap(),
                chain,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                6,
                "indirect",
                vec![
                    "startup:6".to_string(),
                    "seed:7".to_string(),
                    "filelock.FileLock.__enter__:7".to_string()
                ]
            ),
            (
                8,
                "indirect",
                vec![
                    "startup:8".to_string(),
                    "Migrator.migrate:17".to_string(),
                    "filelock.FileLock.__enter__:17".to_string()
                ]
            ),
            (10, "direct", vec![]),
        ],
        "{findings:#?}"
    );
}

/// `--propagate` keeps a helper sync when a coroutine calls it in cleanup: awaited in a
/// `finally` block or an `except BaseException:` handler, a second cancellation would cut the
/// cleanup short, which is why the thread hop there is only an unsafe fix (openhands'
/// `_cleanup_tempfile`, called in both). The call in the `try` body keeps its safe
/// `to_thread`; the ones in cleanup get it only with `--unsafe-fixes`. Its negative twin,
/// `archive`, called only outside cleanup, becomes `async def`.
#[test]
fn propagate_keeps_a_helper_sync_when_cleanup_calls_it() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "app.py",
        "import os\nimport shutil\n\n\ndef cleanup(path):\n    try:\n        os.unlink(path)\n    except OSError:\n        pass\n\n\ndef archive(path):\n    shutil.copy(path, path + \".bak\")\n\n\nasync def upload(path):\n    await send(path)\n\n\nasync def send(path):\n    return path\n\n\nasync def handler(path):\n    try:\n        archive(path)\n        cleanup(path + \".old\")\n        await upload(path)\n    except BaseException:\n        cleanup(path)\n        raise\n    finally:\n        cleanup(path + \".tmp\")\n",
    );
    let out = unblock(
        &["check", "--propagate", "--output-format", "json", "."],
        dir.path(),
    );
    let findings: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let fix_of = |line: u64| {
        findings
            .iter()
            .find(|f| f["line"].as_u64() == Some(line))
            .map(|f| f["fix"].clone())
            .unwrap()
    };
    assert_eq!(fix_of(27)["safety"], "safe", "{findings:#?}");
    assert!(
        fix_of(27)["note"]
            .as_str()
            .unwrap()
            .contains("is called in a handler that also runs when the task is cancelled"),
        "{findings:#?}"
    );
    for line in [30, 33] {
        assert_eq!(fix_of(line)["safety"], "unsafe", "{findings:#?}");
    }

    let diff = unblock(&["diff", "--propagate", "."], dir.path());
    snapshot(
        "callgraph__propagate_cleanup",
        &String::from_utf8_lossy(&diff.stdout),
    );
    let out = unblock(&["apply", "--propagate", "."], dir.path());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = std::fs::read_to_string(dir.path().join("app.py")).unwrap();
    assert!(text.contains("\ndef cleanup(path):\n"), "{text}");
    assert!(text.contains("\nasync def archive(path):\n"), "{text}");
    assert!(
        text.contains("        cleanup(path)\n        raise\n"),
        "{text}"
    );
    assert!(
        text.contains("    finally:\n        cleanup(path + \".tmp\")\n"),
        "{text}"
    );
    let compiled = Command::new("python3")
        .args(["-c", "import ast, sys; ast.parse(open('app.py').read())"])
        .current_dir(dir.path())
        .output()
        .expect("python3 runs");
    assert!(compiled.status.success(), "{compiled:?}");
}

/// khoj's `is_internet_connected`: `try: requests.head(...)` under a bare `except: return
/// False`. Made `async def`, the rewritten call's `await` would be the first place a
/// cancellation reaches that `try`, and the handler would swallow it (the cancelled task
/// carries on with `False`). So `--propagate` alone keeps it sync (its thread hop at the call
/// site is safe: the caller's `try` is not the helper's); with `--unsafe-fixes` it converts.
#[test]
fn propagate_keeps_a_helper_sync_when_its_handler_would_swallow_a_cancellation() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "app.py",
        "import requests\n\n\ndef is_connected():\n    try:\n        response = requests.head(\"https://example.com\")\n        return response.status_code == 200\n    except:  # noqa: E722\n        return False\n\n\nasync def search(query):\n    if not is_connected():\n        return []\n    return [query]\n",
    );
    let out = unblock(&["apply", "--propagate", "."], dir.path());
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(dir.path().join("app.py")).unwrap();
    assert!(text.contains("\ndef is_connected():\n"), "{text}");
    assert!(
        text.contains("    if not await asyncio.to_thread(is_connected):\n"),
        "{text}"
    );

    write_file(
        dir.path(),
        "app.py",
        "import requests\n\n\ndef is_connected():\n    try:\n        response = requests.head(\"https://example.com\")\n        return response.status_code == 200\n    except:  # noqa: E722\n        return False\n\n\nasync def search(query):\n    if not is_connected():\n        return []\n    return [query]\n",
    );
    let out = unblock(&["apply", "--propagate", "--unsafe-fixes", "."], dir.path());
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(dir.path().join("app.py")).unwrap();
    assert!(text.contains("\nasync def is_connected():\n"), "{text}");
    assert!(
        text.contains("    if not await is_connected():\n"),
        "{text}"
    );
}

/// A name assigned by a statement of the function body itself is what that statement made,
/// from there on, whatever it held before: `path = pathlib.Path(path)` makes the parameter a
/// `Path` (aiohttp's `CookieJar.load`), `log = Log()` hides the coroutine's `log` parameter.
/// An assignment in a branch hides nothing: the name may still hold the parameter.
#[test]
fn a_name_reassigned_in_the_body_holds_what_was_assigned() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "app.py",
        r#"import pathlib


class Log:
    def info(self, line):
        print(line)


class FileLog(Log):
    def info(self, line):
        pathlib.Path("app.log").write_text(line)


def load(path):
    path = pathlib.Path(path)
    with path.open() as f:
        return f.read()


def maybe_load(path):
    if isinstance(path, str):
        path = pathlib.Path(path)
    return path.stem


async def handler(log, name):
    log = FileLog()
    log.info("start")
    load(name)
    maybe_load(name)
"#,
    );
    let findings = check_json(dir.path());
    let got: Vec<(u64, &str)> = findings
        .iter()
        .map(|f| (f["line"].as_u64().unwrap(), f["message"].as_str().unwrap()))
        .collect();
    assert_eq!(got.len(), 2, "{findings:#?}");
    assert_eq!(got[0].0, 28);
    assert!(got[0].1.contains("`FileLog.info` is sync"), "{findings:#?}");
    assert_eq!(got[1].0, 29);
    assert!(
        got[1]
            .1
            .contains("`load` is sync and calls `pathlib.Path.open`"),
        "{findings:#?}"
    );
}

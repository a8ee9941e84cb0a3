#!/usr/bin/env python3
"""Do a file, its folder and the whole tree report the same findings for that file?

    python3 benches/paths_agree.py APP_DIR [--binary target/release/unblock] [--files 20]

Checks APP_DIR whole (from APP_DIR), takes up to --files files with indirect findings (spread
over the tree: every k-th in sorted order), checks each file alone and its folder alone, and
compares the findings located in that file: (line, column, recipe, kind, chain names). Prints
one line per file that differs and a summary; exits 1 if any differs. Also prints how many
calls the whole-tree run could not follow (the `unresolved` counts of --statistics json).
"""
import argparse
import json
import os
import subprocess
import sys


def findings(binary, cwd, paths):
    out = subprocess.run(
        [binary, "check", "--output-format", "json", *paths],
        cwd=cwd, capture_output=True, text=True,
    )
    if out.returncode not in (0, 1):
        sys.exit(f"unblock check {paths} failed ({out.returncode}):\n{out.stderr}")
    return json.loads(out.stdout)


def key(f):
    chain = tuple(link["name"] for link in f.get("chain", []))
    return (f["line"], f["column"], f["recipe"], f["kind"], chain)


def by_file(found):
    out = {}
    for f in found:
        out.setdefault(os.path.normpath(f["path"]), set()).add(key(f))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("app")
    parser.add_argument("--binary", default=os.path.abspath("target/release/unblock"))
    parser.add_argument("--files", type=int, default=20)
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    whole = by_file(findings(binary, args.app, ["."]))
    indirect = sorted(p for p, fs in whole.items() if any(k[3] == "indirect" for k in fs))
    step = max(1, len(indirect) // args.files)
    chosen = indirect[::step][: args.files]
    differ = 0
    for path in chosen:
        for label, given in (("file", path), ("folder", os.path.dirname(path) or ".")):
            alone = by_file(findings(binary, args.app, [given])).get(path, set())
            if alone != whole[path]:
                differ += 1
                print(f"DIFFERS ({label}) {path}: whole tree {len(whole[path])}, {label} {len(alone)}")
                for k in sorted(whole[path] - alone):
                    print(f"   only in the whole tree: {k}")
                for k in sorted(alone - whole[path]):
                    print(f"   only with the {label}: {k}")
    total = sum(len(v) for v in whole.values())
    n_indirect = sum(1 for v in whole.values() for k in v if k[3] == "indirect")
    print(
        f"{os.path.basename(os.path.abspath(args.app))}: {total} findings ({n_indirect} indirect) in "
        f"{len(whole)} files; {len(indirect)} files with indirect findings; {len(chosen)} checked "
        f"alone and by folder; {differ} differ"
    )
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()

"""Checks the declared minimum Rust version against the workspace and its dependencies.

Every workspace crate must inherit the workspace's `rust-version`, and no dependency in
the lock file may declare a newer one (a newer dependency would make the declaration a
lie). Clippy's `incompatible_msrv` lint, run by `.ci/run`, checks our own use of the
standard library against the same number. Only one toolchain exists on CI machines, so
the version cannot be checked by building with it.
"""

import json
import subprocess
import sys


def version(text):
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def main():
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    members = set(meta["workspace_members"])
    ours = {p["rust_version"] for p in meta["packages"] if p["id"] in members}
    if len(ours) != 1 or None in ours:
        print(f"workspace crates declare differing or missing rust-version: {ours}")
        return 1
    declared = ours.pop()
    newer = [
        f"{p['name']} {p['version']} needs {p['rust_version']}"
        for p in meta["packages"]
        if p["id"] not in members
        and p.get("rust_version")
        and version(p["rust_version"]) > version(declared)
    ]
    if newer:
        print(f"rust-version {declared} is below what dependencies need:")
        print("\n".join(sorted(newer)))
        return 1
    print(f"rust-version {declared}: every crate declares it, no dependency needs more")
    return 0


if __name__ == "__main__":
    sys.exit(main())

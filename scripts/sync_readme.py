#!/usr/bin/env python3
"""Copies the marked regions of examples/*.cpp into README.md's C++ blocks, or checks them.

An example marks a region with two comment lines:
    // [readme:NAME]
    ...the snippet...
    // [readme:end]
and the README names it on the line before the block:
    <!-- readme:NAME examples/FILE.cpp -->
    ```cpp
    ...copied here, its common indentation removed...
    ```
Every ```cpp block of the README must be such a copy: the examples are compiled and run by
CTest, so the README shows only code that builds and works.

    scripts/sync_readme.py           rewrite the README blocks from the examples
    scripts/sync_readme.py --check   exit 1 (and show the difference) when they differ
"""
import difflib
import pathlib
import re
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!-- readme:([a-z0-9_]+) (\S+) -->$")
REGION_START = re.compile(r"^\s*// \[readme:([a-z0-9_]+)\]\s*$")
REGION_END = re.compile(r"^\s*// \[readme:end\]\s*$")


class SnippetError(Exception):
    pass


def region(path: pathlib.Path, name: str) -> list:
    """The lines of region `name` in `path`, dedented, without the marker lines."""
    if not path.is_file():
        raise SnippetError(f"{path.relative_to(ROOT)}: no such file")
    lines = path.read_text().splitlines()
    found = None
    i = 0
    while i < len(lines):
        m = REGION_START.match(lines[i])
        if m:
            j = i + 1
            while j < len(lines) and not REGION_END.match(lines[j]):
                if REGION_START.match(lines[j]):
                    raise SnippetError(f"{path.relative_to(ROOT)}:{j + 1}: region inside a region")
                j += 1
            if j == len(lines):
                raise SnippetError(f"{path.relative_to(ROOT)}:{i + 1}: [readme:{m.group(1)}] not ended")
            if m.group(1) == name:
                if found is not None:
                    raise SnippetError(f"{path.relative_to(ROOT)}: two regions named {name}")
                found = lines[i + 1:j]
            i = j
        i += 1
    if found is None:
        raise SnippetError(f"{path.relative_to(ROOT)}: no region [readme:{name}]")
    return textwrap.dedent("\n".join(found)).splitlines()


def synced(readme: list) -> list:
    """The README with every marked block replaced by its region."""
    out = []
    i = 0
    while i < len(readme):
        line = readme[i]
        out.append(line)
        m = MARKER.match(line)
        if line.startswith("```cpp"):
            raise SnippetError(f"README.md:{i + 1}: a ```cpp block without a readme marker above it")
        if m:
            if i + 1 >= len(readme) or readme[i + 1] != "```cpp":
                raise SnippetError(f"README.md:{i + 1}: the marker must be followed by ```cpp")
            end = i + 2
            while end < len(readme) and readme[end] != "```":
                end += 1
            if end == len(readme):
                raise SnippetError(f"README.md:{i + 2}: unterminated ```cpp block")
            out.append("```cpp")
            out.extend(region(ROOT / m.group(2), m.group(1)))
            out.append("```")
            i = end
        i += 1
    return out


def main() -> int:
    check = sys.argv[1:] == ["--check"]
    if sys.argv[1:] and not check:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: scripts/sync_readme.py [--check]", file=sys.stderr)
        return 2
    path = ROOT / "README.md"
    current = path.read_text().splitlines()
    try:
        wanted = synced(current)
    except SnippetError as e:
        print(f"sync_readme: {e}", file=sys.stderr)
        return 1
    if wanted == current:
        print("README.md: every C++ block matches its example")
        return 0
    if check:
        sys.stdout.writelines(line + "\n" for line in difflib.unified_diff(
            current, wanted, "README.md", "README.md (from examples/)", lineterm=""))
        print("README.md differs from the examples: run scripts/sync_readme.py", file=sys.stderr)
        return 1
    path.write_text("\n".join(wanted) + "\n")
    print("README.md: C++ blocks copied from the examples")
    return 0


if __name__ == "__main__":
    sys.exit(main())

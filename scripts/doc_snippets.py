#!/usr/bin/env python3
"""Keeps the code blocks of docs/*.md equal to the files they show.

A guide marks a block with a line `<!-- snippet: docs/snippets/NAME.cpp -->`; the fenced
block right after it is that file's text. `scripts/doc_snippets.py` rewrites the blocks;
`--check` (run by scripts/docs.sh) fails if any block differs from its file. The files
themselves are compiled and run by the ctest test docs_snippets (tests/docs).
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MARK = re.compile(r"<!-- snippet: (\S+) -->\n```cpp\n.*?```\n", re.S)


def render(text):
    def block(m):
        code = (ROOT / m.group(1)).read_text()
        return f"<!-- snippet: {m.group(1)} -->\n```cpp\n{code}```\n"
    return MARK.sub(block, text)


def main():
    check = "--check" in sys.argv
    stale = []
    for md in sorted((ROOT / "docs").glob("*.md")):
        text = md.read_text()
        new = render(text)
        if new != text:
            stale.append(md.relative_to(ROOT))
            if not check:
                md.write_text(new)
    if check and stale:
        print("docs: code blocks differ from docs/snippets (run scripts/doc_snippets.py):",
              *map(str, stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

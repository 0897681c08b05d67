#!/usr/bin/env python3
"""Doxygen INPUT_FILTER for duet's headers (scripts/docs.sh).

duet's headers document declarations with plain `//` comments placed right above them (or
after them on the same line). This filter turns exactly those into Doxygen comments while
Doxygen reads a file, so the headers keep their ordinary style:

- a block of `//` lines directly followed by a declaration becomes `///`;
- a `// ...` after code on a line becomes `///< ...`;
- blocks followed by a blank line, a preprocessor line or a closing brace (file headers,
  section notes) stay plain comments, as do comments inside function bodies.
The line count never changes, so Doxygen's line numbers stay right.
"""
import re
import sys

COMMENT = re.compile(r"^(\s*)//(?!/)(.*)$")
TRAILING = re.compile(r"^(\s*\S.*?;|\s*\S.*?[,{])(\s+)//(?!/)\s?(.*)$")


def body_depths(lines):
    """For each line, whether it lies inside a function body (braces opened after ')')."""
    inside = []
    depth_stack = []  # True for a function-body brace, False for a namespace/class brace
    for line in lines:
        code = line.split("//", 1)[0]
        inside.append(any(depth_stack))
        for i, ch in enumerate(code):
            if ch == "{":
                before = code[:i].rstrip()
                is_body = (bool(depth_stack) and any(depth_stack)) or before.endswith(")") \
                    or before.endswith("const") or before.endswith("noexcept") \
                    or before.endswith("override") or before.endswith("mutable") \
                    or re.search(r"\)\s*(->.*)?$", before) is not None \
                    or (before == "" and inside_decl_continuation(lines, len(inside) - 1))
                depth_stack.append(is_body)
            elif ch == "}" and depth_stack:
                depth_stack.pop()
    return inside


def inside_decl_continuation(lines, idx):
    """A '{' alone on a line opens a body when the previous code line ends with ')'."""
    j = idx - 1
    while j >= 0:
        prev = lines[j].split("//", 1)[0].strip()
        if prev:
            return prev.endswith(")") or prev.endswith("noexcept") or prev.endswith("const")
        j -= 1
    return False


def main():
    path = sys.argv[1]
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    in_body = body_depths(lines)
    out = list(lines)
    i = 0
    n = len(lines)
    while i < n:
        m = COMMENT.match(lines[i])
        if not m:
            if not in_body[i]:
                t = TRAILING.match(lines[i])
                if t and '"' not in lines[i].split("//", 1)[1]:
                    out[i] = f"{t.group(1)}{t.group(2)}///< {t.group(3)}"
            i += 1
            continue
        j = i
        while j < n and COMMENT.match(lines[j]):
            j += 1
        nxt = lines[j].strip() if j < n else ""
        documents = (not in_body[i] and nxt != "" and not nxt.startswith("#")
                     and not nxt.startswith("}") and not nxt.startswith("namespace")
                     and not nxt.startswith("public:") and not nxt.startswith("private:")
                     and not nxt.startswith("protected:"))
        if documents:
            for k in range(i, j):
                mk = COMMENT.match(lines[k])
                out[k] = f"{mk.group(1)}///{mk.group(2)}"
        i = j
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()

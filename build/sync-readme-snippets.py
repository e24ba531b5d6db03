#!/usr/bin/env python3
"""Keeps the C# examples of the READMEs equal to compiled snippets (docs/snippets/Readme/*.cs).

A README example is a line

    <!-- snippet: docs/snippets/Readme/Lru.cs#ReadmeLru -->

(path from the repository root) directly followed by a ```csharp fenced block. The block must be:
the README's own leading `using` directives (each one a using directive of the snippet file,
none twice; none at all is fine), a blank line, then the text between `// <ReadmeLru>` and `// </ReadmeLru>`
in the snippet file, dedented by its smallest indentation, trailing whitespace removed.
tests/AsyncUtils.Docs.Tests/ReadmeSnippetTests.cs checks the same rule.

    python3 build/sync-readme-snippets.py          rewrite every marked block from its region
    python3 build/sync-readme-snippets.py --check  change nothing; exit 1 listing drifted blocks

Only the lines inside marked blocks are ever rewritten. Files: README.md and packages/*/README.md.
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKER = re.compile(r"^<!-- snippet: (?P<path>[^#\s]+)#(?P<region>[A-Za-z0-9_]+) -->$")
USING = re.compile(r"^using (static )?[A-Za-z_][A-Za-z0-9_.]*( = [A-Za-z_][A-Za-z0-9_.<>, ]*)?;$")


def readmes():
    yield os.path.join(ROOT, "README.md")
    yield from sorted(glob.glob(os.path.join(ROOT, "packages", "*", "README.md")))


def region_text(source, region):
    """The dedented lines between // <region> and // </region>, or raises ValueError."""
    lines = source.split("\n")
    starts = [i for i, l in enumerate(lines) if l.strip() == f"// <{region}>"]
    ends = [i for i, l in enumerate(lines) if l.strip() == f"// </{region}>"]
    if len(starts) != 1 or len(ends) != 1 or ends[0] <= starts[0]:
        raise ValueError(f"region {region} must appear exactly once as // <{region}> ... // </{region}>")
    body = [l.rstrip() for l in lines[starts[0] + 1:ends[0]]]
    indents = [len(l) - len(l.lstrip(" ")) for l in body if l.strip()]
    cut = min(indents) if indents else 0
    body = [l[cut:] for l in body]
    while body and not body[0]:
        body.pop(0)
    while body and not body[-1]:
        body.pop()
    return body


def leading_usings(block):
    usings = []
    for line in block:
        if USING.match(line.strip()):
            usings.append(line.strip())
        elif line.strip():
            break
    return usings


def expected_block(block, snippet_source, region):
    usings = leading_usings(block)
    file_usings = {l.strip() for l in snippet_source.split("\n") if USING.match(l.strip())}
    missing = [u for u in usings if u not in file_usings]
    if missing:
        raise ValueError("shows usings the snippet file does not have: " + ", ".join(missing))
    twice = sorted({u for u in usings if usings.count(u) > 1})
    if twice:
        raise ValueError("shows a using twice: " + ", ".join(twice))
    body = region_text(snippet_source, region)
    return usings + [""] + body if usings else body


def process(path, check):
    text = open(path, encoding="utf-8").read()
    lines = text.split("\n")
    out, problems, i = [], [], 0
    rel = os.path.relpath(path, ROOT)
    while i < len(lines):
        line = lines[i]
        out.append(line)
        m = MARKER.match(line.strip())
        if not m:
            i += 1
            continue
        if i + 1 >= len(lines) or lines[i + 1].strip() != "```csharp":
            problems.append(f"{rel}:{i + 1}: a snippet marker must be followed directly by ```csharp")
            i += 1
            continue
        end = i + 2
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        block = lines[i + 2:end]
        snippet = os.path.join(ROOT, m.group("path"))
        try:
            source = open(snippet, encoding="utf-8").read()
            want = expected_block(block, source, m.group("region"))
        except (OSError, ValueError) as e:
            problems.append(f"{rel}:{i + 1}: {m.group('path')}#{m.group('region')}: {e}")
            want = block
        if want != block and not any(p.startswith(f"{rel}:{i + 1}:") for p in problems):
            problems.append(f"{rel}:{i + 3}: block differs from {m.group('path')}#{m.group('region')}")
        out.append(lines[i + 1])
        out.extend(want)
        if end < len(lines):
            out.append(lines[end])
        i = end + 1
    new = "\n".join(out)
    if not check and new != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)
    return problems


def main():
    check = "--check" in sys.argv[1:]
    problems = []
    for path in readmes():
        problems += process(path, check)
    if check:
        for p in problems:
            print(p)
        return 1 if problems else 0
    errors = [p for p in problems if "differs" not in p]
    for p in errors:
        print(p, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

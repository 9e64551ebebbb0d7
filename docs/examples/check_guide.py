"""Checks that docs/integrating.md shows only code that CI runs (scripts/contract.sh).

Every ```python / ```ts / ```typescript block of the guide must follow a marker line
    <!-- example: PATH -->           the whole file, verbatim
    <!-- example: PATH#NAME -->      the region between `--8<-- [start:NAME]` and
                                     `--8<-- [end:NAME]` comment lines in that file
and equal that text exactly. PATH is relative to the repository root; the file must be one the
contract script runs. Usage: check_guide.py docs/integrating.md
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUN_BY_CI = {
    "docs/examples/verify_event.py", "docs/examples/verify_event.ts",
    "sdk/python/scenario.py", "sdk/typescript/scenario.ts",
}
FENCE = re.compile(r"^```(\w*)\s*$")
MARKER = re.compile(r"^<!-- example: (\S+?)(?:#(\S+))? -->\s*$")
CODE = {"python", "py", "ts", "typescript", "js", "javascript"}


def region(text: str, name: str, path: str) -> str:
    lines, inside, found = [], False, False
    for line in text.splitlines():
        if re.search(rf"--8<-- \[start:{re.escape(name)}\]", line):
            inside, found = True, True
            continue
        if re.search(rf"--8<-- \[end:{re.escape(name)}\]", line):
            inside = False
            continue
        if inside and "--8<--" not in line:
            lines.append(line)
    if not found:
        sys.exit(f"check_guide: {path} has no region {name!r}")
    return "\n".join(lines)


def main() -> None:
    guide = pathlib.Path(sys.argv[1])
    lines = guide.read_text(encoding="utf-8").splitlines()
    errors, checked, i, marker = [], 0, 0, None
    while i < len(lines):
        m = MARKER.match(lines[i])
        if m:
            marker = (m.group(1), m.group(2), i + 1)
            i += 1
            continue
        f = FENCE.match(lines[i])
        if f:
            lang, start = f.group(1).lower(), i + 1
            j = start
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            block = "\n".join(lines[start:j])
            if marker is not None:
                path, name, at = marker
                if path not in RUN_BY_CI:
                    errors.append(f"line {at}: {path} is not run by scripts/contract.sh")
                else:
                    text = (ROOT / path).read_text(encoding="utf-8")
                    want = region(text, name, path) if name else text.rstrip("\n")
                    if block != want:
                        errors.append(f"line {start}: the block differs from {path}{'#' + name if name else ''}")
                    checked += 1
            elif lang in CODE:
                errors.append(f"line {start}: a {lang} block without an `<!-- example: … -->` marker (not run by CI)")
            marker, i = None, j + 1
            continue
        if lines[i].strip():
            marker = None if not lines[i].startswith("<!--") else marker
        i += 1
    if errors:
        sys.exit("check_guide: " + guide.as_posix() + "\n  " + "\n  ".join(errors))
    print(f"check_guide: {checked} code blocks of {guide.as_posix()} match the files CI runs")


if __name__ == "__main__":
    main()

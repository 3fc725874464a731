#!/usr/bin/env python3
"""Runs the fenced code blocks of the bindings' READMEs as written, so that they cannot drift.

    python3 bindings/snippets.py --out DIR [--run LANG=COMMAND ...] README.md [MORE.md ...]

Each README's blocks run in the order they appear, in one bash session (`set -eo pipefail`, so
what one block exports the next ones see, as in a user's terminal):

- ```sh (or ```bash) blocks are written to a file and sourced by that session, from the
  repository root; after the HTML comment `<!-- run in scratch folder -->` (the line before the
  fence), from the scratch folder instead (a block that makes the inputs of the code blocks,
  where the README says to run it in the folder of the program).
- a block of a language given with --run (```c, ```cpp, ```fortran, ```julia, ```python; the
  first word of the fence's info string) is written unchanged to a file in the scratch folder,
  DIR/<README name without .md>, made empty first, and COMMAND is run there with
  `bash -eo pipefail -c`: `{file}` in COMMAND is the file's name, `{exe}` `./` and the name
  without its extension (for the compiled languages' programs). The scratch folder is not the
  repository root, so a block that only works from there fails.
- a block after the HTML comment `<!-- not run: REASON -->` is not run (the reason is printed).
- any other block (another language, or no language) is an error: run it or say why not.

Every block's output goes to its own log in the scratch folder (`<name>-L<line>.log`). A block
that fails (a command's non-zero status, a compile error) stops the run; the message names the
README and the line of the block's opening fence, and shows the end of its log. Exit status 0
when every block ran and succeeded. Standard library only.
"""

import argparse
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHELL = {"sh", "bash"}
EXTENSIONS = {"c": ".c", "cpp": ".cpp", "c++": ".cpp", "fortran": ".f90", "julia": ".jl",
              "python": ".py", "sh": ".sh", "bash": ".sh"}
NOT_RUN = re.compile(r"^<!--\s*not run:\s*(.*?)\s*-->$")
IN_SCRATCH = re.compile(r"^<!--\s*run in scratch folder\s*-->$")
FENCE = re.compile(r"^(`{3,}(?=[^`]*$)|~{3,})\s*(\S*)")  # CommonMark: no ` after a ``` fence


class Block:
    def __init__(self, line, lang, text, marker):
        self.line, self.lang, self.text, self.marker = line, lang, text, marker


def blocks(path):
    """The fenced blocks of a Markdown file: opening line (1-based), language, text, marker."""
    lines = path.read_text().split("\n")
    found, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m.group(1), m.group(2).lower(), i
        prev = next((l.strip() for l in reversed(lines[:i]) if l.strip()), "")
        i += 1
        body = []
        closing = re.compile(r"^" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*$")
        while i < len(lines) and not closing.match(lines[i]):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            sys.exit(f"snippets: {path}:{start + 1}: the code block is not closed")
        found.append(Block(start + 1, lang, "\n".join(body) + "\n", prev))
        i += 1
    return found


def rel(path):
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def run_readme(readme, out, runners):
    name = readme.name[:-3] if readme.name.endswith(".md") else readme.name
    scratch = (out / name).resolve()
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    state = scratch / ".current-block"
    script = ["set -eo pipefail", "exec 3>&1 4>&2"]
    ran, skipped, errors = [], [], []
    where = rel(readme)
    for b in blocks(readme):
        label = f"{where}:{b.line}"
        m = NOT_RUN.match(b.marker)
        if m:
            skipped.append(f"line {b.line}: {m.group(1)}")
            continue
        if b.lang not in SHELL and b.lang not in runners:
            errors.append(f"snippets: {label}: a ```{b.lang or '(no language)'} block that is not run: "
                          "give --run for its language or put <!-- not run: REASON --> before it")
            continue
        stem = f"{name}-L{b.line}"
        file = scratch / (stem + EXTENSIONS.get(b.lang, ".txt"))
        file.write_text(b.text)
        log = scratch / (stem + ".log")
        script.append(f"printf '%s\\n' {shlex.quote(label + ' (' + b.lang + ')')} > {shlex.quote(str(state))}")
        if b.lang in SHELL:
            cwd = scratch if IN_SCRATCH.match(b.marker) else ROOT
            script += [f"cd {shlex.quote(str(cwd))}",
                       f"exec > {shlex.quote(str(log))} 2>&1 < /dev/null",
                       f"source {shlex.quote(str(file))}",
                       "exec >&3 2>&4"]
        else:
            command = runners[b.lang].replace("{file}", shlex.quote(file.name)) \
                                     .replace("{exe}", shlex.quote("./" + stem))
            script += [f"cd {shlex.quote(str(scratch))}",
                       f"bash -eo pipefail -c {shlex.quote(command)} > {shlex.quote(str(log))} 2>&1 < /dev/null"]
        ran.append(f"{b.lang} at line {b.line}")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return False
    script.append(f"rm -f {shlex.quote(str(state))}")
    (scratch / "run.sh").write_text("\n".join(script) + "\n")
    start = time.time()
    status = subprocess.call(["bash", str(scratch / "run.sh")], cwd=ROOT)
    if status != 0 or state.exists():
        label = state.read_text().strip() if state.exists() else f"{where} (before the first block)"
        print(f"snippets: FAILED: the block at {label} (exit status {status}); "
              f"the end of its output:", file=sys.stderr)
        line = label.split(":")[-1].split()[0]
        log = scratch / f"{name}-L{line}.log"
        if log.exists():
            tail = log.read_text(errors="replace").split("\n")[-40:]
            print("\n".join("    " + l for l in tail), file=sys.stderr)
            print(f"snippets: block file and full log: {rel(log.with_suffix(''))}.*", file=sys.stderr)
        return False
    print(f"snippets: {where}: {len(ran)} blocks ran and passed in {time.time() - start:.0f} s"
          + (f" ({', '.join(ran)})" if ran else "") + f"; {len(skipped)} not run"
          + "".join(f"\n    {s}" for s in skipped))
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path,
                        help="folder for the scratch folders, one per README (made empty)")
    parser.add_argument("--run", action="append", default=[], metavar="LANG=COMMAND",
                        help="how to run a block of LANG: a bash command with {file} and {exe}")
    parser.add_argument("readmes", nargs="+", type=Path)
    args = parser.parse_args()
    runners = {}
    for spec in args.run:
        lang, sep, command = spec.partition("=")
        if not sep or not command:
            parser.error(f"--run {spec!r}: expected LANG=COMMAND")
        runners[lang.lower()] = command
    ok = True
    for readme in args.readmes:
        ok = run_readme(readme, args.out, runners) and ok
        if not ok:
            break
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

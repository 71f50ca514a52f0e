"""The plan comment's text, pure: what `reconciler validate` and `reconciler plan` said, made
into markdown (`compose`), and a text cut at a line below a size (`fit`). Used by
forge_comment.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


def size(text: str) -> int:
    """A text's size as counted against a limit: its UTF-8 bytes, never fewer than its
    characters (or its UTF-16 units), so a text within it is within the forge's limit too."""
    return len(text.encode("utf-8"))


_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


@dataclass
class _Open:
    """What a cut must close so that the rest of the comment renders: a code fence, and
    `<details>` blocks."""

    fence: str | None = None
    details: int = 0

    def feed(self, line: str) -> None:
        m = _FENCE_RE.match(line)
        if self.fence is not None:
            closing = m and m.group(1)[0] == self.fence[0] and len(m.group(1)) >= len(self.fence)
            if closing and not line.strip().strip(self.fence[0]):
                self.fence = None
            return
        if m:
            self.fence = m.group(1)
            return
        stripped = line.strip().lower()
        self.details += stripped.count("<details>") - stripped.count("</details>")
        self.details = max(self.details, 0)

    def closers(self) -> str:
        out = ""
        if self.fence is not None:
            out += self.fence + "\n"
        out += "\n</details>\n" * self.details
        return out


def fit(content: str, budget: int, note: Callable[[int, int], str]) -> tuple[str, bool]:
    """`content` whole when its size is below `budget`; else its first lines (a line cut only
    when the first one alone is too long), the fence and `<details>` they leave open closed,
    and `note(kept, total)` — all below `budget`. Returns the text and whether it was cut."""
    text = content if content.endswith("\n") else content + "\n"
    if size(text) < budget:
        return text, False
    lines = text.splitlines(keepends=True)
    total = len(lines)
    state = _Open()
    used = 0
    kept = 0
    for line in lines:
        after = _Open(state.fence, state.details)
        after.feed(line)
        need = used + size(line) + size(after.closers()) + size(note(kept + 1, total))
        if need >= budget:
            break
        used += size(line)
        state = after
        kept += 1
    head = "".join(lines[:kept])
    if kept == 0:
        # the first line alone is over the budget: keep what fits of it (whole characters)
        room = budget - size(note(0, total)) - size(state.closers()) - 2
        raw = lines[0].encode("utf-8")[: max(room, 0)]
        head = raw.decode("utf-8", errors="ignore") + "\n"
    return head + state.closers() + note(kept, total), True


def has_marker(body: str, marker: str) -> bool:
    return any(line.strip() == marker for line in body.splitlines())


# --- the comment's content ----------------------------------------------------------------------


def _fenced(text: str, info: str = "text") -> str:
    runs = [len(m) for m in re.findall(r"`+", text)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}\n"


def _problems(stderr: str) -> str:
    """The `error:`/`warning:` lines of a command's stderr with their `hint:` lines; without
    any, its last 30 lines (its log lines are in the job log)."""
    lines = stderr.splitlines()
    picked = [
        line
        for line in lines
        if line.startswith(("error:", "warning:")) or line.lstrip().startswith("hint:")
    ]
    return "\n".join(picked or lines[-30:])


def _at(revision: str | None) -> str:
    return f" at `{revision[:12]}`" if revision else ""


def compose(
    validate_out: str,
    validate_err: str,
    validate_exit: int,
    plan_out: str | None = None,
    plan_err: str | None = None,
    plan_exit: int | None = None,
    revision: str | None = None,
) -> str:
    """The comment's markdown for what `reconciler validate` and `reconciler plan` did."""
    if validate_exit != 0:
        lines = [line for line in validate_out.splitlines() if line.strip()]
        counted = lines and re.fullmatch(r"\d+ error\(s\) in \d+ file\(s\)\.", lines[-1])
        why = f" ({lines[-1].rstrip('.')})" if counted else ""
        detail = "\n".join(
            part for part in (validate_out.rstrip(), _problems(validate_err)) if part
        )
        return (
            f"**Validation failed**{why}{_at(revision)}: nothing was planned.\n\n"
            + _fenced(detail or f"reconciler validate exited {validate_exit}")
            + "\nFix the manifests and push again; `reconciler validate` lists the same problems."
            "\n"
        )
    if plan_exit is None:
        return f"**Valid**{_at(revision)}; no plan was made.\n"
    plan = (plan_out or "").rstrip()
    if plan_exit in (0, 2):
        return (plan or f"`reconciler plan` printed nothing (exit {plan_exit}).") + "\n"
    errors = _problems(plan_err or "")
    first = next((ln for ln in errors.splitlines() if ln.startswith("error:")), "")
    out = f"**Plan failed**{_at(revision)} (`reconciler plan` exited {plan_exit})"
    out += ": the check fails; nothing can be applied from this plan.\n\n"
    out += _fenced(errors or first or f"exit {plan_exit}")
    if plan:
        out += "\nThe plan as far as it was made:\n\n" + plan + "\n"
    return out

"""Why a commit is not trusted, in a user's words: the reasons `signatures.verify_head` returns.

`reason` turns git's `%G?` verdict on a commit's signature (with the fingerprint, key id and the
verifier's own output that git printed) into None for a trusted signature, or a sentence naming the
commit, the key's fingerprint or the trust file, and what to do: unsigned; signed by an SSH key not
in the allowed signers file or a GPG key not in the keyring; a bad signature (changed or forged: do
not apply it); or an expired, revoked or otherwise unchecked one. `SIGNERS_FIX` and `KEYRING_FIX`
are the fixes for a missing or unusable trust file.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["KEYRING_FIX", "SIGNERS_FIX", "reason"]

_ALLOWED_SIGNERS_LINE = 'principal namespaces="git" ssh-ed25519 AAAA...'
SIGNERS_FIX = (
    f"list each trusted key as a line `{_ALLOWED_SIGNERS_LINE}` and pass that file "
    "with --allowed-signers"
)
KEYRING_FIX = (
    "export the trusted public keys with `gpg --export --armor KEYID... > FILE` "
    "and pass that file with --gpg-keyring"
)
# ssh-keygen's complaints about lines of the allowed signers file ("FILE:3: invalid key").
_FILE_LINE_NOTE = re.compile(r"^(?P<file>.+):(?P<line>\d+): (?P<what>.+)$")
# gpg's "using EDDSA key <fingerprint>" line: names the key even when it is not in the keyring.
_GPG_USING_KEY = re.compile(r"using \S+ key ([0-9A-Fa-f]{16,40})")


def reason(
    status: str,
    *,
    short: str,
    kind: str,
    fingerprint: str,
    key_id: str,
    raw: str,
    allowed_signers: Path | None,
    gpg_keyring: Path | None,
) -> str | None:
    """None for a trusted signature, else the reason for git's `%G?` status."""
    if status == "G":
        return None
    if status == "N" or not kind:
        trusted = " or ".join(
            what
            for what in (
                f"an SSH key listed in {allowed_signers}" if allowed_signers else "",
                f"a GPG key in {gpg_keyring}" if gpg_keyring else "",
            )
            if what
        )
        return f"commit {short} is not signed: sign it (git commit -S) with {trusted}"
    key = fingerprint or _gpg_key_named(raw) or key_id or "unknown"
    if kind == "ssh":
        return _ssh_reason(status, short, key, raw, allowed_signers)
    return _gpg_reason(status, short, key, raw, gpg_keyring)


def _ssh_reason(status: str, short: str, key: str, raw: str, allowed_signers: Path | None) -> str:
    """Why an SSH signature is not trusted."""
    if allowed_signers is None:
        return (
            f"commit {short} is signed with SSH key {key}, but no --allowed-signers file "
            f"was given: {SIGNERS_FIX}"
        )
    notes = _file_notes(raw)
    if status == "U":
        reason = (
            f"commit {short} is signed with SSH key {key}, which is not in the allowed "
            f"signers file {allowed_signers}: if the key is trusted, add a line "
            f'`<principal> namespaces="git" <its public key>` for it'
        )
        if notes:
            reason += f" (ssh-keygen could not use some lines of the file: {'; '.join(notes)})"
        return reason
    if status == "B":
        if any("not permitted for use in signature namespace" in note for note in notes):
            return (
                f"commit {short} is signed with a key whose line in {allowed_signers} does not "
                f'allow the "git" namespace ({"; ".join(notes)}): add namespaces="git" to it'
            )
        return (
            f"commit {short} has a bad SSH signature ({_detail(raw)}): the commit was changed "
            "after it was signed, or the signature is forged; do not apply it"
        )
    return _other_status(status, short, "SSH", key, raw)


def _gpg_reason(status: str, short: str, key: str, raw: str, gpg_keyring: Path | None) -> str:
    """Why a GPG signature is not trusted."""
    if gpg_keyring is None:
        return (
            f"commit {short} is signed with GPG key {key}, but no --gpg-keyring was given: "
            f"{KEYRING_FIX}"
        )
    if status == "E" and "No public key" in raw:
        return (
            f"commit {short} is signed with GPG key {key}, which is not in the GPG keyring "
            f"{gpg_keyring}: if the key is trusted, {KEYRING_FIX}"
        )
    if status == "B":
        return (
            f"commit {short} has a bad GPG signature by key {key}: the commit was changed after "
            "it was signed, or the signature is forged; do not apply it"
        )
    return _other_status(status, short, "GPG", key, raw)


def _other_status(status: str, short: str, kind: str, key: str, raw: str) -> str:
    """Why a signature is not trusted, for the rarer `%G?` statuses (expired, revoked...)."""
    if status == "X":
        return f"the {kind} signature of commit {short} by key {key} has expired"
    if status == "Y":
        return f"commit {short} is signed with {kind} key {key}, which has expired"
    if status == "R":
        return f"commit {short} is signed with {kind} key {key}, which has been revoked"
    if status == "U":
        return f"commit {short} is signed with {kind} key {key}, which is not trusted"
    return f"the {kind} signature of commit {short} could not be checked: {_detail(raw)}"


def _file_notes(raw: str) -> list[str]:
    """ssh-keygen's complaints about lines of the allowed signers file, as printed."""
    return [line.strip() for line in raw.splitlines() if _FILE_LINE_NOTE.match(line.strip())]


def _gpg_key_named(raw: str) -> str:
    """The fingerprint gpg says it looked for ("using EDDSA key ..."), or ""."""
    match = _GPG_USING_KEY.search(raw)
    return match.group(1).upper() if match else ""


def _detail(raw: str) -> str:
    """The verifier's own words, minus git's generic "Could not verify signature."."""
    lines = [
        line.strip()
        for line in raw.splitlines()
        if line.strip() and line.strip() != "Could not verify signature."
    ]
    return "; ".join(lines) if lines else "no detail"

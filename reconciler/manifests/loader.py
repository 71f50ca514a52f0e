"""Read, parse and check every manifest at one revision, collecting every problem in one pass.

The result holds a `ManifestSet` only when there is no error at all: a partly readable set of
manifests must never be taken for the whole desired state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.errors import SourceError
from reconciler.manifests.document import check_document
from reconciler.manifests.manifestset import ManifestSet, build_manifest_set
from reconciler.manifests.models import Document
from reconciler.manifests.source import ManifestFile, SourceSpec, read_manifest_files
from reconciler.manifests.yamldoc import Problem, RawDocument, parse_file

__all__ = ["LoadResult", "check_files", "load_manifests"]


@dataclass
class LoadResult:
    revision: str
    manifests: ManifestSet | None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    skipped_documents: list[Problem] = field(default_factory=list)
    files: int = 0

    @property
    def valid(self) -> bool:
        return self.manifests is not None and not self.errors

    def require(self) -> ManifestSet:
        """The manifest set, or a `SourceError` listing the problems."""
        if self.manifests is None or self.errors:
            first = self.errors[0].render() if self.errors else "no manifests"
            more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            raise SourceError(
                f"the manifests at {self.revision[:12]} are not valid: {first}{more}",
                hint="run `reconciler validate` to see every problem",
            )
        return self.manifests


def check_files(revision: str, files: list[ManifestFile]) -> LoadResult:
    """Parse and check files already read (pure: no I/O)."""
    result = LoadResult(revision, None, files=len(files))
    entries: list[tuple[RawDocument, Document]] = []
    documents = 0
    for file in files:
        docs, problems = parse_file(file.path, file.content)
        result.errors.extend(problems)
        for doc in docs:
            checked = check_document(doc)
            if checked.skipped:
                if file.path not in result.skipped:
                    result.skipped.append(file.path)
                api = doc.data.get("apiVersion") if isinstance(doc.data, dict) else None
                result.skipped_documents.append(
                    Problem(
                        doc.path,
                        doc.line,
                        doc.column,
                        f"skipped: apiVersion {api!r} is not reconciler/...",
                        "documents of other tools may live beside manifests; they are not read",
                    )
                )
                continue
            documents += 1
            result.errors.extend(checked.problems)
            if checked.model is not None:
                entries.append((doc, checked.model))
    if documents == 0 and not result.errors:
        result.errors.append(
            Problem(
                files[0].path if files else ".",
                1,
                1,
                "no manifests found" + (f" in {len(files)} YAML files" if files else ""),
                "an empty manifest set is never taken as 'nothing declared': check --repo, "
                "--path and --rev, and that documents have `apiVersion: reconciler/v1`",
            )
        )
        return result
    manifests, problems, warnings = build_manifest_set(revision, entries)
    result.errors.extend(problems)
    result.warnings.extend(warnings)
    result.errors.sort(key=lambda p: (p.path, p.line, p.column))
    if not result.errors:
        result.manifests = manifests
    return result


def load_manifests(spec: SourceSpec) -> LoadResult:
    """Read the manifests `spec` names and check them; `SourceError` if they cannot be read."""
    revision, files = read_manifest_files(spec)
    if not files:
        where = f"{spec.repo}" + (f" (--path {spec.path})" if spec.path else "")
        raise SourceError(
            f"no *.yaml or *.yml files in {where} at {revision[:12]}",
            hint="check --repo, --path and --rev: an empty set is never taken as "
            "'nothing declared'",
        )
    return check_files(revision, files)

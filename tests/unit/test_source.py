"""Loading manifests from git: default branch, --branch, --rev, --path, --worktree, URLs, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import SourceError
from reconciler.manifests.loader import load_manifests
from reconciler.manifests.source import SourceSpec, is_url, read_manifest_files
from unit.builders import baseline, dump, site
from unit.gitrepo import commit, git, make_repo

VALID = dump(baseline())


def _names(spec: SourceSpec) -> list[str]:
    return sorted(load_manifests(spec).require().sites)


def test_reads_the_default_branch_head_from_the_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"manifests.yaml": VALID})
    (repo / "manifests.yaml").write_bytes(b"garbage: [")  # the work tree is not read
    revision, files = read_manifest_files(SourceSpec(repo=str(repo)))
    assert revision == git(repo, "rev-parse", "HEAD")
    assert [f.path for f in files] == ["manifests.yaml"]
    assert files[0].content == VALID


def test_branch_and_rev_select_the_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"m.yaml": VALID})
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, {"more.yaml": dump([site("b.example.com")])}, "second site")
    git(repo, "checkout", "-q", "main")
    assert _names(SourceSpec(repo=str(repo))) == ["www.example.com"]
    assert _names(SourceSpec(repo=str(repo), branch="feature")) == [
        "b.example.com",
        "www.example.com",
    ]
    assert _names(SourceSpec(repo=str(repo), branch="feature", rev=first)) == ["www.example.com"]
    assert _names(SourceSpec(repo=str(repo), rev="feature~0")) == [
        "b.example.com",
        "www.example.com",
    ]


def test_path_and_dot_names_and_extensions(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "r",
        {
            "hosting/a.yaml": VALID,
            "hosting/b.yml": dump([site("b.example.com")]),
            "hosting/.hidden.yaml": b"garbage: [",
            "hosting/.github/workflow.yml": b"garbage: [",
            "hosting/notes.txt": b"garbage: [",
            "other/c.yaml": b"garbage: [",
        },
    )
    _, files = read_manifest_files(SourceSpec(repo=str(repo), path="hosting"))
    assert [f.path for f in files] == ["hosting/a.yaml", "hosting/b.yml"]
    assert load_manifests(SourceSpec(repo=str(repo), path="hosting")).valid


def test_worktree_reads_uncommitted_files(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"m.yaml": VALID})
    (repo / "new.yaml").write_bytes(dump([site("new.example.com")]))
    (repo / ".git-ignored-dir").mkdir()
    (repo / ".git-ignored-dir" / "x.yaml").write_bytes(b"garbage: [")
    result = load_manifests(SourceSpec(repo=str(repo), worktree=True))
    assert sorted(result.require().sites) == ["new.example.com", "www.example.com"]
    assert result.revision.endswith("+worktree")


@pytest.mark.parametrize(
    ("spec_args", "message"),
    [
        ({"repo": "/nonexistent/repo"}, "does not exist"),
        ({"rev": "no-such-rev"}, "revision 'no-such-rev' does not exist"),
        ({"branch": "nope"}, "branch 'nope' does not exist"),
        ({"path": "missing"}, "--path 'missing' does not exist"),
        ({"path": "../x"}, "contains '..'"),
    ],
)
def test_unreadable_sources_are_errors(
    tmp_path: Path, spec_args: dict[str, str], message: str
) -> None:
    repo = make_repo(tmp_path / "r", {"m.yaml": VALID})
    spec = SourceSpec(
        repo=spec_args.get("repo", str(repo)),
        rev=spec_args.get("rev"),
        branch=spec_args.get("branch"),
        path=spec_args.get("path", ""),
    )
    with pytest.raises(SourceError, match=message):
        load_manifests(spec)


def test_not_a_repository_and_no_commits_are_errors(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(SourceError, match="is not a git repository"):
        load_manifests(SourceSpec(repo=str(plain)))
    empty = make_repo(tmp_path / "empty", {})
    with pytest.raises(SourceError, match="has no commits"):
        load_manifests(SourceSpec(repo=str(empty)))


def test_a_tree_without_manifests_is_an_error_not_nothing_declared(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"README.md": b"hello"})
    with pytest.raises(SourceError, match=r"no \*\.yaml or \*\.yml files"):
        load_manifests(SourceSpec(repo=str(repo)))


def test_url_is_cloned_into_the_cache_then_fetched(tmp_path: Path) -> None:
    origin = make_repo(tmp_path / "origin", {"m.yaml": VALID})
    url = f"file://{origin}"
    assert is_url(url) and is_url("git@host:a/b.git") and not is_url("/srv/repo")
    cache = tmp_path / "cache"
    assert _names(SourceSpec(repo=url, cache_dir=cache)) == ["www.example.com"]
    assert len(list(cache.iterdir())) == 1
    commit(origin, {"b.yaml": dump([site("b.example.com")])}, "another")
    assert _names(SourceSpec(repo=url, cache_dir=cache)) == ["b.example.com", "www.example.com"]
    with pytest.raises(SourceError, match="cannot fetch repository"):
        load_manifests(SourceSpec(repo=f"file://{tmp_path}/nope", cache_dir=cache))

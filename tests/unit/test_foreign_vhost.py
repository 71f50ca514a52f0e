"""Foreign vhosts (another file of the vhost directory serving a managed site's names): their
set-aside name, the vhost step run for real by `sh` in a temporary vhost directory (set aside
before the test, renamed back when it fails), and the plan's reasons and notes as a table."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.actions.context import SiteContext, platform_context, server_facts, site_context
from reconciler.actions.script import DONE, render_step
from reconciler.actions.site import enable_steps, verify_steps
from reconciler.actions.web import vhost_steps
from reconciler.apply.steps_for import work_for
from reconciler.drivers.vhost_aside import ASIDE_FAILED, loadable, set_aside_path
from reconciler.errors import PermanentError
from reconciler.manifests.manifestset import ManifestSet
from reconciler.observe.models import ObservedServer, ObservedVhost
from reconciler.plan import make_plan
from reconciler.plan.model import Action
from reconciler.plan.vhosts import foreign_vhosts
from reconciler.transport.base import CommandResult
from unit import builders as b
from unit.test_plan import NAME, P1, VHOSTS, codebase, good_site, plan_of, rows, vhost, web1

ALIAS = "example.com"


# ------------------------------------------------------------------ names


@pytest.mark.parametrize(
    ("path", "taken", "want"),
    [
        ("/v/legacy.conf", set(), "/v/.legacy.conf.replaced-by-reconciler"),
        ("/v/legacy", set(), "/v/.legacy.replaced-by-reconciler"),
        (
            "/v/legacy.conf",
            {"/v/.legacy.conf.replaced-by-reconciler"},
            "/v/.legacy.conf.replaced-by-reconciler.2",
        ),
        (
            "/v/a.conf",
            {"/v/.a.conf.replaced-by-reconciler", "/v/.a.conf.replaced-by-reconciler.2"},
            "/v/.a.conf.replaced-by-reconciler.3",
        ),
    ],
)
def test_set_aside_name_is_hidden_and_never_taken(path: str, taken: set[str], want: str) -> None:
    assert set_aside_path(path, taken) == want
    assert not loadable(want)


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("/v/legacy.conf", True),
        ("/v/legacy", True),
        ("/v/legacy.conf.replaced-by-reconciler", True),  # `include dir/*;` loads it
        ("/v/.legacy.conf.replaced-by-reconciler", False),
        ("/v/.hidden.conf", False),
        (f"/v/{NAME}.conf.reconciler-old", False),
        (f"/v/{NAME}.conf.reconciler-tmp", False),
    ],
)
def test_which_files_nginx_may_load(path: str, want: bool) -> None:
    assert loadable(path) is want


# ------------------------------------------------------------------ the step, run by sh


def _ctx(vhost_dir: Path, test: str, *, aliases: tuple[str, ...] = (ALIAS,)) -> SiteContext:
    http = {
        "type": "nginx",
        "vhostDir": str(vhost_dir),
        "testCommand": test,
        "reloadCommand": f"touch {vhost_dir}/../reloaded",
    }
    manifests = b.check(
        [
            b.server("web1", services={"http": http, "db": {"type": "mariadb"}}),
            b.platform("p1", "web1", path="/srv/p1"),
            b.site(NAME, "p1", aliases=list(aliases)),
        ]
    ).require()
    facts = {n: server_facts(s, "aegir", "/home/aegir") for n, s in manifests.servers.items()}
    site = manifests.sites[NAME]
    where = platform_context(manifests, manifests.platform_of(site), facts["web1"])
    return site_context(manifests, site, where, facts)


def _run(ctx: SiteContext) -> subprocess.CompletedProcess[str]:
    (step,) = vhost_steps(ctx, "present")
    return subprocess.run(
        ["sh", "-s"], input=render_step(step), capture_output=True, text=True, check=False
    )


FOREIGN = "server { server_name www.example.com example.com; root /old; }\n"


def _dir(tmp_path: Path, **files: str) -> Path:
    vhosts = tmp_path / "vhosts"
    vhosts.mkdir()
    for name, text in files.items():
        (vhosts / name).write_text(text)
    return vhosts


def _result(status: int, out: str, err: str) -> CommandResult:
    return CommandResult("web1", ("sh", "-s"), status, out.encode(), err.encode())


def _listing(vhosts: Path) -> list[str]:
    return sorted(p.name for p in vhosts.iterdir())


def test_the_step_sets_the_foreign_file_aside_before_the_test(tmp_path: Path) -> None:
    vhosts = _dir(tmp_path, **{"legacy.conf": FOREIGN, "other.conf": "other\n"})
    # the test fails unless the foreign file is gone and ours is there
    test = f"test ! -e {vhosts}/legacy.conf && test -f {vhosts}/{NAME}.conf"
    ctx = replace(_ctx(vhosts, test), foreign_vhosts=(f"{vhosts}/legacy.conf",))
    done = _run(ctx)
    assert done.returncode == 0 and DONE in done.stdout, done.stderr
    assert _listing(vhosts) == [".legacy.conf.replaced-by-reconciler", "other.conf", f"{NAME}.conf"]
    assert (vhosts / ".legacy.conf.replaced-by-reconciler").read_text() == FOREIGN
    assert f"set aside: {vhosts}/legacy.conf -> {vhosts}/.legacy.conf" in done.stdout
    assert (tmp_path / "reloaded").exists()

    again = _run(ctx)  # run again (a resumed action): nothing left to set aside, nothing lost
    assert again.returncode == 0 and DONE in again.stdout, again.stderr
    assert _listing(vhosts) == [".legacy.conf.replaced-by-reconciler", "other.conf", f"{NAME}.conf"]


def test_a_name_set_aside_before_is_kept(tmp_path: Path) -> None:
    earlier = ".legacy.conf.replaced-by-reconciler"
    vhosts = _dir(tmp_path, **{"legacy.conf": FOREIGN, earlier: "earlier\n"})
    done = _run(replace(_ctx(vhosts, "true"), foreign_vhosts=(f"{vhosts}/legacy.conf",)))
    assert done.returncode == 0, done.stderr
    assert (vhosts / earlier).read_text() == "earlier\n"
    assert (vhosts / f"{earlier}.2").read_text() == FOREIGN


@pytest.mark.parametrize("ours_before", [None, "# our previous vhost\n"])
def test_a_failed_test_puts_everything_back(tmp_path: Path, ours_before: str | None) -> None:
    files = {"legacy.conf": FOREIGN, "b.conf": "server { server_name example.com; }\n"}
    if ours_before is not None:
        files[f"{NAME}.conf"] = ours_before
    vhosts = _dir(tmp_path, **files)
    before = {p.name: p.read_text() for p in vhosts.iterdir()}
    test = "echo 'nginx: [emerg] unknown directive \"x\" in /v/a.conf:1' >&2; exit 1"
    ctx = replace(_ctx(vhosts, test), foreign_vhosts=(f"{vhosts}/legacy.conf", f"{vhosts}/b.conf"))
    done = _run(ctx)
    assert done.returncode != 0 and DONE not in done.stdout
    assert {p.name: p.read_text() for p in vhosts.iterdir()} == before
    assert not (tmp_path / "reloaded").exists()
    (step,) = vhost_steps(ctx, "present")
    said = step.explain(_result(done.returncode, done.stdout, done.stderr))
    assert said is not None and "[emerg] unknown directive" in said
    assert "foreign vhost set aside renamed back" in said


def test_a_rename_that_fails_is_explained() -> None:
    (step,) = vhost_steps(replace(_ctx(Path("/v"), "true"), foreign_vhosts=("/v/a",)), "present")
    err = f"mv: cannot move '/v/a': Permission denied\ncould not set aside /v/a\n{ASIDE_FAILED}\n"
    said = step.explain(_result(1, "", err))
    assert said is not None
    assert said.startswith("mv: cannot move '/v/a': Permission denied; could not set aside /v/a")
    assert "make the vhost directory writable" in said


def test_our_own_file_is_never_set_aside(tmp_path: Path) -> None:
    vhosts = _dir(tmp_path, **{f"{NAME}.conf": "old\n"})
    ctx = replace(_ctx(vhosts, "true"), foreign_vhosts=(f"{vhosts}/{NAME}.conf",))
    assert _run(ctx).returncode == 0
    assert _listing(vhosts) == [f"{NAME}.conf"]


# ------------------------------------------------------------------ the plan


def _fv(file: str, *names: str, root: str | None = f"{P1}/web") -> ObservedVhost:
    return ObservedVhost(f"{VHOSTS}/{file}", 100, "0644", names, root)


OURS = vhost()
OURS_BOTH = replace(vhost(), server_names=(NAME, ALIAS))
ASIDE = f"{VHOSTS}/.legacy.conf.replaced-by-reconciler"
SPLIT = "split it by hand"

# case, aliases, vhosts observed, declared state, (kind, name) rows, texts the first reason
# (or, without actions, the notes) hold, texts they must not hold
PLAN_CASES: list[tuple[str, list[str], tuple[ObservedVhost, ...], str, list[Any], list[str]]] = [
    (
        "foreign only, serving the site's names: verify sets it aside",
        [ALIAS],
        (_fv("legacy.conf", ALIAS, NAME),),
        "present",
        [("site.verify", NAME)],
        [
            f"vhost {VHOSTS}/{NAME}.conf is missing",
            f"vhost {VHOSTS}/legacy.conf (not the reconciler's) also serves {ALIAS} {NAME}: "
            f"set aside as {ASIDE}",
        ],
    ),
    (
        "ours right, a foreign file serves an alias: the reason names it",
        [ALIAS],
        (OURS_BOTH, _fv("legacy.conf", ALIAS.upper())),
        "present",
        [("site.verify", NAME)],
        [f"vhost {VHOSTS}/legacy.conf (not the reconciler's) also serves {ALIAS}: set aside"],
    ),
    (
        "a foreign file set aside before: already done",
        [ALIAS],
        (OURS_BOTH, _fv(".legacy.conf.replaced-by-reconciler", ALIAS, NAME)),
        "present",
        [],
        [],
    ),
    (
        "set aside before, and a new foreign file of the same name: the next free name",
        [],
        (OURS, _fv("legacy.conf", NAME), _fv(".legacy.conf.replaced-by-reconciler", NAME)),
        "present",
        [("site.verify", NAME)],
        [f"set aside as {ASIDE}.2"],
    ),
    (
        "our own step's copies are not foreign",
        [],
        (OURS, _fv(f"{NAME}.conf.reconciler-old", NAME), _fv(f"{NAME}.conf.reconciler-tmp", NAME)),
        "present",
        [],
        [],
    ),
    (
        "a foreign file serving the site and another site: a note, nothing done",
        [ALIAS],
        (OURS_BOTH, _fv("legacy.conf", NAME, "other.example.com")),
        "present",
        [],
        [
            f"Site {NAME}: its vhost is not written: {VHOSTS}/legacy.conf serves its names "
            f"{NAME} and also other.example.com",
            SPLIT,
            f"the reconciler then writes {VHOSTS}/{NAME}.conf",
        ],
    ),
    (
        "a wildcard is a name git does not declare: a note, even with the vhost missing",
        [ALIAS],
        (_fv("legacy.conf", NAME, ALIAS, "*.example.com"),),
        "present",
        [],
        [f"serves its names {ALIAS} {NAME} and also *.example.com", SPLIT],
    ),
    (
        "a shared foreign file keeps a declared-disabled site from a disable that would lie",
        [],
        (OURS, _fv("legacy.conf", NAME, "_")),
        "disabled",
        [],
        ["and also _ ", SPLIT],
    ),
    (
        "served by a foreign file only, declared disabled: verify sets it aside, then disable",
        [],
        (_fv("legacy.conf", NAME),),
        "disabled",
        [("site.verify", NAME), ("site.disable", NAME)],
        [f"set aside as {ASIDE}"],
    ),
]


@pytest.mark.parametrize(
    ("case", "aliases", "vhosts", "state", "want_rows", "texts"),
    PLAN_CASES,
    ids=[c[0] for c in PLAN_CASES],
)
def test_plan_reasons_and_notes(
    case: str,
    aliases: list[str],
    vhosts: tuple[ObservedVhost, ...],
    state: str,
    want_rows: list[Any],
    texts: list[str],
) -> None:
    docs = [b.server(), b.platform(path=P1), b.site(aliases=aliases, state=state)]
    plan = plan_of(docs, [web1(codebase("p1", P1, good_site()), vhosts=vhosts)])
    assert rows(plan) == want_rows, (plan.actions, plan.notes)
    told = plan.actions[0].reason if plan.actions else " | ".join(plan.notes)
    for text in texts:
        assert text in told, told
    if not want_rows and SPLIT not in " ".join(texts):
        assert plan.notes == ()


def test_foreign_files_are_found_in_the_vhost_directory_only() -> None:
    elsewhere = ObservedVhost("/etc/nginx/conf.d/legacy.conf", 1, "0644", (NAME,), "/x")
    found = foreign_vhosts(
        (elsewhere, _fv("a", NAME)), VHOSTS + "/", f"{VHOSTS}/{NAME}.conf", {NAME}
    )
    assert [f.path for f in found] == [f"{VHOSTS}/a"]


def test_builtin_has_no_foreign_vhosts() -> None:
    docs = [
        b.server(
            services={"http": {"type": "builtin", "vhostDir": VHOSTS}, "db": {"type": "mariadb"}}
        ),
        b.platform(path=P1),
        b.site(),
    ]
    desc = replace(_fv(f"{NAME}.conf", NAME), root=f"{P1}/web")
    plan = plan_of(docs, [web1(codebase("p1", P1, good_site()), vhosts=(desc, _fv("x", NAME)))])
    assert all("set aside" not in a.reason for a in plan.actions) and plan.notes == ()


# ------------------------------------------------------------------ apply renders from observe


def _apply_set(state: str = "present") -> ManifestSet:
    return b.check([b.server(), b.platform(path=P1), b.site(state=state)]).require()


def _action(kind: str) -> Action:
    return Action(f"{kind}:{NAME}", kind, "Site", NAME, "web1", "r", path=f"{P1}/web/sites/{NAME}")  # type: ignore[arg-type]


def _seen(*vhosts: ObservedVhost) -> list[ObservedServer]:
    return [replace(web1(codebase("p1", P1, good_site()), vhosts=vhosts), home="/home/aegir")]


def test_verify_renders_the_set_aside_of_what_observe_found() -> None:
    seen = _seen(OURS, _fv("legacy.conf", NAME))
    (verify,) = make_plan(_apply_set(), seen).actions
    steps = {s.name: s for s in work_for(verify, _apply_set(), seen).steps}
    script = steps["vhost (present)"].script
    assert f'mv {VHOSTS}/legacy.conf "$t"' in script and "rollback" in script


def test_verify_leaves_the_vhost_alone_when_the_foreign_file_is_shared() -> None:
    seen = _seen(replace(OURS, root="/elsewhere"), _fv("legacy.conf", NAME, "other.example.com"))
    names = [s.name for s in work_for(_action("site.verify"), _apply_set(), seen).steps]
    assert "vhost (present)" not in names and "health" in names


@pytest.mark.parametrize("kind", ["site.enable", "site.disable"])
def test_enable_and_disable_refuse_a_shared_foreign_file(kind: str) -> None:
    seen = _seen(OURS, _fv("legacy.conf", NAME, "other.example.com"))
    with pytest.raises(PermanentError) as raised:
        work_for(_action(kind), _apply_set(), seen)
    assert f"{VHOSTS}/legacy.conf serves its names {NAME} and also other.example.com" in str(
        raised.value
    )
    assert SPLIT in str(raised.value)


def test_verify_steps_keep_the_foreign_list_on_the_context() -> None:
    ctx = replace(_ctx(Path("/v"), "true"), foreign_vhosts=("/v/a.conf",))
    for steps in (verify_steps(ctx, credentials=False, vhost=True), enable_steps(ctx)):
        assert any("/v/.a.conf.replaced-by-reconciler" in s.script for s in steps)

"""Template overrides are repository content, so untrusted: they only lay text out (issue 13, items 1 and 5).

Every template runs in Jinja's sandbox with no globals, a short list of filters, no attribute but
``loop``'s, guarded arithmetic, and a budget per migration file; every problem in an override is
``SC410`` at its line, exit 2, with nothing written. Each attack test plants what a pull request could
hold and runs the real CLI as CI would, and checks that the attack's effect did not happen.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

import schemac
from conftest import KEY_COLUMN, ONE_TABLE, findings, run_cli
from schemac import dialects

SPEC = ONE_TABLE + KEY_COLUMN + "      name: {type: string(20)}\n"
HINT = (
    "(hint: templates run sandboxed: they may use the variables schemac passes, loop, macros, {% include %} "
    "of a template beside them, and the filters and tests listed in docs/dialects.md#templates)"
)
TIMEOUT = 120
"""Seconds before a run counts as hung: before the fix, several of these templates never finished."""


def project(root: Path, templates: dict[str, str | bytes], specs: dict[str, str] | None = None) -> Path:
    """A project with the given SQLite template overrides (``{file name: text}``)."""
    (root / "specs").mkdir(parents=True)
    for name, text in (specs or {"0001_a.yaml": SPEC}).items():
        (root / "specs" / name).write_text(text, encoding="utf-8")
    overrides = root / "templates" / "sqlite"
    overrides.mkdir(parents=True, exist_ok=True)
    for name, data in templates.items():
        (overrides / name).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return root


def cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI with a deadline, so that a hang fails the test instead of stalling the suite."""
    return subprocess.run(
        [sys.executable, "-m", "schemac", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, **(env or {})},
    )


def refused(root: Path, file: str, line: int, message: str) -> None:
    """``build`` and ``check`` both stop with exactly this SC410, exit 2, and write nothing."""
    for command in ("build", "check"):
        result = cli(command, "--project", root, "--no-cache")
        assert result.stderr.splitlines() == [f"templates/sqlite/{file}:{line}:1: SC410 {message} {HINT}"], command
        assert result.returncode == 2, command
    assert not (root / "migrations").exists()


# --- item 1: no Python through a template ---------------------------------------------------------


def test_an_override_cannot_run_a_shell_command(tmp_path: Path) -> None:
    """The issue's attack: reaching ``os`` through a default global and running ``popen``, in ``check``
    of a project whose migrations are built (which said the files match, exit 0), and in ``build``."""
    marker = tmp_path / "pwned"
    root = project(tmp_path / "p", {})
    schemac.build(root)
    published = {p.name: p.read_bytes() for p in (root / "migrations").iterdir()}
    attack = f"{{% set _ = cycler.__init__.__globals__.os.popen('touch {marker}').read() %}}\n"
    (root / "templates" / "sqlite" / "migration.sql.j2").write_text(attack, encoding="utf-8")
    for command in ("check", "build"):
        result = cli(command, "--project", root)
        assert result.stderr.splitlines() == [
            "templates/sqlite/migration.sql.j2:1:1: SC410 template error: attribute '__globals__' is not allowed "
            f"in a template {HINT}"
        ]
        assert result.returncode == 2
    assert not marker.exists()
    assert {p.name: p.read_bytes() for p in (root / "migrations").iterdir()} == published


@pytest.mark.parametrize("name", ["cycler", "joiner", "namespace", "lipsum", "range", "dict"])
def test_no_default_global_is_there_to_start_from(tmp_path: Path, name: str) -> None:
    root = project(tmp_path / "p", {"migration.sql.j2": f"-- x\n{{{{ {name}() }}}}\n"})
    refused(root, "migration.sql.j2", 2, f"undefined in a template: '{name}' is undefined")


def test_an_attribute_made_at_run_time_is_refused_by_the_sandbox(tmp_path: Path) -> None:
    attack = "{% set name = '__cla' ~ 'ss__' %}\n{{ spec_file[name] }}\n"
    root = project(tmp_path / "p", {"migration.sql.j2": attack})
    refused(
        root,
        "migration.sql.j2",
        2,
        "not allowed in a template: access to attribute '__class__' of 'str' object is unsafe",
    )


def test_methods_of_values_are_not_reachable(tmp_path: Path) -> None:
    """Only ``loop`` has attributes: no ``str.format`` (a way out of older sandboxes), no list methods."""
    root = project(tmp_path / "p", {"migration.sql.j2": "-- x\n{{ spec_file.format(1) }}\n"})
    refused(
        root,
        "migration.sql.j2",
        2,
        "not allowed in a template: access to attribute 'format' of 'str' object is unsafe",
    )


def test_filters_outside_the_list_do_not_exist(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"migration.sql.j2": "{{ spec_file | attr('upper') }}\n"})
    refused(root, "migration.sql.j2", 1, "template error: No filter named 'attr'.")


# --- item 1: reading only what the project holds --------------------------------------------------


def test_an_include_names_only_a_template_beside_it(tmp_path: Path) -> None:
    (tmp_path / "secret.sql.j2").write_text("TOKEN=s3cr3t\n", encoding="utf-8")
    root = project(tmp_path / "p", {"migration.sql.j2": "-- x\n\n{% include '../../../secret.sql.j2' %}\n"})
    refused(
        root,
        "migration.sql.j2",
        3,
        "template error: a template may include, import or extend only a template beside it, by its file name "
        "(such as 'macros.sql.j2'), not '../../../secret.sql.j2'",
    )


def test_an_include_of_a_computed_name_is_refused(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"migration.sql.j2": "{% include '/etc/' ~ 'passwd' %}\n"})
    refused(
        root, "migration.sql.j2", 1, "template error: a template may include, import or extend only a quoted file name"
    )


def test_an_override_symlinked_out_of_the_project_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOKEN=s3cr3t\n", encoding="utf-8")
    root = project(tmp_path / "p", {})
    (root / "templates" / "sqlite" / "migration.sql.j2").symlink_to(secret)
    result = cli("build", "--project", root, "--no-cache")  # the cache key reads overrides too
    assert result.stderr.splitlines() == [
        "templates/sqlite/migration.sql.j2:1:1: SC118 path leads outside the project (a symlink to a file "
        "elsewhere); it is not read (hint: keep every spec, migration, manifest, template and setting inside "
        "the project directory)"
    ]
    assert result.returncode == 2
    assert "s3cr3t" not in result.stdout + result.stderr
    assert not (root / "migrations").exists()


def test_a_fifo_override_is_refused(tmp_path: Path) -> None:
    """Jinja's own loader passed over it silently; opened, a FIFO would block the reader."""
    root = project(tmp_path / "p", {})
    os.mkfifo(root / "templates" / "sqlite" / "create_table.sql.j2")
    result = cli("build", "--project", root, "--no-cache")  # the cache key reads overrides too
    assert result.stderr.splitlines() == [
        "templates/sqlite/create_table.sql.j2:1:1: SC117 cannot read file: it is a FIFO, not a regular file "
        "(hint: replace it with a regular file)"
    ]
    assert result.returncode == 2


def test_an_oversized_override_is_refused(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"migration.sql.j2": "--" + "x" * (1024 * 1024) + "\n"})
    result = cli("build", "--project", root, "--no-cache")  # the cache key reads overrides too
    assert result.stderr.splitlines() == [
        "templates/sqlite/migration.sql.j2:1:1: SC101 file is 1048579 bytes, over the limit of 1048576 bytes"
    ]
    assert result.returncode == 2


# --- item 1: resource bombs stop at a limit -------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "line", "message"),
    [
        pytest.param(
            "{{ 'x' * 10**10 }}\n", 1, "template error: the ** operator is not allowed in a template", id="power"
        ),
        pytest.param(
            "-- x\n{{ 'x' * 10000000000 }}\n",
            2,
            "a template makes a text of 10000000000 characters, over the limit of 16777216",
            id="repeat-text",
        ),
        pytest.param(
            "{% set n = 9223372036854775807 %}{{ n * n * n * n }}\n",
            1,
            "a template uses an integer over the limit of 2**63 in magnitude",
            id="huge-integer",
        ),
        pytest.param(
            "{% set s = 'xxxxxxxxxxxxxxxx' %}\n" + "{% set s = s ~ s %}\n" * 40,
            22,
            "a template makes a text of 33554432 characters, over the limit of 16777216",
            id="doubling-with-tilde",
        ),
        pytest.param(
            "{% set s = 'xxxxxxxxxxxxxxxx' %}\n" + "{% set s = s + s %}\n" * 40,
            22,
            "a template makes a text of 33554432 characters, over the limit of 16777216",
            id="doubling-with-plus",
        ),
        pytest.param(
            "{% set s = [spec_file] %}\n" + "{% set s = s + s %}\n" * 40,
            18,
            "a template makes a list of more than 100000 items",
            id="doubling-a-list",
        ),
        pytest.param(
            "{% set s = 'x' * 1000000 %}\n{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}\n",
            2,
            "templates make more than 250336 loop iterations and calls for this migration",
            id="nested-loops",
        ),
        pytest.param(
            "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}\n{{ f(60) }}\n",
            1,
            "templates make more than 250336 loop iterations and calls for this migration",
            id="exponential-macros",
        ),
        pytest.param(
            "{% macro f() %}\n{{ f() }}{% endmacro %}{{ f() }}\n",
            2,
            "template macro calls nest more than 64 deep",
            id="recursive-macro",
        ),
        pytest.param(
            "-- x\n{% include 'migration.sql.j2' %}\n",
            2,
            "templates include or call each other too deeply",
            id="self-include",
        ),
        pytest.param(
            "{% set s = 'x' * 16000000 %}{% set b %}{% for c in 'abcdefghijklmnopqrstuvwxyz' %}{{ s }}"
            "{% endfor %}{% endset %}\n",
            1,
            "templates write more than 67111856 characters for this migration",
            id="huge-output",
        ),
        pytest.param(
            "{% set s = 'x' * 1000 %}{% set b %}{% for c in s %}" + "y" * 100_000 + "{% endfor %}{% endset %}\n",
            1,
            "templates write more than 67111856 characters for this migration",
            id="huge-literal-output",
        ),
        pytest.param(
            "{{ spec_file | indent(1000000000, true) }}\n",
            1,
            "a template makes a text of 1000000017 characters, over the limit of 16777216",
            id="indent",
        ),
        pytest.param(
            "{% set s = 'x' * 100000 %}{{ s | replace('x', s) }}\n",
            1,
            "a template makes a text of 10000000000 characters, over the limit of 16777216",
            id="replace",
        ),
        pytest.param(
            "{% set s = 'x' * 10000000 %}{{ [s, s, s, s] | join }}\n",
            1,
            "a template makes a text of 40000000 characters, over the limit of 16777216",
            id="join",
        ),
        pytest.param(
            "{{ '%01000000000d' % 1 }}\n", 1, "%-formatting of text is not allowed in a template", id="percent-format"
        ),
        pytest.param(
            "{% for c in description recursive %}{{ loop(c) }}{% endfor %}\n",
            1,
            "template error: recursive loops are not allowed in a template",
            id="recursive-loop",
        ),
    ],
)
def test_a_resource_bomb_stops_at_a_limit(tmp_path: Path, template: str, line: int, message: str) -> None:
    root = project(tmp_path / "p", {"migration.sql.j2": template})
    refused(root, "migration.sql.j2", line, message)


def test_the_wall_clock_is_the_last_resort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work no count sees (comparing long texts, again and again) still stops, at ``MAX_SECONDS``."""
    from schemac.render import sandbox

    compare = "{% if s == t %}{% endif %}" * 1000
    template = "{% set s = 'x' * 9000000 %}{% set t = s ~ '' %}\n{% for c in 'abcdefghij' %}" + compare + "{% endfor %}"
    root = project(tmp_path / "p", {"migration.sql.j2": template})
    monkeypatch.setattr(sandbox, "MAX_SECONDS", 0.5)
    assert findings(lambda: schemac.build(root, cache=False)) == [
        f"templates/sqlite/migration.sql.j2:2:1: SC410 templates took more than 0.5 s to render this migration {HINT}"
    ]


# --- item 1: located diagnostics, from the process or a worker ------------------------------------


def test_a_problem_in_an_imported_override_is_located_in_it(tmp_path: Path) -> None:
    """The packaged create_table imports the project's _macros, whose column macro fails at its line 3."""
    macros = (
        "{% macro column(c) -%}\n{{ c.name }}\n{{ c.nope }}\n{%- endmacro %}\n"
        "{% macro table_body(cs, ks) %}(\n{% for c in cs %}{{ column(c) }}{% endfor %}){% endmacro %}\n"
    )
    root = project(tmp_path / "p", {"_macros.sql.j2": macros})
    refused(root, "_macros.sql.j2", 3, "undefined in a template: 'dict object' has no attribute 'nope'")


def test_a_syntax_error_is_located(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"create_table.sql.j2": "CREATE TABLE {{ table }}\n(\n{% if %}\n"})
    refused(root, "create_table.sql.j2", 3, "template error: Expected an expression, got 'end of statement block'")


@pytest.mark.parametrize(
    "template",
    ["{{ " + "(" * 300 + "1" + ")" * 300 + " }}\n", "{% if 1 %}" * 150 + "x" + "{% endif %}" * 150 + "\n"],
    ids=["parentheses", "tags"],
)
def test_a_template_too_deep_to_compile_is_located(tmp_path: Path, template: str) -> None:
    """Python's own limits, met while parsing or compiling, were an internal error."""
    root = project(tmp_path / "p", {"migration.sql.j2": template})
    refused(
        root, "migration.sql.j2", 1, "template error: the template nests expressions or tags too deeply to be compiled"
    )


def test_a_template_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"create_table.sql.j2": b"-- ok\n-- caf\xe9\n"})
    result = cli("build", "--project", root)
    assert result.stderr.splitlines() == [
        "templates/sqlite/create_table.sql.j2:2:1: SC410 template is not valid UTF-8 (byte 0xe9)"
    ]
    assert result.returncode == 2


def test_a_missing_include_is_not_a_missing_operation(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"create_table.sql.j2": "{% include 'nowhere.sql.j2' %}\n"})
    refused(
        root,
        "create_table.sql.j2",
        1,
        "template 'nowhere.sql.j2' is neither an override beside this one nor a packaged template",
    )


def test_a_failing_packaged_template_is_an_internal_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SC410 names a file of the project; a bug in schemac's own templates is not the user's to fix."""
    import shutil

    import jinja2

    from schemac.render import sandbox

    packaged = tmp_path / "packaged"
    shutil.copytree(sandbox._package_templates("sqlite"), packaged)
    (packaged / "migration.sql.j2").write_text("{{ no_such_name }}\n", encoding="utf-8")
    package_templates = sandbox._package_templates
    monkeypatch.setattr(sandbox, "_package_templates", lambda d: packaged if d == "sqlite" else package_templates(d))
    sandbox._environment.cache_clear()
    try:
        with pytest.raises(jinja2.UndefinedError):
            schemac.build(project(tmp_path / "p", {}), cache=False)
    finally:
        sandbox._environment.cache_clear()


def test_a_problem_found_in_a_worker_process_comes_back_whole(tmp_path: Path) -> None:
    """From 64 specs, versions render in forked workers; the SC410 raised there is reported as is."""
    specs = {f"{n:04d}_t{n}.yaml": SPEC.replace("  t:", f"  t{n}:") for n in range(1, 71)}
    bad = "CREATE TABLE {{ table }} (\n{{ no_such_name }}\n);\n"
    root = project(tmp_path / "p", {"create_table.sql.j2": bad}, specs)
    result = cli("build", "--project", root, "--no-cache", env={"SCHEMAC_WORKERS": "2"})
    assert result.stderr.splitlines() == [
        f"templates/sqlite/create_table.sql.j2:2:1: SC410 undefined in a template: 'no_such_name' is undefined {HINT}"
    ]
    assert result.returncode == 2
    assert not (root / "migrations").exists()


def test_a_failing_override_leaves_published_migrations_untouched(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {})
    schemac.build(root)
    before = {p.name: p.read_bytes() for p in (root / "migrations").iterdir()}
    (root / "specs" / "0002_b.yaml").write_text(SPEC.replace("  t:", "  u:"), encoding="utf-8")
    (root / "templates" / "sqlite" / "create_table.sql.j2").write_text("{{ 'x' * 10000000000 }}\n", encoding="utf-8")
    result = cli("build", "--project", root)
    assert result.returncode == 2
    assert "SC410" in result.stderr
    assert {p.name: p.read_bytes() for p in (root / "migrations").iterdir()} == before


# --- what a template may use ----------------------------------------------------------------------


def test_a_formatting_template_has_what_it_needs(tmp_path: Path) -> None:
    """loop, macros, imports of packaged and project templates, and the listed filters and tests."""
    create = (
        '{% from "_macros.sql.j2" import column %}\n'
        '{% import "names.sql.j2" as names %}\n'
        "-- {{ names.title(table) }}: {{ columns | length }} columns, first {{ (columns | first).name }}\n"
        "-- {{ columns | join(' / ', attribute='name') }}\n"
        "CREATE TABLE {{ table }} (\n"
        "{% for c in columns %}\n"
        "{{ (column(c) ~ ('' if loop.last else ',')) | indent(4, true) }}\n"
        "{% endfor %}\n"
        ");\n"
    )
    names = "{% macro title(t) %}{{ t | replace('\"', '') | upper | trim }}{% endmacro %}\n"
    migration = (
        "-- from {{ spec_file | lower }}{% if description is sequence and description | length %}: "
        "{{ description | last | default('-') }}{% endif %}\n"
        "{% for s in statements %}\n\n{{ s }}\n{% endfor %}\n"
    )
    root = project(
        tmp_path / "p", {"create_table.sql.j2": create, "names.sql.j2": names, "migration.sql.j2": migration}
    )
    schemac.build(root)
    assert (root / "migrations" / "0001_a.sql").read_text(encoding="utf-8") == (
        "-- from specs/0001_a.yaml: x\n"
        '-- T: 2 columns, first "id"\n'
        '-- "id" / "name"\n'
        'CREATE TABLE "t" (\n'
        '    "id" BIGINT NOT NULL,\n'
        '    "name" TEXT NOT NULL\n'
        ");\n"
    )


# --- packaged templates: each file once, those several dialects share in templates/_common/ --------

PACKAGED = Path(schemac.__file__).parent / "templates"


def test_no_packaged_template_is_a_copy_of_another_of_its_name() -> None:
    """A file several dialects would hold byte for byte lives once, in ``_common``; a dialect's own file
    of a name differs from the shared one. (PostgreSQL's ``drop_foreign_key`` reads as ``drop_check``
    does, but they are two names: a project overriding one does not change the other.)"""
    copies: dict[str, dict[bytes, list[str]]] = {}
    for path in sorted(PACKAGED.glob("*/*.j2")):
        copies.setdefault(path.name, {}).setdefault(path.read_bytes(), []).append(path.parent.name)
    assert {name: [d for d in by_text.values() if len(d) > 1] for name, by_text in copies.items()} == {
        name: [] for name in copies
    }
    assert {path.parent.name for path in PACKAGED.glob("*/*.j2")} == {"_common", *dialects.DIALECTS}


@pytest.mark.parametrize("name", sorted(dialects.DIALECTS))
def test_every_template_the_renderer_uses_resolves_for_each_dialect(name: str) -> None:
    """The template of each operation kind the dialect makes in place (and ``rebuild_table`` where it
    rebuilds) is its own or the shared one; the shared template of a kind it does not make is not its
    (a change of that kind would be SC409), and neither is a template of no dialect."""
    import jinja2

    from schemac import render
    from schemac.planner import RebuildTable

    dialect = dialects.DIALECTS[name]
    env = render.environment(name, None)
    rebuilds = bool(dialects.IN_PLACE_KINDS - dialect.in_place)
    used = {"migration.sql.j2"}
    unused = set()
    for operation, (template, _, _) in render.RENDERERS.items():
        made = operation.kind in dialect.in_place or (operation is RebuildTable and rebuilds)
        (used if made else unused).add(template)
    for template in sorted(used):
        assert env.get_template(template).render  # found: its own or the shared one
    for template in sorted(unused - used):
        with pytest.raises(jinja2.TemplateNotFound):
            env.get_template(template)


def test_a_shared_template_is_not_reachable_by_its_directory(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"migration.sql.j2": "{% include '_common/drop_table.sql.j2' %}\n"})
    refused(
        root,
        "migration.sql.j2",
        1,
        "template error: a template may include, import or extend only a template beside it, by its file name "
        "(such as 'macros.sql.j2'), not '_common/drop_table.sql.j2'",
    )


def test_an_override_of_a_shared_template_wins_in_another_shared_one(tmp_path: Path) -> None:
    """PostgreSQL's ``create_table`` and ``_macros`` are both shared: the project's ``_macros`` is the one
    ``create_table`` imports, and its ``migration`` the one that lays the file out."""
    root = project(tmp_path / "p", {})
    (root / "schemac.toml").write_text('dialect = "postgresql"\n', encoding="utf-8")
    overrides = root / "templates" / "postgresql"
    overrides.mkdir()
    macros = (
        "{% macro column(c) %}{{ c.name }} {{ c.type | upper }}{% endmacro %}\n"
        "{% macro constraint(k) %}CONSTRAINT {{ k.name }}{% endmacro %}\n"
    )
    (overrides / "_macros.sql.j2").write_text(macros, encoding="utf-8")
    (overrides / "migration.sql.j2").write_text("{% for s in statements %}{{ s }}\n{% endfor %}", encoding="utf-8")
    schemac.build(root)
    assert (root / "migrations" / "0001_a.sql").read_text(encoding="utf-8") == (
        "SET lock_timeout = '5s';\nSET statement_timeout = '1min';\n"  # the lock-safe form's first step
        'CREATE TABLE IF NOT EXISTS "t" (\n    "id" INTEGER,\n    "name" VARCHAR(20),\n    CONSTRAINT "pk_t"\n);\n'
    )


# --- item 5, render side: nothing the renderer writes into an SQL comment can end it -------------


def _plan_with(tmp_path: Path, **changes: str) -> tuple[object, object, object]:
    from schemac import dialects, render
    from schemac.planner import plan
    from schemac.project.compiler import read_specs
    from schemac.project.settings import load_settings

    root = project(tmp_path / "p", {})
    specs, _ = read_specs(load_settings(root))
    plans, _ = plan(specs)
    return dataclasses.replace(plans[0], spec=dataclasses.replace(plans[0].spec, **changes)), dialects.SQLITE, render


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"file": "specs\nDROP TABLE victim;\n--/0001_a.yaml"},
            "specs\\nDROP TABLE victim;\\n--/0001_a.yaml:1:1: SC314 spec file path contains the control character "
            "U+000A, which would end the SQL comment it is written in (hint: rename the file or remove the character)",
        ),
        (
            {"file": "specs/0001_a\u2028DROP.yaml"},
            "specs/0001_a\\u2028DROP.yaml:1:1: SC314 spec file path contains the control character U+2028, "
            "which would end the SQL comment it is written in (hint: rename the file or remove the character)",
        ),
        (
            {"description": "fine\nthen\x00DROP TABLE victim;"},
            "specs/0001_a.yaml:1:14: SC314 description contains the control character U+0000, which would end the "
            "SQL comment it is written in (hint: rename the file or remove the character)",
        ),
    ],
)
def test_the_renderer_refuses_text_that_would_end_a_comment(
    tmp_path: Path, changes: dict[str, str], expected: str
) -> None:
    """Reading the specs refuses such names and text first; the renderer holds on its own too."""
    planned, sqlite, render = _plan_with(tmp_path, **changes)
    env = render.environment("sqlite", None)  # type: ignore[attr-defined]
    assert findings(lambda: render.render_version(planned, sqlite, env)) == [expected]  # type: ignore[attr-defined]


# --- item 5, docs: quoted text cannot change the page's structure ---------------------------------


def test_docs_text_cannot_open_a_block_or_html(tmp_path: Path) -> None:
    spec = (
        "description: x\n"
        "tables:\n"
        "  t:\n"
        '    description: "``` the rest would be code <!-- or hidden"\n'
        "    audit: none\n"
        "    columns:\n"
        '      id: {type: integer, primary_key: true, description: "<script>x</script> | y"}\n'
        '      kind: {type: string(10), enum: ["a``b", c], default: c}\n'
    )
    root = project(tmp_path / "p", {}, {"0001_a.yaml": spec})
    result = run_cli("docs", "--project", root)
    assert result.returncode == 0, result.stderr
    text = (root / "docs" / "schema.md").read_text(encoding="utf-8")
    assert "- [t](#t): ``` the rest would be code &lt;!-- or hidden" in text
    assert "\n\\``` the rest would be code &lt;!-- or hidden\n" in text
    assert "| `id` | `integer` | NOT NULL |  | &lt;script>x&lt;/script> \\| y |" in text
    assert "| `kind` | `string(10)`, one of ``` a``b ```, `c` | NOT NULL | `'c'` |  |" in text

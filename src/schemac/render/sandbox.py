"""Template sandbox: how every Jinja template, packaged or a project's override, is loaded and run.

A project's ``templates/<dialect>/`` override is repository content, which is untrusted in CI: it may
lay text out, and nothing more. :class:`_Loader` reads an override as any project file is (a regular
file inside the project, at most :data:`~schemac.project.inputs.MAX_TEMPLATE_BYTES`) and resolves only bare
``*.sql.j2`` names; :class:`_Guard` checks each parsed template and instruments it for the budget;
:class:`_Sandbox` runs it with no globals, a short list of filters and tests, no attribute but
``loop``'s, and guarded arithmetic. Everything one migration file renders shares one budget
(:func:`budgeted`). A problem in an override becomes ``SC410`` at its line (:func:`template_error`).
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType, MethodType
from typing import Any, NoReturn, TypeVar, cast

import jinja2
import jinja2.environment
import jinja2.runtime
import jinja2.sandbox
import jinja2.tests
import jinja2.visitor
from jinja2 import nodes
from jinja2.exceptions import SecurityError

from schemac.dialects import DIALECTS, IN_PLACE_KINDS
from schemac.errors import SchemacError, fail
from schemac.project.inputs import MAX_TEMPLATE_BYTES, read_bytes

MAX_TEXT_CHARS = 16 * 1024 * 1024
"""The longest text one template operation (``~``, ``+``, ``*``, a filter) may make."""
MAX_ITEMS = 100_000
"""The longest list ``+`` may make in a template."""
MAX_NUMBER = 2**63
"""The largest integer (in magnitude) template arithmetic may take or make."""
STEPS_BASE = 250_000
STEPS_PER_VALUE = 16
"""Loop iterations, calls and written expressions the templates of one migration file may make: the
base, and as many more for each value (text, flag) schemac passes them. Packaged templates make
about three for each value: the allowance grows with the specs, so a large spec never runs out, and
only a template's own loops and calls can."""
WRITTEN_CHARS_BASE = 64 * 1024 * 1024
WRITTEN_CHARS_PER_CHAR = 16
"""Characters the templates of one migration file may write (macro and block output included): the
base, and as many more for each character of the values schemac passes them."""
MAX_CALL_DEPTH = 64
"""How deeply template macro calls may nest."""
MAX_SECONDS = 60.0
"""Last resort, for work no count sees (comparing long texts): wall-clock time for one migration file."""

TEMPLATE_HINT = (
    "templates run sandboxed: they may use the variables schemac passes, loop, macros, {% include %} "
    "of a template beside them, and the filters and tests listed in docs/dialects.md#templates"
)
_TEMPLATE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\.sql\.j2\Z")
_LOOP_ATTRIBUTES = frozenset(
    {"index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0"}
    | {"previtem", "nextitem", "cycle", "changed"}
)


class TemplateRefused(Exception):
    """A template did something the sandbox does not allow, or went over a limit."""


SHARED = "_common"
"""The packaged directory of the templates several dialects share (a dialect's own file of a name wins)."""


def _package_templates(dialect: str) -> Path:
    return Path(str(resources.files("schemac").joinpath("templates", dialect)))


@dataclass
class _Budget:
    """What the templates of one migration file may spend, and have spent so far."""

    steps: int = 0
    chars: int = 0
    depth: int = 0
    max_steps: int = STEPS_BASE
    max_chars: int = WRITTEN_CHARS_BASE
    deadline: float = field(default_factory=lambda: time.monotonic() + MAX_SECONDS)
    next_clock_check: int = 0
    unmeasured: list[tuple[Mapping[str, Any], Sequence[str]]] = field(default_factory=list)

    def allow_for(self, context: Mapping[str, Any], written: Sequence[str] = ()) -> None:
        """Raise the limits for the values of ``context``, which a template is about to get, and for
        ``written``: texts already rendered, which it only writes out (once each). They are measured
        only if a limit is reached: few files ever go over the base."""
        self.unmeasured.append((context, written))

    def spend(self, steps: int, chars: int = 0) -> None:
        self.steps += steps
        self.chars += chars
        if self.steps > self.max_steps or self.chars > self.max_chars or self.steps >= self.next_clock_check:
            self._settle()

    def _settle(self) -> None:
        """Refuse what is over a limit, once the contexts given are measured; look at the clock."""
        if self.steps > self.max_steps or self.chars > self.max_chars:
            for context, written in self.unmeasured:
                values, chars = _measure(context)
                self.max_steps += STEPS_PER_VALUE * (values + len(written))
                self.max_chars += WRITTEN_CHARS_PER_CHAR * chars + sum(map(len, written))
            self.unmeasured.clear()
        if self.steps > self.max_steps:
            raise TemplateRefused(
                f"templates make more than {self.max_steps} loop iterations and calls for this migration"
            )
        if self.chars > self.max_chars:
            raise TemplateRefused(f"templates write more than {self.max_chars} characters for this migration")
        if self.steps >= self.next_clock_check:
            self.next_clock_check = self.steps + _CLOCK_EVERY
            self.check_clock()

    def check_clock(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateRefused(f"templates took more than {MAX_SECONDS:g} s to render this migration")


_CLOCK_EVERY = 256
"""Steps between two looks at the clock (a loop also looks at each item)."""


def _measure(value: Any) -> tuple[int, int]:
    """How many scalar values ``value`` holds (in its mappings and lists), and their characters."""
    values = chars = 0
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            values, chars = values + 1, chars + len(item)
        elif isinstance(item, Mapping):
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
        else:
            values, chars = values + 1, chars + 1
    return values, chars


_budget: ContextVar[_Budget | None] = ContextVar("schemac_template_budget", default=None)


def _spend(steps: int, chars: int = 0) -> None:
    """Charge the running render's budget (none outside a render, e.g. when Jinja folds constants)."""
    budget = _budget.get()
    if budget is not None:
        budget.spend(steps, chars)


def allow_for(context: Mapping[str, Any], written: Sequence[str] = ()) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.allow_for(context, written)


@contextmanager
def budgeted() -> Iterator[None]:
    """One budget for everything rendered inside (a whole migration file), unless one is running."""
    if _budget.get() is not None:
        yield
        return
    token = _budget.set(_Budget())
    try:
        yield
    finally:
        _budget.reset(token)


def _checked_length(length: int) -> int:
    if length > MAX_TEXT_CHARS:
        raise TemplateRefused(f"a template makes a text of {length} characters, over the limit of {MAX_TEXT_CHARS}")
    _spend(0, length)
    return length


def _checked_number(value: Any) -> Any:
    if isinstance(value, int) and not -MAX_NUMBER <= value <= MAX_NUMBER:
        raise TemplateRefused("a template uses an integer over the limit of 2**63 in magnitude")
    return value


def _text(value: Any) -> str:
    """``value`` as the text a template writes; lists, mappings and other objects are refused."""
    if isinstance(value, str | bool | int | float | type(None)):
        return str(_checked_number(value))
    if isinstance(value, jinja2.Undefined):
        return str(value)  # "" for an inline if without else; StrictUndefined raises
    raise TemplateRefused(f"a template writes a {type(value).__name__} as text; join its items instead")


def _written(value: Any) -> str:
    """Jinja's ``finalize``: every ``{{ … }}`` becomes text here, and is charged."""
    text = value if type(value) is str else _text(value)
    budget = _budget.get()
    if budget is not None:
        budget.spend(1, len(text))
    return text


@jinja2.pass_environment
def _join(env: jinja2.Environment, value: Any, separator: str = "", attribute: str | None = None) -> str:
    """``join``: the items' text with ``separator`` between them (of ``attribute`` of each, if given)."""
    items = [_text(env.getattr(item, attribute) if attribute is not None else item) for item in value]
    _checked_length(sum(map(len, items)) + len(separator) * max(len(items) - 1, 0))
    return _text(separator).join(items)


def _replace(value: Any, old: str, new: str, count: int | None = None) -> str:
    text, old, new = _text(value), _text(old), _text(new)
    found = len(text) + 1 if old == "" else text.count(old)
    if count is not None and count >= 0:
        found = min(found, count)
    _checked_length(len(text) + found * (len(new) - len(old)))
    return text.replace(old, new, -1 if count is None else count)


def _indent(value: Any, width: int | str = 4, first: bool = False) -> str:
    """``indent``: every line but the first (the first too with ``first``) starts with ``width`` spaces
    (or with ``width`` itself, given a text); empty lines stay empty."""
    text = _text(value)
    pad_length = len(width) if isinstance(width, str) else int(_checked_number(width))
    lines = text.split("\n")
    padded = sum(1 for i, line in enumerate(lines) if line and (i or first))
    _checked_length(len(text) + max(pad_length, 0) * padded)
    pad = width if isinstance(width, str) else " " * pad_length
    return "\n".join(line if not line or (i == 0 and not first) else pad + line for i, line in enumerate(lines))


def _changed_text(change: Callable[[str], str]) -> Callable[[Any], str]:
    def apply(value: Any) -> str:
        result = change(_text(value))
        _checked_length(len(result))
        return result

    apply.__name__ = change.__name__
    return apply


@jinja2.pass_environment
def _first(env: jinja2.Environment, value: Any) -> Any:
    return value[0] if len(value) else env.undefined("first of an empty sequence")


@jinja2.pass_environment
def _last(env: jinja2.Environment, value: Any) -> Any:
    return value[-1] if len(value) else env.undefined("last of an empty sequence")


def _default(value: Any, fallback: Any = "", boolean: bool = False) -> Any:
    return fallback if isinstance(value, jinja2.Undefined) or (boolean and not value) else value


FILTERS: Mapping[str, Callable[..., Any]] = MappingProxyType(
    {
        "join": _join,
        "upper": _changed_text(str.upper),
        "lower": _changed_text(str.lower),
        "trim": _changed_text(str.strip),
        "replace": _replace,
        "indent": _indent,
        "length": len,
        "first": _first,
        "last": _last,
        "default": _default,
    }
)
"""The filters a template may use: those the packaged templates use (``join``) and those a template
that only lays text out plausibly needs. None can make a text over :data:`MAX_TEXT_CHARS`."""
_TEST_NAMES = ("defined", "undefined", "none", "boolean", "string", "number", "sequence", "eq", "ne", "in")
TESTS: Mapping[str, Callable[..., bool]] = MappingProxyType(
    {name: cast("Callable[..., bool]", jinja2.tests.TESTS[name]) for name in _TEST_NAMES}
)
"""The tests a template may use (``x is none``, ``x is defined``, …)."""


class _Sandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """Jinja's sandbox, narrowed: no globals, only :data:`FILTERS` and :data:`TESTS`, no attribute
    but ``loop``'s, guarded arithmetic, and every call, loop and write charged to the budget."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self, loader: _Loader) -> None:
        super().__init__(
            loader=loader,
            autoescape=False,  # SQL, not HTML: every literal is escaped by the dialect instead
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            undefined=jinja2.StrictUndefined,
            finalize=_written,
        )
        self.globals.clear()  # range, dict, cycler, joiner, namespace, lipsum: none is needed
        self.filters = dict(FILTERS)
        self.tests = dict(TESTS)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """Only ``loop.index`` and its kind, and the macros (and variables) of an imported template."""
        if isinstance(obj, jinja2.environment.TemplateModule):
            return not attr.startswith("_") and attr in vars(obj)
        return isinstance(obj, jinja2.runtime.LoopContext) and attr in _LOOP_ATTRIBUTES

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``c.name`` of a context mapping straight from its key (the sandbox would try an attribute first)."""
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def wrap_str_format(self, value: Any) -> None:
        """No ``str.format`` either (Jinja would hand out a sandboxed one, whatever the rule above says)."""
        return None

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(__obj, MethodType) and __obj.__self__ is __self:  # a schemac_* hook _Guard added
            return __obj(*args)  # without the _loop_vars and _block_vars Jinja passes to every call
        budget = _budget.get()
        if budget is None:
            return super().call(__context, __obj, *args, **kwargs)
        budget.spend(1)
        if budget.depth >= MAX_CALL_DEPTH:
            raise TemplateRefused(f"template macro calls nest more than {MAX_CALL_DEPTH} deep")
        budget.depth += 1
        try:
            return super().call(__context, __obj, *args, **kwargs)
        finally:
            budget.depth -= 1

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            raise TemplateRefused("the ** operator is not allowed in a template")
        if operator == "%" and isinstance(left, str):
            raise TemplateRefused("%-formatting of text is not allowed in a template")
        _checked_number(left)
        _checked_number(right)
        if operator in "*+":
            _check_sequence_size(operator, left, right)
        return _checked_number(super().call_binop(context, operator, left, right))

    # Called by the code :class:`_Guard` adds to every template.

    def schemac_loop(self, iterable: Any, body_chars: int) -> Any:
        """The iterable of a ``for``, charged up front (one step and the loop body's text per item),
        and looking at the clock at each item."""
        if not hasattr(iterable, "__len__"):
            iterable = list(itertools.islice(iterable, MAX_ITEMS + 1))
        _spend(len(iterable), len(iterable) * body_chars)
        budget = _budget.get()
        return iterable if budget is None else _timed(iterable, budget)

    def schemac_concat(self, *parts: Any) -> str:
        """``a ~ b``: the texts joined, checked before they are."""
        texts = [_text(part) for part in parts]
        _checked_length(sum(map(len, texts)))
        return "".join(texts)

    def schemac_spend(self, chars: int) -> str:
        """Charge the literal text of a body (a template, macro, block or call block) as it runs."""
        _spend(1, chars)
        return ""


def _timed(items: Iterable[Any], budget: _Budget) -> Iterator[Any]:
    for item in items:
        budget.check_clock()
        yield item


def _check_sequence_size(operator: str, left: Any, right: Any) -> None:
    """Refuse ``*`` and ``+`` whose text or list would be over the limits, before it is made."""
    if operator == "*":
        sequence, times = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(sequence, str) and isinstance(times, int):
            _checked_length(len(sequence) * max(times, 0))
        elif isinstance(sequence, list | tuple) and isinstance(times, int):
            raise TemplateRefused("repeating a list with * is not allowed in a template")
    elif isinstance(left, str) and isinstance(right, str):
        _checked_length(len(left) + len(right))
    elif isinstance(left, list | tuple) and isinstance(right, list | tuple) and len(left) + len(right) > MAX_ITEMS:
        raise TemplateRefused(f"a template makes a list of more than {MAX_ITEMS} items")


def _bad_template_name(name: str) -> str | None:
    """Why a template may not include, import or extend ``name``, or ``None``."""
    if _TEMPLATE_NAME.match(name):
        return None
    return (
        f"a template may include, import or extend only a template beside it, by its file name "
        f"(such as 'macros.sql.j2'), not {name!r}"
    )


_N = TypeVar("_N", bound=nodes.Node)


class _Guard(jinja2.visitor.NodeTransformer):
    """Checks a parsed template and instruments it for the budget.

    Refused (at the node's line): ``**``, recursive loops, ``_``-prefixed attributes, and an include,
    import or extends of anything but a quoted file name. Instrumented: each ``for`` charges its
    items up front (:meth:`_Sandbox.schemac_loop`), each ``~`` is checked before it joins
    (:meth:`_Sandbox.schemac_concat`), and each body that runs many times (the template itself, a
    macro, a block, a call block) charges its literal text when it runs.
    """

    def __init__(self, name: str, filename: str) -> None:
        self.name = name
        self.filename = filename

    def refuse(self, node: nodes.Node, message: str) -> NoReturn:
        raise jinja2.TemplateSyntaxError(message, node.lineno, self.name, self.filename)

    def visit_Pow(self, node: nodes.Pow) -> nodes.Node:
        self.refuse(node, "the ** operator is not allowed in a template")

    def visit_Getattr(self, node: nodes.Getattr) -> nodes.Node:
        if node.attr.startswith("_"):
            self.refuse(node, f"attribute {node.attr!r} is not allowed in a template")
        return self.children(node)

    def visit_Getitem(self, node: nodes.Getitem) -> nodes.Node:
        if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str) and node.arg.value.startswith("_"):
            self.refuse(node, f"item {node.arg.value!r} is not allowed in a template")
        return self.children(node)

    def visit_For(self, node: nodes.For) -> nodes.Node:
        if node.recursive:
            self.refuse(node, "recursive loops are not allowed in a template")
        node = self.children(node)
        node.iter = self._call(
            "schemac_loop", node, cast(nodes.Expr, node.iter), nodes.Const(_literal_chars(node.body))
        )
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        node = self.children(node)
        return self._call("schemac_concat", node, *node.nodes)

    def _named_template(self, node: nodes.Extends | nodes.Include | nodes.Import | nodes.FromImport) -> nodes.Node:
        if not (isinstance(node.template, nodes.Const) and isinstance(node.template.value, str)):
            self.refuse(node, "a template may include, import or extend only a quoted file name")
        if (problem := _bad_template_name(node.template.value)) is not None:
            self.refuse(node, problem)
        return self.children(node)

    visit_Extends = visit_Include = visit_Import = visit_FromImport = _named_template

    def _charged_body(self, node: nodes.Template | nodes.Macro | nodes.CallBlock | nodes.Block) -> nodes.Node:
        node = self.children(node)
        spend = self._call("schemac_spend", node, nodes.Const(_literal_chars(node.body)))
        node.body.insert(0, nodes.Output([spend], lineno=node.lineno))
        return node

    visit_Template = visit_Macro = visit_CallBlock = visit_Block = _charged_body

    def children(self, node: _N) -> _N:
        """``node`` with its children checked and instrumented."""
        return cast(_N, self.generic_visit(node))

    @staticmethod
    def _call(method: str, at: nodes.Node, *args: nodes.Expr) -> nodes.Call:
        return nodes.Call(nodes.EnvironmentAttribute(method), list(args), [], None, None, lineno=at.lineno)


def _literal_chars(body: list[nodes.Node]) -> int:
    """The literal text in ``body`` that runs each time it does (nested loops, macros, blocks and call
    blocks charge their own)."""
    total = 0
    stack: list[nodes.Node] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, nodes.TemplateData):
            total += len(node.data)
        elif isinstance(node, nodes.For):
            stack.extend(node.else_)
        elif not isinstance(node, nodes.Macro | nodes.CallBlock | nodes.Block):
            stack.extend(node.iter_child_nodes())
    return total


class _Loader(jinja2.BaseLoader):
    """A dialect's templates: the project's override of a name first, read as any project file is
    (:func:`schemac.project.inputs.read_bytes`: a regular file inside the project, at most
    :data:`MAX_TEMPLATE_BYTES`), else the dialect's packaged one, else the shared one (:data:`SHARED`),
    unless it is named after an operation kind the dialect does not make in place (``in_place``): the
    dialect has no template for that change. Only bare ``*.sql.j2`` file names resolve."""

    def __init__(
        self, dialect: str, override: Path | None, shown: str, root: Path | None, in_place: frozenset[str]
    ) -> None:
        self.packages = (_package_templates(dialect), _package_templates(SHARED))
        self.unshared = frozenset(f"{kind}.sql.j2" for kind in IN_PLACE_KINDS - in_place)
        self.override = override
        self.shown = shown
        self.root = root
        self.override_files: set[str] = set()
        """The file names (as shown) of the overrides loaded, which is how a frame is known as theirs."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        if (problem := _bad_template_name(template)) is not None:
            raise TemplateRefused(problem)
        if self.override is not None and os.path.lexists(self.override / template):
            return self._override_source(self.override / template, f"{self.shown}/{template}")
        own, shared = self.packages
        packaged = own / template
        if not packaged.is_file():
            packaged = shared / template
            if template in self.unshared or not packaged.is_file():
                raise jinja2.TemplateNotFound(template)
        override = self.override
        return (
            packaged.read_text("utf-8"),
            str(packaged),
            lambda: override is None or not os.path.lexists(override / template),
        )

    def _override_source(self, path: Path, shown: str) -> tuple[str, str, Callable[[], bool]]:
        data = read_bytes(path, shown, MAX_TEMPLATE_BYTES, root=self.root)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as bad:
            line = data.count(b"\n", 0, bad.start) + 1
            raise fail(shown, line, 1, "SC410", f"template is not valid UTF-8 (byte 0x{data[bad.start]:02x})") from None
        self.override_files.add(shown)
        stamp = _stamp(path)
        return text, shown, lambda: _stamp(path) == stamp

    def load(
        self, environment: jinja2.Environment, name: str, globals: MutableMapping[str, Any] | None = None
    ) -> jinja2.Template:
        source, filename, uptodate = self.get_source(environment, name)
        try:
            tree = _Guard(name, filename).visit(environment.parse(source, name, filename))
            tree.set_environment(environment)
            code = environment.compile(tree, name, filename)
        except (RecursionError, SyntaxError, MemoryError):  # Python's limits, met by parsing or compiling
            message = "the template nests expressions or tags too deeply to be compiled"
            raise jinja2.TemplateSyntaxError(message, 1, name, filename) from None
        return environment.template_class.from_code(environment, code, globals if globals is not None else {}, uptodate)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_ino, status.st_size, status.st_mtime_ns


def environment(dialect: str, project_templates: Path | None, root: Path | None = None) -> jinja2.Environment:
    """The sandboxed Jinja environment for one dialect, with the project's overrides first.

    ``root`` is the project directory (resolved), which overrides must not lead out of; it defaults
    to the directory holding ``project_templates``. Whether the override directory exists is looked
    up on every call, so a long-lived process notices a ``templates/`` directory created after its
    first build. The shared templates a dialect takes follow its ``in_place`` as :data:`DIALECTS` has it.
    """
    known = DIALECTS.get(dialect)
    in_place = known.in_place if known is not None else IN_PLACE_KINDS
    override = project_templates / dialect if project_templates is not None else None
    if override is None or not override.is_dir():
        return _environment(dialect, None, "", None, in_place)
    root = (root or override.parent.parent).resolve()
    try:
        shown = override.absolute().relative_to(root).as_posix()
    except ValueError:
        shown = str(override)
    return _environment(dialect, override, shown, root, in_place)


@cache
def _environment(
    dialect: str, override: Path | None, shown: str, root: Path | None, in_place: frozenset[str]
) -> jinja2.Environment:
    return _Sandbox(_Loader(dialect, override, shown, root, in_place))


def template_error(error: Exception, env: jinja2.Environment) -> SchemacError | None:
    """``error``, raised while loading or rendering, as SC410 at the line of the override it arose in;
    ``None`` when no override is involved (a packaged template failing is an internal error)."""
    loader = env.loader
    if not isinstance(loader, _Loader):
        return None
    if isinstance(error, jinja2.TemplateSyntaxError):
        if error.filename not in loader.override_files:
            return None
        return fail(error.filename, error.lineno, 1, "SC410", f"template error: {error.message}", TEMPLATE_HINT)
    where = None
    trace = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename in loader.override_files:
            where = trace.tb_frame.f_code.co_filename, trace.tb_lineno
        trace = trace.tb_next
    if where is None:
        return None
    return fail(where[0], where[1], 1, "SC410", _template_message(error), TEMPLATE_HINT)


def _template_message(error: Exception) -> str:
    text = str(error).rstrip(".")
    if isinstance(error, TemplateRefused):
        return text
    if isinstance(error, SecurityError):
        return f"not allowed in a template: {text}"
    if isinstance(error, jinja2.UndefinedError):
        return f"undefined in a template: {text}"
    if isinstance(error, jinja2.TemplateNotFound):
        return f"template {error.name!r} is neither an override beside this one nor a packaged template"
    if isinstance(error, RecursionError):
        return "templates include or call each other too deeply"
    if isinstance(error, MemoryError):
        return "a template ran out of memory"
    return f"template failed: {type(error).__name__}: {text}"

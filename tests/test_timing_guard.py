"""No test depends on a quiet machine: a guard that reads the test code and refuses any
wall-clock bound tighter than a hang bound (10 s).

Speed belongs in ``benchmarks/`` and BENCHMARKS.md; a test may bound time only to catch a real
hang, with at least 10 s and 10× the normal time of slack. This guard checks the part a
program can check: the literal numbers. It flags

- an upper bound on a timing value below 10 s: ``elapsed < 5``, ``0.4 < time.monotonic() - t < 3``,
  ``max(latencies) < 1.0`` (a timing value comes from ``time.monotonic()``/``perf_counter()``/
  ``time.time()``, or is a variable assigned from one, or is named like ``elapsed``, ``latency``,
  ``duration``, ``took``, ``per_call``); lower bounds (``elapsed >= 0.5``) cannot fail on a slow
  machine and are allowed;
- a wait that fails the test when it runs out (``wait_*`` helpers, a driver's ``confirm``) given
  less than 10 s, by ``timeout=`` or by position where the wait's definition (in the tests, their
  helpers or the drivers) names that parameter a timeout, unless the test expects it to run out
  (``assert not confirm(...)``, ``confirm(...) is False``);
- a deadline set less than 10 s ahead (``deadline = time.monotonic() + 3``);
- a ``wait_*`` helper in ``labeld/testing`` whose default timeout is below 10 s.

Numbers are resolved through module-level constants (``TIMEOUT = 0.3``) and simple arithmetic.
"""

from __future__ import annotations

import ast
import functools
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HANG_BOUND_S = 10.0
CLOCKS = {"monotonic", "perf_counter", "time", "monotonic_ns", "perf_counter_ns"}
STOPWATCHES = CLOCKS - {"time"}  # a variable set from time.time() is a date (a timestamp), not a stopwatch
TIMING_WORDS = ("elapsed", "latenc", "duration", "took", "per_call", "slowest")
WAITS_THAT_FAIL = ("confirm",)  # besides every wait_* helper


def _sources() -> list[Path]:
    return sorted([*(REPO / "tests").glob("*.py"), *(REPO / "labeld" / "testing").glob("*.py")])


def _signature_sources() -> list[Path]:
    """Where the waits the tests call are defined: the tests, their helpers, and the drivers (confirm)."""
    return [*_sources(), *(REPO / "labeld" / "drivers").glob("*.py")]


@functools.cache
def _known_waits() -> dict[str, set[int]]:
    return signatures(_signature_sources())


def _constants(tree: ast.Module) -> dict[str, float]:
    """Module-level ``NAME = <number>`` assignments."""
    found: dict[str, float] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = _number(node.value, found)
            if value is not None:
                found[node.targets[0].id] = value
    return found


def _number(node: ast.expr, constants: dict[str, float]) -> float | None:
    """The value of a numeric literal, a known constant, or arithmetic on them; else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand, constants)
        return None if inner is None else -inner
    if isinstance(node, ast.BinOp):
        left, right = _number(node.left, constants), _number(node.right, constants)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div) and right:
            return left / right
    return None


def _is_clock_call(node: ast.AST, clocks: set[str] = CLOCKS) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in clocks
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "time")


def _timed_names(function: ast.AST) -> set[str]:
    """Variables of ``function`` assigned (directly or through each other) from a stopwatch reading."""
    names: set[str] = set()
    changed = True
    while changed:
        changed = False
        for node in ast.walk(function):
            if isinstance(node, ast.Assign) and _is_timing(node.value, names, STOPWATCHES):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id not in names:
                        names.add(target.id)
                        changed = True
    return names


def _is_timing(node: ast.AST, timed: set[str], clocks: set[str] = CLOCKS) -> bool:
    for part in ast.walk(node):
        if _is_clock_call(part, clocks):
            return True
        name = part.id if isinstance(part, ast.Name) else part.attr if isinstance(part, ast.Attribute) else ""
        if name in timed or any(word in name.lower() for word in TIMING_WORDS):
            return True
    return False


def _upper_bounds(compare: ast.Compare, timed: set[str], constants: dict[str, float]) -> list[float]:
    """The literal upper bounds this comparison puts on a timing value (``left <= 0``, a deadline
    reached, is no bound)."""
    bounds: list[float] = []
    operands = [compare.left, *compare.comparators]
    for op, left, right in zip(compare.ops, operands[:-1], operands[1:], strict=True):
        if isinstance(op, ast.Lt | ast.LtE):
            timing, bound = left, right
        elif isinstance(op, ast.Gt | ast.GtE):
            timing, bound = right, left
        else:
            continue
        value = _number(bound, constants)
        if value is not None and value > 0 and _is_timing(timing, timed) and not _is_timing(bound, timed):
            bounds.append(value)
    return bounds


def _deadline_ahead(value: ast.expr, constants: dict[str, float]) -> float | None:
    """N for ``time.monotonic() + N`` (a deadline N seconds ahead), else None."""
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add):
        for clock, ahead in ((value.left, value.right), (value.right, value.left)):
            if _is_clock_call(clock, STOPWATCHES):
                return _number(ahead, constants)
    return None


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def signatures(paths: list[Path]) -> dict[str, set[int]]:
    """For each function name defined in ``paths``: the positions (``self`` left out) of its
    parameters named like ``timeout``, so a positional timeout is told from a count."""
    found: dict[str, set[int]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names = [a.arg for a in node.args.args if a.arg not in ("self", "cls")]
                found.setdefault(node.name, set()).update(i for i, n in enumerate(names) if "timeout" in n)
    return found


def _wait_timeouts(call: ast.Call, constants: dict[str, float], timeout_positions: dict[str, set[int]]) -> list[float]:
    """The timeouts given to a wait that fails the test when it runs out (see the module doc)."""
    name = _call_name(call)
    if not (name.startswith("wait_") or name in WAITS_THAT_FAIL):
        return []
    positions = timeout_positions.get(name, set())
    given = [kw.value for kw in call.keywords if kw.arg == "timeout"]
    given += [arg for i, arg in enumerate(call.args) if i in positions]
    return [v for v in (_number(arg, constants) for arg in given) if v is not None]


def _expected_to_run_out(call: ast.Call, parents: dict[ast.AST, ast.AST]) -> bool:
    parent = parents.get(call)
    if isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not):
        return True
    return (isinstance(parent, ast.Compare) and parent.left is call and len(parent.ops) == 1
            and isinstance(parent.ops[0], ast.Is | ast.Eq) and isinstance(parent.comparators[0], ast.Constant)
            and parent.comparators[0].value is False)


def tight_bounds(source: str, where: str = "<source>", timeout_positions: dict[str, set[int]] | None = None
                 ) -> list[str]:
    """Every wall-clock bound below the hang bound in ``source``, one line each. ``timeout_positions``
    (from :func:`signatures`) says which positional arguments of a wait are its timeout."""
    timeout_positions = _known_waits() if timeout_positions is None else timeout_positions
    tree = ast.parse(source)
    constants = _constants(tree)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: list[str] = []
    scopes: list[ast.AST] = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    for scope in [tree, *scopes]:
        timed = _timed_names(scope) if scope is not tree else set()
        body = scope.body if scope is not tree else [n for n in tree.body if not isinstance(n, ast.FunctionDef)]
        for node in (n for stmt in body for n in ast.walk(stmt)):
            if isinstance(node, ast.Compare) and scope is not tree:
                for bound in _upper_bounds(node, timed, constants):
                    if bound < HANG_BOUND_S:
                        found.append(f"{where}:{node.lineno}: a timing value bounded by {bound:g} s")
            elif isinstance(node, ast.Assign) and scope is not tree:
                ahead = _deadline_ahead(node.value, constants)
                if ahead is not None and 0 < ahead < HANG_BOUND_S:
                    found.append(f"{where}:{node.lineno}: a deadline {ahead:g} s ahead")
            elif isinstance(node, ast.Call) and not _expected_to_run_out(node, parents):
                for timeout in _wait_timeouts(node, constants, timeout_positions):
                    if timeout < HANG_BOUND_S:
                        found.append(f"{where}:{node.lineno}: {_call_name(node)}() given {timeout:g} s")
        if isinstance(scope, ast.FunctionDef) and scope.name.startswith("wait"):
            arguments = scope.args.args[len(scope.args.args) - len(scope.args.defaults):]
            for argument, default in zip(arguments, scope.args.defaults, strict=True):
                value = _number(default, constants)
                if "timeout" in argument.arg and value is not None and value < HANG_BOUND_S:
                    found.append(f"{where}:{scope.lineno}: {scope.name}() defaults to {value:g} s")
    return sorted(set(found), key=lambda line: (line.split(":")[0], int(line.split(":")[1])))


def test_no_test_bounds_wall_clock_time_below_a_hang_bound() -> None:
    """Every test and test helper leaves at least 10 s before a wait or a timing check fails."""
    waits = _known_waits()
    found = [line for path in _sources()
             for line in tight_bounds(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)), waits)]
    assert found == [], "\n".join(["wall-clock bounds below 10 s (speed goes to benchmarks/):", *found])


@pytest.mark.parametrize(("code", "flagged"), [
    ("elapsed = time.monotonic() - started\nassert elapsed < 5.0", True),
    ("assert 0.4 < time.monotonic() - started < 3", True),
    ("assert max(latencies) < 1.0", True),
    ("per_call = (time.perf_counter() - t) / 200\nassert per_call < 0.05", True),
    ("assert time.monotonic() - started < 2 * TIMEOUT", True),
    ("assert emulator.wait_labels(1, timeout=5)", True),
    ("daemon.wait_for(ready, 5, 'the printer')", True),
    ("wait_until(lambda: done, 3, 'the archive')", True),
    ("wait_printed(started, 2)", False),
    ("driver.confirm(device, timeout=5)", True),
    ("assert time.monotonic() - started >= 0.5", False),
    ("assert 0.5 <= time.monotonic() - started < 30", False),
    ("assert not driver.confirm(device, timeout=0.5)", False),
    ("assert driver.confirm(device, timeout=0.3) is False", False),
    ("assert emulator.wait_labels(1, timeout=30)", False),
    ("deadline = time.monotonic() + 3.0\nwhile server.requests < 4 and time.monotonic() < deadline:\n    pass", True),
    ("deadline = time.monotonic() + timeout", False),
    ("assert len(labels) < 3", False),
    ("assert offset < 5.0", False),
    ("left = deadline - time.monotonic()\nif left <= 0:\n    return False", False),
    ("now = time.time()\nassert abs(from_ntp(to_ntp(now)) - now) < 1e-6", False),
    ("assert abs(data['checked_at'] - time.time()) < 5", True),
])
def test_guard_tells_tight_bounds_from_hang_bounds(code: str, flagged: bool) -> None:
    """Upper bounds under 10 s and short waits that must not run out are flagged; the rest are not."""
    source = "TIMEOUT = 0.3\n\ndef test_it():\n" + textwrap.indent(code, "    ") + "\n"
    assert bool(tight_bounds(source)) is flagged, tight_bounds(source)


def test_guard_flags_a_short_default_wait_in_a_helper() -> None:
    """A helper ``wait_*`` whose default timeout is below 10 s is flagged, with its name."""
    source = "def wait_labels(self, count: int, timeout: float = 5.0) -> bool:\n    return True\n"
    assert tight_bounds(source, "helper.py") == ["helper.py:1: wait_labels() defaults to 5 s"]

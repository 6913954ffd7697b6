"""Test cells as the grader runs them: the checks split into a sandboxed half and a trusted half.

A test cell of the course calls ``check_close(name, got, expected, ...)``, ``check_shape(name, got,
shape)``, ``check_type(name, got, type)``, ``check_true(name, condition, message)`` (from
``vae_course.exercises``) or ``assert condition, message``, each as a statement of its own. At
grading time every test cell is transformed twice (``split_test_cell``):

- the **sandboxed copy**, run after the student's cells: each check becomes
  ``__grader_record__(site, got)``, which sends the value under test out of the sandbox as plain
  numbers; the expected value, tolerances and messages are dropped, and so is every statement
  whose only use is to compute them (``expected = ...``, a reference function, a brute-force
  loop), so that nothing in the student's process holds an expected value to read;
- the **reference copy**, run in a separate sandbox on the instructor's notebook (model answers,
  no student code): each check becomes ``__grader_reference__(site, kind, ...)``, which records the
  expected values, tolerances and messages, and checks that the model answer passes.

``judge_cell`` then compares, in the grader's own process, each value the student's run sent
with the expected value of the same check and occurrence, with the course's own check functions.

``convention_problems`` lists what keeps a test cell from being split safely (see the README,
"Writing test cells").
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

import numpy as np

__all__ = ["CHECKS", "SplitCell", "convention_problems", "decode", "judge_cell", "split_test_cell"]

CHECKS = {"check_close": "close", "check_shape": "shape", "check_true": "true", "check_type": "type"}
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


@dataclass
class Site:
    site: int
    kind: str           # close, shape, true, type, assert
    line: int
    hidden: bool


@dataclass
class SplitCell:
    sandboxed: str              # source run after the student's cells
    reference: str              # source run in the trusted run of the instructor's notebook
    sites: list                 # [Site]
    leaks: list = field(default_factory=list)      # names of expected values the sandboxed copy still computes
    problems: list = field(default_factory=list)   # convention problems (see convention_problems)


def _hidden_lines(source: str) -> set:
    hidden, inside = set(), False
    for n, line in enumerate(source.splitlines(), start=1):
        if line.strip() == HIDDEN_BEGIN:
            inside = True
        elif line.strip() == HIDDEN_END:
            inside = False
        elif inside:
            hidden.add(n)
    return hidden


def _check_kind(node) -> str | None:
    """'close', 'shape'... when ``node`` is a call of a check function (by name or as ``module.check_x``)."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    return CHECKS.get(name)


_GOT_POSITION = {"close": (1, "got"), "shape": (1, "got"), "type": (1, "got"), "true": (1, "condition")}


def _got_arg(call: ast.Call, kind: str):
    pos, key = _GOT_POSITION[kind]
    if len(call.args) > pos:
        return call.args[pos]
    for kw in call.keywords:
        if kw.arg == key:
            return kw.value
    return None


def _loads(node) -> set:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _bound_names(stmt) -> set | None:
    """Names a removable statement binds; None when the statement may not be removed."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    targets = []
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    else:
        return None
    names = set()
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, (ast.Attribute, ast.Subscript)):
                return None     # changes an object in place: keep
    return names


def _record_call(fn: str, args: list, keywords: list | None = None) -> ast.Expr:
    return ast.Expr(ast.Call(func=ast.Name(fn, ast.Load()), args=args, keywords=keywords or []))


class _Splitter:
    def __init__(self, source: str):
        self.source = source
        self.tree = ast.parse(source)
        self.hidden = _hidden_lines(source)
        self.sites: list[Site] = []
        self.problems: list[str] = []

    def _visit_body(self, body: list, mode: str) -> list:
        new = []
        for stmt in body:
            new.extend(self._visit_stmt(stmt, mode))
        return new or [ast.Pass()]

    def _visit_stmt(self, stmt, mode: str) -> list:
        kind = None
        if isinstance(stmt, ast.Expr):
            kind = _check_kind(stmt.value)
        elif isinstance(stmt, ast.Assert):
            kind = "assert"
        if kind is not None:
            site = len(self.sites)
            self.sites.append(Site(site, kind, stmt.lineno, stmt.lineno in self.hidden))
            if kind == "assert":
                if mode == "sandbox":
                    return [_record_call("__grader_record__", [ast.Constant(site), stmt.test])]
                args = [ast.Constant(site), ast.Constant("true"), ast.Constant("assert"), stmt.test,
                        stmt.msg if stmt.msg is not None else ast.Constant("assertion failed")]
                return [_record_call("__grader_reference__", args)]
            call = stmt.value
            if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
                self.problems.append(f"line {stmt.lineno}: a check called with *args or **kwargs")
            if mode == "sandbox":
                got = _got_arg(call, kind)
                if got is None:
                    self.problems.append(f"line {stmt.lineno}: a check without the value under test")
                    got = ast.Constant(None)
                return [_record_call("__grader_record__", [ast.Constant(site), got])]
            return [_record_call("__grader_reference__", [ast.Constant(site), ast.Constant(kind), *call.args],
                                 call.keywords)]
        # a check anywhere else than as a statement of its own cannot be split
        for node in ast.walk(stmt):
            if _check_kind(node) and not (isinstance(stmt, ast.Expr) and node is stmt.value):
                if not any(isinstance(stmt, t) for t in (ast.For, ast.While, ast.If, ast.With, ast.Try)):
                    self.problems.append(f"line {getattr(node, 'lineno', '?')}: a check used inside an expression "
                                         "(write each check as a statement of its own)")
                    break
        for attr in ("body", "orelse", "finalbody"):
            if isinstance(getattr(stmt, attr, None), list) and getattr(stmt, attr):
                setattr(stmt, attr, self._visit_body(getattr(stmt, attr), mode))
        if isinstance(stmt, ast.Try):
            for handler in stmt.handlers:
                handler.body = self._visit_body(handler.body, mode)
        return [stmt]

    def transform(self, mode: str) -> ast.Module:
        self.sites = []
        tree = ast.parse(self.source)
        tree.body = self._visit_body(tree.body, mode) if tree.body else []
        return tree


def _all_statements(body: list):
    for stmt in body:
        yield stmt
        for attr in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, attr, None)
            if isinstance(inner, list) and not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                yield from _all_statements(inner)
        if isinstance(stmt, ast.Try):
            for handler in stmt.handlers:
                yield from _all_statements(handler.body)


_COMPOUND = (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try)


def _stmt_loads(stmt) -> set:
    """Names a statement reads: a compound statement's own head only (its body is visited apart)."""
    if isinstance(stmt, _COMPOUND):
        return _head_loads(stmt)
    if isinstance(stmt, ast.AugAssign):
        return _loads(stmt.value) | {n.id for n in ast.walk(stmt.target) if isinstance(n, ast.Name)}
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        # a target such as a[i] = ... or obj.attr = ... reads a and i (and obj): count them
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        loads = set().union(*(_loads(t) for t in targets))
        return loads | (_loads(stmt.value) if stmt.value is not None else set())
    return _loads(stmt)


def _needed(tree: ast.Module) -> set:
    """Names the statements that must stay (all but removable bindings) read, closed over the bindings they read."""
    stmts = list(_all_statements(tree.body))
    needed = set()
    for stmt in stmts:
        if _bound_names(stmt) is None:
            needed |= _stmt_loads(stmt)
    grew = True
    while grew:
        grew = False
        for stmt in stmts:
            bound = _bound_names(stmt)
            if bound and bound & needed:
                extra = _stmt_loads(stmt) - needed
                if extra:
                    needed |= extra
                    grew = True
    return needed


def _strip(tree: ast.Module) -> tuple[set, set]:
    """Remove, to a fixed point, the bindings of names that nothing left reads; return (removed, needed) names."""
    removed: set = set()
    while True:
        needed = _needed(tree)
        changed = False

        def prune(body):
            nonlocal changed
            out = []
            for stmt in body:
                bound = _bound_names(stmt)
                if bound is not None and not (bound & needed):
                    removed.update(bound)
                    changed = True
                    continue
                if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    for attr in ("body", "orelse", "finalbody"):
                        inner = getattr(stmt, attr, None)
                        if isinstance(inner, list) and inner:
                            setattr(stmt, attr, prune(inner) or [ast.Pass()])
                    if isinstance(stmt, ast.Try):
                        for handler in stmt.handlers:
                            handler.body = prune(handler.body) or [ast.Pass()]
                out.append(stmt)
            return out

        tree.body = prune(tree.body) or [ast.Pass()]
        if not changed:
            return removed - needed, needed


def _head_loads(stmt) -> set:
    """Names loaded by the parts of a compound statement outside its bodies (a loop's iterable, a test...)."""
    loads = set()
    for attr in ("iter", "test", "target"):
        node = getattr(stmt, attr, None)
        if node is not None and attr != "target":
            loads |= _loads(node)
    if isinstance(stmt, ast.With):
        for item in stmt.items:
            loads |= _loads(item.context_expr)
    if isinstance(stmt, ast.Try):
        for handler in stmt.handlers:
            if handler.type is not None:
                loads |= _loads(handler.type)
    return loads


def _expected_names(reference_tree: ast.Module) -> set:
    """Names loaded by the expected values and tolerances that the sandboxed copy drops (not the names or messages)."""
    names = set()
    for node in ast.walk(reference_tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__grader_reference__":
            if node.args[1].value == "true":
                continue
            for arg in node.args[4:]:          # (site, kind, name, GOT, expected...)
                names |= _loads(arg)
            for kw in node.keywords:
                if kw.arg not in ("got", "condition", "name", "message"):
                    names |= _loads(kw.value)
    return names


def _loop_targets(tree: ast.Module) -> set:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.comprehension)):
            names |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
    return names


def split_test_cell(source: str) -> SplitCell:
    """The sandboxed and the reference copies of a test cell (see the module docstring)."""
    if not isinstance(source, str):
        raise TypeError(f"source must be the text of a test cell, got {type(source).__name__}")
    try:
        splitter = _Splitter(source)
    except SyntaxError as err:
        raise ValueError(f"the test cell does not parse: {err}") from None
    reference = splitter.transform("reference")
    sites = list(splitter.sites)
    sandboxed = splitter.transform("sandbox")
    removed, needed = _strip(sandboxed)
    expected = _expected_names(reference)
    # an expected-only name that the sandboxed copy still computes (bound together with an input, or a loop variable)
    still_bound = set()
    for stmt in _all_statements(sandboxed.body):
        still_bound |= _bound_names(stmt) or set()
        if isinstance(stmt, (ast.For, ast.AsyncFor)):
            still_bound |= {n.id for n in ast.walk(stmt.target) if isinstance(n, ast.Name)}
    leaks = sorted(n for n in expected & still_bound if n not in needed)
    problems = list(splitter.problems)
    if not sites:
        problems.append("no check (check_close, check_shape, check_true, check_type or assert) in the cell")
    for name in leaks:
        problems.append(f"{name!r} holds an expected value but the sandboxed copy still computes it "
                        "(compute it in a statement of its own, not together with an input or as a loop variable)")
    return SplitCell(sandboxed=ast.unparse(ast.fix_missing_locations(sandboxed)),
                     reference=ast.unparse(ast.fix_missing_locations(reference)),
                     sites=sites, leaks=leaks, problems=problems)


def _is_record_of(stmt, sites: set) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Name)
            and stmt.value.func.id == "__grader_record__" and isinstance(stmt.value.args[0], ast.Constant)
            and stmt.value.args[0].value in sites)


def convention_problems(source: str) -> list[str]:
    """What keeps a test cell from following the convention of the README ([] when it follows it)."""
    try:
        split = split_test_cell(source)
    except ValueError as err:
        return [str(err)]
    problems = list(split.problems)
    # a check_true or assert whose condition reads an expected-only value compares it inside the sandbox
    tree = ast.parse(source)
    cond_names, expected_names, assigned = set(), set(), set()
    for node in ast.walk(tree):
        kind = _check_kind(node) if isinstance(node, ast.Call) else None
        if kind in ("close", "shape", "type"):
            for i, arg in enumerate(node.args):
                if i >= 2:
                    expected_names |= _loads(arg)
            for kw in node.keywords:
                if kw.arg not in ("got", "name"):
                    expected_names |= _loads(kw.value)
        elif kind == "true":
            got = _got_arg(node, kind)
            cond_names |= _loads(got) if got is not None else set()
        elif isinstance(node, ast.Assert):
            cond_names |= _loads(node.test)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            assigned |= _bound_names(node) or set()
    truth_sites = {s.site for s in split.sites if s.kind in ("true", "assert")}
    core = ast.parse(split.sandboxed)
    for stmt in list(_all_statements(core.body)):
        for attr in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, attr, None)
            if isinstance(inner, list):
                kept = [x for x in inner if not _is_record_of(x, truth_sites)]
                setattr(stmt, attr, kept or [ast.Pass()])
    core.body = [x for x in core.body if not _is_record_of(x, truth_sites)] or [ast.Pass()]
    expected_only = (expected_names & assigned) - _needed(core)
    for name in sorted(cond_names & expected_only):
        problems.append(f"a check_true or assert reads the expected value {name!r}: it would be compared inside the "
                        "sandbox (use check_close on the student's value instead)")
    hidden_value_checks = [s for s in split.sites if s.hidden and s.kind in ("close", "shape")]
    if not hidden_value_checks:
        problems.append("no check_close or check_shape in the hidden tests: a check_true or assert alone is "
                        "decided inside the sandbox, where a patched kernel can forge it")
    return problems


# ----------------------------------------------------------------------------- comparing outside the sandbox


def decode(record) -> object:
    """A value sent by ``runner.encode`` as a plain Python/numpy object (never unpickled, never executed)."""
    if not isinstance(record, dict):
        return _Opaque(["(not a value)"])
    t = record.get("t")
    if t == "none":
        return None
    if t == "bool":
        return bool(record.get("v"))
    if t == "str":
        return str(record.get("v", ""))[:1000]
    if t == "array":
        shape = record.get("shape")
        values = record.get("v")
        kind = record.get("dtype")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape) and isinstance(values, list)):
            return _Opaque(["(malformed array)"])
        dtype = {"f": float, "b": bool, "i": np.int64, "u": np.int64}.get(kind, float)
        try:
            arr = np.asarray(values, dtype=dtype)
            if arr.ndim != 1 or arr.size != int(np.prod(shape, dtype=np.int64)):
                return _Opaque(["(malformed array)"])
            return arr.reshape(shape)
        except (TypeError, ValueError, OverflowError):
            return _Opaque(["(malformed array)"])
    types = record.get("types")
    return _Opaque([str(x) for x in types][:20] if isinstance(types, list) else [])


class _Opaque:
    """Stands for an object that is not plain data (a module, a function...): it fails every value check."""

    def __init__(self, types):
        self.types = types

    def __repr__(self):
        return f"<{self.types[0] if self.types else 'object'}>"


def _types_of(record) -> list:
    types = record.get("types") if isinstance(record, dict) else None
    return [str(t) for t in types] if isinstance(types, list) else []


def _judge_one(ref: dict, got_record) -> str | None:
    """None when the student's value passes the check ``ref`` recorded in the trusted run; else the message."""
    from vae_course import exercises

    name = ref.get("name", "check")
    got = decode(got_record)
    try:
        kind = ref["kind"]
        if kind == "close":
            exercises.check_close(name, got, decode(ref["expected"]), atol=ref["atol"], rtol=ref["rtol"])
        elif kind == "shape":
            exercises.check_shape(name, got, tuple(ref["shape"]))
        elif kind == "true":
            if isinstance(got, _Opaque):
                raise AssertionError(f"{name}: {ref.get('message', '')} (the condition is not a truth value)")
            exercises.check_true(name, got, ref.get("message", ""))
        elif kind == "type":
            wanted = ref["types"]
            have = _types_of(got_record)
            if "builtins.bool" in have and "builtins.bool" not in wanted and "builtins.int" in wanted:
                have = []
            if not set(wanted) & set(have):
                shown = " or ".join(w.replace("builtins.", "") for w in wanted)
                got_type = have[0].replace("builtins.", "") if have else "something else"
                raise AssertionError(f"{name}: expected {shown}, got {got_type}")
        else:
            raise ValueError(f"unknown check kind {kind!r}")
    except AssertionError as err:
        return str(err)
    except (TypeError, ValueError) as err:
        return f"{name}: the value could not be checked ({err})"
    return None


@dataclass
class CellVerdict:
    passed: bool
    messages: list        # [(hidden: bool, text)] for the feedback
    hidden_total: int = 0
    hidden_failed: int = 0


def judge_cell(reference: dict, student: dict | None, sites: list) -> CellVerdict:
    """Compare the student's run of one test cell with the trusted run of the same cell.

    ``reference`` and ``student`` are the cell lines of the runs (``runner.Runner.run_cell``); ``sites``
    the ``Site`` list of ``split_test_cell`` (which checks are hidden). The cell passes when it ran to
    the end without an error and every check of the trusted run, occurrence by occurrence, passes on
    the value the student's run sent for it.
    """
    hidden = {s.site: s.hidden for s in sites}
    messages = []
    if student is None:
        return CellVerdict(False, [(False, "this test did not run: the notebook stopped before it (see above)")])
    by_site: dict = {}
    records = student.get("records") if isinstance(student.get("records"), list) else []
    for rec in records[:100_000]:
        if isinstance(rec, dict) and isinstance(rec.get("site"), int):
            by_site.setdefault(rec["site"], []).append(rec.get("value"))
    seen: dict = {}
    passed = True
    hidden_total = hidden_failed = 0
    for ref in reference.get("records", []):
        site = ref["site"]
        k = seen.get(site, 0)
        seen[site] = k + 1
        is_hidden = hidden.get(site, False)
        hidden_total += is_hidden
        values = by_site.get(site, [])
        if k >= len(values):
            message = f"{ref.get('name', 'check')}: no value reached this check"
        else:
            message = _judge_one(ref, values[k])
        if message is not None:
            passed = False
            hidden_failed += is_hidden
            messages.append((is_hidden, message))
    error = student.get("error")
    if student.get("status") != "ok" or error:
        passed = False
        err = error if isinstance(error, dict) else {}
        visible_sites = {s.site for s in sites if not s.hidden}
        in_hidden = any(hidden.get(site) for site in by_site) or (bool(visible_sites) and visible_sites <= set(by_site))
        text = f"{str(err.get('ename', 'Error'))[:100]}: {str(err.get('evalue', ''))[:500]}"
        messages.append((in_hidden, f"the test cell stopped with {text}"))
    return CellVerdict(passed, messages, hidden_total, hidden_failed)

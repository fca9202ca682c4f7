"""Standalone source for an activation in one framework, from the ONE definition
of each primitive (`actsearch.expr.forms`) and the framework's namespace.

The exporter reads both modules as text (no framework is imported) and copies
what the expression needs: the constants from `protect`, the namespace
functions as static methods of a class `xp`, and the `op_` forms with their
`xp` parameter dropped (they then use the module-level `xp`). The copied forms
keep their body text, so the exported module visibly runs the search's
definitions::

    <namespace imports>
    EPS = 1e-06
    class xp:
        @staticmethod
        def log(x): ...
    def op_log(x):
        return xp.log(xp.abs(x) + EPS)
    ...  # the writer adds: def activation(x): return <code>
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

from actsearch.expr import Activation
from actsearch.expr import protect as _protect
from actsearch.expr.ast import Call, Const, Node, Var, walk
from actsearch.expr.lower import parameter_slots
from actsearch.expr.namespaces import source_path
from actsearch.expr.primitives import REGISTRY
from actsearch.expr.printer import format_number, to_infix

OPERATORS = frozenset({"add", "sub", "mul", "neg"})  # printed as Python operators (same numbers as their forms)
_FORMS = Path(__file__).resolve().parent.parent / "expr" / "forms.py"


@dataclass(frozen=True)
class Source:
    """The parts of an exported module: import lines, helper definitions, expression code."""

    imports: str
    helpers: str
    code: str  # the expression in `x`; constant expressions broadcast to x's shape
    parametric_code: str | None  # with trainable constants named c0, c1, ... (None: none to train)
    parameters: tuple[float, ...]  # their initial values


def _number(value: float) -> str:
    text = format_number(value)
    return text if any(c in text for c in ".e") else text + ".0"


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


@functools.cache
def _forms() -> dict[str, ast.FunctionDef]:
    """The `op_` functions of `forms`, with `xp` dropped from their parameters and calls."""
    tree = ast.parse(_FORMS.read_text())
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("op_")}

    class DropXp(ast.NodeTransformer):
        def visit_Call(self, node: ast.Call) -> ast.AST:
            self.generic_visit(node)
            if isinstance(node.func, ast.Name) and node.func.id in functions and node.args:
                node.args = node.args[1:]
            return node

    out = {}
    for name, fn in functions.items():
        if not fn.args.args or fn.args.args[0].arg != "xp":
            raise ValueError(f"forms.{name} must take the namespace `xp` first")
        fn.args.args = fn.args.args[1:]
        out[name] = DropXp().visit(fn)
    return out


@functools.cache
def _namespace(name: str) -> tuple[str, dict[str, ast.FunctionDef]]:
    """A namespace module's import lines and functions (intra-module calls made `xp.f`)."""
    tree = ast.parse(source_path(name).read_text())
    imports = [
        ast.unparse(n)
        for n in tree.body
        if isinstance(n, ast.Import | ast.ImportFrom)
        and not (isinstance(n, ast.ImportFrom) and n.module == "__future__")
    ]
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}

    class Qualify(ast.NodeTransformer):
        def visit_Call(self, node: ast.Call) -> ast.AST:
            self.generic_visit(node)
            if isinstance(node.func, ast.Name) and node.func.id in functions:
                node.func = ast.Attribute(value=ast.Name(id="xp", ctx=ast.Load()), attr=node.func.id, ctx=ast.Load())
            return node

    for fn in functions.values():
        Qualify().visit(fn)
        fn.decorator_list = [ast.Name(id="staticmethod", ctx=ast.Load())]
    return "\n".join(imports) + "\n", functions


def _xp_uses(node: ast.AST) -> set[str]:
    return {
        n.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "xp"
    }


def helpers(form_names: set[str], namespace: str, extra_ops: frozenset[str] = frozenset()) -> str:
    """Constants, the `xp` class and the forms `form_names` need (including what they call),
    plus the namespace operations `extra_ops` (e.g. asarray for the writer's own code)."""
    forms = _forms()
    needed: dict[str, ast.FunctionDef] = {}
    pending = sorted(form_names)
    while pending:
        name = pending.pop()
        if name not in needed:
            needed[name] = forms[name]
            pending.extend(sorted((_names(forms[name]) & set(forms)) - set(needed)))
    imports, ops = _namespace(namespace)
    used_ops: dict[str, ast.FunctionDef] = {}
    pending = sorted(set().union(extra_ops, *(_xp_uses(fn) for fn in needed.values())))
    while pending:
        op = pending.pop()
        if op not in used_ops:
            if op not in ops:
                raise KeyError(f"namespace {namespace!r} has no operation {op!r}")
            used_ops[op] = ops[op]
            pending.extend(sorted(_xp_uses(ops[op]) - set(used_ops)))
    constants = set().union(*(_names(fn) for fn in needed.values())) & set(_protect.CONSTANTS)
    lines = [f"{name} = {_protect.CONSTANTS[name]!r}" for name in sorted(constants)]
    parts = ["\n".join(lines)] if lines else []
    body = "\n\n".join(_indent(ast.unparse(used_ops[op])) for op in sorted(used_ops))
    parts.append(f'class xp:\n    """The {namespace} operations the forms below are written in."""\n\n{body}')
    parts += [ast.unparse(needed[name]) for name in sorted(needed)]
    return "\n\n\n".join(parts) + "\n"


def _indent(text: str) -> str:
    return "\n".join("    " + line if line else line for line in text.splitlines())


def _form_names(node: Node) -> set[str]:
    return {REGISTRY[n.name].form_name for n in walk(node) if isinstance(n, Call) and n.name not in OPERATORS}


_ZEROS = "__zeros_like__"  # a marker callee: `xp.zeros_like`


def _literal_under_unary(tree: Node) -> bool:
    return any(
        isinstance(n, Call) and len(n.args) == 1 and n.name not in OPERATORS and isinstance(n.args[0], Const)
        for n in walk(tree)
    )


def _wrap_literals(node: Node) -> Node:
    """Literal arguments of unary forms become arrays of x's dtype, shape and device (PyTorch's
    functions take no Python numbers; elsewhere this fixes the dtype)."""
    if not isinstance(node, Call):
        return node
    args = tuple(_wrap_literals(a) for a in node.args)
    if len(args) == 1 and node.name not in OPERATORS and isinstance(args[0], Const):
        args = (Call("add", (Call(_ZEROS, (Var(),)), args[0])),)  # xp.zeros_like(x) + c
    return Call(node.name, args)


def _call_name(name: str) -> str:
    return "xp.zeros_like" if name == _ZEROS else REGISTRY[name].form_name


def expression_code(act: Activation, parametric: bool = False) -> str:
    """The expression in `x` calling the `op_` forms. With `parametric`, trainable constants
    (`Activation.parameters`) are written c0, c1, ... in tree order."""
    tree = act.tree
    number = _number
    if _literal_under_unary(tree):  # e.g. exp(20), left unfolded (beyond MAX_CONST): an array of x's kind
        tree = _wrap_literals(tree)
    if parametric:
        free = iter(parameter_slots(tree))
        names = iter(f"c{i}" for i in range(len(act.parameters)))

        def number(value: float) -> str:  # constants in print (= tree) order
            return next(names) if next(free) else _number(value)

    code = to_infix(tree, call_name=_call_name, number=number, operators=OPERATORS)
    return code if act.depends_on_x else f"({code}) + xp.zeros_like(x)"


def source(act: Activation, namespace: str) -> Source:
    """Everything a writer needs to export `act` with the namespace `namespace`."""
    imports, _ = _namespace(namespace)
    return Source(
        imports=imports,
        helpers=helpers(_form_names(act.tree), namespace, frozenset({"asarray", "zeros_like"})),
        code=expression_code(act),
        parametric_code=expression_code(act, parametric=True) if act.parameters else None,
        parameters=tuple(float(c) for c in act.parameters),
    )

"""Our own tokenizer and recursive-descent parser for the infix grammar.

Grammar (Python-like precedence; ``**`` is right-associative and binds tighter
than unary minus, so ``-x**2 == -(x**2)`` and ``2**-x == 2**(-x)``)::

    expr   := term (("+" | "-") term)*
    term   := factor (("*" | "/") factor)*
    factor := ("+" | "-") factor | power
    power  := atom ("**" factor)?
    atom   := NUMBER | "x" | NAME "(" expr ("," expr)* ")" | "(" expr ")"

Text is never evaluated. Length, nesting, node count and tree height are
bounded and every problem raises `ParseError` with the position (0-based
character offset) of the offending character.
"""

from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass

from .ast import Call, Const, Node, Var, depth, node_count
from .limits import MAX_CONST, MAX_DEPTH, MAX_NESTING, MAX_NODES, MAX_TEXT
from .primitives import INFIX, REGISTRY


class ParseError(ValueError):
    """A malformed or disallowed expression; `.position` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int = 0):
        super().__init__(f"{message} at position {position}")
        self.position = position
        self.problem = message


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "num", "name", "op", "end"
    text: str
    pos: int


_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("**", "+", "-", "*", "/", "(", ")", ",")
_WHITESPACE = " \t\r\n"
_HINTS = {
    "^": "'^' is not an operator (use ** for powers)",
    "[": "subscripts are not allowed",
    "]": "subscripts are not allowed",
    "'": "string literals are not allowed",
    '"': "string literals are not allowed",
    "=": "assignments and comparisons are not allowed",
    ";": "only one expression is allowed",
}


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise ParseError(f"expression must be a string, not {type(text).__name__}", 0)
    if len(text) > MAX_TEXT:
        raise ParseError(f"expression too long ({len(text)} characters, at most {MAX_TEXT})", MAX_TEXT)
    for pos, char in enumerate(text):
        if char == "\0":
            raise ParseError("NUL byte", pos)
        if ord(char) > 127:
            raise ParseError(f"non-ASCII character {char!r}", pos)
    if not text.strip():
        raise ParseError("empty expression", 0)
    return text


def tokenize(text: str) -> list[Token]:
    """Tokens of `text`, ending with an "end" token."""
    text = _check_text(text)
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char in _WHITESPACE:
            pos += 1
            continue
        if char.isdigit() or (char == "." and text[pos + 1 : pos + 2].isdigit()):
            match = _NUMBER.match(text, pos)
            assert match is not None
            tokens.append(Token("num", match.group(), pos))
            pos = match.end()
            continue
        if char.isalpha() or char == "_":
            match = _NAME.match(text, pos)
            assert match is not None
            if keyword.iskeyword(match.group()) or keyword.issoftkeyword(match.group()):
                raise ParseError(f"Python keyword {match.group()!r} is not allowed", pos)
            tokens.append(Token("name", match.group(), pos))
            pos = match.end()
            continue
        if char == ".":
            raise ParseError("attribute access is not allowed", pos)
        op = next((o for o in _OPERATORS if text.startswith(o, pos)), None)
        if op is None:
            raise ParseError(_HINTS.get(char, f"unexpected character {char!r}"), pos)
        tokens.append(Token("op", op, pos))
        pos += len(op)
    tokens.append(Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.index = 0
        self.nesting = 0

    # -- helpers --------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def expect(self, op: str) -> Token:
        if not self.at(op):
            raise ParseError(f"expected {op!r} but found {_describe(self.tok)}", self.tok.pos)
        return self.advance()

    def enter(self, pos: int) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise ParseError(f"expression nested too deeply (more than {MAX_NESTING} levels)", pos)

    def leave(self) -> None:
        self.nesting -= 1

    # -- grammar --------------------------------------------------------------------
    def parse(self) -> Node:
        node = self.expr()
        if self.tok.kind != "end":
            raise ParseError(_unexpected(self.tok, self.tokens[self.index - 1]), self.tok.pos)
        return node

    def expr(self) -> Node:
        node = self.term()
        while self.at("+", "-"):
            op = self.advance().text
            node = Call(INFIX[op], (node, self.term()))
        return node

    def term(self) -> Node:
        node = self.factor()
        while self.at("*", "/"):
            op = self.advance().text
            node = Call(INFIX[op], (node, self.factor()))
        return node

    def factor(self) -> Node:
        if self.at("+", "-"):
            token = self.advance()
            self.enter(token.pos)
            operand = self.factor()
            self.leave()
            if token.text == "+":
                return operand
            if isinstance(operand, Const):
                return Const(-operand.value)
            return Call("neg", (operand,))
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self.at("**"):
            token = self.advance()
            self.enter(token.pos)
            exponent = self.factor()
            self.leave()
            return Call("pow", (base, exponent))
        return base

    def atom(self) -> Node:
        token = self.tok
        if token.kind == "num":
            self.advance()
            return Const(_number(token))
        if token.kind == "name":
            self.advance()
            return self.name(token)
        if self.at("("):
            self.advance()
            self.enter(token.pos)
            node = self.expr()
            self.expect(")")
            self.leave()
            return node
        raise ParseError(f"expected a number, 'x', a call or '(' but found {_describe(token)}", token.pos)

    def name(self, token: Token) -> Node:
        name = token.text
        if name == "x":
            if self.at("("):
                raise ParseError("'x' is the variable, not a function", self.tok.pos)
            return Var()
        if name not in REGISTRY:
            raise ParseError(f"unknown name {name!r}", token.pos)
        arity = REGISTRY[name].arity
        if not self.at("("):
            raise ParseError(f"{name!r} must be called with {arity} argument(s), like {name}(x)", token.pos)
        self.enter(self.tok.pos)
        self.advance()
        args = [self.expr()]
        while self.at(","):
            self.advance()
            args.append(self.expr())
        if len(args) != arity:
            raise ParseError(f"{name!r} takes {arity} argument(s), got {len(args)}", token.pos)
        self.expect(")")
        self.leave()
        return Call(name, tuple(args))


def _number(token: Token) -> float:
    value = float(token.text)
    if not math.isfinite(value):
        raise ParseError(f"number {token.text[:20]!r} is not finite", token.pos)
    if abs(value) > MAX_CONST:
        raise ParseError(f"number {token.text[:20]!r} too large (|value| > {MAX_CONST:g})", token.pos)
    return value


def _describe(token: Token) -> str:
    return "the end of the expression" if token.kind == "end" else repr(token.text)


def _unexpected(token: Token, previous: Token) -> str:
    if token.kind == "op" and token.text == ")":
        return "unbalanced ')'"
    hint = ""
    if token.kind in ("name", "num") or (token.kind == "op" and token.text == "("):
        hint = " (missing operator? use '*' for multiplication)" if previous.kind != "op" else ""
    return f"unexpected {_describe(token)}{hint}"


def check_tree_size(node: Node, position: int = 0) -> Node:
    """Reject trees beyond the node-count and height bounds."""
    count = node_count(node)
    if count > MAX_NODES:
        raise ParseError(f"expression too large ({count} nodes, at most {MAX_NODES})", position)
    height = depth(node)
    if height > MAX_DEPTH:
        raise ParseError(f"expression too deep (height {height}, at most {MAX_DEPTH})", position)
    return node


def parse_tree(text: str) -> Node:
    """Parse infix text into our AST (not canonicalised). Raises `ParseError`."""
    try:
        return check_tree_size(_Parser(text).parse())
    except RecursionError:  # defensive: the nesting bound should make this unreachable
        raise ParseError("expression nested too deeply", 0) from None

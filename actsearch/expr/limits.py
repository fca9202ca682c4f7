"""Bounds on expressions, shared by the parser and `Activation` (hostile-input guards)."""

MAX_TEXT = 4000  # characters of expression text
MAX_NESTING = 64  # parentheses / calls / unary operators nested inside each other
MAX_NODES = 400  # nodes of a tree
MAX_DEPTH = 100  # height of a tree (left-associative chains count too)
MAX_CONST = 1e6  # largest absolute value of a literal constant
SIG_DIGITS = 6  # significant digits kept for constants in canonical form

"""Safe evaluation of the small math expressions a config may contain (ρ0, initial data, stimulus).

Config text is never passed to Python's `eval`: it is parsed with `ast`, every node is checked
against a whitelist (numbers, the variables x, y, z, t, r, the constants pi and e, arithmetic,
comparisons, `and`/`or`/`not`, `A if C else B`, and the functions in `FUNCTIONS`), and the tree
is evaluated by a small interpreter on numpy arrays.

    f = Expression("exp(-((x - 0.5)**2 + y**2) / 0.01) if t < 1 else 0", ("x", "y", "t"))
    f(x=xs, y=ys, t=0.0)     # ndarray, broadcast over the inputs
"""

from __future__ import annotations

import ast
import math
import operator

import numpy as np

from fem_fhn.params import ParameterError

FUNCTIONS = {
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "tanh": np.tanh,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "abs": np.abs,
    "atan": np.arctan,
    "atan2": np.arctan2,
    "min": np.minimum,
    "max": np.maximum,
    "heaviside": lambda u: np.heaviside(u, 0.5),
    "where": np.where,
    "floor": np.floor,
}
CONSTANTS = {"pi": math.pi, "e": math.e}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: np.logical_not}
_COMPARE = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}


class Expression:
    """A whitelisted math expression of named variables, evaluated on numpy arrays.

    Args:
        text: the expression, e.g. "1 + 0.5*tanh((x - 2)/0.1)".
        variables: the names it may use besides pi, e and the functions.
        key: the config key it came from, for error messages.
    """

    def __init__(self, text: str, variables: tuple[str, ...] = ("x", "y", "z", "t"), key="expr"):
        self.text = str(text)
        self.variables = tuple(variables)
        self.key = key
        try:
            tree = ast.parse(self.text, mode="eval")
        except SyntaxError as err:
            raise ParameterError(
                f"{key} = {self.text!r} is not a valid expression: {err.msg}"
            ) from None
        self._check(tree.body)
        self.tree = tree.body
        self.names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}

    @property
    def uses_time(self) -> bool:
        return "t" in self.names

    def _fail(self, what: str):
        allowed = ", ".join([*self.variables, *CONSTANTS, *FUNCTIONS])
        raise ParameterError(
            f"{self.key} = {self.text!r} is not allowed: {what} (allowed names: {allowed}; "
            "numbers, + - * / ** %, comparisons, and/or/not, 'A if C else B')"
        )

    def _check(self, node: ast.AST) -> None:
        match node:
            case ast.Constant(value=v) if isinstance(v, int | float) and not isinstance(v, bool):
                pass
            case ast.Name(id=name):
                if name not in self.variables and name not in CONSTANTS:
                    self._fail(f"unknown name '{name}'")
            case ast.BinOp(left=a, op=op, right=b) if type(op) in _BINARY:
                self._check(a)
                self._check(b)
            case ast.UnaryOp(op=op, operand=a) if type(op) in _UNARY:
                self._check(a)
            case ast.BoolOp(values=values):
                for v in values:
                    self._check(v)
            case ast.Compare(left=a, ops=ops, comparators=rest) if all(
                type(o) in _COMPARE for o in ops
            ):
                for v in (a, *rest):
                    self._check(v)
            case ast.IfExp(test=c, body=a, orelse=b):
                for v in (c, a, b):
                    self._check(v)
            case ast.Call(func=ast.Name(id=name), args=args, keywords=[]) if name in FUNCTIONS:
                for v in args:
                    self._check(v)
            case _:
                self._fail(f"'{ast.unparse(node)}' is not a permitted construct")

    def __call__(self, **values) -> np.ndarray | float:
        env = {**CONSTANTS, **values}
        missing = (self.names & set(self.variables)) - set(values)
        if missing:
            raise ParameterError(f"{self.key}: no value given for {sorted(missing)}")
        return self._eval(self.tree, env)

    def _eval(self, node: ast.AST, env: dict):
        match node:
            case ast.Constant(value=v):
                return float(v)
            case ast.Name(id=name):
                return env[name]
            case ast.BinOp(left=a, op=op, right=b):
                return _BINARY[type(op)](self._eval(a, env), self._eval(b, env))
            case ast.UnaryOp(op=op, operand=a):
                return _UNARY[type(op)](self._eval(a, env))
            case ast.BoolOp(op=op, values=values):
                combine = np.logical_and if isinstance(op, ast.And) else np.logical_or
                result = self._eval(values[0], env)
                for v in values[1:]:
                    result = combine(result, self._eval(v, env))
                return result
            case ast.Compare(left=a, ops=ops, comparators=rest):
                left, result = self._eval(a, env), True
                for op, right_node in zip(ops, rest, strict=True):
                    right = self._eval(right_node, env)
                    result = np.logical_and(result, _COMPARE[type(op)](left, right))
                    left = right
                return result
            case ast.IfExp(test=c, body=a, orelse=b):
                return np.where(self._eval(c, env), self._eval(a, env), self._eval(b, env))
            case ast.Call(func=ast.Name(id=name), args=args):
                return FUNCTIONS[name](*(self._eval(v, env) for v in args))
        raise AssertionError("unchecked node")  # pragma: no cover


def field_source(value, key: str, variables=("x", "y", "z", "t")):
    """A config value for a field: a number stays a number, a string becomes an `Expression`."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ParameterError(f"{key} = {value!r} is not allowed: a number or an expression string")
    if isinstance(value, str):
        return Expression(value, variables, key)
    if not math.isfinite(value):
        raise ParameterError(f"{key} = {value!r} is not allowed: a finite number")
    return float(value)

"""The package's shape, checked from its source: small signatures (a study's settings travel as one
object), no module reaching into another's private names."""
import ast
from pathlib import Path


PACKAGE = Path(__file__).resolve().parent.parent / "sphericalae"
MAX_POSITIONAL, MAX_ALL = 6, 12


def _functions():
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text())
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                owner = parents.get(node)
                is_autograd_forward = (isinstance(owner, ast.ClassDef) and node.name in ("forward", "backward")
                                       and any("Function" in ast.unparse(b) for b in owner.bases))
                yield path.name, node, is_autograd_forward


def test_no_function_takes_more_than_6_positional_or_12_parameters():
    too_many = []
    for name, fn, exempt in _functions():
        args = fn.args
        positional = [a for a in args.posonlyargs + args.args if a.arg not in ("self", "cls")]
        total = len(positional) + len(args.kwonlyargs)
        if not exempt and (len(positional) > MAX_POSITIONAL or total > MAX_ALL):
            too_many.append(f"{name}:{fn.lineno} {fn.name} ({len(positional)} positional, {total} in all)")
    assert not too_many, "functions with too many parameters: " + "; ".join(too_many)


def test_no_module_imports_another_modules_private_name():
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("sphericalae")):
                found += [f"{path.name}:{node.lineno} {a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.endswith("__")]
    assert not found, "private names imported across modules: " + "; ".join(found)

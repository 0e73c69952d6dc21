"""The modules of ``allmydata`` (tests aside) import each other without a cycle.

Every import statement counts, including those inside functions: an import
moved into a function to dodge a cycle still ties the two modules together.
The graph is built from the source with ``ast``, so nothing is imported.
"""

import ast
from pathlib import Path

import allmydata

PACKAGE = "allmydata"
ROOT = Path(allmydata.__file__).resolve().parent


def _module_files(root):
    """Map each dotted module name under ``root`` (tests excluded) to its file."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts and parts[0] == "test":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join((PACKAGE,) + parts)] = path
    return modules


def _package_of(name, path):
    """The package a module's relative imports start from."""
    if path.name == "__init__.py":
        return name
    return name.rpartition(".")[0]


def _resolve(package, level, module):
    """The absolute name a ``from`` import at ``level`` dots refers to."""
    base = package.split(".")
    if level > 1:
        base = base[:len(base) - (level - 1)]
    if module:
        base = base + module.split(".")
    return ".".join(base)


def _imports_of(name, path, known):
    """The ``allmydata`` modules that ``name`` imports anywhere in its source.

    ``import a.b.c`` imports ``a.b.c`` (and its packages, which hold no code that
    matters here, so only the leaf is counted). ``from X import y`` imports ``X``,
    and ``X.y`` too when ``X.y`` is a module.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _package_of(name, path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = _resolve(package, node.level, node.module)
            else:
                target = node.module
            found.add(target)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in known:
                    found.add(sub)
    return {m for m in found if m in known and m != name}


def import_graph(root=ROOT):
    """Each module of the package mapped to the set of its modules it imports."""
    files = _module_files(root)
    return {name: _imports_of(name, path, files) for name, path in files.items()}


def find_cycle(graph):
    """One import cycle as a list of modules (first repeated at the end), or None."""
    white, grey, black = 0, 1, 2
    colour = {name: white for name in graph}
    for start in sorted(graph):
        if colour[start] != white:
            continue
        colour[start] = grey
        path = [start]
        stack = [iter(sorted(graph[start]))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                colour[path.pop()] = black
                stack.pop()
                continue
            if colour[nxt] == grey:
                return path[path.index(nxt):] + [nxt]
            if colour[nxt] == white:
                colour[nxt] = grey
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_finds_a_cycle_when_there_is_one(tmp_path):
    pkg = tmp_path / "allmydata"
    (pkg / "web").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "web" / "__init__.py").write_text("")
    (pkg / "low.py").write_text("X = 1\n")
    (pkg / "web" / "a.py").write_text("from . import b\n")
    (pkg / "web" / "b.py").write_text("def f():\n    from .a import thing\n")
    (pkg / "c.py").write_text("from .web.a import thing\nfrom .low import X\n")
    graph = import_graph(pkg)
    assert graph["allmydata.c"] == {"allmydata.web.a", "allmydata.low"}
    assert graph["allmydata.web.a"] == {"allmydata.web", "allmydata.web.b"}
    assert graph["allmydata.web.b"] == {"allmydata.web.a"}
    assert find_cycle(graph) == ["allmydata.web.a", "allmydata.web.b", "allmydata.web.a"]
    (pkg / "web" / "b.py").write_text("from ..low import X\n")
    assert find_cycle(import_graph(pkg)) is None


def test_no_import_cycle():
    graph = import_graph()
    assert "allmydata.web.directory" in graph and "allmydata.dirnode" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)

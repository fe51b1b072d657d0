"""The layers of docs/architecture.md hold: every pqaccel module imports (at module level or
inside a function) only modules of its own layer or below."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "pqaccel"

#: Bottom to top, as in docs/architecture.md; a module belongs to the longest prefix listed.  An
#: engine package spans layers: its configuration, model, address map and job are definitions,
#: its ``rtl`` is hardware, its ``layer`` (the network hooks) is studies.
ENGINE_PARTS = {
    "definitions": ["", "config", "model", "addrmap", "job"],
    "hardware": ["rtl"],
    "studies": ["layer"],
}
ENGINE_KINDS = sorted(p.name for p in (PKG / "engines").iterdir() if (p / "__init__.py").exists())


def _engine_parts(layer):
    return [
        f"pqaccel.engines.{kind}" + (f".{part}" if part else "")
        for kind in ENGINE_KINDS
        for part in ENGINE_PARTS.get(layer, [])
    ]


LAYERS = [
    (
        "definitions",
        [
            "pqaccel",
            "pqaccel.config",
            "pqaccel.presets",
            "pqaccel.capacity",
            "pqaccel.addrmap",
            "pqaccel.fixedpoint",
            "pqaccel.pipeline",
            "pqaccel.jobs",
            "pqaccel.payload",
            "pqaccel.fsutil",
            "pqaccel.area",
            "pqaccel.memmap",
            "pqaccel.board.frames",
            "pqaccel.engines",
            *_engine_parts("definitions"),
        ],
    ),
    ("hardware", ["pqaccel.rtl", *_engine_parts("hardware")]),
    (
        "flow",
        [
            "pqaccel.export",
            "pqaccel.sim",
            "pqaccel.synth",
            "pqaccel.formal",
            "pqaccel.host",
            "pqaccel.board",
        ],
    ),
    (
        "studies",
        [
            "pqaccel.compare",
            "pqaccel.report",
            "pqaccel.estimate",
            "pqaccel.net",
            "pqaccel.dse",
            *_engine_parts("studies"),
        ],
    ),
    ("api", ["pqaccel.api"]),
    ("cli", ["pqaccel.cli", "pqaccel.__main__"]),
]


def layer_of(module):
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > best[1]):
                best = (i, len(p))
    return None if best is None else best[0]


def imports(path, module):
    """Every ``pqaccel`` module ``path`` imports, relative imports resolved."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - (node.level - 1)])
                out |= (
                    {f"{base}.{node.module}"}
                    if node.module
                    else {f"{base}.{a.name}" for a in node.names}
                )
            else:
                out.add(node.module)
    return {m for m in out if m == "pqaccel" or m.startswith("pqaccel.")}


def modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts)
        yield path, name[: -len(".__init__")] if name.endswith(".__init__") else name


def test_every_module_has_a_layer():
    assert [name for _, name in modules() if layer_of(name) is None] == []


def test_imports_go_only_downward():
    violations = []
    for path, name in modules():
        for target in imports(path, name):
            if layer_of(target) > layer_of(name):
                violations.append(
                    f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} "
                    f"({LAYERS[layer_of(target)][0]})"
                )
    assert violations == []


def test_the_checker_sees_a_violation(tmp_path):
    bad = tmp_path / "pqaccel" / "config.py"
    bad.parent.mkdir()
    bad.write_text("def f():\n    from .rtl.top import PQEngine\n")
    (target,) = imports(bad, "pqaccel.config")
    assert target == "pqaccel.rtl.top" and layer_of(target) > layer_of("pqaccel.config")


def test_architecture_doc_names_the_layers():
    doc = (PKG.parent / "docs" / "architecture.md").read_text()
    for layer, _ in LAYERS:
        assert layer in doc, layer

"""The house rule: imports run only down the layers (docs/architecture.md). Every import counts, the ones inside
functions too; a module may import its own layer's room or a lower layer, never a higher one, never a sibling room."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (layer, room) by module-name prefix, longest prefix first; one room per layer except where noted.
LAYERS: list[tuple[str, int]] = [
    ("utils.commands", 8), ("utils.serve", 7), ("utils.tune", 7), ("utils.run", 6), ("models.tasks", 5),
    ("models", 4), ("data_loader", 3), ("data", 2), ("config", 1), ("utils", 0), ("main", 9),
]
PACKAGES = ("main", "config", "data_loader", "data", "models", "utils")


def room_of(module: str) -> tuple[int, str]:
    """(layer, room) of a project module: the room is the LAYERS prefix it falls under."""
    for prefix, layer in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return layer, prefix
    raise ValueError(f"{module} is in no layer; add it to LAYERS")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path) -> set[str]:
    """Every project module that ``path`` imports, anywhere in the file (relative imports resolved)."""
    name = module_name(path, root)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                found.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                found.add(node.module)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def back_imports(root: Path) -> list[str]:
    """``"a -> b"`` for each import of a higher layer, or of another room of the same layer."""
    files = [root / "main.py", root / "config.py", root / "data_loader.py",
             *[p for package in ("data", "models", "utils") for p in sorted((root / package).rglob("*.py"))]]
    wrong = []
    for path in files:
        if not path.is_file():
            continue
        source = module_name(path, root)
        layer, room = room_of(source)
        for target in sorted(imported_modules(path, root)):
            target_layer, target_room = room_of(target)
            if target_layer > layer or (target_layer == layer and target_room != room):
                wrong.append(f"{source} -> {target}")
    return wrong


def test_the_project_imports_only_down_the_layers() -> None:
    assert back_imports(ROOT) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_a_back_import_is_caught_even_inside_a_function(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "config.py": "from utils.errors import UserInputError\n",
        "utils/__init__.py": "", "utils/errors.py": "",
        "models/__init__.py": "def f():\n    from utils.run.trainer import build_trainer\n",
        "utils/run/__init__.py": "", "utils/run/trainer.py": "from models import f\n",
        "data/__init__.py": "", "data/rows.py": "from ..models import f\n",
    })
    assert back_imports(root) == ["data.rows -> models", "models -> utils.run.trainer"]


def test_sibling_rooms_of_one_layer_may_not_import_each_other(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"utils/__init__.py": "", "utils/tune/__init__.py": "from utils.serve import x\n",
                            "utils/serve/__init__.py": "from . import y\n"})
    assert back_imports(root) == ["utils.tune -> utils.serve"]

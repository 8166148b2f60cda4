"""The shared package's structure: step modules are peers that share shapes through ``cutout.state``,
and each function loads at cold start only what it uses."""

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "common" / "cutout"
# One module per step of the pipeline; failure records are a service the steps share, not a step.
STEP_MODULES = {"intake", "sending", "polling", "results"}


def imported_cutout_modules(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cutout."):
            found.add(node.module.removeprefix("cutout."))
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("cutout.") for a in node.names if a.name.startswith("cutout.")}
    return found


def test_step_modules_do_not_import_each_other():
    for module in STEP_MODULES:
        assert not imported_cutout_modules(module) & (STEP_MODULES - {module}), module


def test_the_import_check_sees_an_import():
    assert "state" in imported_cutout_modules("sending")


def imported_at_load(module: str) -> set[str]:
    """What importing ``module`` imports: its import statements outside function bodies and outside
    ``if TYPE_CHECKING:`` blocks (read by the type checker only)."""
    found = set()
    nodes = list(ast.parse((PACKAGE / f"{module}.py").read_text()).body)
    while nodes:
        node = nodes.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            nodes.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        nodes.extend(ast.iter_child_nodes(node))
    return found


def test_only_rendering_loads_pillow_at_import_and_nothing_loads_rendering():
    """Pillow is for the outputs that need it and for ConvertFunction (the imaging layer): no cold start
    loads it. Conversion imports it at its first conversion (most of Convert's invocations only set the
    wait for a slot still far off), and pillow-heif (libheif) at the first HEIC only."""
    modules = [path.stem for path in PACKAGE.glob("*.py")]
    assert "PIL" in imported_at_load("rendering")
    for module in set(modules) - {"rendering"}:
        imported = imported_at_load(module)
        assert not any(name.split(".")[0] in ("PIL", "pillow_heif") for name in imported), module
        assert not {"cutout.rendering", "cutout.conversion"} & imported, module


def modules_loaded_by(function: str, env: dict[str, str]) -> set[str]:
    """The modules a fresh interpreter has loaded after importing functions/<function>/app.py."""
    script = (
        "import importlib.util, json, sys\n"
        f"sys.path[:0] = [{str(PACKAGE.parent)!r}, {str(ROOT / 'functions' / function)!r}]\n"
        "import app\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env = {**env, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_submit_loads_neither_idempotency_nor_the_provider_client(env):
    env = {
        **env,
        "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:1:stateMachine:m",
        "RATE_LIMIT_TABLE": "t",
        "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/dlq",
    }
    loaded = modules_loaded_by("submit", env)
    assert "cutout.intake" in loaded
    assert "cutout.novita" not in loaded
    assert not any(name.split(".")[0] in ("PIL", "pillow_heif") for name in loaded)  # it reads headers only
    assert not any(name.startswith("aws_lambda_powertools.utilities.idempotency") for name in loaded)

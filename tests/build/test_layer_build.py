"""The layer as `sam build` builds it (layers/common/Makefile, run here without SAM into a temporary
directory), inspected the way the functions' runtime will meet it: CPython 3.13 on arm64, /opt read-only.
Every module ships unchecked-hash bytecode for CPython 3.13 and there is no other; no binary is for
another platform or interpreter (and the build refuses one); the packages are exactly those listed in
requirements.txt, at their pins, which are the versions the tests run with (constraints.txt)."""

import py_compile
import re
import subprocess
import sys
from importlib.metadata import Distribution, distributions
from pathlib import Path

import pytest

from tests.support.layer_build import elf_machine
from tests.support.template_env import ROOT

LAYER_SOURCE = ROOT / "layers" / "common"
# CPython 3.13's bytecode: its magic number (importlib.util.MAGIC_NUMBER under 3.13), and the flags word
# of a pyc compiled with --invalidation-mode unchecked-hash (PEP 552: bit 0 hash-based, bit 1 check_source).
MAGIC_313 = b"\xf3\r\r\n"
UNCHECKED_HASH = 0b01
EM_AARCH64 = 183


@pytest.fixture(scope="module")
def layer(tmp_path_factory) -> Path:
    """layers/common/Makefile's build-CommonLayer into a fresh ARTIFACTS_DIR, as SAM runs it, with the
    tests' interpreter (CPython 3.13, as the Makefile requires): the layer's python/ directory."""
    artifacts = tmp_path_factory.mktemp("CommonLayer")
    result = make("build-CommonLayer", f"ARTIFACTS_DIR={artifacts}", f"RUNTIME_PYTHON={sys.executable}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return artifacts / "python"


def make(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = ["make", "--no-print-directory", "-C", str(LAYER_SOURCE), *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)


def pinned(requirements: Path) -> dict[str, str]:
    """``name==version`` lines by normalized name (extras and comments dropped)."""
    pins = {}
    for line in requirements.read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, version = requirement.split("==")
            pins[normalized(name.split("[", 1)[0])] = version.strip()
    return pins


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed(layer: Path) -> list[Distribution]:
    return list(distributions(path=[str(layer)]))


def pyc_header(path: Path) -> tuple[bytes, int]:
    """A .pyc's magic number and flags word."""
    header = path.read_bytes()[:8]
    return header[:4], int.from_bytes(header[4:8], "little")


def files(layer: Path) -> list[Path]:
    return sorted(p for p in layer.rglob("*") if p.is_file())


def test_every_module_ships_unchecked_hash_bytecode_for_cpython_313(layer):
    sources = [p for p in files(layer) if p.suffix == ".py"]
    assert len(sources) > 500  # the SDK, Powertools and the cutout package
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        assert pyc.is_file(), f"no bytecode for {source.relative_to(layer)}"
        assert pyc_header(pyc) == (MAGIC_313, UNCHECKED_HASH), pyc.relative_to(layer)


def test_there_is_no_other_bytecode(layer):
    for pyc in (p for p in files(layer) if p.suffix in {".pyc", ".pyo"}):
        assert pyc.parent.name == "__pycache__", pyc.relative_to(layer)
        stem, _, interpreter = pyc.stem.rpartition(".")
        assert interpreter == "cpython-313", pyc.relative_to(layer)
        assert (pyc.parent.parent / f"{stem}.py").is_file(), f"stray {pyc.relative_to(layer)}"


def test_the_header_check_tells_a_timestamp_pyc(tmp_path):
    """What the build must not ship: py_compile's default, a timestamp pyc (flags 0)."""
    source = tmp_path / "module.py"
    source.write_text("X = 1\n")
    pyc = Path(py_compile.compile(str(source), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP))

    assert pyc_header(pyc)[1] == 0


def test_every_binary_is_for_arm64_and_cpython_313(layer):
    binaries = [p for p in files(layer) if elf_machine(p) is not None]
    assert binaries  # wrapt's C extension, at least
    for binary in binaries:
        assert elf_machine(binary) == EM_AARCH64, binary.relative_to(layer)
        named = re.search(r"\.cpython-(\d+)-(.+)-linux-gnu\.so$", binary.name)
        assert named is None or named.groups() == ("313", "aarch64"), binary.relative_to(layer)


def test_the_build_refuses_a_binary_for_another_platform(tmp_path):
    """The build's own check (check_build.py, which fails the build) on a layer holding an x86_64 build of
    wrapt: its wheel's tags and its extension module (an ELF header is all the check reads)."""
    (tmp_path / "wrapt-2.5.2.dist-info").mkdir()
    (tmp_path / "wrapt-2.5.2.dist-info" / "WHEEL").write_text("Tag: cp313-cp313-manylinux_2_17_x86_64\n")
    (tmp_path / "wrapt").mkdir()
    x86_64 = b"\x7fELF\x02\x01\x01" + bytes(11) + (62).to_bytes(2, "little") + bytes(44)
    (tmp_path / "wrapt" / "_wrappers.cpython-313-x86_64-linux-gnu.so").write_bytes(x86_64)
    platforms = ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]

    result = subprocess.run(
        [sys.executable, str(LAYER_SOURCE / "check_build.py"), str(tmp_path), "aarch64", *platforms],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert "wrapt-2.5.2.dist-info: wheel tags cp313-cp313-manylinux_2_17_x86_64" in result.stderr
    assert "_wrappers.cpython-313-x86_64-linux-gnu.so: ELF machine 62, not aarch64" in result.stderr


def test_the_build_says_what_to_install_when_it_has_no_cpython_313():
    result = make("build-CommonLayer", "ARTIFACTS_DIR=/nonexistent", "RUNTIME_PYTHON=false")

    assert result.returncode != 0
    assert "install CPython 3.13" in result.stderr


def test_the_packages_are_exactly_the_listed_ones_at_their_pins(layer):
    found = {normalized(d.metadata["Name"]): d.version for d in installed(layer)}

    assert found == pinned(LAYER_SOURCE / "requirements.txt")


def test_every_file_belongs_to_a_listed_package_or_to_cutout(layer):
    recorded = {Path(d.locate_file(entry)).resolve() for d in installed(layer) for entry in d.files or []}
    for path in files(layer):
        source = path.parent.parent / f"{path.stem.rpartition('.')[0]}.py" if path.suffix == ".pyc" else path
        owned = source.resolve() in recorded or source.relative_to(layer).parts[0] == "cutout"
        assert owned, f"{path.relative_to(layer)} is in no listed package"


def test_the_pins_are_the_versions_the_tests_run_with():
    tested = pinned(ROOT / "constraints.txt")
    for name, version in pinned(LAYER_SOURCE / "requirements.txt").items():
        assert tested.get(name) == version, name


# --- the imaging layer (layers/imaging: Pillow and pillow-heif, for ConvertFunction and WriteResult) -----
IMAGING_SOURCE = ROOT / "layers" / "imaging"


@pytest.fixture(scope="module")
def imaging_layer(tmp_path_factory) -> Path:
    """layers/imaging/Makefile's build-ImagingLayer, as SAM runs it (by its path, from another directory)."""
    artifacts = tmp_path_factory.mktemp("ImagingLayer")
    command = ["make", "--no-print-directory", "-f", str(IMAGING_SOURCE / "Makefile"), "build-ImagingLayer"]
    result = subprocess.run(
        [*command, f"ARTIFACTS_DIR={artifacts}", f"RUNTIME_PYTHON={sys.executable}"],
        cwd=artifacts,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return artifacts / "python"


def test_the_imaging_layer_holds_exactly_its_listed_packages_at_the_tested_pins(imaging_layer):
    found = {normalized(d.metadata["Name"]): d.version for d in installed(imaging_layer)}
    listed = pinned(IMAGING_SOURCE / "requirements.txt")

    assert found == listed == {"pillow": "13.0.0", "pillow-heif": "1.8.1"}
    tested = pinned(ROOT / "constraints.txt")
    assert {name: tested.get(name) for name in listed} == listed


def test_the_imaging_layers_binaries_are_for_arm64_and_cpython_313(imaging_layer):
    """Pillow's own codecs and the libraries both wheels bundle (libheif, libde265, libavif...)."""
    binaries = [p for p in files(imaging_layer) if elf_machine(p) is not None]
    assert {p.parent.name for p in binaries} >= {"PIL", "pillow.libs", "pillow_heif.libs"}
    for binary in binaries:
        assert elf_machine(binary) == EM_AARCH64, binary.relative_to(imaging_layer)
        named = re.search(r"\.cpython-(\d+)-(.+)-linux-gnu\.so$", binary.name)
        assert named is None or named.groups() == ("313", "aarch64"), binary.relative_to(imaging_layer)


def test_the_imaging_layers_modules_ship_unchecked_hash_bytecode(imaging_layer):
    sources = [p for p in files(imaging_layer) if p.suffix == ".py"]
    assert sources
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        assert pyc_header(pyc) == (MAGIC_313, UNCHECKED_HASH), pyc.relative_to(imaging_layer)


def test_the_common_layer_carries_no_imaging_package(layer):
    assert not {"pillow", "pillow-heif"} & {normalized(d.metadata["Name"]) for d in installed(layer)}

"""Refuses a built layer that holds anything the functions' runtime could not load: run by the Makefile on
the layer's python/ directory, with the architecture and the platform tags it gave pip.

Every wheel installed must carry a tag the runtime accepts (its WHEEL file: pure Python, or CPython 3.13,
or the stable ABI of an older CPython 3, on one of the given platforms), and every ELF file (extension
modules and the libraries wheels bundle) must be built for the architecture; an extension module named
for an interpreter must be named for CPython 3.13 on it. Prints each offender and exits 1, or prints
nothing.

Usage: python check_build.py <layer python/ dir> <arch> <platform tag>...   (standard library only)
"""

import re
import sys
from pathlib import Path

CPYTHON = "cp313"
# ELF e_machine of each architecture a platform tag can name.
ELF_MACHINES = {"aarch64": 183, "x86_64": 62}
EXTENSION_NAME = re.compile(r"\.cpython-(?P<version>\d+)-(?P<arch>.+)-linux-gnu\.so$")


def wheel_problems(layer: Path, platforms: set[str]) -> list[str]:
    """One line per installed distribution none of whose wheel tags the runtime accepts."""
    problems = []
    for wheel in sorted(layer.glob("*.dist-info/WHEEL")):
        lines = wheel.read_text().splitlines()
        tags = [line.split(":", 1)[1].strip() for line in lines if line.startswith("Tag:")]
        if not any(accepted(tag, platforms) for tag in tags):
            problems.append(f"{wheel.parent.name}: wheel tags {', '.join(tags) or '(none)'}")
    return problems


def accepted(tag: str, platforms: set[str]) -> bool:
    """Whether the runtime loads a wheel of ``tag`` (interpreter-abi-platform, each part a dotted set)."""
    interpreters, abis, wheel_platforms = (set(part.split(".")) for part in tag.split("-"))
    if not wheel_platforms & (platforms | {"any"}):
        return False
    if CPYTHON in abis:
        return CPYTHON in interpreters
    if "abi3" in abis:
        stable = (re.fullmatch(r"cp3(\d+)", i) for i in interpreters)
        return any(m is not None and int(m[1]) <= int(CPYTHON[3:]) for m in stable)
    return "none" in abis and bool(interpreters & {"py3", f"py{CPYTHON[2:]}", CPYTHON})


def elf_machine(path: Path) -> int | None:
    """The ELF e_machine of ``path``, None if it is not an ELF file."""
    with path.open("rb") as file:
        header = file.read(20)
    if header[:4] != b"\x7fELF":
        return None
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


def binary_problems(layer: Path, arch: str) -> list[str]:
    """One line per ELF file built for another architecture, or extension module for another interpreter."""
    problems = []
    for path in sorted(p for p in layer.rglob("*") if p.is_file() and not p.is_symlink()):
        machine = elf_machine(path)
        if machine is None:
            continue
        if machine != ELF_MACHINES[arch]:
            problems.append(f"{path.relative_to(layer)}: ELF machine {machine}, not {arch}")
        named = EXTENSION_NAME.search(path.name)
        if named and (f"cp{named['version']}", named["arch"]) != (CPYTHON, arch):
            problems.append(
                f"{path.relative_to(layer)}: named for CPython {named['version']} on {named['arch']}"
            )
    return problems


def main(layer: Path, arch: str, platforms: list[str]) -> int:
    problems = wheel_problems(layer, set(platforms)) + binary_problems(layer, arch)
    for problem in problems:
        print(f"not for the runtime (CPython 3.13, {arch}): {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3:]))

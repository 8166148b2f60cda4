"""The layer build's own checker, ``layers/common/check_build.py`` (a script beside the layer's Makefile,
not a package), loaded as a module: the build test and the cold-start benchmark read binaries with it."""

import importlib.util

from tests.support.template_env import ROOT

_SPEC = importlib.util.spec_from_file_location("check_build", ROOT / "layers" / "common" / "check_build.py")
check_build = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(check_build)

elf_machine = check_build.elf_machine

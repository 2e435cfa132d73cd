"""``service/domain`` stays pure: the standard library, python-stdnum (identifiers' check digits)
and holidays (France's public holidays) only: computations on values, no I/O."""

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "service" / "domain"
ALLOWED_THIRD_PARTY = {"stdnum", "holidays"}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("service.") and not node.module.startswith("service.domain"):
                roots.add(node.module)
            else:
                roots.add(node.module.split(".")[0])
    return roots


def test_domain_imports_only_the_standard_library_and_pure_libraries() -> None:
    offenders = {}
    for path in sorted(DOMAIN.glob("*.py")):
        bad = {root for root in imported_roots(path)
               if root not in sys.stdlib_module_names and root not in ALLOWED_THIRD_PARTY and root != "service"}
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}
    assert len(list(DOMAIN.glob("*.py"))) >= 6

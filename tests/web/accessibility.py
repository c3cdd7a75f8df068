"""axe-core in the browser suite: a page passes with 0 serious or critical violations.

axe-core comes from the npm registry (tests/web/a11y/package.json, pinned in its package-lock.json);
scripts/test.sh installs it. Without it the check skips and says so, unless CI is set, where it fails.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import pytest

AXE = Path(__file__).parent / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


@cache
def _axe_source() -> str | None:
    return AXE.read_text() if AXE.exists() else None


def assert_accessible(page, name: str = "") -> None:
    """Run axe-core on the page as it is now and fail on any serious or critical violation, naming each rule
    and the elements it found."""
    source = _axe_source()
    if source is None:
        message = f"axe-core is not installed at {AXE} (npm ci --prefix tests/web/a11y)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI is set, so the accessibility checks must run")
        pytest.skip(message + ": accessibility check skipped")
    # Evaluated through the DevTools protocol, so the page's Content-Security-Policy (no inline script) does not
    # stop it, and nothing is added to the page's own scripts.
    page.evaluate(source)
    violations = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.slice(0, 5).map(n => n.target.join(" ")),
            }));
        }"""
    )
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, f"axe-core on {name or page.url}: " + "; ".join(
        f"{v['impact']} {v['id']} ({v['help']}) at {', '.join(v['targets'])}" for v in blocking
    )

"""Every variable the settings read is documented in .env.example."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_env_example_lists_every_variable_the_code_reads():
    read = set()
    for package in ("config", "pathway", "api", "notifications", "web"):
        for source in (ROOT / package).rglob("*.py"):
            read |= set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', source.read_text()))
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read, "no env() calls found: the pattern is stale"
    assert read - documented == set()

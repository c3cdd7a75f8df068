"""The state-machine picture in docs/pathway.md and README.md is generated from the code and kept in step."""

import pytest
from django.core.management import CommandError, call_command

from pathway.management.commands import pathway_diagram
from pathway.models import Episode


def test_committed_diagram_matches_the_code():
    stale = [path.name for path, text in pathway_diagram.targets().items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    assert not stale, f"Run `manage.py pathway_diagram`: {', '.join(stale)} out of step with Episode's transitions"


def test_diagram_has_every_transition_of_the_model():
    source = pathway_diagram.mermaid()
    for transition in Episode._meta.get_field("stage").get_all_transitions(Episode):
        assert f"{transition.source} --> {transition.target}: {transition.name} (" in source


def test_check_fails_when_the_diagram_is_stale(monkeypatch):
    monkeypatch.setattr(pathway_diagram, "mermaid", lambda: "stateDiagram-v2\n    [*] --> somewhere_else\n")
    with pytest.raises(CommandError, match="out of step"):
        call_command("pathway_diagram", "--check")

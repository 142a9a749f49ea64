from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from conveyor.intake.models import LeadForm
from conveyor.pipelines.models import Pipeline

pytestmark = pytest.mark.django_db


def test_form_create_prints_the_key(pipeline: Pipeline) -> None:
    out = io.StringIO()
    call_command("form", "create", "--name", "Landing", "--pipeline", pipeline.name, stdout=out)
    key = out.getvalue().strip()
    form = LeadForm.objects.get(key=key)
    assert (form.name, form.pipeline, form.created_by) == ("Landing", pipeline, None)


def test_form_create_with_an_unknown_pipeline_fails(pipeline: Pipeline) -> None:
    with pytest.raises(CommandError, match="No pipeline named"):
        call_command("form", "create", "--name", "X", "--pipeline", "Nope", stdout=io.StringIO())
    assert not LeadForm.objects.exists()

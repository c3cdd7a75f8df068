"""Thin Celery tasks: an export job's id in, the export service, nothing about any patient in the arguments."""

from __future__ import annotations

from celery import shared_task

from . import export


@shared_task(name="fhir_r4.run_export", ignore_result=True)
def run_export(job_id: str) -> str:
    return export.run_export(job_id)

"""What every signed-in page's header shows."""

from django.utils.functional import SimpleLazyObject

from . import followthrough_selectors


def inbox_count(request) -> dict:
    """The number of patients' messages waiting in the inbox, for the nav link; counted only on the pages of
    web.access.clinical_page (they set request.clinics) and only when the header shows it."""
    clinics = getattr(request, "clinics", None)
    if not clinics:
        return {}
    return {"inbox_count": SimpleLazyObject(lambda: followthrough_selectors.inbox_unhandled_count(clinics=clinics))}

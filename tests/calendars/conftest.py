from tests.web.conftest import (  # noqa: F401 (the web's people and clinics, shared)
    clinic,
    coordinator,
    coordinator_client,
    episode,
    front_desk,
    other_clinic,
    outsider,
    physician,
    physician_client,
    signed_in,
)

"""/api/v1/webhooks/: clinic administrators register endpoints and replay failed deliveries."""

from __future__ import annotations

import uuid

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from api.authentication import actor_for
from api.views import ApiMixin
from pathway.models import Clinic
from pathway.stages import Role

from . import services
from .models import DeliveryStatus, WebhookDelivery, WebhookEndpoint


class IsClinicAdmin(BasePermission):
    message = "Only a clinic administrator manages webhooks."

    def has_permission(self, request, view) -> bool:
        if request.user is None or not request.user.is_authenticated:
            return False
        return bool(actor_for(request).clinic_ids_for(Role.ADMIN))


class EndpointIn(serializers.Serializer):
    clinic = serializers.SlugField(required=False)
    url = serializers.URLField(max_length=500)
    event_types = serializers.ListField(child=serializers.CharField(max_length=40))
    role = serializers.CharField(max_length=20)
    enabled = serializers.BooleanField(default=True)


class EndpointOut(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.URLField()
    event_types = serializers.ListField(child=serializers.CharField())
    role = serializers.CharField()
    enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class EndpointCreated(EndpointOut):
    secret = serializers.CharField(help_text="whsec_…: shown this once; keep it to verify signatures")


class EndpointPage(serializers.Serializer):
    results = EndpointOut(many=True)


class FailedDeliveryOut(serializers.Serializer):
    id = serializers.UUIDField()
    endpoint = serializers.UUIDField()
    event_type = serializers.CharField()
    event_id = serializers.UUIDField()
    attempts = serializers.IntegerField()
    last_error = serializers.CharField()
    finished_at = serializers.DateTimeField(allow_null=True)


class FailedDeliveryPage(serializers.Serializer):
    results = FailedDeliveryOut(many=True)


class ReplayOut(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()


def _out(endpoint: WebhookEndpoint) -> dict:
    return {"id": str(endpoint.external_id), "url": endpoint.url, "event_types": endpoint.event_types,
            "role": endpoint.role, "enabled": endpoint.enabled, "created_at": endpoint.created_at.isoformat()}


class _Admin(ApiMixin, APIView):
    permission_classes = [IsClinicAdmin]
    audit_name = "webhooks"

    def clinic_ids(self) -> list[int]:
        return self.actor.clinic_ids_for(Role.ADMIN)

    def endpoints(self):
        return WebhookEndpoint.objects.filter(clinic_id__in=self.clinic_ids())

    def by_id(self, queryset, value):
        try:
            found = queryset.filter(external_id=uuid.UUID(value)).first()
        except ValueError:
            found = None
        if found is None:
            raise Http404
        return found


class EndpointList(_Admin):
    @extend_schema(summary="Webhook endpoints (clinic administrators)", responses=EndpointPage,
                   operation_id="v1_webhooks_list")
    def get(self, request):
        return Response({"results": [_out(e) for e in self.endpoints()]})

    @extend_schema(summary="Register a webhook endpoint; the secret is shown once", request=EndpointIn,
                   responses={201: EndpointCreated})
    def post(self, request):
        given = EndpointIn(data=request.data)
        given.is_valid(raise_exception=True)
        data = dict(given.validated_data)
        clinics = Clinic.objects.filter(pk__in=self.clinic_ids())
        if "clinic" in data:
            clinics = clinics.filter(slug=data.pop("clinic"))
        if clinics.count() != 1:
            raise serializers.ValidationError({"clinic": ["Name one clinic you administer (its slug)."]})
        endpoint, secret = services.endpoint_create(clinic=clinics.get(), **data)
        return Response({**_out(endpoint), "secret": secret}, status=201)


class EndpointDetail(_Admin):
    @extend_schema(summary="A webhook endpoint", responses=EndpointOut)
    def get(self, request, id):
        return Response(_out(self.by_id(self.endpoints(), id)))

    @extend_schema(summary="Change or pause a webhook endpoint", request=EndpointIn, responses=EndpointOut)
    def patch(self, request, id):
        endpoint = self.by_id(self.endpoints(), id)
        given = EndpointIn(data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        data = dict(given.validated_data)
        data.pop("clinic", None)
        return Response(_out(services.endpoint_update(endpoint=endpoint, **data)))

    @extend_schema(summary="Remove a webhook endpoint", responses={204: None})
    def delete(self, request, id):
        self.by_id(self.endpoints(), id).delete()
        return Response(status=204)


class FailedDeliveryList(_Admin):
    @extend_schema(summary="Deliveries that failed (the last 200)", responses=FailedDeliveryPage)
    def get(self, request):
        rows = (WebhookDelivery.objects.filter(endpoint__clinic_id__in=self.clinic_ids(), status=DeliveryStatus.FAILED)
                .select_related("event", "endpoint").order_by("-id")[:200])
        return Response({"results": [
            {"id": str(d.external_id), "endpoint": str(d.endpoint.external_id), "event_type": d.event.type,
             "event_id": str(d.event.external_id), "attempts": d.attempts, "last_error": d.last_error,
             "finished_at": d.finished_at.isoformat() if d.finished_at else None} for d in rows]})


class DeliveryReplay(_Admin):
    @extend_schema(summary="Deliver a failed delivery again", request=None, responses={202: ReplayOut})
    def post(self, request, id):
        delivery = self.by_id(WebhookDelivery.objects.filter(endpoint__clinic_id__in=self.clinic_ids()), id)
        if not services.delivery_replay(delivery=delivery):
            return Response({"title": "Only a failed delivery can be replayed.", "status": 409}, status=409)
        return Response({"id": str(delivery.external_id), "status": DeliveryStatus.PENDING}, status=202)

"""Device request serializers copy their fields one level per request (binding/api/serializers.py): each
instance binds copies of its own, the class's fields stay as declared, and nested serializers are refused."""

import pytest
from rest_framework import serializers

from binding.api.serializers import BindingRequestSerializer, DeviceRequestSerializer

PLUG_IN = {
    "pev_id": "1HGCM82633A004352",
    "premise_id": "P100",
    "eumd_lfdi": "a" * 40,
    "plugged_in_at": "2026-11-26T18:00:00Z",
    "pev_proof": "x" * 86,
}


def test_each_request_binds_fields_of_its_own_and_the_class_keeps_its_unbound():
    first = BindingRequestSerializer(data=PLUG_IN)
    second = BindingRequestSerializer(data={**PLUG_IN, "pev_id": "not a vin"})

    assert first.is_valid(), first.errors
    assert not second.is_valid()
    assert set(second.errors) == {"pev_id"}
    for name, declared in BindingRequestSerializer._declared_fields.items():
        assert first.fields[name] is not second.fields[name] is not declared
        assert first.fields[name].parent is first
        assert second.fields[name].parent is second
        assert getattr(declared, "parent", None) is None


def test_a_nested_serializer_is_refused_when_its_class_is_declared():
    class Inner(serializers.Serializer):
        value = serializers.IntegerField()

    with pytest.raises(TypeError, match="nested serializers need deep copies"):

        class Outer(DeviceRequestSerializer):
            inner = Inner()

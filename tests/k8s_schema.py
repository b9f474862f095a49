"""Offline schema checks for the Kubernetes objects the stacks declare.

* Built-in kinds: ``kubernetes_validate`` with the strict OpenAPI schema of the cluster's
  Kubernetes minor (no unknown fields, types, enums), shipped with the package; no network.
* Karpenter custom resources (``karpenter.sh/v1`` NodePool, ``karpenter.k8s.aws/v1``
  EC2NodeClass): a JSON Schema written here from the CRDs of the pinned chart, plus the CEL
  rules of those CRDs that bite on a first apply, re-implemented in Python. Source:
  aws/karpenter-provider-aws tag v1.14.1, ``pkg/apis/crds/karpenter.sh_nodepools.yaml`` and
  ``pkg/apis/crds/karpenter.k8s.aws_ec2nodeclasses.yaml`` (the files the chart installs).
  Only the fields are copied, not every description; unknown fields are refused, as the API
  server's structural-schema pruning would silently drop them.
* Fragments of objects inside Helm values (affinity, tolerations) can be checked against the
  built-in definition they become (``validate_fragment``).

Other components reuse it: ``validate_manifest(manifest, "1.35")`` raises ``ManifestError``
naming the object and the path of the first bad field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
import kubernetes_validate
from kubernetes_validate.utils import schema_contents
from referencing import Registry, Resource

# -- shared pieces of the Karpenter schemas -----------------------------------------------
_LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(\/))?"
    r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"
)
_LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
_DURATION = r"^(([0-9]+(s|m|h))+|Never)$"
_QUANTITY = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_TAG_MAP = {**_STRING_MAP, "maxProperties": 20}


def closed_object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A JSON schema object with exactly ``properties`` (no others) and ``required``."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def _array(items: dict[str, Any], max_items: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": items}
    if max_items is not None:
        schema["maxItems"] = max_items
    return schema


_TAINT = closed_object(
    {
        "key": {"type": "string", "minLength": 1, "pattern": _LABEL_KEY},
        "value": {"type": "string", "pattern": _LABEL_KEY},
        "effect": {"enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"]},
        "timeAdded": {"type": "string", "format": "date-time"},
    },
    ("key", "effect"),
)

NODEPOOL_SPEC = closed_object(
    {
        "template": closed_object(
            {
                "metadata": closed_object(
                    {
                        "labels": {
                            "type": "object",
                            "maxProperties": 100,
                            "additionalProperties": {
                                "type": "string",
                                "maxLength": 63,
                                "pattern": _LABEL_VALUE,
                            },
                        },
                        "annotations": _STRING_MAP,
                    }
                ),
                "spec": closed_object(
                    {
                        "nodeClassRef": closed_object(
                            {
                                "group": {"type": "string", "minLength": 1, "pattern": "^[^/]*$"},
                                "kind": {"type": "string", "minLength": 1},
                                "name": {"type": "string", "minLength": 1},
                            },
                            ("group", "kind", "name"),
                        ),
                        "requirements": _array(
                            closed_object(
                                {
                                    "key": {
                                        "type": "string",
                                        "maxLength": 316,
                                        "pattern": _LABEL_KEY,
                                    },
                                    "operator": {
                                        "enum": [
                                            "In",
                                            "NotIn",
                                            "Exists",
                                            "DoesNotExist",
                                            "Gt",
                                            "Lt",
                                            "Gte",
                                            "Lte",
                                        ]
                                    },
                                    "values": _array(
                                        {"type": "string", "maxLength": 63, "pattern": _LABEL_VALUE}
                                    ),
                                    "minValues": {"type": "integer", "minimum": 1, "maximum": 50},
                                },
                                ("key", "operator"),
                            ),
                            max_items=100,
                        ),
                        "taints": _array(_TAINT),
                        "startupTaints": _array(_TAINT),
                        "expireAfter": {"type": "string", "pattern": _DURATION},
                        "terminationGracePeriod": {
                            "type": "string",
                            "pattern": r"^([0-9]+(s|m|h))+$",
                        },
                    },
                    ("nodeClassRef", "requirements"),
                ),
            },
            ("spec",),
        ),
        "disruption": closed_object(
            {
                "consolidateAfter": {"type": "string", "pattern": _DURATION},
                "consolidationPolicy": {
                    "enum": ["WhenEmpty", "WhenEmptyOrUnderutilized", "Balanced"]
                },
                "budgets": _array(
                    closed_object(
                        {
                            "nodes": {
                                "type": "string",
                                "pattern": r"^((100|[0-9]{1,2})%|[0-9]+)$",
                            },
                            "schedule": {"type": "string"},
                            "duration": {
                                "type": "string",
                                "pattern": r"^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$",
                            },
                            "reasons": _array(
                                {"enum": ["Underutilized", "Empty", "Drifted"]}, max_items=50
                            ),
                        },
                        ("nodes",),
                    ),
                    max_items=50,
                ),
            },
            ("consolidateAfter",),
        ),
        "limits": {
            "type": "object",
            "additionalProperties": {
                "anyOf": [{"type": "integer"}, {"type": "string", "pattern": _QUANTITY}]
            },
        },
        "weight": {"type": "integer", "minimum": 1, "maximum": 100},
        "replicas": {"type": "integer", "minimum": 0},
    },
    ("template",),
)

_SELECTOR_TERM_TAGS = {"tags": _TAG_MAP}
EC2NODECLASS_SPEC = closed_object(
    {
        "amiFamily": {
            "enum": [
                "AL2",
                "AL2023",
                "Bottlerocket",
                "Custom",
                "Windows2019",
                "Windows2022",
                "Windows2025",
            ]
        },
        "amiSelectorTerms": {
            **_array(
                closed_object(
                    {
                        "alias": {"type": "string", "maxLength": 30},
                        "id": {"type": "string", "pattern": "ami-[0-9a-z]+"},
                        "name": {"type": "string"},
                        "owner": {"type": "string"},
                        "ssmParameter": {"type": "string"},
                        **_SELECTOR_TERM_TAGS,
                    }
                ),
                max_items=30,
            ),
            "minItems": 1,
        },
        "subnetSelectorTerms": {
            **_array(
                closed_object(
                    {"id": {"type": "string", "pattern": "subnet-[0-9a-z]+"}, **_SELECTOR_TERM_TAGS}
                ),
                max_items=30,
            ),
            "minItems": 1,
        },
        "securityGroupSelectorTerms": {
            **_array(
                closed_object(
                    {
                        "id": {"type": "string", "pattern": "sg-[0-9a-z]+"},
                        "name": {"type": "string"},
                        **_SELECTOR_TERM_TAGS,
                    }
                ),
                max_items=30,
            ),
            "minItems": 1,
        },
        "role": {"type": "string"},
        "instanceProfile": {"type": "string"},
        "associatePublicIPAddress": {"type": "boolean"},
        "detailedMonitoring": {"type": "boolean"},
        "userData": {"type": "string"},
        "context": {"type": "string"},
        "instanceStorePolicy": {"enum": ["RAID0"]},
        "tags": _STRING_MAP,
        "kubelet": {"type": "object"},
        "blockDeviceMappings": _array(
            closed_object(
                {
                    "deviceName": {"type": "string"},
                    "rootVolume": {"type": "boolean"},
                    "ebs": closed_object(
                        {
                            "deleteOnTermination": {"type": "boolean"},
                            "encrypted": {"type": "boolean"},
                            "iops": {"type": "integer"},
                            "kmsKeyID": {"type": "string"},
                            "snapshotID": {"type": "string"},
                            "throughput": {"type": "integer"},
                            "volumeInitializationRate": {
                                "type": "integer",
                                "minimum": 100,
                                "maximum": 300,
                            },
                            "volumeSize": {
                                "type": "string",
                                "pattern": r"^[1-9][0-9]*(Gi|G|Ti|T)$",
                            },
                            "volumeType": {
                                "enum": ["standard", "io1", "io2", "gp2", "sc1", "st1", "gp3"]
                            },
                        }
                    ),
                }
            ),
            max_items=50,
        ),
        "metadataOptions": closed_object(
            {
                "httpEndpoint": {"enum": ["enabled", "disabled"]},
                "httpProtocolIPv6": {"enum": ["enabled", "disabled"]},
                "httpPutResponseHopLimit": {"type": "integer", "minimum": 1, "maximum": 64},
                "httpTokens": {"enum": ["required", "optional"]},
            }
        ),
    },
    ("amiSelectorTerms", "securityGroupSelectorTerms", "subnetSelectorTerms"),
)

# CEL rules of the CRDs (x-kubernetes-validations) that a first apply would hit.
_KARPENTER_LABEL_DOMAINS = ("karpenter.sh", "karpenter.k8s.aws")
_ALLOWED_KARPENTER_KEYS = frozenset(
    {
        "karpenter.sh/capacity-type",
        "karpenter.sh/nodepool",
        "karpenter.k8s.aws/instance-family",
        "karpenter.k8s.aws/instance-category",
        "karpenter.k8s.aws/instance-generation",
        "karpenter.k8s.aws/instance-size",
        "karpenter.k8s.aws/instance-cpu",
        "karpenter.k8s.aws/instance-memory",
        "karpenter.k8s.aws/instance-gpu-name",
        "karpenter.k8s.aws/instance-gpu-manufacturer",
        "karpenter.k8s.aws/instance-gpu-count",
        "karpenter.k8s.aws/instance-gpu-memory",
        "karpenter.k8s.aws/instance-hypervisor",
        "karpenter.k8s.aws/instance-local-nvme",
        "karpenter.k8s.aws/instance-tenancy",
        "karpenter.k8s.aws/ec2nodeclass",
    }
)
"""Keys of the restricted domains the CRDs allow (a subset of their list: what a pool uses)."""
_RESTRICTED_TAGS = (
    "eks:eks-cluster-name",
    "karpenter.sh/nodepool",
    "karpenter.sh/nodeclaim",
    "karpenter.k8s.aws/ec2nodeclass",
)
_ALIAS_FAMILIES = {
    "al2": "AL2",
    "al2023": "AL2023",
    "bottlerocket": "Bottlerocket",
    "windows2019": "Windows2019",
    "windows2022": "Windows2022",
    "windows2025": "Windows2025",
}


def _restricted_label_errors(key: str, where: str) -> list[str]:
    if key in ("karpenter.sh/nodepool", "kubernetes.io/hostname"):
        return [f"{where}: label {key!r} is restricted"]
    domain = key.split("/", 1)[0] if "/" in key else ""
    restricted = any(domain.endswith(d) for d in _KARPENTER_LABEL_DOMAINS)
    if restricted and key not in _ALLOWED_KARPENTER_KEYS:
        return [f"{where}: label domain of {key!r} is restricted"]
    return []


def _nodepool_rules(spec: Mapping[str, Any]) -> list[str]:
    errors: list[str] = []
    template = spec["template"]
    for key in (template.get("metadata") or {}).get("labels", {}):
        errors += _restricted_label_errors(key, "spec.template.metadata.labels")
    for i, req in enumerate(template["spec"]["requirements"]):
        where = f"spec.template.spec.requirements[{i}]"
        errors += _restricted_label_errors(req["key"], where)
        values = req.get("values", [])
        if req["operator"] == "In" and not values:
            errors.append(f"{where}: operator 'In' must have values")
        if req["operator"] in ("Gt", "Lt", "Gte", "Lte") and (
            len(values) != 1 or not values[0].isdigit()
        ):
            errors.append(f"{where}: {req['operator']} needs a single non-negative integer")
        if req["operator"] == "In" and len(values) < req.get("minValues", 0):
            errors.append(f"{where}: fewer values than minValues")
    for i, budget in enumerate((spec.get("disruption") or {}).get("budgets", [])):
        if ("schedule" in budget) != ("duration" in budget):
            errors.append(f"spec.disruption.budgets[{i}]: schedule must be set with duration")
    if "replicas" in spec and "weight" in spec:
        errors.append("spec: weight is not supported on static NodePools")
    return errors


def _nodeclass_rules(spec: Mapping[str, Any]) -> list[str]:
    errors: list[str] = []
    if ("role" in spec) == ("instanceProfile" in spec):
        errors.append("spec: must specify exactly one of ['role', 'instanceProfile']")
    terms = spec["amiSelectorTerms"]
    aliases = [t["alias"] for t in terms if "alias" in t]
    if aliases and (len(terms) != 1 or len(terms[0]) != 1):
        errors.append("spec.amiSelectorTerms: 'alias' is mutually exclusive with other terms")
    for alias in aliases:
        family, _, version = alias.partition("@")
        if family not in _ALIAS_FAMILIES or not version:
            errors.append(f"spec.amiSelectorTerms: alias {alias!r} is not family@version")
        elif spec.get("amiFamily", "Custom") not in (_ALIAS_FAMILIES[family], "Custom"):
            errors.append(f"spec.amiFamily must be {_ALIAS_FAMILIES[family]} for alias {alias!r}")
    if not aliases and "amiFamily" not in spec:
        errors.append("spec: must specify amiFamily if amiSelectorTerms has no alias")
    for key in spec.get("tags", {}):
        if key == "" or key in _RESTRICTED_TAGS or key.startswith("kubernetes.io/cluster"):
            errors.append(f"spec.tags: tag {key!r} is restricted")
    roots = [m for m in spec.get("blockDeviceMappings", []) if m.get("rootVolume")]
    if len(roots) > 1:
        errors.append("spec.blockDeviceMappings: only one may be the root volume")
    return errors


CUSTOM_RESOURCES: dict[tuple[str, str], tuple[dict[str, Any], Any]] = {
    ("karpenter.sh/v1", "NodePool"): (NODEPOOL_SPEC, _nodepool_rules),
    ("karpenter.k8s.aws/v1", "EC2NodeClass"): (EC2NODECLASS_SPEC, _nodeclass_rules),
}
"""Custom resources the stacks may declare, by (apiVersion, kind), at the pinned versions."""

# Serving's custom resources (KEDA, Prometheus operator, LB controller) live beside its tests.
from tests.serving.crd_schemas import CUSTOM_RESOURCES as _SERVING_RESOURCES  # noqa: E402

CUSTOM_RESOURCES.update(_SERVING_RESOURCES)


# -- public API ----------------------------------------------------------------------------
class ManifestError(AssertionError):
    """A manifest does not validate; the message names the object and the field."""


def validate_manifest(manifest: Mapping[str, Any], kubernetes_version: str) -> None:
    """Validate one object (apiVersion, kind, metadata, spec ...) for the cluster's minor."""
    document = normalize(manifest)
    name = f"{document.get('kind')}/{(document.get('metadata') or {}).get('name')}"
    key = (document.get("apiVersion"), document.get("kind"))
    if key in CUSTOM_RESOURCES:
        _validate_custom(document, name, kubernetes_version)
        return
    try:
        kubernetes_validate.validate(document, kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        raise ManifestError(f"{name}: {path}: {exc.message}") from None
    except kubernetes_validate.SchemaNotFoundError as exc:
        raise ManifestError(
            f"{name}: no schema for {key[1]} {key[0]} in Kubernetes {exc.version}: a kind "
            f"the cluster does not serve, or a custom resource missing from CUSTOM_RESOURCES"
        ) from None


def validate_fragment(definition: str, value: Any, kubernetes_version: str) -> None:
    """Validate part of an object, e.g. ``("affinity-v1", helm_values["affinity"])``: the
    ``<type>-<version>`` file names of the schema directory."""
    schema = _schema(f"{definition}.json", kubernetes_version)
    try:
        _validator(schema, kubernetes_version).validate(normalize(value))
    except jsonschema.ValidationError as exc:
        path = ".".join(str(p) for p in exc.absolute_path)
        raise ManifestError(f"{definition}: {path}: {exc.message}") from None


def validated_objects(plan: Mapping[str, Any], stack: str) -> list[tuple[str, dict[str, Any]]]:
    """Every Kubernetes object of a ``meshctl plan`` document, each validated against the
    plan's Kubernetes version; an AssertionError names the stack and the object otherwise."""
    version = plan["outputs"]["cluster"]["kubernetesVersion"]
    objects = list(kubernetes_objects(plan))
    for name, manifest in objects:
        try:
            validate_manifest(manifest, version)
        except ManifestError as exc:
            raise AssertionError(f"{stack}: {name}: {exc}") from None
    return objects


def kubernetes_objects(plan: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(resource name, manifest) of every Kubernetes object in a ``meshctl plan`` document;
    Helm releases and providers are not objects (their charts render them in the cluster)."""
    for resource in plan["resources"]:
        kind = resource["type"]
        if not kind.startswith("kubernetes:") or kind.startswith("kubernetes:helm.sh/"):
            continue
        yield resource["name"], dict(resource["props"])


def normalize(value: Any) -> Any:
    """The mock engine records numbers as floats (protobuf); integral ones become ints."""
    if isinstance(value, Mapping):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalize(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# -- internals -----------------------------------------------------------------------------
def _validate_custom(document: dict[str, Any], name: str, kubernetes_version: str) -> None:
    unknown = set(document) - {"apiVersion", "kind", "metadata", "spec"}
    if unknown:
        raise ManifestError(f"{name}: unknown top-level fields {sorted(unknown)}")
    metadata = document.get("metadata") or {}
    if not re.match(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", str(metadata.get("name", ""))):
        raise ManifestError(f"{name}: metadata.name must be a DNS subdomain")
    validate_fragment("objectmeta-meta-v1", metadata, kubernetes_version)
    schema, rules = CUSTOM_RESOURCES[(document["apiVersion"], document["kind"])]
    spec = document.get("spec")
    try:
        jsonschema.Draft202012Validator(schema).validate(spec)
    except jsonschema.ValidationError as exc:
        path = ".".join(str(p) for p in exc.absolute_path)
        raise ManifestError(f"{name}: spec.{path}: {exc.message}") from None
    errors = rules(spec)
    if errors:
        raise ManifestError(f"{name}: {errors[0]}")


def _schema_dir(kubernetes_version: str) -> str:
    minor = kubernetes_version.lstrip("v")
    if minor not in {kubernetes_validate.utils.major_minor(v) for v in _versions()}:
        raise ManifestError(f"kubernetes-validate has no schemas for Kubernetes {minor}")
    return f"kubernetes-json-schema/v{minor}.0-local-strict"


def _versions() -> list[str]:
    return kubernetes_validate.utils.all_versions()


def _schema(filename: str, kubernetes_version: str) -> Any:
    try:
        return schema_contents(f"{_schema_dir(kubernetes_version)}/{filename}", kubernetes_version)
    except FileNotFoundError:
        raise ManifestError(f"no schema {filename} for Kubernetes {kubernetes_version}") from None


def _validator(schema: Any, kubernetes_version: str) -> jsonschema.Draft202012Validator:
    definitions = _schema("_definitions.json", kubernetes_version)
    registry: Registry = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)

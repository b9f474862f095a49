"""EKS and its nodes: IMDSv2, GPU taints, the GPU families each region allows (from
``regions/``), and versions pinned everywhere something is installed."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Severity

from policies import facts
from policies.checks import node_settings, text_required
from policies.props import get, is_set, items, maps, number, text
from policies.rule import ConfigKey, ResourceRule, ResourceView, Settings
from policies.tokens import (
    EC2_NODE_CLASS,
    EKS_ADDON,
    EKS_CLUSTER,
    EKS_NODE_GROUP,
    HELM,
    INSTANCE,
    LAUNCH_TEMPLATE,
    NODE_POOL,
)

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_RESOURCE = "nvidia.com/gpu"
FAMILY_LABEL = "karpenter.k8s.aws/instance-family"
TYPE_LABEL = "node.kubernetes.io/instance-type"
CATEGORY_LABEL = "karpenter.k8s.aws/instance-category"
GPU_LABELS = frozenset(
    {
        "karpenter.k8s.aws/instance-gpu-count",
        "karpenter.k8s.aws/instance-gpu-name",
        "karpenter.k8s.aws/instance-gpu-manufacturer",
        "karpenter.k8s.aws/instance-gpu-memory",
    }
)
# Karpenter spells the effect NoSchedule, the EKS node group API NO_SCHEDULE.
BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute", "NO_SCHEDULE", "NO_EXECUTE"})
EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")
PINNED_ALIAS = re.compile(r"^[a-z0-9]+@v\d{8}$")
MAX_HOP_LIMIT = 1

SUPPORTED_VERSIONS = ConfigKey.array(
    "supportedVersions",
    of="string",
    default=["1.34", "1.35", "1.36"],
    description="EKS Kubernetes minors in standard support; update as EKS releases and "
    "retires minors (docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html).",
)


# -- instance metadata ------------------------------------------------------------------------
def _metadata_options(view: ResourceView) -> tuple[Mapping[str, Any] | None, bool]:
    """The resource's IMDS settings and whether unset means the secure default.

    Karpenter defaults an EC2NodeClass to IMDSv2 with a hop limit of 1; EC2 launch
    templates and instances default to whatever the AMI says, which is not a promise."""
    return get(node_settings(view), "metadataOptions"), view.type == EC2_NODE_CLASS


def nodes_imdsv2_required(view: ResourceView, _: Settings) -> Iterator[str]:
    options, secure_default = _metadata_options(view)
    tokens = text(get(options, "httpTokens"))
    if tokens != "required" and not (secure_default and not tokens):
        yield (
            f"{view.label} allows IMDSv1 (http_tokens={tokens or 'unset'}): set "
            "metadata_options http_tokens='required' (httpTokens: required)."
        )


def nodes_imds_hop_limit(view: ResourceView, _: Settings) -> Iterator[str]:
    options, secure_default = _metadata_options(view)
    hops = number(get(options, "httpPutResponseHopLimit"))
    if (hops is None and not secure_default) or (hops is not None and hops > MAX_HOP_LIMIT):
        yield (
            f"{view.label} lets pods reach instance metadata (hop limit "
            f"{'unset' if hops is None else int(hops)}): set http_put_response_hop_limit=1 "
            "and give pods AWS access through EKS Pod Identity."
        )


# -- GPU pools ---------------------------------------------------------------------------------
def _selected(requirements: list[Mapping[str, Any]], key: str) -> list[str] | None:
    """Values a NodePool pins with ``In`` for ``key``; ``None`` when it does not pin it."""
    for requirement in requirements:
        if requirement.get("key") == key:
            if text(requirement.get("operator")) != "In":
                return None
            return [text(v) for v in items(requirement.get("values"))]
    return None


def _pool_template(view: ResourceView) -> Any:
    """The node template of a Karpenter NodePool: requirements and taints."""
    return get(view.props, "spec", "template", "spec")


def _pool_requirements(view: ResourceView) -> list[Mapping[str, Any]]:
    return maps(get(_pool_template(view), "requirements"))


def _families(view: ResourceView) -> list[str] | None:
    """The instance families a node pool or node group may launch; ``None`` if open."""
    if view.type == EKS_NODE_GROUP:
        group_types = [text(t) for t in items(view.props.get("instanceTypes"))]
        return [facts.family(t) for t in group_types] or None
    requirements = _pool_requirements(view)
    families = _selected(requirements, FAMILY_LABEL)
    types = _selected(requirements, TYPE_LABEL)
    if families is None and types is None:
        return None
    return [*(families or []), *(facts.family(t) for t in types or [])]


def _is_gpu_pool(view: ResourceView) -> bool:
    if any(facts.is_gpu_family(f) for f in _families(view) or []):
        return True
    if view.type == EKS_NODE_GROUP:
        return "NVIDIA" in text(view.props.get("amiType")).upper()
    requirements = _pool_requirements(view)
    categories = _selected(requirements, CATEGORY_LABEL) or []
    return (
        any(c in facts.GPU_CATEGORIES for c in categories)
        or any(r.get("key") in GPU_LABELS for r in requirements)
        or get(view.props, "spec", "limits", GPU_RESOURCE) is not None
    )


def _taints(view: ResourceView) -> list[Mapping[str, Any]]:
    if view.type == EKS_NODE_GROUP:
        return maps(view.props.get("taints"))
    return maps(get(_pool_template(view), "taints"))


def gpu_nodes_tainted(view: ResourceView, _: Settings) -> Iterator[str]:
    if not _is_gpu_pool(view):
        return
    if not any(
        t.get("key") == GPU_TAINT_KEY and text(t.get("effect")) in BLOCKING_EFFECTS
        for t in _taints(view)
    ):
        yield (
            f"GPU pool {view.label} must repel pods that do not ask for a GPU: add the "
            f"taint {GPU_TAINT_KEY}=true:NoSchedule."
        )


def gpu_families_allowed(view: ResourceView, _: Settings) -> Iterator[str]:
    if not _is_gpu_pool(view):
        return
    families = _families(view)
    if families is None:
        yield (
            f"GPU pool {view.label} does not pin its instance families: add a requirement "
            f"{FAMILY_LABEL} In [...] with families of regions/{view.region}.yaml gpu_candidates."
        )
        return
    allowed = facts.allowed_gpu_families(view.region)
    outside = sorted({f for f in families if facts.is_gpu_family(f)} - allowed)
    if outside:
        yield (
            f"GPU pool {view.label} in {view.region} may launch {', '.join(outside)}, which "
            f"regions/{view.region}.yaml does not offer: use only {sorted(allowed)} or add "
            "the instance types to that region's gpu_candidates."
        )


# -- versions ----------------------------------------------------------------------------------
def eks_version_supported(view: ResourceView, settings: Settings) -> Iterator[str]:
    version = text(view.props.get("version"))
    supported = list(settings["supportedVersions"])
    if version not in supported:
        yield (
            f"EKS cluster {view.label} runs Kubernetes {version or 'unpinned (EKS default)'}: "
            f"set version to one of {supported}."
        )


def eks_addon_version_pinned(view: ResourceView, _: Settings) -> Iterator[str]:
    if not is_set(view.props.get("addonVersion")):
        yield (
            f"EKS add-on {view.label} floats to EKS's default build: set addon_version to "
            "the build tested with the cluster's Kubernetes minor (vX.Y.Z-eksbuild.N)."
        )


helm_chart_version_pinned = text_required(
    "version",
    expected=EXACT_VERSION,
    message="Helm chart {label} is not pinned (version {value}): set version to one exact "
    "chart release such as 1.14.1.",
)


def _term_pinned(term: Mapping[str, Any]) -> bool:
    if is_set(term.get("id")):
        return True
    if is_set(term.get("alias")):
        return bool(PINNED_ALIAS.match(text(term.get("alias"))))
    name = text(term.get("name"))
    return bool(name) and "*" not in name and not is_set(term.get("tags"))


def karpenter_ami_pinned(view: ResourceView, _: Settings) -> Iterator[str]:
    terms = maps(get(view.props, "spec", "amiSelectorTerms"))
    floating = [t for t in terms if not _term_pinned(t)]
    if not terms or floating:
        yield (
            f"EC2NodeClass {view.label} lets node images drift with each AMI release: pin "
            "amiSelectorTerms to an alias with a release (al2023@v20260714) or AMI ids, "
            "never @latest, wildcards or tags."
        )


eks_access_entries_only = text_required(
    "accessConfig",
    "authenticationMode",
    expected="API",
    missing="the aws-auth ConfigMap",
    message="EKS cluster {label} authenticates through {value}: set access_config "
    "authentication_mode='API' and grant access with access entries.",
)


NODES = frozenset({LAUNCH_TEMPLATE, EC2_NODE_CLASS, INSTANCE})
POOLS = frozenset({NODE_POOL, EKS_NODE_GROUP})

RULES = (
    ResourceRule(
        name="nodes-imdsv2-required",
        summary="Nodes require IMDSv2 session tokens (launch templates, Karpenter "
        "EC2NodeClasses, instances).",
        industry=("CKV_AWS_79", "AVD-AWS-0028", "AVD-AWS-0130"),
        types=NODES,
        check=nodes_imdsv2_required,
    ),
    ResourceRule(
        name="nodes-imds-hop-limit",
        summary="Node metadata answers one network hop only, so pods cannot use the node role.",
        industry=("CKV_AWS_341",),
        types=NODES,
        check=nodes_imds_hop_limit,
    ),
    ResourceRule(
        name="gpu-nodes-tainted",
        summary="GPU node pools (Karpenter NodePools, EKS node groups) carry the "
        "nvidia.com/gpu NoSchedule taint.",
        industry=(),
        rationale="No scanner check exists; AWS's EKS best-practices guide for AI/ML "
        "workloads taints GPU nodes so only GPU pods land on the most expensive capacity.",
        types=POOLS,
        check=gpu_nodes_tainted,
        severity=Severity.MEDIUM,
    ),
    ResourceRule(
        name="gpu-families-allowed",
        summary="GPU node pools launch only the instance families the region's catalog file "
        "lists (regions/<region>.yaml gpu_candidates).",
        industry=(),
        rationale="No scanner check exists; the region catalog is the one record of what "
        "each region offers and what the capacity model sized.",
        types=POOLS,
        check=gpu_families_allowed,
    ),
    ResourceRule(
        name="eks-version-supported",
        summary="EKS clusters pin a Kubernetes minor that is in standard support.",
        industry=("CKV_AWS_339",),
        types=frozenset({EKS_CLUSTER}),
        check=eks_version_supported,
        config=(SUPPORTED_VERSIONS,),
        severity=Severity.MEDIUM,
    ),
    ResourceRule(
        name="eks-addon-version-pinned",
        summary="EKS managed add-ons pin their build.",
        industry=(),
        rationale="No scanner check exists; an unpinned add-on takes whatever EKS defaults "
        "to when it is created, so two regions can run different builds.",
        types=frozenset({EKS_ADDON}),
        check=eks_addon_version_pinned,
        severity=Severity.MEDIUM,
    ),
    ResourceRule(
        name="helm-chart-version-pinned",
        summary="Helm releases pin one exact chart version.",
        industry=(),
        rationale="No scanner check exists; without a version Helm installs the newest "
        "chart at each update.",
        types=HELM,
        check=helm_chart_version_pinned,
        severity=Severity.MEDIUM,
    ),
    ResourceRule(
        name="karpenter-ami-pinned",
        summary="Karpenter EC2NodeClasses select a pinned AMI release.",
        industry=(),
        rationale="No scanner check exists; Karpenter's docs advise against @latest in "
        "production, where every weekly AMI release would replace every node.",
        types=frozenset({EC2_NODE_CLASS}),
        check=karpenter_ami_pinned,
        severity=Severity.MEDIUM,
    ),
    ResourceRule(
        name="eks-access-entries-only",
        summary="EKS clusters authenticate with access entries only (no aws-auth ConfigMap).",
        industry=("CIS EKS 4.1.7",),
        types=frozenset({EKS_CLUSTER}),
        check=eks_access_entries_only,
        severity=Severity.MEDIUM,
    ),
)

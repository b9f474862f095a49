"""Pinned versions of everything the GPU cluster installs, each with where it was read.

The Kubernetes minor itself comes from stack config (``inference-mesh:cluster``
``kubernetesVersion``); the EKS add-on builds depend on it, so they are keyed by minor and a
stack that asks for a minor without pinned add-ons fails before any resource is declared.
``meshctl preflight`` checks the same pins against the live EKS API in each region.
"""

from __future__ import annotations

from dataclasses import dataclass

SUPPORTED_KUBERNETES_VERSIONS: tuple[str, ...] = ("1.35",)
"""Minors with a pinned add-on set below. 1.35: EKS release 2026-01-28, end of standard support
2027-03-27 (endoflife.date/amazon-eks; aws-samples sample-apex-skills EKS version calendar,
verified 2026-04-24). On 2026-12-01 it is in standard support with four months to run, where
1.34 leaves standard support on 2026-12-02. 1.36 is on EKS but its full add-on set was not
verifiable from the sources at hand; move to it before 2027-03-27."""

EKS_ADDONS: dict[str, dict[str, str]] = {
    "1.35": {
        # docs.amazonaws.cn/eks/latest/userguide/managing-vpc-cni.md, table "Amazon VPC CNI
        # versions", row 1.35.
        "vpc-cni": "v1.21.1-eksbuild.7",
        # docs.aws.amazon.com/ja_jp/eks/latest/userguide/managing-coredns.md, table "CoreDNS
        # versions", row 1.35 (the page already lists 1.36, so it is the newest copy read).
        "coredns": "v1.14.3-eksbuild.3",
        # docs.amazonaws.cn/zh_cn/eks/latest/userguide/managing-kube-proxy.md, table
        # "kube-proxy versions", row 1.35.
        "kube-proxy": "v1.35.3-eksbuild.2",
        # The EKS user guide publishes no version table for these two; read from a public
        # Terraform configuration of an EKS 1.35 cluster (eks_addons in a *.tfvars, found with
        # the code search). Confirm with `meshctl preflight`, which calls
        # eks:DescribeAddonVersions for the configured minor.
        "aws-ebs-csi-driver": "v1.57.1-eksbuild.1",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.3",
    },
}
"""Add-on builds per Kubernetes minor. Pod access is EKS Pod Identity, hence the agent."""


@dataclass(frozen=True)
class HelmChart:
    chart: str
    version: str
    repository: str | None
    """``None`` for OCI charts, whose ``chart`` is the full ``oci://`` reference."""


KARPENTER = HelmChart("oci://public.ecr.aws/karpenter/karpenter", "1.14.1", None)
"""aws/karpenter-provider-aws tag v1.14.1 (2026-08-20); charts/karpenter/Chart.yaml on main at
1d92708 reads version 1.14.1. website/content/en/docs/upgrading/compatibility.md: Kubernetes
1.35 needs Karpenter >= 1.9, 1.36 needs >= 1.13, so this chart also covers the next minor.
The chart ships the NodePool/EC2NodeClass CRDs (karpenter.sh/v1, karpenter.k8s.aws/v1)."""

KARPENTER_NAMESPACE = "kube-system"
"""Karpenter's getting-started guide installs into kube-system (priority class and PDB of
system components); the controller runs on the system node group, never on its own nodes."""

NVIDIA_DEVICE_PLUGIN = HelmChart(
    "nvidia-device-plugin", "0.20.0", "https://nvidia.github.io/k8s-device-plugin"
)
"""NVIDIA/k8s-device-plugin tag v0.20.0 (newest non-rc tag on 2026-08-19),
deployments/helm/nvidia-device-plugin/Chart.yaml version 0.20.0. The AL2023 NVIDIA AMI
carries the driver and container toolkit but not the device plugin, so it is installed."""

DCGM_EXPORTER = HelmChart(
    "dcgm-exporter", "4.8.2", "https://nvidia.github.io/dcgm-exporter/helm-charts"
)
"""NVIDIA/dcgm-exporter tag 4.5.3-4.8.2, deployment/Chart.yaml version 4.8.2."""

AL2023_AMI_RELEASE = "v20260714"
"""awslabs/amazon-eks-ami release v20260714 (CHANGELOG.md: AL2023_x86_64_NVIDIA built for
Kubernetes 1.33-1.35). Karpenter's alias ``al2023@<release>`` pins it: ``@latest`` would drift
every node on each weekly AMI release, which Karpenter's own docs advise against in
production. Stack config may override it (``gpuPools.amiRelease``)."""

"""Pinned images and Helm charts of regional serving, each with where it was read.

Images are pinned by exact version (NGC and ECR Public tags of released versions are never
moved); the gateway image is pinned by digest from stack config (``stacks/serving.py``).
Charts are pinned by exact chart version; ``policies/eks.py`` refuses an unpinned release.
"""

from __future__ import annotations

from components.cluster.versions import HelmChart

TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:26.04-py3"
"""Triton Inference Server 26.04 (docs.nvidia.com/deeplearning/triton-inference-server/
release-notes/rel-26-04.html): CUDA 13.2.1, needs NVIDIA driver 575 or later, compute
capability 7.5+ (T4 and every newer class the pools offer). The GPU nodes run driver
580.159.03 (awslabs/amazon-eks-ami CHANGELOG, release v20260714, AL2023_x86_64_NVIDIA
kmod-nvidia-latest-dkms). The same image serves the CPU fallback: NGC publishes no CPU-only
Triton image (the ``-py3-min`` tag is a build base without backends), and one image means one
set of CVEs to track. Size: the full ``-py3`` image is about 15.5-16 GB (shared figures.md
section 7, 24.06-py3 and 23.01-py3), which is why GPU nodes get 200 GiB disks and Triton pods
may stay on their nodes (``karpenter.sh/do-not-disrupt``)."""

MODEL_SYNC_IMAGE = "public.ecr.aws/aws-cli/aws-cli:2.36.15"
"""AWS CLI v2 (Amazon Linux 2023 based, has ``sha256sum``) for the init container that copies
the active model version out of the region's bucket. EKS Pod Identity needs AWS CLI >= 2.15.0
(EKS user guide, pod-id-minimum-sdk)."""

KEDA = HelmChart("keda", "2.20.2", "https://kedacore.github.io/charts")
"""kedacore/charts keda/Chart.yaml at cbb9bb8 ("prepare v2.20.2 release", 2026-07-31): chart
and app 2.20.2, kubeVersion >=v1.23. Installs the ScaledObject CRD (keda.sh/v1alpha1) from its
templates (``crds.install: true``)."""

KUBE_PROMETHEUS_STACK = HelmChart(
    "kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts"
)
"""prometheus-community/helm-charts charts/kube-prometheus-stack/Chart.yaml at cf408a2
(2026-08-22): version 88.5.3, Prometheus Operator v0.93.1, kubeVersion >=1.25. Its crds
subchart installs ServiceMonitor and PodMonitor (monitoring.coreos.com/v1)."""

KEDA_NAMESPACE = "keda"
MONITORING_NAMESPACE = "monitoring"

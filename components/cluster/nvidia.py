"""NVIDIA device plugin and DCGM exporter, on GPU pool nodes only.

The device plugin advertises ``nvidia.com/gpu`` to the kubelet, without which no pod can
request a GPU; the DCGM exporter publishes GPU utilisation, memory and errors on :9400. Both
run only where the GPU pools put their class label, and tolerate the GPU taint.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.cluster import manifests, versions

NAMESPACE = "gpu-system"
RELEASE_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class NvidiaGpuArgs:
    k8s_provider: k8s.Provider
    """Provider of the cluster the DaemonSets go to."""


class NvidiaGpu(pulumi.ComponentResource):
    namespace: k8s.core.v1.Namespace
    device_plugin: k8s.helm.v3.Release
    dcgm_exporter: k8s.helm.v3.Release

    def __init__(self, name: str, args: NvidiaGpuArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("inference-mesh:cluster:NvidiaGpu", name, None, opts)
        self._in_cluster = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": NAMESPACE, "labels": manifests.gpu_namespace_labels()},
            opts=self._in_cluster,
        )
        self.device_plugin = self._release(
            f"{name}-device-plugin", versions.NVIDIA_DEVICE_PLUGIN, manifests.device_plugin_values()
        )
        self.dcgm_exporter = self._release(
            f"{name}-dcgm-exporter", versions.DCGM_EXPORTER, manifests.dcgm_exporter_values()
        )
        self.register_outputs({"namespace": NAMESPACE})

    def _release(
        self, name: str, chart: versions.HelmChart, values: dict[str, object]
    ) -> k8s.helm.v3.Release:
        return k8s.helm.v3.Release(
            name,
            k8s.helm.v3.ReleaseArgs(
                name=chart.chart,
                chart=chart.chart,
                version=chart.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
                namespace=self.namespace.metadata["name"],
                values=values,
                atomic=True,
                cleanup_on_fail=True,
                timeout=RELEASE_TIMEOUT_SECONDS,
            ),
            opts=self._in_cluster,
        )

"""Metrics for autoscaling and operations: kube-prometheus-stack, and ServiceMonitors for
Triton (``:8002/metrics``), the DCGM exporter the cluster installs, and the gateway
(``:9102/metrics``, its own port: not the one the NLB forwards).

Prometheus keeps a short window on an emptyDir: KEDA reads the last minutes only, and a
volume would pin Prometheus to one zone. Long-term storage is not part of this stack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.cluster.pools import GPU_TAINT_EFFECT, GPU_TAINT_KEY
from components.serving import manifests, versions
from components.serving_plan import PodResources, container_resources

FULLNAME = "prometheus-stack"
PROMETHEUS_PORT = 9090
PROMETHEUS_URL = (
    f"http://{FULLNAME}-prometheus.{versions.MONITORING_NAMESPACE}.svc.cluster.local:"
    f"{PROMETHEUS_PORT}"
)
"""The chart names the Prometheus Service ``<fullname>-prometheus``
(templates/prometheus/service.yaml); ``fullnameOverride`` fixes the fullname."""
SERVICE_MONITOR_API = "monitoring.coreos.com/v1"
RELEASE_TIMEOUT_SECONDS = 900
DEFAULT_RESOURCES = PodResources("500m", "2Gi")


@dataclass(frozen=True)
class ScrapeTarget:
    """Services to scrape: their namespace, label selector and port name."""

    name: str
    namespace: str
    selector: Mapping[str, str]
    port: str
    path: str = "/metrics"


@dataclass(frozen=True)
class MonitoringArgs:
    k8s_provider: k8s.Provider
    targets: Sequence[ScrapeTarget]
    retention: str = "2d"
    """How long Prometheus keeps samples. Defaults to two days: enough for autoscaling and
    for looking back over a weekend's incident."""
    resources: PodResources = DEFAULT_RESOURCES
    depends_on: Sequence[pulumi.Resource] = ()
    """Cluster readiness: nodes and add-ons the chart's pods need."""


class Monitoring(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    monitors: dict[str, k8s.apiextensions.CustomResource]
    prometheus_url: str

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("inference-mesh:serving:Monitoring", name, None, opts)
        self._name, self._args = name, args
        self._in_cluster = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": versions.MONITORING_NAMESPACE,
                # The node exporter reads the host's /proc and /sys with hostPID and
                # hostNetwork, which only the privileged level admits.
                "labels": {"pod-security.kubernetes.io/enforce": "privileged"},
            },
            opts=self._in_cluster,
        )
        self.release = self._install(namespace)
        self.monitors = {target.name: self._monitor(target) for target in args.targets}
        self.prometheus_url = PROMETHEUS_URL
        self.register_outputs({"prometheusUrl": self.prometheus_url})

    def _install(self, namespace: k8s.core.v1.Namespace) -> k8s.helm.v3.Release:
        chart = versions.KUBE_PROMETHEUS_STACK
        return k8s.helm.v3.Release(
            f"{self._name}-chart",
            k8s.helm.v3.ReleaseArgs(
                name="kube-prometheus-stack",
                chart=chart.chart,
                version=chart.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
                namespace=namespace.metadata["name"],
                values=prometheus_values(self._args.retention, self._args.resources),
                skip_crds=False,
                atomic=True,
                cleanup_on_fail=True,
                timeout=RELEASE_TIMEOUT_SECONDS,
            ),
            opts=pulumi.ResourceOptions.merge(
                self._in_cluster, pulumi.ResourceOptions(depends_on=list(self._args.depends_on))
            ),
        )

    def _monitor(self, target: ScrapeTarget) -> k8s.apiextensions.CustomResource:
        # Monitors live beside Prometheus and name their target namespace, so no object goes
        # into namespaces other components own.
        return k8s.apiextensions.CustomResource(
            f"{self._name}-{target.name}",
            api_version=SERVICE_MONITOR_API,
            kind="ServiceMonitor",
            metadata={"name": target.name, "namespace": versions.MONITORING_NAMESPACE},
            spec=manifests.service_monitor_spec(
                target.selector, target.namespace, target.port, target.path
            ),
            opts=pulumi.ResourceOptions.merge(
                self._in_cluster, pulumi.ResourceOptions(depends_on=[self.release])
            ),
        )


def prometheus_values(retention: str, resources: PodResources) -> dict[str, object]:
    system = manifests.system_placement().node_selector
    return {
        "fullnameOverride": FULLNAME,
        "crds": {"enabled": True},
        # Dashboards and alert routing are the platform's choice, not this stack's.
        "grafana": {"enabled": False},
        "alertmanager": {"enabled": False},
        # EKS runs these on the managed control plane: there is nothing to scrape.
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "prometheusOperator": {"nodeSelector": dict(system)},
        "kube-state-metrics": {"nodeSelector": dict(system)},
        # GPU nodes are tainted; node metrics are wanted there most.
        "prometheus-node-exporter": {
            "tolerations": [
                {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": GPU_TAINT_EFFECT}
            ]
        },
        "prometheus": {
            "prometheusSpec": {
                "retention": retention,
                "scrapeInterval": manifests.SCRAPE_INTERVAL,
                # Pick up every ServiceMonitor, not only those labelled with this release.
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "nodeSelector": dict(system),
                "resources": container_resources(resources),
            }
        },
    }

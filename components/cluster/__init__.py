"""The regional GPU cluster (EKS + Karpenter GPU pools); the component is
``components.cluster.gpu_cluster.GpuCluster``. The package imports nothing, so the pure
modules (``pools``, ``versions``) load without the Pulumi SDKs (meshctl preflight uses them)."""

"""Choosing a `tf.distribute` strategy from the `--strategy` / `--tpu` flags.

The original release ran only under `TPUEstimator` (or a single device). Here every training entry point
builds its model and optimizer inside the scope of the strategy returned by `select_strategy`.
"""

import json
import os

import tensorflow as tf

__all__ = [
    "STRATEGY_NAMES",
    "recommended_mixed_precision_policy",
    "select_strategy",
]

#: Values accepted by `select_strategy` (and by the `--strategy` flag).
STRATEGY_NAMES = ("tpu", "multi_worker", "mirrored", "one_device", "auto")


def _default_resolver_factory(tpu=None, zone=None, project=None):
    return tf.distribute.cluster_resolver.TPUClusterResolver(
        tpu=tpu, zone=zone, project=project
    )


def select_strategy(name, tpu=None, tpu_zone=None, gcp_project=None, resolver_factory=None):
    """Returns the `tf.distribute.Strategy` named by `name`, connecting to a TPU when asked.

    * `"tpu"`: resolves `tpu` (a name, a `grpc://` address, or `"local"` on a TPU VM; `None` reads the
      `TPU_NAME` environment variable) in `tpu_zone` / `gcp_project`, connects to the cluster,
      initialises the TPU system and returns a `TPUStrategy`.
    * `"multi_worker"`: `MultiWorkerMirroredStrategy` over the cluster described by `TF_CONFIG`. Create
      it at program start, before any other TensorFlow op runs.
    * `"mirrored"`: `MirroredStrategy` over every visible GPU (the CPU if there is none).
    * `"one_device"`: `OneDeviceStrategy` on `GPU:0` if there is a GPU, else `CPU:0`.
    * `"auto"`: the TPU if one resolves, else `"mirrored"` if there is more than one GPU, else
      `"one_device"`. With an explicit `tpu`, a TPU that does not resolve is an error, not a fallback.

    Args:
        name: one of `STRATEGY_NAMES` (case-insensitive).
        tpu, tpu_zone, gcp_project: the original's `--tpu_name`, `--tpu_zone`, `--gcp_project`.
        resolver_factory: callable `(tpu, zone, project) -> cluster resolver`, defaulting to
            `tf.distribute.cluster_resolver.TPUClusterResolver`; tests inject a fake here.

    Raises:
        ValueError: unknown `name`; `"tpu"` with no resolvable TPU; `"multi_worker"` without a valid
            `TF_CONFIG`.

    Example:

    >>> strategy = select_strategy("one_device")
    >>> strategy.num_replicas_in_sync
    1
    """
    key = str(name).lower()
    if key not in STRATEGY_NAMES:
        raise ValueError(
            f"Unknown strategy {name!r}; expected one of {', '.join(STRATEGY_NAMES)}."
        )
    resolver_factory = resolver_factory or _default_resolver_factory

    if key == "tpu" or (key == "auto" and tpu):
        try:
            resolver = resolver_factory(tpu=tpu, zone=tpu_zone, project=gcp_project)
        except (ValueError, RuntimeError) as error:
            raise ValueError(
                f"Strategy {key!r} could not resolve a TPU (tpu={tpu!r}, tpu_zone={tpu_zone!r}, "
                f"gcp_project={gcp_project!r}): {error}. Pass --tpu (a TPU name, a grpc:// address, "
                "or 'local' on a TPU VM) or set TPU_NAME."
            ) from error
        return _tpu_strategy(resolver)
    if key == "multi_worker":
        _check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if key == "mirrored":
        return tf.distribute.MirroredStrategy()
    if key == "one_device":
        return _one_device_strategy()

    # "auto" without a TPU name: a TPU is only tried (TPU_NAME, or the TPU VM this runs on); not
    # finding one is the normal case on GPU and CPU machines.
    try:
        resolver = resolver_factory(tpu=None, zone=tpu_zone, project=gcp_project)
    except (ValueError, RuntimeError):
        resolver = None
    if resolver is not None:
        return _tpu_strategy(resolver)
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return _one_device_strategy()


def _tpu_strategy(resolver):
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _one_device_strategy():
    device = "/gpu:0" if tf.config.list_logical_devices("GPU") else "/cpu:0"
    return tf.distribute.OneDeviceStrategy(device)


def _check_tf_config():
    # MultiWorkerMirroredStrategy silently falls back to a local, single-worker strategy when TF_CONFIG
    # is absent or unusable, which would train on one machine while the user expects a cluster.
    raw = os.environ.get("TF_CONFIG")
    hint = (
        'set it to JSON such as {"cluster": {"worker": ["host1:port", "host2:port"]}, '
        '"task": {"type": "worker", "index": 0}}'
    )
    if not raw:
        raise ValueError(f"Strategy 'multi_worker' needs the TF_CONFIG environment variable; {hint}.")
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}); {hint}.") from error
    if not isinstance(config, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object; {hint}.")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(f"TF_CONFIG has no 'cluster' mapping; {hint}.")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ValueError(f"TF_CONFIG has no 'task' with 'type' and 'index'; {hint}.")
    members = cluster.get(task["type"])
    if not isinstance(members, list) or not isinstance(task["index"], int):
        raise ValueError(
            f"TF_CONFIG task type {task['type']!r} is not a list in 'cluster'; {hint}."
        )
    if not 0 <= task["index"] < len(members):
        raise ValueError(
            f"TF_CONFIG task index {task['index']} is outside cluster[{task['type']!r}] "
            f"({len(members)} entries)."
        )


def recommended_mixed_precision_policy(strategy=None):
    """The Keras dtype policy that suits the devices of `strategy` (default: the current strategy).

    `"mixed_bfloat16"` on TPUs and on GPUs with bfloat16 tensor cores (compute capability ≥ 8.0);
    `"mixed_float16"` on older tensor-core GPUs (7.x; Keras then wraps the optimizer in a
    `LossScaleOptimizer`); `"float32"` otherwise (CPU, or GPUs without tensor cores), where reduced
    precision brings no speed.

    Example:

    >>> recommended_mixed_precision_policy(tf.distribute.OneDeviceStrategy("/cpu:0"))
    'float32'
    """
    strategy = strategy or tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "mixed_bfloat16"
    try:
        devices = strategy.extended.worker_devices
    except RuntimeError:
        # The default (no-scope) strategy has no device list; it places ops on GPU:0 when there is one.
        devices = [d.name for d in tf.config.list_logical_devices("GPU")[:1]]
    if not any("GPU" in d.upper() for d in devices):
        return "float32"
    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability:
            capabilities.append(capability)
    if not capabilities:
        return "float32"
    lowest = min(capabilities)
    if lowest >= (8, 0):
        return "mixed_bfloat16"
    if lowest >= (7, 0):
        return "mixed_float16"
    return "float32"

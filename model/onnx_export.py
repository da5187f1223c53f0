"""ONNX export of an `ItemScorer` and the onnxruntime scorer that serves it.

Every model kind exports to the same signature, so serving never branches on the kind:

    inputs:  items int64[N], weights float[N], exclude int64[M], k int64[1]
    outputs: scores float[K], top_items int64[K]   (best first; ties go to the lower index)

The graph is the one in `model.scoring`: the kind's part (`model.onnx_graph`) scores the
catalogue (gather the profile rows, weight and sum them; EASE rows are scores already,
factor models go through `item_out`; add the bias), then the excluded items are set to -inf
and the top k taken. N = 0 (a profile with nothing in it) and M = 0 (nothing to exclude)
are ordinary requests: ReduceSum over an empty axis gives zeros and ScatterElements with no
indices is a copy (checked in onnxruntime 1.32).
"""

from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from model.kinds import kind_spec
from model.onnx_graph import initializer
from model.scoring import ItemScorer, TopK

OPSET = 21
# IR 10 goes with opset 21; onnx's default IR version can be newer than onnxruntime reads.
IR_VERSION = 10
INPUT_NAMES = ("items", "weights", "exclude", "k")
OUTPUT_NAMES = ("scores", "top_items")
# A serialised ModelProto cannot exceed 2 GiB (protobuf's limit): EASE up to ~23k items,
# factors (64) up to ~4M. EASE at 15k items (0.9 GB) exports in ~6 s with a transient peak of
# ~4x the weights (arrays, proto copy, serialiser buffer, bytes); loading it peaks at ~2x.
MAX_MODEL_BYTES = 2**31 - 1
DEFAULT_THREADS = 1  # see OnnxScorer


def export_onnx(scorer: ItemScorer) -> bytes:
    """The scorer as a checked, serialised ONNX model (float32 initializers)."""
    arrays = [scorer.bias, scorer.item_rows, scorer.item_out]
    size = sum(4 * a.size for a in arrays if a is not None)
    if size > MAX_MODEL_BYTES - (1 << 20):  # leave room for the graph itself
        raise ValueError(f"{size / 2**30:.2f} GiB of weights exceeds protobuf's 2 GiB limit")
    data = _model(scorer).SerializeToString()
    # Checking the bytes (not the proto) avoids a second serialisation of the weights.
    onnx.checker.check_model(data, full_check=True)
    return data


def _model(scorer: ItemScorer) -> onnx.ModelProto:
    if scorer.bias.ndim != 1:
        raise ValueError("bias must be one-dimensional")
    scores = kind_spec(scorer.kind).onnx(scorer)
    inits = [initializer("bias", scorer.bias), *scores.initializers]
    minus_inf = numpy_helper.from_array(np.array([-np.inf], dtype=np.float32))
    nodes = [
        *scores.nodes,
        helper.make_node("Shape", ["exclude"], ["exclude_shape"]),
        helper.make_node("ConstantOfShape", ["exclude_shape"], ["minus_inf"], value=minus_inf),
        helper.make_node("ScatterElements", [scores.output, "exclude", "minus_inf"],
                         ["masked"], axis=0),
        helper.make_node("TopK", ["masked", "k"], list(OUTPUT_NAMES), axis=0, largest=1,
                         sorted=1),
    ]
    graph = helper.make_graph(
        nodes, f"shoplake_{scorer.kind}",
        [helper.make_tensor_value_info("items", TensorProto.INT64, ["N"]),
         helper.make_tensor_value_info("weights", TensorProto.FLOAT, ["N"]),
         helper.make_tensor_value_info("exclude", TensorProto.INT64, ["M"]),
         helper.make_tensor_value_info("k", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["K"]),
         helper.make_tensor_value_info("top_items", TensorProto.INT64, ["K"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION, producer_name="shoplake")
    helper.set_model_props(model, {"kind": str(scorer.kind), "n_items": str(scorer.n_items)})
    return model


def scorer_from_onnx(model: bytes) -> ItemScorer:
    """The weights an exported model carries, back in serving form (for batch scoring)."""
    proto = onnx.load_from_string(model)
    weights = {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}
    kind = kind_spec({p.key: p.value for p in proto.metadata_props}["kind"]).kind
    item_out_t = weights.get("item_out_t")
    return ItemScorer(kind, weights["bias"], weights.get("item_rows"),
                      None if item_out_t is None else item_out_t.T)


class OnnxScorer:
    """Top-k scoring with an exported model in onnxruntime (CPU); safe to share between threads.

    `threads` is onnxruntime's intra-op thread count. One is the default, measured on a
    2-core host at 50k items x 64 factors: two threads cut p50 from 0.55 to 0.31 ms when the
    host is idle, but p99 jumps to 1.3-4.7 ms as soon as anything else wants a core, and two
    concurrent requests get ~40% less throughput; one thread keeps p99 at ~0.7 ms under load.
    """

    def __init__(self, model: bytes | str | os.PathLike[str], *,
                 threads: int = DEFAULT_THREADS) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1  # the graph is a chain: nothing runs in parallel
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        source = model if isinstance(model, bytes) else os.fspath(model)
        self._session = ort.InferenceSession(source, options,
                                             providers=["CPUExecutionProvider"])
        self._n_items = int(self._session.get_modelmeta().custom_metadata_map["n_items"])
        self._outputs = list(OUTPUT_NAMES)
        # One read-only k array per k asked for: requests reuse a handful of k values, and a
        # shared array must not be mutated while another thread's run reads it.
        self._k_arrays: dict[int, np.ndarray] = {}

    @property
    def n_items(self) -> int:
        return self._n_items

    def top_k(self, items: np.ndarray, weights: np.ndarray, exclude: np.ndarray,
              k: int) -> TopK:
        """The k best items for a profile, leaving out `exclude` (as `reference_top_k`)."""
        k = min(int(k), self._n_items)
        if k <= 0:
            return TopK(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
        feed = {
            "items": np.ascontiguousarray(items, dtype=np.int64),
            "weights": np.ascontiguousarray(weights, dtype=np.float32),
            "exclude": np.ascontiguousarray(exclude, dtype=np.int64),
            "k": self._k_array(k),
        }
        scores, top = self._session.run(self._outputs, feed)
        # TopK is sorted, so the masked (-inf) items are a tail.
        kept = int(np.count_nonzero(scores != -np.inf))
        return TopK(top[:kept], scores[:kept])

    def _k_array(self, k: int) -> np.ndarray:
        array = self._k_arrays.get(k)
        if array is None:
            array = np.array([k], dtype=np.int64)
            array.flags.writeable = False
            self._k_arrays[k] = array
        return array

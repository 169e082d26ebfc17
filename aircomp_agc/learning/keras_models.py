"""Non-convex Keras models (an MLP and a small CNN on 8x8 digits) as training problems.

The parameters are handled as one flat vector ``w`` (``dim`` entries) so that the training
loop and the aggregators treat every problem alike. The training loss is

.. math:: F(w) = \\frac1N \\sum_i \\mathrm{CE}(f_w(x_i), y_i) + \\frac{\\lambda}{2}\\|w\\|^2,

split into partition losses as for the linear problems (:mod:`.problems`); per-partition
gradients are segment sums of per-sample gradients computed in one vectorized pass
(``tf.vectorized_map``), not a Python loop over partitions.

Non-convex: ``L``, ``mu`` and ``F*`` are ``None`` and the convergence bounds of
:mod:`.bounds` do not apply.

Reproducibility: initial weights come from the ``rng`` (NumPy, Glorot-uniform), TensorFlow
op determinism is switched on when a model is built, and all computations are in float64
on the CPU, so a seed gives the same run. What is not controlled: TensorFlow's thread pool
may reorder floating-point reductions across TensorFlow versions.
"""

from __future__ import annotations

import numpy as np

from .problems import Problem

__all__ = ["KerasProblem"]


def _tf():
    from channels import import_tensorflow  # the one quiet TensorFlow import

    tf = import_tensorflow()
    tf.config.experimental.enable_op_determinism()
    return tf


def _build(name: str, n_features: int, n_classes: int):
    tf = _tf()
    keras = tf.keras
    keras.backend.set_floatx("float64")
    if name == "mlp":
        layers = [keras.Input((n_features,)), keras.layers.Dense(32, activation="tanh"),
                  keras.layers.Dense(n_classes)]
    else:
        if n_features != 64:
            raise ValueError("The 'cnn' problem needs 8x8 images (64 features, the 'digits' "
                             f"dataset); got {n_features} features.")
        layers = [keras.Input((n_features,)), keras.layers.Reshape((8, 8, 1)),
                  keras.layers.Conv2D(8, 3, activation="relu"),
                  keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                  keras.layers.Dense(n_classes)]
    return keras.Sequential(layers)


class KerasProblem(Problem):
    """A Keras classifier on partitioned data (see the module docstring)."""

    convex = False

    def __init__(self, name: str, data, assignment: np.ndarray, *, reg: float = 1e-4,
                 rng=None) -> None:
        tf = _tf()
        self.tf = tf
        self.name = name
        self.data = data
        self.reg = float(reg)
        self.model = _build(name, data.n_features, data.n_classes)
        self.shapes = [tuple(v.shape) for v in self.model.trainable_variables]
        self.sizes_flat = [int(np.prod(s)) for s in self.shapes]
        self.dim = int(sum(self.sizes_flat))
        order = np.argsort(assignment, kind="stable")
        self.X = tf.constant(data.X_train[order])
        self.y = tf.constant(data.y_train[order])
        self.assignment = np.asarray(assignment)[order]
        self.n_partitions = int(self.assignment.max()) + 1
        self.sizes = np.bincount(self.assignment, minlength=self.n_partitions)
        self.n_samples = int(self.X.shape[0])
        self._seg = tf.constant(self.assignment)
        self._rng = rng
        self._segment_grads = None

    def initial(self, reps: int | None = None, *, rng=None) -> np.ndarray:
        """Glorot-uniform weights, zero biases, drawn from ``rng``: [dim] or [reps, dim]."""
        from .._checks import resolve_rng

        gen = resolve_rng(rng if rng is not None else self._rng)
        n = 1 if reps is None else reps
        parts = []
        for shape in self.shapes:
            if len(shape) == 1:
                parts.append(np.zeros((n, shape[0])))
                continue
            fan_in = int(np.prod(shape[:-1]))
            fan_out = int(shape[-1]) * (int(np.prod(shape[:-2])) if len(shape) > 2 else 1)
            lim = np.sqrt(6.0 / (fan_in + fan_out))
            parts.append(gen.uniform(-lim, lim, (n, int(np.prod(shape)))))
        w = np.concatenate(parts, axis=1)
        return w[0] if reps is None else w

    def _assign(self, w: np.ndarray) -> None:
        pos = 0
        for var, shape, size in zip(self.model.trainable_variables, self.shapes,
                                    self.sizes_flat, strict=True):
            var.assign(np.reshape(w[pos:pos + size], shape))
            pos += size

    def _each(self, w, fn):
        w = np.asarray(w, dtype=np.float64)
        if w.shape[-1] != self.dim:
            raise ValueError(f"The 'w' parameter must have {self.dim} entries on its last "
                             f"axis; got shape {w.shape}.")
        flat = w.reshape(-1, self.dim)
        out = [fn(row) for row in flat]  # repetitions: Keras holds one set of weights
        return np.stack(out).reshape(w.shape[:-1] + np.shape(out[0]))

    def _sample_losses(self, X, y):
        tf = self.tf
        logits = self.model(X, training=False)
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)

    def loss(self, w) -> np.ndarray:
        def one(row):
            self._assign(row)
            data = float(self.tf.reduce_mean(self._sample_losses(self.X, self.y)))
            return data + 0.5 * self.reg * float(row @ row)

        return self._each(w, one)

    def partition_gradients(self, w, *, per_partition: bool = False) -> np.ndarray:
        """Gradients of the ``k`` partition losses, [k, dim] (or [R, k, dim]).

        Per-sample gradients of the whole batch in one vectorized pass
        (``tf.vectorized_map`` over samples: one forward and backward pass with a
        per-sample weight-gradient product), then one segment sum per partition: about
        the cost of one full-batch gradient for the MLP, a few times it for the CNN, and
        independent of ``k`` (a Jacobian of the ``k`` partition losses would cost ``k``
        backward passes). Samples are processed in chunks of at most
        :attr:`max_chunk_entries` per-sample gradient entries.
        """
        if per_partition:
            raise NotImplementedError(
                "Local updates (FedAvg) of Keras models evaluate each partition at its own "
                "weights; use method='gd' or 'sgd' with Keras problems.")
        share = self.sizes / self.n_samples
        if self._segment_grads is None:
            self._segment_grads = self._compile_segment_grads()
        chunk = max(1, int(self.max_chunk_entries // self.dim))

        def one(row):
            self._assign(row)
            flat = np.zeros((self.n_partitions, self.dim))
            if chunk >= self.n_samples:  # small data: one pass, no slicing
                flat += self._segment_grads(self.X, self.y, self._seg).numpy()
            for start in range(0, self.n_samples if chunk < self.n_samples else 0, chunk):
                stop = min(start + chunk, self.n_samples)
                flat += self._segment_grads(self.X[start:stop], self.y[start:stop],
                                            self._seg[start:stop]).numpy()
            return flat / self.n_samples + self.reg * share[:, None] * row[None, :]

        return self._each(w, one)

    #: Largest number of per-sample gradient entries (samples x dim) held at once.
    max_chunk_entries: int = 2**24

    def _compile_segment_grads(self):
        tf = self.tf
        k = self.n_partitions
        variables = self.model.trainable_variables

        def per_sample(args):
            x, y = args
            with tf.GradientTape() as tape:
                loss = self._sample_losses(x[None], y[None])[0]
            grads = tape.gradient(loss, variables)
            return tf.concat([tf.reshape(g, [-1]) for g in grads], axis=0)

        spec = [tf.TensorSpec([None, self.X.shape[1]], tf.float64),
                tf.TensorSpec([None], self.y.dtype), tf.TensorSpec([None], self._seg.dtype)]

        @tf.function(input_signature=spec)
        def segment_grads(X, y, seg):
            per = tf.vectorized_map(per_sample, (X, y))  # [chunk, dim]
            return tf.math.unsorted_segment_sum(per, seg, k)

        return segment_grads

    def gradient(self, w) -> np.ndarray:
        return self.partition_gradients(w).sum(axis=-2)

    def test_accuracy(self, w) -> np.ndarray:
        X = self.data.X_test
        y = self.data.y_test

        def one(row):
            self._assign(row)
            pred = np.argmax(self.model(X, training=False).numpy(), axis=-1)
            return float(np.mean(pred == y))

        return self._each(w, one)

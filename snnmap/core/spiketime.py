"""Spike times of single-spike neurons (docs/method.md §2), with ``keras.ops`` only.

All functions work in *local* time ``s = t - t_min(n)`` of the layer: inputs that code an
activation ``x >= 0`` arrive at ``u_j = -x_j`` (in ``[-T_in, 0]``), the neuron integrates
from ``s = -T_in`` (``t_min(n-1)``), and its window is ``[0, B]`` (``B = B_n``).  In local time
the potential of neuron i is::

    V_i(s) = alpha_i * (s + T_in) + sum_j J_ij * max(0, s - u_j),      s >= -T_in

and the neuron fires at the first ``s`` with ``V_i(s) >= theta_i``, or at ``B`` if there is
none before ``B``.  Local time keeps the numbers small, and zero padding of the inputs
means "spikes at t_min(n)", i.e. codes 0, as docs/method.md §4 asks.

Two ways to the same answer:

* :func:`closed_form` - once every input has arrived (``s >= tau = max(0, max_j u_j)``)
  V is linear with slope ``a_i = alpha_i + sum_j J_ij``, so the crossing is
  ``s* = (theta_i - alpha_i T_in + sum_j J_ij u_j) / a_i = c_i + sum_j J_ij u_j / a_i``.  It is
  the spike time whenever V stays below theta before ``tau``, which the bounds of
  :mod:`snnmap.core.bounds` certify (docs/method.md §3's certificate first: with ``alpha >= 0`` the
  upper bound ``U(s) = alpha (s + T_in) + sum_j max(J_ij, 0) max(0, s - u_j) >= V(s)`` is
  non-decreasing, so ``U(tau) < theta`` rules out any earlier crossing).
* :func:`first_crossing` - an exact event-driven solution for any neuron: inputs sorted
  in time, V evaluated at every input arrival, the first segment that reaches theta
  solved linearly.  Its cost is O(R log R) per neuron (R inputs), so the layers call it
  only for the neurons the bounds leave open, a bounded chunk at a time
  (:func:`solve_pairs`).
"""

from __future__ import annotations

import keras
from keras import ops


def crossing_params(alpha, j_sum, theta, t_in, window):
    """Inverse final slope and intercept of the potential, for :func:`closed_form`.

    With ``a_i = alpha_i + sum_j J_ij``: ``1 / a_i`` and ``c_i = (theta_i - alpha_i T_in) / a_i``
    where ``a_i > 0``; ``0`` and ``B`` (the neuron never reaches theta after its last input)
    elsewhere.  Computed once, in float64, by the layers: ``theta_i`` and ``alpha_i T_in``
    are large and nearly cancel, which float32 cannot do in every call.
    """
    slope = alpha + j_sum
    positive = slope > 0
    safe = ops.where(positive, slope, ops.ones_like(slope))
    return (ops.where(positive, 1.0 / safe, ops.zeros_like(slope)),
            ops.where(positive, (theta - alpha * t_in) / safe, window + ops.zeros_like(slope)))


def closed_form(inv_slope, offset, j_dot_u, window):
    """Local spike time of a neuron whose crossing comes after its last input.

    ``s = min(B, c_i + sum_j J_ij u_j / a_i)`` with ``1 / a_i, c_i`` from
    :func:`crossing_params`, i.e. ``s = (theta_i - alpha_i T_in + sum_j J_ij u_j) / a_i``;
    a neuron whose final slope is not positive never reaches theta and fires at ``B``.
    """
    inv_slope, offset = ops.convert_to_tensor(inv_slope), ops.convert_to_tensor(offset)  # JAX: not Keras variables
    # The batched operand first: Keras 3.15's ops.add (TensorFlow) returns a wrong shape
    # for add(x1, x2) when x1 has lower rank and a leading 1, e.g. (1, 1, 120) + (B, 1, 1, 120).
    return ops.minimum(j_dot_u * inv_slope + offset, window)


def first_crossing(e, j, alpha, theta, t_in, window, axis=-1):
    """Exact first threshold crossing, event by event, from time-sorted inputs.

    Parameters
    ----------
    e : tensor
        Local arrival times, sorted ascending along ``axis`` (inputs before ``-T_in`` are
        allowed, e.g. under noise: they integrate from ``-T_in`` on).  May have size 1 on
        the neuron axes and broadcast against ``j``.
    j : tensor
        Synaptic weights in the same order; one neuron per position of the other axes.
        Several inputs arriving at the same time may be given as one entry with their
        summed weight.
    alpha, theta : tensor
        Constant current and threshold per neuron: the shape of ``j`` without ``axis``.
    t_in : float
        ``T_in``; integration starts at ``s = -T_in``.
    window : float
        ``B``; the neuron fires at ``B`` if V has not reached theta by then.
    axis : int
        The input axis.

    Returns
    -------
    tensor
        Local spike times in ``[-T_in, B]``, the shape of ``j`` without ``axis``.
    """
    start = -t_in
    axis = axis % len(j.shape)
    expand = lambda x: ops.expand_dims(x, axis)  # noqa: E731
    pick = lambda x, k: ops.squeeze(ops.take_along_axis(x, expand(k), axis=axis), axis)  # noqa: E731
    e = e + ops.zeros_like(j)
    # Inputs that arrived before integration starts act from s = -T_in on as an offset
    # plus extra slope; folding them in keeps every breakpoint inside the integration
    # range, where tied breakpoints add exactly 0 to V.
    early = e < start
    v0 = ops.sum(ops.where(early, j * (start - e), 0.0), axis=axis)
    slope0 = alpha + ops.sum(ops.where(early, j, 0.0), axis=axis)
    theta = theta + ops.zeros_like(v0)
    e = ops.maximum(e, start)
    j = ops.where(early, 0.0, j)

    slope_after = expand(slope0) + ops.cumsum(j, axis=axis)
    offset = ops.cumsum(j * e, axis=axis)
    # V at each breakpoint, counting every input that has arrived by then.
    v = expand(v0 - slope0 * start) + slope_after * e - offset

    reached = v >= expand(theta)
    any_reached = ops.any(reached, axis=axis)
    k = ops.argmax(ops.cast(reached, "int32"), axis=axis)
    # The segment that ends at breakpoint k starts at breakpoint k-1 (or at -T_in).
    k_prev = ops.maximum(k - 1, 0)
    first = k == 0
    e_prev = ops.where(first, start, pick(e, k_prev))
    v_prev = ops.where(first, v0, pick(v, k_prev))
    s_prev = ops.where(first, slope0, pick(slope_after, k_prev))
    e_k = pick(e, k)
    pos = s_prev > 0
    inside = e_prev + (theta - v_prev) / ops.where(pos, s_prev, ops.ones_like(s_prev))
    # V is continuous and linear on the segment, so the root lies in [e_prev, e_k];
    # clipping only guards against rounding at tied breakpoints.
    inside = ops.where(pos, ops.clip(inside, e_prev, e_k), e_k)

    # No breakpoint reached theta: the crossing (if any) comes after the last input.
    last = ops.shape(e)[axis] - 1
    e_last = ops.take(e, last, axis=axis)
    slope_last = ops.take(slope_after, last, axis=axis)
    tail_pos = slope_last > 0
    tail = e_last + (theta - ops.take(v, last, axis=axis)) / ops.where(tail_pos, slope_last, ops.ones_like(slope_last))
    tail = ops.where(tail_pos, tail, window)

    s = ops.where(any_reached, inside, tail)
    s = ops.where(v0 >= theta, start, s)
    return ops.minimum(s, window)


def fused(fn):
    """``fn`` evaluated as one compiled computation where the backend runs graphs op by op.

    TensorFlow (without XLA) runs every elementwise operation as its own pass over memory;
    a chain of them over millions of neurons costs more than the synapse products it
    follows.  There ``fn`` is compiled with XLA (``jit_compile``; recompiled for each new
    input shape).  Called eagerly (``snnmap.convert``'s end-to-end check, diagnostics), ``fn``
    runs op by op: there each call would compile for its own shapes and keep the compilation,
    for code that runs once on a few images (bench/README.md, *First call and memory*).  JAX jits
    whole models already: ``fn`` is returned as it is.  ``fn`` must be elementwise-heavy and
    take tensors (Python values are baked into the compilation).

    Parameters
    ----------
    fn : callable
        A function of tensors.

    Returns
    -------
    callable
        Under TensorFlow, with the XLA-compiled ``tf.function`` as its attribute ``compiled``.
    """
    if keras.backend.backend() != "tensorflow":
        return fn
    import tensorflow as tf  # only where it is the backend

    jitted = tf.function(fn, jit_compile=True, autograph=False)

    def call(*args):
        return fn(*args) if tf.executing_eagerly() else jitted(*args)

    call.compiled = jitted
    return call


def sort_inputs(u, j, axis=-1):
    """``u`` and ``j`` reordered so that ``u`` ascends along ``axis``."""
    order = ops.argsort(u, axis=axis)
    return ops.take_along_axis(u, order, axis=axis), ops.take_along_axis(j, order, axis=axis)


def shapes_may_vary():
    """Whether the backend's graphs take tensors whose shapes vary from call to call.

    TensorFlow's (without XLA) do, which lets the event solver take exactly the open
    pairs and sort only the informative inputs; JAX jits with static shapes.
    """
    return keras.backend.backend() == "tensorflow"


def sort_early_inputs(u, j):
    """:func:`sort_inputs` for rows ``(P, R)`` where shapes may vary (TensorFlow graphs).

    Only the inputs that arrive before their row's last arrival are sorted (a partial
    ``top_k`` of the ``m`` earliest, ``m`` the largest such count in the call); all the
    inputs that arrive with the last one become ONE event with their summed weight
    (summed directly, not as a difference, so no cancellation).  In ReLU networks most
    inputs are zeros that all arrive last, so ``m`` is usually far below ``R``.

    Returns ``(e, j)`` of shape ``(P, m + 1)``, ``e`` ascending.
    """
    return early_weights(j, *early_order(u))


def early_order(u):
    """The sort of :func:`sort_early_inputs` on rows ``u`` ``(P, R)``, without the weights:
    ``(e, order, at_last, last)``, ``e`` the ``m`` earliest times ascending, ``order`` their
    columns, ``at_last`` which inputs arrive with the row's last one, ``last`` that time.
    Rows that share their inputs (one receptive field, several neurons) are sorted once and
    the result taken for each (:func:`early_weights`)."""
    last = ops.max(u, axis=-1, keepdims=True)
    at_last = u >= last
    m = ops.maximum(ops.max(ops.sum(1 - ops.cast(at_last, "int32"), axis=-1)), 1)
    neg, order = ops.top_k(-u, m, sorted=True)
    return -neg, order, at_last, last


def early_weights(j, e, order, at_last, last):
    """``(e, j)`` of :func:`sort_early_inputs` from the weights ``j`` ``(P, R)`` and
    :func:`early_order` of their rows' inputs."""
    # Picks at the last arrival (rows with fewer than m earlier inputs) move to the aggregate.
    js = ops.where(e < last, ops.take_along_axis(j, order, axis=-1), ops.zeros_like(e))
    j_last = ops.sum(ops.where(at_last, j, ops.zeros_like(j)), axis=-1, keepdims=True)
    return ops.concatenate([e, last], axis=-1), ops.concatenate([js, j_last], axis=-1)


def solve_pairs(mask, values, solve, chunk, small_chunk=16, factor=8):
    """Replace ``values[p]`` by ``solve(p)`` for every index ``p`` (along axis 0) where ``mask`` holds.

    Where shapes may vary (:func:`shapes_may_vary`: TensorFlow graphs without XLA) the
    selected indices are taken exactly (:func:`solve_selected`), so no call solves padding;
    the spiking layers therefore declare ``supports_jit = False`` there.  Elsewhere shapes
    stay static (:func:`solve_padded`), so the same code is jitted by JAX (and XLA).  Peak
    memory is that of one ``solve`` call whatever the batch size, plus (exact path) the
    selected entries' results until they are written, and nothing runs when nothing is
    selected.

    Parameters
    ----------
    mask : bool tensor (N,)
    values : tensor (N, ...)
        Values kept where ``mask`` is False.
    solve : callable
        ``solve(indices) -> tensor (len(indices), ...)`` for an int32 tensor of selected
        positions (a call that is not full repeats one of them; entries where ``mask``
        is False are never touched).
    chunk : int
        Largest number of entries solved by one call.
    small_chunk, factor : int
        Sizes of the one-call paths of :func:`solve_padded`.
    """
    if shapes_may_vary():
        return solve_selected(mask, values, solve, chunk)
    return solve_padded(mask, values, solve, chunk, small_chunk, factor)


def solve_padded(mask, values, solve, chunk, small_chunk=16, factor=8):
    """:func:`solve_pairs` with static shapes.

    A few selected entries (the usual case) are found with one ``top_k`` and solved at
    once, in a call of the smallest size ``small_chunk * factor**k`` below ``chunk`` that
    holds them all; more are compacted (a prefix sum and one scatter) and handed to
    ``solve`` ``chunk`` at a time inside ``ops.while_loop``.

    Parameters
    ----------
    mask, values, solve, chunk
        As :func:`solve_pairs`.
    small_chunk, factor : int
        Sizes of the one-call paths: ``small_chunk``, ``small_chunk * factor``, ... below
        ``chunk``.
    """
    count = ops.sum(ops.cast(mask, "int32"))
    sizes = []
    size = max(1, int(small_chunk))
    while size < chunk:
        sizes.append(size)
        size *= max(2, int(factor))

    def one_call(size):
        def run():
            # Padding keeps k <= length when there are fewer entries than size.
            padded = ops.concatenate([ops.cast(mask, "float32"), ops.zeros((size,), "float32")])
            hit, idx = ops.top_k(padded, size, sorted=True)
            # Unselected picks repeat the first selected index: only selected entries change.
            idx = ops.where(hit > 0, idx, idx[0])
            return ops.scatter_update(values, ops.expand_dims(idx, -1), solve(idx))
        return run

    branch = lambda: _solve_compacted(mask, values, solve, chunk, count)  # noqa: E731
    for size in reversed(sizes):
        branch = (lambda size, larger: lambda: ops.cond(count > size, larger, one_call(size)))(size, branch)
    return ops.cond(count > 0, branch, lambda: values)


def solve_selected(mask, values, solve, chunk):
    """:func:`solve_pairs` where shapes may vary (TensorFlow graphs without XLA): the
    selected indices exactly, ``chunk`` at a time, so no call solves padding.  Nothing runs
    when nothing is selected (``any`` costs a fraction of ``nonzero`` on a large mask).

    The chunks' results are kept apart and written into ``values`` by one scatter at the
    end: TensorFlow copies the whole tensor at every scatter inside a loop, so writing each
    chunk into it would cost ``len(values)`` per chunk (bench/README.md).

    Parameters
    ----------
    mask, values, solve, chunk
        As :func:`solve_pairs`.
    """
    import tensorflow as tf  # the only backend where shapes may vary

    def run():
        index = flat_nonzero(mask)
        steps = (ops.shape(index)[0] + chunk - 1) // chunk
        parts = tf.TensorArray(values.dtype, size=steps, infer_shape=False,
                               element_shape=tf.TensorShape([None]).concatenate(values.shape[1:]))

        def body(k, parts):
            return k + 1, parts.write(k, solve(index[k * chunk:(k + 1) * chunk]))

        _, parts = tf.while_loop(lambda k, _: k < steps, body, (tf.constant(0, tf.int32), parts))
        return ops.scatter_update(values, ops.expand_dims(index, -1), parts.concat())

    return ops.cond(ops.any(mask), run, lambda: values)


def flat_nonzero(mask):
    """Ascending int32 indices where the 1-D bool ``mask`` holds (shapes may vary).

    A large mask is searched in two steps: rows of ``row`` entries that hold any index (one
    fast reduction), then those rows only.  On TensorFlow's CPU kernels a ``nonzero`` over tens
    of millions of entries costs several times the reduction (bench/README.md), and open pairs
    come in few rows.

    Parameters
    ----------
    mask : bool tensor (N,)
    """
    n = mask.shape[0]
    # Rows that divide the mask, and at least 1,024 of them (below, one nonzero is cheap).
    row = next((r for r in (256, 128, 64, 32) if n is not None and n % r == 0 and n >= 1024 * r), None)
    if row is None:
        return ops.cast(ops.reshape(ops.nonzero(mask)[0], (-1,)), "int32")
    rows = ops.reshape(mask, (-1, row))
    hit = ops.cast(ops.reshape(ops.nonzero(ops.any(rows, axis=-1))[0], (-1,)), "int32")
    where = ops.nonzero(ops.take(rows, hit, axis=0))
    return ops.take(hit, ops.cast(where[0], "int32")) * row + ops.cast(where[1], "int32")


def _solve_compacted(mask, values, solve, chunk, count):
    """:func:`solve_pairs` for many selected entries: compact their indices, then loop."""
    n = ops.shape(mask)[0]
    selected = ops.cast(mask, "int32")
    rank = ops.cumsum(selected) - 1
    dump = n + chunk  # a slot past every chunk, for the unselected positions
    slots = ops.where(mask, rank, dump)
    order = ops.scatter_update(
        ops.zeros((n + chunk + 1,), "int32"),
        ops.expand_dims(slots, -1),
        ops.arange(n, dtype="int32"),
    )

    def cond(done, out):
        return done < count

    def body(done, out):
        # Slots past the last selected entry repeat the first selected index.
        position = done + ops.arange(chunk, dtype="int32")
        idx = ops.where(position < count, ops.slice(order, (done,), (chunk,)), order[0])
        out = ops.scatter_update(out, ops.expand_dims(idx, -1), solve(idx))
        return done + chunk, out

    _, values = ops.while_loop(cond, body, (ops.convert_to_tensor(0, "int32"), values))
    return values

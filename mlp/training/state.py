"""TrainState: the one value a training step takes and returns.

Everything a step changes is in it: the parameters, the layers' state (running statistics), the
optimizer's state, the step count t, the float16 loss scale and the seed of on-device random
numbers (dropout masks are a hash of it, the layer, t and the sample). Snapshots, checkpoints,
early stopping's best weights and the compiled JAX step copy or carry this value and nothing else.

Between runs, and at the end of each epoch, the value is *parked* where users see it: the model
holds its parameters and state, the optimizer its state and t (and its loss scaler the scale). A
callback that replaces any of them is heard: the run goes on from what they hold (``adopt``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from mlp.backends.kernels import as_int32
from mlp.numerics import copy_params

__all__ = ["TrainState"]


class TrainState(NamedTuple):
    params: list
    state: list
    opt_state: dict
    t: Any  # optimizer steps taken (a Python int, or a device scalar in a compiled run)
    loss_scale: tuple | None  # (scale, good steps in a row, skipped steps) with float16 loss scaling
    rng: Any  # the seed of on-device random numbers, as int32 bits

    @classmethod
    def start(cls, model, opt, kernels, seed: int, loss_scale: tuple | None = None) -> TrainState:
        """The value a run starts from: the model's parameters and state and the optimizer's parked
        state (or a fresh one), laid out as `kernels` update them fastest."""
        params = kernels.pack(model.params)
        return cls(params, list(model.state), _opt_state(opt, params, kernels), opt.t, loss_scale, as_int32(seed))

    def park(self, model, opt) -> None:
        """Leave this value where users see it: on the model and the optimizer."""
        model.params[:] = self.params
        # the input stage's state is never changed by a step, but a compiled step returns it as new arrays:
        # its float64 fitted values are pinned again to them (not read back from the model's dtype)
        exact = model.inputs.exact() if model.inputs.n_state else None
        model.state[:] = self.state
        if exact is not None:
            model.inputs.pin(exact)
        opt.state, opt.t = self.opt_state, self.t
        if opt.scaler is not None:
            opt.scaler.state = self.loss_scale

    def adopt(self, model, opt, kernels) -> TrainState:
        """This value with whatever the model and optimizer hold now in place of what was parked
        (a callback set weights, or rescaled the optimizer's state)."""
        ts = self
        if any(a is not b for a, b in zip(model.params, self.params)) or len(model.params) != len(self.params):
            ts = ts._replace(params=kernels.pack(model.params))
        if any(a is not b for a, b in zip(model.state, self.state)):
            ts = ts._replace(state=list(model.state))
        if opt.state is not self.opt_state:
            ts = ts._replace(opt_state=_opt_state(opt, ts.params, kernels))
        return ts

    def snapshot(self) -> tuple[list, list]:
        """Copies of the parameters and the layers' state (weights to go back to)."""
        return copy_params(self.params), copy_params(self.state)

    def restored(self, snapshot: tuple[list, list], opt, kernels) -> TrainState:
        """This value back at a snapshot's weights, with the optimizer's state started again (its
        momentum and moments belong to the weights that were left)."""
        params = kernels.pack(snapshot[0])
        return self._replace(params=params, state=list(snapshot[1]), opt_state=opt.init(params, kernels), t=0)


def _opt_state(opt, params: list, kernels) -> dict:
    """The optimizer's parked state laid out like `params` (checked against their shapes), or a new one."""
    if opt.state is None:
        return opt.init(params, kernels)
    if set(opt.state) != set(opt.all_state_keys):
        raise ValueError(
            f"the optimizer holds state {sorted(opt.state)}, but {type(opt).__name__} with these settings keeps "
            f"{sorted(opt.all_state_keys)}; call optimizer.reset() or use a new optimizer"
        )
    shapes = [tuple(p.shape) for p in params]
    for arrays in opt.state.values():
        if [tuple(a.shape) for a in arrays] != shapes:
            raise ValueError(
                f"the optimizer holds state for parameters of shapes {[tuple(a.shape) for a in arrays]}, but this "
                f"model's are {shapes}: it was used with another model; call optimizer.reset() or use a new optimizer"
            )
    return {k: kernels.pack(v) for k, v in opt.state.items()}

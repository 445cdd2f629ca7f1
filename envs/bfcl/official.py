"""The parts of ``bfcl-eval`` the env runs: its AST checker, its multi-turn state and response
checks, and its stateful backend classes — imported without the rest of the harness.

The AST checker module imports ``bfcl_eval.constants.model_config``, which imports every model
handler and API client (seconds, and dozens of packages). It only reads it to decide whether a
model's provider turned dots in function names into underscores; this env shows the names as they
are. So the checker is loaded as a private module copy against a stand-in that answers "no" for
every model, and ``sys.modules`` is left as it was. The checker itself is unchanged.
"""

from __future__ import annotations

import copy
import functools
import importlib
import importlib.util
import sys
import types
from collections.abc import Callable
from typing import Any

BACKEND_MODULES = {
    "GorillaFileSystem": "gorilla_file_system", "MathAPI": "math_api", "MessageAPI": "message_api",
    "TwitterAPI": "posting_api", "TicketAPI": "ticket_api", "TradingBot": "trading_bot",
    "TravelAPI": "travel_booking", "VehicleControlAPI": "vehicle_control",
}
STATELESS = frozenset({"MathAPI"})
CHECKER_MODEL_NAME = "resrl-gym"


class _NoDotConversion(dict[str, Any]):
    def __missing__(self, _model: str) -> Any:
        return types.SimpleNamespace(underscore_to_dot=False)


@functools.cache
def ast_checker() -> Callable[..., dict[str, Any]]:
    """``bfcl_eval.eval_checker.ast_eval.ast_checker.ast_checker``, loaded privately (see above)."""
    from bfcl_eval.constants.enums import Language

    name = "bfcl_eval.eval_checker.ast_eval.ast_checker"
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None
    stand_in = types.ModuleType("bfcl_eval.constants.model_config")
    stand_in.MODEL_CONFIG_MAPPING = _NoDotConversion()  # type: ignore[attr-defined]
    saved = sys.modules.get(stand_in.__name__)
    sys.modules[stand_in.__name__] = stand_in
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules[stand_in.__name__]
        else:
            sys.modules[stand_in.__name__] = saved

    def check(functions: list[dict[str, Any]], decoded: list[dict[str, Any]], ground_truth: list[Any],
              category: str) -> dict[str, Any]:
        return dict(module.ast_checker(functions, decoded, ground_truth, Language.PYTHON, category,
                                       CHECKER_MODEL_NAME))

    return check


def new_backend(class_name: str, initial_config: dict[str, Any], *, long_context: bool) -> Any:
    """A fresh instance of a BFCL backend class, loaded with the entry's scenario (a deep copy)."""
    module = importlib.import_module(f"bfcl_eval.eval_checker.multi_turn_eval.func_source_code."
                                     f"{BACKEND_MODULES[class_name]}")
    instance = getattr(module, class_name)()
    if class_name not in STATELESS:
        instance._load_scenario(copy.deepcopy(initial_config.get(class_name, {})), long_context=long_context)
    return instance


def state_and_response_check(model_instances: dict[str, Any], truth_instances: dict[str, Any],
                             model_results: list[str], truth_results: list[str], turn: int) -> dict[str, Any]:
    """BFCL's per-turn rule: equal public state of every instance, and every ground-truth result of the
    turn among the model's results so far (its own ``state_checker`` and ``response_checker``)."""
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import response_checker, state_checker

    verdict = dict(state_checker(model_instances, truth_instances))
    if verdict["valid"]:
        verdict = dict(response_checker(model_results, truth_results, turn))
    return verdict

"""Offline ALFWorld task generator, built only from what the ``alfworld`` package ships.

A game is a room (one of ALFRED's 120 floor plans: its receptacles and the object types
it holds), objects placed in receptacles that can hold them (alfworld's compatibility
tables), a goal from alfworld's goal library and its templated task sentence. The PDDL
problem is written in the standard ``game.tw-pddl`` format and kept only if the
engine's planner solves it. Everything is drawn from a seeded RNG, so a
``(split, index, seed, difficulty)`` always yields the same game.

Splits follow ALFRED: ``eval_out_of_distribution`` uses the four held-out floor plans of
ALFRED's valid_unseen (10, 219, 308, 424); ``train`` and ``eval_in_distribution`` use the
others, with different seeds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from typing import Any, TypeVar

import numpy as np

from envs.alfworld.engine import TASK_PLACEHOLDER, package_logic, solve

TASK_TYPES: tuple[str, ...] = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
SPLITS: tuple[str, ...] = ("train", "eval_in_distribution", "eval_out_of_distribution")
OOD_FLOOR_PLANS = frozenset({10, 219, 308, 424})
GENERATOR_VERSION = 1

# The appliance a state-changing task needs in the room, and the lamp type for light tasks.
_APPLIANCE = {
    "pick_clean_then_place_in_recep": "SinkBasin",
    "pick_heat_then_place_in_recep": "Microwave",
    "pick_cool_then_place_in_recep": "Fridge",
}
_ACTION_CLASS = {
    "pick_clean_then_place_in_recep": "Cleanable",
    "pick_heat_then_place_in_recep": "Heatable",
    "pick_cool_then_place_in_recep": "Coolable",
}
_LAMP = "DeskLamp"
_LAMP_HOLDERS = ("Desk", "SideTable", "Dresser", "Shelf", "CoffeeTable", "DiningTable")
_MAX_ATTEMPTS = 25
T = TypeVar("T")


@dataclass(frozen=True)
class Difficulty:
    """Knobs for generated games: fewer receptacles and distractors make easier games."""

    max_receptacles: int = 12
    """Receptacles in the room at most (the ones the task needs are always kept); 0 = all."""
    num_distractors: int = 6
    """Extra objects placed around the room besides the task's own."""

    def key(self) -> str:
        return f"r{self.max_receptacles}-d{self.num_distractors}"


@dataclass(frozen=True)
class GeneratedGame:
    """A solvable game: the ``game.tw-pddl`` and ``traj_data.json`` contents and its plan."""

    game: dict[str, Any]
    traj_data: dict[str, Any]
    plan: list[str]


class GenerationError(RuntimeError):
    """No solvable game could be drawn for the requested task type and split."""


@dataclass(frozen=True)
class _Room:
    floor_plan: int
    receptacles: tuple[tuple[str, str], ...]  # (ALFRED instance id, receptacle type)
    object_types: frozenset[str]


def generate_game(
    task_type: str,
    *,
    split: str,
    index: int,
    seed: int = 0,
    difficulty: Difficulty = Difficulty(),
) -> GeneratedGame:
    """Draw game ``index`` of ``split`` for ``task_type``; retries internally until the planner
    confirms it is solvable (deterministically: the same arguments give the same game)."""
    if task_type not in TASK_TYPES:
        raise ValueError(f"unknown task type {task_type!r}; expected one of {TASK_TYPES}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    for attempt in range(_MAX_ATTEMPTS):
        rng = np.random.default_rng(
            [GENERATOR_VERSION, SPLITS.index(split), TASK_TYPES.index(task_type), index, seed, attempt]
        )
        drawn = _draw_game(task_type, split, rng, difficulty)
        if drawn is None:
            continue
        game, traj_data = drawn
        plan = solve(game)
        if plan:
            traj_data["task_id"] = f"gen_{split}_{task_type}_{index}_s{seed}_{difficulty.key()}"
            return GeneratedGame(game, traj_data, plan)
    raise GenerationError(
        f"no solvable {task_type} game for split={split} index={index} after {_MAX_ATTEMPTS} attempts"
    )


@cache
def _static_receptacles() -> frozenset[str]:
    """Receptacle types fixed in a room (cabinets, fridges...), not the movable ones (mugs, pans...)."""
    from alfworld.gen import constants

    return frozenset(constants.RECEPTACLES) - frozenset(constants.MOVABLE_RECEPTACLES)


def _holdable(object_types: frozenset[str], receptacle_types: set[str]) -> list[str]:
    """Non-receptacle object types that at least one of ``receptacle_types`` can hold, sorted."""
    from alfworld.gen import constants

    holds = constants.VAL_RECEPTACLE_OBJECTS
    return sorted(t for t in object_types - _static_receptacles() if any(t in holds[r] for r in receptacle_types))


@cache
def _rooms() -> tuple[_Room, ...]:
    """Every floor plan alfworld ships, as receptacle instances and the object types present."""
    from alfworld.gen import constants

    layouts = resources.files("alfworld") / "gen" / "layouts"
    static = _static_receptacles()
    rooms = []
    for scenes in constants.SCENE_TYPE.values():
        for number in scenes:
            openable = layouts / f"FloorPlan{number}-openable.json"
            if not openable.is_file():
                continue
            objects = frozenset(json.loads((layouts / f"FloorPlan{number}-objects.json").read_text()))
            receptacles = [
                (rid, rid.split("|")[-1] if rid.count("|") == 4 else rid.split("|")[0])
                for rid in json.loads(openable.read_text())
            ]
            present = {rtype for _, rtype in receptacles}
            receptacles += [(f"{rtype}|extra|{number}|0", rtype) for rtype in sorted(objects & static - present)]
            rooms.append(_Room(number, tuple(r for r in receptacles if r[1] in static), objects))
    return tuple(rooms)


def _draw_game(
    task_type: str, split: str, rng: np.random.Generator, difficulty: Difficulty
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """One candidate game, or None when the drawn room cannot host the task."""
    from alfworld.gen import constants, goal_library

    scene_types = constants.GOALS_VALID[task_type]
    ood = split == "eval_out_of_distribution"
    rooms = [
        room
        for room in _rooms()
        if (room.floor_plan in OOD_FLOOR_PLANS) == ood
        and any(room.floor_plan in constants.SCENE_TYPE[s] for s in scene_types)
    ]
    room = _pick(rng, rooms)
    holds = constants.VAL_RECEPTACLE_OBJECTS
    room_types = {rtype for _, rtype in room.receptacles}

    needed_types: set[str] = set()
    appliance = _APPLIANCE.get(task_type)
    if appliance is not None:
        if appliance not in room_types:
            return None
        needed_types.add(appliance)
    pickable = _holdable(room.object_types, room_types)
    if task_type in _ACTION_CLASS:
        pickable = [t for t in pickable if t in constants.VAL_ACTION_OBJECTS[_ACTION_CLASS[task_type]]]
    if not pickable:
        return None
    target = _pick(rng, pickable)

    parent = toggle = ""
    lamp_holder_types: list[str] = []
    if task_type == "look_at_obj_in_light":
        lamp_holder_types = [t for t in _LAMP_HOLDERS if t in room_types]
        if _LAMP not in room.object_types or not lamp_holder_types:
            return None
        toggle = _LAMP
    else:
        parents = sorted(t for t in room_types if target in holds[t] and t != appliance)
        if not parents:
            return None
        parent = _pick(rng, parents)
        needed_types.add(parent)

    # Keep every receptacle of a needed type, then fill up to the receptacle budget.
    order = rng.permutation(len(room.receptacles))
    kept = [room.receptacles[i] for i in order if room.receptacles[i][1] in needed_types]
    budget = difficulty.max_receptacles or len(room.receptacles)
    for i in order:
        if room.receptacles[i] not in kept and len(kept) < budget:
            kept.append(room.receptacles[i])
    if toggle and not any(r[1] in lamp_holder_types for r in kept):
        kept.append(next(room.receptacles[i] for i in order if room.receptacles[i][1] in lamp_holder_types))

    placements: list[tuple[str, str]] = []  # (object type, receptacle id)

    def place(obj_type: str, avoid: str = "") -> bool:
        spots = [rid for rid, rtype in kept if obj_type in holds[rtype] and rtype != avoid]
        if not spots:
            return False
        placements.append((obj_type, _pick(rng, spots)))
        return True

    copies = 2 if task_type == "pick_two_obj_and_place" else 1
    if not all(place(target, avoid=parent) for _ in range(copies)):
        return None
    if toggle:
        holders = [rid for rid, rtype in kept if rtype in lamp_holder_types]
        placements.append((toggle, _pick(rng, holders)))
    distractors = [t for t in _holdable(room.object_types, {rtype for _, rtype in kept}) if t != target]
    for _ in range(difficulty.num_distractors if distractors else 0):
        place(_pick(rng, distractors))

    params = {
        "object_target": target,
        "parent_target": parent,
        "toggle_target": toggle,
        "mrecep_target": "",
        "object_sliced": False,
    }
    goal = goal_library.gdict[task_type]
    templates: Sequence[str] = goal["templates"]
    fill = {"obj": target, "recep": parent, "toggle": toggle, "mrecep": ""}
    sentence = _pick(rng, templates).format(**{k: v.lower() for k, v in fill.items()})
    problem = _pddl_problem(kept, placements, goal["pddl"].format(**fill).replace("#", "-"))
    domain, grammar = package_logic()
    game = {
        "pddl_domain": domain,
        "grammar": grammar.replace(TASK_PLACEHOLDER, sentence),
        "pddl_problem": problem,
        "solvable": True,
    }
    traj_data = {
        "task_type": task_type,
        "pddl_params": params,
        "scene": {"floor_plan": f"FloorPlan{room.floor_plan}"},
        "turk_annotations": {"anns": [{"task_desc": sentence}]},
    }
    return game, traj_data


def _pick(rng: np.random.Generator, items: Sequence[T]) -> T:
    return items[int(rng.integers(len(items)))]


def _mangle(name: str) -> str:
    """ALFRED's PDDL-safe spelling of instance ids (``Drawer|+00.64`` → ``Drawer_bar__plus_00_dot_64``)."""
    for raw, safe in (("|", "_bar_"), ("-", "_minus_"), ("+", "_plus_"), (".", "_dot_"), (",", "_comma_")):
        name = name.replace(raw, safe)
    return name


def _pddl_problem(receptacles: Sequence[tuple[str, str]], placements: Sequence[tuple[str, str]], goal: str) -> str:
    """The PDDL problem text: typed constants, instances, the initial facts and the goal."""
    from alfworld.gen import constants

    receptacle_types = sorted(_static_receptacles())
    object_types = sorted(set(constants.OBJECTS_WSLICED) - set(receptacle_types))
    rec_ids = {rid: _mangle(rid) for rid, _ in receptacles}
    location = {rid: f"loc_bar_{i}" for i, (rid, _) in enumerate(receptacles)}
    counts: dict[str, int] = {}
    objects: list[tuple[str, str, str]] = []  # (pddl id, type, receptacle id)
    for obj_type, rid in placements:
        counts[obj_type] = counts.get(obj_type, 0) + 1
        objects.append((f"{obj_type}_bar_{counts[obj_type]}", obj_type, rid))

    decls = ["agent1 - agent"]
    decls += [f"{t}Type - otype" for t in object_types] + [f"{t}Type - rtype" for t in receptacle_types]
    decls += [f"{oid} - object" for oid, _, _ in objects] + [f"{rec_ids[rid]} - receptacle" for rid, _ in receptacles]
    decls += [f"{loc} - location" for loc in location.values()] + ["loc_bar_start - location"]

    facts = ["(atLocation agent1 loc_bar_start)"]
    present_types = {rtype for _, rtype in receptacles}
    for rtype in sorted(present_types):
        facts += [f"(canContain {rtype}Type {otype}Type)" for otype in sorted(constants.VAL_RECEPTACLE_OBJECTS[rtype])]
    for rid, rtype in receptacles:
        facts.append(f"(receptacleType {rec_ids[rid]} {rtype}Type)")
        facts.append(f"(receptacleAtLocation {rec_ids[rid]} {location[rid]})")
        if rtype in constants.OPENABLE_CLASS_SET:
            facts.append(f"(openable {rec_ids[rid]})")
    abilities = {"Cleanable": "cleanable", "Heatable": "heatable", "Coolable": "coolable", "Toggleable": "toggleable"}
    for oid, otype, rid in objects:
        facts += [
            f"(objectType {oid} {otype}Type)",
            f"(inReceptacle {oid} {rec_ids[rid]})",
            f"(objectAtLocation {oid} {location[rid]})",
        ]
        if otype not in constants.VAL_ACTION_OBJECTS["Toggleable"]:
            facts.append(f"(pickupable {oid})")
        if otype in constants.MOVABLE_RECEPTACLES:
            facts.append(f"(isReceptacleObject {oid})")
        facts += [f"({pred} {oid})" for cls, pred in abilities.items() if otype in constants.VAL_ACTION_OBJECTS[cls]]

    indent = "\n        "
    return (
        "(define (problem generated)\n(:domain alfred)\n(:objects"
        + indent
        + indent.join(decls)
        + "\n        )\n(:init"
        + indent
        + indent.join(facts)
        + "\n        )\n"
        + goal.strip()
        + "\n"
    )


def game_digest(game: dict[str, Any]) -> str:
    """Short content hash of a game's problem, for tests and cache checks."""
    return hashlib.sha256(game["pddl_problem"].encode()).hexdigest()[:16]


def difficulty_from(value: Difficulty | dict[str, Any] | None) -> Difficulty:
    """Accept a Difficulty, a plain dict from YAML, or None (the defaults)."""
    if value is None or isinstance(value, Difficulty):
        return value or Difficulty()
    unknown = set(value) - set(asdict(Difficulty()))
    if unknown:
        raise ValueError(f"unknown difficulty fields {sorted(unknown)}; expected {sorted(asdict(Difficulty()))}")
    return Difficulty(**value)

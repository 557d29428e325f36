"""Stages and recipes by name, so a job stored as text can be run by any worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from studio.pipeline.stage import Stage


@dataclass(frozen=True)
class Node:
    """One stage run in a job's DAG. `deps` maps an input name to "node_key.output"."""

    key: str
    stage: str
    deps: dict[str, str] = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    device: str | None = None  # where this run goes, when not the stage's own (the engine decides)

    def upstream(self) -> set[str]:
        return {ref.split(".", 1)[0] for ref in self.deps.values()}


# params of the job -> its nodes
Recipe = Callable[[dict], list[Node]]


class Registry:
    def __init__(self) -> None:
        self.stages: dict[str, Stage] = {}
        self.recipes: dict[str, Recipe] = {}

    def stage(self, stage: Stage) -> Stage:
        self.stages[stage.name] = stage
        return stage

    def recipe(self, name: str) -> Callable[[Recipe], Recipe]:
        def register(fn: Recipe) -> Recipe:
            self.recipes[name] = fn
            return fn

        return register

    def build(self, recipe: str, params: dict) -> list[Node]:
        if recipe not in self.recipes:
            raise KeyError(f"unknown recipe {recipe!r}")
        nodes = self.recipes[recipe](params)
        keys = [n.key for n in nodes]
        if len(set(keys)) != len(keys):
            raise ValueError(f"recipe {recipe!r} repeats a node key")
        for n in nodes:
            if n.stage not in self.stages:
                raise KeyError(f"recipe {recipe!r} uses unknown stage {n.stage!r}")
            stage = self.stages[n.stage]
            declared = set(stage.inputs)
            missing = declared - set(n.deps)
            if missing:
                raise ValueError(f"node {n.key!r} does not bind inputs {sorted(missing)}")
            # a stage that declares its inputs takes only those; one that declares none takes any (**kwargs).
            # Bindings named "_…" only order a node after another and are never passed.
            takes = declared | set(stage.optional_inputs)
            extra = {k for k in n.deps if not k.startswith("_")} - takes if declared else set()
            if extra:
                raise ValueError(f"node {n.key!r} binds inputs its stage {n.stage!r} does not take: {sorted(extra)}")
            if not n.upstream() <= set(keys):
                raise ValueError(f"node {n.key!r} depends on unknown nodes {sorted(n.upstream() - set(keys))}")
        _check_acyclic(nodes)
        return nodes


def _check_acyclic(nodes: list[Node]) -> None:
    by_key = {n.key: n for n in nodes}
    state: dict[str, int] = {}

    def visit(key: str) -> None:
        if state.get(key) == 1:
            raise ValueError(f"recipe has a cycle through {key!r}")
        if state.get(key) == 2:
            return
        state[key] = 1
        for up in by_key[key].upstream():
            visit(up)
        state[key] = 2

    for n in nodes:
        visit(n.key)

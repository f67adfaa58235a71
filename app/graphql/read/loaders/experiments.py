"""The experiments' loaders: experiments, their variants and their results."""

from __future__ import annotations

import uuid
from functools import cached_property, partial

from strawberry.dataloader import DataLoader

from app.graphql.read.loaders.base import LoaderBase, NarrowLoader
from app.graphql.read.records import Record
from app.models import Experiment, ExperimentVariant
from app.services.experiments import results as results_service


class ExperimentLoaders(LoaderBase):
    @cached_property
    def experiment(self) -> DataLoader[uuid.UUID, Record[Experiment] | None]:
        return NarrowLoader(Experiment, partial(self._by_id, Experiment))

    @cached_property
    def experiment_variant(self) -> DataLoader[uuid.UUID, Record[ExperimentVariant] | None]:
        return NarrowLoader(ExperimentVariant, partial(self._by_id, ExperimentVariant))

    @cached_property
    def experiment_variants(self) -> DataLoader[uuid.UUID, list[Record[ExperimentVariant]]]:
        return NarrowLoader(
            ExperimentVariant,
            partial(
                self._children,
                ExperimentVariant,
                ExperimentVariant.experiment_id,
                ExperimentVariant.position,
            ),
        )

    # (experiment id, CUPED?) -> its results: one batch of statements for any number
    @cached_property
    def experiment_results(
        self,
    ) -> DataLoader[tuple[uuid.UUID, bool], results_service.ExperimentResults]:
        return DataLoader(self._experiment_results)

    async def _experiment_results(
        self, keys: list[tuple[uuid.UUID, bool]]
    ) -> list[results_service.ExperimentResults]:
        found: dict[tuple[uuid.UUID, bool], results_service.ExperimentResults] = {}
        for cuped in {c for _, c in keys}:
            ids = [key for key, c in keys if c is cuped]
            async with self._db() as session:
                batch = await results_service.compute_many(
                    session, clock=self._clock, experiment_ids=ids, use_cuped=cuped
                )
            found.update({(key, cuped): value for key, value in batch.items()})
        return [found[key] for key in keys]

"""Batched fields (``app.graphql.read.fields``) through ``PlainFieldExecutor`` answer exactly
as their resolvers do through graphql-core's own executor (data and errors: message, path,
locations), and load each level of a query in one round: one batch per loader and level,
whatever the list sizes.

The schema here is a small shop over in-memory DataLoaders, with the cases the executor has
to get right: lists under plain attributes (a connection's edges), batched fields under
batched fields, arguments (aliases with different values), a key of ``None``, a loader
batch that fails, a conversion that fails, a key that refuses its argument, ``null`` in a
non-null field, fragments and ``@skip``; and the objects the executor completes itself:
lists of objects in plain attributes, with ``null`` items and objects of the wrong type,
async fields inside list items that fail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import strawberry
from strawberry.dataloader import DataLoader
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.graphql.read.fields import batched
from app.graphql.resolver_path.executor import PlainFieldExecutor

OWNERS = {1: "ada", 2: "bob", 3: "cy", 4: "dee"}
PETS = {1: ["rex", "tom"], 2: [], 3: ["kit"], 4: ["zed", "boo", "ivy"]}
TOYS = {"rex": ["ball"], "tom": ["bone", "rope"], "kit": [], "zed": ["ball"], "boo": [], "ivy": []}


class Boom(Exception):
    pass


@dataclass
class Loaders:
    """Request loaders, counting their batches."""

    batches: list[tuple[str, list[Any]]] = field(default_factory=list)

    def _loader(self, name: str, rows: Any) -> DataLoader[Any, Any]:
        async def load(keys: list[Any]) -> list[Any]:
            self.batches.append((name, list(keys)))
            return [rows(key) for key in keys]

        return DataLoader(load)

    def __post_init__(self) -> None:
        def pets(key: Any) -> Any:
            owner, limit = key
            return PETS[owner][:limit] if limit is not None else PETS[owner]

        def toys(pet: str) -> Any:
            if pet == "ivy":
                return Boom("ivy's toys are lost")  # this key fails, the others load
            return TOYS[pet]

        self.owner = self._loader("owner", lambda key: OWNERS.get(key))
        self.pets = self._loader("pets", pets)
        self.toys = self._loader("toys", toys)


@dataclass
class Context:
    loaders: Loaders


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Toy(Named):  # an interface: strawberry gives it an is_type_of
    pass


@strawberry.type
class Pet:
    name: str
    owner_key: strawberry.Private[int | None]

    @strawberry.field
    @batched(lambda loaders: loaders.toys, key=lambda pet: pet.name)
    def toys(self, names: list[str]) -> list[Toy]:
        return [Toy(name=name) for name in names]

    @strawberry.field
    @batched(lambda loaders: loaders.owner, key=lambda pet: pet.owner_key)
    def owner(self, name: str | None) -> Owner | None:
        return None if name is None else Owner(key=self.owner_key or 0, name=name)

    @strawberry.field
    @batched(lambda loaders: loaders.toys, key=lambda pet: pet.name)
    def favourite(self, names: list[str]) -> Toy:
        return None if not names else Toy(name=names[0])  # type: ignore[return-value]


@strawberry.type
class Owner:
    key: strawberry.Private[int]
    name: str

    @strawberry.field
    async def motto(self) -> str:
        if self.name == "dee":
            raise Boom("dee keeps her motto")
        return f"{self.name} says hi"

    @strawberry.field
    async def maybe_motto(self) -> str | None:
        return await self.motto()

    @strawberry.field
    @batched(
        lambda loaders, first=None: loaders.pets,
        key=lambda owner, first=None: (owner.key, _limit(first)),
    )
    def pets(self, names: list[str], first: int | None = None) -> list[Pet] | None:
        if self.name == "bob":
            raise Boom("bob's pets are private")
        return [Pet(name=name, owner_key=self.key) for name in names]


def _limit(first: int | None) -> int | None:
    if first is not None and first < 0:
        raise ValueError("first must be at least 0")
    return first


@strawberry.type
class Edge:
    node: Owner


@strawberry.type
class OwnerConnection:
    edges: list[Edge]


@strawberry.type
class Shelf:
    top: Toy
    spare: Toy | None
    toys: list[Toy]
    maybe_toys: list[Toy | None] | None
    edge: Edge | None  # no is_type_of: any object with the fields will do
    edges: list[Edge] | None


@strawberry.type
class Query:
    @strawberry.field
    async def owners(self) -> OwnerConnection:
        return OwnerConnection(
            edges=[Edge(node=Owner(key=key, name=name)) for key, name in OWNERS.items()]
        )

    @strawberry.field
    def owner(self, key: int) -> Owner | None:
        return Owner(key=key, name=OWNERS[key]) if key in OWNERS else None

    @strawberry.field
    def stray(self) -> Pet:
        return Pet(name="kit", owner_key=None)  # no owner: a key of None

    @strawberry.field
    def holes(self) -> OwnerConnection | None:
        edges = [Edge(node=Owner(key=1, name="ada")), None]
        return OwnerConnection(edges=edges)  # type: ignore[arg-type]

    @strawberry.field
    def shelf(self, wrong: bool) -> Shelf:
        pet: Any = Pet(name="rex", owner_key=1)
        toy = Toy(name="ball")
        return Shelf(
            top=pet if wrong else toy,
            spare=pet if wrong else None,
            toys=[toy, pet] if wrong else [toy],
            maybe_toys=[None, toy, pet] if wrong else [None, toy],
            edge=Shelf(top=toy, spare=None, toys=[], maybe_toys=None, edge=None, edges=None)  # type: ignore[arg-type]
            if wrong
            else Edge(node=Owner(key=2, name="bob")),
            # an exception held as a value is raised where it is met
            edges=[Edge(node=Owner(key=2, name="bob")), Boom("a lost edge")]  # type: ignore[list-item]
            if wrong
            else [],
        )

    @strawberry.field
    def lone(self) -> OwnerConnection | None:
        return OwnerConnection(edges=[Edge(node=Owner(key=4, name="dee"))])

    @strawberry.field
    async def boom(self) -> str:
        raise Boom("boom")

    @strawberry.field
    async def maybe_boom(self) -> str | None:
        raise Boom("maybe boom")


DOCUMENTS = [
    "{ owners { edges { node { name pets { name toys { name } } } } } }",
    "{ owners { edges { node { name few: pets(first: 1) { name } all: pets { name } } } } }",
    "{ owner(key: 4) { pets { name toys { name } owner { name } } } }",
    "{ owner(key: 1) { pets(first: -1) { name } } }",
    "{ stray { name owner { name } toys { name } } }",
    "query($s: Boolean!) { owners { edges { node { ...P pets @skip(if: $s) { name } } } } }"
    " fragment P on Owner { name pets { owner { name } } }",
    "{ owner(key: 3) { name pets { favourite { name } } } }",
    "{ holes { edges { node { name } } } }",
    "{ owners { edges { node { name maybeMotto } } } }",
    "{ owners { edges { node { name motto } } } }",
    "{ shelf(wrong: false) { top { name } spare { name } toys { name } maybeToys { name } }}",
    "{ shelf(wrong: true) { top { name } } }",
    "{ shelf(wrong: true) { spare { name } toys { name } } }",
    "{ shelf(wrong: true) { maybeToys { name } } }",
    "{ shelf(wrong: false) { edge { node { name } } } }",
    "{ shelf(wrong: true) { edge { __typename } } }",
    "{ shelf(wrong: true) { edges { node { name } } } }",
    # one item whose selection is async: awaited as graphql-core does, both errors reported
    "{ lone { edges { node { motto } } } maybeBoom }",
    "{ lone { edges { node { motto } } } boom }",
]


async def answer(executor: type[Any], document: str) -> tuple[dict[str, Any], Loaders]:
    schema = strawberry.Schema(query=Query, execution_context_class=executor)
    loaders = Loaders()
    result = await schema.execute(
        document, variable_values={"s": False}, context_value=Context(loaders)
    )
    shape = {
        "data": result.data,
        "errors": sorted(
            (e.message, e.path, e.locations) for e in result.errors or []
        ),  # concurrent fields report in either order
    }
    return shape, loaders


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_the_same_answer_as_the_resolvers_through_graphql_core(document: str) -> None:
    expected, _ = await answer(StrawberryGraphQLCoreExecutionContext, document)
    got, _ = await answer(PlainFieldExecutor, document)
    assert got == expected


async def test_errors_stay_where_the_resolvers_put_them() -> None:
    got, _ = await answer(PlainFieldExecutor, DOCUMENTS[2])
    messages = {(message, tuple(path)) for message, path, _ in got["errors"]}
    assert ("ivy's toys are lost", ("owner", "pets", 2, "toys")) in messages
    # An error in a non-null field nulls the nearest nullable parent: through the list
    # item (Pet!) and the non-null list, up to the nullable ``pets``.
    assert got["data"] == {"owner": {"pets": None}}
    null, _ = await answer(PlainFieldExecutor, DOCUMENTS[6])
    assert null["data"] == {"owner": {"name": "cy", "pets": None}}
    assert null["errors"][0][:2] == (
        "Cannot return null for non-nullable field Pet.favourite.",
        ["owner", "pets", 0, "favourite"],
    )
    refused, _ = await answer(PlainFieldExecutor, DOCUMENTS[3])
    assert refused["errors"][0][:2] == ("first must be at least 0", ["owner", "pets"])


async def test_each_level_is_one_batch_per_loader() -> None:
    got, loaders = await answer(PlainFieldExecutor, DOCUMENTS[0])
    assert [name for name, _ in loaders.batches] == ["pets", "toys"]
    assert len(loaders.batches[0][1]) == len(OWNERS)
    assert sorted(loaders.batches[1][1]) == sorted(p for pets in PETS.values() for p in pets)
    edges = got["data"]["owners"]["edges"]
    assert [edge["node"]["name"] for edge in edges] == list(OWNERS.values())
    assert edges[0]["node"]["pets"] == [
        {"name": "rex", "toys": [{"name": "ball"}]},
        {"name": "tom", "toys": [{"name": "bone"}, {"name": "rope"}]},
    ]
    assert edges[1]["node"]["pets"] is None  # bob's conversion failed: null, with its error
    assert edges[3]["node"]["pets"] is None  # ivy's toys failed: up to the nullable list
    assert sorted(path[-1] for _, path, _ in got["errors"]) == ["pets", "toys"]
    # The same query through graphql-core's executor makes the same batches.
    _, reference = await answer(StrawberryGraphQLCoreExecutionContext, DOCUMENTS[0])

    def same(batches: list[tuple[str, list[Any]]]) -> list[tuple[str, list[str]]]:
        return sorted((name, sorted(map(repr, keys))) for name, keys in batches)

    assert same(reference.batches) == same(loaders.batches)


async def test_aliases_with_different_arguments_load_separately() -> None:
    got, loaders = await answer(PlainFieldExecutor, DOCUMENTS[1])
    ada = got["data"]["owners"]["edges"][0]["node"]
    assert ada == {
        "name": "ada",
        "few": [{"name": "rex"}],
        "all": [{"name": "rex"}, {"name": "tom"}],
    }
    keys = {key for name, batch in loaders.batches if name == "pets" for key in batch}
    assert {(1, 1), (1, None)} <= keys
    assert len([name for name, _ in loaders.batches if name == "pets"]) == 1  # one round


async def test_a_key_of_none_loads_nothing() -> None:
    got, loaders = await answer(PlainFieldExecutor, DOCUMENTS[4])
    assert got["data"] == {"stray": {"name": "kit", "owner": None, "toys": []}}
    assert [name for name, _ in loaders.batches] == ["toys"]
